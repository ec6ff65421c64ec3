//! The writer thread: group commit.
//!
//! Appends arrive on a bounded channel. The thread takes the first, then everything already
//! queued (up to `max_batch`), writes them and any due checkpoint in ONE transaction, commits
//! (one WAL fsync under `synchronous=FULL`), and only then answers each caller. Many concurrent
//! appends therefore share one fsync, and none returns before its entry is durable. If the
//! commit fails, every append in the batch gets the error and the in-memory chain state rolls
//! back to the last commit.

use crate::event::{Fields, Hash};
use crate::merkle::{Frontier, leaf_hash};
use crate::signer::{SignedHead, Signer};
use crate::verify::chain_hash;
use crate::{Error, Result};
use futures::channel::oneshot;
use rusqlite::{Connection, params};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Proof of a durable append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// The entry's sequence number.
    pub seq: u64,
    /// Its timestamp, ms since the Unix epoch.
    pub ts_ms: i64,
    /// Its chain hash.
    #[serde(serialize_with = "crate::event::ser_hex")]
    pub hash: Hash,
}

/// An event ready to store: details canonicalised, sensitive fields already encrypted.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub actor: String,
    pub tenant: String,
    pub action: String,
    pub resource: String,
    pub outcome: String,
    pub details: String,
    pub sensitive: Option<Vec<u8>>,
}

pub(crate) enum Cmd {
    Append(Prepared, oneshot::Sender<Result<Receipt>>),
    Checkpoint(oneshot::Sender<Result<Option<SignedHead>>>),
}

/// The chain state the writer extends.
#[derive(Debug, Clone)]
pub(crate) struct ChainState {
    pub frontier: Frontier,
    pub last_hash: Hash,
    pub last_ts: i64,
    pub last_checkpoint_size: u64,
    pub head: Option<SignedHead>,
}

/// Checkpoint and batching knobs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub checkpoint_every: u64,
    pub checkpoint_interval: Duration,
    pub max_batch: usize,
}

/// Counters of what the writer committed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Entries committed.
    pub entries: u64,
    /// Transactions committed (one fsync each): `entries / batches` is the group-commit gain.
    pub batches: u64,
    /// Checkpoints signed.
    pub checkpoints: u64,
    /// Batches that failed to commit (their appends got the error).
    pub failed_batches: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    entries: AtomicU64,
    batches: AtomicU64,
    checkpoints: AtomicU64,
    failed: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self) -> Stats {
        Stats {
            entries: self.entries.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            checkpoints: self.checkpoints.load(Ordering::Relaxed),
            failed_batches: self.failed.load(Ordering::Relaxed),
        }
    }
}

pub(crate) struct Writer {
    pub counters: Arc<Counters>,
    pub conn: Connection,
    pub signer: Signer,
    pub state: ChainState,
    pub policy: Policy,
    pub last_checkpoint_at: Instant,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

const INSERT_ENTRY: &str = "INSERT INTO entries(seq, ts_ms, actor, tenant, action, resource, \
    outcome, details, sensitive, prev, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
const INSERT_FTS: &str =
    "INSERT INTO entries_fts(rowid, action, resource, details) VALUES (?1, ?2, ?3, ?4)";
const INSERT_CHECKPOINT: &str =
    "INSERT INTO checkpoints(size, root, ts_ms, key_id, signature) VALUES (?1, ?2, ?3, ?4, ?5)";

impl Writer {
    fn pending(&self) -> bool {
        self.state.frontier.len() > self.state.last_checkpoint_size
    }

    /// Runs until every sender is gone, then writes a final checkpoint over the tail.
    pub fn run(mut self, rx: Receiver<Cmd>) {
        let mut batch = Vec::with_capacity(self.policy.max_batch);
        loop {
            let wait = if self.pending() {
                self.policy
                    .checkpoint_interval
                    .saturating_sub(self.last_checkpoint_at.elapsed())
            } else {
                Duration::from_secs(3600)
            };
            match rx.recv_timeout(wait) {
                Ok(cmd) => {
                    batch.push(cmd);
                    while batch.len() < self.policy.max_batch {
                        match rx.try_recv() {
                            Ok(cmd) => batch.push(cmd),
                            Err(_) => break,
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    if self.pending() {
                        self.commit(Vec::new(), true);
                    }
                    return;
                }
            }
            let batch = std::mem::take(&mut batch);
            self.commit(batch, false);
        }
    }

    fn commit(&mut self, batch: Vec<Cmd>, force_checkpoint: bool) {
        let saved = self.state.clone();
        let mut appends = Vec::new();
        let mut waiters = Vec::new();
        for cmd in batch {
            match cmd {
                Cmd::Append(p, reply) => appends.push((p, reply)),
                Cmd::Checkpoint(reply) => waiters.push(reply),
            }
        }
        let force = force_checkpoint || !waiters.is_empty();
        let mut receipts = Vec::with_capacity(appends.len());
        let result = self.write(&appends, force, &mut receipts);
        match result {
            Ok(signed) => {
                self.counters
                    .entries
                    .fetch_add(appends.len() as u64, Ordering::Relaxed);
                self.counters.batches.fetch_add(1, Ordering::Relaxed);
                if let Some(head) = signed {
                    self.counters.checkpoints.fetch_add(1, Ordering::Relaxed);
                    self.state.last_checkpoint_size = head.size;
                    self.state.head = Some(head);
                    self.last_checkpoint_at = Instant::now();
                }
                for ((_, reply), receipt) in appends.into_iter().zip(receipts) {
                    let _ = reply.send(Ok(receipt));
                }
                for reply in waiters {
                    let _ = reply.send(Ok(self.state.head.clone()));
                }
            }
            Err(e) => {
                self.state = saved;
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                let msg = e.to_string();
                tracing::error!(error = %msg, entries = appends.len(), "audit batch commit failed; appends rejected");
                for (_, reply) in appends {
                    let _ = reply.send(Err(Error::Write(msg.clone())));
                }
                for reply in waiters {
                    let _ = reply.send(Err(Error::Write(msg.clone())));
                }
            }
        }
    }

    fn write(
        &mut self,
        appends: &[(Prepared, oneshot::Sender<Result<Receipt>>)],
        force_checkpoint: bool,
        receipts: &mut Vec<Receipt>,
    ) -> rusqlite::Result<Option<SignedHead>> {
        let tx = self.conn.transaction()?;
        let mut canonical = Vec::with_capacity(512);
        {
            let mut ins = tx.prepare_cached(INSERT_ENTRY)?;
            let mut fts = tx.prepare_cached(INSERT_FTS)?;
            let now = now_ms();
            for (p, _) in appends {
                let seq = self.state.frontier.len();
                // Time never goes backwards in the log, even if the wall clock does.
                let ts_ms = now.max(self.state.last_ts);
                let fields = Fields {
                    seq,
                    ts_ms,
                    actor: &p.actor,
                    tenant: &p.tenant,
                    action: &p.action,
                    resource: &p.resource,
                    outcome: &p.outcome,
                    details: &p.details,
                    sensitive: p.sensitive.as_deref(),
                };
                canonical.clear();
                fields.write_canonical(&mut canonical);
                let prev = self.state.last_hash;
                let hash = chain_hash(&prev, &canonical);
                ins.execute(params![
                    seq as i64,
                    ts_ms,
                    p.actor,
                    p.tenant,
                    p.action,
                    p.resource,
                    p.outcome,
                    p.details,
                    p.sensitive,
                    &prev[..],
                    &hash[..],
                ])?;
                fts.execute(params![seq as i64, p.action, p.resource, p.details])?;
                self.state.frontier.push(leaf_hash(&canonical));
                self.state.last_hash = hash;
                self.state.last_ts = ts_ms;
                receipts.push(Receipt { seq, ts_ms, hash });
            }
        }
        let size = self.state.frontier.len();
        let unsigned = size - self.state.last_checkpoint_size;
        let due = unsigned > 0
            && (force_checkpoint
                || unsigned >= self.policy.checkpoint_every
                || self.last_checkpoint_at.elapsed() >= self.policy.checkpoint_interval);
        let signed = if due {
            let ts = now_ms().max(self.state.head.as_ref().map_or(0, |h| h.ts_ms));
            let head = self.signer.sign(size, self.state.frontier.root(), ts);
            tx.execute(
                INSERT_CHECKPOINT,
                params![
                    head.size as i64,
                    &head.root[..],
                    head.ts_ms,
                    &head.key_id[..],
                    head.signature
                ],
            )?;
            Some(head)
        } else {
            None
        };
        tx.commit()?;
        Ok(signed)
    }
}
