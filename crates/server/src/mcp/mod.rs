//! The MCP interface: the handler rmcp calls, the catalog it serves, and the layer that
//! observes it. Transports (stdio, HTTP, WebSocket) live elsewhere and all build the same
//! [`Observed`]`<`[`McpHandler`]`>`.

mod ask;
mod catalog;
mod context;
mod handler;
mod observe;
mod session;
mod uri_template;

pub use ask::Asked;

/// The one tool whose arguments the security gate does not scan: it scans text on request.
pub const SECURITY_SCAN_TOOL: &str = "security_scan";
pub use catalog::{
    BoxFuture, Catalog, Completer, LiveCatalog, PromptEntry, PromptGet, ResourceEntry,
    ResourceRead, TaskMode, TemplateEntry, ToolCall, ToolEntry, json_kind,
};
pub use context::{Cx, StreamControl};
pub use handler::{McpHandler, McpState};
pub use observe::Observed;
pub use uri_template::UriTemplate;
