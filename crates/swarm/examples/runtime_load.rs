//! The runtime path alone: `bench swarm`'s routed workload (2 producers sending batches of
//! 512 through `SwarmHandle::send_many`, one consumer task per member) on a 2-thread tokio
//! runtime, without latency sampling. It builds in a minute instead of the whole node, so two
//! builds of the runtime can be compared run for run (alternate them: the machine drifts).
//! Prints acknowledged messages/s and the runtime task's busy time per message.
//! `cargo run --release -p mcpflow-swarm --example runtime_load -- [members] [messages] [topology]`

use bytes::Bytes;
use mcpflow_swarm::{
    AgentId, DetectorConfig, RuntimeConfig, SwarmConfig, SwarmHandle, TopologyKind,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod workload;

use workload::pair;

const PRODUCERS: u64 = 2;
const BATCH: usize = 512;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().map_or(Ok(10_000), |s| s.parse())?;
    let messages: u64 = args.next().map_or(Ok(1_000_000), |s| s.parse())?;
    let kind = match args.next().as_deref().unwrap_or("mesh") {
        "mesh" => TopologyKind::Mesh,
        "ring" => TopologyKind::Ring,
        "star" => TopologyKind::Star,
        "hierarchical" => TopologyKind::Hierarchical { fanout: 8 },
        other => return Err(format!("unknown topology {other}").into()),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(n, messages, kind))
}

async fn run(n: u64, messages: u64, kind: TopologyKind) -> Result<(), Box<dyn std::error::Error>> {
    let (h, _task) = SwarmHandle::start(RuntimeConfig::default());
    let mut cfg = SwarmConfig::new(kind);
    cfg.detector = DetectorConfig {
        interval: Duration::from_secs(3600),
        ..DetectorConfig::default()
    };
    let s = h.create_swarm(cfg).await?;
    let delivered = Arc::new(AtomicU64::new(0));
    for i in 0..n {
        let mut m = h.join(s, AgentId(i)).await?;
        let delivered = delivered.clone();
        tokio::spawn(async move {
            let mut mails = Vec::with_capacity(256);
            while m.mailbox.recv_many(&mut mails, 256).await > 0 {
                delivered.fetch_add(mails.len() as u64, Ordering::Relaxed);
                mails.clear();
            }
        });
    }
    let per = messages / PRODUCERS;
    let start = Instant::now();
    let before = h.load();
    let mut producers = tokio::task::JoinSet::new();
    for p in 0..PRODUCERS {
        let h = h.clone();
        producers.spawn(async move {
            let (mut next, end) = (p * per, (p + 1) * per);
            let mut retry: Vec<u64> = Vec::new();
            while next < end || !retry.is_empty() {
                let mut ids = std::mem::take(&mut retry);
                while ids.len() < BATCH && next < end {
                    ids.push(next);
                    next += 1;
                }
                let batch = ids
                    .iter()
                    .map(|&i| {
                        let (a, b) = pair(i, n);
                        (AgentId(a), AgentId(b), Bytes::from_static(b"12345678"))
                    })
                    .collect();
                // Refused sends (full mailbox or edge queue) go again in the next batch.
                for (i, r) in ids.into_iter().zip(h.send_many(s, batch).await?) {
                    if r.is_err() {
                        retry.push(i);
                    }
                }
                if !retry.is_empty() {
                    tokio::task::yield_now().await;
                }
            }
            Ok::<_, mcpflow_swarm::Error>(())
        });
    }
    while let Some(r) = producers.join_next().await {
        r??;
    }
    while delivered.load(Ordering::Relaxed) < per * PRODUCERS {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let seconds = start.elapsed().as_secs_f64();
    let busy = (h.load().busy - before.busy).as_secs_f64();
    let total = (per * PRODUCERS) as f64;
    println!(
        "{n} members, {kind:?}: {:.0} msgs/s, runtime busy {:.0} % ({:.0} ns per message)",
        total / seconds,
        busy / seconds * 100.0,
        busy * 1e9 / total
    );
    Ok(())
}
