//! The knobs of the interfaces, with defaults that are safe on a laptop and in a cluster.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// Serve HTTPS (and WSS) instead of plain HTTP; `None` (no `[http.tls]`) is plain HTTP.
    pub tls: Option<TlsConfig>,
}

/// `[http.tls]`: the certificate to serve and, optionally, client certificates to demand.
///
/// ```toml
/// [http.tls]
/// cert_file = "/etc/mcpflow/tls/server.crt"   # PEM: leaf first, then intermediates
/// key_file = "/etc/mcpflow/tls/server.key"    # PEM: PKCS#8, PKCS#1 or SEC1
/// client_ca_file = "/etc/mcpflow/tls/clients-ca.pem"  # optional: enables mTLS
/// client_auth = "required"                    # or "optional"
/// ```
///
/// The three files are re-read every `reload_poll_ms`; when their content changed and the new
/// set is valid, new connections get it (open ones keep theirs). An invalid set is logged and
/// the old one kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key of the leaf certificate.
    pub key_file: PathBuf,
    /// PEM bundle of CAs that issue client certificates; setting it turns on mTLS.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// With `client_ca_file`: `required` refuses handshakes without a valid client certificate;
    /// `optional` lets certificate-less clients in (they then need a bearer token).
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// A TCP connection that has not finished its TLS handshake by then is closed.
    #[serde(default = "default_handshake_timeout_secs")]
    pub handshake_timeout_secs: u64,
    /// Most TLS handshakes in progress at once; further connections wait in the kernel's
    /// accept queue.
    #[serde(default = "default_max_handshakes")]
    pub max_handshakes: usize,
    /// How often the certificate, key and client CA files are checked for changes.
    #[serde(default = "default_reload_poll_ms")]
    pub reload_poll_ms: u64,
}

/// Whether a client certificate is demanded (only meaningful with a client CA).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// No valid client certificate, no connection.
    #[default]
    Required,
    /// A client certificate is verified if sent, but clients may come without one.
    Optional,
}

fn default_handshake_timeout_secs() -> u64 {
    10
}

fn default_max_handshakes() -> usize {
    256
}

fn default_reload_poll_ms() -> u64 {
    5000
}

impl TlsConfig {
    /// A config serving `cert_file` + `key_file`, no client certificates, default limits.
    pub fn new(cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> Self {
        Self {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
            client_ca_file: None,
            client_auth: ClientAuth::default(),
            handshake_timeout_secs: default_handshake_timeout_secs(),
            max_handshakes: default_max_handshakes(),
            reload_poll_ms: default_reload_poll_ms(),
        }
    }
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
            tls: None,
        }
    }
}
