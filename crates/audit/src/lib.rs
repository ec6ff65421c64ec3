//! mcpflow's tamper-evident audit log.
//!
//! - **Hash chain**: entry `i` stores `h_i = SHA-256(h_{i-1} || canonical(entry_i))` (with
//!   `h_{-1}` = 32 zero bytes); the canonical serialisation is specified in [`event`].
//! - **Merkle checkpoints**: an RFC 6962 tree over the canonical entries; every N entries or
//!   T ms the writer signs a tree head `{size, root, ts}` with Ed25519 ([`SignedHead`]).
//!   Inclusion and consistency proofs with verifiers are in [`merkle`].
//! - **Storage**: SQLite in WAL mode with `synchronous=FULL`; appends are group-committed by one
//!   writer thread (one fsync per batch) and [`AuditLog::append`] returns once its batch is
//!   durable. FTS5 indexes action, resource and details for [`AuditLog::search`]. Sensitive
//!   fields are AES-256-GCM-encrypted (`mcpflow-secrets`) before storage; the chain covers the
//!   ciphertext, so verification needs no key.
//! - **Verification**: [`verify_db`] walks the whole log and names the first bad entry or
//!   checkpoint ([`Tamper`]).

mod error;
pub mod event;
mod log;
pub mod merkle;
mod query;
mod signer;
mod store;
mod verify;
mod writer;

pub use error::{Error, Tamper};
pub use event::{Entry, Event, Hash};
pub use log::{AuditConfig, AuditLog};
pub use query::{InclusionProof, Search, prove_db, search_db};
pub use signer::{SignedHead, Signer, Verifier, public_key_path};
pub use store::fts5_available;
pub use verify::{Summary, verify_db};
pub use writer::{Receipt, Stats};

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
