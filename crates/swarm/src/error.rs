//! Every way a call into the swarm library can be refused, each saying what to do instead.

use crate::id::{AgentId, SwarmId};
use std::time::Duration;

/// Errors from the swarm library. Nothing here is a panic: bad input comes back as one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No swarm has this id.
    #[error("unknown {0}: create it with create_swarm or list the existing swarms")]
    UnknownSwarm(SwarmId),
    /// The agent is not a member of the swarm.
    #[error("{agent} is not a member of {swarm}: add it with add_node first")]
    NotMember {
        /// The swarm asked about.
        swarm: SwarmId,
        /// The agent that is not in it.
        agent: AgentId,
    },
    /// The agent is already a member.
    #[error("{agent} is already a member of {swarm}")]
    AlreadyMember {
        /// The swarm.
        swarm: SwarmId,
        /// The agent.
        agent: AgentId,
    },
    /// A topology setting is out of range.
    #[error("invalid topology: {0}")]
    InvalidTopology(String),
    /// Redundancy must be 1, 2 or 3 paths.
    #[error("redundancy {0} is out of range: ask for 1, 2 or 3 edge-disjoint paths")]
    InvalidRedundancy(u8),
    /// No path joins the two members in the current topology.
    #[error("no path from {from} to {to} in the current topology")]
    NoPath {
        /// Start.
        from: AgentId,
        /// End.
        to: AgentId,
    },
    /// The edge queue toward the next hop is full: back off and retry later.
    #[error(
        "back-pressure: the queue on edge {from} -> {to} holds {capacity} messages; retry after deliveries drain it"
    )]
    Backpressure {
        /// Sending end of the full edge.
        from: AgentId,
        /// Receiving end of the full edge.
        to: AgentId,
        /// Its capacity.
        capacity: usize,
    },
    /// The target's mailbox is full: its owner is not reading. Retry later.
    #[error("the mailbox of {agent} holds {capacity} unread messages; retry once it reads some")]
    MailboxFull {
        /// The member whose mailbox is full.
        agent: AgentId,
        /// Mailbox capacity.
        capacity: usize,
    },
    /// A router or detector setting is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The quorum policy cannot be satisfied or is malformed.
    #[error("invalid quorum: {0}")]
    InvalidQuorum(String),
    /// No proposal has this id in the swarm.
    #[error("unknown proposal {0} in this swarm")]
    UnknownProposal(u64),
    /// The voter already voted on this proposal.
    #[error("{voter} already voted on proposal {proposal}: each member votes once")]
    AlreadyVoted {
        /// The proposal.
        proposal: u64,
        /// The voter.
        voter: AgentId,
    },
    /// The voter was not a member when the proposal opened, or has left since.
    #[error(
        "{voter} may not vote on proposal {proposal}: only current members present at proposal time vote"
    )]
    NotEligible {
        /// The proposal.
        proposal: u64,
        /// The voter.
        voter: AgentId,
    },
    /// The vote's authentication tag does not match the voter's credential.
    #[error(
        "vote from {voter} on proposal {proposal} is not authenticated by its credential: sign it with Credential::sign_vote"
    )]
    ForgedVote {
        /// The proposal.
        proposal: u64,
        /// The claimed voter.
        voter: AgentId,
    },
    /// The deadline passed before the vote arrived.
    #[error("proposal {proposal} closed at {deadline:?}: votes after the deadline are not counted")]
    DeadlinePassed {
        /// The proposal.
        proposal: u64,
        /// Its deadline.
        deadline: Duration,
    },
    /// The proposal is already decided; its result is final.
    #[error("proposal {0} is already decided; its result is final")]
    AlreadyDecided(u64),
    /// The deadline given is not in the future.
    #[error("the deadline {deadline:?} is not after now ({now:?}): give a later deadline")]
    DeadlineInPast {
        /// Requested deadline.
        deadline: Duration,
        /// Now.
        now: Duration,
    },
    /// The runtime task has stopped.
    #[error("the swarm runtime has stopped")]
    Stopped,
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
