//! DNS-rebinding protection: `Origin` and `Host` checks in front of every MCP endpoint.
//!
//! A web page on `evil.example` can make a browser send requests to `127.0.0.1:8080` — with
//! `Origin: https://evil.example`, or, after rebinding its DNS name to 127.0.0.1, with
//! `Host: evil.example`. Refusing unknown origins and (on loopback) unknown hosts closes both.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use std::sync::Arc;

use super::jsonrpc::error_response;

/// Which `Origin` and `Host` values are acceptable.
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    allowed_origins: Vec<String>,
    allowed_hosts: Vec<String>,
    /// Listening on loopback: only loopback host names unless configured otherwise.
    loopback_only_hosts: bool,
}

impl OriginPolicy {
    /// A policy for a server listening on `listen` with the configured extra origins and hosts.
    pub fn new(listen: std::net::SocketAddr, origins: &[String], hosts: &[String]) -> Self {
        Self {
            allowed_origins: origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
            allowed_hosts: hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
            loopback_only_hosts: listen.ip().is_loopback(),
        }
    }

    /// `Ok` if the request may proceed, or why not.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().map_err(|_| "Origin header is not ASCII")?;
            if !self.origin_allowed(origin) {
                return Err("Origin not allowed (add it to http.allowed_origins to permit it)");
            }
        }
        if let Some(host) = headers.get(header::HOST) {
            let host = host.to_str().map_err(|_| "Host header is not ASCII")?;
            if !self.host_allowed(host) {
                return Err("Host not allowed (add it to http.allowed_hosts to permit it)");
            }
        }
        Ok(())
    }

    /// Whether a browser page from `origin` may call us (also the CORS decision).
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        if self.allowed_origins.contains(&origin) {
            return true;
        }
        // Loopback pages (a local dev UI, the inspector) are as trusted as the local user.
        match origin.split_once("://") {
            Some(("http" | "https", authority)) => is_loopback_name(host_part(authority)),
            _ => false,
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        if is_loopback_name(host_part(&host)) {
            return true;
        }
        if self
            .allowed_hosts
            .iter()
            .any(|h| *h == host || h == host_part(&host))
        {
            return true;
        }
        !self.loopback_only_hosts && self.allowed_hosts.is_empty()
    }
}

/// The host of `host[:port]` or `[v6]:port`.
fn host_part(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

fn is_loopback_name(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// CORS for browser clients (e.g. the MCP Inspector): preflights are answered for exactly the
/// origins the policy allows, and the MCP headers a client must read or send are listed.
pub fn cors(policy: Arc<OriginPolicy>) -> tower_http::cors::CorsLayer {
    use http::{HeaderName, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    const MCP_HEADERS: [&str; 6] = [
        "mcp-session-id",
        "mcp-protocol-version",
        "mcp-method",
        "mcp-name",
        "last-event-id",
        "authorization",
    ];
    let mut request_headers = vec![header::CONTENT_TYPE, header::ACCEPT];
    request_headers.extend(MCP_HEADERS.iter().map(|h| HeaderName::from_static(h)));
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            origin.to_str().is_ok_and(|o| policy.origin_allowed(o))
        }))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers(request_headers)
        .expose_headers([
            HeaderName::from_static("mcp-session-id"),
            HeaderName::from_static("mcp-protocol-version"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

/// Middleware: 403 with a JSON-RPC error body when the policy refuses the request.
pub async fn enforce(
    State(policy): State<Arc<OriginPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    match policy.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(why) => {
            metrics::counter!("mcpflow_http_rejected_total", "reason" => "origin").increment(1);
            tracing::warn!(reason = why, "request refused by origin policy");
            error_response(StatusCode::FORBIDDEN, -32600, why).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn loopback() -> OriginPolicy {
        OriginPolicy::new(
            "127.0.0.1:8080".parse().unwrap(),
            &["https://app.example.com".into()],
            &[],
        )
    }

    #[test]
    fn loopback_clients_pass() {
        let p = loopback();
        assert!(p.check(&headers(&[("host", "127.0.0.1:8080")])).is_ok());
        assert!(
            p.check(&headers(&[
                ("host", "localhost:8080"),
                ("origin", "http://localhost:3000")
            ]))
            .is_ok()
        );
        assert!(
            p.check(&headers(&[
                ("host", "[::1]:8080"),
                ("origin", "http://[::1]:5173")
            ]))
            .is_ok()
        );
        assert!(
            p.check(&headers(&[])).is_ok(),
            "non-browser clients send no Origin"
        );
    }

    #[test]
    fn foreign_origins_and_rebound_hosts_are_refused() {
        let p = loopback();
        assert!(
            p.check(&headers(&[("origin", "https://evil.example")]))
                .is_err()
        );
        assert!(p.check(&headers(&[("origin", "null")])).is_err());
        assert!(
            p.check(&headers(&[("origin", "http://localhost.evil.example")]))
                .is_err()
        );
        assert!(p.check(&headers(&[("host", "evil.example:8080")])).is_err());
    }

    #[test]
    fn configured_origins_pass() {
        let p = loopback();
        assert!(
            p.check(&headers(&[("origin", "https://APP.example.com/")]))
                .is_ok()
        );
    }

    #[test]
    fn non_loopback_listener_accepts_any_host_unless_restricted() {
        let open = OriginPolicy::new("0.0.0.0:8080".parse().unwrap(), &[], &[]);
        assert!(
            open.check(&headers(&[("host", "mcp.internal:8080")]))
                .is_ok()
        );
        let strict = OriginPolicy::new(
            "0.0.0.0:8080".parse().unwrap(),
            &[],
            &["mcp.internal".into()],
        );
        assert!(
            strict
                .check(&headers(&[("host", "mcp.internal:8080")]))
                .is_ok()
        );
        assert!(strict.check(&headers(&[("host", "other:8080")])).is_err());
    }
}
