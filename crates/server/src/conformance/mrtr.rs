//! Fixtures of the SEP-2322 scenarios (multi round-trip requests, 2026-07-28): tools and a
//! prompt that gather input over several rounds with `input_required` results.

use rmcp::ErrorData as McpError;
use rmcp::model::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

use super::basic::{no_args, text};
use crate::mcp::{Catalog, Cx, PromptGet, ToolCall};

fn input(value: Value) -> InputRequest {
    serde_json::from_value(value).expect("fixture input requests are valid")
}

fn ask_text(message: &str, field: &str) -> InputRequest {
    input(json!({
        "method": "elicitation/create",
        "params": {
            "mode": "form",
            "message": message,
            "requestedSchema": {
                "type": "object",
                "properties": { field: { "type": "string" } },
                "required": [field]
            }
        }
    }))
}

fn ask_model(prompt: &str, max_tokens: u32) -> InputRequest {
    input(json!({
        "method": "sampling/createMessage",
        "params": {
            "messages": [{ "role": "user", "content": { "type": "text", "text": prompt } }],
            "maxTokens": max_tokens
        }
    }))
}

fn ask_roots() -> InputRequest {
    input(json!({ "method": "roots/list", "params": {} }))
}

/// Where a multi-input request stands.
enum Gathered {
    /// Every answer is in.
    All(BTreeMap<String, Value>),
    /// Ask (again) for what is missing.
    Ask(InputRequiredResult),
}

/// Collects the answers to `questions` from the retry's `inputResponses`; if any is missing,
/// asks for the missing ones again (SEP-2322 recommends re-requesting over failing). Extra,
/// unknown answers are ignored. `state`, if given, is sealed into `requestState`.
fn gather(
    cx: &Cx,
    responses: Option<&InputResponses>,
    questions: Vec<(&str, InputRequest)>,
    state: Option<Value>,
) -> Result<Gathered, McpError> {
    let mut answers = BTreeMap::new();
    let mut missing = InputRequests::new();
    for (key, question) in questions {
        match responses.and_then(|r| r.get(key)) {
            Some(answer) if answer.is_object() => {
                answers.insert(key.to_owned(), answer.clone());
            }
            Some(other) => {
                return Err(McpError::invalid_params(
                    format!(
                        "inputResponses.{key} must be an object (the result of the request), got {other}"
                    ),
                    None,
                ));
            }
            None => {
                missing.insert(key.to_owned(), question);
            }
        }
    }
    if missing.is_empty() {
        return Ok(Gathered::All(answers));
    }
    let sealed = state.map(|s| cx.seal_state(&s)).transpose()?;
    Ok(Gathered::Ask(InputRequiredResult::new(
        Some(missing),
        sealed,
    )))
}

/// The `content.<field>` of an accepted elicitation answer.
fn form_field(answer: &Value, field: &str) -> Option<String> {
    answer
        .get("content")
        .and_then(|c| c.get(field))
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
}

/// The text of a sampling answer.
fn model_text(answer: &Value) -> String {
    match answer.get("content") {
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        Some(block) => block
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        None => String::new(),
    }
}

fn root_uris(answer: &Value) -> Vec<String> {
    answer
        .get("roots")
        .and_then(Value::as_array)
        .map(|roots| {
            roots
                .iter()
                .filter_map(|r| r.get("uri").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Opens this fixture's `requestState` and checks it belongs to `tool` at `round`.
fn check_state(cx: &Cx, token: Option<&str>, tool: &str, round: u64) -> Result<Value, McpError> {
    let token = token.ok_or_else(|| {
        McpError::invalid_params(
            "requestState is missing: echo the one from the previous round",
            None,
        )
    })?;
    let state = cx.open_state(token)?;
    if state.get("tool").and_then(Value::as_str) != Some(tool)
        || state.get("round").and_then(Value::as_u64) != Some(round)
    {
        return Err(McpError::invalid_params(
            "requestState belongs to another request or round",
            None,
        ));
    }
    Ok(state)
}

pub(super) fn register(catalog: &mut Catalog) {
    catalog.add_tool(
        Tool::new(
            "test_input_required_result_elicitation",
            "Asks the user's name over MRTR, then greets them",
            no_args(),
        ),
        |call: ToolCall| async move {
            match gather(
                &call.cx,
                call.input_responses.as_ref(),
                vec![("user_name", ask_text("What is your name?", "name"))],
                None,
            )? {
                Gathered::Ask(ask) => Ok(ask.into()),
                Gathered::All(answers) => match form_field(&answers["user_name"], "name") {
                    Some(name) => Ok(text(format!("Hello, {name}!"))),
                    // Declined or empty: ask again rather than fail.
                    None => Ok(InputRequiredResult::new(
                        Some(BTreeMap::from([(
                            "user_name".to_owned(),
                            ask_text("What is your name?", "name"),
                        )])),
                        None,
                    )
                    .into()),
                },
            }
        },
    );
    catalog.add_tool(
        Tool::new(
            "test_input_required_result_sampling",
            "Asks the client's model a question over MRTR",
            no_args(),
        ),
        |call: ToolCall| async move {
            match gather(
                &call.cx,
                call.input_responses.as_ref(),
                vec![(
                    "capital_question",
                    ask_model("What is the capital of France?", 100),
                )],
                None,
            )? {
                Gathered::Ask(ask) => Ok(ask.into()),
                Gathered::All(answers) => Ok(text(format!(
                    "The model answered: {}",
                    model_text(&answers["capital_question"])
                ))),
            }
        },
    );
    catalog.add_tool(
        Tool::new(
            "test_input_required_result_list_roots",
            "Asks the client for its roots over MRTR",
            no_args(),
        ),
        |call: ToolCall| async move {
            match gather(
                &call.cx,
                call.input_responses.as_ref(),
                vec![("client_roots", ask_roots())],
                None,
            )? {
                Gathered::Ask(ask) => Ok(ask.into()),
                Gathered::All(answers) => Ok(text(format!(
                    "Client roots: {}",
                    root_uris(&answers["client_roots"]).join(", ")
                ))),
            }
        },
    );
    catalog.add_tool(
        Tool::new(
            "test_input_required_result_request_state",
            "Round-trips a sealed requestState",
            no_args(),
        ),
        |call: ToolCall| async move {
            request_state_tool(call, "test_input_required_result_request_state").await
        },
    );
    catalog.add_tool(
        Tool::new(
            "test_input_required_result_tampered_state",
            "Rejects a requestState that was altered",
            no_args(),
        ),
        |call: ToolCall| async move {
            request_state_tool(call, "test_input_required_result_tampered_state").await
        },
    );
    catalog.add_tool(
        Tool::new(
            "test_input_required_result_multiple_inputs",
            "Asks for a name, a model greeting and the roots at once",
            no_args(),
        ),
        |call: ToolCall| async move {
            const TOOL: &str = "test_input_required_result_multiple_inputs";
            if call.input_responses.is_some() {
                check_state(&call.cx, call.request_state.as_deref(), TOOL, 1)?;
            }
            match gather(
                &call.cx,
                call.input_responses.as_ref(),
                vec![
                    ("user_name", ask_text("What is your name?", "name")),
                    ("greeting", ask_model("Generate a greeting", 50)),
                    ("client_roots", ask_roots()),
                ],
                Some(json!({ "tool": TOOL, "round": 1 })),
            )? {
                Gathered::Ask(ask) => Ok(ask.into()),
                Gathered::All(a) => Ok(text(format!(
                    "name={}, greeting={}, roots={}",
                    form_field(&a["user_name"], "name").unwrap_or_default(),
                    model_text(&a["greeting"]),
                    root_uris(&a["client_roots"]).join(",")
                ))),
            }
        },
    );
    catalog.add_tool(
        Tool::new(
            "test_input_required_result_multi_round",
            "Asks two questions in two rounds, carrying state between them",
            no_args(),
        ),
        |call: ToolCall| async move { multi_round(call).await },
    );
    catalog.add_tool(
        Tool::new(
            "test_input_required_result_capabilities",
            "Asks only for what the client declared it can answer",
            no_args(),
        ),
        |call: ToolCall| async move {
            let caps = call.cx.request().client_capabilities().unwrap_or_default();
            let mut questions = Vec::new();
            if caps.elicitation.is_some() {
                questions.push(("user_name", ask_text("What is your name?", "name")));
            }
            if caps.sampling.is_some() {
                questions.push(("greeting", ask_model("Generate a greeting", 50)));
            }
            if caps.roots.is_some() {
                questions.push(("client_roots", ask_roots()));
            }
            if questions.is_empty() {
                return Ok(text(
                    "The client declared no capability to answer with; nothing to ask",
                ));
            }
            match gather(&call.cx, call.input_responses.as_ref(), questions, None)? {
                Gathered::Ask(ask) => Ok(ask.into()),
                Gathered::All(a) => Ok(text(format!(
                    "Received answers for: {}",
                    a.keys().cloned().collect::<Vec<_>>().join(", ")
                ))),
            }
        },
    );
    catalog.add_prompt(
        Prompt::new(
            "test_input_required_result_prompt",
            Some("A prompt that asks the user for context first (MRTR)"),
            None,
        ),
        None,
        |get: PromptGet| async move {
            match gather(
                &get.cx,
                get.input_responses.as_ref(),
                vec![(
                    "user_context",
                    ask_text("What context should the prompt use?", "context"),
                )],
                None,
            )? {
                Gathered::Ask(ask) => Ok(ask.into()),
                Gathered::All(a) => {
                    let context = form_field(&a["user_context"], "context").unwrap_or_default();
                    Ok(GetPromptResult::new(vec![PromptMessage::new_text(
                        Role::User,
                        format!("Use this context: {context}"),
                    )])
                    .into())
                }
            }
        },
    );
}

async fn request_state_tool(call: ToolCall, tool: &str) -> Result<CallToolResponse, McpError> {
    let confirm = || {
        input(json!({
            "method": "elicitation/create",
            "params": {
                "mode": "form",
                "message": "Please confirm",
                "requestedSchema": {
                    "type": "object",
                    "properties": { "ok": { "type": "boolean" } },
                    "required": ["ok"]
                }
            }
        }))
    };
    if call.input_responses.is_none() && call.request_state.is_none() {
        let state = call.cx.seal_state(&json!({ "tool": tool, "round": 1 }))?;
        let questions = BTreeMap::from([("confirm".to_owned(), confirm())]);
        return Ok(InputRequiredResult::new(Some(questions), Some(state)).into());
    }
    check_state(&call.cx, call.request_state.as_deref(), tool, 1)?;
    match gather(
        &call.cx,
        call.input_responses.as_ref(),
        vec![("confirm", confirm())],
        Some(json!({ "tool": tool, "round": 1 })),
    )? {
        Gathered::Ask(ask) => Ok(ask.into()),
        Gathered::All(a) => {
            let ok = a["confirm"]
                .get("content")
                .and_then(|c| c.get("ok"))
                .cloned()
                .unwrap_or(Value::Null);
            Ok(text(format!("state-ok: confirmed={ok}")))
        }
    }
}

async fn multi_round(call: ToolCall) -> Result<CallToolResponse, McpError> {
    const TOOL: &str = "test_input_required_result_multi_round";
    let step1 = || ask_text("Step 1: What is your name?", "name");
    let step2 = || ask_text("Step 2: What is your favorite color?", "color");
    let responses = call.input_responses.as_ref();
    let Some(token) = call.request_state.as_deref() else {
        let state = call.cx.seal_state(&json!({ "tool": TOOL, "round": 1 }))?;
        return Ok(InputRequiredResult::new(
            Some(BTreeMap::from([("step1".to_owned(), step1())])),
            Some(state),
        )
        .into());
    };
    let state = call.cx.open_state(token)?;
    if state.get("tool").and_then(Value::as_str) != Some(TOOL) {
        return Err(McpError::invalid_params(
            "requestState belongs to another request",
            None,
        ));
    }
    match state.get("round").and_then(Value::as_u64) {
        Some(1) => match responses
            .and_then(|r| r.get("step1"))
            .and_then(|a| form_field(a, "name"))
        {
            None => Ok(InputRequiredResult::new(
                Some(BTreeMap::from([("step1".to_owned(), step1())])),
                Some(token.to_owned()),
            )
            .into()),
            Some(name) => {
                let next = call
                    .cx
                    .seal_state(&json!({ "tool": TOOL, "round": 2, "name": name }))?;
                Ok(InputRequiredResult::new(
                    Some(BTreeMap::from([("step2".to_owned(), step2())])),
                    Some(next),
                )
                .into())
            }
        },
        Some(2) => {
            let name = state
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            match responses
                .and_then(|r| r.get("step2"))
                .and_then(|a| form_field(a, "color"))
            {
                None => Ok(InputRequiredResult::new(
                    Some(BTreeMap::from([("step2".to_owned(), step2())])),
                    Some(token.to_owned()),
                )
                .into()),
                Some(color) => Ok(text(format!("{name}'s favorite color is {color}"))),
            }
        }
        _ => Err(McpError::invalid_params(
            "requestState has an unknown round",
            None,
        )),
    }
}
