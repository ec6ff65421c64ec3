//! Facts published on the node's event bus.
//!
//! Subsystems never call each other; they learn of each other's facts through these events.
//! Interfaces (MCP subscriptions, a future dashboard) consume them too.

use serde::{Deserialize, Serialize};

use crate::{AgentStatus, SessionState, TaskState};

/// One fact that happened on this node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A client session moved to a new lifecycle state.
    SessionStateChanged {
        /// The session's id (the `Mcp-Session-Id` for HTTP sessions).
        session_id: String,
        /// Its new state.
        state: SessionState,
    },
    /// An agent changed status (spawned, restarting, running again, stopped, given up).
    AgentChanged {
        /// The agent.
        agent_id: String,
        /// Its status now.
        status: AgentStatus,
    },
    /// A task changed state.
    TaskChanged {
        /// The task.
        task_id: String,
        /// Its state now.
        state: TaskState,
        /// The agent it is on, if any.
        agent_id: Option<String>,
    },
    /// A swarm changed: created, dissolved, a member joined, was suspected, recovered or was
    /// removed (with topology repair), its leader changed, or a proposal was decided.
    SwarmChanged {
        /// The swarm (`swarm-N`).
        swarm_id: String,
        /// What happened: `created`, `dissolved`, `joined`, `suspected`, `recovered`,
        /// `removed`, `leader_changed` or `decided`.
        change: String,
        /// The agent concerned (the new leader for `leader_changed`), if any.
        agent_id: Option<String>,
    },
    /// The contents of a resource changed; subscribers of `uri` should be told.
    ResourceUpdated {
        /// The resource's URI.
        uri: String,
    },
    /// The set of resources, tools or prompts changed.
    ListChanged {
        /// Which list: `"resources"`, `"tools"` or `"prompts"`.
        list: String,
    },
}
