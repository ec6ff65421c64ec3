//! The knobs of the interfaces, with defaults that are safe on a laptop and in a cluster.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Settings for the HTTP interfaces (`/mcp`, `/ws`, operations endpoints).
///
/// Every field has a default; `mcpflow.toml` sets them under `[http]`, the environment as
/// `MCPFLOW_HTTP__<FIELD>` (upper case).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to listen on. Loopback by default: exposing mcpflow is a deliberate act.
    pub listen: SocketAddr,
    /// Browser origins allowed besides loopback ones (`https://app.example.com`). A request with
    /// any other `Origin` header is refused with 403 (DNS-rebinding protection).
    pub allowed_origins: Vec<String>,
    /// `Host` header values (host or host:port) allowed besides loopback names. When listening
    /// on loopback, any other `Host` is refused with 403; when listening elsewhere and this is
    /// empty, any host is accepted.
    pub allowed_hosts: Vec<String>,
    /// Largest accepted request body; bigger ones get 413.
    pub max_body_bytes: usize,
    /// Most concurrent MCP sessions (HTTP and WebSocket); more get 503 until one ends.
    pub max_sessions: usize,
    /// A session with no request for this long is closed (clients rarely send DELETE).
    pub session_idle_secs: u64,
    /// New sessions per second allowed from one client address (token-bucket refill rate).
    pub session_rate_per_sec: u32,
    /// Burst of new sessions allowed from one client address.
    pub session_burst: u32,
    /// Longest a single request may run before it is cancelled with an error.
    pub request_timeout_secs: u64,
    /// Seconds an SSE stream may stay silent before a keep-alive comment is sent.
    pub sse_keep_alive_secs: u64,
    /// How long graceful shutdown waits for in-flight requests before closing anyway.
    pub shutdown_grace_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            max_body_bytes: 4 * 1024 * 1024,
            max_sessions: 1024,
            session_idle_secs: 300,
            session_rate_per_sec: 20,
            session_burst: 50,
            request_timeout_secs: 120,
            sse_keep_alive_secs: 15,
            shutdown_grace_secs: 10,
        }
    }
}
