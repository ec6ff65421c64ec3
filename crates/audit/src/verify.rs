//! Whole-log verification: one pass over the entries in seq order, checking sequence
//! continuity, each entry's link and hash, time order, and every signed checkpoint (key,
//! signature, Merkle root) as the pass reaches its size.
//!
//! What it can and cannot see: any change to an entry covered by a checkpoint is found even if
//! the attacker recomputes the chain (the signed root no longer matches). Entries after the
//! last checkpoint are protected by the chain only: an attacker who deletes them, or rewrites
//! them with a recomputed chain, is caught only if the latest signed head was kept elsewhere
//! (pass it as `expected_head`). Checkpoints are written every N entries or T ms.

use crate::event::{Entry, Hash};
use crate::merkle::{Frontier, leaf_hash};
use crate::signer::{SignedHead, Verifier};
use crate::store::{self, ENTRY_COLUMNS, entry_from_row};
use crate::{Result, Tamper};
use aws_lc_rs::digest::{Context, SHA256};
use mcpflow_secrets::hex;
use rusqlite::Connection;

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Entries checked.
    pub entries: u64,
    /// Signed checkpoints checked.
    pub checkpoints: u64,
    /// The latest signed head, if any.
    pub head: Option<SignedHead>,
    /// Entries after the latest checkpoint (protected by the chain only until the next one).
    pub unsigned_tail: u64,
}

/// State at the end of a walk; the writer resumes from it.
#[derive(Debug)]
pub(crate) struct Walked {
    pub summary: Summary,
    pub frontier: Frontier,
    pub last_hash: Hash,
    pub last_ts: i64,
    pub last_checkpoint_size: u64,
}

/// SHA-256(prev || canonical).
pub(crate) fn chain_hash(prev: &Hash, canonical: &[u8]) -> Hash {
    let mut ctx = Context::new(&SHA256);
    ctx.update(prev);
    ctx.update(canonical);
    ctx.finish().as_ref().try_into().expect("32 bytes")
}

fn check_checkpoint(
    cp: &SignedHead,
    root: &Hash,
    prev: Option<&SignedHead>,
    verifier: &Verifier,
) -> std::result::Result<(), Tamper> {
    if cp.key_id != verifier.key_id() {
        return Err(Tamper::ForeignKey {
            size: cp.size,
            key_id: hex::encode(&cp.key_id),
            trusted: hex::encode(&verifier.key_id()),
        });
    }
    if !verifier.verify(cp) {
        return Err(Tamper::BadSignature { size: cp.size });
    }
    if let Some(p) = prev
        && cp.ts_ms < p.ts_ms
    {
        return Err(Tamper::CheckpointTimeReversed {
            size: cp.size,
            prev_size: p.size,
        });
    }
    if &cp.root != root {
        return Err(Tamper::RootMismatch {
            size: cp.size,
            from: prev.map_or(0, |p| p.size),
        });
    }
    Ok(())
}

/// Verifies the whole log in `conn` against `verifier`; `expected_head`, when given, is a
/// signed head kept outside the database that the log must still contain.
pub(crate) fn walk(
    conn: &Connection,
    verifier: &Verifier,
    expected_head: Option<&SignedHead>,
) -> Result<Walked> {
    let mut cps = store::checkpoints(conn)?;
    if let Some(h) = expected_head
        && !cps.iter().any(|c| c == h)
    {
        if !verifier.verify(h) {
            return Err(Tamper::BadSignature { size: h.size }.into());
        }
        // The kept head is authentic but the database lost it: treat it like a stored one.
        cps.push(h.clone());
        cps.sort_by_key(|c| c.size);
    }
    let mut next_cp = 0usize;
    let mut last_cp: Option<SignedHead> = None;
    let mut frontier = Frontier::default();
    let (mut prev_hash, mut prev_ts, mut expected) = ([0u8; 32], i64::MIN, 0u64);
    let mut canonical = Vec::with_capacity(512);

    let mut check_due = |expected: u64, frontier: &Frontier, last_cp: &mut Option<SignedHead>| {
        while next_cp < cps.len() && cps[next_cp].size == expected {
            let cp = &cps[next_cp];
            check_checkpoint(cp, &frontier.root(), last_cp.as_ref(), verifier)?;
            *last_cp = Some(cp.clone());
            next_cp += 1;
        }
        Ok::<_, Tamper>(())
    };
    check_due(0, &frontier, &mut last_cp)?;

    let mut stmt = conn.prepare(&format!("SELECT {ENTRY_COLUMNS} FROM entries ORDER BY seq"))?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let e: Entry = entry_from_row(row)?;
        if e.seq != expected {
            return Err(Tamper::Missing {
                seq: expected,
                found: e.seq,
            }
            .into());
        }
        if e.prev != prev_hash {
            let tamper = match store::seq_with_hash(conn, &e.prev)? {
                Some(j) if j + 1 != expected => Tamper::Reordered {
                    seq: expected,
                    follows: j,
                    expected_prev: expected as i64 - 1,
                },
                _ => Tamper::BrokenLink { seq: expected },
            };
            return Err(tamper.into());
        }
        canonical.clear();
        e.fields().write_canonical(&mut canonical);
        let h = chain_hash(&prev_hash, &canonical);
        if h != e.hash {
            return Err(Tamper::Altered { seq: expected }.into());
        }
        if e.ts_ms < prev_ts {
            return Err(Tamper::TimeReversed {
                seq: expected,
                ts_ms: e.ts_ms,
                prev_ts_ms: prev_ts,
            }
            .into());
        }
        frontier.push(leaf_hash(&canonical));
        prev_hash = h;
        prev_ts = e.ts_ms;
        expected += 1;
        check_due(expected, &frontier, &mut last_cp)?;
    }
    if let Some(cp) = cps.get(next_cp) {
        // A checkpoint beyond the last entry: if it is authentic, the tail was removed.
        if cp.key_id != verifier.key_id() || !verifier.verify(cp) {
            check_checkpoint(cp, &[0; 32], last_cp.as_ref(), verifier)?;
        }
        return Err(Tamper::Truncated {
            entries: expected,
            size: cp.size,
        }
        .into());
    }
    let last_checkpoint_size = last_cp.as_ref().map_or(0, |c| c.size);
    Ok(Walked {
        summary: Summary {
            entries: expected,
            checkpoints: cps.len() as u64,
            unsigned_tail: expected - last_checkpoint_size,
            head: last_cp,
        },
        frontier,
        last_hash: prev_hash,
        last_ts: if prev_ts == i64::MIN { 0 } else { prev_ts },
        last_checkpoint_size,
    })
}

/// Verifies the audit database at `db` against the trusted `verifier`: chain, sequence,
/// timestamps, every checkpoint's key, signature and Merkle root, and truncation. Returns
/// [`Error::Tampered`] naming the first problem found.
pub fn verify_db(
    db: &std::path::Path,
    verifier: &Verifier,
    expected_head: Option<&SignedHead>,
) -> Result<Summary> {
    let conn = store::open_reader(db)?;
    walk(&conn, verifier, expected_head).map(|w| w.summary)
}
