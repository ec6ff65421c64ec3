//! `kill -9` mid-load: every task acknowledged to a client is still there after a restart on the
//! same data (SQLite data directory, and the real PostgreSQL) and reaches a final state; agents
//! come back with their ids and state. Driven through the CLI's own client commands.

use mcpflow_store::testing::ScratchSchema;
use serde_json::Value;
use std::time::{Duration, Instant};

mod support;

use support::{Server, mcpflow};

/// Starts `mcpflow serve` and waits until the CLI's client commands work.
fn serve(data: &std::path::Path, store: Option<&str>) -> Server {
    support::serve(data, store, |server| {
        cli(&server.url, &["agent", "list"]).is_ok()
    })
}

/// Runs a client subcommand; its JSON output, or its error message.
fn cli(url: &str, args: &[&str]) -> Result<Value, String> {
    let out = mcpflow().args(args).args(["--url", url]).output().unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout))))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn crash_and_recover(store: Option<&str>) {
    let data = tempfile::tempdir().unwrap();
    let server = serve(data.path(), store);
    let spec = data.path().join("agent.json");
    std::fs::write(
        &spec,
        r#"{"name":"slow","role":"worker","capabilities":["crash"],
            "executor":{"kind":"scripted","reply":"did {input}","delay_ms":1000}}"#,
    )
    .unwrap();
    let mut agents = Vec::new();
    for _ in 0..3 {
        let agent = cli(
            &server.url,
            &["agent", "spawn", "--spec", spec.to_str().unwrap()],
        )
        .unwrap();
        agents.push(agent["id"].as_str().unwrap().to_owned());
    }
    // A refusal is an error with the server's advice, and exit status 1.
    let err = cli(
        &server.url,
        &["task", "submit", "x", "--capability", "nope"],
    )
    .unwrap_err();
    assert!(err.contains("agent_spawn"), "{err}");
    let mut acknowledged = Vec::new();
    for i in 0..12 {
        let input = format!("job {i}");
        let task = cli(
            &server.url,
            &["task", "submit", &input, "--capability", "crash"],
        )
        .unwrap();
        acknowledged.push(task["id"].as_str().unwrap().to_owned());
    }
    // Some are done, one is running on each agent, the rest wait: now kill -9.
    std::thread::sleep(Duration::from_millis(300));
    let last = cli(
        &server.url,
        &["task", "status", acknowledged.last().unwrap()],
    )
    .unwrap();
    assert_ne!(
        last["state"], "completed",
        "the kill must come mid-load: {last}"
    );
    drop(server);

    let server = serve(data.path(), store);
    for id in &agents {
        let agent = cli(&server.url, &["agent", "status", id]).unwrap();
        assert_eq!(agent["id"], id.as_str());
        assert_eq!(agent["status"], "running", "{agent}");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for id in &acknowledged {
        loop {
            let task = cli(&server.url, &["task", "status", id]).unwrap();
            if task["state"] == "completed" {
                assert!(
                    task["result"]["text"]
                        .as_str()
                        .unwrap()
                        .starts_with("did job")
                );
                break;
            }
            assert_ne!(task["state"], "failed", "{task}");
            assert!(
                Instant::now() < deadline,
                "task {id} never finished: {task}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let mut completed = 0;
    for id in &agents {
        completed += cli(&server.url, &["agent", "status", id]).unwrap()["state"]["completed"]
            .as_u64()
            .unwrap();
    }
    assert!(
        completed >= 12,
        "agents kept and grew their state: {completed}"
    );
    let stopped = cli(
        &server.url,
        &["agent", "terminate", &agents[0], "--reason", "test over"],
    )
    .unwrap();
    assert_eq!(stopped["status"], "stopped");
}

#[test]
fn kill_9_mid_load_loses_no_acknowledged_task_on_sqlite() {
    crash_and_recover(None);
}

#[test]
fn kill_9_mid_load_loses_no_acknowledged_task_on_postgres() {
    // The schema is made and dropped on a runtime of the test's own; the server under test
    // is a separate process.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let schema = rt.block_on(ScratchSchema::create("mcpflow_crash"));
    crash_and_recover(Some(schema.url_text()));
    rt.block_on(schema.drop());
}

#[test]
fn an_agent_spawned_from_flags_keeps_its_instructions() {
    let data = tempfile::tempdir().unwrap();
    let server = serve(data.path(), None);
    let rules = "You answer questions about trains. Never discuss competitors' prices.";
    let agent = cli(
        &server.url,
        &[
            "agent",
            "spawn",
            "--name",
            "desk",
            "--role",
            "helpdesk",
            "--instructions",
            rules,
        ],
    )
    .unwrap();
    let id = agent["id"].as_str().unwrap();
    let status = cli(&server.url, &["agent", "status", id]).unwrap();
    assert_eq!(status["spec"]["instructions"], rules, "{status}");
}
