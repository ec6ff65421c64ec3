//! [`Cx`]: what a catalog function may do while it serves one request — report progress, log
//! to the client, notice cancellation, publish node events, seal MRTR state.

#![allow(deprecated)] // Logging is SEP-2577-deprecated in rmcp 3.x, but 2025-11-25 clients use it.

use mcpflow_model::Event;
use mcpflow_node::Node;
use rmcp::ErrorData as McpError;
use rmcp::model::{
    LoggingLevel, LoggingMessageNotificationParam, ProgressNotificationParam, ProtocolVersion,
    RequestStateCodec, SealOptions,
};
use rmcp::service::RequestContext;
use rmcp::{Peer, RoleServer};
use std::sync::Arc;
use std::time::Duration;

use super::session::SessionSlot;

/// How long a sealed MRTR `requestState` stays valid.
const REQUEST_STATE_TTL: Duration = Duration::from_secs(600);

/// The context of one MCP request.
#[derive(Clone)]
pub struct Cx {
    request: RequestContext<RoleServer>,
    node: Node,
    session: Arc<SessionSlot>,
    codec: Arc<RequestStateCodec>,
}

impl std::fmt::Debug for Cx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cx")
            .field("request_id", &self.request.id)
            .finish_non_exhaustive()
    }
}

impl Cx {
    pub(crate) fn new(
        request: RequestContext<RoleServer>,
        node: Node,
        session: Arc<SessionSlot>,
        codec: Arc<RequestStateCodec>,
    ) -> Self {
        Self {
            request,
            node,
            session,
            codec,
        }
    }

    /// The node serving the request.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The client.
    pub fn peer(&self) -> &Peer<RoleServer> {
        &self.request.peer
    }

    /// rmcp's request context (id, `_meta`, HTTP parts in `extensions`).
    pub fn request(&self) -> &RequestContext<RoleServer> {
        &self.request
    }

    /// Whether the request speaks 2026-07-28 or later (stateless; MRTR instead of
    /// server→client requests).
    pub fn is_modern(&self) -> bool {
        self.request
            .protocol_version()
            .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str())
    }

    /// Resolves when the client cancels the request (or the session ends).
    pub async fn cancelled(&self) {
        self.request.ct.cancelled().await
    }

    /// Whether the client has cancelled the request.
    pub fn is_cancelled(&self) -> bool {
        self.request.ct.is_cancelled()
    }

    /// Sends `notifications/progress` if the client asked for progress (a `progressToken`
    /// in `_meta`); otherwise does nothing.
    pub async fn progress(&self, progress: f64, total: Option<f64>, message: Option<String>) {
        let Some(token) = self.request.meta.get_progress_token() else {
            return;
        };
        let mut param = ProgressNotificationParam::new(token, progress);
        if let Some(total) = total {
            param = param.with_total(total);
        }
        if let Some(message) = message {
            param = param.with_message(message);
        }
        if let Err(e) = self.request.peer.notify_progress(param).await {
            tracing::debug!(error = %e, "progress notification not delivered");
        }
    }

    /// Sends `notifications/message` if `level` is at or above the client's chosen level
    /// (`logging/setLevel`, or the request's `logLevel` in 2026-07-28).
    pub async fn log(&self, level: LoggingLevel, logger: &str, data: serde_json::Value) {
        let threshold = self
            .request
            .meta
            .log_level()
            .unwrap_or_else(|| self.session.log_level());
        if severity(level) < severity(threshold) {
            return;
        }
        let param = LoggingMessageNotificationParam::new(level, data).with_logger(logger);
        if let Err(e) = self.request.peer.notify_logging_message(param).await {
            tracing::debug!(error = %e, "log notification not delivered");
        }
    }

    /// Publishes an event on the node's bus (e.g. a resource changed).
    pub fn publish(&self, event: Event) {
        self.node.publish(event)
    }

    /// Seals `state` into an opaque, integrity-protected MRTR `requestState` token.
    pub fn seal_state(&self, state: &serde_json::Value) -> Result<String, McpError> {
        self.codec
            .seal_json_with(state, &SealOptions::new().ttl(REQUEST_STATE_TTL))
            .map_err(|e| McpError::internal_error(format!("cannot seal request state: {e}"), None))
    }

    /// Opens a `requestState` token sealed by [`Cx::seal_state`]; tampered or expired tokens
    /// are an `invalid params` error.
    pub fn open_state(&self, token: &str) -> Result<serde_json::Value, McpError> {
        self.codec.open_json(token).map_err(|e| {
            McpError::invalid_params(
                format!("requestState was not issued by this server or has expired ({e}); start the request again without it"),
                None,
            )
        })
    }
}

/// RFC 5424 severity order, lowest first.
pub(crate) fn severity(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}
