//! The `mcpflow` binary as users run it: help, configuration layering, HTTP serving with JSON
//! logs and a clean exit on SIGTERM, stdio serving with a clean stdout and exit on EOF.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn mcpflow() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcpflow"));
    command.env_remove("RUST_LOG").env_remove("MCPFLOW_CONFIG");
    command
}

#[test]
fn help_names_every_subcommand_and_serve_flag() {
    let out = mcpflow().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for word in ["serve", "config", "bench", "--log-format", "--config"] {
        assert!(text.contains(word), "--help lacks {word}:\n{text}");
    }
    let out = mcpflow().args(["serve", "--help"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--listen",
        "--data-dir",
        "--store",
        "--stdio",
        "--conformance",
    ] {
        assert!(text.contains(flag), "serve --help lacks {flag}:\n{text}");
    }
}

#[test]
fn config_layers_env_over_file_and_flags_over_env() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mcpflow.toml"),
        "log_level = \"debug\"\n[http]\nmax_sessions = 3\n",
    )
    .unwrap();
    let out = mcpflow()
        .current_dir(dir.path())
        .env("MCPFLOW_HTTP__MAX_SESSIONS", "7")
        .args(["--log-level", "warn", "config"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(config["http"]["max_sessions"], 7);
    assert_eq!(config["log_level"], "warn");
    let bad = mcpflow()
        .current_dir(dir.path())
        .env("MCPFLOW_HTTP__MAX_SESSIONS", "many")
        .arg("config")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .to_lowercase()
            .contains("max_sessions")
    );
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

#[test]
fn serves_http_with_json_logs_and_exits_zero_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let child = mcpflow()
        .args([
            "--log-format",
            "json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data.path())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let mut stderr = BufReader::new(child.0.stderr.take().unwrap());
    let mut addr = None;
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while addr.is_none() && Instant::now() < deadline {
        line.clear();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let log: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        if let Some(a) = log.get("addr").and_then(Value::as_str) {
            addr = Some(a.to_owned());
        }
    }
    let addr = addr.expect("the server never logged its address");
    let mut ready = false;
    // Up to 90 s: a debug build loads the embedding model at start, on a busy CI machine.
    for _ in 0..1800 {
        if http_get(&addr, "/readyz").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ready, "never ready");
    assert!(
        http_get(&addr, "/healthz")
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = child.0.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit:?}");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    for line in rest.lines() {
        serde_json::from_str::<Value>(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
    }
}

#[test]
fn stdio_keeps_stdout_for_the_protocol_and_exits_on_eof() {
    let data = tempfile::tempdir().unwrap();
    let child = mcpflow()
        .args(["--log-level", "debug", "serve", "--stdio", "--data-dir"])
        .arg(data.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let mut stdin = child.0.stdin.take().unwrap();
    let messages = [
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"node_status","arguments":{}}}),
    ];
    for m in &messages {
        writeln!(stdin, "{m}").unwrap();
    }
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut replies = Vec::new();
    while replies.len() < 2 {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "stdout closed early"
        );
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout carried a non-JSON line ({e}): {line}"));
        assert_eq!(v["jsonrpc"], "2.0");
        replies.push(v);
    }
    assert_eq!(
        replies[1]["result"]["structuredContent"]["store"]["backend"],
        "sqlite"
    );
    drop(stdin); // EOF
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.0.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "did not exit at EOF");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success());
    let mut logs = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(
        logs.contains("stdio session over"),
        "logs went elsewhere: {logs}"
    );
}

#[test]
fn serve_stops_at_start_naming_a_missing_tls_file() {
    let data = tempfile::tempdir().unwrap();
    let missing = data.path().join("missing-server.crt");
    let output = mcpflow()
        .env("MCPFLOW_HTTP__TLS__CERT_FILE", &missing)
        .env(
            "MCPFLOW_HTTP__TLS__KEY_FILE",
            data.path().join("server.key"),
        )
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("[http.tls] cert_file") && stderr.contains("missing-server.crt"),
        "{stderr}"
    );
}
