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
    /// Measured seconds per server and concurrency level.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Unmeasured warm-up seconds before each measurement.
    #[arg(long, default_value_t = 2)]
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

fn start_bare(threads: usize) -> anyhow::Result<RunningServer> {
    let rt = runtime(threads, "bare-rmcp")?;
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
        stop,
        runtime: Some(rt),
        _data: None,
    })
}

fn start_mcpflow(threads: usize) -> anyhow::Result<RunningServer> {
    let rt = runtime(threads, "mcpflow")?;
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
        stop,
        runtime: Some(rt),
        _data: Some(data),
    })
}

fn measure(
    client: &tokio::runtime::Runtime,
    server: &RunningServer,
    concurrency: usize,
    args: &HttpBenchArgs,
) -> anyhow::Result<LoadResult> {
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
    Ok(result)
}

/// Runs the benchmark and prints a table.
pub fn run(args: HttpBenchArgs) -> anyhow::Result<()> {
    let bare = start_bare(args.server_threads)?;
    let mcpflow = start_mcpflow(args.server_threads)?;
    let client = runtime(2, "bench-client")?;
    println!(
        "tools/call over Streamable HTTP (2025-11-25 sessions, SSE replies), {}s per cell after {}s warm-up, {} server threads, {} CPUs",
        args.seconds,
        args.warmup,
        args.server_threads,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:>5}  {:<9} {:>10} {:>9} {:>9} {:>9}",
        "conc", "server", "calls/s", "p50 ms", "p99 ms", "p99.9 ms"
    );
    for &concurrency in &args.concurrency {
        // Alternate the order per level so neither server always runs on a warmer machine.
        let (first, second) = if concurrency % 2 == 0 {
            (("bare-rmcp", &bare), ("mcpflow", &mcpflow))
        } else {
            (("mcpflow", &mcpflow), ("bare-rmcp", &bare))
        };
        let a = measure(&client, first.1, concurrency, &args)?;
        let b = measure(&client, second.1, concurrency, &args)?;
        let (ours, theirs) = if first.0 == "mcpflow" {
            (&a, &b)
        } else {
            (&b, &a)
        };
        for (name, r) in [(first.0, &a), (second.0, &b)] {
            println!(
                "{:>5}  {:<9} {:>10.0} {:>9.3} {:>9.3} {:>9.3}",
                concurrency,
                name,
                r.throughput(),
                r.percentile_ms(0.50),
                r.percentile_ms(0.99),
                r.percentile_ms(0.999)
            );
        }
        println!(
            "{:>5}  ratio mcpflow/bare: throughput {:.2}x, p50 latency {:.2}x, p99 latency {:.2}x",
            concurrency,
            ours.throughput() / theirs.throughput(),
            ours.percentile_ms(0.50) / theirs.percentile_ms(0.50),
            ours.percentile_ms(0.99) / theirs.percentile_ms(0.99),
        );
    }
    Ok(())
}
