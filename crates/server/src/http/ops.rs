//! Operations endpoints: liveness, readiness and Prometheus metrics.
//!
//! - `/healthz`: the process is up and serving HTTP (200 always — restart only if it stops
//!   answering).
//! - `/readyz`: MCP is switched on and the store answers a ping (200), else 503 with the reason
//!   — load balancers send traffic only when this says ready.
//! - `/metrics`: Prometheus text format.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{StatusCode, header};
use serde_json::json;
use std::sync::Arc;

use super::HttpState;

pub(super) fn routes(state: Arc<HttpState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { (StatusCode::OK, "ok\n") }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_page))
        .with_state(state)
}

async fn readyz(State(state): State<Arc<HttpState>>) -> Response {
    let Some(ready) = state.ready.get() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "ready": false, "reason": "store opening" })),
        )
            .into_response();
    };
    if state.mcp_shutdown.is_cancelled() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "ready": false, "reason": "shutting down" })),
        )
            .into_response();
    }
    let status = ready.mcp.node().status().await;
    let code = if status.store.reachable {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        axum::Json(json!({
            "ready": status.store.reachable,
            "node": status,
            "sessions": state.open_sessions(),
        })),
    )
        .into_response()
}

async fn metrics_page() -> Response {
    let body = crate::telemetry::prometheus().render();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
