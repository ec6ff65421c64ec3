//! One test-suite, run against every backend: what one store does, the other must do too.
//!
//! PostgreSQL is the real server on 127.0.0.1:5432 (override with `MCPFLOW_TEST_POSTGRES_URL`);
//! each run works in a fresh schema of its own and drops it afterwards.

use mcpflow_model::{SessionRecord, SessionState, Timestamp, Transport};
use mcpflow_store::{DynStore, Error, MIGRATION_COUNT, StoreUrl, open};

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

async fn suite(store: DynStore) {
    store.ping().await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), MIGRATION_COUNT);

    // Insert, read back, replace.
    let mut a = SessionRecord::new("a", "node-1", Transport::StreamableHttp, Timestamp(10));
    store.upsert_session(&a).await.unwrap();
    assert_eq!(store.session("a").await.unwrap().as_ref(), Some(&a));
    a.protocol_version = Some("2025-11-25".into());
    a.client = Some("pytest/1.0".into());
    store.upsert_session(&a).await.unwrap();
    assert_eq!(store.session("a").await.unwrap().as_ref(), Some(&a));
    assert_eq!(store.session("nope").await.unwrap(), None);

    // The lifecycle is enforced in the store, not only in memory.
    let b = SessionRecord::new("b", "node-2", Transport::Stdio, Timestamp(11));
    store.upsert_session(&b).await.unwrap();
    let moved = store
        .set_session_state("a", SessionState::Active, Timestamp(20))
        .await
        .unwrap();
    assert_eq!(moved.state, SessionState::Active);
    assert_eq!(moved.updated_at, Timestamp(20));
    let refused = store
        .set_session_state("a", SessionState::Initializing, Timestamp(21))
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::InvalidTransition(_)), "{refused}");
    assert_eq!(
        store.session("a").await.unwrap().unwrap().state,
        SessionState::Active,
        "a refused move must not be written"
    );
    let missing = store
        .set_session_state("ghost", SessionState::Dead, Timestamp(22))
        .await
        .unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }), "{missing}");

    // Describing a session never touches its state (no lost update against a concurrent move).
    store
        .describe_session("a", "2026-07-28", "other/2")
        .await
        .unwrap();
    let described = store.session("a").await.unwrap().unwrap();
    assert_eq!(described.state, SessionState::Active);
    assert_eq!(described.client.as_deref(), Some("other/2"));
    assert!(matches!(
        store.describe_session("ghost", "v", "c").await.unwrap_err(),
        Error::NotFound { .. }
    ));

    // Listing filters by state and keeps creation order.
    let all = store.sessions(None, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let active = store
        .sessions(Some(SessionState::Active), 10)
        .await
        .unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(store.sessions(None, 1).await.unwrap().len(), 1);

    // Burying a node's sessions leaves other nodes' sessions alone.
    assert_eq!(
        store.bury_sessions("node-1", Timestamp(30)).await.unwrap(),
        1
    );
    assert_eq!(
        store.bury_sessions("node-1", Timestamp(31)).await.unwrap(),
        0
    );
    assert_eq!(
        store.session("a").await.unwrap().unwrap().state,
        SessionState::Dead
    );
    assert_eq!(
        store.session("b").await.unwrap().unwrap().state,
        SessionState::Initializing
    );
}

#[tokio::test]
async fn sqlite_backend() {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::parse(dir.path().join("nested/dir/m.db").to_str().unwrap()).unwrap();
    let store = open(&url).await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    suite(store).await;

    // Reopening finds the data and does not re-run migrations.
    let store = open(&url).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), MIGRATION_COUNT);
    assert_eq!(store.sessions(None, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn sqlite_refuses_a_database_from_the_future() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let url = StoreUrl::parse(path.to_str().unwrap()).unwrap();
    drop(open(&url).await.unwrap());
    let conn = rusqlite_connection(&path);
    conn.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)",
        [],
    )
    .unwrap();
    drop(conn);
    let err = open(&url).await.unwrap_err();
    assert!(
        matches!(err, Error::SchemaTooNew { found: 999, .. }),
        "{err}"
    );
}

fn rusqlite_connection(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

#[tokio::test]
async fn postgres_backend() {
    let base = std::env::var("MCPFLOW_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_PG.into());
    let (admin, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {base} is required for this test ({e}); set MCPFLOW_TEST_POSTGRES_URL")
        });
    tokio::spawn(conn);
    let schema = format!("mcpflow_test_{}", std::process::id());
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = StoreUrl::parse(&format!("{base}{sep}options=-csearch_path%3D{schema}")).unwrap();

    let store = open(&url).await.unwrap();
    assert_eq!(store.backend(), "postgres");
    suite(store).await;
    // A second node opening the same database finds it migrated.
    let again = open(&url).await.unwrap();
    assert_eq!(again.schema_version().await.unwrap(), MIGRATION_COUNT);

    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}
