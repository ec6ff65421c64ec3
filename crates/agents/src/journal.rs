//! Group commit: every task and agent write goes through one writer that batches whatever has
//! queued up into a single store transaction.
//!
//! Under load this turns thousands of small transactions into a few large ones. A submitter
//! waits for its batch (a task is acknowledged only once durable); other writes (state changes,
//! outcomes) are fire-and-forget but never dropped: a failed batch is retried until the store
//! takes it, loudly.

use mcpflow_model::{AgentRecord, TaskRecord};
use mcpflow_store::DynStore;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Most writes in one transaction.
const MAX_BATCH: usize = 1024;
/// Attempts before a waiting submitter is told the store failed.
const ACKED_ATTEMPTS: u32 = 3;

#[derive(Debug)]
struct Write {
    task: Option<TaskRecord>,
    agent: Option<AgentRecord>,
    ack: Option<oneshot::Sender<Result<(), String>>>,
}

/// The handle writers use. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Journal {
    // Unbounded on purpose: every write belongs to a task or agent already admitted under a
    // bound (mailboxes), so the queue is bounded by them; blocking here would stall agents.
    tx: mpsc::UnboundedSender<Write>,
    // Set at shutdown: later writes (an aborted agent finishing its last poll) are dropped, as a
    // crash would drop them, instead of landing after a successor has read the store.
    // A lock, not a flag: a write that saw "open" is queued before `close` returns.
    closed: Arc<RwLock<bool>>,
}

impl Journal {
    /// Starts the writer task for `store`.
    pub fn start(store: DynStore) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer(store, rx));
        Self {
            tx,
            closed: Arc::new(RwLock::new(false)),
        }
    }

    /// Stops accepting writes; what is already queued is still written (see [`Self::flush`]).
    pub fn close(&self) {
        *self.closed.write().unwrap_or_else(|p| p.into_inner()) = true;
    }

    /// Queues a write.
    pub fn record(&self, task: Option<TaskRecord>, agent: Option<AgentRecord>) {
        let closed = self.closed.read().unwrap_or_else(|p| p.into_inner());
        if *closed {
            tracing::debug!("journal closed: write after shutdown dropped");
            return;
        }
        let _ = self.tx.send(Write {
            task,
            agent,
            ack: None,
        });
    }

    /// Writes and waits until the write is durable.
    pub async fn commit(
        &self,
        task: Option<TaskRecord>,
        agent: Option<AgentRecord>,
    ) -> Result<(), String> {
        let (ack, done) = oneshot::channel();
        {
            let closed = self.closed.read().unwrap_or_else(|p| p.into_inner());
            if *closed && (task.is_some() || agent.is_some()) {
                return Err("the agent runtime is shutting down".into());
            }
            self.tx
                .send(Write {
                    task,
                    agent,
                    ack: Some(ack),
                })
                .map_err(|_| "the journal writer stopped".to_string())?;
        }
        done.await
            .unwrap_or_else(|_| Err("the journal writer stopped".into()))
    }

    /// Waits until everything queued before this call is durable.
    pub async fn flush(&self) -> Result<(), String> {
        self.commit(None, None).await
    }
}

async fn writer(store: DynStore, mut rx: mpsc::UnboundedReceiver<Write>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let tasks: Vec<TaskRecord> = batch.iter().filter_map(|w| w.task.clone()).collect();
            let agents: Vec<AgentRecord> = batch.iter().filter_map(|w| w.agent.clone()).collect();
            let result = if tasks.is_empty() && agents.is_empty() {
                Ok(Vec::new())
            } else {
                store.save_tasks(&tasks, &agents).await
            };
            match result {
                Ok(_) => {
                    for w in batch.drain(..) {
                        if let Some(ack) = w.ack {
                            let _ = ack.send(Ok(()));
                        }
                    }
                    break;
                }
                Err(e) => {
                    tracing::error!(
                        error = %e,
                        attempt,
                        writes = batch.len(),
                        "journal: store write failed; retrying"
                    );
                    if attempt == ACKED_ATTEMPTS {
                        // Waiting submitters learn now and their writes are dropped (those
                        // tasks were never acknowledged); everything else keeps being retried.
                        batch.retain_mut(|w| match w.ack.take() {
                            Some(ack) => {
                                let _ = ack.send(Err(e.to_string()));
                                false
                            }
                            None => true,
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt.min(20))))
                        .await;
                }
            }
        }
    }
}
