//! The crate's error type. Every message says what to do about it.

use std::path::PathBuf;

/// What can go wrong loading, running or installing an embedder.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A model file is not where it should be.
    #[error(
        "model file {} is missing: run `mcpflow model install --dir {}` (or set MCPFLOW_MODEL_DIR to an installed model)",
        path.display(),
        dir.display()
    )]
    MissingFile {
        /// The model directory.
        dir: PathBuf,
        /// The missing file.
        path: PathBuf,
    },
    /// A model file exists but cannot be used (corrupt, wrong format, wrong checksum).
    #[error("model file {} is unusable: {reason}; reinstall with `mcpflow model install --force`", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Tokenising the input failed.
    #[error("tokenizer failed: {0}")]
    Tokenizer(String),
    /// The forward pass failed.
    #[error("embedding inference failed: {0}")]
    Inference(String),
    /// Downloading or unpacking the model failed.
    #[error("model install failed: {0}")]
    Install(String),
    /// Reading or writing files failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl EmbedError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}
