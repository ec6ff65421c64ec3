//! Identifiers: small copyable numbers, so hot paths hash and compare integers.

use std::fmt;

/// A member of a swarm (an agent). The caller chooses the number; the agents crate maps its
/// own ids onto these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentId(pub u64);

/// A swarm, as handed out by [`crate::Coordinator::create_swarm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SwarmId(pub u64);

/// A message: its origin plus the origin's own sequence number, so ids never collide and a
/// receiver can tell a retry from a new message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MsgId {
    /// The member that sent it.
    pub origin: AgentId,
    /// The origin's sequence number (starts at 0, one per message).
    pub seq: u64,
}

/// An undirected edge, stored with the smaller id first so both directions compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Edge(pub AgentId, pub AgentId);

impl Edge {
    /// The edge between `a` and `b`, whichever way round they are given.
    pub fn new(a: AgentId, b: AgentId) -> Self {
        if a <= b { Edge(a, b) } else { Edge(b, a) }
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "agent {}", self.0)
    }
}

impl fmt::Display for SwarmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "swarm {}", self.0)
    }
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "message {}#{}", self.origin.0, self.seq)
    }
}

/// A `HashMap` with a fixed hasher: iteration order is the same in every run, which the
/// deterministic simulation needs (std's default hasher is randomly keyed per process).
pub(crate) type Map<K, V> =
    std::collections::HashMap<K, V, std::hash::BuildHasherDefault<std::hash::DefaultHasher>>;
/// The set counterpart of [`Map`].
pub(crate) type Set<K> =
    std::collections::HashSet<K, std::hash::BuildHasherDefault<std::hash::DefaultHasher>>;
