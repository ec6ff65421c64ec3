//! The MCP sampling executor: an agent whose model is the connected MCP client's.
//!
//! `task_submit` opens a [`Route`] from a fresh origin id to its request context (only when the
//! client declared the sampling capability) and stamps the task with that origin; the agent's
//! executor finds the route by the job's origin and asks the client for a completion the way
//! the request's protocol allows (`sampling/createMessage`, or `tasks/update` input inside an
//! MCP task). The route closes when the task ends, so a task whose submitter is gone fails with
//! a reason instead of waiting forever.

#![allow(deprecated)] // sampling is SEP-2577-deprecated in rmcp 3.x, still used by clients.

use std::sync::Arc;

use async_trait::async_trait;
use dashmap::DashMap;
use mcpflow_agents::ExecutorFactory;
use mcpflow_executors::{ExecError, Executor, Job, Progress, Reply, Usage};
use mcpflow_model::{AgentSpec, ExecutorSpec};
use rmcp::model::{CreateMessageRequestParams, SamplingContent, SamplingMessageContentBlock};
use serde_json::json;

use crate::mcp::{Asked, Cx};

/// Where MCP-sampling agents find the client that submitted their task.
#[derive(Clone, Default)]
pub struct SamplingBridge {
    routes: Arc<DashMap<String, Cx>>,
}

impl std::fmt::Debug for SamplingBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamplingBridge")
            .field("routes", &self.routes.len())
            .finish()
    }
}

impl SamplingBridge {
    /// A bridge with no routes.
    pub fn new() -> Self {
        Self::default()
    }

    /// The node's executor factory: [`mcpflow_agents::standard_executors`] plus MCP sampling
    /// through this bridge.
    pub fn executors(&self) -> ExecutorFactory {
        let standard = mcpflow_agents::standard_executors();
        let bridge = self.clone();
        Arc::new(move |spec: &AgentSpec| match &spec.executor {
            ExecutorSpec::McpSampling { max_tokens } => Ok(Arc::new(McpSampling {
                bridge: bridge.clone(),
                max_tokens: *max_tokens,
            }) as Arc<dyn Executor>),
            _ => standard(spec),
        })
    }

    /// Routes jobs of origin `origin` to `cx` until the returned guard is dropped.
    pub(crate) fn open(&self, origin: String, cx: Cx) -> Route {
        self.routes.insert(origin.clone(), cx);
        Route {
            routes: self.routes.clone(),
            origin,
        }
    }

    fn find(&self, origin: &str) -> Option<Cx> {
        self.routes.get(origin).map(|cx| cx.clone())
    }
}

/// An open route; closes on drop.
#[derive(Debug)]
pub(crate) struct Route {
    routes: Arc<DashMap<String, Cx>>,
    origin: String,
}

impl Drop for Route {
    fn drop(&mut self) {
        self.routes.remove(&self.origin);
    }
}

/// Asks the submitting MCP client's model.
#[derive(Debug)]
struct McpSampling {
    bridge: SamplingBridge,
    max_tokens: u32,
}

#[async_trait]
impl Executor for McpSampling {
    fn kind(&self) -> &'static str {
        "mcp_sampling"
    }

    async fn execute(&self, job: &Job, _progress: &dyn Progress) -> Result<Reply, ExecError> {
        let cx = job
            .origin
            .as_deref()
            .and_then(|origin| self.bridge.find(origin))
            .ok_or_else(|| {
                ExecError::Permanent(format!(
                    "task {} has no MCP client to sample from: submit it with task_submit from a \
                     client that declares the sampling capability, and keep that session open \
                     until the task ends",
                    job.task_id
                ))
            })?;
        let mut params = json!({
            "messages": [{ "role": "user", "content": { "type": "text", "text": job.input } }],
            "maxTokens": self.max_tokens,
        });
        if let Some(system) = &job.system {
            params["systemPrompt"] = json!(system);
        }
        let params: CreateMessageRequestParams = serde_json::from_value(params)
            .map_err(|e| ExecError::Permanent(format!("cannot build the sampling request: {e}")))?;
        let key = format!("sampling-{}", job.attempt);
        match cx.ask_sampling(&key, params, None).await {
            Ok(Asked::Answer(result)) => {
                let text = match &result.message.content {
                    SamplingContent::Single(SamplingMessageContentBlock::Text(t)) => t.text.clone(),
                    other => serde_json::to_string(other).unwrap_or_default(),
                };
                Ok(Reply {
                    text,
                    tool_calls: Vec::new(),
                    stop_reason: result.stop_reason.clone(),
                    usage: Usage::default(),
                })
            }
            Ok(Asked::Pending(_)) => Err(ExecError::Permanent(
                "in protocol 2026-07-28 a server can ask the client's model only inside a \
                 request: call task_submit as an MCP task (or with wait: true over 2025-11-25)"
                    .into(),
            )),
            Err(e) => Err(ExecError::Permanent(format!(
                "the MCP client did not sample: {}",
                e.message
            ))),
        }
    }
}
