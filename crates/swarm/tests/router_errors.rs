//! Router bad input and back-pressure.

use bytes::Bytes;
use mcpflow_swarm::{
    AgentId, Error, Output, Router, RouterConfig, SwarmId, Topology, TopologyKind,
};
use std::time::Duration;

fn ring(n: u64) -> Topology {
    let mut t = Topology::new(SwarmId(3), TopologyKind::Ring).unwrap();
    for i in 0..n {
        t.add(AgentId(i)).unwrap();
    }
    t
}

#[test]
fn non_members_and_bad_settings_are_refused() {
    let t = ring(4);
    let mut r = Router::new(RouterConfig::default()).unwrap();
    let now = Duration::ZERO;
    assert_eq!(
        r.send(&t, AgentId(9), AgentId(1), Bytes::new(), now),
        Err(Error::NotMember {
            swarm: SwarmId(3),
            agent: AgentId(9)
        })
    );
    assert_eq!(
        r.send(&t, AgentId(1), AgentId(9), Bytes::new(), now),
        Err(Error::NotMember {
            swarm: SwarmId(3),
            agent: AgentId(9)
        })
    );
    assert!(matches!(
        r.broadcast(&t, AgentId(9), Bytes::new(), now),
        Err(Error::NotMember { .. })
    ));
    assert_eq!(r.stats().sent, 0);
    for cfg in [
        RouterConfig {
            redundancy: 0,
            ..RouterConfig::default()
        },
        RouterConfig {
            redundancy: 4,
            ..RouterConfig::default()
        },
    ] {
        assert!(matches!(Router::new(cfg), Err(Error::InvalidRedundancy(_))));
    }
    assert!(matches!(
        Router::new(RouterConfig {
            queue_capacity: 0,
            ..RouterConfig::default()
        }),
        Err(Error::InvalidConfig(_))
    ));
}

#[test]
fn a_full_edge_queue_is_a_clear_error_and_drains_with_acks() {
    let t = ring(4);
    let cfg = RouterConfig {
        queue_capacity: 3,
        ..RouterConfig::default()
    };
    let mut r = Router::new(cfg).unwrap();
    let now = Duration::ZERO;
    for _ in 0..3 {
        r.send(&t, AgentId(0), AgentId(1), Bytes::from_static(b"x"), now)
            .unwrap();
    }
    let err = r
        .send(&t, AgentId(0), AgentId(1), Bytes::from_static(b"x"), now)
        .unwrap_err();
    assert_eq!(
        err,
        Error::Backpressure {
            from: AgentId(0),
            to: AgentId(1),
            capacity: 3
        }
    );
    assert!(err.to_string().contains("retry"));
    // Another edge is unaffected.
    r.send(&t, AgentId(0), AgentId(3), Bytes::from_static(b"y"), now)
        .unwrap();
    // Deliver and acknowledge: the queue has room again, in order.
    let mut delivered = Vec::new();
    for _ in 0..3 {
        r.flush_acks();
        let outs: Vec<_> = r.drain().collect();
        for o in outs {
            match o {
                Output::Transmit(f) => r.on_frame(&t, f, now),
                Output::Deliver { to, message } => delivered.push((to, message.id.seq)),
                Output::Lost(l) => panic!("{l:?}"),
            }
        }
    }
    assert_eq!(
        delivered,
        vec![
            (AgentId(1), 0),
            (AgentId(1), 1),
            (AgentId(1), 2),
            (AgentId(3), 3)
        ]
    );
    r.send(&t, AgentId(0), AgentId(1), Bytes::from_static(b"x"), now)
        .unwrap();
    assert_eq!(r.open_messages(), 1);
}

#[test]
fn a_silent_edge_retries_with_backoff_then_reroutes_then_reports() {
    // Ring 0-1-2-3: frames on any edge are "lost" (never fed back). 0 -> 1 tries the direct
    // edge (1 s, 2 s, 4 s, 8 s), then the disjoint way round (0-3-2-1), then reports.
    let t = ring(4);
    let mut r = Router::new(RouterConfig::default()).unwrap();
    r.send(
        &t,
        AgentId(0),
        AgentId(1),
        Bytes::from_static(b"x"),
        Duration::ZERO,
    )
    .unwrap();
    let mut sends = Vec::new();
    let mut lost = Vec::new();
    for ms in (0..=40_000).step_by(100) {
        let now = Duration::from_millis(ms);
        r.tick(&t, now);
        for o in r.drain() {
            match o {
                Output::Transmit(f) => sends.push((ms, f.from, f.to)),
                Output::Lost(l) => lost.push((ms, l)),
                Output::Deliver { .. } => panic!("nothing can arrive"),
            }
        }
    }
    let first: Vec<_> = sends
        .iter()
        .filter(|s| s.2 == AgentId(1))
        .map(|s| s.0)
        .collect();
    assert_eq!(first, vec![0, 1000, 3000, 7000]);
    let second: Vec<_> = sends
        .iter()
        .filter(|s| s.2 == AgentId(3))
        .map(|s| s.0)
        .collect();
    assert_eq!(second, vec![15_000, 16_000, 18_000, 22_000]);
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].0, 30_000);
    assert_eq!(lost[0].1.leader, Some(AgentId(0)));
    assert_eq!(r.open_messages(), 0);
}

/// A member leaves with a frame of its old edge still on the network and joins again; the
/// router reuses the freed edge state. The stale frame delivers nothing and the new message
/// still arrives exactly once.
#[test]
fn a_stale_frame_after_leave_and_rejoin_delivers_nothing() {
    let mut t = Topology::new(SwarmId(5), TopologyKind::Mesh).unwrap();
    for i in 0..3 {
        t.add(AgentId(i)).unwrap();
    }
    let mut r = Router::new(RouterConfig::default()).unwrap();
    let now = Duration::ZERO;
    let old = r
        .send(&t, AgentId(0), AgentId(1), Bytes::from_static(b"old"), now)
        .unwrap();
    let stale: Vec<_> = r
        .drain()
        .filter_map(|o| match o {
            Output::Transmit(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(stale.len(), 1);
    t.remove(AgentId(0)).unwrap();
    r.member_removed(&t, AgentId(0), now);
    let lost: Vec<_> = r
        .drain()
        .filter_map(|o| match o {
            Output::Lost(l) => Some(l.id),
            _ => None,
        })
        .collect();
    assert_eq!(lost, vec![old], "the origin left: reported lost");
    t.add(AgentId(0)).unwrap();
    let new = r
        .send(&t, AgentId(0), AgentId(1), Bytes::from_static(b"new"), now)
        .unwrap();
    let fresh: Vec<_> = r
        .drain()
        .filter_map(|o| match o {
            Output::Transmit(f) => Some(f),
            _ => None,
        })
        .collect();
    let mut delivered = Vec::new();
    // The stale frame first, then the new one, then the stale one again.
    for f in stale
        .iter()
        .cloned()
        .chain(fresh)
        .chain(stale.iter().cloned())
    {
        r.on_frame(&t, f, now);
        r.flush_acks();
        for o in r.drain().collect::<Vec<_>>() {
            match o {
                Output::Transmit(f) => r.on_frame(&t, f, now),
                Output::Deliver { to, message } => {
                    delivered.push((to, message.id, message.payload))
                }
                Output::Lost(l) => panic!("{l:?}"),
            }
        }
    }
    assert_eq!(
        delivered,
        vec![(AgentId(1), new, Bytes::from_static(b"new"))]
    );
    assert_eq!(r.open_messages(), 0);
}

/// The in-process network (`run_local`, acknowledging edges directly) ends where draining
/// frames through `on_frame` and `flush_acks` ends: the same deliveries in the same order,
/// the same ack count, and nothing left unacknowledged (a tick long after every ack timeout
/// retransmits nothing).
#[test]
fn the_in_process_network_matches_the_frame_path() {
    let run = |local: bool| {
        let t = ring(12);
        let mut r = Router::new(RouterConfig::default()).unwrap();
        let now = Duration::ZERO;
        let mut delivered = Vec::new();
        for round in 0..4u64 {
            for i in 0..300u64 {
                let (a, b) = ((i * 7 + round) % 12, (i * 5 + 3) % 12);
                r.send(&t, AgentId(a), AgentId(b), Bytes::new(), now)
                    .unwrap();
            }
            r.broadcast(&t, AgentId(round), Bytes::new(), now).unwrap();
            if local {
                r.run_local(&t, now);
            } else {
                loop {
                    r.flush_acks();
                    let frames: Vec<_> = r
                        .drain()
                        .filter_map(|o| match o {
                            Output::Transmit(f) => Some(f),
                            other => {
                                delivered.push(format!("{other:?}"));
                                None
                            }
                        })
                        .collect();
                    if frames.is_empty() {
                        break;
                    }
                    for f in frames {
                        r.on_frame(&t, f, now);
                    }
                }
            }
            delivered.extend(r.drain().map(|o| format!("{o:?}")));
        }
        r.tick(&t, Duration::from_secs(3600));
        (delivered, r.stats(), r.open_messages())
    };
    let (local, local_stats, local_open) = run(true);
    let (framed, framed_stats, framed_open) = run(false);
    assert_eq!(local.len(), 4 * (300 + 11));
    assert_eq!(local, framed);
    assert_eq!(local_stats, framed_stats);
    assert_eq!((local_open, local_stats.retransmits), (0, 0));
    assert_eq!(framed_open, 0);
}
