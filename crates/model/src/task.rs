//! Tasks and their lifecycle: `queued → assigned → running → completed | failed | cancelled`.
//!
//! A task may go back to `queued` (a retry, or its agent was given up and the task is
//! redistributed), but once it reaches a final state it never leaves it: every task has
//! exactly one final outcome.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Accepted, waiting for an agent.
    Queued,
    /// In an agent's mailbox.
    Assigned,
    /// Being executed.
    Running,
    /// Finished with a result. Final.
    Completed,
    /// Finished without one (the reason is recorded). Final.
    Failed,
    /// Stopped on request. Final.
    Cancelled,
}

impl TaskState {
    /// Whether nothing can follow this state.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskState::Completed | TaskState::Failed | TaskState::Cancelled
        )
    }

    /// Whether a task in `self` may move to `next`.
    pub fn can_become(self, next: TaskState) -> bool {
        use TaskState::*;
        match (self, next) {
            (s, _) if s.is_final() => false,
            (_, Failed | Cancelled) => true,
            (Queued, Assigned) => true,
            (Assigned, Running | Queued) => true,
            (Running, Completed | Queued) => true,
            _ => false,
        }
    }

    /// The stable name used in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Assigned => "assigned",
            TaskState::Running => "running",
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TaskState {
    /// Parses [`TaskState::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        use TaskState::*;
        [Queued, Assigned, Running, Completed, Failed, Cancelled]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// Largest task input accepted, in bytes; bigger inputs are refused, not truncated.
pub const MAX_TASK_INPUT: usize = 256 * 1024;

/// A request to run a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// The input (prompt) given to the agent's executor.
    pub input: String,
    /// Capabilities the agent must have (all of them).
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Run on this agent only (otherwise the least-loaded capable agent is chosen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Attempts before the task fails (default: the agent's `limits.max_attempts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Per-attempt time limit (default: the agent's `limits.task_timeout_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Who submitted it, as the interface it came through names them (e.g. the MCP request that
    /// can answer an MCP-sampling agent's model calls). Set by that interface, never by callers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl TaskSpec {
    /// A task with just an input.
    pub fn new(input: impl Into<String>) -> Self {
        Self {
            input: input.into(),
            capabilities: Vec::new(),
            agent: None,
            max_attempts: None,
            timeout_ms: None,
            origin: None,
        }
    }

    /// Checks sizes and ranges; the error names the field.
    pub fn validate(&self) -> Result<(), crate::SpecError> {
        let invalid = |field: &str, reason: String| crate::SpecError {
            field: field.into(),
            reason,
        };
        if self.input.len() > MAX_TASK_INPUT {
            return Err(invalid(
                "input",
                format!(
                    "is {} bytes; at most {MAX_TASK_INPUT} are accepted (store large data in memory and pass a key)",
                    self.input.len()
                ),
            ));
        }
        if self.capabilities.len() > crate::MAX_CAPABILITIES {
            return Err(invalid(
                "capabilities",
                format!("at most {} capabilities", crate::MAX_CAPABILITIES),
            ));
        }
        for (i, c) in self.capabilities.iter().enumerate() {
            if c.is_empty() || c.len() > crate::MAX_LABEL_LEN {
                return Err(invalid(
                    &format!("capabilities[{i}]"),
                    format!("must be 1 to {} bytes", crate::MAX_LABEL_LEN),
                ));
            }
        }
        if let Some(n) = self.max_attempts
            && !(1..=10).contains(&n)
        {
            return Err(invalid("max_attempts", "must be 1 to 10".into()));
        }
        if self.timeout_ms == Some(0) {
            return Err(invalid("timeout_ms", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// A task as stored: what was asked, where it is, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Stable id (`task-…`, time-ordered).
    pub id: String,
    /// The node that accepted it.
    pub node: String,
    /// What was asked.
    pub spec: TaskSpec,
    /// Where it is.
    pub state: TaskState,
    /// The agent it is (or was last) assigned to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Attempts started so far.
    pub attempts: u32,
    /// The reply, once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Why it failed or was cancelled; or why the last attempt failed while it is retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it was accepted.
    pub created_at: crate::Timestamp,
    /// When it last changed.
    pub updated_at: crate::Timestamp,
}

/// A fresh, time-ordered task id.
pub fn new_task_id() -> String {
    format!("task-{}", uuid::Uuid::now_v7().simple())
}

#[cfg(test)]
mod tests {
    use super::TaskState::{self, *};

    const ALL: [TaskState; 6] = [Queued, Assigned, Running, Completed, Failed, Cancelled];

    #[test]
    fn final_states_are_final_and_reachable_from_every_live_state() {
        for s in ALL {
            for next in ALL {
                if s.is_final() {
                    assert!(!s.can_become(next), "{s} -> {next}");
                }
            }
            if !s.is_final() {
                assert!(s.can_become(Failed) && s.can_become(Cancelled), "{s}");
            }
        }
    }

    #[test]
    fn only_a_running_task_completes_and_retries_go_back_to_the_queue() {
        assert!(Running.can_become(Completed));
        assert!(!Queued.can_become(Completed));
        assert!(!Assigned.can_become(Completed));
        assert!(Running.can_become(Queued));
        assert!(Assigned.can_become(Queued));
        assert!(!Queued.can_become(Running));
    }

    proptest::proptest! {
        /// Any walk through allowed moves reaches at most one final state, and stays there.
        #[test]
        fn at_most_one_final_outcome(walk in proptest::collection::vec(0usize..6, 0..40)) {
            let mut state = Queued;
            let mut finals = 0;
            for i in walk {
                let next = ALL[i];
                if state.can_become(next) {
                    state = next;
                    if state.is_final() {
                        finals += 1;
                    }
                }
            }
            proptest::prop_assert!(finals <= 1);
        }
    }
}
