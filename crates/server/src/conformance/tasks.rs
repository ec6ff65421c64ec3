//! Fixtures of the SEP-2663 scenarios (MCP tasks): a sync tool, task-supporting tools that
//! sleep, fail as a tool, fail as a protocol, wait for input, and one that gathers input over
//! MRTR before becoming a task.

use rmcp::ErrorData as McpError;
use rmcp::model::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

use super::basic::{no_args, schema, text};
use crate::mcp::{Asked, Catalog, TaskMode, ToolCall};

fn ask_form(message: &str, field: &str, kind: &str) -> Result<ElicitRequestParams, McpError> {
    serde_json::from_value(json!({
        "mode": "form",
        "message": message,
        "requestedSchema": {
            "type": "object",
            "properties": { field: { "type": kind } },
            "required": [field]
        }
    }))
    .map_err(|e| McpError::internal_error(e.to_string(), None))
}

fn answer_field(result: &ElicitResult, field: &str) -> String {
    result
        .content
        .as_ref()
        .and_then(|c| c.get(field))
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        .unwrap_or_default()
}

pub(super) fn register(catalog: &mut Catalog) {
    catalog.add_tool(
        Tool::new(
            "greet",
            "Greets by name (never a task)",
            schema(json!({
                "type": "object",
                "properties": { "name": { "type": "string" } },
                "required": ["name"]
            })),
        ),
        |call: ToolCall| async move { Ok(text(format!("Hello, {}!", call.str_arg("name")?))) },
    );
    catalog.add_task_tool(
        Tool::new(
            "slow_compute",
            "Sleeps `seconds` seconds, then answers; a task for clients that support tasks",
            schema(json!({
                "type": "object",
                "properties": { "seconds": { "type": "number", "minimum": 0, "maximum": 300 } }
            })),
        ),
        TaskMode::Optional,
        |call: ToolCall| async move {
            let seconds = match call.arguments.get("seconds") {
                None => 1.0,
                Some(_) => call.f64_arg("seconds")?,
            };
            if !(0.0..=300.0).contains(&seconds) {
                return Err(McpError::invalid_params("seconds must be between 0 and 300", None));
            }
            tokio::select! {
                _ = call.cx.cancelled() => return Ok(CallToolResult::error(vec![ContentBlock::text("cancelled")]).into()),
                _ = tokio::time::sleep(Duration::from_secs_f64(seconds)) => {}
            }
            Ok(text(format!("Computed after {seconds} seconds")))
        },
    );
    catalog.add_task_tool(
        Tool::new(
            "failing_job",
            "Runs about a second, then reports a tool error; requires a task-capable client",
            no_args(),
        ),
        TaskMode::Required,
        |_call: ToolCall| async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(
                CallToolResult::error(vec![ContentBlock::text("The job failed (as designed)")])
                    .into(),
            )
        },
    );
    catalog.add_task_tool(
        Tool::new(
            "protocol_error_job",
            "Fails with a protocol-level error, which ends its task as failed",
            no_args(),
        ),
        TaskMode::Optional,
        |_call: ToolCall| async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Err(McpError::internal_error(
                "protocol_error_job failed inside the server (as designed)",
                None,
            ))
        },
    );
    catalog.add_task_tool(
        Tool::new(
            "confirm_delete",
            "Asks the user to confirm, then 'deletes'; as a task it waits in input_required",
            schema(json!({
                "type": "object",
                "properties": { "target": { "type": "string" } }
            })),
        ),
        TaskMode::Optional,
        |call: ToolCall| async move {
            let target = call
                .arguments
                .get("target")
                .and_then(Value::as_str)
                .unwrap_or("the item")
                .to_owned();
            let params = ask_form(&format!("Delete {target}?"), "confirm", "boolean")?;
            let result = match call
                .cx
                .ask_elicitation("confirm", params, call.input_responses.as_ref())
                .await?
            {
                Asked::Answer(result) => result,
                Asked::Pending(pending) => return Ok(pending.into()),
            };
            let confirmed = result
                .content
                .as_ref()
                .and_then(|c| c.get("confirm"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            Ok(text(if confirmed {
                format!("Deleted {target}")
            } else {
                format!("Kept {target}")
            }))
        },
    );
    catalog.add_task_tool(
        Tool::new(
            "multi_input",
            "Asks two questions at once; as a task both wait in input_required",
            no_args(),
        ),
        TaskMode::Optional,
        |call: ToolCall| async move {
            let responses = call.input_responses.as_ref();
            let (name, color) = tokio::join!(
                call.cx.ask_elicitation(
                    "name",
                    ask_form("Your name?", "name", "string")?,
                    responses
                ),
                call.cx.ask_elicitation(
                    "color",
                    ask_form("Your favorite color?", "color", "string")?,
                    responses
                ),
            );
            match (name?, color?) {
                (Asked::Answer(n), Asked::Answer(c)) => Ok(text(format!(
                    "{} likes {}",
                    answer_field(&n, "name"),
                    answer_field(&c, "color")
                ))),
                (n, c) => {
                    // Outside a task (MRTR): ask for whatever is still missing, together.
                    let mut requests = BTreeMap::new();
                    for asked in [n, c] {
                        if let Asked::Pending(p) = asked {
                            requests.extend(p.input_requests.unwrap_or_default());
                        }
                    }
                    Ok(InputRequiredResult::new(Some(requests), None).into())
                }
            }
        },
    );
    catalog.add_task_tool(
        Tool::new(
            "test_tool_with_task",
            "Asks the user's name over MRTR, then continues as a task that uses it",
            no_args(),
        ),
        TaskMode::RequiredDeferred,
        |call: ToolCall| async move {
            let params = ask_form("What is your name?", "name", "string")?;
            let answer = match call
                .cx
                .ask_elicitation("user_name", params, call.input_responses.as_ref())
                .await?
            {
                Asked::Answer(answer) => answer,
                Asked::Pending(pending) => return Ok(pending.into()),
            };
            let name = answer_field(&answer, "name");
            Ok(call.cx.spawn_task(move |_cx| async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok(text(format!("Task finished for user_name={name}")))
            }))
        },
    );
}
