//! Agent and task tools and resources: `agent_*`, `task_*`, `mcpflow://agents/{id}`,
//! `mcpflow://tasks/{id}`.
//!
//! Arguments are parsed into typed structs that refuse unknown fields, so the input schemas
//! below are exact. Refusals (bad arguments, unknown ids, full mailboxes) come back as tool
//! results with `isError` and a message saying what to do, as MCP asks of tool errors.

use mcpflow_agents::{AgentFilter, Error as AgentError, Health, Page};
use mcpflow_model::{AgentSpec, AgentStatus, TaskRecord, TaskSpec, TaskState};
use mcpflow_node::{agent_uri, task_uri};
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolResult, ContentBlock, ReadResourceResult, ResourceContents, ResourceTemplate, Tool,
    ToolAnnotations, object,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::mcp::{Catalog, Cx, ResourceRead, TaskMode, ToolCall};
use crate::sampling::{Route, SamplingBridge};

use super::{ToolResult, args, refuse, structured};

/// Adds the agent and task entries to `catalog`; MCP-sampling agents reach the submitting
/// client through `sampling`.
pub fn register(catalog: &mut Catalog, sampling: &SamplingBridge) {
    agent_tools(catalog);
    task_tools(catalog, sampling);
    resources(catalog);
}

fn runtime_error(e: AgentError) -> ToolResult {
    match e {
        AgentError::Store(_) | AgentError::ShuttingDown => {
            tracing::warn!(error = %e, "agent tool failed");
            refuse(e.to_string())
        }
        e => refuse(e.to_string()),
    }
}

const STATUSES: [&str; 4] = ["running", "restarting", "stopped", "given_up"];
const STATES: [&str; 6] = [
    "queued",
    "assigned",
    "running",
    "completed",
    "failed",
    "cancelled",
];
const LABEL: &str = "^[A-Za-z0-9._:/-]{1,128}$";

fn agent_spec_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": { "type": "string", "minLength": 1, "maxLength": 128, "description": "Human-readable name" },
            "role": { "type": "string", "pattern": LABEL, "description": "Role, e.g. coder or reviewer; used to query and route" },
            "capabilities": {
                "type": "array", "maxItems": 64, "uniqueItems": true,
                "items": { "type": "string", "pattern": LABEL },
                "description": "What the agent can do; a task goes to an agent having every capability it needs"
            },
            "instructions": {
                "type": "string", "maxLength": mcpflow_model::MAX_INSTRUCTIONS_LEN,
                "description": "Its system prompt beyond name and role; the security gate flags tasks asking for what it forbids"
            },
            "executor": {
                "description": "How the agent works",
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {
                            "kind": { "const": "scripted" },
                            "reply": { "type": "string", "description": "Reply; {input} is replaced by the task input" },
                            "delay_ms": { "type": "integer", "minimum": 0 },
                            "fail_every": { "type": "integer", "minimum": 0, "description": "Fail every n-th attempt (0 = never)" }
                        },
                        "required": ["kind", "reply"], "additionalProperties": false
                    },
                    {
                        "type": "object",
                        "properties": {
                            "kind": { "const": "openai_compatible" },
                            "base_url": { "type": "string", "pattern": "^https?://", "description": "e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1 (Ollama)" },
                            "model": { "type": "string", "minLength": 1 },
                            "api_key_env": { "type": "string", "pattern": "^[A-Z0-9_]+$", "description": "Name of the environment variable holding the key (none: no Authorization header)" },
                            "max_tokens": { "type": "integer", "minimum": 1 },
                            "stream": { "type": "boolean", "default": true, "description": "Stream the reply, reporting text as task progress" }
                        },
                        "required": ["kind", "base_url", "model"], "additionalProperties": false
                    },
                    {
                        "type": "object",
                        "properties": {
                            "kind": { "const": "anthropic" },
                            "base_url": { "type": "string", "pattern": "^https?://", "default": mcpflow_model::ANTHROPIC_BASE_URL },
                            "model": { "type": "string", "minLength": 1 },
                            "api_key_env": { "type": "string", "pattern": "^[A-Z0-9_]+$", "default": "ANTHROPIC_API_KEY" },
                            "max_tokens": { "type": "integer", "minimum": 1, "default": mcpflow_model::DEFAULT_MAX_TOKENS },
                            "stream": { "type": "boolean", "default": true }
                        },
                        "required": ["kind", "model"], "additionalProperties": false
                    },
                    {
                        "type": "object",
                        "properties": {
                            "kind": { "const": "mcp_sampling" },
                            "max_tokens": { "type": "integer", "minimum": 1 }
                        },
                        "required": ["kind", "max_tokens"], "additionalProperties": false
                    }
                ]
            },
            "limits": {
                "type": "object",
                "properties": {
                    "mailbox": { "type": "integer", "minimum": 1, "maximum": mcpflow_model::MAX_MAILBOX, "default": 64 },
                    "task_timeout_ms": { "type": "integer", "minimum": 1, "default": 60000 },
                    "max_attempts": { "type": "integer", "minimum": 1, "maximum": 10, "default": 3 }
                },
                "additionalProperties": false
            },
            "restart": { "enum": ["permanent", "transient", "temporary"], "default": "permanent" }
        },
        "required": ["name", "role", "executor"],
        "additionalProperties": false
    })
}

fn id_schema(what: &str) -> Value {
    json!({
        "type": "object",
        "properties": { "id": { "type": "string", "description": format!("The {what}'s id") } },
        "required": ["id"],
        "additionalProperties": false
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdArgs {
    id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TerminateArgs {
    id: String,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentListArgs {
    role: Option<String>,
    capability: Option<String>,
    status: Option<AgentStatus>,
    health: Option<HealthArg>,
    cursor: Option<String>,
    limit: Option<usize>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum HealthArg {
    Healthy,
    Degraded,
    Unhealthy,
}

fn agent_tools(catalog: &mut Catalog) {
    catalog.add_tool(
        Tool::new(
            "agent_spawn",
            "Spawn a supervised agent. Returns the agent (id, status, health, mailbox). \
             Crashed agents are restarted (at most 5 times in 60 s) with their id and state.",
            object(agent_spec_schema()),
        ),
        |call: ToolCall| async move {
            let spec: AgentSpec = match args(&call, "agent_spawn") {
                Ok(s) => s,
                Err(e) => return refuse(e),
            };
            match call.cx.node().agents().spawn(spec).await {
                Ok(agent) => structured(&agent),
                Err(e) => runtime_error(e),
            }
        },
    );
    catalog.add_tool(
        Tool::new(
            "agent_list",
            "List live agents, filtered by role, capability, status or health, one page at a \
             time (pass `next` back as `cursor`).",
            object(json!({
                "type": "object",
                "properties": {
                    "role": { "type": "string" },
                    "capability": { "type": "string" },
                    "status": { "enum": STATUSES },
                    "health": { "enum": ["healthy", "degraded", "unhealthy"] },
                    "cursor": { "type": "string", "description": "`next` from the previous page" },
                    "limit": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }
                },
                "additionalProperties": false
            })),
        )
        .with_annotations(ToolAnnotations::new().read_only(true).idempotent(true)),
        |call: ToolCall| async move {
            let a: AgentListArgs = match args(&call, "agent_list") {
                Ok(a) => a,
                Err(e) => return refuse(e),
            };
            if a.limit.is_some_and(|l| !(1..=1000).contains(&l)) {
                return refuse("invalid arguments for agent_list: limit must be 1 to 1000");
            }
            let page = call.cx.node().agents().agents(&AgentFilter {
                role: a.role,
                capability: a.capability,
                status: a.status,
                health: a.health.map(|h| match h {
                    HealthArg::Healthy => Health::Healthy,
                    HealthArg::Degraded => Health::Degraded,
                    HealthArg::Unhealthy => Health::Unhealthy,
                }),
                after: a.cursor,
                limit: a.limit.unwrap_or(100),
            });
            structured(&page)
        },
    );
    catalog.add_tool(
        Tool::new(
            "agent_status",
            "One agent: status, health, mailbox, running task, counters, spec.",
            object(id_schema("agent")),
        )
        .with_annotations(ToolAnnotations::new().read_only(true).idempotent(true)),
        |call: ToolCall| async move {
            let a: IdArgs = match args(&call, "agent_status") {
                Ok(a) => a,
                Err(e) => return refuse(e),
            };
            match call.cx.node().agents().agent(&a.id).await {
                Ok(agent) => structured(&agent),
                Err(e) => runtime_error(e),
            }
        },
    );
    catalog.add_tool(
        Tool::new(
            "agent_terminate",
            "Stop an agent for good. Its running task is interrupted and its queued tasks move \
             to other agents with the same capabilities.",
            object(json!({
                "type": "object",
                "properties": {
                    "id": { "type": "string" },
                    "reason": { "type": "string", "maxLength": 1024 }
                },
                "required": ["id"],
                "additionalProperties": false
            })),
        )
        .with_annotations(ToolAnnotations::new().destructive(true).idempotent(false)),
        |call: ToolCall| async move {
            let a: TerminateArgs = match args(&call, "agent_terminate") {
                Ok(a) => a,
                Err(e) => return refuse(e),
            };
            let reason = a.reason.unwrap_or_else(|| "terminated by request".into());
            match call.cx.node().agents().terminate(&a.id, &reason).await {
                Ok(agent) => structured(&agent),
                Err(e) => runtime_error(e),
            }
        },
    );
}

/// [`TaskSpec`]'s fields plus `wait` (repeated: `flatten` and `deny_unknown_fields` do not mix).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitArgs {
    input: String,
    #[serde(default)]
    capabilities: Vec<String>,
    agent: Option<String>,
    max_attempts: Option<u32>,
    timeout_ms: Option<u64>,
    #[serde(default)]
    wait: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResultArgs {
    id: String,
    #[serde(default)]
    wait: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskListArgs {
    state: Option<TaskState>,
    cursor: Option<String>,
    limit: Option<u32>,
}

fn task_tools(catalog: &mut Catalog, sampling: &SamplingBridge) {
    let sampling = sampling.clone();
    catalog.add_task_tool(
        Tool::new(
            "task_submit",
            "Submit a task. It goes to the named agent, or to the least-loaded healthy agent \
             with every listed capability. Returns once the task is durable; with `wait` (or \
             when called as an MCP task) it returns the final task, sending progress meanwhile. \
             A full mailbox is refused: retry later or spawn more agents.",
            object(json!({
                "type": "object",
                "properties": {
                    "input": { "type": "string", "maxLength": mcpflow_model::MAX_TASK_INPUT, "description": "The task's input (prompt)" },
                    "capabilities": { "type": "array", "maxItems": 64, "items": { "type": "string" }, "description": "Capabilities the agent must have" },
                    "agent": { "type": "string", "description": "Run on this agent only" },
                    "max_attempts": { "type": "integer", "minimum": 1, "maximum": 10 },
                    "timeout_ms": { "type": "integer", "minimum": 1, "description": "Per-attempt time limit" },
                    "wait": { "type": "boolean", "default": false, "description": "Return only when the task has ended" }
                },
                "required": ["input"],
                "additionalProperties": false
            })),
        ),
        TaskMode::Optional,
        move |call: ToolCall| {
            let sampling = sampling.clone();
            async move {
                let a: SubmitArgs = match args(&call, "task_submit") {
                    Ok(a) => a,
                    Err(e) => return refuse(e),
                };
                // A client that can sample may serve as the model of MCP-sampling agents.
                let origin = call
                    .cx
                    .client_can_sample()
                    .then(|| format!("mcp-request-{}", uuid::Uuid::now_v7()));
                let route = origin
                    .clone()
                    .map(|origin| sampling.open(origin, call.cx.clone()));
                let spec = TaskSpec {
                    input: a.input,
                    capabilities: a.capabilities,
                    agent: a.agent,
                    max_attempts: a.max_attempts,
                    timeout_ms: a.timeout_ms,
                    origin,
                };
                let agents = call.cx.node().agents();
                let task = match agents.submit(spec).await {
                    Ok(t) => t,
                    Err(e) => return runtime_error(e),
                };
                if !(a.wait || call.cx.is_task()) {
                    if let Some(route) = route {
                        close_when_final(agents.clone(), task.id.clone(), route);
                    }
                    return structured(&task);
                }
                let done = follow(&call.cx, &task.id).await?;
                drop(route);
                outcome(done)
            }
        },
    );
    catalog.add_tool(
        Tool::new(
            "task_status",
            "One task: state, agent, attempts, error, result once completed.",
            object(id_schema("task")),
        )
        .with_annotations(ToolAnnotations::new().read_only(true).idempotent(true)),
        |call: ToolCall| async move {
            let a: IdArgs = match args(&call, "task_status") {
                Ok(a) => a,
                Err(e) => return refuse(e),
            };
            match call.cx.node().agents().task(&a.id).await {
                Ok(task) => structured(&task),
                Err(e) => runtime_error(e),
            }
        },
    );
    catalog.add_tool(
        Tool::new(
            "task_result",
            "A task's result. An unfinished task is reported as such unless `wait` is set; a \
             failed or cancelled task is an error result with the reason.",
            object(json!({
                "type": "object",
                "properties": {
                    "id": { "type": "string" },
                    "wait": { "type": "boolean", "default": false }
                },
                "required": ["id"],
                "additionalProperties": false
            })),
        )
        .with_annotations(ToolAnnotations::new().read_only(true).idempotent(true)),
        |call: ToolCall| async move {
            let a: ResultArgs = match args(&call, "task_result") {
                Ok(a) => a,
                Err(e) => return refuse(e),
            };
            let task = match call.cx.node().agents().task(&a.id).await {
                Ok(t) => t,
                Err(e) => return runtime_error(e),
            };
            if task.state.is_final() {
                return outcome(task);
            }
            if !a.wait {
                return refuse(format!(
                    "task {} has not ended (it is {}); call task_result with wait: true, or \
                     subscribe to {}",
                    task.id,
                    task.state,
                    task_uri(&task.id)
                ));
            }
            outcome(follow(&call.cx, &task.id).await?)
        },
    );
    catalog.add_tool(
        Tool::new(
            "task_cancel",
            "Cancel a task that has not ended; a running attempt is stopped.",
            object(json!({
                "type": "object",
                "properties": {
                    "id": { "type": "string" },
                    "reason": { "type": "string", "maxLength": 1024 }
                },
                "required": ["id"],
                "additionalProperties": false
            })),
        )
        .with_annotations(ToolAnnotations::new().destructive(true).idempotent(false)),
        |call: ToolCall| async move {
            let a: TerminateArgs = match args(&call, "task_cancel") {
                Ok(a) => a,
                Err(e) => return refuse(e),
            };
            let reason = a.reason.unwrap_or_else(|| "by request".into());
            match call.cx.node().agents().cancel(&a.id, &reason).await {
                Ok(task) => structured(&task),
                Err(e) => runtime_error(e),
            }
        },
    );
    catalog.add_tool(
        Tool::new(
            "task_list",
            "List tasks, newest last, optionally in one state, one page at a time (pass `next` \
             back as `cursor`).",
            object(json!({
                "type": "object",
                "properties": {
                    "state": { "enum": STATES },
                    "cursor": { "type": "string" },
                    "limit": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }
                },
                "additionalProperties": false
            })),
        )
        .with_annotations(ToolAnnotations::new().read_only(true).idempotent(true)),
        |call: ToolCall| async move {
            let a: TaskListArgs = match args(&call, "task_list") {
                Ok(a) => a,
                Err(e) => return refuse(e),
            };
            if a.limit.is_some_and(|l| !(1..=1000).contains(&l)) {
                return refuse("invalid arguments for task_list: limit must be 1 to 1000");
            }
            let page: Page<TaskRecord> = match call
                .cx
                .node()
                .agents()
                .tasks(a.state, a.cursor, a.limit.unwrap_or(100))
                .await
            {
                Ok(p) => p,
                Err(e) => return runtime_error(e),
            };
            structured(&page)
        },
    );
}

/// Waits for a task to end, reporting its state changes and streamed output as progress.
/// If the MCP request is cancelled (`notifications/cancelled`, or `tasks/cancel` of the MCP
/// task), the mcpflow task is cancelled too.
/// Keeps a sampling route open until the task ends.
fn close_when_final(agents: mcpflow_agents::Runtime, id: String, route: Route) {
    tokio::spawn(async move {
        if let Some(mut states) = agents.watch_task(&id) {
            while !states.borrow_and_update().is_final() {
                if states.changed().await.is_err() {
                    break;
                }
            }
        }
        drop(route);
    });
}

async fn follow(cx: &Cx, id: &str) -> Result<TaskRecord, McpError> {
    let agents = cx.node().agents();
    let mut output = agents.events();
    let Some(mut states) = agents.watch_task(id) else {
        return agents
            .task(id)
            .await
            .map_err(|e| McpError::internal_error(e.to_string(), None));
    };
    let mut step = 0.0;
    loop {
        let state = *states.borrow_and_update();
        if state.is_final() {
            break;
        }
        step += 1.0;
        cx.progress(step, None, Some(format!("task {id} is {state}")))
            .await;
        tokio::select! {
            changed = states.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            event = output.recv() => {
                if let Ok(mcpflow_agents::RuntimeEvent::TaskProgress { id: of, text }) = event
                    && of == id
                {
                    step += 1.0;
                    cx.progress(step, None, Some(text)).await;
                }
            }
            _ = cx.cancelled() => {
                let _ = agents.cancel(id, "the MCP request was cancelled").await;
                break;
            }
        }
    }
    agents
        .task(id)
        .await
        .map_err(|e| McpError::internal_error(e.to_string(), None))
}

/// A final task as a tool result: its reply text and the record, or an error result.
fn outcome(task: TaskRecord) -> ToolResult {
    let value = serde_json::to_value(&task)
        .map_err(|e| McpError::internal_error(format!("cannot encode the task: {e}"), None))?;
    match task.state {
        TaskState::Completed => {
            let text = task
                .result
                .as_ref()
                .and_then(|r| r.get("text"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let mut result = CallToolResult::structured(value);
            result.content = vec![ContentBlock::text(text)];
            Ok(result.into())
        }
        state => {
            let mut result = CallToolResult::structured_error(value);
            result.content = vec![ContentBlock::text(format!(
                "task {} {state}: {}",
                task.id,
                task.error.as_deref().unwrap_or("no reason recorded")
            ))];
            Ok(result.into())
        }
    }
}

fn resources(catalog: &mut Catalog) {
    catalog.add_template(
        ResourceTemplate::new("mcpflow://agents/{id}", "agent")
            .with_description(
                "An agent as JSON (same as agent_status); subscribe to hear of every change.",
            )
            .with_mime_type("application/json"),
        None,
        |read: ResourceRead| async move {
            let id = read.vars.get("id").cloned().unwrap_or_default();
            let agent = read
                .cx
                .node()
                .agents()
                .agent(&id)
                .await
                .map_err(|e| McpError::resource_not_found(e.to_string(), None))?;
            json_resource(&agent, agent_uri(&id))
        },
    );
    catalog.add_template(
        ResourceTemplate::new("mcpflow://tasks/{id}", "task")
            .with_description(
                "A task as JSON (same as task_status); subscribe to hear of every state change.",
            )
            .with_mime_type("application/json"),
        None,
        |read: ResourceRead| async move {
            let id = read.vars.get("id").cloned().unwrap_or_default();
            let task = read
                .cx
                .node()
                .agents()
                .task(&id)
                .await
                .map_err(|e| McpError::resource_not_found(e.to_string(), None))?;
            json_resource(&task, task_uri(&id))
        },
    );
}

fn json_resource(
    value: &impl serde::Serialize,
    uri: String,
) -> Result<rmcp::model::ReadResourceResponse, McpError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| McpError::internal_error(e.to_string(), None))?;
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(text, uri).with_mime_type("application/json"),
    ])
    .into())
}
