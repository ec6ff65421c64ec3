//! `mcpflow`: the command-line entry point. A thin layer: parse flags, load configuration,
//! start logging, and hand over to the library crates.

mod audit;
mod config;
mod embedder;
mod logging;
mod model;
mod remote;
mod scan;
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

use config::LogFormat;

/// mcpflow — an MCP server platform for supervised swarms of AI agents.
///
/// Configuration is layered: built-in defaults, then `mcpflow.toml` (or --config), then
/// `MCPFLOW_*` environment variables (nested keys with `__`, e.g. MCPFLOW_HTTP__MAX_SESSIONS),
/// then flags.
#[derive(Debug, Parser)]
#[command(name = "mcpflow", version, about, long_about, propagate_version = true)]
struct Cli {
    /// Configuration file (default: ./mcpflow.toml if it exists).
    #[arg(long, global = true, env = "MCPFLOW_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    log_format: Option<LogFormat>,

    /// Log filter, e.g. `info` or `mcpflow=debug,rmcp=warn` (RUST_LOG overrides it).
    #[arg(long, global = true, value_name = "FILTER")]
    log_level: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the MCP server (Streamable HTTP at /mcp and WebSocket at /ws, or stdio).
    Serve(serve::ServeArgs),
    /// Print the effective configuration (after every layer) as TOML-compatible JSON.
    Config,
    /// Scan JSON Lines for prompt injection, jailbreaks, PII, poisoning and escalation
    /// (`--eval` to measure against labels).
    Scan(scan::ScanArgs),
    /// Verify, search and prove entries of the tamper-evident audit log.
    Audit(audit::AuditArgs),
    /// Run a benchmark and print its results.
    #[command(subcommand)]
    Bench(mcpflow_bench::BenchCommand),
    /// Install and check the embedding model (all-MiniLM-L6-v2) used by semantic memory.
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// Spawn, list, inspect and stop agents on a running server (over MCP).
    Agent {
        #[command(flatten)]
        target: remote::Target,
        #[command(subcommand)]
        command: remote::AgentCommand,
    },
    /// Submit, inspect and cancel tasks on a running server (over MCP).
    Task {
        #[command(flatten)]
        target: remote::Target,
        #[command(subcommand)]
        command: remote::TaskCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mcpflow: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut flags = config::FlagOverrides {
        log_format: cli.log_format,
        log_level: cli.log_level.clone(),
        ..Default::default()
    };
    match cli.command {
        Command::Serve(args) => {
            args.apply(&mut flags);
            let config = config::Config::load(cli.config.as_deref(), flags)?;
            logging::init(config.log_format, &config.log_level)?;
            serve::run(config, args)
        }
        Command::Config => {
            let config = config::Config::load(cli.config.as_deref(), flags)?;
            println!("{}", serde_json::to_string_pretty(&config)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(bench) => {
            let config = config::Config::load(cli.config.as_deref(), flags)?;
            logging::init(config.log_format, &config.log_level)?;
            mcpflow_bench::run(bench)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Scan(args) => scan::run(args),
        Command::Model(command) => {
            let config = config::Config::load(cli.config.as_deref(), flags)?;
            logging::init(config.log_format, &config.log_level)?;
            model::run(command)
        }
        Command::Audit(args) => {
            let config = config::Config::load(cli.config.as_deref(), flags)?;
            audit::run(args, &config.data_dir)
        }
        Command::Agent { target, command } => remote::agent(target, command),
        Command::Task { target, command } => remote::task(target, command),
    }
}
