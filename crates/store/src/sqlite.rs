//! The embedded default backend: one SQLite file in WAL mode.
//!
//! rusqlite is synchronous, so every call runs on tokio's blocking pool and never stalls a
//! runtime thread. One connection behind a mutex serialises writers, which is what SQLite does
//! anyway; WAL lets readers in other processes (backups, `sqlite3`) proceed meanwhile.

use async_trait::async_trait;
use mcpflow_model::{AgentRecord, SessionRecord, SessionState, TaskRecord, Timestamp, Transport};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::memory::clamp;
use crate::migrate::{CREATE_MIGRATIONS_TABLE, MIGRATIONS};
use crate::trajectory::{Bound, COLUMNS, RawRow, UPSERT, db_id};
use crate::{
    AgentQuery, Error, FINAL_TASK_STATES, MemoryRow, Store, TaskQuery, TrajectoryRow, decode,
    encode,
};

/// A store in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens or creates the database file (and its parent directory), switches it to WAL and
    /// applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self, Error> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(path))
            .await
            .map_err(|e| Error::Worker(e.to_string()))?
    }

    fn open_blocking(path: PathBuf) -> Result<Self, Error> {
        let err = |source| Error::Sqlite {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::Sqlite {
                path: path.display().to_string(),
                source: rusqlite::Error::InvalidPath(
                    format!("cannot create {}: {e}", dir.display()).into(),
                ),
            })?;
        }
        let mut conn = Connection::open(&path).map_err(err)?;
        // WAL: readers never block the writer; NORMAL sync is durable at each checkpoint and
        // safe against corruption; the busy timeout rides out another process's checkpoint.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        migrate(&mut conn).map_err(|e| match e {
            MigrateError::Sql(source) => err(source),
            MigrateError::Other(e) => e,
        })?;
        tracing::info!(path = %path.display(), "sqlite store open");
        Ok(Self {
            path,
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn with<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, Error> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave SQLite half-written (statements are
            // atomic), so a poisoned lock is safe to keep using.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| Error::Worker(e.to_string()))?
    }

    fn sql_err(&self) -> impl Fn(rusqlite::Error) -> Error + Send + 'static {
        let path = self.path.display().to_string();
        move |source| Error::Sqlite {
            path: path.clone(),
            source,
        }
    }
}

enum MigrateError {
    Sql(rusqlite::Error),
    Other(Error),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Sql(e)
    }
}

fn migrate(conn: &mut Connection) -> Result<(), MigrateError> {
    conn.execute_batch(CREATE_MIGRATIONS_TABLE)?;
    let found: u32 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    let known = MIGRATIONS.len() as u32;
    if found > known {
        return Err(MigrateError::Other(Error::SchemaTooNew { found, known }));
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        let fail = |e: rusqlite::Error| {
            MigrateError::Other(Error::Migration {
                version: m.version,
                name: m.name,
                message: e.to_string(),
            })
        };
        let tx = conn.transaction()?;
        tx.execute_batch(m.sqlite).map_err(fail)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, Timestamp::now().as_millis()],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "applied sqlite migration"
        );
    }
    Ok(())
}

const SESSION_COLUMNS: &str =
    "id, node, transport, protocol_version, client, state, created_at, updated_at";

fn session_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<SessionRecord, Error>> {
    let id: String = row.get(0)?;
    let transport: String = row.get(2)?;
    let state: String = row.get(5)?;
    let corrupt = |reason: String| Error::Corrupt {
        kind: "session",
        id: id.clone(),
        reason,
    };
    let Some(transport) = Transport::parse(&transport) else {
        return Ok(Err(corrupt(format!("unknown transport {transport:?}"))));
    };
    let Some(state) = SessionState::parse(&state) else {
        return Ok(Err(corrupt(format!("unknown state {state:?}"))));
    };
    Ok(Ok(SessionRecord {
        node: row.get(1)?,
        transport,
        protocol_version: row.get(3)?,
        client: row.get(4)?,
        state,
        created_at: Timestamp(row.get(6)?),
        updated_at: Timestamp(row.get(7)?),
        id,
    }))
}

fn load_session(
    conn: &Connection,
    id: &str,
) -> rusqlite::Result<Option<Result<SessionRecord, Error>>> {
    conn.prepare_cached(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"
    ))?
    .query_row([id], session_from_row)
    .optional()
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn location(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    async fn ping(&self) -> Result<(), Error> {
        let e = self.sql_err();
        self.with(move |c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(e))
            .await
    }

    async fn schema_version(&self) -> Result<u32, Error> {
        let e = self.sql_err();
        self.with(move |c| {
            c.query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                [],
                |r| r.get(0),
            )
            .map_err(e)
        })
        .await
    }

    async fn upsert_session(&self, s: &SessionRecord) -> Result<(), Error> {
        let e = self.sql_err();
        let s = s.clone();
        self.with(move |c| {
            c.prepare_cached(
                "INSERT INTO sessions (id, node, transport, protocol_version, client, state, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (id) DO UPDATE SET
                   node = excluded.node,
                   transport = excluded.transport,
                   protocol_version = excluded.protocol_version,
                   client = excluded.client,
                   state = excluded.state,
                   updated_at = excluded.updated_at",
            )
            .and_then(|mut st| {
                st.execute(params![
                    s.id,
                    s.node,
                    s.transport.as_str(),
                    s.protocol_version,
                    s.client,
                    s.state.as_str(),
                    s.created_at.as_millis(),
                    s.updated_at.as_millis()
                ])
            })
            .map(drop)
            .map_err(e)
        })
        .await
    }

    async fn session(&self, id: &str) -> Result<Option<SessionRecord>, Error> {
        let e = self.sql_err();
        let id = id.to_owned();
        self.with(move |c| load_session(c, &id).map_err(e)?.transpose())
            .await
    }

    async fn describe_session(
        &self,
        id: &str,
        protocol_version: &str,
        client: &str,
    ) -> Result<(), Error> {
        let e = self.sql_err();
        let (id, protocol_version, client) = (
            id.to_owned(),
            protocol_version.to_owned(),
            client.to_owned(),
        );
        self.with(move |c| {
            let changed = c
                .execute(
                    "UPDATE sessions SET protocol_version = ?2, client = ?3 WHERE id = ?1",
                    params![id, protocol_version, client],
                )
                .map_err(e)?;
            if changed == 0 {
                return Err(Error::NotFound {
                    kind: "session",
                    id,
                });
            }
            Ok(())
        })
        .await
    }

    async fn set_session_state(
        &self,
        id: &str,
        state: SessionState,
        at: Timestamp,
    ) -> Result<SessionRecord, Error> {
        let e = self.sql_err();
        let id = id.to_owned();
        self.with(move |c| {
            let tx = c.transaction().map_err(&e)?;
            let mut record = load_session(&tx, &id)
                .map_err(&e)?
                .transpose()?
                .ok_or_else(|| Error::NotFound {
                    kind: "session",
                    id: id.clone(),
                })?;
            record.transition(state, at)?;
            tx.execute(
                "UPDATE sessions SET state = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, state.as_str(), at.as_millis()],
            )
            .map_err(&e)?;
            tx.commit().map_err(&e)?;
            Ok(record)
        })
        .await
    }

    async fn sessions(
        &self,
        state: Option<SessionState>,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, Error> {
        let e = self.sql_err();
        self.with(move |c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions
                     WHERE (?1 IS NULL OR state = ?1)
                     ORDER BY created_at, id LIMIT ?2"
                ))
                .map_err(&e)?;
            let rows = st
                .query_map(
                    params![state.map(SessionState::as_str), limit],
                    session_from_row,
                )
                .map_err(&e)?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row.map_err(&e)??);
            }
            Ok(out)
        })
        .await
    }

    async fn bury_sessions(&self, node: &str, at: Timestamp) -> Result<u64, Error> {
        let e = self.sql_err();
        let node = node.to_owned();
        self.with(move |c| {
            c.execute(
                "UPDATE sessions SET state = 'dead', updated_at = ?2 WHERE node = ?1 AND state <> 'dead'",
                params![node, at.as_millis()],
            )
            .map(|n| n as u64)
            .map_err(e)
        })
        .await
    }

    async fn save_agent(&self, agent: &AgentRecord) -> Result<(), Error> {
        let e = self.sql_err();
        let agent = agent.clone();
        self.with(move |c| write_agent(c, &agent).map_err(e)).await
    }

    async fn agent(&self, id: &str) -> Result<Option<AgentRecord>, Error> {
        let e = self.sql_err();
        let id = id.to_owned();
        self.with(move |c| {
            let doc: Option<String> = c
                .prepare_cached("SELECT doc FROM agents WHERE id = ?1")
                .and_then(|mut st| st.query_row([&id], |r| r.get(0)).optional())
                .map_err(e)?;
            doc.map(|d| decode("agent", &id, &d)).transpose()
        })
        .await
    }

    async fn agents(&self, q: &AgentQuery) -> Result<Vec<AgentRecord>, Error> {
        let e = self.sql_err();
        let q = q.clone();
        self.with(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT id, doc FROM agents
                     WHERE (?1 IS NULL OR node = ?1)
                       AND (?2 = 0 OR status NOT IN ('stopped', 'given_up'))
                       AND (?3 IS NULL OR id > ?3)
                     ORDER BY id LIMIT ?4",
                )
                .map_err(&e)?;
            let rows = st
                .query_map(params![q.node, q.live_only, q.after, q.limit], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(&e)?;
            let mut out = Vec::new();
            for row in rows {
                let (id, doc) = row.map_err(&e)?;
                out.push(decode("agent", &id, &doc)?);
            }
            Ok(out)
        })
        .await
    }

    async fn save_tasks(
        &self,
        tasks: &[TaskRecord],
        agents: &[AgentRecord],
    ) -> Result<Vec<bool>, Error> {
        let e = self.sql_err();
        let (tasks, agents) = (tasks.to_vec(), agents.to_vec());
        self.with(move |c| {
            let tx = c.transaction().map_err(&e)?;
            let mut written = Vec::with_capacity(tasks.len());
            {
                let mut st = tx
                    .prepare_cached(&format!(
                        "INSERT INTO tasks (id, node, state, agent, doc, created_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                         ON CONFLICT (id) DO UPDATE SET
                           state = excluded.state, agent = excluded.agent, doc = excluded.doc,
                           updated_at = excluded.updated_at
                         WHERE tasks.state NOT IN {FINAL_TASK_STATES}"
                    ))
                    .map_err(&e)?;
                for t in &tasks {
                    let n = st
                        .execute(params![
                            t.id,
                            t.node,
                            t.state.as_str(),
                            t.agent,
                            encode(t),
                            t.created_at.as_millis(),
                            t.updated_at.as_millis()
                        ])
                        .map_err(&e)?;
                    written.push(n == 1);
                }
            }
            for a in &agents {
                write_agent(&tx, a).map_err(&e)?;
            }
            tx.commit().map_err(&e)?;
            Ok(written)
        })
        .await
    }

    async fn task(&self, id: &str) -> Result<Option<TaskRecord>, Error> {
        let e = self.sql_err();
        let id = id.to_owned();
        self.with(move |c| {
            let doc: Option<String> = c
                .prepare_cached("SELECT doc FROM tasks WHERE id = ?1")
                .and_then(|mut st| st.query_row([&id], |r| r.get(0)).optional())
                .map_err(e)?;
            doc.map(|d| decode("task", &id, &d)).transpose()
        })
        .await
    }

    async fn tasks(&self, q: &TaskQuery) -> Result<Vec<TaskRecord>, Error> {
        let e = self.sql_err();
        let q = q.clone();
        self.with(move |c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT id, doc FROM tasks
                     WHERE (?1 IS NULL OR node = ?1)
                       AND (?2 IS NULL OR state = ?2)
                       AND (?3 = 0 OR state NOT IN {FINAL_TASK_STATES})
                       AND (?4 IS NULL OR id > ?4)
                     ORDER BY id LIMIT ?5"
                ))
                .map_err(&e)?;
            let rows = st
                .query_map(
                    params![
                        q.node,
                        q.state.map(|s| s.as_str()),
                        q.open_only,
                        q.after,
                        q.limit
                    ],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )
                .map_err(&e)?;
            let mut out = Vec::new();
            for row in rows {
                let (id, doc) = row.map_err(&e)?;
                out.push(decode("task", &id, &doc)?);
            }
            Ok(out)
        })
        .await
    }

    async fn memory_put(&self, row: &MemoryRow, updated_at: u64) -> Result<(), Error> {
        let e = self.sql_err();
        let row = row.clone();
        self.with(move |c| {
            c.prepare_cached(
                "INSERT INTO memory_entries (namespace, key, doc, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (namespace, key) DO UPDATE SET
                   doc = excluded.doc, updated_at = excluded.updated_at",
            )
            .and_then(|mut st| {
                st.execute(params![row.namespace, row.key, row.doc, clamp(updated_at)])
            })
            .map(drop)
            .map_err(e)
        })
        .await
    }

    async fn memory_remove(&self, namespace: &str, key: &str) -> Result<(), Error> {
        let e = self.sql_err();
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        self.with(move |c| {
            c.prepare_cached("DELETE FROM memory_entries WHERE namespace = ?1 AND key = ?2")
                .and_then(|mut st| st.execute(params![namespace, key]))
                .map(drop)
                .map_err(e)
        })
        .await
    }

    async fn memory_entries(&self) -> Result<Vec<MemoryRow>, Error> {
        let e = self.sql_err();
        self.with(move |c| {
            let mut st = c
                .prepare("SELECT namespace, key, doc FROM memory_entries ORDER BY namespace, key")
                .map_err(&e)?;
            let rows = st
                .query_map([], |r| {
                    Ok(MemoryRow {
                        namespace: r.get(0)?,
                        key: r.get(1)?,
                        doc: r.get(2)?,
                    })
                })
                .map_err(&e)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&e)
        })
        .await
    }

    async fn save_memory_snapshot(&self, namespace: &str, data: &[u8]) -> Result<(), Error> {
        let e = self.sql_err();
        let (namespace, data) = (namespace.to_owned(), data.to_vec());
        self.with(move |c| {
            c.execute(
                "INSERT INTO memory_snapshots (namespace, data, taken_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (namespace) DO UPDATE SET
                   data = excluded.data, taken_at = excluded.taken_at",
                params![namespace, data, Timestamp::now().as_millis()],
            )
            .map(drop)
            .map_err(e)
        })
        .await
    }

    async fn memory_snapshots(&self) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let e = self.sql_err();
        self.with(move |c| {
            let mut st = c
                .prepare("SELECT namespace, data FROM memory_snapshots ORDER BY namespace")
                .map_err(&e)?;
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(&e)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&e)
        })
        .await
    }

    async fn trajectory_put(&self, node: &str, row: &TrajectoryRow) -> Result<bool, Error> {
        let e = self.sql_err();
        let b = Bound::of(row)?;
        let (node, agent, task_type, text) = (
            node.to_owned(),
            row.agent.clone(),
            row.task_type.clone(),
            row.text.clone(),
        );
        self.with(move |c| {
            c.prepare_cached(&UPSERT.replace('$', "?"))
                .and_then(|mut st| {
                    st.execute(params![
                        node,
                        b.id,
                        agent,
                        task_type,
                        b.capabilities,
                        text,
                        b.embedding,
                        b.steps,
                        b.features,
                        b.best_mean,
                        b.started_ms,
                        b.outcome,
                        b.reward,
                        b.latency_ms,
                        b.ended_ms,
                        b.end_seq
                    ])
                })
                .map(|n| n == 1)
                .map_err(e)
        })
        .await
    }

    async fn trajectory_remove(&self, node: &str, id: u64) -> Result<(), Error> {
        let e = self.sql_err();
        let (node, id) = (node.to_owned(), db_id(id)?);
        self.with(move |c| {
            c.prepare_cached("DELETE FROM trajectories WHERE node = ?1 AND id = ?2")
                .and_then(|mut st| st.execute(params![node, id]))
                .map(drop)
                .map_err(e)
        })
        .await
    }

    async fn trajectories(&self, node: &str) -> Result<Vec<TrajectoryRow>, Error> {
        let e = self.sql_err();
        let node = node.to_owned();
        self.with(move |c| {
            let mut st = c
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM trajectories WHERE node = ?1 ORDER BY id"
                ))
                .map_err(&e)?;
            let rows = st
                .query_map([node], |r| {
                    Ok(RawRow {
                        id: r.get(0)?,
                        agent: r.get(1)?,
                        task_type: r.get(2)?,
                        capabilities: r.get(3)?,
                        text: r.get(4)?,
                        embedding: r.get(5)?,
                        steps: r.get(6)?,
                        features: r.get(7)?,
                        best_mean: r.get(8)?,
                        started_ms: r.get(9)?,
                        outcome: r.get(10)?,
                        reward: r.get(11)?,
                        latency_ms: r.get(12)?,
                        ended_ms: r.get(13)?,
                        end_seq: r.get(14)?,
                    })
                })
                .map_err(&e)?;
            rows.map(|r| r.map_err(&e).and_then(RawRow::decode))
                .collect()
        })
        .await
    }

    async fn save_learning_snapshot(&self, node: &str, data: &[u8]) -> Result<(), Error> {
        let e = self.sql_err();
        let (node, data) = (node.to_owned(), data.to_vec());
        self.with(move |c| {
            c.execute(
                "INSERT INTO learning_snapshots (node, data, taken_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (node) DO UPDATE SET data = excluded.data, taken_at = excluded.taken_at",
                params![node, data, Timestamp::now().as_millis()],
            )
            .map(drop)
            .map_err(e)
        })
        .await
    }

    async fn learning_snapshot(&self, node: &str) -> Result<Option<Vec<u8>>, Error> {
        let e = self.sql_err();
        let node = node.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT data FROM learning_snapshots WHERE node = ?1",
                [node],
                |r| r.get(0),
            )
            .optional()
            .map_err(e)
        })
        .await
    }
}

fn write_agent(c: &Connection, a: &AgentRecord) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO agents (id, node, status, doc, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET
           node = excluded.node, status = excluded.status, doc = excluded.doc,
           updated_at = excluded.updated_at",
    )?
    .execute(params![
        a.id,
        a.node,
        a.status.as_str(),
        encode(a),
        a.created_at.as_millis(),
        a.updated_at.as_millis()
    ])
    .map(drop)
}
