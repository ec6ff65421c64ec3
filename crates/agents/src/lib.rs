//! The agent runtime of mcpflow: spawn, registry, supervision, health and tasks.
//!
//! An agent is a tokio task with a bounded mailbox and an [`Executor`](mcpflow_executors::Executor)
//! that does the work. The [`Runtime`] is the façade:
//!
//! - **spawn**: validate the spec (errors name the field) → build the executor → persist →
//!   register → start. The agent exists durably before the call returns.
//! - **registry**: O(1) lookup by id; listing by role, capability, status and health with
//!   cursor pagination; scheduling that looks at a handful of candidates, however many agents.
//! - **supervision**: a crashed agent (panic or abort) is restarted with its id and the state
//!   stored for it, at most 5 times in 60 s (configurable); past that — or at once for
//!   `temporary` agents — it is given up and its queued and running tasks go to healthy agents
//!   with the same capabilities.
//! - **health**: a periodic monitor judges each agent from its error rate, mailbox fill and
//!   running time; scheduling avoids unhealthy agents and favours the least loaded.
//! - **tasks**: `queued → assigned → running → completed | failed | cancelled`, with per-attempt
//!   timeouts, cancellation, bounded retries with exponential backoff and exactly one final
//!   outcome. A task is durable before `submit` returns; after a crash of the whole process,
//!   [`Runtime::start`] restores agents and re-queues every unfinished task.
//!
//! Writes go through a group-commit journal: one store transaction per batch.

#![warn(missing_docs)]

mod agent;
mod error;
mod events;
mod health;
mod journal;
mod registry;
mod runtime;
mod supervisor;
mod tasks;
mod worker;

pub use agent::{AgentInfo, Health, Mailbox};
pub use error::Error;
pub use events::{RuntimeEvent, RuntimeStats};
pub use registry::AgentFilter;
pub use runtime::{ExecutorFactory, Page, Runtime, RuntimeConfig, standard_executors};
