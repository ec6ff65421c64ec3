//! [`Observed`]: a layer around any `ServerHandler` that gives every MCP request a tracing
//! span, a deadline, and Prometheus metrics (count by outcome, latency histogram by method).
//!
//! rmcp's HTTP service only accepts a `ServerHandler`, not an arbitrary `Service`, so the layer
//! is itself a `ServerHandler` that delegates each method. Handlers stay free of
//! cross-cutting code.

#![allow(deprecated)] // delegates the legacy-only methods too.

use mcpflow_model::Transport;
use rmcp::model::*;
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use std::borrow::Cow;
use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tracing::Instrument;

use crate::http::InFlight;

/// Wraps `inner` with spans, deadlines and metrics.
#[derive(Debug, Clone)]
pub struct Observed<H> {
    inner: H,
    transport: Transport,
    timeout: Duration,
    in_flight: InFlight,
}

/// One method's metric handles on one transport. Resolving a labelled metric costs a registry
/// lookup; handles are resolved once per call site and transport, then only updated.
/// (Handles bind to the recorder installed at the time: install it before serving —
/// [`crate::telemetry::prometheus`], which `HttpServer::bind` and the CLI do.)
#[derive(Debug)]
struct MethodMetrics {
    ok: metrics::Counter,
    error: metrics::Counter,
    duration: metrics::Histogram,
}

/// Per-call-site cells, one per transport.
struct MethodCells([OnceLock<MethodMetrics>; 3]);

impl MethodCells {
    const fn new() -> Self {
        Self([const { OnceLock::new() }; 3])
    }

    fn get(&self, method: &'static str, transport: Transport) -> &MethodMetrics {
        let index = match transport {
            Transport::Stdio => 0,
            Transport::StreamableHttp => 1,
            Transport::WebSocket => 2,
        };
        self.0[index].get_or_init(|| {
            let t = transport.as_str();
            MethodMetrics {
                ok: metrics::counter!("mcpflow_mcp_requests_total", "method" => method, "transport" => t, "outcome" => "ok"),
                error: metrics::counter!("mcpflow_mcp_requests_total", "method" => method, "transport" => t, "outcome" => "error"),
                duration: metrics::histogram!("mcpflow_mcp_request_duration_seconds", "method" => method),
            }
        })
    }
}

impl<H> Observed<H> {
    /// Observes `inner` serving on `transport` (a metrics label), cancelling requests that run
    /// longer than `timeout`.
    /// Each request is counted in `in_flight` while it runs, so shutdown can drain them.
    pub fn new(inner: H, transport: Transport, timeout: Duration, in_flight: InFlight) -> Self {
        Self {
            inner,
            transport,
            timeout,
            in_flight,
        }
    }

    async fn observe<T>(
        &self,
        method: &'static str,
        cells: &'static MethodCells,
        id: &RequestId,
        fut: impl Future<Output = Result<T, McpError>>,
    ) -> Result<T, McpError> {
        let span = tracing::info_span!("mcp.request", method, id = %id, transport = self.transport.as_str());
        let _counted = self.in_flight.enter();
        let start = Instant::now();
        let result = match tokio::time::timeout(self.timeout, fut)
            .instrument(span.clone())
            .await
        {
            Ok(result) => result,
            Err(_) => Err(McpError::new(
                ErrorCode::INTERNAL_ERROR,
                format!(
                    "{method} did not finish within {}s and was cancelled (http.request_timeout_secs); for long work use a task-capable client",
                    self.timeout.as_secs()
                ),
                None,
            )),
        };
        let metrics = cells.get(method, self.transport);
        metrics.duration.record(start.elapsed().as_secs_f64());
        match &result {
            Ok(_) => metrics.ok.increment(1),
            Err(e) => {
                span.in_scope(
                    || tracing::debug!(code = e.code.0, message = %e.message, "request failed"),
                );
                metrics.error.increment(1);
            }
        }
        result
    }

    fn notified(&self, method: &'static str) {
        metrics::counter!("mcpflow_mcp_notifications_total", "method" => method).increment(1);
    }
}

/// Delegates a request method through [`Observed::observe`].
macro_rules! observed {
    ($name:ident, $method:literal, $params:ty, $out:ty) => {
        async fn $name(
            &self,
            params: $params,
            context: RequestContext<RoleServer>,
        ) -> Result<$out, McpError> {
            static CELLS: MethodCells = MethodCells::new();
            let id = context.id.clone();
            self.observe($method, &CELLS, &id, self.inner.$name(params, context))
                .await
        }
    };
}

impl<H: ServerHandler> ServerHandler for Observed<H> {
    fn get_info(&self) -> ServerConfig {
        self.inner.get_info()
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        self.inner.supported_protocol_versions()
    }

    fn negotiate_initialize(
        &self,
        request: &InitializeRequestParams,
    ) -> Result<InitializeResult, McpError> {
        self.inner.negotiate_initialize(request)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner.get_tool(name)
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        self.inner.accepted_subscription_filter(requested)
    }

    async fn ping(&self, context: RequestContext<RoleServer>) -> Result<(), McpError> {
        static CELLS: MethodCells = MethodCells::new();
        let id = context.id.clone();
        self.observe("ping", &CELLS, &id, self.inner.ping(context))
            .await
    }

    async fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, McpError> {
        static CELLS: MethodCells = MethodCells::new();
        let id = context.id.clone();
        self.observe("server/discover", &CELLS, &id, self.inner.discover(context))
            .await
    }

    observed!(
        initialize,
        "initialize",
        InitializeRequestParams,
        InitializeResult
    );
    observed!(
        complete,
        "completion/complete",
        CompleteRequestParams,
        CompleteResult
    );
    observed!(set_level, "logging/setLevel", SetLevelRequestParams, ());
    observed!(
        get_prompt,
        "prompts/get",
        GetPromptRequestParams,
        GetPromptResponse
    );
    observed!(
        list_prompts,
        "prompts/list",
        Option<PaginatedRequestParams>,
        ListPromptsResult
    );
    observed!(
        list_resources,
        "resources/list",
        Option<PaginatedRequestParams>,
        ListResourcesResult
    );
    observed!(
        list_resource_templates,
        "resources/templates/list",
        Option<PaginatedRequestParams>,
        ListResourceTemplatesResult
    );
    observed!(
        read_resource,
        "resources/read",
        ReadResourceRequestParams,
        ReadResourceResponse
    );
    observed!(subscribe, "resources/subscribe", SubscribeRequestParams, ());
    observed!(
        unsubscribe,
        "resources/unsubscribe",
        UnsubscribeRequestParams,
        ()
    );
    observed!(
        call_tool,
        "tools/call",
        CallToolRequestParams,
        CallToolResponse
    );
    observed!(
        list_tools,
        "tools/list",
        Option<PaginatedRequestParams>,
        ListToolsResult
    );
    observed!(get_task, "tasks/get", GetTaskParams, GetTaskResult);
    observed!(update_task, "tasks/update", UpdateTaskParams, ());
    observed!(cancel_task, "tasks/cancel", CancelTaskParams, ());

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, McpError> {
        static CELLS: MethodCells = MethodCells::new();
        let id = context.id.clone();
        self.observe(
            "custom",
            &CELLS,
            &id,
            self.inner.on_custom_request(request, context),
        )
        .await
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        // A subscription lives as long as the client wants it: no deadline.
        self.notified("subscriptions/listen");
        self.inner.listen(context).await
    }

    async fn on_cancelled(
        &self,
        notification: CancelledNotificationParam,
        context: NotificationContext<RoleServer>,
    ) {
        self.notified("notifications/cancelled");
        self.inner.on_cancelled(notification, context).await
    }

    async fn on_progress(
        &self,
        notification: ProgressNotificationParam,
        context: NotificationContext<RoleServer>,
    ) {
        self.notified("notifications/progress");
        self.inner.on_progress(notification, context).await
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.notified("notifications/initialized");
        self.inner.on_initialized(context).await
    }

    async fn on_roots_list_changed(&self, context: NotificationContext<RoleServer>) {
        self.notified("notifications/roots/list_changed");
        self.inner.on_roots_list_changed(context).await
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        context: NotificationContext<RoleServer>,
    ) {
        self.notified("custom");
        self.inner
            .on_custom_notification(notification, context)
            .await
    }
}
