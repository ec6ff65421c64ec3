//! How mcpflow agents do their work.
//!
//! An agent hands each task to its [`Executor`] as a [`Job`] and gets a [`Reply`] or an
//! [`ExecError`]. The error says whether trying again may help ([`ExecError::is_retryable`]);
//! the agent runtime owns retries, timeouts and cancellation (it drops the future), so an
//! executor only has to do one attempt well.
//!
//! Executors here: [`Scripted`] (deterministic, for tests, demos and benchmarks),
//! [`OpenAiCompatible`] (OpenAI, vLLM, Ollama, llama.cpp) and [`Anthropic`] (the Messages
//! API), both streaming over server-sent events with tool use; [`build`] makes one from an
//! agent's spec. API keys are [`ApiKey`]s: read from the environment, never printed. The MCP
//! sampling executor lives in the server crate, the only one that speaks MCP, and is injected.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use mcpflow_executors::{Executor, Job, NoProgress, Scripted};
//!
//! let executor = Scripted::new("done: {input}", 0, 0);
//! let reply = executor.execute(&Job::new("t-1", "a-1", "hello"), &NoProgress).await.unwrap();
//! assert_eq!(reply.text, "done: hello");
//! # });
//! ```

#![warn(missing_docs)]

mod anthropic;
mod error;
mod http;
mod job;
mod openai;
mod scripted;
mod secret;
mod spec;
pub mod sse;

pub use anthropic::Anthropic;
pub use error::ExecError;
pub use job::{Job, Reply, ToolCall, ToolSpec, Usage};
pub use openai::OpenAiCompatible;
pub use scripted::Scripted;
pub use secret::ApiKey;
pub use spec::build;

use async_trait::async_trait;

/// Receives partial output while a job runs (streamed tokens), e.g. to send MCP progress.
pub trait Progress: Send + Sync {
    /// A piece of text the model produced.
    fn delta(&self, text: &str);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn delta(&self, _text: &str) {}
}

/// Something that can carry out one attempt of a task.
#[async_trait]
pub trait Executor: Send + Sync + std::fmt::Debug {
    /// A short name for status and logs: `scripted`, `openai_compatible`, `anthropic`, ...
    fn kind(&self) -> &'static str;

    /// Runs one attempt of `job`. Dropping the future cancels the attempt.
    async fn execute(&self, job: &Job, progress: &dyn Progress) -> Result<Reply, ExecError>;
}
