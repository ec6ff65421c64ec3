//! Role-based access: roles grant permissions on tools and resources, and tenants are kept
//! apart.
//!
//! Permissions are `<kind>:<pattern>` strings where `*` matches any run of characters:
//! `tool:agent_spawn`, `tool:*`, `resource:mcpflow://memory/*`. The special `tenant:*` lets a
//! role cross tenant boundaries (operators); without it a principal only touches resources of
//! its own tenant.
//!
//! ```
//! use mcpflow_auth::{Action, Principal, PrincipalKind, Rbac, Resource};
//! let rbac = Rbac::from_toml(r#"
//! [roles.reader]
//! permissions = ["resource:mcpflow://memory/*"]
//! "#).unwrap();
//! let alice = Principal::new("alice", "acme", ["reader"], PrincipalKind::User);
//! let own = Resource::new("mcpflow://memory/notes").in_tenant("acme");
//! assert!(rbac.authorize(&alice, Action::ReadResource, &own).is_ok());
//! let theirs = Resource::new("mcpflow://memory/notes").in_tenant("globex");
//! assert!(rbac.authorize(&alice, Action::ReadResource, &theirs).is_err());
//! assert!(rbac.authorize(&alice, Action::CallTool, &Resource::new("agent_spawn")).is_err());
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

use crate::error::ConfigError;
use crate::principal::Principal;

/// What a principal wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `tools/call`: needs `tool:<name>`.
    CallTool,
    /// `resources/read` (and subscribe): needs `resource:<uri>`.
    ReadResource,
}

impl Action {
    /// The permission kind this action needs (`tool` / `resource`).
    pub fn kind(self) -> &'static str {
        match self {
            Action::CallTool => "tool",
            Action::ReadResource => "resource",
        }
    }

    /// The action's name as Cedar sees it (`Action::"call_tool"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::CallTool => "call_tool",
            Action::ReadResource => "read_resource",
        }
    }
}

/// What is acted on: a tool name or resource URI, and the tenant owning it (if any).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resource {
    /// Tool name or resource URI.
    pub name: String,
    /// Owning tenant; `None` for shared things (tools, node-wide resources).
    pub tenant: Option<String>,
}

impl Resource {
    /// A resource with no tenant; for URIs of the form `mcpflow://tenants/<t>/...` the tenant
    /// is taken from the URI.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        let tenant = tenant_of_uri(&name).map(str::to_owned);
        Self { name, tenant }
    }

    /// Sets the owning tenant.
    pub fn in_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }
}

/// The tenant named by a `mcpflow://tenants/<tenant>/...` URI.
pub fn tenant_of_uri(uri: &str) -> Option<&str> {
    let rest = uri.strip_prefix("mcpflow://tenants/")?;
    let tenant = rest.split('/').next()?;
    (!tenant.is_empty()).then_some(tenant)
}

/// Why access was refused (HTTP 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No role of the principal grants the permission.
    #[error(
        "permission `{permission}` is not granted to {principal} (roles: {roles}); ask an administrator for a role that grants it"
    )]
    Permission {
        /// The permission that was needed.
        permission: String,
        /// Principal id.
        principal: String,
        /// The principal's roles, comma-separated.
        roles: String,
    },
    /// The resource belongs to another tenant.
    #[error(
        "{resource} belongs to tenant {owner:?}, not {tenant:?}; cross-tenant access needs a role granting `tenant:*`"
    )]
    CrossTenant {
        /// The resource.
        resource: String,
        /// Its tenant.
        owner: String,
        /// The principal's tenant.
        tenant: String,
    },
    /// A Cedar compliance policy forbids it.
    #[error("refused by compliance policy {policies}")]
    Policy {
        /// Ids of the policies that decided.
        policies: String,
    },
}

impl Denied {
    /// A short stable label for metrics and audit records.
    pub fn label(&self) -> &'static str {
        match self {
            Denied::Permission { .. } => "permission",
            Denied::CrossTenant { .. } => "cross_tenant",
            Denied::Policy { .. } => "policy",
        }
    }
}

/// One role in the roles file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoleSpec {
    /// Granted permissions (`tool:*`, `resource:mcpflow://memory/*`, `tenant:*`).
    pub permissions: Vec<String>,
    /// Requests per second for principals with this role (the most generous role wins).
    pub rate_per_sec: Option<u32>,
    /// Burst size for principals with this role.
    pub burst: Option<u32>,
}

/// The roles file: `[roles.<name>]` tables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RolesFile {
    /// Roles by name.
    pub roles: BTreeMap<String, RoleSpec>,
}

/// Resolves roles to permissions and decides access.
#[derive(Debug, Clone, Default)]
pub struct Rbac {
    roles: BTreeMap<String, RoleSpec>,
}

impl Rbac {
    /// Parses a roles file's text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let file: RolesFile =
            toml::from_str(text).map_err(|e| ConfigError::invalid("roles file", e.to_string()))?;
        Self::new(file)
    }

    /// Loads a roles file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = ConfigError::read(path)?;
        Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Invalid { message, .. } => ConfigError::invalid(path.display(), message),
            other => other,
        })
    }

    /// Checks every permission's syntax.
    pub fn new(file: RolesFile) -> Result<Self, ConfigError> {
        for (role, spec) in &file.roles {
            for permission in &spec.permissions {
                let ok = match permission.split_once(':') {
                    Some(("tool" | "resource", pattern)) => !pattern.is_empty(),
                    Some(("tenant", "*")) => true,
                    _ => false,
                };
                if !ok {
                    return Err(ConfigError::invalid(
                        format!("roles.{role}"),
                        format!(
                            "permission {permission:?}: use `tool:<name or glob>`, `resource:<uri or glob>` or `tenant:*`"
                        ),
                    ));
                }
            }
            if spec.rate_per_sec == Some(0) {
                return Err(ConfigError::invalid(
                    format!("roles.{role}"),
                    "rate_per_sec must be at least 1 (remove the role's tool permissions to block it)",
                ));
            }
        }
        Ok(Self { roles: file.roles })
    }

    /// The role definitions.
    pub fn roles(&self) -> &BTreeMap<String, RoleSpec> {
        &self.roles
    }

    fn grants(&self, principal: &Principal, permission: &str) -> bool {
        principal
            .roles
            .iter()
            .filter_map(|r| self.roles.get(r))
            .flat_map(|spec| spec.permissions.iter())
            .any(|granted| glob_match(granted, permission))
    }

    /// Whether some role of `principal` grants `tenant:*`.
    pub fn crosses_tenants(&self, principal: &Principal) -> bool {
        self.grants(principal, "tenant:*")
    }

    /// Allows or refuses `action` on `resource`: the permission must be granted, and the
    /// resource must be in the principal's tenant unless a role grants `tenant:*`.
    pub fn authorize(
        &self,
        principal: &Principal,
        action: Action,
        resource: &Resource,
    ) -> Result<(), Denied> {
        if let Some(owner) = &resource.tenant
            && owner != &principal.tenant
            && !self.crosses_tenants(principal)
        {
            return Err(Denied::CrossTenant {
                resource: resource.name.clone(),
                owner: owner.clone(),
                tenant: principal.tenant.clone(),
            });
        }
        let permission = format!("{}:{}", action.kind(), resource.name);
        if self.grants(principal, &permission) {
            Ok(())
        } else {
            Err(Denied::Permission {
                permission,
                principal: principal.id.clone(),
                roles: principal.roles.join(","),
            })
        }
    }
}

/// `*` matches any run of characters (including none and `/`); everything else is literal.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PrincipalKind;

    #[test]
    fn globs() {
        assert!(glob_match("tool:*", "tool:agent_spawn"));
        assert!(glob_match(
            "resource:mcpflow://memory/*",
            "resource:mcpflow://memory/a/b"
        ));
        assert!(!glob_match(
            "resource:mcpflow://memory/*",
            "resource:mcpflow://agents/a"
        ));
        assert!(glob_match("tool:agent_*_x", "tool:agent_a_x"));
        assert!(!glob_match("tool:ab*ba", "tool:aba"));
        assert!(glob_match("tool:exact", "tool:exact"));
        assert!(!glob_match("tool:exact", "tool:exactly"));
    }

    #[test]
    fn tenant_star_crosses_tenants() {
        let rbac = Rbac::from_toml(
            "[roles.ops]\npermissions = [\"resource:*\", \"tenant:*\"]\n[roles.user]\npermissions = [\"resource:*\"]\n",
        )
        .unwrap();
        let other = Resource::new("mcpflow://tenants/globex/memory/x");
        assert_eq!(other.tenant.as_deref(), Some("globex"));
        let ops = Principal::new("o", "acme", ["ops"], PrincipalKind::User);
        let user = Principal::new("u", "acme", ["user"], PrincipalKind::User);
        assert!(rbac.authorize(&ops, Action::ReadResource, &other).is_ok());
        let err = rbac
            .authorize(&user, Action::ReadResource, &other)
            .unwrap_err();
        assert_eq!(err.label(), "cross_tenant");
    }

    #[test]
    fn bad_permission_is_a_clear_error() {
        let err = Rbac::from_toml("[roles.x]\npermissions = [\"tools:*\"]\n").unwrap_err();
        assert!(err.to_string().contains("tool:<name"), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn star_matches_everything_with_prefix(s in ".*") {
            let text = format!("tool:{s}");
            proptest::prop_assert!(glob_match("tool:*", &text));
            proptest::prop_assert!(glob_match(&text, &text) || text.contains('*'));
        }
    }
}
