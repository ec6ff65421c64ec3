//! Deterministic simulation support: a seeded RNG and a faulty network.
//!
//! Everything is driven by a seed, so a failing run can be replayed exactly. The network
//! drops, duplicates and delays frames (independent random delays reorder them), and treats
//! killed members as silent: nothing they send leaves, nothing sent to them arrives.

use crate::id::{AgentId, Set};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

/// SplitMix64: tiny, fast, and good enough to drive fault injection reproducibly.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// A duration in `lo..=hi`, to the microsecond.
    pub fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = hi.saturating_sub(lo).as_micros() as u64;
        lo + Duration::from_micros(self.below(span + 1))
    }
}

/// The network's misbehaviour.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Probability a frame is lost.
    pub drop: f64,
    /// Probability a frame arrives twice.
    pub duplicate: f64,
    /// Shortest delay.
    pub min_delay: Duration,
    /// Longest delay; a spread between the two reorders frames.
    pub max_delay: Duration,
}

impl Faults {
    /// A perfect network with a fixed small delay.
    pub fn none() -> Self {
        Self {
            drop: 0.0,
            duplicate: 0.0,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
        }
    }
}

/// Things in flight, each arriving at a simulated time. `T` is whatever the protocol sends;
/// the network only needs its two ends.
#[derive(Debug)]
pub struct Network<T> {
    /// Current misbehaviour (change it to heal the network).
    pub faults: Faults,
    rng: Rng,
    heap: BinaryHeap<Reverse<(Duration, u64)>>,
    items: crate::id::Map<u64, (AgentId, AgentId, T)>,
    counter: u64,
    dead: Set<AgentId>,
    /// Frames dropped, duplicated, and delivered so far.
    pub dropped: u64,
    /// Frames duplicated so far.
    pub duplicated: u64,
}

impl<T: Clone> Network<T> {
    /// A network with `faults`, randomised from `seed`.
    pub fn new(faults: Faults, seed: u64) -> Self {
        Self {
            faults,
            rng: Rng::new(seed),
            heap: BinaryHeap::new(),
            items: Default::default(),
            counter: 0,
            dead: Set::default(),
            dropped: 0,
            duplicated: 0,
        }
    }

    /// Silences `m` until revived.
    pub fn kill(&mut self, m: AgentId) {
        self.dead.insert(m);
    }

    /// Lets `m` talk again.
    pub fn revive(&mut self, m: AgentId) {
        self.dead.remove(&m);
    }

    /// Whether `m` is silenced.
    pub fn is_dead(&self, m: AgentId) -> bool {
        self.dead.contains(&m)
    }

    /// Puts `item` from `from` to `to` on the wire at `now`.
    pub fn send(&mut self, from: AgentId, to: AgentId, item: T, now: Duration) {
        if self.dead.contains(&from) || self.rng.chance(self.faults.drop) {
            self.dropped += 1;
            return;
        }
        let copies = if self.rng.chance(self.faults.duplicate) {
            self.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let at = now
                + self
                    .rng
                    .between(self.faults.min_delay, self.faults.max_delay);
            self.counter += 1;
            self.heap.push(Reverse((at, self.counter)));
            self.items.insert(self.counter, (from, to, item.clone()));
        }
    }

    /// When the next item arrives.
    pub fn next_arrival(&self) -> Option<Duration> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Items in flight.
    pub fn in_flight(&self) -> usize {
        self.items.len()
    }

    /// The next item due by `now`, skipping those addressed to silenced members.
    pub fn pop_due(&mut self, now: Duration) -> Option<(AgentId, AgentId, T)> {
        while let Some(Reverse((at, k))) = self.heap.peek().copied() {
            if at > now {
                return None;
            }
            self.heap.pop();
            let Some(item) = self.items.remove(&k) else {
                continue;
            };
            if self.dead.contains(&item.1) {
                self.dropped += 1;
                continue;
            }
            return Some(item);
        }
        None
    }
}
