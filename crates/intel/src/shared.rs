//! An index many threads can use at once.

use crate::error::Result;
use crate::hnsw::{Hit, HnswIndex};
use parking_lot::RwLock;

/// [`HnswIndex`] behind a reader–writer lock: searches run in parallel, an insert or delete
/// waits for them and runs alone. Share it with an `Arc`.
#[derive(Debug)]
pub struct SharedIndex {
    inner: RwLock<HnswIndex>,
}

impl SharedIndex {
    /// Wraps an index.
    pub fn new(index: HnswIndex) -> Self {
        Self {
            inner: RwLock::new(index),
        }
    }

    /// See [`HnswIndex::search_with`].
    pub fn search_with(
        &self,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        filter: Option<&dyn Fn(u64) -> bool>,
    ) -> Result<Vec<Hit>> {
        self.inner.read().search_with(query, k, ef, filter)
    }

    /// See [`HnswIndex::search`].
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>> {
        self.inner.read().search(query, k)
    }

    /// See [`HnswIndex::insert`].
    pub fn insert(&self, id: u64, vector: &[f32]) -> Result<()> {
        self.inner.write().insert(id, vector)
    }

    /// See [`HnswIndex::delete`].
    pub fn delete(&self, id: u64) -> Result<()> {
        self.inner.write().delete(id)
    }

    /// Runs `f` with shared access (several may run at once).
    pub fn read<R>(&self, f: impl FnOnce(&HnswIndex) -> R) -> R {
        f(&self.inner.read())
    }

    /// Runs `f` with exclusive access.
    pub fn write<R>(&self, f: impl FnOnce(&mut HnswIndex) -> R) -> R {
        f(&mut self.inner.write())
    }

    /// Unwraps the index.
    pub fn into_inner(self) -> HnswIndex {
        self.inner.into_inner()
    }
}
