//! The cluster backend: PostgreSQL through a connection pool.
//!
//! Several nodes may share one database, so migrations run under a PostgreSQL advisory lock:
//! the first node to start migrates, the others wait and then find nothing to do.

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use mcpflow_model::{AgentRecord, SessionRecord, SessionState, TaskRecord, Timestamp, Transport};
use tokio_postgres::{NoTls, Row};

use crate::memory::clamp;
use crate::migrate::{CREATE_MIGRATIONS_TABLE, MIGRATIONS};
use crate::trajectory::{Bound, COLUMNS, RawRow, UPSERT, db_id};
use crate::{
    AgentQuery, Error, FINAL_TASK_STATES, MemoryRow, Store, TaskQuery, TrajectoryRow, decode,
    encode,
};

/// Arbitrary but fixed: the advisory-lock key that serialises migrations across nodes.
const MIGRATION_LOCK_KEY: i64 = 0x6d63_7066_6c6f_7701; // "mcpflow" + 1

/// A store in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: Pool,
    location: String,
}

impl PostgresStore {
    /// Connects a pool to `url` (`postgres://user@host:port/db`), checks the server answers and
    /// applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| Error::InvalidUrl {
            url: crate::StoreUrl::Postgres(url.to_owned()).redacted(),
            reason: format!("{e}"),
        })?;
        let location = describe(&config);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .build()
            .map_err(|e| Error::Postgres {
                location: location.clone(),
                message: e.to_string(),
            })?;
        let store = Self { pool, location };
        store.migrate().await?;
        tracing::info!(location = %store.location, "postgres store open");
        Ok(store)
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::Postgres {
            location: self.location.clone(),
            message: e.to_string(),
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, Error> {
        self.pool.get().await.map_err(|e| self.err(e))
    }

    async fn migrate(&self) -> Result<(), Error> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.err(e))?;
        // Transaction-scoped: released at commit or rollback, even if this node dies.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])
            .await
            .map_err(|e| self.err(e))?;
        tx.batch_execute(CREATE_MIGRATIONS_TABLE)
            .await
            .map_err(|e| self.err(e))?;
        let found: i32 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0)::INT FROM schema_migrations",
                &[],
            )
            .await
            .map_err(|e| self.err(e))?
            .get(0);
        let found = found as u32;
        let known = MIGRATIONS.len() as u32;
        if found > known {
            return Err(Error::SchemaTooNew { found, known });
        }
        for m in MIGRATIONS.iter().filter(|m| m.version > found) {
            let fail = |e: tokio_postgres::Error| Error::Migration {
                version: m.version,
                name: m.name,
                message: e.to_string(),
            };
            tx.batch_execute(m.postgres).await.map_err(fail)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                &[&(m.version as i32), &m.name, &Timestamp::now().as_millis()],
            )
            .await
            .map_err(fail)?;
            tracing::info!(
                version = m.version,
                name = m.name,
                "applied postgres migration"
            );
        }
        tx.commit().await.map_err(|e| self.err(e))
    }
}

/// `host:port/db` for logs and status, never the password.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or("postgres");
    format!("postgres://{host}:{port}/{db}")
}

const SESSION_COLUMNS: &str =
    "id, node, transport, protocol_version, client, state, created_at, updated_at";

fn session_from_row(row: &Row) -> Result<SessionRecord, Error> {
    let id: String = row.get(0);
    let transport: String = row.get(2);
    let state: String = row.get(5);
    let corrupt = |reason: String| Error::Corrupt {
        kind: "session",
        id: id.clone(),
        reason,
    };
    let transport = Transport::parse(&transport)
        .ok_or_else(|| corrupt(format!("unknown transport {transport:?}")))?;
    let state =
        SessionState::parse(&state).ok_or_else(|| corrupt(format!("unknown state {state:?}")))?;
    Ok(SessionRecord {
        node: row.get(1),
        transport,
        protocol_version: row.get(3),
        client: row.get(4),
        state,
        created_at: Timestamp(row.get(6)),
        updated_at: Timestamp(row.get(7)),
        id,
    })
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    async fn ping(&self) -> Result<(), Error> {
        let client = self.client().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map(drop)
            .map_err(|e| self.err(e))
    }

    async fn schema_version(&self) -> Result<u32, Error> {
        let client = self.client().await?;
        let v: i32 = client
            .query_one(
                "SELECT COALESCE(MAX(version), 0)::INT FROM schema_migrations",
                &[],
            )
            .await
            .map_err(|e| self.err(e))?
            .get(0);
        Ok(v as u32)
    }

    async fn upsert_session(&self, s: &SessionRecord) -> Result<(), Error> {
        let client = self.client().await?;
        let st = client
            .prepare_cached(
                "INSERT INTO sessions (id, node, transport, protocol_version, client, state, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (id) DO UPDATE SET
                   node = EXCLUDED.node,
                   transport = EXCLUDED.transport,
                   protocol_version = EXCLUDED.protocol_version,
                   client = EXCLUDED.client,
                   state = EXCLUDED.state,
                   updated_at = EXCLUDED.updated_at",
            )
            .await
            .map_err(|e| self.err(e))?;
        client
            .execute(
                &st,
                &[
                    &s.id,
                    &s.node,
                    &s.transport.as_str(),
                    &s.protocol_version,
                    &s.client,
                    &s.state.as_str(),
                    &s.created_at.as_millis(),
                    &s.updated_at.as_millis(),
                ],
            )
            .await
            .map(drop)
            .map_err(|e| self.err(e))
    }

    async fn session(&self, id: &str) -> Result<Option<SessionRecord>, Error> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(|e| self.err(e))?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn describe_session(
        &self,
        id: &str,
        protocol_version: &str,
        client: &str,
    ) -> Result<(), Error> {
        let db = self.client().await?;
        let changed = db
            .execute(
                "UPDATE sessions SET protocol_version = $2, client = $3 WHERE id = $1",
                &[&id, &protocol_version, &client],
            )
            .await
            .map_err(|e| self.err(e))?;
        if changed == 0 {
            return Err(Error::NotFound {
                kind: "session",
                id: id.to_owned(),
            });
        }
        Ok(())
    }

    async fn set_session_state(
        &self,
        id: &str,
        state: SessionState,
        at: Timestamp,
    ) -> Result<SessionRecord, Error> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.err(e))?;
        let row = tx
            .query_opt(
                &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1 FOR UPDATE"),
                &[&id],
            )
            .await
            .map_err(|e| self.err(e))?
            .ok_or_else(|| Error::NotFound {
                kind: "session",
                id: id.to_owned(),
            })?;
        let mut record = session_from_row(&row)?;
        record.transition(state, at)?;
        tx.execute(
            "UPDATE sessions SET state = $2, updated_at = $3 WHERE id = $1",
            &[&id, &state.as_str(), &at.as_millis()],
        )
        .await
        .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(record)
    }

    async fn sessions(
        &self,
        state: Option<SessionState>,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, Error> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions
                     WHERE ($1::TEXT IS NULL OR state = $1)
                     ORDER BY created_at, id LIMIT $2"
                ),
                &[&state.map(SessionState::as_str), &i64::from(limit)],
            )
            .await
            .map_err(|e| self.err(e))?;
        rows.iter().map(session_from_row).collect()
    }

    async fn bury_sessions(&self, node: &str, at: Timestamp) -> Result<u64, Error> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE sessions SET state = 'dead', updated_at = $2 WHERE node = $1 AND state <> 'dead'",
                &[&node, &at.as_millis()],
            )
            .await
            .map_err(|e| self.err(e))
    }

    async fn save_agent(&self, agent: &AgentRecord) -> Result<(), Error> {
        let client = self.client().await?;
        write_agent(&client, agent).await.map_err(|e| self.err(e))
    }

    async fn agent(&self, id: &str) -> Result<Option<AgentRecord>, Error> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT doc FROM agents WHERE id = $1", &[&id])
            .await
            .map_err(|e| self.err(e))?;
        row.map(|r| decode("agent", id, r.get(0))).transpose()
    }

    async fn agents(&self, q: &AgentQuery) -> Result<Vec<AgentRecord>, Error> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, doc FROM agents
                 WHERE ($1::TEXT IS NULL OR node = $1)
                   AND (NOT $2 OR status NOT IN ('stopped', 'given_up'))
                   AND ($3::TEXT IS NULL OR id > $3)
                 ORDER BY id LIMIT $4",
                &[&q.node, &q.live_only, &q.after, &i64::from(q.limit)],
            )
            .await
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| decode("agent", r.get(0), r.get(1)))
            .collect()
    }

    async fn save_tasks(
        &self,
        tasks: &[TaskRecord],
        agents: &[AgentRecord],
    ) -> Result<Vec<bool>, Error> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.err(e))?;
        let st = tx
            .prepare_cached(&format!(
                "INSERT INTO tasks (id, node, state, agent, doc, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (id) DO UPDATE SET
                   state = EXCLUDED.state, agent = EXCLUDED.agent, doc = EXCLUDED.doc,
                   updated_at = EXCLUDED.updated_at
                 WHERE tasks.state NOT IN {FINAL_TASK_STATES}"
            ))
            .await
            .map_err(|e| self.err(e))?;
        let mut written = Vec::with_capacity(tasks.len());
        for t in tasks {
            let n = tx
                .execute(
                    &st,
                    &[
                        &t.id,
                        &t.node,
                        &t.state.as_str(),
                        &t.agent,
                        &encode(t),
                        &t.created_at.as_millis(),
                        &t.updated_at.as_millis(),
                    ],
                )
                .await
                .map_err(|e| self.err(e))?;
            written.push(n == 1);
        }
        for a in agents {
            write_agent(&tx, a).await.map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(written)
    }

    async fn task(&self, id: &str) -> Result<Option<TaskRecord>, Error> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT doc FROM tasks WHERE id = $1", &[&id])
            .await
            .map_err(|e| self.err(e))?;
        row.map(|r| decode("task", id, r.get(0))).transpose()
    }

    async fn tasks(&self, q: &TaskQuery) -> Result<Vec<TaskRecord>, Error> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT id, doc FROM tasks
                     WHERE ($1::TEXT IS NULL OR node = $1)
                       AND ($2::TEXT IS NULL OR state = $2)
                       AND (NOT $3 OR state NOT IN {FINAL_TASK_STATES})
                       AND ($4::TEXT IS NULL OR id > $4)
                     ORDER BY id LIMIT $5"
                ),
                &[
                    &q.node,
                    &q.state.map(|s| s.as_str()),
                    &q.open_only,
                    &q.after,
                    &i64::from(q.limit),
                ],
            )
            .await
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| decode("task", r.get(0), r.get(1)))
            .collect()
    }

    async fn memory_put(&self, row: &MemoryRow, updated_at: u64) -> Result<(), Error> {
        self.client()
            .await?
            .execute(
                "INSERT INTO memory_entries (namespace, key, doc, updated_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (namespace, key) DO UPDATE SET
                   doc = EXCLUDED.doc, updated_at = EXCLUDED.updated_at",
                &[&row.namespace, &row.key, &row.doc, &clamp(updated_at)],
            )
            .await
            .map(drop)
            .map_err(|e| self.err(e))
    }

    async fn memory_remove(&self, namespace: &str, key: &str) -> Result<(), Error> {
        self.client()
            .await?
            .execute(
                "DELETE FROM memory_entries WHERE namespace = $1 AND key = $2",
                &[&namespace, &key],
            )
            .await
            .map(drop)
            .map_err(|e| self.err(e))
    }

    async fn memory_entries(&self) -> Result<Vec<MemoryRow>, Error> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT namespace, key, doc FROM memory_entries ORDER BY namespace, key",
                &[],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| MemoryRow {
                namespace: r.get(0),
                key: r.get(1),
                doc: r.get(2),
            })
            .collect())
    }

    async fn save_memory_snapshot(&self, namespace: &str, data: &[u8]) -> Result<(), Error> {
        self.client()
            .await?
            .execute(
                "INSERT INTO memory_snapshots (namespace, data, taken_at) VALUES ($1, $2, $3)
                 ON CONFLICT (namespace) DO UPDATE SET
                   data = EXCLUDED.data, taken_at = EXCLUDED.taken_at",
                &[&namespace, &data, &Timestamp::now().as_millis()],
            )
            .await
            .map(drop)
            .map_err(|e| self.err(e))
    }

    async fn memory_snapshots(&self) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT namespace, data FROM memory_snapshots ORDER BY namespace",
                &[],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn trajectory_put(&self, node: &str, row: &TrajectoryRow) -> Result<bool, Error> {
        let b = Bound::of(row)?;
        let n = self
            .client()
            .await?
            .execute(
                UPSERT,
                &[
                    &node,
                    &b.id,
                    &row.agent,
                    &row.task_type,
                    &b.capabilities,
                    &row.text,
                    &b.embedding,
                    &b.steps,
                    &b.features,
                    &b.best_mean,
                    &b.started_ms,
                    &b.outcome,
                    &b.reward,
                    &b.latency_ms,
                    &b.ended_ms,
                    &b.end_seq,
                ],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    async fn trajectory_remove(&self, node: &str, id: u64) -> Result<(), Error> {
        let id = db_id(id)?;
        self.client()
            .await?
            .execute(
                "DELETE FROM trajectories WHERE node = $1 AND id = $2",
                &[&node, &id],
            )
            .await
            .map(drop)
            .map_err(|e| self.err(e))
    }

    async fn trajectories(&self, node: &str) -> Result<Vec<TrajectoryRow>, Error> {
        let rows = self
            .client()
            .await?
            .query(
                &format!("SELECT {COLUMNS} FROM trajectories WHERE node = $1 ORDER BY id"),
                &[&node],
            )
            .await
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                RawRow {
                    id: r.get(0),
                    agent: r.get(1),
                    task_type: r.get(2),
                    capabilities: r.get(3),
                    text: r.get(4),
                    embedding: r.get(5),
                    steps: r.get(6),
                    features: r.get(7),
                    best_mean: r.get(8),
                    started_ms: r.get(9),
                    outcome: r.get(10),
                    reward: r.get(11),
                    latency_ms: r.get(12),
                    ended_ms: r.get(13),
                    end_seq: r.get(14),
                }
                .decode()
            })
            .collect()
    }

    async fn save_learning_snapshot(&self, node: &str, data: &[u8]) -> Result<(), Error> {
        self.client()
            .await?
            .execute(
                "INSERT INTO learning_snapshots (node, data, taken_at) VALUES ($1, $2, $3)
                 ON CONFLICT (node) DO UPDATE SET data = EXCLUDED.data, taken_at = EXCLUDED.taken_at",
                &[&node, &data, &Timestamp::now().as_millis()],
            )
            .await
            .map(drop)
            .map_err(|e| self.err(e))
    }

    async fn learning_snapshot(&self, node: &str) -> Result<Option<Vec<u8>>, Error> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT data FROM learning_snapshots WHERE node = $1",
                &[&node],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(row.map(|r| r.get(0)))
    }
}

async fn write_agent(
    c: &impl deadpool_postgres::GenericClient,
    a: &AgentRecord,
) -> Result<(), tokio_postgres::Error> {
    c.execute(
        "INSERT INTO agents (id, node, status, doc, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET
           node = EXCLUDED.node, status = EXCLUDED.status, doc = EXCLUDED.doc,
           updated_at = EXCLUDED.updated_at",
        &[
            &a.id,
            &a.node,
            &a.status.as_str(),
            &encode(a),
            &a.created_at.as_millis(),
            &a.updated_at.as_millis(),
        ],
    )
    .await
    .map(drop)
}
