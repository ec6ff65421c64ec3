//! HTTPS and mTLS over real sockets: certificates made in the test with rcgen, a server on
//! 127.0.0.1:0 with `[http.tls]`, reqwest clients that trust the test CA (and present client
//! certificates). Also: bad files are refused at start with the file named, a plain-HTTP
//! client cannot break the accept loop, a silent client is cut off, rotated files are picked up.

use mcpflow_auth::{
    Auth, AuthAudit, AuthOutcome, ClientCertRule, ClientCerts, MemoryAudit, PrincipalKind, Rbac,
    ratelimit,
};
use mcpflow_node::{Node, NodeConfig};
use mcpflow_server::http::{HttpServer, TlsFiles};
use mcpflow_server::mcp::{Catalog, McpState};
use mcpflow_server::{ClientAuth, HttpConfig, TlsConfig};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

/// A test certificate authority.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, PEM.
struct Pair {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn issue(&self, cn: &str, sans: &[&str], usage: ExtendedKeyUsagePurpose) -> Pair {
        let params =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        self.sign(params, cn, usage)
    }

    /// A server certificate valid from `not_before` to `not_after` (year, month, day).
    fn server_valid(&self, not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> Pair {
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        self.sign(
            params,
            "mcpflow test server",
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    fn sign(
        &self,
        mut params: CertificateParams,
        cn: &str,
        usage: ExtendedKeyUsagePurpose,
    ) -> Pair {
        let key = KeyPair::generate().unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn server(&self) -> Pair {
        self.issue(
            "mcpflow test server",
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    fn client(&self, cn: &str, sans: &[&str]) -> Pair {
        self.issue(cn, sans, ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// Writes the server pair (and client CA) into `dir`; returns the `[http.tls]` section.
fn write_tls(dir: &Path, server: &Pair, client_ca: Option<&Ca>) -> TlsConfig {
    let cert = dir.join("server.crt");
    let key = dir.join("server.key");
    std::fs::write(&cert, &server.cert).unwrap();
    std::fs::write(&key, &server.key).unwrap();
    let mut tls = TlsConfig::new(cert, key);
    if let Some(ca) = client_ca {
        let path = dir.join("clients-ca.pem");
        std::fs::write(&path, ca.pem()).unwrap();
        tls.client_ca_file = Some(path);
    }
    tls
}

const ROLES: &str = r#"
[roles.caller]
permissions = ["tool:test_*"]
"#;

struct Server {
    addr: SocketAddr,
    audit: Arc<MemoryAudit>,
    shutdown: CancellationToken,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
    _data: tempfile::TempDir,
}

impl Server {
    async fn start(tls: TlsConfig, client_certs: Option<Vec<ClientCertRule>>) -> Self {
        let audit = Arc::new(MemoryAudit::default());
        let auth = client_certs.map(|rules| {
            Arc::new(
                Auth::new(
                    "https://mcp.test/mcp".into(),
                    None,
                    None,
                    Rbac::from_toml(ROLES).unwrap(),
                    ratelimit::RateLimitConfig {
                        per_sec: 1000,
                        burst: 1000,
                    },
                    None,
                )
                .with_client_certs(ClientCerts::new(&rules).unwrap())
                .with_audit(audit.clone() as Arc<dyn AuthAudit>),
            )
        });
        let config = HttpConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: Some(tls),
            ..HttpConfig::default()
        };
        let server = HttpServer::bind_with_auth(config, auth).await.unwrap();
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
        let serving = tokio::spawn(server.serve(shutdown.clone()));
        Self {
            addr,
            audit,
            shutdown,
            serving,
            _data: data,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A client that trusts only `ca` and, if given, presents `identity`.
fn client(ca: &Ca, identity: Option<&Pair>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap()])
        .timeout(Duration::from_secs(30));
    if let Some(pair) = identity {
        let pem = format!("{}{}", pair.cert, pair.key);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    session: Option<&str>,
    body: Value,
) -> reqwest::Result<reqwest::Response> {
    let mut request = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string());
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25");
    }
    request.send().await
}

/// The JSON-RPC reply with `id` from a JSON or SSE body.
fn reply(body: &str, id: i64) -> Value {
    std::iter::once(body.to_owned())
        .chain(
            body.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|l| l.trim().to_owned()),
        )
        .filter_map(|c| serde_json::from_str::<Value>(&c).ok())
        .find(|v| v["id"] == id)
        .unwrap_or(Value::Null)
}

/// initialize + notifications/initialized; returns the session id.
async fn initialize(http: &reqwest::Client, url: &str) -> String {
    let response = post(
        http,
        url,
        None,
        json!({ "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": { "name": "tls-tests", "version": "1" } } }),
    )
    .await
    .expect("initialize over HTTPS");
    assert_eq!(response.status(), StatusCode::OK, "initialize");
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = reply(&response.text().await.unwrap(), 0);
    assert!(body["result"]["serverInfo"].is_object(), "{body}");
    let note = post(
        http,
        url,
        Some(&session),
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
    )
    .await
    .unwrap();
    assert_eq!(note.status(), StatusCode::ACCEPTED);
    session
}

fn call(name: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": { "name": name, "arguments": {} } })
}

#[tokio::test]
async fn mcp_initialize_and_tools_list_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("server CA");
    let server = Server::start(write_tls(dir.path(), &ca.server(), None), None).await;
    let http = client(&ca, None);
    let url = server.url("/mcp");
    let session = initialize(&http, &url).await;
    let response = post(
        &http,
        &url,
        Some(&session),
        json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = reply(&response.text().await.unwrap(), 1);
    let tools = body["result"]["tools"].as_array().expect("tools");
    assert!(
        tools.iter().any(|t| t["name"] == "test_simple_text"),
        "{body}"
    );
    // The operations endpoints are on the same TLS port.
    let health = http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}

#[tokio::test]
async fn plain_http_and_untrusted_clients_fail_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("server CA");
    let server = Server::start(write_tls(dir.path(), &ca.server(), None), None).await;
    let plain = reqwest::Client::new();
    for _ in 0..3 {
        let result = plain
            .get(format!("http://{}/healthz", server.addr))
            .send()
            .await;
        assert!(
            result.is_err(),
            "plain HTTP must not be answered: {result:?}"
        );
    }
    // A client that does not trust our CA refuses the certificate.
    let stranger = client(&Ca::new("other CA"), None);
    assert!(stranger.get(server.url("/healthz")).send().await.is_err());
    // Raw garbage instead of a ClientHello.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut tcp, b"\x16\x03\x01\xff\xffnot a hello at all")
        .await
        .unwrap();
    drop(tcp);
    let health = client(&ca, None)
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("the accept loop survived");
    assert_eq!(health.status(), StatusCode::OK);
    assert!(!server.serving.is_finished());
}

#[tokio::test]
async fn a_silent_client_is_cut_off_after_the_handshake_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("server CA");
    let mut tls = write_tls(dir.path(), &ca.server(), None);
    tls.handshake_timeout_secs = 1;
    tls.max_handshakes = 1;
    let server = Server::start(tls, None).await;
    let mut silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    // The only handshake slot is taken; the server closes it when the timeout passes.
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(60), silent.read(&mut buf))
        .await
        .expect("the server closes a silent connection");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let health = client(&ca, None)
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("the slot is free again");
    assert_eq!(health.status(), StatusCode::OK);
}

fn rules() -> Vec<ClientCertRule> {
    vec![ClientCertRule {
        name: "agent-7".into(),
        tenant: "acme".into(),
        roles: vec!["caller".into()],
        kind: PrincipalKind::Agent,
    }]
}

#[tokio::test]
async fn mtls_required_refuses_missing_and_foreign_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let tls = write_tls(dir.path(), &server_ca.server(), Some(&client_ca));
    assert_eq!(tls.client_auth, ClientAuth::Required);
    let server = Server::start(tls, Some(rules())).await;

    let anonymous = client(&server_ca, None);
    let err = anonymous
        .get(server.url("/healthz"))
        .send()
        .await
        .expect_err("no client certificate: handshake refused");
    assert!(!err.is_status(), "{err:?}");

    let foreign = Ca::new("someone else's CA").client("agent-7", &[]);
    let err = client(&server_ca, Some(&foreign))
        .get(server.url("/healthz"))
        .send()
        .await
        .expect_err("certificate from another CA: handshake refused");
    assert!(!err.is_status(), "{err:?}");

    let good = client_ca.client("agent-7", &[]);
    let health = client(&server_ca, Some(&good))
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("a certificate from the client CA is accepted");
    assert_eq!(health.status(), StatusCode::OK);
    assert!(server.audit.events().is_empty());
}

#[tokio::test]
async fn a_verified_client_certificate_is_the_principal() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let tls = write_tls(dir.path(), &server_ca.server(), Some(&client_ca));
    let server = Server::start(tls, Some(rules())).await;
    let url = server.url("/mcp");

    // Mapped by a SAN, not the CN.
    let agent = client(
        &server_ca,
        Some(&client_ca.client("unmapped cn", &["agent-7"])),
    );
    let session = initialize(&agent, &url).await;
    let ok = post(&agent, &url, Some(&session), call("test_simple_text"))
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let body = reply(&ok.text().await.unwrap(), 7);
    assert!(body["result"]["content"].is_array(), "{body}");
    // Its role does not cover node tools: refused, and the refusal names the certificate.
    let refused = post(&agent, &url, Some(&session), call("agent_list"))
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let events = server.audit.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].principal.as_deref(), Some("agent-7"));
    assert_eq!(events[0].tenant.as_deref(), Some("acme"));

    // Signed by the right CA but mapped to nobody: authenticated transport, no principal.
    let stranger = client(&server_ca, Some(&client_ca.client("intruder", &[])));
    let response = post(
        &stranger,
        &url,
        None,
        json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" }),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("intruder"), "{challenge}");
    assert!(matches!(
        &server.audit.events()[1].outcome,
        AuthOutcome::Unauthenticated { reason, .. } if reason == "unknown_client_cert"
    ));
}

#[tokio::test]
async fn mtls_optional_lets_certificate_less_clients_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let mut tls = write_tls(dir.path(), &server_ca.server(), Some(&client_ca));
    tls.client_auth = ClientAuth::Optional;
    let server = Server::start(tls, Some(rules())).await;
    let anonymous = client(&server_ca, None);
    // Health is open; MCP wants credentials, which this client does not have.
    let health = anonymous.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let mcp = post(
        &anonymous,
        &server.url("/mcp"),
        None,
        json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" }),
    )
    .await
    .unwrap();
    assert_eq!(mcp.status(), StatusCode::UNAUTHORIZED);
    // A foreign certificate is still refused during the handshake.
    let foreign = Ca::new("someone else's CA").client("agent-7", &[]);
    assert!(
        client(&server_ca, Some(&foreign))
            .get(server.url("/healthz"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn rotated_files_are_served_to_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let old_ca = Ca::new("old CA");
    let new_ca = Ca::new("new CA");
    let mut tls = write_tls(dir.path(), &old_ca.server(), None);
    tls.reload_poll_ms = 50;
    let server = Server::start(tls.clone(), None).await;
    let old_client = client(&old_ca, None);
    assert_eq!(
        old_client
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert!(
        client(&new_ca, None)
            .get(server.url("/healthz"))
            .send()
            .await
            .is_err()
    );
    // Rotate: new key and certificate from another CA; no signal, no restart.
    let rotated = new_ca.server();
    std::fs::write(&tls.key_file, &rotated.key).unwrap();
    std::fs::write(&tls.cert_file, &rotated.cert).unwrap();
    let mut served = false;
    for _ in 0..200 {
        if client(&new_ca, None)
            .get(server.url("/healthz"))
            .send()
            .await
            .is_ok()
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "the rotated certificate was never served");
    // New connections from a client that only trusts the old CA now fail.
    assert!(
        client(&old_ca, None)
            .get(server.url("/healthz"))
            .send()
            .await
            .is_err()
    );
}

fn tls_in(dir: &Path, cert: &str, key: &str) -> TlsConfig {
    let cert_path = dir.join("c.pem");
    let key_path = dir.join("k.pem");
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    TlsConfig::new(cert_path, key_path)
}

#[test]
fn bad_files_are_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("CA");
    let good = ca.server();
    let other = ca.server();

    let missing = TlsConfig::new(dir.path().join("nope.crt"), dir.path().join("nope.key"));
    let err = TlsFiles::load(&missing).unwrap_err().to_string();
    assert!(
        err.contains("cert_file") && err.contains("nope.crt"),
        "{err}"
    );

    let err = TlsFiles::load(&tls_in(dir.path(), "hello", &good.key))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("c.pem") && err.contains("no certificate"),
        "{err}"
    );

    let err = TlsFiles::load(&tls_in(dir.path(), &good.cert, &good.cert))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("k.pem") && err.contains("no private key"),
        "{err}"
    );

    let err = TlsFiles::load(&tls_in(dir.path(), &good.cert, &other.key))
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not belong"), "{err}");

    let mut with_ca = tls_in(dir.path(), &good.cert, &good.key);
    let ca_path: PathBuf = dir.path().join("ca.pem");
    std::fs::write(&ca_path, "no pem here").unwrap();
    with_ca.client_ca_file = Some(ca_path);
    let err = TlsFiles::load(&with_ca).unwrap_err().to_string();
    assert!(
        err.contains("client_ca_file") && err.contains("ca.pem"),
        "{err}"
    );

    let files = TlsFiles::load(&tls_in(dir.path(), &good.cert, &good.key)).unwrap();
    assert!(!files.reload().unwrap(), "unchanged files: nothing to do");
    // A half-finished rotation (new key, old certificate) is refused; the old set stays.
    std::fs::write(dir.path().join("k.pem"), &other.key).unwrap();
    assert!(files.reload().is_err());
    std::fs::write(dir.path().join("c.pem"), &other.cert).unwrap();
    assert!(files.reload().unwrap(), "complete rotation installed");
}

#[test]
fn expired_and_not_yet_valid_certificates_are_refused_and_the_expiry_is_known() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("CA");

    let expired = ca.server_valid((2020, 1, 1), (2021, 1, 1));
    let err = TlsFiles::load(&tls_in(dir.path(), &expired.cert, &expired.key))
        .unwrap_err()
        .to_string();
    assert!(err.contains("c.pem") && err.contains("expired"), "{err}");

    let future = ca.server_valid((2999, 1, 1), (3000, 1, 1));
    let err = TlsFiles::load(&tls_in(dir.path(), &future.cert, &future.key))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not valid before"), "{err}");

    let valid = ca.server_valid((2020, 1, 1), (2999, 6, 1));
    let files = TlsFiles::load(&tls_in(dir.path(), &valid.cert, &valid.key)).unwrap();
    let year_2999_june = std::time::UNIX_EPOCH + Duration::from_secs(32_485_190_400);
    assert_eq!(files.not_after(), year_2999_june);

    // Rotating to an expired certificate is refused; the valid one stays in use.
    std::fs::write(dir.path().join("c.pem"), &expired.cert).unwrap();
    std::fs::write(dir.path().join("k.pem"), &expired.key).unwrap();
    let err = files.reload().unwrap_err().to_string();
    assert!(err.contains("expired"), "{err}");
    assert_eq!(files.not_after(), year_2999_june);
}

#[tokio::test]
async fn client_cert_mapping_without_a_client_ca_is_refused_at_bind() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("CA");
    let auth = Auth::new(
        String::new(),
        None,
        None,
        Rbac::default(),
        ratelimit::RateLimitConfig {
            per_sec: 1,
            burst: 1,
        },
        None,
    )
    .with_client_certs(ClientCerts::new(&rules()).unwrap());
    let config = HttpConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Some(write_tls(dir.path(), &ca.server(), None)),
        ..HttpConfig::default()
    };
    let err = HttpServer::bind_with_auth(config, Some(Arc::new(auth)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("client_ca_file"), "{err}");
    // A bad certificate file stops the start too, naming the file.
    let config = HttpConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Some(TlsConfig::new(
            dir.path().join("gone.crt"),
            dir.path().join("gone.key"),
        )),
        ..HttpConfig::default()
    };
    let err = HttpServer::bind(config).await.unwrap_err();
    assert!(err.to_string().contains("gone.crt"), "{err}");
}

/// WebSocket over TLS with a client certificate: the upgrade is authenticated by the
/// certificate alone (no bearer header), and MCP runs over the socket.
#[tokio::test]
async fn wss_with_a_client_certificate_serves_mcp() {
    use futures::{SinkExt, StreamExt};
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().unwrap();
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let tls = write_tls(dir.path(), &server_ca.server(), Some(&client_ca));
    let server = Server::start(tls, Some(rules())).await;

    let identity = client_ca.client("agent-7", &[]);
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(server_ca.pem().as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(
        vec![CertificateDer::from_pem_slice(identity.cert.as_bytes()).unwrap()],
        PrivateKeyDer::from_pem_slice(identity.key.as_bytes()).unwrap(),
    )
    .unwrap();
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    let (mut ws, response) =
        tokio_tungstenite::client_async(format!("wss://{}/ws", server.addr), stream)
            .await
            .expect("upgrade authenticated by the client certificate");
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws.send(Message::Text(
        json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": { "name": "wss", "version": "1" } } })
        .to_string()
        .into(),
    ))
    .await
    .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(30), ws.next())
        .await
        .expect("an answer")
        .unwrap()
        .unwrap();
    let reply: Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
    assert_eq!(reply["result"]["serverInfo"]["name"], "mcpflow", "{reply}");
}
