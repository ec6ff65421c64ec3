//! `mcpflow scan`: the security gate over JSON Lines (see `mcpflow_guard::jsonl` for the
//! format).

use anyhow::Context;
use clap::Args;
use mcpflow_guard::jsonl::{self, ProcessOptions};
use mcpflow_guard::{Guard, GuardConfig};
use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `mcpflow scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// JSON Lines input: one `{"id", "text", "channel"?, "label"?}` object per line.
    /// Default (or `-`): stdin.
    #[arg(value_name = "FILE")]
    input: Option<PathBuf>,

    /// Compare verdicts with each line's boolean `label` (true = attack) and print recall,
    /// precision and false-positive rate instead of per-line reports. A line counts as flagged
    /// when any category other than PII reaches its warn threshold.
    #[arg(long)]
    eval: bool,

    /// Add a `redacted` field (PII replaced by placeholders) to every report.
    #[arg(long, conflicts_with = "eval")]
    redact: bool,

    /// Rules file (TOML) to use instead of the built-in rules.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,

    /// Skip the semantic layer (similarity to known attacks with the installed embedding
    /// model; without the model it is skipped anyway, with a warning): rules and PII only.
    #[arg(long)]
    no_semantic: bool,
}

/// Runs the scan; exit status 1 when any line was rejected (all others are still processed).
pub fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let config = GuardConfig {
        rules_path: args.rules.clone(),
        ..GuardConfig::default()
    };
    let mut guard = Guard::new(config)?;
    if !args.no_semantic {
        let embedder = crate::embedder::ModelEmbedder::load(&mcpflow_embed::default_model_dir());
        match mcpflow_node::semantic_layer(std::sync::Arc::new(embedder)) {
            Ok(layer) => guard = guard.with_semantic(std::sync::Arc::new(layer)),
            Err(why) => eprintln!("mcpflow scan: semantic layer off: {why}"),
        }
    }
    let options = ProcessOptions {
        eval: args.eval,
        redact: args.redact,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err = std::io::stderr().lock();
    let summary = match args.input.as_deref() {
        None => jsonl::process(&guard, std::io::stdin().lock(), &mut out, &mut err, options)?,
        Some(p) if p.as_os_str() == "-" => {
            jsonl::process(&guard, std::io::stdin().lock(), &mut out, &mut err, options)?
        }
        Some(p) => {
            let file = std::fs::File::open(p)
                .with_context(|| format!("cannot open input {}", p.display()))?;
            jsonl::process(&guard, BufReader::new(file), &mut out, &mut err, options)?
        }
    };
    if args.eval {
        let mut value = summary.counts.to_json();
        value["rejected_lines"] = summary.rejected.into();
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    }
    out.flush()?;
    if summary.rejected > 0 {
        eprintln!(
            "mcpflow scan: {} line(s) rejected, {} scanned",
            summary.rejected, summary.scanned
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
