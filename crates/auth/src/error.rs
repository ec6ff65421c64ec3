//! Why a caller was not let in. Each variant says what to do about it.

/// An authentication failure (HTTP 401): the credentials are missing or not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing credentials: send `Authorization: Bearer <token or API key>`")]
    Missing,
    /// The header is there but is not `Bearer <something>`.
    #[error("malformed Authorization header: expected `Bearer <token or API key>`")]
    Malformed,
    /// `exp` is in the past (beyond the leeway).
    #[error("token expired; obtain a new one from the authorization server")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not valid yet (nbf in the future); check the clocks")]
    NotYetValid,
    /// The signature does not verify with the key the token names.
    #[error("bad signature: the token was not signed by a trusted key")]
    BadSignature,
    /// `aud` is not this resource.
    #[error("wrong audience: the token was issued for another resource (expected {expected})")]
    WrongAudience {
        /// The audience this server accepts.
        expected: String,
    },
    /// `iss` is not the configured issuer.
    #[error("wrong issuer: tokens must come from {expected}")]
    WrongIssuer {
        /// The issuer this server trusts.
        expected: String,
    },
    /// The `kid` is not in the JWKS.
    #[error("unknown key id {kid:?}: not in the configured JWKS (rotate the JWKS file?)")]
    UnknownKid {
        /// The key id in the token header.
        kid: String,
    },
    /// The header names an algorithm we do not accept (including `none`), or one that does not
    /// fit the key (HS256 with an RSA key).
    #[error("algorithm {alg} not allowed here (accepted: {allowed})")]
    AlgNotAllowed {
        /// The algorithm in the token header.
        alg: String,
        /// What is accepted.
        allowed: String,
    },
    /// A required claim is absent or has the wrong type.
    #[error("invalid claims: {0}")]
    InvalidClaims(String),
    /// Not a JWT at all.
    #[error("malformed token: {0}")]
    MalformedToken(String),
    /// The API key is unknown, revoked or its secret does not match.
    #[error("invalid API key")]
    InvalidApiKey,
    /// Neither JWT nor API keys are configured for this kind of credential.
    #[error("{0} credentials are not accepted by this server")]
    NotAccepted(&'static str),
    /// A client certificate the CA vouches for, but whose names no `[[auth.client_certs]]`
    /// entry maps to a principal.
    #[error(
        "client certificate ({names}) is not mapped to a principal: add one of its names to [[auth.client_certs]], or send a bearer token"
    )]
    UnknownClientCert {
        /// The certificate's names (CN, then SANs).
        names: String,
    },
}

impl AuthError {
    /// A short stable label for metrics and audit records.
    pub fn label(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Malformed => "malformed_header",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::BadSignature => "bad_signature",
            AuthError::WrongAudience { .. } => "wrong_audience",
            AuthError::WrongIssuer { .. } => "wrong_issuer",
            AuthError::UnknownKid { .. } => "unknown_kid",
            AuthError::AlgNotAllowed { .. } => "alg_not_allowed",
            AuthError::InvalidClaims(_) => "invalid_claims",
            AuthError::MalformedToken(_) => "malformed_token",
            AuthError::InvalidApiKey => "invalid_api_key",
            AuthError::NotAccepted(_) => "not_accepted",
            AuthError::UnknownClientCert { .. } => "unknown_client_cert",
        }
    }
}

/// A configuration or file that cannot be used; says which file and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A file was read but its content is invalid.
    #[error("invalid {path}: {message}")]
    Invalid {
        /// The file (or config key).
        path: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(path: impl std::fmt::Display, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            path: path.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn read(path: &std::path::Path) -> Result<String, Self> {
        std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })
    }
}
