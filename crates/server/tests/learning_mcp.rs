//! The learning tools over real Streamable HTTP: route_task ranks running agents, trajectories
//! feed the router, a learning cycle runs per ten ended trajectories, bad input is refused.

mod support;

use serde_json::{Value, json};
use support::TestServer;

fn error_text(result: &Value) -> String {
    assert_eq!(
        result["isError"], true,
        "expected an error result: {result}"
    );
    result["content"][0]["text"].as_str().unwrap().to_owned()
}

async fn spawn(server: &TestServer, s: &str, name: &str, caps: &[&str]) -> String {
    let r = server
        .call_tool(
            s,
            "agent_spawn",
            json!({ "name": name, "role": "worker", "capabilities": caps,
                    "executor": { "kind": "scripted", "reply": "ok" } }),
        )
        .await;
    r["structuredContent"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_router_ranks_learns_from_trajectories_and_refuses_bad_input() {
    let server = TestServer::start().await;
    let s = server.initialize().await;
    let good = spawn(&server, &s, "good", &["review"]).await;
    let bad = spawn(&server, &s, "bad", &["review"]).await;
    let other = spawn(&server, &s, "other", &["deploy"]).await;

    let ranked = server
        .call_tool(
            &s,
            "route_task",
            json!({ "task_type": "review", "text": "review this pull request", "capabilities": ["review"] }),
        )
        .await;
    let list = ranked["structuredContent"]["ranked"].as_array().unwrap();
    let names: Vec<&str> = list.iter().map(|r| r["agent"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "only capable agents: {ranked}");
    assert!(!names.contains(&other.as_str()));
    assert!(list.iter().all(|r| r["explanation"].is_string()
        || r["explanation"].is_object()
        || r["explanation"].is_array()));
    assert!(ranked["structuredContent"]["embedder"].is_string());

    // Ten trajectories: `good` succeeds, `bad` fails; the tenth runs a learning cycle.
    let mut cycles = 0;
    for i in 0..10 {
        let agent = if i % 2 == 0 { &good } else { &bad };
        let t = server
            .call_tool(
                &s,
                "trajectory_start",
                json!({ "agent": agent, "task_type": "review", "text": format!("review change {i}"), "capabilities": ["review"] }),
            )
            .await;
        let id = t["structuredContent"]["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("{t}"));
        let step = server
            .call_tool(
                &s,
                "trajectory_step",
                json!({ "id": id, "action": "read diff", "ms": 3 }),
            )
            .await;
        assert!(step["isError"] != true, "{step}");
        let (outcome, reward) = if agent == &good {
            ("success", 1.0)
        } else {
            ("failure", -1.0)
        };
        let end = server
            .call_tool(
                &s,
                "trajectory_end",
                json!({ "id": id, "outcome": outcome, "reward": reward, "latency_ms": 20 }),
            )
            .await;
        assert_eq!(
            end["structuredContent"]["trajectory"]["agent"], *agent,
            "{end}"
        );
        if !end["structuredContent"]["cycle"].is_null() {
            cycles += 1;
        }
    }
    assert_eq!(cycles, 1, "a cycle per ten ended trajectories");
    let stats = server.call_tool(&s, "learning_stats", json!({})).await;
    assert_eq!(stats["structuredContent"]["cycles"], 1, "{stats}");
    assert_eq!(
        stats["structuredContent"]["trajectories_seen"], 10,
        "{stats}"
    );

    // After learning, the agent that succeeded ranks first.
    let ranked = server
        .call_tool(
            &s,
            "route_task",
            json!({ "task_type": "review", "text": "review change 11", "capabilities": ["review"] }),
        )
        .await;
    assert_eq!(
        ranked["structuredContent"]["ranked"][0]["agent"], good,
        "{ranked}"
    );

    // Bad input.
    let unknown = server
        .call_tool(
            &s,
            "trajectory_end",
            json!({ "id": 999_999, "outcome": "success", "reward": 1.0, "latency_ms": 1 }),
        )
        .await;
    error_text(&unknown);
    let outcome = server
        .call_tool(
            &s,
            "trajectory_end",
            json!({ "id": 0, "outcome": "maybe", "reward": 1.0, "latency_ms": 1 }),
        )
        .await;
    assert!(error_text(&outcome).contains("success or failure"));
    let reward = server
        .call_tool(
            &s,
            "trajectory_start",
            json!({ "agent": "nobody", "task_type": "review" }),
        )
        .await;
    error_text(&reward);
    let none = server
        .call_tool(
            &s,
            "route_task",
            json!({ "task_type": "x", "capabilities": ["flying"] }),
        )
        .await;
    error_text(&none);
}
