//! `kill -9` mid-load: every task acknowledged to a client is still there after a restart on the
//! same data (SQLite data directory, and the real PostgreSQL) and reaches a final state; agents
//! come back with their ids and state. Driven through the CLI's own client commands.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn mcpflow() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcpflow"));
    command.env_remove("RUST_LOG").env_remove("MCPFLOW_CONFIG");
    command
}

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `mcpflow serve` on a free port and waits until it is ready.
fn serve(data: &std::path::Path, store: Option<&str>) -> Server {
    let mut command = mcpflow();
    command
        .args([
            "--log-format",
            "json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data);
    if let Some(store) = store {
        command.args(["--store", store]);
    }
    let mut child = command
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut addr = None;
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while addr.is_none() && Instant::now() < deadline {
        line.clear();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Ok(log) = serde_json::from_str::<Value>(&line)
            && let Some(a) = log.get("addr").and_then(Value::as_str)
        {
            addr = Some(a.to_owned());
        }
    }
    let addr = addr.expect("the server never logged its address");
    // Keep draining its logs so it never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while stderr.read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    let server = Server {
        child,
        url: format!("http://{addr}/mcp"),
    };
    for _ in 0..200 {
        if std::net::TcpStream::connect(&addr).is_ok()
            && cli(&server.url, &["agent", "list"]).is_ok()
        {
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the server at {addr} never became ready");
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
    let base = std::env::var("MCPFLOW_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("mcpflow_crash_{}", std::process::id());
    let psql = |sql: &str| {
        let status = Command::new("psql")
            .args([base.as_str(), "-qc", sql])
            .env("PGOPTIONS", "--client-min-messages=warning")
            .status()
            .expect("psql is needed to prepare the PostgreSQL schema");
        assert!(status.success(), "psql {sql}");
    };
    psql(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    ));
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
    crash_and_recover(Some(&url));
    psql(&format!("DROP SCHEMA {schema} CASCADE"));
}
