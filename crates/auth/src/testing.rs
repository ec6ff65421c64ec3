//! Token minting for tests (feature `testing`): an issuer with an HS256 secret, an RSA key
//! (`kid` `rsa-1`), an Ed25519 key (`kid` `ed-1`), and an RSA key *not* in the JWKS to forge
//! tokens with. The RSA keys are fixed test fixtures (2048-bit, generated once with openssl);
//! never use them for anything real.

use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::jwt::{JwtConfig, JwtValidator};

/// How to sign a test token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// HS256 with the shared secret.
    Hs256,
    /// RS256 with the JWKS key `rsa-1`.
    Rs256,
    /// EdDSA with the JWKS key `ed-1`.
    EdDsa,
    /// RS256 claiming `kid` `rsa-1` but signed with another RSA key (a forgery).
    ForgedRs256,
    /// HS256 using the RSA public key's DER as HMAC secret, `kid` `rsa-1` (alg confusion).
    ConfusedHs256,
}

/// A fake authorization server.
pub struct TestIssuer {
    /// `iss` of the tokens.
    pub issuer: String,
    /// `aud` of the tokens.
    pub audience: String,
    /// The HS256 secret.
    pub secret: Vec<u8>,
    rsa: EncodingKey,
    rsa_public_der: Vec<u8>,
    forger: EncodingKey,
    ed: EncodingKey,
    jwks: JwkSet,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIssuer")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

const RSA1: &[u8] = include_bytes!("testing_keys/rsa1.der");
const RSA2: &[u8] = include_bytes!("testing_keys/rsa2.der");

impl TestIssuer {
    /// An issuer for `audience`.
    pub fn new(issuer: &str, audience: &str) -> Self {
        let rsa = EncodingKey::from_rsa_der(RSA1);
        let forger = EncodingKey::from_rsa_der(RSA2);
        let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8v1(
            &aws_lc_rs::rand::SystemRandom::new(),
        )
        .expect("Ed25519 key generation");
        let ed = EncodingKey::from_ed_der(pkcs8.as_ref());
        let ed_public = {
            use aws_lc_rs::signature::KeyPair;
            aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
                .expect("own key")
                .public_key()
                .as_ref()
                .to_vec()
        };
        let mut rsa_jwk = Jwk::from_encoding_key(&rsa, Algorithm::RS256).expect("RSA JWK");
        rsa_jwk.common.key_id = Some("rsa-1".into());
        let ed_jwk: Jwk = serde_json::from_value(json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "kid": "ed-1",
            "alg": "EdDSA",
            "x": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ed_public),
        }))
        .expect("Ed25519 JWK");
        let rsa_public_der = {
            use aws_lc_rs::signature::KeyPair;
            aws_lc_rs::rsa::KeyPair::from_der(RSA1)
                .expect("fixture key")
                .public_key()
                .as_ref()
                .to_vec()
        };
        let mut secret = vec![0u8; 48];
        aws_lc_rs::rand::fill(&mut secret).expect("random");
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            secret,
            rsa,
            rsa_public_der,
            forger,
            ed,
            jwks: JwkSet {
                keys: vec![rsa_jwk, ed_jwk],
            },
        }
    }

    /// The public keys, as a JWKS document would hold them.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// The JWKS as JSON text (write it to a file for [`JwtConfig::jwks_file`]).
    pub fn jwks_json(&self) -> String {
        serde_json::to_string(&self.jwks).expect("JWKS serialises")
    }

    /// A config naming this issuer and audience (no files; see [`Self::validator`]).
    pub fn config(&self) -> JwtConfig {
        JwtConfig {
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            leeway_secs: Some(5),
            ..JwtConfig::default()
        }
    }

    /// A validator trusting this issuer's secret and JWKS.
    pub fn validator(&self) -> JwtValidator {
        JwtValidator::new(&self.config(), Some(&self.secret), Some(&self.jwks)).expect("valid")
    }

    /// Valid claims for `sub` in `tenant` with `roles`, expiring in 5 minutes.
    pub fn claims(&self, sub: &str, tenant: &str, roles: &[&str]) -> Value {
        json!({
            "sub": sub,
            "tenant": tenant,
            "roles": roles,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now(),
            "exp": now() + 300,
        })
    }

    /// Signs `claims`.
    pub fn sign(&self, signer: Signer, claims: &Value) -> String {
        let (alg, kid, key) = match signer {
            Signer::Hs256 => (
                Algorithm::HS256,
                None,
                EncodingKey::from_secret(&self.secret),
            ),
            Signer::Rs256 => (Algorithm::RS256, Some("rsa-1"), self.rsa.clone()),
            Signer::EdDsa => (Algorithm::EdDSA, Some("ed-1"), self.ed.clone()),
            Signer::ForgedRs256 => (Algorithm::RS256, Some("rsa-1"), self.forger.clone()),
            Signer::ConfusedHs256 => (
                Algorithm::HS256,
                Some("rsa-1"),
                EncodingKey::from_secret(&self.rsa_public_der),
            ),
        };
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &key).expect("signing")
    }
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
