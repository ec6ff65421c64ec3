//! The OpenAI chat-completions client, which also serves vLLM, Ollama, llama.cpp and the
//! other servers speaking that dialect.
//!
//! One attempt is one `POST {base_url}/chat/completions` with the job's system prompt, input
//! and tools. Streamed replies (`stream: true`) arrive as `data:` events of
//! `chat.completion.chunk` objects ending with `data: [DONE]`; text deltas go to the job's
//! [`Progress`] as they come, tool-call fragments are joined by their `index`.

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::http::{self, post_json, read_body, read_events, secret_header};
use crate::secret::ApiKey;
use crate::{ExecError, Executor, Job, Progress, Reply, ToolCall, Usage};

const PROVIDER: &str = "the OpenAI-compatible server";

/// An [`Executor`] backed by an OpenAI-compatible chat-completions endpoint.
///
/// ```
/// use mcpflow_executors::{ApiKey, OpenAiCompatible};
///
/// let local = OpenAiCompatible::new("http://127.0.0.1:11434/v1", "llama3.2");
/// let openai = OpenAiCompatible::new("https://api.openai.com/v1", "gpt-4o-mini")
///     .with_key(ApiKey::new("sk-..."))
///     .with_max_tokens(512);
/// # let _ = (local, openai);
/// ```
#[derive(Debug, Clone)]
pub struct OpenAiCompatible {
    endpoint: String,
    model: String,
    key: Option<ApiKey>,
    max_tokens: Option<u32>,
    stream: bool,
}

impl OpenAiCompatible {
    /// A streaming client for `model` at `base_url` (e.g. `https://api.openai.com/v1`), no key.
    pub fn new(base_url: &str, model: impl Into<String>) -> Self {
        Self {
            endpoint: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            model: model.into(),
            key: None,
            max_tokens: None,
            stream: true,
        }
    }

    /// Sends `Authorization: Bearer <key>`.
    pub fn with_key(mut self, key: ApiKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Caps each reply at `max_tokens`.
    pub fn with_max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Streams (the default) or waits for the whole reply.
    pub fn streaming(mut self, stream: bool) -> Self {
        self.stream = stream;
        self
    }

    fn body(&self, job: &Job) -> Value {
        let mut messages = Vec::new();
        if let Some(system) = &job.system {
            messages.push(json!({ "role": "system", "content": system }));
        }
        messages.push(json!({ "role": "user", "content": job.input }));
        let mut body = json!({ "model": self.model, "messages": messages, "stream": self.stream });
        if self.stream {
            body["stream_options"] = json!({ "include_usage": true });
        }
        if let Some(max) = self.max_tokens {
            body["max_tokens"] = json!(max);
        }
        if !job.tools.is_empty() {
            body["tools"] = job
                .tools
                .iter()
                .map(|t| {
                    json!({ "type": "function", "function": {
                        "name": t.name, "description": t.description, "parameters": t.input_schema,
                    }})
                })
                .collect();
        }
        body
    }

    fn headers(&self) -> Result<HeaderMap, ExecError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = &self.key {
            let (name, value) =
                secret_header("authorization", &format!("Bearer {}", key.expose()))?;
            headers.insert(name, value);
        }
        Ok(headers)
    }
}

#[async_trait]
impl Executor for OpenAiCompatible {
    fn kind(&self) -> &'static str {
        "openai_compatible"
    }

    async fn execute(&self, job: &Job, progress: &dyn Progress) -> Result<Reply, ExecError> {
        let response = post_json(
            PROVIDER,
            &self.endpoint,
            self.headers()?,
            &self.body(job),
            self.key.as_ref(),
        )
        .await?;
        let reply = if self.stream {
            let mut stream = StreamState::default();
            read_events(PROVIDER, response, |event| {
                stream.on_event(&event.data, progress)
            })
            .await?;
            stream.finish()
        } else {
            let body = read_body(PROVIDER, response).await?;
            parse_completion(&body)
        };
        reply.map_err(|e| match &self.key {
            Some(key) => e.map_reason(|r| key.redact(r)),
            None => e,
        })
    }
}

/// A whole `chat.completion` object.
fn parse_completion(body: &[u8]) -> Result<Reply, ExecError> {
    let json: Value = serde_json::from_slice(body).map_err(|e| {
        ExecError::Permanent(format!("{PROVIDER} sent a reply that is not JSON: {e}"))
    })?;
    let choice = json["choices"].get(0).ok_or_else(|| {
        ExecError::Permanent(format!(
            "{PROVIDER}'s reply has no choices: {}",
            http::error_message(body)
        ))
    })?;
    let message = &choice["message"];
    let mut tool_calls = Vec::new();
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        let function = &call["function"];
        tool_calls.push(tool_call(
            call["id"].as_str().unwrap_or_default(),
            function["name"].as_str().unwrap_or_default(),
            function["arguments"].as_str().unwrap_or("{}"),
        )?);
    }
    Ok(Reply {
        text: message["content"].as_str().unwrap_or_default().to_owned(),
        tool_calls,
        stop_reason: choice["finish_reason"].as_str().map(str::to_owned),
        usage: usage(&json["usage"]),
    })
}

fn usage(u: &Value) -> Usage {
    Usage {
        input_tokens: u["prompt_tokens"].as_u64().unwrap_or(0),
        output_tokens: u["completion_tokens"].as_u64().unwrap_or(0),
    }
}

fn tool_call(id: &str, name: &str, arguments: &str) -> Result<ToolCall, ExecError> {
    let arguments = if arguments.trim().is_empty() {
        json!({})
    } else {
        // The model wrote these; a malformed attempt may well come out right next time.
        serde_json::from_str(arguments).map_err(|e| {
            ExecError::Transient(format!(
                "the model's arguments for tool {name:?} are not valid JSON: {e}"
            ))
        })?
    };
    Ok(ToolCall {
        id: id.to_owned(),
        name: name.to_owned(),
        arguments,
    })
}

/// What the chunks so far add up to.
#[derive(Debug, Default)]
struct StreamState {
    text: String,
    // Tool calls by their `index`: id, name and argument fragments arrive in pieces.
    tools: BTreeMap<u64, (String, String, String)>,
    finish_reason: Option<String>,
    usage: Usage,
    done: bool,
}

impl StreamState {
    fn on_event(&mut self, data: &str, progress: &dyn Progress) -> Result<(), ExecError> {
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk: Value = serde_json::from_str(data).map_err(|e| {
            ExecError::Permanent(format!("{PROVIDER} streamed a chunk that is not JSON: {e}"))
        })?;
        if chunk.get("error").is_some() {
            // Servers report failures after the 200 as an error chunk.
            let message = http::error_message(data.as_bytes());
            return Err(ExecError::Transient(format!(
                "{PROVIDER} failed mid-stream: {message}"
            )));
        }
        if chunk["usage"].is_object() {
            self.usage = usage(&chunk["usage"]);
        }
        let Some(choice) = chunk["choices"].get(0) else {
            return Ok(());
        };
        let delta = &choice["delta"];
        if let Some(text) = delta["content"].as_str()
            && !text.is_empty()
        {
            progress.delta(text);
            self.text.push_str(text);
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            let index = call["index"].as_u64().unwrap_or(0);
            let entry = self.tools.entry(index).or_default();
            if let Some(id) = call["id"].as_str() {
                entry.0.push_str(id);
            }
            if let Some(name) = call["function"]["name"].as_str() {
                entry.1.push_str(name);
            }
            if let Some(args) = call["function"]["arguments"].as_str() {
                entry.2.push_str(args);
            }
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            self.finish_reason = Some(reason.to_owned());
        }
        Ok(())
    }

    fn finish(self) -> Result<Reply, ExecError> {
        // Some servers omit `[DONE]`; a finish reason also says the reply is whole.
        if !self.done && self.finish_reason.is_none() {
            return Err(ExecError::Transient(format!(
                "{PROVIDER}'s stream ended before the reply was complete ({} characters received)",
                self.text.len()
            )));
        }
        let tool_calls = self
            .tools
            .values()
            .map(|(id, name, args)| tool_call(id, name, args))
            .collect::<Result<_, _>>()?;
        Ok(Reply {
            text: self.text,
            tool_calls,
            stop_reason: self.finish_reason,
            usage: self.usage,
        })
    }
}
