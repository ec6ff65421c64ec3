//! Client subcommands that talk to a running server over MCP: `agent ...` and `task ...`.
//! Each prints the tool's JSON result on stdout; a refusal prints the server's message on
//! stderr and exits 1.

use anyhow::Context;
use clap::{Args, Subcommand};
use mcpflow_server::client::{ClientError, Remote};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;

/// Where the server is.
#[derive(Debug, Args)]
pub struct Target {
    /// The server's MCP endpoint.
    #[arg(
        long,
        global = true,
        env = "MCPFLOW_URL",
        default_value = "http://127.0.0.1:8080/mcp"
    )]
    url: String,
}

/// `mcpflow agent ...`
#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Spawn an agent from a JSON spec (a file, or - for stdin), or from flags for a scripted one.
    Spawn {
        /// JSON agent spec (as agent_spawn takes it); `-` reads stdin.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["name", "role", "capability", "reply", "executor", "instructions"])]
        spec: Option<PathBuf>,
        /// Name (scripted agent from flags).
        #[arg(long, requires = "role")]
        name: Option<String>,
        /// Role (scripted agent from flags).
        #[arg(long, requires = "name")]
        role: Option<String>,
        /// A capability; repeat for more.
        #[arg(long)]
        capability: Vec<String>,
        /// Scripted reply (`{input}` is replaced by the task input).
        #[arg(long, default_value = "done: {input}")]
        reply: String,
        /// The executor as JSON instead of a scripted one, e.g.
        /// `{"kind":"openai_compatible","base_url":"http://127.0.0.1:11434/v1","model":"llama3.2"}`.
        #[arg(long, value_name = "JSON")]
        executor: Option<String>,
        /// Its system prompt beyond name and role; the security gate flags tasks asking for
        /// what it forbids.
        #[arg(long, value_name = "TEXT")]
        instructions: Option<String>,
    },
    /// List agents.
    List {
        /// Only this role.
        #[arg(long)]
        role: Option<String>,
        /// Only agents with this capability.
        #[arg(long)]
        capability: Option<String>,
        /// Only this status (running, restarting, stopped, given_up).
        #[arg(long)]
        status: Option<String>,
        /// Page size.
        #[arg(long)]
        limit: Option<u32>,
        /// Continue after this cursor (`next` of the previous page).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one agent.
    Status {
        /// The agent's id.
        id: String,
    },
    /// Stop an agent; its tasks move to other agents.
    Terminate {
        /// The agent's id.
        id: String,
        /// Why (recorded).
        #[arg(long)]
        reason: Option<String>,
    },
}

/// `mcpflow task ...`
#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Submit a task.
    Submit {
        /// The task's input (prompt).
        input: String,
        /// A required capability; repeat for more.
        #[arg(long)]
        capability: Vec<String>,
        /// Run on this agent only.
        #[arg(long)]
        agent: Option<String>,
        /// Attempts before failing.
        #[arg(long)]
        max_attempts: Option<u32>,
        /// Per-attempt time limit in milliseconds.
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// Wait for the task to end and print the final task.
        #[arg(long)]
        wait: bool,
    },
    /// Show one task.
    Status {
        /// The task's id.
        id: String,
    },
    /// Cancel a task.
    Cancel {
        /// The task's id.
        id: String,
        /// Why (recorded).
        #[arg(long)]
        reason: Option<String>,
    },
}

fn put(object: &mut Value, key: &str, value: Option<impl Into<Value>>) {
    if let Some(v) = value {
        object[key] = v.into();
    }
}

impl AgentCommand {
    fn call(self) -> anyhow::Result<(&'static str, Value)> {
        Ok(match self {
            AgentCommand::Spawn {
                spec: Some(path), ..
            } => {
                let text = if path.as_os_str() == "-" {
                    std::io::read_to_string(std::io::stdin())
                        .context("reading the spec from stdin")?
                } else {
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?
                };
                let spec: Value = serde_json::from_str(&text).context("the spec is not JSON")?;
                ("agent_spawn", spec)
            }
            AgentCommand::Spawn {
                name: Some(name),
                role: Some(role),
                capability,
                reply,
                executor,
                instructions,
                ..
            } => {
                let executor = match executor {
                    Some(json) => {
                        serde_json::from_str::<Value>(&json).context("--executor is not JSON")?
                    }
                    None => json!({ "kind": "scripted", "reply": reply }),
                };
                let mut spec = json!({
                    "name": name, "role": role, "capabilities": capability,
                    "executor": executor
                });
                if let Some(instructions) = instructions {
                    spec["instructions"] = json!(instructions);
                }
                ("agent_spawn", spec)
            }
            AgentCommand::Spawn { .. } => {
                anyhow::bail!(
                    "give --spec FILE, or --name and --role (see `mcpflow agent spawn --help`)"
                )
            }
            AgentCommand::List {
                role,
                capability,
                status,
                limit,
                cursor,
            } => {
                let mut args = json!({});
                put(&mut args, "role", role);
                put(&mut args, "capability", capability);
                put(&mut args, "status", status);
                put(&mut args, "limit", limit);
                put(&mut args, "cursor", cursor);
                ("agent_list", args)
            }
            AgentCommand::Status { id } => ("agent_status", json!({ "id": id })),
            AgentCommand::Terminate { id, reason } => {
                let mut args = json!({ "id": id });
                put(&mut args, "reason", reason);
                ("agent_terminate", args)
            }
        })
    }
}

impl TaskCommand {
    fn call(self) -> (&'static str, Value) {
        match self {
            TaskCommand::Submit {
                input,
                capability,
                agent,
                max_attempts,
                timeout_ms,
                wait,
            } => {
                let mut args = json!({ "input": input, "capabilities": capability, "wait": wait });
                put(&mut args, "agent", agent);
                put(&mut args, "max_attempts", max_attempts);
                put(&mut args, "timeout_ms", timeout_ms);
                ("task_submit", args)
            }
            TaskCommand::Status { id } => ("task_status", json!({ "id": id })),
            TaskCommand::Cancel { id, reason } => {
                let mut args = json!({ "id": id });
                put(&mut args, "reason", reason);
                ("task_cancel", args)
            }
        }
    }
}

/// Runs an `agent` subcommand against `target`.
pub fn agent(target: Target, command: AgentCommand) -> anyhow::Result<ExitCode> {
    let (tool, args) = command.call()?;
    call(&target.url, tool, args)
}

/// Runs a `task` subcommand against `target`.
pub fn task(target: Target, command: TaskCommand) -> anyhow::Result<ExitCode> {
    let (tool, args) = command.call();
    call(&target.url, tool, args)
}

fn call(url: &str, tool: &str, args: Value) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let remote = Remote::connect(url).await?;
        let result = remote.call(tool, args).await;
        remote.close().await;
        match result {
            Ok(value) => {
                println!("{}", serde_json::to_string_pretty(&value)?);
                Ok(ExitCode::SUCCESS)
            }
            Err(ClientError::Tool(message)) => {
                eprintln!("mcpflow: {message}");
                Ok(ExitCode::FAILURE)
            }
            Err(e) => Err(e.into()),
        }
    })
}
