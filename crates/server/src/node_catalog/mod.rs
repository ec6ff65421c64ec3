//! The node's own MCP entries: what every mcpflow server offers, with or without
//! `--conformance`. Subsystem issues add their tools here (agents, swarms, memory, security).

use rmcp::model::{
    CallToolResult, ReadResourceResult, Resource, ResourceContents, Tool, ToolAnnotations, object,
};
use serde_json::json;

use crate::mcp::{Catalog, ResourceRead, ToolCall};
use crate::sampling::SamplingBridge;

mod agents;
mod swarms;

/// URI of the node status resource.
pub const STATUS_URI: &str = "mcpflow://node/status";

/// Adds the node's entries to `catalog`. `sampling` must be the bridge whose
/// [`SamplingBridge::executors`] the node was opened with.
pub fn register(catalog: &mut Catalog, sampling: &SamplingBridge) {
    agents::register(catalog, sampling);
    swarms::register(catalog);
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
