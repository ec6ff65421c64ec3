//! Proposals decided by authenticated votes under a quorum policy and a deadline.
//!
//! The electorate is fixed when a proposal opens (the members at that time, with their
//! weights); a voter must still be a member when it votes, votes once, and signs its vote with
//! the credential it got at join. A decision is final: once recorded it never changes, and
//! later votes are refused.

use crate::credential::{Keyring, VoteTag};
use crate::error::{Error, Result};
use crate::id::{AgentId, SwarmId};
use crate::topology::Topology;
use std::collections::BTreeMap;
use std::time::Duration;

/// How much "yes" a proposal needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Quorum {
    /// More than half of the electorate.
    Majority,
    /// At least two thirds of the electorate.
    TwoThirds,
    /// Everyone in the electorate.
    Unanimous,
    /// At least `threshold` (0 < t <= 1) of the total weight; every member needs a weight.
    Weighted {
        /// Weight of each member (members missing here make the quorum invalid).
        weights: BTreeMap<AgentId, u64>,
        /// Share of the total weight needed.
        threshold: f64,
    },
}

/// The final result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Enough yes.
    Accepted,
    /// Enough no that yes can no longer win.
    Rejected,
    /// The deadline passed undecided.
    Expired,
}

/// A recorded decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The proposal.
    pub proposal: u64,
    /// What was decided.
    pub decision: Decision,
    /// Weight voting yes.
    pub yes: u64,
    /// Weight voting no.
    pub no: u64,
    /// Weight of the whole electorate.
    pub total: u64,
    /// When it was decided.
    pub at: Duration,
}

/// A signed vote.
#[derive(Debug, Clone)]
pub struct Ballot {
    /// The proposal voted on.
    pub proposal: u64,
    /// Who votes.
    pub voter: AgentId,
    /// Yes or no.
    pub approve: bool,
    /// [`crate::Credential::sign_vote`] over (proposal, approve).
    pub tag: VoteTag,
}

/// A proposal's state, as shown to callers.
#[derive(Debug, Clone)]
pub struct Proposal {
    /// Its id in the swarm.
    pub id: u64,
    /// Who proposed it.
    pub proposer: AgentId,
    /// What it is about (opaque to the swarm).
    pub subject: String,
    /// The policy.
    pub quorum: Quorum,
    /// No votes count at or after this time.
    pub deadline: Duration,
    /// Voters and their weights.
    pub electorate: BTreeMap<AgentId, u64>,
    /// Votes so far.
    pub votes: BTreeMap<AgentId, bool>,
    /// Set once, never changed.
    pub outcome: Option<Outcome>,
}

impl Proposal {
    fn needed(&self, total: u64) -> u64 {
        match &self.quorum {
            Quorum::Majority => total / 2 + 1,
            Quorum::TwoThirds => (total * 2).div_ceil(3),
            Quorum::Unanimous => total,
            Quorum::Weighted { threshold, .. } => {
                ((threshold * total as f64).ceil() as u64).clamp(1, total.max(1))
            }
        }
    }

    fn tally(&self) -> (u64, u64, u64) {
        let total: u64 = self.electorate.values().sum();
        let (mut yes, mut no) = (0, 0);
        for (v, a) in &self.votes {
            let w = self.electorate.get(v).copied().unwrap_or(0);
            if *a { yes += w } else { no += w }
        }
        (yes, no, total)
    }

    /// Decides if the votes so far settle it.
    fn settle(&mut self, now: Duration) -> Option<Outcome> {
        if self.outcome.is_some() {
            return None;
        }
        let (yes, no, total) = self.tally();
        let needed = self.needed(total);
        let decision = if yes >= needed {
            Decision::Accepted
        } else if total.saturating_sub(no) < needed {
            Decision::Rejected
        } else if now >= self.deadline {
            Decision::Expired
        } else {
            return None;
        };
        let o = Outcome {
            proposal: self.id,
            decision,
            yes,
            no,
            total,
            at: now,
        };
        self.outcome = Some(o);
        Some(o)
    }
}

/// The proposals of one swarm.
#[derive(Debug)]
pub struct Consensus {
    swarm: SwarmId,
    next: u64,
    proposals: BTreeMap<u64, Proposal>,
}

impl Consensus {
    /// No proposals yet.
    pub fn new(swarm: SwarmId) -> Self {
        Self {
            swarm,
            next: 1,
            proposals: BTreeMap::new(),
        }
    }

    /// Opens a proposal by `proposer` (a member) deciding by `quorum` before `deadline`.
    pub fn propose(
        &mut self,
        topo: &Topology,
        proposer: AgentId,
        subject: String,
        quorum: Quorum,
        deadline: Duration,
        now: Duration,
    ) -> Result<u64> {
        topo.require(proposer)?;
        if deadline <= now {
            return Err(Error::DeadlineInPast { deadline, now });
        }
        let electorate: BTreeMap<AgentId, u64> = match &quorum {
            Quorum::Weighted { weights, threshold } => {
                if !(threshold.is_finite() && *threshold > 0.0 && *threshold <= 1.0) {
                    return Err(Error::InvalidQuorum(format!(
                        "weighted threshold {threshold} must be above 0 and at most 1"
                    )));
                }
                if let Some(extra) = weights.keys().find(|a| !topo.contains(**a)) {
                    return Err(Error::InvalidQuorum(format!(
                        "weight given for {extra}, which is not a member of {}",
                        self.swarm
                    )));
                }
                let mut e = BTreeMap::new();
                for m in topo.members() {
                    let Some(w) = weights.get(m) else {
                        return Err(Error::InvalidQuorum(format!(
                            "no weight for member {m}: give every member a weight"
                        )));
                    };
                    e.insert(*m, *w);
                }
                if e.values().sum::<u64>() == 0 {
                    return Err(Error::InvalidQuorum(
                        "the weights add up to 0: give some member a positive weight".into(),
                    ));
                }
                e
            }
            _ => topo.members().iter().map(|m| (*m, 1)).collect(),
        };
        let id = self.next;
        self.next += 1;
        self.proposals.insert(
            id,
            Proposal {
                id,
                proposer,
                subject,
                quorum,
                deadline,
                electorate,
                votes: BTreeMap::new(),
                outcome: None,
            },
        );
        Ok(id)
    }

    /// Counts a signed vote. Returns the outcome if this vote decided the proposal.
    pub fn vote(
        &mut self,
        topo: &Topology,
        keys: &Keyring,
        ballot: &Ballot,
        now: Duration,
    ) -> Result<Option<Outcome>> {
        let p = self
            .proposals
            .get_mut(&ballot.proposal)
            .ok_or(Error::UnknownProposal(ballot.proposal))?;
        if now >= p.deadline {
            p.settle(now);
            return Err(Error::DeadlinePassed {
                proposal: p.id,
                deadline: p.deadline,
            });
        }
        if p.outcome.is_some() {
            return Err(Error::AlreadyDecided(p.id));
        }
        if !p.electorate.contains_key(&ballot.voter) || !topo.contains(ballot.voter) {
            return Err(Error::NotEligible {
                proposal: p.id,
                voter: ballot.voter,
            });
        }
        if !keys.verify_vote(p.id, ballot.voter, ballot.approve, &ballot.tag) {
            return Err(Error::ForgedVote {
                proposal: p.id,
                voter: ballot.voter,
            });
        }
        if p.votes.contains_key(&ballot.voter) {
            return Err(Error::AlreadyVoted {
                proposal: p.id,
                voter: ballot.voter,
            });
        }
        p.votes.insert(ballot.voter, ballot.approve);
        Ok(p.settle(now))
    }

    /// A member left: it drops out of the electorates of open proposals it had not voted
    /// on (which may settle them). Returns outcomes decided by this.
    pub fn member_left(&mut self, m: AgentId, now: Duration) -> Vec<Outcome> {
        let mut out = Vec::new();
        for p in self.proposals.values_mut() {
            if p.outcome.is_none() && !p.votes.contains_key(&m) && p.electorate.remove(&m).is_some()
            {
                out.extend(p.settle(now));
            }
        }
        out
    }

    /// Closes proposals whose deadline has passed. Returns the outcomes decided now.
    pub fn tick(&mut self, now: Duration) -> Vec<Outcome> {
        self.proposals
            .values_mut()
            .filter(|p| p.outcome.is_none() && now >= p.deadline)
            .filter_map(|p| p.settle(now))
            .collect()
    }

    /// A proposal and its result so far.
    pub fn get(&self, id: u64) -> Result<&Proposal> {
        self.proposals.get(&id).ok_or(Error::UnknownProposal(id))
    }

    /// All proposals, oldest first.
    pub fn proposals(&self) -> impl Iterator<Item = &Proposal> {
        self.proposals.values()
    }
}
