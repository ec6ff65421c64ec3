//! The set of nodes a search has already seen.
//!
//! Arrays of epoch marks, pooled per index and reused by every search: starting a search
//! bumps the epoch instead of clearing `n` entries, so a query costs O(nodes touched), not
//! O(index size). A pool (not a thread-local) keeps the search free of closures, so all of
//! it compiles inside the SIMD dispatch.

use parking_lot::Mutex;

#[derive(Debug, Default)]
pub(crate) struct Visited {
    marks: Vec<u32>,
    epoch: u32,
}

impl Visited {
    /// Starts a new search over `n` nodes: every node reads as unvisited.
    pub(crate) fn reset(&mut self, n: usize) {
        if self.marks.len() < n {
            self.marks.resize(n, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            // The epoch wrapped: old marks could read as current, so clear them once.
            self.marks.fill(0);
            self.epoch = 1;
        }
    }

    /// Marks `slot`; true if it was not yet visited in this search.
    #[inline(always)]
    pub(crate) fn insert(&mut self, slot: u32) -> bool {
        let m = &mut self.marks[slot as usize];
        if *m == self.epoch {
            false
        } else {
            *m = self.epoch;
            true
        }
    }
}

/// Reusable visited sets; a clone starts empty.
#[derive(Debug, Default)]
pub(crate) struct VisitedPool(Mutex<Vec<Visited>>);

impl Clone for VisitedPool {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl VisitedPool {
    /// A set reset for `n` nodes; give it back with [`VisitedPool::put`].
    pub(crate) fn take(&self, n: usize) -> Visited {
        let mut v = self.0.lock().pop().unwrap_or_default();
        v.reset(n);
        v
    }

    pub(crate) fn put(&self, v: Visited) {
        self.0.lock().push(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_search_starts_empty() {
        let pool = VisitedPool::default();
        let mut v = pool.take(10);
        assert_eq!((v.insert(3), v.insert(3)), (true, false));
        pool.put(v);
        assert!(pool.take(10).insert(3));
    }

    #[test]
    fn epoch_wrap_clears_marks() {
        let mut v = Visited {
            marks: vec![0; 4],
            epoch: u32::MAX - 1,
        };
        v.reset(4);
        assert!(v.insert(2));
        v.reset(4); // wraps to 0 -> cleared, epoch 1
        assert!(v.insert(2));
    }
}
