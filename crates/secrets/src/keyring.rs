//! The keyring: data keys, wrapped under the master key, with rotation and re-wrapping.

use crate::format::{HEADER_LEN, Header, TAG_LEN};
use crate::{Error, MasterKey, Result, hex, private_file as file};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use zeroize::Zeroizing;

/// The longest rotation period allowed.
pub const MAX_ROTATION_PERIOD: Duration = Duration::from_secs(90 * 24 * 3600);

/// Encryptions under one data key after which rotation is due regardless of age: random 96-bit
/// nonces stay collision-safe well below 2^32 messages per key (NIST SP 800-38D).
pub const MAX_ENCRYPTIONS_PER_KEY: u64 = 1 << 31;

/// When the current data key must be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    max_age: Duration,
}

impl Default for RotationPolicy {
    fn default() -> Self {
        RotationPolicy {
            max_age: MAX_ROTATION_PERIOD,
        }
    }
}

impl RotationPolicy {
    /// Rotation due after `max_age` (more than zero, at most 90 days).
    pub fn new(max_age: Duration) -> Result<Self> {
        if max_age.is_zero() || max_age > MAX_ROTATION_PERIOD {
            return Err(Error::Policy(format!(
                "rotation period {max_age:?} is outside (0, 90 days]: pick at most 90 days"
            )));
        }
        Ok(RotationPolicy { max_age })
    }

    /// The rotation period.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }
}

/// Public facts about one data key (no key material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// Key id, as written in ciphertext headers.
    pub id: u32,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
    /// Whether new encryptions use it.
    pub current: bool,
}

/// One unwrapped data key.
struct DataKey {
    id: u32,
    created_at: u64,
    aead: LessSafeKey,
    /// Kept so rewrap can wrap the same key again; zeroised on drop.
    material: Zeroizing<[u8; 32]>,
    wrapped: Vec<u8>,
    encryptions: AtomicU64,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey(id {}, ***)", self.id)
    }
}

/// An immutable snapshot; writers replace it whole, readers hold an `Arc` to it.
#[derive(Debug)]
struct State {
    master: Arc<MasterKey>,
    keys: BTreeMap<u32, Arc<DataKey>>,
    current: u32,
}

/// The persisted form: wrapped keys only.
#[derive(Serialize, Deserialize)]
struct KeyringFile {
    version: u32,
    master_key_id: String,
    current: u32,
    keys: Vec<WrappedKey>,
}

#[derive(Serialize, Deserialize)]
struct WrappedKey {
    id: u32,
    created_at: u64,
    /// Hex of `nonce (12) || wrapped key (32) || tag (16)`.
    wrapped: String,
}

/// Data keys under a master key. Cheap to share (`Arc<Keyring>`); every method takes `&self`
/// and is safe to call from many threads, including while another thread rotates or re-wraps.
pub struct Keyring {
    state: RwLock<Arc<State>>,
    /// Serialises writers (rotate, rewrap) so each persists a state derived from the last.
    writer: Mutex<()>,
    path: Option<PathBuf>,
    policy: RotationPolicy,
    rng: SystemRandom,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.read().clone();
        f.debug_struct("Keyring")
            .field("path", &self.path)
            .field("master", &"***")
            .field("keys", &state.keys.keys().collect::<Vec<_>>())
            .field("current", &state.current)
            .finish()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn wrap_aad(id: u32, master: &MasterKey) -> Vec<u8> {
    let mut aad = b"mcpflow-secrets data-key v1\0".to_vec();
    aad.extend_from_slice(&id.to_be_bytes());
    aad.extend_from_slice(master.id().as_bytes());
    aad
}

fn master_aead(master: &MasterKey) -> Result<LessSafeKey> {
    UnboundKey::new(&AES_256_GCM, master.bytes())
        .map(LessSafeKey::new)
        .map_err(|_| Error::Crypto("loading the master key"))
}

impl DataKey {
    fn new(
        id: u32,
        created_at: u64,
        material: Zeroizing<[u8; 32]>,
        wrapped: Vec<u8>,
    ) -> Result<Self> {
        let aead = UnboundKey::new(&AES_256_GCM, material.as_ref())
            .map(LessSafeKey::new)
            .map_err(|_| Error::Crypto("loading a data key"))?;
        Ok(DataKey {
            id,
            created_at,
            aead,
            material,
            wrapped,
            encryptions: AtomicU64::new(0),
        })
    }

    fn generate(id: u32, master: &MasterKey, rng: &SystemRandom) -> Result<Self> {
        let mut material = Zeroizing::new([0u8; 32]);
        rng.fill(material.as_mut())
            .map_err(|_| Error::Crypto("generating a data key"))?;
        let wrapped = wrap(&material, id, master, rng)?;
        DataKey::new(id, now_secs(), material, wrapped)
    }

    fn unwrap(w: &WrappedKey, master: &MasterKey) -> Result<Self> {
        let bytes = hex::decode(&w.wrapped).ok_or(Error::Unwrap { id: w.id })?;
        if bytes.len() != 12 + 32 + TAG_LEN {
            return Err(Error::Unwrap { id: w.id });
        }
        let nonce = Nonce::try_assume_unique_for_key(&bytes[..12])
            .map_err(|_| Error::Unwrap { id: w.id })?;
        let mut buf = Zeroizing::new(bytes[12..].to_vec());
        let plain = master_aead(master)?
            .open_in_place(nonce, Aad::from(wrap_aad(w.id, master)), &mut buf)
            .map_err(|_| Error::Unwrap { id: w.id })?;
        let material = Zeroizing::new(
            <[u8; 32]>::try_from(&plain[..]).map_err(|_| Error::Unwrap { id: w.id })?,
        );
        DataKey::new(w.id, w.created_at, material, bytes)
    }
}

fn wrap(material: &[u8; 32], id: u32, master: &MasterKey, rng: &SystemRandom) -> Result<Vec<u8>> {
    let mut nonce = [0u8; 12];
    rng.fill(&mut nonce)
        .map_err(|_| Error::Crypto("drawing a nonce"))?;
    let mut buf = material.to_vec();
    master_aead(master)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(wrap_aad(id, master)),
            &mut buf,
        )
        .map_err(|_| Error::Crypto("wrapping a data key"))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(out)
}

impl Keyring {
    /// A keyring that lives only in memory (tests, or keys that need not survive a restart).
    pub fn in_memory(master: MasterKey, policy: RotationPolicy) -> Result<Self> {
        let rng = SystemRandom::new();
        let first = DataKey::generate(1, &master, &rng)?;
        Ok(Keyring {
            state: RwLock::new(Arc::new(State {
                master: Arc::new(master),
                keys: BTreeMap::from([(1, Arc::new(first))]),
                current: 1,
            })),
            writer: Mutex::new(()),
            path: None,
            policy,
            rng,
        })
    }

    /// Opens the keyring file at `path` (created `0600` with one fresh data key when missing);
    /// every data key in it must unwrap under `master`.
    pub fn open(path: &Path, master: MasterKey, policy: RotationPolicy) -> Result<Self> {
        if !path.exists() {
            let ring = Keyring {
                path: Some(path.to_owned()),
                ..Self::in_memory(master, policy)?
            };
            let state = ring.state.read().clone();
            file::create_private(path, &ring.serialise(&state)?)?;
            return Ok(ring);
        }
        file::check_private(path)?;
        let bad = |reason: String| Error::Keyring {
            path: path.to_owned(),
            reason,
        };
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let parsed: KeyringFile = serde_json::from_slice(&text)
            .map_err(|e| bad(format!("not valid keyring JSON ({e})")))?;
        if parsed.version != 1 {
            return Err(bad(format!(
                "version {} is not supported (expected 1)",
                parsed.version
            )));
        }
        if parsed.master_key_id != master.id() {
            return Err(Error::MasterMismatch {
                expected: parsed.master_key_id,
                found: master.id(),
            });
        }
        let mut keys = BTreeMap::new();
        for w in &parsed.keys {
            keys.insert(w.id, Arc::new(DataKey::unwrap(w, &master)?));
        }
        if !keys.contains_key(&parsed.current) {
            return Err(bad(format!(
                "current key {} is not among its keys",
                parsed.current
            )));
        }
        Ok(Keyring {
            state: RwLock::new(Arc::new(State {
                master: Arc::new(master),
                keys,
                current: parsed.current,
            })),
            writer: Mutex::new(()),
            path: Some(path.to_owned()),
            policy,
            rng: SystemRandom::new(),
        })
    }

    fn serialise(&self, state: &State) -> Result<Vec<u8>> {
        let file = KeyringFile {
            version: 1,
            master_key_id: state.master.id(),
            current: state.current,
            keys: state
                .keys
                .values()
                .map(|k| WrappedKey {
                    id: k.id,
                    created_at: k.created_at,
                    wrapped: hex::encode(&k.wrapped),
                })
                .collect(),
        };
        serde_json::to_vec_pretty(&file).map_err(|_| Error::Crypto("serialising the keyring"))
    }

    /// Persists `next` (if file-backed), then makes it visible to readers.
    fn install(&self, next: State) -> Result<()> {
        if let Some(path) = &self.path {
            file::replace_private(path, &self.serialise(&next)?)?;
        }
        *self.state.write() = Arc::new(next);
        Ok(())
    }

    fn snapshot(&self) -> Arc<State> {
        self.state.read().clone()
    }

    /// Seals `plaintext` under the current data key; `aad` (associated data: tenant, record id,
    /// purpose) is authenticated but not stored: decryption must present the same bytes.
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let state = self.snapshot();
        let key = &state.keys[&state.current];
        let mut nonce = [0u8; 12];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| Error::Crypto("drawing a nonce"))?;
        let header = Header {
            key_id: key.id,
            nonce,
        }
        .to_bytes();
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&header);
        out.extend_from_slice(plaintext);
        let mut full_aad = Vec::with_capacity(HEADER_LEN + aad.len());
        full_aad.extend_from_slice(&header);
        full_aad.extend_from_slice(aad);
        let tag = key
            .aead
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&full_aad[..]),
                &mut out[HEADER_LEN..],
            )
            .map_err(|_| Error::Crypto("encrypting"))?;
        out.extend_from_slice(tag.as_ref());
        key.encryptions.fetch_add(1, Ordering::Relaxed);
        Ok(out)
    }

    /// Opens a ciphertext from [`Keyring::encrypt`] with the same `aad`. Fails with
    /// [`Error::Decrypt`] when anything was altered or the aad differs, and with
    /// [`Error::UnknownKey`] when the data key is not in this keyring.
    pub fn decrypt(&self, ciphertext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let header = Header::parse(ciphertext)?;
        let state = self.snapshot();
        let key = state
            .keys
            .get(&header.key_id)
            .ok_or_else(|| Error::UnknownKey {
                id: header.key_id,
                held: state.keys.keys().copied().collect(),
            })?;
        let mut full_aad = Vec::with_capacity(HEADER_LEN + aad.len());
        full_aad.extend_from_slice(&ciphertext[..HEADER_LEN]);
        full_aad.extend_from_slice(aad);
        let mut buf = ciphertext[HEADER_LEN..].to_vec();
        let len = key
            .aead
            .open_in_place(
                Nonce::assume_unique_for_key(header.nonce),
                Aad::from(&full_aad[..]),
                &mut buf,
            )
            .map_err(|_| Error::Decrypt)?
            .len();
        buf.truncate(len);
        Ok(buf)
    }

    /// Starts a new data key for new encryptions; older keys stay for decryption. Returns the
    /// new key's id.
    pub fn rotate(&self) -> Result<u32> {
        let _writer = self.writer.lock();
        let old = self.snapshot();
        let id = old.keys.keys().next_back().copied().unwrap_or(0) + 1;
        let key = DataKey::generate(id, &old.master, &self.rng)?;
        let mut keys = old.keys.clone();
        keys.insert(id, Arc::new(key));
        self.install(State {
            master: old.master.clone(),
            keys,
            current: id,
        })?;
        Ok(id)
    }

    /// Re-wraps every data key under `new_master` and persists the result atomically. The data
    /// keys themselves do not change, so existing ciphertexts stay readable and readers are not
    /// paused. Keep the old master until this returns: a crash before the file is replaced
    /// leaves the keyring wrapped under the old one.
    pub fn rewrap(&self, new_master: MasterKey) -> Result<()> {
        let _writer = self.writer.lock();
        let old = self.snapshot();
        let mut keys = BTreeMap::new();
        for (id, k) in &old.keys {
            let wrapped = wrap(&k.material, *id, &new_master, &self.rng)?;
            let fresh = DataKey::new(*id, k.created_at, k.material.clone(), wrapped)?;
            fresh
                .encryptions
                .store(k.encryptions.load(Ordering::Relaxed), Ordering::Relaxed);
            keys.insert(*id, Arc::new(fresh));
        }
        self.install(State {
            master: Arc::new(new_master),
            keys,
            current: old.current,
        })
    }

    /// Whether the current data key is due for rotation now (see [`Keyring::rotation_due_at`]).
    pub fn rotation_due(&self) -> bool {
        self.rotation_due_at(SystemTime::now())
    }

    /// Whether, at `now`, the current key is older than the policy's period, or has sealed
    /// [`MAX_ENCRYPTIONS_PER_KEY`] messages.
    pub fn rotation_due_at(&self, now: SystemTime) -> bool {
        let state = self.snapshot();
        let key = &state.keys[&state.current];
        let now = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        now.saturating_sub(key.created_at) >= self.policy.max_age.as_secs()
            || key.encryptions.load(Ordering::Relaxed) >= MAX_ENCRYPTIONS_PER_KEY
    }

    /// Id of the key new encryptions use.
    pub fn current_key_id(&self) -> u32 {
        self.snapshot().current
    }

    /// Fingerprint of the master key the data keys are wrapped with.
    pub fn master_key_id(&self) -> String {
        self.snapshot().master.id()
    }

    /// The data keys held (no material).
    pub fn keys(&self) -> Vec<KeyInfo> {
        let state = self.snapshot();
        state
            .keys
            .values()
            .map(|k| KeyInfo {
                id: k.id,
                created_at: k.created_at,
                current: k.id == state.current,
            })
            .collect()
    }

    /// The rotation policy.
    pub fn policy(&self) -> RotationPolicy {
        self.policy
    }

    /// The backing file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}
