//! The composition root of mcpflow.
//!
//! [`Node`] is the one façade every interface (MCP, CLI, a future dashboard) calls. It owns the
//! store and the event bus, and — as their issues land — the agent runtime, swarms, memory and
//! the security gate. Subsystems never import each other; the node wires them together.
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

mod config;
mod error;
mod node;
mod sessions;

pub use config::NodeConfig;
pub use error::Error;
pub use node::{Node, NodeStatus, StoreStatus, agent_uri, task_uri};
pub use sessions::SessionOutcome;
