//! API keys: `mcpf_<id>_<secret>`, stored only as argon2id PHC strings.
//!
//! A key is found by its id and checked with argon2's constant-time verify. argon2 is slow on
//! purpose (tens of milliseconds), so a successful check is remembered for a short while under
//! the SHA-256 of the key: per-request authentication then costs one hash and one map lookup.
//! Failures are never cached (a cache of bad keys would be an oracle and a memory sink).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{AuthError, ConfigError};
use crate::principal::{Principal, PrincipalKind};

/// The prefix of every key (lets scanners and our dispatcher recognise one).
pub const PREFIX: &str = "mcpf_";

/// One stored key (an entry of the keys file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredKey {
    /// The id part of the key; also the principal id.
    pub id: String,
    /// argon2id PHC string of the whole key.
    pub hash: String,
    /// Tenant of the principal.
    pub tenant: String,
    /// Roles of the principal.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Kind of principal (default `service`).
    #[serde(default = "service")]
    pub kind: PrincipalKind,
}

fn service() -> PrincipalKind {
    PrincipalKind::Service
}

/// The keys file: `[[keys]]` tables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysFile {
    /// Every key.
    #[serde(default)]
    pub keys: Vec<StoredKey>,
}

/// A freshly generated key: show `key` once to its owner, store `stored`.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The full secret key, `mcpf_<id>_<secret>`.
    pub key: String,
    /// What goes into the keys file.
    pub stored: StoredKey,
}

/// Splits `mcpf_<id>_<secret>`.
pub fn parse(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    (id_ok && secret.len() >= 16).then_some((id, secret))
}

/// Makes a new key for `id` with 32 random bytes of secret, hashed with argon2id.
pub fn generate(
    id: &str,
    tenant: &str,
    roles: &[&str],
    kind: PrincipalKind,
) -> Result<NewKey, ConfigError> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(ConfigError::invalid(
            "api key id",
            format!("{id:?}: use letters, digits and '-' only (no '_', it separates the parts)"),
        ));
    }
    let mut secret = [0u8; 32];
    aws_lc_rs::rand::fill(&mut secret)
        .map_err(|_| ConfigError::invalid("api key", "the system random generator failed"))?;
    let key = format!(
        "{PREFIX}{id}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    );
    let hash = Argon2::default()
        .hash_password(key.as_bytes())
        .map_err(|e| ConfigError::invalid("api key", format!("argon2 failed: {e}")))?
        .to_string();
    Ok(NewKey {
        stored: StoredKey {
            id: id.to_owned(),
            hash,
            tenant: tenant.to_owned(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            kind,
        },
        key,
    })
}

/// Verifies API keys against stored hashes, with a short-lived cache of successes.
pub struct ApiKeyStore {
    keys: HashMap<String, StoredKey>,
    cache: Mutex<HashMap<[u8; 32], (Principal, Instant)>>,
    ttl: Duration,
    /// Verified when the id is unknown, so a miss costs what a hit costs (no id oracle).
    decoy: String,
}

impl std::fmt::Debug for ApiKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyStore")
            .field("keys", &self.keys.len())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// Most cached successes; beyond it the expired ones are dropped, then all.
const CACHE_CAP: usize = 10_000;

impl ApiKeyStore {
    /// A store over `keys`; successful checks are cached for `ttl` (0 disables the cache).
    pub fn new(keys: Vec<StoredKey>, ttl: Duration) -> Result<Self, ConfigError> {
        let mut map = HashMap::new();
        for key in keys {
            PasswordHash::new(&key.hash).map_err(|e| {
                ConfigError::invalid(
                    format!("api key {:?}", key.id),
                    format!("`hash` is not a PHC string ({e}); generate keys with mcpflow_auth::apikey::generate"),
                )
            })?;
            if !key.hash.starts_with("$argon2id$") {
                return Err(ConfigError::invalid(
                    format!("api key {:?}", key.id),
                    "only argon2id hashes are accepted",
                ));
            }
            if map.insert(key.id.clone(), key).is_some() {
                return Err(ConfigError::invalid("api keys", "duplicate key id"));
            }
        }
        let decoy = Argon2::default()
            .hash_password(b"mcpf_decoy_not-a-real-key-at-all")
            .map_err(|e| ConfigError::invalid("api key", format!("argon2 failed: {e}")))?
            .to_string();
        Ok(Self {
            keys: map,
            cache: Mutex::new(HashMap::new()),
            ttl,
            decoy,
        })
    }

    /// Loads the keys file (TOML, `[[keys]]` tables).
    pub fn load(path: &Path, ttl: Duration) -> Result<Self, ConfigError> {
        let text = ConfigError::read(path)?;
        let file: KeysFile = toml::from_str(&text)
            .map_err(|e| ConfigError::invalid(path.display(), e.to_string()))?;
        Self::new(file.keys, ttl)
    }

    /// Number of keys known.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is known.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks `key` and returns its principal.
    pub fn verify(&self, key: &str) -> Result<Principal, AuthError> {
        let digest: [u8; 32] =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes())
                .as_ref()
                .try_into()
                .expect("SHA-256 is 32 bytes");
        let now = Instant::now();
        if let Some((principal, until)) = self.cache.lock().get(&digest)
            && *until > now
        {
            return Ok(principal.clone());
        }
        let Some((id, _)) = parse(key) else {
            return Err(AuthError::InvalidApiKey);
        };
        let (stored_hash, entry) = match self.keys.get(id) {
            Some(entry) => (entry.hash.as_str(), Some(entry)),
            None => (self.decoy.as_str(), None),
        };
        let hash = PasswordHash::new(stored_hash).map_err(|_| AuthError::InvalidApiKey)?;
        let verified = Argon2::default()
            .verify_password(key.as_bytes(), &hash)
            .is_ok();
        let entry = match (verified, entry) {
            (true, Some(entry)) => entry,
            _ => return Err(AuthError::InvalidApiKey),
        };
        let principal = Principal {
            id: entry.id.clone(),
            tenant: entry.tenant.clone(),
            roles: entry.roles.clone(),
            kind: entry.kind,
        };
        if !self.ttl.is_zero() {
            let mut cache = self.cache.lock();
            if cache.len() >= CACHE_CAP {
                cache.retain(|_, (_, until)| *until > now);
                if cache.len() >= CACHE_CAP {
                    cache.clear();
                }
            }
            cache.insert(digest, (principal.clone(), now + self.ttl));
        }
        Ok(principal)
    }

    /// How many successful verifications are cached right now (for tests and status).
    pub fn cached(&self) -> usize {
        self.cache.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_verifies_and_is_cached() {
        let new = generate("ci-bot", "acme", &["operator"], PrincipalKind::Service).unwrap();
        assert!(new.key.starts_with("mcpf_ci-bot_"));
        let store = ApiKeyStore::new(vec![new.stored.clone()], Duration::from_secs(60)).unwrap();
        let p = store.verify(&new.key).unwrap();
        assert_eq!((p.id.as_str(), p.tenant.as_str()), ("ci-bot", "acme"));
        assert_eq!(store.cached(), 1);
        assert_eq!(store.verify(&new.key).unwrap(), p);
    }

    #[test]
    fn wrong_secret_unknown_id_and_garbage_are_refused_and_not_cached() {
        let new = generate("ci", "acme", &[], PrincipalKind::Service).unwrap();
        let store = ApiKeyStore::new(vec![new.stored], Duration::from_secs(60)).unwrap();
        let mut tampered = new.key.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        for bad in [
            tampered.as_str(),
            "mcpf_other_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "mcpf_",
            "not-a-key",
        ] {
            assert_eq!(store.verify(bad), Err(AuthError::InvalidApiKey), "{bad}");
        }
        assert_eq!(store.cached(), 0);
    }

    #[test]
    fn keys_file_rejects_non_argon2id_hashes() {
        let err = ApiKeyStore::new(
            vec![StoredKey {
                id: "x".into(),
                hash: "plaintext".into(),
                tenant: "t".into(),
                roles: vec![],
                kind: PrincipalKind::Service,
            }],
            Duration::ZERO,
        )
        .unwrap_err();
        assert!(err.to_string().contains("PHC"), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_and_roundtrips(id in "[A-Za-z0-9-]{1,20}", secret in "[A-Za-z0-9_-]{16,60}", junk in ".*") {
            let key = format!("mcpf_{id}_{secret}");
            proptest::prop_assert_eq!(parse(&key), Some((id.as_str(), secret.as_str())));
            let _ = parse(&junk);
        }
    }
}
