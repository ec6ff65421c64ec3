//! [`McpHandler`]: rmcp's `ServerHandler`, answering every MCP method from the [`Catalog`] and
//! the [`Node`].
//!
//! The handler is cheap: rmcp makes one per session (legacy era) or per request (2026-07-28,
//! stateless), so everything long-lived sits in the shared [`McpState`].

#![allow(deprecated)] // subscribe/unsubscribe/setLevel are legacy-only in rmcp 3.x, still served.

use mcpflow_model::Event;
use mcpflow_node::Node;
use rmcp::model::*;
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::task_manager::TaskManager;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

use super::catalog::{Catalog, LiveCatalog, PromptGet, ResourceRead, TaskMode, ToolCall};
use super::context::Cx;
use super::session::SessionSlot;

/// Items per page in `*/list` answers.
const PAGE_SIZE: usize = 100;

/// State shared by every handler instance of one server.
pub struct McpState {
    node: Node,
    catalog: LiveCatalog,
    tasks: TaskManager,
    codec: Arc<RequestStateCodec>,
    info: ServerConfig,
}

impl McpState {
    /// State serving `catalog` on behalf of `node`.
    pub fn new(node: Node, catalog: Catalog) -> Arc<Self> {
        // MRTR state is sealed with a key that lives as long as the process: a restart
        // invalidates half-finished multi-round requests, which clients then simply restart.
        let key: [u8; 32] = {
            let a = uuid::Uuid::new_v4().into_bytes();
            let b = uuid::Uuid::new_v4().into_bytes();
            let mut key = [0u8; 32];
            key[..16].copy_from_slice(&a);
            key[16..].copy_from_slice(&b);
            key
        };
        let codec = RequestStateCodec::try_new(key).expect("a 32-byte key is long enough");
        let info = server_info();
        Arc::new(Self {
            catalog: LiveCatalog::new(catalog, node.clone()),
            node,
            tasks: TaskManager::new(),
            codec: Arc::new(codec),
            info,
        })
    }

    /// The node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The live catalog (snapshot it to read; update it to change what clients see).
    pub fn catalog(&self) -> &LiveCatalog {
        &self.catalog
    }

    /// Stops every running MCP task (shutdown).
    pub fn shutdown(&self) {
        self.tasks.shutdown();
    }
}

impl std::fmt::Debug for McpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpState")
            .field("node", &self.node.id())
            .field("tools", &self.catalog.snapshot().tools().len())
            .field("running_tasks", &self.tasks.running_task_count())
            .finish_non_exhaustive()
    }
}

fn server_info() -> ServerConfig {
    let capabilities = ServerCapabilities::builder()
        .enable_logging()
        .enable_completions()
        .enable_prompts()
        .enable_prompts_list_changed()
        .enable_resources()
        .enable_resources_subscribe()
        .enable_resources_list_changed()
        .enable_tools()
        .enable_tool_list_changed()
        .enable_tasks()
        .build();
    ServerConfig::new(capabilities)
        .with_server_info(
            Implementation::new("mcpflow", env!("CARGO_PKG_VERSION"))
                .with_title("mcpflow")
                .with_website_url("https://github.com/mcpflow/mcpflow"),
        )
        .with_instructions(
            "mcpflow orchestrates supervised swarms of AI agents. List the tools to see what this node offers.",
        )
}

/// One handler instance: shared state plus this session's slot.
#[derive(Debug, Clone)]
pub struct McpHandler {
    state: Arc<McpState>,
    session: Arc<SessionSlot>,
    /// The authenticated caller of a whole connection (WebSocket); HTTP requests carry theirs
    /// in their extensions instead.
    caller: Option<crate::http::Caller>,
}

impl McpHandler {
    /// A handler for a new session (`id` known up front for stdio/WebSocket, learnt from the
    /// `Mcp-Session-Id` header for HTTP).
    pub fn new(state: Arc<McpState>, id: Option<String>) -> Self {
        Self {
            state,
            session: Arc::new(SessionSlot::new(id)),
            caller: None,
        }
    }

    /// The security gate on tool arguments: every string in them, one per line, scanned as
    /// what a caller typed. A block is a tool error naming what was found; a warning passes.
    /// `security_scan` is exempt: scanning hostile text is its job.
    fn gate_arguments(
        &self,
        tool: &str,
        arguments: Option<&rmcp::model::JsonObject>,
    ) -> Option<CallToolResponse> {
        use mcpflow_model::{ContentGate, GateOutcome, GatePoint};
        let gate = self.state.node.gate()?;
        let arguments = arguments?;
        if tool == super::SECURITY_SCAN_TOOL {
            return None;
        }
        let mut text = String::new();
        for value in arguments.values() {
            mcpflow_model::push_strings(value, &mut text);
        }
        if text.is_empty() {
            return None;
        }
        let actor = match self.session.id() {
            Some(id) => format!("session:{id}"),
            None => "session:stdio".to_owned(),
        };
        match gate.inspect(GatePoint::ToolArguments { tool }, &actor, &text) {
            GateOutcome::Block(reason) => Some(
                rmcp::model::CallToolResult::error(vec![rmcp::model::ContentBlock::text(format!(
                    "the arguments of {tool} were refused by the security gate: {reason}"
                ))])
                .into(),
            ),
            GateOutcome::Allow | GateOutcome::Warn(_) => None,
        }
    }

    /// Binds the handler to the authenticated caller of its connection (WebSocket).
    pub fn with_caller(mut self, caller: Option<crate::http::Caller>) -> Self {
        self.caller = caller;
        self
    }

    /// The per-principal check at dispatch: RBAC, tenant isolation, Cedar. Requests without a
    /// caller come from a server without auth (loopback, stdio) and pass. An HTTP request the
    /// auth layer already permitted for this very target is not checked twice.
    fn authorize(
        &self,
        context: &RequestContext<RoleServer>,
        action: mcpflow_auth::Action,
        target: &str,
    ) -> Result<(), McpError> {
        let parts = context.extensions.get::<http::request::Parts>();
        let caller = self
            .caller
            .as_ref()
            .or_else(|| parts.and_then(|p| p.extensions.get::<crate::http::Caller>()));
        let Some(caller) = caller else {
            return Ok(());
        };
        let already = parts
            .and_then(|p| p.extensions.get::<crate::http::Permitted>())
            .is_some_and(|p| p.action == action && p.target == target);
        if already {
            return Ok(());
        }
        let path = if self.caller.is_some() { "/ws" } else { "/mcp" };
        caller.authorize(action, target, path).map_err(|denied| {
            McpError::new(
                ErrorCode(-32003),
                denied.to_string(),
                Some(serde_json::json!({ "status": 403, "reason": denied.label() })),
            )
        })
    }

    fn cx(&self, request: RequestContext<RoleServer>) -> Cx {
        let auth = self
            .caller
            .as_ref()
            .or_else(|| {
                request
                    .extensions
                    .get::<http::request::Parts>()
                    .and_then(|p| p.extensions.get::<crate::http::Caller>())
            })
            .map(|caller| caller.auth.clone());
        Cx::new(
            request,
            self.state.node.clone(),
            self.state.catalog.clone(),
            self.session.clone(),
            self.state.codec.clone(),
            self.state.tasks.clone(),
            auth,
        )
    }

    /// The HTTP session id of a request, from the `Mcp-Session-Id` header.
    fn http_session_id(extensions: &Extensions) -> Option<String> {
        extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.headers.get("mcp-session-id"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// Decodes a list cursor (an offset we issued), refusing anything else.
/// Only the returned page is converted (cloned), not the whole list.
fn page<E, T>(
    items: &[E],
    params: Option<&PaginatedRequestParams>,
    convert: impl Fn(&E) -> T,
) -> Result<(Vec<T>, Option<String>), McpError> {
    let start = match params.and_then(|p| p.cursor.as_deref()) {
        None => 0,
        Some(cursor) => cursor
            .parse::<usize>()
            .ok()
            .filter(|&i| i <= items.len())
            .ok_or_else(|| {
                McpError::invalid_params(
                    format!(
                        "invalid cursor {cursor:?}: pass back a nextCursor this server returned"
                    ),
                    None,
                )
            })?,
    };
    let end = (start + PAGE_SIZE).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((items[start..end].iter().map(convert).collect(), next))
}

impl ServerHandler for McpHandler {
    fn get_info(&self) -> ServerConfig {
        self.state.info.clone()
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let id = match Self::http_session_id(&context.extensions) {
            Some(id) => Some(self.session.learn_id(&id)),
            None => self.session.id(),
        };
        if let (Some(id), Some(info)) = (id, context.peer.peer_info()) {
            let client = format!("{}/{}", info.client_info.name, info.client_info.version);
            if let Err(e) = self
                .state
                .node
                .session_initialized(&id, info.protocol_version.as_str(), &client)
                .await
            {
                tracing::warn!(session_id = %id, error = %e, "could not record session handshake");
            }
        }
        self.session
            .start_forwarding(&self.state.node, context.peer.clone());
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let catalog = self.state.catalog.snapshot();
        let (tools, next) = page(catalog.tools(), request.as_ref(), |e| e.tool.clone())?;
        let mut result = ListToolsResult::with_all_items(tools);
        result.next_cursor = next;
        Ok(result)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.state
            .catalog
            .snapshot()
            .tool(name)
            .map(|e| e.tool.clone())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.authorize(&context, mcpflow_auth::Action::CallTool, &request.name)?;
        let catalog = self.state.catalog.snapshot();
        let Some(entry) = catalog.tool(&request.name) else {
            return Err(McpError::invalid_params(
                format!(
                    "unknown tool {:?}; tools/list shows the available tools",
                    request.name
                ),
                None,
            ));
        };
        if let Some(refusal) = self.gate_arguments(&request.name, request.arguments.as_ref()) {
            return Ok(refusal);
        }
        let supports_tasks = entry.mode != TaskMode::Inline
            && context
                .client_capabilities()
                .is_some_and(|c| c.supports_tasks());
        let spawn = match entry.mode {
            TaskMode::Inline => false,
            TaskMode::RequiredDeferred if supports_tasks => false,
            TaskMode::Optional => supports_tasks,
            TaskMode::Required if supports_tasks => true,
            TaskMode::Required | TaskMode::RequiredDeferred => {
                let required: ClientCapabilities = serde_json::from_value(serde_json::json!({
                    "extensions": { TASKS_EXTENSION_ID: {} }
                }))
                .unwrap_or_default();
                return Err(McpError::missing_required_client_capability(required));
            }
        };
        let run = entry.run.clone();
        let arguments = request.arguments.unwrap_or_default();
        let request_state = request.request_state;
        let input_responses = request.input_responses;
        let cx = self.cx(context);
        if !spawn {
            return run(ToolCall {
                arguments,
                request_state,
                input_responses,
                cx,
            })
            .await;
        }
        Ok(cx.spawn_task(move |cx| {
            run(ToolCall {
                arguments,
                request_state,
                input_responses,
                cx,
            })
        }))
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let catalog = self.state.catalog.snapshot();
        let (items, next) = page(catalog.resources(), request.as_ref(), |e| {
            e.resource.clone()
        })?;
        let mut result = ListResourcesResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let catalog = self.state.catalog.snapshot();
        let (items, next) = page(catalog.templates(), request.as_ref(), |e| {
            e.template.clone()
        })?;
        let mut result = ListResourceTemplatesResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        self.authorize(&context, mcpflow_auth::Action::ReadResource, &request.uri)?;
        let Some((read, vars)) = self.state.catalog.snapshot().resolve(&request.uri) else {
            return Err(McpError::resource_not_found(
                format!(
                    "no resource {:?}; resources/list and resources/templates/list show what exists",
                    request.uri
                ),
                Some(serde_json::json!({ "uri": request.uri })),
            ));
        };
        read(ResourceRead {
            uri: request.uri,
            vars,
            request_state: request.request_state,
            input_responses: request.input_responses,
            cx: self.cx(context),
        })
        .await
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.authorize(&context, mcpflow_auth::Action::ReadResource, &request.uri)?;
        if self
            .state
            .catalog
            .snapshot()
            .resolve(&request.uri)
            .is_none()
        {
            return Err(McpError::resource_not_found(
                format!("cannot subscribe to unknown resource {:?}", request.uri),
                Some(serde_json::json!({ "uri": request.uri })),
            ));
        }
        self.session.subscribe(&request.uri);
        // Forwarding normally starts at notifications/initialized; start it here too for
        // clients that subscribe before sending it.
        self.session
            .start_forwarding(&self.state.node, context.peer.clone());
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.session.unsubscribe(&request.uri);
        Ok(())
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let mut accepted = requested.clone();
        if let Some(uris) = accepted.resource_subscriptions.as_mut() {
            uris.retain(|uri| self.state.catalog.snapshot().resolve(uri).is_some());
        }
        Some(accepted)
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let accepted = context.accepted().clone();
        let wanted: std::collections::HashSet<String> = accepted
            .resource_subscriptions
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let sink = context.sink().clone();
        let mut events = self.state.node.events();
        loop {
            let event = tokio::select! {
                _ = context.cancelled() => return Ok(()),
                event = events.recv() => event,
            };
            let event = match event {
                Ok(event) => event,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "subscription fell behind the event bus");
                    continue;
                }
                Err(RecvError::Closed) => return Ok(()),
            };
            let sent = match event {
                Event::ResourceUpdated { uri } if wanted.contains(&uri) => {
                    sink.notify_resource_updated(uri).await
                }
                Event::ListChanged { list } => match list.as_str() {
                    "tools" if accepted.tools_list_changed == Some(true) => {
                        sink.notify_tool_list_changed().await
                    }
                    "prompts" if accepted.prompts_list_changed == Some(true) => {
                        sink.notify_prompt_list_changed().await
                    }
                    "resources" if accepted.resources_list_changed == Some(true) => {
                        sink.notify_resource_list_changed().await
                    }
                    _ => continue,
                },
                _ => continue,
            };
            if let Err(e) = sent {
                tracing::debug!(error = %e, "subscription stream closed");
                return Ok(());
            }
        }
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let catalog = self.state.catalog.snapshot();
        let (items, next) = page(catalog.prompts(), request.as_ref(), |e| e.prompt.clone())?;
        let mut result = ListPromptsResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let catalog = self.state.catalog.snapshot();
        let Some(entry) = catalog.prompt(&request.name) else {
            return Err(McpError::invalid_params(
                format!(
                    "unknown prompt {:?}; prompts/list shows the available prompts",
                    request.name
                ),
                None,
            ));
        };
        let arguments: HashMap<String, String> = request
            .arguments
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect();
        if let Some(declared) = &entry.prompt.arguments {
            for arg in declared.iter().filter(|a| a.required == Some(true)) {
                if !arguments.contains_key(&arg.name) {
                    return Err(McpError::invalid_params(
                        format!("prompt {:?} needs argument {:?}", request.name, arg.name),
                        None,
                    ));
                }
            }
        }
        (entry.get)(PromptGet {
            arguments,
            request_state: request.request_state,
            input_responses: request.input_responses,
            cx: self.cx(context),
        })
        .await
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let catalog = self.state.catalog.snapshot();
        let completer = if let Some(name) = request.r#ref.as_prompt_name() {
            let entry = catalog.prompt(name).ok_or_else(|| {
                McpError::invalid_params(format!("unknown prompt {name:?}"), None)
            })?;
            entry.complete.clone()
        } else if let Some(uri) = request.r#ref.as_resource_uri() {
            catalog.template_completer(uri).cloned()
        } else {
            None
        };
        let context_args: HashMap<String, String> = request
            .context
            .and_then(|c| c.arguments)
            .unwrap_or_default();
        let mut values = completer
            .map(|f| {
                f(
                    &request.argument.name,
                    &request.argument.value,
                    &context_args,
                )
            })
            .unwrap_or_default();
        let total = values.len();
        values.truncate(CompletionInfo::MAX_VALUES);
        let info = CompletionInfo::with_pagination(
            values,
            Some(total as u32),
            total > CompletionInfo::MAX_VALUES,
        )
        .map_err(|e| McpError::internal_error(e, None))?;
        Ok(CompleteResult::new(info))
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.session.set_log_level(request.level);
        Ok(())
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        Ok(GetTaskResult::new(
            self.state.tasks.get_task(&request.task_id)?,
        ))
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.state
            .tasks
            .update_task(&request.task_id, request.input_responses)
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.state.tasks.cancel_task(&request.task_id)
    }
}
