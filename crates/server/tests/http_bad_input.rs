//! Bad input over Streamable HTTP: every case gets the documented answer, nothing crashes, and
//! no session leaks.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use support::TestServer;

#[tokio::test]
async fn malformed_json_is_a_parse_error() {
    let server = TestServer::start().await;
    let (status, reply) = server.rpc_raw_text("{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reply["error"]["code"], -32700, "{reply}");
    assert!(reply["id"].is_null());
    assert_eq!(server.open_sessions().await, 0);
}

#[tokio::test]
async fn batches_are_refused() {
    let server = TestServer::start().await;
    let (status, reply) = server
        .rpc_raw_text(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reply["error"]["code"], -32600);
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("batch")
    );
}

#[tokio::test]
async fn oversized_bodies_get_413_with_or_without_content_length() {
    let server = TestServer::start_with(|c| c.max_body_bytes = 1024).await;
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(4096)
    );
    let response = server.post_raw(None, big.clone()).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let reply: serde_json::Value = response.json().await.unwrap();
    assert!(reply["error"]["message"].as_str().unwrap().contains("1024"));

    // Chunked: no Content-Length, the limit is enforced while reading.
    let stream = futures::stream::iter(
        big.into_bytes()
            .chunks(512)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let response = server
        .post_raw(None, reqwest::Body::wrap_stream(stream))
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(server.open_sessions().await, 0);
}

#[tokio::test]
async fn unknown_methods_and_wrong_params_are_protocol_errors() {
    let server = TestServer::start().await;
    let session = server.initialize().await;
    let (_, reply) = server
        .rpc(
            Some(&session),
            json!({"jsonrpc":"2.0","id":1,"method":"no/such/method"}),
        )
        .await;
    assert_eq!(reply["error"]["code"], -32601, "{reply}");
    let (_, reply) = server
        .rpc(
            Some(&session),
            json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"test_sampling","arguments":{"prompt":42}}}),
        )
        .await;
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("prompt")
    );
    let (_, reply) = server
        .rpc(
            Some(&session),
            json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"no_such_tool"}}),
        )
        .await;
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    let (_, reply) = server
        .rpc(
            Some(&session),
            json!({"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"test://nope"}}),
        )
        .await;
    assert_eq!(reply["error"]["code"], -32002, "{reply}");
    let (_, reply) = server
        .rpc(
            Some(&session),
            json!({"jsonrpc":"2.0","id":5,"method":"tools/list","params":{"cursor":"bogus"}}),
        )
        .await;
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    // The session survived all of it.
    let result = server
        .call_tool(&session, "test_simple_text", json!({}))
        .await;
    assert_eq!(
        result["content"][0]["text"],
        mcpflow_server::conformance::SIMPLE_TEXT
    );
    assert_eq!(server.open_sessions().await, 1);
}

#[tokio::test]
async fn foreign_origins_and_rebound_hosts_get_403() {
    let server = TestServer::start().await;
    let evil_origin = server
        .http
        .post(server.url("/mcp"))
        .header("origin", "https://evil.example")
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(evil_origin.status(), StatusCode::FORBIDDEN);
    let rebound = server
        .http
        .post(server.url("/mcp"))
        .header("host", "evil.example")
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), StatusCode::FORBIDDEN);
    let ws = server
        .http
        .get(server.url("/ws"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(ws.status(), StatusCode::FORBIDDEN);
    assert_eq!(server.open_sessions().await, 0);
}

#[tokio::test]
async fn browsers_get_cors_for_allowed_origins_only() {
    let server = TestServer::start().await;
    let preflight = server
        .http
        .request(reqwest::Method::OPTIONS, server.url("/mcp"))
        .header("origin", "http://localhost:6274")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, mcp-session-id",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "http://localhost:6274"
    );
    let init = server
        .http
        .post(server.url("/mcp"))
        .header("origin", "http://localhost:6274")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), StatusCode::OK);
    let exposed = init.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(exposed.contains("mcp-session-id"), "{exposed}");
    let foreign = server
        .http
        .request(reqwest::Method::OPTIONS, server.url("/mcp"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn unknown_sessions_get_404_on_every_method() {
    let server = TestServer::start().await;
    let (status, _) = server
        .rpc(
            Some("no-such-session"),
            json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let get = server
        .http
        .get(server.url("/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", "no-such-session")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::NOT_FOUND);
    let delete = server
        .http
        .delete(server.url("/mcp"))
        .header("mcp-session-id", "no-such-session")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_session_limit_refuses_new_sessions_only() {
    let server = TestServer::start_with(|c| c.max_sessions = 2).await;
    let a = server.initialize().await;
    let _b = server.initialize().await;
    let response = server.post_raw(None, initialize_body()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    // Existing sessions keep working.
    server.call_tool(&a, "test_simple_text", json!({})).await;
    // Closing one frees a slot.
    let delete = server
        .http
        .delete(server.url("/mcp"))
        .header("mcp-session-id", &a)
        .send()
        .await
        .unwrap();
    assert!(delete.status().is_success());
    assert_eq!(server.open_sessions().await, 1);
    server.initialize().await;
    assert_eq!(server.open_sessions().await, 2);
}

#[tokio::test]
async fn session_creation_is_rate_limited_per_client() {
    let server = TestServer::start_with(|c| {
        c.session_rate_per_sec = 1;
        c.session_burst = 2;
    })
    .await;
    let a = server.initialize().await;
    server.initialize().await;
    let response = server.post_raw(None, initialize_body()).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    // Requests in existing sessions are not rate limited by this.
    server.call_tool(&a, "test_simple_text", json!({})).await;
}

#[tokio::test]
async fn idle_sessions_expire_and_are_buried() {
    let server = TestServer::start_with(|c| c.session_idle_secs = 1).await;
    let session = server.initialize().await;
    assert_eq!(server.open_sessions().await, 1);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(
        server.open_sessions().await,
        0,
        "expired session still counted"
    );
    let (status, _) = server
        .rpc(
            Some(&session),
            json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let stored = server
        .node
        .store()
        .session(&session)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.state, mcpflow_model::SessionState::Dead);
}

fn initialize_body() -> String {
    json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": { "protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": { "name": "t", "version": "1" } }
    })
    .to_string()
}

trait RawText {
    async fn rpc_raw_text(&self, body: &str) -> (StatusCode, serde_json::Value);
}

impl RawText for TestServer {
    async fn rpc_raw_text(&self, body: &str) -> (StatusCode, serde_json::Value) {
        let response = self.post_raw(None, body.to_owned()).await;
        let status = response.status();
        (status, response.json().await.unwrap())
    }
}
