//! Swarm coordination for mcpflow: topologies, reliable routing, failure detection,
//! consensus and leader election.
//!
//! The core is a set of deterministic, sans-IO state machines: they take inputs and a time
//! (`Duration` since an arbitrary start) and return outputs. No clock, socket or task is
//! touched inside, so [`sim`] can drive them through a faulty network from a seed, and the
//! tokio runtime ([`SwarmHandle`]) drives the same code for real use.
//!
//! - [`Topology`]: mesh, ring, star, hierarchical; join, leave with self-repair ([`Repair`]),
//!   neighbours, edges, shortest paths, up to three edge-disjoint paths.
//! - [`Router`]: `send` and `broadcast` along the topology; a bounded FIFO queue per edge,
//!   batched cumulative acks, retries with exponential backoff, reroute over an edge-disjoint
//!   path, loss reports to the leader; each message reaches each target exactly once or is
//!   reported lost.
//! - [`FailureDetector`]: heartbeats; suspected after 3 missed, removed after 4 (defaults).
//! - [`Consensus`]: proposals with quorum policies and deadlines, votes signed with the
//!   member's [`Credential`] (HMAC-SHA256 key issued at join).
//! - [`ElectionNode`]: leader election by Raft's rules (terms, one vote per term, majority).
//! - [`Swarm`] keeps all of these consistent for one swarm and emits [`SwarmEvent`]s;
//!   [`Coordinator`] holds swarms by id; [`SwarmHandle`] runs them on tokio.
//!
//! ```
//! use mcpflow_swarm::{AgentId, SwarmId, Topology, TopologyKind};
//!
//! let mut ring = Topology::new(SwarmId(1), TopologyKind::Ring).unwrap();
//! for i in 0..6 {
//!     ring.add(AgentId(i)).unwrap();
//! }
//! assert_eq!(ring.shortest_path(AgentId(0), AgentId(4)).unwrap().len(), 3); // 0, 5, 4
//! assert_eq!(ring.disjoint_paths(AgentId(0), AgentId(3), 3).unwrap().len(), 2);
//! ring.remove(AgentId(5)).unwrap(); // the ring closes the gap
//! assert!(ring.has_edge(AgentId(4), AgentId(0)));
//! ```

mod consensus;
mod credential;
mod detector;
mod election;
mod error;
mod frame;
mod id;
mod mailbox;
mod paths;
mod router;
mod runtime;
pub mod sim;
mod swarm;
mod topology;

pub use consensus::{Ballot, Consensus, Decision, Outcome, Proposal, Quorum};
pub use credential::{Credential, Keyring, VoteTag};
pub use detector::{Detection, DetectorConfig, FailureDetector};
pub use election::{ElectionConfig, ElectionMsg, ElectionNode, Role};
pub use error::{Error, Result};
pub use frame::{Body, Frame, Hops, Packet, Route, Tree};
pub use id::{AgentId, Edge, MsgId, SwarmId};
pub use mailbox::{Mailbox, TryRecvError};
pub use paths::path_edges;
pub use router::{Delivered, LossReason, LossReport, Output, Router, RouterConfig, RouterStats};
pub use runtime::{Mail, Member, RuntimeConfig, RuntimeLoad, SwarmHandle};
pub use swarm::{Coordinator, Swarm, SwarmConfig, SwarmEvent};
pub use topology::{Repair, Topology, TopologyKind, TopologyView};
