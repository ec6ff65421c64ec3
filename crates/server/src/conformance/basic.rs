//! The fixtures of the 2025-era scenarios: content types, logging, progress, sampling,
//! elicitation, resources, templates, subscriptions, prompts, completion.

#![allow(deprecated)] // sampling and logging are legacy features the suite still exercises.

use mcpflow_model::Event;
use rmcp::ErrorData as McpError;
use rmcp::model::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::mcp::{Asked, Catalog, Completer, PromptGet, ResourceRead, TaskMode, ToolCall};

/// A 1×1 red PNG.
pub const RED_PIXEL_PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";
/// 8 samples of silence: mono, 16-bit, 8 kHz WAV.
pub const SILENT_WAV: &str =
    "UklGRjQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YRAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// Text of `test_simple_text`.
pub const SIMPLE_TEXT: &str = "This is a simple text response for testing.";
/// Text of `test_error_handling`.
pub const ERROR_TEXT: &str = "This tool intentionally returns an error for testing";
/// Text of `test://static-text`.
pub const STATIC_TEXT: &str = "This is the content of the static text resource.";
/// A resource whose updates subscribers receive when `test_update_resource` is called.
pub const WATCHED_URI: &str = "test://watched-resource";

pub(super) fn schema(value: Value) -> JsonObject {
    object(value)
}

pub(super) fn no_args() -> JsonObject {
    schema(json!({ "type": "object", "properties": {} }))
}

pub(super) fn text(s: impl Into<String>) -> CallToolResponse {
    CallToolResult::success(vec![ContentBlock::text(s)]).into()
}

/// Adds the 2025-era fixtures to `catalog`.
pub fn register(catalog: &mut Catalog) {
    tools(catalog);
    resources(catalog);
    prompts(catalog);
}

fn tools(catalog: &mut Catalog) {
    catalog.add_tool(
        Tool::new("test_simple_text", "Returns a fixed text", no_args()),
        |_call: ToolCall| async { Ok(text(SIMPLE_TEXT)) },
    );
    catalog.add_tool(
        Tool::new("test_image_content", "Returns a 1x1 PNG image", no_args()),
        |_call: ToolCall| async {
            Ok(
                CallToolResult::success(vec![ContentBlock::image(RED_PIXEL_PNG, "image/png")])
                    .into(),
            )
        },
    );
    catalog.add_tool(
        Tool::new("test_audio_content", "Returns a short WAV clip", no_args()),
        |_call: ToolCall| async {
            Ok(CallToolResult::success(vec![ContentBlock::audio(SILENT_WAV, "audio/wav")]).into())
        },
    );
    catalog.add_tool(
        Tool::new(
            "test_embedded_resource",
            "Returns an embedded text resource",
            no_args(),
        ),
        |_call: ToolCall| async {
            Ok(CallToolResult::success(vec![ContentBlock::resource(
                ResourceContents::text(
                    "This is an embedded resource content.",
                    "test://embedded-resource",
                )
                .with_mime_type("text/plain"),
            )])
            .into())
        },
    );
    catalog.add_tool(
        Tool::new(
            "test_multiple_content_types",
            "Returns text, an image and an embedded resource",
            no_args(),
        ),
        |_call: ToolCall| async {
            Ok(CallToolResult::success(vec![
                ContentBlock::text("Multiple content types test:"),
                ContentBlock::image(RED_PIXEL_PNG, "image/png"),
                ContentBlock::resource(
                    ResourceContents::text(
                        r#"{"test":"data","value":123}"#,
                        "test://mixed-content-resource",
                    )
                    .with_mime_type("application/json"),
                ),
            ])
            .into())
        },
    );
    catalog.add_tool(
        Tool::new(
            "test_tool_with_logging",
            "Sends three log messages while it runs",
            no_args(),
        ),
        |call: ToolCall| async move {
            let cx = &call.cx;
            cx.log(
                LoggingLevel::Info,
                "conformance",
                json!("Tool execution started"),
            )
            .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            cx.log(
                LoggingLevel::Info,
                "conformance",
                json!("Tool processing data"),
            )
            .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            cx.log(
                LoggingLevel::Info,
                "conformance",
                json!("Tool execution completed"),
            )
            .await;
            Ok(text("Tool with logging executed successfully"))
        },
    );
    catalog.add_tool(
        Tool::new(
            "test_tool_with_progress",
            "Reports progress 0, 50, 100 of 100",
            no_args(),
        ),
        |call: ToolCall| async move {
            let cx = &call.cx;
            for (i, step) in [0.0, 50.0, 100.0].into_iter().enumerate() {
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                cx.progress(step, Some(100.0), None).await;
            }
            Ok(text("Tool with progress executed successfully"))
        },
    );
    catalog.add_tool(
        Tool::new(
            "test_error_handling",
            "Always fails (as a tool error)",
            no_args(),
        ),
        |_call: ToolCall| async {
            Ok(CallToolResult::error(vec![ContentBlock::text(ERROR_TEXT)]).into())
        },
    );
    catalog.add_tool(
        Tool::new(
            "test_sampling",
            "Asks the client's model to answer a prompt",
            schema(json!({
                "type": "object",
                "properties": { "prompt": { "type": "string", "description": "The prompt to send to the LLM" } },
                "required": ["prompt"]
            })),
        ),
        |call: ToolCall| async move {
            let prompt = call.str_arg("prompt")?.to_owned();
            let params: CreateMessageRequestParams = serde_json::from_value(json!({
                "messages": [{ "role": "user", "content": { "type": "text", "text": prompt } }],
                "maxTokens": 100
            }))
            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
            match call.cx.ask_sampling("sampling", params, call.input_responses.as_ref()).await {
                Ok(Asked::Answer(result)) => {
                    let reply = match &result.message.content {
                        SamplingContent::Single(SamplingMessageContentBlock::Text(t)) => t.text.clone(),
                        other => serde_json::to_string(other).unwrap_or_default(),
                    };
                    Ok(text(format!("LLM response: {reply}")))
                }
                Ok(Asked::Pending(pending)) => Ok(pending.into()),
                Err(e) => Ok(CallToolResult::error(vec![ContentBlock::text(e.message)]).into()),
            }
        },
    );
    catalog.add_tool(
        Tool::new(
            "test_elicitation",
            "Asks the user for a username and email",
            schema(json!({
                "type": "object",
                "properties": { "message": { "type": "string", "description": "The message to show the user" } },
                "required": ["message"]
            })),
        ),
        |call: ToolCall| async move {
            let message = call.str_arg("message")?.to_owned();
            let form = json!({
                "type": "object",
                "properties": {
                    "username": { "type": "string", "description": "User's response" },
                    "email": { "type": "string", "description": "User's email address" }
                },
                "required": ["username", "email"]
            });
            elicit(call, &message, form, "User response").await
        },
    );
    catalog.add_tool(
        Tool::new(
            "test_elicitation_sep1034_defaults",
            "Asks for a form whose fields all have defaults (SEP-1034)",
            no_args(),
        ),
        |call: ToolCall| async move {
            let form = json!({
                "type": "object",
                "properties": {
                    "name": { "type": "string", "default": "John Doe" },
                    "age": { "type": "integer", "default": 30 },
                    "score": { "type": "number", "default": 95.5 },
                    "status": { "type": "string", "enum": ["active", "inactive", "pending"], "default": "active" },
                    "verified": { "type": "boolean", "default": true }
                }
            });
            elicit(call, "Please review and update the form fields with defaults", form, "Elicitation completed").await
        },
    );
    catalog.add_tool(
        Tool::new(
            "test_elicitation_sep1330_enums",
            "Asks for a form with every enum variant (SEP-1330)",
            no_args(),
        ),
        |call: ToolCall| async move {
            let form = json!({
                "type": "object",
                "properties": {
                    "untitledSingle": { "type": "string", "enum": ["option1", "option2", "option3"] },
                    "titledSingle": { "type": "string", "oneOf": [
                        { "const": "value1", "title": "First Option" },
                        { "const": "value2", "title": "Second Option" },
                        { "const": "value3", "title": "Third Option" }
                    ] },
                    "legacyEnum": { "type": "string", "enum": ["opt1", "opt2", "opt3"],
                                    "enumNames": ["Option One", "Option Two", "Option Three"] },
                    "untitledMulti": { "type": "array", "items": { "type": "string", "enum": ["option1", "option2", "option3"] } },
                    "titledMulti": { "type": "array", "items": { "anyOf": [
                        { "const": "value1", "title": "First Choice" },
                        { "const": "value2", "title": "Second Choice" },
                        { "const": "value3", "title": "Third Choice" }
                    ] } }
                }
            });
            elicit(call, "Please select options from the enum fields", form, "Elicitation completed").await
        },
    );
    catalog.add_tool(
        Tool::new(
            "json_schema_2020_12_tool",
            "Tool with JSON Schema 2020-12 features",
            schema(json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": {
                    "address": {
                        "$anchor": "addressDef",
                        "type": "object",
                        "properties": { "street": { "type": "string" }, "city": { "type": "string" } }
                    }
                },
                "properties": {
                    "name": { "type": "string" },
                    "address": { "$ref": "#/$defs/address" },
                    "contactMethod": { "type": "string", "enum": ["phone", "email"] },
                    "phone": { "type": "string" },
                    "email": { "type": "string" }
                },
                "allOf": [{ "anyOf": [{ "required": ["phone"] }, { "required": ["email"] }] }],
                "if": {
                    "properties": { "contactMethod": { "const": "phone" } },
                    "required": ["contactMethod"]
                },
                "then": { "required": ["phone"] },
                "else": { "required": ["email"] },
                "additionalProperties": false
            })),
        ),
        |call: ToolCall| async move {
            Ok(text(format!("Received: {}", Value::Object(call.arguments))))
        },
    );
    catalog.add_tool(
        Tool::new(
            "test_update_resource",
            "Changes test://watched-resource, notifying its subscribers",
            no_args(),
        ),
        |call: ToolCall| async move {
            call.cx.publish(Event::ResourceUpdated {
                uri: WATCHED_URI.to_owned(),
            });
            Ok(text(format!("{WATCHED_URI} updated")))
        },
    );
    catalog.add_tool(
        Tool::new(
            "test_reconnection",
            "Closes its HTTP response stream mid-call; the result arrives after the client resumes with Last-Event-ID (SEP-1699)",
            no_args(),
        ),
        |call: ToolCall| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let closed = call.cx.close_response_stream(Duration::from_millis(500)).await;
            // Give the client time to reconnect before the result is produced.
            tokio::time::sleep(Duration::from_millis(if closed { 1000 } else { 0 })).await;
            Ok(text("Reconnection test completed"))
        },
    );
    catalog.add_tool(
        Tool::new(
            "test_header_param",
            "Echoes its region, which clients also send as the Mcp-Param-Region header (SEP-2243)",
            schema(json!({
                "type": "object",
                "properties": {
                    "region": { "type": "string", "x-mcp-header": "Region", "description": "Where to run" },
                    "query": { "type": "string" }
                },
                "required": ["region"]
            })),
        ),
        |call: ToolCall| async move { Ok(text(format!("region={}", call.str_arg("region")?))) },
    );
    catalog.add_task_tool(
        Tool::new(
            "test_long_running_task",
            "Runs for about a second, reporting progress; runs as an MCP task for clients that support tasks",
            no_args(),
        ),
        TaskMode::Optional,
        |call: ToolCall| async move {
            for step in 1..=4 {
                tokio::select! {
                    _ = call.cx.cancelled() => {
                        return Ok(CallToolResult::error(vec![ContentBlock::text("cancelled")]).into());
                    }
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
                call.cx.progress(f64::from(step), Some(4.0), None).await;
            }
            Ok(text("Long-running task completed"))
        },
    );
}

/// Runs an elicitation and describes the answer as `"<label>: action=…, content=…"`.
async fn elicit(
    call: ToolCall,
    message: &str,
    form: Value,
    label: &str,
) -> Result<CallToolResponse, McpError> {
    let params: ElicitRequestParams = serde_json::from_value(json!({
        "mode": "form",
        "message": message,
        "requestedSchema": form
    }))
    .map_err(|e| McpError::internal_error(format!("fixture schema: {e}"), None))?;
    match call
        .cx
        .ask_elicitation("elicitation", params, call.input_responses.as_ref())
        .await
    {
        Ok(Asked::Answer(result)) => {
            let action = serde_json::to_value(result.action).unwrap_or(Value::Null);
            let action = action.as_str().unwrap_or("unknown");
            let content = result.content.unwrap_or(Value::Null);
            Ok(text(format!("{label}: action={action}, content={content}")))
        }
        Ok(Asked::Pending(pending)) => Ok(pending.into()),
        Err(e) => Ok(CallToolResult::error(vec![ContentBlock::text(e.message)]).into()),
    }
}

fn resources(catalog: &mut Catalog) {
    catalog.add_resource(
        Resource::new("test://static-text", "static-text")
            .with_description("A fixed text resource")
            .with_mime_type("text/plain"),
        |read: ResourceRead| async move {
            Ok(ReadResourceResult::new(vec![
                ResourceContents::text(STATIC_TEXT, read.uri).with_mime_type("text/plain"),
            ])
            .into())
        },
    );
    catalog.add_resource(
        Resource::new("test://static-binary", "static-binary")
            .with_description("A fixed PNG image")
            .with_mime_type("image/png"),
        |read: ResourceRead| async move {
            Ok(ReadResourceResult::new(vec![
                ResourceContents::blob(RED_PIXEL_PNG, read.uri).with_mime_type("image/png"),
            ])
            .into())
        },
    );
    catalog.add_resource(
        Resource::new(WATCHED_URI, "watched-resource")
            .with_description("A resource to subscribe to; test_update_resource changes it")
            .with_mime_type("text/plain"),
        |read: ResourceRead| async move {
            Ok(ReadResourceResult::new(vec![
                ResourceContents::text("Watched resource content", read.uri)
                    .with_mime_type("text/plain"),
            ])
            .into())
        },
    );
    let ids: Completer = Arc::new(|arg: &str, prefix: &str, _: &HashMap<String, String>| {
        if arg != "id" {
            return Vec::new();
        }
        ["1", "2", "3", "42", "123"]
            .into_iter()
            .filter(|v| v.starts_with(prefix))
            .map(str::to_owned)
            .collect()
    });
    catalog.add_template(
        ResourceTemplate::new("test://template/{id}/data", "template-data")
            .with_description("JSON data for any id")
            .with_mime_type("application/json"),
        Some(ids),
        |read: ResourceRead| async move {
            let id = read.vars.get("id").cloned().unwrap_or_default();
            let body =
                json!({ "id": id, "templateTest": true, "data": format!("Data for ID: {id}") });
            Ok(ReadResourceResult::new(vec![
                ResourceContents::text(body.to_string(), read.uri)
                    .with_mime_type("application/json"),
            ])
            .into())
        },
    );
}

fn prompts(catalog: &mut Catalog) {
    catalog.add_prompt(
        Prompt::new(
            "test_simple_prompt",
            Some("A prompt without arguments"),
            None,
        ),
        None,
        |_get: PromptGet| async {
            Ok(GetPromptResult::new(vec![PromptMessage::new_text(
                Role::User,
                "This is a simple prompt for testing.",
            )])
            .into())
        },
    );
    let words: Completer = Arc::new(|_arg: &str, prefix: &str, _: &HashMap<String, String>| {
        [
            "paris", "park", "party", "test", "testing", "hello", "world",
        ]
        .into_iter()
        .filter(|v| v.starts_with(prefix))
        .map(str::to_owned)
        .collect()
    });
    catalog.add_prompt(
        Prompt::new(
            "test_prompt_with_arguments",
            Some("A prompt with two required arguments"),
            Some(vec![
                PromptArgument::new("arg1")
                    .with_description("First test argument")
                    .with_required(true),
                PromptArgument::new("arg2")
                    .with_description("Second test argument")
                    .with_required(true),
            ]),
        ),
        Some(words),
        |get: PromptGet| async move {
            let arg1 = get.arguments.get("arg1").cloned().unwrap_or_default();
            let arg2 = get.arguments.get("arg2").cloned().unwrap_or_default();
            Ok(GetPromptResult::new(vec![PromptMessage::new_text(
                Role::User,
                format!("Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"),
            )])
            .into())
        },
    );
    catalog.add_prompt(
        Prompt::new(
            "test_prompt_with_embedded_resource",
            Some("A prompt embedding a resource"),
            Some(vec![
                PromptArgument::new("resourceUri")
                    .with_description("URI of the resource to embed")
                    .with_required(true),
            ]),
        ),
        None,
        |get: PromptGet| async move {
            let uri = get
                .arguments
                .get("resourceUri")
                .cloned()
                .unwrap_or_default();
            Ok(GetPromptResult::new(vec![
                PromptMessage::new(
                    Role::User,
                    ContentBlock::resource(
                        ResourceContents::text("Embedded resource content for testing.", uri)
                            .with_mime_type("text/plain"),
                    ),
                ),
                PromptMessage::new_text(Role::User, "Please process the embedded resource above."),
            ])
            .into())
        },
    );
    catalog.add_prompt(
        Prompt::new(
            "test_prompt_with_image",
            Some("A prompt with an image"),
            None,
        ),
        None,
        |_get: PromptGet| async {
            Ok(GetPromptResult::new(vec![
                PromptMessage::new(Role::User, ContentBlock::image(RED_PIXEL_PNG, "image/png")),
                PromptMessage::new_text(Role::User, "Please analyze the image above."),
            ])
            .into())
        },
    );
}
