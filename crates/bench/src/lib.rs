//! Benchmarks that live with the code they measure.
//!
//! Every benchmark runs mcpflow and a reference in the same process run, on the same
//! machine state, and prints the ratio — absolute numbers alone say little on a shared
//! 2-core box. Run them with `mcpflow bench <name>`.

mod agents;
mod audit;
mod embed;
mod guard;
mod http;
mod load;
mod memory;
mod routing;
mod swarm;

use clap::Subcommand;

pub use agents::AgentsBenchArgs;
pub use audit::AuditBenchArgs;
pub use embed::EmbedBenchArgs;
pub use guard::GuardBenchArgs;
pub use http::HttpBenchArgs;
pub use memory::MemoryBenchArgs;
pub use routing::RoutingBenchArgs;
pub use swarm::SwarmBenchArgs;

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// `tools/call` over Streamable HTTP: mcpflow (full stack: origin checks, body gate,
    /// metrics, store-backed sessions) against a bare rmcp server serving the same tool.
    Http(HttpBenchArgs),
    /// Agents: spawn time and memory per idle agent, and task throughput through the scripted
    /// executor, each against a raw tokio baseline (task + bounded mpsc mailbox).
    Agents(AgentsBenchArgs),
    /// Swarm messaging: routed, acknowledged messages/s and delivery latency per topology at
    /// 100 and 10k members, against raw tokio mpsc delivery.
    Swarm(SwarmBenchArgs),
    /// Security gate: per-KB latency of the rules path (and with PII) on one core, against
    /// memchr and an Aho-Corasick-only keyword scan over the same texts.
    Guard(GuardBenchArgs),
    /// Vector index: our HNSW against hnswlib on the same vectors and parameters — build
    /// time, recall@k against exact search, queries/s on 1 and 2 threads.
    Memory(MemoryBenchArgs),
    /// Routing: a seeded simulation of agents with hidden per-task-type skill — cumulative
    /// regret against an oracle and success rates of the learned router, random,
    /// round-robin and least-loaded; then a task-type switch (A, B, A) with EWC
    /// consolidation on and off.
    Routing(RoutingBenchArgs),
    /// Embeddings: our in-process MiniLM encoder against sentence-transformers (PyTorch) on
    /// the same texts and weights — texts/s at batch 32, single-text p50/p99, agreement.
    Embed(EmbedBenchArgs),
    /// Audit log: durable appends/s with group commit from concurrent producers, p50/p99
    /// append latency, against one-row-per-transaction SQLite (synchronous=FULL) and the raw
    /// fsync rate of the same disk.
    Audit(AuditBenchArgs),
}

/// Runs one benchmark, printing results to stdout.
pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Http(args) => http::run(args),
        BenchCommand::Agents(args) => agents::run(args),
        BenchCommand::Swarm(args) => swarm::run(args),
        BenchCommand::Guard(args) => guard::run(args),
        BenchCommand::Memory(args) => memory::run(args),
        BenchCommand::Routing(args) => routing::run(args),
        BenchCommand::Embed(args) => embed::run(args),
        BenchCommand::Audit(args) => audit::run(args),
    }
}
