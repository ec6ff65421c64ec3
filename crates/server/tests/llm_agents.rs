//! An agent backed by an OpenAI-compatible server, end to end over MCP: `agent_spawn` →
//! `task_submit` → the provider's streamed reply becomes task progress and the task's result;
//! a provider that keeps failing fails the task with its reason after the agent's attempts.

mod support;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::TestServer;

async fn completions(State(calls): State<Arc<AtomicUsize>>, body: axum::Json<Value>) -> Response {
    calls.fetch_add(1, Ordering::SeqCst);
    let prompt = body["messages"][1]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if body["model"] == "broken" {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "error": { "message": "no GPUs left", "type": "server_error" } })),
        )
            .into_response();
    }
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({ "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
        )
    };
    let mut stream = String::new();
    for word in prompt.split_whitespace() {
        stream.push_str(&chunk(
            json!({ "content": format!("{} ", word.len()) }),
            Value::Null,
        ));
    }
    stream.push_str(&chunk(json!({}), json!("stop")));
    stream.push_str("data: [DONE]\n\n");
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from(stream))
        .unwrap()
}

async fn fake_provider() -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1"), calls)
}

fn llm_agent(base_url: &str, model: &str) -> Value {
    json!({
        "name": "counter", "role": "analyst", "capabilities": [model],
        "executor": { "kind": "openai_compatible", "base_url": base_url, "model": model },
        "limits": { "max_attempts": 2 }
    })
}

#[tokio::test]
async fn an_openai_compatible_agent_does_the_work() {
    let (base_url, calls) = fake_provider().await;
    let server = TestServer::start().await;
    let s = server.initialize().await;
    let spawned = server
        .call_tool(&s, "agent_spawn", llm_agent(&base_url, "counting"))
        .await;
    assert_eq!(
        spawned["structuredContent"]["executor"], "openai_compatible",
        "{spawned}"
    );

    let mut events = server.node.agents().events();
    let done = server
        .call_tool(
            &s,
            "task_submit",
            json!({ "input": "count these words", "capabilities": ["counting"], "wait": true }),
        )
        .await;
    assert_eq!(done["structuredContent"]["state"], "completed", "{done}");
    assert_eq!(done["content"][0]["text"], "5 5 5 ", "{done}");
    assert_eq!(done["structuredContent"]["result"]["stop_reason"], "stop");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let mut streamed = String::new();
    while let Ok(event) = events.try_recv() {
        if let mcpflow_agents::RuntimeEvent::TaskProgress { text, .. } = event {
            streamed.push_str(&text);
        }
    }
    assert_eq!(
        streamed, "5 5 5 ",
        "the reply arrived as progress, piece by piece"
    );
}

#[tokio::test]
async fn a_failing_provider_fails_the_task_with_its_reason() {
    let (base_url, calls) = fake_provider().await;
    let server = TestServer::start().await;
    let s = server.initialize().await;
    server
        .call_tool(&s, "agent_spawn", llm_agent(&base_url, "broken"))
        .await;
    let done = server
        .call_tool(
            &s,
            "task_submit",
            json!({ "input": "anything", "capabilities": ["broken"], "wait": true }),
        )
        .await;
    assert_eq!(done["isError"], true, "{done}");
    let text = done["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("503") && text.contains("no GPUs left") && text.contains("after 2 attempts"),
        "{text}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
