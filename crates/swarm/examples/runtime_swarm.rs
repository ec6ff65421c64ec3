//! The tokio runtime end to end, as `mcpflow bench swarm` drives it (2 runtime threads,
//! 2 producers calling `send_many` with batches of 512, one consumer task per member, the
//! payload is the send time), beside a raw tokio-mpsc baseline (producers send straight into
//! the target's bounded mpsc) measured in the same run; prints msgs/s, p50/p99 latency and
//! the ratio to the baseline. Without pulling in the whole `mcpflow` binary.
//! `cargo run --release -p mcpflow-swarm --example runtime_swarm -- [members] [messages] [topology] [nobase]`

use bytes::Bytes;
use mcpflow_swarm::{
    AgentId, DetectorConfig, Error, Mail, RuntimeConfig, SwarmConfig, SwarmHandle, TopologyKind,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const PRODUCERS: u64 = 2;
const BATCH: usize = 512;

/// (from, to) for message `i`: a random member and one of the next four in join order.
fn pair(i: u64, n: u64) -> (u64, u64) {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z ^= z >> 29;
    let from = z % n;
    let step = 1 + (z >> 40) % 4.min(n - 1);
    (from, (from + step) % n)
}

/// Delivered count and sampled latencies (one in 16), shared by the consumers.
struct Sink {
    epoch: Instant,
    delivered: AtomicU64,
    samples: Mutex<Vec<u64>>,
}

impl Sink {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            delivered: AtomicU64::new(0),
            samples: Mutex::new(Vec::new()),
        })
    }

    fn stamp(&self) -> Bytes {
        let t = self.epoch.elapsed().as_nanos() as u64;
        Bytes::copy_from_slice(&t.to_le_bytes())
    }

    fn got(&self, payload: &[u8]) {
        let n = self.delivered.fetch_add(1, Ordering::Relaxed);
        if n.is_multiple_of(16)
            && let Ok(b) = <[u8; 8]>::try_from(payload)
        {
            let sent = u64::from_le_bytes(b);
            let now = self.epoch.elapsed().as_nanos() as u64;
            if let Ok(mut s) = self.samples.lock() {
                s.push(now.saturating_sub(sent) / 1000);
            }
        }
    }

    async fn wait_for(&self, total: u64) {
        while self.delivered.load(Ordering::Relaxed) < total {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }

    /// (msgs/s, p50 us, p99 us)
    fn result(&self, seconds: f64, total: u64) -> (f64, u64, u64) {
        let mut s = self.samples.lock().map(|s| s.clone()).unwrap_or_default();
        s.sort_unstable();
        let q = |x: f64| s.get(((s.len() as f64 - 1.0) * x) as usize).copied();
        (
            total as f64 / seconds,
            q(0.5).unwrap_or(0),
            q(0.99).unwrap_or(0),
        )
    }
}

async fn baseline(n: u64, total: u64) -> (f64, u64, u64) {
    let sink = Sink::new();
    let mut txs = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let (tx, mut rx) = mpsc::channel::<Bytes>(1024);
        let sink = sink.clone();
        tokio::spawn(async move {
            let mut got = Vec::with_capacity(256);
            while rx.recv_many(&mut got, 256).await > 0 {
                for p in got.drain(..) {
                    sink.got(&p);
                }
            }
        });
        txs.push(tx);
    }
    let txs = Arc::new(txs);
    let start = Instant::now();
    let per = total / PRODUCERS;
    for p in 0..PRODUCERS {
        let (txs, sink) = (txs.clone(), sink.clone());
        tokio::spawn(async move {
            for i in p * per..(p + 1) * per {
                let (_, to) = pair(i, n);
                let _ = txs[to as usize].send(sink.stamp()).await;
            }
        });
    }
    sink.wait_for(per * PRODUCERS).await;
    sink.result(start.elapsed().as_secs_f64(), per * PRODUCERS)
}

async fn routed(n: u64, total: u64, kind: TopologyKind) -> (f64, u64, u64) {
    let (h, _task) = SwarmHandle::start(RuntimeConfig::default());
    let mut cfg = SwarmConfig::new(kind);
    cfg.detector = DetectorConfig {
        interval: Duration::from_secs(3600),
        ..DetectorConfig::default()
    };
    let s = h.create_swarm(cfg).await.expect("swarm");
    let sink = Sink::new();
    for i in 0..n {
        let mut m = h.join(s, AgentId(i)).await.expect("join");
        let sink = sink.clone();
        tokio::spawn(async move {
            let mut mails = Vec::with_capacity(256);
            while m.mailbox.recv_many(&mut mails, 256).await > 0 {
                for mail in mails.drain(..) {
                    if let Mail::Message(d) = mail {
                        sink.got(&d.payload);
                    }
                }
            }
        });
    }
    let start = Instant::now();
    let per = total / PRODUCERS;
    let mut producers = tokio::task::JoinSet::new();
    for p in 0..PRODUCERS {
        let (h, sink) = (h.clone(), sink.clone());
        producers.spawn(async move {
            let mut next = p * per;
            let end = (p + 1) * per;
            let mut retry: Vec<u64> = Vec::new();
            while next < end || !retry.is_empty() {
                let mut ids: Vec<u64> = std::mem::take(&mut retry);
                while ids.len() < BATCH && next < end {
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
                let results = h.send_many(s, msgs).await.expect("send_many");
                for (i, r) in ids.into_iter().zip(results) {
                    match r {
                        Ok(_) => {}
                        Err(Error::MailboxFull { .. } | Error::Backpressure { .. }) => {
                            retry.push(i)
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                if !retry.is_empty() {
                    tokio::task::yield_now().await;
                }
            }
        });
    }
    while let Some(r) = producers.join_next().await {
        r.expect("producer");
    }
    sink.wait_for(per * PRODUCERS).await;
    sink.result(start.elapsed().as_secs_f64(), per * PRODUCERS)
}

/// CPU seconds this process has used so far, all threads (Linux `/proc/self/stat`, 10 ms
/// resolution; NaN elsewhere). On a shared machine the wall clock says how much CPU we got;
/// this says how much we needed.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name: state is field 3; utime, stime are 14, 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return f64::NAN;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i - 3).and_then(|x| x.parse::<f64>().ok());
    match (ticks(14), ticks(15)) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => f64::NAN,
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let total: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let only = args.next();
    // `nobase` as a fourth argument skips the baseline (to profile the routed path alone).
    let with_base = args.next().as_deref() != Some("nobase");
    let cpu = cpu_seconds();
    let base = if with_base {
        rt().block_on(baseline(n, total))
    } else {
        (f64::NAN, 0, 0)
    };
    let base_cpu = (cpu_seconds() - cpu) * 1e9 / total as f64;
    println!(
        "{:<16} n={n:<6} {:>12.0} msgs/s  p50 {:>6} us  p99 {:>6} us  cpu {:>5.0} ns/msg",
        "tokio mpsc", base.0, base.1, base.2, base_cpu
    );
    for (name, kind) in [
        ("mesh", TopologyKind::Mesh),
        ("ring", TopologyKind::Ring),
        ("star", TopologyKind::Star),
        ("hierarchical(8)", TopologyKind::Hierarchical { fanout: 8 }),
    ] {
        if only.as_deref().is_some_and(|o| !name.starts_with(o)) {
            continue;
        }
        let cpu = cpu_seconds();
        let r = rt().block_on(routed(n, total, kind));
        let cpu = (cpu_seconds() - cpu) * 1e9 / total as f64;
        println!(
            "{name:<16} n={n:<6} {:>12.0} msgs/s  p50 {:>6} us  p99 {:>6} us  cpu {cpu:>5.0} ns/msg  {:.3}x mpsc",
            r.0,
            r.1,
            r.2,
            r.0 / base.0
        );
    }
}
