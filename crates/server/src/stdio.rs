//! MCP over stdio: newline-delimited JSON-RPC on stdin/stdout, for clients that spawn
//! `mcpflow serve --stdio` as a child process.
//!
//! stdout carries protocol messages only; logs go to stderr. The server exits when stdin
//! reaches EOF (the client went away) or on SIGTERM/SIGINT.

use mcpflow_model::Transport as TransportKind;
use mcpflow_node::SessionOutcome;
use rmcp::ServiceExt;
use rmcp::service::QuitReason;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use crate::http::InFlight;
use crate::mcp::{McpHandler, McpState, Observed};

/// Why a stdio session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdioExit {
    /// The client closed stdin.
    Eof,
    /// `shutdown` was cancelled.
    Shutdown,
}

/// Serves one MCP session over `reader`/`writer` (stdin/stdout in production) until EOF or
/// `shutdown`.
pub async fn serve<R, W>(
    mcp: Arc<McpState>,
    reader: R,
    writer: W,
    request_timeout: Duration,
    shutdown: CancellationToken,
) -> std::io::Result<StdioExit>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let node = mcp.node().clone();
    let id = format!("stdio-{}", uuid::Uuid::new_v4().simple());
    if let Err(e) = node.session_created(&id, TransportKind::Stdio).await {
        tracing::warn!(session_id = %id, error = %e, "could not record new session");
    }
    let handler = Observed::new(
        McpHandler::new(mcp.clone(), Some(id.clone())),
        TransportKind::Stdio,
        request_timeout,
        InFlight::default(),
    );
    let exit = match handler
        .serve_with_ct((reader, writer), shutdown.clone())
        .await
    {
        Ok(running) => match running.waiting().await {
            Ok(QuitReason::Cancelled) => StdioExit::Shutdown,
            Ok(_) => StdioExit::Eof,
            Err(e) => return Err(std::io::Error::other(e)),
        },
        Err(e) if shutdown.is_cancelled() => {
            tracing::debug!(error = %e, "stdio session cancelled before its handshake");
            StdioExit::Shutdown
        }
        Err(e) => {
            // EOF before initialize, or a first message that is not a request.
            tracing::info!(error = %e, "stdio session ended before its handshake");
            StdioExit::Eof
        }
    };
    mcp.shutdown();
    let outcome = match exit {
        StdioExit::Eof => SessionOutcome::Closed,
        StdioExit::Shutdown => SessionOutcome::Shutdown,
    };
    if let Err(e) = node.session_ended(&id, outcome).await {
        tracing::warn!(session_id = %id, error = %e, "could not record session end");
    }
    Ok(exit)
}
