//! Inserting: draw a level, find neighbours layer by layer, link both ways, prune.

use super::search::Cand;
use super::{HnswIndex, MAX_LEVEL};
use crate::error::{Error, Result};
use crate::simd::arch;
use crate::visited::Visited;

/// Linking a new node into the graph, run inside the SIMD dispatch.
struct LinkOp<'a> {
    index: &'a mut HnswIndex,
    slot: u32,
}

impl pulp::WithSimd for LinkOp<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let mut visited = self.index.visited.take(self.index.ids.len());
        self.index.link(simd, self.slot, &mut visited);
        self.index.visited.put(visited);
    }
}

impl HnswIndex {
    /// Inserts a vector that is already checked and prepared for the metric.
    pub(crate) fn insert_prepared(&mut self, id: u64, vector: &[f32]) -> Result<()> {
        let slot = self.ids.len();
        if slot >= u32::MAX as usize - 1 {
            return Err(Error::Full(slot));
        }
        let slot = slot as u32;
        let level = self.draw_level();
        self.vectors.extend_from_slice(vector);
        self.ids.push(id);
        self.levels.push(level as u8);
        self.links0.extend_zeroed(self.m0() + 1);
        self.upper.push(vec![0; level * (self.params.m + 1)]);
        self.deleted.push(false);
        self.slot_of.insert(id, slot);
        arch().dispatch(LinkOp { index: self, slot });
        Ok(())
    }

    /// Exponentially distributed level: P(level >= l) = M^-l.
    fn draw_level(&mut self) -> usize {
        let mult = 1.0 / (self.params.m as f64).ln();
        let level = (-self.rng.next_f64().ln() * mult) as usize;
        level.min(MAX_LEVEL)
    }

    #[inline(always)]
    fn link<S: pulp::Simd>(&mut self, simd: S, slot: u32, visited: &mut Visited) {
        let level = self.levels[slot as usize] as usize;
        let Some(entry) = self.entry else {
            self.entry = Some(slot);
            self.max_level = level;
            return;
        };
        // The new node's own row is needed while links are rewritten: copy it out.
        let query = self.row(slot).to_vec();
        let mut cur = Cand {
            dist: self.dist_to(simd, &query, entry),
            slot: entry,
        };
        for layer in (level + 1..=self.max_level).rev() {
            cur = self.greedy(simd, &query, cur, layer);
        }
        let mut entries = vec![cur];
        for layer in (0..=level.min(self.max_level)).rev() {
            let ef = self.params.ef_construction;
            if layer < level.min(self.max_level) {
                // A fresh search per layer: marks from the layer above must not hide nodes.
                visited.reset(self.ids.len());
            }
            let found =
                self.search_layer(simd, &query, &entries, ef, layer, visited, |s| s != slot);
            let chosen = self.select(simd, &found, self.params.m);
            self.set_links(slot, layer, &chosen);
            for &n in &chosen {
                self.add_link(simd, n, slot, layer);
            }
            if !found.is_empty() {
                entries = found;
            }
        }
        if level > self.max_level {
            self.entry = Some(slot);
            self.max_level = level;
        }
    }

    /// The neighbour-selection heuristic: walk candidates nearest first and keep one only if
    /// it is closer to the base than to every neighbour kept so far. Links then point in
    /// diverse directions, which keeps the graph navigable on clustered data.
    #[inline(always)]
    fn select<S: pulp::Simd>(&self, simd: S, sorted: &[Cand], max: usize) -> Vec<u32> {
        if sorted.len() <= max {
            return sorted.iter().map(|c| c.slot).collect();
        }
        let mut kept: Vec<u32> = Vec::with_capacity(max);
        for &c in sorted {
            if kept.len() >= max {
                break;
            }
            let row = self.row(c.slot);
            // A plain loop, not `Iterator::all`: a closure might not inline into the dispatch.
            let mut diverse = true;
            for &k in &kept {
                if self.params.metric.distance_simd(simd, row, self.row(k)) < c.dist {
                    diverse = false;
                    break;
                }
            }
            if diverse {
                kept.push(c.slot);
            }
        }
        kept
    }

    /// Adds `new` to the links of `node`, pruning with the heuristic when the list is full.
    #[inline(always)]
    fn add_link<S: pulp::Simd>(&mut self, simd: S, node: u32, new: u32, layer: usize) {
        let cap = if layer == 0 { self.m0() } else { self.params.m };
        let current = self.links(node, layer);
        if current.len() < cap {
            self.push_link(node, layer, new);
            return;
        }
        let base = self.row(node);
        let mut cands: Vec<Cand> = Vec::with_capacity(current.len() + 1);
        for &s in current.iter().chain(std::iter::once(&new)) {
            cands.push(Cand {
                dist: self.params.metric.distance_simd(simd, base, self.row(s)),
                slot: s,
            });
        }
        cands.sort_unstable();
        let chosen = self.select(simd, &cands, cap);
        self.set_links(node, layer, &chosen);
    }
}
