//! The node's semantic memory: [`mcpflow_intel::memory::Memory`] on the node's store, with
//! text embedded by the node's [`TextEmbedder`], a reaper that removes expired entries, and
//! periodic index snapshots so a restart loads graphs instead of rebuilding them.
//!
//! Durability: a write is acknowledged only after the store committed it (memory writes
//! through its persistence before changing itself). Snapshots are a start-up shortcut, never
//! the truth: at open each one is checked against the stored entries (count, last write,
//! checksum) and the graph is rebuilt from the entries when they disagree — after a crash
//! that came between a write and the next snapshot, say.
//!
//! Every write publishes `ResourceUpdated` for `mcpflow://memory/{namespace}`.

mod embedder;
mod persistence;

pub use embedder::{HashingEmbedder, TextEmbedder};
pub use persistence::StorePersistence;

use mcpflow_intel::memory::{
    Clock, Entry, IndexSource, Memory, MemoryConfig, MemoryError, MetadataFilter, NewEntry,
    SystemClock,
};
use mcpflow_model::{ContentGate, Event, GateOutcome, GatePoint};
use mcpflow_store::DynStore;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Longest accepted time to live: ten years.
pub const MAX_TTL_SECONDS: i64 = 10 * 365 * 86_400;
/// Most results one search or list returns.
pub const MAX_PAGE: usize = 1000;

/// URI of a namespace's MCP resource. `/` (allowed in namespace names) is written `%2F`, so
/// the name stays one URI segment.
pub fn memory_uri(namespace: &str) -> String {
    format!("mcpflow://memory/{}", namespace.replace('/', "%2F"))
}

/// The namespace a [`memory_uri`] segment names.
pub fn namespace_from_uri_segment(segment: &str) -> String {
    segment.replace("%2F", "/").replace("%2f", "/")
}

/// How the node runs memory.
#[derive(Debug, Clone)]
pub struct MemorySettings {
    /// Turns text into vectors; its `dim()` is the dimension of every namespace's index.
    pub embedder: Arc<dyn TextEmbedder>,
    /// How often the reaper removes expired entries.
    pub reap_interval: Duration,
    /// How often changed namespaces' index snapshots are written (and at shutdown).
    pub snapshot_interval: Duration,
    /// Largest value plus metadata of one entry, serialised, in bytes.
    pub max_entry_bytes: usize,
    /// The clock TTLs run on (tests use a manual one).
    pub clock: Arc<dyn Clock>,
    /// Inspects every value and text before it is stored (the node sets its security gate).
    pub gate: Option<Arc<dyn ContentGate>>,
}

impl Default for MemorySettings {
    /// The built-in hashing embedder (256 dims, degraded), reaping every 30 s, snapshots
    /// every 60 s, 1 MiB entries, the system clock.
    fn default() -> Self {
        Self {
            embedder: Arc::new(HashingEmbedder::new(256)),
            reap_interval: Duration::from_secs(30),
            snapshot_interval: Duration::from_secs(60),
            max_entry_bytes: 1 << 20,
            clock: Arc::new(SystemClock),
            gate: None,
        }
    }
}

/// Why a memory operation was refused. Messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum MemoryFailure {
    /// The namespace has no entries (never written, or emptied before a restart).
    #[error(
        "namespace {0:?} does not exist: memory_stats lists the namespaces; memory_store creates one by storing into it"
    )]
    UnknownNamespace(String),
    /// Arguments that cannot be acted on.
    #[error("{0}")]
    Invalid(String),
    /// The security gate refused the content (e.g. instructions planted to be replayed).
    #[error("refused by the security gate: {0}")]
    Blocked(String),
    /// Memory refused the entry, key, vector or filter.
    #[error(transparent)]
    Refused(#[from] MemoryError),
    /// The embedder failed on the text.
    #[error("embedder {label} failed: {reason}")]
    Embedder {
        /// The embedder.
        label: String,
        /// Its reason.
        reason: String,
    },
    /// The worker running the operation stopped (the node is shutting down).
    #[error("memory is shutting down: {0}")]
    Stopped(String),
}

/// What an entry is found by in semantic search.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// Text, embedded by the node's embedder.
    Text(String),
    /// A ready vector of the embedder's dimension.
    Vector(Vec<f32>),
}

/// What `store` takes.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreRequest {
    /// Unique within the namespace; storing it again replaces the entry.
    pub key: String,
    /// Any JSON.
    pub value: Value,
    /// A JSON object (null for none).
    pub metadata: Value,
    /// Time to live in seconds (1 s to ten years), none for no expiry.
    pub ttl_seconds: Option<i64>,
    /// Text or vector to search by; none: found by key and listing only.
    pub content: Option<Content>,
}

/// An entry as tools show it.
#[derive(Debug, Clone, Serialize)]
pub struct EntryView {
    /// Its namespace.
    pub namespace: String,
    /// Its key.
    pub key: String,
    /// The payload.
    pub value: Value,
    /// Its metadata object.
    pub metadata: Value,
    /// Whether it has a vector (is found by search).
    pub embedded: bool,
    /// Ms since the epoch.
    pub created_at_ms: u64,
    /// Ms since the epoch.
    pub updated_at_ms: u64,
    /// When it expires (ms since the epoch), if it has a TTL.
    pub expires_at_ms: Option<u64>,
}

impl EntryView {
    fn new(namespace: &str, e: Entry) -> Self {
        Self {
            namespace: namespace.to_owned(),
            embedded: e.embedding.is_some(),
            key: e.key,
            value: e.value,
            metadata: e.metadata,
            created_at_ms: e.created_at_ms,
            updated_at_ms: e.updated_at_ms,
            expires_at_ms: e.expires_at_ms,
        }
    }
}

/// One search result.
#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    /// The entry.
    #[serde(flatten)]
    pub entry: EntryView,
    /// Cosine similarity to the query, `1 - distance` (1 = same direction).
    pub score: f32,
    /// Cosine distance (smaller is closer).
    pub distance: f32,
}

/// A search's answer.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    /// Nearest first.
    pub hits: Vec<SearchHit>,
    /// The embedder whose space the index is in.
    pub embedder: String,
    /// True when that embedder is a degraded stand-in.
    pub degraded: bool,
}

/// A page of entries.
#[derive(Debug, Clone, Serialize)]
pub struct ListPage {
    /// In key order.
    pub entries: Vec<EntryView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next: Option<String>,
}

/// One namespace in [`MemoryStats`].
#[derive(Debug, Clone, Serialize)]
pub struct NamespaceStats {
    /// Its name.
    pub name: String,
    /// Its resource.
    pub uri: String,
    /// Entries, expired ones not yet reaped included.
    pub entries: usize,
    /// Entries with a vector.
    pub embedded: usize,
}

/// How one namespace's index was loaded at start.
#[derive(Debug, Clone, Serialize)]
pub struct LoadView {
    /// The namespace.
    pub namespace: String,
    /// Entries loaded.
    pub entries: usize,
    /// `snapshot`, `no_snapshot` or `rebuilt`.
    pub source: &'static str,
    /// Why the snapshot was not used, when rebuilt.
    pub reason: Option<String>,
}

/// Memory's state for `memory_stats`.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryStats {
    /// By name.
    pub namespaces: Vec<NamespaceStats>,
    /// Sum over namespaces.
    pub total_entries: usize,
    /// The embedder's label.
    pub embedder: String,
    /// True when the embedder is a degraded stand-in.
    pub degraded: bool,
    /// Index parameters shared by every namespace.
    pub index: IndexParams,
    /// Limits.
    pub max_entry_bytes: usize,
    /// Reaper interval.
    pub reap_interval_ms: u64,
    /// Snapshot interval.
    pub snapshot_interval_ms: u64,
    /// Expired entries removed since start.
    pub reaped: u64,
    /// Index snapshots written since start.
    pub snapshots_written: u64,
    /// How each namespace was loaded at start.
    pub loaded: Vec<LoadView>,
}

/// Index parameters in [`MemoryStats`].
#[derive(Debug, Clone, Serialize)]
pub struct IndexParams {
    /// Vector dimension.
    pub dim: usize,
    /// `cosine`.
    pub metric: String,
    /// Links per node.
    pub m: usize,
    /// Build beam width.
    pub ef_construction: usize,
    /// Search beam width.
    pub ef_search: usize,
}

/// The node's memory. Cheap to clone.
#[derive(Debug, Clone)]
pub struct NodeMemory {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    memory: Arc<Memory>,
    store: DynStore,
    settings: MemorySettings,
    bus: broadcast::Sender<Event>,
    dirty: Mutex<HashSet<String>>,
    reaped: AtomicU64,
    snapshots: AtomicU64,
    /// Cancelled at shutdown; sticky, so a loop that starts late still sees it.
    stop: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl NodeMemory {
    /// Loads memory from `store` (snapshots where they agree with the entries, rebuilding
    /// elsewhere) and starts the reaper and the snapshot writer.
    pub async fn open(
        store: DynStore,
        settings: MemorySettings,
        bus: broadcast::Sender<Event>,
    ) -> Result<Self, MemoryFailure> {
        let embedder = &settings.embedder;
        if embedder.degraded() {
            tracing::warn!(
                embedder = embedder.label(),
                "semantic memory runs on a DEGRADED embedder: search matches shared words, not meaning; plug in a real embedding model"
            );
        } else {
            tracing::info!(
                embedder = embedder.label(),
                dim = embedder.dim(),
                "memory embedder"
            );
        }
        let mut config = MemoryConfig::new(embedder.dim());
        config.max_entry_bytes = settings.max_entry_bytes;
        let persistence = Arc::new(StorePersistence::new(
            store.clone(),
            tokio::runtime::Handle::current(),
        ));
        let clock = settings.clock.clone();
        let (label, dim) = (embedder.label().to_owned(), embedder.dim());
        let memory = tokio::task::spawn_blocking(move || {
            Memory::open_with_clock(config, persistence, clock)
        })
        .await
        .map_err(|e| MemoryFailure::Stopped(e.to_string()))?
        .map_err(|e| match e {
            // Stored vectors from another embedder: say so in the operator's terms.
            MemoryError::Vector(mcpflow_intel::Error::DimensionMismatch { got, .. }) => {
                MemoryFailure::Invalid(format!(
                    "the store holds {got}-dimensional memory embeddings but the embedder {label} gives {dim}: start with the embedder that wrote them, or clear semantic memory (tables memory_entries and memory_snapshots) to switch"
                ))
            }
            other => other.into(),
        })?;
        for load in memory.index_loads() {
            match &load.source {
                IndexSource::Rebuilt(reason) => tracing::warn!(
                    namespace = %load.namespace, entries = load.entries, %reason,
                    "memory index snapshot not used; rebuilt from the entries"
                ),
                source => tracing::info!(
                    namespace = %load.namespace, entries = load.entries, ?source,
                    "memory namespace loaded"
                ),
            }
        }
        // Namespaces rebuilt at open have no usable snapshot yet: write one soon.
        let dirty = memory
            .index_loads()
            .iter()
            .filter(|l| l.source != IndexSource::Snapshot)
            .map(|l| l.namespace.clone())
            .collect();
        let stop = CancellationToken::new();
        let this = Self {
            inner: Arc::new(Inner {
                memory: Arc::new(memory),
                store,
                settings,
                bus,
                dirty: Mutex::new(dirty),
                reaped: AtomicU64::new(0),
                snapshots: AtomicU64::new(0),
                stop,
                tasks: Mutex::new(Vec::new()),
            }),
        };
        let reaper = tokio::spawn(this.clone().every(this.inner.settings.reap_interval, |m| {
            Box::pin(async move {
                if let Err(e) = m.reap().await {
                    tracing::warn!(error = %e, "memory reaper failed; retrying at the next tick");
                }
            })
        }));
        let snapshotter = tokio::spawn(
            this.clone()
                .every(this.inner.settings.snapshot_interval, |m| {
                    Box::pin(async move { m.snapshot().await })
                }),
        );
        this.lock_tasks().extend([reaper, snapshotter]);
        Ok(this)
    }

    /// Runs `tick` every `interval` until shutdown.
    async fn every(
        self,
        interval: Duration,
        tick: fn(NodeMemory) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    ) {
        let stop = self.inner.stop.clone();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => tick(self.clone()).await,
                _ = stop.cancelled() => return,
            }
        }
    }

    fn lock_tasks(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn mark_dirty(&self, namespace: &str) {
        self.inner
            .dirty
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(namespace.to_owned());
    }

    fn changed(&self, namespace: &str) {
        self.mark_dirty(namespace);
        let _ = self.inner.bus.send(Event::ResourceUpdated {
            uri: memory_uri(namespace),
        });
    }

    /// Embeds `text` with memory's embedder (CPU-bound: call it off the async workers).
    pub fn embed_text(&self, text: &str) -> Result<Vec<f32>, MemoryFailure> {
        self.embed(text)
    }

    /// The length of the embedder's vectors.
    pub fn dim(&self) -> usize {
        self.inner.settings.embedder.dim()
    }

    /// The embedder's label, as search results carry it.
    pub fn embedder_label(&self) -> &str {
        self.inner.settings.embedder.label()
    }

    /// Stores (or replaces) an entry; returns it as stored once the store has committed it.
    pub async fn store(
        &self,
        namespace: &str,
        request: StoreRequest,
    ) -> Result<EntryView, MemoryFailure> {
        let ttl_ms = match request.ttl_seconds {
            None => None,
            Some(t) if (1..=MAX_TTL_SECONDS).contains(&t) => Some(t as u64 * 1000),
            Some(t) => {
                return Err(MemoryFailure::Invalid(format!(
                    "ttl_seconds must be between 1 and {MAX_TTL_SECONDS} (ten years), got {t}: omit it to keep the entry until deleted"
                )));
            }
        };
        if let Some(gate) = &self.inner.settings.gate {
            let mut text = String::new();
            mcpflow_model::push_strings(&request.value, &mut text);
            mcpflow_model::push_strings(&request.metadata, &mut text);
            if let Some(Content::Text(t)) = &request.content {
                text.push_str(t);
            }
            if let GateOutcome::Block(reason) =
                gate.inspect(GatePoint::MemoryWrite { namespace }, "memory_store", &text)
            {
                return Err(MemoryFailure::Blocked(reason));
            }
        }
        let this = self.clone();
        let ns = namespace.to_owned();
        let entry = self
            .blocking(move || {
                let embedding = match request.content {
                    None => None,
                    Some(Content::Vector(v)) => Some(this.check_dim(v)?),
                    Some(Content::Text(t)) => Some(this.embed(&t)?),
                };
                let new = NewEntry {
                    key: request.key,
                    value: request.value,
                    metadata: request.metadata,
                    embedding,
                    ttl_ms,
                };
                Ok(this.inner.memory.store(&ns, new)?)
            })
            .await?;
        self.changed(namespace);
        Ok(EntryView::new(namespace, entry))
    }

    /// The live entry under `key`; `None` if there is none.
    pub fn retrieve(&self, namespace: &str, key: &str) -> Result<Option<EntryView>, MemoryFailure> {
        self.known(namespace)?;
        Ok(self
            .inner
            .memory
            .retrieve(namespace, key)?
            .map(|e| EntryView::new(namespace, e)))
    }

    /// Deletes `key`; true if a live entry was there.
    pub async fn delete(&self, namespace: &str, key: &str) -> Result<bool, MemoryFailure> {
        self.known(namespace)?;
        let this = self.clone();
        let (ns, k) = (namespace.to_owned(), key.to_owned());
        let gone = self
            .blocking(move || Ok(this.inner.memory.delete(&ns, &k)?))
            .await?;
        self.changed(namespace);
        Ok(gone)
    }

    /// Live entries in key order after `cursor`, matching `filter`, at most `limit`.
    pub fn list(
        &self,
        namespace: &str,
        filter: Option<Value>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, MemoryFailure> {
        self.known(namespace)?;
        let filter = filter.map(MetadataFilter::new).transpose()?;
        let limit = limit.clamp(1, MAX_PAGE);
        let mut entries = self
            .inner
            .memory
            .list(namespace, filter.as_ref(), cursor, limit + 1)?;
        let more = entries.len() > limit;
        entries.truncate(limit);
        let next = more
            .then(|| entries.last().map(|e| e.key.clone()))
            .flatten();
        Ok(ListPage {
            entries: entries
                .into_iter()
                .map(|e| EntryView::new(namespace, e))
                .collect(),
            next,
        })
    }

    /// The `k` live entries nearest to `query` whose metadata matches `filter`.
    pub async fn search(
        &self,
        namespace: &str,
        query: Content,
        k: usize,
        filter: Option<Value>,
    ) -> Result<SearchResult, MemoryFailure> {
        self.known(namespace)?;
        if k == 0 || k > MAX_PAGE {
            return Err(MemoryFailure::Invalid(format!(
                "k must be between 1 and {MAX_PAGE}, got {k}"
            )));
        }
        let filter = filter.map(MetadataFilter::new).transpose()?;
        let this = self.clone();
        let ns = namespace.to_owned();
        // Embedding a query can take milliseconds with a real model: keep it off the runtime.
        let hits = self
            .blocking(move || {
                let vector = match query {
                    Content::Vector(v) => this.check_dim(v)?,
                    Content::Text(t) => this.embed(&t)?,
                };
                Ok(this.inner.memory.search(&ns, &vector, k, filter.as_ref())?)
            })
            .await?;
        let embedder = &self.inner.settings.embedder;
        Ok(SearchResult {
            hits: hits
                .into_iter()
                .map(|h| SearchHit {
                    entry: EntryView::new(namespace, h.entry),
                    score: 1.0 - h.distance,
                    distance: h.distance,
                })
                .collect(),
            embedder: embedder.label().to_owned(),
            degraded: embedder.degraded(),
        })
    }

    /// Sizes, settings and how start-up went.
    pub fn stats(&self) -> MemoryStats {
        let m = &self.inner.memory;
        let s = &self.inner.settings;
        let namespaces: Vec<NamespaceStats> = m
            .namespaces()
            .into_iter()
            .map(|n| NamespaceStats {
                uri: memory_uri(&n.name),
                name: n.name,
                entries: n.entries,
                embedded: n.embedded,
            })
            .collect();
        let p = &m.config().index;
        MemoryStats {
            total_entries: namespaces.iter().map(|n| n.entries).sum(),
            namespaces,
            embedder: s.embedder.label().to_owned(),
            degraded: s.embedder.degraded(),
            index: IndexParams {
                dim: p.dim,
                metric: format!("{:?}", p.metric).to_lowercase(),
                m: p.m,
                ef_construction: p.ef_construction,
                ef_search: p.ef_search,
            },
            max_entry_bytes: m.config().max_entry_bytes,
            reap_interval_ms: s.reap_interval.as_millis() as u64,
            snapshot_interval_ms: s.snapshot_interval.as_millis() as u64,
            reaped: self.inner.reaped.load(Ordering::Relaxed),
            snapshots_written: self.inner.snapshots.load(Ordering::Relaxed),
            loaded: m
                .index_loads()
                .iter()
                .map(|l| {
                    let (source, reason) = match &l.source {
                        IndexSource::Snapshot => ("snapshot", None),
                        IndexSource::NoSnapshot => ("no_snapshot", None),
                        IndexSource::Rebuilt(r) => ("rebuilt", Some(r.clone())),
                    };
                    LoadView {
                        namespace: l.namespace.clone(),
                        entries: l.entries,
                        source,
                        reason,
                    }
                })
                .collect(),
        }
    }

    /// One namespace's summary, for its resource.
    pub fn namespace_stats(&self, namespace: &str) -> Result<NamespaceStats, MemoryFailure> {
        self.known(namespace)?;
        self.stats()
            .namespaces
            .into_iter()
            .find(|n| n.name == namespace)
            .ok_or_else(|| MemoryFailure::UnknownNamespace(namespace.to_owned()))
    }

    /// Removes expired entries now (the reaper calls this every `reap_interval`); returns
    /// how many went.
    pub async fn reap(&self) -> Result<usize, MemoryFailure> {
        let this = self.clone();
        let purged = self
            .blocking(move || Ok(this.inner.memory.purge_expired_by_namespace()?))
            .await?;
        let mut total = 0;
        for (ns, n) in purged {
            tracing::debug!(namespace = %ns, removed = n, "expired memory entries reaped");
            self.changed(&ns);
            total += n;
        }
        self.inner.reaped.fetch_add(total as u64, Ordering::Relaxed);
        Ok(total)
    }

    /// Writes the index snapshots of namespaces changed since the last ones (the snapshot
    /// task calls this every `snapshot_interval`, and shutdown once more). Failures are
    /// logged and retried next time: snapshots only speed up start-up.
    pub async fn snapshot(&self) {
        let dirty: Vec<String> =
            std::mem::take(&mut *self.inner.dirty.lock().unwrap_or_else(|p| p.into_inner()))
                .into_iter()
                .collect();
        for ns in dirty {
            let memory = self.inner.memory.clone();
            let name = ns.clone();
            let bytes = match tokio::task::spawn_blocking(move || memory.export_index(&name)).await
            {
                Ok(Some(bytes)) => bytes,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(namespace = %ns, error = %e, "memory snapshot failed");
                    self.mark_dirty(&ns);
                    continue;
                }
            };
            match self.inner.store.save_memory_snapshot(&ns, &bytes).await {
                Ok(()) => {
                    self.inner.snapshots.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(namespace = %ns, bytes = bytes.len(), "memory index snapshot written");
                }
                Err(e) => {
                    tracing::warn!(namespace = %ns, error = %e, "memory snapshot not written; retrying later");
                    self.mark_dirty(&ns);
                }
            }
        }
    }

    /// Stops the reaper and the snapshot task, then writes the pending snapshots.
    pub async fn shutdown(&self) {
        self.inner.stop.cancel();
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *self.lock_tasks());
        for task in tasks {
            let _ = task.await;
        }
        self.snapshot().await;
    }

    fn known(&self, namespace: &str) -> Result<(), MemoryFailure> {
        if self.inner.memory.has_namespace(namespace) {
            return Ok(());
        }
        // A malformed name gets memory's own message; a well-formed one is just unknown.
        self.inner.memory.retrieve(namespace, "")?;
        Err(MemoryFailure::UnknownNamespace(namespace.to_owned()))
    }

    fn check_dim(&self, v: Vec<f32>) -> Result<Vec<f32>, MemoryFailure> {
        let e = &self.inner.settings.embedder;
        if v.len() != e.dim() {
            return Err(MemoryFailure::Invalid(format!(
                "the embedding has {} dimensions but this node's memory holds {}-dimensional vectors (embedder {}): pass {} numbers, or give text and let the node embed it",
                v.len(),
                e.dim(),
                e.label(),
                e.dim()
            )));
        }
        Ok(v)
    }

    fn embed(&self, text: &str) -> Result<Vec<f32>, MemoryFailure> {
        let e = &self.inner.settings.embedder;
        let fail = |reason: String| MemoryFailure::Embedder {
            label: e.label().to_owned(),
            reason,
        };
        let mut v = e.embed(&[text]).map_err(fail)?;
        match v.pop() {
            Some(v) if v.len() == e.dim() => Ok(v),
            other => Err(fail(format!(
                "returned {} values instead of one {}-long vector",
                other.map_or(0, |v| v.len()),
                e.dim()
            ))),
        }
    }

    /// Runs `f` on the blocking pool: the persistence blocks on the store there.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, MemoryFailure> + Send + 'static,
    ) -> Result<T, MemoryFailure> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| MemoryFailure::Stopped(e.to_string()))?
    }
}

#[cfg(test)]
mod tests;
