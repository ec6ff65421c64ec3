//! The router core alone, single-threaded, no tokio: how many routed, acknowledged messages
//! per second the sans-IO state machine sustains, the same loop the runtime task runs — with
//! the in-process shortcut (as the runtime uses it) and, in the same run, with every hop as a
//! frame (as over a network), and the ratio of their CPU time per message.
//! `cargo run --release -p mcpflow-swarm --example router_core -- [members] [messages] [topology]`

use bytes::Bytes;
use mcpflow_swarm::{AgentId, Coordinator, DetectorConfig, Output, SwarmConfig, TopologyKind};
use std::time::{Duration, Instant};

mod workload;

use workload::pair;

/// Nanoseconds this thread has run on a CPU (Linux `/proc/thread-self/schedstat`; NaN
/// elsewhere). The machine may be shared: wall-clock time then includes time the thread
/// waited for a CPU, this does not.
fn cpu_ns() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(f64::NAN)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let total: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let only = args.next();
    for (name, kind) in [
        ("mesh", TopologyKind::Mesh),
        ("ring", TopologyKind::Ring),
        ("star", TopologyKind::Star),
        ("hierarchical(8)", TopologyKind::Hierarchical { fanout: 8 }),
    ] {
        if only.as_deref().is_some_and(|o| !name.starts_with(o)) {
            continue;
        }
        let short = run(kind, n, total, true);
        let framed = run(kind, n, total, false);
        for (how, (wall, cpu)) in [("in-process", short), ("frames", framed)] {
            println!(
                "{name:<16} {how:<10} n={n:<6} {:>12.0} msgs/s  ({:.0} ns/msg)  cpu {cpu:.0} ns/msg = {:.0} msgs/s",
                total as f64 / wall,
                wall * 1e9 / total as f64,
                1e9 / cpu
            );
        }
        println!(
            "{name:<16} in-process / frames CPU time per message: {:.2}",
            short.1 / framed.1
        );
    }
}

/// Sends `total` messages through a swarm of `n` and counts them delivered: (wall seconds,
/// CPU ns per message).
fn run(kind: TopologyKind, n: u64, total: u64, in_process: bool) -> (f64, f64) {
    let mut coord = Coordinator::deterministic(1);
    let mut cfg = SwarmConfig::new(kind);
    cfg.router.in_process = in_process;
    cfg.detector = DetectorConfig {
        interval: Duration::from_secs(3600),
        ..DetectorConfig::default()
    };
    let members: Vec<AgentId> = (0..n).map(AgentId).collect();
    let (sid, _) = coord
        .create_swarm(cfg, &members, Duration::ZERO)
        .expect("swarm");
    let swarm = coord.swarm_mut(sid).expect("swarm");
    let payload = Bytes::from_static(b"01234567");
    let start = Instant::now();
    let cpu = cpu_ns();
    let mut delivered = 0u64;
    let mut frames = Vec::new();
    let mut i = 0;
    while delivered < total {
        let now = start.elapsed();
        for _ in 0..1024 {
            if i < total {
                let (a, b) = pair(i, n);
                if swarm
                    .send(AgentId(a), AgentId(b), payload.clone(), now)
                    .is_ok()
                {
                    i += 1;
                }
            }
        }
        loop {
            swarm.run_local(now);
            for o in swarm.drain_outputs() {
                match o {
                    Output::Transmit(f) => frames.push(f),
                    Output::Deliver { .. } => delivered += 1,
                    Output::Lost(_) => panic!("lost"),
                }
            }
            if frames.is_empty() {
                break;
            }
            for f in frames.drain(..) {
                swarm.on_frame(f, now);
            }
        }
    }
    let cpu = (cpu_ns() - cpu) / total as f64;
    (start.elapsed().as_secs_f64(), cpu)
}
