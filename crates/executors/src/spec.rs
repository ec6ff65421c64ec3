//! Building an executor from an agent's [`ExecutorSpec`].

use std::sync::Arc;

use mcpflow_model::ExecutorSpec;

use crate::{Anthropic, ApiKey, Executor, OpenAiCompatible, Scripted};

/// Builds the executor `spec` describes, reading API keys from the environment now, so a
/// missing key fails the spawn rather than every task.
///
/// MCP sampling needs a connection to a client; only the server can build that one, so here
/// it is refused with a reason (the server's factory handles it before calling this).
pub fn build(spec: &ExecutorSpec) -> Result<Arc<dyn Executor>, String> {
    Ok(match spec {
        ExecutorSpec::Scripted {
            reply,
            delay_ms,
            fail_every,
        } => Arc::new(Scripted::new(reply.clone(), *delay_ms, *fail_every)),
        ExecutorSpec::OpenAiCompatible {
            base_url,
            model,
            api_key_env,
            max_tokens,
            stream,
        } => {
            let mut executor = OpenAiCompatible::new(base_url, model.clone()).streaming(*stream);
            if let Some(var) = api_key_env {
                executor = executor.with_key(ApiKey::from_env(var)?);
            }
            if let Some(max) = max_tokens {
                executor = executor.with_max_tokens(*max);
            }
            Arc::new(executor)
        }
        ExecutorSpec::Anthropic {
            base_url,
            model,
            api_key_env,
            max_tokens,
            stream,
        } => {
            let var = api_key_env.as_deref().unwrap_or("ANTHROPIC_API_KEY");
            Arc::new(
                Anthropic::new(base_url, model.clone(), ApiKey::from_env(var)?)
                    .with_max_tokens(*max_tokens)
                    .streaming(*stream),
            )
        }
        ExecutorSpec::McpSampling { .. } => {
            return Err("MCP sampling needs a connected MCP client; this node was started without an MCP server".into());
        }
    })
}
