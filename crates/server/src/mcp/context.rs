//! [`Cx`]: what a catalog function may do while it serves one request — report progress, log
//! to the client, notice cancellation, publish node events, seal MRTR state.

#![allow(deprecated)] // Logging is SEP-2577-deprecated in rmcp 3.x, but 2025-11-25 clients use it.

use mcpflow_model::Event;
use mcpflow_node::Node;
use rmcp::ErrorData as McpError;
use rmcp::model::{CallToolResponse, CreateTaskResult};
use rmcp::model::{
    LoggingLevel, LoggingMessageNotificationParam, ProgressNotificationParam, ProtocolVersion,
    RequestStateCodec, SealOptions,
};
use rmcp::service::RequestContext;
use rmcp::task_manager::{TaskContext, TaskExit, TaskManager, TaskOptions};
use rmcp::{Peer, RoleServer};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::catalog::LiveCatalog;
use super::session::SessionSlot;

/// Lets a request end its own HTTP response stream early (SEP-1699 polling): the client
/// reconnects with `Last-Event-ID` and receives the rest. Installed by the HTTP transport in
/// the request's extensions; absent on stdio and WebSocket.
pub trait StreamControl: Send + Sync + 'static {
    /// Closes the SSE stream carrying `request_id` of `session`, telling the client to retry
    /// after `retry`. Returns whether a stream was closed.
    fn close_request_stream(
        &self,
        session: &str,
        request_id: &str,
        retry: Duration,
    ) -> super::BoxFuture<bool>;
}

/// How long a sealed MRTR `requestState` stays valid.
const REQUEST_STATE_TTL: Duration = Duration::from_secs(600);

/// The context of one MCP request.
#[derive(Clone)]
pub struct Cx {
    request: RequestContext<RoleServer>,
    node: Node,
    catalog: LiveCatalog,
    session: Arc<SessionSlot>,
    codec: Arc<RequestStateCodec>,
    tasks: TaskManager,
    auth: Option<Arc<mcpflow_auth::Auth>>,
    /// Set while the request runs as an MCP task: questions then go through `tasks/update`.
    pub(crate) task: Option<TaskContext>,
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
        catalog: LiveCatalog,
        session: Arc<SessionSlot>,
        codec: Arc<RequestStateCodec>,
        tasks: TaskManager,
        auth: Option<Arc<mcpflow_auth::Auth>>,
    ) -> Self {
        Self {
            request,
            node,
            catalog,
            session,
            codec,
            tasks,
            auth,
            task: None,
        }
    }

    /// Ends this request's HTTP response stream now; the client resumes with `Last-Event-ID`
    /// and receives what follows. Returns `false` where there is no such stream (stdio,
    /// WebSocket, stateless requests).
    pub async fn close_response_stream(&self, retry: Duration) -> bool {
        let Some(parts) = self.request.extensions.get::<http::request::Parts>() else {
            return false;
        };
        let (Some(control), Some(session)) = (
            parts.extensions.get::<Arc<dyn StreamControl>>(),
            parts
                .headers
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok()),
        ) else {
            return false;
        };
        // Same key as the HTTP layer uses: the id's JSON text.
        let request_id = serde_json::to_string(&self.request.id).unwrap_or_default();
        control
            .close_request_stream(session, &request_id, retry)
            .await
    }

    /// Whether the client can receive MCP tasks (declared the tasks extension, for the session
    /// or in this request's `_meta`).
    pub fn client_supports_tasks(&self) -> bool {
        self.request
            .client_capabilities()
            .is_some_and(|c| c.supports_tasks())
    }

    /// Whether this request is running as an MCP task.
    pub fn is_task(&self) -> bool {
        self.task.is_some()
    }

    /// Moves the rest of the work into an MCP task and returns the `CreateTaskResult` to send
    /// now. The client polls `tasks/get`, answers questions with `tasks/update`, and may
    /// `tasks/cancel` (which drops the work). A tool result — even one with `isError` — ends
    /// the task `completed`; a protocol error ends it `failed`.
    pub fn spawn_task<F, Fut>(self, work: F) -> CallToolResponse
    where
        F: FnOnce(Cx) -> Fut + Send + 'static,
        Fut: Future<Output = Result<CallToolResponse, McpError>> + Send + 'static,
    {
        let mut cx = self;
        // A task outlives its request: it gets a cancellation of its own, fired by tasks/cancel.
        let cancel = CancellationToken::new();
        cx.request.ct = cancel.clone();
        let tasks = cx.tasks.clone();
        let task = tasks.spawn(TaskOptions::new(), move |task_cx: TaskContext| {
            cx.task = Some(task_cx.clone());
            Box::pin(async move {
                let outcome = tokio::select! {
                    _ = task_cx.cancelled() => {
                        cancel.cancel();
                        return Err(TaskExit::Cancelled);
                    }
                    outcome = work(cx) => outcome,
                };
                match outcome {
                    Ok(CallToolResponse::Complete(result)) => Ok(result),
                    Ok(_) => Err(TaskExit::Error(McpError::internal_error(
                        "a tool running as a task returned input_required or another task; inside a task, ask with Cx::ask_* (answered through tasks/update)",
                        None,
                    ))),
                    Err(_) if task_cx.is_cancel_requested() => Err(TaskExit::Cancelled),
                    Err(e) => Err(TaskExit::Error(e)),
                }
            })
        });
        CallToolResponse::Task(CreateTaskResult::new(task))
    }

    /// The node serving the request.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The authentication and authorisation checks of the server this request came through
    /// (its RBAC, rate limits and Cedar policies); `None` without `[auth]` (loopback, stdio).
    pub fn auth(&self) -> Option<&Arc<mcpflow_auth::Auth>> {
        self.auth.as_ref()
    }

    /// The catalog being served; [`LiveCatalog::update`] changes it for every client.
    pub fn catalog(&self) -> &LiveCatalog {
        &self.catalog
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

    /// Sends `notifications/message` if `level` is at or above the client's chosen level:
    /// `logging/setLevel` for a session, the request's `logLevel` in 2026-07-28 (where no
    /// `logLevel` means no log messages at all).
    pub async fn log(&self, level: LoggingLevel, logger: &str, data: serde_json::Value) {
        let threshold = match self.request.meta.log_level() {
            Some(level) => level,
            None if self.is_modern() => return,
            None => self.session.log_level(),
        };
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
