//! mcpflow's authentication and authorisation, usable without the rest of mcpflow.
//!
//! - [`Principal`]: who calls (id, tenant, roles, user/agent/service);
//! - [`jwt::JwtValidator`]: HS256 / RS256 / EdDSA bearer tokens, strict `exp`/`nbf`/`iss`/`aud`;
//! - [`apikey::ApiKeyStore`]: `mcpf_<id>_<secret>` keys hashed with argon2id, cached briefly;
//! - [`ClientCerts`]: verified mTLS client certificates (CN / SAN) mapped to principals;
//! - [`Rbac`]: roles → permissions on tools and resources, tenant isolation;
//! - [`ratelimit::PrincipalLimiter`]: token bucket per principal, quota per role;
//! - [`compliance::PolicyStore`]: Cedar policies, hot-reloaded, decisions cached and logged;
//! - [`AuthAudit`]: where refusals and compliance decisions are reported.
//!
//! [`Auth`] puts them together from an [`AuthConfig`].

pub mod apikey;
mod audit;
mod clientcert;
pub mod compliance;
mod config;
mod error;
pub mod jwt;
mod principal;
pub mod ratelimit;
mod rbac;
#[cfg(feature = "testing")]
pub mod testing;

pub use audit::{AuthAudit, AuthEvent, AuthOutcome, ComplianceEvent, MemoryAudit, TracingAudit};
pub use clientcert::{ClientCertRule, ClientCerts};
pub use compliance::{ComplianceReport, Decision, LoggedDecision, PolicyStore};
pub use config::AuthConfig;
pub use error::{AuthError, ConfigError};
pub use principal::{Principal, PrincipalKind};
pub use ratelimit::RateLimited;
pub use rbac::{Action, Denied, Rbac, Resource, RoleSpec, glob_match, tenant_of_uri};

use std::sync::Arc;
use std::time::Duration;

/// Authentication, authorisation, rate limits and compliance, configured together.
#[derive(Debug)]
pub struct Auth {
    resource: String,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
    jwt: Option<jwt::JwtValidator>,
    keys: Option<apikey::ApiKeyStore>,
    certs: ClientCerts,
    rbac: Rbac,
    limiter: ratelimit::PrincipalLimiter,
    compliance: Option<Arc<PolicyStore>>,
    audit: Arc<dyn AuthAudit>,
}

impl Auth {
    /// Reads every file the config names and builds the checks. Starts the policy watcher
    /// when compliance is configured. Refusals go to [`TracingAudit`] until
    /// [`Self::with_audit`].
    pub fn from_config(config: &AuthConfig) -> Result<Self, ConfigError> {
        let jwt = config
            .jwt
            .as_ref()
            .map(jwt::JwtValidator::from_config)
            .transpose()?;
        let ttl = Duration::from_secs(config.api_key_cache_secs.unwrap_or(60));
        let keys = config
            .api_keys_file
            .as_deref()
            .map(|p| apikey::ApiKeyStore::load(p, ttl))
            .transpose()?;
        let certs = ClientCerts::new(&config.client_certs)?;
        if jwt.is_none() && keys.is_none() && certs.is_empty() {
            return Err(ConfigError::invalid(
                "[auth]",
                "no credential source: set [auth.jwt] (issuer, audience, jwks_file or hs256_secret_file), api_keys_file and/or [[auth.client_certs]] (with [http.tls] client_ca_file)",
            ));
        }
        let rbac = match &config.roles_file {
            Some(path) => Rbac::load(path)?,
            None => {
                tracing::warn!(
                    "[auth] roles_file not set: no role has any permission, every tool call and resource read will be refused"
                );
                Rbac::default()
            }
        };
        let compliance = match &config.compliance {
            Some(c) => {
                let store = PolicyStore::open(c)?;
                store.watch(Duration::from_millis(c.poll_ms.max(50)));
                Some(store)
            }
            None => None,
        };
        let resource = config
            .resource
            .clone()
            .or_else(|| config.jwt.as_ref().map(|j| j.audience.clone()))
            .unwrap_or_default();
        Ok(
            Self::new(resource, jwt, keys, rbac, config.rate_limit, compliance)
                .with_metadata(
                    config.authorization_servers.clone(),
                    config.scopes_supported.clone(),
                )
                .with_client_certs(certs),
        )
    }

    /// Assembles from parts (for embedding and tests).
    pub fn new(
        resource: String,
        jwt: Option<jwt::JwtValidator>,
        keys: Option<apikey::ApiKeyStore>,
        rbac: Rbac,
        rate_limit: ratelimit::RateLimitConfig,
        compliance: Option<Arc<PolicyStore>>,
    ) -> Self {
        let limiter = ratelimit::PrincipalLimiter::new(rate_limit, &rbac);
        Self {
            resource,
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            jwt,
            keys,
            certs: ClientCerts::default(),
            rbac,
            limiter,
            compliance,
            audit: Arc::new(TracingAudit),
        }
    }

    /// Sets what the protected-resource metadata advertises.
    pub fn with_metadata(
        mut self,
        authorization_servers: Vec<String>,
        scopes: Vec<String>,
    ) -> Self {
        self.authorization_servers = authorization_servers;
        self.scopes_supported = scopes;
        self
    }

    /// Accepts verified client certificates with these names (mTLS) as principals.
    pub fn with_client_certs(mut self, certs: ClientCerts) -> Self {
        self.certs = certs;
        self
    }

    /// Whether any client certificate is mapped to a principal (then the TLS layer must ask
    /// for client certificates, or the mapping is never used).
    pub fn accepts_client_certs(&self) -> bool {
        !self.certs.is_empty()
    }

    /// The principal of a client certificate the TLS layer verified, from its names (subject
    /// CN first, then SANs).
    pub fn authenticate_client_cert<S: AsRef<str>>(
        &self,
        names: &[S],
    ) -> Result<Principal, AuthError> {
        if self.certs.is_empty() {
            return Err(AuthError::NotAccepted("client certificate"));
        }
        self.certs.principal(names)
    }

    /// Sends refusals to `audit`.
    pub fn with_audit(mut self, audit: Arc<dyn AuthAudit>) -> Self {
        self.audit = audit;
        self
    }

    /// Where refusals go.
    pub fn audit(&self) -> &Arc<dyn AuthAudit> {
        &self.audit
    }

    /// The resource URL (JWT audience / RFC 9728 `resource`), possibly empty.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// Authorization servers to advertise.
    pub fn authorization_servers(&self) -> &[String] {
        &self.authorization_servers
    }

    /// Scopes to advertise.
    pub fn scopes_supported(&self) -> &[String] {
        &self.scopes_supported
    }

    /// The RBAC rules.
    pub fn rbac(&self) -> &Rbac {
        &self.rbac
    }

    /// The Cedar policies, if configured.
    pub fn compliance(&self) -> Option<&Arc<PolicyStore>> {
        self.compliance.as_ref()
    }

    /// Authenticates an `Authorization` header value (`Bearer <jwt or API key>`).
    pub fn authenticate_header(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let (scheme, token) = header.trim().split_once(' ').ok_or(AuthError::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(AuthError::Malformed);
        }
        self.authenticate(token.trim())
    }

    /// Whether `token` looks like an API key (these need the slow argon2 path when not cached;
    /// async callers should run [`Self::authenticate`] on a blocking thread for them).
    pub fn is_api_key(token: &str) -> bool {
        token.starts_with(apikey::PREFIX)
    }

    /// Authenticates a bearer credential: API key if it starts with `mcpf_`, else JWT.
    pub fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        if Self::is_api_key(token) {
            return self
                .keys
                .as_ref()
                .ok_or(AuthError::NotAccepted("API key"))?
                .verify(token);
        }
        self.jwt
            .as_ref()
            .ok_or(AuthError::NotAccepted("JWT"))?
            .validate(token)
    }

    /// Takes one request from `principal`'s rate budget.
    pub fn rate_limit(&self, principal: &Principal) -> Result<(), RateLimited> {
        self.limiter.check(principal)
    }

    /// Forgets idle rate-limit buckets; call periodically.
    pub fn gc(&self) {
        self.limiter.gc();
    }

    /// RBAC (permission + tenant isolation), then Cedar compliance if configured. Every Cedar
    /// decision goes to the audit hook ([`AuthAudit::decision`]); a request RBAC refuses
    /// never reaches Cedar.
    pub fn authorize(
        &self,
        principal: &Principal,
        action: Action,
        resource: &Resource,
    ) -> Result<(), Denied> {
        self.rbac.authorize(principal, action, resource)?;
        if let Some(store) = &self.compliance {
            let decision = store.check_compliance(principal, action, resource);
            self.audit.decision(&ComplianceEvent {
                principal,
                action,
                resource,
                decision: &decision,
            });
            if !decision.errors.is_empty() {
                tracing::warn!(errors = ?decision.errors, "Cedar evaluation errors");
            }
            if !decision.allow {
                return Err(Denied::Policy {
                    policies: if decision.reasons.is_empty() {
                        "(no permit matched)".into()
                    } else {
                        decision.reasons.join(", ")
                    },
                });
            }
        }
        Ok(())
    }
}
