//! Memory's write-through persistence on the node's store.
//!
//! Memory's [`MemoryPersistence`] is synchronous on purpose: memory holds its write lock
//! across the persistence call, so the order of writes in the store is the order memory
//! applied them, and a write that fails changes nothing. The store is async. This adapter
//! bridges the two by blocking on the store's future with the runtime's handle — which is
//! only allowed off the runtime's worker threads, so the node runs every memory call that
//! writes on the blocking pool ([`tokio::task::spawn_blocking`]). Reads never touch the
//! persistence and run inline.

use mcpflow_intel::memory::{Entry, MemoryPersistence, PersistenceError};
use mcpflow_store::{DynStore, MemoryRow};
use tokio::runtime::Handle;

/// [`MemoryPersistence`] on a [`DynStore`]: entries as JSON rows, index snapshots as blobs.
#[derive(Debug, Clone)]
pub struct StorePersistence {
    store: DynStore,
    runtime: Handle,
}

impl StorePersistence {
    /// Persistence on `store`, driving its futures on `runtime`. Call its methods (and
    /// memory's writes) only from blocking-pool threads, never from async code.
    pub fn new(store: DynStore, runtime: Handle) -> Self {
        Self { store, runtime }
    }

    fn run<T>(
        &self,
        what: &str,
        f: impl std::future::Future<Output = Result<T, mcpflow_store::Error>>,
    ) -> Result<T, PersistenceError> {
        self.runtime
            .block_on(f)
            .map_err(|e| PersistenceError(format!("{what}: {e}")))
    }
}

impl MemoryPersistence for StorePersistence {
    fn put(&self, namespace: &str, entry: &Entry) -> Result<(), PersistenceError> {
        let doc = serde_json::to_string(entry)
            .map_err(|e| PersistenceError(format!("cannot encode entry: {e}")))?;
        let row = MemoryRow {
            namespace: namespace.to_owned(),
            key: entry.key.clone(),
            doc,
        };
        self.run(
            "storing a memory entry",
            self.store.memory_put(&row, entry.updated_at_ms),
        )
    }

    fn remove(&self, namespace: &str, key: &str) -> Result<(), PersistenceError> {
        self.run(
            "removing a memory entry",
            self.store.memory_remove(namespace, key),
        )
    }

    fn load_all(&self) -> Result<Vec<(String, Entry)>, PersistenceError> {
        let rows = self.run("loading memory", self.store.memory_entries())?;
        rows.into_iter()
            .map(|row| {
                let entry: Entry = serde_json::from_str(&row.doc).map_err(|e| {
                    PersistenceError(format!(
                        "memory entry {:?} in namespace {:?} is corrupt ({e}): delete the row or restore a backup",
                        row.key, row.namespace
                    ))
                })?;
                if entry.key != row.key {
                    return Err(PersistenceError(format!(
                        "memory row {:?}/{:?} holds an entry keyed {:?}",
                        row.namespace, row.key, entry.key
                    )));
                }
                Ok((row.namespace, entry))
            })
            .collect()
    }

    fn load_index_snapshots(&self) -> Result<Vec<(String, Vec<u8>)>, PersistenceError> {
        self.run(
            "loading memory index snapshots",
            self.store.memory_snapshots(),
        )
    }
}
