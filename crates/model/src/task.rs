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
