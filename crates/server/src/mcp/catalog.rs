//! The catalog: every tool, resource, resource template and prompt the MCP interface serves.
//!
//! Entries pair an MCP definition with an async function. The catalog is built once at start
//! (the node's own entries, plus the conformance pack with `--conformance`) and shared by every
//! session; the handler only looks things up in it.
//!
//! ```
//! use mcpflow_server::mcp::{Catalog, ToolCall};
//! use rmcp::model::{CallToolResult, ContentBlock, Tool, object};
//! use serde_json::json;
//!
//! let mut catalog = Catalog::new();
//! catalog.add_tool(
//!     Tool::new("echo", "Returns its text", object(json!({
//!         "type": "object",
//!         "properties": { "text": { "type": "string" } },
//!         "required": ["text"]
//!     }))),
//!     |call: ToolCall| async move {
//!         let text = call.str_arg("text")?.to_owned();
//!         Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
//!     },
//! );
//! assert!(catalog.tool("echo").is_some());
//! ```

use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolResponse, GetPromptResponse, InputResponses, JsonObject, Prompt, ReadResourceResponse,
    Resource, ResourceTemplate, Tool,
};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::context::Cx;
use super::uri_template::UriTemplate;

/// A boxed, sendable future: what catalog functions return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

type ToolFn = Arc<dyn Fn(ToolCall) -> BoxFuture<Result<CallToolResponse, McpError>> + Send + Sync>;
type ReadFn =
    Arc<dyn Fn(ResourceRead) -> BoxFuture<Result<ReadResourceResponse, McpError>> + Send + Sync>;
type PromptFn =
    Arc<dyn Fn(PromptGet) -> BoxFuture<Result<GetPromptResponse, McpError>> + Send + Sync>;

/// Suggests values for one argument: `(argument name, typed prefix, other arguments) → values`.
pub type Completer = Arc<dyn Fn(&str, &str, &HashMap<String, String>) -> Vec<String> + Send + Sync>;

/// How a tool relates to MCP tasks (SEP-2663).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskMode {
    /// Always answered inline.
    Inline,
    /// Runs as a task when the client supports tasks, inline otherwise.
    Optional,
    /// Only for clients that support tasks (others get -32021); always runs as a task.
    Required,
    /// Only for clients that support tasks (others get -32021); starts inline and becomes a
    /// task when the tool calls [`Cx::spawn_task`] — e.g. after gathering input over MRTR.
    RequiredDeferred,
}

/// A `tools/call` as a tool function sees it.
#[derive(Debug)]
pub struct ToolCall {
    /// The `arguments` object (empty when absent).
    pub arguments: JsonObject,
    /// MRTR: the sealed state the server returned in a previous `input_required` round.
    pub request_state: Option<String>,
    /// MRTR: the client's answers to the previous round's input requests.
    pub input_responses: Option<InputResponses>,
    /// The request's context: peer, cancellation, progress, logging.
    pub cx: Cx,
}

impl ToolCall {
    /// A required string argument, or an `invalid params` error naming it.
    pub fn str_arg(&self, name: &str) -> Result<&str, McpError> {
        match self.arguments.get(name) {
            Some(serde_json::Value::String(s)) => Ok(s),
            Some(other) => Err(McpError::invalid_params(
                format!(
                    "argument {name:?} must be a string, got {}",
                    json_kind(other)
                ),
                None,
            )),
            None => Err(McpError::invalid_params(
                format!("missing required argument {name:?}"),
                None,
            )),
        }
    }

    /// A required number argument, or an `invalid params` error naming it.
    pub fn f64_arg(&self, name: &str) -> Result<f64, McpError> {
        match self.arguments.get(name) {
            Some(v) if v.is_number() => Ok(v.as_f64().unwrap_or_default()),
            Some(other) => Err(McpError::invalid_params(
                format!(
                    "argument {name:?} must be a number, got {}",
                    json_kind(other)
                ),
                None,
            )),
            None => Err(McpError::invalid_params(
                format!("missing required argument {name:?}"),
                None,
            )),
        }
    }
}

/// The JSON type name of `v`, for error messages.
pub fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A `resources/read` as a resource function sees it.
#[derive(Debug)]
pub struct ResourceRead {
    /// The requested URI.
    pub uri: String,
    /// Template variables matched from the URI (empty for fixed resources).
    pub vars: HashMap<String, String>,
    /// MRTR state from a previous round.
    pub request_state: Option<String>,
    /// MRTR answers from a previous round.
    pub input_responses: Option<InputResponses>,
    /// The request's context.
    pub cx: Cx,
}

/// A `prompts/get` as a prompt function sees it.
#[derive(Debug)]
pub struct PromptGet {
    /// The prompt arguments (string values).
    pub arguments: HashMap<String, String>,
    /// MRTR state from a previous round.
    pub request_state: Option<String>,
    /// MRTR answers from a previous round.
    pub input_responses: Option<InputResponses>,
    /// The request's context.
    pub cx: Cx,
}

/// A tool and the function that runs it.
#[derive(Clone)]
pub struct ToolEntry {
    /// What `tools/list` shows.
    pub tool: Tool,
    /// Inline or task.
    pub mode: TaskMode,
    pub(crate) run: ToolFn,
}

/// A fixed resource.
#[derive(Clone)]
pub struct ResourceEntry {
    /// What `resources/list` shows.
    pub resource: Resource,
    pub(crate) read: ReadFn,
}

/// A resource template and the function that reads any URI it matches.
#[derive(Clone)]
pub struct TemplateEntry {
    /// What `resources/templates/list` shows.
    pub template: ResourceTemplate,
    pub(crate) pattern: UriTemplate,
    pub(crate) read: ReadFn,
    pub(crate) complete: Option<Completer>,
}

/// A prompt and the function that renders it.
#[derive(Clone)]
pub struct PromptEntry {
    /// What `prompts/list` shows.
    pub prompt: Prompt,
    pub(crate) get: PromptFn,
    pub(crate) complete: Option<Completer>,
}

macro_rules! opaque_debug {
    ($($t:ty => $field:ident . $name:ident),* $(,)?) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t)).field("name", &self.$field.$name).finish_non_exhaustive()
            }
        }
    )*};
}
opaque_debug!(
    ToolEntry => tool.name,
    ResourceEntry => resource.uri,
    TemplateEntry => template.uri_template,
    PromptEntry => prompt.name,
);

/// Everything the MCP interface serves. Built once, then shared read-only.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    tools: Vec<ToolEntry>,
    tool_index: HashMap<String, usize>,
    resources: Vec<ResourceEntry>,
    resource_index: HashMap<String, usize>,
    templates: Vec<TemplateEntry>,
    prompts: Vec<PromptEntry>,
    prompt_index: HashMap<String, usize>,
}

fn box_fn<A, R, F, Fut>(f: F) -> Arc<dyn Fn(A) -> BoxFuture<R> + Send + Sync>
where
    F: Fn(A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    Arc::new(move |a| Box::pin(f(a)))
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tool answered inline. A later tool with the same name replaces it.
    pub fn add_tool<F, Fut>(&mut self, tool: Tool, run: F) -> &mut Self
    where
        F: Fn(ToolCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<CallToolResponse, McpError>> + Send + 'static,
    {
        self.insert_tool(tool, TaskMode::Inline, box_fn(run))
    }

    /// Adds a tool with a task mode other than inline.
    pub fn add_task_tool<F, Fut>(&mut self, tool: Tool, mode: TaskMode, run: F) -> &mut Self
    where
        F: Fn(ToolCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<CallToolResponse, McpError>> + Send + 'static,
    {
        self.insert_tool(tool, mode, box_fn(run))
    }

    fn insert_tool(&mut self, tool: Tool, mode: TaskMode, run: ToolFn) -> &mut Self {
        let name = tool.name.to_string();
        let entry = ToolEntry { tool, mode, run };
        match self.tool_index.get(&name) {
            Some(&i) => self.tools[i] = entry,
            None => {
                self.tool_index.insert(name, self.tools.len());
                self.tools.push(entry);
            }
        }
        self
    }

    /// Adds a fixed resource.
    pub fn add_resource<F, Fut>(&mut self, resource: Resource, read: F) -> &mut Self
    where
        F: Fn(ResourceRead) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ReadResourceResponse, McpError>> + Send + 'static,
    {
        let uri = resource.uri.clone();
        let entry = ResourceEntry {
            resource,
            read: box_fn(read),
        };
        match self.resource_index.get(&uri) {
            Some(&i) => self.resources[i] = entry,
            None => {
                self.resource_index.insert(uri, self.resources.len());
                self.resources.push(entry);
            }
        }
        self
    }

    /// Adds a resource template (RFC 6570 level 1: `{var}` expressions). Panics if the
    /// template is malformed — templates are written in code, so that is a programming error.
    pub fn add_template<F, Fut>(
        &mut self,
        template: ResourceTemplate,
        complete: Option<Completer>,
        read: F,
    ) -> &mut Self
    where
        F: Fn(ResourceRead) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ReadResourceResponse, McpError>> + Send + 'static,
    {
        let pattern = UriTemplate::parse(&template.uri_template)
            .unwrap_or_else(|e| panic!("resource template {:?}: {e}", template.uri_template));
        self.templates.push(TemplateEntry {
            template,
            pattern,
            read: box_fn(read),
            complete,
        });
        self
    }

    /// Adds a prompt.
    pub fn add_prompt<F, Fut>(
        &mut self,
        prompt: Prompt,
        complete: Option<Completer>,
        get: F,
    ) -> &mut Self
    where
        F: Fn(PromptGet) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<GetPromptResponse, McpError>> + Send + 'static,
    {
        let name = prompt.name.clone();
        let entry = PromptEntry {
            prompt,
            get: box_fn(get),
            complete,
        };
        match self.prompt_index.get(&name) {
            Some(&i) => self.prompts[i] = entry,
            None => {
                self.prompt_index.insert(name, self.prompts.len());
                self.prompts.push(entry);
            }
        }
        self
    }

    /// All tools, in insertion order.
    pub fn tools(&self) -> &[ToolEntry] {
        &self.tools
    }

    /// One tool by name.
    pub fn tool(&self, name: &str) -> Option<&ToolEntry> {
        self.tool_index.get(name).map(|&i| &self.tools[i])
    }

    /// All fixed resources.
    pub fn resources(&self) -> &[ResourceEntry] {
        &self.resources
    }

    /// All resource templates.
    pub fn templates(&self) -> &[TemplateEntry] {
        &self.templates
    }

    /// All prompts.
    pub fn prompts(&self) -> &[PromptEntry] {
        &self.prompts
    }

    /// One prompt by name.
    pub fn prompt(&self, name: &str) -> Option<&PromptEntry> {
        self.prompt_index.get(name).map(|&i| &self.prompts[i])
    }

    /// Finds what serves `uri`: a fixed resource first, then the first matching template.
    pub(crate) fn resolve(&self, uri: &str) -> Option<(ReadFn, HashMap<String, String>)> {
        if let Some(&i) = self.resource_index.get(uri) {
            return Some((self.resources[i].read.clone(), HashMap::new()));
        }
        self.templates
            .iter()
            .find_map(|t| t.pattern.matches(uri).map(|vars| (t.read.clone(), vars)))
    }

    /// Removes a tool; returns whether it existed.
    pub fn remove_tool(&mut self, name: &str) -> bool {
        let Some(i) = self.tool_index.remove(name) else {
            return false;
        };
        self.tools.remove(i);
        self.tool_index = index(self.tools.iter().map(|e| e.tool.name.to_string()));
        true
    }

    /// Removes a prompt; returns whether it existed.
    pub fn remove_prompt(&mut self, name: &str) -> bool {
        let Some(i) = self.prompt_index.remove(name) else {
            return false;
        };
        self.prompts.remove(i);
        self.prompt_index = index(self.prompts.iter().map(|e| e.prompt.name.clone()));
        true
    }

    /// The completer for a template, by its URI template string.
    pub(crate) fn template_completer(&self, uri_template: &str) -> Option<&Completer> {
        self.templates
            .iter()
            .find(|t| t.template.uri_template == uri_template)
            .and_then(|t| t.complete.as_ref())
    }
}

fn index(names: impl Iterator<Item = String>) -> HashMap<String, usize> {
    names.enumerate().map(|(i, n)| (n, i)).collect()
}

/// The catalog a running server serves: read as cheap snapshots, changed by whole-catalog
/// replacement. A change publishes `ListChanged` on the node's bus for every list it touched,
/// so subscribed clients hear `notifications/*/list_changed`.
#[derive(Debug, Clone)]
pub struct LiveCatalog {
    current: Arc<std::sync::RwLock<Arc<Catalog>>>,
    node: mcpflow_node::Node,
}

impl LiveCatalog {
    /// Serves `catalog`, announcing changes on `node`'s bus.
    pub fn new(catalog: Catalog, node: mcpflow_node::Node) -> Self {
        Self {
            current: Arc::new(std::sync::RwLock::new(Arc::new(catalog))),
            node,
        }
    }

    /// The catalog as it is now.
    pub fn snapshot(&self) -> Arc<Catalog> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Changes the catalog; requests already running keep the snapshot they started with.
    pub fn update(&self, change: impl FnOnce(&mut Catalog)) {
        let (tools, resources, prompts) = {
            let mut guard = self.current.write().unwrap_or_else(|p| p.into_inner());
            let before = guard.clone();
            let mut next = (*before).clone();
            change(&mut next);
            let names = |c: &Catalog| {
                (
                    c.tools
                        .iter()
                        .map(|e| e.tool.name.to_string())
                        .collect::<Vec<_>>(),
                    c.resources
                        .iter()
                        .map(|e| e.resource.uri.clone())
                        .collect::<Vec<_>>()
                        .into_iter()
                        .chain(c.templates.iter().map(|e| e.template.uri_template.clone()))
                        .collect::<Vec<_>>(),
                    c.prompts
                        .iter()
                        .map(|e| e.prompt.name.clone())
                        .collect::<Vec<_>>(),
                )
            };
            let (a, b) = (names(&before), names(&next));
            *guard = Arc::new(next);
            (a.0 != b.0, a.1 != b.1, a.2 != b.2)
        };
        for (changed, list) in [
            (tools, "tools"),
            (resources, "resources"),
            (prompts, "prompts"),
        ] {
            if changed {
                self.node.publish(mcpflow_model::Event::ListChanged {
                    list: list.to_owned(),
                });
            }
        }
    }
}
