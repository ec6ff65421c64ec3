//! The log in use: group commit under concurrency, search, encrypted fields, proofs, reopening.

use mcpflow_audit::merkle::{root, verify_consistency};
use mcpflow_audit::{AuditConfig, AuditLog, Error, Event, Search};
use mcpflow_secrets::{Keyring, MasterKey, RotationPolicy};
use serde_json::json;
use std::sync::Arc;

fn config(dir: &std::path::Path) -> AuditConfig {
    let mut c = AuditConfig::in_dir(dir);
    c.checkpoint_interval = std::time::Duration::from_secs(3600);
    c
}

#[test]
fn bundled_sqlite_has_fts5() {
    assert!(mcpflow_audit::fts5_available().unwrap());
}

#[test]
fn concurrent_appends_get_unique_dense_seqs_and_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(AuditLog::open(config(dir.path())).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..200)
                    .map(|i| {
                        log.append(Event::new(
                            format!("p{t}"),
                            "acme",
                            "tool.call",
                            format!("r{i}"),
                            "ok",
                        ))
                        .unwrap()
                        .seq
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..1600).collect::<Vec<_>>());
    let stats = log.stats();
    assert_eq!(stats.entries, 1600);
    assert!(stats.batches <= 1600);
    log.checkpoint().unwrap();
    let summary = log.verify().unwrap();
    assert_eq!(summary.entries, 1600);
    assert_eq!(summary.unsigned_tail, 0);
}

#[test]
fn async_appends_in_flight_together_are_batched() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(config(dir.path())).unwrap();
    let futures: Vec<_> = (0..500)
        .map(|i| log.append_async(Event::new("a", "t", "x", format!("r{i}"), "ok")))
        .collect();
    let receipts = futures::executor::block_on(futures::future::join_all(futures));
    let seqs: Vec<u64> = receipts.into_iter().map(|r| r.unwrap().seq).collect();
    assert_eq!(
        seqs,
        (0..500).collect::<Vec<_>>(),
        "queued order is log order"
    );
    // 500 appends queued before the first commit cannot each take their own transaction.
    assert!(log.stats().batches < 500, "{:?}", log.stats());
}

#[test]
fn search_by_words_time_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(config(dir.path())).unwrap();
    log.append(
        Event::new(
            "user:alice",
            "acme",
            "tool.call",
            "tool:web_search",
            "allowed",
        )
        .details(json!({"query_kind": "weather"})),
    )
    .unwrap();
    log.append(
        Event::new("user:bob", "acme", "guard.verdict", "message:7", "blocked")
            .details(json!({"category": "injection"})),
    )
    .unwrap();
    let last = log
        .append(Event::new(
            "user:bob",
            "acme",
            "tool.call",
            "tool:shell",
            "blocked",
        ))
        .unwrap();
    let q = |text: &str| Search {
        text: text.into(),
        ..Search::default()
    };
    let hits = log.search(&q("injection")).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].action, "guard.verdict");
    assert_eq!(log.search(&q("weather")).unwrap()[0].seq, 0);
    let calls = log.search(&q("tool")).unwrap();
    assert_eq!(
        calls.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![2, 0],
        "newest first"
    );
    assert_eq!(
        log.search(&Search {
            limit: Some(1),
            ..q("tool")
        })
        .unwrap()
        .len(),
        1
    );
    assert!(
        log.search(&Search {
            since_ms: Some(last.ts_ms + 1),
            ..q("tool")
        })
        .unwrap()
        .is_empty()
    );
    assert_eq!(log.search(&Search::default()).unwrap().len(), 3);
    match log.search(&q("\"unbalanced")) {
        Err(Error::Query { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn sensitive_fields_are_encrypted_at_rest_and_verification_needs_no_key() {
    let dir = tempfile::tempdir().unwrap();
    let ring = Arc::new(
        Keyring::in_memory(MasterKey::generate().unwrap(), RotationPolicy::default()).unwrap(),
    );
    let mut c = config(dir.path());
    c.keyring = Some(ring.clone());
    let log = AuditLog::open(c).unwrap();
    let secret = json!({"arguments": {"password": "hunter2-very-secret"}});
    log.append(Event::new("u", "acme", "tool.call", "tool:login", "ok").sensitive(secret.clone()))
        .unwrap();
    ring.rotate().unwrap();
    log.append(Event::new("u", "acme", "tool.call", "tool:login", "ok").sensitive(json!({"n": 2})))
        .unwrap();
    log.checkpoint().unwrap();
    let raw = std::fs::read(dir.path().join("audit.db")).unwrap();
    let wal = std::fs::read(dir.path().join("audit.db-wal")).unwrap_or_default();
    for bytes in [&raw, &wal] {
        assert!(
            !bytes.windows(7).any(|w| w == b"hunter2"),
            "plaintext on disk"
        );
    }
    let e0 = log.get(0).unwrap().unwrap();
    assert_eq!(
        log.reveal(&e0).unwrap(),
        Some(secret),
        "old key still decrypts after rotation"
    );
    assert_eq!(
        log.reveal(&log.get(1).unwrap().unwrap()).unwrap(),
        Some(json!({"n": 2}))
    );
    assert!(
        log.search(&Search {
            text: "hunter2".into(),
            ..Search::default()
        })
        .unwrap()
        .is_empty()
    );
    // Verification uses only the public key.
    let verifier =
        mcpflow_audit::Verifier::for_key_file(&dir.path().join("audit-signing.key")).unwrap();
    assert_eq!(
        mcpflow_audit::verify_db(log.db_path(), &verifier, None)
            .unwrap()
            .entries,
        2
    );
}

#[test]
fn sensitive_fields_without_a_keyring_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(config(dir.path())).unwrap();
    let err = log
        .append(Event::new("u", "t", "a", "r", "o").sensitive(json!(1)))
        .unwrap_err();
    assert!(matches!(err, Error::NoKeyring), "{err}");
}

#[test]
fn every_entry_proves_against_the_signed_head_and_heads_are_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(config(dir.path())).unwrap();
    for i in 0..13 {
        log.append(Event::new("a", "t", "x", format!("r{i}"), "ok"))
            .unwrap();
    }
    let old = log.checkpoint().unwrap().unwrap();
    for i in 13..37 {
        log.append(Event::new("a", "t", "x", format!("r{i}"), "ok"))
            .unwrap();
    }
    let new = log.checkpoint().unwrap().unwrap();
    assert_eq!((old.size, new.size), (13, 37));
    for seq in 0..37 {
        let proof = log.prove(seq).unwrap();
        assert_eq!(proof.head, new);
        proof.verify(log.verifier()).unwrap();
        let mut bad = proof.clone();
        bad.seq = (seq + 1) % 37;
        assert!(bad.verify(log.verifier()).is_err());
    }
    let proof = log.consistency(13, 37).unwrap();
    verify_consistency(13, 37, &old.root, &new.root, &proof).unwrap();
    assert!(verify_consistency(13, 37, &root(&[]), &new.root, &proof).is_err());
    let err = log.prove(37).unwrap_err();
    assert!(err.to_string().contains("not covered"), "{err}");
}

#[test]
fn reopening_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = AuditLog::open(config(dir.path())).unwrap();
        for i in 0..5 {
            log.append(Event::new("a", "t", "x", format!("r{i}"), "ok"))
                .unwrap();
        }
        // Dropped without an explicit checkpoint: close signs the tail.
    }
    let log = AuditLog::open(config(dir.path())).unwrap();
    let s = log.verify().unwrap();
    assert_eq!((s.entries, s.unsigned_tail), (5, 0));
    let r = log.append(Event::new("a", "t", "x", "r5", "ok")).unwrap();
    assert_eq!(r.seq, 5);
    drop(log);
    let log = AuditLog::open(config(dir.path())).unwrap();
    let s = log.verify().unwrap();
    assert_eq!((s.entries, s.checkpoints), (6, 2));
}

#[test]
fn checkpoints_come_every_n_entries() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.checkpoint_every = 4;
    let log = AuditLog::open(c).unwrap();
    for i in 0..10 {
        log.append(Event::new("a", "t", "x", format!("r{i}"), "ok"))
            .unwrap();
    }
    // Sequential appends commit one per batch: heads at 4 and 8.
    let s = log.verify().unwrap();
    assert_eq!(s.checkpoints, 2);
    assert_eq!(s.head.unwrap().size, 8);
    assert_eq!(s.unsigned_tail, 2);
}

#[test]
fn details_are_stored_canonically() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(config(dir.path())).unwrap();
    log.append(Event::new("a", "t", "x", "r", "ok").details(json!({"b": 1, "a": [true, null]})))
        .unwrap();
    assert_eq!(
        log.get(0).unwrap().unwrap().details,
        r#"{"a":[true,null],"b":1}"#
    );
}
