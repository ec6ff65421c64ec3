//! Multi-threaded runtimes, as in production: memory's store bridge blocks a blocking-pool
//! thread on the runtime (`Handle::block_on`), which on a current-thread runtime can wait for
//! a driver only the test's own thread runs.

use super::*;
use mcpflow_intel::memory::ManualClock;
use serde_json::json;

fn settings(clock: Arc<ManualClock>) -> MemorySettings {
    MemorySettings {
        embedder: Arc::new(HashingEmbedder::new(32)),
        // The tests drive the reaper and snapshots themselves.
        reap_interval: Duration::from_secs(3600),
        snapshot_interval: Duration::from_secs(3600),
        max_entry_bytes: 4096,
        clock,
        gate: None,
    }
}

/// Blocks any text containing "PLANTED": the memory must ask its gate before it stores.
#[derive(Debug)]
struct Planted;

impl ContentGate for Planted {
    fn inspect(&self, point: GatePoint<'_>, _actor: &str, text: &str) -> GateOutcome {
        assert_eq!(point.name(), "memory_write");
        if text.contains("PLANTED") {
            GateOutcome::Block("planted".into())
        } else {
            GateOutcome::Allow
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_the_gate_blocks_are_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(Arc::new(ManualClock::new(0)));
    s.gate = Some(Arc::new(Planted));
    let (bus, _) = broadcast::channel(16);
    let memory = NodeMemory::open(sqlite(dir.path()).await, s, bus)
        .await
        .unwrap();
    let request = |key: &str, value: Value| StoreRequest {
        key: key.into(),
        value,
        metadata: Value::Null,
        ttl_seconds: None,
        content: None,
    };
    let refused = memory
        .store("ns", request("a", json!({ "deep": ["PLANTED order"] })))
        .await
        .unwrap_err();
    assert!(matches!(refused, MemoryFailure::Blocked(_)), "{refused}");
    memory
        .store("ns", request("b", json!("fine")))
        .await
        .unwrap();
    assert!(memory.retrieve("ns", "a").unwrap().is_none());
    assert!(memory.retrieve("ns", "b").unwrap().is_some());
    memory.shutdown().await;
}

async fn sqlite(dir: &std::path::Path) -> DynStore {
    mcpflow_store::open(
        &mcpflow_store::StoreUrl::parse(dir.join("m.db").to_str().unwrap()).unwrap(),
    )
    .await
    .unwrap()
}

fn text(t: &str) -> Option<Content> {
    Some(Content::Text(t.into()))
}

fn request(key: &str, content: Option<Content>) -> StoreRequest {
    StoreRequest {
        key: key.into(),
        value: json!({ "k": key }),
        metadata: json!({ "group": key.len() % 2 }),
        ttl_seconds: None,
        content,
    }
}

const TEXTS: [&str; 8] = [
    "retry failed requests with exponential backoff",
    "pin dependency versions exactly",
    "write the test before the fix",
    "backoff and jitter avoid thundering herds",
    "the store commits before the tool answers",
    "snapshots only speed up start-up",
    "expired entries are reaped in the background",
    "versions of dependencies drift without pins",
];

async fn results(m: &NodeMemory, queries: &[&str]) -> Vec<Vec<(String, u32)>> {
    let mut out = Vec::new();
    for q in queries {
        let r = m
            .search("ns", Content::Text((*q).into()), 5, None)
            .await
            .unwrap();
        out.push(
            r.hits
                .into_iter()
                .map(|h| (h.entry.key, h.distance.to_bits()))
                .collect(),
        );
    }
    out
}

/// Store, snapshot, write more, restart: the first restart after a clean snapshot loads it;
/// after writes the snapshot no longer matches and the index is rebuilt — with the same
/// search results either way.
async fn survives_restarts(store: DynStore) {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let (bus, _) = broadcast::channel(64);
    let m = NodeMemory::open(store.clone(), settings(clock.clone()), bus.clone())
        .await
        .unwrap();
    for (i, t) in TEXTS.iter().enumerate() {
        clock.advance(1);
        m.store("ns", request(&format!("k{i}"), text(t)))
            .await
            .unwrap();
    }
    m.store("ns", request("plain", None)).await.unwrap();
    let queries = ["backoff", "dependency versions", "store commits"];
    let before = results(&m, &queries).await;
    m.shutdown().await;
    assert_eq!(m.stats().snapshots_written, 1);

    let m = NodeMemory::open(store.clone(), settings(clock.clone()), bus.clone())
        .await
        .unwrap();
    assert_eq!(
        m.stats().loaded[0].source,
        "snapshot",
        "{:?}",
        m.stats().loaded
    );
    assert_eq!(results(&m, &queries).await, before);
    // A write after the snapshot, then a "crash" (no shutdown, so no new snapshot).
    clock.advance(1);
    m.store("ns", request("late", text("late backoff note")))
        .await
        .unwrap();
    let after = results(&m, &queries).await;
    drop(m);

    let m = NodeMemory::open(store.clone(), settings(clock.clone()), bus)
        .await
        .unwrap();
    let loaded = &m.stats().loaded[0];
    assert_eq!(loaded.source, "rebuilt", "{loaded:?}");
    assert!(
        loaded.reason.as_deref().unwrap().contains("entries"),
        "{loaded:?}"
    );
    assert_eq!(results(&m, &queries).await, after);
    assert_eq!(
        m.retrieve("ns", "plain").unwrap().unwrap().value,
        json!({"k": "plain"})
    );
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_survives_restarts_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    survives_restarts(sqlite(dir.path()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_survives_restarts_on_postgres() {
    let schema = mcpflow_store::testing::ScratchSchema::create("mcpflow_memory").await;
    let store = mcpflow_store::open(schema.url()).await.unwrap();
    survives_restarts(store).await;
    schema.drop().await;
}

// Current-thread: the counter it reads is bumped right after the event it waits for.
#[tokio::test]
async fn the_reaper_removes_expired_entries_from_memory_and_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path()).await;
    let clock = Arc::new(ManualClock::new(5_000));
    let (bus, mut events) = broadcast::channel(64);
    let mut s = settings(clock.clone());
    s.reap_interval = Duration::from_millis(10);
    let m = NodeMemory::open(store.clone(), s, bus).await.unwrap();
    let mut short = request("short", text("gone soon"));
    short.ttl_seconds = Some(5);
    m.store("ns", short).await.unwrap();
    m.store("ns", request("long", text("stays"))).await.unwrap();
    while events.try_recv().is_ok() {}
    assert_eq!(store.memory_entries().await.unwrap().len(), 2);
    // Ticks before the TTL runs out remove nothing.
    clock.advance(4_999);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(store.memory_entries().await.unwrap().len(), 2);
    clock.advance(1);
    // The reaper (every 10 ms) removes it from the store and announces the change.
    let update = tokio::time::timeout(Duration::from_secs(30), events.recv())
        .await
        .expect("the reaper never ran")
        .unwrap();
    assert_eq!(
        update,
        Event::ResourceUpdated {
            uri: memory_uri("ns")
        }
    );
    let rows = store.memory_entries().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].key, "long");
    assert_eq!(m.stats().reaped, 1);
    assert_eq!(m.stats().total_entries, 1);
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(5_000));
    let (bus, _) = broadcast::channel(64);
    let m = NodeMemory::open(sqlite(dir.path()).await, settings(clock), bus)
        .await
        .unwrap();
    let err = |e: MemoryFailure| e.to_string();
    let bad_dim = m
        .store("ns", request("k", Some(Content::Vector(vec![1.0; 3]))))
        .await
        .unwrap_err();
    assert!(err(bad_dim).contains("3 dimensions but this node's memory holds 32"));
    for ttl in [0, -5, MAX_TTL_SECONDS + 1] {
        let mut r = request("k", None);
        r.ttl_seconds = Some(ttl);
        assert!(err(m.store("ns", r).await.unwrap_err()).contains("ttl_seconds"));
    }
    let mut huge = request("k", None);
    huge.value = json!("x".repeat(5000));
    assert!(err(m.store("ns", huge).await.unwrap_err()).contains("limit of 4096"));
    assert!(err(m.store("ns", request("", None)).await.unwrap_err()).contains("keys are 1-"));
    assert!(err(m.store("ns", request("k", text(" ;; "))).await.unwrap_err()).contains("no words"));
    // Nothing above created the namespace.
    let unknown = m.retrieve("ns", "k").unwrap_err();
    assert!(
        matches!(unknown, MemoryFailure::UnknownNamespace(_)),
        "{unknown}"
    );
    assert!(matches!(
        m.search("ns", Content::Text("x".into()), 1, None)
            .await
            .unwrap_err(),
        MemoryFailure::UnknownNamespace(_)
    ));
    assert!(matches!(
        m.retrieve("bad name!", "k").unwrap_err(),
        MemoryFailure::Refused(_)
    ));
    m.store("ns", request("k", text("hello"))).await.unwrap();
    assert!(
        m.search("ns", Content::Text("hello".into()), 0, None)
            .await
            .is_err()
    );
    assert!(m.list("ns", Some(json!([1])), None, 10).is_err());
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_written_by_another_embedder_is_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path()).await;
    let clock = Arc::new(ManualClock::new(5_000));
    let (bus, _) = broadcast::channel(64);
    let m = NodeMemory::open(store.clone(), settings(clock.clone()), bus.clone())
        .await
        .unwrap();
    m.store("ns", request("k", text("hello there")))
        .await
        .unwrap();
    m.shutdown().await;
    let mut other = settings(clock);
    other.embedder = Arc::new(HashingEmbedder::new(48));
    let err = NodeMemory::open(store, other, bus)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("32-dimensional")
            && err.contains("gives 48")
            && err.contains("memory_entries"),
        "{err}"
    );
}
