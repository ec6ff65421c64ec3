//! The embedder `serve` gives the node's semantic memory: all-MiniLM-L6-v2 from the model
//! directory (`mcpflow model install`), behind an LRU cache — or, when the model is absent,
//! the hashing stand-in, loudly (a warning at start; `degraded` in status and every result).

use mcpflow_embed::{CachedEmbedder, Embedder};
use mcpflow_node::TextEmbedder;
use std::path::Path;

/// Texts whose vectors are kept (repeated queries and re-stored values skip the model).
const CACHE_ENTRIES: usize = 4096;

/// A [`mcpflow_embed::Embedder`] as the node's [`TextEmbedder`].
pub struct ModelEmbedder {
    inner: CachedEmbedder<Box<dyn Embedder>>,
    label: String,
    degraded: bool,
}

impl ModelEmbedder {
    /// MiniLM from `model_dir`, or the loud fallback.
    pub fn load(model_dir: &Path) -> Self {
        let model = mcpflow_embed::load_or_fallback(model_dir);
        let label = model.label();
        let degraded = model.is_degraded();
        Self {
            inner: CachedEmbedder::new(model, CACHE_ENTRIES),
            label,
            degraded,
        }
    }
}

impl std::fmt::Debug for ModelEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelEmbedder")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl TextEmbedder for ModelEmbedder {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        self.inner.embed(texts).map_err(|e| e.to_string())
    }

    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn label(&self) -> &str {
        &self.label
    }

    fn degraded(&self) -> bool {
        self.degraded
    }
}
