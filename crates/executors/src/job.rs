//! What an executor is given and what it gives back.

use serde::{Deserialize, Serialize};

/// One attempt of one task, as the executor sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The task's id (for logs and provider request metadata).
    pub task_id: String,
    /// The agent running it.
    pub agent_id: String,
    /// The task's input: the prompt.
    pub input: String,
    /// Optional system prompt (the agent's role and instructions).
    #[serde(default)]
    pub system: Option<String>,
    /// Tools the model may call; its calls come back in [`Reply::tool_calls`].
    #[serde(default)]
    pub tools: Vec<ToolSpec>,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Who submitted the task ([`mcpflow_model::TaskSpec::origin`]): lets an executor reach back
    /// to them, as MCP sampling does.
    #[serde(default)]
    pub origin: Option<String>,
}

impl Job {
    /// A first attempt with no system prompt and no tools.
    pub fn new(
        task_id: impl Into<String>,
        agent_id: impl Into<String>,
        input: impl Into<String>,
    ) -> Self {
        Self {
            task_id: task_id.into(),
            agent_id: agent_id.into(),
            input: input.into(),
            system: None,
            tools: Vec::new(),
            attempt: 1,
            origin: None,
        }
    }
}

/// A tool offered to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Its name.
    pub name: String,
    /// What it does (the model reads this).
    pub description: String,
    /// JSON Schema of its input.
    pub input_schema: serde_json::Value,
}

/// A call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call (to send the result back).
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// Its arguments.
    pub arguments: serde_json::Value,
}

/// Token accounting, when the provider reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
}

/// What an attempt produced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The text.
    pub text: String,
    /// Tool calls the model asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Why generation stopped, as the provider says it (`end_turn`, `stop`, `tool_use`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// Tokens used.
    #[serde(default)]
    pub usage: Usage,
}

impl Reply {
    /// A plain text reply.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }
}
