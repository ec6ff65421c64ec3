//! The content gate: the one question every path asks before text reaches an agent, a tool,
//! another member or the memory — "may this pass?".
//!
//! The trait lives here, beside the records it guards, so the agent runtime, the swarms and
//! the server can ask it without depending on the scanner; the node answers it with the
//! guard (`mcpflow-guard`) and audits every answer.

use std::fmt::Debug;

/// Where content is crossing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatePoint<'a> {
    /// The arguments of an MCP tool call, before the tool runs.
    ToolArguments {
        /// The tool.
        tool: &'a str,
    },
    /// A task's input, before it is accepted (the agent it goes to is chosen).
    TaskInput {
        /// That agent's instructions ([`crate::AgentSpec::instructions`]), if it has any: a
        /// task asking for what they forbid is an attack on that agent.
        instructions: Option<&'a str>,
    },
    /// What an agent's executor returned, before the task completes with it.
    TaskResult {
        /// The task.
        task: &'a str,
        /// The agent's instructions, if it has any: a result repeating a secret they hold
        /// (a quoted password or key) is a leak.
        instructions: Option<&'a str>,
    },
    /// A message between swarm members, before it is routed.
    AgentMessage {
        /// The sending member.
        from: &'a str,
    },
    /// A value about to be stored in the semantic memory.
    MemoryWrite {
        /// Its namespace.
        namespace: &'a str,
    },
}

impl GatePoint<'_> {
    /// A stable name for logs, metrics and audit (`tool_arguments`, `task_input`, …).
    pub fn name(&self) -> &'static str {
        match self {
            GatePoint::ToolArguments { .. } => "tool_arguments",
            GatePoint::TaskInput { .. } => "task_input",
            GatePoint::TaskResult { .. } => "task_result",
            GatePoint::AgentMessage { .. } => "agent_message",
            GatePoint::MemoryWrite { .. } => "memory_write",
        }
    }
}

/// The gate's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum GateOutcome {
    /// Nothing found.
    Allow,
    /// Suspicious: let through, flagged (and audited) with this summary.
    Warn(String),
    /// Refused: the action does not happen; the reason says what was found.
    Block(String),
}

/// Decides whether content may pass. Implementations must be cheap enough to call on every
/// task, message and tool call, and safe to call from many threads.
pub trait ContentGate: Send + Sync + Debug {
    /// Inspects `text` crossing at `point`, on behalf of `actor` (who asked: a session, an
    /// agent, a member).
    fn inspect(&self, point: GatePoint<'_>, actor: &str, text: &str) -> GateOutcome;
}

/// Appends every string inside `value` to `out`, one per line: the text a gate scans of a JSON
/// payload (tool arguments, a stored value). Object keys are the caller's schema, not content.
pub fn push_strings(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| push_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| push_strings(v, out)),
        _ => {}
    }
}
