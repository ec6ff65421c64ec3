//! The set of nodes a search has already seen.
//!
//! One array of epoch marks per thread, reused by every search on that thread: starting a
//! search bumps the epoch instead of clearing `n` entries, so a query costs O(nodes touched),
//! not O(index size).

use std::cell::RefCell;

#[derive(Debug, Default)]
pub(crate) struct Visited {
    marks: Vec<u32>,
    epoch: u32,
}

impl Visited {
    /// Starts a new search over `n` nodes: every node reads as unvisited.
    fn reset(&mut self, n: usize) {
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

thread_local! {
    static VISITED: RefCell<Visited> = RefCell::new(Visited::default());
}

/// Runs `f` with this thread's visited set, reset for `n` nodes.
#[inline(always)]
pub(crate) fn with_visited<R>(n: usize, f: impl FnOnce(&mut Visited) -> R) -> R {
    VISITED.with(|cell| match cell.try_borrow_mut() {
        Ok(mut v) => {
            v.reset(n);
            f(&mut v)
        }
        // Only reachable if a filter callback searches again on the same thread.
        Err(_) => {
            let mut v = Visited::default();
            v.reset(n);
            f(&mut v)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_search_starts_empty() {
        let first = with_visited(10, |v| (v.insert(3), v.insert(3)));
        assert_eq!(first, (true, false));
        assert!(with_visited(10, |v| v.insert(3)));
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
