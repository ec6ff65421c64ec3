//! `mcpflow serve`.

use clap::Args;
use mcpflow_agents::ExecutorFactory;
use mcpflow_node::Node;
use mcpflow_server::http::HttpServer;
use mcpflow_server::mcp::{Catalog, McpState};
use mcpflow_server::sampling::SamplingBridge;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, FlagOverrides, HttpFlagOverrides};

/// Flags of `mcpflow serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address for Streamable HTTP (/mcp), WebSocket (/ws) and the operations endpoints
    /// (/healthz, /readyz, /metrics). Default 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,

    /// Data directory (embedded store, node id). Default $XDG_DATA_HOME/mcpflow.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Store URL: sqlite:///path/file.db, a file path, or postgres://user@host:port/db.
    /// Default: SQLite file mcpflow.db in the data directory.
    #[arg(long, value_name = "URL")]
    store: Option<String>,

    /// Serve one MCP session on stdin/stdout instead of HTTP (logs go to stderr; exits on EOF).
    #[arg(long)]
    stdio: bool,

    /// Also register the fixtures of the official MCP conformance suite (test_* tools,
    /// test:// resources, test_* prompts).
    #[arg(long)]
    conformance: bool,
}

impl ServeArgs {
    /// Moves the flags that are configuration into the flag layer.
    pub fn apply(&self, flags: &mut FlagOverrides) {
        flags.data_dir = self.data_dir.clone();
        flags.store = self.store.clone();
        if self.listen.is_some() {
            flags.http = Some(HttpFlagOverrides {
                listen: self.listen,
            });
        }
    }
}

/// Runs the server until EOF (stdio) or SIGTERM/SIGINT.
pub fn run(config: Config, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("mcpflow")
        .build()?;
    runtime.block_on(async move {
        mcpflow_server::telemetry::prometheus();
        let shutdown = CancellationToken::new();
        tokio::spawn(watch_signals(shutdown.clone()));
        let sampling = SamplingBridge::new();
        let catalog = catalog(args.conformance, &sampling);
        let executors = sampling.executors();
        if args.stdio {
            serve_stdio(config, catalog, executors, shutdown).await
        } else {
            serve_http(config, catalog, executors, shutdown).await
        }
    })
}

fn catalog(conformance: bool, sampling: &SamplingBridge) -> Catalog {
    let mut catalog = Catalog::new();
    mcpflow_server::node_catalog::register(&mut catalog, sampling);
    if conformance {
        mcpflow_server::conformance::register(&mut catalog);
        tracing::info!("conformance fixtures registered");
    }
    catalog
}

async fn serve_stdio(
    config: Config,
    catalog: Catalog,
    executors: ExecutorFactory,
    shutdown: CancellationToken,
) -> anyhow::Result<ExitCode> {
    let node = Node::open_with_memory(config.node(), executors, memory_settings()).await?;
    let state = McpState::new(node.clone(), catalog);
    let exit = mcpflow_server::stdio::serve(
        state,
        tokio::io::stdin(),
        tokio::io::stdout(),
        Duration::from_secs(config.http.request_timeout_secs),
        shutdown,
    )
    .await?;
    tracing::info!(?exit, "stdio session over");
    node.shutdown().await;
    // A pending blocking read of stdin would keep the runtime alive; we are done with it.
    std::process::exit(0)
}

async fn serve_http(
    config: Config,
    catalog: Catalog,
    executors: ExecutorFactory,
    shutdown: CancellationToken,
) -> anyhow::Result<ExitCode> {
    // Refusals and compliance decisions go to the node's durable audit log once the node is
    // open (the server listens first; until then they are logged).
    let auditor = std::sync::Arc::new(mcpflow_node::AuthAuditor::pending());
    let auth = match &config.auth {
        Some(section) => Some(std::sync::Arc::new(
            mcpflow_auth::Auth::from_config(section)
                .map_err(|e| anyhow::anyhow!("invalid [auth] configuration: {e}"))?
                .with_audit(auditor.clone()),
        )),
        None => None,
    };
    let server = HttpServer::bind_with_auth(config.http.clone(), auth).await?;
    let addr = server.local_addr()?;
    let ready = server.ready_handle();
    let serving = tokio::spawn(server.serve(shutdown.clone()));
    let (http, ws) = if config.http.tls.is_some() {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    tracing::info!(%addr, "listening: MCP at {http}://{addr}/mcp and {ws}://{addr}/ws");
    let node = match Node::open_with_memory(config.node(), executors, memory_settings()).await {
        Ok(node) => node,
        Err(e) => {
            shutdown.cancel();
            let _ = serving.await;
            return Err(e.into());
        }
    };
    auditor.attach(node.audit().clone());
    ready.ready(McpState::new(node.clone(), catalog));
    let served = serving.await;
    node.shutdown().await;
    served??;
    Ok(ExitCode::SUCCESS)
}

async fn watch_signals(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received"),
        _ = terminate => tracing::info!("SIGTERM received"),
    }
    shutdown.cancel();
}

/// Memory's settings: the embedding model from `$MCPFLOW_MODEL_DIR` or the default model
/// directory (see `mcpflow model status`), the rest as the node defaults.
fn memory_settings() -> mcpflow_node::MemorySettings {
    let dir = mcpflow_embed::default_model_dir();
    mcpflow_node::MemorySettings {
        embedder: std::sync::Arc::new(crate::embedder::ModelEmbedder::load(&dir)),
        ..mcpflow_node::MemorySettings::default()
    }
}
