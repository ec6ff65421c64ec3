//! The vocabulary every mcpflow crate shares: sessions, agent specs, task states, events.
//!
//! This crate is pure data: identifiers, records and events with their serde forms and the rules
//! that keep them valid (for example which [`SessionState`] may follow which). It performs no I/O
//! and knows no async runtime, so any crate — and any embedder — can depend on it cheaply.
//!
//! ```
//! use mcpflow_model::{SessionRecord, SessionState, Timestamp, Transport};
//!
//! let mut session = SessionRecord::new("s-1", "node-a", Transport::StreamableHttp, Timestamp::now());
//! assert_eq!(session.state, SessionState::Initializing);
//! session.transition(SessionState::Active, Timestamp::now()).unwrap();
//! // A dead session never comes back.
//! session.transition(SessionState::Dead, Timestamp::now()).unwrap();
//! assert!(session.transition(SessionState::Active, Timestamp::now()).is_err());
//! ```

mod agent;
mod event;
mod gate;
mod session;
mod task;
mod time;

pub use agent::{
    ANTHROPIC_BASE_URL, AgentLimits, AgentRecord, AgentSpec, AgentState, AgentStatus,
    DEFAULT_MAX_TOKENS, ExecutorSpec, MAX_CAPABILITIES, MAX_INSTRUCTIONS_LEN, MAX_LABEL_LEN,
    MAX_MAILBOX, RestartPolicy, SpecError, new_agent_id,
};
pub use event::Event;
pub use gate::{ContentGate, GateOutcome, GatePoint, push_strings};
pub use session::{InvalidTransition, SessionRecord, SessionState, Transport};
pub use task::{MAX_TASK_INPUT, TaskRecord, TaskSpec, TaskState, new_task_id};
pub use time::Timestamp;
