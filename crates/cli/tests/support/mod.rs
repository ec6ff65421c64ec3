//! Shared by the binary tests that run `mcpflow serve` as a child process.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a starting server may take: a debug build loads the embedding model and embeds
/// the semantic layer's exemplars, on a CI machine that may be busy compiling.
pub const START_WITHIN: Duration = Duration::from_secs(90);

/// The `mcpflow` binary under test, without the caller's log or config settings.
pub fn mcpflow() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcpflow"));
    command.env_remove("RUST_LOG").env_remove("MCPFLOW_CONFIG");
    command
}

/// A running `mcpflow serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `mcpflow serve` on a free port with JSON logs and waits until `ready` says it
/// answers (checked every 50 ms, up to [`START_WITHIN`]).
pub fn serve(
    data: &std::path::Path,
    store: Option<&str>,
    mut ready: impl FnMut(&Server) -> bool,
) -> Server {
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
    let deadline = Instant::now() + START_WITHIN;
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
    while Instant::now() < deadline {
        if ready(&server) {
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the server at {addr} never became ready");
}
