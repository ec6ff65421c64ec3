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

/// A `HashMap` with a fixed, fast hasher: iteration order is the same in every run, which the
/// deterministic simulation needs (std's default hasher is randomly keyed per process), and
/// the hot path hashes a few integers per message. Keys are ids the platform assigns, not
/// attacker-chosen strings, so a keyed (DoS-resistant) hash buys nothing here.
pub(crate) type Map<K, V> = std::collections::HashMap<K, V, BuildFast>;
/// The set counterpart of [`Map`].
pub(crate) type Set<K> = std::collections::HashSet<K, BuildFast>;

pub(crate) type BuildFast = std::hash::BuildHasherDefault<FastHasher>;

/// Multiply-rotate hashing of whole words (the FxHash idea).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0xf135_7aea_2e62_a9c5);
    }
}

impl std::hash::Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(b));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // The table uses the top bits too: rotate the well-mixed high bits around.
        self.0.rotate_left(26)
    }
}
