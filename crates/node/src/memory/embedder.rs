//! Turning text into vectors. The node takes any [`TextEmbedder`]; [`HashingEmbedder`] is
//! the built-in fallback that needs no model, and says so ([`TextEmbedder::degraded`]).

/// Embeds text for semantic memory. Implementations must be deterministic (the same text
/// always gives the same vector) and return `dim()`-long vectors.
pub trait TextEmbedder: Send + Sync + std::fmt::Debug {
    /// One vector per text, in order; an error says what is wrong with the input or model.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String>;
    /// The length of every vector it returns.
    fn dim(&self) -> usize;
    /// What produced the vectors, shown with every search result (e.g. `all-MiniLM-L6-v2`).
    fn label(&self) -> &str;
    /// True when this is a stand-in whose vectors carry little meaning: results are reported
    /// as degraded and the node warns at start.
    fn degraded(&self) -> bool;
}

/// Feature hashing: every lower-cased word and every character trigram of a word is hashed
/// to one of `dim` buckets with a ±1 sign, and the sum is normalised. Texts sharing words
/// or word pieces come out close; synonyms do not — this is lexical overlap, not meaning.
/// Deterministic across runs and machines (FNV-1a, no random seed).
///
/// ```
/// use mcpflow_node::{HashingEmbedder, TextEmbedder};
///
/// let e = HashingEmbedder::new(256);
/// let v = e.embed(&["retry with backoff", "retry with exponential backoff", "pin versions"]).unwrap();
/// let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
/// assert!(cos(&v[0], &v[1]) > cos(&v[0], &v[2]));
/// assert!(e.degraded());
/// ```
#[derive(Debug, Clone)]
pub struct HashingEmbedder {
    dim: usize,
    label: String,
}

impl HashingEmbedder {
    /// An embedder into `dim` buckets (at least 2).
    pub fn new(dim: usize) -> Self {
        let dim = dim.max(2);
        Self {
            dim,
            label: format!("hashing-{dim} (degraded)"),
        }
    }

    fn embed_one(&self, text: &str) -> Result<Vec<f32>, String> {
        let mut v = vec![0.0f32; self.dim];
        let mut add = |piece: &[u8], weight: f32| {
            let h = fnv(piece);
            let bucket = (h % self.dim as u64) as usize;
            let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
            v[bucket] += sign * weight;
        };
        let lower = text.to_lowercase();
        let mut words = 0;
        for word in lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            words += 1;
            add(word.as_bytes(), 1.0);
            let padded: Vec<char> = format!(" {word} ").chars().collect();
            for tri in padded.windows(3) {
                add(tri.iter().collect::<String>().as_bytes(), 0.5);
            }
        }
        if words == 0 {
            return Err(
                "the text has no words to embed (no letters or digits): give text with words, or an explicit embedding"
                    .into(),
            );
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm == 0.0 {
            // Every piece cancelled out (possible, if very unlikely): nudge one bucket.
            v[0] = 1.0;
        } else {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        Ok(v)
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

impl TextEmbedder for HashingEmbedder {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        texts.iter().map(|t| self.embed_one(t)).collect()
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn label(&self) -> &str {
        &self.label
    }

    fn degraded(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_normalised_and_refuses_empty_text() {
        let e = HashingEmbedder::new(64);
        let a = e.embed(&["Hello, world"]).unwrap();
        assert_eq!(a, e.embed(&["hello world"]).unwrap());
        assert_eq!(a[0].len(), 64);
        let norm: f32 = a[0].iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        let err = e.embed(&["ok", " ,;! "]).unwrap_err();
        assert!(err.contains("no words"), "{err}");
    }
}
