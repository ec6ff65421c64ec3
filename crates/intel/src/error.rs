//! Errors of the vector index. Each message says what was wrong and what to do.

/// Everything the index refuses, with the reason.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    /// A vector or query has the wrong number of components.
    #[error(
        "vector has {got} dimensions but the index holds {expected}-dimensional vectors; embed with the index's model or create an index with dim = {got}"
    )]
    DimensionMismatch {
        /// The index's dimension.
        expected: usize,
        /// The vector's length.
        got: usize,
    },
    /// A component is NaN or infinite.
    #[error(
        "vector component {position} is {value} (not a finite number); fix the embedding before inserting or searching"
    )]
    NonFinite {
        /// Index of the first bad component.
        position: usize,
        /// The bad value.
        value: f32,
    },
    /// A zero vector has no direction, so cosine distance is undefined for it.
    #[error(
        "vector has zero length; cosine distance needs a direction (use the L2 metric, or check the embedding)"
    )]
    ZeroVector,
    /// `k = 0` asks for nothing.
    #[error("k must be at least 1")]
    ZeroK,
    /// The construction parameters are out of range.
    #[error("invalid index parameter: {0}")]
    InvalidParams(String),
    /// The id is already in the index.
    #[error("id {0} is already in the index; delete it first to replace its vector")]
    DuplicateId(u64),
    /// The id is not in the index (never inserted, or deleted).
    #[error("id {0} is not in the index")]
    NotFound(u64),
    /// The index cannot address more nodes.
    #[error("the index is full ({0} nodes); shard the data over several indexes")]
    Full(usize),
    /// Serialised bytes do not start with the index's magic.
    #[error("not an mcpflow HNSW index (bad magic bytes)")]
    BadMagic,
    /// Serialised bytes were written by a different format version.
    #[error(
        "index format version {found} is not supported (this build reads version {supported}); rebuild the index from its vectors"
    )]
    UnsupportedVersion {
        /// Version in the bytes.
        found: u32,
        /// Version this build reads and writes.
        supported: u32,
    },
    /// Serialised bytes end early.
    #[error("index bytes are truncated: needed {needed} more bytes at offset {offset}")]
    Truncated {
        /// Where reading stopped.
        offset: usize,
        /// How many more bytes were needed.
        needed: usize,
    },
    /// The checksum over the serialised bytes does not match.
    #[error(
        "index bytes are corrupt: checksum mismatch (stored {stored:#018x}, computed {computed:#018x}); restore from a backup or rebuild"
    )]
    ChecksumMismatch {
        /// Checksum in the trailer.
        stored: u64,
        /// Checksum of the bytes read.
        computed: u64,
    },
    /// The bytes parse but describe an impossible index.
    #[error("index bytes are corrupt: {0}; restore from a backup or rebuild")]
    Corrupt(String),
}

/// Result with the index's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
