use std::path::PathBuf;

/// What verification found wrong, naming the first bad entry or checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Tamper {
    /// A sequence number is missing.
    #[error("entry {seq} is missing (the next stored entry is {found}): entries were deleted")]
    Missing {
        /// The first missing seq.
        seq: u64,
        /// The seq found in its place.
        found: u64,
    },
    /// The entry's link names the hash of an entry that comes later: entries were reordered.
    #[error(
        "entry {seq} is out of order: it was written after entry {follows}, not after entry {expected_prev}"
    )]
    Reordered {
        /// Position where the wrong entry sits.
        seq: u64,
        /// The entry it really follows.
        follows: u64,
        /// The entry it should follow.
        expected_prev: i64,
    },
    /// The entry's link does not name its predecessor, and no stored entry matches it.
    #[error("entry {seq}: its link (prev hash) does not match entry {}'s hash: an entry was inserted, removed or its link edited", *seq as i64 - 1)]
    BrokenLink {
        /// The entry.
        seq: u64,
    },
    /// The entry's fields do not hash to its stored hash.
    #[error("entry {seq} was altered: its fields do not hash to its stored chain hash")]
    Altered {
        /// The entry.
        seq: u64,
    },
    /// A timestamp earlier than the previous entry's.
    #[error("entry {seq}: timestamp {ts_ms} is earlier than the previous entry's {prev_ts_ms}")]
    TimeReversed {
        /// The entry.
        seq: u64,
        /// Its time.
        ts_ms: i64,
        /// The previous entry's time.
        prev_ts_ms: i64,
    },
    /// The chain is intact but the Merkle root differs from the signed one: the entries after the
    /// previous checkpoint were rewritten along with their chain hashes.
    #[error(
        "checkpoint at size {size}: entries {from}..{size} do not match the signed Merkle root (they were rewritten after signing)"
    )]
    RootMismatch {
        /// The checkpoint's size.
        size: u64,
        /// The previous checkpoint's size: the first suspect entry.
        from: u64,
    },
    /// A checkpoint whose signature does not verify.
    #[error(
        "checkpoint at size {size}: the signature does not verify (the checkpoint was forged or edited)"
    )]
    BadSignature {
        /// The checkpoint's size.
        size: u64,
    },
    /// A checkpoint signed by another key.
    #[error("checkpoint at size {size} is signed by key {key_id}, not the trusted key {trusted}")]
    ForeignKey {
        /// The checkpoint's size.
        size: u64,
        /// Its key id.
        key_id: String,
        /// The trusted key id.
        trusted: String,
    },
    /// Checkpoints whose times go backwards as their sizes grow.
    #[error("checkpoint at size {size} is dated before the checkpoint at size {prev_size}")]
    CheckpointTimeReversed {
        /// The later checkpoint.
        size: u64,
        /// The earlier one.
        prev_size: u64,
    },
    /// Fewer entries than a signed checkpoint covers: the tail was cut off.
    #[error(
        "the log holds {entries} entries but a signed checkpoint covers {size}: entries {entries}..{size} were removed"
    )]
    Truncated {
        /// Entries present.
        entries: u64,
        /// Entries the checkpoint covers.
        size: u64,
    },
}

impl Tamper {
    /// The first entry that is bad or suspect, where one can be named.
    pub fn first_bad_seq(&self) -> Option<u64> {
        match *self {
            Tamper::Missing { seq, .. }
            | Tamper::Reordered { seq, .. }
            | Tamper::BrokenLink { seq }
            | Tamper::Altered { seq }
            | Tamper::TimeReversed { seq, .. } => Some(seq),
            Tamper::RootMismatch { from, .. } => Some(from),
            Tamper::Truncated { entries, .. } => Some(entries),
            _ => None,
        }
    }
}

/// Errors of the audit log, each saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("audit database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A batch could not be committed; the appends in it were not recorded.
    #[error("audit append failed, the event was not recorded: {0}")]
    Write(String),
    /// The writer thread is gone (the log was closed or it crashed).
    #[error("the audit log is closed: reopen it")]
    Closed,
    /// The log failed verification.
    #[error("audit log verification failed: {0}")]
    Tampered(#[from] Tamper),
    /// A signing or public key could not be used.
    #[error("key {path}: {reason}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Key handling from the secrets crate.
    #[error(transparent)]
    Secrets(#[from] mcpflow_secrets::Error),
    /// Sensitive fields were given but the log has no keyring.
    #[error(
        "this event has sensitive fields but the audit log was opened without a keyring: configure one (AuditConfig::keyring)"
    )]
    NoKeyring,
    /// A full-text query SQLite cannot parse.
    #[error(
        "invalid search query {query:?} ({reason}): use words, \"quoted phrases\", AND/OR/NOT and prefix*"
    )]
    Query {
        /// The query.
        query: String,
        /// SQLite's complaint.
        reason: String,
    },
    /// A request that cannot be answered as asked.
    #[error("{0}")]
    Invalid(String),
    /// The crypto backend failed.
    #[error("crypto backend failure while {0}")]
    Crypto(&'static str),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
