//! JWT bearer tokens: HS256 with a shared secret, RS256 and EdDSA with keys from a JWKS file
//! selected by `kid`.
//!
//! The algorithm is chosen by *our* key, never by the token: an HS256 header is only checked
//! against the shared secret, an RS256/EdDSA header only against the JWKS key its `kid` names
//! and only if that key is of the same algorithm. So `alg: none` and the classic confusion
//! (HS256 signed with the RSA public key as the HMAC secret) are refused before any crypto.

use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

use crate::error::{AuthError, ConfigError};
use crate::principal::{Principal, PrincipalKind};

/// Settings of the JWT validator (the `[auth.jwt]` section).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud`: this server's resource URL (`https://mcp.example.com/mcp`).
    pub audience: String,
    /// File holding the HS256 shared secret (raw bytes; a trailing newline is dropped).
    pub hs256_secret_file: Option<std::path::PathBuf>,
    /// JWKS file (`{"keys": [...]}`) with the RS256 / EdDSA public keys, each with a `kid`.
    pub jwks_file: Option<std::path::PathBuf>,
    /// Clock skew tolerated on `exp` / `nbf`, seconds. Default 30.
    pub leeway_secs: Option<u64>,
    /// Tenant given to tokens without a `tenant` claim; when unset such tokens are refused.
    pub default_tenant: Option<String>,
}

/// The claims we read. Unknown claims are ignored.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    kind: PrincipalKind,
}

/// Validates bearer JWTs into [`Principal`]s.
pub struct JwtValidator {
    issuer: String,
    audience: String,
    leeway: u64,
    default_tenant: Option<String>,
    secret: Option<DecodingKey>,
    /// `kid` → (the one algorithm that key may verify, the key).
    jwks: HashMap<String, (Algorithm, DecodingKey)>,
}

impl std::fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtValidator")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("hs256", &self.secret.is_some())
            .field("kids", &self.jwks.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl JwtValidator {
    /// Builds a validator from its config, reading the secret and JWKS files.
    pub fn from_config(config: &JwtConfig) -> Result<Self, ConfigError> {
        let secret = match &config.hs256_secret_file {
            Some(path) => {
                let raw = std::fs::read(path).map_err(|source| ConfigError::Io {
                    path: path.display().to_string(),
                    source,
                })?;
                let trimmed = raw.strip_suffix(b"\n").unwrap_or(&raw);
                let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
                Some(trimmed.to_vec())
            }
            None => None,
        };
        let jwks = match &config.jwks_file {
            Some(path) => Some(load_jwks(path)?),
            None => None,
        };
        Self::new(config, secret.as_deref(), jwks.as_ref())
    }

    /// Builds a validator from in-memory key material (what [`Self::from_config`] reads).
    pub fn new(
        config: &JwtConfig,
        hs256_secret: Option<&[u8]>,
        jwks: Option<&JwkSet>,
    ) -> Result<Self, ConfigError> {
        if config.issuer.is_empty() || config.audience.is_empty() {
            return Err(ConfigError::invalid(
                "[auth.jwt]",
                "set both `issuer` and `audience` (the audience is this server's resource URL)",
            ));
        }
        if let Some(secret) = hs256_secret
            && secret.len() < 32
        {
            return Err(ConfigError::invalid(
                "[auth.jwt] hs256_secret_file",
                format!(
                    "the HS256 secret is {} bytes; use at least 32 random bytes (`openssl rand -base64 48`)",
                    secret.len()
                ),
            ));
        }
        let mut keys = HashMap::new();
        if let Some(set) = jwks {
            for jwk in &set.keys {
                let Some(kid) = jwk.common.key_id.clone() else {
                    tracing::warn!("JWKS key without `kid` skipped: keys are selected by kid");
                    continue;
                };
                let alg = match (&jwk.algorithm, jwk.common.key_algorithm) {
                    (AlgorithmParameters::RSA(_), None) => Algorithm::RS256,
                    (AlgorithmParameters::OctetKeyPair(okp), None)
                        if okp.curve == EllipticCurve::Ed25519 =>
                    {
                        Algorithm::EdDSA
                    }
                    (_, Some(declared)) => match declared {
                        KeyAlgorithm::RS256 => Algorithm::RS256,
                        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
                        _ => {
                            tracing::warn!(%kid, alg = ?declared, "JWKS key skipped: only RS256 and EdDSA keys are accepted");
                            continue;
                        }
                    },
                    _ => {
                        tracing::warn!(%kid, "JWKS key skipped: only RSA and Ed25519 keys are accepted");
                        continue;
                    }
                };
                let key_fits = matches!(
                    (&jwk.algorithm, alg),
                    (AlgorithmParameters::RSA(_), Algorithm::RS256)
                        | (AlgorithmParameters::OctetKeyPair(_), Algorithm::EdDSA)
                );
                if !key_fits {
                    return Err(ConfigError::invalid(
                        "JWKS",
                        format!("key {kid:?} declares alg {alg:?} but its key type does not fit"),
                    ));
                }
                let key = DecodingKey::from_jwk(jwk).map_err(|e| {
                    ConfigError::invalid("JWKS", format!("key {kid:?} is unusable: {e}"))
                })?;
                keys.insert(kid, (alg, key));
            }
        }
        if hs256_secret.is_none() && keys.is_empty() {
            return Err(ConfigError::invalid(
                "[auth.jwt]",
                "no verification key: set `hs256_secret_file` or a `jwks_file` with at least one RS256/EdDSA key",
            ));
        }
        Ok(Self {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            leeway: config.leeway_secs.unwrap_or(30),
            default_tenant: config.default_tenant.clone(),
            secret: hs256_secret.map(DecodingKey::from_secret),
            jwks: keys,
        })
    }

    fn allowed(&self) -> String {
        let mut allowed = Vec::new();
        if self.secret.is_some() {
            allowed.push("HS256");
        }
        if self.jwks.values().any(|(a, _)| *a == Algorithm::RS256) {
            allowed.push("RS256");
        }
        if self.jwks.values().any(|(a, _)| *a == Algorithm::EdDSA) {
            allowed.push("EdDSA");
        }
        allowed.join(", ")
    }

    /// Validates `token` and returns its principal.
    pub fn validate(&self, token: &str) -> Result<Principal, AuthError> {
        let (alg, kid) = read_header(token)?;
        let refuse_alg = || AuthError::AlgNotAllowed {
            alg: alg.clone(),
            allowed: self.allowed(),
        };
        let (algorithm, key) = match alg.as_str() {
            "HS256" => (
                Algorithm::HS256,
                self.secret.as_ref().ok_or_else(refuse_alg)?,
            ),
            "RS256" | "EdDSA" => {
                if self.jwks.is_empty() {
                    return Err(refuse_alg());
                }
                let kid = kid.ok_or_else(|| {
                    AuthError::MalformedToken(
                        "RS256/EdDSA tokens must name their key with `kid`".into(),
                    )
                })?;
                let (key_alg, key) = self
                    .jwks
                    .get(&kid)
                    .ok_or(AuthError::UnknownKid { kid: kid.clone() })?;
                // The key decides the algorithm: an EdDSA key never verifies an RS256 header.
                let key_alg_name = match key_alg {
                    Algorithm::RS256 => "RS256",
                    _ => "EdDSA",
                };
                if key_alg_name != alg {
                    return Err(refuse_alg());
                }
                (*key_alg, key)
            }
            _ => return Err(refuse_alg()),
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.validate_exp = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|e| self.map_error(e.into_kind(), &alg))?;
        let claims = data.claims;
        let id = claims
            .sub
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AuthError::InvalidClaims("`sub` is empty".into()))?;
        let tenant = match claims.tenant.filter(|t| !t.is_empty()) {
            Some(t) => t,
            None => self.default_tenant.clone().ok_or_else(|| {
                AuthError::InvalidClaims(
                    "`tenant` claim missing (or set [auth.jwt] default_tenant)".into(),
                )
            })?,
        };
        Ok(Principal {
            id,
            tenant,
            roles: claims.roles,
            kind: claims.kind,
        })
    }

    fn map_error(&self, kind: ErrorKind, alg: &str) -> AuthError {
        match kind {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidSignature => AuthError::BadSignature,
            ErrorKind::InvalidAudience => AuthError::WrongAudience {
                expected: self.audience.clone(),
            },
            ErrorKind::InvalidIssuer => AuthError::WrongIssuer {
                expected: self.issuer.clone(),
            },
            ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
                "aud" => AuthError::WrongAudience {
                    expected: self.audience.clone(),
                },
                "iss" => AuthError::WrongIssuer {
                    expected: self.issuer.clone(),
                },
                other => AuthError::InvalidClaims(format!("required claim `{other}` missing")),
            },
            ErrorKind::InvalidClaimFormat(claim) => {
                AuthError::InvalidClaims(format!("claim `{claim}` has the wrong type"))
            }
            ErrorKind::InvalidAlgorithm | ErrorKind::UnsupportedAlgorithm => {
                AuthError::AlgNotAllowed {
                    alg: alg.to_owned(),
                    allowed: self.allowed(),
                }
            }
            ErrorKind::Json(e) => AuthError::InvalidClaims(e.to_string()),
            ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidEddsaKey
            | ErrorKind::InvalidKeyFormat => AuthError::BadSignature,
            other => AuthError::MalformedToken(format!("{other:?}")),
        }
    }
}

/// Reads `alg` and `kid` ourselves, so an unknown algorithm (`none`) gets a precise error
/// instead of a JSON one.
fn read_header(token: &str) -> Result<(String, Option<String>), AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::MalformedToken(
            "a JWT has three dot-separated parts".into(),
        ));
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|e| AuthError::MalformedToken(format!("header is not base64url: {e}")))?;
    #[derive(Deserialize)]
    struct RawHeader {
        alg: Option<String>,
        kid: Option<String>,
    }
    let raw: RawHeader = serde_json::from_slice(&bytes)
        .map_err(|e| AuthError::MalformedToken(format!("header is not a JSON object: {e}")))?;
    let alg = raw
        .alg
        .ok_or_else(|| AuthError::MalformedToken("header has no `alg`".into()))?;
    Ok((alg, raw.kid))
}

/// Reads a JWKS file.
pub fn load_jwks(path: &Path) -> Result<JwkSet, ConfigError> {
    let text = ConfigError::read(path)?;
    serde_json::from_str(&text).map_err(|e| {
        ConfigError::invalid(
            path.display(),
            format!("not a JWKS document (`{{\"keys\": [...]}}`): {e}"),
        )
    })
}
