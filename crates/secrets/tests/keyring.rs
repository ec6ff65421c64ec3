//! Envelope encryption: round trips, every way a decryption must fail, rotation, re-wrapping
//! (including under concurrent readers) and persistence.

use mcpflow_secrets::{Error, Keyring, MasterKey, RotationPolicy};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

fn ring() -> Keyring {
    Keyring::in_memory(MasterKey::generate().unwrap(), RotationPolicy::default()).unwrap()
}

#[test]
fn round_trip_various_sizes() {
    let ring = ring();
    for len in [0usize, 1, 15, 16, 17, 1000, 65536] {
        let plain: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let sealed = ring.encrypt(&plain, b"ctx").unwrap();
        assert_eq!(sealed.len(), plain.len() + 17 + 16);
        // A short ciphertext equals its plaintext by chance (1 in 256 for one byte); from 15
        // bytes on that chance is 2^-120, so the check can only fail if nothing was encrypted.
        if len >= 15 {
            assert_ne!(
                &sealed[17..17 + len],
                &plain[..],
                "len {len}: stored in clear"
            );
        }
        assert_eq!(ring.decrypt(&sealed, b"ctx").unwrap(), plain);
    }
}

#[test]
fn same_plaintext_seals_differently() {
    let ring = ring();
    assert_ne!(
        ring.encrypt(b"x", b"").unwrap(),
        ring.encrypt(b"x", b"").unwrap()
    );
}

#[test]
fn wrong_aad_fails() {
    let ring = ring();
    let sealed = ring.encrypt(b"secret", b"tenant:a").unwrap();
    assert!(matches!(
        ring.decrypt(&sealed, b"tenant:b"),
        Err(Error::Decrypt)
    ));
    assert!(matches!(ring.decrypt(&sealed, b""), Err(Error::Decrypt)));
}

#[test]
fn every_tampered_byte_fails() {
    let ring = ring();
    let sealed = ring.encrypt(b"secret value", b"aad").unwrap();
    for i in 0..sealed.len() {
        let mut bad = sealed.clone();
        bad[i] ^= 0x01;
        let err = ring.decrypt(&bad, b"aad").unwrap_err();
        // Byte 0 is the version, 1..5 the key id: those fail before the cipher runs.
        match i {
            0 => assert!(
                matches!(err, Error::UnsupportedVersion(_)),
                "byte {i}: {err}"
            ),
            1..=4 => assert!(matches!(err, Error::UnknownKey { .. }), "byte {i}: {err}"),
            _ => assert!(matches!(err, Error::Decrypt), "byte {i}: {err}"),
        }
    }
    assert!(matches!(
        ring.decrypt(&sealed[..20], b"aad"),
        Err(Error::Malformed(_))
    ));
}

#[test]
fn another_keyring_cannot_decrypt() {
    let a = ring();
    let b = ring();
    let sealed = a.encrypt(b"secret", b"").unwrap();
    // Same key id (1) in both, different keys: authentication must fail.
    assert!(matches!(b.decrypt(&sealed, b""), Err(Error::Decrypt)));
}

#[test]
fn rotation_keeps_old_ciphertexts_readable() {
    let ring = ring();
    let old = ring.encrypt(b"before", b"").unwrap();
    let id = ring.rotate().unwrap();
    assert_eq!(id, 2);
    assert_eq!(ring.current_key_id(), 2);
    let new = ring.encrypt(b"after", b"").unwrap();
    assert_eq!(mcpflow_secrets::format::key_id_of(&old).unwrap(), 1);
    assert_eq!(mcpflow_secrets::format::key_id_of(&new).unwrap(), 2);
    assert_eq!(ring.decrypt(&old, b"").unwrap(), b"before");
    assert_eq!(ring.decrypt(&new, b"").unwrap(), b"after");
    let keys = ring.keys();
    assert_eq!(keys.len(), 2);
    assert!(keys[1].current && !keys[0].current);
}

#[test]
fn rotation_due_follows_the_policy() {
    let policy = RotationPolicy::new(Duration::from_secs(30 * 24 * 3600)).unwrap();
    let ring = Keyring::in_memory(MasterKey::generate().unwrap(), policy).unwrap();
    let now = SystemTime::now();
    assert!(!ring.rotation_due_at(now));
    assert!(!ring.rotation_due_at(now + Duration::from_secs(29 * 24 * 3600)));
    assert!(ring.rotation_due_at(now + Duration::from_secs(31 * 24 * 3600)));
    ring.rotate().unwrap();
    assert!(!ring.rotation_due_at(now + Duration::from_secs(29 * 24 * 3600)));
}

#[test]
fn policy_longer_than_90_days_is_refused() {
    assert!(RotationPolicy::new(Duration::from_secs(91 * 24 * 3600)).is_err());
    assert!(RotationPolicy::new(Duration::ZERO).is_err());
    assert_eq!(
        RotationPolicy::default().max_age(),
        Duration::from_secs(90 * 24 * 3600)
    );
}

#[test]
fn file_keyring_persists_rotation_and_rewrap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyring.json");
    let m1 = [1u8; 32];
    let m2 = [2u8; 32];
    let policy = RotationPolicy::default();
    let (old, new) = {
        let ring = Keyring::open(&path, MasterKey::from_bytes(m1), policy).unwrap();
        let old = ring.encrypt(b"one", b"").unwrap();
        ring.rotate().unwrap();
        let new = ring.encrypt(b"two", b"").unwrap();
        (old, new)
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(&mcpflow_secrets::hex::encode(&m1)));

    let ring = Keyring::open(&path, MasterKey::from_bytes(m1), policy).unwrap();
    assert_eq!(ring.current_key_id(), 2);
    assert_eq!(ring.decrypt(&old, b"").unwrap(), b"one");
    ring.rewrap(MasterKey::from_bytes(m2)).unwrap();
    assert_eq!(ring.decrypt(&new, b"").unwrap(), b"two");
    drop(ring);

    let err = Keyring::open(&path, MasterKey::from_bytes(m1), policy).unwrap_err();
    assert!(matches!(err, Error::MasterMismatch { .. }), "{err}");
    let ring = Keyring::open(&path, MasterKey::from_bytes(m2), policy).unwrap();
    assert_eq!(ring.decrypt(&old, b"").unwrap(), b"one");
    assert_eq!(ring.decrypt(&new, b"").unwrap(), b"two");
}

#[test]
fn altered_keyring_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyring.json");
    let policy = RotationPolicy::default();
    drop(Keyring::open(&path, MasterKey::from_bytes([3; 32]), policy).unwrap());
    let text = std::fs::read_to_string(&path).unwrap();
    // Flip one hex digit of the wrapped key.
    let at = text.find("\"wrapped\": \"").unwrap() + 12;
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&path, bytes).unwrap();
    let err = Keyring::open(&path, MasterKey::from_bytes([3; 32]), policy).unwrap_err();
    assert!(matches!(err, Error::Unwrap { id: 1 }), "{err}");
}

#[test]
fn unknown_key_id_is_named() {
    let a = ring();
    a.rotate().unwrap();
    let sealed = a.encrypt(b"x", b"").unwrap();
    let b = ring();
    match b.decrypt(&sealed, b"").unwrap_err() {
        Error::UnknownKey { id, held } => {
            assert_eq!(id, 2);
            assert_eq!(held, vec![1]);
        }
        other => panic!("{other}"),
    }
}

#[test]
fn readers_keep_working_during_rotation_and_rewrap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyring.json");
    let ring = Arc::new(
        Keyring::open(
            &path,
            MasterKey::generate().unwrap(),
            RotationPolicy::default(),
        )
        .unwrap(),
    );
    let sealed: Vec<(Vec<u8>, Vec<u8>)> = (0..32u8)
        .map(|i| {
            let plain = vec![i; 100];
            (ring.encrypt(&plain, &[i]).unwrap(), plain)
        })
        .collect();
    let sealed = Arc::new(sealed);
    let stop = Arc::new(AtomicBool::new(false));
    let decrypted = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (ring, sealed, stop, decrypted) = (
                ring.clone(),
                sealed.clone(),
                stop.clone(),
                decrypted.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for (i, (c, p)) in sealed.iter().enumerate() {
                        assert_eq!(&ring.decrypt(c, &[i as u8]).unwrap(), p);
                        // New encryptions during rotation must be readable at once.
                        let fresh = ring.encrypt(p, b"fresh").unwrap();
                        assert_eq!(&ring.decrypt(&fresh, b"fresh").unwrap(), p);
                        decrypted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for _ in 0..5 {
        ring.rotate().unwrap();
        ring.rewrap(MasterKey::generate().unwrap()).unwrap();
    }
    // Let readers run a little past the last change (a count, not a time threshold).
    let seen = decrypted.load(Ordering::Relaxed);
    while decrypted.load(Ordering::Relaxed) < seen + 100 {
        std::thread::yield_now();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("a reader failed during rotation");
    }
    assert_eq!(ring.current_key_id(), 6);
}

#[test]
fn debug_never_shows_key_material() {
    let ring = ring();
    let shown = format!("{ring:?}");
    assert!(shown.contains("***"), "{shown}");
}
