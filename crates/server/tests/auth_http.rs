//! Authentication and authorisation over real HTTP: a server bound on 127.0.0.1:0 with auth
//! configured, driven with reqwest (and a WebSocket client for the dispatch-point check).
//! Every refusal must have the right status and header and reach the audit hook.

mod support;

use futures::{SinkExt, StreamExt};
use mcpflow_auth::testing::{Signer, TestIssuer, now};
use mcpflow_auth::{
    Auth, AuthAudit, AuthOutcome, MemoryAudit, PrincipalKind, Rbac, apikey, ratelimit,
};
use mcpflow_node::{Node, NodeConfig};
use mcpflow_server::HttpConfig;
use mcpflow_server::http::HttpServer;
use mcpflow_server::mcp::{Catalog, McpState};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

const RESOURCE: &str = "https://mcp.test/mcp";

const ROLES: &str = r#"
[roles.caller]
permissions = ["tool:test_*", "resource:mcpflow://tenants/*", "resource:test://*"]

[roles.viewer]
permissions = ["resource:*"]

[roles.limited]
permissions = ["tool:*"]
rate_per_sec = 1
burst = 3
"#;

struct Harness {
    addr: SocketAddr,
    issuer: TestIssuer,
    api_key: String,
    audit: Arc<MemoryAudit>,
    http: reqwest::Client,
    shutdown: CancellationToken,
    _data: tempfile::TempDir,
}

impl Harness {
    async fn start() -> Self {
        let issuer = TestIssuer::new("https://idp.test", RESOURCE);
        let key = apikey::generate("ci-bot", "acme", &["caller"], PrincipalKind::Service).unwrap();
        let keys = apikey::ApiKeyStore::new(vec![key.stored], Duration::from_secs(60)).unwrap();
        let audit = Arc::new(MemoryAudit::default());
        let auth = Auth::new(
            RESOURCE.into(),
            Some(issuer.validator()),
            Some(keys),
            Rbac::from_toml(ROLES).unwrap(),
            ratelimit::RateLimitConfig {
                per_sec: 1000,
                burst: 1000,
            },
            None,
        )
        .with_metadata(vec!["https://idp.test".into()], vec!["mcp:tools".into()])
        .with_audit(audit.clone() as Arc<dyn AuthAudit>);
        let config = HttpConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..HttpConfig::default()
        };
        let server = HttpServer::bind_with_auth(config, Some(Arc::new(auth)))
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let data = tempfile::tempdir().unwrap();
        let sampling = mcpflow_server::sampling::SamplingBridge::new();
        let node = Node::open_with(NodeConfig::new(data.path()), sampling.executors())
            .await
            .unwrap();
        let mut catalog = Catalog::new();
        mcpflow_server::node_catalog::register(&mut catalog, &sampling);
        mcpflow_server::conformance::register(&mut catalog);
        server.ready_handle().ready(McpState::new(node, catalog));
        let shutdown = CancellationToken::new();
        tokio::spawn(server.serve(shutdown.clone()));
        Self {
            addr,
            issuer,
            api_key: key.key,
            audit,
            http: reqwest::Client::new(),
            shutdown,
            _data: data,
        }
    }

    fn token(&self, sub: &str, tenant: &str, roles: &[&str]) -> String {
        self.issuer
            .sign(Signer::Rs256, &self.issuer.claims(sub, tenant, roles))
    }

    async fn post(
        &self,
        bearer: Option<&str>,
        session: Option<&str>,
        body: Value,
    ) -> reqwest::Response {
        support::post_mcp(&self.http, self.addr, bearer, session, body).await
    }

    /// Opens a session as `bearer`; returns its id.
    async fn initialize(&self, bearer: &str) -> String {
        support::initialize_as(&self.http, self.addr, bearer, "auth-tests").await
    }

    fn refusals(&self) -> Vec<AuthOutcome> {
        self.audit.events().into_iter().map(|e| e.outcome).collect()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn call(name: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": { "name": name, "arguments": {} } })
}

fn read(uri: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": 8, "method": "resources/read", "params": { "uri": uri } })
}

/// The JSON-RPC reply with `id` from a JSON or SSE body.
fn reply(body: &str, id: i64) -> Value {
    let candidates = std::iter::once(body.to_owned()).chain(
        body.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|l| l.trim().to_owned()),
    );
    candidates
        .filter_map(|c| serde_json::from_str::<Value>(&c).ok())
        .find(|v| v["id"] == id)
        .unwrap_or(Value::Null)
}

fn challenge(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .expect("WWW-Authenticate on a refusal")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn metadata_is_served_and_a_missing_token_gets_the_challenge() {
    let h = Harness::start().await;
    let meta: Value = h
        .http
        .get(format!(
            "http://{}/.well-known/oauth-protected-resource",
            h.addr
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["resource"], RESOURCE);
    assert_eq!(meta["authorization_servers"], json!(["https://idp.test"]));
    assert_eq!(meta["bearer_methods_supported"], json!(["header"]));
    assert_eq!(meta["scopes_supported"], json!(["mcp:tools"]));

    let response = h.post(None, None, call("test_simple_text")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let header = challenge(&response);
    assert!(
        header.starts_with(
            "Bearer resource_metadata=\"https://mcp.test/.well-known/oauth-protected-resource\""
        ),
        "{header}"
    );
    assert!(
        !header.contains("error="),
        "no error code without credentials (RFC 6750 3.1): {header}"
    );
    // WebSocket upgrades need a token too.
    let ws = h
        .http
        .get(format!("http://{}/ws", h.addr))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(ws.status(), StatusCode::UNAUTHORIZED);
    // Health stays open for probes.
    let health = h
        .http
        .get(format!("http://{}/healthz", h.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(matches!(
        &h.refusals()[..],
        [AuthOutcome::Unauthenticated { reason: a, .. }, AuthOutcome::Unauthenticated { reason: b, .. }]
            if a == "missing" && b == "missing"
    ));
}

#[tokio::test]
async fn expired_forged_and_wrong_audience_tokens_get_401_invalid_token() {
    let h = Harness::start().await;
    let mut expired = h.issuer.claims("alice", "acme", &["caller"]);
    expired["exp"] = (now() - 3600).into();
    let mut wrong_aud = h.issuer.claims("alice", "acme", &["caller"]);
    wrong_aud["aud"] = "https://other.test/mcp".into();
    let valid = h.issuer.claims("alice", "acme", &["caller"]);
    let cases = [
        ("expired", h.issuer.sign(Signer::Rs256, &expired), "expired"),
        (
            "bad_signature",
            h.issuer.sign(Signer::ForgedRs256, &valid),
            "bad signature",
        ),
        (
            "wrong_audience",
            h.issuer.sign(Signer::EdDsa, &wrong_aud),
            "wrong audience",
        ),
        (
            "alg_not_allowed",
            h.issuer.sign(Signer::ConfusedHs256, &valid),
            "bad signature",
        ),
        (
            "invalid_api_key",
            format!("{}x", h.api_key),
            "invalid API key",
        ),
    ];
    for (label, token, description) in &cases {
        let response = h.post(Some(token), None, call("test_simple_text")).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{label}");
        let header = challenge(&response);
        assert!(
            header.contains("error=\"invalid_token\""),
            "{label}: {header}"
        );
        assert!(header.contains("resource_metadata=\""), "{label}: {header}");
        assert!(header.contains(description), "{label}: {header}");
    }
    let reasons: Vec<String> = h
        .refusals()
        .into_iter()
        .map(|o| match o {
            AuthOutcome::Unauthenticated { reason, .. } => reason,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    // The confused token fails the HMAC check against the shared secret: a bad signature.
    assert_eq!(
        reasons,
        [
            "expired",
            "bad_signature",
            "wrong_audience",
            "bad_signature",
            "invalid_api_key"
        ]
    );
}

#[tokio::test]
async fn valid_jwt_and_api_key_are_accepted_and_can_call_permitted_tools() {
    let h = Harness::start().await;
    for bearer in [h.token("alice", "acme", &["caller"]), h.api_key.clone()] {
        let session = h.initialize(&bearer).await;
        let response = h
            .post(Some(&bearer), Some(&session), call("test_simple_text"))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body = reply(&response.text().await.unwrap(), 7);
        assert!(body["result"]["content"].is_array(), "{body}");
    }
    assert!(h.refusals().is_empty(), "{:?}", h.refusals());
}

#[tokio::test]
async fn a_role_without_the_tool_permission_gets_403() {
    let h = Harness::start().await;
    let viewer = h.token("vera", "acme", &["viewer"]);
    let session = h.initialize(&viewer).await;
    let response = h
        .post(Some(&viewer), Some(&session), call("test_simple_text"))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let header = challenge(&response);
    assert!(header.contains("error=\"insufficient_scope\""), "{header}");
    assert!(header.contains("tool:test_simple_text"), "{header}");
    let events = h.audit.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].principal.as_deref(), Some("vera"));
    assert!(
        matches!(&events[0].outcome, AuthOutcome::Forbidden { reason, .. } if reason == "permission")
    );
}

#[tokio::test]
async fn tenant_a_cannot_read_tenant_b_resources() {
    let h = Harness::start().await;
    let alice = h.token("alice", "acme", &["caller"]);
    let session = h.initialize(&alice).await;
    let response = h
        .post(
            Some(&alice),
            Some(&session),
            read("mcpflow://tenants/globex/memory/plans"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(challenge(&response).contains("globex"));
    // Her own tenant passes authorisation (and then finds no such resource).
    let own = h
        .post(
            Some(&alice),
            Some(&session),
            read("mcpflow://tenants/acme/memory/plans"),
        )
        .await;
    assert_eq!(own.status(), StatusCode::OK);
    let body = reply(&own.text().await.unwrap(), 8);
    assert_eq!(
        body["error"]["code"], -32002,
        "resource not found, not refused: {body}"
    );
    assert!(matches!(
        &h.refusals()[..],
        [AuthOutcome::Forbidden { reason, .. }] if reason == "cross_tenant"
    ));
}

#[tokio::test]
async fn exceeding_the_role_rate_limit_gets_429_with_retry_after() {
    let h = Harness::start().await;
    let busy = h.token("bob", "acme", &["limited"]);
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let response = h
            .post(
                Some(&busy),
                None,
                json!({"jsonrpc":"2.0","id":1,"method":"ping"}),
            )
            .await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry >= 1);
            statuses.push(429);
            break;
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(
        statuses[..3].iter().all(|s| *s != 429),
        "burst of 3 first: {statuses:?}"
    );
    // Another principal is not affected.
    let other = h.token("carol", "acme", &["limited"]);
    let ok = h
        .post(
            Some(&other),
            None,
            json!({"jsonrpc":"2.0","id":1,"method":"ping"}),
        )
        .await;
    assert_ne!(ok.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        h.refusals()
            .iter()
            .any(|o| matches!(o, AuthOutcome::RateLimited { .. }))
    );
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next reply frame with `id`, skipping notifications.
async fn ws_reply(ws: &mut Ws, id: i64) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("reply in time")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = frame {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["id"] == id {
                return v;
            }
        }
    }
}

#[tokio::test]
async fn websocket_tool_calls_are_checked_at_dispatch() {
    let h = Harness::start().await;
    let viewer = h.token("vera", "acme", &["viewer"]);
    let mut request = format!("ws://{}/ws", h.addr).into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {viewer}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let send = |v: Value| Message::Text(v.to_string().into());
    ws.send(send(
        json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": { "name": "auth-tests", "version": "1" } } }),
    ))
    .await
    .unwrap();
    assert!(ws_reply(&mut ws, 1).await["result"].is_object());
    ws.send(send(
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
    ))
    .await
    .unwrap();
    ws.send(send(call("test_simple_text"))).await.unwrap();
    let refused = ws_reply(&mut ws, 7).await;
    assert_eq!(refused["error"]["code"], -32003, "{refused}");
    assert_eq!(refused["error"]["data"]["status"], 403);
    let events = h.audit.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].path, "/ws");
}

#[tokio::test]
async fn serve_refuses_non_loopback_without_auth() {
    let config = HttpConfig {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..HttpConfig::default()
    };
    let err = HttpServer::bind(config).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("[auth]"), "{err}");
}
