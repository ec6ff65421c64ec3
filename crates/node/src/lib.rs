//! The composition root of mcpflow.
//!
//! [`Node`] is the one façade every interface (MCP, CLI, a future dashboard) calls. It owns the
//! store, the event bus, the agent runtime and the swarm runtime, and — as their issues land —
//! semantic memory and, as its issue lands, the security gate. Subsystems never import each other; the node wires them together.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mcpflow_node::Error> {
//! use mcpflow_node::{Node, NodeConfig};
//!
//! let node = Node::open(NodeConfig::new("./data")).await?;
//! let status = node.status().await;
//! println!("node {} on {}", status.node_id, status.store.location);
//! # Ok(()) }
//! ```

mod audit;
mod auth_audit;
mod config;
mod error;
mod gate;
mod learning;
mod memory;
mod node;
mod sessions;
mod swarms;

pub use audit::{AuditEvent, AuditSink, DurableAudit, MemoryAudit, TracingAudit};
pub use auth_audit::{AuthAuditor, DECISION_ACTION, REFUSED_ACTION};
pub use config::{GateConfig, NodeConfig};
pub use error::Error;
pub use gate::{GateStats, GuardGate, semantic_layer};
pub use learning::{LearningError, NodeLearning, StoreTrajectories};
pub use memory::{
    Content, EntryView, HashingEmbedder, IndexParams, ListPage, LoadView, MAX_PAGE,
    MAX_TTL_SECONDS, MemoryFailure, MemorySettings, MemoryStats, NamespaceStats, NodeMemory,
    SearchHit, SearchResult, StorePersistence, StoreRequest, TextEmbedder, memory_uri,
    namespace_from_uri_segment,
};
pub use node::{Node, NodeStatus, StoreStatus, agent_uri, task_uri};
pub use sessions::SessionOutcome;
pub use swarms::{
    Created, EDGE_PAGE, InboxItem, MAX_MEMBERS, MAX_PAYLOAD, MemberGrant, MessageRef, NodeView,
    ProposalView, QuorumSpec, RepairView, SwarmError, SwarmOptions, Swarms, TopologyPage,
    parse_kind, swarm_topology_uri,
};
