//! What swarm calls return: serialisable views naming agents by their ids.

use serde::Serialize;
use std::collections::BTreeMap;

/// A member and the secret that lets a caller act for it (shown once).
#[derive(Debug, Clone, Serialize)]
pub struct MemberGrant {
    /// The agent.
    pub agent_id: String,
    /// Bearer secret proving the caller speaks for this member.
    pub member_token: String,
}

/// What `create` returns.
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    /// The swarm.
    pub swarm_id: String,
    /// Bearer secret for membership changes and destroy (shown once).
    pub swarm_token: String,
    /// Each member's token.
    pub members: Vec<MemberGrant>,
    /// The topology now.
    pub topology: TopologyPage,
}

/// One member in a topology view.
#[derive(Debug, Clone, Serialize)]
pub struct NodeView {
    /// The agent.
    pub agent_id: String,
    /// Unread messages in its inbox (`None` while a receive is waiting on it).
    pub inbox: Option<usize>,
}

/// Nodes, a page of edges, the leader and queue depths.
#[derive(Debug, Clone, Serialize)]
pub struct TopologyPage {
    /// The swarm.
    pub swarm_id: String,
    /// `mesh`, `hierarchical`, `ring` or `star`.
    pub kind: &'static str,
    /// Hierarchical only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fanout: Option<usize>,
    /// Members in join order (ring order for a ring).
    pub nodes: Vec<NodeView>,
    /// The leader: hub, root, or elected / earliest member.
    pub leader: Option<String>,
    /// This page of edges, each `[a, b]`.
    pub edges: Vec<[String; 2]>,
    /// All edges.
    pub edges_total: usize,
    /// Index of the first edge shown.
    pub edges_offset: usize,
    /// Offset of the next page, when the list was cut.
    pub edges_next: Option<usize>,
    /// Messages sent but not yet delivered or reported lost.
    pub in_flight: usize,
    /// Messages accepted since the swarm was created.
    pub sent: u64,
    /// Deliveries to inboxes.
    pub delivered: u64,
    /// Messages reported lost (to the leader's inbox).
    pub lost: u64,
    /// Frames sent again after a missing acknowledgement.
    pub retransmits: u64,
}

/// What a removal changed.
#[derive(Debug, Clone, Serialize)]
pub struct RepairView {
    /// The agent that left.
    pub removed: String,
    /// Leader before.
    pub leader_before: Option<String>,
    /// Leader after (a new hub or root when the old one left).
    pub leader_after: Option<String>,
    /// Hierarchical only: orphans given a new parent, as `[node, parent]`.
    pub reattached: Vec<[String; 2]>,
    /// The topology after the repair.
    pub topology: TopologyPage,
}

/// A message id: the sender and its sequence number.
#[derive(Debug, Clone, Serialize)]
pub struct MessageRef {
    /// `"{from}#{seq}"`.
    pub message_id: String,
}

/// One item taken from an inbox.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InboxItem {
    /// A message.
    Message {
        /// `"{from}#{seq}"`.
        message_id: String,
        /// The sender.
        from: String,
        /// Whether it was a broadcast.
        broadcast: bool,
        /// The payload (UTF-8; invalid bytes replaced).
        text: String,
    },
    /// This member leads the swarm and a message was lost.
    Loss {
        /// `"{from}#{seq}"`.
        message_id: String,
        /// Who did not get it.
        target: String,
        /// Why.
        reason: &'static str,
    },
}

/// A proposal as shown to callers.
#[derive(Debug, Clone, Serialize)]
pub struct ProposalView {
    /// The swarm.
    pub swarm_id: String,
    /// Its id in the swarm.
    pub proposal_id: u64,
    /// Who proposed it.
    pub proposer: String,
    /// What it is about.
    pub subject: String,
    /// `majority`, `two_thirds`, `unanimous` or `weighted`.
    pub policy: &'static str,
    /// Wall-clock deadline, milliseconds since the Unix epoch.
    pub deadline_unix_ms: i64,
    /// Voters and their weights.
    pub electorate: BTreeMap<String, u64>,
    /// Votes so far (true = yes).
    pub votes: BTreeMap<String, bool>,
    /// `open`, `accepted`, `rejected` or `expired`.
    pub status: &'static str,
    /// Weight voting yes so far (final once decided).
    pub yes: u64,
    /// Weight voting no so far.
    pub no: u64,
}
