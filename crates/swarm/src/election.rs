//! Leader election by Raft's rules (no log): terms only grow; a member votes at most once
//! per term; a candidate needs a majority of the whole group; any message with a higher term
//! turns the receiver into a follower of that term. Hence at most one leader per term.
//!
//! Sans-IO: [`ElectionNode::tick`] and [`ElectionNode::on_message`] take the time and queue
//! messages to send, taken with [`ElectionNode::drain`]. The term and vote must outlive a
//! restart for the guarantee to hold (as in Raft); a node that loses them must rejoin with a
//! new id.

use crate::error::{Error, Result};
use crate::id::{AgentId, Set};
use crate::sim::Rng;
use std::time::Duration;

/// Timing of the election.
#[derive(Debug, Clone)]
pub struct ElectionConfig {
    /// Shortest wait without hearing a leader before standing.
    pub timeout_min: Duration,
    /// Longest such wait; the random spread keeps candidates from colliding forever.
    pub timeout_max: Duration,
    /// How often a leader tells followers it is alive.
    pub heartbeat: Duration,
}

impl Default for ElectionConfig {
    fn default() -> Self {
        Self {
            timeout_min: Duration::from_millis(1500),
            timeout_max: Duration::from_millis(3000),
            heartbeat: Duration::from_millis(500),
        }
    }
}

/// Messages between members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionMsg {
    /// A candidate asks for a vote in `term`.
    RequestVote {
        /// The candidate's term.
        term: u64,
    },
    /// The answer.
    Vote {
        /// The voter's term.
        term: u64,
        /// Whether the vote was given.
        granted: bool,
    },
    /// The leader of `term` is alive (or, with a lower term, a stale leader is told to stop).
    Heartbeat {
        /// The sender's term.
        term: u64,
    },
    /// Reply to a heartbeat from an older term, carrying ours so the old leader steps down.
    Stale {
        /// The receiver's newer term.
        term: u64,
    },
}

impl ElectionMsg {
    fn term(&self) -> u64 {
        match *self {
            ElectionMsg::RequestVote { term }
            | ElectionMsg::Vote { term, .. }
            | ElectionMsg::Heartbeat { term }
            | ElectionMsg::Stale { term } => term,
        }
    }
}

/// A member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Follows the leader it last heard.
    Follower,
    /// Asking for votes.
    Candidate,
    /// Won its term.
    Leader,
}

/// One member's election state.
#[derive(Debug)]
pub struct ElectionNode {
    id: AgentId,
    group: Vec<AgentId>,
    cfg: ElectionConfig,
    rng: Rng,
    term: u64,
    voted_for: Option<AgentId>,
    role: Role,
    votes: Set<AgentId>,
    leader: Option<AgentId>,
    deadline: Duration,
    out: Vec<(AgentId, ElectionMsg)>,
}

impl ElectionNode {
    /// Member `id` of `group` (which includes it), starting as a follower at `now`; `seed`
    /// randomises its election timeouts.
    pub fn new(
        id: AgentId,
        group: Vec<AgentId>,
        cfg: ElectionConfig,
        seed: u64,
        now: Duration,
    ) -> Result<Self> {
        if !group.contains(&id) {
            return Err(Error::InvalidConfig(format!(
                "{id} must be in its own election group"
            )));
        }
        if cfg.timeout_min > cfg.timeout_max || cfg.heartbeat >= cfg.timeout_min {
            return Err(Error::InvalidConfig(
                "election needs heartbeat < timeout_min <= timeout_max".into(),
            ));
        }
        let mut n = Self {
            id,
            group,
            cfg,
            rng: Rng::new(seed),
            term: 0,
            voted_for: None,
            role: Role::Follower,
            votes: Set::default(),
            leader: None,
            deadline: Duration::ZERO,
            out: Vec::new(),
        };
        n.reset_timer(now);
        Ok(n)
    }

    fn reset_timer(&mut self, now: Duration) {
        self.deadline = now + self.rng.between(self.cfg.timeout_min, self.cfg.timeout_max);
    }

    /// This member.
    pub fn id(&self) -> AgentId {
        self.id
    }

    /// Current term.
    pub fn term(&self) -> u64 {
        self.term
    }

    /// Current role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The leader this member knows of in its current term.
    pub fn leader(&self) -> Option<AgentId> {
        self.leader
    }

    /// Messages to send, as (to, message).
    pub fn drain(&mut self) -> std::vec::Drain<'_, (AgentId, ElectionMsg)> {
        self.out.drain(..)
    }

    fn broadcast(&mut self, msg: ElectionMsg) {
        for &p in &self.group {
            if p != self.id {
                self.out.push((p, msg));
            }
        }
    }

    fn become_leader(&mut self, now: Duration) {
        self.role = Role::Leader;
        self.leader = Some(self.id);
        self.deadline = now + self.cfg.heartbeat;
        self.broadcast(ElectionMsg::Heartbeat { term: self.term });
    }

    fn has_majority(&self) -> bool {
        self.votes.len() * 2 > self.group.len()
    }

    /// Drives timeouts: a follower or candidate that heard no leader stands for the next
    /// term; a leader sends heartbeats.
    pub fn tick(&mut self, now: Duration) {
        if now < self.deadline {
            return;
        }
        match self.role {
            Role::Leader => {
                self.deadline = now + self.cfg.heartbeat;
                self.broadcast(ElectionMsg::Heartbeat { term: self.term });
            }
            Role::Follower | Role::Candidate => {
                self.term += 1;
                self.role = Role::Candidate;
                self.voted_for = Some(self.id);
                self.leader = None;
                self.votes.clear();
                self.votes.insert(self.id);
                self.reset_timer(now);
                if self.has_majority() {
                    self.become_leader(now);
                } else {
                    self.broadcast(ElectionMsg::RequestVote { term: self.term });
                }
            }
        }
    }

    /// Handles a message from `from`.
    pub fn on_message(&mut self, from: AgentId, msg: ElectionMsg, now: Duration) {
        if !self.group.contains(&from) {
            return;
        }
        if msg.term() > self.term {
            self.term = msg.term();
            self.role = Role::Follower;
            self.voted_for = None;
            self.leader = None;
        }
        match msg {
            ElectionMsg::RequestVote { term } => {
                let granted = term == self.term
                    && self.role == Role::Follower
                    && self.voted_for.is_none_or(|v| v == from);
                if granted {
                    self.voted_for = Some(from);
                    self.reset_timer(now);
                }
                self.out.push((
                    from,
                    ElectionMsg::Vote {
                        term: self.term,
                        granted,
                    },
                ));
            }
            ElectionMsg::Vote { term, granted } => {
                if granted && term == self.term && self.role == Role::Candidate {
                    self.votes.insert(from);
                    if self.has_majority() {
                        self.become_leader(now);
                    }
                }
            }
            ElectionMsg::Heartbeat { term } => {
                if term < self.term {
                    self.out
                        .push((from, ElectionMsg::Stale { term: self.term }));
                } else {
                    // Same term: `from` won it (one leader per term), so follow.
                    self.role = Role::Follower;
                    self.leader = Some(from);
                    self.reset_timer(now);
                }
            }
            ElectionMsg::Stale { .. } => {} // the term bump above did the work
        }
    }
}
