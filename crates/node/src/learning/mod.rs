//! The node's learning router on the node's store.
//!
//! intel's [`Router`] is synchronous and writes every trajectory change through a
//! [`TrajectoryPersistence`] while it holds its lock. The store is async. Instead of blocking
//! on the store inside that lock, [`StoreTrajectories`] hands each write, in order, to one
//! writer task over a bounded channel, and [`NodeLearning`] waits for the writer to have
//! stored everything up to its change before it answers: **a start, step or end is in the
//! store when [`NodeLearning::start`], [`NodeLearning::record_step`] or [`NodeLearning::end`]
//! returns `Ok`** (and so before the MCP tool answers). Learning snapshots (after each
//! cycle) go through the same writer, after the end that triggered the cycle.
//!
//! If a write fails (after a few retries) the writer stops applying writes — applying later
//! ones out of order could store a state that never existed — and every later change is
//! refused before it touches the router (`nothing was changed`), until the node restarts and
//! reloads from the store. The change whose write failed was applied in memory: the caller
//! gets [`LearningError::NotDurable`], saying so.
//!
//! At open, the node reads its trajectories and snapshot from the store, then opens the
//! router on them (see [`mcpflow_intel::routing`] for how learning is restored: the snapshot,
//! then the ends after it; open trajectories resume with the decision captured at their
//! start).

mod writer;

pub use writer::StoreTrajectories;

use mcpflow_intel::memory::SystemClock;
use mcpflow_intel::routing::{Ended, Router, RouterConfig, RoutingError};
use mcpflow_intel::trajectory::{Outcome, Step, TaskSpec};
use mcpflow_store::DynStore;
use std::sync::Arc;

/// Why a learning change failed.
#[derive(Debug, thiserror::Error)]
pub enum LearningError {
    /// The router refused it (unknown id, ended twice, bad input, persistence refused).
    #[error(transparent)]
    Routing(#[from] RoutingError),
    /// The change was applied in memory but could not be stored.
    #[error(
        "the change was applied but could not be stored ({0}); learning accepts no further trajectory changes until the node restarts and reloads from the store — check the store and restart"
    )]
    NotDurable(String),
}

/// The router, with every trajectory change durable before it is acknowledged.
///
/// Dereferences to the [`Router`] for ranking, agent registration and statistics; its own
/// `start`, `record_step` and `end` (async, durable) shadow the router's.
#[derive(Debug)]
pub struct NodeLearning {
    router: Router,
    writer: Arc<StoreTrajectories>,
}

impl NodeLearning {
    /// Loads `node`'s trajectories and learning snapshot from `store`, starts the writer and
    /// opens the router on them.
    pub async fn open(
        store: DynStore,
        node: &str,
        config: RouterConfig,
    ) -> Result<Self, crate::Error> {
        let writer = Arc::new(StoreTrajectories::load(store, node).await?);
        let router = match Router::open(config, writer.clone(), Arc::new(SystemClock)) {
            Ok(r) => r,
            Err(e) => {
                writer.stop().await;
                return Err(crate::Error::Learning(e.to_string()));
            }
        };
        // Restoring may run learning cycles (ends after the snapshot): store their snapshots.
        if let Err(e) = writer.flush().await {
            writer.stop().await;
            return Err(crate::Error::Learning(format!(
                "storing the restored learning state: {e}"
            )));
        }
        tracing::info!(restore = %router.learning_stats().restore, "learning restored");
        Ok(Self { router, writer })
    }

    /// The router (ranking, agents, statistics; its own trajectory methods are not durable
    /// on return — use this type's).
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Opens a trajectory of `agent` on `task`; stored when this returns its id.
    pub async fn start(&self, agent: &str, task: TaskSpec) -> Result<u64, LearningError> {
        let id = self.router.start(agent, task)?;
        self.durable().await?;
        Ok(id)
    }

    /// Appends a step to trajectory `id`; stored when this returns.
    pub async fn record_step(&self, id: u64, step: Step) -> Result<(), LearningError> {
        self.router.record_step(id, step)?;
        self.durable().await
    }

    /// Ends trajectory `id` (running a learning cycle when one is due); the ending, and the
    /// cycle's snapshot, are stored when this returns.
    pub async fn end(
        &self,
        id: u64,
        outcome: Outcome,
        reward: f32,
        latency_ms: u64,
    ) -> Result<Ended, LearningError> {
        let ended = self.router.end(id, outcome, reward, latency_ms)?;
        self.durable().await?;
        Ok(ended)
    }

    /// Waits for every queued write, then stops the writer (later changes are refused).
    pub async fn shutdown(&self) {
        if let Err(e) = self.writer.flush().await {
            tracing::error!(error = %e, "learning writes lost at shutdown");
        }
        self.writer.stop().await;
    }

    async fn durable(&self) -> Result<(), LearningError> {
        self.writer.flush().await.map_err(LearningError::NotDurable)
    }
}

impl std::ops::Deref for NodeLearning {
    type Target = Router;

    fn deref(&self) -> &Router {
        &self.router
    }
}

#[cfg(test)]
mod tests;
