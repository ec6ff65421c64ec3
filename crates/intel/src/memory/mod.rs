//! Semantic memory: namespaced entries (key, JSON value, JSON metadata, optional embedding,
//! optional TTL) with store / retrieve / delete / list and nearest-neighbour search filtered
//! by metadata, on one [`HnswIndex`] per namespace.
//!
//! Memory lives in RAM and writes through a [`MemoryPersistence`] before it changes itself:
//! a failed write changes nothing, and [`Memory::open`] rebuilds everything from what the
//! persistence holds. Expired entries vanish from every read at once and are removed for
//! good by [`Memory::purge_expired`] (the owner calls it periodically).
//!
//! ```
//! use mcpflow_intel::memory::{InMemoryPersistence, Memory, MemoryConfig, MetadataFilter, NewEntry};
//! use serde_json::json;
//! use std::sync::Arc;
//!
//! let memory = Memory::open(MemoryConfig::new(3), Arc::new(InMemoryPersistence::default()))?;
//! memory.store("lessons", NewEntry::new("a", json!("retry with backoff"))
//!     .metadata(json!({"agent": "coder"}))
//!     .embedding(vec![1.0, 0.0, 0.0]))?;
//! memory.store("lessons", NewEntry::new("b", json!("pin versions"))
//!     .metadata(json!({"agent": "tester"}))
//!     .embedding(vec![0.9, 0.1, 0.0]))?;
//!
//! let only_tester = MetadataFilter::new(json!({"agent": "tester"}))?;
//! let hits = memory.search("lessons", &[1.0, 0.0, 0.0], 5, Some(&only_tester))?;
//! assert_eq!(hits.len(), 1);
//! assert_eq!(hits[0].entry.key, "b");
//! # Ok::<(), mcpflow_intel::memory::MemoryError>(())
//! ```

mod clock;
mod entry;
mod filter;
mod persistence;
mod snapshot;

pub use clock::{Clock, ManualClock, SystemClock};
pub use entry::{Entry, NewEntry};
pub use filter::MetadataFilter;
pub use persistence::{InMemoryPersistence, MemoryPersistence, PersistenceError};

use crate::distance::{Metric, prepare};
use crate::hnsw::{HnswIndex, Params};
use parking_lot::RwLock;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// What memory refuses, with the reason.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MemoryError {
    /// Bad namespace name.
    #[error("invalid namespace {0:?}: use 1-128 characters from A-Z a-z 0-9 _ - . : /")]
    InvalidNamespace(String),
    /// Bad key.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// Value or metadata too large or malformed.
    #[error("invalid entry: {0}")]
    InvalidEntry(String),
    /// Bad metadata filter.
    #[error("invalid metadata filter: {0}")]
    InvalidFilter(String),
    /// The embedding or query vector was refused by the index.
    #[error("embedding refused: {0}")]
    Vector(#[from] crate::Error),
    /// The persistence failed; memory is unchanged.
    #[error("memory persistence failed (nothing was changed): {0}")]
    Persistence(#[from] PersistenceError),
}

/// Memory's settings: the embedding space and limits.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryConfig {
    /// Index parameters shared by every namespace (dimension, metric, M, ef).
    pub index: Params,
    /// Longest key in bytes.
    pub max_key_bytes: usize,
    /// Largest value plus metadata, serialised, in bytes.
    pub max_entry_bytes: usize,
}

impl MemoryConfig {
    /// Cosine over `dim`-dimensional embeddings, default index parameters, 512-byte keys,
    /// 1 MiB entries.
    pub fn new(dim: usize) -> Self {
        Self {
            index: Params::new(dim, Metric::Cosine),
            max_key_bytes: 512,
            max_entry_bytes: 1 << 20,
        }
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryHit {
    /// The entry found.
    pub entry: Entry,
    /// Its distance to the query (smaller is closer).
    pub distance: f32,
}

/// A namespace's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceInfo {
    /// Its name.
    pub name: String,
    /// Entries (expired ones not yet purged included).
    pub entries: usize,
    /// Entries with an embedding.
    pub embedded: usize,
}

#[derive(Debug)]
struct Namespace {
    /// Key → (index id, if embedded; entry).
    entries: HashMap<String, (Option<u64>, Entry)>,
    /// Index id → key.
    keys: HashMap<u64, String>,
    index: HnswIndex,
    next_id: u64,
}

impl Namespace {
    fn new(params: &Params) -> Result<Self, MemoryError> {
        Ok(Self {
            entries: HashMap::new(),
            keys: HashMap::new(),
            index: HnswIndex::new(params.clone())?,
            next_id: 0,
        })
    }

    /// Puts an already validated entry in, replacing one with the same key.
    fn put(&mut self, entry: Entry) -> Result<(), MemoryError> {
        let id = match &entry.embedding {
            Some(v) => {
                let id = self.next_id;
                self.index.insert(id, v)?;
                self.next_id += 1;
                self.keys.insert(id, entry.key.clone());
                Some(id)
            }
            None => None,
        };
        if let Some((old, _)) = self.entries.insert(entry.key.clone(), (id, entry)) {
            self.forget(old);
        }
        Ok(())
    }

    fn remove(&mut self, key: &str) -> Option<Entry> {
        let (id, entry) = self.entries.remove(key)?;
        self.forget(id);
        Some(entry)
    }

    fn forget(&mut self, id: Option<u64>) {
        if let Some(id) = id {
            self.keys.remove(&id);
            // Present by construction: every id in `entries` is live in the index.
            let _ = self.index.delete(id);
        }
    }
}

/// Where a namespace's index came from when memory was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexSource {
    /// Loaded from a snapshot that agreed with the persisted entries.
    Snapshot,
    /// Rebuilt from the entries: there was no snapshot.
    NoSnapshot,
    /// Rebuilt from the entries because the snapshot disagreed with them (the reason).
    Rebuilt(String),
}

/// How one namespace was loaded by [`Memory::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexLoad {
    /// The namespace.
    pub namespace: String,
    /// Entries loaded (expired ones not yet purged included).
    pub entries: usize,
    /// Where its index came from.
    pub source: IndexSource,
}

/// Namespaced semantic memory. Share it with an `Arc`: reads run in parallel, writes alone.
#[derive(Debug)]
pub struct Memory {
    config: MemoryConfig,
    persistence: Arc<dyn MemoryPersistence>,
    clock: Arc<dyn Clock>,
    namespaces: RwLock<HashMap<String, Namespace>>,
    loaded: Vec<IndexLoad>,
}

impl Memory {
    /// Opens memory on `persistence`, loading what it holds, with the system clock.
    pub fn open(
        config: MemoryConfig,
        persistence: Arc<dyn MemoryPersistence>,
    ) -> Result<Self, MemoryError> {
        Self::open_with_clock(config, persistence, Arc::new(SystemClock))
    }

    /// [`Memory::open`] with a chosen clock (tests use [`ManualClock`]).
    pub fn open_with_clock(
        config: MemoryConfig,
        persistence: Arc<dyn MemoryPersistence>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, MemoryError> {
        // Expired entries are loaded too (every read hides them): the next purge then
        // removes them from the persistence as well, and snapshots stay comparable.
        let mut by_namespace: HashMap<String, Vec<Entry>> = HashMap::new();
        for (ns, entry) in persistence.load_all()? {
            by_namespace.entry(ns).or_default().push(entry);
        }
        let mut snapshots: HashMap<String, Vec<u8>> =
            persistence.load_index_snapshots()?.into_iter().collect();
        let mut memory = Self {
            config,
            persistence,
            clock,
            namespaces: RwLock::new(HashMap::new()),
            loaded: Vec::new(),
        };
        let mut namespaces = HashMap::with_capacity(by_namespace.len());
        let mut loaded = Vec::with_capacity(by_namespace.len());
        for (name, mut entries) in by_namespace {
            for e in &entries {
                memory.validate(&name, &e.key, &e.value, &e.metadata)?;
            }
            let count = entries.len();
            let restored = match snapshots.remove(&name) {
                Some(bytes) => snapshot::restore(&bytes, entries.clone(), &memory.config.index),
                None => Err(String::new()),
            };
            let (ns, source) = match restored {
                Ok(ns) => (ns, IndexSource::Snapshot),
                Err(reason) => {
                    // Insert in write order: the graph comes out close to the one that was
                    // built live, and the same entries always give the same graph.
                    entries
                        .sort_by(|a, b| (a.updated_at_ms, &a.key).cmp(&(b.updated_at_ms, &b.key)));
                    let mut ns = Namespace::new(&memory.config.index)?;
                    for e in entries {
                        ns.put(e)?;
                    }
                    let source = if reason.is_empty() {
                        IndexSource::NoSnapshot
                    } else {
                        IndexSource::Rebuilt(reason)
                    };
                    (ns, source)
                }
            };
            loaded.push(IndexLoad {
                namespace: name.clone(),
                entries: count,
                source,
            });
            namespaces.insert(name, ns);
        }
        loaded.sort_by(|a, b| a.namespace.cmp(&b.namespace));
        memory.namespaces = RwLock::new(namespaces);
        memory.loaded = loaded;
        Ok(memory)
    }

    /// How each namespace was loaded at open (by name): from a snapshot, or rebuilt and why.
    pub fn index_loads(&self) -> &[IndexLoad] {
        &self.loaded
    }

    /// The settings memory was opened with.
    pub fn config(&self) -> &MemoryConfig {
        &self.config
    }

    /// True if `namespace` holds or has held entries since memory was opened.
    pub fn has_namespace(&self, namespace: &str) -> bool {
        self.namespaces.read().contains_key(namespace)
    }

    /// A snapshot of `namespace`'s index (graph, id map, and a fingerprint of its entries)
    /// for [`MemoryPersistence::load_index_snapshots`] to hand back at the next open, or
    /// `None` for an unknown namespace. Taken under the read lock, so it matches the entries
    /// exactly as they are at this instant.
    pub fn export_index(&self, namespace: &str) -> Option<Vec<u8>> {
        self.namespaces.read().get(namespace).map(snapshot::encode)
    }

    /// Stores an entry (replacing one with the same key) and returns it as stored.
    pub fn store(&self, namespace: &str, new: NewEntry) -> Result<Entry, MemoryError> {
        let metadata = match new.metadata {
            Value::Null => Value::Object(Default::default()),
            m => m,
        };
        self.validate(namespace, &new.key, &new.value, &metadata)?;
        if let Some(v) = &new.embedding {
            // Refuse a bad vector before anything is written.
            prepare(v, self.config.index.dim, self.config.index.metric)?;
        }
        if new.ttl_ms == Some(0) {
            return Err(MemoryError::InvalidEntry(
                "ttl_ms = 0 would expire at once: omit it for no expiry".into(),
            ));
        }
        let now = self.clock.now_ms();
        let mut namespaces = self.namespaces.write();
        let created_at_ms = namespaces
            .get(namespace)
            .and_then(|ns| ns.entries.get(&new.key))
            .filter(|(_, e)| !e.is_expired(now))
            .map_or(now, |(_, e)| e.created_at_ms);
        let entry = Entry {
            key: new.key,
            value: new.value,
            metadata,
            embedding: new.embedding,
            created_at_ms,
            updated_at_ms: now,
            expires_at_ms: new.ttl_ms.map(|t| now.saturating_add(t)),
        };
        self.persistence.put(namespace, &entry)?;
        if !namespaces.contains_key(namespace) {
            namespaces.insert(namespace.to_string(), Namespace::new(&self.config.index)?);
        }
        namespaces
            .get_mut(namespace)
            .expect("inserted above")
            .put(entry.clone())?;
        Ok(entry)
    }

    /// The live entry under `key`, if any.
    pub fn retrieve(&self, namespace: &str, key: &str) -> Result<Option<Entry>, MemoryError> {
        check_namespace(namespace)?;
        let now = self.clock.now_ms();
        Ok(self
            .namespaces
            .read()
            .get(namespace)
            .and_then(|ns| ns.entries.get(key))
            .filter(|(_, e)| !e.is_expired(now))
            .map(|(_, e)| e.clone()))
    }

    /// Deletes `key`; true if a live entry was there.
    pub fn delete(&self, namespace: &str, key: &str) -> Result<bool, MemoryError> {
        check_namespace(namespace)?;
        let now = self.clock.now_ms();
        let mut namespaces = self.namespaces.write();
        let Some(ns) = namespaces.get_mut(namespace) else {
            return Ok(false);
        };
        let Some((_, existing)) = ns.entries.get(key) else {
            return Ok(false);
        };
        let was_live = !existing.is_expired(now);
        self.persistence.remove(namespace, key)?;
        ns.remove(key);
        Ok(was_live)
    }

    /// Live entries in key order, optionally filtered by metadata; `after` continues a
    /// listing after that key; at most `limit`.
    pub fn list(
        &self,
        namespace: &str,
        filter: Option<&MetadataFilter>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Entry>, MemoryError> {
        check_namespace(namespace)?;
        let now = self.clock.now_ms();
        let namespaces = self.namespaces.read();
        let Some(ns) = namespaces.get(namespace) else {
            return Ok(Vec::new());
        };
        let mut keys: Vec<&String> = ns
            .entries
            .iter()
            .filter(|(k, (_, e))| {
                after.is_none_or(|a| k.as_str() > a)
                    && !e.is_expired(now)
                    && filter.is_none_or(|f| f.matches(&e.metadata))
            })
            .map(|(k, _)| k)
            .collect();
        keys.sort_unstable();
        Ok(keys
            .into_iter()
            .take(limit)
            .map(|k| ns.entries[k].1.clone())
            .collect())
    }

    /// The `k` live entries nearest to `query` whose metadata passes `filter`.
    pub fn search(
        &self,
        namespace: &str,
        query: &[f32],
        k: usize,
        filter: Option<&MetadataFilter>,
    ) -> Result<Vec<MemoryHit>, MemoryError> {
        check_namespace(namespace)?;
        let now = self.clock.now_ms();
        let namespaces = self.namespaces.read();
        let Some(ns) = namespaces.get(namespace) else {
            // Still check the query, so a bad one is reported even on an empty namespace.
            prepare(query, self.config.index.dim, self.config.index.metric)?;
            if k == 0 {
                return Err(crate::Error::ZeroK.into());
            }
            return Ok(Vec::new());
        };
        let entry_of = |id: u64| ns.keys.get(&id).map(|key| &ns.entries[key].1);
        let eligible = |id: u64| {
            entry_of(id).is_some_and(|e| {
                !e.is_expired(now) && filter.is_none_or(|f| f.matches(&e.metadata))
            })
        };
        let hits = ns.index.search_filtered(query, k, &eligible)?;
        Ok(hits
            .into_iter()
            .filter_map(|h| {
                entry_of(h.id).map(|e| MemoryHit {
                    entry: e.clone(),
                    distance: h.distance,
                })
            })
            .collect())
    }

    /// Namespaces and their sizes, by name.
    pub fn namespaces(&self) -> Vec<NamespaceInfo> {
        let mut out: Vec<NamespaceInfo> = self
            .namespaces
            .read()
            .iter()
            .map(|(name, ns)| NamespaceInfo {
                name: name.clone(),
                entries: ns.entries.len(),
                embedded: ns.keys.len(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Removes every expired entry (persistence first); returns how many went.
    pub fn purge_expired(&self) -> Result<usize, MemoryError> {
        Ok(self
            .purge_expired_by_namespace()?
            .iter()
            .map(|(_, n)| n)
            .sum())
    }

    /// [`Memory::purge_expired`], saying how many went from which namespace (only
    /// namespaces that lost entries are listed).
    pub fn purge_expired_by_namespace(&self) -> Result<Vec<(String, usize)>, MemoryError> {
        let now = self.clock.now_ms();
        let mut namespaces = self.namespaces.write();
        let mut purged = Vec::new();
        for (name, ns) in namespaces.iter_mut() {
            let expired: Vec<String> = ns
                .entries
                .iter()
                .filter(|(_, (_, e))| e.is_expired(now))
                .map(|(k, _)| k.clone())
                .collect();
            let mut gone = 0;
            for key in expired {
                // On failure, what went before is gone from both sides alike: memory and
                // persistence still agree entry by entry.
                self.persistence.remove(name, &key)?;
                ns.remove(&key);
                gone += 1;
            }
            if gone > 0 {
                purged.push((name.clone(), gone));
            }
        }
        purged.sort();
        Ok(purged)
    }

    fn validate(
        &self,
        namespace: &str,
        key: &str,
        value: &Value,
        metadata: &Value,
    ) -> Result<(), MemoryError> {
        check_namespace(namespace)?;
        if key.is_empty() || key.len() > self.config.max_key_bytes {
            return Err(MemoryError::InvalidKey(format!(
                "keys are 1-{} bytes, got {}",
                self.config.max_key_bytes,
                key.len()
            )));
        }
        if !metadata.is_object() {
            return Err(MemoryError::InvalidEntry(
                "metadata must be a JSON object (or null for none)".into(),
            ));
        }
        let size = serde_json::to_vec(value).map_or(usize::MAX, |v| v.len())
            + serde_json::to_vec(metadata).map_or(usize::MAX, |v| v.len());
        if size > self.config.max_entry_bytes {
            return Err(MemoryError::InvalidEntry(format!(
                "value and metadata take {size} bytes, more than the limit of {}",
                self.config.max_entry_bytes
            )));
        }
        Ok(())
    }
}

fn check_namespace(namespace: &str) -> Result<(), MemoryError> {
    let ok = !namespace.is_empty()
        && namespace.len() <= 128
        && namespace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:/".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(MemoryError::InvalidNamespace(namespace.to_string()))
    }
}

#[cfg(test)]
mod tests;
