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
use crate::frame::{Body, Frame, Hops, Packet, RecRef, Route, Tree};
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
    /// The network is this process ([`Router::run_local`]), which loses and reorders
    /// nothing: a message whose next edge has nothing queued or unacknowledged is handed to
    /// the receiving end there and then, hop after hop — no frame, no queue slot, no
    /// acknowledgement. When the receiving end cannot take it (a full queue further on) it is
    /// queued unacknowledged and retried like a frame that was refused. Leave it off when
    /// frames cross a real or simulated network: they would bypass it.
    pub in_process: bool,
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
            in_process: false,
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
    rec: RecRef,
    route: Route,
}

struct EdgeTx {
    epoch: u64,
    next_seq: u64,
    slots: VecDeque<Slot>,
    live: usize,
    /// In `Router::active` (the edges `tick` looks at).
    listed: bool,
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

/// A link's sending end, opened on first use with the next of the router's `epochs`.
fn open<'a>(tx: &'a mut Option<EdgeTx>, epochs: &mut u64) -> &'a mut EdgeTx {
    tx.get_or_insert_with(|| {
        *epochs += 1;
        EdgeTx {
            epoch: *epochs,
            next_seq: 0,
            slots: VecDeque::new(),
            live: 0,
            listed: false,
        }
    })
}

struct EdgeRx {
    epoch: u64,
    expected: u64,
    buffer: BTreeMap<u64, Packet>,
    ack_due: bool,
}

/// Both ends of one directed edge: the sender's queue and the receiver's in-order state.
/// Frames name their link by index; when a member leaves, its links are freed and their slots
/// reused, so a frame's index is checked (in use, same ends) before it is trusted.
struct Link {
    from: AgentId,
    to: AgentId,
    in_use: bool,
    /// The topology state (stamp) in which both ends were last seen to be members, so
    /// frames on the link skip that check until the topology changes.
    members_at: u64,
    tx: Option<EdgeTx>,
    rx: Option<EdgeRx>,
}

struct Attempt {
    attempt: u8,
    tried: Vec<Edge>,
}

/// What the receiving end of an edge did with a packet it took in order.
enum Accepted {
    /// Delivered, forwarded along a tree, or handed to a reroute.
    Done,
    /// Goes on along its path over link `.0`, which has room for it.
    Forward(usize, Packet),
    /// A queue further on is full: the packet stays unacknowledged on this edge.
    Refused(Packet),
}

/// The origin's record of an unfinished message.
struct Record {
    id: MsgId,
    payload: Bytes,
    sent_at: Duration,
    kind: RecordKind,
}

enum RecordKind {
    Unicast {
        target: AgentId,
        attempt: Attempt,
    },
    Broadcast {
        pending: Set<AgentId>,
        repairs: Map<AgentId, Attempt>,
    },
}

struct RecSlot {
    generation: u32,
    rec: Option<Record>,
}

/// Open records in reusable slots: opening and closing a message is a push and a take, no
/// hashing, and a frame finds its record by slot. A closed slot's generation moves on, so a
/// late copy of a finished message never matches the slot's next record (the id is checked
/// too).
#[derive(Default)]
struct Records {
    slots: Vec<RecSlot>,
    free: Vec<u32>,
    open: usize,
}

impl Records {
    fn insert(&mut self, rec: Record) -> RecRef {
        self.open += 1;
        if let Some(ix) = self.free.pop() {
            let slot = &mut self.slots[ix as usize];
            slot.rec = Some(rec);
            return RecRef {
                ix,
                generation: slot.generation,
            };
        }
        let ix = self.slots.len() as u32;
        self.slots.push(RecSlot {
            generation: 0,
            rec: Some(rec),
        });
        RecRef { ix, generation: 0 }
    }

    fn get(&self, r: RecRef, id: MsgId) -> Option<&Record> {
        let slot = self.slots.get(r.ix as usize)?;
        if slot.generation != r.generation {
            return None;
        }
        slot.rec.as_ref().filter(|rec| rec.id == id)
    }

    fn get_mut(&mut self, r: RecRef, id: MsgId) -> Option<&mut Record> {
        let slot = self.slots.get_mut(r.ix as usize)?;
        if slot.generation != r.generation {
            return None;
        }
        slot.rec.as_mut().filter(|rec| rec.id == id)
    }

    fn remove(&mut self, r: RecRef, id: MsgId) -> Option<Record> {
        self.get(r, id)?;
        let slot = &mut self.slots[r.ix as usize];
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(r.ix);
        self.open -= 1;
        slot.rec.take()
    }

    fn iter(&self) -> impl Iterator<Item = (RecRef, &Record)> {
        self.slots.iter().enumerate().filter_map(|(ix, s)| {
            let rec = s.rec.as_ref()?;
            Some((
                RecRef {
                    ix: ix as u32,
                    generation: s.generation,
                },
                rec,
            ))
        })
    }
}

/// Paths cached at most, per router; beyond this the cache starts over.
const ROUTE_CACHE: usize = 1 << 16;

/// The router of one swarm. Sans-IO: feed it calls, frames and ticks with the current time;
/// take [`Output`]s with [`Router::drain`].
pub struct Router {
    cfg: RouterConfig,
    next_msg: Map<AgentId, u64>,
    link_ix: Map<(AgentId, AgentId), u32>,
    links: Vec<Link>,
    /// Slots in `links` freed by a member leaving.
    spare_links: Vec<u32>,
    /// Links that may have unacknowledged frames (each once; pruned by `tick`).
    active: Vec<u32>,
    ack_due: Vec<u32>,
    records: Records,
    /// Shortest paths by (from, to), valid for the topology state `routes_stamp`.
    routes: Map<(AgentId, AgentId), Hops>,
    routes_stamp: u64,
    epochs: u64,
    /// Frames to put on the network, in order.
    net: Vec<Frame>,
    /// Deliveries and loss reports, in order.
    out: Vec<Output>,
    /// Spare buffer for `run_local`.
    batch: Vec<Frame>,
    stats: RouterStats,
    trace: Vec<(AgentId, AgentId, u64, u64)>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("stats", &self.stats)
            .field("open", &self.records.open)
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
            link_ix: Map::default(),
            links: Vec::new(),
            spare_links: Vec::new(),
            active: Vec::new(),
            ack_due: Vec::new(),
            records: Records::default(),
            routes: Map::default(),
            routes_stamp: 0,
            epochs: 0,
            net: Vec::new(),
            out: Vec::new(),
            batch: Vec::new(),
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
        self.records.open
    }

    /// Takes the outputs produced so far: deliveries and loss reports in the order they
    /// happened, then the frames to transmit in the order they were produced.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Output> {
        self.out.extend(self.net.drain(..).map(Output::Transmit));
        self.out.drain(..)
    }

    /// The in-process network: hands every frame produced so far straight back to this
    /// router (nothing lost, nothing reordered), acknowledging after each round, until no
    /// frame is left. Only deliveries and loss reports remain for [`Router::drain`].
    /// Equivalent to draining, feeding each `Transmit` to [`Router::on_frame`] and calling
    /// [`Router::flush_acks`] until quiet, without moving frames through [`Output`] — and
    /// without ack frames: each cumulative ack is applied to its edge's queue directly.
    pub fn run_local(&mut self, topo: &Topology, now: Duration) {
        let mut batch = std::mem::take(&mut self.batch);
        loop {
            self.ack_in_process();
            if self.net.is_empty() {
                break;
            }
            std::mem::swap(&mut batch, &mut self.net);
            for f in batch.drain(..) {
                self.on_frame(topo, f, now);
            }
        }
        self.batch = batch;
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

    /// The link from `from` to `to`, created (without state) on first use.
    fn link(&mut self, from: AgentId, to: AgentId) -> usize {
        use std::collections::hash_map::Entry;
        match self.link_ix.entry((from, to)) {
            Entry::Occupied(e) => *e.get() as usize,
            Entry::Vacant(e) => {
                let link = Link {
                    from,
                    to,
                    in_use: true,
                    members_at: 0,
                    tx: None,
                    rx: None,
                };
                let ix = match self.spare_links.pop() {
                    Some(ix) => {
                        self.links[ix as usize] = link;
                        ix as usize
                    }
                    None => {
                        self.links.push(link);
                        self.links.len() - 1
                    }
                };
                e.insert(ix as u32);
                ix
            }
        }
    }

    /// The link from member `i` to member `i + 1` of `hops`: its hint if right, else found
    /// (or created) by the ends.
    fn hop_link(&mut self, hops: &Hops, i: usize) -> usize {
        let (from, to) = (hops[i], hops[i + 1]);
        hops.link_hint(i)
            .and_then(|h| self.hinted(h, from, to))
            .unwrap_or_else(|| self.link(from, to))
    }

    /// The link a frame names, if its hint is right (checked against the ends).
    fn hinted(&self, hint: u32, from: AgentId, to: AgentId) -> Option<usize> {
        self.links
            .get(hint as usize)
            .filter(|l| l.in_use && l.from == from && l.to == to)
            .map(|_| hint as usize)
    }

    fn has_room(&self, ix: usize) -> Result<()> {
        let link = &self.links[ix];
        match &link.tx {
            Some(tx) if tx.live >= self.cfg.queue_capacity => Err(Error::Backpressure {
                from: link.from,
                to: link.to,
                capacity: self.cfg.queue_capacity,
            }),
            _ => Ok(()),
        }
    }

    /// The shortest path from `from` to `to` (two different members), from the cache while
    /// the topology has not changed.
    fn route(&mut self, topo: &Topology, from: AgentId, to: AgentId) -> Result<Hops> {
        if topo.stamp() != self.routes_stamp {
            self.routes.clear();
            self.routes_stamp = topo.stamp();
        }
        if let Some(h) = self.routes.get(&(from, to)) {
            // Cached under this very topology state: both are still members.
            return Ok(h.clone());
        }
        topo.require(from)?;
        topo.require(to)?;
        let mut hops = if topo.has_edge(from, to) {
            Hops::new(&[from, to])
        } else {
            Hops::new(&topo.shortest_path(from, to)?)
        };
        for i in 0..hops.len() - 1 {
            let ix = self.link(hops[i], hops[i + 1]);
            hops.set_link_hint(i, ix as u32);
        }
        if self.routes.len() >= ROUTE_CACHE {
            self.routes.clear();
        }
        self.routes.insert((from, to), hops.clone());
        Ok(hops)
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
        if from == to {
            topo.require(from)?;
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
        let hops = self.route(topo, from, to)?;
        let ix = self.hop_link(&hops, 0);
        self.has_room(ix)?;
        let id = self.next_id(from);
        self.stats.sent += 1;
        let rec = self.records.insert(Record {
            id,
            payload,
            sent_at: now,
            kind: RecordKind::Unicast {
                target: to,
                attempt: Attempt {
                    attempt: 0,
                    tried: Vec::new(),
                },
            },
        });
        let packet = Packet {
            id,
            route: Route::Path {
                hops,
                at: 1,
                attempt: 0,
            },
            rec,
        };
        // Room was checked above, so this cannot be refused.
        self.pass(topo, ix, packet, now);
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
            let ix = self.link(from, c);
            self.has_room(ix)?;
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
        let rec = self.records.insert(Record {
            id,
            payload,
            sent_at: now,
            kind: RecordKind::Broadcast {
                pending,
                repairs: Map::default(),
            },
        });
        for &c in tree.children(from) {
            let ix = self.link(from, c);
            let packet = Packet {
                id,
                route: Route::Tree(tree.clone()),
                rec,
            };
            let _ = self.enqueue(ix, packet, now);
        }
        Ok(id)
    }

    /// The sending end of link `ix`, opened (with a new epoch) on first use.
    fn sender(&mut self, ix: usize) -> &mut EdgeTx {
        open(&mut self.links[ix].tx, &mut self.epochs)
    }

    /// Queues `packet` on link `ix` and emits its frame, or refuses when the queue is full.
    fn enqueue(&mut self, ix: usize, packet: Packet, now: Duration) -> Result<()> {
        let cap = self.cfg.queue_capacity;
        let tx = self.sender(ix);
        if tx.live >= cap {
            let link = &self.links[ix];
            return Err(Error::Backpressure {
                from: link.from,
                to: link.to,
                capacity: cap,
            });
        }
        let seq = tx.next_seq;
        tx.next_seq += 1;
        let tx = self.hold(ix, seq, &packet, now);
        let (epoch, floor) = (tx.epoch, tx.floor());
        let link = &self.links[ix];
        self.net.push(Frame {
            from: link.from,
            to: link.to,
            epoch,
            link: ix as u32,
            body: Body::Data { seq, floor, packet },
        });
        Ok(())
    }

    /// Keeps `packet` at position `seq` of link `ix`'s queue until it is acknowledged (or
    /// retried, then given up); returns the queue.
    fn hold(&mut self, ix: usize, seq: u64, packet: &Packet, now: Duration) -> &EdgeTx {
        let deadline = now + self.cfg.ack_timeout;
        let tx = open(&mut self.links[ix].tx, &mut self.epochs);
        tx.slots.push_back(Slot {
            seq,
            resend: Some(Resend {
                id: packet.id,
                rec: packet.rec,
                route: packet.route.clone(),
            }),
            retries: 0,
            deadline,
        });
        tx.live += 1;
        if !tx.listed {
            tx.listed = true;
            self.active.push(ix as u32);
        }
        tx
    }

    /// Hands `packet` to link `ix` (which has room for it): with [`RouterConfig::in_process`]
    /// straight to the receiving end while the edge is idle, following it hop after hop;
    /// otherwise, and from the first busy edge on, as a queued frame.
    fn pass(&mut self, topo: &Topology, mut ix: usize, mut packet: Packet, now: Duration) {
        loop {
            let Some(seq) = self.express_seq(ix) else {
                let _ = self.enqueue(ix, packet, now);
                return;
            };
            match self.accept(topo, ix, packet, now) {
                Accepted::Done => {
                    self.taken(ix, seq);
                    return;
                }
                Accepted::Forward(next, p) => {
                    self.taken(ix, seq);
                    (ix, packet) = (next, p);
                }
                Accepted::Refused(p) => {
                    // As if its frame had arrived and been refused: the retry brings it.
                    self.hold(ix, seq, &p, now);
                    return;
                }
            }
        }
    }

    /// Claims the next position of link `ix` for a packet that skips the network, if it
    /// may: in-process, and nothing on the edge is queued, unacknowledged or out of order,
    /// so taking it now keeps the edge's order.
    fn express_seq(&mut self, ix: usize) -> Option<u64> {
        if !self.cfg.in_process {
            return None;
        }
        let tx = self.sender(ix);
        if tx.live > 0 {
            return None;
        }
        let (epoch, seq) = (tx.epoch, tx.next_seq);
        let link = &mut self.links[ix];
        let rx = link.rx.get_or_insert_with(|| EdgeRx {
            epoch,
            expected: seq,
            buffer: BTreeMap::new(),
            ack_due: false,
        });
        if rx.epoch != epoch || rx.expected != seq || !rx.buffer.is_empty() {
            return None;
        }
        self.sender(ix).next_seq += 1;
        Some(seq)
    }

    /// The receiving end of link `ix` took position `seq` directly (see [`Router::pass`]).
    fn taken(&mut self, ix: usize, seq: u64) {
        let link = &mut self.links[ix];
        if let Some(rx) = link.rx.as_mut() {
            rx.expected = seq + 1;
            if self.cfg.trace_edges {
                self.trace.push((link.from, link.to, rx.epoch, seq));
            }
        }
    }

    /// Handles a frame that arrived from the network.
    pub fn on_frame(&mut self, topo: &Topology, frame: Frame, now: Duration) {
        let Frame {
            from,
            to,
            epoch,
            link,
            body,
        } = frame;
        match body {
            Body::Ack { upto } => {
                // An ack travels against its edge: the edge is (to, from).
                let ix = self
                    .hinted(link, to, from)
                    .or_else(|| self.link_ix.get(&(to, from)).map(|&i| i as usize));
                if let Some(ix) = ix {
                    self.on_ack(ix, epoch, upto);
                }
            }
            Body::Data { seq, floor, packet } => {
                let ix = match self.hinted(link, from, to) {
                    // Both ends were members in this very topology state.
                    Some(ix) if self.links[ix].members_at == topo.stamp() => ix,
                    hinted => {
                        if !topo.contains(to) || !topo.contains(from) {
                            return;
                        }
                        let ix = hinted.unwrap_or_else(|| self.link(from, to));
                        self.links[ix].members_at = topo.stamp();
                        ix
                    }
                };
                self.on_data(ix, epoch, seq, floor, packet, topo, now);
            }
        }
    }

    fn on_ack(&mut self, ix: usize, epoch: u64, upto: u64) {
        let Some(tx) = self.links[ix].tx.as_mut() else {
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
    }

    #[allow(clippy::too_many_arguments)]
    fn on_data(
        &mut self,
        ix: usize,
        epoch: u64,
        seq: u64,
        floor: u64,
        packet: Packet,
        topo: &Topology,
        now: Duration,
    ) {
        let window = self.cfg.reorder_window;
        let rx = self.links[ix].rx.get_or_insert_with(|| EdgeRx {
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
            self.ack_due.push(ix as u32);
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
            let Some(expected) = self.links[ix].rx.as_ref().map(|rx| rx.expected) else {
                return;
            };
            let forward = match self.accept(topo, ix, p, now) {
                Accepted::Done => None,
                Accepted::Forward(fwd, p) => Some((fwd, p)),
                Accepted::Refused(p) => {
                    // Back-pressure downstream: leave it unacknowledged; the sender retries
                    // it. A buffered frame goes back to wait for that retry.
                    if from_buffer && let Some(rx) = self.links[ix].rx.as_mut() {
                        rx.buffer.insert(expected, p);
                    }
                    return;
                }
            };
            if self.cfg.trace_edges {
                let l = &self.links[ix];
                self.trace.push((l.from, l.to, epoch, expected));
            }
            let Some(rx) = self.links[ix].rx.as_mut() else {
                return;
            };
            rx.expected += 1;
            if !rx.buffer.is_empty() {
                next = rx.buffer.remove(&rx.expected);
            }
            from_buffer = true;
            if let Some((fwd, p)) = forward {
                self.pass(topo, fwd, p, now);
            }
        }
    }

    /// Takes a packet accepted in order at the receiving end of link `ix`: deliver, forward,
    /// or (if the next hop has gone) reroute. Refuses it, untouched, if a forward queue is
    /// full.
    fn accept(&mut self, topo: &Topology, ix: usize, packet: Packet, now: Duration) -> Accepted {
        let key = (self.links[ix].from, self.links[ix].to);
        let at = key.1;
        let Packet { id, route, rec } = packet;
        match route {
            Route::Path {
                hops,
                at: i,
                attempt,
            } => {
                let here = i as usize;
                if here + 1 >= hops.len() {
                    self.deliver(at, id, rec);
                    return Accepted::Done;
                }
                let next = hops[here + 1];
                // A link whose frames have seen both ends as members of this very topology
                // state needs no membership check; otherwise ask the topology.
                let stamp = topo.stamp();
                let fwd = match hops.link_hint(here).and_then(|h| self.hinted(h, at, next)) {
                    Some(fwd) if self.links[fwd].members_at == stamp => fwd,
                    hinted => {
                        if !topo.contains(next) {
                            let route = Route::Path {
                                hops,
                                at: i,
                                attempt,
                            };
                            self.give_up(topo, key, id, rec, route, now);
                            return Accepted::Done;
                        }
                        let fwd = hinted.unwrap_or_else(|| self.link(at, next));
                        self.links[fwd].members_at = stamp;
                        fwd
                    }
                };
                if self.has_room(fwd).is_err() {
                    let route = Route::Path {
                        hops,
                        at: i,
                        attempt,
                    };
                    return Accepted::Refused(Packet { id, route, rec });
                }
                let route = Route::Path {
                    hops,
                    at: i + 1,
                    attempt,
                };
                Accepted::Forward(fwd, Packet { id, route, rec })
            }
            Route::Tree(tree) => {
                let kids = tree.children(at);
                let full = kids.iter().any(|c| {
                    self.link_ix
                        .get(&(at, *c))
                        .is_some_and(|&l| self.has_room(l as usize).is_err())
                });
                if full {
                    let route = Route::Tree(tree);
                    return Accepted::Refused(Packet { id, route, rec });
                }
                self.deliver(at, id, rec);
                for &c in kids {
                    let route = Route::Tree(tree.clone());
                    if topo.contains(c) {
                        let fwd = self.link(at, c);
                        let _ = self.enqueue(fwd, Packet { id, route, rec }, now);
                    } else {
                        self.give_up(topo, (at, c), id, rec, route, now);
                    }
                }
                Accepted::Done
            }
        }
    }

    /// Hands message `id` to `at`'s mailbox if the origin's record still expects it there.
    fn deliver(&mut self, at: AgentId, id: MsgId, rec: RecRef) {
        let Some(r) = self.records.get_mut(rec, id) else {
            self.stats.duplicates += 1;
            return;
        };
        let hit = match &mut r.kind {
            RecordKind::Unicast { target, .. } => (*target == at).then_some((false, true)),
            RecordKind::Broadcast { pending, .. } => {
                let hit = pending.remove(&at);
                hit.then_some((true, pending.is_empty()))
            }
        };
        let Some((broadcast, finished)) = hit else {
            self.stats.duplicates += 1;
            return;
        };
        let sent_at = r.sent_at;
        let payload = if finished {
            self.records
                .remove(rec, id)
                .map(|r| r.payload)
                .unwrap_or_default()
        } else {
            r.payload.clone()
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

    /// The edge `key` gave up on a copy of message `id`: reroute what is still undelivered.
    fn give_up(
        &mut self,
        topo: &Topology,
        key: (AgentId, AgentId),
        id: MsgId,
        rec: RecRef,
        route: Route,
        now: Duration,
    ) {
        self.stats.give_ups += 1;
        let Some(r) = self.records.get_mut(rec, id) else {
            return; // finished
        };
        match route {
            Route::Path { hops, attempt, .. } => {
                let target = hops[hops.len() - 1];
                let tried = match &mut r.kind {
                    RecordKind::Unicast { attempt: a, .. } if a.attempt == attempt => {
                        a.tried.extend(path_edges(&hops));
                        a.tried.clone()
                    }
                    RecordKind::Broadcast { pending, repairs } if pending.contains(&target) => {
                        match repairs.get_mut(&target) {
                            Some(a) if a.attempt == attempt => {
                                a.tried.extend(path_edges(&hops));
                                a.tried.clone()
                            }
                            _ => return,
                        }
                    }
                    _ => return, // an older route's copy
                };
                self.reroute(topo, id, rec, target, attempt + 1, tried, now);
            }
            Route::Tree(tree) => {
                let RecordKind::Broadcast { pending, repairs } = &mut r.kind else {
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
                    self.reroute(topo, id, rec, w, 1, vec![edge], now);
                }
            }
        }
    }

    /// Starts route `attempt` (and further ones if a first edge is full) for `target`.
    #[allow(clippy::too_many_arguments)]
    fn reroute(
        &mut self,
        topo: &Topology,
        id: MsgId,
        rec: RecRef,
        target: AgentId,
        mut attempt: u8,
        mut tried: Vec<Edge>,
        now: Duration,
    ) {
        if self.records.get(rec, id).is_none() {
            return;
        }
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
                route: Route::Path {
                    hops,
                    at: 1,
                    attempt,
                },
                rec,
            };
            let set = Attempt {
                attempt,
                tried: tried.clone(),
            };
            match self.records.get_mut(rec, id).map(|r| &mut r.kind) {
                Some(RecordKind::Unicast { attempt: a, .. }) => *a = set,
                Some(RecordKind::Broadcast { repairs, .. }) => {
                    repairs.insert(target, set);
                }
                None => return,
            }
            self.stats.reroutes += 1;
            let ix = self.link(id.origin, next);
            if self.enqueue(ix, packet, now).is_ok() {
                return;
            }
            tried.extend(path_edges(&path));
            attempt += 1;
        };
        self.report_lost(topo, id, rec, target, attempt, reason);
    }

    fn report_lost(
        &mut self,
        topo: &Topology,
        id: MsgId,
        rec: RecRef,
        target: AgentId,
        attempts: u8,
        reason: LossReason,
    ) {
        let Some(r) = self.records.get_mut(rec, id) else {
            return;
        };
        let finished = match &mut r.kind {
            RecordKind::Unicast { target: t, .. } if *t == target => true,
            RecordKind::Broadcast { pending, repairs } if pending.contains(&target) => {
                pending.remove(&target);
                repairs.remove(&target);
                pending.is_empty()
            }
            _ => return,
        };
        if finished {
            self.records.remove(rec, id);
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

    /// Takes every edge that received frames since its last acknowledgement and hands
    /// `ack` the link with the cumulative ack it owes: (link, epoch, first position not yet
    /// received in order).
    fn take_due_acks(&mut self, mut ack: impl FnMut(&mut Self, u32, u64, u64)) {
        let mut due = std::mem::take(&mut self.ack_due);
        for &ix in &due {
            if let Some(rx) = self.links[ix as usize].rx.as_mut()
                && rx.ack_due
            {
                rx.ack_due = false;
                let (epoch, upto) = (rx.epoch, rx.expected);
                self.stats.acks += 1;
                ack(self, ix, epoch, upto);
            }
        }
        due.clear();
        // Acknowledging adds no edge to the list: keep the allocation.
        self.ack_due = due;
    }

    /// What [`Router::flush_acks`] and handling its frames do, in one step: each edge that
    /// received frames since the last acknowledgement releases what it received.
    fn ack_in_process(&mut self) {
        self.take_due_acks(|r, ix, epoch, upto| r.on_ack(ix as usize, epoch, upto));
    }

    /// Emits one cumulative acknowledgement per edge that received frames since the last
    /// call. Call it after handling a batch of frames: fewer, fuller acks.
    pub fn flush_acks(&mut self) {
        self.take_due_acks(|r, ix, epoch, upto| {
            let link = &r.links[ix as usize];
            let frame = Frame {
                from: link.to,
                to: link.from,
                epoch,
                link: ix,
                body: Body::Ack { upto },
            };
            r.net.push(frame);
        });
    }

    /// Retries frames whose ack is overdue and gives up on those out of retries.
    pub fn tick(&mut self, topo: &Topology, now: Duration) {
        let mut keys = std::mem::take(&mut self.active);
        keys.sort_unstable_by_key(|&ix| {
            let l = &self.links[ix as usize];
            (l.from, l.to)
        });
        keys.dedup();
        let mut keep = Vec::with_capacity(keys.len());
        for ix in keys {
            let mut expired = Vec::new();
            let link = &mut self.links[ix as usize];
            let key = (link.from, link.to);
            let Some(tx) = link.tx.as_mut() else {
                continue; // its member left; a new queue lists itself again
            };
            let floor = tx.floor();
            for slot in tx.slots.iter_mut() {
                let Some(r) = &slot.resend else { continue };
                if slot.deadline > now {
                    continue;
                }
                if self.records.get(r.rec, r.id).is_none() {
                    // Finished meanwhile (delivered by another route, or reported lost):
                    // nothing left to resend; the floor moves past it.
                    slot.resend = None;
                    tx.live -= 1;
                    continue;
                }
                if slot.retries < self.cfg.max_retries {
                    slot.retries += 1;
                    slot.deadline = now + self.cfg.ack_timeout * (1u32 << slot.retries);
                    self.stats.retransmits += 1;
                    self.net.push(Frame {
                        from: key.0,
                        to: key.1,
                        epoch: tx.epoch,
                        link: ix,
                        body: Body::Data {
                            seq: slot.seq,
                            floor,
                            packet: Packet {
                                id: r.id,
                                route: r.route.clone(),
                                rec: r.rec,
                            },
                        },
                    });
                } else if let Some(r) = slot.resend.take() {
                    tx.live -= 1;
                    expired.push(r);
                }
            }
            tx.pop_finished();
            if tx.live == 0 {
                tx.listed = false;
            } else {
                keep.push(ix);
            }
            for r in expired {
                self.give_up(topo, key, r.id, r.rec, r.route, now);
            }
        }
        // Links that became busy during this tick listed themselves in `active` already.
        self.active.extend(keep);
    }

    /// The earliest retry deadline, so a driver can sleep until then.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.active
            .iter()
            .filter_map(|&ix| self.links[ix as usize].tx.as_ref())
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
        let mut touched: Vec<usize> = (0..self.links.len())
            .filter(|&ix| {
                let l = &self.links[ix];
                l.in_use && (l.from == m || l.to == m)
            })
            .collect();
        touched.sort_unstable_by_key(|&ix| (self.links[ix].from, self.links[ix].to));
        for &ix in &touched {
            let key = (self.links[ix].from, self.links[ix].to);
            if let Some(tx) = self.links[ix].tx.take() {
                for r in tx.slots.into_iter().filter_map(|s| s.resend) {
                    self.give_up(topo, key, r.id, r.rec, r.route, now);
                }
            }
        }
        // Free the links (reroutes above never use them: `m` is on no path any more).
        for ix in touched {
            let l = &mut self.links[ix];
            self.link_ix.remove(&(l.from, l.to));
            l.in_use = false;
            l.tx = None;
            l.rx = None;
            l.members_at = 0;
            self.spare_links.push(ix as u32);
        }
        // Cached routes name their first link by index: forget them all, even if the caller
        // has not changed the topology (it should have).
        self.routes.clear();
        let mut hit: Vec<(MsgId, RecRef)> = self
            .records
            .iter()
            .filter(|(_, r)| match &r.kind {
                RecordKind::Unicast { target, .. } => *target == m,
                RecordKind::Broadcast { pending, .. } => pending.contains(&m),
            })
            .map(|(rec, r)| (r.id, rec))
            .collect();
        hit.sort_unstable_by_key(|(id, _)| *id);
        for (id, rec) in hit {
            self.report_lost(topo, id, rec, m, 0, LossReason::TargetLeft);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unicast(seq: u64) -> Record {
        Record {
            id: MsgId {
                origin: AgentId(1),
                seq,
            },
            payload: Bytes::from_static(b"x"),
            sent_at: Duration::ZERO,
            kind: RecordKind::Unicast {
                target: AgentId(2),
                attempt: Attempt {
                    attempt: 0,
                    tried: Vec::new(),
                },
            },
        }
    }

    #[test]
    fn a_reused_record_slot_does_not_answer_for_its_previous_message() {
        let mut recs = Records::default();
        let first = unicast(0);
        let first_id = first.id;
        let old = recs.insert(first);
        assert!(recs.remove(old, first_id).is_some());
        assert!(recs.remove(old, first_id).is_none(), "closed once only");
        let second = unicast(1);
        let second_id = second.id;
        let new = recs.insert(second);
        assert_eq!(new.ix, old.ix, "the slot is reused");
        assert!(
            recs.get(old, first_id).is_none(),
            "an old copy finds nothing"
        );
        assert!(
            recs.get(new, first_id).is_none(),
            "nor does a reference with the wrong id"
        );
        assert!(recs.get(new, second_id).is_some());
        assert_eq!(recs.open, 1);
    }
}
