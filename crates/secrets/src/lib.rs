//! Envelope encryption for mcpflow.
//!
//! Plaintexts are sealed with AES-256-GCM under a random 256-bit *data key*; every data key is
//! stored only *wrapped* (itself AES-256-GCM-encrypted) under a *master key* that lives in a file
//! with `0600` permissions or in an environment variable. One crypto backend: `aws-lc-rs`.
//!
//! - [`Keyring::encrypt`] / [`Keyring::decrypt`]: the ciphertext names its data key in a
//!   versioned header (see [`format`]), so old ciphertexts stay readable after rotation.
//! - [`Keyring::rotate`] starts a new data key for new encryptions; older keys stay for
//!   decryption. [`Keyring::rotation_due`] says when the current key is older than the policy
//!   allows (at most 90 days).
//! - [`Keyring::rewrap`] re-wraps every data key under a new master key without downtime:
//!   readers keep decrypting while it runs.
//! - Key material is zeroised on drop and never printed: `Debug` shows `***`.
//!
//! ```
//! use mcpflow_secrets::{Keyring, MasterKey, RotationPolicy};
//! let ring = Keyring::in_memory(MasterKey::generate()?, RotationPolicy::default())?;
//! let sealed = ring.encrypt(b"api-token-123", b"tenant:acme")?;
//! assert_eq!(ring.decrypt(&sealed, b"tenant:acme")?, b"api-token-123");
//! assert!(ring.decrypt(&sealed, b"tenant:other").is_err());
//! # Ok::<(), mcpflow_secrets::Error>(())
//! ```

mod error;
pub mod format;
pub mod hex;
mod keyring;
mod master;
pub mod private_file;

pub use error::Error;
pub use keyring::{KeyInfo, Keyring, RotationPolicy};
pub use master::MasterKey;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
