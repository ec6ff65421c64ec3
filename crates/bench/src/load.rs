//! A minimal MCP Streamable HTTP load generator: each worker opens its own session and calls
//! one tool in a closed loop, recording latency per call.

use anyhow::{Context, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// What one load run measured.
#[derive(Debug)]
pub struct LoadResult {
    /// Completed calls.
    pub calls: u64,
    /// Failed calls (non-2xx or a JSON-RPC error).
    pub errors: u64,
    /// Every call made, warm-up included (for per-call resource accounting).
    pub total_calls: u64,
    /// Wall time of the measured phase.
    pub elapsed: Duration,
    /// Per-call latency in microseconds.
    pub latency_us: Histogram<u64>,
}

fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .build(connector)
}

/// One MCP session on the server under test.
struct Session {
    client: HttpClient,
    url: String,
    id: String,
}

impl Session {
    async fn open(client: HttpClient, addr: SocketAddr) -> anyhow::Result<Self> {
        let url = format!("http://{addr}/mcp");
        let init = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": { "name": "mcpflow-bench", "version": env!("CARGO_PKG_VERSION") }
            }
        });
        let response = client
            .request(post(&url, None, &init))
            .await
            .context("initialize")?;
        if response.status() != StatusCode::OK {
            bail!("initialize answered {}", response.status());
        }
        let id = response
            .headers()
            .get("mcp-session-id")
            .context("no Mcp-Session-Id in the initialize response")?
            .to_str()?
            .to_owned();
        response.into_body().collect().await?;
        let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        let response = client.request(post(&url, Some(&id), &initialized)).await?;
        response.into_body().collect().await?;
        Ok(Self { client, url, id })
    }

    /// One `tools/call`; returns whether it succeeded.
    async fn call(&self, request_id: u64, tool: &str) -> anyhow::Result<bool> {
        let body = json!({
            "jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": { "name": tool, "arguments": { "text": "hello" } }
        });
        let response = self
            .client
            .request(post(&self.url, Some(&self.id), &body))
            .await?;
        let ok_status = response.status() == StatusCode::OK;
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok(ok_status && !contains(&bytes, b"\"error\"") && contains(&bytes, b"hello"))
    }

    async fn close(self) {
        let request = Request::delete(&self.url)
            .header("mcp-session-id", &self.id)
            .body(Full::new(Bytes::new()))
            .expect("valid request");
        if let Ok(response) = self.client.request(request).await {
            let _ = response.into_body().collect().await;
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn post(url: &str, session: Option<&str>, body: &serde_json::Value) -> Request<Full<Bytes>> {
    let mut builder = Request::post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25");
    if let Some(id) = session {
        builder = builder.header("mcp-session-id", id);
    }
    builder
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("valid request")
}

/// Runs `concurrency` closed-loop workers against `addr` for `warmup + duration`, measuring
/// only `duration`.
pub async fn run(
    addr: SocketAddr,
    tool: &str,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<LoadResult> {
    let client = client();
    let mut sessions = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        sessions.push(Session::open(client.clone(), addr).await?);
    }
    let start = Instant::now();
    let measure_from = start + warmup;
    let stop_at = measure_from + duration;
    let mut workers = Vec::with_capacity(concurrency);
    for session in sessions {
        let tool = tool.to_owned();
        workers.push(tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let (mut calls, mut errors, mut request_id) = (0u64, 0u64, 1u64);
            let mut all = 0u64;
            loop {
                let sent = Instant::now();
                if sent >= stop_at {
                    break;
                }
                let ok = session.call(request_id, &tool).await.unwrap_or(false);
                request_id += 1;
                all += 1;
                if sent >= measure_from {
                    calls += 1;
                    if !ok {
                        errors += 1;
                    }
                    histogram.saturating_record(sent.elapsed().as_micros() as u64);
                }
            }
            session.close().await;
            anyhow::Ok((calls, errors, all, histogram))
        }));
    }
    let mut result = LoadResult {
        calls: 0,
        errors: 0,
        total_calls: 0,
        elapsed: duration,
        latency_us: Histogram::new_with_bounds(1, 60_000_000, 3)?,
    };
    for worker in workers {
        let (calls, errors, all, histogram) = worker.await??;
        result.calls += calls;
        result.total_calls += all;
        result.errors += errors;
        result.latency_us.add(histogram)?;
    }
    Ok(result)
}
