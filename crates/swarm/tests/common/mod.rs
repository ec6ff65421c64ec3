//! Helpers shared by the swarm test binaries: topology choice for properties, the case count,
//! and the two checks every routing test makes (exactly once or reported lost; per-edge order).

// Each test binary uses its own subset.
#![allow(dead_code)]

use mcpflow_swarm::{AgentId, MsgId, TopologyKind};
use std::collections::{BTreeMap, BTreeSet};

/// The four shapes, by a proptest-drawn index.
pub fn kind_of(i: u8) -> TopologyKind {
    match i % 4 {
        0 => TopologyKind::Mesh,
        1 => TopologyKind::Ring,
        2 => TopologyKind::Star,
        _ => TopologyKind::Hierarchical { fanout: 2 },
    }
}

/// Cases per property: `default`, or `PROPTEST_CASES` when set (for longer runs).
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Every (message, target) pair in `expected` was delivered exactly once or reported lost —
/// never both, never neither — and nothing was delivered twice.
pub fn assert_exactly_once_or_lost(
    deliveries: &BTreeMap<(MsgId, AgentId), u32>,
    lost: impl Fn(&(MsgId, AgentId)) -> bool,
    expected: &BTreeMap<MsgId, BTreeSet<AgentId>>,
) {
    for (&(id, to), &n) in deliveries {
        assert_eq!(n, 1, "{id:?} reached {to:?} {n} times");
    }
    for (id, targets) in expected {
        for t in targets {
            let delivered = deliveries.contains_key(&(*id, *t));
            let was_lost = lost(&(*id, *t));
            assert!(
                delivered ^ was_lost,
                "{id:?} for {t:?}: delivered {delivered}, lost {was_lost}"
            );
        }
    }
}

/// Per-edge FIFO: each edge incarnation (from, to, epoch) accepted strictly increasing
/// positions, from a router's `take_trace`.
pub fn assert_fifo_per_edge(trace: Vec<(AgentId, AgentId, u64, u64)>) {
    let mut last: BTreeMap<(AgentId, AgentId, u64), u64> = BTreeMap::new();
    for (a, b, epoch, seq) in trace {
        if let Some(prev) = last.insert((a, b, epoch), seq) {
            assert!(seq > prev, "edge {a:?}->{b:?} accepted {seq} after {prev}");
        }
    }
}
