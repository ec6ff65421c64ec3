//! Prometheus metrics: one recorder per process, rendered by `/metrics`.
//!
//! Hot paths record through the `metrics` facade (`counter!`, `histogram!`); this module only
//! installs the exporter and fixes the histogram buckets so latency percentiles are meaningful
//! from tens of microseconds up to the request timeout.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets in seconds: 50 µs … 120 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// Installs the process-wide Prometheus recorder (once; later calls return the same handle).
///
/// If another recorder was installed first (an embedder's), metrics go there and `/metrics`
/// renders an empty page from a detached recorder rather than failing.
pub fn prometheus() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .expect("bucket list is non-empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        describe();
        handle
    })
}

fn describe() {
    metrics::describe_counter!(
        "mcpflow_mcp_requests_total",
        "MCP requests handled, by method, transport and outcome (ok / error)"
    );
    metrics::describe_histogram!(
        "mcpflow_mcp_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to handle one MCP request, by method"
    );
    metrics::describe_counter!(
        "mcpflow_mcp_notifications_total",
        "MCP notifications received from clients, by method"
    );
    metrics::describe_counter!(
        "mcpflow_http_rejected_total",
        "HTTP requests refused before reaching MCP, by reason"
    );
    metrics::describe_gauge!("mcpflow_sessions_active", "Open MCP sessions, by transport");
    metrics::describe_gauge!(
        "mcpflow_mcp_requests_in_flight",
        "MCP requests being received or handled now (what shutdown drains)"
    );
    metrics::describe_counter!(
        "mcpflow_sessions_total",
        "MCP sessions created, by transport"
    );
}
