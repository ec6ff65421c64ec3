//! The in-process shortcut (`RouterConfig::in_process`): a message whose next edge is idle is
//! handed to the receiving end directly instead of as a frame. It must keep every promise of
//! the frame path — exactly once or reported lost, per-edge order, bounded queues, retries of
//! what a full queue refused — while members leave and join and queues fill up.

mod common;
use common::{assert_exactly_once_or_lost, assert_fifo_per_edge, cases, kind_of};

use bytes::Bytes;
use mcpflow_swarm::sim::Rng;
use mcpflow_swarm::{
    AgentId, Error, MsgId, Output, Router, RouterConfig, SwarmId, Topology, TopologyKind,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

fn topology(kind: TopologyKind, n: u64) -> Topology {
    let mut t = Topology::new(SwarmId(5), kind).unwrap();
    for i in 0..n {
        t.add(AgentId(i)).unwrap();
    }
    t
}

#[derive(Default)]
struct Seen {
    /// Unicast deliveries in the order they happened.
    unicast: Vec<(MsgId, AgentId)>,
    deliveries: BTreeMap<(MsgId, AgentId), u32>,
    lost: BTreeSet<(MsgId, AgentId)>,
    expected: BTreeMap<MsgId, BTreeSet<AgentId>>,
}

impl Seen {
    fn take(&mut self, r: &mut Router) {
        for o in r.drain() {
            match o {
                Output::Deliver { to, message } => {
                    if !message.broadcast {
                        self.unicast.push((message.id, to));
                    }
                    *self.deliveries.entry((message.id, to)).or_default() += 1;
                }
                Output::Lost(l) => assert!(self.lost.insert((l.id, l.target)), "lost twice"),
                Output::Transmit(f) => panic!("run_local left a frame: {f:?}"),
            }
        }
    }

    fn check(&self) {
        assert_exactly_once_or_lost(&self.deliveries, |k| self.lost.contains(k), &self.expected);
    }
}

/// Batches of sends and broadcasts through `run_local`, with ticks between them (so refused
/// messages are retried) and, with `churn`, members leaving and joining. Ends quiet.
fn run(
    seed: u64,
    kind: TopologyKind,
    members: u64,
    capacity: usize,
    churn: bool,
    in_process: bool,
) -> (Seen, Router) {
    let mut rng = Rng::new(seed);
    let mut topo = topology(kind, members);
    let cfg = RouterConfig {
        queue_capacity: capacity,
        trace_edges: true,
        in_process,
        ..RouterConfig::default()
    };
    let mut r = Router::new(cfg).unwrap();
    let mut seen = Seen::default();
    let mut now = Duration::ZERO;
    let mut fresh = members;
    for _ in 0..40 {
        for _ in 0..rng.below(40) {
            let m = topo.members();
            let from = m[rng.below(m.len() as u64) as usize];
            let to = m[rng.below(m.len() as u64) as usize];
            let sent = if rng.chance(0.05) {
                let all = m.iter().copied().filter(|x| *x != from).collect();
                r.broadcast(&topo, from, Bytes::from_static(b"all"), now)
                    .map(|id| (id, all))
            } else {
                r.send(&topo, from, to, Bytes::from_static(b"hi"), now)
                    .map(|id| (id, BTreeSet::from([to])))
            };
            match sent {
                Ok((id, targets)) => {
                    seen.expected.insert(id, targets);
                }
                Err(Error::Backpressure { .. }) => {}
                Err(e) => panic!("unexpected send error {e}"),
            }
        }
        r.run_local(&topo, now);
        seen.take(&mut r);
        if churn && rng.chance(0.2) && topo.len() > 3 {
            let gone = topo.members()[rng.below(topo.len() as u64) as usize];
            topo.remove(gone).unwrap();
            r.member_removed(&topo, gone, now);
            topo.add(AgentId(fresh)).unwrap();
            fresh += 1;
        }
        now += Duration::from_millis(300);
        r.tick(&topo, now);
        r.run_local(&topo, now);
        seen.take(&mut r);
    }
    // Quiet: every retry and give-up has run its course.
    for _ in 0..20 {
        now += Duration::from_secs(10);
        r.tick(&topo, now);
        r.run_local(&topo, now);
        seen.take(&mut r);
    }
    (seen, r)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(48)))]
    #[test]
    fn the_shortcut_delivers_exactly_once_in_edge_order(
        seed in any::<u64>(),
        kind in 0u8..4,
        members in 3u64..12,
        capacity in 1usize..6,
        churn in any::<bool>(),
    ) {
        let (seen, mut r) = run(seed, kind_of(kind), members, capacity, churn, true);
        seen.check();
        assert_fifo_per_edge(r.take_trace());
        prop_assert_eq!(r.open_messages(), 0);
    }
}

#[test]
fn the_shortcut_delivers_what_frames_deliver_in_the_same_order() {
    for k in 0..4 {
        let (short, rs) = run(11, kind_of(k), 9, 4096, false, true);
        let (framed, rf) = run(11, kind_of(k), 9, 4096, false, false);
        short.check();
        assert_eq!(
            short.expected, framed.expected,
            "the same sends were accepted"
        );
        assert_eq!(short.deliveries, framed.deliveries);
        assert!(short.lost.is_empty() && framed.lost.is_empty());
        // One route per (origin, target) and FIFO edges: each pair's messages arrive in the
        // order they were sent, either way.
        let per_pair = |s: &Seen| {
            let mut m: BTreeMap<(AgentId, AgentId), Vec<u64>> = BTreeMap::new();
            for (id, to) in &s.unicast {
                m.entry((id.origin, *to)).or_default().push(id.seq);
            }
            m
        };
        let pairs = per_pair(&short);
        assert_eq!(pairs, per_pair(&framed));
        assert!(pairs.values().all(|v| v.is_sorted()));
        let (s, f) = (rs.stats(), rf.stats());
        assert_eq!((s.sent, s.delivered), (f.sent, f.delivered));
        assert_eq!(s.retransmits, 0);
        // Unicasts skip the acknowledgements; only broadcasts' frames need them.
        assert!(s.acks < f.acks / 2, "{} acks vs {}", s.acks, f.acks);
    }
}

#[test]
fn a_message_refused_by_a_full_queue_further_on_is_retried_and_delivered_once() {
    // Ring 0-1-2-3-4: 0 → 2 goes 0 → 1 → 2. A broadcast from 1 puts a frame on 1 → 2
    // (trees travel as frames), filling that one-slot queue until it is acknowledged.
    let t = topology(TopologyKind::Ring, 5);
    let cfg = RouterConfig {
        queue_capacity: 1,
        in_process: true,
        trace_edges: true,
        ..RouterConfig::default()
    };
    let mut r = Router::new(cfg).unwrap();
    let now = Duration::ZERO;
    r.broadcast(&t, AgentId(1), Bytes::from_static(b"all"), now)
        .unwrap();
    let id = r
        .send(&t, AgentId(0), AgentId(2), Bytes::from_static(b"x"), now)
        .unwrap();
    let mut seen = Seen::default();
    // 0 → 1 holds it unacknowledged, so the next send on that edge waits its turn.
    assert!(matches!(
        r.send(&t, AgentId(0), AgentId(1), Bytes::new(), now),
        Err(Error::Backpressure { .. })
    ));
    r.run_local(&t, now);
    seen.take(&mut r);
    assert!(
        seen.deliveries.keys().all(|(m, _)| *m != id),
        "not through yet"
    );
    assert_eq!(seen.deliveries.len(), 4, "the broadcast reached everyone");
    assert_eq!(r.open_messages(), 1);
    // The retry after the ack timeout gets through.
    let later = now + r.config().ack_timeout;
    r.tick(&t, later);
    r.run_local(&t, later);
    seen.take(&mut r);
    assert_eq!(seen.deliveries.get(&(id, AgentId(2))), Some(&1));
    assert_eq!(r.stats().retransmits, 1);
    assert_eq!(r.open_messages(), 0);
    assert_fifo_per_edge(r.take_trace());
}
