//! `mcpflow bench audit`: durable append throughput of the audit log (group commit) from
//! concurrent producers, beside the physical peers measured in the same run on the same disk:
//! SQLite with one row per transaction at the same durability (WAL, `synchronous=FULL`), and
//! the raw `fdatasync` rate of a file.
//!
//! Every append returns only after its batch is committed and fsynced, so throughput is bounded
//! by (fsyncs/s x entries per batch) and by the writer thread's CPU (canonical bytes, two
//! SHA-256, SQLite row + FTS5 insert per entry, one Ed25519 signature per checkpoint).

use clap::Args;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use hdrhistogram::Histogram;
use mcpflow_audit::{AuditConfig, AuditLog, Event};
use mcpflow_secrets::{Keyring, MasterKey, RotationPolicy};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Flags of `mcpflow bench audit`.
#[derive(Debug, Args)]
pub struct AuditBenchArgs {
    /// Events to append in total.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Producer threads appending concurrently.
    #[arg(long, default_value_t = 8)]
    producers: u64,
    /// Appends each producer keeps in flight (each one is awaited until durable), like that
    /// many concurrent requests per producer waiting on their audit record.
    #[arg(long, default_value_t = 512)]
    in_flight: usize,
    /// Encrypt a small sensitive field (AES-256-GCM) in every event.
    #[arg(long)]
    sensitive: bool,
    /// Seconds to run each peer (one-row-per-transaction SQLite, raw fsync).
    #[arg(long, default_value_t = 3)]
    peer_secs: u64,
    /// Directory for the files (default: the system temp dir); must be on the disk to measure.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

fn event(producer: u64, i: u64, sensitive: bool) -> Event {
    let e = Event::new(
        format!("user:{producer}"),
        "acme",
        if i.is_multiple_of(5) {
            "guard.verdict"
        } else {
            "tool.call"
        },
        format!("tool:t{}", i % 50),
        if i.is_multiple_of(17) {
            "blocked"
        } else {
            "allowed"
        },
    )
    .details(serde_json::json!({"latency_ms": i % 100, "request": i, "session": producer}));
    if sensitive {
        e.sensitive(serde_json::json!({"arguments": {"query": format!("q{i}")}}))
    } else {
        e
    }
}

struct Measured {
    per_sec: f64,
    hist: Histogram<u64>,
}

fn pct(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64
}

/// mcpflow: N producers, each with `in_flight` appends outstanding.
fn measure_audit(
    args: &AuditBenchArgs,
    dir: &std::path::Path,
) -> anyhow::Result<(Measured, mcpflow_audit::Stats, Arc<AuditLog>)> {
    let mut config = AuditConfig::in_dir(dir);
    if args.sensitive {
        config.keyring = Some(Arc::new(Keyring::in_memory(
            MasterKey::generate()?,
            RotationPolicy::default(),
        )?));
    }
    let log = Arc::new(AuditLog::open(config)?);
    let per_producer = args.events / args.producers.max(1);
    let start = Instant::now();
    let threads: Vec<_> = (0..args.producers.max(1))
        .map(|p| {
            let log = log.clone();
            let (window, sensitive) = (args.in_flight.max(1), args.sensitive);
            std::thread::spawn(move || -> anyhow::Result<Histogram<u64>> {
                let mut hist = Histogram::<u64>::new(3)?;
                let mut pending = FuturesUnordered::new();
                let mut next = 0u64;
                futures::executor::block_on(async {
                    loop {
                        while pending.len() < window && next < per_producer {
                            let submitted = Instant::now();
                            let fut = log.append_async(event(p, next, sensitive));
                            pending.push(async move { fut.await.map(|_| submitted.elapsed()) });
                            next += 1;
                        }
                        match pending.next().await {
                            Some(r) => hist.record(r?.as_micros() as u64)?,
                            None => break,
                        }
                    }
                    Ok::<_, anyhow::Error>(())
                })?;
                Ok(hist)
            })
        })
        .collect();
    let mut hist = Histogram::<u64>::new(3)?;
    for t in threads {
        hist.add(
            t.join()
                .map_err(|_| anyhow::anyhow!("a producer panicked"))??,
        )?;
    }
    let secs = start.elapsed().as_secs_f64();
    let stats = log.stats();
    Ok((
        Measured {
            per_sec: stats.entries as f64 / secs,
            hist,
        },
        stats,
        log,
    ))
}

/// Peer: one INSERT per transaction, WAL, synchronous=FULL, one thread (SQLite has one writer).
fn measure_sqlite_per_row(dir: &std::path::Path, secs: u64) -> anyhow::Result<Measured> {
    let conn = rusqlite::Connection::open(dir.join("peer.db"))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(
        "CREATE TABLE events(seq INTEGER PRIMARY KEY, ts_ms INTEGER, actor TEXT, tenant TEXT,
         action TEXT, resource TEXT, outcome TEXT, details TEXT)",
    )?;
    let mut stmt = conn.prepare(
        "INSERT INTO events(ts_ms, actor, tenant, action, resource, outcome, details)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut hist = Histogram::<u64>::new(3)?;
    let (start, limit) = (Instant::now(), Duration::from_secs(secs));
    let mut n = 0u64;
    while start.elapsed() < limit {
        let e = event(0, n, false);
        let t = Instant::now();
        stmt.execute(rusqlite::params![
            n as i64,
            e.actor,
            e.tenant,
            e.action,
            e.resource,
            e.outcome,
            e.details.to_string()
        ])?;
        hist.record(t.elapsed().as_micros() as u64)?;
        n += 1;
    }
    Ok(Measured {
        per_sec: n as f64 / start.elapsed().as_secs_f64(),
        hist,
    })
}

/// Peer: append 4 KiB and fdatasync, in a loop — the disk's durable-write rate.
fn measure_fsync(dir: &std::path::Path, secs: u64) -> anyhow::Result<Measured> {
    let mut f = std::fs::File::create(dir.join("fsync.bin"))?;
    let block = vec![0x5au8; 4096];
    let mut hist = Histogram::<u64>::new(3)?;
    let (start, limit) = (Instant::now(), Duration::from_secs(secs));
    let mut n = 0u64;
    while start.elapsed() < limit {
        let t = Instant::now();
        f.write_all(&block)?;
        f.sync_data()?;
        hist.record(t.elapsed().as_micros() as u64)?;
        n += 1;
    }
    Ok(Measured {
        per_sec: n as f64 / start.elapsed().as_secs_f64(),
        hist,
    })
}

/// Runs the benchmark.
pub fn run(args: AuditBenchArgs) -> anyhow::Result<()> {
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(&base)?;
    println!(
        "mcpflow bench audit: {} events, {} producers x {} in flight, sensitive={}, dir {}, {} cores",
        args.events,
        args.producers,
        args.in_flight,
        args.sensitive,
        base.display(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let fsync = measure_fsync(dir.path(), args.peer_secs)?;
    let sqlite = measure_sqlite_per_row(dir.path(), args.peer_secs)?;
    let (audit, stats, log) = measure_audit(&args, dir.path())?;

    let verify_start = Instant::now();
    log.checkpoint()?;
    let summary = log.verify()?;
    let verify_secs = verify_start.elapsed().as_secs_f64();

    println!(
        "\n  {:<44} {:>12} {:>10} {:>10}",
        "durable writes", "per second", "p50 µs", "p99 µs"
    );
    let row = |name: &str, m: &Measured| {
        println!(
            "  {:<44} {:>12.0} {:>10.0} {:>10.0}",
            name,
            m.per_sec,
            pct(&m.hist, 0.5),
            pct(&m.hist, 0.99)
        )
    };
    row("raw fdatasync (4 KiB append)", &fsync);
    row("SQLite, 1 row per transaction (sync=FULL)", &sqlite);
    row("mcpflow audit append (group commit)", &audit);
    println!(
        "\n  group commit: {} entries in {} transactions ({:.0} entries/fsync), {} checkpoints signed",
        stats.entries,
        stats.batches,
        stats.entries as f64 / stats.batches.max(1) as f64,
        stats.checkpoints
    );
    println!(
        "  ratios: audit / SQLite-per-row = {:.1}x, audit events per raw fsync = {:.1}",
        audit.per_sec / sqlite.per_sec,
        audit.per_sec / fsync.per_sec
    );
    println!(
        "  verify: {} entries, {} checkpoints in {:.2} s ({:.0} entries/s)",
        summary.entries,
        summary.checkpoints,
        verify_secs,
        summary.entries as f64 / verify_secs
    );
    println!("\n  goal: >= 100000 durable events/s on 2 cores");
    Ok(())
}
