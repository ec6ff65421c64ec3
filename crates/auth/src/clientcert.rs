//! Client certificates (mutual TLS) as a credential: the TLS layer verifies the certificate
//! against the configured client CA; this module maps one of its names to a [`Principal`].
//!
//! The names are the subject common name and the DNS / URI / e-mail subject alternative
//! names. The CA vouches for them; the mapping says which tenant and roles they get, so a
//! certificate the CA issued but nobody mapped is refused (401), not given defaults.
//!
//! ```toml
//! [[auth.client_certs]]
//! name = "billing-agent"          # CN or SAN of the client certificate
//! tenant = "acme"
//! roles = ["agent"]
//! kind = "service"                # user | agent | service (default service)
//! ```

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::{AuthError, ConfigError, Principal, PrincipalKind};

/// One `[[auth.client_certs]]` entry: a certificate name and the principal it becomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertRule {
    /// The subject CN or a DNS / URI / e-mail SAN of the certificate; becomes the principal id.
    pub name: String,
    /// The principal's tenant.
    pub tenant: String,
    /// The principal's roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// What kind of caller presents this certificate.
    #[serde(default = "service")]
    pub kind: PrincipalKind,
}

fn service() -> PrincipalKind {
    PrincipalKind::Service
}

/// Certificate name → principal.
#[derive(Debug, Clone, Default)]
pub struct ClientCerts {
    by_name: HashMap<String, Principal>,
}

impl ClientCerts {
    /// Builds the map; empty or repeated names are configuration errors.
    pub fn new(rules: &[ClientCertRule]) -> Result<Self, ConfigError> {
        let mut by_name = HashMap::new();
        for rule in rules {
            let name = rule.name.trim();
            if name.is_empty() {
                return Err(ConfigError::invalid(
                    "[[auth.client_certs]]",
                    "an entry has an empty name: set it to the certificate's CN or a SAN",
                ));
            }
            if rule.tenant.trim().is_empty() {
                return Err(ConfigError::invalid(
                    "[[auth.client_certs]]",
                    format!("entry {name:?} has an empty tenant"),
                ));
            }
            let principal = Principal::new(name, rule.tenant.trim(), &rule.roles, rule.kind);
            if by_name.insert(name.to_owned(), principal).is_some() {
                return Err(ConfigError::invalid(
                    "[[auth.client_certs]]",
                    format!(
                        "name {name:?} appears twice: each certificate name maps to one principal"
                    ),
                ));
            }
        }
        Ok(Self { by_name })
    }

    /// Whether no certificate is mapped.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The principal of a verified certificate with these names (CN first, then SANs): the
    /// first name that is mapped wins.
    pub fn principal<S: AsRef<str>>(&self, names: &[S]) -> Result<Principal, AuthError> {
        names
            .iter()
            .find_map(|n| self.by_name.get(n.as_ref()))
            .cloned()
            .ok_or_else(|| AuthError::UnknownClientCert {
                names: names
                    .iter()
                    .map(AsRef::as_ref)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, tenant: &str) -> ClientCertRule {
        ClientCertRule {
            name: name.into(),
            tenant: tenant.into(),
            roles: vec!["agent".into()],
            kind: PrincipalKind::Service,
        }
    }

    #[test]
    fn the_first_mapped_name_becomes_the_principal() {
        let certs =
            ClientCerts::new(&[rule("billing", "acme"), rule("spiffe://x/y", "globex")]).unwrap();
        let p = certs.principal(&["unmapped-cn", "spiffe://x/y"]).unwrap();
        assert_eq!(
            (p.id.as_str(), p.tenant.as_str()),
            ("spiffe://x/y", "globex")
        );
        assert!(p.has_role("agent"));
        let err = certs.principal(&["stranger", "a.example"]).unwrap_err();
        assert_eq!(err.label(), "unknown_client_cert");
        assert!(err.to_string().contains("stranger, a.example"), "{err}");
    }

    #[test]
    fn empty_and_repeated_names_are_refused() {
        assert!(ClientCerts::new(&[rule(" ", "acme")]).is_err());
        assert!(ClientCerts::new(&[rule("a", "")]).is_err());
        let err = ClientCerts::new(&[rule("a", "acme"), rule("a", "globex")]).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
    }

    #[test]
    fn kind_defaults_to_service() {
        let rule: ClientCertRule = toml::from_str("name = \"a\"\ntenant = \"t\"\n").unwrap();
        assert_eq!(rule.kind, PrincipalKind::Service);
        assert!(rule.roles.is_empty());
    }
}
