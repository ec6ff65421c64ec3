//! Why a swarm call was refused, each message saying what to do instead.

/// Why a swarm call was refused; each message says what to do instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SwarmError {
    /// No swarm has this id.
    #[error("unknown swarm {0}: create one with swarm_init")]
    UnknownSwarm(String),
    /// No agent has this id on this node.
    #[error(
        "agent {0} does not exist on this node: spawn it with agent_spawn or pick an id from agent_list"
    )]
    UnknownAgent(String),
    /// The agent has stopped for good.
    #[error("agent {agent} is {status}: only live agents can join a swarm")]
    AgentGone {
        /// The agent.
        agent: String,
        /// Its final status.
        status: String,
    },
    /// The agent is not in the swarm.
    #[error("agent {agent} is not a member of {swarm}: add it with swarm_add_agent first")]
    NotMember {
        /// The swarm.
        swarm: String,
        /// The agent.
        agent: String,
    },
    /// The agent is already in the swarm.
    #[error("agent {agent} is already a member of {swarm}")]
    AlreadyMember {
        /// The swarm.
        swarm: String,
        /// The agent.
        agent: String,
    },
    /// A wrong swarm token.
    #[error("the swarm token does not match {0}: pass the swarm_token swarm_init returned")]
    BadSwarmToken(String),
    /// A wrong member token.
    #[error(
        "the member token does not match agent {agent} in {swarm}: pass the member_token swarm_init or swarm_add_agent returned for this agent"
    )]
    BadMemberToken {
        /// The swarm.
        swarm: String,
        /// The agent.
        agent: String,
    },
    /// Bad settings or members.
    #[error("invalid swarm request: {0}")]
    Invalid(String),
    /// The security gate refused the message.
    #[error("the message was refused by the security gate: {0}")]
    Blocked(String),
    /// The quorum policy is malformed.
    #[error("invalid quorum: {0}")]
    InvalidQuorum(String),
    /// No such proposal.
    #[error("unknown proposal {proposal} in {swarm}: use the id consensus_propose returned")]
    UnknownProposal {
        /// The swarm.
        swarm: String,
        /// The proposal.
        proposal: u64,
    },
    /// The member voted already.
    #[error("agent {agent} already voted on proposal {proposal}: each member votes once")]
    AlreadyVoted {
        /// The proposal.
        proposal: u64,
        /// The voter.
        agent: String,
    },
    /// The voter was not in the electorate.
    #[error(
        "agent {agent} may not vote on proposal {proposal}: only members present when it was proposed vote"
    )]
    NotEligible {
        /// The proposal.
        proposal: u64,
        /// The voter.
        agent: String,
    },
    /// Too late.
    #[error("proposal {0} is closed: its deadline passed, votes after it are not counted")]
    DeadlinePassed(u64),
    /// Decided already.
    #[error("proposal {0} is already decided; its result is final (see consensus_status)")]
    AlreadyDecided(u64),
    /// A full queue or mailbox, or no route: retry later.
    #[error("{0}")]
    Busy(String),
    /// The swarm runtime stopped (the node is shutting down).
    #[error("the swarm runtime has stopped: the node is shutting down")]
    Stopped,
}
