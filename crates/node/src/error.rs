//! The node's error type.

use std::path::PathBuf;

/// Why a node could not start or an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The learning router could not start.
    #[error("learning router: {0}")]
    Learning(String),
    /// The audit log in the data directory could not be opened, or failed verification.
    #[error("audit log: {0} (`mcpflow audit verify` names the first bad entry)")]
    Audit(String),
    /// The security gate could not be built (its rules file is unusable).
    #[error("security gate: {0} (fix the rules file named by [guard] rules, or remove it)")]
    Guard(String),
    /// The data directory could not be created or written.
    #[error(
        "data directory {path}: {source} (check that it exists and is writable, or pass --data-dir)"
    )]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] mcpflow_store::Error),
    /// The agent runtime could not start.
    #[error(transparent)]
    Agents(#[from] mcpflow_agents::Error),
    /// Semantic memory could not be loaded.
    #[error("semantic memory: {0}")]
    Memory(#[from] crate::memory::MemoryFailure),
}
