//! The memory tools and the namespace resource over real Streamable HTTP, driven by an rmcp
//! client ([`mcpflow_server::client::Remote`]) and, for subscriptions, the raw wire.

mod support;

use mcpflow_server::client::{ClientError, Remote};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use support::{TestServer, wait_for_event};

async fn client(server: &TestServer) -> Remote {
    Remote::connect(&server.url("/mcp")).await.unwrap()
}

async fn refused(remote: &Remote, tool: &str, args: Value) -> String {
    match remote.call(tool, args.clone()).await {
        Err(ClientError::Tool(text)) => text,
        other => panic!("{tool} {args} should be refused, got {other:?}"),
    }
}

const NOTES: [(&str, &str, &str); 4] = [
    (
        "retry",
        "retry failed requests with exponential backoff",
        "coder",
    ),
    ("pins", "pin dependency versions exactly", "tester"),
    (
        "jitter",
        "add jitter to backoff so retries spread out",
        "tester",
    ),
    ("tests", "write the failing test before the fix", "coder"),
];

async fn store_notes(remote: &Remote) {
    for (key, text, agent) in NOTES {
        let stored = remote
            .call(
                "memory_store",
                json!({
                    "namespace": "lessons", "key": key, "value": { "note": text },
                    "metadata": { "agent": agent }, "text": text
                }),
            )
            .await
            .unwrap();
        assert_eq!(stored["key"], key);
        assert_eq!(stored["embedded"], true);
    }
}

#[tokio::test]
async fn store_search_list_retrieve_delete_and_stats() {
    let server = TestServer::start().await;
    let remote = client(&server).await;
    store_notes(&remote).await;

    let found = remote
        .call(
            "memory_search",
            json!({ "namespace": "lessons", "query": "exponential backoff retry", "k": 2 }),
        )
        .await
        .unwrap();
    assert_eq!(found["embedder"], "hashing-256 (degraded)");
    assert_eq!(found["degraded"], true);
    let hits = found["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0]["key"], "retry", "{found}");
    assert_eq!(hits[0]["value"]["note"], NOTES[0].1);
    let (s0, s1) = (
        hits[0]["score"].as_f64().unwrap(),
        hits[1]["score"].as_f64().unwrap(),
    );
    assert!(s0 >= s1 && s0 <= 1.0 + 1e-6, "{found}");

    // A metadata filter narrows the candidates.
    let testers = remote
        .call("memory_search", json!({ "namespace": "lessons", "query": "retry backoff", "filter": { "agent": "tester" } }))
        .await
        .unwrap();
    let keys: Vec<&str> = testers["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys[0], "jitter");
    assert!(
        keys.iter().all(|k| ["pins", "jitter"].contains(k)),
        "{testers}"
    );

    // An explicit vector of the embedder's dimension is searched as is.
    let mut v = vec![0.0f32; 256];
    v[3] = 1.0;
    remote
        .call(
            "memory_store",
            json!({ "namespace": "vectors", "key": "axis3", "value": 3, "embedding": v }),
        )
        .await
        .unwrap();
    let by_vector = remote
        .call(
            "memory_search",
            json!({ "namespace": "vectors", "vector": v, "k": 1 }),
        )
        .await
        .unwrap();
    assert_eq!(by_vector["hits"][0]["key"], "axis3");
    assert!((by_vector["hits"][0]["score"].as_f64().unwrap() - 1.0).abs() < 1e-5);

    // Paged listing in key order.
    let page = remote
        .call("memory_list", json!({ "namespace": "lessons", "limit": 3 }))
        .await
        .unwrap();
    let keys: Vec<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["jitter", "pins", "retry"]);
    assert_eq!(page["next"], "retry");
    let rest = remote
        .call(
            "memory_list",
            json!({ "namespace": "lessons", "limit": 3, "cursor": "retry" }),
        )
        .await
        .unwrap();
    assert_eq!(rest["entries"][0]["key"], "tests");
    assert_eq!(rest["next"], Value::Null);

    let got = remote
        .call(
            "memory_retrieve",
            json!({ "namespace": "lessons", "key": "pins" }),
        )
        .await
        .unwrap();
    assert_eq!(got["found"], true);
    assert_eq!(got["entry"]["metadata"]["agent"], "tester");
    let deleted = remote
        .call(
            "memory_delete",
            json!({ "namespace": "lessons", "key": "pins" }),
        )
        .await
        .unwrap();
    assert_eq!(deleted["deleted"], true);
    let again = remote
        .call(
            "memory_delete",
            json!({ "namespace": "lessons", "key": "pins" }),
        )
        .await
        .unwrap();
    assert_eq!(again["deleted"], false);
    let gone = remote
        .call(
            "memory_retrieve",
            json!({ "namespace": "lessons", "key": "pins" }),
        )
        .await
        .unwrap();
    assert_eq!(gone["found"], false);

    let stats = remote.call("memory_stats", json!({})).await.unwrap();
    assert_eq!(stats["embedder"], "hashing-256 (degraded)");
    assert_eq!(stats["degraded"], true);
    assert_eq!(stats["index"]["dim"], 256);
    assert_eq!(stats["index"]["metric"], "cosine");
    assert_eq!(stats["max_entry_bytes"], 1 << 20);
    assert_eq!(stats["total_entries"], 4);
    assert_eq!(stats["namespaces"][0]["name"], "lessons");
    assert_eq!(stats["namespaces"][0]["entries"], 3);
    assert_eq!(stats["namespaces"][1]["uri"], "mcpflow://memory/vectors");
    remote.close().await;
}

#[tokio::test]
async fn bad_input_gets_clear_tool_errors() {
    let server = TestServer::start().await;
    let remote = client(&server).await;
    store_notes(&remote).await;
    let r = &remote;

    let e = refused(
        r,
        "memory_store",
        json!({ "namespace": "lessons", "key": "k", "value": 1, "embedding": [1.0, 2.0] }),
    )
    .await;
    assert!(e.contains("2 dimensions") && e.contains("256"), "{e}");
    let e = refused(
        r,
        "memory_search",
        json!({ "namespace": "lessons", "vector": [1.0] }),
    )
    .await;
    assert!(e.contains("1 dimensions") && e.contains("give text"), "{e}");
    for tool in ["memory_retrieve", "memory_delete"] {
        let e = refused(r, tool, json!({ "namespace": "nowhere", "key": "k" })).await;
        assert!(
            e.contains("\"nowhere\" does not exist") && e.contains("memory_stats"),
            "{tool}: {e}"
        );
    }
    let e = refused(
        r,
        "memory_search",
        json!({ "namespace": "nowhere", "query": "x" }),
    )
    .await;
    assert!(e.contains("does not exist"), "{e}");
    let e = refused(r, "memory_list", json!({ "namespace": "nowhere" })).await;
    assert!(e.contains("does not exist"), "{e}");
    let e = refused(r, "memory_list", json!({ "namespace": "bad name!" })).await;
    assert!(e.contains("invalid namespace"), "{e}");

    let huge = "x".repeat((1 << 20) + 10);
    let e = refused(
        r,
        "memory_store",
        json!({ "namespace": "lessons", "key": "big", "value": huge }),
    )
    .await;
    assert!(e.contains("more than the limit of 1048576"), "{e}");
    for ttl in [json!(0), json!(-3), json!(400_000_000_000i64)] {
        let e = refused(
            r,
            "memory_store",
            json!({ "namespace": "lessons", "key": "t", "value": 1, "ttl_seconds": ttl }),
        )
        .await;
        assert!(
            e.contains("ttl_seconds must be between 1 and"),
            "{ttl}: {e}"
        );
    }
    let e = refused(
        r,
        "memory_store",
        json!({ "namespace": "lessons", "key": "", "value": 1 }),
    )
    .await;
    assert!(e.contains("keys are 1-512 bytes"), "{e}");
    let e = refused(
        r,
        "memory_store",
        json!({ "namespace": "lessons", "key": "k", "value": 1, "text": "a", "embedding": [1.0] }),
    )
    .await;
    assert!(e.contains("not both"), "{e}");
    let e = refused(
        r,
        "memory_store",
        json!({ "namespace": "lessons", "key": "k", "value": 1, "metadata": [1] }),
    )
    .await;
    assert!(e.contains("metadata must be a JSON object"), "{e}");
    let e = refused(r, "memory_search", json!({ "namespace": "lessons" })).await;
    assert!(e.contains("give query"), "{e}");
    let e = refused(
        r,
        "memory_search",
        json!({ "namespace": "lessons", "query": "x", "k": 0 }),
    )
    .await;
    assert!(e.contains("k must be between 1"), "{e}");
    let e = refused(
        r,
        "memory_search",
        json!({ "namespace": "lessons", "query": "x", "filter": "agent" }),
    )
    .await;
    assert!(e.contains("metadata filter"), "{e}");
    let e = refused(
        r,
        "memory_store",
        json!({ "namespace": "lessons", "key": "k", "value": 1, "colour": "red" }),
    )
    .await;
    assert!(e.contains("unknown field"), "{e}");
    let e = refused(
        r,
        "memory_list",
        json!({ "namespace": "lessons", "limit": 0 }),
    )
    .await;
    assert!(e.contains("limit must be between 1"), "{e}");

    // Nothing refused was written.
    let stats = remote.call("memory_stats", json!({})).await.unwrap();
    assert_eq!(stats["total_entries"], 4, "{stats}");
    assert_eq!(stats["namespaces"].as_array().unwrap().len(), 1);
    remote.close().await;
}

#[tokio::test]
async fn entries_expire_for_every_read() {
    let server = TestServer::start().await;
    let remote = client(&server).await;
    remote
        .call("memory_store", json!({ "namespace": "ttl", "key": "brief", "value": 1, "text": "short lived", "ttl_seconds": 1 }))
        .await
        .unwrap();
    let stored = remote
        .call(
            "memory_retrieve",
            json!({ "namespace": "ttl", "key": "brief" }),
        )
        .await
        .unwrap();
    assert_eq!(stored["found"], true);
    let expires = stored["entry"]["expires_at_ms"].as_u64().unwrap();
    assert_eq!(
        expires - stored["entry"]["created_at_ms"].as_u64().unwrap(),
        1000
    );
    // Wait past the expiry (a lower bound, not a race).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let after = remote
        .call(
            "memory_retrieve",
            json!({ "namespace": "ttl", "key": "brief" }),
        )
        .await
        .unwrap();
    assert_eq!(after["found"], false);
    let search = remote
        .call(
            "memory_search",
            json!({ "namespace": "ttl", "query": "short lived" }),
        )
        .await
        .unwrap();
    assert_eq!(search["hits"], json!([]));
    remote.close().await;
}

#[tokio::test]
async fn the_namespace_resource_reads_and_notifies_subscribers_of_writes() {
    let server = TestServer::start().await;
    let remote = client(&server).await;
    store_notes(&remote).await;
    let s = server.initialize().await;
    let uri = "mcpflow://memory/lessons";
    let (_, read) = server
        .rpc(Some(&s), json!({ "jsonrpc": "2.0", "id": 2, "method": "resources/read", "params": { "uri": uri } }))
        .await;
    let body: Value =
        serde_json::from_str(read["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(body["entries"], 4);
    assert_eq!(body["keys"], json!(["jitter", "pins", "retry", "tests"]));
    assert_eq!(body["embedder"], "hashing-256 (degraded)");
    let (_, missing) = server
        .rpc(Some(&s), json!({ "jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": { "uri": "mcpflow://memory/nowhere" } }))
        .await;
    assert_eq!(missing["error"]["code"], -32002, "{missing}");

    // A namespace with a slash is one URI segment, written %2F.
    remote
        .call(
            "memory_store",
            json!({ "namespace": "team/alpha", "key": "k", "value": 1 }),
        )
        .await
        .unwrap();
    let (_, nested) = server
        .rpc(Some(&s), json!({ "jsonrpc": "2.0", "id": 4, "method": "resources/read", "params": { "uri": "mcpflow://memory/team%2Falpha" } }))
        .await;
    let nested: Value =
        serde_json::from_str(nested["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(nested["namespace"], "team/alpha");

    let (_, sub) = server
        .rpc(Some(&s), json!({ "jsonrpc": "2.0", "id": 5, "method": "resources/subscribe", "params": { "uri": uri } }))
        .await;
    assert_eq!(sub["result"], json!({}), "{sub}");
    let stream = server
        .http
        .get(server.url("/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &s)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    remote
        .call(
            "memory_delete",
            json!({ "namespace": "lessons", "key": "pins" }),
        )
        .await
        .unwrap();
    let update = wait_for_event(
        stream,
        |v| v["method"] == "notifications/resources/updated" && v["params"]["uri"] == uri,
        Duration::from_secs(10),
    )
    .await
    .expect("a delete is notified to subscribers");
    assert_eq!(update["params"]["uri"], uri);
    remote.close().await;
}
