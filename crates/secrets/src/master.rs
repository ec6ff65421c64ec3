//! The master key: wraps data keys, never encrypts data itself.

use crate::{Error, Result, hex, private_file as file};
use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use std::fmt;
use std::path::Path;
use zeroize::Zeroizing;

/// A 256-bit master key. Zeroised on drop; `Debug` prints `***`.
///
/// Sources: a private file ([`MasterKey::load_file`], [`MasterKey::load_or_generate`]) holding
/// 64 hex characters, or an environment variable ([`MasterKey::from_env`]) holding the same.
pub struct MasterKey {
    bytes: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(id {}, ***)", self.id())
    }
}

impl MasterKey {
    /// Wraps 32 key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        MasterKey {
            bytes: Zeroizing::new(bytes),
        }
    }

    /// A fresh random key.
    pub fn generate() -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| Error::Crypto("generating a master key"))?;
        Ok(MasterKey { bytes })
    }

    /// Parses 64 hex characters (surrounding whitespace ignored).
    fn parse(text: &str, source_name: &str) -> Result<Self> {
        let bad = |reason: &str| Error::BadMasterKey {
            source_name: source_name.to_owned(),
            reason: reason.to_owned(),
        };
        let decoded = Zeroizing::new(hex::decode(text.trim()).ok_or_else(|| {
            bad("expected 64 hex characters (32 bytes); generate one with `openssl rand -hex 32`")
        })?);
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            bad(&format!(
                "expected 32 bytes (64 hex characters), found {} bytes",
                decoded.len()
            ))
        })?;
        Ok(MasterKey::from_bytes(bytes))
    }

    /// Reads the key from the environment variable `var` (64 hex characters).
    pub fn from_env(var: &str) -> Result<Self> {
        let value = Zeroizing::new(std::env::var(var).map_err(|_| Error::BadMasterKey {
            source_name: var.to_owned(),
            reason: "the variable is not set (or not UTF-8): set it to 64 hex characters".into(),
        })?);
        Self::parse(&value, var)
    }

    /// Reads the key from a file that only its owner may read (`0600`); others are refused.
    pub fn load_file(path: &Path) -> Result<Self> {
        file::check_private(path)?;
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?);
        Self::parse(&text, &path.display().to_string())
    }

    /// Reads the key file, creating it (`0600`, a fresh random key) when it does not exist.
    pub fn load_or_generate(path: &Path) -> Result<Self> {
        if path.exists() {
            return Self::load_file(path);
        }
        let key = Self::generate()?;
        let text = Zeroizing::new(format!("{}\n", hex::encode(key.bytes.as_ref())));
        file::create_private(path, text.as_bytes())?;
        Ok(key)
    }

    /// A public fingerprint (16 hex characters): tells which master a keyring is wrapped with.
    pub fn id(&self) -> String {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"mcpflow-secrets master-id v1\0");
        ctx.update(self.bytes.as_ref());
        hex::encode(&ctx.finish().as_ref()[..8])
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_key() {
        let key = MasterKey::from_bytes([0xab; 32]);
        let shown = format!("{key:?}");
        assert!(shown.contains("***"), "{shown}");
        assert!(!shown.contains("abab"), "{shown}");
    }

    #[test]
    fn file_is_created_private_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let a = MasterKey::load_or_generate(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let b = MasterKey::load_or_generate(&path).unwrap();
        assert_eq!(a.id(), b.id());
    }

    #[cfg(unix)]
    #[test]
    fn readable_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        std::fs::write(&path, "00".repeat(32)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = MasterKey::load_file(&path).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn bad_lengths_are_explained() {
        let err = MasterKey::parse("abcd", "test").unwrap_err();
        assert!(err.to_string().contains("found 2 bytes"), "{err}");
        let err = MasterKey::parse("xyz", "test").unwrap_err();
        assert!(err.to_string().contains("64 hex"), "{err}");
        assert!(MasterKey::parse(&format!("  {}\n", "0f".repeat(32)), "t").is_ok());
    }
}
