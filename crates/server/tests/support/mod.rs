//! A test harness: an in-process mcpflow HTTP server with the conformance catalog, and a tiny
//! MCP-over-HTTP client that speaks the wire format directly (so tests see status codes and
//! raw bodies, not a client library's interpretation of them).

#![allow(dead_code)] // each test file uses part of it

use mcpflow_node::{Node, NodeConfig};
use mcpflow_server::HttpConfig;
use mcpflow_server::http::HttpServer;
use mcpflow_server::mcp::{Catalog, McpState};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
pub struct TestServer {
    pub addr: SocketAddr,
    pub node: Node,
    pub state: Arc<McpState>,
    pub shutdown: CancellationToken,
    pub ready: mcpflow_server::http::ReadyHandle,
    pub serving: Option<JoinHandle<std::io::Result<()>>>,
    pub http: reqwest::Client,
    _data: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut HttpConfig)) -> Self {
        let mut config = HttpConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..HttpConfig::default()
        };
        configure(&mut config);
        let data = tempfile::tempdir().unwrap();
        let server = HttpServer::bind(config).await.unwrap();
        let addr = server.local_addr().unwrap();
        let sampling = mcpflow_server::sampling::SamplingBridge::new();
        let node = Node::open_with(NodeConfig::new(data.path()), sampling.executors())
            .await
            .unwrap();
        let mut catalog = Catalog::new();
        mcpflow_server::node_catalog::register(&mut catalog, &sampling);
        mcpflow_server::conformance::register(&mut catalog);
        let state = McpState::new(node.clone(), catalog);
        let ready = server.ready_handle();
        ready.ready(state.clone());
        let shutdown = CancellationToken::new();
        let serving = tokio::spawn(server.serve(shutdown.clone()));
        Self {
            addr,
            node,
            state,
            shutdown,
            ready,
            serving: Some(serving),
            http: reqwest::Client::new(),
            _data: data,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs `body` (raw bytes) to /mcp with the usual MCP headers.
    pub async fn post_raw(
        &self,
        session: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(self.url("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body);
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25");
        }
        request.send().await.unwrap()
    }

    /// POSTs a JSON-RPC message; returns the status and the JSON-RPC reply with the same id
    /// (from a JSON or SSE body), or `Value::Null` when there is none.
    pub async fn rpc(&self, session: Option<&str>, message: Value) -> (StatusCode, Value) {
        let id = message.get("id").cloned();
        let response = self.post_raw(session, message.to_string()).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        (status, find_reply(&body, id.as_ref()))
    }

    /// Opens a 2025-11-25 session; returns its id.
    pub async fn initialize(&self) -> String {
        self.initialize_with(json!({})).await
    }

    pub async fn initialize_with(&self, capabilities: Value) -> String {
        let response = self
            .post_raw(
                None,
                json!({
                    "jsonrpc": "2.0", "id": 0, "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-11-25",
                        "capabilities": capabilities,
                        "clientInfo": { "name": "mcpflow-tests", "version": "1" }
                    }
                })
                .to_string(),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "initialize");
        let id = response
            .headers()
            .get("mcp-session-id")
            .expect("session id")
            .to_str()
            .unwrap()
            .to_owned();
        response.text().await.unwrap();
        let note = self
            .post_raw(
                Some(&id),
                json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }).to_string(),
            )
            .await;
        assert_eq!(note.status(), StatusCode::ACCEPTED);
        id
    }

    /// `tools/call` in a session; returns the `result` (panics on a JSON-RPC error).
    pub async fn call_tool(&self, session: &str, name: &str, arguments: Value) -> Value {
        let (status, reply) = self
            .rpc(
                Some(session),
                json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/call",
                        "params": { "name": name, "arguments": arguments } }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        reply
            .get("result")
            .cloned()
            .unwrap_or_else(|| panic!("{name} answered {reply}"))
    }

    pub async fn open_sessions(&self) -> u64 {
        let ready: Value = self
            .http
            .get(self.url("/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ready["sessions"].as_u64().unwrap()
    }

    pub async fn stop(mut self) -> std::io::Result<()> {
        self.shutdown.cancel();
        self.serving.take().unwrap().await.unwrap()
    }
}

/// The JSON-RPC message answering `id` in a JSON or `text/event-stream` body.
pub fn find_reply(body: &str, id: Option<&Value>) -> Value {
    let candidates: Vec<Value> = if body.trim_start().starts_with('{') {
        serde_json::from_str(body).into_iter().collect()
    } else {
        body.lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str(data.trim()).ok())
            .collect()
    };
    candidates
        .into_iter()
        .find(|m: &Value| {
            id.is_none() || m.get("id") == id || (m.get("error").is_some() && m["id"].is_null())
        })
        .unwrap_or(Value::Null)
}

/// Reads SSE events from a GET stream until `predicate` matches one or `deadline` passes.
pub async fn wait_for_event(
    response: reqwest::Response,
    predicate: impl Fn(&Value) -> bool,
    deadline: Duration,
) -> Option<Value> {
    use futures::StreamExt;
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    tokio::time::timeout(deadline, async {
        while let Some(Ok(chunk)) = stream.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            for line in buffer.lines() {
                if let Some(data) = line.strip_prefix("data:")
                    && let Ok(v) = serde_json::from_str::<Value>(data.trim())
                    && predicate(&v)
                {
                    return Some(v);
                }
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

/// POSTs `body` to `/mcp` at `addr` as raw HTTP, with a bearer token and a session (2025-11-25)
/// when given: the auth tests need to see every status code.
pub async fn post_mcp(
    http: &reqwest::Client,
    addr: SocketAddr,
    bearer: Option<&str>,
    session: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut request = http
        .post(format!("http://{addr}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string());
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25");
    }
    request.send().await.unwrap()
}

/// Opens a session at `addr` as `bearer` (initialize, then initialized); returns its id.
pub async fn initialize_as(
    http: &reqwest::Client,
    addr: SocketAddr,
    bearer: &str,
    client: &str,
) -> String {
    let response = post_mcp(
        http,
        addr,
        Some(bearer),
        None,
        json!({ "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": { "name": client, "version": "1" } } }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK, "initialize");
    let id = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    response.text().await.unwrap();
    let note = post_mcp(
        http,
        addr,
        Some(bearer),
        Some(&id),
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
    )
    .await;
    assert_eq!(note.status(), StatusCode::ACCEPTED);
    id
}
