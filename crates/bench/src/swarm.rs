//! `mcpflow bench swarm`: routed, acknowledged messages per second through the swarm runtime
//! for each topology at two sizes, with p50/p99 delivery latency, beside a raw tokio-mpsc
//! baseline measured in the same run.
//!
//! mcpflow's path per message: a batched call into the runtime task → shortest path → each
//! edge on the way (its position in the edge's FIFO order; in-order acceptance at the
//! receiving end; an idle edge hands the message over directly, a busy one queues it as a
//! frame acknowledged per edge) → delivery, checked against the origin's record (exactly once)
//! → the target's bounded mailbox (woken once per batch of work) → a consumer task. The
//! baseline is the least a message can be in tokio: the producer sends straight into the
//! target's bounded mpsc, no routing, no acks.
//!
//! With `--runs N` every case runs N times, in rounds (each round runs the baseline and every
//! topology once, so slow spells of the machine hit all cases alike), and each row gives the
//! median run with the range of msgs/s beside it; the ratio is the median of the per-round
//! ratios to that round's baseline. Runs on this 2-core machine vary by ±30 %, more than
//! many changes: compare medians.
//!
//! The busy column is the share of the measured time the runtime task spent working (its own
//! count, [`SwarmHandle::load`]): near 100 % means that one task, which routes every message,
//! is the bottleneck.
//!
//! Workload: each message goes from a random member to one of the next four members in join
//! order (so a ring routes 1–4 hops instead of a quarter of the ring on average); the average
//! hop count of each shape is printed. The payload is the send time, so consumers measure
//! latency; heartbeats are switched off (a 1-hour interval) — this measures messaging.

use bytes::Bytes;
use clap::Args;
use hdrhistogram::Histogram;
use mcpflow_swarm::{
    AgentId, DetectorConfig, Error, Mail, RuntimeConfig, SwarmConfig, SwarmHandle, TopologyKind,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Flags of `mcpflow bench swarm`.
#[derive(Debug, Args)]
pub struct SwarmBenchArgs {
    /// Messages per topology and size.
    #[arg(long, default_value_t = 1_000_000)]
    messages: u64,
    /// Swarm sizes (members).
    #[arg(long, value_delimiter = ',', default_value = "100,10000")]
    sizes: Vec<u64>,
    /// Messages per call into the runtime.
    #[arg(long, default_value_t = 512)]
    batch: usize,
    /// Producer tasks.
    #[arg(long, default_value_t = 2)]
    producers: usize,
    /// Worker threads of the tokio runtime.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Rounds: each case runs this many times; rows give the median and the range.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
}

/// Runs the benchmark.
pub fn run(args: SwarmBenchArgs) -> anyhow::Result<()> {
    println!(
        "mcpflow bench swarm: {} messages per case, batches of {}, {} producers, {} runtime threads, {} run(s) per case",
        args.messages, args.batch, args.producers, args.threads, args.runs
    );
    println!(
        "  {:<22} {:>7} {:>12} {:>9} {:>9} {:>6} {:>12} {:>6}  range",
        "case", "members", "msgs/s", "p50 (us)", "p99 (us)", "hops", "vs mpsc", "busy"
    );
    let kinds = [
        ("mesh", TopologyKind::Mesh),
        ("ring", TopologyKind::Ring),
        ("star", TopologyKind::Star),
        ("hierarchical(8)", TopologyKind::Hierarchical { fanout: 8 }),
    ];
    for &n in &args.sizes {
        // The baseline's row, then one per topology; each run with its ratio to the baseline
        // of its round (none for the baseline itself).
        let mut rows: Vec<(&str, Vec<Run>)> = std::iter::once("tokio mpsc (baseline)")
            .chain(kinds.iter().map(|(name, _)| *name))
            .map(|name| (name, Vec::new()))
            .collect();
        for _ in 0..args.runs {
            let base = runtime(&args)?.block_on(baseline(&args, n))?;
            for ((_, kind), (_, runs)) in kinds.iter().zip(&mut rows[1..]) {
                let r = runtime(&args)?.block_on(routed(&args, n, *kind))?;
                let ratio = r.per_sec / base.per_sec;
                runs.push((r, Some(ratio)));
            }
            rows[0].1.push((base, None));
        }
        for (name, runs) in rows {
            print_row(name, n, runs);
        }
    }
    Ok(())
}

fn runtime(args: &SwarmBenchArgs) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
}

/// One row: the median run of a case (by msgs/s), the median ratio, and the range.
fn print_row(name: &str, n: u64, mut runs: Vec<Run>) {
    let mut ratios: Vec<f64> = runs.iter().filter_map(|(_, x)| *x).collect();
    ratios.sort_by(f64::total_cmp);
    runs.sort_by(|a, b| a.0.per_sec.total_cmp(&b.0.per_sec));
    let range = match (runs.first(), runs.last()) {
        (Some(lo), Some(hi)) if runs.len() > 1 => {
            format!("{:.0}–{:.0}", lo.0.per_sec, hi.0.per_sec)
        }
        _ => String::new(),
    };
    let Some((r, _)) = runs.get(runs.len() / 2) else {
        return;
    };
    let ratio = ratios.get(ratios.len() / 2);
    println!(
        "  {:<22} {:>7} {:>12.0} {:>9} {:>9} {:>6} {:>12} {:>6}  {}",
        name,
        n,
        r.per_sec,
        r.p50_us,
        r.p99_us,
        r.hops.map_or("-".into(), |h| format!("{h:.2}")),
        ratio.map_or("-".into(), |x| format!("{x:.3}x")),
        r.busy.map_or("-".into(), |b| format!("{:.0}%", b * 100.0)),
        range,
    )
}

/// One run of a case, with its ratio to the baseline of its round (none for the baseline).
type Run = (Measured, Option<f64>);

struct Measured {
    per_sec: f64,
    p50_us: u64,
    p99_us: u64,
    /// Average hops per message (routed runs).
    hops: Option<f64>,
    /// Share of the time the runtime task was busy (routed runs).
    busy: Option<f64>,
}

/// Shared by consumers: delivered count and sampled latencies.
struct Sink {
    epoch: Instant,
    delivered: AtomicU64,
    hist: Mutex<Histogram<u64>>,
}

impl Sink {
    fn new(epoch: Instant) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            epoch,
            delivered: AtomicU64::new(0),
            hist: Mutex::new(Histogram::new(3)?),
        }))
    }

    fn stamp(&self) -> Bytes {
        let t = self.epoch.elapsed().as_nanos() as u64;
        Bytes::copy_from_slice(&t.to_le_bytes())
    }

    /// One consumer's batch: latency sampled for one in 16 of the consumer's own count,
    /// the shared total bumped once per batch (a shared counter bumped per message would
    /// make the harness, not the system under test, the bottleneck on two cores).
    fn got<'a>(&self, payloads: impl Iterator<Item = &'a [u8]>, seen: &mut u64) {
        let mut n = 0;
        for payload in payloads {
            if (*seen + n).is_multiple_of(16)
                && let Ok(b) = <[u8; 8]>::try_from(payload)
            {
                let sent = u64::from_le_bytes(b);
                let now = self.epoch.elapsed().as_nanos() as u64;
                if let Ok(mut h) = self.hist.lock() {
                    let _ = h.record(now.saturating_sub(sent) / 1000);
                }
            }
            n += 1;
        }
        *seen += n;
        self.delivered.fetch_add(n, Ordering::Relaxed);
    }

    async fn wait_for(&self, total: u64) {
        while self.delivered.load(Ordering::Relaxed) < total {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }

    fn result(&self, seconds: f64, total: u64) -> Measured {
        let h = self.hist.lock().map(|h| h.clone()).ok();
        Measured {
            per_sec: total as f64 / seconds,
            p50_us: h.as_ref().map_or(0, |h| h.value_at_quantile(0.5)),
            p99_us: h.as_ref().map_or(0, |h| h.value_at_quantile(0.99)),
            hops: None,
            busy: None,
        }
    }
}

/// (from, to) for message `i`: a random member and one of the next four in join order.
fn pair(i: u64, n: u64) -> (u64, u64) {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z ^= z >> 29;
    let from = z % n;
    let step = 1 + (z >> 40) % 4.min(n - 1);
    (from, (from + step) % n)
}

async fn baseline(args: &SwarmBenchArgs, n: u64) -> anyhow::Result<Measured> {
    let sink = Sink::new(Instant::now())?;
    let mut txs = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let (tx, mut rx) = mpsc::channel::<Bytes>(1024);
        let sink = sink.clone();
        tokio::spawn(async move {
            let (mut got, mut seen) = (Vec::with_capacity(256), 0);
            while rx.recv_many(&mut got, 256).await > 0 {
                sink.got(got.iter().map(|p| &p[..]), &mut seen);
                got.clear();
            }
        });
        txs.push(tx);
    }
    let txs = Arc::new(txs);
    let start = Instant::now();
    let per = args.messages / args.producers as u64;
    let total = per * args.producers as u64;
    for p in 0..args.producers as u64 {
        let (txs, sink) = (txs.clone(), sink.clone());
        tokio::spawn(async move {
            for i in p * per..(p + 1) * per {
                let (_, to) = pair(i, n);
                let _ = txs[to as usize].send(sink.stamp()).await;
            }
        });
    }
    sink.wait_for(total).await;
    Ok(sink.result(start.elapsed().as_secs_f64(), total))
}

async fn routed(args: &SwarmBenchArgs, n: u64, kind: TopologyKind) -> anyhow::Result<Measured> {
    let (h, _task) = SwarmHandle::start(RuntimeConfig::default());
    let mut cfg = SwarmConfig::new(kind);
    cfg.detector = DetectorConfig {
        interval: Duration::from_secs(3600),
        ..DetectorConfig::default()
    };
    let s = h.create_swarm(cfg).await?;
    let sink = Sink::new(Instant::now())?;
    for i in 0..n {
        let mut m = h.join(s, AgentId(i)).await?;
        let sink = sink.clone();
        tokio::spawn(async move {
            let (mut mails, mut seen) = (Vec::with_capacity(256), 0);
            while m.mailbox.recv_many(&mut mails, 256).await > 0 {
                let payloads = mails.iter().filter_map(|mail| match mail {
                    Mail::Message(d) => Some(&d.payload[..]),
                    Mail::Loss(_) => None,
                });
                sink.got(payloads, &mut seen);
                mails.clear();
            }
        });
    }
    let mut hops = 0;
    for i in 0..200 {
        let (a, b) = pair(i, n);
        hops += h.paths(s, AgentId(a), AgentId(b), 1).await?[0].len() - 1;
    }
    let start = Instant::now();
    let load = h.load();
    let per = args.messages / args.producers as u64;
    let total = per * args.producers as u64;
    let mut producers = tokio::task::JoinSet::new();
    for p in 0..args.producers as u64 {
        let (h, sink, batch) = (h.clone(), sink.clone(), args.batch as u64);
        producers.spawn(async move {
            let mut next = p * per;
            let end = (p + 1) * per;
            let mut retry: Vec<u64> = Vec::new();
            while next < end || !retry.is_empty() {
                let mut ids: Vec<u64> = std::mem::take(&mut retry);
                while ids.len() < batch as usize && next < end {
                    ids.push(next);
                    next += 1;
                }
                let msgs = ids
                    .iter()
                    .map(|&i| {
                        let (a, b) = pair(i, n);
                        (AgentId(a), AgentId(b), sink.stamp())
                    })
                    .collect();
                let results = h.send_many(s, msgs).await?;
                for (i, r) in ids.into_iter().zip(results) {
                    match r {
                        Ok(_) => {}
                        Err(Error::MailboxFull { .. } | Error::Backpressure { .. }) => {
                            retry.push(i)
                        }
                        Err(e) => return Err(anyhow::anyhow!(e)),
                    }
                }
                if !retry.is_empty() {
                    tokio::task::yield_now().await;
                }
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(r) = producers.join_next().await {
        r??;
    }
    sink.wait_for(total).await;
    let seconds = start.elapsed().as_secs_f64();
    let busy = (h.load().busy - load.busy).as_secs_f64() / seconds;
    Ok(Measured {
        hops: Some(hops as f64 / 200.0),
        busy: Some(busy),
        ..sink.result(seconds, total)
    })
}
