//! Swarm tools and resources: `swarm_*`, `message_*`, `consensus_*` and
//! `mcpflow://swarms/{id}/topology`.
//!
//! Arguments are parsed into typed structs that refuse unknown fields, so the input schemas
//! are exact. Refusals come back as tool results with `isError` and a message saying what to
//! do. Who may act: changing a swarm needs its `swarm_token`; acting *as* a member (send,
//! receive, propose, vote) needs that member's `member_token`. Both are handed out once, by
//! `swarm_init` / `swarm_add_agent`; the members' signing keys never leave the node.

use mcpflow_node::{EDGE_PAGE, QuorumSpec, SwarmError, SwarmOptions, parse_kind};
use rmcp::ErrorData as McpError;
use rmcp::model::{
    ReadResourceResult, ResourceContents, ResourceTemplate, Tool, ToolAnnotations, object,
};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::mcp::{Catalog, ResourceRead, ToolCall};

use super::{ToolResult, args, refuse, structured};

/// Longest proposal lifetime: one day.
const MAX_DEADLINE_MS: u64 = 86_400_000;
/// Longest wait of `message_receive`.
const MAX_WAIT_MS: u64 = 30_000;

/// Adds the swarm entries to `catalog`.
pub fn register(catalog: &mut Catalog) {
    swarm_tools(catalog);
    message_tools(catalog);
    consensus_tools(catalog);
    resources(catalog);
}

fn answer<T: serde::Serialize>(r: Result<T, SwarmError>) -> ToolResult {
    match r {
        Ok(v) => structured(&v),
        Err(e) => {
            if matches!(e, SwarmError::Stopped) {
                tracing::warn!(error = %e, "swarm tool failed");
            }
            refuse(e.to_string())
        }
    }
}

macro_rules! parse {
    ($call:expr, $tool:literal) => {
        match args(&$call, $tool) {
            Ok(a) => a,
            Err(e) => return refuse(e),
        }
    };
}

const TOKEN_NOTE: &str = "The swarm_token (membership changes, destroy) and each member_token \
    (acting as that member: send, receive, propose, vote) are bearer secrets shown only here: \
    give a member_token only to whoever speaks for that agent. Members' signing keys never \
    leave the node.";

fn schema(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false
    })
}

fn swarm_id() -> Value {
    json!({ "type": "string", "pattern": "^swarm-[0-9]+$", "description": "The swarm's id, e.g. swarm-1" })
}

fn agent(what: &str) -> Value {
    json!({ "type": "string", "minLength": 1, "description": what })
}

fn token(what: &str) -> Value {
    json!({ "type": "string", "minLength": 1, "description": what })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InitArgs {
    topology: String,
    members: Vec<String>,
    #[serde(default)]
    options: InitOptions,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct InitOptions {
    fanout: Option<usize>,
    redundancy: Option<u8>,
    queue_capacity: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusArgs {
    swarm_id: String,
    #[serde(default)]
    edges_offset: usize,
    edges_limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberChangeArgs {
    swarm_id: String,
    swarm_token: String,
    agent_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DestroyArgs {
    swarm_id: String,
    swarm_token: String,
}

fn swarm_tools(catalog: &mut Catalog) {
    catalog.add_tool(
        Tool::new(
            "swarm_init",
            format!(
                "Create a swarm of live agents of this node (ids from agent_list) in a topology: \
                 mesh (all connected), hierarchical (a tree, `fanout` children per node), ring \
                 (join order, closed) or star (first member is the hub). Returns the swarm id, \
                 its topology, a swarm_token and one member_token per member. {TOKEN_NOTE} \
                 Swarms live in memory: a node restart ends them. A member whose agent stops \
                 for good leaves at once and the topology repairs itself."
            ),
            object(schema(
                json!({
                    "topology": { "enum": ["mesh", "hierarchical", "ring", "star"] },
                    "members": {
                        "type": "array", "minItems": 1, "maxItems": mcpflow_node::MAX_MEMBERS,
                        "uniqueItems": true, "items": { "type": "string", "minLength": 1 },
                        "description": "Agent ids, in join order"
                    },
                    "options": {
                        "type": "object",
                        "properties": {
                            "fanout": { "type": "integer", "minimum": 1, "maximum": 1024, "default": 4, "description": "hierarchical: children per node" },
                            "redundancy": { "type": "integer", "minimum": 1, "maximum": 3, "default": 2, "description": "Edge-disjoint routes tried per message before it is reported lost" },
                            "queue_capacity": { "type": "integer", "minimum": 1, "maximum": 1048576, "default": 1024, "description": "Messages one edge holds before senders must back off" }
                        },
                        "additionalProperties": false
                    }
                }),
                &["topology", "members"],
            )),
        ),
        |call: ToolCall| async move {
            let a: InitArgs = parse!(call, "swarm_init");
            if a.options.fanout.is_some() && a.topology != "hierarchical" {
                return refuse(
                    "invalid arguments for swarm_init: options.fanout applies to the hierarchical topology only",
                );
            }
            let kind = match parse_kind(&a.topology, a.options.fanout) {
                Ok(k) => k,
                Err(e) => return refuse(e.to_string()),
            };
            let options = SwarmOptions {
                fanout: a.options.fanout,
                redundancy: a.options.redundancy,
                queue_capacity: a.options.queue_capacity,
            };
            answer(
                call.cx
                    .node()
                    .swarms()
                    .create(kind, &a.members, &options)
                    .await,
            )
        },
    );
    catalog.add_tool(
        Tool::new(
            "swarm_status",
            format!(
                "A swarm's topology: members in join order with their inbox depths, the leader, \
                 edges (at most {EDGE_PAGE} per call; page with edges_offset = edges_next), \
                 messages in flight and routing counters."
            ),
            object(schema(
                json!({
                    "swarm_id": swarm_id(),
                    "edges_offset": { "type": "integer", "minimum": 0, "default": 0 },
                    "edges_limit": { "type": "integer", "minimum": 0, "maximum": EDGE_PAGE, "default": EDGE_PAGE }
                }),
                &["swarm_id"],
            )),
        )
        .with_annotations(ToolAnnotations::new().read_only(true).idempotent(true)),
        |call: ToolCall| async move {
            let a: StatusArgs = parse!(call, "swarm_status");
            let limit = a.edges_limit.unwrap_or(EDGE_PAGE);
            if limit > EDGE_PAGE {
                return refuse(format!(
                    "invalid arguments for swarm_status: edges_limit must be at most {EDGE_PAGE}"
                ));
            }
            answer(
                call.cx
                    .node()
                    .swarms()
                    .topology(&a.swarm_id, a.edges_offset, limit)
                    .await,
            )
        },
    );
    catalog.add_tool(
        Tool::new(
            "swarm_add_agent",
            "Add a live agent to a swarm (needs the swarm_token). Returns its member_token \
             (shown once) and the topology after.",
            object(schema(
                json!({
                    "swarm_id": swarm_id(),
                    "swarm_token": token("From swarm_init"),
                    "agent_id": agent("The agent to add")
                }),
                &["swarm_id", "swarm_token", "agent_id"],
            )),
        ),
        |call: ToolCall| async move {
            let a: MemberChangeArgs = parse!(call, "swarm_add_agent");
            let r = call
                .cx
                .node()
                .swarms()
                .add(&a.swarm_id, &a.swarm_token, &a.agent_id)
                .await
                .map(|(member, topology)| json!({ "member": member, "topology": topology }));
            answer(r)
        },
    );
    catalog.add_tool(
        Tool::new(
            "swarm_remove_agent",
            "Remove a member (needs the swarm_token). The topology repairs itself (a ring \
             closes the gap, a star or tree elects a new hub or root, orphans get a new \
             parent); messages for it are reported lost to the leader; its member_token dies. \
             Returns the repair and the topology after.",
            object(schema(
                json!({
                    "swarm_id": swarm_id(),
                    "swarm_token": token("From swarm_init"),
                    "agent_id": agent("The member to remove")
                }),
                &["swarm_id", "swarm_token", "agent_id"],
            )),
        )
        .with_annotations(ToolAnnotations::new().destructive(true).idempotent(false)),
        |call: ToolCall| async move {
            let a: MemberChangeArgs = parse!(call, "swarm_remove_agent");
            answer(
                call.cx
                    .node()
                    .swarms()
                    .remove(&a.swarm_id, &a.swarm_token, &a.agent_id)
                    .await,
            )
        },
    );
    catalog.add_tool(
        Tool::new(
            "swarm_destroy",
            "Dissolve a swarm (needs the swarm_token): inboxes close, every token dies. The \
             agents themselves keep running.",
            object(schema(
                json!({ "swarm_id": swarm_id(), "swarm_token": token("From swarm_init") }),
                &["swarm_id", "swarm_token"],
            )),
        )
        .with_annotations(ToolAnnotations::new().destructive(true).idempotent(false)),
        |call: ToolCall| async move {
            let a: DestroyArgs = parse!(call, "swarm_destroy");
            let r = call
                .cx
                .node()
                .swarms()
                .destroy(&a.swarm_id, &a.swarm_token)
                .await
                .map(|()| json!({ "swarm_id": a.swarm_id, "destroyed": true }));
            answer(r)
        },
    );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendArgs {
    swarm_id: String,
    from: String,
    member_token: String,
    to: String,
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BroadcastArgs {
    swarm_id: String,
    from: String,
    member_token: String,
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiveArgs {
    swarm_id: String,
    agent_id: String,
    member_token: String,
    max: Option<usize>,
    #[serde(default)]
    wait_ms: u64,
}

fn message_tools(catalog: &mut Catalog) {
    let text = json!({ "type": "string", "maxLength": mcpflow_node::MAX_PAYLOAD, "description": "The message" });
    catalog.add_tool(
        Tool::new(
            "message_send",
            "Send a message from one member to another along the topology (retried, rerouted \
             over a disjoint path if an edge fails; reported lost to the leader if it cannot \
             arrive). Needs the sender's member_token. A full queue or inbox is refused: retry \
             later.",
            object(schema(
                json!({
                    "swarm_id": swarm_id(),
                    "from": agent("The sending member"),
                    "member_token": token("The sender's member_token"),
                    "to": agent("The receiving member"),
                    "text": text
                }),
                &["swarm_id", "from", "member_token", "to", "text"],
            )),
        ),
        |call: ToolCall| async move {
            let a: SendArgs = parse!(call, "message_send");
            answer(
                call.cx
                    .node()
                    .swarms()
                    .send(&a.swarm_id, &a.from, &a.member_token, &a.to, &a.text)
                    .await,
            )
        },
    );
    catalog.add_tool(
        Tool::new(
            "message_broadcast",
            "Send a message from one member to every other member (along a spanning tree of \
             the topology). Needs the sender's member_token.",
            object(schema(
                json!({
                    "swarm_id": swarm_id(),
                    "from": agent("The sending member"),
                    "member_token": token("The sender's member_token"),
                    "text": text
                }),
                &["swarm_id", "from", "member_token", "text"],
            )),
        ),
        |call: ToolCall| async move {
            let a: BroadcastArgs = parse!(call, "message_broadcast");
            answer(
                call.cx
                    .node()
                    .swarms()
                    .broadcast(&a.swarm_id, &a.from, &a.member_token, &a.text)
                    .await,
            )
        },
    );
    catalog.add_tool(
        Tool::new(
            "message_receive",
            "Take messages from a member's inbox, oldest first (the leader also finds loss \
             reports here). Needs that member's member_token. With wait_ms it waits that long \
             for the first message.",
            object(schema(
                json!({
                    "swarm_id": swarm_id(),
                    "agent_id": agent("The member whose inbox to read"),
                    "member_token": token("That member's member_token"),
                    "max": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 },
                    "wait_ms": { "type": "integer", "minimum": 0, "maximum": MAX_WAIT_MS, "default": 0 }
                }),
                &["swarm_id", "agent_id", "member_token"],
            )),
        ),
        |call: ToolCall| async move {
            let a: ReceiveArgs = parse!(call, "message_receive");
            let max = a.max.unwrap_or(100);
            if !(1..=1000).contains(&max) || a.wait_ms > MAX_WAIT_MS {
                return refuse(format!(
                    "invalid arguments for message_receive: max must be 1 to 1000 and wait_ms at most {MAX_WAIT_MS}"
                ));
            }
            let r = call
                .cx
                .node()
                .swarms()
                .receive(
                    &a.swarm_id,
                    &a.agent_id,
                    &a.member_token,
                    max,
                    Duration::from_millis(a.wait_ms),
                )
                .await
                .map(|items| json!({ "messages": items }));
            answer(r)
        },
    );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuorumArgs {
    policy: String,
    weights: Option<BTreeMap<String, u64>>,
    threshold: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProposeArgs {
    swarm_id: String,
    proposer: String,
    member_token: String,
    subject: String,
    quorum: QuorumArgs,
    deadline_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VoteArgs {
    swarm_id: String,
    proposal_id: u64,
    voter: String,
    member_token: String,
    approve: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProposalArgs {
    swarm_id: String,
    proposal_id: u64,
}

fn quorum(q: QuorumArgs) -> Result<QuorumSpec, String> {
    let weighted = q.weights.is_some() || q.threshold.is_some();
    match (q.policy.as_str(), weighted) {
        ("majority", false) => Ok(QuorumSpec::Majority),
        ("two_thirds", false) => Ok(QuorumSpec::TwoThirds),
        ("unanimous", false) => Ok(QuorumSpec::Unanimous),
        ("majority" | "two_thirds" | "unanimous", true) => Err(format!(
            "invalid quorum: weights and threshold belong to the weighted policy, not {}",
            q.policy
        )),
        ("weighted", _) => match (q.weights, q.threshold) {
            (Some(weights), Some(threshold)) if threshold > 0.0 && threshold <= 1.0 => {
                Ok(QuorumSpec::Weighted { weights, threshold })
            }
            (Some(_), Some(t)) => Err(format!(
                "invalid quorum: threshold {t} must be above 0 and at most 1"
            )),
            _ => Err(
                "invalid quorum: the weighted policy needs weights (one per member) and a threshold"
                    .into(),
            ),
        },
        (other, _) => Err(format!(
            "invalid quorum: unknown policy {other:?}; use majority, two_thirds, unanimous or weighted"
        )),
    }
}

fn consensus_tools(catalog: &mut Catalog) {
    catalog.add_tool(
        Tool::new(
            "consensus_propose",
            "Open a proposal in a swarm, decided by the members present now under a quorum \
             policy (majority, two_thirds, unanimous, or weighted: every member's weight and a \
             share of the total) before deadline_ms from now; undecided at the deadline it \
             expires. Needs the proposer's member_token. Returns the proposal (id, status).",
            object(schema(
                json!({
                    "swarm_id": swarm_id(),
                    "proposer": agent("The proposing member"),
                    "member_token": token("The proposer's member_token"),
                    "subject": { "type": "string", "minLength": 1, "maxLength": 4096 },
                    "quorum": {
                        "type": "object",
                        "properties": {
                            "policy": { "enum": ["majority", "two_thirds", "unanimous", "weighted"] },
                            "weights": { "type": "object", "additionalProperties": { "type": "integer", "minimum": 0 }, "description": "weighted: agent id -> weight, for every member" },
                            "threshold": { "type": "number", "exclusiveMinimum": 0, "maximum": 1, "description": "weighted: share of the total weight needed" }
                        },
                        "required": ["policy"],
                        "additionalProperties": false
                    },
                    "deadline_ms": { "type": "integer", "minimum": 1, "maximum": MAX_DEADLINE_MS, "description": "Milliseconds from now until votes stop counting" }
                }),
                &["swarm_id", "proposer", "member_token", "subject", "quorum", "deadline_ms"],
            )),
        ),
        |call: ToolCall| async move {
            let a: ProposeArgs = parse!(call, "consensus_propose");
            if a.subject.is_empty() || a.subject.len() > 4096 {
                return refuse("invalid arguments for consensus_propose: subject must be 1 to 4096 bytes");
            }
            if !(1..=MAX_DEADLINE_MS).contains(&a.deadline_ms) {
                return refuse(format!(
                    "invalid arguments for consensus_propose: deadline_ms must be 1 to {MAX_DEADLINE_MS}"
                ));
            }
            let q = match quorum(a.quorum) {
                Ok(q) => q,
                Err(e) => return refuse(e),
            };
            answer(
                call.cx
                    .node()
                    .swarms()
                    .propose(
                        &a.swarm_id,
                        &a.proposer,
                        &a.member_token,
                        a.subject,
                        q,
                        Duration::from_millis(a.deadline_ms),
                    )
                    .await,
            )
        },
    );
    catalog.add_tool(
        Tool::new(
            "consensus_vote",
            "Vote yes or no on a proposal as a member. The caller proves it speaks for the \
             voter with the voter's member_token; the node then signs the ballot with the \
             member's key (which never leaves the node). Each member votes once, before the \
             deadline; a decided proposal takes no more votes. Returns the proposal.",
            object(schema(
                json!({
                    "swarm_id": swarm_id(),
                    "proposal_id": { "type": "integer", "minimum": 1 },
                    "voter": agent("The voting member"),
                    "member_token": token("The voter's member_token"),
                    "approve": { "type": "boolean" }
                }),
                &[
                    "swarm_id",
                    "proposal_id",
                    "voter",
                    "member_token",
                    "approve",
                ],
            )),
        ),
        |call: ToolCall| async move {
            let a: VoteArgs = parse!(call, "consensus_vote");
            answer(
                call.cx
                    .node()
                    .swarms()
                    .vote(
                        &a.swarm_id,
                        a.proposal_id,
                        &a.voter,
                        &a.member_token,
                        a.approve,
                    )
                    .await,
            )
        },
    );
    catalog.add_tool(
        Tool::new(
            "consensus_status",
            "A proposal: electorate, votes, tally and status (open, accepted, rejected or \
             expired; final once decided).",
            object(schema(
                json!({
                    "swarm_id": swarm_id(),
                    "proposal_id": { "type": "integer", "minimum": 1 }
                }),
                &["swarm_id", "proposal_id"],
            )),
        )
        .with_annotations(ToolAnnotations::new().read_only(true).idempotent(true)),
        |call: ToolCall| async move {
            let a: ProposalArgs = parse!(call, "consensus_status");
            answer(
                call.cx
                    .node()
                    .swarms()
                    .proposal(&a.swarm_id, a.proposal_id)
                    .await,
            )
        },
    );
}

fn resources(catalog: &mut Catalog) {
    catalog.add_template(
        ResourceTemplate::new("mcpflow://swarms/{id}/topology", "swarm-topology")
            .with_description(format!(
                "A swarm's topology as JSON: nodes with inbox depths, leader, messages in \
                 flight, and the first {EDGE_PAGE} edges (edges_total says how many there are; \
                 page the rest with swarm_status). Subscribe to hear of joins, removals with \
                 repair, leader changes and decisions."
            ))
            .with_mime_type("application/json"),
        None,
        |read: ResourceRead| async move {
            let id = read.vars.get("id").cloned().unwrap_or_default();
            let page = read
                .cx
                .node()
                .swarms()
                .topology(&id, 0, EDGE_PAGE)
                .await
                .map_err(|e| McpError::resource_not_found(e.to_string(), None))?;
            let text = serde_json::to_string_pretty(&page)
                .map_err(|e| McpError::internal_error(e.to_string(), None))?;
            Ok(ReadResourceResult::new(vec![
                ResourceContents::text(text, read.uri).with_mime_type("application/json"),
            ])
            .into())
        },
    );
}
