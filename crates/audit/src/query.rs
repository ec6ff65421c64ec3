//! Reads: full-text search and Merkle proofs against the latest signed head.

use crate::event::{Entry, Hash, ser_hex};
use crate::merkle::{self, leaf_hash};
use crate::signer::{SignedHead, Verifier};
use crate::store::{self, ENTRY_COLUMNS, entry_from_row};
use crate::{Error, Result};
use rusqlite::{Connection, params};
use serde::Serialize;

/// A search over the log.
#[derive(Debug, Clone, Default)]
pub struct Search {
    /// FTS5 query over action, resource and details (words, "phrases", AND/OR/NOT, prefix*).
    /// Empty: every entry in the time range.
    pub text: String,
    /// Only entries at or after this time (ms since the Unix epoch).
    pub since_ms: Option<i64>,
    /// Only entries before this time (ms since the Unix epoch).
    pub until_ms: Option<i64>,
    /// At most this many entries, newest first (default 100).
    pub limit: Option<u32>,
}

/// Newest-first entries matching `search`.
pub(crate) fn search(conn: &Connection, search: &Search) -> Result<Vec<Entry>> {
    let since = search.since_ms.unwrap_or(i64::MIN);
    let until = search.until_ms.unwrap_or(i64::MAX);
    let limit = i64::from(search.limit.unwrap_or(100));
    let text = search.text.trim();
    let rows = if text.is_empty() {
        let mut stmt = conn.prepare(&format!(
            "SELECT {ENTRY_COLUMNS} FROM entries WHERE ts_ms >= ?1 AND ts_ms < ?2 \
             ORDER BY seq DESC LIMIT ?3"
        ))?;
        stmt.query_map(params![since, until, limit], entry_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()
    } else {
        let cols = ENTRY_COLUMNS
            .split(", ")
            .map(|c| format!("e.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut stmt = conn.prepare(&format!(
            "SELECT {cols} FROM entries_fts f JOIN entries e ON e.seq = f.rowid \
             WHERE entries_fts MATCH ?1 AND e.ts_ms >= ?2 AND e.ts_ms < ?3 \
             ORDER BY e.seq DESC LIMIT ?4"
        ))?;
        stmt.query_map(params![text, since, until, limit], entry_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()
    };
    rows.map_err(|e| match &e {
        // SQLITE_ERROR from a MATCH query is the query's syntax ("fts5: syntax error near",
        // "unterminated string", "no such column").
        rusqlite::Error::SqliteFailure(f, Some(msg))
            if !text.is_empty() && f.code == rusqlite::ErrorCode::Unknown =>
        {
            Error::Query {
                query: text.to_owned(),
                reason: msg.clone(),
            }
        }
        _ => Error::Sqlite(e),
    })
}

/// An inclusion proof for one entry against a signed tree head, as printed by
/// `mcpflow audit prove`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InclusionProof {
    /// The entry (its leaf index is its seq).
    pub seq: u64,
    /// `SHA-256(0x00 || canonical bytes of the entry)`.
    #[serde(serialize_with = "ser_hex")]
    pub leaf_hash: Hash,
    /// Audit path, leaf side first (RFC 6962 §2.1.1), hex.
    pub path: Vec<String>,
    /// The signed head the path leads to.
    pub head: SignedHead,
}

impl InclusionProof {
    /// Checks the head's signature and that the path leads from the leaf to its root.
    pub fn verify(&self, verifier: &Verifier) -> Result<()> {
        if !verifier.verify(&self.head) {
            return Err(Error::Invalid(format!(
                "the signed head at size {} does not verify under the trusted key",
                self.head.size
            )));
        }
        let path = self
            .path
            .iter()
            .map(|h| {
                mcpflow_secrets::hex::decode(h)
                    .and_then(|b| <Hash>::try_from(b).ok())
                    .ok_or_else(|| Error::Invalid("proof path holds a non-hash".into()))
            })
            .collect::<Result<Vec<_>>>()?;
        merkle::verify_inclusion(
            &self.leaf_hash,
            self.seq,
            self.head.size,
            &path,
            &self.head.root,
        )
        .map_err(|e| Error::Invalid(format!("inclusion proof for entry {}: {e}", self.seq)))
    }
}

/// Leaf hashes of entries `0..size`, recomputed from the stored fields.
fn leaves(conn: &Connection, size: u64) -> Result<Vec<Hash>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {ENTRY_COLUMNS} FROM entries WHERE seq < ?1 ORDER BY seq"
    ))?;
    let mut rows = stmt.query(params![size as i64])?;
    let mut out = Vec::with_capacity(size as usize);
    let mut buf = Vec::with_capacity(512);
    while let Some(row) = rows.next()? {
        let e = entry_from_row(row)?;
        buf.clear();
        e.fields().write_canonical(&mut buf);
        out.push(leaf_hash(&buf));
    }
    if out.len() as u64 != size {
        return Err(Error::Invalid(format!(
            "the log holds {} of the {size} entries its signed head covers: run `mcpflow audit verify`",
            out.len()
        )));
    }
    Ok(out)
}

/// Proves entry `seq` against the latest signed head, and verifies the proof before
/// returning it.
pub(crate) fn prove(conn: &Connection, seq: u64, verifier: &Verifier) -> Result<InclusionProof> {
    let head = store::latest_checkpoint(conn)?.ok_or_else(|| {
        Error::Invalid(
            "the log has no signed checkpoint yet: append events, then close or checkpoint the log"
                .into(),
        )
    })?;
    if seq >= head.size {
        return Err(Error::Invalid(format!(
            "entry {seq} is not covered by the latest signed head (size {}): it will be at the next checkpoint",
            head.size
        )));
    }
    let leaves = leaves(conn, head.size)?;
    let path = merkle::inclusion_proof(&leaves, seq as usize)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let proof = InclusionProof {
        seq,
        leaf_hash: leaves[seq as usize],
        path: path
            .iter()
            .map(|h| mcpflow_secrets::hex::encode(h))
            .collect(),
        head,
    };
    proof.verify(verifier)?;
    Ok(proof)
}

/// A consistency proof between the first `old` entries and the first `new`.
pub(crate) fn consistency(conn: &Connection, old: u64, new: u64) -> Result<Vec<Hash>> {
    let leaves = leaves(conn, new)?;
    merkle::consistency_proof(&leaves, old as usize).map_err(|e| Error::Invalid(e.to_string()))
}

/// Searches the audit database at `db` (read-only; works while a writer is running).
pub fn search_db(db: &std::path::Path, q: &Search) -> Result<Vec<Entry>> {
    search(&store::open_reader(db)?, q)
}

/// Proves entry `seq` of the database at `db` against its latest signed head.
pub fn prove_db(db: &std::path::Path, seq: u64, verifier: &Verifier) -> Result<InclusionProof> {
    prove(&store::open_reader(db)?, seq, verifier)
}
