//! The node's own MCP entries: what every mcpflow server offers, with or without
//! `--conformance`. Subsystem issues add their tools here (agents, swarms, memory, security).

use rmcp::model::{
    CallToolResult, ReadResourceResult, Resource, ResourceContents, Tool, ToolAnnotations, object,
};
use serde_json::json;

use crate::mcp::{Catalog, ResourceRead, ToolCall};
use crate::sampling::SamplingBridge;

mod agents;
mod compliance;
mod learning;
mod memory;
mod security;
mod swarms;

/// What a tool handler returns.
type ToolResult = Result<rmcp::model::CallToolResponse, rmcp::ErrorData>;

/// A tool error the caller can act on.
fn refuse(message: impl Into<String>) -> ToolResult {
    Ok(CallToolResult::error(vec![rmcp::model::ContentBlock::text(message.into())]).into())
}

fn structured(value: &impl serde::Serialize) -> ToolResult {
    let value = serde_json::to_value(value).map_err(|e| {
        rmcp::ErrorData::internal_error(format!("cannot encode the result: {e}"), None)
    })?;
    Ok(CallToolResult::structured(value).into())
}

/// Parses the arguments, or explains what is wrong with them.
fn args<T: serde::de::DeserializeOwned>(call: &ToolCall, tool: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::Object(call.arguments.clone()))
        .map_err(|e| format!("invalid arguments for {tool}: {e}"))
}

/// URI of the node status resource.
pub const STATUS_URI: &str = "mcpflow://node/status";

/// Adds the node's entries to `catalog`. `sampling` must be the bridge whose
/// [`SamplingBridge::executors`] the node was opened with.
pub fn register(catalog: &mut Catalog, sampling: &SamplingBridge) {
    agents::register(catalog, sampling);
    swarms::register(catalog);
    security::register(catalog);
    compliance::register(catalog);
    learning::register(catalog);
    memory::register(catalog);
    catalog.add_tool(
        Tool::new(
            "node_status",
            "Status of this mcpflow node: id, version, uptime, store backend and health.",
            object(json!({ "type": "object", "properties": {}, "additionalProperties": false })),
        )
        .with_annotations(ToolAnnotations::new().read_only(true).idempotent(true)),
        |call: ToolCall| async move {
            let status = call.cx.node().status().await;
            let value = serde_json::to_value(&status)
                .map_err(|e| rmcp::ErrorData::internal_error(e.to_string(), None))?;
            Ok(CallToolResult::structured(value).into())
        },
    );
    catalog.add_resource(
        Resource::new(STATUS_URI, "node-status")
            .with_description("This node's status as JSON (same as the node_status tool).")
            .with_mime_type("application/json"),
        |read: ResourceRead| async move {
            let status = read.cx.node().status().await;
            let text = serde_json::to_string_pretty(&status)
                .map_err(|e| rmcp::ErrorData::internal_error(e.to_string(), None))?;
            Ok(ReadResourceResult::new(vec![
                ResourceContents::text(text, read.uri).with_mime_type("application/json"),
            ])
            .into())
        },
    );
}
