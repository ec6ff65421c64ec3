//! The semantic layer: evidence from meaning rather than wording.
//!
//! A layer plugged in with [`crate::Guard::with_semantic`] sees the normalised text and
//! returns signals whose weights join the rule evidence of the same category. mcpflow ships
//! one, [`ExemplarLayer`] (embedding similarity to known attack intents, `exemplars.rs`);
//! without a layer, rules and validators run alone.

mod exemplars;

pub(crate) use exemplars::windows;
pub use exemplars::{
    DEFAULT_EXEMPLARS, ExemplarError, ExemplarLayer, ExemplarSettings, SentenceEncoder,
};

use crate::types::{Category, Channel};
use std::fmt::Debug;
use std::sync::Arc;

/// One piece of semantic evidence. Offsets are into the normalised text the layer was given
/// (`start == end == 0` when it concerns the whole text); the scanner maps them back.
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticSignal {
    /// The category it counts towards.
    pub category: Category,
    /// Evidence weight in `0..=1`.
    pub weight: f32,
    /// Start in the normalised text.
    pub start: usize,
    /// End in the normalised text.
    pub end: usize,
    /// A short label for the finding (`semantic.<label>`), e.g. the nearest known attack.
    pub label: String,
}

/// A semantic detector. Implementations must be cheap to call concurrently.
pub trait SemanticLayer: Send + Sync + Debug {
    /// Assesses `normalized` (lower-cased, NFKC, folded) arriving on `channel`.
    fn assess(&self, normalized: &str, channel: Channel) -> Vec<SemanticSignal>;

    /// The sentence encoder behind the layer, if it has one: other checks that compare
    /// meanings (a text against the deployment's [`crate::Instructions`]) borrow it.
    fn encoder(&self) -> Option<Arc<dyn SentenceEncoder>> {
        None
    }
}
