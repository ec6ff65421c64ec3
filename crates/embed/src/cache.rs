//! An LRU cache (text → vector) in front of any [`Embedder`].
//!
//! Memory traffic repeats itself: the same queries, the same stored snippets re-embedded on
//! re-index. A hit costs a hash lookup instead of a BERT forward pass. Recency is a counter
//! stamped on each entry plus an ordered map from stamp to text, so lookup, insert and
//! eviction are O(log n) with no unsafe linked list. Misses within one batch are embedded
//! together, in one call to the inner embedder, and duplicates in a batch are embedded once.

use crate::{EmbedError, Embedder};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

/// Hit and miss counts of a [`CachedEmbedder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Texts answered from the cache.
    pub hits: u64,
    /// Texts that had to be embedded (a text repeated within one batch counts once).
    pub misses: u64,
    /// Entries currently held.
    pub len: usize,
    /// Most entries held.
    pub capacity: usize,
}

#[derive(Debug, Default)]
struct Lru {
    entries: HashMap<String, (Vec<f32>, u64)>,
    order: BTreeMap<u64, String>,
    clock: u64,
}

impl Lru {
    fn get(&mut self, text: &str) -> Option<Vec<f32>> {
        let (v, stamp) = self.entries.get_mut(text)?;
        self.clock += 1;
        let old = std::mem::replace(stamp, self.clock);
        let key = self
            .order
            .remove(&old)
            .expect("order holds every entry's stamp");
        self.order.insert(self.clock, key);
        Some(v.clone())
    }

    fn put(&mut self, text: &str, v: Vec<f32>, capacity: usize) {
        if capacity == 0 {
            return;
        }
        self.clock += 1;
        if let Some((_, old)) = self.entries.insert(text.to_string(), (v, self.clock)) {
            self.order.remove(&old);
        }
        self.order.insert(self.clock, text.to_string());
        while self.entries.len() > capacity {
            let (_, oldest) = self.order.pop_first().expect("non-empty");
            self.entries.remove(&oldest);
        }
    }
}

/// Wraps an embedder with an LRU cache of at most `capacity` texts.
///
/// ```
/// use mcpflow_embed::{CachedEmbedder, Embedder, HashingEmbedder};
///
/// let e = CachedEmbedder::new(HashingEmbedder::new(), 1000);
/// e.embed(&["hello", "world"]).unwrap();
/// e.embed(&["hello"]).unwrap();
/// let s = e.stats();
/// assert_eq!((s.hits, s.misses), (1, 2));
/// ```
#[derive(Debug)]
pub struct CachedEmbedder<E> {
    inner: E,
    capacity: usize,
    lru: Mutex<Lru>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<E: Embedder> CachedEmbedder<E> {
    /// A cache of at most `capacity` entries in front of `inner` (0 disables caching).
    pub fn new(inner: E, capacity: usize) -> Self {
        Self {
            inner,
            capacity,
            lru: Mutex::new(Lru::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The wrapped embedder.
    pub fn inner(&self) -> &E {
        &self.inner
    }

    /// Counters since creation.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            len: self.lru.lock().entries.len(),
            capacity: self.capacity,
        }
    }
}

impl<E: Embedder> Embedder for CachedEmbedder<E> {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out: Vec<Option<Vec<f32>>> = Vec::with_capacity(texts.len());
        // Distinct missing texts, and for each the output slots waiting for it.
        let mut missing: Vec<&str> = Vec::new();
        let mut waiting: HashMap<&str, Vec<usize>> = HashMap::new();
        {
            let mut lru = self.lru.lock();
            for (i, &t) in texts.iter().enumerate() {
                match lru.get(t) {
                    Some(v) => out.push(Some(v)),
                    None => {
                        out.push(None);
                        let slots = waiting.entry(t).or_default();
                        if slots.is_empty() {
                            missing.push(t);
                        }
                        slots.push(i);
                    }
                }
            }
        }
        // A miss is a text sent to the inner embedder; a repeat within the batch is a hit.
        let misses = missing.len();
        self.hits
            .fetch_add((texts.len() - misses) as u64, Ordering::Relaxed);
        self.misses.fetch_add(misses as u64, Ordering::Relaxed);
        if !missing.is_empty() {
            let fresh = self.inner.embed(&missing)?;
            if fresh.len() != missing.len() {
                return Err(EmbedError::Inference(format!(
                    "{} returned {} vectors for {} texts",
                    self.inner.name(),
                    fresh.len(),
                    missing.len()
                )));
            }
            let mut lru = self.lru.lock();
            for (t, v) in missing.iter().zip(fresh) {
                for &slot in &waiting[t] {
                    out[slot] = Some(v.clone());
                }
                lru.put(t, v, self.capacity);
            }
        }
        Ok(out
            .into_iter()
            .map(|v| v.expect("every slot is filled by a hit or a fresh vector"))
            .collect())
    }

    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn is_degraded(&self) -> bool {
        self.inner.is_degraded()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HashingEmbedder;
    use std::sync::atomic::AtomicUsize;

    /// Counts how many texts reach the inner embedder.
    #[derive(Debug, Default)]
    struct Counting {
        calls: AtomicUsize,
        texts: AtomicUsize,
    }

    impl Embedder for Counting {
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            self.texts.fetch_add(texts.len(), Ordering::Relaxed);
            HashingEmbedder::new().embed(texts)
        }
        fn dim(&self) -> usize {
            crate::DIM
        }
        fn name(&self) -> &str {
            "counting"
        }
        fn is_degraded(&self) -> bool {
            false
        }
    }

    #[test]
    fn hits_skip_the_inner_embedder_and_return_the_same_vectors() {
        let c = CachedEmbedder::new(Counting::default(), 10);
        let first = c.embed(&["a b", "c d"]).unwrap();
        let second = c.embed(&["c d", "e f", "a b"]).unwrap();
        assert_eq!(second[0], first[1]);
        assert_eq!(second[2], first[0]);
        assert_eq!(c.inner().texts.load(Ordering::Relaxed), 3);
        assert_eq!(c.inner().calls.load(Ordering::Relaxed), 2);
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.len), (2, 3, 3));
    }

    #[test]
    fn duplicates_in_a_batch_are_embedded_once() {
        let c = CachedEmbedder::new(Counting::default(), 10);
        let v = c.embed(&["x", "y", "x", "x"]).unwrap();
        assert_eq!(c.inner().texts.load(Ordering::Relaxed), 2);
        assert_eq!(v[0], v[2]);
        assert_eq!(v[0], v[3]);
        assert_ne!(v[0], v[1]);
        let s = c.stats();
        assert_eq!((s.hits, s.misses), (2, 2));
    }

    #[test]
    fn least_recently_used_is_evicted() {
        let c = CachedEmbedder::new(Counting::default(), 2);
        c.embed(&["a"]).unwrap();
        c.embed(&["b"]).unwrap();
        c.embed(&["a"]).unwrap(); // a is now newer than b
        c.embed(&["c"]).unwrap(); // evicts b
        assert_eq!(c.stats().len, 2);
        let before = c.inner().texts.load(Ordering::Relaxed);
        c.embed(&["a", "c"]).unwrap();
        assert_eq!(c.inner().texts.load(Ordering::Relaxed), before);
        c.embed(&["b"]).unwrap();
        assert_eq!(c.inner().texts.load(Ordering::Relaxed), before + 1);
    }

    #[test]
    fn zero_capacity_caches_nothing() {
        let c = CachedEmbedder::new(Counting::default(), 0);
        c.embed(&["a"]).unwrap();
        c.embed(&["a"]).unwrap();
        assert_eq!(c.inner().texts.load(Ordering::Relaxed), 2);
        assert_eq!(c.stats().len, 0);
    }

    #[test]
    fn passes_through_name_and_degradation() {
        let c = CachedEmbedder::new(HashingEmbedder::new(), 4);
        assert_eq!(c.label(), "hashing (degraded)");
        assert_eq!(c.dim(), crate::DIM);
    }
}
