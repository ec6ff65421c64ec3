//! Raft-style election under a faulty network (loss, duplication, reordering, members
//! silenced and revived), all from a seed: never two leaders in one term, and once the
//! network heals everyone follows one leader.

mod common;
use common::cases;

use mcpflow_swarm::sim::{Faults, Network, Rng};
use mcpflow_swarm::{AgentId, ElectionConfig, ElectionMsg, ElectionNode, Role};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

fn run(
    seed: u64,
    n: u64,
    drop: f64,
    dup: f64,
    max_delay_ms: u64,
    kills: bool,
) -> BTreeMap<u64, AgentId> {
    let group: Vec<AgentId> = (0..n).map(AgentId).collect();
    let cfg = ElectionConfig {
        timeout_min: Duration::from_millis(150),
        timeout_max: Duration::from_millis(300),
        heartbeat: Duration::from_millis(50),
    };
    let mut nodes: Vec<ElectionNode> = group
        .iter()
        .map(|id| {
            ElectionNode::new(*id, group.clone(), cfg.clone(), seed ^ id.0, Duration::ZERO).unwrap()
        })
        .collect();
    let faults = Faults {
        drop,
        duplicate: dup,
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(max_delay_ms),
    };
    let mut net: Network<ElectionMsg> = Network::new(faults, seed);
    let mut rng = Rng::new(seed.wrapping_mul(31));
    let mut leaders: BTreeMap<u64, AgentId> = BTreeMap::new();
    let step = Duration::from_millis(5);
    let heal = Duration::from_secs(8);
    let mut now = Duration::ZERO;
    while now < Duration::from_secs(16) {
        now += step;
        if now == heal {
            net.faults = Faults::none();
            for id in &group {
                net.revive(*id);
            }
        }
        if kills && now < heal && rng.chance(0.01) {
            let m = group[rng.below(n) as usize];
            if net.is_dead(m) {
                net.revive(m)
            } else {
                net.kill(m)
            }
        }
        while let Some((from, to, msg)) = net.pop_due(now) {
            nodes[to.0 as usize].on_message(from, msg, now);
        }
        for node in nodes.iter_mut() {
            node.tick(now);
        }
        for (i, node) in nodes.iter_mut().enumerate() {
            if node.role() == Role::Leader {
                let me = AgentId(i as u64);
                let prev = leaders.entry(node.term()).or_insert(me);
                assert_eq!(*prev, me, "two leaders in term {}", node.term());
            }
            let msgs: Vec<_> = node.drain().collect();
            for (to, m) in msgs {
                net.send(AgentId(i as u64), to, m, now);
            }
        }
    }
    // Healed for 8 s: one leader, followed by all, in the highest term.
    let top = nodes.iter().map(|x| x.term()).max().unwrap();
    let leader = leaders.get(&top).copied();
    assert!(leader.is_some(), "no leader after healing (term {top})");
    for node in &nodes {
        assert_eq!(node.term(), top);
        assert!(node.role() == Role::Leader || node.leader() == leader);
    }
    leaders
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(24)))]
    #[test]
    fn at_most_one_leader_per_term(
        seed in any::<u64>(),
        n in 1u64..8,
        drop in 0.0f64..0.4,
        dup in 0.0f64..0.3,
        max_delay_ms in 1u64..120,
        kills in any::<bool>(),
    ) {
        run(seed, n, drop, dup, max_delay_ms, kills);
    }
}

#[test]
fn deterministic_and_contested() {
    let a = run(5, 5, 0.2, 0.1, 80, true);
    assert_eq!(a, run(5, 5, 0.2, 0.1, 80, true));
    assert!(a.len() > 1, "faults should force several terms: {a:?}");
}

#[test]
fn bad_config_is_refused() {
    let cfg = ElectionConfig {
        heartbeat: Duration::from_secs(5),
        ..ElectionConfig::default()
    };
    assert!(ElectionNode::new(AgentId(1), vec![AgentId(1)], cfg, 1, Duration::ZERO).is_err());
    assert!(
        ElectionNode::new(
            AgentId(1),
            vec![AgentId(2)],
            ElectionConfig::default(),
            1,
            Duration::ZERO
        )
        .is_err()
    );
}
