//! Who is calling: the identity every later check (RBAC, rate limits, Cedar) works on.

use serde::{Deserialize, Serialize};

/// What kind of caller a principal is; policies may treat them differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    /// A person (usually through an OAuth client).
    #[default]
    User,
    /// An AI agent acting on someone's behalf.
    Agent,
    /// A machine-to-machine caller.
    Service,
}

impl PrincipalKind {
    /// The lower-case name used in tokens, key files and Cedar entity types.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Agent => "agent",
            PrincipalKind::Service => "service",
        }
    }
}

/// An authenticated caller.
///
/// ```
/// use mcpflow_auth::{Principal, PrincipalKind};
/// let p = Principal::new("alice", "acme", ["reader"], PrincipalKind::User);
/// assert!(p.has_role("reader"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Principal {
    /// Stable id (`sub` of a JWT, the id part of an API key).
    pub id: String,
    /// The tenant the principal belongs to; data of other tenants is off limits unless a role
    /// grants `tenant:*`.
    pub tenant: String,
    /// Role names, resolved to permissions by [`crate::Rbac`].
    pub roles: Vec<String>,
    /// User, agent or service.
    pub kind: PrincipalKind,
}

impl Principal {
    /// A principal with the given fields.
    pub fn new<R: Into<String>>(
        id: impl Into<String>,
        tenant: impl Into<String>,
        roles: impl IntoIterator<Item = R>,
        kind: PrincipalKind,
    ) -> Self {
        Self {
            id: id.into(),
            tenant: tenant.into(),
            roles: roles.into_iter().map(Into::into).collect(),
            kind,
        }
    }

    /// Whether the principal holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}
