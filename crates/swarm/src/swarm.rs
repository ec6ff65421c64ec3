//! A swarm: its topology, router, failure detector, keyring and proposals, kept consistent
//! with each other (a member that leaves is removed from all of them at once), plus the
//! [`Coordinator`] that holds every swarm by id.

use crate::consensus::{Ballot, Consensus, Outcome, Proposal, Quorum};
use crate::credential::{Credential, Keyring};
use crate::detector::{Detection, DetectorConfig, FailureDetector};
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::id::{AgentId, MsgId, SwarmId};
use crate::router::{Output, Router, RouterConfig};
use crate::topology::{Repair, Topology, TopologyKind};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::time::Duration;

/// Settings of one swarm.
#[derive(Debug, Clone)]
pub struct SwarmConfig {
    /// Its shape.
    pub kind: TopologyKind,
    /// Routing.
    pub router: RouterConfig,
    /// Heartbeats.
    pub detector: DetectorConfig,
}

impl SwarmConfig {
    /// Defaults for `kind`.
    pub fn new(kind: TopologyKind) -> Self {
        Self {
            kind,
            router: RouterConfig::default(),
            detector: DetectorConfig::default(),
        }
    }
}

/// What members are told about.
#[derive(Debug, Clone, PartialEq)]
pub enum SwarmEvent {
    /// A member joined.
    Joined(AgentId),
    /// A member missed heartbeats and is suspected.
    Suspected(AgentId),
    /// A suspected member was heard again.
    Recovered(AgentId),
    /// A member left (or failed and was removed) and the topology was repaired.
    Removed(Repair),
    /// The leader changed.
    LeaderChanged {
        /// Before.
        from: Option<AgentId>,
        /// After.
        to: Option<AgentId>,
    },
    /// A proposal was decided.
    Decided(Outcome),
}

/// One swarm.
#[derive(Debug)]
pub struct Swarm {
    id: SwarmId,
    topology: Topology,
    router: Router,
    detector: FailureDetector,
    keyring: Keyring,
    consensus: Consensus,
    events: Vec<SwarmEvent>,
}

impl Swarm {
    /// An empty swarm.
    pub fn new(id: SwarmId, cfg: SwarmConfig, keyring: Keyring) -> Result<Self> {
        Ok(Self {
            id,
            topology: Topology::new(id, cfg.kind)?,
            router: Router::new(cfg.router)?,
            detector: FailureDetector::new(cfg.detector)?,
            keyring,
            consensus: Consensus::new(id),
            events: Vec::new(),
        })
    }

    /// Its id.
    pub fn id(&self) -> SwarmId {
        self.id
    }

    /// Its topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Its router (for stats).
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Adds a member; returns the credential it must sign its votes with.
    pub fn join(&mut self, a: AgentId, now: Duration) -> Result<Credential> {
        let before = self.topology.leader();
        self.topology.add(a)?;
        self.detector.watch(a, now);
        self.events.push(SwarmEvent::Joined(a));
        self.leader_check(before);
        Ok(self.keyring.issue(a))
    }

    /// Removes a member: the topology repairs itself, messages queued to or through it are
    /// rerouted, messages for it are reported lost, its credential is revoked and it drops out
    /// of open proposals it had not voted on.
    pub fn leave(&mut self, a: AgentId, now: Duration) -> Result<Repair> {
        let repair = self.topology.remove(a)?;
        self.router.member_removed(&self.topology, a, now);
        self.detector.forget(a);
        self.keyring.revoke(a);
        for o in self.consensus.member_left(a, now) {
            self.events.push(SwarmEvent::Decided(o));
        }
        self.events.push(SwarmEvent::Removed(repair.clone()));
        self.leader_check(repair.leader_before);
        Ok(repair)
    }

    fn leader_check(&mut self, before: Option<AgentId>) {
        let after = self.topology.leader();
        if after != before {
            self.events.push(SwarmEvent::LeaderChanged {
                from: before,
                to: after,
            });
        }
    }

    /// Records the winner of an election (see [`crate::ElectionNode`]) as leader.
    pub fn set_leader(&mut self, a: AgentId) -> Result<()> {
        let before = self.topology.leader();
        self.topology.set_leader(a)?;
        self.leader_check(before);
        Ok(())
    }

    /// A heartbeat from member `a`.
    pub fn heartbeat(&mut self, a: AgentId, now: Duration) -> Result<()> {
        self.topology.require(a)?;
        if let Some(Detection::Recovered(m)) = self.detector.heartbeat(a, now) {
            self.events.push(SwarmEvent::Recovered(m));
        }
        Ok(())
    }

    /// Drives time: suspicions and removals, retries, proposal deadlines.
    pub fn tick(&mut self, now: Duration) {
        for d in self.detector.tick(now) {
            match d {
                Detection::Suspected(m) => self.events.push(SwarmEvent::Suspected(m)),
                Detection::Recovered(m) => self.events.push(SwarmEvent::Recovered(m)),
                Detection::Failed(m) => {
                    let _ = self.leave(m, now);
                }
            }
        }
        self.router.tick(&self.topology, now);
        for o in self.consensus.tick(now) {
            self.events.push(SwarmEvent::Decided(o));
        }
    }

    /// Sends a message (see [`Router::send`]).
    pub fn send(
        &mut self,
        from: AgentId,
        to: AgentId,
        payload: Bytes,
        now: Duration,
    ) -> Result<MsgId> {
        self.router.send(&self.topology, from, to, payload, now)
    }

    /// Broadcasts a message (see [`Router::broadcast`]).
    pub fn broadcast(&mut self, from: AgentId, payload: Bytes, now: Duration) -> Result<MsgId> {
        self.router.broadcast(&self.topology, from, payload, now)
    }

    /// A frame from the network.
    pub fn on_frame(&mut self, frame: Frame, now: Duration) {
        self.router.on_frame(&self.topology, frame, now);
    }

    /// Carries this swarm's frames in process until none is left (see
    /// [`Router::run_local`]); deliveries and loss reports stay for
    /// [`Swarm::drain_outputs`].
    pub fn run_local(&mut self, now: Duration) {
        self.router.run_local(&self.topology, now);
    }

    /// Batches acknowledgements (see [`Router::flush_acks`]).
    pub fn flush_acks(&mut self) {
        self.router.flush_acks();
    }

    /// Router outputs to act on.
    pub fn drain_outputs(&mut self) -> std::vec::Drain<'_, Output> {
        self.router.drain()
    }

    /// Events for members.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, SwarmEvent> {
        self.events.drain(..)
    }

    /// Opens a proposal (see [`Consensus::propose`]).
    pub fn propose(
        &mut self,
        proposer: AgentId,
        subject: String,
        quorum: Quorum,
        deadline: Duration,
        now: Duration,
    ) -> Result<u64> {
        self.consensus
            .propose(&self.topology, proposer, subject, quorum, deadline, now)
    }

    /// Counts a signed vote (see [`Consensus::vote`]).
    pub fn vote(&mut self, ballot: &Ballot, now: Duration) -> Result<Option<Outcome>> {
        let o = self
            .consensus
            .vote(&self.topology, &self.keyring, ballot, now)?;
        if let Some(o) = o {
            self.events.push(SwarmEvent::Decided(o));
        }
        Ok(o)
    }

    /// A proposal and its result.
    pub fn proposal(&self, id: u64) -> Result<&Proposal> {
        self.consensus.get(id)
    }
}

/// Every swarm of a node, by id.
#[derive(Debug)]
pub struct Coordinator {
    swarms: BTreeMap<SwarmId, Swarm>,
    next: u64,
    seed: Option<u64>,
}

impl Default for Coordinator {
    fn default() -> Self {
        Self::new()
    }
}

impl Coordinator {
    /// No swarms; credentials keyed from OS randomness.
    pub fn new() -> Self {
        Self {
            swarms: BTreeMap::new(),
            next: 1,
            seed: None,
        }
    }

    /// No swarms; credentials derived from `seed` (for reproducible simulations only).
    pub fn deterministic(seed: u64) -> Self {
        Self {
            seed: Some(seed),
            ..Self::new()
        }
    }

    /// Creates a swarm with `members`; returns its id and their credentials.
    pub fn create_swarm(
        &mut self,
        cfg: SwarmConfig,
        members: &[AgentId],
        now: Duration,
    ) -> Result<(SwarmId, Vec<Credential>)> {
        let id = SwarmId(self.next);
        let keyring = match self.seed {
            Some(s) => {
                let mut secret = [0u8; 32];
                secret[..8].copy_from_slice(&s.to_le_bytes());
                secret[8..16].copy_from_slice(&id.0.to_le_bytes());
                Keyring::from_secret(id, secret)
            }
            None => Keyring::random(id),
        };
        let mut swarm = Swarm::new(id, cfg, keyring)?;
        let creds = members
            .iter()
            .map(|m| swarm.join(*m, now))
            .collect::<Result<Vec<_>>>()?;
        self.next += 1;
        self.swarms.insert(id, swarm);
        Ok((id, creds))
    }

    /// A swarm, or [`Error::UnknownSwarm`].
    pub fn swarm(&self, id: SwarmId) -> Result<&Swarm> {
        self.swarms.get(&id).ok_or(Error::UnknownSwarm(id))
    }

    /// A swarm to change, or [`Error::UnknownSwarm`].
    pub fn swarm_mut(&mut self, id: SwarmId) -> Result<&mut Swarm> {
        self.swarms.get_mut(&id).ok_or(Error::UnknownSwarm(id))
    }

    /// Removes a swarm.
    pub fn dissolve(&mut self, id: SwarmId) -> Result<Swarm> {
        self.swarms.remove(&id).ok_or(Error::UnknownSwarm(id))
    }

    /// Ids of all swarms.
    pub fn ids(&self) -> Vec<SwarmId> {
        self.swarms.keys().copied().collect()
    }

    /// Every swarm, to drive them all (ticks).
    pub fn swarms_mut(&mut self) -> impl Iterator<Item = &mut Swarm> {
        self.swarms.values_mut()
    }
}
