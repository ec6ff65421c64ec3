//! `mcpflow bench http`: `tools/call` throughput and latency over Streamable HTTP, mcpflow
//! against a bare rmcp server with the same tool, in one run.
//!
//! The bare server is what a developer writes from rmcp's README: `StreamableHttpService`
//! with the in-memory session manager on axum, plus TCP_NODELAY (without it both would stall on
//! delayed ACKs and the comparison would measure the kernel). mcpflow runs its whole stack:
//! origin checks, the JSON-RPC gate, metrics, spans, deadlines and store-backed sessions.
//! Each server runs on its own runtime; the load generator on another; all on this machine.

use axum::serve::ListenerExt;
use clap::Args;
use mcpflow_node::{Node, NodeConfig};
use mcpflow_server::HttpConfig;
use mcpflow_server::http::HttpServer;
use mcpflow_server::mcp::{Catalog, McpState, ToolCall};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool, object,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::load::{self, LoadResult};

/// Flags of `mcpflow bench http`.
#[derive(Debug, Args)]
pub struct HttpBenchArgs {
    /// Concurrency levels (closed-loop clients, one session each).
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    concurrency: Vec<usize>,
    /// Measured seconds per server, level and round.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Rounds per level; the servers alternate who goes first (machine noise evens out).
    #[arg(long, default_value_t = 4)]
    rounds: u32,
    /// Unmeasured warm-up seconds before each measurement.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Worker threads for each server's runtime.
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
}

const TOOL: &str = "echo";

fn echo_tool() -> Tool {
    Tool::new(
        TOOL,
        "Returns its text argument",
        object(json!({
            "type": "object",
            "properties": { "text": { "type": "string" } },
            "required": ["text"]
        })),
    )
}

fn echo_result(arguments: Option<&rmcp::model::JsonObject>) -> Result<CallToolResult, McpError> {
    let text = arguments
        .and_then(|a| a.get("text"))
        .and_then(|t| t.as_str())
        .ok_or_else(|| McpError::invalid_params("text must be a string", None))?;
    Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
}

/// The peer: a bare rmcp handler with the one tool.
#[derive(Debug, Clone)]
struct Bare;

impl ServerHandler for Bare {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("bare-rmcp", "3.11.0"))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(vec![echo_tool()]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        echo_result(request.arguments.as_ref()).map(Into::into)
    }
}

/// A server running on its own runtime, stopped on drop.
struct RunningServer {
    addr: SocketAddr,
    threads: &'static str,
    stop: CancellationToken,
    runtime: Option<tokio::runtime::Runtime>,
    _data: Option<tempfile::TempDir>,
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

fn runtime(threads: usize, name: &str) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()?)
}

/// Thread-name prefixes, so CPU time can be read per server from /proc.
const BARE_THREADS: &str = "srv-bare";
const MCPFLOW_THREADS: &str = "srv-mcpflow";

/// CPU time (user + system) used so far by this process's threads whose name starts with
/// `prefix`, from /proc (Linux); `None` elsewhere.
fn threads_cpu(prefix: &str) -> Option<Duration> {
    // Linux reports thread CPU in clock ticks of 1/100 s (USER_HZ), whatever the kernel HZ.
    const TICKS_PER_SEC: u64 = 100;
    let mut ticks = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).ok()?;
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        ticks += utime + stime;
    }
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SEC))
}

fn start_bare(threads: usize) -> anyhow::Result<RunningServer> {
    let rt = runtime(threads, BARE_THREADS)?;
    let stop = CancellationToken::new();
    let addr = rt.block_on(async {
        let service = StreamableHttpService::new(
            || Ok(Bare),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default().with_cancellation_token(stop.child_token()),
        );
        let app = axum::Router::new().nest_service("/mcp", service);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let stop = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
        });
        anyhow::Ok(addr)
    })?;
    Ok(RunningServer {
        addr,
        threads: BARE_THREADS,
        stop,
        runtime: Some(rt),
        _data: None,
    })
}

fn start_mcpflow(threads: usize) -> anyhow::Result<RunningServer> {
    let rt = runtime(threads, MCPFLOW_THREADS)?;
    let stop = CancellationToken::new();
    let data = tempfile::tempdir()?;
    let data_dir = data.path().to_path_buf();
    let addr = rt.block_on(async {
        mcpflow_server::telemetry::prometheus();
        let config = HttpConfig {
            listen: "127.0.0.1:0".parse()?,
            // The load generator opens every session at once from one address.
            session_rate_per_sec: 100_000,
            session_burst: 100_000,
            ..HttpConfig::default()
        };
        let server = HttpServer::bind(config).await?;
        let addr = server.local_addr()?;
        let node = Node::open(NodeConfig::new(data_dir)).await?;
        let mut catalog = Catalog::new();
        catalog.add_tool(echo_tool(), |call: ToolCall| async move {
            echo_result(Some(&call.arguments)).map(Into::into)
        });
        server.ready_handle().ready(McpState::new(node, catalog));
        tokio::spawn(server.serve(stop.clone()));
        anyhow::Ok(addr)
    })?;
    Ok(RunningServer {
        addr,
        threads: MCPFLOW_THREADS,
        stop,
        runtime: Some(rt),
        _data: Some(data),
    })
}

/// A load result plus the CPU the server's threads used during it.
struct Measured {
    load: LoadResult,
    cpu: Option<Duration>,
}

fn measure(
    client: &tokio::runtime::Runtime,
    server: &RunningServer,
    concurrency: usize,
    args: &HttpBenchArgs,
) -> anyhow::Result<Measured> {
    let cpu_before = threads_cpu(server.threads);
    let result = client.block_on(load::run(
        server.addr,
        TOOL,
        concurrency,
        Duration::from_secs(args.warmup),
        Duration::from_secs(args.seconds),
    ))?;
    anyhow::ensure!(
        result.errors == 0,
        "{} of {} calls failed against {}",
        result.errors,
        result.calls,
        server.addr
    );
    // CPU is read over the whole run (sessions, warm-up and all) and later divided by every
    // call made, measured or not, so both servers are charged the same way.
    let cpu = match (cpu_before, threads_cpu(server.threads)) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    Ok(Measured { load: result, cpu })
}

/// What one server did at one concurrency level, summed over rounds.
#[derive(Default)]
struct Totals {
    calls: u64,
    seconds: f64,
    cpu: Duration,
    cpu_calls: u64,
    latency_us: Option<hdrhistogram::Histogram<u64>>,
}

impl Totals {
    fn add(&mut self, m: Measured) -> anyhow::Result<()> {
        self.calls += m.load.calls;
        self.seconds += m.load.elapsed.as_secs_f64();
        if let Some(cpu) = m.cpu {
            self.cpu += cpu;
            self.cpu_calls += m.load.total_calls;
        }
        match &mut self.latency_us {
            Some(h) => h.add(&m.load.latency_us)?,
            None => self.latency_us = Some(m.load.latency_us),
        }
        Ok(())
    }

    fn throughput(&self) -> f64 {
        self.calls as f64 / self.seconds
    }

    fn percentile_ms(&self, q: f64) -> f64 {
        self.latency_us
            .as_ref()
            .map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1000.0)
    }

    fn cpu_us_per_call(&self) -> Option<f64> {
        (self.cpu_calls > 0).then(|| self.cpu.as_secs_f64() * 1e6 / self.cpu_calls as f64)
    }
}

/// Runs the benchmark and prints a table.
pub fn run(args: HttpBenchArgs) -> anyhow::Result<()> {
    let bare = start_bare(args.server_threads)?;
    let mcpflow = start_mcpflow(args.server_threads)?;
    let client = runtime(2, "bench-client")?;
    println!(
        "tools/call over Streamable HTTP (2025-11-25 sessions, SSE replies): {} rounds of {}s per server and level, \
         alternating order, after {}s warm-up each; {} server threads; {} CPUs",
        args.rounds,
        args.seconds,
        args.warmup,
        args.server_threads,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:>5}  {:<9} {:>10} {:>9} {:>9} {:>9} {:>15}",
        "conc", "server", "calls/s", "p50 ms", "p99 ms", "p99.9 ms", "server CPU µs/call"
    );
    for &concurrency in &args.concurrency {
        let (mut ours, mut theirs) = (Totals::default(), Totals::default());
        for round in 0..args.rounds {
            // Alternate the order so neither server always runs on a warmer machine.
            if round % 2 == 0 {
                theirs.add(measure(&client, &bare, concurrency, &args)?)?;
                ours.add(measure(&client, &mcpflow, concurrency, &args)?)?;
            } else {
                ours.add(measure(&client, &mcpflow, concurrency, &args)?)?;
                theirs.add(measure(&client, &bare, concurrency, &args)?)?;
            }
        }
        for (name, t) in [("mcpflow", &ours), ("bare-rmcp", &theirs)] {
            println!(
                "{:>5}  {:<9} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {:>15}",
                concurrency,
                name,
                t.throughput(),
                t.percentile_ms(0.50),
                t.percentile_ms(0.99),
                t.percentile_ms(0.999),
                t.cpu_us_per_call()
                    .map_or_else(|| "n/a".to_owned(), |us| format!("{us:.1}")),
            );
        }
        let cpu = match (ours.cpu_us_per_call(), theirs.cpu_us_per_call()) {
            (Some(o), Some(t)) if t > 0.0 => format!(", server CPU per call {:.2}x", o / t),
            _ => String::new(),
        };
        println!(
            "{:>5}  ratio mcpflow/bare: throughput {:.2}x, p50 latency {:.2}x, p99 latency {:.2}x{cpu}",
            concurrency,
            ours.throughput() / theirs.throughput(),
            ours.percentile_ms(0.50) / theirs.percentile_ms(0.50),
            ours.percentile_ms(0.99) / theirs.percentile_ms(0.99),
        );
    }
    Ok(())
}
