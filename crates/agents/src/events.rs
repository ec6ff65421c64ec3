//! What the runtime tells its listeners (the node turns these into bus events and MCP
//! resource notifications).

use mcpflow_model::{AgentStatus, TaskState};
use serde::Serialize;

use crate::Health;

/// One change in the runtime.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RuntimeEvent {
    /// An agent changed status or health.
    Agent {
        /// The agent.
        id: String,
        /// Its status now.
        status: AgentStatus,
        /// Its health now.
        health: Health,
    },
    /// A task changed state.
    Task {
        /// The task.
        id: String,
        /// Its state now.
        state: TaskState,
        /// The agent it is on, if any.
        agent: Option<String>,
    },
    /// A running task produced output (streamed text).
    TaskProgress {
        /// The task.
        id: String,
        /// The new text.
        text: String,
    },
}

/// Counters since the runtime started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RuntimeStats {
    /// Agents live now.
    pub agents_live: u64,
    /// Agents spawned (not counting restarts or recovery).
    pub agents_spawned: u64,
    /// Agents restored from the store at start.
    pub agents_recovered: u64,
    /// Supervisor restarts.
    pub restarts: u64,
    /// Agents given up (restart intensity exceeded, or temporary).
    pub given_up: u64,
    /// Tasks accepted.
    pub tasks_submitted: u64,
    /// Open tasks restored from the store at start.
    pub tasks_recovered: u64,
    /// Tasks that reached a final state (each exactly once).
    pub tasks_finished: u64,
    /// Of which completed.
    pub tasks_completed: u64,
    /// Of which failed.
    pub tasks_failed: u64,
    /// Of which cancelled.
    pub tasks_cancelled: u64,
    /// Attempts retried after a failure or timeout.
    pub retries: u64,
    /// Tasks moved to another agent because theirs stopped or was given up.
    pub redistributed: u64,
    /// Attempts cut short because their agent crashed or stopped.
    pub interrupted: u64,
}
