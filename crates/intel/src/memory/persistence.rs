//! Where memory keeps its entries across restarts. The store crate implements
//! [`MemoryPersistence`]; [`InMemoryPersistence`] is the reference implementation (tests,
//! and nodes run without a store).

use super::Entry;
use parking_lot::Mutex;
use std::collections::BTreeMap;

/// Durable storage under memory. Memory writes through it *before* changing itself, so a
/// failed write leaves both sides as they were. Implementations must be safe to call from
/// several threads.
pub trait MemoryPersistence: Send + Sync + std::fmt::Debug {
    /// Creates or replaces `entry` (by key) in `namespace`.
    fn put(&self, namespace: &str, entry: &Entry) -> Result<(), PersistenceError>;
    /// Removes `key` from `namespace` (absent: not an error).
    fn remove(&self, namespace: &str, key: &str) -> Result<(), PersistenceError>;
    /// Every stored entry with its namespace, to rebuild memory at start.
    fn load_all(&self) -> Result<Vec<(String, Entry)>, PersistenceError>;
    /// Index snapshots by namespace (from [`super::Memory::export_index`]), so start-up can
    /// load graphs instead of rebuilding them. Memory checks each against the entries and
    /// rebuilds when they disagree. The default has none.
    fn load_index_snapshots(&self) -> Result<Vec<(String, Vec<u8>)>, PersistenceError> {
        Ok(Vec::new())
    }
}

/// A persistence failure, with the backend's reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct PersistenceError(pub String);

/// Keeps entries in a map: a real [`MemoryPersistence`] with no durability, for tests and
/// storeless nodes. Can be told to fail, to test that memory loses nothing when the store
/// does.
#[derive(Debug, Default)]
pub struct InMemoryPersistence {
    entries: Mutex<BTreeMap<(String, String), Entry>>,
    snapshots: Mutex<BTreeMap<String, Vec<u8>>>,
    fail: Mutex<Option<String>>,
}

impl InMemoryPersistence {
    /// Keeps `bytes` as `namespace`'s index snapshot (replacing any).
    pub fn save_index_snapshot(&self, namespace: &str, bytes: Vec<u8>) {
        self.snapshots.lock().insert(namespace.to_string(), bytes);
    }

    /// Makes every later call fail with `reason` (None: succeed again).
    pub fn fail_with(&self, reason: Option<&str>) {
        *self.fail.lock() = reason.map(str::to_string);
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.lock().is_empty()
    }

    fn check(&self) -> Result<(), PersistenceError> {
        match &*self.fail.lock() {
            Some(reason) => Err(PersistenceError(reason.clone())),
            None => Ok(()),
        }
    }
}

impl MemoryPersistence for InMemoryPersistence {
    fn put(&self, namespace: &str, entry: &Entry) -> Result<(), PersistenceError> {
        self.check()?;
        self.entries
            .lock()
            .insert((namespace.to_string(), entry.key.clone()), entry.clone());
        Ok(())
    }

    fn remove(&self, namespace: &str, key: &str) -> Result<(), PersistenceError> {
        self.check()?;
        self.entries
            .lock()
            .remove(&(namespace.to_string(), key.to_string()));
        Ok(())
    }

    fn load_all(&self) -> Result<Vec<(String, Entry)>, PersistenceError> {
        self.check()?;
        Ok(self
            .entries
            .lock()
            .iter()
            .map(|((ns, _), e)| (ns.clone(), e.clone()))
            .collect())
    }

    fn load_index_snapshots(&self) -> Result<Vec<(String, Vec<u8>)>, PersistenceError> {
        self.check()?;
        Ok(self
            .snapshots
            .lock()
            .iter()
            .map(|(ns, b)| (ns.clone(), b.clone()))
            .collect())
    }
}
