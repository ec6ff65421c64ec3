//! Shared helpers for the runtime tests: a real SQLite store in a temp dir, agent specs.

#![allow(dead_code)]

use mcpflow_agents::{Runtime, RuntimeConfig, standard_executors};
use mcpflow_model::{AgentLimits, AgentSpec, ExecutorSpec, RestartPolicy};
use mcpflow_store::{DynStore, StoreUrl};
use std::time::Duration;

pub async fn sqlite(dir: &tempfile::TempDir) -> DynStore {
    let url = StoreUrl::parse(dir.path().join("m.db").to_str().unwrap()).unwrap();
    mcpflow_store::open(&url).await.unwrap()
}

pub fn config() -> RuntimeConfig {
    RuntimeConfig {
        retry_backoff: Duration::from_millis(5),
        health_interval: Duration::from_millis(200),
        ..RuntimeConfig::new("node-test")
    }
}

pub async fn runtime(store: DynStore) -> Runtime {
    Runtime::start(config(), store, standard_executors())
        .await
        .unwrap()
}

pub fn spec(name: &str, caps: &[&str], delay_ms: u64, fail_every: u32) -> AgentSpec {
    AgentSpec {
        name: name.into(),
        role: "worker".into(),
        capabilities: caps.iter().map(|c| c.to_string()).collect(),
        instructions: None,
        executor: ExecutorSpec::Scripted {
            reply: format!("{name} did {{input}}"),
            delay_ms,
            fail_every,
        },
        limits: AgentLimits::default(),
        restart: RestartPolicy::Permanent,
    }
}

/// Polls `f` until it is true (at most 10 s).
pub async fn eventually(what: &str, mut f: impl AsyncFnMut() -> bool) {
    for _ in 0..1000 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}
