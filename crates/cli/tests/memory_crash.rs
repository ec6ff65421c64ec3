//! Semantic memory survives `kill -9`: entries acknowledged over MCP are there after a restart
//! on the same data, and searches give the same hits with the same scores. A clean stop
//! writes index snapshots, so the next start loads them; after a crash the snapshot no longer
//! matches the entries and the index is rebuilt from them. SQLite data directory, and the
//! real PostgreSQL.

use mcpflow_server::client::Remote;
use mcpflow_store::testing::ScratchSchema;
use serde_json::{Value, json};
use std::process::Command;

mod support;

use support::Server;

/// Starts `mcpflow serve` and waits until it answers MCP.
fn serve(rt: &tokio::runtime::Runtime, data: &std::path::Path, store: Option<&str>) -> Server {
    support::serve(data, store, |server| {
        rt.block_on(async {
            match Remote::connect(&server.url).await {
                Ok(r) => {
                    let ok = r.call("memory_stats", json!({})).await.is_ok();
                    r.close().await;
                    ok
                }
                Err(_) => false,
            }
        })
    })
}

fn call(rt: &tokio::runtime::Runtime, url: &str, tool: &str, args: Value) -> Value {
    rt.block_on(async {
        let remote = Remote::connect(url).await.unwrap();
        let out = remote
            .call(tool, args.clone())
            .await
            .unwrap_or_else(|e| panic!("{tool} {args}: {e}"));
        remote.close().await;
        out
    })
}

const WORDS: [&str; 16] = [
    "retry", "backoff", "pin", "version", "test", "fix", "store", "commit", "snapshot", "index",
    "agent", "swarm", "token", "memory", "crash", "restart",
];

/// A deterministic sentence for entry `i`.
fn text(i: usize) -> String {
    (0..5)
        .map(|j| WORDS[(i * 7 + j * 3 + i / 5) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

fn store(rt: &tokio::runtime::Runtime, url: &str, range: std::ops::Range<usize>) {
    rt.block_on(async {
        let remote = Remote::connect(url).await.unwrap();
        for i in range {
            remote
                .call(
                    "memory_store",
                    json!({
                        "namespace": "crash", "key": format!("e{i:03}"), "value": { "i": i },
                        "metadata": { "parity": i % 2 }, "text": text(i)
                    }),
                )
                .await
                .unwrap();
        }
        remote.close().await;
    });
}

/// Every query's hits as (key, score).
fn searches(rt: &tokio::runtime::Runtime, url: &str) -> Vec<Vec<(String, f64)>> {
    let queries = [
        "retry backoff",
        "snapshot index crash",
        "agent swarm token",
        "pin version",
    ];
    queries
        .iter()
        .map(|q| {
            let found = call(
                rt,
                url,
                "memory_search",
                json!({ "namespace": "crash", "query": q, "k": 8 }),
            );
            found["hits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    (
                        h["key"].as_str().unwrap().to_owned(),
                        h["score"].as_f64().unwrap(),
                    )
                })
                .collect()
        })
        .collect()
}

fn loaded(rt: &tokio::runtime::Runtime, url: &str) -> Value {
    call(rt, url, "memory_stats", json!({}))["loaded"][0].clone()
}

fn crash_and_recover(store_url: Option<&str>) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let data = tempfile::tempdir().unwrap();

    // 1. Store, stop cleanly (SIGTERM): shutdown writes the index snapshot.
    let mut server = serve(&rt, data.path(), store_url);
    store(&rt, &server.url, 0..60);
    let clean = searches(&rt, &server.url);
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        server.child.wait().unwrap().success(),
        "a clean stop exits 0"
    );
    drop(server);

    // 2. The restart loads the snapshot, with the same results.
    let server = serve(&rt, data.path(), store_url);
    let l = loaded(&rt, &server.url);
    assert_eq!(l["source"], "snapshot", "{l}");
    assert_eq!(l["entries"], 60);
    assert_eq!(searches(&rt, &server.url), clean);
    // More acknowledged writes (one overwrite, one delete), then kill -9 before any snapshot.
    store(&rt, &server.url, 60..90);
    call(
        &rt,
        &server.url,
        "memory_store",
        json!({ "namespace": "crash", "key": "e005", "value": "replaced", "text": "retry backoff replaced" }),
    );
    call(
        &rt,
        &server.url,
        "memory_delete",
        json!({ "namespace": "crash", "key": "e010" }),
    );
    let before = searches(&rt, &server.url);
    assert_ne!(before, clean, "the late writes must change the results");
    drop(server); // SIGKILL

    // 3. After the crash: the stale snapshot is refused, the index rebuilt from the entries,
    //    and every acknowledged write is there with identical search results.
    let server = serve(&rt, data.path(), store_url);
    let l = loaded(&rt, &server.url);
    assert_eq!(l["source"], "rebuilt", "{l}");
    assert_eq!(l["entries"], 89);
    assert_eq!(searches(&rt, &server.url), before);
    let replaced = call(
        &rt,
        &server.url,
        "memory_retrieve",
        json!({ "namespace": "crash", "key": "e005" }),
    );
    assert_eq!(replaced["entry"]["value"], "replaced");
    let deleted = call(
        &rt,
        &server.url,
        "memory_retrieve",
        json!({ "namespace": "crash", "key": "e010" }),
    );
    assert_eq!(deleted["found"], false);
    let last = call(
        &rt,
        &server.url,
        "memory_retrieve",
        json!({ "namespace": "crash", "key": "e089" }),
    );
    assert_eq!(last["entry"]["value"]["i"], 89);
}

#[test]
fn memory_survives_kill_9_on_sqlite() {
    crash_and_recover(None);
}

#[test]
fn memory_survives_kill_9_on_postgres() {
    // The schema is made and dropped on a runtime of the test's own; the server under test
    // is a separate process.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let schema = rt.block_on(ScratchSchema::create("mcpflow_memcrash"));
    crash_and_recover(Some(schema.url_text()));
    rt.block_on(schema.drop());
}
