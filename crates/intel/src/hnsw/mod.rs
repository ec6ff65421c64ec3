//! The HNSW graph index (Malkov & Yashunin): layered proximity graphs, greedy descent from
//! the top layer, a best-first beam of width `ef` on the bottom one.
//!
//! Layout: vectors live in one contiguous array (row per node, the cache-friendly order for
//! the distance kernel); bottom-layer links in one flat array with a fixed `2M + 1` stride
//! (count, then neighbours); the few upper-layer lists per node apart. The two big arrays
//! move to 2 MiB pages once large ([`crate::pages`]).
//!
//! Deletion is a tombstone: the node keeps routing searches but is never returned. When
//! tombstones exceed [`Params::rebuild_threshold`] of all nodes the graph is rebuilt from the
//! live vectors (amortised O(log n) per delete), so dead nodes do not pile up.

mod build;
mod search;

use crate::distance::{Metric, prepare};
use crate::error::{Error, Result};
use crate::pages::HugeVec;
use crate::rng::SplitMix64;
use crate::visited::VisitedPool;
use std::collections::HashMap;

/// The highest layer a node can be drawn into (probability `M^-16`: never, in practice).
pub(crate) const MAX_LEVEL: usize = 16;

/// Construction and search parameters of an index.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Params {
    /// Vector dimension (384 for MiniLM-class embeddings).
    pub dim: usize,
    /// Distance measure.
    pub metric: Metric,
    /// Links per node on upper layers; the bottom layer keeps `2 * m`. 16 is a good default;
    /// higher gives better recall on hard data at more memory and build time.
    pub m: usize,
    /// Beam width while inserting. Higher builds a better graph, slower.
    pub ef_construction: usize,
    /// Default beam width while searching (raised to `k` when smaller). The recall/speed knob.
    pub ef_search: usize,
    /// Seed of the level draws: the same seed and inserts give the same graph.
    pub seed: u64,
    /// Fraction of tombstoned nodes that triggers a rebuild (`1.0` or more: never rebuild
    /// automatically; call [`HnswIndex::rebuild`]).
    pub rebuild_threshold: f64,
}

impl Params {
    /// Defaults (M = 16, ef_construction = 200, ef_search = 64) for `dim`-dimensional vectors.
    pub fn new(dim: usize, metric: Metric) -> Self {
        Self {
            dim,
            metric,
            m: 16,
            ef_construction: 200,
            ef_search: 64,
            seed: 0x5EED,
            rebuild_threshold: 0.25,
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidParams(msg));
        if self.dim == 0 || self.dim > 65_536 {
            return bad(format!("dim = {} (must be 1..=65536)", self.dim));
        }
        if !(2..=256).contains(&self.m) {
            return bad(format!("m = {} (must be 2..=256; 16 is typical)", self.m));
        }
        if self.ef_construction == 0 {
            return bad("ef_construction = 0 (must be at least 1; 200 is typical)".into());
        }
        if self.ef_search == 0 {
            return bad("ef_search = 0 (must be at least 1; 64 is typical)".into());
        }
        if self.rebuild_threshold.is_nan() || self.rebuild_threshold <= 0.0 {
            return bad(format!(
                "rebuild_threshold = {} (must be > 0; 0.25 is typical)",
                self.rebuild_threshold
            ));
        }
        Ok(())
    }
}

/// One search result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The id given at insert.
    pub id: u64,
    /// Distance to the query under the index's metric (smaller is closer).
    pub distance: f32,
}

/// An HNSW index over `f32` vectors of one dimension, keyed by caller-chosen `u64` ids.
///
/// Searching takes `&self` and allocates no shared state, so any number of threads can
/// search at once; inserting and deleting take `&mut self` (wrap the index in
/// [`crate::SharedIndex`] to do both from many threads).
#[derive(Debug, Clone)]
pub struct HnswIndex {
    pub(crate) params: Params,
    /// Row-major vectors, `dim` per slot (unit length under cosine).
    pub(crate) vectors: HugeVec<f32>,
    /// Caller id of each slot.
    pub(crate) ids: Vec<u64>,
    /// Top layer of each slot.
    pub(crate) levels: Vec<u8>,
    /// Bottom-layer links: `m0 + 1` per slot, count first.
    pub(crate) links0: HugeVec<u32>,
    /// Links on layers `1..=level`: `m + 1` per layer, count first; empty for level 0.
    pub(crate) upper: Vec<Vec<u32>>,
    /// Tombstones.
    pub(crate) deleted: Vec<bool>,
    pub(crate) deleted_count: usize,
    /// Live ids only.
    pub(crate) slot_of: HashMap<u64, u32>,
    pub(crate) entry: Option<u32>,
    pub(crate) max_level: usize,
    pub(crate) rng: SplitMix64,
    pub(crate) visited: VisitedPool,
}

impl HnswIndex {
    /// An empty index; fails if a parameter is out of range.
    pub fn new(params: Params) -> Result<Self> {
        params.validate()?;
        let rng = SplitMix64::new(params.seed);
        Ok(Self {
            params,
            vectors: HugeVec::new(),
            ids: Vec::new(),
            levels: Vec::new(),
            links0: HugeVec::new(),
            upper: Vec::new(),
            deleted: Vec::new(),
            deleted_count: 0,
            slot_of: HashMap::new(),
            entry: None,
            max_level: 0,
            rng,
            visited: VisitedPool::default(),
        })
    }

    /// The parameters the index was built with.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Changes the default search beam width (must be at least 1).
    pub fn set_ef_search(&mut self, ef: usize) -> Result<()> {
        if ef == 0 {
            return Err(Error::InvalidParams(
                "ef_search = 0 (must be at least 1)".into(),
            ));
        }
        self.params.ef_search = ef;
        Ok(())
    }

    /// Live (not deleted) entries.
    pub fn len(&self) -> usize {
        self.slot_of.len()
    }

    /// True when no live entry is left.
    pub fn is_empty(&self) -> bool {
        self.slot_of.is_empty()
    }

    /// Tombstoned nodes still in the graph (they go at the next rebuild).
    pub fn tombstones(&self) -> usize {
        self.deleted_count
    }

    /// True if `id` is a live entry.
    pub fn contains(&self, id: u64) -> bool {
        self.slot_of.contains_key(&id)
    }

    /// The stored vector of `id` (normalised under cosine).
    pub fn vector(&self, id: u64) -> Option<&[f32]> {
        self.slot_of.get(&id).map(|&s| self.row(s))
    }

    /// Live ids, in insertion order.
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.ids
            .iter()
            .zip(&self.deleted)
            .filter(|(_, d)| !**d)
            .map(|(id, _)| *id)
    }

    /// Adds `vector` under `id`. Fails on a duplicate id, a wrong dimension, NaN/infinite
    /// components, or (cosine) a zero vector.
    pub fn insert(&mut self, id: u64, vector: &[f32]) -> Result<()> {
        if self.slot_of.contains_key(&id) {
            return Err(Error::DuplicateId(id));
        }
        let v = prepare(vector, self.params.dim, self.params.metric)?;
        self.insert_prepared(id, &v)
    }

    /// Tombstones `id`: it is never returned again, and its id may be inserted anew.
    /// May trigger a rebuild (see [`Params::rebuild_threshold`]).
    pub fn delete(&mut self, id: u64) -> Result<()> {
        let slot = self.slot_of.remove(&id).ok_or(Error::NotFound(id))?;
        self.deleted[slot as usize] = true;
        self.deleted_count += 1;
        if self.deleted_count as f64 > self.params.rebuild_threshold * self.ids.len() as f64 {
            self.rebuild();
        }
        Ok(())
    }

    /// Rebuilds the graph from the live entries, dropping every tombstone.
    pub fn rebuild(&mut self) {
        let mut fresh = Self {
            rng: SplitMix64::new(self.rng.next_u64()),
            ..Self::new(self.params.clone()).expect("params were validated at construction")
        };
        let live: Vec<u32> = (0..self.ids.len() as u32)
            .filter(|&s| !self.deleted[s as usize])
            .collect();
        fresh.vectors.reserve(live.len() * self.params.dim);
        for s in live {
            fresh
                .insert_prepared(self.ids[s as usize], self.row(s))
                .expect("live ids are unique and fewer than before");
        }
        *self = fresh;
    }

    /// The `k` nearest live entries to `query`, using the index's `ef_search`.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>> {
        self.search_with(query, k, None, None)
    }

    /// The `k` nearest live entries whose id passes `filter`.
    ///
    /// Entries failing the filter still route the search. If the graph yields fewer than `k`
    /// matches (a very selective filter), the search falls back to an exact scan, so a
    /// filter never silently loses results.
    pub fn search_filtered(
        &self,
        query: &[f32],
        k: usize,
        filter: &dyn Fn(u64) -> bool,
    ) -> Result<Vec<Hit>> {
        self.search_with(query, k, None, Some(filter))
    }

    /// Search with an explicit beam width `ef` (defaults to `ef_search`) and optional filter.
    pub fn search_with(
        &self,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        filter: Option<&dyn Fn(u64) -> bool>,
    ) -> Result<Vec<Hit>> {
        if k == 0 {
            return Err(Error::ZeroK);
        }
        if ef == Some(0) {
            return Err(Error::InvalidParams("ef = 0 (must be at least 1)".into()));
        }
        let q = prepare(query, self.params.dim, self.params.metric)?;
        if self.is_empty() {
            return Ok(Vec::new());
        }
        let ef = ef.unwrap_or(self.params.ef_search).max(k);
        let hits = self.graph_search(&q, k, ef, filter);
        let wanted = k.min(self.len());
        if hits.len() < wanted {
            // Tombstones or a selective filter starved the beam: answer exactly instead.
            return Ok(self.exact_prepared(&q, k, filter));
        }
        Ok(hits)
    }

    /// The exact `k` nearest live entries (optionally filtered) by scanning every vector:
    /// the reference the approximate search is measured against.
    pub fn exact_search(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&dyn Fn(u64) -> bool>,
    ) -> Result<Vec<Hit>> {
        if k == 0 {
            return Err(Error::ZeroK);
        }
        let q = prepare(query, self.params.dim, self.params.metric)?;
        Ok(self.exact_prepared(&q, k, filter))
    }

    #[inline(always)]
    pub(crate) fn row(&self, slot: u32) -> &[f32] {
        let d = self.params.dim;
        let start = slot as usize * d;
        &self.vectors[start..start + d]
    }

    #[inline(always)]
    pub(crate) fn m0(&self) -> usize {
        self.params.m * 2
    }

    /// Neighbours of `slot` on `layer`.
    #[inline(always)]
    pub(crate) fn links(&self, slot: u32, layer: usize) -> &[u32] {
        if layer == 0 {
            let stride = self.m0() + 1;
            let base = slot as usize * stride;
            let n = self.links0[base] as usize;
            &self.links0[base + 1..base + 1 + n]
        } else {
            let stride = self.params.m + 1;
            let list = &self.upper[slot as usize];
            let base = (layer - 1) * stride;
            let n = list[base] as usize;
            &list[base + 1..base + 1 + n]
        }
    }

    /// Asks the CPU to start loading the links of `slot` on `layer` (bottom layer only: the
    /// upper ones are few and small).
    #[inline(always)]
    pub(crate) fn prefetch_links(&self, slot: u32, layer: usize) {
        if layer == 0 {
            let stride = self.m0() + 1;
            let base = slot as usize * stride;
            crate::simd::prefetch_u32(&self.links0[base..base + stride]);
        }
    }

    /// Appends one neighbour; the caller checked there is room.
    #[inline(always)]
    pub(crate) fn push_link(&mut self, slot: u32, layer: usize, new: u32) {
        let (list, base) = if layer == 0 {
            let stride = self.m0() + 1;
            (&mut self.links0[..], slot as usize * stride)
        } else {
            let stride = self.params.m + 1;
            (&mut self.upper[slot as usize][..], (layer - 1) * stride)
        };
        let n = list[base] as usize;
        list[base + 1 + n] = new;
        list[base] = n as u32 + 1;
    }

    /// Replaces the neighbours of `slot` on `layer` (at most the layer's capacity).
    pub(crate) fn set_links(&mut self, slot: u32, layer: usize, neighbours: &[u32]) {
        let (list, base) = if layer == 0 {
            let stride = self.m0() + 1;
            (&mut self.links0[..], slot as usize * stride)
        } else {
            let stride = self.params.m + 1;
            (&mut self.upper[slot as usize][..], (layer - 1) * stride)
        };
        list[base] = neighbours.len() as u32;
        list[base + 1..base + 1 + neighbours.len()].copy_from_slice(neighbours);
    }
}

#[cfg(test)]
mod tests;
