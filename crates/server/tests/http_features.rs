//! The MCP surface over Streamable HTTP, asserted on the wire: fixture outputs (the
//! conformance suite's checks are weak in places, so the literals are checked here too),
//! subscriptions, both protocol eras, tasks, metrics, graceful shutdown.

mod support;

use mcpflow_server::conformance::{
    ERROR_TEXT, RED_PIXEL_PNG, SILENT_WAV, SIMPLE_TEXT, STATIC_TEXT, WATCHED_URI,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use support::{TestServer, find_reply, wait_for_event};

#[tokio::test]
async fn fixture_tools_return_exactly_what_the_suite_describes() {
    let server = TestServer::start().await;
    let s = server.initialize().await;

    let r = server.call_tool(&s, "test_simple_text", json!({})).await;
    assert_eq!(
        r["content"],
        json!([{ "type": "text", "text": SIMPLE_TEXT }])
    );

    let r = server.call_tool(&s, "test_image_content", json!({})).await;
    assert_eq!(
        r["content"][0],
        json!({ "type": "image", "data": RED_PIXEL_PNG, "mimeType": "image/png" })
    );

    let r = server.call_tool(&s, "test_audio_content", json!({})).await;
    assert_eq!(
        r["content"][0],
        json!({ "type": "audio", "data": SILENT_WAV, "mimeType": "audio/wav" })
    );

    let r = server
        .call_tool(&s, "test_embedded_resource", json!({}))
        .await;
    assert_eq!(
        r["content"][0]["resource"],
        json!({ "uri": "test://embedded-resource", "mimeType": "text/plain", "text": "This is an embedded resource content." })
    );

    let r = server
        .call_tool(&s, "test_multiple_content_types", json!({}))
        .await;
    let kinds: Vec<&str> = r["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["text", "image", "resource"]);
    assert_eq!(
        r["content"][2]["resource"]["text"],
        r#"{"test":"data","value":123}"#
    );

    let r = server.call_tool(&s, "test_error_handling", json!({})).await;
    assert_eq!(r["isError"], true);
    assert_eq!(r["content"][0]["text"], ERROR_TEXT);

    // The media really are what they claim to be.
    use base64_check::decode;
    assert!(decode(RED_PIXEL_PNG).starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(decode(SILENT_WAV).starts_with(b"RIFF"));
}

#[tokio::test]
async fn resources_templates_and_prompts_return_their_literals() {
    let server = TestServer::start().await;
    let s = server.initialize().await;
    let read = |uri: &'static str| json!({ "jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": { "uri": uri } });
    let (_, r) = server.rpc(Some(&s), read("test://static-text")).await;
    assert_eq!(
        r["result"]["contents"][0],
        json!({ "uri": "test://static-text", "mimeType": "text/plain", "text": STATIC_TEXT })
    );
    let (_, r) = server.rpc(Some(&s), read("test://static-binary")).await;
    assert_eq!(r["result"]["contents"][0]["blob"], RED_PIXEL_PNG);
    let (_, r) = server.rpc(Some(&s), read("test://template/123/data")).await;
    let data: Value =
        serde_json::from_str(r["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(
        data,
        json!({ "id": "123", "templateTest": true, "data": "Data for ID: 123" })
    );

    let (_, r) = server
        .rpc(
            Some(&s),
            json!({ "jsonrpc": "2.0", "id": 4, "method": "prompts/get",
                    "params": { "name": "test_prompt_with_arguments", "arguments": { "arg1": "hello", "arg2": "world" } } }),
        )
        .await;
    assert_eq!(
        r["result"]["messages"][0]["content"]["text"],
        "Prompt with arguments: arg1='hello', arg2='world'"
    );
    // A missing required prompt argument is invalid params, not a half-rendered prompt.
    let (_, r) = server
        .rpc(
            Some(&s),
            json!({ "jsonrpc": "2.0", "id": 5, "method": "prompts/get",
                    "params": { "name": "test_prompt_with_arguments", "arguments": { "arg1": "hello" } } }),
        )
        .await;
    assert_eq!(r["error"]["code"], -32602);

    let (_, r) = server
        .rpc(
            Some(&s),
            json!({ "jsonrpc": "2.0", "id": 6, "method": "completion/complete",
                    "params": { "ref": { "type": "ref/prompt", "name": "test_prompt_with_arguments" },
                                "argument": { "name": "arg1", "value": "par" } } }),
        )
        .await;
    assert_eq!(
        r["result"]["completion"]["values"],
        json!(["paris", "park", "party"])
    );
    let (_, r) = server
        .rpc(
            Some(&s),
            json!({ "jsonrpc": "2.0", "id": 7, "method": "completion/complete",
                    "params": { "ref": { "type": "ref/resource", "uri": "test://template/{id}/data" },
                                "argument": { "name": "id", "value": "4" } } }),
        )
        .await;
    assert_eq!(r["result"]["completion"]["values"], json!(["42"]));
}

#[tokio::test]
async fn subscribers_hear_updates_and_unsubscribed_clients_do_not() {
    let server = TestServer::start().await;
    let s = server.initialize().await;
    let (_, r) = server
        .rpc(Some(&s), json!({ "jsonrpc": "2.0", "id": 1, "method": "resources/subscribe", "params": { "uri": WATCHED_URI } }))
        .await;
    assert_eq!(r["result"], json!({}));
    let stream = server
        .http
        .get(server.url("/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &s)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let other = server.initialize().await;
    server
        .call_tool(&other, "test_update_resource", json!({}))
        .await;
    let update = wait_for_event(
        stream,
        |v| v["method"] == "notifications/resources/updated",
        Duration::from_secs(5),
    )
    .await
    .expect("no resources/updated within 5 s");
    assert_eq!(update["params"]["uri"], WATCHED_URI);

    // Subscribing to something that does not exist is an error, not a silent no-op.
    let (_, r) = server
        .rpc(Some(&s), json!({ "jsonrpc": "2.0", "id": 2, "method": "resources/subscribe", "params": { "uri": "test://nope" } }))
        .await;
    assert_eq!(r["error"]["code"], -32002);
}

fn modern_meta(capabilities: Value) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": capabilities,
        "io.modelcontextprotocol/clientInfo": { "name": "mcpflow-tests", "version": "1" }
    })
}

async fn modern(
    server: &TestServer,
    method: &str,
    name: Option<&str>,
    params: Value,
) -> (StatusCode, Value) {
    let body = json!({ "jsonrpc": "2.0", "id": 9, "method": method, "params": params });
    let mut request = server
        .http
        .post(server.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = name {
        request = request.header("mcp-name", name);
    }
    let response = request.body(body.to_string()).send().await.unwrap();
    let status = response.status();
    (
        status,
        find_reply(&response.text().await.unwrap(), Some(&json!(9))),
    )
}

#[tokio::test]
async fn the_2026_era_is_stateless_with_mrtr() {
    let server = TestServer::start().await;
    let (status, r) = modern(
        &server,
        "server/discover",
        None,
        json!({ "_meta": modern_meta(json!({})) }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        r["result"]["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28"))
    );
    assert_eq!(
        r["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "mcpflow"
    );

    let caps = json!({ "elicitation": {} });
    let (_, r) = modern(
        &server,
        "tools/call",
        Some("test_input_required_result_elicitation"),
        json!({ "name": "test_input_required_result_elicitation", "arguments": {}, "_meta": modern_meta(caps.clone()) }),
    )
    .await;
    assert_eq!(r["result"]["resultType"], "input_required");
    assert_eq!(
        r["result"]["inputRequests"]["user_name"]["method"],
        "elicitation/create"
    );
    let (_, r) = modern(
        &server,
        "tools/call",
        Some("test_input_required_result_elicitation"),
        json!({ "name": "test_input_required_result_elicitation", "arguments": {},
                "inputResponses": { "user_name": { "action": "accept", "content": { "name": "Ada" } } },
                "_meta": modern_meta(caps.clone()) }),
    )
    .await;
    assert_eq!(r["result"]["content"][0]["text"], "Hello, Ada!");

    // A tampered requestState is refused.
    let (_, r) = modern(
        &server,
        "tools/call",
        Some("test_input_required_result_tampered_state"),
        json!({ "name": "test_input_required_result_tampered_state", "arguments": {}, "_meta": modern_meta(caps.clone()) }),
    )
    .await;
    let state = r["result"]["requestState"].as_str().unwrap().to_owned();
    let mut tampered = state.clone().into_bytes();
    let mid = tampered.len() / 2;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    let (_, r) = modern(
        &server,
        "tools/call",
        Some("test_input_required_result_tampered_state"),
        json!({ "name": "test_input_required_result_tampered_state", "arguments": {},
                "requestState": String::from_utf8(tampered).unwrap(),
                "inputResponses": { "confirm": { "action": "accept", "content": { "ok": true } } },
                "_meta": modern_meta(caps) }),
    )
    .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");

    // Missing capability → -32021 with the capability named.
    let (status, r) = modern(
        &server,
        "tools/call",
        Some("test_missing_capability"),
        json!({ "name": "test_missing_capability", "arguments": {}, "_meta": modern_meta(json!({})) }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(r["error"]["code"], -32021);
    assert!(r["error"]["data"]["requiredCapabilities"]["sampling"].is_object());
    assert_eq!(
        server.open_sessions().await,
        0,
        "2026 requests create no sessions"
    );
}

#[tokio::test]
async fn tasks_run_report_and_cancel() {
    let server = TestServer::start().await;
    let caps = json!({ "extensions": { "io.modelcontextprotocol/tasks": {} } });
    let (_, r) = modern(
        &server,
        "tools/call",
        Some("slow_compute"),
        json!({ "name": "slow_compute", "arguments": { "seconds": 0.2 }, "_meta": modern_meta(caps.clone()) }),
    )
    .await;
    assert_eq!(r["result"]["resultType"], "task", "{r}");
    let task = r["result"]["taskId"].as_str().unwrap().to_owned();
    let get = |id: String| {
        let caps = caps.clone();
        let server = &server;
        async move {
            modern(
                server,
                "tasks/get",
                Some(&id),
                json!({ "taskId": id, "_meta": modern_meta(caps) }),
            )
            .await
            .1
        }
    };
    let mut status = String::new();
    for _ in 0..50 {
        let r = get(task.clone()).await;
        status = r["result"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if status == "completed" {
            assert_eq!(
                r["result"]["result"]["content"][0]["text"],
                "Computed after 0.2 seconds"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "completed");

    // Cancelling a long task ends it cancelled.
    let (_, r) = modern(
        &server,
        "tools/call",
        Some("slow_compute"),
        json!({ "name": "slow_compute", "arguments": { "seconds": 30 }, "_meta": modern_meta(caps.clone()) }),
    )
    .await;
    let task = r["result"]["taskId"].as_str().unwrap().to_owned();
    let (_, r) = modern(
        &server,
        "tasks/cancel",
        Some(&task),
        json!({ "taskId": task, "_meta": modern_meta(caps.clone()) }),
    )
    .await;
    assert_eq!(r["result"]["resultType"], "complete");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(get(task).await["result"]["status"], "cancelled");

    // A tool that requires tasks refuses clients without them.
    let (_, r) = modern(
        &server,
        "tools/call",
        Some("failing_job"),
        json!({ "name": "failing_job", "arguments": {}, "_meta": modern_meta(json!({})) }),
    )
    .await;
    assert_eq!(r["error"]["code"], -32021);
}

#[tokio::test]
async fn metrics_count_requests_per_method() {
    let server = TestServer::start().await;
    let s = server.initialize().await;
    server.call_tool(&s, "test_simple_text", json!({})).await;
    let (_, _) = server
        .rpc(
            Some(&s),
            json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"nope"}}),
        )
        .await;
    let page = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("mcpflow_mcp_requests_total{method=\"tools/call\",transport=\"streamable_http\",outcome=\"ok\"}"), "{page}");
    assert!(page.contains("outcome=\"error\""));
    assert!(page.contains("mcpflow_mcp_request_duration_seconds_bucket{method=\"tools/call\""));
}

#[tokio::test]
async fn graceful_shutdown_drains_in_flight_requests() {
    let server = TestServer::start().await;
    let s = server.initialize().await;
    let url = server.url("/mcp");
    let http = server.http.clone();
    let slow = tokio::spawn(async move {
        let response = http
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &s)
            .header("mcp-protocol-version", "2025-11-25")
            .body(json!({"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"slow_compute","arguments":{"seconds":0.5}}}).to_string())
            .send()
            .await
            .unwrap();
        find_reply(&response.text().await.unwrap(), Some(&json!(42)))
    });
    // Shut down only once the call is being handled.
    let mut in_flight = false;
    for _ in 0..500 {
        if server.ready.in_flight() > 0 {
            in_flight = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(in_flight, "the slow call never showed up in flight");
    let addr = server.addr;
    let stopped = tokio::time::timeout(Duration::from_secs(10), server.stop()).await;
    assert!(stopped.is_ok(), "shutdown did not finish");
    let reply = slow.await.unwrap();
    assert_eq!(
        reply["result"]["content"][0]["text"], "Computed after 0.5 seconds",
        "{reply}"
    );
    // And nothing listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

mod base64_check {
    /// A tiny standard-alphabet decoder, enough to check the fixtures' magic numbers.
    pub fn decode(s: &str) -> Vec<u8> {
        let value = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => 0,
        };
        let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
        let mut out = Vec::new();
        for chunk in bytes.chunks(4) {
            let mut n = 0u32;
            for (i, &c) in chunk.iter().enumerate() {
                n |= u32::from(value(c)) << (18 - 6 * i);
            }
            out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
        }
        out
    }
}
