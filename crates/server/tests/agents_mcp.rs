//! The agent and task tools and resources over real Streamable HTTP.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use support::{TestServer, wait_for_event};

fn scripted(name: &str, delay_ms: u64) -> Value {
    json!({
        "name": name,
        "role": "worker",
        "capabilities": ["echo"],
        "executor": { "kind": "scripted", "reply": "echo: {input}", "delay_ms": delay_ms }
    })
}

fn error_text(result: &Value) -> String {
    assert_eq!(
        result["isError"], true,
        "expected an error result: {result}"
    );
    result["content"][0]["text"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn spawn_list_status_submit_wait_and_terminate() {
    let server = TestServer::start().await;
    let s = server.initialize().await;
    let agent = server.call_tool(&s, "agent_spawn", scripted("e1", 0)).await;
    let id = agent["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(agent["structuredContent"]["status"], "running");
    assert_eq!(agent["structuredContent"]["mailbox"]["capacity"], 64);

    let list = server
        .call_tool(&s, "agent_list", json!({ "capability": "echo" }))
        .await;
    assert_eq!(list["structuredContent"]["items"][0]["id"], id);
    let status = server
        .call_tool(&s, "agent_status", json!({ "id": id }))
        .await;
    assert_eq!(status["structuredContent"]["spec"]["name"], "e1");

    let done = server
        .call_tool(
            &s,
            "task_submit",
            json!({ "input": "hi", "capabilities": ["echo"], "wait": true }),
        )
        .await;
    assert_eq!(done["content"][0]["text"], "echo: hi");
    assert_eq!(done["structuredContent"]["state"], "completed");
    let task_id = done["structuredContent"]["id"].as_str().unwrap().to_owned();
    let result = server
        .call_tool(&s, "task_result", json!({ "id": task_id }))
        .await;
    assert_eq!(result["content"][0]["text"], "echo: hi");
    let listed = server
        .call_tool(&s, "task_list", json!({ "state": "completed" }))
        .await;
    assert_eq!(listed["structuredContent"]["items"][0]["id"], task_id);

    let stopped = server
        .call_tool(&s, "agent_terminate", json!({ "id": id, "reason": "done" }))
        .await;
    assert_eq!(stopped["structuredContent"]["status"], "stopped");
    let again = server
        .call_tool(&s, "agent_terminate", json!({ "id": id }))
        .await;
    assert!(error_text(&again).contains(&id));
}

#[tokio::test]
async fn bad_input_is_an_actionable_tool_error() {
    let server = TestServer::start().await;
    let s = server.initialize().await;
    let mut bad = scripted("x", 0);
    bad["limits"] = json!({ "mailbox": 0 });
    assert!(error_text(&server.call_tool(&s, "agent_spawn", bad).await).contains("limits.mailbox"));
    let mut unknown = scripted("x", 0);
    unknown["colour"] = json!("red");
    assert!(error_text(&server.call_tool(&s, "agent_spawn", unknown).await).contains("colour"));
    assert!(
        error_text(
            &server
                .call_tool(&s, "agent_status", json!({ "id": "agent-nope" }))
                .await
        )
        .contains("agent_list")
    );
    assert!(
        error_text(
            &server
                .call_tool(&s, "task_status", json!({ "id": "task-nope" }))
                .await
        )
        .contains("task-nope")
    );
    assert!(
        error_text(
            &server
                .call_tool(&s, "task_submit", json!({ "input": "x" }))
                .await
        )
        .contains("agent_spawn")
    );
    server.call_tool(&s, "agent_spawn", scripted("x", 0)).await;
    let huge = "x".repeat(mcpflow_model::MAX_TASK_INPUT + 1);
    assert!(
        error_text(
            &server
                .call_tool(&s, "task_submit", json!({ "input": huge }))
                .await
        )
        .contains("input")
    );
    assert!(
        error_text(
            &server
                .call_tool(&s, "task_submit", json!({ "input": 5 }))
                .await
        )
        .contains("invalid arguments")
    );
    assert!(
        error_text(
            &server
                .call_tool(&s, "agent_list", json!({ "limit": 0 }))
                .await
        )
        .contains("limit")
    );
}

#[tokio::test]
async fn a_full_mailbox_is_refused_and_unfinished_results_say_so() {
    let server = TestServer::start().await;
    let s = server.initialize().await;
    let mut slow = scripted("slow", 2_000);
    slow["limits"] = json!({ "mailbox": 1 });
    let id = server.call_tool(&s, "agent_spawn", slow).await["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut refused = None;
    let mut accepted = Vec::new();
    for i in 0..4 {
        let r = server
            .call_tool(
                &s,
                "task_submit",
                json!({ "input": format!("t{i}"), "agent": id }),
            )
            .await;
        if r["isError"] == true {
            refused = Some(error_text(&r));
        } else {
            accepted.push(r["structuredContent"]["id"].as_str().unwrap().to_owned());
        }
    }
    assert!(refused.unwrap().contains("mailbox is full"));
    let pending = server
        .call_tool(&s, "task_result", json!({ "id": accepted[0] }))
        .await;
    assert!(error_text(&pending).contains("wait: true"));
    let cancelled = server
        .call_tool(
            &s,
            "task_cancel",
            json!({ "id": accepted[0], "reason": "changed my mind" }),
        )
        .await;
    assert_eq!(cancelled["structuredContent"]["state"], "cancelled");
    let result = server
        .call_tool(&s, "task_result", json!({ "id": accepted[0] }))
        .await;
    assert!(error_text(&result).contains("changed my mind"));
    let twice = server
        .call_tool(&s, "task_cancel", json!({ "id": accepted[0] }))
        .await;
    assert!(error_text(&twice).contains("already ended"));
}

#[tokio::test]
async fn task_and_agent_resources_notify_subscribers_of_every_change() {
    let server = TestServer::start().await;
    let s = server.initialize().await;
    let agent = server
        .call_tool(&s, "agent_spawn", scripted("slow", 300))
        .await;
    let agent_id = agent["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let task = server
        .call_tool(
            &s,
            "task_submit",
            json!({ "input": "x", "agent": agent_id }),
        )
        .await;
    let task_id = task["structuredContent"]["id"].as_str().unwrap().to_owned();
    let task_uri = format!("mcpflow://tasks/{task_id}");
    let (_, r) = server
        .rpc(Some(&s), json!({ "jsonrpc": "2.0", "id": 1, "method": "resources/subscribe", "params": { "uri": task_uri } }))
        .await;
    assert_eq!(r["result"], json!({}), "{r}");
    let stream = server
        .http
        .get(server.url("/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &s)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let uri = task_uri.clone();
    let update = wait_for_event(
        stream,
        move |v| v["method"] == "notifications/resources/updated" && v["params"]["uri"] == uri,
        Duration::from_secs(5),
    )
    .await
    .expect("a task state change is notified");
    assert_eq!(update["params"]["uri"], task_uri);
    // Reading the resource gives the task as JSON.
    let (_, read) = server
        .rpc(Some(&s), json!({ "jsonrpc": "2.0", "id": 2, "method": "resources/read", "params": { "uri": task_uri } }))
        .await;
    let text = read["result"]["contents"][0]["text"].as_str().unwrap();
    let body: Value = serde_json::from_str(text).unwrap();
    assert_eq!(body["id"], task_id);
    let (_, read) = server
        .rpc(Some(&s), json!({ "jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": { "uri": format!("mcpflow://agents/{agent_id}") } }))
        .await;
    assert!(
        read["result"]["contents"][0]["text"]
            .as_str()
            .unwrap()
            .contains(&agent_id)
    );
    let (_, missing) = server
        .rpc(Some(&s), json!({ "jsonrpc": "2.0", "id": 4, "method": "resources/read", "params": { "uri": "mcpflow://tasks/task-nope" } }))
        .await;
    assert_eq!(missing["error"]["code"], -32002, "{missing}");
}
