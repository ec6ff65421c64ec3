//! Index snapshots: a namespace's HNSW graph with its id → key map, so a restart loads the
//! graph instead of rebuilding it.
//!
//! A snapshot is only trusted when it agrees with the entries the persistence holds: the
//! number of embedded entries, the latest write time among them, and a checksum over their
//! keys, write times and vectors must all match what was recorded when the snapshot was
//! taken. Any difference (a write after the snapshot, a lost write, a torn blob, changed
//! index parameters) makes [`restore`] refuse it, and memory rebuilds the graph from the
//! entries instead — the entries are the truth, the snapshot only a shortcut.
//!
//! Format version 1, little-endian:
//!
//! ```text
//! magic "MCPFMEMS" | version u32 | count u64 | last_write_ms u64 | entries_checksum u64
//! | next_id u64 | pairs u64 | per pair: id u64, key_len u32, key bytes
//! | index_len u64 | index bytes (HnswIndex::to_bytes) | checksum u64 over everything before
//! ```

use super::{Entry, Namespace};
use crate::hnsw::{HnswIndex, Params};
use std::collections::HashMap;

const MAGIC: &[u8; 8] = b"MCPFMEMS";
const VERSION: u32 = 1;

/// What a snapshot must agree with, computed from a namespace's embedded entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fingerprint {
    count: u64,
    last_write_ms: u64,
    checksum: u64,
}

/// FNV-1a, 64 bits: catches any changed byte of what it covers. Not a defence against
/// tampering (nobody but the node writes the store).
#[derive(Debug)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xCBF2_9CE4_8422_2325)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
}

/// The fingerprint of the embedded entries among `entries` (order does not matter).
pub(super) fn fingerprint<'a>(entries: impl Iterator<Item = &'a Entry>) -> Fingerprint {
    let mut embedded: Vec<&Entry> = entries.filter(|e| e.embedding.is_some()).collect();
    embedded.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    let mut h = Fnv::new();
    let mut last_write_ms = 0;
    for e in &embedded {
        h.bytes(&(e.key.len() as u64).to_le_bytes());
        h.bytes(e.key.as_bytes());
        h.bytes(&e.updated_at_ms.to_le_bytes());
        for x in e.embedding.as_deref().unwrap_or_default() {
            h.bytes(&x.to_bits().to_le_bytes());
        }
        last_write_ms = last_write_ms.max(e.updated_at_ms);
    }
    Fingerprint {
        count: embedded.len() as u64,
        last_write_ms,
        checksum: h.0,
    }
}

/// Serialises `ns`'s index and id map, stamped with the fingerprint of its entries.
pub(super) fn encode(ns: &Namespace) -> Vec<u8> {
    let print = fingerprint(ns.entries.values().map(|(_, e)| e));
    let index = ns.index.to_bytes();
    let mut out = Vec::with_capacity(index.len() + ns.keys.len() * 32 + 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    for v in [print.count, print.last_write_ms, print.checksum, ns.next_id] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let mut pairs: Vec<(&u64, &String)> = ns.keys.iter().collect();
    pairs.sort_unstable();
    out.extend_from_slice(&(pairs.len() as u64).to_le_bytes());
    for (id, key) in pairs {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&(key.len() as u32).to_le_bytes());
        out.extend_from_slice(key.as_bytes());
    }
    out.extend_from_slice(&(index.len() as u64).to_le_bytes());
    out.extend_from_slice(&index);
    let mut h = Fnv::new();
    h.bytes(&out);
    out.extend_from_slice(&h.0.to_le_bytes());
    out
}

/// Rebuilds a namespace from a snapshot and the namespace's persisted `entries`, or says
/// why the snapshot cannot be trusted.
pub(super) fn restore(
    bytes: &[u8],
    entries: Vec<Entry>,
    params: &Params,
) -> Result<Namespace, String> {
    if bytes.len() < MAGIC.len() + 4 + 8 || &bytes[..MAGIC.len()] != MAGIC {
        return Err("not a memory index snapshot (bad magic bytes)".into());
    }
    let (body, trailer) = bytes.split_at(bytes.len() - 8);
    let mut h = Fnv::new();
    h.bytes(body);
    if h.0.to_le_bytes() != trailer {
        return Err("snapshot checksum mismatch (torn or corrupt blob)".into());
    }
    let mut r = Reader {
        bytes: body,
        pos: MAGIC.len(),
    };
    let version = r.u32()?;
    if version != VERSION {
        return Err(format!(
            "snapshot format {version}, this build reads {VERSION}"
        ));
    }
    let stored = Fingerprint {
        count: r.u64()?,
        last_write_ms: r.u64()?,
        checksum: r.u64()?,
    };
    let next_id = r.u64()?;
    let actual = fingerprint(entries.iter());
    if stored.count != actual.count {
        return Err(format!(
            "snapshot covers {} embedded entries, the store holds {}",
            stored.count, actual.count
        ));
    }
    if stored.last_write_ms != actual.last_write_ms {
        return Err(format!(
            "snapshot's last write is at {} ms, the store's at {} ms",
            stored.last_write_ms, actual.last_write_ms
        ));
    }
    if stored.checksum != actual.checksum {
        return Err("snapshot's entry checksum differs from the store's entries".into());
    }
    let pairs = r.u64()?;
    if pairs != actual.count {
        return Err(format!(
            "snapshot maps {pairs} ids for {} entries",
            actual.count
        ));
    }
    let mut keys = HashMap::with_capacity(pairs as usize);
    let mut id_of: HashMap<String, u64> = HashMap::with_capacity(pairs as usize);
    for _ in 0..pairs {
        let id = r.u64()?;
        let len = r.u32()? as usize;
        let key = std::str::from_utf8(r.take(len)?)
            .map_err(|_| "snapshot has a key that is not UTF-8".to_string())?
            .to_owned();
        if id >= next_id {
            return Err(format!("snapshot id {id} is not below next id {next_id}"));
        }
        if id_of.insert(key.clone(), id).is_some() || keys.insert(id, key).is_some() {
            return Err("snapshot maps an id or a key twice".into());
        }
    }
    let len = r.u64()? as usize;
    let index = HnswIndex::from_bytes(r.take(len)?).map_err(|e| e.to_string())?;
    if r.pos != body.len() {
        return Err(format!("{} trailing bytes", body.len() - r.pos));
    }
    if index.params() != params {
        return Err(format!(
            "index parameters changed (snapshot {:?}, configured {params:?})",
            index.params()
        ));
    }
    if index.len() as u64 != pairs || keys.keys().any(|id| !index.contains(*id)) {
        return Err("snapshot's graph and id map disagree".into());
    }
    let mut map = HashMap::with_capacity(entries.len());
    for entry in entries {
        let id = match entry.embedding {
            Some(_) => Some(
                *id_of
                    .get(&entry.key)
                    .ok_or_else(|| format!("entry {:?} is not in the snapshot", entry.key))?,
            ),
            None => None,
        };
        map.insert(entry.key.clone(), (id, entry));
    }
    Ok(Namespace {
        entries: map,
        keys,
        index,
        next_id,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() - self.pos < n {
            return Err(format!("snapshot truncated at byte {}", self.pos));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
}
