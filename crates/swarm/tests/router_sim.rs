//! Deterministic simulation of the router over a faulty network: drop, delay, duplicate,
//! reorder, members killed and revived, members removed and new ones joining — all from a
//! seed. After the faults stop and the network drains, every message must have reached each
//! target exactly once or been reported lost (never both, never neither), and every edge must
//! have handed frames on in queue order.

mod common;
use common::{assert_exactly_once_or_lost, assert_fifo_per_edge, cases, kind_of};

use bytes::Bytes;
use mcpflow_swarm::sim::{Faults, Network, Rng};
use mcpflow_swarm::{
    AgentId, Frame, LossReason, MsgId, Output, Router, RouterConfig, SwarmId, Topology,
    TopologyKind,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[derive(Debug, Clone)]
struct Plan {
    seed: u64,
    kind: TopologyKind,
    members: u64,
    messages: usize,
    faults: Faults,
    churn: bool,
    redundancy: u8,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Outcome {
    deliveries: BTreeMap<(MsgId, AgentId), u32>,
    lost: BTreeMap<(MsgId, AgentId), LossReason>,
    expected: BTreeMap<MsgId, BTreeSet<AgentId>>,
    backpressure: u64,
    fingerprint: Vec<u64>,
}

const TICK: Duration = Duration::from_millis(100);

fn pump(router: &mut Router, net: &mut Network<Frame>, out: &mut Outcome, now: Duration) {
    router.flush_acks();
    for o in router.drain() {
        match o {
            Output::Transmit(f) => net.send(f.from, f.to, f, now),
            Output::Deliver { to, message } => {
                *out.deliveries.entry((message.id, to)).or_default() += 1;
            }
            Output::Lost(r) => {
                assert!(
                    out.lost.insert((r.id, r.target), r.reason).is_none(),
                    "loss of {:?} to {:?} reported twice",
                    r.id,
                    r.target
                );
            }
        }
    }
}

fn run(plan: &Plan) -> Outcome {
    let mut rng = Rng::new(plan.seed);
    let mut topo = Topology::new(SwarmId(1), plan.kind).unwrap();
    for i in 0..plan.members {
        topo.add(AgentId(i)).unwrap();
    }
    let mut next_id = plan.members;
    let cfg = RouterConfig {
        redundancy: plan.redundancy,
        queue_capacity: plan.capacity,
        reorder_window: 8,
        trace_edges: true,
        ..RouterConfig::default()
    };
    let mut router = Router::new(cfg).unwrap();
    let mut net = Network::new(plan.faults.clone(), plan.seed ^ 0xABCD);
    let mut out = Outcome::default();
    let mut now = Duration::ZERO;
    let mut sent = 0;
    let mut next_tick = TICK;
    let mut dead: Vec<AgentId> = Vec::new();
    // Phase 1: traffic and faults. Phase 2 (after `heal`): a perfect network until quiet.
    let heal = Duration::from_secs(20);
    let end = Duration::from_secs(200);
    while now < end {
        if now >= heal && router.open_messages() == 0 && net.in_flight() == 0 {
            break;
        }
        // Advance to the next event: a frame arrival or a tick (workload and faults act on ticks).
        let t = net.next_arrival().map_or(next_tick, |a| a.min(next_tick));
        now = t;
        while let Some((_, _, f)) = net.pop_due(now) {
            router.on_frame(&topo, f, now);
            pump(&mut router, &mut net, &mut out, now);
        }
        if now < next_tick {
            continue;
        }
        next_tick += TICK;
        if now < heal {
            // Workload: a few sends and the odd broadcast per tick.
            for _ in 0..rng.below(6) {
                if sent >= plan.messages || topo.len() < 2 {
                    break;
                }
                let m = topo.members();
                let from = m[rng.below(m.len() as u64) as usize];
                let to = m[rng.below(m.len() as u64) as usize];
                let res = if rng.chance(0.1) {
                    let targets: BTreeSet<_> = m.iter().copied().filter(|x| *x != from).collect();
                    router
                        .broadcast(&topo, from, Bytes::from_static(b"all"), now)
                        .map(|id| (id, targets))
                } else {
                    router
                        .send(&topo, from, to, Bytes::from_static(b"hi"), now)
                        .map(|id| (id, BTreeSet::from([to])))
                };
                match res {
                    Ok((id, targets)) => {
                        out.expected.insert(id, targets);
                        sent += 1;
                    }
                    Err(mcpflow_swarm::Error::Backpressure { .. }) => out.backpressure += 1,
                    Err(e) => panic!("unexpected send error {e}"),
                }
            }
            if plan.churn {
                // Kill (silence) a member, revive one, or remove a silenced one for good and
                // let a fresh member join.
                let roll = rng.below(100);
                if roll < 4 && topo.len() > 3 {
                    let m = topo.members()[rng.below(topo.len() as u64) as usize];
                    if !net.is_dead(m) {
                        net.kill(m);
                        dead.push(m);
                    }
                } else if roll < 7 && !dead.is_empty() {
                    let m = dead.remove(rng.below(dead.len() as u64) as usize);
                    net.revive(m);
                } else if roll < 9 && !dead.is_empty() {
                    let m = dead.remove(rng.below(dead.len() as u64) as usize);
                    net.revive(m);
                    topo.remove(m).unwrap();
                    router.member_removed(&topo, m, now);
                    let fresh = AgentId(next_id);
                    next_id += 1;
                    topo.add(fresh).unwrap();
                }
            }
        } else {
            net.faults = Faults::none();
            for m in dead.drain(..) {
                net.revive(m);
            }
        }
        router.tick(&topo, now);
        pump(&mut router, &mut net, &mut out, now);
    }
    assert_eq!(
        router.open_messages(),
        0,
        "messages still open at {now:?}: {router:?}"
    );
    assert_fifo_per_edge(router.take_trace());
    let s = router.stats();
    out.fingerprint = vec![
        s.sent,
        s.delivered,
        s.duplicate_frames,
        s.retransmits,
        s.give_ups,
        s.lost,
        s.duplicates,
    ];
    out
}

fn check(out: &Outcome) {
    assert_exactly_once_or_lost(&out.deliveries, |k| out.lost.contains_key(k), &out.expected);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(64)))]
    #[test]
    fn exactly_once_or_reported_lost_and_fifo_per_edge(
        seed in any::<u64>(),
        kind in 0u8..4,
        members in 3u64..10,
        drop in 0.0f64..0.3,
        duplicate in 0.0f64..0.2,
        max_delay_ms in 1u64..400,
        churn in any::<bool>(),
        redundancy in 1u8..=3,
    ) {
        let plan = Plan {
            seed,
            kind: kind_of(kind),
            members,
            messages: 150,
            faults: Faults {
                drop,
                duplicate,
                min_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(max_delay_ms),
            },
            churn,
            redundancy,
            capacity: 64,
        };
        check(&run(&plan));
    }
}

#[test]
fn perfect_network_delivers_everything_in_every_shape() {
    for k in 0..4 {
        let plan = Plan {
            seed: 7,
            kind: kind_of(k),
            members: 9,
            messages: 300,
            faults: Faults::none(),
            churn: false,
            redundancy: 2,
            capacity: 1024,
        };
        let out = run(&plan);
        check(&out);
        assert!(out.lost.is_empty(), "{:?} lost {:?}", plan.kind, out.lost);
        assert_eq!(out.expected.len(), 300);
    }
}

#[test]
fn same_seed_same_run() {
    let plan = Plan {
        seed: 42,
        kind: TopologyKind::Ring,
        members: 7,
        messages: 200,
        faults: Faults {
            drop: 0.2,
            duplicate: 0.1,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(300),
        },
        churn: true,
        redundancy: 2,
        capacity: 32,
    };
    let (a, b) = (run(&plan), run(&plan));
    check(&a);
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_eq!(a.lost, b.lost);
    // The faults really bit: retries, give-ups, and duplicates removed at the receiver.
    let f = &a.fingerprint;
    assert!(
        f[2] > 0 && f[3] > 0 && f[4] > 0,
        "faults had no effect: {f:?}"
    );
}

#[test]
fn heavy_loss_reroutes_and_reports_to_the_leader() {
    // With half the frames lost, some messages exhaust their routes; each is reported once.
    let plan = Plan {
        seed: 3,
        kind: TopologyKind::Mesh,
        members: 5,
        messages: 200,
        faults: Faults {
            drop: 0.6,
            duplicate: 0.0,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(50),
        },
        churn: false,
        redundancy: 3,
        capacity: 256,
    };
    let out = run(&plan);
    check(&out);
    assert!(!out.lost.is_empty());
    assert!(out.lost.values().all(|r| *r == LossReason::RoutesExhausted));
}
