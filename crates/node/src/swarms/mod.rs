//! The node's swarms: it owns the swarm runtime ([`mcpflow_swarm::SwarmHandle`]) and adds what
//! an interface needs on top of it — agent ids instead of member numbers, membership limited
//! to live agents of this node, tokens that say who may act for a swarm or a member, an inbox
//! per member, heartbeats driven by agent liveness, and bus events.
//!
//! Identity: every member's HMAC [`Credential`] stays inside the node. A caller proves it
//! speaks for a member with that member's *member token* (a 244-bit random bearer secret
//! handed out once, by `create` or `add`); the node then signs the member's vote with the
//! credential. Changing a swarm's membership or destroying it needs the *swarm token* handed
//! to its creator. Tokens are compared in constant time and die with the membership.
//!
//! Swarms live in memory: a node restart dissolves them (the agents themselves persist).

use mcpflow_agents::{Runtime, RuntimeEvent};
use mcpflow_model::{ContentGate, Event, GateOutcome, GatePoint, Timestamp};
use mcpflow_swarm::{
    AgentId, Ballot, Credential, Decision, DetectorConfig, Error as SwErr, LossReason, Mail,
    Mailbox, Quorum, RouterConfig, RuntimeConfig, SwarmConfig, SwarmEvent, SwarmHandle, SwarmId,
    TopologyKind,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

mod error;
mod views;

pub use error::SwarmError;
pub use views::{
    Created, InboxItem, MemberGrant, MessageRef, NodeView, ProposalView, RepairView, TopologyPage,
};

/// Members one swarm may have.
pub const MAX_MEMBERS: usize = 10_000;
/// Edges the topology resource shows before it says the list is cut (page with `status`).
pub const EDGE_PAGE: usize = 1_000;
/// Longest message payload, in bytes.
pub const MAX_PAYLOAD: usize = 64 * 1024;
/// How often live agents' heartbeats are sent on their behalf.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);

/// Tuning of a new swarm; every field has a default.
#[derive(Debug, Clone, Default)]
pub struct SwarmOptions {
    /// Hierarchical only: children per node (default 4).
    pub fanout: Option<usize>,
    /// Edge-disjoint routes tried per message, 1..=3 (default 2).
    pub redundancy: Option<u8>,
    /// Messages one edge holds before senders are told to back off (default 1024).
    pub queue_capacity: Option<usize>,
}

/// The shape, by name.
pub fn parse_kind(name: &str, fanout: Option<usize>) -> Result<TopologyKind, SwarmError> {
    match name {
        "mesh" => Ok(TopologyKind::Mesh),
        "ring" => Ok(TopologyKind::Ring),
        "star" => Ok(TopologyKind::Star),
        "hierarchical" => Ok(TopologyKind::Hierarchical {
            fanout: fanout.unwrap_or(4),
        }),
        other => Err(SwarmError::Invalid(format!(
            "unknown topology {other:?}: use mesh, hierarchical, ring or star"
        ))),
    }
}

fn kind_name(kind: TopologyKind) -> &'static str {
    match kind {
        TopologyKind::Mesh => "mesh",
        TopologyKind::Ring => "ring",
        TopologyKind::Star => "star",
        TopologyKind::Hierarchical { .. } => "hierarchical",
    }
}

/// The policy of a proposal, with agents named by id.
#[derive(Debug, Clone, PartialEq)]
pub enum QuorumSpec {
    /// More than half.
    Majority,
    /// At least two thirds.
    TwoThirds,
    /// Everyone.
    Unanimous,
    /// A share of the total weight; every member needs a weight.
    Weighted {
        /// Weight per agent id.
        weights: BTreeMap<String, u64>,
        /// Share needed, 0 < t <= 1.
        threshold: f64,
    },
}

/// A member a caller proved it speaks for: its number, credential and inbox.
type Acting = (AgentId, Credential, Inbox);
type Inbox = Arc<tokio::sync::Mutex<Mailbox>>;

#[derive(Debug)]
struct MemberEntry {
    num: AgentId,
    token: String,
    credential: Credential,
    inbox: Inbox,
}

#[derive(Debug)]
struct SwarmEntry {
    token: String,
    members: BTreeMap<String, MemberEntry>,
    /// Wall-clock deadlines of proposals (the runtime keeps its own monotonic ones).
    deadlines: HashMap<u64, i64>,
}

#[derive(Debug, Default)]
struct State {
    next_num: u64,
    num_of: HashMap<String, AgentId>,
    name_of: HashMap<AgentId, String>,
    swarms: BTreeMap<SwarmId, SwarmEntry>,
}

impl State {
    fn num(&mut self, agent: &str) -> AgentId {
        if let Some(n) = self.num_of.get(agent) {
            return *n;
        }
        self.next_num += 1;
        let n = AgentId(self.next_num);
        self.num_of.insert(agent.to_owned(), n);
        self.name_of.insert(n, agent.to_owned());
        n
    }

    fn name(&self, n: AgentId) -> String {
        self.name_of
            .get(&n)
            .cloned()
            .unwrap_or_else(|| format!("#{}", n.0))
    }
}

/// The node's swarms. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Swarms {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    handle: SwarmHandle,
    state: Mutex<State>,
    agents: Runtime,
    bus: broadcast::Sender<Event>,
    /// Every message is inspected before it is routed.
    gate: Option<Arc<dyn ContentGate>>,
    /// Cancelled at shutdown; sticky, so a loop that starts late still sees it.
    stop: CancellationToken,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// URI of a swarm's topology resource.
pub fn swarm_topology_uri(swarm_id: &str) -> String {
    format!("mcpflow://swarms/{swarm_id}/topology")
}

fn swarm_name(s: SwarmId) -> String {
    format!("swarm-{}", s.0)
}

fn parse_swarm(id: &str) -> Result<SwarmId, SwarmError> {
    id.strip_prefix("swarm-")
        .and_then(|n| n.parse().ok())
        .map(SwarmId)
        .ok_or_else(|| SwarmError::UnknownSwarm(id.to_owned()))
}

fn new_token(prefix: &str) -> String {
    // Two v4 UUIDs: 244 bits from the operating system's RNG.
    format!(
        "{prefix}_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Compares secrets without an early exit, so timing does not reveal a matching prefix.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn now_ms() -> i64 {
    Timestamp::now().as_millis()
}

impl Swarms {
    /// Starts the swarm runtime and its event and heartbeat loops.
    pub(crate) fn start(
        agents: Runtime,
        bus: broadcast::Sender<Event>,
        gate: Option<Arc<dyn ContentGate>>,
    ) -> Self {
        let (handle, task) = SwarmHandle::start(RuntimeConfig::default());
        let stop = CancellationToken::new();
        let swarms = Self {
            inner: Arc::new(Shared {
                handle,
                state: Mutex::new(State::default()),
                agents,
                bus,
                gate,
                stop,
                task: Mutex::new(Some(task)),
            }),
        };
        tokio::spawn(swarms.clone().forward_events());
        tokio::spawn(swarms.clone().follow_agents());
        swarms
    }

    /// Stops the loops and the runtime; later calls answer [`SwarmError::Stopped`].
    pub(crate) fn shutdown(&self) {
        self.inner.stop.cancel();
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(task) = task {
            task.abort();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn translate(&self, swarm: SwarmId, e: SwErr) -> SwarmError {
        let st = self.lock();
        let sname = swarm_name(swarm);
        match e {
            SwErr::UnknownSwarm(_) => SwarmError::UnknownSwarm(sname),
            SwErr::NotMember { agent, .. } => SwarmError::NotMember {
                swarm: sname,
                agent: st.name(agent),
            },
            SwErr::AlreadyMember { agent, .. } => SwarmError::AlreadyMember {
                swarm: sname,
                agent: st.name(agent),
            },
            SwErr::InvalidTopology(m) | SwErr::InvalidConfig(m) => SwarmError::Invalid(m),
            SwErr::InvalidRedundancy(r) => {
                SwarmError::Invalid(format!("redundancy {r} is out of range: use 1, 2 or 3"))
            }
            SwErr::InvalidQuorum(m) => SwarmError::InvalidQuorum(m),
            SwErr::UnknownProposal(p) => SwarmError::UnknownProposal {
                swarm: sname,
                proposal: p,
            },
            SwErr::AlreadyVoted { proposal, voter } => SwarmError::AlreadyVoted {
                proposal,
                agent: st.name(voter),
            },
            SwErr::NotEligible { proposal, voter } | SwErr::ForgedVote { proposal, voter } => {
                SwarmError::NotEligible {
                    proposal,
                    agent: st.name(voter),
                }
            }
            SwErr::DeadlinePassed { proposal, .. } => SwarmError::DeadlinePassed(proposal),
            SwErr::AlreadyDecided(p) => SwarmError::AlreadyDecided(p),
            SwErr::DeadlineInPast { .. } => {
                SwarmError::Invalid("the deadline must be in the future".into())
            }
            SwErr::NoPath { from, to } => SwarmError::Busy(format!(
                "no path from {} to {} in the current topology; retry after it is repaired",
                st.name(from),
                st.name(to)
            )),
            SwErr::Backpressure { from, to, capacity } => SwarmError::Busy(format!(
                "back-pressure: the queue from {} to {} holds {capacity} messages; retry once they are delivered",
                st.name(from),
                st.name(to)
            )),
            SwErr::MailboxFull { agent, capacity } => SwarmError::Busy(format!(
                "the inbox of {} holds {capacity} unread messages; retry once it receives some (message_receive)",
                st.name(agent)
            )),
            SwErr::Stopped => SwarmError::Stopped,
        }
    }

    /// Checks that `agent` is a live agent of this node.
    async fn require_live(&self, agent: &str) -> Result<(), SwarmError> {
        match self.inner.agents.agent(agent).await {
            Ok(info) if info.status.is_final() => Err(SwarmError::AgentGone {
                agent: agent.to_owned(),
                status: info.status.to_string(),
            }),
            Ok(_) => Ok(()),
            Err(mcpflow_agents::Error::UnknownAgent(_)) => {
                Err(SwarmError::UnknownAgent(agent.to_owned()))
            }
            Err(e) => Err(SwarmError::Busy(format!(
                "cannot look up agent {agent}: {e}"
            ))),
        }
    }

    /// Creates a swarm of `kind` with `members` (live agents of this node, at least one).
    pub async fn create(
        &self,
        kind: TopologyKind,
        members: &[String],
        options: &SwarmOptions,
    ) -> Result<Created, SwarmError> {
        if members.is_empty() {
            return Err(SwarmError::Invalid(
                "members is empty: list at least one agent id (see agent_list)".into(),
            ));
        }
        if members.len() > MAX_MEMBERS {
            return Err(SwarmError::Invalid(format!(
                "{} members is more than the {MAX_MEMBERS} a swarm may have",
                members.len()
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for m in members {
            if !seen.insert(m) {
                return Err(SwarmError::Invalid(format!(
                    "agent {m} is listed twice in members"
                )));
            }
            self.require_live(m).await?;
        }
        let mut router = RouterConfig::default();
        if let Some(r) = options.redundancy {
            router.redundancy = r;
        }
        if let Some(q) = options.queue_capacity {
            router.queue_capacity = q;
        }
        let cfg = SwarmConfig {
            kind,
            router,
            detector: DetectorConfig::default(),
        };
        let h = &self.inner.handle;
        // Checked here so a bad setting is refused before a swarm exists.
        mcpflow_swarm::Topology::new(SwarmId(0), kind)
            .and_then(|_| cfg.router.validate())
            .map_err(|e| self.translate(SwarmId(0), e))?;
        let sid = h
            .create_swarm(cfg)
            .await
            .map_err(|e| self.translate(SwarmId(0), e))?;
        let token = new_token("swt");
        self.lock().swarms.insert(
            sid,
            SwarmEntry {
                token: token.clone(),
                members: BTreeMap::new(),
                deadlines: HashMap::new(),
            },
        );
        self.publish(sid, "created", None);
        let mut grants = Vec::with_capacity(members.len());
        for m in members {
            match self.join(sid, m).await {
                Ok(g) => grants.push(g),
                Err(e) => {
                    let _ = self.dissolve(sid).await;
                    return Err(e);
                }
            }
        }
        Ok(Created {
            swarm_id: swarm_name(sid),
            swarm_token: token,
            members: grants,
            topology: self.page(sid, 0, EDGE_PAGE).await?,
        })
    }

    async fn join(&self, sid: SwarmId, agent: &str) -> Result<MemberGrant, SwarmError> {
        let num = self.lock().num(agent);
        let member = self
            .inner
            .handle
            .join(sid, num)
            .await
            .map_err(|e| self.translate(sid, e))?;
        let token = new_token("smt");
        let mut st = self.lock();
        let Some(entry) = st.swarms.get_mut(&sid) else {
            return Err(SwarmError::UnknownSwarm(swarm_name(sid)));
        };
        entry.members.insert(
            agent.to_owned(),
            MemberEntry {
                num,
                token: token.clone(),
                credential: member.credential,
                inbox: Arc::new(tokio::sync::Mutex::new(member.mailbox)),
            },
        );
        Ok(MemberGrant {
            agent_id: agent.to_owned(),
            member_token: token,
        })
    }

    fn check_swarm_token(&self, sid: SwarmId, token: &str) -> Result<(), SwarmError> {
        let st = self.lock();
        let entry = st
            .swarms
            .get(&sid)
            .ok_or_else(|| SwarmError::UnknownSwarm(swarm_name(sid)))?;
        if same_secret(&entry.token, token) {
            Ok(())
        } else {
            Err(SwarmError::BadSwarmToken(swarm_name(sid)))
        }
    }

    /// The member `agent` of `sid`, if `token` is its member token: (number, credential, inbox).
    fn member(&self, sid: SwarmId, agent: &str, token: &str) -> Result<Acting, SwarmError> {
        let st = self.lock();
        let entry = st
            .swarms
            .get(&sid)
            .ok_or_else(|| SwarmError::UnknownSwarm(swarm_name(sid)))?;
        let m = entry
            .members
            .get(agent)
            .ok_or_else(|| SwarmError::NotMember {
                swarm: swarm_name(sid),
                agent: agent.to_owned(),
            })?;
        if !same_secret(&m.token, token) {
            return Err(SwarmError::BadMemberToken {
                swarm: swarm_name(sid),
                agent: agent.to_owned(),
            });
        }
        Ok((m.num, m.credential.clone(), m.inbox.clone()))
    }

    /// The member number of `agent` in `sid` (no token needed: it is the target, not the actor).
    fn target(&self, sid: SwarmId, agent: &str) -> Result<AgentId, SwarmError> {
        let st = self.lock();
        let entry = st
            .swarms
            .get(&sid)
            .ok_or_else(|| SwarmError::UnknownSwarm(swarm_name(sid)))?;
        entry
            .members
            .get(agent)
            .map(|m| m.num)
            .ok_or_else(|| SwarmError::NotMember {
                swarm: swarm_name(sid),
                agent: agent.to_owned(),
            })
    }

    /// Adds a live agent; returns its member token and the topology after.
    pub async fn add(
        &self,
        swarm: &str,
        swarm_token: &str,
        agent: &str,
    ) -> Result<(MemberGrant, TopologyPage), SwarmError> {
        let sid = parse_swarm(swarm)?;
        self.check_swarm_token(sid, swarm_token)?;
        self.require_live(agent).await?;
        if self.target(sid, agent).is_ok() {
            return Err(SwarmError::AlreadyMember {
                swarm: swarm.to_owned(),
                agent: agent.to_owned(),
            });
        }
        let grant = self.join(sid, agent).await?;
        Ok((grant, self.page(sid, 0, EDGE_PAGE).await?))
    }

    /// Removes a member; the topology repairs itself and its token dies.
    pub async fn remove(
        &self,
        swarm: &str,
        swarm_token: &str,
        agent: &str,
    ) -> Result<RepairView, SwarmError> {
        let sid = parse_swarm(swarm)?;
        self.check_swarm_token(sid, swarm_token)?;
        let num = self.target(sid, agent)?;
        let repair = self
            .inner
            .handle
            .leave(sid, num)
            .await
            .map_err(|e| self.translate(sid, e))?;
        let (leader_before, leader_after, reattached) = {
            let mut st = self.lock();
            if let Some(e) = st.swarms.get_mut(&sid) {
                e.members.remove(agent);
            }
            (
                repair.leader_before.map(|l| st.name(l)),
                repair.leader_after.map(|l| st.name(l)),
                repair
                    .reattached
                    .iter()
                    .map(|(c, p)| [st.name(*c), st.name(*p)])
                    .collect(),
            )
        };
        Ok(RepairView {
            removed: agent.to_owned(),
            leader_before,
            leader_after,
            reattached,
            topology: self.page(sid, 0, EDGE_PAGE).await?,
        })
    }

    /// Dissolves a swarm: members' inboxes close and every token dies.
    pub async fn destroy(&self, swarm: &str, swarm_token: &str) -> Result<(), SwarmError> {
        let sid = parse_swarm(swarm)?;
        self.check_swarm_token(sid, swarm_token)?;
        self.dissolve(sid).await
    }

    async fn dissolve(&self, sid: SwarmId) -> Result<(), SwarmError> {
        self.inner
            .handle
            .dissolve(sid)
            .await
            .map_err(|e| self.translate(sid, e))?;
        self.lock().swarms.remove(&sid);
        self.publish(sid, "dissolved", None);
        Ok(())
    }

    /// Ids of every swarm.
    pub fn ids(&self) -> Vec<String> {
        self.lock().swarms.keys().map(|s| swarm_name(*s)).collect()
    }

    /// The topology with up to `limit` edges from `offset`, leader and queue depths.
    pub async fn topology(
        &self,
        swarm: &str,
        offset: usize,
        limit: usize,
    ) -> Result<TopologyPage, SwarmError> {
        let sid = parse_swarm(swarm)?;
        if !self.lock().swarms.contains_key(&sid) {
            return Err(SwarmError::UnknownSwarm(swarm.to_owned()));
        }
        self.page(sid, offset, limit).await
    }

    async fn page(
        &self,
        sid: SwarmId,
        offset: usize,
        limit: usize,
    ) -> Result<TopologyPage, SwarmError> {
        // Edges are paged inside the runtime so a big mesh never materialises n(n-1)/2 pairs.
        let raw = self
            .inner
            .handle
            .inspect(sid, move |s| {
                let t = s.topology();
                let members = t.members().to_vec();
                let n = members.len();
                let (edges, total) = match t.kind() {
                    TopologyKind::Mesh => {
                        let total = n * n.saturating_sub(1) / 2;
                        let mut out = Vec::new();
                        let mut k = 0usize;
                        'rows: for i in 0..n {
                            let row = n - 1 - i;
                            if k + row <= offset {
                                k += row;
                                continue;
                            }
                            for j in i + 1..n {
                                if k >= offset {
                                    if out.len() >= limit {
                                        break 'rows;
                                    }
                                    out.push((members[i], members[j]));
                                }
                                k += 1;
                            }
                        }
                        (out, total)
                    }
                    _ => {
                        let all = t.edges();
                        let total = all.len();
                        let page = all
                            .into_iter()
                            .skip(offset)
                            .take(limit)
                            .map(|e| (e.0, e.1))
                            .collect();
                        (page, total)
                    }
                };
                let stats = s.router().stats();
                (
                    t.kind(),
                    members,
                    t.leader(),
                    edges,
                    total,
                    s.router().open_messages(),
                    stats,
                )
            })
            .await
            .map_err(|e| self.translate(sid, e))?;
        let (kind, members, leader, edges, total, in_flight, stats) = raw;
        let st = self.lock();
        let inboxes = st.swarms.get(&sid).map(|e| &e.members);
        let nodes = members
            .iter()
            .map(|m| {
                let agent_id = st.name(*m);
                let inbox = inboxes
                    .and_then(|ms| ms.get(&agent_id))
                    .and_then(|e| e.inbox.try_lock().ok().map(|r| r.len()));
                NodeView { agent_id, inbox }
            })
            .collect();
        let shown = edges.len();
        Ok(TopologyPage {
            swarm_id: swarm_name(sid),
            kind: kind_name(kind),
            fanout: match kind {
                TopologyKind::Hierarchical { fanout } => Some(fanout),
                _ => None,
            },
            nodes,
            leader: leader.map(|l| st.name(l)),
            edges: edges
                .into_iter()
                .map(|(a, b)| [st.name(a), st.name(b)])
                .collect(),
            edges_total: total,
            edges_offset: offset,
            edges_next: (offset + shown < total).then_some(offset + shown),
            in_flight,
            sent: stats.sent,
            delivered: stats.delivered,
            lost: stats.lost,
            retransmits: stats.retransmits,
        })
    }

    /// The message as it travels, once it is small enough and the gate lets it through.
    fn payload(&self, from: &str, text: &str) -> Result<bytes::Bytes, SwarmError> {
        if text.len() > MAX_PAYLOAD {
            return Err(SwarmError::Invalid(format!(
                "the message is {} bytes; send at most {MAX_PAYLOAD}",
                text.len()
            )));
        }
        if let Some(gate) = &self.inner.gate
            && let GateOutcome::Block(reason) =
                gate.inspect(GatePoint::AgentMessage { from }, from, text)
        {
            return Err(SwarmError::Blocked(reason));
        }
        Ok(bytes::Bytes::copy_from_slice(text.as_bytes()))
    }

    /// Sends `text` from member `from` (proved by its token) to member `to`.
    pub async fn send(
        &self,
        swarm: &str,
        from: &str,
        member_token: &str,
        to: &str,
        text: &str,
    ) -> Result<MessageRef, SwarmError> {
        let sid = parse_swarm(swarm)?;
        let (num, _, _) = self.member(sid, from, member_token)?;
        let target = self.target(sid, to)?;
        if target == num {
            return Err(SwarmError::Invalid(format!(
                "agent {from} cannot send a message to itself"
            )));
        }
        let id = self
            .inner
            .handle
            .send(sid, num, target, self.payload(from, text)?)
            .await
            .map_err(|e| self.translate(sid, e))?;
        Ok(MessageRef {
            message_id: format!("{from}#{}", id.seq),
        })
    }

    /// Sends `text` from member `from` to every other member.
    pub async fn broadcast(
        &self,
        swarm: &str,
        from: &str,
        member_token: &str,
        text: &str,
    ) -> Result<MessageRef, SwarmError> {
        let sid = parse_swarm(swarm)?;
        let (num, _, _) = self.member(sid, from, member_token)?;
        let id = self
            .inner
            .handle
            .broadcast(sid, num, self.payload(from, text)?)
            .await
            .map_err(|e| self.translate(sid, e))?;
        Ok(MessageRef {
            message_id: format!("{from}#{}", id.seq),
        })
    }

    /// Takes up to `max` items from member `agent`'s inbox, waiting up to `wait` for the first.
    pub async fn receive(
        &self,
        swarm: &str,
        agent: &str,
        member_token: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<InboxItem>, SwarmError> {
        let sid = parse_swarm(swarm)?;
        let (_, _, inbox) = self.member(sid, agent, member_token)?;
        let mut rx = inbox.lock().await;
        let mut mails = Vec::new();
        if rx.is_empty()
            && !wait.is_zero()
            && let Ok(Some(m)) = tokio::time::timeout(wait, rx.recv()).await
        {
            mails.push(m);
        }
        while mails.len() < max {
            match rx.try_recv() {
                Ok(m) => mails.push(m),
                Err(_) => break,
            }
        }
        drop(rx);
        let st = self.lock();
        Ok(mails
            .into_iter()
            .map(|m| match m {
                Mail::Message(d) => {
                    let from = st.name(d.id.origin);
                    InboxItem::Message {
                        message_id: format!("{from}#{}", d.id.seq),
                        from,
                        broadcast: d.broadcast,
                        text: String::from_utf8_lossy(&d.payload).into_owned(),
                    }
                }
                Mail::Loss(r) => InboxItem::Loss {
                    message_id: format!("{}#{}", st.name(r.id.origin), r.id.seq),
                    target: st.name(r.target),
                    reason: match r.reason {
                        LossReason::RoutesExhausted => "routes_exhausted",
                        LossReason::NoRoute => "no_route",
                        LossReason::TargetLeft => "target_left",
                        LossReason::OriginLeft => "origin_left",
                    },
                },
            })
            .collect())
    }

    /// Opens a proposal by member `proposer`, decided by `quorum` within `open_for`.
    pub async fn propose(
        &self,
        swarm: &str,
        proposer: &str,
        member_token: &str,
        subject: String,
        quorum: QuorumSpec,
        open_for: Duration,
    ) -> Result<ProposalView, SwarmError> {
        let sid = parse_swarm(swarm)?;
        let (num, _, _) = self.member(sid, proposer, member_token)?;
        let quorum = match quorum {
            QuorumSpec::Majority => Quorum::Majority,
            QuorumSpec::TwoThirds => Quorum::TwoThirds,
            QuorumSpec::Unanimous => Quorum::Unanimous,
            QuorumSpec::Weighted { weights, threshold } => {
                let mut w = BTreeMap::new();
                for (agent, weight) in weights {
                    let n = self.target(sid, &agent).map_err(|_| {
                        SwarmError::InvalidQuorum(format!(
                            "weight given for {agent}, which is not a member of {swarm}"
                        ))
                    })?;
                    w.insert(n, weight);
                }
                let st = self.lock();
                if let Some(entry) = st.swarms.get(&sid)
                    && let Some(missing) =
                        entry.members.iter().find(|(_, m)| !w.contains_key(&m.num))
                {
                    return Err(SwarmError::InvalidQuorum(format!(
                        "no weight for member {}: give every member a weight",
                        missing.0
                    )));
                }
                Quorum::Weighted {
                    weights: w,
                    threshold,
                }
            }
        };
        let deadline = now_ms() + i64::try_from(open_for.as_millis()).unwrap_or(i64::MAX / 2);
        let id = self
            .inner
            .handle
            .propose(sid, num, subject, quorum, open_for)
            .await
            .map_err(|e| self.translate(sid, e))?;
        if let Some(e) = self.lock().swarms.get_mut(&sid) {
            e.deadlines.insert(id, deadline);
        }
        self.proposal_view(sid, id).await
    }

    /// Casts member `voter`'s vote (proved by its token; signed inside the node).
    pub async fn vote(
        &self,
        swarm: &str,
        proposal: u64,
        voter: &str,
        member_token: &str,
        approve: bool,
    ) -> Result<ProposalView, SwarmError> {
        let sid = parse_swarm(swarm)?;
        let (num, credential, _) = self.member(sid, voter, member_token)?;
        let ballot = Ballot {
            proposal,
            voter: num,
            approve,
            tag: credential.sign_vote(proposal, approve),
        };
        self.inner
            .handle
            .vote(sid, ballot)
            .await
            .map_err(|e| self.translate(sid, e))?;
        self.proposal_view(sid, proposal).await
    }

    /// A proposal and its result so far.
    pub async fn proposal(&self, swarm: &str, proposal: u64) -> Result<ProposalView, SwarmError> {
        let sid = parse_swarm(swarm)?;
        if !self.lock().swarms.contains_key(&sid) {
            return Err(SwarmError::UnknownSwarm(swarm.to_owned()));
        }
        self.proposal_view(sid, proposal).await
    }

    async fn proposal_view(&self, sid: SwarmId, id: u64) -> Result<ProposalView, SwarmError> {
        let p = self
            .inner
            .handle
            .proposal(sid, id)
            .await
            .map_err(|e| self.translate(sid, e))?;
        let st = self.lock();
        let electorate: BTreeMap<String, u64> = p
            .electorate
            .iter()
            .map(|(a, w)| (st.name(*a), *w))
            .collect();
        let (mut yes, mut no) = (0, 0);
        for (a, v) in &p.votes {
            let w = p.electorate.get(a).copied().unwrap_or(0);
            if *v {
                yes += w;
            } else {
                no += w;
            }
        }
        if let Some(o) = p.outcome {
            (yes, no) = (o.yes, o.no);
        }
        Ok(ProposalView {
            swarm_id: swarm_name(sid),
            proposal_id: p.id,
            proposer: st.name(p.proposer),
            subject: p.subject.clone(),
            policy: match p.quorum {
                Quorum::Majority => "majority",
                Quorum::TwoThirds => "two_thirds",
                Quorum::Unanimous => "unanimous",
                Quorum::Weighted { .. } => "weighted",
            },
            deadline_unix_ms: st
                .swarms
                .get(&sid)
                .and_then(|e| e.deadlines.get(&id).copied())
                .unwrap_or_default(),
            electorate,
            votes: p.votes.iter().map(|(a, v)| (st.name(*a), *v)).collect(),
            status: match p.outcome.map(|o| o.decision) {
                None => "open",
                Some(Decision::Accepted) => "accepted",
                Some(Decision::Rejected) => "rejected",
                Some(Decision::Expired) => "expired",
            },
            yes,
            no,
        })
    }

    fn publish(&self, sid: SwarmId, change: &str, agent: Option<String>) {
        let swarm_id = swarm_name(sid);
        let _ = self.inner.bus.send(Event::ResourceUpdated {
            uri: swarm_topology_uri(&swarm_id),
        });
        let _ = self.inner.bus.send(Event::SwarmChanged {
            swarm_id,
            change: change.to_owned(),
            agent_id: agent,
        });
    }

    /// Turns swarm events into bus events and topology updates; forgets members the failure
    /// detector removed (their tokens die with them).
    async fn forward_events(self) {
        let mut events = self.inner.handle.subscribe();
        let stop = self.inner.stop.clone();
        loop {
            let (sid, event) = tokio::select! {
                e = events.recv() => match e {
                    Ok(e) => e,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "swarm events lagged; some updates were skipped");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = stop.cancelled() => return,
            };
            let name = |a: AgentId| self.lock().name(a);
            let (change, agent) = match event {
                SwarmEvent::Joined(a) => ("joined", Some(name(a))),
                SwarmEvent::Suspected(a) => ("suspected", Some(name(a))),
                SwarmEvent::Recovered(a) => ("recovered", Some(name(a))),
                SwarmEvent::Removed(r) => {
                    let agent = name(r.removed);
                    if let Some(e) = self.lock().swarms.get_mut(&sid) {
                        e.members.remove(&agent);
                    }
                    ("removed", Some(agent))
                }
                SwarmEvent::LeaderChanged { to, .. } => ("leader_changed", to.map(name)),
                SwarmEvent::Decided(_) => ("decided", None),
            };
            self.publish(sid, change, agent);
        }
    }

    /// Heartbeats for members whose agents are alive; a member whose agent stopped for good
    /// leaves its swarms at once (the topology repairs itself).
    async fn follow_agents(self) {
        let mut agent_events = self.inner.agents.events();
        let stop = self.inner.stop.clone();
        let mut ticker = tokio::time::interval(HEARTBEAT_EVERY);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                e = agent_events.recv() => match e {
                    Ok(RuntimeEvent::Agent { id, status, .. }) if status.is_final() => {
                        self.drop_agent(&id).await;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                    _ => {}
                },
                _ = ticker.tick() => self.heartbeats().await,
            }
        }
    }

    fn memberships(&self) -> Vec<(SwarmId, String, AgentId)> {
        let st = self.lock();
        st.swarms
            .iter()
            .flat_map(|(s, e)| e.members.iter().map(|(a, m)| (*s, a.clone(), m.num)))
            .collect()
    }

    async fn drop_agent(&self, agent: &str) {
        for (sid, a, num) in self.memberships() {
            if a == agent
                && self.inner.handle.leave(sid, num).await.is_ok()
                && let Some(e) = self.lock().swarms.get_mut(&sid)
            {
                e.members.remove(agent);
            }
        }
    }

    async fn heartbeats(&self) {
        for (sid, agent, num) in self.memberships() {
            match self.inner.agents.agent(&agent).await {
                Ok(info) if !info.status.is_final() => {
                    let _ = self.inner.handle.heartbeat(sid, num).await;
                }
                // Gone or unknown: no heartbeat, so the failure detector removes it.
                _ => {}
            }
        }
    }
}
