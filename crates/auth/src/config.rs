//! The `[auth]` configuration section.
//!
//! ```toml
//! [auth]
//! # This server's resource URL: the JWT audience and the `resource` of the RFC 9728 metadata.
//! resource = "https://mcp.example.com/mcp"
//! authorization_servers = ["https://idp.example.com"]
//! scopes_supported = ["mcp:tools", "mcp:resources"]
//! roles_file = "/etc/mcpflow/roles.toml"
//! api_keys_file = "/etc/mcpflow/keys.toml"
//! api_key_cache_secs = 60
//!
//! [auth.jwt]
//! issuer = "https://idp.example.com"
//! audience = "https://mcp.example.com/mcp"
//! jwks_file = "/etc/mcpflow/jwks.json"
//! # hs256_secret_file = "/etc/mcpflow/jwt.secret"
//! leeway_secs = 30
//!
//! # Verified mTLS client certificates (needs [http.tls] client_ca_file), by CN or SAN.
//! [[auth.client_certs]]
//! name = "billing-agent"
//! tenant = "acme"
//! roles = ["agent"]
//!
//! [auth.rate_limit]
//! per_sec = 50
//! burst = 100
//!
//! [auth.compliance]
//! policy_dir = "/etc/mcpflow/policies"
//! poll_ms = 1000
//! ```

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::ClientCertRule;
use crate::compliance::ComplianceConfig;
use crate::jwt::JwtConfig;
use crate::ratelimit::RateLimitConfig;

/// Everything auth needs. At least one of `jwt`, `api_keys_file` and `client_certs` must be set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// This server's resource URL (RFC 9728 `resource`); defaults to the JWT audience.
    pub resource: Option<String>,
    /// Authorization servers advertised in the protected-resource metadata.
    pub authorization_servers: Vec<String>,
    /// Scopes advertised in the protected-resource metadata.
    pub scopes_supported: Vec<String>,
    /// JWT validation; omit to accept API keys only.
    pub jwt: Option<JwtConfig>,
    /// TOML file of `[[keys]]` (id, argon2id hash, tenant, roles, kind).
    pub api_keys_file: Option<PathBuf>,
    /// Client certificate names (CN or SAN) accepted as principals; the TLS layer verifies the
    /// certificate against `[http.tls] client_ca_file` first.
    pub client_certs: Vec<ClientCertRule>,
    /// How long a verified API key is remembered, seconds (default 60; 0 disables).
    pub api_key_cache_secs: Option<u64>,
    /// TOML file of `[roles.<name>]` (permissions, rate_per_sec, burst). Without it no role
    /// has any permission, so every tool call is refused.
    pub roles_file: Option<PathBuf>,
    /// Default per-principal rate limit.
    pub rate_limit: RateLimitConfig,
    /// Cedar compliance policies; omit to skip compliance checks.
    pub compliance: Option<ComplianceConfig>,
}
