//! The HTTP face of a node: MCP Streamable HTTP at `/mcp`, MCP over WebSocket at `/ws`, and
//! the operations endpoints `/healthz`, `/readyz`, `/metrics`.
//!
//! Requests pass these layers, outermost first:
//! 1. [`origin`] — `Origin`/`Host` checks (DNS-rebinding protection), 403; then CORS for the
//!    origins that passed (preflights answered, MCP headers exposed);
//! 2. [`auth`] (when configured) — bearer JWT / API key (401 + `WWW-Authenticate`), rate limit
//!    per principal (429), the caller into the extensions;
//! 3. [`jsonrpc`] — POST bodies bounded (413), parsed (-32700), batches refused; then
//!    [`auth`]'s per-tool / per-resource check (403);
//! 4. the `/mcp` endpoint — readiness (503), session limits (503), per-client session-creation
//!    rate (429), unknown sessions on DELETE (404);
//! 5. rmcp's Streamable HTTP service, whose handler is wrapped in [`crate::mcp::Observed`].
//!
//! With `[http.tls]` the same router is served over TLS by [`tls::TlsListener`] (handshake
//! timeout, hot-reloaded certificate); a verified client certificate reaches the auth layer as
//! a [`tls::ClientCert`] in the request extensions.
//!
//! [`HttpServer::bind`] listens at once, so `/healthz` and `/readyz` answer while the node is
//! still opening its store; [`HttpServer::ready`] then switches MCP on.

pub mod auth;
mod drain;
pub mod jsonrpc;
mod ops;
pub mod origin;
mod sessions;
pub mod tls;
mod ws;

pub use auth::{Caller, Permitted};
pub use drain::{CountedBody, InFlight, InFlightGuard};
pub use sessions::SessionRegistry;
pub use tls::{ClientCert, TlsError, TlsFiles};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::serve::{IncomingStream, Listener, ListenerExt};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::{Method, StatusCode, header};
use mcpflow_model::Transport as TransportKind;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::HttpConfig;
use crate::mcp::{McpHandler, McpState, Observed};
use jsonrpc::{BodyLimit, RpcInfo, error_response};
use origin::OriginPolicy;

type McpService = StreamableHttpService<Observed<McpHandler>, SessionRegistry>;

/// What exists once the node is open.
struct Ready {
    mcp: Arc<McpState>,
    sessions: Arc<SessionRegistry>,
    service: McpService,
}

impl std::fmt::Debug for HttpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpState")
            .field("config", &self.config)
            .field("ready", &self.ready.get().is_some())
            .finish_non_exhaustive()
    }
}

/// Shared by every route.
pub(crate) struct HttpState {
    config: HttpConfig,
    ready: OnceLock<Ready>,
    session_rate: DefaultKeyedRateLimiter<IpAddr>,
    ws_sessions: Arc<std::sync::atomic::AtomicUsize>,
    in_flight: InFlight,
    /// Cancelled to end every MCP session and stream (the last step of shutdown).
    mcp_shutdown: CancellationToken,
    /// Authentication and authorisation; `None` only on loopback.
    auth: Option<Arc<mcpflow_auth::Auth>>,
    /// Served over TLS (for URLs the server advertises).
    https: bool,
}

impl HttpState {
    fn open_sessions(&self) -> usize {
        let http = self.ready.get().map_or(0, |r| r.sessions.len());
        http + self.ws_sessions.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Refuses a new session if the limit is reached or the client is creating them too fast.
    fn admit_session(&self, peer: IpAddr) -> Result<(), Box<Response>> {
        if self.open_sessions() >= self.config.max_sessions {
            metrics::counter!("mcpflow_http_rejected_total", "reason" => "session_limit")
                .increment(1);
            let mut response = error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                -32000,
                &format!(
                    "session limit reached ({} open, http.max_sessions); retry later or close idle sessions with DELETE",
                    self.config.max_sessions
                ),
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, http::HeaderValue::from_static("5"));
            return Err(Box::new(response));
        }
        if self.session_rate.check_key(&peer).is_err() {
            metrics::counter!("mcpflow_http_rejected_total", "reason" => "session_rate")
                .increment(1);
            let mut response = error_response(
                StatusCode::TOO_MANY_REQUESTS,
                -32000,
                "too many new sessions from this address (http.session_rate_per_sec); reuse a session or slow down",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, http::HeaderValue::from_static("1"));
            return Err(Box::new(response));
        }
        Ok(())
    }
}

/// A bound HTTP server, not yet serving MCP until [`HttpServer::ready`].
#[derive(Debug)]
pub struct HttpServer {
    listener: TcpListener,
    state: Arc<HttpState>,
    /// `[http.tls]`, checked at bind time; `None` serves plain HTTP.
    tls: Option<Arc<TlsFiles>>,
}

/// Hands the node to a server that is already listening.
#[derive(Debug, Clone)]
pub struct ReadyHandle {
    state: Arc<HttpState>,
}

impl ReadyHandle {
    /// MCP requests being received or handled right now.
    pub fn in_flight(&self) -> usize {
        self.state.in_flight.count()
    }

    /// Switches MCP on: from now `/mcp` and `/ws` serve `mcp`, and `/readyz` says ready.
    pub fn ready(&self, mcp: Arc<McpState>) {
        let state = &self.state;
        let mut manager = LocalSessionManager::default();
        manager.session_config.keep_alive =
            Some(Duration::from_secs(state.config.session_idle_secs));
        let sessions = SessionRegistry::new(manager, mcp.node().clone());
        let mut rmcp_config = StreamableHttpServerConfig::default()
            .with_sse_keep_alive(Some(Duration::from_secs(state.config.sse_keep_alive_secs)))
            .with_max_request_body_bytes(state.config.max_body_bytes)
            .with_cancellation_token(state.mcp_shutdown.child_token());
        // Our origin layer already checked Host and Origin, with the configured lists.
        rmcp_config = rmcp_config.disable_allowed_hosts();
        let factory_state = mcp.clone();
        let timeout = Duration::from_secs(state.config.request_timeout_secs);
        let in_flight = state.in_flight.clone();
        let service = StreamableHttpService::new(
            move || {
                Ok(Observed::new(
                    McpHandler::new(factory_state.clone(), None),
                    TransportKind::StreamableHttp,
                    timeout,
                    in_flight.clone(),
                ))
            },
            sessions.clone(),
            rmcp_config,
        );
        let _ = state.ready.set(Ready {
            mcp,
            sessions,
            service,
        });
        tracing::info!("MCP is ready");
    }
}

impl HttpServer {
    /// Binds `config.listen` without authentication. Fails at once if the address is taken,
    /// and refuses any address but loopback: exposing mcpflow needs [`Self::bind_with_auth`].
    pub async fn bind(config: HttpConfig) -> std::io::Result<Self> {
        Self::bind_with_auth(config, None).await
    }

    /// Binds `config.listen`; with `auth`, `/mcp` and `/ws` require a bearer JWT, an API key
    /// or a mapped client certificate, and tools/resources are checked per principal. Without
    /// `auth` only loopback addresses are accepted — mTLS alone does not count: who may do
    /// what (roles, tenant) comes from `[auth]`. With `config.tls`, the certificate files are
    /// read and checked here, so a bad file stops the start with an error naming it.
    pub async fn bind_with_auth(
        config: HttpConfig,
        auth: Option<Arc<mcpflow_auth::Auth>>,
    ) -> std::io::Result<Self> {
        let invalid =
            |message: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, message);
        if auth.is_none() && !config.listen.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "refusing to listen on {} without authentication: anyone who can reach it could run agents. \
                     Configure an [auth] section (jwt issuer/audience with jwks_file or hs256_secret_file, \
                     and/or api_keys_file, plus roles_file), or listen on 127.0.0.1",
                    config.listen
                ),
            ));
        }
        let tls = match &config.tls {
            Some(tls) => Some(Arc::new(
                TlsFiles::load(tls).map_err(|e| invalid(e.to_string()))?,
            )),
            None => None,
        };
        if auth.as_ref().is_some_and(|a| a.accepts_client_certs())
            && !tls.as_ref().is_some_and(|t| t.verifies_clients())
        {
            return Err(invalid(
                "[[auth.client_certs]] is set but no client certificate is ever verified: set [http.tls] cert_file, key_file and client_ca_file (the CA that issues the client certificates)"
                    .into(),
            ));
        }
        // Metrics recorded before the recorder exists are lost; install it first.
        crate::telemetry::prometheus();
        let listener = TcpListener::bind(config.listen).await.map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "cannot listen on {}: {e} (pick another with --listen)",
                    config.listen
                ),
            )
        })?;
        let per_sec =
            NonZeroU32::new(config.session_rate_per_sec.max(1)).expect("max(1) is non-zero");
        let burst = NonZeroU32::new(config.session_burst.max(1)).expect("max(1) is non-zero");
        let state = Arc::new(HttpState {
            session_rate: RateLimiter::keyed(Quota::per_second(per_sec).allow_burst(burst)),
            config,
            ready: OnceLock::new(),
            ws_sessions: Arc::default(),
            in_flight: InFlight::default(),
            mcp_shutdown: CancellationToken::new(),
            auth,
            https: tls.is_some(),
        });
        Ok(Self {
            listener,
            state,
            tls,
        })
    }

    /// The TLS files in use (to reload them by hand; they are also polled), if serving HTTPS.
    pub fn tls(&self) -> Option<&Arc<TlsFiles>> {
        self.tls.as_ref()
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle to switch MCP on once the node is open.
    pub fn ready_handle(&self) -> ReadyHandle {
        ReadyHandle {
            state: self.state.clone(),
        }
    }

    /// Serves until `shutdown` is cancelled, then shuts down gracefully: stop accepting, let
    /// in-flight requests finish (up to `http.shutdown_grace_secs`), close every session and
    /// stream, return.
    pub async fn serve(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let state = self.state.clone();
        let app = router(state.clone());
        let grace = Duration::from_secs(state.config.shutdown_grace_secs);
        let drain = {
            let state = state.clone();
            let shutdown = shutdown.clone();
            async move {
                shutdown.cancelled().await;
                tracing::info!(
                    in_flight = state.in_flight.count(),
                    "shutting down: draining in-flight requests"
                );
                let left = state.in_flight.drained(grace).await;
                if left > 0 {
                    tracing::warn!(left, "grace period over; cancelling requests still running");
                }
                if let Some(ready) = state.ready.get() {
                    ready.mcp.shutdown();
                }
                state.mcp_shutdown.cancel();
            }
        };
        tokio::spawn(drain);
        // Cleans the rate limiter's per-address state now and then so it cannot grow unbounded.
        let limiter_state = state.clone();
        let limiter_gc = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                limiter_state.session_rate.retain_recent();
                limiter_state.session_rate.shrink_to_fit();
                if let Some(auth) = &limiter_state.auth {
                    auth.gc();
                }
            }
        });
        let result = match self.tls {
            None => {
                let listener = self.listener.tap_io(|tcp| {
                    // Without it, small replies wait up to 40 ms for the peer's delayed ACK.
                    if let Err(e) = tcp.set_nodelay(true) {
                        tracing::warn!(error = %e, "could not set TCP_NODELAY");
                    }
                });
                run(listener, app, shutdown).await
            }
            Some(files) => {
                let watcher = files.clone().watch();
                let result = run(tls::TlsListener::new(self.listener, files), app, shutdown).await;
                watcher.abort();
                result
            }
        };
        limiter_gc.abort();
        tracing::info!("HTTP server stopped");
        result
    }
}

/// Serves `app` on `listener` until `shutdown`, then waits for open connections to finish
/// (axum's graceful shutdown). Every request gets the peer address (`ConnectInfo`) and, over
/// mTLS, the verified [`ClientCert`].
async fn run<L>(listener: L, app: Router, shutdown: CancellationToken) -> std::io::Result<()>
where
    L: Listener<Addr = SocketAddr>,
    L::Io: tls::PeerCert,
{
    let make_service = tower::service_fn(move |incoming: IncomingStream<'_, L>| {
        let peer = *incoming.remote_addr();
        let cert = tls::PeerCert::client_cert(incoming.io());
        let service = tower::ServiceExt::map_request(app.clone(), move |mut request: Request| {
            request.extensions_mut().insert(ConnectInfo(peer));
            if let Some(cert) = &cert {
                request.extensions_mut().insert(cert.clone());
            }
            request
        });
        std::future::ready(Ok::<_, Infallible>(service))
    });
    axum::serve(listener, make_service)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

fn router(state: Arc<HttpState>) -> Router {
    let policy = Arc::new(OriginPolicy::new(
        state.config.listen,
        &state.config.allowed_origins,
        &state.config.allowed_hosts,
    ));
    let auth = state.auth.clone().map(|auth| auth::AuthLayer {
        auth,
        https: state.https,
    });
    let mut mcp_routes = Router::new().route("/mcp", any(mcp_endpoint));
    if auth.is_some() {
        mcp_routes = mcp_routes.layer(middleware::from_fn(auth::permit));
    }
    mcp_routes = mcp_routes
        .layer(middleware::from_fn_with_state(
            BodyLimit(state.config.max_body_bytes),
            jsonrpc::gate,
        ))
        .route("/ws", get(ws::upgrade));
    if let Some(layer) = &auth {
        mcp_routes = mcp_routes.layer(middleware::from_fn_with_state(
            layer.clone(),
            auth::authenticate,
        ));
    }
    let mcp_routes = mcp_routes
        .layer(origin::cors(policy.clone()))
        .layer(middleware::from_fn_with_state(policy, origin::enforce))
        .with_state(state.clone());
    let mut router = Router::new().merge(mcp_routes).merge(ops::routes(state));
    if let Some(layer) = auth {
        // RFC 9728: at the root, and with the resource path appended (`.../mcp`).
        router = router.merge(
            Router::new()
                .route("/.well-known/oauth-protected-resource", get(auth::metadata))
                .route(
                    "/.well-known/oauth-protected-resource/{*resource}",
                    get(auth::metadata),
                )
                .with_state(layer),
        );
    }
    router.fallback(|| async {
        error_response(
            StatusCode::NOT_FOUND,
            -32601,
            "no such endpoint; MCP is served at /mcp (Streamable HTTP) and /ws (WebSocket)",
        )
    })
}

async fn mcp_endpoint(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let Some(ready) = state.ready.get() else {
        return not_ready();
    };
    let session = request
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let is_initialize = request
        .extensions()
        .get::<RpcInfo>()
        .is_some_and(|info| info.method.as_deref() == Some("initialize"));
    if request.method() == Method::POST
        && is_initialize
        && session.is_none()
        && let Err(refusal) = state.admit_session(peer.ip())
    {
        return *refusal;
    }
    if request.method() == Method::DELETE
        && let Some(id) = &session
        && !ready.sessions.contains(id)
    {
        return error_response(
            StatusCode::NOT_FOUND,
            -32001,
            "session not found (it expired or was closed); initialize a new one",
        )
        .into_response();
    }
    let mut request = request;
    let control: Arc<dyn crate::mcp::StreamControl> = ready.sessions.clone();
    request.extensions_mut().insert(control);
    // A POST is in flight until its response body ends (for SSE replies, after the final
    // JSON-RPC response), so shutdown drains it whole. GET streams are not requests: they
    // never end on their own and are closed by shutdown.
    let counted = (request.method() == Method::POST).then(|| state.in_flight.enter());
    let response = ready.service.handle(request).await.into_response();
    match counted {
        None => response,
        Some(guard) => response.map(|body| axum::body::Body::new(CountedBody::new(body, guard))),
    }
}

fn not_ready() -> Response {
    let mut response = error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        -32000,
        "mcpflow is starting (opening its store); retry shortly — /readyz reports when it is ready",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, http::HeaderValue::from_static("1"));
    response
}
