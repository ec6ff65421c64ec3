//! The façade: [`AuditLog`].

use crate::event::{Entry, Event, Hash, canonical_json};
use crate::query::{self, InclusionProof, Search};
use crate::signer::{Signer, Verifier};
use crate::store;
use crate::verify::{self, Summary};
use crate::writer::{ChainState, Cmd, Counters, Policy, Prepared, Receipt, Stats, Writer};
use crate::{Error, Result, SignedHead};
use futures::channel::oneshot;
use mcpflow_secrets::Keyring;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How to open an [`AuditLog`].
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// The SQLite file.
    pub db: PathBuf,
    /// The Ed25519 signing key (PKCS#8), created `0600` on first use, public key beside it.
    pub signing_key: PathBuf,
    /// Encrypts [`Event::sensitive`]; without one, events with sensitive fields are refused.
    pub keyring: Option<Arc<Keyring>>,
    /// Sign a checkpoint once this many entries are unsigned.
    pub checkpoint_every: u64,
    /// ...or once the oldest unsigned entry is this old.
    pub checkpoint_interval: Duration,
    /// Most appends committed in one transaction.
    pub max_batch: usize,
    /// Appends that may wait for the writer before `append` blocks (back-pressure).
    pub queue_capacity: usize,
}

impl AuditConfig {
    /// `audit.db` and `audit-signing.key` in `dir`; checkpoints every 10 000 entries or 1 s.
    pub fn in_dir(dir: &Path) -> Self {
        AuditConfig {
            db: dir.join("audit.db"),
            signing_key: dir.join("audit-signing.key"),
            keyring: None,
            checkpoint_every: 10_000,
            checkpoint_interval: Duration::from_secs(1),
            max_batch: 8192,
            queue_capacity: 65_536,
        }
    }
}

/// A tamper-evident, append-only audit log. Share it as `Arc<AuditLog>`; every method takes
/// `&self`. Dropping it (or [`AuditLog::close`]) drains queued appends and signs a final
/// checkpoint over the tail.
///
/// ```
/// use mcpflow_audit::{AuditConfig, AuditLog, Event};
/// let dir = tempfile::tempdir()?;
/// let log = AuditLog::open(AuditConfig::in_dir(dir.path()))?;
/// let r = log.append(Event::new("user:alice", "acme", "tool.call", "tool:search", "allowed"))?;
/// assert_eq!(r.seq, 0);
/// log.checkpoint()?;
/// assert_eq!(log.verify()?.entries, 1);
/// let proof = log.prove(0)?;
/// proof.verify(log.verifier())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AuditLog {
    counters: Arc<Counters>,
    tx: Option<SyncSender<Cmd>>,
    thread: Option<JoinHandle<()>>,
    db: PathBuf,
    keyring: Option<Arc<Keyring>>,
    verifier: Verifier,
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Cmd::Append(..) => "Append",
            Cmd::Checkpoint(_) => "Checkpoint",
        })
    }
}

/// AAD binding a sensitive ciphertext to its entry's tenant and actor.
fn sensitive_aad(tenant: &str, actor: &str) -> Vec<u8> {
    let mut aad = b"mcpflow-audit sensitive v1\0".to_vec();
    aad.extend_from_slice(&(tenant.len() as u32).to_be_bytes());
    aad.extend_from_slice(tenant.as_bytes());
    aad.extend_from_slice(actor.as_bytes());
    aad
}

impl AuditLog {
    /// Opens (or creates) the log. An existing log is verified in full first: appending to a
    /// log that fails verification is refused with the problem named.
    pub fn open(config: AuditConfig) -> Result<Self> {
        if config.checkpoint_every == 0 || config.max_batch == 0 || config.queue_capacity == 0 {
            return Err(Error::Invalid(
                "checkpoint_every, max_batch and queue_capacity must be at least 1".into(),
            ));
        }
        let signer = Signer::load_or_generate(&config.signing_key)?;
        let verifier = signer.verifier();
        let conn = store::open_writer(&config.db)?;
        let walked = verify::walk(&conn, &verifier, None)?;
        if walked.summary.unsigned_tail > 0 {
            tracing::warn!(
                entries = walked.summary.unsigned_tail,
                "audit log: entries after the last checkpoint (previous run ended without one); signing them now"
            );
        }
        let counters = Arc::new(Counters::default());
        let writer = Writer {
            counters: counters.clone(),
            conn,
            signer,
            state: ChainState {
                frontier: walked.frontier,
                last_hash: walked.last_hash,
                last_ts: walked.last_ts,
                last_checkpoint_size: walked.last_checkpoint_size,
                head: walked.summary.head,
            },
            policy: Policy {
                checkpoint_every: config.checkpoint_every,
                checkpoint_interval: config.checkpoint_interval,
                max_batch: config.max_batch,
            },
            last_checkpoint_at: Instant::now(),
        };
        let (tx, rx) = sync_channel(config.queue_capacity);
        let thread = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| Error::io(&config.db, e))?;
        Ok(AuditLog {
            counters,
            tx: Some(tx),
            thread: Some(thread),
            db: config.db,
            keyring: config.keyring,
            verifier,
        })
    }

    fn prepare(&self, event: Event) -> Result<Prepared> {
        let sensitive = match &event.sensitive {
            None => None,
            Some(v) => {
                let ring = self.keyring.as_ref().ok_or(Error::NoKeyring)?;
                let plain = zeroize::Zeroizing::new(canonical_json(v));
                Some(ring.encrypt(
                    plain.as_bytes(),
                    &sensitive_aad(&event.tenant, &event.actor),
                )?)
            }
        };
        Ok(Prepared {
            details: canonical_json(&event.details),
            actor: event.actor,
            tenant: event.tenant,
            action: event.action,
            resource: event.resource,
            outcome: event.outcome,
            sensitive,
        })
    }

    fn send(&self, cmd: Cmd) -> Result<()> {
        self.tx
            .as_ref()
            .ok_or(Error::Closed)?
            .send(cmd)
            .map_err(|_| Error::Closed)
    }

    /// Appends an event and returns once it is durable (committed and fsynced with its batch).
    /// Blocks the calling thread; from async code use [`AuditLog::append_async`].
    pub fn append(&self, event: Event) -> Result<Receipt> {
        futures::executor::block_on(self.append_async(event))
    }

    /// Queues an event; the future resolves once it is durable. Sensitive fields are encrypted
    /// on the calling thread. Queueing blocks only while `queue_capacity` appends are waiting.
    /// The event is queued by this call, before the future is polled, and the future does not
    /// borrow the log: callers may spawn it and rely on the queue order.
    pub fn append_async(
        &self,
        event: Event,
    ) -> impl Future<Output = Result<Receipt>> + Send + use<> {
        let queued = self.prepare(event).and_then(|p| {
            let (reply, rx) = oneshot::channel();
            self.send(Cmd::Append(p, reply)).map(|()| rx)
        });
        async move {
            match queued {
                Ok(rx) => rx.await.map_err(|_| Error::Closed)?,
                Err(e) => Err(e),
            }
        }
    }

    /// Signs a checkpoint over every entry appended so far (if any are unsigned) and returns
    /// the latest signed head.
    pub fn checkpoint(&self) -> Result<Option<SignedHead>> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Checkpoint(reply))?;
        futures::executor::block_on(rx).map_err(|_| Error::Closed)?
    }

    /// Verifies the whole log (see [`verify_db`](crate::verify_db)).
    pub fn verify(&self) -> Result<Summary> {
        verify::verify_db(&self.db, &self.verifier, None)
    }

    /// One entry by seq.
    pub fn get(&self, seq: u64) -> Result<Option<Entry>> {
        store::entry(&store::open_reader(&self.db)?, seq)
    }

    /// Full-text search, newest first.
    pub fn search(&self, q: &Search) -> Result<Vec<Entry>> {
        query::search_db(&self.db, q)
    }

    /// Inclusion proof of entry `seq` against the latest signed head (verified before return).
    pub fn prove(&self, seq: u64) -> Result<InclusionProof> {
        query::prove_db(&self.db, seq, &self.verifier)
    }

    /// Consistency proof (RFC 6962 §2.1.2) between the first `old` and the first `new` entries.
    pub fn consistency(&self, old: u64, new: u64) -> Result<Vec<Hash>> {
        query::consistency(&store::open_reader(&self.db)?, old, new)
    }

    /// Decrypts an entry's sensitive fields (`None` when it has none).
    pub fn reveal(&self, entry: &Entry) -> Result<Option<serde_json::Value>> {
        let Some(sealed) = &entry.sensitive else {
            return Ok(None);
        };
        let ring = self.keyring.as_ref().ok_or(Error::NoKeyring)?;
        let plain = zeroize::Zeroizing::new(
            ring.decrypt(sealed, &sensitive_aad(&entry.tenant, &entry.actor))?,
        );
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|e| Error::Invalid(format!("decrypted sensitive fields are not JSON: {e}")))
    }

    /// What the writer has committed since this log was opened.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// The verifier for this log's signing key.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The database path.
    pub fn db_path(&self) -> &Path {
        &self.db
    }

    /// Drains queued appends, signs a final checkpoint and stops the writer.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            t.join()
                .map_err(|_| Error::Write("the audit writer thread panicked".into()))?;
        }
        Ok(())
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::error!(error = %e, "closing the audit log");
        }
    }
}
