//! Persistence for mcpflow.
//!
//! Everything durable goes through the [`Store`] trait, implemented twice: [`SqliteStore`], one
//! WAL-mode file in the data directory (the embedded default, needs nothing else), and
//! [`PostgresStore`], for clusters where several nodes share one database. Both apply the same
//! numbered migrations (`migrations/<backend>/NNNN_name.sql`) at open, and the same test-suite
//! (`tests/conformance.rs`) runs against both.
//!
//! The store knows nothing of orchestration: it persists [`mcpflow_model`] values.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mcpflow_store::Error> {
//! use mcpflow_store::{open, StoreUrl};
//!
//! let url = StoreUrl::parse("sqlite:///var/lib/mcpflow/mcpflow.db")?;
//! let store = open(&url).await?;
//! assert_eq!(store.backend(), "sqlite");
//! # Ok(()) }
//! ```

mod error;
mod memory;
mod migrate;
mod postgres;
mod sqlite;
pub mod testing;
mod trajectory;
mod url;

use async_trait::async_trait;
use mcpflow_model::{AgentRecord, SessionRecord, SessionState, TaskRecord, TaskState, Timestamp};
use std::sync::Arc;

pub use error::Error;
pub use migrate::{MIGRATION_COUNT, Migration};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use trajectory::{DecisionRow, EndingRow, StepRow, TrajectoryRow};
pub use url::StoreUrl;

/// Which agents [`Store::agents`] returns. Results are ordered by id (time-ordered).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentQuery {
    /// Only agents run by this node.
    pub node: Option<String>,
    /// Only agents not stopped or given up.
    pub live_only: bool,
    /// Only ids greater than this (the previous page's last id).
    pub after: Option<String>,
    /// At most this many.
    pub limit: u32,
}

/// Which tasks [`Store::tasks`] returns. Results are ordered by id (time-ordered).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskQuery {
    /// Only tasks accepted by this node.
    pub node: Option<String>,
    /// Only tasks in this state.
    pub state: Option<TaskState>,
    /// Only tasks not yet in a final state.
    pub open_only: bool,
    /// Only ids greater than this (the previous page's last id).
    pub after: Option<String>,
    /// At most this many.
    pub limit: u32,
}

/// One semantic-memory entry as the store keeps it: memory's own JSON encoding of the entry,
/// which the store never interprets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryRow {
    /// The entry's namespace.
    pub namespace: String,
    /// Its key, unique within the namespace.
    pub key: String,
    /// The entry, as JSON.
    pub doc: String,
}

/// A shared handle to whichever backend was opened.
pub type DynStore = Arc<dyn Store>;

/// Opens (creating and migrating as needed) the store that `url` names.
pub async fn open(url: &StoreUrl) -> Result<DynStore, Error> {
    match url {
        StoreUrl::Sqlite(path) => Ok(Arc::new(SqliteStore::open(path).await?)),
        StoreUrl::Postgres(conn) => Ok(Arc::new(PostgresStore::connect(conn).await?)),
    }
}

/// The operations every backend provides.
///
/// Methods are grouped by the `model` value they persist. New groups arrive with the subsystems
/// that need them (agents, tasks, memory, audit); each gets its own migration.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// Where the data lives, with any password removed (safe to log and show in status).
    fn location(&self) -> String;

    /// Round-trips to the database; `Ok` means it is reachable and answering.
    async fn ping(&self) -> Result<(), Error>;

    /// The number of migrations applied (equals [`MIGRATION_COUNT`] once open).
    async fn schema_version(&self) -> Result<u32, Error>;

    /// Inserts a session or replaces the stored copy of it.
    async fn upsert_session(&self, session: &SessionRecord) -> Result<(), Error>;

    /// Loads one session.
    async fn session(&self, id: &str) -> Result<Option<SessionRecord>, Error>;

    /// Records what the handshake told about a session (negotiated version, client), leaving
    /// its state alone. Returns [`Error::NotFound`] if there is no such session.
    async fn describe_session(
        &self,
        id: &str,
        protocol_version: &str,
        client: &str,
    ) -> Result<(), Error>;

    /// Moves a stored session to `state`, enforcing the lifecycle.
    ///
    /// Returns the updated record, [`Error::NotFound`] if there is none, or
    /// [`Error::InvalidTransition`] if the lifecycle forbids the move.
    async fn set_session_state(
        &self,
        id: &str,
        state: SessionState,
        at: Timestamp,
    ) -> Result<SessionRecord, Error>;

    /// Sessions in `state` (all when `None`), oldest first, at most `limit`.
    async fn sessions(
        &self,
        state: Option<SessionState>,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, Error>;

    /// Marks every session of `node` not yet dead as dead (used when a node starts: sessions do
    /// not survive the process that held their streams). Other nodes' sessions are untouched.
    /// Returns how many were changed.
    async fn bury_sessions(&self, node: &str, at: Timestamp) -> Result<u64, Error>;

    /// Inserts an agent or replaces the stored copy of it.
    async fn save_agent(&self, agent: &AgentRecord) -> Result<(), Error>;

    /// Loads one agent.
    async fn agent(&self, id: &str) -> Result<Option<AgentRecord>, Error>;

    /// Agents matching `query`, ordered by id.
    async fn agents(&self, query: &AgentQuery) -> Result<Vec<AgentRecord>, Error>;

    /// Writes tasks and agents in one transaction (group commit).
    ///
    /// A task is inserted or replaces the stored copy — unless the stored copy is already in a
    /// final state, which is never overwritten: every task has exactly one final outcome. The
    /// result says, per task, whether it was written.
    async fn save_tasks(
        &self,
        tasks: &[TaskRecord],
        agents: &[AgentRecord],
    ) -> Result<Vec<bool>, Error>;

    /// [`Store::save_tasks`] for one task; `false` if its stored copy was already final.
    async fn save_task(&self, task: &TaskRecord) -> Result<bool, Error> {
        Ok(self.save_tasks(std::slice::from_ref(task), &[]).await?[0])
    }

    /// Loads one task.
    async fn task(&self, id: &str) -> Result<Option<TaskRecord>, Error>;

    /// Tasks matching `query`, ordered by id.
    async fn tasks(&self, query: &TaskQuery) -> Result<Vec<TaskRecord>, Error>;

    /// Creates or replaces a memory entry (committed when this returns: memory acknowledges
    /// a write only after it). `updated_at` is the entry's write time in ms.
    async fn memory_put(&self, row: &MemoryRow, updated_at: u64) -> Result<(), Error>;

    /// Removes a memory entry; absent is not an error.
    async fn memory_remove(&self, namespace: &str, key: &str) -> Result<(), Error>;

    /// Every memory entry, ordered by namespace and key (memory loads them all at start).
    async fn memory_entries(&self) -> Result<Vec<MemoryRow>, Error>;

    /// Stores `data` as `namespace`'s index snapshot, replacing the previous one.
    async fn save_memory_snapshot(&self, namespace: &str, data: &[u8]) -> Result<(), Error>;

    /// Every index snapshot, by namespace.
    async fn memory_snapshots(&self) -> Result<Vec<(String, Vec<u8>)>, Error>;

    /// Creates or replaces one of `node`'s trajectories (committed when this returns). Each
    /// node learns on its own: trajectories and snapshots are keyed by node. An ended trajectory
    /// is final: if the stored copy has ended, nothing is written and `false` is returned.
    async fn trajectory_put(&self, node: &str, row: &TrajectoryRow) -> Result<bool, Error>;

    /// Removes `node`'s trajectory `id`; absent is not an error.
    async fn trajectory_remove(&self, node: &str, id: u64) -> Result<(), Error>;

    /// Every trajectory of `node`, ordered by id (the router loads them all at start).
    async fn trajectories(&self, node: &str) -> Result<Vec<TrajectoryRow>, Error>;

    /// Stores `data` as `node`'s learning snapshot, replacing the previous one.
    async fn save_learning_snapshot(&self, node: &str, data: &[u8]) -> Result<(), Error>;

    /// `node`'s learning snapshot, if one was saved.
    async fn learning_snapshot(&self, node: &str) -> Result<Option<Vec<u8>>, Error>;
}

/// Encodes a record as the `doc` column holds it.
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> String {
    // Records are plain data (strings, numbers, JSON values): serialising cannot fail.
    serde_json::to_string(value).expect("model records serialise")
}

/// Decodes a `doc` column, naming the row if it is not what this build writes.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    kind: &'static str,
    id: &str,
    doc: &str,
) -> Result<T, Error> {
    serde_json::from_str(doc).map_err(|e| Error::Corrupt {
        kind,
        id: id.to_owned(),
        reason: e.to_string(),
    })
}

/// The states a stored task never leaves, as an SQL list.
pub(crate) const FINAL_TASK_STATES: &str = "('completed', 'failed', 'cancelled')";
