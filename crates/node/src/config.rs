//! What a node needs to start.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Everything [`crate::Node::open`] needs. The CLI builds it from defaults, `mcpflow.toml`,
/// `MCPFLOW_*` variables and flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeConfig {
    /// Directory for the embedded store and the node's identity; created if missing.
    pub data_dir: PathBuf,
    /// Store URL (`sqlite:///path`, a file path, or `postgres://...`). `None` means
    /// `mcpflow.db` inside `data_dir`.
    pub store: Option<String>,
    /// The security gate on task inputs and results, swarm messages, memory writes and tool
    /// arguments.
    #[serde(default)]
    pub guard: GateConfig,
}

/// The `[guard]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    /// Scan every path (default). Off only for trusted, closed deployments: nothing is then
    /// scanned, and the status says so.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A rules file (TOML) instead of the built-in rules.
    #[serde(default)]
    pub rules: Option<PathBuf>,
    /// The semantic layer: similarity to known attacks with memory's embedding model. Off by
    /// default because of its cost — a MiniLM pass per 40-word window, tens of milliseconds
    /// per scanned text on one core, on every gated path; with it on, only the degraded
    /// stand-in embedder keeps it off (with a warning).
    #[serde(default)]
    pub semantic: bool,
}

fn yes() -> bool {
    true
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            rules: None,
            semantic: false,
        }
    }
}

impl NodeConfig {
    /// A config with the embedded SQLite store in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            store: None,
            guard: GateConfig::default(),
        }
    }
}
