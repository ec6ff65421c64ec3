//! Signed tree heads: Ed25519 over `{size, root, ts}`.
//!
//! Signed message (version 1): `"mcpflow-audit-sth-v1\0" || size (u64 BE) || ts_ms (i64 BE) ||
//! root (32 bytes)`. The private key is a PKCS#8 v2 document in a file created `0600` on first
//! use; the public key goes beside it in `<key>.pub` (64 hex characters) for verifiers that must
//! not hold the private key.

use crate::event::{Hash, ser_hex};
use crate::{Error, Result};
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use mcpflow_secrets::{hex, private_file};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

const STH_TAG: &[u8] = b"mcpflow-audit-sth-v1\0";

/// A checkpoint: the Merkle root over the first `size` entries, signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedHead {
    /// Entries covered: seq `0..size`.
    pub size: u64,
    /// RFC 6962 root over those entries' canonical bytes.
    #[serde(serialize_with = "ser_hex", deserialize_with = "de_hex32")]
    pub root: Hash,
    /// When it was signed, ms since the Unix epoch.
    pub ts_ms: i64,
    /// First 8 bytes of SHA-256 of the signer's public key.
    #[serde(serialize_with = "ser_hex8", deserialize_with = "de_hex8")]
    pub key_id: [u8; 8],
    /// Ed25519 signature over [`SignedHead::message`].
    #[serde(serialize_with = "ser_hex_vec", deserialize_with = "de_hex_vec")]
    pub signature: Vec<u8>,
}

fn ser_hex8<S: serde::Serializer>(h: &[u8; 8], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(h))
}
fn ser_hex_vec<S: serde::Serializer>(h: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(h))
}
fn de_hex_vec<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<u8>, D::Error> {
    let s = String::deserialize(d)?;
    hex::decode(&s).ok_or_else(|| serde::de::Error::custom("expected hex"))
}
pub(crate) fn de_hex32<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Hash, D::Error> {
    de_hex_vec(d)?
        .try_into()
        .map_err(|_| serde::de::Error::custom("expected 32 bytes of hex"))
}
fn de_hex8<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<[u8; 8], D::Error> {
    de_hex_vec(d)?
        .try_into()
        .map_err(|_| serde::de::Error::custom("expected 8 bytes of hex"))
}

impl SignedHead {
    /// The bytes the signature covers.
    pub fn message(size: u64, ts_ms: i64, root: &Hash) -> Vec<u8> {
        let mut m = Vec::with_capacity(STH_TAG.len() + 48);
        m.extend_from_slice(STH_TAG);
        m.extend_from_slice(&size.to_be_bytes());
        m.extend_from_slice(&ts_ms.to_be_bytes());
        m.extend_from_slice(root);
        m
    }
}

fn key_id_of(public: &[u8]) -> [u8; 8] {
    digest(&SHA256, public).as_ref()[..8]
        .try_into()
        .expect("8 bytes")
}

/// Signs tree heads. `Debug` prints only the key id.
pub struct Signer {
    pair: Ed25519KeyPair,
    key_id: [u8; 8],
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer(key id {}, ***)", hex::encode(&self.key_id))
    }
}

/// The public-key path beside a private key file.
pub fn public_key_path(key: &Path) -> PathBuf {
    let mut p = key.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

impl Signer {
    /// Loads the key at `path`, generating it (`0600`, plus `<path>.pub`) when missing.
    pub fn load_or_generate(path: &Path) -> Result<Self> {
        if path.exists() {
            private_file::check_private(path)?;
            let der = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            let pair = Ed25519KeyPair::from_pkcs8(&der).map_err(|e| Error::Key {
                path: path.to_owned(),
                reason: format!(
                    "not an Ed25519 PKCS#8 key ({e}); move it away to generate a new one"
                ),
            })?;
            return Ok(Self::from_pair(pair));
        }
        let pair =
            Ed25519KeyPair::generate().map_err(|_| Error::Crypto("generating a signing key"))?;
        let der = pair
            .to_pkcs8()
            .map_err(|_| Error::Crypto("encoding the signing key"))?;
        private_file::create_private(path, der.as_ref())?;
        let signer = Self::from_pair(pair);
        let pub_path = public_key_path(path);
        std::fs::write(&pub_path, format!("{}\n", hex::encode(signer.public_key())))
            .map_err(|e| Error::io(&pub_path, e))?;
        Ok(signer)
    }

    /// A key that lives only in memory (tests).
    pub fn ephemeral() -> Result<Self> {
        Ed25519KeyPair::generate()
            .map(Self::from_pair)
            .map_err(|_| Error::Crypto("generating a signing key"))
    }

    fn from_pair(pair: Ed25519KeyPair) -> Self {
        let key_id = key_id_of(pair.public_key().as_ref());
        Signer { pair, key_id }
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The verifier for this key.
    pub fn verifier(&self) -> Verifier {
        Verifier::from_public_key(self.public_key()).expect("own key is valid")
    }

    /// Signs a tree head.
    pub fn sign(&self, size: u64, root: Hash, ts_ms: i64) -> SignedHead {
        let signature = self
            .pair
            .sign(&SignedHead::message(size, ts_ms, &root))
            .as_ref()
            .to_vec();
        SignedHead {
            size,
            root,
            ts_ms,
            key_id: self.key_id,
            signature,
        }
    }
}

/// Checks signed tree heads against one trusted public key.
#[derive(Debug, Clone)]
pub struct Verifier {
    public: Vec<u8>,
    key_id: [u8; 8],
}

impl Verifier {
    /// From a raw 32-byte Ed25519 public key.
    pub fn from_public_key(public: &[u8]) -> Result<Self> {
        if public.len() != 32 {
            return Err(Error::Crypto(
                "reading the public key: Ed25519 keys are 32 bytes",
            ));
        }
        Ok(Verifier {
            public: public.to_vec(),
            key_id: key_id_of(public),
        })
    }

    /// Reads a public key file (64 hex characters), as written beside the signing key.
    pub fn from_public_key_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let bytes = hex::decode(text.trim()).ok_or_else(|| Error::Key {
            path: path.to_owned(),
            reason: "expected 64 hex characters (an Ed25519 public key)".into(),
        })?;
        Self::from_public_key(&bytes)
    }

    /// Uses `<key>.pub` when present, else derives the public key from the private key file.
    pub fn for_key_file(key: &Path) -> Result<Self> {
        let pub_path = public_key_path(key);
        if pub_path.exists() {
            Self::from_public_key_file(&pub_path)
        } else {
            Ok(Signer::load_or_generate_existing(key)?.verifier())
        }
    }

    /// The key id heads signed by this key carry.
    pub fn key_id(&self) -> [u8; 8] {
        self.key_id
    }

    /// Whether `head` was signed by this key over exactly its fields.
    pub fn verify(&self, head: &SignedHead) -> bool {
        head.key_id == self.key_id
            && UnparsedPublicKey::new(&ED25519, &self.public)
                .verify(
                    &SignedHead::message(head.size, head.ts_ms, &head.root),
                    &head.signature,
                )
                .is_ok()
    }
}

impl Signer {
    /// Loads an existing key; never generates one (verification must not invent keys).
    fn load_or_generate_existing(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(Error::Key {
                path: path.to_owned(),
                reason:
                    "no such key file: pass the signing key (or its .pub) the log was written with"
                        .into(),
            });
        }
        Self::load_or_generate(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let s = Signer::ephemeral().unwrap();
        let v = s.verifier();
        let head = s.sign(10, [3; 32], 1234);
        assert!(v.verify(&head));
        for mutate in [
            |h: &mut SignedHead| h.size += 1,
            |h: &mut SignedHead| h.ts_ms += 1,
            |h: &mut SignedHead| h.root[0] ^= 1,
            |h: &mut SignedHead| h.signature[0] ^= 1,
        ] {
            let mut bad = head.clone();
            mutate(&mut bad);
            assert!(!v.verify(&bad));
        }
        let other = Signer::ephemeral().unwrap().verifier();
        assert!(!other.verify(&head));
    }

    #[test]
    fn key_file_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        let a = Signer::load_or_generate(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let b = Signer::load_or_generate(&path).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        let v = Verifier::for_key_file(&path).unwrap();
        assert!(v.verify(&a.sign(1, [0; 32], 0)));
        assert!(format!("{a:?}").contains("***"));
    }

    #[test]
    fn head_json_round_trips() {
        let s = Signer::ephemeral().unwrap();
        let head = s.sign(5, [9; 32], 77);
        let json = serde_json::to_string(&head).unwrap();
        let back: SignedHead = serde_json::from_str(&json).unwrap();
        assert_eq!(back, head);
    }
}
