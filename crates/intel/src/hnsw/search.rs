//! Walking the graph: greedy descent, the `ef`-wide beam, and the exact scan.

use super::{Hit, HnswIndex};
use crate::simd::{arch, prefetch_head, prefetch_l2};
use crate::visited::Visited;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// How many rows ahead of the distance kernel a whole row is prefetched (see
/// [`HnswIndex::dists_ahead`]): 4 measured best here (2 and 6–8 a little slower, 12 or all
/// at once clearly).
const AHEAD: usize = 4;

/// A node and its distance to the query, ordered by distance (then slot, for determinism).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cand {
    pub(crate) dist: f32,
    pub(crate) slot: u32,
}

impl PartialEq for Cand {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Cand {
    #[inline(always)]
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist
            .total_cmp(&other.dist)
            .then(self.slot.cmp(&other.slot))
    }
}

/// The query-time search, run inside the SIMD dispatch.
struct SearchOp<'a> {
    index: &'a HnswIndex,
    query: &'a [f32],
    k: usize,
    ef: usize,
    filter: Option<&'a dyn Fn(u64) -> bool>,
    visited: &'a mut Visited,
}

impl pulp::WithSimd for SearchOp<'_> {
    type Output = Vec<Hit>;
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> Vec<Hit> {
        let SearchOp {
            index,
            query,
            k,
            ef,
            filter,
            visited,
        } = self;
        let Some(entry) = index.entry else {
            return Vec::new();
        };
        let mut cur = Cand {
            dist: index.dist_to(simd, query, entry),
            slot: entry,
        };
        for layer in (1..=index.max_level).rev() {
            cur = index.greedy(simd, query, cur, layer);
        }
        let found = match filter {
            // No tombstones: skip a load per node (the flags would be one more cache miss).
            None if index.deleted_count == 0 => {
                index.search_layer(simd, query, &[cur], ef, 0, visited, |_| true)
            }
            None => index.search_layer(simd, query, &[cur], ef, 0, visited, |slot| {
                !index.deleted[slot as usize]
            }),
            Some(f) => index.search_layer(simd, query, &[cur], ef, 0, visited, |slot| {
                !index.deleted[slot as usize] && f(index.ids[slot as usize])
            }),
        };
        found
            .into_iter()
            .take(k)
            .map(|c| Hit {
                id: index.ids[c.slot as usize],
                distance: c.dist,
            })
            .collect()
    }
}

/// The exact scan, run inside the SIMD dispatch.
struct ExactOp<'a> {
    index: &'a HnswIndex,
    query: &'a [f32],
    k: usize,
    filter: Option<&'a dyn Fn(u64) -> bool>,
}

impl pulp::WithSimd for ExactOp<'_> {
    type Output = Vec<Hit>;
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> Vec<Hit> {
        let ExactOp {
            index,
            query,
            k,
            filter,
        } = self;
        let mut best: BinaryHeap<Cand> = BinaryHeap::with_capacity(k + 1);
        for slot in 0..index.ids.len() as u32 {
            if index.deleted[slot as usize] {
                continue;
            }
            let dist = index.dist_to(simd, query, slot);
            if best.len() == k && best.peek().is_some_and(|w| dist >= w.dist) {
                continue;
            }
            if filter.is_some_and(|f| !f(index.ids[slot as usize])) {
                continue;
            }
            best.push(Cand { dist, slot });
            if best.len() > k {
                best.pop();
            }
        }
        best.into_sorted_vec()
            .into_iter()
            .map(|c| Hit {
                id: index.ids[c.slot as usize],
                distance: c.dist,
            })
            .collect()
    }
}

impl HnswIndex {
    pub(super) fn graph_search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&dyn Fn(u64) -> bool>,
    ) -> Vec<Hit> {
        let mut visited = self.visited.take(self.ids.len());
        let hits = arch().dispatch(SearchOp {
            index: self,
            query,
            k,
            ef,
            filter,
            visited: &mut visited,
        });
        self.visited.put(visited);
        hits
    }

    pub(super) fn exact_prepared(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&dyn Fn(u64) -> bool>,
    ) -> Vec<Hit> {
        arch().dispatch(ExactOp {
            index: self,
            query,
            k,
            filter,
        })
    }

    #[inline(always)]
    pub(crate) fn dist_to<S: pulp::Simd>(&self, simd: S, query: &[f32], slot: u32) -> f32 {
        self.params
            .metric
            .distance_simd(simd, query, self.row(slot))
    }

    /// Greedy descent on one upper layer: move to the closest neighbour until none is closer.
    #[inline(always)]
    pub(crate) fn greedy<S: pulp::Simd>(
        &self,
        simd: S,
        query: &[f32],
        mut cur: Cand,
        layer: usize,
    ) -> Cand {
        loop {
            let from = cur.slot;
            let links = self.links(from, layer);
            for &n in links {
                prefetch_head(self.row(n));
            }
            self.dists_ahead(simd, query, links, |n, d| {
                if d < cur.dist {
                    cur = Cand { dist: d, slot: n };
                }
            });
            if cur.slot == from {
                return cur;
            }
        }
    }

    /// Calls `visit` with each of `slots` and its distance to `query`, in order. The caller
    /// has already asked for the first cache line of every row ([`prefetch_head`]), so those
    /// misses overlap; here each whole row is requested into L2 ([`prefetch_l2`]) [`AHEAD`]
    /// rows before the kernel reads it. Every row at once into L1 instead (up to 2M × 24
    /// lines) overflowed the CPU's miss buffers and stalled on the prefetches themselves.
    #[inline(always)]
    fn dists_ahead<S: pulp::Simd>(
        &self,
        simd: S,
        query: &[f32],
        slots: &[u32],
        mut visit: impl FnMut(u32, f32),
    ) {
        for &n in slots.iter().take(AHEAD) {
            prefetch_l2(self.row(n));
        }
        for (j, &n) in slots.iter().enumerate() {
            if let Some(&next) = slots.get(j + AHEAD) {
                prefetch_l2(self.row(next));
            }
            visit(n, self.dist_to(simd, query, n));
        }
    }

    /// Best-first beam search of width `ef` on `layer`, from `entries`. Every node is walked
    /// through, but only nodes passing `accept` enter the result. Returns the result sorted
    /// nearest first.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn search_layer<S: pulp::Simd>(
        &self,
        simd: S,
        query: &[f32],
        entries: &[Cand],
        ef: usize,
        layer: usize,
        visited: &mut Visited,
        accept: impl Fn(u32) -> bool,
    ) -> Vec<Cand> {
        let mut frontier: BinaryHeap<Reverse<Cand>> = BinaryHeap::with_capacity(ef * 2);
        let mut best: BinaryHeap<Cand> = BinaryHeap::with_capacity(ef + 1);
        let mut fresh: Vec<u32> = Vec::with_capacity(self.m0());
        for &e in entries {
            if !visited.insert(e.slot) {
                continue;
            }
            frontier.push(Reverse(e));
            if accept(e.slot) {
                best.push(e);
                if best.len() > ef {
                    best.pop();
                }
            }
        }
        let mut bound = if best.len() >= ef {
            best.peek().map_or(f32::INFINITY, |c| c.dist)
        } else {
            f32::INFINITY
        };
        while let Some(Reverse(c)) = frontier.pop() {
            if c.dist > bound {
                break;
            }
            // The likely next node to expand: start loading its links now, so they are in
            // cache by the time this one's neighbours are scored.
            if let Some(Reverse(next)) = frontier.peek() {
                self.prefetch_links(next.slot, layer);
            }
            // Gather the unseen neighbours, asking for the head of each vector on the way.
            fresh.clear();
            for &n in self.links(c.slot, layer) {
                if visited.insert(n) {
                    prefetch_head(self.row(n));
                    fresh.push(n);
                }
            }
            self.dists_ahead(simd, query, &fresh, |n, d| {
                if d < bound {
                    let cand = Cand { dist: d, slot: n };
                    frontier.push(Reverse(cand));
                    if accept(n) {
                        best.push(cand);
                        if best.len() > ef {
                            best.pop();
                        }
                        if best.len() >= ef {
                            bound = best.peek().map_or(f32::INFINITY, |w| w.dist);
                        }
                    }
                }
            });
        }
        best.into_sorted_vec()
    }
}
