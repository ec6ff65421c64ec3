//! The Anthropic Messages API client.
//!
//! One attempt is one `POST {base_url}/v1/messages`. Streamed replies are named events:
//! `message_start` (input tokens), `content_block_start` / `content_block_delta` /
//! `content_block_stop` per text or `tool_use` block (tool input arrives as `input_json_delta`
//! fragments), `message_delta` (stop reason, output tokens), `message_stop`; `ping` keeps the
//! connection alive and `error` reports a failure after the 200.

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::http::{self, post_json, read_body, read_events, secret_header};
use crate::secret::ApiKey;
use crate::{ExecError, Executor, Job, Progress, Reply, ToolCall, Usage};

const PROVIDER: &str = "the Anthropic API";
/// The API version this client speaks.
const API_VERSION: &str = "2023-06-01";

/// An [`Executor`] backed by the Anthropic Messages API.
///
/// ```
/// use mcpflow_executors::{Anthropic, ApiKey};
///
/// let claude = Anthropic::new("https://api.anthropic.com", "claude-sonnet-4-5", ApiKey::new("sk-ant-..."))
///     .with_max_tokens(1024);
/// # let _ = claude;
/// ```
#[derive(Debug, Clone)]
pub struct Anthropic {
    endpoint: String,
    model: String,
    key: ApiKey,
    max_tokens: u32,
    stream: bool,
}

impl Anthropic {
    /// A streaming client for `model` at `base_url`, with up to 4096 tokens per reply.
    pub fn new(base_url: &str, model: impl Into<String>, key: ApiKey) -> Self {
        Self {
            endpoint: format!("{}/v1/messages", base_url.trim_end_matches('/')),
            model: model.into(),
            key,
            max_tokens: mcpflow_model::DEFAULT_MAX_TOKENS,
            stream: true,
        }
    }

    /// Caps each reply at `max_tokens`.
    pub fn with_max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = max_tokens;
        self
    }

    /// Streams (the default) or waits for the whole reply.
    pub fn streaming(mut self, stream: bool) -> Self {
        self.stream = stream;
        self
    }

    fn body(&self, job: &Job) -> Value {
        let mut body = json!({
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": [{ "role": "user", "content": job.input }],
            "stream": self.stream,
        });
        if let Some(system) = &job.system {
            body["system"] = json!(system);
        }
        if !job.tools.is_empty() {
            body["tools"] = job
                .tools
                .iter()
                .map(|t| json!({ "name": t.name, "description": t.description, "input_schema": t.input_schema }))
                .collect();
        }
        body
    }

    fn headers(&self) -> Result<HeaderMap, ExecError> {
        let mut headers = HeaderMap::new();
        let (name, value) = secret_header("x-api-key", self.key.expose())?;
        headers.insert(name, value);
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(API_VERSION),
        );
        Ok(headers)
    }
}

#[async_trait]
impl Executor for Anthropic {
    fn kind(&self) -> &'static str {
        "anthropic"
    }

    async fn execute(&self, job: &Job, progress: &dyn Progress) -> Result<Reply, ExecError> {
        let response = post_json(
            PROVIDER,
            &self.endpoint,
            self.headers()?,
            &self.body(job),
            Some(&self.key),
        )
        .await?;
        let reply = if self.stream {
            let mut stream = StreamState::default();
            read_events(PROVIDER, response, |event| {
                stream.on_event(&event.event, &event.data, progress)
            })
            .await?;
            stream.finish()
        } else {
            let body = read_body(PROVIDER, response).await?;
            parse_message(&body)
        };
        reply.map_err(|e| e.map_reason(|r| self.key.redact(r)))
    }
}

/// A whole `message` object.
fn parse_message(body: &[u8]) -> Result<Reply, ExecError> {
    let json: Value = serde_json::from_slice(body).map_err(|e| {
        ExecError::Permanent(format!("{PROVIDER} sent a reply that is not JSON: {e}"))
    })?;
    let Some(content) = json["content"].as_array() else {
        return Err(ExecError::Permanent(format!(
            "{PROVIDER}'s reply has no content: {}",
            http::error_message(body)
        )));
    };
    let mut reply = Reply {
        stop_reason: json["stop_reason"].as_str().map(str::to_owned),
        usage: Usage {
            input_tokens: json["usage"]["input_tokens"].as_u64().unwrap_or(0),
            output_tokens: json["usage"]["output_tokens"].as_u64().unwrap_or(0),
        },
        ..Reply::default()
    };
    for block in content {
        match block["type"].as_str() {
            Some("text") => reply
                .text
                .push_str(block["text"].as_str().unwrap_or_default()),
            Some("tool_use") => reply.tool_calls.push(ToolCall {
                id: block["id"].as_str().unwrap_or_default().to_owned(),
                name: block["name"].as_str().unwrap_or_default().to_owned(),
                arguments: block["input"].clone(),
            }),
            // Thinking and other block kinds are not part of the reply text.
            _ => {}
        }
    }
    Ok(reply)
}

#[derive(Debug)]
enum Block {
    Text,
    ToolUse {
        id: String,
        name: String,
        json: String,
    },
    Other,
}

#[derive(Debug, Default)]
struct StreamState {
    text: String,
    blocks: BTreeMap<u64, Block>,
    stop_reason: Option<String>,
    usage: Usage,
    stopped: bool,
}

impl StreamState {
    fn on_event(
        &mut self,
        name: &str,
        data: &str,
        progress: &dyn Progress,
    ) -> Result<(), ExecError> {
        if name == "ping" {
            return Ok(());
        }
        let event: Value = serde_json::from_str(data).map_err(|e| {
            ExecError::Permanent(format!(
                "{PROVIDER} streamed an event that is not JSON: {e}"
            ))
        })?;
        let kind = event["type"].as_str().unwrap_or(name);
        match kind {
            "message_start" => {
                let usage = &event["message"]["usage"];
                self.usage.input_tokens = usage["input_tokens"].as_u64().unwrap_or(0);
                self.usage.output_tokens = usage["output_tokens"].as_u64().unwrap_or(0);
            }
            "content_block_start" => {
                let index = event["index"].as_u64().unwrap_or(0);
                let block = &event["content_block"];
                let block = match block["type"].as_str() {
                    Some("text") => {
                        let text = block["text"].as_str().unwrap_or_default();
                        if !text.is_empty() {
                            progress.delta(text);
                            self.text.push_str(text);
                        }
                        Block::Text
                    }
                    Some("tool_use") => Block::ToolUse {
                        id: block["id"].as_str().unwrap_or_default().to_owned(),
                        name: block["name"].as_str().unwrap_or_default().to_owned(),
                        json: String::new(),
                    },
                    _ => Block::Other,
                };
                self.blocks.insert(index, block);
            }
            "content_block_delta" => {
                let index = event["index"].as_u64().unwrap_or(0);
                let delta = &event["delta"];
                match (self.blocks.get_mut(&index), delta["type"].as_str()) {
                    (Some(Block::Text), Some("text_delta")) => {
                        let text = delta["text"].as_str().unwrap_or_default();
                        progress.delta(text);
                        self.text.push_str(text);
                    }
                    (Some(Block::ToolUse { json, .. }), Some("input_json_delta")) => {
                        json.push_str(delta["partial_json"].as_str().unwrap_or_default());
                    }
                    (None, _) => {
                        return Err(ExecError::Permanent(format!(
                            "{PROVIDER} streamed a delta for block {index}, which never started"
                        )));
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(reason) = event["delta"]["stop_reason"].as_str() {
                    self.stop_reason = Some(reason.to_owned());
                }
                if let Some(out) = event["usage"]["output_tokens"].as_u64() {
                    self.usage.output_tokens = out;
                }
            }
            "message_stop" => self.stopped = true,
            "error" => return Err(stream_error(&event["error"])),
            // content_block_stop, and event kinds added after this client was written.
            _ => {}
        }
        Ok(())
    }

    fn finish(self) -> Result<Reply, ExecError> {
        if !self.stopped {
            return Err(ExecError::Transient(format!(
                "{PROVIDER}'s stream ended before message_stop ({} characters received)",
                self.text.len()
            )));
        }
        let mut tool_calls = Vec::new();
        for block in self.blocks.into_values() {
            if let Block::ToolUse { id, name, json } = block {
                let arguments = if json.trim().is_empty() {
                    json!({})
                } else {
                    serde_json::from_str(&json).map_err(|e| {
                        ExecError::Transient(format!(
                            "the model's input for tool {name:?} is not valid JSON: {e}"
                        ))
                    })?
                };
                tool_calls.push(ToolCall {
                    id,
                    name,
                    arguments,
                });
            }
        }
        Ok(Reply {
            text: self.text,
            tool_calls,
            stop_reason: self.stop_reason,
            usage: self.usage,
        })
    }
}

/// An `error` event: the same error types the API uses for HTTP errors.
fn stream_error(error: &Value) -> ExecError {
    let kind = error["type"].as_str().unwrap_or("error");
    let reason = format!(
        "{PROVIDER} failed mid-stream: {} ({kind})",
        error["message"].as_str().unwrap_or("no message")
    );
    match kind {
        "overloaded_error" | "rate_limit_error" => ExecError::Throttled {
            reason,
            retry_after: Duration::from_secs(1),
        },
        "api_error" | "timeout_error" => ExecError::Transient(reason),
        _ => ExecError::Permanent(reason),
    }
}
