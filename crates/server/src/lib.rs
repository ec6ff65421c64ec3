//! mcpflow's interfaces.
//!
//! This is the only crate that knows MCP, JSON-RPC, rmcp and HTTP. It serves one
//! [`mcpflow_node::Node`] over three transports — stdio, Streamable HTTP (`/mcp`) and
//! WebSocket (`/ws`) — and exposes the operations endpoints (`/healthz`, `/readyz`,
//! `/metrics`). Cross-cutting concerns are layers: DNS-rebinding checks, the JSON-RPC body gate,
//! session limits and rate limits in front of rmcp; spans, deadlines and metrics around the
//! handler ([`mcp::Observed`]).

pub mod client;
mod config;
pub mod conformance;
pub mod http;
pub mod mcp;
pub mod node_catalog;
pub mod sampling;
pub mod stdio;
pub mod telemetry;

pub use config::{ClientAuth, HttpConfig, TlsConfig};
