//! MCP-sampling agents: the model is the MCP client that submitted the task (a real rmcp
//! client answering `sampling/createMessage`).

#![allow(deprecated)] // sampling is SEP-2577-deprecated in rmcp 3.x, still used by clients.

mod support;

use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, CreateMessageRequestParams,
    CreateMessageResult, Implementation, SamplingContent, SamplingMessage,
    SamplingMessageContentBlock,
};
use rmcp::service::{RequestContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, ErrorData, RoleClient, ServiceExt};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use support::TestServer;

/// A client whose "model" shouts the prompt back, remembering what it was asked.
#[derive(Clone, Default)]
struct Shouter {
    asked: Arc<Mutex<Vec<CreateMessageRequestParams>>>,
}

impl ClientHandler for Shouter {
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        self.asked.lock().unwrap().push(params.clone());
        let prompt = match &params.messages[0].content {
            SamplingContent::Single(SamplingMessageContentBlock::Text(t)) => t.text.clone(),
            _ => String::new(),
        };
        let mut result = CreateMessageResult::new(
            SamplingMessage::assistant_text(prompt.to_uppercase()),
            "shouter-1".into(),
        );
        result.stop_reason = Some("endTurn".into());
        Ok(result)
    }

    fn get_info(&self) -> ClientConfig {
        let capabilities: ClientCapabilities =
            serde_json::from_value(json!({ "sampling": {} })).unwrap();
        ClientConfig::new(capabilities, Implementation::new("shouter", "1.0"))
    }
}

async fn call<H: ClientHandler>(
    client: &RunningService<RoleClient, H>,
    tool: &str,
    args: Value,
) -> Value {
    let Value::Object(args) = args else {
        unreachable!()
    };
    let result = client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
        .await
        .unwrap();
    serde_json::to_value(result).unwrap()
}

#[tokio::test]
async fn the_submitting_client_is_the_model() {
    let server = TestServer::start().await;
    let shouter = Shouter::default();
    let client = shouter
        .clone()
        .serve(StreamableHttpClientTransport::from_uri(server.url("/mcp")))
        .await
        .unwrap();
    let agent = call(
        &client,
        "agent_spawn",
        json!({
            "name": "sampler", "role": "writer", "capabilities": ["write"],
            "executor": { "kind": "mcp_sampling", "max_tokens": 64 }
        }),
    )
    .await;
    assert_eq!(
        agent["structuredContent"]["executor"], "mcp_sampling",
        "{agent}"
    );

    let done = call(
        &client,
        "task_submit",
        json!({ "input": "hello model", "capabilities": ["write"], "wait": true }),
    )
    .await;
    assert_eq!(done["structuredContent"]["state"], "completed", "{done}");
    assert_eq!(done["content"][0]["text"], "HELLO MODEL", "{done}");
    let asked = shouter.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].max_tokens, 64);
    assert!(
        asked[0]
            .system_prompt
            .as_deref()
            .unwrap_or_default()
            .contains("sampler")
    );

    // Submitted without waiting: the route stays open until the task ends.
    let queued = call(
        &client,
        "task_submit",
        json!({ "input": "later", "capabilities": ["write"] }),
    )
    .await;
    let id = queued["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let result = call(&client, "task_result", json!({ "id": id, "wait": true })).await;
    assert_eq!(result["content"][0]["text"], "LATER", "{result}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_client_that_cannot_sample_gets_a_clear_failure() {
    let server = TestServer::start().await;
    let plain = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("plain", "1.0"),
    )
    .serve(StreamableHttpClientTransport::from_uri(server.url("/mcp")))
    .await
    .unwrap();
    call(
        &plain,
        "agent_spawn",
        json!({
            "name": "sampler", "role": "writer", "capabilities": ["write"],
            "executor": { "kind": "mcp_sampling", "max_tokens": 64 }
        }),
    )
    .await;
    let done = call(
        &plain,
        "task_submit",
        json!({ "input": "hi", "capabilities": ["write"], "wait": true }),
    )
    .await;
    assert_eq!(done["isError"], true, "{done}");
    let text = done["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("sampling capability"), "{text}");
    plain.cancel().await.unwrap();
}
