//! Authentication and authorisation in front of `/mcp` and `/ws`, as layers.
//!
//! - [`authenticate`] (outside the JSON-RPC gate): `Authorization: Bearer <JWT or API key>`,
//!   or else a client certificate the TLS layer verified ([`super::ClientCert`], mapped by
//!   `[[auth.client_certs]]`) → a [`Caller`] in the request extensions; 401 with an RFC 6750 / RFC 9728
//!   `WWW-Authenticate` challenge when missing or invalid; 429 with `Retry-After` over the
//!   principal's rate limit.
//! - [`permit`] (inside the gate, `/mcp` only): `tools/call` and `resources/read|subscribe`
//!   checked against RBAC, tenant isolation and Cedar before rmcp sees them; 403 with
//!   `error="insufficient_scope"`.
//! - [`metadata`]: the RFC 9728 protected-resource metadata at
//!   `/.well-known/oauth-protected-resource`.
//!
//! WebSocket messages arrive after the upgrade, so for `/ws` the same check runs where tools
//! are dispatched ([`Caller::authorize`], called by the MCP handler). Every refusal goes to
//! the configured [`mcpflow_auth::AuthAudit`].

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use mcpflow_auth::{
    Action, Auth, AuthError, AuthEvent, AuthOutcome, Denied, Principal, RateLimited, Resource,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use super::jsonrpc::{RpcInfo, error_response};

/// The authenticated caller of a request; the MCP layer finds it in the request extensions.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who is calling.
    pub principal: Principal,
    /// The checks to apply to what they do.
    pub auth: Arc<Auth>,
    /// Client address, for audit records.
    pub peer: Option<std::net::IpAddr>,
}

/// Set by [`permit`] when it already allowed this request's target, so the dispatch point
/// does not check (and log a compliance decision) twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permitted {
    /// The action allowed.
    pub action: Action,
    /// The tool name or resource URI allowed.
    pub target: String,
}

impl Caller {
    /// Checks `action` on `target` (tool name or resource URI): RBAC permission, tenant
    /// isolation, Cedar compliance. A refusal is recorded in the audit hook.
    pub fn authorize(&self, action: Action, target: &str, path: &str) -> Result<(), Denied> {
        let resource = Resource::new(target);
        self.auth
            .authorize(&self.principal, action, &resource)
            .inspect_err(|denied| {
                metrics::counter!("mcpflow_auth_refused_total", "reason" => denied.label())
                    .increment(1);
                self.auth.audit().record(&AuthEvent {
                    at: SystemTime::now(),
                    principal: Some(self.principal.id.clone()),
                    tenant: Some(self.principal.tenant.clone()),
                    peer: self.peer,
                    method: String::new(),
                    path: path.to_owned(),
                    target: Some(format!("{} {target}", action.as_str())),
                    outcome: AuthOutcome::Forbidden {
                        reason: denied.label().to_owned(),
                        message: denied.to_string(),
                    },
                });
            })
    }
}

/// State of the auth layers.
#[derive(Debug, Clone)]
pub(crate) struct AuthLayer {
    pub(crate) auth: Arc<Auth>,
    /// Served over TLS: advertised URLs are `https://`.
    pub(crate) https: bool,
}

/// `error_description` must not hold `"` or `\` (RFC 6750 §3).
fn quoted(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        })
        .collect()
}

/// The base URL of this server: the configured resource's origin, else `http(s)://<Host>`.
fn base_url(auth: &Auth, https: bool, headers: &http::HeaderMap) -> String {
    let resource = auth.resource();
    if let Some(scheme_end) = resource.find("://") {
        let after = &resource[scheme_end + 3..];
        let host_end = after.find('/').unwrap_or(after.len());
        return format!("{}{}", &resource[..scheme_end + 3], &after[..host_end]);
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if https { "https" } else { "http" };
    format!("{scheme}://{host}")
}

fn metadata_url(auth: &Auth, https: bool, headers: &http::HeaderMap) -> String {
    format!(
        "{}/.well-known/oauth-protected-resource",
        base_url(auth, https, headers)
    )
}

fn record(
    auth: &Auth,
    request: &Request,
    peer: SocketAddr,
    principal: Option<&Principal>,
    outcome: AuthOutcome,
) {
    auth.audit().record(&AuthEvent {
        at: SystemTime::now(),
        principal: principal.map(|p| p.id.clone()),
        tenant: principal.map(|p| p.tenant.clone()),
        peer: Some(peer.ip()),
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
        target: None,
        outcome,
    });
}

fn unauthorized(layer: &AuthLayer, headers: &http::HeaderMap, error: &AuthError) -> Response {
    let resource_metadata = metadata_url(&layer.auth, layer.https, headers);
    // RFC 6750 §3.1: a request without credentials gets no error code, just the challenge.
    let challenge = match error {
        AuthError::Missing => format!("Bearer resource_metadata=\"{resource_metadata}\""),
        other => format!(
            "Bearer resource_metadata=\"{resource_metadata}\", error=\"invalid_token\", error_description=\"{}\"",
            quoted(&other.to_string())
        ),
    };
    let mut response =
        error_response(StatusCode::UNAUTHORIZED, -32001, &error.to_string()).into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// 403 for a refused tool call or resource read.
pub(crate) fn forbidden(denied: &Denied) -> Response {
    let mut response =
        error_response(StatusCode::FORBIDDEN, -32003, &denied.to_string()).into_response();
    let challenge = format!(
        "Bearer error=\"insufficient_scope\", error_description=\"{}\"",
        quoted(&denied.to_string())
    );
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn too_many(limited: &RateLimited) -> Response {
    let secs = limited.retry_after.as_secs_f64().ceil().max(1.0) as u64;
    let mut response = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        -32000,
        &format!("{limited}; slow down"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

/// Middleware: authenticate (bearer header first; without one, a verified client certificate),
/// rate-limit, put the [`Caller`] into the extensions.
pub(crate) async fn authenticate(
    State(layer): State<AuthLayer>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let auth = &layer.auth;
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().map(str::to_owned));
    let client_cert = request.extensions().get::<super::ClientCert>();
    let result = match header {
        None => match client_cert {
            Some(cert) if auth.accepts_client_certs() => {
                auth.authenticate_client_cert(cert.names())
            }
            _ => Err(AuthError::Missing),
        },
        Some(Err(_)) => Err(AuthError::Malformed),
        Some(Ok(value)) => {
            let is_key = value
                .split_once(' ')
                .is_some_and(|(_, t)| Auth::is_api_key(t.trim()));
            if is_key {
                // argon2 takes tens of milliseconds when the key is not cached: keep it off
                // the async workers.
                let auth = auth.clone();
                tokio::task::spawn_blocking(move || auth.authenticate_header(Some(&value)))
                    .await
                    .unwrap_or(Err(AuthError::InvalidApiKey))
            } else {
                auth.authenticate_header(Some(&value))
            }
        }
    };
    let principal = match result {
        Ok(p) => p,
        Err(error) => {
            metrics::counter!("mcpflow_auth_refused_total", "reason" => error.label()).increment(1);
            record(
                auth,
                &request,
                peer,
                None,
                AuthOutcome::Unauthenticated {
                    reason: error.label().to_owned(),
                    message: error.to_string(),
                },
            );
            return unauthorized(&layer, request.headers(), &error);
        }
    };
    if let Err(limited) = auth.rate_limit(&principal) {
        metrics::counter!("mcpflow_auth_refused_total", "reason" => "rate_limited").increment(1);
        record(
            auth,
            &request,
            peer,
            Some(&principal),
            AuthOutcome::RateLimited {
                retry_after_secs: limited.retry_after.as_secs_f64().ceil().max(1.0) as u64,
            },
        );
        return too_many(&limited);
    }
    request.extensions_mut().insert(principal.clone());
    request.extensions_mut().insert(Caller {
        principal,
        auth: auth.clone(),
        peer: Some(peer.ip()),
    });
    next.run(request).await
}

/// Middleware (inside the JSON-RPC gate): per-tool and per-resource checks before dispatch.
pub(crate) async fn permit(mut request: Request, next: Next) -> Response {
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        return next.run(request).await;
    };
    let Some(info) = request.extensions().get::<RpcInfo>() else {
        return next.run(request).await;
    };
    let action = match info.method.as_deref() {
        Some("tools/call") => Action::CallTool,
        Some("resources/read" | "resources/subscribe") => Action::ReadResource,
        _ => return next.run(request).await,
    };
    // No target (malformed params): the dispatch point checks what rmcp actually parsed.
    let Some(target) = info.target.clone() else {
        return next.run(request).await;
    };
    let path = request.uri().path().to_owned();
    if let Err(denied) = caller.authorize(action, &target, &path) {
        return forbidden(&denied);
    }
    request
        .extensions_mut()
        .insert(Permitted { action, target });
    next.run(request).await
}

/// `GET /.well-known/oauth-protected-resource` (RFC 9728).
pub(crate) async fn metadata(State(layer): State<AuthLayer>, request: Request) -> Response {
    let auth = &layer.auth;
    let resource = if auth.resource().is_empty() {
        format!("{}/mcp", base_url(auth, layer.https, request.headers()))
    } else {
        auth.resource().to_owned()
    };
    let body = serde_json::json!({
        "resource": resource,
        "authorization_servers": auth.authorization_servers(),
        "bearer_methods_supported": ["header"],
        "scopes_supported": auth.scopes_supported(),
        "resource_name": "mcpflow",
    });
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=300"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn descriptions_cannot_break_out_of_the_quoted_string() {
        assert_eq!(quoted("a \"b\" \\c\nd"), "a 'b' 'c?d");
    }
}
