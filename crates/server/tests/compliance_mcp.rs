//! Auth refusals and Cedar compliance decisions in the node's durable audit log, and the
//! `compliance_check` / `compliance_report` tools, over real HTTP with auth configured (the
//! way `mcpflow serve` wires it: the server's `Auth` audits through `AuthAuditor`).

mod support;

use mcpflow_auth::testing::{Signer, TestIssuer, now};
use mcpflow_auth::{Auth, PolicyStore, PrincipalKind, Rbac, apikey, ratelimit};
use mcpflow_node::{AuthAuditor, Node, NodeConfig, REFUSED_ACTION};
use mcpflow_server::HttpConfig;
use mcpflow_server::http::HttpServer;
use mcpflow_server::mcp::{Catalog, McpState};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const RESOURCE: &str = "https://mcp.test/mcp";

const ROLES: &str = r#"
[roles.auditor]
permissions = ["tool:compliance_*", "tool:audit_*"]

[roles.caller]
permissions = ["tool:test_*", "resource:mcpflow://tenants/*"]

[roles.viewer]
permissions = ["resource:*"]

[roles.limited]
permissions = ["tool:*"]
rate_per_sec = 1
burst = 3
"#;

const BASE: &str = r#"@id("base") permit(principal, action, resource);"#;

const NO_INTERNS: &str = r#"
@id("no-interns")
forbid(principal, action == Action::"call_tool", resource == Tool::"test_simple_text")
when { principal.roles.contains("intern") };
"#;

const NO_DEVS: &str = r#"
@id("no-devs")
forbid(principal, action == Action::"call_tool", resource == Tool::"test_simple_text")
when { principal.roles.contains("dev") };
"#;

struct Harness {
    addr: SocketAddr,
    issuer: TestIssuer,
    api_key: String,
    node: Node,
    auth: Arc<Auth>,
    policies: Option<tempfile::TempDir>,
    http: reqwest::Client,
    shutdown: CancellationToken,
    _data: tempfile::TempDir,
}

impl Harness {
    /// A server with auth; with Cedar policies (`BASE` + `NO_INTERNS`) if `compliance`.
    async fn start(compliance: bool) -> Self {
        let data = tempfile::tempdir().unwrap();
        let sampling = mcpflow_server::sampling::SamplingBridge::new();
        let node = Node::open_with(NodeConfig::new(data.path()), sampling.executors())
            .await
            .unwrap();
        let (policies, store) = if compliance {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("base.cedar"), BASE).unwrap();
            std::fs::write(dir.path().join("interns.cedar"), NO_INTERNS).unwrap();
            let store = PolicyStore::open(&mcpflow_auth::compliance::ComplianceConfig {
                policy_dir: dir.path().to_owned(),
                ..Default::default()
            })
            .unwrap();
            (Some(dir), Some(store))
        } else {
            (None, None)
        };
        let issuer = TestIssuer::new("https://idp.test", RESOURCE);
        let key = apikey::generate("ci-bot", "acme", &["caller"], PrincipalKind::Service).unwrap();
        let keys = apikey::ApiKeyStore::new(vec![key.stored], Duration::from_secs(60)).unwrap();
        let auth = Arc::new(
            Auth::new(
                RESOURCE.into(),
                Some(issuer.validator()),
                Some(keys),
                Rbac::from_toml(ROLES).unwrap(),
                ratelimit::RateLimitConfig {
                    per_sec: 1000,
                    burst: 1000,
                },
                store,
            )
            .with_audit(Arc::new(AuthAuditor::new(node.audit().clone()))),
        );
        let config = HttpConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..HttpConfig::default()
        };
        let server = HttpServer::bind_with_auth(config, Some(auth.clone()))
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let mut catalog = Catalog::new();
        mcpflow_server::node_catalog::register(&mut catalog, &sampling);
        mcpflow_server::conformance::register(&mut catalog);
        server
            .ready_handle()
            .ready(McpState::new(node.clone(), catalog));
        let shutdown = CancellationToken::new();
        tokio::spawn(server.serve(shutdown.clone()));
        Self {
            addr,
            issuer,
            api_key: key.key,
            node,
            auth,
            policies,
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
        support::initialize_as(&self.http, self.addr, bearer, "compliance-tests").await
    }

    /// Calls `name` as `bearer` in `session`: the HTTP status and the JSON-RPC reply.
    async fn call(
        &self,
        bearer: &str,
        session: &str,
        name: &str,
        arguments: Value,
    ) -> (StatusCode, Value) {
        let response = self
            .post(
                Some(bearer),
                Some(session),
                json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/call",
                        "params": { "name": name, "arguments": arguments } }),
            )
            .await;
        let status = response.status();
        (status, reply(&response.text().await.unwrap(), 7))
    }

    /// An auditor's session.
    async fn auditor(&self) -> (String, String) {
        let token = self.token("audrey", "acme", &["auditor"]);
        let session = self.initialize(&token).await;
        (token, session)
    }

    /// Every entry of the durable log with `action`, oldest first, once what was queued is
    /// durable (a checkpoint is handled after every append queued before it).
    async fn entries(&self, action: &str) -> Vec<mcpflow_audit::Entry> {
        let log = self.node.audit().log().clone();
        let action = action.to_owned();
        tokio::task::spawn_blocking(move || {
            log.checkpoint().unwrap();
            let mut entries = log
                .search(&mcpflow_audit::Search {
                    text: format!("\"{action}\""),
                    limit: Some(10_000),
                    ..Default::default()
                })
                .unwrap();
            entries.retain(|e| e.action == action);
            entries.reverse();
            entries
        })
        .await
        .unwrap()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
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

/// The structured result of a successful tool call.
fn ok(reply: &Value) -> &Value {
    assert_ne!(reply["result"]["isError"], true, "{reply}");
    &reply["result"]["structuredContent"]
}

/// The text of a tool error.
fn tool_error(reply: &Value) -> String {
    assert_eq!(
        reply["result"]["isError"], true,
        "expected a tool error: {reply}"
    );
    reply["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn details(entry: &mcpflow_audit::Entry) -> Value {
    serde_json::from_str(&entry.details).unwrap()
}

#[tokio::test]
async fn every_refusal_kind_lands_in_the_durable_audit_log_which_verifies() {
    let h = Harness::start(true).await;
    let call = json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/call",
                       "params": { "name": "test_simple_text", "arguments": {} } });
    // 401s: missing, expired, forged, wrong audience, bad API key.
    let mut expired = h.issuer.claims("alice", "acme", &["caller"]);
    expired["exp"] = (now() - 3600).into();
    let mut wrong_aud = h.issuer.claims("alice", "acme", &["caller"]);
    wrong_aud["aud"] = "https://other.test/mcp".into();
    let valid = h.issuer.claims("alice", "acme", &["caller"]);
    let bad_tokens = [
        h.issuer.sign(Signer::Rs256, &expired),
        h.issuer.sign(Signer::ForgedRs256, &valid),
        h.issuer.sign(Signer::EdDsa, &wrong_aud),
        format!("{}x", h.api_key),
    ];
    assert_eq!(
        h.post(None, None, call.clone()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    for token in &bad_tokens {
        let response = h.post(Some(token), None, call.clone()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // 403s: a role without the permission, another tenant's resource, a compliance deny.
    let viewer = h.token("vera", "acme", &["viewer"]);
    let s = h.initialize(&viewer).await;
    let (status, _) = h.call(&viewer, &s, "test_simple_text", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let alice = h.token("alice", "acme", &["caller"]);
    let s = h.initialize(&alice).await;
    let read = h
        .post(
            Some(&alice),
            Some(&s),
            json!({ "jsonrpc": "2.0", "id": 8, "method": "resources/read",
                    "params": { "uri": "mcpflow://tenants/globex/memory/plans" } }),
        )
        .await;
    assert_eq!(read.status(), StatusCode::FORBIDDEN);
    let intern = h.token("ivan", "acme", &["caller", "intern"]);
    let s = h.initialize(&intern).await;
    let (status, _) = h.call(&intern, &s, "test_simple_text", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // 429: over the role's burst of 3.
    let busy = h.token("bob", "acme", &["limited"]);
    let mut limited = false;
    for _ in 0..20 {
        let response = h
            .post(
                Some(&busy),
                None,
                json!({"jsonrpc":"2.0","id":1,"method":"ping"}),
            )
            .await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
    }
    assert!(limited, "bob was never rate-limited");

    let refused = h.entries(REFUSED_ACTION).await;
    let seen: Vec<(String, String, String, String)> = refused
        .iter()
        .map(|e| {
            (
                e.actor.clone(),
                e.outcome.clone(),
                details(e)["reason"].as_str().unwrap_or_default().to_owned(),
                e.resource.clone(),
            )
        })
        .collect();
    let expect = [
        ("anonymous", "unauthenticated", "missing", "http:/mcp"),
        ("anonymous", "unauthenticated", "expired", "http:/mcp"),
        ("anonymous", "unauthenticated", "bad_signature", "http:/mcp"),
        (
            "anonymous",
            "unauthenticated",
            "wrong_audience",
            "http:/mcp",
        ),
        (
            "anonymous",
            "unauthenticated",
            "invalid_api_key",
            "http:/mcp",
        ),
        ("vera", "forbidden", "permission", "tool:test_simple_text"),
        (
            "alice",
            "forbidden",
            "cross_tenant",
            "resource:mcpflow://tenants/globex/memory/plans",
        ),
        ("ivan", "forbidden", "policy", "tool:test_simple_text"),
        ("bob", "rate_limited", "rate_limited", "http:/mcp"),
    ];
    let expect: Vec<(String, String, String, String)> = expect
        .iter()
        .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
        .collect();
    assert_eq!(seen, expect);
    // Status, tenant and the compliance policy are recorded; no credential is.
    assert_eq!(details(&refused[0])["status"], 401);
    assert_eq!(details(&refused[5])["status"], 403);
    assert_eq!(refused[5].tenant, "acme");
    assert!(
        details(&refused[7])["message"]
            .as_str()
            .unwrap()
            .contains("no-interns"),
        "{}",
        refused[7].details
    );
    assert_eq!(details(&refused[8])["status"], 429);
    let secrets: Vec<&str> = bad_tokens
        .iter()
        .map(String::as_str)
        .chain([
            viewer.as_str(),
            alice.as_str(),
            intern.as_str(),
            busy.as_str(),
        ])
        .collect();
    for entry in &refused {
        let text = serde_json::to_string(entry).unwrap();
        for secret in &secrets {
            assert!(!text.contains(secret), "token material in {text}");
        }
        // Nor the secret half of the API key.
        assert!(!text.contains(&h.api_key), "API key in {text}");
    }
    // The log still verifies, also through the MCP tool.
    let log = h.node.audit().log().clone();
    let summary = tokio::task::spawn_blocking(move || log.verify())
        .await
        .unwrap()
        .unwrap();
    assert!(summary.entries >= refused.len() as u64);
    let (auditor, s) = h.auditor().await;
    let (_, verified) = h.call(&auditor, &s, "audit_verify", json!({})).await;
    assert_eq!(ok(&verified)["ok"], true, "{verified}");
}

#[tokio::test]
async fn compliance_decisions_are_audited_allow_and_deny() {
    let h = Harness::start(true).await;
    let dev = h.token("dana", "acme", &["caller", "dev"]);
    let s = h.initialize(&dev).await;
    let (status, _) = h.call(&dev, &s, "test_simple_text", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let intern = h.token("ivan", "acme", &["caller", "intern"]);
    let s = h.initialize(&intern).await;
    let (status, _) = h.call(&intern, &s, "test_simple_text", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // RBAC refuses before Cedar is asked: no decision for vera.
    let viewer = h.token("vera", "acme", &["viewer"]);
    let s = h.initialize(&viewer).await;
    h.call(&viewer, &s, "test_simple_text", json!({})).await;

    let decisions = h.entries(mcpflow_node::DECISION_ACTION).await;
    let seen: Vec<(&str, &str, &str)> = decisions
        .iter()
        .map(|e| (e.actor.as_str(), e.outcome.as_str(), e.resource.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("dana", "allow", "tool:test_simple_text"),
            ("ivan", "deny", "tool:test_simple_text"),
        ]
    );
    assert_eq!(details(&decisions[0])["reasons"], json!(["base"]));
    assert_eq!(details(&decisions[1])["reasons"], json!(["no-interns"]));
    assert_eq!(details(&decisions[1])["roles"], json!(["caller", "intern"]));
    assert_eq!(decisions[1].tenant, "acme");
}

fn check_args(id: &str, roles: &[&str]) -> Value {
    json!({
        "principal": { "id": id, "kind": "user", "tenant": "acme", "roles": roles },
        "action": "call_tool",
        "resource": "test_simple_text",
    })
}

#[tokio::test]
async fn compliance_check_answers_from_the_policies_and_follows_reloads() {
    let h = Harness::start(true).await;
    let (auditor, s) = h.auditor().await;
    let (_, intern) = h
        .call(
            &auditor,
            &s,
            "compliance_check",
            check_args("ivan", &["intern"]),
        )
        .await;
    let intern = ok(&intern);
    assert_eq!(intern["allow"], false, "{intern}");
    assert_eq!(intern["reasons"], json!(["no-interns"]));
    assert_eq!(intern["errors"], json!([]));
    let (_, dev) = h
        .call(
            &auditor,
            &s,
            "compliance_check",
            check_args("dana", &["dev"]),
        )
        .await;
    let dev = ok(&dev);
    assert_eq!(dev["allow"], true, "{dev}");
    assert_eq!(dev["reasons"], json!(["base"]));
    // Another tool is not forbidden to interns.
    let mut other = check_args("ivan", &["intern"]);
    other["resource"] = json!("test_image");
    let (_, other) = h.call(&auditor, &s, "compliance_check", other).await;
    assert_eq!(ok(&other)["allow"], true, "{other}");

    // Swap the forbid: now devs are refused and interns are not.
    let dir = h.policies.as_ref().unwrap().path();
    std::fs::remove_file(dir.join("interns.cedar")).unwrap();
    std::fs::write(dir.join("devs.cedar"), NO_DEVS).unwrap();
    let store = h.auth.compliance().unwrap();
    let before = store.generation();
    assert!(store.reload_if_changed(), "{:?}", store.last_error());
    let (_, intern) = h
        .call(
            &auditor,
            &s,
            "compliance_check",
            check_args("ivan", &["intern"]),
        )
        .await;
    assert_eq!(ok(&intern)["allow"], true, "{intern}");
    let (_, dev) = h
        .call(
            &auditor,
            &s,
            "compliance_check",
            check_args("dana", &["dev"]),
        )
        .await;
    let dev = ok(&dev);
    assert_eq!(dev["allow"], false, "{dev}");
    assert_eq!(dev["reasons"], json!(["no-devs"]));
    assert_eq!(dev["policy_generation"], before + 1);

    // What-if questions are not decisions: only the auditor's own tool calls were decided.
    let decisions = h.entries(mcpflow_node::DECISION_ACTION).await;
    assert!(
        decisions
            .iter()
            .all(|e| e.actor == "audrey" && e.resource == "tool:compliance_check"),
        "{decisions:?}"
    );
    assert_eq!(decisions.len(), 5);
}

#[tokio::test]
async fn compliance_check_refuses_bad_input_clearly() {
    let h = Harness::start(true).await;
    let (auditor, s) = h.auditor().await;
    let mut unknown_action = check_args("ivan", &[]);
    unknown_action["action"] = json!("delete_everything");
    let mut bad_kind = check_args("ivan", &[]);
    bad_kind["principal"]["kind"] = json!("robot");
    let mut no_tenant = check_args("ivan", &[]);
    no_tenant["principal"]
        .as_object_mut()
        .unwrap()
        .remove("tenant");
    let mut roles_not_list = check_args("ivan", &[]);
    roles_not_list["principal"]["roles"] = json!("intern");
    let mut empty_id = check_args("", &[]);
    empty_id["principal"]["id"] = json!(" ");
    let cases = [
        (unknown_action, "call_tool or read_resource"),
        (bad_kind, "robot"),
        (no_tenant, "tenant"),
        (roles_not_list, "invalid arguments for compliance_check"),
        (empty_id, "principal.id"),
        (
            json!({ "principal": "ivan", "action": "call_tool", "resource": "x" }),
            "invalid arguments for compliance_check",
        ),
    ];
    for (arguments, needle) in cases {
        let (_, reply) = h
            .call(&auditor, &s, "compliance_check", arguments.clone())
            .await;
        let text = tool_error(&reply);
        assert!(text.contains(needle), "{arguments}: {text}");
    }
}

#[tokio::test]
async fn compliance_check_without_policies_says_which_section_to_add() {
    let h = Harness::start(false).await;
    let (auditor, s) = h.auditor().await;
    let (_, reply) = h
        .call(&auditor, &s, "compliance_check", check_args("ivan", &[]))
        .await;
    let text = tool_error(&reply);
    assert!(text.contains("[auth.compliance]"), "{text}");
    assert!(text.contains("policy_dir"), "{text}");
}

#[tokio::test]
async fn compliance_report_counts_the_decisions_made() {
    let h = Harness::start(true).await;
    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1);
    let dev = h.token("dana", "acme", &["caller", "dev"]);
    let s = h.initialize(&dev).await;
    for _ in 0..2 {
        let (status, _) = h.call(&dev, &s, "test_simple_text", json!({})).await;
        assert_eq!(status, StatusCode::OK);
    }
    let intern = h.token("ivan", "acme", &["caller", "intern"]);
    let s = h.initialize(&intern).await;
    let (status, _) = h.call(&intern, &s, "test_simple_text", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let viewer = h.token("vera", "acme", &["viewer"]);
    let s = h.initialize(&viewer).await;
    let (status, _) = h.call(&viewer, &s, "test_simple_text", json!({})).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "RBAC: no compliance decision"
    );

    let (auditor, s) = h.auditor().await;
    let (_, report) = h
        .call(
            &auditor,
            &s,
            "compliance_report",
            json!({ "since": start.to_string() }),
        )
        .await;
    let report = ok(&report);
    // dana ×2 and the auditor's own compliance_report call allowed; ivan denied.
    assert_eq!(report["total"], 4, "{report}");
    assert_eq!(report["allowed"], 3);
    assert_eq!(report["denied"], 1);
    assert_eq!(report["source"], "audit_log");
    assert_eq!(
        report["by_action"]["call_tool"],
        json!({ "allowed": 3, "denied": 1 })
    );
    assert_eq!(report["by_policy"], json!({ "base": 3, "no-interns": 1 }));
    assert_eq!(report["denied_by_principal"], json!({ "ivan": 1 }));
    assert_eq!(
        report["denied_by_resource"],
        json!({ "test_simple_text": 1 })
    );
    let violations = report["violations"].as_array().unwrap();
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0]["principal"], "ivan");
    assert_eq!(violations[0]["reasons"], json!(["no-interns"]));
    assert_eq!(report["violations_omitted"], 0);
    assert_eq!(report["truncated"], false);

    // A range before anything happened (Unix seconds) is empty.
    let (_, early) = h
        .call(
            &auditor,
            &s,
            "compliance_report",
            json!({ "since": 0, "until": start.as_second() - 3600 }),
        )
        .await;
    assert_eq!(ok(&early)["total"], 0, "{early}");
    // The listing can be capped; the counts stay.
    let (_, capped) = h
        .call(
            &auditor,
            &s,
            "compliance_report",
            json!({ "since": start.as_second().to_string(), "max_violations": 0 }),
        )
        .await;
    let capped = ok(&capped);
    assert_eq!(capped["violations"], json!([]));
    assert_eq!(capped["violations_omitted"], 1);
    // Two more report calls were decided since the first report (and this one).
    assert_eq!(capped["total"], 6, "{capped}");

    // Bad ranges.
    let reversed = json!({ "since": start.to_string(), "until": start.as_second() - 60 });
    let bad = [
        (reversed, "swap"),
        (json!({ "since": "last tuesday" }), "RFC 3339"),
        (json!({ "until": 1.5 }), "RFC 3339"),
        (json!({ "max_violations": 5000 }), "max_violations"),
        (
            json!({ "from": 0 }),
            "invalid arguments for compliance_report",
        ),
    ];
    for (arguments, needle) in bad {
        let (_, reply) = h
            .call(&auditor, &s, "compliance_report", arguments.clone())
            .await;
        let text = tool_error(&reply);
        assert!(text.contains(needle), "{arguments}: {text}");
    }
}
