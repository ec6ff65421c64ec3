//! Fixtures of the SEP-2575 stateless-server scenario (2026-07-28): capability checks,
//! in-band questions, logging gated by `logLevel`, and hooks that really change the tool and
//! prompt lists so subscribers hear `list_changed`.

#![allow(deprecated)] // sampling and logging are legacy features the suite still exercises.

use rmcp::model::*;
use serde_json::json;

use super::basic::{no_args, text};
use crate::mcp::{Asked, Catalog, PromptGet, ToolCall};

const DYNAMIC_TOOL: &str = "test_dynamic_tool";
const DYNAMIC_PROMPT: &str = "test_dynamic_prompt";

pub(super) fn register(catalog: &mut Catalog) {
    catalog.add_tool(
        Tool::new(
            "test_missing_capability",
            "Needs the client's sampling capability; without it the call fails with -32021",
            no_args(),
        ),
        |call: ToolCall| async move {
            let params: CreateMessageRequestParams = serde_json::from_value(json!({
                "messages": [{ "role": "user", "content": { "type": "text", "text": "Say hello" } }],
                "maxTokens": 20
            }))
            .map_err(|e| rmcp::ErrorData::internal_error(e.to_string(), None))?;
            match call.cx.ask_sampling("hello", params, call.input_responses.as_ref()).await? {
                Asked::Answer(_) => Ok(text("The client answered")),
                Asked::Pending(pending) => Ok(pending.into()),
            }
        },
    );
    catalog.add_tool(
        Tool::new(
            "test_streaming_elicitation",
            "Asks the user a question in-band (input_required on 2026-07-28, never a separate request)",
            no_args(),
        ),
        |call: ToolCall| async move {
            let params: ElicitRequestParams = serde_json::from_value(json!({
                "mode": "form",
                "message": "Continue?",
                "requestedSchema": {
                    "type": "object",
                    "properties": { "ok": { "type": "boolean" } },
                    "required": ["ok"]
                }
            }))
            .map_err(|e| rmcp::ErrorData::internal_error(e.to_string(), None))?;
            match call.cx.ask_elicitation("continue", params, call.input_responses.as_ref()).await? {
                Asked::Answer(answer) => Ok(text(format!("Answer: {}", answer.content.unwrap_or_default()))),
                Asked::Pending(pending) => Ok(pending.into()),
            }
        },
    );
    catalog.add_tool(
        Tool::new(
            "test_logging_tool",
            "Logs at info; only sent when the request asked for logs (logLevel)",
            no_args(),
        ),
        |call: ToolCall| async move {
            call.cx
                .log(
                    LoggingLevel::Info,
                    "conformance",
                    json!("test_logging_tool ran"),
                )
                .await;
            Ok(text("Logged (if a logLevel was requested)"))
        },
    );
    catalog.add_tool(
        Tool::new(
            "test_trigger_tool_change",
            "Adds or removes test_dynamic_tool, changing the tool list",
            no_args(),
        ),
        |call: ToolCall| async move {
            let mut added = false;
            call.cx.catalog().update(|catalog| {
                if !catalog.remove_tool(DYNAMIC_TOOL) {
                    added = true;
                    catalog.add_tool(
                        Tool::new(
                            DYNAMIC_TOOL,
                            "Appears and disappears with test_trigger_tool_change",
                            no_args(),
                        ),
                        |_call: ToolCall| async { Ok(text("dynamic")) },
                    );
                }
            });
            Ok(text(if added {
                "test_dynamic_tool added"
            } else {
                "test_dynamic_tool removed"
            }))
        },
    );
    catalog.add_tool(
        Tool::new(
            "test_trigger_prompt_change",
            "Adds or removes test_dynamic_prompt, changing the prompt list",
            no_args(),
        ),
        |call: ToolCall| async move {
            let mut added = false;
            call.cx.catalog().update(|catalog| {
                if !catalog.remove_prompt(DYNAMIC_PROMPT) {
                    added = true;
                    catalog.add_prompt(
                        Prompt::new(
                            DYNAMIC_PROMPT,
                            Some("Appears and disappears with test_trigger_prompt_change"),
                            None,
                        ),
                        None,
                        |_get: PromptGet| async {
                            Ok(GetPromptResult::new(vec![PromptMessage::new_text(
                                Role::User,
                                "dynamic",
                            )])
                            .into())
                        },
                    );
                }
            });
            Ok(text(if added {
                "test_dynamic_prompt added"
            } else {
                "test_dynamic_prompt removed"
            }))
        },
    );
}
