//! A small MCP client for the CLI's remote commands (`mcpflow agent ...`, `mcpflow task ...`):
//! connect to a running server over Streamable HTTP and call its tools.
//!
//! Built on rmcp's client, so the handshake, sessions and SSE replies are the SDK's, not ours.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mcpflow_server::client::ClientError> {
//! use mcpflow_server::client::Remote;
//!
//! let remote = Remote::connect("http://127.0.0.1:8080/mcp").await?;
//! let agents = remote.call("agent_list", serde_json::json!({})).await?;
//! println!("{agents}");
//! # Ok(()) }
//! ```

use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;

/// Why a remote call did not give a result.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached or the handshake failed.
    #[error(
        "cannot connect to the MCP server at {url}: {reason} (is `mcpflow serve` running there? set --url or MCPFLOW_URL)"
    )]
    Connect {
        /// Where we tried.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The call failed at the protocol level.
    #[error("{tool}: {reason}")]
    Protocol {
        /// The tool.
        tool: String,
        /// The JSON-RPC error or transport failure.
        reason: String,
    },
    /// The tool answered with an error result (its text says what to do).
    #[error("{0}")]
    Tool(String),
}

/// A connection to a running mcpflow server.
#[derive(Debug)]
pub struct Remote {
    service: RunningService<RoleClient, ClientConfig>,
}

impl Remote {
    /// Connects and completes the MCP handshake.
    pub async fn connect(url: &str) -> Result<Self, ClientError> {
        let transport = StreamableHttpClientTransport::from_uri(url.to_owned());
        let info = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("mcpflow-cli", env!("CARGO_PKG_VERSION")),
        );
        let service = info
            .serve(transport)
            .await
            .map_err(|e| ClientError::Connect {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Self { service })
    }

    /// Calls `tool` with `arguments` (a JSON object) and returns its structured content (or
    /// its text, when it has none). A tool error result becomes [`ClientError::Tool`].
    pub async fn call(&self, tool: &str, arguments: Value) -> Result<Value, ClientError> {
        let Value::Object(arguments) = arguments else {
            return Err(ClientError::Protocol {
                tool: tool.to_owned(),
                reason: "arguments must be a JSON object".into(),
            });
        };
        let result = self
            .service
            .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
            .await
            .map_err(|e| ClientError::Protocol {
                tool: tool.to_owned(),
                reason: e.to_string(),
            })?;
        let text = || {
            result
                .content
                .iter()
                .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                .collect::<Vec<_>>()
                .join("\n")
        };
        if result.is_error == Some(true) {
            return Err(ClientError::Tool(text()));
        }
        Ok(result
            .structured_content
            .clone()
            .unwrap_or_else(|| Value::String(text())))
    }

    /// Ends the session.
    pub async fn close(self) {
        let _ = self.service.cancel().await;
    }
}
