//! [`TrajectoryPersistence`] on the store through one writer task: no blocking, writes in
//! the router's order, a flush barrier for callers that must wait for durability.

use mcpflow_intel::memory::PersistenceError;
use mcpflow_intel::trajectory::{
    Decision, Ending, Outcome, Step, TaskSpec, Trajectory, TrajectoryPersistence,
};
use mcpflow_store::{DecisionRow, DynStore, EndingRow, StepRow, TrajectoryRow};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Writes queued and not yet stored, at most. Every tool call waits for its own write, so
/// the queue holds about one write per concurrent call; a full queue refuses the change.
pub const WRITE_QUEUE: usize = 1024;

/// Attempts per write before the writer gives up (transient store errors are retried).
const ATTEMPTS: u32 = 3;

enum Op {
    Put(Box<TrajectoryRow>),
    Remove(u64),
    Snapshot(Vec<u8>),
    Flush(oneshot::Sender<Result<(), String>>),
    Stop(oneshot::Sender<()>),
}

/// What the router reads once at open.
#[derive(Debug, Default)]
struct Loaded {
    trajectories: Option<Vec<Trajectory>>,
    snapshot: Option<Option<Vec<u8>>>,
}

/// The node's [`TrajectoryPersistence`]: writes are queued (never blocking the router's
/// lock) to a writer task that stores them in order; [`StoreTrajectories::flush`] waits for
/// them. What the store held at open is read before the router opens.
#[derive(Debug)]
pub struct StoreTrajectories {
    tx: mpsc::Sender<Op>,
    /// The first write that failed for good; no write is applied after it.
    failed: Arc<Mutex<Option<String>>>,
    loaded: Mutex<Loaded>,
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Op::Put(_) => "Put",
            Op::Remove(_) => "Remove",
            Op::Snapshot(_) => "Snapshot",
            Op::Flush(_) => "Flush",
            Op::Stop(_) => "Stop",
        })
    }
}

impl StoreTrajectories {
    /// Reads `node`'s trajectories and learning snapshot from `store` and starts the writer.
    pub async fn load(store: DynStore, node: &str) -> Result<Self, mcpflow_store::Error> {
        let trajectories = store
            .trajectories(node)
            .await?
            .into_iter()
            .map(from_row)
            .collect();
        let snapshot = store.learning_snapshot(node).await?;
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let failed = Arc::new(Mutex::new(None));
        tokio::spawn(write_loop(store, node.to_owned(), rx, failed.clone()));
        Ok(Self {
            tx,
            failed,
            loaded: Mutex::new(Loaded {
                trajectories: Some(trajectories),
                snapshot: Some(snapshot),
            }),
        })
    }

    /// Waits until every write queued before this call is stored; the error of the write
    /// that failed, if one did (then nothing after it was stored).
    pub async fn flush(&self) -> Result<(), String> {
        let (reply, done) = oneshot::channel();
        self.tx
            .send(Op::Flush(reply))
            .await
            .map_err(|_| stopped())?;
        done.await.map_err(|_| stopped())?
    }

    /// Stores what is queued, then stops the writer; later writes are refused.
    pub async fn stop(&self) {
        let (reply, done) = oneshot::channel();
        if self.tx.send(Op::Stop(reply)).await.is_ok() {
            let _ = done.await;
        }
    }

    fn queue(&self, op: Op) -> Result<(), PersistenceError> {
        if let Some(e) = &*lock(&self.failed) {
            return Err(PersistenceError(format!(
                "an earlier learning write failed ({e}); restart the node to reload learning from the store"
            )));
        }
        self.tx.try_send(op).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => PersistenceError(format!(
                "learning's store writer is {WRITE_QUEUE} writes behind; retry shortly"
            )),
            mpsc::error::TrySendError::Closed(_) => PersistenceError(stopped()),
        })
    }
}

fn stopped() -> String {
    "learning's store writer has stopped (the node is shutting down)".to_owned()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded values are plain options: a panic elsewhere cannot leave them half-set.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TrajectoryPersistence for StoreTrajectories {
    fn put(&self, trajectory: &Trajectory) -> Result<(), PersistenceError> {
        self.queue(Op::Put(Box::new(to_row(trajectory))))
    }

    fn remove(&self, id: u64) -> Result<(), PersistenceError> {
        self.queue(Op::Remove(id))
    }

    fn load_all(&self) -> Result<Vec<Trajectory>, PersistenceError> {
        lock(&self.loaded).trajectories.take().ok_or_else(read_once)
    }

    fn save_snapshot(&self, data: &[u8]) -> Result<(), PersistenceError> {
        self.queue(Op::Snapshot(data.to_vec()))
    }

    fn load_snapshot(&self) -> Result<Option<Vec<u8>>, PersistenceError> {
        lock(&self.loaded).snapshot.take().ok_or_else(read_once)
    }
}

fn read_once() -> PersistenceError {
    PersistenceError(
        "the stored trajectories are read once, when the node opens learning; open a new StoreTrajectories to read them again".into(),
    )
}

async fn write_loop(
    store: DynStore,
    node: String,
    mut rx: mpsc::Receiver<Op>,
    failed: Arc<Mutex<Option<String>>>,
) {
    while let Some(op) = rx.recv().await {
        let poisoned = lock(&failed).is_some();
        let result = match op {
            Op::Flush(reply) => {
                let _ = reply.send(match &*lock(&failed) {
                    Some(e) => Err(e.clone()),
                    None => Ok(()),
                });
                continue;
            }
            Op::Stop(reply) => {
                // Closed before answering: no write is accepted once `stop` has returned.
                rx.close();
                let _ = reply.send(());
                return;
            }
            // Later writes would store a state that never existed.
            _ if poisoned => continue,
            Op::Put(row) => {
                let id = row.id;
                retry(|| store.trajectory_put(&node, &row))
                    .await
                    .map_err(|e| format!("storing trajectory {id}: {e}"))
                    .and_then(|written| {
                        written.then_some(()).ok_or_else(|| {
                            format!(
                                "trajectory {id} has already ended in the store; another process writes this node's learning"
                            )
                        })
                    })
            }
            Op::Remove(id) => retry(|| store.trajectory_remove(&node, id))
                .await
                .map_err(|e| format!("dropping trajectory {id}: {e}")),
            Op::Snapshot(data) => retry(|| store.save_learning_snapshot(&node, &data))
                .await
                .map_err(|e| format!("storing the learning snapshot: {e}")),
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "learning write failed; no further learning writes until restart");
            *lock(&failed) = Some(e);
        }
    }
}

async fn retry<T, F, Fut>(mut f: F) -> Result<T, mcpflow_store::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, mcpflow_store::Error>>,
{
    let mut attempt = 1;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt >= ATTEMPTS || !transient(&e) => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, attempt, "learning write failed; retrying");
                tokio::time::sleep(Duration::from_millis(100 << (2 * attempt))).await;
                attempt += 1;
            }
        }
    }
}

/// Errors worth another attempt: the database, not the data.
fn transient(e: &mcpflow_store::Error) -> bool {
    matches!(
        e,
        mcpflow_store::Error::Sqlite { .. } | mcpflow_store::Error::Postgres { .. }
    )
}

fn to_row(t: &Trajectory) -> TrajectoryRow {
    TrajectoryRow {
        id: t.id,
        agent: t.agent.clone(),
        task_type: t.task.task_type.clone(),
        capabilities: t.task.capabilities.clone(),
        text: t.task.text.clone(),
        embedding: t.task.embedding.clone(),
        steps: t
            .steps
            .iter()
            .map(|s| StepRow {
                action: s.action.clone(),
                observation: s.observation.clone(),
                ms: s.ms,
            })
            .collect(),
        decision: t.decision.as_ref().map(|d| DecisionRow {
            features: d.features.clone(),
            best_mean: d.best_mean,
        }),
        started_ms: t.started_ms,
        ending: t.ending.as_ref().map(|e| EndingRow {
            success: e.outcome == Outcome::Success,
            reward: e.reward,
            latency_ms: e.latency_ms,
            ended_ms: e.ended_ms,
            seq: e.seq,
        }),
    }
}

fn from_row(r: TrajectoryRow) -> Trajectory {
    Trajectory {
        id: r.id,
        agent: r.agent,
        task: TaskSpec {
            task_type: r.task_type,
            capabilities: r.capabilities,
            text: r.text,
            embedding: r.embedding,
        },
        steps: r
            .steps
            .into_iter()
            .map(|s| Step::new(s.action, s.observation, s.ms))
            .collect(),
        started_ms: r.started_ms,
        ending: r.ending.map(|e| Ending {
            outcome: if e.success {
                Outcome::Success
            } else {
                Outcome::Failure
            },
            reward: e.reward,
            latency_ms: e.latency_ms,
            ended_ms: e.ended_ms,
            seq: e.seq,
        }),
        decision: r.decision.map(|d| Decision {
            features: d.features,
            best_mean: d.best_mean,
        }),
    }
}
