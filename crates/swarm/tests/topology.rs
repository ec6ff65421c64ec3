//! Topology properties: under any sequence of joins and leaves every shape stays connected,
//! its edges agree with `has_edge`, and paths are real, shortest and edge-disjoint.

mod common;
use common::cases;

use mcpflow_swarm::{AgentId, Edge, Error, SwarmId, Topology, TopologyKind, path_edges};
use proptest::prelude::*;
use std::collections::{HashSet, VecDeque};

fn kinds() -> impl Strategy<Value = TopologyKind> {
    prop_oneof![
        Just(TopologyKind::Mesh),
        Just(TopologyKind::Ring),
        Just(TopologyKind::Star),
        (1usize..4).prop_map(|fanout| TopologyKind::Hierarchical { fanout }),
    ]
}

fn bfs_distance(t: &Topology, a: AgentId, b: AgentId) -> Option<usize> {
    let mut seen = HashSet::from([a]);
    let mut q = VecDeque::from([(a, 0)]);
    while let Some((n, d)) = q.pop_front() {
        if n == b {
            return Some(d);
        }
        for m in t.neighbors(n) {
            if seen.insert(m) {
                q.push_back((m, d + 1));
            }
        }
    }
    None
}

fn check_path(t: &Topology, path: &[AgentId], a: AgentId, b: AgentId) {
    assert_eq!(path.first(), Some(&a));
    assert_eq!(path.last(), Some(&b));
    for w in path.windows(2) {
        assert!(t.has_edge(w[0], w[1]), "{:?} not an edge in {path:?}", w);
    }
    let distinct: HashSet<_> = path.iter().collect();
    assert_eq!(distinct.len(), path.len(), "path revisits a node: {path:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(96)))]
    #[test]
    fn shapes_stay_connected_and_paths_are_sound(
        kind in kinds(),
        ops in proptest::collection::vec((any::<bool>(), 0u64..24), 1..60),
        k in 1u8..=3,
    ) {
        let mut t = Topology::new(SwarmId(1), kind).unwrap();
        for (add, id) in ops {
            let a = AgentId(id);
            if add || !t.contains(a) {
                let _ = t.add(a);
            } else {
                let repair = t.remove(a).unwrap();
                prop_assert_eq!(repair.leader_after, t.leader());
                if let Some(l) = repair.leader_after { prop_assert!(t.contains(l)); }
            }
            prop_assert!(t.is_connected(), "{:?} disconnected: {:?}", kind, t.view());
            if !t.is_empty() {
                prop_assert!(t.leader().is_some());
            }
            if let TopologyKind::Hierarchical { fanout } = kind {
                for m in t.members() {
                    let kids = t.neighbors(*m).len() - usize::from(t.parent(*m).is_some());
                    prop_assert!(kids <= fanout);
                }
            }
        }
        let edges = t.edges();
        let set: HashSet<Edge> = edges.iter().copied().collect();
        prop_assert_eq!(set.len(), edges.len());
        for e in &edges {
            prop_assert!(t.has_edge(e.0, e.1) && t.has_edge(e.1, e.0));
        }
        let members = t.members().to_vec();
        for &a in &members {
            prop_assert_eq!(t.neighbors(a).len(), edges.iter().filter(|e| e.0 == a || e.1 == a).count());
            for &b in &members {
                let p = t.shortest_path(a, b).unwrap();
                check_path(&t, &p, a, b);
                prop_assert_eq!(Some(p.len() - 1), bfs_distance(&t, a, b));
                if a == b { continue; }
                let paths = t.disjoint_paths(a, b, k).unwrap();
                let mut used = HashSet::new();
                for p in &paths {
                    check_path(&t, p, a, b);
                    for e in path_edges(p) {
                        prop_assert!(used.insert(e), "edge {:?} shared between paths {:?}", e, paths);
                    }
                }
                let n = members.len();
                let expected = match kind {
                    TopologyKind::Mesh => (n - 1).min(k as usize),
                    TopologyKind::Ring => if n >= 3 { 2.min(k as usize) } else { 1 },
                    TopologyKind::Star | TopologyKind::Hierarchical { .. } => 1,
                };
                prop_assert_eq!(paths.len(), expected);
            }
        }
    }
}

#[test]
fn bad_input_is_refused_with_clear_errors() {
    let mut t = Topology::new(SwarmId(7), TopologyKind::Ring).unwrap();
    t.add(AgentId(1)).unwrap();
    assert_eq!(
        t.add(AgentId(1)),
        Err(Error::AlreadyMember {
            swarm: SwarmId(7),
            agent: AgentId(1)
        })
    );
    let err = t.remove(AgentId(9)).unwrap_err();
    assert_eq!(
        err,
        Error::NotMember {
            swarm: SwarmId(7),
            agent: AgentId(9)
        }
    );
    assert!(err.to_string().contains("add_node"));
    assert_eq!(
        t.disjoint_paths(AgentId(1), AgentId(1), 4),
        Err(Error::InvalidRedundancy(4))
    );
    assert!(matches!(
        Topology::new(SwarmId(1), TopologyKind::Hierarchical { fanout: 0 }),
        Err(Error::InvalidTopology(_))
    ));
}

#[test]
fn star_elects_a_new_hub_and_hierarchy_reattaches_orphans() {
    let mut star = Topology::new(SwarmId(1), TopologyKind::Star).unwrap();
    for i in 0..5 {
        star.add(AgentId(i)).unwrap();
    }
    assert_eq!(star.leader(), Some(AgentId(0)));
    let r = star.remove(AgentId(0)).unwrap();
    assert_eq!(r.leader_after, Some(AgentId(1)));
    assert!(star.has_edge(AgentId(1), AgentId(4)));

    let mut tree = Topology::new(SwarmId(1), TopologyKind::Hierarchical { fanout: 2 }).unwrap();
    for i in 0..7 {
        tree.add(AgentId(i)).unwrap();
    }
    // 0 -> {1,2}; 1 -> {3,4}; 2 -> {5,6}
    assert_eq!(tree.parent(AgentId(4)), Some(AgentId(1)));
    let r = tree.remove(AgentId(0)).unwrap();
    assert_eq!(r.leader_after, Some(AgentId(1)));
    assert_eq!(r.reattached, vec![(AgentId(2), AgentId(3))]);
    assert!(tree.is_connected());
    assert_eq!(
        tree.shortest_path(AgentId(6), AgentId(4)).unwrap(),
        vec![AgentId(6), AgentId(2), AgentId(3), AgentId(1), AgentId(4)]
    );
}
