//! Tampering with the SQLite file directly, and verification naming each problem.

use mcpflow_audit::{AuditConfig, AuditLog, Error, Event, Signer, Tamper, Verifier, verify_db};
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};

struct Fixture {
    _dir: tempfile::TempDir,
    db: PathBuf,
    key: PathBuf,
    verifier: Verifier,
}

/// 50 entries, checkpoints at 10, 20, 30, 40, 50.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut config = AuditConfig::in_dir(dir.path());
    config.checkpoint_every = 10;
    config.checkpoint_interval = std::time::Duration::from_secs(3600);
    let (db, key) = (config.db.clone(), config.signing_key.clone());
    let log = AuditLog::open(config).unwrap();
    for i in 0..50 {
        log.append(
            Event::new(
                format!("user:{}", i % 3),
                "acme",
                "tool.call",
                format!("tool:t{i}"),
                "allowed",
            )
            .details(serde_json::json!({"i": i})),
        )
        .unwrap();
        if i % 10 == 9 {
            // One append per batch here, so checkpoints land exactly every 10 entries.
            log.checkpoint().unwrap();
        }
    }
    let verifier = log.verifier().clone();
    log.close().unwrap();
    Fixture {
        _dir: dir,
        db,
        key,
        verifier,
    }
}

fn conn(db: &Path) -> Connection {
    Connection::open(db).unwrap()
}

fn tamper_of(f: &Fixture) -> Tamper {
    match verify_db(&f.db, &f.verifier, None) {
        Err(Error::Tampered(t)) => t,
        other => panic!("expected tampering to be found, got {other:?}"),
    }
}

#[test]
fn clean_log_verifies() {
    let f = fixture();
    let s = verify_db(&f.db, &f.verifier, None).unwrap();
    assert_eq!(s.entries, 50);
    assert_eq!(s.checkpoints, 5);
    assert_eq!(s.unsigned_tail, 0);
    assert_eq!(s.head.unwrap().size, 50);
}

#[test]
fn editing_any_field_is_found_at_that_entry() {
    for (column, value) in [
        ("actor", rusqlite::types::Value::Text("user:mallory".into())),
        ("tenant", "other".to_string().into()),
        ("action", "tool.list".to_string().into()),
        ("resource", "tool:x".to_string().into()),
        ("outcome", "blocked".to_string().into()),
        ("details", r#"{"i":99}"#.to_string().into()),
        ("sensitive", vec![1u8, 2, 3].into()),
        ("ts_ms", 1i64.into()),
        ("hash", vec![0u8; 32].into()),
    ] {
        let f = fixture();
        conn(&f.db)
            .execute(
                &format!("UPDATE entries SET {column} = ?1 WHERE seq = 17"),
                params![value],
            )
            .unwrap();
        let t = tamper_of(&f);
        assert_eq!(t, Tamper::Altered { seq: 17 }, "editing {column}");
        assert_eq!(t.first_bad_seq(), Some(17));
    }
}

#[test]
fn editing_a_link_is_a_broken_link() {
    let f = fixture();
    conn(&f.db)
        .execute("UPDATE entries SET prev = zeroblob(32) WHERE seq = 17", [])
        .unwrap();
    assert_eq!(tamper_of(&f), Tamper::BrokenLink { seq: 17 });
}

#[test]
fn deleting_an_entry_is_found() {
    let f = fixture();
    conn(&f.db)
        .execute("DELETE FROM entries WHERE seq = 17", [])
        .unwrap();
    let t = tamper_of(&f);
    assert_eq!(t, Tamper::Missing { seq: 17, found: 18 });
    assert!(t.to_string().contains("entry 17 is missing"), "{t}");
}

#[test]
fn reordering_two_entries_is_found() {
    let f = fixture();
    let c = conn(&f.db);
    c.execute_batch(
        "UPDATE entries SET seq = -1 WHERE seq = 17;
         UPDATE entries SET seq = 17 WHERE seq = 23;
         UPDATE entries SET seq = 23 WHERE seq = -1;",
    )
    .unwrap();
    assert_eq!(
        tamper_of(&f),
        Tamper::Reordered {
            seq: 17,
            follows: 22,
            expected_prev: 16
        }
    );
}

#[test]
fn truncating_the_tail_is_found_by_the_last_checkpoint() {
    let f = fixture();
    conn(&f.db)
        .execute("DELETE FROM entries WHERE seq >= 45", [])
        .unwrap();
    let t = tamper_of(&f);
    assert_eq!(
        t,
        Tamper::Truncated {
            entries: 45,
            size: 50
        }
    );
    assert_eq!(t.first_bad_seq(), Some(45));
}

#[test]
fn truncating_tail_and_checkpoints_is_found_with_a_kept_head() {
    let f = fixture();
    let kept = mcpflow_audit::prove_db(&f.db, 0, &f.verifier).unwrap().head;
    let c = conn(&f.db);
    c.execute("DELETE FROM entries WHERE seq >= 35", [])
        .unwrap();
    c.execute("DELETE FROM checkpoints WHERE size > 30", [])
        .unwrap();
    // Without an outside copy of the head this cut is invisible (documented limit)...
    assert!(verify_db(&f.db, &f.verifier, None).is_ok());
    // ...with one, it is found.
    match verify_db(&f.db, &f.verifier, Some(&kept)) {
        Err(Error::Tampered(Tamper::Truncated {
            entries: 35,
            size: 50,
        })) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn swapping_checkpoint_roots_is_found() {
    let f = fixture();
    conn(&f.db)
        .execute_batch(
            "UPDATE checkpoints SET size = -1 WHERE size = 20;
             UPDATE checkpoints SET size = 20 WHERE size = 30;
             UPDATE checkpoints SET size = 30 WHERE size = -1;",
        )
        .unwrap();
    assert_eq!(tamper_of(&f), Tamper::BadSignature { size: 20 });
}

#[test]
fn editing_a_checkpoint_root_is_found() {
    let f = fixture();
    conn(&f.db)
        .execute(
            "UPDATE checkpoints SET root = zeroblob(32) WHERE size = 30",
            [],
        )
        .unwrap();
    assert_eq!(tamper_of(&f), Tamper::BadSignature { size: 30 });
}

#[test]
fn checkpoint_forged_with_another_key_is_found() {
    let f = fixture();
    let forger = Signer::ephemeral().unwrap();
    let c = conn(&f.db);
    let root: Vec<u8> = c
        .query_row("SELECT root FROM checkpoints WHERE size = 20", [], |r| {
            r.get(0)
        })
        .unwrap();
    let head = forger.sign(20, root.try_into().unwrap(), 1);
    c.execute(
        "UPDATE checkpoints SET key_id = ?1, signature = ?2, ts_ms = ?3 WHERE size = 20",
        params![&head.key_id[..], head.signature, head.ts_ms],
    )
    .unwrap();
    assert!(matches!(tamper_of(&f), Tamper::ForeignKey { size: 20, .. }));
    // Claiming the trusted key id does not help: the signature fails.
    c.execute(
        "UPDATE checkpoints SET key_id = ?1 WHERE size = 20",
        params![&f.verifier.key_id()[..]],
    )
    .unwrap();
    assert_eq!(tamper_of(&f), Tamper::BadSignature { size: 20 });
}

/// Recomputes every chain hash from `from` on, as an attacker without the signing key would.
fn rechain(c: &Connection, from: u64) {
    let mut prev: [u8; 32] = if from == 0 {
        [0; 32]
    } else {
        c.query_row(
            "SELECT hash FROM entries WHERE seq = ?1",
            params![from as i64 - 1],
            |r| r.get::<_, Vec<u8>>(0),
        )
        .unwrap()
        .try_into()
        .unwrap()
    };
    let entries: Vec<mcpflow_audit::Entry> = (from..50)
        .map(|s| {
            let mut stmt = c.prepare("SELECT seq, ts_ms, actor, tenant, action, resource, outcome, details, sensitive FROM entries WHERE seq = ?1").unwrap();
            stmt.query_row(params![s as i64], |r| {
                Ok(mcpflow_audit::Entry {
                    seq: r.get::<_, i64>(0)? as u64,
                    ts_ms: r.get(1)?,
                    actor: r.get(2)?,
                    tenant: r.get(3)?,
                    action: r.get(4)?,
                    resource: r.get(5)?,
                    outcome: r.get(6)?,
                    details: r.get(7)?,
                    sensitive: r.get(8)?,
                    prev: [0; 32],
                    hash: [0; 32],
                })
            })
            .unwrap()
        })
        .collect();
    for e in entries {
        let mut data = prev.to_vec();
        data.extend_from_slice(&e.canonical());
        let h: [u8; 32] = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &data)
            .as_ref()
            .try_into()
            .unwrap();
        c.execute(
            "UPDATE entries SET prev = ?1, hash = ?2 WHERE seq = ?3",
            params![&prev[..], &h[..], e.seq as i64],
        )
        .unwrap();
        prev = h;
    }
}

#[test]
fn rewriting_history_with_a_recomputed_chain_is_found_by_the_signed_root() {
    let f = fixture();
    let c = conn(&f.db);
    c.execute("UPDATE entries SET outcome = 'blocked' WHERE seq = 17", [])
        .unwrap();
    rechain(&c, 17);
    let t = tamper_of(&f);
    assert_eq!(t, Tamper::RootMismatch { size: 20, from: 10 });
    assert_eq!(t.first_bad_seq(), Some(10));
}

#[test]
fn time_going_backwards_is_found() {
    let f = fixture();
    let c = conn(&f.db);
    c.execute("UPDATE entries SET ts_ms = 5 WHERE seq = 17", [])
        .unwrap();
    rechain(&c, 17);
    assert!(matches!(
        tamper_of(&f),
        Tamper::TimeReversed {
            seq: 17,
            ts_ms: 5,
            ..
        }
    ));
}

#[test]
fn a_tampered_log_is_not_opened_for_writing() {
    let f = fixture();
    conn(&f.db)
        .execute("UPDATE entries SET actor = 'x' WHERE seq = 3", [])
        .unwrap();
    let mut config = AuditConfig::in_dir(f.db.parent().unwrap());
    config.signing_key = f.key.clone();
    match AuditLog::open(config) {
        Err(Error::Tampered(Tamper::Altered { seq: 3 })) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn verification_with_a_different_trusted_key_fails() {
    let f = fixture();
    let other = Signer::ephemeral().unwrap().verifier();
    assert!(matches!(
        verify_db(&f.db, &other, None),
        Err(Error::Tampered(Tamper::ForeignKey { size: 10, .. }))
    ));
}
