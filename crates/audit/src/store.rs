//! The SQLite schema and the reads shared by verification, search and proofs.

use crate::event::{Entry, Hash};
use crate::signer::SignedHead;
use crate::{Error, Result};
use rusqlite::{Connection, OpenFlags, Row, params};
use std::path::Path;

/// Schema, version 1. `entries_fts` is an external-content FTS5 index over action, resource and
/// details; it is derived data (never verified, rebuildable), written in the same transaction.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries(
    seq INTEGER PRIMARY KEY,
    ts_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    tenant TEXT NOT NULL,
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    outcome TEXT NOT NULL,
    details TEXT NOT NULL,
    sensitive BLOB,
    prev BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_ts ON entries(ts_ms);
CREATE VIRTUAL TABLE IF NOT EXISTS entries_fts USING fts5(
    action, resource, details, content='entries', content_rowid='seq'
);
CREATE TABLE IF NOT EXISTS checkpoints(
    size INTEGER PRIMARY KEY,
    root BLOB NOT NULL,
    ts_ms INTEGER NOT NULL,
    key_id BLOB NOT NULL,
    signature BLOB NOT NULL
);
INSERT OR IGNORE INTO meta(k, v) VALUES ('format', 'mcpflow-audit-v1');
";

/// Opens (creating) the database for writing: WAL, `synchronous=FULL` (every commit is fsynced,
/// so a returned append survives power loss).
pub(crate) fn open_writer(path: &Path) -> Result<Connection> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// Opens an existing database read-only (verification, search, proofs).
pub fn open_reader(path: &Path) -> Result<Connection> {
    if !path.exists() {
        return Err(Error::Invalid(format!(
            "no audit database at {}: pass --db, or append an event first",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

pub(crate) const ENTRY_COLUMNS: &str =
    "seq, ts_ms, actor, tenant, action, resource, outcome, details, sensitive, prev, hash";

fn blob32(row: &Row<'_>, i: usize) -> rusqlite::Result<Hash> {
    let v: Vec<u8> = row.get(i)?;
    // A wrong-length hash is tampering; map it to a hash that cannot match.
    Ok(v.try_into().unwrap_or([0xff; 32]))
}

pub(crate) fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<Entry> {
    Ok(Entry {
        seq: row.get::<_, i64>(0)? as u64,
        ts_ms: row.get(1)?,
        actor: row.get(2)?,
        tenant: row.get(3)?,
        action: row.get(4)?,
        resource: row.get(5)?,
        outcome: row.get(6)?,
        details: row.get(7)?,
        sensitive: row.get(8)?,
        prev: blob32(row, 9)?,
        hash: blob32(row, 10)?,
    })
}

/// Every checkpoint, by size.
pub(crate) fn checkpoints(conn: &Connection) -> Result<Vec<SignedHead>> {
    let mut stmt =
        conn.prepare("SELECT size, root, ts_ms, key_id, signature FROM checkpoints ORDER BY size")?;
    let rows = stmt.query_map([], |row| {
        Ok(SignedHead {
            size: row.get::<_, i64>(0)? as u64,
            root: blob32(row, 1)?,
            ts_ms: row.get(2)?,
            key_id: row.get::<_, Vec<u8>>(3)?.try_into().unwrap_or([0xff; 8]),
            signature: row.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The latest checkpoint.
pub(crate) fn latest_checkpoint(conn: &Connection) -> Result<Option<SignedHead>> {
    Ok(checkpoints(conn)?.pop())
}

/// One entry by seq.
pub(crate) fn entry(conn: &Connection, seq: u64) -> Result<Option<Entry>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {ENTRY_COLUMNS} FROM entries WHERE seq = ?1"
    ))?;
    let mut rows = stmt.query_map(params![seq as i64], entry_from_row)?;
    Ok(rows.next().transpose()?)
}

/// Seq of the entry whose stored hash is `hash` (a diagnosis aid; a full scan).
pub(crate) fn seq_with_hash(conn: &Connection, hash: &Hash) -> Result<Option<u64>> {
    let mut stmt = conn.prepare("SELECT seq FROM entries WHERE hash = ?1 LIMIT 1")?;
    let mut rows = stmt.query_map(params![&hash[..]], |r| r.get::<_, i64>(0))?;
    Ok(rows.next().transpose()?.map(|s| s as u64))
}

/// Whether this SQLite build has FTS5 (the bundled one does).
pub fn fts5_available() -> Result<bool> {
    let conn = Connection::open_in_memory()?;
    let ok: i64 = conn.query_row("SELECT sqlite_compileoption_used('ENABLE_FTS5')", [], |r| {
        r.get(0)
    })?;
    Ok(ok == 1)
}
