//! The HTTP executors against a local server speaking each provider's wire format: streamed
//! and whole replies, tool use, error responses, throttling, and streams cut short.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt;
use mcpflow_executors::{
    Anthropic, ApiKey, ExecError, Executor, Job, OpenAiCompatible, Progress, ToolSpec,
};
use serde_json::{Value, json};

const KEY: &str = "sk-test-0123456789abcdef";

/// What the fake provider saw.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(HeaderMap, Value)>>>);

impl Seen {
    fn last(&self) -> (HeaderMap, Value) {
        self.0.lock().unwrap().last().cloned().expect("a request")
    }
}

/// Collects streamed text.
#[derive(Default)]
struct Deltas(Mutex<Vec<String>>);

impl Progress for Deltas {
    fn delta(&self, text: &str) {
        self.0.lock().unwrap().push(text.to_owned());
    }
}

fn sse(events: Vec<String>) -> Response {
    sse_then(events, false)
}

/// An event stream, sent a piece at a time; `abort` breaks the connection at the end instead of
/// finishing the body.
fn sse_then(events: Vec<String>, abort: bool) -> Response {
    let mut pieces: Vec<Result<Bytes, std::io::Error>> = Vec::new();
    for event in events {
        // Split every event in two, mid-line, to exercise the parser's buffering.
        let bytes = event.into_bytes();
        let mid = bytes.len() / 2;
        pieces.push(Ok(Bytes::copy_from_slice(&bytes[..mid])));
        pieces.push(Ok(Bytes::copy_from_slice(&bytes[mid..])));
    }
    if abort {
        pieces.push(Err(std::io::Error::other("connection reset")));
    }
    let stream = futures::stream::iter(pieces).then(|piece| async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        piece
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap()
}

fn data(v: Value) -> String {
    format!("data: {v}\n\n")
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    data(
        json!({ "id": "c1", "object": "chat.completion.chunk", "model": "m",
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] }),
    )
}

async fn openai(State(seen): State<Seen>, headers: HeaderMap, body: axum::Json<Value>) -> Response {
    let body = body.0;
    seen.0.lock().unwrap().push((headers.clone(), body.clone()));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {KEY}"))
    {
        let message = format!(
            "Incorrect API key provided: {}.",
            headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none")
        );
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({ "error": { "message": message, "type": "invalid_request_error", "code": "invalid_api_key" } }))).into_response();
    }
    match body["model"].as_str().unwrap_or_default() {
        "text" if body["stream"] == true => sse(vec![
            chunk(json!({ "role": "assistant", "content": "" }), None),
            chunk(json!({ "content": "Hello, " }), None),
            chunk(json!({ "content": "wörld 😀" }), None),
            chunk(json!({}), Some("stop")),
            data(json!({ "id": "c1", "choices": [], "usage": { "prompt_tokens": 12, "completion_tokens": 4 } })),
            "data: [DONE]\n\n".into(),
        ]),
        "text" => axum::Json(json!({
            "id": "c1", "object": "chat.completion",
            "choices": [{ "index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null,
                "tool_calls": [{ "id": "call_1", "type": "function", "function": { "name": "lookup", "arguments": "{\"q\":\"rust\"}" } }]
            }}],
            "usage": { "prompt_tokens": 30, "completion_tokens": 9 }
        }))
        .into_response(),
        "tools" => sse(vec![
            chunk(json!({ "role": "assistant", "tool_calls": [
                { "index": 0, "id": "call_a", "type": "function", "function": { "name": "lookup", "arguments": "" } }
            ] }), None),
            chunk(json!({ "tool_calls": [{ "index": 0, "function": { "arguments": "{\"q\": \"ru" } }] }), None),
            chunk(json!({ "tool_calls": [{ "index": 0, "function": { "arguments": "st\"}" } }] }), None),
            chunk(json!({ "tool_calls": [
                { "index": 1, "id": "call_b", "type": "function", "function": { "name": "now", "arguments": "{}" } }
            ] }), None),
            chunk(json!({}), Some("tool_calls")),
            "data: [DONE]\n\n".into(),
        ]),
        "cut" => sse(vec![chunk(json!({ "content": "partial" }), None)]),
        "reset" => sse_then(vec![chunk(json!({ "content": "partial" }), None)], true),
        "midstream" => sse(vec![
            chunk(json!({ "content": "par" }), None),
            data(json!({ "error": { "message": "the model crashed", "type": "server_error" } })),
        ]),
        "busy" => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "2")],
            axum::Json(json!({ "error": { "message": "Rate limit reached", "type": "requests" } })),
        )
            .into_response(),
        "down" => (StatusCode::BAD_GATEWAY, "upstream unavailable").into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "error": { "message": format!("The model `{}` does not exist", body["model"].as_str().unwrap_or("")), "type": "invalid_request_error" } })),
        )
            .into_response(),
    }
}

fn named(event: &str, v: Value) -> String {
    format!("event: {event}\ndata: {v}\n\n")
}

async fn anthropic(
    State(seen): State<Seen>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    let body = body.0;
    seen.0.lock().unwrap().push((headers.clone(), body.clone()));
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    if header("x-api-key") != KEY {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({ "type": "error", "error": { "type": "authentication_error", "message": "invalid x-api-key" } }))).into_response();
    }
    if header("anthropic-version").is_empty() {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({ "type": "error", "error": { "type": "invalid_request_error", "message": "anthropic-version: header is required" } }))).into_response();
    }
    let start = named(
        "message_start",
        json!({ "type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "m",
        "stop_reason": null, "usage": { "input_tokens": 25, "output_tokens": 1 } } }),
    );
    match body["model"].as_str().unwrap_or_default() {
        "text" if body["stream"] == true => sse(vec![
            start,
            named("content_block_start", json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } })),
            named("ping", json!({ "type": "ping" })),
            named("content_block_delta", json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "Bonjour" } })),
            named("content_block_delta", json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": " à tous" } })),
            named("content_block_stop", json!({ "type": "content_block_stop", "index": 0 })),
            named("content_block_start", json!({ "type": "content_block_start", "index": 1, "content_block": { "type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {} } })),
            named("content_block_delta", json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "input_json_delta", "partial_json": "" } })),
            named("content_block_delta", json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "input_json_delta", "partial_json": "{\"q\": \"cr" } })),
            named("content_block_delta", json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "input_json_delta", "partial_json": "ate\", \"n\": 3}" } })),
            named("content_block_stop", json!({ "type": "content_block_stop", "index": 1 })),
            named("message_delta", json!({ "type": "message_delta", "delta": { "stop_reason": "tool_use", "stop_sequence": null }, "usage": { "output_tokens": 31 } })),
            named("message_stop", json!({ "type": "message_stop" })),
        ]),
        "text" => axum::Json(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
            "content": [{ "type": "text", "text": "Whole reply." }],
            "stop_reason": "end_turn", "usage": { "input_tokens": 10, "output_tokens": 3 }
        }))
        .into_response(),
        "overloaded" => sse(vec![
            start,
            named("error", json!({ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } })),
        ]),
        "cut" => sse(vec![
            start,
            named("content_block_start", json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } })),
            named("content_block_delta", json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "half" } })),
        ]),
        "busy" => (
            StatusCode::from_u16(529).unwrap(),
            axum::Json(json!({ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } })),
        )
            .into_response(),
        _ => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "type": "error", "error": { "type": "invalid_request_error", "message": "model: not found" } })),
        )
            .into_response(),
    }
}

async fn serve() -> (String, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route("/v1/chat/completions", post(openai))
        .route("/v1/messages", post(anthropic))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

fn job() -> Job {
    Job {
        system: Some("You are terse.".into()),
        tools: vec![ToolSpec {
            name: "lookup".into(),
            description: "Looks things up".into(),
            input_schema: json!({ "type": "object", "properties": { "q": { "type": "string" } } }),
        }],
        ..Job::new("t-1", "a-1", "Say hello")
    }
}

fn openai_client(base: &str, model: &str) -> OpenAiCompatible {
    OpenAiCompatible::new(&format!("{base}/v1"), model).with_key(ApiKey::new(KEY))
}

fn anthropic_client(base: &str, model: &str) -> Anthropic {
    Anthropic::new(base, model, ApiKey::new(KEY)).with_max_tokens(256)
}

#[tokio::test]
async fn openai_streams_text_with_usage_and_sends_the_wire_format() {
    let (base, seen) = serve().await;
    let deltas = Deltas::default();
    let reply = openai_client(&base, "text")
        .with_max_tokens(64)
        .execute(&job(), &deltas)
        .await
        .unwrap();
    assert_eq!(reply.text, "Hello, wörld 😀");
    assert_eq!(*deltas.0.lock().unwrap(), ["Hello, ", "wörld 😀"]);
    assert_eq!(reply.stop_reason.as_deref(), Some("stop"));
    assert_eq!(
        (reply.usage.input_tokens, reply.usage.output_tokens),
        (12, 4)
    );

    let (_, body) = seen.last();
    assert_eq!(
        body["messages"][0],
        json!({ "role": "system", "content": "You are terse." })
    );
    assert_eq!(
        body["messages"][1],
        json!({ "role": "user", "content": "Say hello" })
    );
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["tools"][0]["type"], "function");
    assert_eq!(body["tools"][0]["function"]["name"], "lookup");
    assert_eq!(body["tools"][0]["function"]["parameters"]["type"], "object");
}

#[tokio::test]
async fn openai_joins_streamed_tool_call_fragments() {
    let (base, _) = serve().await;
    let reply = openai_client(&base, "tools")
        .execute(&job(), &Deltas::default())
        .await
        .unwrap();
    assert_eq!(reply.stop_reason.as_deref(), Some("tool_calls"));
    assert_eq!(reply.tool_calls.len(), 2);
    assert_eq!(reply.tool_calls[0].id, "call_a");
    assert_eq!(reply.tool_calls[0].name, "lookup");
    assert_eq!(reply.tool_calls[0].arguments, json!({ "q": "rust" }));
    assert_eq!(reply.tool_calls[1].name, "now");
}

#[tokio::test]
async fn openai_whole_reply_with_tool_calls() {
    let (base, seen) = serve().await;
    let reply = openai_client(&base, "text")
        .streaming(false)
        .execute(&job(), &Deltas::default())
        .await
        .unwrap();
    assert_eq!(reply.text, "");
    assert_eq!(reply.tool_calls[0].arguments, json!({ "q": "rust" }));
    assert_eq!(
        (reply.usage.input_tokens, reply.usage.output_tokens),
        (30, 9)
    );
    assert_eq!(seen.last().1["stream"], false);
    assert!(seen.last().1.get("stream_options").is_none());
}

#[tokio::test]
async fn openai_failures_say_whether_to_retry() {
    let (base, _) = serve().await;
    let run = |model: &'static str| {
        let client = openai_client(&base, model);
        async move {
            client
                .execute(&job(), &Deltas::default())
                .await
                .unwrap_err()
        }
    };
    let cut = run("cut").await;
    assert!(
        cut.is_retryable() && cut.reason().contains("ended before"),
        "{cut}"
    );
    let reset = run("reset").await;
    assert!(
        reset.is_retryable() && reset.reason().contains("cut off"),
        "{reset}"
    );
    let mid = run("midstream").await;
    assert!(
        mid.is_retryable() && mid.reason().contains("the model crashed"),
        "{mid}"
    );
    let busy = run("busy").await;
    assert_eq!(busy.retry_after(), Some(Duration::from_secs(2)), "{busy}");
    assert!(busy.reason().contains("Rate limit reached"), "{busy}");
    let down = run("down").await;
    assert!(
        matches!(&down, ExecError::Transient(r) if r.contains("502") && r.contains("upstream unavailable")),
        "{down}"
    );
    let missing = run("no-such-model").await;
    assert!(
        matches!(&missing, ExecError::Permanent(r) if r.contains("404") && r.contains("does not exist")),
        "{missing}"
    );
}

#[tokio::test]
async fn a_rejected_key_is_permanent_and_never_echoed() {
    let (base, seen) = serve().await;
    let wrong = "sk-wrong-key-987654321";
    let err = OpenAiCompatible::new(&format!("{base}/v1"), "text")
        .with_key(ApiKey::new(wrong))
        .execute(&job(), &Deltas::default())
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.reason().contains("401") && err.reason().contains("api_key_env"),
        "{err}"
    );
    assert!(!err.to_string().contains(wrong), "the key leaked: {err}");
    // The provider did receive it, in the header.
    assert_eq!(seen.last().0["authorization"], format!("Bearer {wrong}"));
    // No key at all: no header.
    let err = OpenAiCompatible::new(&format!("{base}/v1"), "text")
        .execute(&job(), &Deltas::default())
        .await
        .unwrap_err();
    assert!(
        err.reason().contains("Incorrect API key provided: none"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = OpenAiCompatible::new(&format!("http://{addr}/v1"), "m")
        .execute(&job(), &Deltas::default())
        .await
        .unwrap_err();
    assert!(
        err.is_retryable() && err.reason().contains("cannot reach"),
        "{err}"
    );
}

#[tokio::test]
async fn anthropic_streams_text_and_tool_use() {
    let (base, seen) = serve().await;
    let deltas = Deltas::default();
    let reply = anthropic_client(&base, "text")
        .execute(&job(), &deltas)
        .await
        .unwrap();
    assert_eq!(reply.text, "Bonjour à tous");
    assert_eq!(*deltas.0.lock().unwrap(), ["Bonjour", " à tous"]);
    assert_eq!(reply.stop_reason.as_deref(), Some("tool_use"));
    assert_eq!(reply.tool_calls.len(), 1);
    assert_eq!(reply.tool_calls[0].id, "toolu_1");
    assert_eq!(
        reply.tool_calls[0].arguments,
        json!({ "q": "crate", "n": 3 })
    );
    assert_eq!(
        (reply.usage.input_tokens, reply.usage.output_tokens),
        (25, 31)
    );

    let (headers, body) = seen.last();
    assert_eq!(headers["anthropic-version"], "2023-06-01");
    assert_eq!(body["system"], "You are terse.");
    assert_eq!(body["max_tokens"], 256);
    assert_eq!(
        body["messages"],
        json!([{ "role": "user", "content": "Say hello" }])
    );
    assert_eq!(body["tools"][0]["input_schema"]["type"], "object");
}

#[tokio::test]
async fn anthropic_whole_reply() {
    let (base, _) = serve().await;
    let reply = anthropic_client(&base, "text")
        .streaming(false)
        .execute(&job(), &Deltas::default())
        .await
        .unwrap();
    assert_eq!(reply.text, "Whole reply.");
    assert_eq!(reply.stop_reason.as_deref(), Some("end_turn"));
}

#[tokio::test]
async fn anthropic_failures_say_whether_to_retry() {
    let (base, _) = serve().await;
    let run = |model: &'static str| {
        let client = anthropic_client(&base, model);
        async move {
            client
                .execute(&job(), &Deltas::default())
                .await
                .unwrap_err()
        }
    };
    let overloaded = run("overloaded").await;
    assert!(
        overloaded.retry_after().is_some() && overloaded.reason().contains("Overloaded"),
        "{overloaded}"
    );
    let cut = run("cut").await;
    assert!(
        cut.is_retryable() && cut.reason().contains("message_stop"),
        "{cut}"
    );
    let busy = run("busy").await;
    assert!(
        busy.retry_after().is_some() && busy.reason().contains("529"),
        "{busy}"
    );
    let bad = run("unknown").await;
    assert!(
        !bad.is_retryable() && bad.reason().contains("model: not found"),
        "{bad}"
    );
    let err = Anthropic::new(&base, "text", ApiKey::new("sk-ant-wrong"))
        .execute(&job(), &Deltas::default())
        .await
        .unwrap_err();
    assert!(
        !err.is_retryable() && err.reason().contains("authentication_error"),
        "{err}"
    );
}

#[test]
fn build_refuses_a_missing_key_naming_the_variable() {
    let spec = mcpflow_model::ExecutorSpec::Anthropic {
        base_url: mcpflow_model::ANTHROPIC_BASE_URL.into(),
        model: "m".into(),
        api_key_env: Some("MCPFLOW_TEST_UNSET_KEY_VARIABLE".into()),
        max_tokens: 10,
        stream: true,
    };
    let err = mcpflow_executors::build(&spec).unwrap_err();
    assert!(err.contains("MCPFLOW_TEST_UNSET_KEY_VARIABLE"), "{err}");
    let local = mcpflow_model::ExecutorSpec::OpenAiCompatible {
        base_url: "http://127.0.0.1:1/v1".into(),
        model: "m".into(),
        api_key_env: None,
        max_tokens: None,
        stream: true,
    };
    assert_eq!(
        mcpflow_executors::build(&local).unwrap().kind(),
        "openai_compatible"
    );
}
