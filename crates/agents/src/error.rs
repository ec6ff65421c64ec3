//! The agent runtime's one error type. Every message says what to do next.

use mcpflow_model::{AgentStatus, SpecError, TaskState};

/// What the runtime refuses, and why.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The agent or task spec is unusable; the message names the field.
    #[error(transparent)]
    InvalidSpec(#[from] SpecError),
    /// The executor could not be built from the spec (e.g. its API key variable is unset).
    #[error("cannot build the agent's executor: {0}")]
    Executor(String),
    /// The security gate refused the content (a task input).
    #[error("refused by the security gate: {0}")]
    Blocked(String),
    /// No agent has this id.
    #[error("no agent with id {0:?} (agent_list shows the agents)")]
    UnknownAgent(String),
    /// No task has this id.
    #[error("no task with id {0:?} (task_list shows the tasks)")]
    UnknownTask(String),
    /// The agent exists but takes no tasks.
    #[error("agent {id} is {status} and takes no tasks; spawn a new agent or pick another")]
    AgentNotRunning {
        /// The agent.
        id: String,
        /// Its status.
        status: AgentStatus,
    },
    /// The chosen agent lacks capabilities the task needs.
    #[error("agent {id} lacks the capabilities {missing:?} this task needs")]
    MissingCapabilities {
        /// The agent.
        id: String,
        /// What it lacks.
        missing: Vec<String>,
    },
    /// No running agent has every capability the task needs.
    #[error(
        "no running agent has the capabilities {0:?}; spawn one with agent_spawn or ask for fewer"
    )]
    NoCapableAgent(Vec<String>),
    /// Back-pressure: the agent's mailbox is full.
    #[error(
        "agent {id}'s mailbox is full ({capacity} tasks waiting); retry later or pick another agent"
    )]
    MailboxFull {
        /// The agent.
        id: String,
        /// Its mailbox bound (`limits.mailbox`).
        capacity: u32,
    },
    /// Back-pressure: every capable agent's mailbox is full.
    #[error(
        "all {agents} running agents with the capabilities {capabilities:?} have full mailboxes; retry later or spawn more agents"
    )]
    AllMailboxesFull {
        /// What the task needs.
        capabilities: Vec<String>,
        /// How many capable agents there are.
        agents: usize,
    },
    /// The task already ended.
    #[error("task {id} already ended ({state}); its outcome is final")]
    AlreadyFinal {
        /// The task.
        id: String,
        /// Its final state.
        state: TaskState,
    },
    /// The store failed; nothing was acknowledged.
    #[error("store: {0}")]
    Store(#[from] mcpflow_store::Error),
    /// The runtime is shutting down.
    #[error("the agent runtime is shutting down; retry on another node or after restart")]
    ShuttingDown,
}
