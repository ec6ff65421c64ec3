//! The tokio runtime: one task owns every swarm and drives the sans-IO core with real time.
//!
//! Calls arrive over a bounded mpsc channel and are handled in batches; messages between
//! members of this process never leave it (the router's in-process shortcut, else frames
//! handed straight back to it, acknowledged per edge per batch of work). Each member reads
//! its mail from a [`Mailbox`]: mail goes in as it is routed, the member is woken once per
//! batch of work, and new sends to a member with a full mailbox are refused; swarm events go
//! out on a broadcast channel.

use crate::consensus::{Ballot, Outcome, Proposal, Quorum};
use crate::credential::Credential;
use crate::error::{Error, Result};
use crate::id::{AgentId, Map, MsgId, SwarmId};
use crate::mailbox::{MailWaker, Mailbox, MailboxSender, Posted, mailbox};
use crate::router::{Delivered, LossReport, Output};
use crate::swarm::{Coordinator, Swarm, SwarmConfig, SwarmEvent};
use crate::topology::{Repair, TopologyView};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;

/// Runtime settings.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// How often retries, heartbeats and deadlines are checked.
    pub tick: Duration,
    /// Unread messages at which new sends to a member are refused
    /// ([`Error::MailboxFull`]); messages already on their way still arrive.
    pub mailbox: usize,
    /// Calls queued to the runtime task before callers wait.
    pub commands: usize,
    /// Events kept for slow subscribers (they skip the oldest beyond this).
    pub events: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(50),
            mailbox: 1024,
            commands: 4096,
            events: 1024,
        }
    }
}

/// What lands in a member's mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mail {
    /// A message for this member.
    Message(Delivered),
    /// This member leads the swarm and a message was lost.
    Loss(LossReport),
}

/// A member's side of the swarm: its credential and its mailbox.
#[derive(Debug)]
pub struct Member {
    /// The swarm.
    pub swarm: SwarmId,
    /// Its id.
    pub id: AgentId,
    /// Signs its votes.
    pub credential: Credential,
    /// Its mail.
    pub mailbox: Mailbox,
}

type Job = Box<dyn FnOnce(&mut Core, Duration) + Send>;

struct Core {
    coord: Coordinator,
    cfg: RuntimeConfig,
    inboxes: Map<(SwarmId, AgentId), MailboxSender>,
    /// Members that got mail since their last wake-up, each once.
    dirty: Vec<MailWaker>,
    events: broadcast::Sender<(SwarmId, SwarmEvent)>,
}

/// Sends routed between runs of the in-process network in one `send_many`. Most sends are
/// delivered within `send` (the router's shortcut); the rest become frames, and this keeps
/// them, their edge queues and the pending outputs in cache until they are handled.
/// (Routing a whole batch of calls at once let frames pile up by the hundred thousand.)
const ROUTE_EVERY: usize = 256;

/// Puts `mail` in `key`'s mailbox (dropped if the member has left: it reads nothing more).
/// The member is woken by the next [`Core::flush_mail`].
fn post(
    inboxes: &mut Map<(SwarmId, AgentId), MailboxSender>,
    dirty: &mut Vec<MailWaker>,
    key: (SwarmId, AgentId),
    mail: Mail,
) {
    if let Some(tx) = inboxes.get_mut(&key)
        && let Posted::First(waker) = tx.post(mail)
    {
        dirty.push(waker);
    }
}

/// Refuses a new send to `to` while its mailbox is full.
fn room_for(
    inboxes: &Map<(SwarmId, AgentId), MailboxSender>,
    cfg: &RuntimeConfig,
    swarm: SwarmId,
    to: AgentId,
) -> Result<()> {
    match inboxes.get(&(swarm, to)) {
        Some(tx) if !tx.has_room() => Err(Error::MailboxFull {
            agent: to,
            capacity: cfg.mailbox,
        }),
        _ => Ok(()),
    }
}

impl Core {
    /// Wakes every member that got mail since the last call, once each.
    fn flush_mail(&mut self) {
        for waker in self.dirty.drain(..) {
            waker.wake();
        }
    }

    /// Runs every swarm's in-process network until quiet (see [`Swarm::run_local`]),
    /// hands out their events, then fills the mailboxes.
    fn pump(&mut self, now: Duration) {
        let Core {
            coord,
            inboxes,
            dirty,
            events,
            ..
        } = self;
        for swarm in coord.swarms_mut() {
            let sid = swarm.id();
            route(swarm, inboxes, dirty, now);
            for e in swarm.drain_events() {
                if let SwarmEvent::Removed(r) = &e {
                    inboxes.remove(&(sid, r.removed));
                }
                let _ = events.send((sid, e));
            }
        }
        self.flush_mail();
    }
}

/// Runs `swarm`'s in-process network until quiet; deliveries and loss reports wait in the
/// inboxes for the next [`Core::flush_mail`].
fn route(
    swarm: &mut Swarm,
    inboxes: &mut Map<(SwarmId, AgentId), MailboxSender>,
    dirty: &mut Vec<MailWaker>,
    now: Duration,
) {
    let sid = swarm.id();
    let mut frames = Vec::new();
    loop {
        swarm.run_local(now);
        for o in swarm.drain_outputs() {
            match o {
                // `run_local` leaves none; handled anyway, in case.
                Output::Transmit(f) => frames.push(f),
                Output::Deliver { to, message } => {
                    post(inboxes, dirty, (sid, to), Mail::Message(message))
                }
                Output::Lost(r) => {
                    if let Some(l) = r.leader {
                        post(inboxes, dirty, (sid, l), Mail::Loss(r));
                    }
                }
            }
        }
        if frames.is_empty() {
            return;
        }
        for f in frames.drain(..) {
            swarm.on_frame(f, now);
        }
    }
}

/// A handle to the runtime; cheap to clone.
#[derive(Debug, Clone)]
pub struct SwarmHandle {
    tx: mpsc::Sender<Job>,
    events: broadcast::Sender<(SwarmId, SwarmEvent)>,
    load: Arc<Load>,
}

/// Work done by the runtime task, counted by the task itself.
#[derive(Debug, Default)]
struct Load {
    busy_ns: AtomicU64,
    rounds: AtomicU64,
}

impl Load {
    fn add(&self, began: Instant) {
        let ns = began.elapsed().as_nanos() as u64;
        self.busy_ns.fetch_add(ns, Ordering::Relaxed);
        self.rounds.fetch_add(1, Ordering::Relaxed);
    }
}

/// How hard the runtime task has worked since it started. One task routes every swarm, so
/// when its busy time grows as fast as the clock, it is the bottleneck: compare two readings
/// over a time window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeLoad {
    /// Time spent handling calls, ticks and routing (not waiting for work).
    pub busy: Duration,
    /// Rounds of work: a batch of calls or a tick, each followed by routing and waking.
    pub rounds: u64,
}

impl SwarmHandle {
    /// Starts the runtime task on the current tokio runtime.
    pub fn start(cfg: RuntimeConfig) -> (SwarmHandle, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<Job>(cfg.commands.max(1));
        let (events, _) = broadcast::channel(cfg.events.max(1));
        let tick = cfg.tick;
        let mut core = Core {
            coord: Coordinator::new(),
            cfg,
            inboxes: Map::default(),
            dirty: Vec::new(),
            events: events.clone(),
        };
        let load = Arc::new(Load::default());
        let counted = load.clone();
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let mut ticker = tokio::time::interval(tick);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut jobs = Vec::with_capacity(256);
            loop {
                tokio::select! {
                    n = rx.recv_many(&mut jobs, 256) => {
                        if n == 0 {
                            break;
                        }
                        let began = Instant::now();
                        let now = began - start;
                        for job in jobs.drain(..) {
                            job(&mut core, now);
                        }
                        core.pump(now);
                        counted.add(began);
                    }
                    _ = ticker.tick() => {
                        let began = Instant::now();
                        let now = began - start;
                        for s in core.coord.swarms_mut() {
                            s.tick(now);
                        }
                        core.pump(now);
                        counted.add(began);
                    }
                }
            }
        });
        (SwarmHandle { tx, events, load }, task)
    }

    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Core, Duration) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Box::new(move |core, now| {
                let _ = tx.send(f(core, now));
            }))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }

    /// How hard the runtime task has worked so far (see [`RuntimeLoad`]).
    pub fn load(&self) -> RuntimeLoad {
        RuntimeLoad {
            busy: Duration::from_nanos(self.load.busy_ns.load(Ordering::Relaxed)),
            rounds: self.load.rounds.load(Ordering::Relaxed),
        }
    }

    /// Swarm events (joins, suspicions, removals with their repair, leader changes,
    /// decisions), for every swarm.
    pub fn subscribe(&self) -> broadcast::Receiver<(SwarmId, SwarmEvent)> {
        self.events.subscribe()
    }

    /// Creates an empty swarm.
    pub async fn create_swarm(&self, mut cfg: SwarmConfig) -> Result<SwarmId> {
        // Its members live in this process: frames between them never leave it.
        cfg.router.in_process = true;
        self.call(move |c, now| Ok(c.coord.create_swarm(cfg, &[], now)?.0))
            .await
    }

    /// Removes a swarm and closes its members' mailboxes.
    pub async fn dissolve(&self, swarm: SwarmId) -> Result<()> {
        self.call(move |c, _| {
            c.coord.dissolve(swarm)?;
            c.inboxes.retain(|(s, _), _| *s != swarm);
            Ok(())
        })
        .await
    }

    /// Adds `agent` to `swarm`; returns its credential and mailbox.
    pub async fn join(&self, swarm: SwarmId, agent: AgentId) -> Result<Member> {
        self.call(move |c, now| {
            let credential = c.coord.swarm_mut(swarm)?.join(agent, now)?;
            let (tx, mailbox) = mailbox(c.cfg.mailbox);
            c.inboxes.insert((swarm, agent), tx);
            Ok(Member {
                swarm,
                id: agent,
                credential,
                mailbox,
            })
        })
        .await
    }

    /// Removes `agent` from `swarm` (the topology repairs itself).
    pub async fn leave(&self, swarm: SwarmId, agent: AgentId) -> Result<Repair> {
        self.call(move |c, now| c.coord.swarm_mut(swarm)?.leave(agent, now))
            .await
    }

    /// A heartbeat from `agent`.
    pub async fn heartbeat(&self, swarm: SwarmId, agent: AgentId) -> Result<()> {
        self.call(move |c, now| c.coord.swarm_mut(swarm)?.heartbeat(agent, now))
            .await
    }

    /// Sends one message.
    pub async fn send(
        &self,
        swarm: SwarmId,
        from: AgentId,
        to: AgentId,
        payload: Bytes,
    ) -> Result<MsgId> {
        self.call(move |c, now| {
            room_for(&c.inboxes, &c.cfg, swarm, to)?;
            c.coord.swarm_mut(swarm)?.send(from, to, payload, now)
        })
        .await
    }

    /// Sends many messages in one call (one trip to the runtime task); one result each.
    pub async fn send_many(
        &self,
        swarm: SwarmId,
        messages: Vec<(AgentId, AgentId, Bytes)>,
    ) -> Result<Vec<Result<MsgId>>> {
        self.call(move |c, now| {
            let Core {
                coord,
                inboxes,
                dirty,
                cfg,
                ..
            } = c;
            let s = coord.swarm_mut(swarm)?;
            let mut results = Vec::with_capacity(messages.len());
            for (i, (from, to, payload)) in messages.into_iter().enumerate() {
                if i > 0 && i % ROUTE_EVERY == 0 {
                    route(s, inboxes, dirty, now);
                }
                results.push(
                    room_for(inboxes, cfg, swarm, to).and_then(|()| s.send(from, to, payload, now)),
                );
            }
            route(s, inboxes, dirty, now);
            Ok(results)
        })
        .await
    }

    /// Broadcasts from `from` to every other member.
    pub async fn broadcast(&self, swarm: SwarmId, from: AgentId, payload: Bytes) -> Result<MsgId> {
        self.call(move |c, now| c.coord.swarm_mut(swarm)?.broadcast(from, payload, now))
            .await
    }

    /// Nodes, edges and leader.
    pub async fn topology(&self, swarm: SwarmId) -> Result<TopologyView> {
        self.call(move |c, _| Ok(c.coord.swarm(swarm)?.topology().view()))
            .await
    }

    /// Up to `redundancy` edge-disjoint paths from `a` to `b`, shortest first.
    pub async fn paths(
        &self,
        swarm: SwarmId,
        a: AgentId,
        b: AgentId,
        redundancy: u8,
    ) -> Result<Vec<Vec<AgentId>>> {
        self.call(move |c, _| {
            c.coord
                .swarm(swarm)?
                .topology()
                .disjoint_paths(a, b, redundancy)
        })
        .await
    }

    /// Opens a proposal closing `open_for` from now.
    pub async fn propose(
        &self,
        swarm: SwarmId,
        proposer: AgentId,
        subject: String,
        quorum: Quorum,
        open_for: Duration,
    ) -> Result<u64> {
        self.call(move |c, now| {
            c.coord
                .swarm_mut(swarm)?
                .propose(proposer, subject, quorum, now + open_for, now)
        })
        .await
    }

    /// Casts a signed vote.
    pub async fn vote(&self, swarm: SwarmId, ballot: Ballot) -> Result<Option<Outcome>> {
        self.call(move |c, now| c.coord.swarm_mut(swarm)?.vote(&ballot, now))
            .await
    }

    /// A proposal and its result.
    pub async fn proposal(&self, swarm: SwarmId, id: u64) -> Result<Proposal> {
        self.call(move |c, _| c.coord.swarm(swarm)?.proposal(id).cloned())
            .await
    }

    /// Runs `f` on the swarm inside the runtime task (one trip) and returns what it computes:
    /// read-only views the calls above do not cover, such as one page of a large mesh's edges
    /// without building all n(n-1)/2 of them.
    pub async fn inspect<T: Send + 'static>(
        &self,
        swarm: SwarmId,
        f: impl FnOnce(&Swarm) -> T + Send + 'static,
    ) -> Result<T> {
        self.call(move |c, _| Ok(f(c.coord.swarm(swarm)?))).await
    }

    /// Records an election winner as the swarm's leader.
    pub async fn set_leader(&self, swarm: SwarmId, leader: AgentId) -> Result<()> {
        self.call(move |c, _| c.coord.swarm_mut(swarm)?.set_leader(leader))
            .await
    }
}
