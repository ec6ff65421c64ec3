//! `mcpflow bench agents`: spawn cost, memory per idle agent, and task throughput through the
//! scripted executor — each beside a raw tokio baseline measured in the same run.
//!
//! The baseline is the least an agent can be in tokio: a spawned task parked on a bounded mpsc
//! mailbox, its sender kept in a map. mcpflow adds what makes an agent an agent: a durable
//! record (SQLite, group-committed), registry indexes, supervision, health and an executor.
//! For tasks the baseline is a request over a worker's mpsc and a oneshot reply; mcpflow's path
//! is `submit` (durable before it returns) → scheduling → attempt → outcome → `wait`.
//!
//! Each part runs in a child process of its own, so resident memory is measured from a clean
//! start and one part's allocations never flatter another's.

use clap::Args;
use hdrhistogram::Histogram;
use mcpflow_agents::{Runtime, RuntimeConfig, standard_executors};
use mcpflow_model::{AgentLimits, AgentSpec, ExecutorSpec, RestartPolicy, TaskSpec};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Flags of `mcpflow bench agents`.
#[derive(Debug, Args)]
pub struct AgentsBenchArgs {
    /// Agents to spawn for the spawn and memory figures (try 1000000 for the 1M figure).
    #[arg(long, default_value_t = 100_000)]
    agents: usize,
    /// Tasks for the throughput figure (0 skips it).
    #[arg(long, default_value_t = 50_000)]
    tasks: usize,
    /// Tasks in flight at once (closed-loop submitters).
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Agents (or baseline workers) serving the tasks.
    #[arg(long, default_value_t = 64)]
    workers: usize,
    /// Run one part in this process and print it as JSON (used by the parent run).
    #[arg(long, hide = true)]
    part: Option<String>,
}

/// Runs the benchmark (or one part of it).
pub fn run(args: AgentsBenchArgs) -> anyhow::Result<()> {
    if let Some(part) = &args.part {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let result = rt.block_on(run_part(part, &args))?;
        println!("{result}");
        return Ok(());
    }
    println!(
        "mcpflow bench agents: {} agents, {} tasks (concurrency {}, {} workers), 2 runtime threads",
        args.agents, args.tasks, args.concurrency, args.workers
    );
    let tokio_spawn = child("spawn-tokio", &args)?;
    let ours_spawn = child("spawn-mcpflow", &args)?;
    println!("\nspawn {} agents", args.agents);
    println!(
        "  {:<10} {:>12} {:>14} {:>16}",
        "", "seconds", "agents/s", "RSS/agent (B)"
    );
    for (name, r) in [("tokio", &tokio_spawn), ("mcpflow", &ours_spawn)] {
        println!(
            "  {:<10} {:>12.3} {:>14.0} {:>16.0}",
            name,
            num(&r["seconds"]),
            num(&r["per_sec"]),
            num(&r["rss_per_agent"])
        );
    }
    println!(
        "  ratio mcpflow/tokio: time {:.2}x, memory {:.2}x",
        ratio(&ours_spawn["seconds"], &tokio_spawn["seconds"]),
        ratio(&ours_spawn["rss_per_agent"], &tokio_spawn["rss_per_agent"])
    );
    if args.tasks > 0 {
        let tokio_tasks = child("tasks-tokio", &args)?;
        let ours_tasks = child("tasks-mcpflow", &args)?;
        println!(
            "\n{} tasks through {} workers, {} in flight",
            args.tasks, args.workers, args.concurrency
        );
        println!(
            "  {:<10} {:>12} {:>12} {:>12}",
            "", "tasks/s", "p50 (ms)", "p99 (ms)"
        );
        for (name, r) in [("tokio", &tokio_tasks), ("mcpflow", &ours_tasks)] {
            println!(
                "  {:<10} {:>12.0} {:>12.3} {:>12.3}",
                name,
                num(&r["per_sec"]),
                num(&r["p50_ms"]),
                num(&r["p99_ms"])
            );
        }
        println!(
            "  ratio mcpflow/tokio: throughput {:.3}x, p99 {:.1}x",
            ratio(&ours_tasks["per_sec"], &tokio_tasks["per_sec"]),
            ratio(&ours_tasks["p99_ms"], &tokio_tasks["p99_ms"])
        );
    }
    Ok(())
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn ratio(a: &Value, b: &Value) -> f64 {
    a.as_f64().unwrap_or(0.0) / b.as_f64().unwrap_or(f64::NAN)
}

fn child(part: &str, args: &AgentsBenchArgs) -> anyhow::Result<Value> {
    let out = Command::new(std::env::current_exe()?)
        .args(["bench", "agents", "--part", part])
        .args(["--agents", &args.agents.to_string()])
        .args(["--tasks", &args.tasks.to_string()])
        .args(["--concurrency", &args.concurrency.to_string()])
        .args(["--workers", &args.workers.to_string()])
        .output()?;
    if !out.status.success() {
        anyhow::bail!(
            "part {part} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    Ok(serde_json::from_str(line)?)
}

/// Resident set size of this process, in bytes (Linux `/proc/self/statm`).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn spec(i: usize) -> AgentSpec {
    AgentSpec {
        name: format!("a{i}"),
        role: "worker".into(),
        capabilities: vec!["bench".into()],
        instructions: None,
        executor: ExecutorSpec::Scripted {
            reply: "ok {input}".into(),
            delay_ms: 0,
            fail_every: 0,
        },
        limits: AgentLimits::default(),
        restart: RestartPolicy::Permanent,
    }
}

async fn runtime(dir: &tempfile::TempDir) -> anyhow::Result<Runtime> {
    let url = mcpflow_store::StoreUrl::parse(dir.path().join("bench.db").to_str().unwrap_or(""))?;
    let store = mcpflow_store::open(&url).await?;
    Ok(Runtime::start(RuntimeConfig::new("bench"), store, standard_executors()).await?)
}

enum Msg {
    Work(String, oneshot::Sender<String>),
}

async fn run_part(part: &str, args: &AgentsBenchArgs) -> anyhow::Result<Value> {
    let n = args.agents;
    match part {
        "spawn-tokio" => {
            let before = rss();
            let start = Instant::now();
            let mut mailboxes = HashMap::with_capacity(n);
            for i in 0..n {
                let (tx, mut rx) = mpsc::channel::<Msg>(64);
                tokio::spawn(async move {
                    while let Some(Msg::Work(input, reply)) = rx.recv().await {
                        let _ = reply.send(input);
                    }
                });
                mailboxes.insert(i as u64, tx);
            }
            // Let every task reach its first park.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let seconds = start.elapsed().as_secs_f64() - 0.2;
            let bytes = rss().saturating_sub(before);
            Ok(
                json!({ "seconds": seconds, "per_sec": n as f64 / seconds, "rss_per_agent": bytes as f64 / n as f64 }),
            )
        }
        "spawn-mcpflow" => {
            let dir = tempfile::tempdir()?;
            let rt = runtime(&dir).await?;
            let before = rss();
            let start = Instant::now();
            let mut set = tokio::task::JoinSet::new();
            for i in 0..n {
                if set.len() >= args.concurrency {
                    set.join_next().await.transpose()?.transpose()?;
                }
                let rt = rt.clone();
                set.spawn(async move { rt.spawn(spec(i)).await.map(drop) });
            }
            while let Some(r) = set.join_next().await {
                r??;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            let seconds = start.elapsed().as_secs_f64() - 0.2;
            let bytes = rss().saturating_sub(before);
            assert_eq!(rt.stats().agents_live as usize, n);
            Ok(
                json!({ "seconds": seconds, "per_sec": n as f64 / seconds, "rss_per_agent": bytes as f64 / n as f64 }),
            )
        }
        "tasks-tokio" => {
            let mut workers = Vec::new();
            for _ in 0..args.workers {
                let (tx, mut rx) = mpsc::channel::<Msg>(64);
                tokio::spawn(async move {
                    while let Some(Msg::Work(input, reply)) = rx.recv().await {
                        let _ = reply.send(format!("ok {input}"));
                    }
                });
                workers.push(tx);
            }
            let workers = Arc::new(workers);
            closed_loop(args, move |i| {
                let workers = workers.clone();
                async move {
                    let (tx, rx) = oneshot::channel();
                    workers[i % workers.len()]
                        .send(Msg::Work(format!("task {i}"), tx))
                        .await
                        .map_err(|_| anyhow::anyhow!("worker gone"))?;
                    rx.await?;
                    Ok(())
                }
            })
            .await
        }
        "tasks-mcpflow" => {
            let dir = tempfile::tempdir()?;
            let rt = runtime(&dir).await?;
            for i in 0..args.workers {
                rt.spawn(spec(i)).await?;
            }
            closed_loop(args, move |i| {
                let rt = rt.clone();
                async move {
                    let mut task = TaskSpec::new(format!("task {i}"));
                    task.capabilities = vec!["bench".into()];
                    let t = loop {
                        match rt.submit(task.clone()).await {
                            Ok(t) => break t,
                            Err(mcpflow_agents::Error::AllMailboxesFull { .. }) => {
                                tokio::task::yield_now().await
                            }
                            Err(e) => return Err(e.into()),
                        }
                    };
                    let done = rt.wait(&t.id).await?;
                    anyhow::ensure!(
                        done.state == mcpflow_model::TaskState::Completed,
                        "{done:?}"
                    );
                    Ok(())
                }
            })
            .await
        }
        other => anyhow::bail!("unknown part {other}"),
    }
}

/// `concurrency` submitters, each running `op` back to back until `tasks` are done; reports
/// throughput and per-op latency.
async fn closed_loop<F, Fut>(args: &AgentsBenchArgs, op: F) -> anyhow::Result<Value>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (op, next, total) = (op.clone(), next.clone(), args.tasks);
        set.spawn(async move {
            let mut hist = Histogram::<u64>::new(3)?;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, anyhow::Error>(hist);
                }
                let t = Instant::now();
                op(i).await?;
                hist.record(t.elapsed().as_micros() as u64)?;
            }
        });
    }
    let mut hist = Histogram::<u64>::new(3)?;
    while let Some(h) = set.join_next().await {
        hist.add(h??)?;
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(json!({
        "per_sec": args.tasks as f64 / seconds,
        "p50_ms": hist.value_at_quantile(0.5) as f64 / 1000.0,
        "p99_ms": hist.value_at_quantile(0.99) as f64 / 1000.0,
    }))
}
