//! The message router: reliable, ordered, de-duplicated delivery along a topology.
//!
//! Per directed edge there is a bounded FIFO queue. Every frame waits for an acknowledgement;
//! without one it is sent again after `ack_timeout`, then after twice that, four times …
//! (`max_retries` times). Then the edge gives up on it and the message is rerouted from its
//! origin along a path that shares no edge with the routes already tried; when `redundancy`
//! routes have failed (or none is left) the loss is reported to the swarm's leader.
//!
//! Exactly once: the origin keeps a record of every unfinished message. The target delivers a
//! copy only while that record is open and closes it as it delivers; a loss report closes it
//! too. Retries, reroutes and network duplicates therefore reach a mailbox at most once, and
//! every message ends either delivered or reported lost.
//!
//! Order: the receiving end of an edge accepts frames in queue order only (out-of-order ones
//! wait in a small buffer), so everything that crosses an edge is handed on in the order it
//! was queued.

use crate::error::{Error, Result};
use crate::frame::{Body, Frame, Hops, Packet, Route, Tree};
use crate::id::{AgentId, Edge, Map, MsgId, Set};
use crate::paths::path_edges;
use crate::topology::Topology;
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// Router settings.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// Messages an edge holds (queued and unacknowledged) before `send` answers
    /// [`Error::Backpressure`].
    pub queue_capacity: usize,
    /// Wait for an acknowledgement before the first retry; doubled for every retry.
    pub ack_timeout: Duration,
    /// Retries on one edge before giving up on it.
    pub max_retries: u32,
    /// Edge-disjoint routes to try per message (1..=3) before reporting it lost.
    pub redundancy: u8,
    /// Out-of-order frames a receiving edge keeps while waiting for the gap.
    pub reorder_window: usize,
    /// Record every in-order acceptance as (edge, epoch, seq) for checks; off in production.
    pub trace_edges: bool,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 1024,
            ack_timeout: Duration::from_secs(1),
            max_retries: 3,
            redundancy: 2,
            reorder_window: 256,
            trace_edges: false,
        }
    }
}

impl RouterConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        if !(1..=3).contains(&self.redundancy) {
            return Err(Error::InvalidRedundancy(self.redundancy));
        }
        if self.queue_capacity == 0 || self.ack_timeout.is_zero() || self.max_retries > 16 {
            return Err(Error::InvalidConfig(
                "queue_capacity and ack_timeout must be above 0 and max_retries at most 16".into(),
            ));
        }
        Ok(())
    }
}

/// What the router wants done.
#[derive(Debug, Clone)]
pub enum Output {
    /// Put this frame on the network.
    Transmit(Frame),
    /// Put this message in `to`'s mailbox.
    Deliver {
        /// The member whose mailbox gets it.
        to: AgentId,
        /// The message.
        message: Delivered,
    },
    /// A message could not be delivered to `target`: tell the leader.
    Lost(LossReport),
}

/// A message as it lands in a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Its id (origin and origin sequence number).
    pub id: MsgId,
    /// The bytes sent.
    pub payload: Bytes,
    /// True for a broadcast.
    pub broadcast: bool,
    /// When the origin sent it.
    pub sent_at: Duration,
}

/// Why a message was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossReason {
    /// Every allowed route failed after its retries.
    RoutesExhausted,
    /// No route avoiding the failed ones exists.
    NoRoute,
    /// The target left the swarm.
    TargetLeft,
    /// The origin left before a reroute was needed.
    OriginLeft,
}

/// A loss, reported to the swarm's leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LossReport {
    /// The message.
    pub id: MsgId,
    /// Who did not get it.
    pub target: AgentId,
    /// The leader the report goes to (None only in an empty swarm).
    pub leader: Option<AgentId>,
    /// Routes tried.
    pub attempts: u8,
    /// Why.
    pub reason: LossReason,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// Messages accepted by `send` and `broadcast`.
    pub sent: u64,
    /// Mailbox deliveries.
    pub delivered: u64,
    /// Copies dropped at the target because the message was already finished (a reroute
    /// whose first route got through after all).
    pub duplicates: u64,
    /// Frames dropped at an edge's receiving end because that position was already taken.
    pub duplicate_frames: u64,
    /// Frames sent again after an ack timeout.
    pub retransmits: u64,
    /// Frames an edge gave up on.
    pub give_ups: u64,
    /// New routes started after a failure.
    pub reroutes: u64,
    /// (message, target) pairs reported lost.
    pub lost: u64,
    /// Acknowledgement frames sent.
    pub acks: u64,
}

struct Slot {
    seq: u64,
    /// What to send again without an ack; `None` once acknowledged or given up.
    resend: Option<Resend>,
    retries: u32,
    deadline: Duration,
}

/// A queued frame minus its payload: the payload stays once in the origin's record, so a hop
/// neither copies nor reference-counts it, and a message that has finished meanwhile (its
/// record is gone) needs no retransmission at all.
struct Resend {
    id: MsgId,
    sent_at: Duration,
    route: Route,
}

struct EdgeTx {
    epoch: u64,
    next_seq: u64,
    slots: VecDeque<Slot>,
    live: usize,
}

impl EdgeTx {
    fn floor(&self) -> u64 {
        self.slots.front().map_or(self.next_seq, |s| s.seq)
    }

    fn pop_finished(&mut self) {
        while self.slots.front().is_some_and(|s| s.resend.is_none()) {
            self.slots.pop_front();
        }
    }
}

struct EdgeRx {
    epoch: u64,
    expected: u64,
    buffer: BTreeMap<u64, Packet>,
    ack_due: bool,
}

struct Attempt {
    attempt: u8,
    tried: Vec<Edge>,
}

enum Record {
    Unicast {
        target: AgentId,
        payload: Bytes,
        sent_at: Duration,
        attempt: Attempt,
    },
    Broadcast {
        payload: Bytes,
        sent_at: Duration,
        pending: Set<AgentId>,
        repairs: Map<AgentId, Attempt>,
    },
}

/// The router of one swarm. Sans-IO: feed it calls, frames and ticks with the current time;
/// take [`Output`]s with [`Router::drain`].
pub struct Router {
    cfg: RouterConfig,
    next_msg: Map<AgentId, u64>,
    tx: Map<(AgentId, AgentId), EdgeTx>,
    rx: Map<(AgentId, AgentId), EdgeRx>,
    active: Set<(AgentId, AgentId)>,
    ack_due: Vec<(AgentId, AgentId)>,
    records: Map<MsgId, Record>,
    epochs: u64,
    out: Vec<Output>,
    stats: RouterStats,
    trace: Vec<(AgentId, AgentId, u64, u64)>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("stats", &self.stats)
            .field("open", &self.records.len())
            .finish_non_exhaustive()
    }
}

impl Router {
    /// A router with `cfg` (checked).
    pub fn new(cfg: RouterConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(Self {
            cfg,
            next_msg: Map::default(),
            tx: Map::default(),
            rx: Map::default(),
            active: Set::default(),
            ack_due: Vec::new(),
            records: Map::default(),
            epochs: 0,
            out: Vec::new(),
            stats: RouterStats::default(),
            trace: Vec::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &RouterConfig {
        &self.cfg
    }

    /// Counters so far.
    pub fn stats(&self) -> RouterStats {
        self.stats
    }

    /// Messages not yet delivered or reported lost.
    pub fn open_messages(&self) -> usize {
        self.records.len()
    }

    /// Takes the outputs produced so far.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Output> {
        self.out.drain(..)
    }

    /// Takes the (edge from, edge to, epoch, seq) acceptances recorded with `trace_edges`.
    pub fn take_trace(&mut self) -> Vec<(AgentId, AgentId, u64, u64)> {
        std::mem::take(&mut self.trace)
    }

    fn next_id(&mut self, origin: AgentId) -> MsgId {
        let seq = self.next_msg.entry(origin).or_insert(0);
        let id = MsgId { origin, seq: *seq };
        *seq += 1;
        id
    }

    fn has_room(&self, from: AgentId, to: AgentId) -> Result<()> {
        match self.tx.get(&(from, to)) {
            Some(tx) if tx.live >= self.cfg.queue_capacity => Err(Error::Backpressure {
                from,
                to,
                capacity: self.cfg.queue_capacity,
            }),
            _ => Ok(()),
        }
    }

    /// Sends `payload` from `from` to `to` along the shortest path. Fails with
    /// [`Error::NotMember`] for non-members and [`Error::Backpressure`] when the first edge's
    /// queue is full (nothing is sent then).
    pub fn send(
        &mut self,
        topo: &Topology,
        from: AgentId,
        to: AgentId,
        payload: Bytes,
        now: Duration,
    ) -> Result<MsgId> {
        topo.require(from)?;
        topo.require(to)?;
        if from == to {
            let id = self.next_id(from);
            self.stats.sent += 1;
            self.stats.delivered += 1;
            self.out.push(Output::Deliver {
                to,
                message: Delivered {
                    id,
                    payload,
                    broadcast: false,
                    sent_at: now,
                },
            });
            return Ok(id);
        }
        let hops = if topo.has_edge(from, to) {
            Hops::new(&[from, to])
        } else {
            Hops::new(&topo.shortest_path(from, to)?)
        };
        self.has_room(from, hops[1])?;
        let id = self.next_id(from);
        self.stats.sent += 1;
        self.records.insert(
            id,
            Record::Unicast {
                target: to,
                payload: payload.clone(),
                sent_at: now,
                attempt: Attempt {
                    attempt: 0,
                    tried: Vec::new(),
                },
            },
        );
        let next = hops[1];
        let packet = Packet {
            id,
            payload,
            sent_at: now,
            route: Route::Path {
                hops,
                at: 1,
                attempt: 0,
            },
        };
        // Room was checked above, so this cannot be refused.
        let _ = self.enqueue(from, next, packet, now);
        Ok(id)
    }

    /// Broadcasts `payload` from `from` to every other member along the topology's spanning
    /// tree (see [`Topology::broadcast_next`]). Fails like [`Router::send`].
    pub fn broadcast(
        &mut self,
        topo: &Topology,
        from: AgentId,
        payload: Bytes,
        now: Duration,
    ) -> Result<MsgId> {
        topo.require(from)?;
        let mut children: Map<AgentId, Vec<AgentId>> = Map::default();
        let mut queue = VecDeque::from([(from, None)]);
        while let Some((at, parent)) = queue.pop_front() {
            let next = topo.broadcast_next(from, at, parent);
            queue.extend(next.iter().map(|n| (*n, Some(at))));
            if !next.is_empty() {
                children.insert(at, next);
            }
        }
        let tree = Arc::new(Tree { children });
        for &c in tree.children(from) {
            self.has_room(from, c)?;
        }
        let id = self.next_id(from);
        self.stats.sent += 1;
        let pending: Set<AgentId> = topo
            .members()
            .iter()
            .copied()
            .filter(|m| *m != from)
            .collect();
        if pending.is_empty() {
            return Ok(id);
        }
        self.records.insert(
            id,
            Record::Broadcast {
                payload: payload.clone(),
                sent_at: now,
                pending,
                repairs: Map::default(),
            },
        );
        let packet = Packet {
            id,
            payload,
            sent_at: now,
            route: Route::Tree(tree.clone()),
        };
        for &c in tree.children(from) {
            let _ = self.enqueue(from, c, packet.clone(), now);
        }
        Ok(id)
    }

    fn enqueue(&mut self, from: AgentId, to: AgentId, packet: Packet, now: Duration) -> Result<()> {
        let cap = self.cfg.queue_capacity;
        let tx = self.tx.entry((from, to)).or_insert_with(|| {
            self.epochs += 1;
            EdgeTx {
                epoch: self.epochs,
                next_seq: 0,
                slots: VecDeque::new(),
                live: 0,
            }
        });
        if tx.live >= cap {
            return Err(Error::Backpressure {
                from,
                to,
                capacity: cap,
            });
        }
        let seq = tx.next_seq;
        tx.next_seq += 1;
        tx.slots.push_back(Slot {
            seq,
            resend: Some(Resend {
                id: packet.id,
                sent_at: packet.sent_at,
                route: packet.route.clone(),
            }),
            retries: 0,
            deadline: now + self.cfg.ack_timeout,
        });
        let floor = tx.floor();
        tx.live += 1;
        let epoch = tx.epoch;
        if tx.live == 1 {
            self.active.insert((from, to));
        }
        self.out.push(Output::Transmit(Frame {
            from,
            to,
            epoch,
            body: Body::Data { seq, floor, packet },
        }));
        Ok(())
    }

    /// Handles a frame that arrived from the network.
    pub fn on_frame(&mut self, topo: &Topology, frame: Frame, now: Duration) {
        let Frame {
            from,
            to,
            epoch,
            body,
        } = frame;
        match body {
            Body::Ack { upto } => self.on_ack((to, from), epoch, upto),
            Body::Data { seq, floor, packet } => {
                if !topo.contains(to) || !topo.contains(from) {
                    return;
                }
                self.on_data((from, to), epoch, seq, floor, packet, topo, now);
            }
        }
    }

    fn on_ack(&mut self, key: (AgentId, AgentId), epoch: u64, upto: u64) {
        let Some(tx) = self.tx.get_mut(&key) else {
            return;
        };
        if tx.epoch != epoch {
            return;
        }
        while tx.slots.front().is_some_and(|s| s.seq < upto) {
            if let Some(s) = tx.slots.pop_front()
                && s.resend.is_some()
            {
                tx.live -= 1;
            }
        }
        tx.pop_finished();
        if tx.live == 0 {
            self.active.remove(&key);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_data(
        &mut self,
        key: (AgentId, AgentId),
        epoch: u64,
        seq: u64,
        floor: u64,
        packet: Packet,
        topo: &Topology,
        now: Duration,
    ) {
        let window = self.cfg.reorder_window;
        let rx = self.rx.entry(key).or_insert(EdgeRx {
            epoch,
            expected: 0,
            buffer: BTreeMap::new(),
            ack_due: false,
        });
        if epoch < rx.epoch {
            return;
        }
        if epoch > rx.epoch {
            *rx = EdgeRx {
                epoch,
                expected: 0,
                buffer: BTreeMap::new(),
                ack_due: false,
            };
        }
        if floor > rx.expected {
            // The sender gave up on everything below `floor` (and rerouted it).
            rx.expected = floor;
            rx.buffer = rx.buffer.split_off(&floor);
        }
        if !rx.ack_due {
            rx.ack_due = true;
            self.ack_due.push(key);
        }
        if seq < rx.expected || rx.buffer.contains_key(&seq) {
            // Already here: a retry after a lost ack, or a network duplicate.
            self.stats.duplicate_frames += 1;
            return;
        }
        if seq > rx.expected {
            if rx.buffer.len() < window {
                rx.buffer.insert(seq, packet);
            }
            return;
        }
        let mut next = Some(packet);
        let mut from_buffer = false;
        while let Some(p) = next.take() {
            let Some(expected) = self.rx.get(&key).map(|rx| rx.expected) else {
                return;
            };
            match self.accept(topo, key, p, now) {
                Ok(()) => {
                    if self.cfg.trace_edges {
                        self.trace.push((key.0, key.1, epoch, expected));
                    }
                    let Some(rx) = self.rx.get_mut(&key) else {
                        return;
                    };
                    rx.expected += 1;
                    next = rx.buffer.remove(&rx.expected);
                    from_buffer = true;
                }
                Err(p) => {
                    // Back-pressure downstream: leave it unacknowledged; the sender retries
                    // it. A buffered frame goes back to wait for that retry.
                    if from_buffer && let Some(rx) = self.rx.get_mut(&key) {
                        rx.buffer.insert(expected, p);
                    }
                    return;
                }
            }
        }
    }

    /// Takes a frame accepted in order at `key.1`: deliver, forward, or (if the next hop has
    /// gone) reroute. Returns the packet back if a forward queue is full.
    fn accept(
        &mut self,
        topo: &Topology,
        key: (AgentId, AgentId),
        packet: Packet,
        now: Duration,
    ) -> std::result::Result<(), Packet> {
        let (_, at) = key;
        let Packet {
            id,
            payload,
            sent_at,
            route,
        } = packet;
        match route {
            Route::Path {
                hops,
                at: i,
                attempt,
            } => {
                let here = i as usize;
                if here + 1 >= hops.len() {
                    self.deliver(at, id, payload, sent_at);
                    return Ok(());
                }
                let next = hops[here + 1];
                if !topo.contains(next) {
                    let route = Route::Path {
                        hops,
                        at: i,
                        attempt,
                    };
                    self.give_up(topo, key, id, route, now);
                    return Ok(());
                }
                if self.has_room(at, next).is_err() {
                    let route = Route::Path {
                        hops,
                        at: i,
                        attempt,
                    };
                    return Err(Packet {
                        id,
                        payload,
                        sent_at,
                        route,
                    });
                }
                let route = Route::Path {
                    hops,
                    at: i + 1,
                    attempt,
                };
                let fwd = Packet {
                    id,
                    payload,
                    sent_at,
                    route,
                };
                let _ = self.enqueue(at, next, fwd, now);
                Ok(())
            }
            Route::Tree(tree) => {
                let kids = tree.children(at);
                if kids.iter().any(|c| self.has_room(at, *c).is_err()) {
                    return Err(Packet {
                        id,
                        payload,
                        sent_at,
                        route: Route::Tree(tree),
                    });
                }
                self.deliver(at, id, payload.clone(), sent_at);
                for &c in kids {
                    let route = Route::Tree(tree.clone());
                    if topo.contains(c) {
                        let copy = Packet {
                            id,
                            payload: payload.clone(),
                            sent_at,
                            route,
                        };
                        let _ = self.enqueue(at, c, copy, now);
                    } else {
                        self.give_up(topo, (at, c), id, route, now);
                    }
                }
                Ok(())
            }
        }
    }

    /// Hands message `id` to `at`'s mailbox if the origin's record still expects it there.
    fn deliver(&mut self, at: AgentId, id: MsgId, payload: Bytes, sent_at: Duration) {
        use std::collections::hash_map::Entry;
        // Some(broadcast?) when this copy is the one that counts.
        let expected = match self.records.entry(id) {
            Entry::Occupied(mut e) => match e.get_mut() {
                Record::Unicast { target, .. } => {
                    let hit = *target == at;
                    if hit {
                        e.remove();
                    }
                    hit.then_some(false)
                }
                Record::Broadcast { pending, .. } => {
                    let hit = pending.remove(&at);
                    if hit && pending.is_empty() {
                        e.remove();
                    }
                    hit.then_some(true)
                }
            },
            Entry::Vacant(_) => None,
        };
        let Some(broadcast) = expected else {
            self.stats.duplicates += 1;
            return;
        };
        self.stats.delivered += 1;
        self.out.push(Output::Deliver {
            to: at,
            message: Delivered {
                id,
                payload,
                broadcast,
                sent_at,
            },
        });
    }

    /// The edge `key` gave up on `packet`: reroute what is still undelivered.
    fn give_up(
        &mut self,
        topo: &Topology,
        key: (AgentId, AgentId),
        id: MsgId,
        route: Route,
        now: Duration,
    ) {
        self.stats.give_ups += 1;
        match route {
            Route::Path { hops, attempt, .. } => {
                let target = hops[hops.len() - 1];
                let tried = match self.records.get_mut(&id) {
                    Some(Record::Unicast { attempt: a, .. }) if a.attempt == attempt => {
                        a.tried.extend(path_edges(&hops));
                        a.tried.clone()
                    }
                    Some(Record::Broadcast {
                        pending, repairs, ..
                    }) if pending.contains(&target) => match repairs.get_mut(&target) {
                        Some(a) if a.attempt == attempt => {
                            a.tried.extend(path_edges(&hops));
                            a.tried.clone()
                        }
                        _ => return,
                    },
                    _ => return, // finished, or an older route's copy
                };
                self.reroute(topo, id, target, attempt + 1, tried, now);
            }
            Route::Tree(tree) => {
                let Some(Record::Broadcast {
                    pending, repairs, ..
                }) = self.records.get_mut(&id)
                else {
                    return;
                };
                let edge = Edge::new(key.0, key.1);
                let mut todo = Vec::new();
                for w in tree.subtree(key.1) {
                    if pending.contains(&w) && !repairs.contains_key(&w) {
                        repairs.insert(
                            w,
                            Attempt {
                                attempt: 1,
                                tried: vec![edge],
                            },
                        );
                        todo.push(w);
                    }
                }
                for w in todo {
                    self.reroute(topo, id, w, 1, vec![edge], now);
                }
            }
        }
    }

    /// Starts route `attempt` (and further ones if a first edge is full) for `target`.
    fn reroute(
        &mut self,
        topo: &Topology,
        id: MsgId,
        target: AgentId,
        mut attempt: u8,
        mut tried: Vec<Edge>,
        now: Duration,
    ) {
        let (payload, sent_at, broadcast) = match self.records.get(&id) {
            Some(Record::Unicast {
                payload, sent_at, ..
            }) => (payload.clone(), *sent_at, false),
            Some(Record::Broadcast {
                payload, sent_at, ..
            }) => (payload.clone(), *sent_at, true),
            None => return,
        };
        let reason = loop {
            if attempt >= self.cfg.redundancy {
                break LossReason::RoutesExhausted;
            }
            if !topo.contains(target) {
                break LossReason::TargetLeft;
            }
            if !topo.contains(id.origin) {
                break LossReason::OriginLeft;
            }
            let avoid: Set<Edge> = tried.iter().copied().collect();
            let Some(path) = topo.path_avoiding(id.origin, target, &avoid) else {
                break LossReason::NoRoute;
            };
            let hops = Hops::new(&path);
            let next = hops[1];
            let packet = Packet {
                id,
                payload: payload.clone(),
                sent_at,
                route: Route::Path {
                    hops,
                    at: 1,
                    attempt,
                },
            };
            let set = Attempt {
                attempt,
                tried: tried.clone(),
            };
            match self.records.get_mut(&id) {
                Some(Record::Unicast { attempt: a, .. }) => *a = set,
                Some(Record::Broadcast { repairs, .. }) => {
                    repairs.insert(target, set);
                }
                None => return,
            }
            self.stats.reroutes += 1;
            if self.enqueue(id.origin, next, packet, now).is_ok() {
                return;
            }
            tried.extend(path_edges(&path));
            attempt += 1;
        };
        let _ = broadcast;
        self.report_lost(topo, id, target, attempt, reason);
    }

    fn report_lost(
        &mut self,
        topo: &Topology,
        id: MsgId,
        target: AgentId,
        attempts: u8,
        reason: LossReason,
    ) {
        match self.records.get_mut(&id) {
            Some(Record::Unicast { target: t, .. }) if *t == target => {
                self.records.remove(&id);
            }
            Some(Record::Broadcast {
                pending, repairs, ..
            }) if pending.contains(&target) => {
                pending.remove(&target);
                repairs.remove(&target);
                if pending.is_empty() {
                    self.records.remove(&id);
                }
            }
            _ => return,
        }
        self.stats.lost += 1;
        self.out.push(Output::Lost(LossReport {
            id,
            target,
            leader: topo.leader(),
            attempts,
            reason,
        }));
    }

    /// Emits one cumulative acknowledgement per edge that received frames since the last
    /// call. Call it after handling a batch of frames: fewer, fuller acks.
    pub fn flush_acks(&mut self) {
        for key in std::mem::take(&mut self.ack_due) {
            if let Some(rx) = self.rx.get_mut(&key)
                && rx.ack_due
            {
                rx.ack_due = false;
                self.stats.acks += 1;
                self.out.push(Output::Transmit(Frame {
                    from: key.1,
                    to: key.0,
                    epoch: rx.epoch,
                    body: Body::Ack { upto: rx.expected },
                }));
            }
        }
    }

    /// Retries frames whose ack is overdue and gives up on those out of retries.
    pub fn tick(&mut self, topo: &Topology, now: Duration) {
        let mut keys: Vec<_> = self.active.iter().copied().collect();
        keys.sort_unstable();
        for key in keys {
            let mut expired = Vec::new();
            let Some(tx) = self.tx.get_mut(&key) else {
                continue;
            };
            let floor = tx.floor();
            for slot in tx.slots.iter_mut() {
                let Some(r) = &slot.resend else { continue };
                if slot.deadline > now {
                    continue;
                }
                let Some(payload) = payload_of(&self.records, r.id) else {
                    // Finished meanwhile (delivered by another route, or reported lost):
                    // nothing left to resend; the floor moves past it.
                    slot.resend = None;
                    tx.live -= 1;
                    continue;
                };
                if slot.retries < self.cfg.max_retries {
                    slot.retries += 1;
                    slot.deadline = now + self.cfg.ack_timeout * (1u32 << slot.retries);
                    self.stats.retransmits += 1;
                    self.out.push(Output::Transmit(Frame {
                        from: key.0,
                        to: key.1,
                        epoch: tx.epoch,
                        body: Body::Data {
                            seq: slot.seq,
                            floor,
                            packet: Packet {
                                id: r.id,
                                payload,
                                sent_at: r.sent_at,
                                route: r.route.clone(),
                            },
                        },
                    }));
                } else if let Some(r) = slot.resend.take() {
                    tx.live -= 1;
                    expired.push(r);
                }
            }
            tx.pop_finished();
            if tx.live == 0 {
                self.active.remove(&key);
            }
            for r in expired {
                self.give_up(topo, key, r.id, r.route, now);
            }
        }
    }

    /// The earliest retry deadline, so a driver can sleep until then.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.active
            .iter()
            .filter_map(|k| self.tx.get(k))
            .flat_map(|tx| {
                tx.slots
                    .iter()
                    .filter(|s| s.resend.is_some())
                    .map(|s| s.deadline)
            })
            .min()
    }

    /// `m` has left the swarm (`topo` no longer has it): everything queued to or by it is
    /// rerouted, messages for it are reported lost, and loss reports not yet drained that
    /// were addressed to it (it was the leader) go to the new leader instead.
    pub fn member_removed(&mut self, topo: &Topology, m: AgentId, now: Duration) {
        for o in &mut self.out {
            if let Output::Lost(r) = o
                && r.leader == Some(m)
            {
                r.leader = topo.leader();
            }
        }
        let mut keys: Vec<_> = self
            .tx
            .keys()
            .filter(|(a, b)| *a == m || *b == m)
            .copied()
            .collect();
        keys.sort_unstable();
        for key in keys {
            self.active.remove(&key);
            if let Some(tx) = self.tx.remove(&key) {
                for r in tx.slots.into_iter().filter_map(|s| s.resend) {
                    self.give_up(topo, key, r.id, r.route, now);
                }
            }
        }
        self.rx.retain(|(a, b), _| *a != m && *b != m);
        let mut hit: Vec<MsgId> = self
            .records
            .iter()
            .filter(|(_, r)| match r {
                Record::Unicast { target, .. } => *target == m,
                Record::Broadcast { pending, .. } => pending.contains(&m),
            })
            .map(|(id, _)| *id)
            .collect();
        hit.sort_unstable();
        for id in hit {
            self.report_lost(topo, id, m, 0, LossReason::TargetLeft);
        }
    }
}

/// The payload of an unfinished message, from its origin's record.
fn payload_of(records: &Map<MsgId, Record>, id: MsgId) -> Option<Bytes> {
    match records.get(&id)? {
        Record::Unicast { payload, .. } | Record::Broadcast { payload, .. } => {
            Some(payload.clone())
        }
    }
}
