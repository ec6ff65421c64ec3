//! The fallback embedder: feature hashing of word and character n-grams.
//!
//! It captures surface overlap only (shared words, shared spellings), not meaning — "car" and
//! "automobile" are unrelated to it. It is here so memory keeps working when the MiniLM
//! files are missing, and it always reports itself as degraded.
//!
//! Each text is lower-cased; its word unigrams (weight 1), word bigrams (0.7) and character
//! trigrams of each word padded with spaces (0.5) are hashed with 64-bit FNV-1a; the low bits
//! pick one of `DIM` buckets and one high bit picks the sign (the signed "hashing trick",
//! which keeps collisions unbiased). The sum is L2-normalised. A text without any word
//! characters maps to the zero vector.

use crate::{DIM, EmbedError, Embedder};

/// Feature-hashing embedder (deterministic, no model files, lower quality).
#[derive(Debug, Clone, Default)]
pub struct HashingEmbedder {
    _private: (),
}

impl HashingEmbedder {
    /// A new hashing embedder producing [`DIM`]-wide vectors.
    pub fn new() -> Self {
        Self::default()
    }

    /// The vector of one text.
    pub fn vector(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0f32; DIM];
        let lower = text.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        for w in &words {
            add(&mut v, b"w", w.as_bytes(), 1.0);
            let padded: Vec<char> = std::iter::once(' ')
                .chain(w.chars())
                .chain(std::iter::once(' '))
                .collect();
            let mut buf = String::new();
            for tri in padded.windows(3) {
                buf.clear();
                buf.extend(tri);
                add(&mut v, b"c", buf.as_bytes(), 0.5);
            }
        }
        for pair in words.windows(2) {
            let joined = format!("{} {}", pair[0], pair[1]);
            add(&mut v, b"b", joined.as_bytes(), 0.7);
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }
}

/// Adds `weight` (signed by the hash) to the bucket of `feature` in namespace `ns`.
fn add(v: &mut [f32], ns: &[u8], feature: &[u8], weight: f32) {
    let h = fnv1a(ns, feature);
    let bucket = (h % v.len() as u64) as usize;
    let sign = if h >> 63 == 1 { -1.0 } else { 1.0 };
    v[bucket] += sign * weight;
}

fn fnv1a(ns: &[u8], bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in ns.iter().chain([0u8].iter()).chain(bytes) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Embedder for HashingEmbedder {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|t| self.vector(t)).collect())
    }

    fn dim(&self) -> usize {
        DIM
    }

    fn name(&self) -> &str {
        "hashing"
    }

    fn is_degraded(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dot;
    use proptest::prelude::*;

    #[test]
    fn overlapping_texts_are_closer_than_unrelated_ones() {
        let e = HashingEmbedder::new();
        let a = e.vector("the cat sat on the mat");
        let b = e.vector("a cat sat on a mat");
        let c = e.vector("quarterly revenue grew by twelve percent");
        assert!(
            dot(&a, &b) > dot(&a, &c) + 0.3,
            "{} vs {}",
            dot(&a, &b),
            dot(&a, &c)
        );
    }

    #[test]
    fn case_and_punctuation_do_not_matter() {
        let e = HashingEmbedder::new();
        let a = e.vector("Hello, World!");
        let b = e.vector("hello world");
        assert!((dot(&a, &b) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn empty_and_symbol_only_texts_are_zero() {
        let e = HashingEmbedder::new();
        assert!(e.vector("").iter().all(|&x| x == 0.0));
        assert!(e.vector(" ,.;!? ").iter().all(|&x| x == 0.0));
    }

    #[test]
    fn reports_degraded() {
        let e = HashingEmbedder::new();
        assert!(e.is_degraded());
        assert_eq!(e.label(), "hashing (degraded)");
        assert_eq!(e.dim(), DIM);
    }

    proptest! {
        #[test]
        fn any_text_gives_a_unit_or_zero_vector(text in ".{0,200}") {
            let v = HashingEmbedder::new().vector(&text);
            prop_assert_eq!(v.len(), DIM);
            let n = dot(&v, &v);
            prop_assert!(n == 0.0 || (n - 1.0).abs() < 1e-4, "norm² {}", n);
            prop_assert_eq!(n == 0.0, !text.chars().any(char::is_alphanumeric));
        }

        #[test]
        fn deterministic(text in ".{0,100}") {
            let e = HashingEmbedder::new();
            prop_assert_eq!(e.vector(&text), e.vector(&text));
        }
    }
}
