//! Learning tools: `route_task` (ranked agents with confidence and an explanation; it assigns
//! nothing), `trajectory_start` / `trajectory_step` / `trajectory_end` (what agents did and how
//! it went: the router learns from these, a cycle per ten ended), `learning_stats`.
//!
//! Candidates are this node's running agents with the task's capabilities; the task's text is
//! embedded with memory's embedder (its label comes back with every ranking).

use mcpflow_agents::AgentFilter;
use mcpflow_intel::trajectory::{Outcome, Step, TaskSpec};
use mcpflow_model::AgentStatus;
use mcpflow_node::Node;
use rmcp::model::{Tool, ToolAnnotations, object};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::mcp::{Catalog, ToolCall};

use super::{ToolResult, args, refuse, structured};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskArgs {
    task_type: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    capabilities: Vec<String>,
    /// trajectory_start only.
    #[serde(default)]
    agent: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepArgs {
    id: u64,
    action: String,
    #[serde(default)]
    observation: String,
    #[serde(default)]
    ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndArgs {
    id: u64,
    outcome: String,
    reward: f32,
    latency_ms: u64,
}

fn task_schema(with_agent: bool) -> Value {
    let mut props = json!({
        "task_type": { "type": "string", "minLength": 1, "description": "The kind of task (review, refactor, ...)" },
        "text": { "type": "string", "description": "What the task says (embedded for similarity)" },
        "capabilities": { "type": "array", "items": { "type": "string" }, "description": "Capabilities an agent must have" }
    });
    let mut required = vec!["task_type"];
    if with_agent {
        props["agent"] =
            json!({ "type": "string", "description": "The agent doing it (agent_list)" });
        required.push("agent");
    }
    json!({ "type": "object", "properties": props, "required": required, "additionalProperties": false })
}

/// Registers the running agents with the router and drops those no longer running.
fn sync_agents(node: &Node) {
    let router = node.learning();
    let mut running = std::collections::BTreeSet::new();
    let mut filter = AgentFilter {
        status: Some(AgentStatus::Running),
        limit: 1000,
        ..AgentFilter::default()
    };
    loop {
        let page = node.agents().agents(&filter);
        for a in &page.items {
            if router
                .register_agent(&a.id, a.spec.capabilities.iter().map(String::as_str))
                .is_ok()
            {
                running.insert(a.id.clone());
            }
        }
        match page.next {
            Some(next) => filter.after = Some(next),
            None => break,
        }
    }
    for (name, _) in router.agents() {
        if !running.contains(&name) {
            router.remove_agent(&name);
        }
    }
}

/// The task as the router sees it, with its text embedded off the async workers.
async fn task_spec(node: &Node, a: &TaskArgs) -> Result<TaskSpec, String> {
    let memory = node.memory().clone();
    let text = a.text.clone();
    let embedding = tokio::task::spawn_blocking(move || memory.embed_text(&text))
        .await
        .map_err(|e| format!("embedding failed: {e}"))?
        .map_err(|e| e.to_string())?;
    Ok(TaskSpec {
        task_type: a.task_type.clone(),
        capabilities: a.capabilities.clone(),
        text: a.text.clone(),
        embedding,
    })
}

fn answer<T: serde::Serialize, E: std::fmt::Display>(r: Result<T, E>) -> ToolResult {
    match r {
        Ok(v) => structured(&v),
        Err(e) => refuse(e.to_string()),
    }
}

/// Adds the learning entries to `catalog`.
pub fn register(catalog: &mut Catalog) {
    catalog.add_tool(
        Tool::new(
            "route_task",
            "Rank this node's running agents for a task: capability filter, their last five \
             minutes (success, latency, load), similarity to past successful trajectories, and \
             the learned policy (LinUCB). Each agent comes with a score, a confidence and an \
             explanation. Ranking only: nothing is assigned.",
            object(task_schema(false)),
        )
        .with_annotations(ToolAnnotations::new().read_only(true)),
        |call: ToolCall| async move {
            let a: TaskArgs = match args(&call, "route_task") {
                Ok(a) => a,
                Err(e) => return refuse(e),
            };
            if a.agent.is_some() {
                return refuse(
                    "invalid arguments for route_task: `agent` belongs to trajectory_start",
                );
            }
            let node = call.cx.node();
            sync_agents(node);
            let task = match task_spec(node, &a).await {
                Ok(t) => t,
                Err(e) => return refuse(e),
            };
            match node.learning().route(&task) {
                Ok(ranked) => structured(&json!({
                    "ranked": ranked,
                    "embedder": node.memory().embedder_label(),
                })),
                Err(e) => refuse(e.to_string()),
            }
        },
    );
    catalog.add_tool(
        Tool::new(
            "trajectory_start",
            "Start recording an agent's attempt at a task; returns its id for trajectory_step \
             and trajectory_end.",
            object(task_schema(true)),
        ),
        |call: ToolCall| async move {
            let a: TaskArgs = match args(&call, "trajectory_start") {
                Ok(a) => a,
                Err(e) => return refuse(e),
            };
            let Some(agent) = a.agent.clone() else {
                return refuse("invalid arguments for trajectory_start: missing field `agent`");
            };
            let node = call.cx.node();
            sync_agents(node);
            let task = match task_spec(node, &a).await {
                Ok(t) => t,
                Err(e) => return refuse(e),
            };
            answer(
                node.learning()
                    .start(&agent, task)
                    .await
                    .map(|id| json!({ "id": id })),
            )
        },
    );
    catalog.add_tool(
        Tool::new(
            "trajectory_step",
            "Record one step of a trajectory: what the agent did, what came back, how long it took.",
            object(json!({
                "type": "object",
                "properties": {
                    "id": { "type": "integer", "minimum": 0 },
                    "action": { "type": "string", "minLength": 1 },
                    "observation": { "type": "string" },
                    "ms": { "type": "integer", "minimum": 0 }
                },
                "required": ["id", "action"],
                "additionalProperties": false
            })),
        ),
        |call: ToolCall| async move {
            let a: StepArgs = match args(&call, "trajectory_step") {
                Ok(a) => a,
                Err(e) => return refuse(e),
            };
            let step = Step::new(a.action, a.observation, a.ms);
            answer(
                call.cx
                    .node()
                    .learning()
                    .record_step(a.id, step)
                    .await
                    .map(|()| json!({ "id": a.id })),
            )
        },
    );
    catalog.add_tool(
        Tool::new(
            "trajectory_end",
            "End a trajectory with its outcome (success | failure), a reward in -1..=1 and its \
             latency. Every tenth ended trajectory runs a learning cycle (returned as `cycle`).",
            object(json!({
                "type": "object",
                "properties": {
                    "id": { "type": "integer", "minimum": 0 },
                    "outcome": { "enum": ["success", "failure"] },
                    "reward": { "type": "number", "minimum": -1, "maximum": 1 },
                    "latency_ms": { "type": "integer", "minimum": 0 }
                },
                "required": ["id", "outcome", "reward", "latency_ms"],
                "additionalProperties": false
            })),
        ),
        |call: ToolCall| async move {
            let a: EndArgs = match args(&call, "trajectory_end") {
                Ok(a) => a,
                Err(e) => return refuse(e),
            };
            let outcome = match a.outcome.as_str() {
                "success" => Outcome::Success,
                "failure" => Outcome::Failure,
                other => {
                    return refuse(format!(
                        "invalid arguments for trajectory_end: outcome {other:?}; use success or failure"
                    ));
                }
            };
            answer(
                call.cx
                    .node()
                    .learning()
                    .end(a.id, outcome, a.reward, a.latency_ms)
                    .await
                    .map(|e| json!({ "trajectory": e.trajectory, "cycle": e.cycle })),
            )
        },
    );
    catalog.add_tool(
        Tool::new(
            "learning_stats",
            "The learning router's state: cycles run, trajectories seen, patterns (critical \
             ones protected), per-agent statistics, the last cycle's loss and regret estimate.",
            object(json!({ "type": "object", "properties": {}, "additionalProperties": false })),
        )
        .with_annotations(ToolAnnotations::new().read_only(true).idempotent(true)),
        |call: ToolCall| async move { structured(&call.cx.node().learning().learning_stats()) },
    );
}
