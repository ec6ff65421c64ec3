//! The set of nodes a search has already seen.
//!
//! One bit per node, pooled per index and reused by every search. A search touches a few
//! thousand nodes of possibly millions, so the bits stay small enough to live in the
//! nearest caches (100k nodes: 12.5 KB, against 400 KB of `u32` epoch marks, which the
//! stream of vectors kept evicting; the check was 7% of a query). Starting a new search
//! clears only the words the last one set, so a query still costs O(nodes touched), not
//! O(index size). A pool (not a thread-local) keeps the search free of closures, so all of
//! it compiles inside the SIMD dispatch.

use parking_lot::Mutex;

#[derive(Debug, Default)]
pub(crate) struct Visited {
    /// Bit `i % 64` of word `i / 64` set: node `i` seen.
    words: Vec<u64>,
    /// Indices of the words with a bit set, to clear them at the next reset.
    touched: Vec<u32>,
}

impl Visited {
    /// Starts a new search over `n` nodes: every node reads as unvisited.
    pub(crate) fn reset(&mut self, n: usize) {
        // Past an eighth of the words, clearing them all is cheaper than one by one.
        if self.touched.len() > self.words.len() / 8 {
            self.words.fill(0);
        } else {
            for &w in &self.touched {
                self.words[w as usize] = 0;
            }
        }
        self.touched.clear();
        let words = n.div_ceil(64);
        if self.words.len() < words {
            self.words.resize(words, 0);
        }
    }

    /// Marks `slot`; true if it was not yet visited in this search.
    #[inline(always)]
    pub(crate) fn insert(&mut self, slot: u32) -> bool {
        let w = (slot / 64) as usize;
        let bit = 1u64 << (slot % 64);
        let word = &mut self.words[w];
        if *word & bit != 0 {
            return false;
        }
        if *word == 0 {
            self.touched.push(w as u32);
        }
        *word |= bit;
        true
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
    fn reset_forgets_every_mark_whether_few_or_many() {
        let mut v = Visited::default();
        v.reset(10_000);
        // Few marks: cleared word by word.
        for s in [0u32, 63, 64, 9_999] {
            assert!(v.insert(s));
            assert!(!v.insert(s));
        }
        v.reset(10_000);
        assert!((0..10_000).all(|s| v.insert(s)), "every node reads as new");
        // Every word touched: cleared all at once.
        v.reset(10_000);
        assert!((0..10_000).rev().all(|s| v.insert(s)));
        // Growing keeps working and starts clear.
        v.reset(20_000);
        assert!((0..20_000).all(|s| v.insert(s)));
        assert!((0..20_000).all(|s| !v.insert(s)));
    }
}
