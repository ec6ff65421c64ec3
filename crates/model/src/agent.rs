//! Agents: what a caller asks for (`AgentSpec`), checked before anything is created.
//!
//! Validation names the offending field and says what is allowed, so an MCP client (or a
//! person) can fix the request without reading code.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Largest mailbox an agent may ask for; bounded queues are a rule, not a default.
pub const MAX_MAILBOX: u32 = 65_536;
/// Most capabilities one agent may declare.
pub const MAX_CAPABILITIES: usize = 64;
/// Longest name, role or capability, in bytes.
pub const MAX_LABEL_LEN: usize = 128;
/// Longest [`AgentSpec::instructions`], in bytes.
pub const MAX_INSTRUCTIONS_LEN: usize = 16 * 1024;

/// How an agent does its work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ExecutorSpec {
    /// Deterministic replies, for tests and demos: the reply to a task is `reply`, after
    /// `delay_ms`; `fail_every` > 0 makes every n-th task fail.
    Scripted {
        /// Reply text; `{input}` is replaced by the task input.
        reply: String,
        /// Simulated work time.
        #[serde(default)]
        delay_ms: u64,
        /// Fail every n-th task (0 = never).
        #[serde(default)]
        fail_every: u32,
    },
    /// An OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp).
    #[serde(rename = "openai_compatible", alias = "open_ai_compatible")]
    OpenAiCompatible {
        /// Base URL, e.g. `https://api.openai.com/v1` (the client appends `/chat/completions`).
        base_url: String,
        /// Model name.
        model: String,
        /// Name of the environment variable holding the API key (never the key itself); none
        /// sends no `Authorization` header (local servers).
        #[serde(default)]
        api_key_env: Option<String>,
        /// Token budget per reply (`max_tokens`); none leaves it to the server.
        #[serde(default)]
        max_tokens: Option<u32>,
        /// Stream the reply (server-sent events), reporting text as it arrives.
        #[serde(default = "yes")]
        stream: bool,
    },
    /// The Anthropic Messages API.
    Anthropic {
        /// Base URL; the client appends `/v1/messages`.
        #[serde(default = "anthropic_base_url")]
        base_url: String,
        /// Model name.
        model: String,
        /// Name of the environment variable holding the API key (never the key itself);
        /// `ANTHROPIC_API_KEY` when absent.
        #[serde(default)]
        api_key_env: Option<String>,
        /// Token budget per reply (required by the API).
        #[serde(default = "default_max_tokens")]
        max_tokens: u32,
        /// Stream the reply (server-sent events), reporting text as it arrives.
        #[serde(default = "yes")]
        stream: bool,
    },
    /// Ask the connected MCP client to run the model (sampling).
    McpSampling {
        /// Token budget per reply.
        max_tokens: u32,
    },
}

fn yes() -> bool {
    true
}

/// The Anthropic API's address.
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";

fn anthropic_base_url() -> String {
    ANTHROPIC_BASE_URL.to_owned()
}

/// Token budget per reply when a spec does not say.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

fn default_max_tokens() -> u32 {
    DEFAULT_MAX_TOKENS
}

/// Resource bounds of one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentLimits {
    /// Tasks that may wait in the agent's mailbox; more are refused (back-pressure).
    pub mailbox: u32,
    /// Longest a task may run before it fails with a timeout.
    pub task_timeout_ms: u64,
    /// Attempts per task (1 = no retry).
    pub max_attempts: u32,
}

impl Default for AgentLimits {
    fn default() -> Self {
        Self {
            mailbox: 64,
            task_timeout_ms: 60_000,
            max_attempts: 3,
        }
    }
}

/// A request to spawn an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// Human-readable name (need not be unique).
    pub name: String,
    /// Role, e.g. `coder`, `reviewer`; used to query and route.
    pub role: String,
    /// What the agent can do; tasks are routed to agents having every capability they need.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Its system prompt beyond name and role ("answer questions about trains; never discuss
    /// competitors' prices"). The security gate checks every task for this agent against
    /// what these instructions forbid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// How it works.
    pub executor: ExecutorSpec,
    /// Its bounds.
    #[serde(default)]
    pub limits: AgentLimits,
    /// What the supervisor does when it stops.
    #[serde(default)]
    pub restart: RestartPolicy,
}

/// When the supervisor restarts an agent (Erlang/OTP's child restart types).
///
/// Restarts are bounded either way: at most 5 in 60 s, then the agent is given up and its
/// tasks go to other agents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartPolicy {
    /// Always restarted after a crash.
    #[default]
    Permanent,
    /// Restarted only after an abnormal exit (a crash), not after finishing normally.
    Transient,
    /// Never restarted; a crash gives it up at once.
    Temporary,
}

/// Where an agent is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// Taking tasks.
    Running,
    /// Crashed; the supervisor is bringing it back (same id, state restored from the store).
    Restarting,
    /// Terminated on request. Final.
    Stopped,
    /// Crashed more often than its restart intensity allows (or was temporary); its tasks were
    /// redistributed. Final.
    GivenUp,
}

impl AgentStatus {
    /// Whether the agent is gone for good.
    pub fn is_final(self) -> bool {
        matches!(self, AgentStatus::Stopped | AgentStatus::GivenUp)
    }

    /// The stable name used in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Running => "running",
            AgentStatus::Restarting => "restarting",
            AgentStatus::Stopped => "stopped",
            AgentStatus::GivenUp => "given_up",
        }
    }

    /// Parses [`AgentStatus::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "running" => Some(AgentStatus::Running),
            "restarting" => Some(AgentStatus::Restarting),
            "stopped" => Some(AgentStatus::Stopped),
            "given_up" => Some(AgentStatus::GivenUp),
            _ => None,
        }
    }
}

impl fmt::Display for AgentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an agent keeps across restarts (persisted after every task it finishes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentState {
    /// Tasks it completed.
    pub completed: u64,
    /// Tasks that failed on it (attempts, not final outcomes).
    pub failed: u64,
    /// Times the supervisor restarted it.
    pub restarts: u64,
    /// The last task it finished.
    pub last_task: Option<String>,
}

/// An agent as stored: its spec, where it runs, its status and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    /// Stable id (`agent-…`, time-ordered); kept across restarts.
    pub id: String,
    /// The node that runs it.
    pub node: String,
    /// What it was spawned with.
    pub spec: AgentSpec,
    /// Its lifecycle status.
    pub status: AgentStatus,
    /// Why it stopped or was given up, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What survives restarts.
    #[serde(default)]
    pub state: AgentState,
    /// When it was spawned.
    pub created_at: crate::Timestamp,
    /// When any of the above last changed.
    pub updated_at: crate::Timestamp,
}

/// A fresh, time-ordered agent id.
pub fn new_agent_id() -> String {
    format!("agent-{}", uuid::Uuid::now_v7().simple())
}

/// A spec that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid agent spec: {field}: {reason}")]
pub struct SpecError {
    /// The offending field, as a path (`limits.mailbox`, `capabilities[2]`).
    pub field: String,
    /// What is wrong and what is allowed.
    pub reason: String,
}

fn invalid(field: impl fmt::Display, reason: impl Into<String>) -> SpecError {
    SpecError {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// Names, roles and capabilities: 1–128 bytes of letters, digits, `-`, `_`, `.`, `:`, `/`.
fn check_label(field: &str, value: &str) -> Result<(), SpecError> {
    if value.is_empty() || value.len() > MAX_LABEL_LEN {
        return Err(invalid(
            field,
            format!("must be 1 to {MAX_LABEL_LEN} bytes long"),
        ));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/')))
    {
        return Err(invalid(
            field,
            format!("contains {c:?}; use letters, digits, '-', '_', '.', ':' or '/'"),
        ));
    }
    Ok(())
}

impl AgentSpec {
    /// Checks every field; the first problem found is returned.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.name.trim().is_empty() || self.name.len() > MAX_LABEL_LEN {
            return Err(invalid(
                "name",
                format!("must be 1 to {MAX_LABEL_LEN} bytes, not blank"),
            ));
        }
        check_label("role", &self.role)?;
        if self.capabilities.len() > MAX_CAPABILITIES {
            return Err(invalid(
                "capabilities",
                format!("at most {MAX_CAPABILITIES} capabilities"),
            ));
        }
        for (i, capability) in self.capabilities.iter().enumerate() {
            check_label(&format!("capabilities[{i}]"), capability)?;
            if self.capabilities[..i].contains(capability) {
                return Err(invalid(
                    format!("capabilities[{i}]"),
                    format!("{capability:?} is listed twice"),
                ));
            }
        }
        if let Some(i) = &self.instructions
            && i.len() > MAX_INSTRUCTIONS_LEN
        {
            return Err(invalid(
                "instructions",
                format!("at most {MAX_INSTRUCTIONS_LEN} bytes"),
            ));
        }
        let limits = &self.limits;
        if limits.mailbox == 0 || limits.mailbox > MAX_MAILBOX {
            return Err(invalid(
                "limits.mailbox",
                format!("must be 1 to {MAX_MAILBOX}"),
            ));
        }
        if limits.task_timeout_ms == 0 {
            return Err(invalid("limits.task_timeout_ms", "must be at least 1"));
        }
        if !(1..=10).contains(&limits.max_attempts) {
            return Err(invalid("limits.max_attempts", "must be 1 to 10"));
        }
        self.validate_executor()
    }

    fn validate_executor(&self) -> Result<(), SpecError> {
        let env_name = |field: &str, name: &Option<String>| match name {
            Some(n)
                if n.is_empty()
                    || !n
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') =>
            {
                Err(invalid(
                    field,
                    "must name an environment variable (A-Z, 0-9, _), not hold a key",
                ))
            }
            _ => Ok(()),
        };
        let url = |field: &str, url: &str| {
            if url.starts_with("http://") || url.starts_with("https://") {
                Ok(())
            } else {
                Err(invalid(field, "must be an http:// or https:// URL"))
            }
        };
        match &self.executor {
            ExecutorSpec::Scripted { .. } => Ok(()),
            ExecutorSpec::OpenAiCompatible {
                base_url,
                model,
                api_key_env,
                max_tokens,
                ..
            } => {
                url("executor.base_url", base_url)?;
                if model.trim().is_empty() {
                    return Err(invalid("executor.model", "must not be empty"));
                }
                if *max_tokens == Some(0) {
                    return Err(invalid("executor.max_tokens", "must be at least 1"));
                }
                env_name("executor.api_key_env", api_key_env)
            }
            ExecutorSpec::Anthropic {
                base_url,
                model,
                api_key_env,
                max_tokens,
                ..
            } => {
                url("executor.base_url", base_url)?;
                if model.trim().is_empty() {
                    return Err(invalid("executor.model", "must not be empty"));
                }
                if *max_tokens == 0 {
                    return Err(invalid("executor.max_tokens", "must be at least 1"));
                }
                env_name("executor.api_key_env", api_key_env)
            }
            ExecutorSpec::McpSampling { max_tokens } => {
                if *max_tokens == 0 {
                    return Err(invalid("executor.max_tokens", "must be at least 1"));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> AgentSpec {
        AgentSpec {
            name: "coder one".into(),
            role: "coder".into(),
            capabilities: vec!["rust".into(), "review".into()],
            instructions: None,
            executor: ExecutorSpec::Scripted {
                reply: "done: {input}".into(),
                delay_ms: 0,
                fail_every: 0,
            },
            limits: AgentLimits::default(),
            restart: RestartPolicy::default(),
        }
    }

    #[test]
    fn a_sound_spec_passes_and_round_trips() {
        let s = spec();
        s.validate().unwrap();
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["executor"]["kind"], "scripted");
        assert_eq!(serde_json::from_value::<AgentSpec>(json).unwrap(), s);
    }

    #[test]
    fn errors_name_the_field() {
        type Breaker = Box<dyn Fn(&mut AgentSpec)>;
        let cases: Vec<(Breaker, &str)> = vec![
            (Box::new(|s| s.name = " ".into()), "name"),
            (Box::new(|s| s.role = "co der".into()), "role"),
            (
                Box::new(|s| s.capabilities.push("rust".into())),
                "capabilities[2]",
            ),
            (
                Box::new(|s| s.capabilities[1] = String::new()),
                "capabilities[1]",
            ),
            (Box::new(|s| s.limits.mailbox = 0), "limits.mailbox"),
            (
                Box::new(|s| s.limits.mailbox = MAX_MAILBOX + 1),
                "limits.mailbox",
            ),
            (
                Box::new(|s| s.limits.max_attempts = 0),
                "limits.max_attempts",
            ),
            (
                Box::new(|s| {
                    s.executor = ExecutorSpec::OpenAiCompatible {
                        base_url: "ftp://x".into(),
                        model: "m".into(),
                        api_key_env: None,
                        max_tokens: None,
                        stream: true,
                    }
                }),
                "executor.base_url",
            ),
            (
                Box::new(|s| {
                    s.executor = ExecutorSpec::Anthropic {
                        base_url: ANTHROPIC_BASE_URL.into(),
                        model: "claude".into(),
                        api_key_env: Some("sk-ant-secret".into()),
                        max_tokens: 100,
                        stream: true,
                    }
                }),
                "executor.api_key_env",
            ),
            (
                Box::new(|s| {
                    s.executor = serde_json::from_value(
                        serde_json::json!({ "kind": "anthropic", "model": "m", "max_tokens": 0 }),
                    )
                    .unwrap()
                }),
                "executor.max_tokens",
            ),
            (
                Box::new(|s| s.executor = ExecutorSpec::McpSampling { max_tokens: 0 }),
                "executor.max_tokens",
            ),
        ];
        for (break_it, field) in cases {
            let mut s = spec();
            break_it(&mut s);
            let err = s.validate().unwrap_err();
            assert_eq!(err.field, field, "{err}");
        }
    }

    #[test]
    fn llm_executors_parse_with_defaults() {
        let openai: ExecutorSpec = serde_json::from_value(serde_json::json!({
            "kind": "openai_compatible", "base_url": "http://127.0.0.1:11434/v1", "model": "llama3"
        }))
        .unwrap();
        assert_eq!(
            openai,
            ExecutorSpec::OpenAiCompatible {
                base_url: "http://127.0.0.1:11434/v1".into(),
                model: "llama3".into(),
                api_key_env: None,
                max_tokens: None,
                stream: true,
            }
        );
        let anthropic: ExecutorSpec =
            serde_json::from_value(serde_json::json!({ "kind": "anthropic", "model": "claude" }))
                .unwrap();
        assert_eq!(
            anthropic,
            ExecutorSpec::Anthropic {
                base_url: ANTHROPIC_BASE_URL.into(),
                model: "claude".into(),
                api_key_env: None,
                max_tokens: DEFAULT_MAX_TOKENS,
                stream: true,
            }
        );
        assert_eq!(
            serde_json::to_value(&openai).unwrap()["kind"],
            "openai_compatible"
        );
    }

    #[test]
    fn unknown_fields_are_refused_when_parsing() {
        let json = serde_json::json!({
            "name": "a", "role": "r",
            "executor": { "kind": "scripted", "reply": "x" },
            "limits": { "mailbox": 4, "mailbx": 5 }
        });
        let err = serde_json::from_value::<AgentSpec>(json)
            .unwrap_err()
            .to_string();
        assert!(err.contains("mailbx"), "{err}");
    }
}
