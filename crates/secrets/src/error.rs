use std::path::PathBuf;

/// Everything that can go wrong, each saying what to do about it.
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
    /// A key file that others can read is refused.
    #[error(
        "{path} is readable by group or others (mode {mode:o}): run `chmod 600 {path}` and keep it private"
    )]
    InsecurePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A master key that is not 32 bytes.
    #[error("bad master key from {source_name}: {reason}")]
    BadMasterKey {
        /// Where it came from (file path or variable name).
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// The keyring was wrapped under another master key.
    #[error(
        "the master key (id {found}) is not the one this keyring is wrapped with (id {expected}): use that master key, or the one passed to the last `rewrap`"
    )]
    MasterMismatch {
        /// Id the keyring expects.
        expected: String,
        /// Id of the key given.
        found: String,
    },
    /// The ciphertext names a data key the keyring does not hold.
    #[error(
        "the ciphertext was sealed with data key {id}, which this keyring does not hold (it holds {held:?}): decrypt with the keyring that encrypted it"
    )]
    UnknownKey {
        /// The key id in the header.
        id: u32,
        /// The ids this keyring holds.
        held: Vec<u32>,
    },
    /// The bytes are not a ciphertext of this format.
    #[error("not an mcpflow-secrets ciphertext: {0}")]
    Malformed(&'static str),
    /// A format version this build does not read.
    #[error(
        "ciphertext format version {0} is not supported (this build reads version 1): upgrade mcpflow"
    )]
    UnsupportedVersion(u8),
    /// Authentication failed.
    #[error(
        "decryption failed: the ciphertext was altered, or the associated data differs from the one it was sealed with"
    )]
    Decrypt,
    /// A wrapped data key did not unwrap.
    #[error(
        "data key {id} in the keyring does not unwrap under this master key: the keyring file was altered or belongs to another master key"
    )]
    Unwrap {
        /// The data key id.
        id: u32,
    },
    /// The keyring file is not valid.
    #[error("keyring file {path}: {reason}")]
    Keyring {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A rotation policy outside the allowed range.
    #[error("rotation policy: {0}")]
    Policy(String),
    /// The system random generator or the cipher failed (should not happen).
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
