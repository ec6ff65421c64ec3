//! What travels between members: data frames on an edge, and the acknowledgements that
//! come back. The router produces and consumes these; a network (real or simulated) carries
//! them and may drop, delay, duplicate or reorder them.
//!
//! A frame names its message but carries no payload: one router holds every member's state,
//! and the bytes live once in the origin's record, which the receiving end reads when it
//! delivers (a copy that arrives after the record closed is dropped anyway). So a hop moves a
//! few words and never touches the payload's reference count or allocation.

use crate::id::{AgentId, MsgId};
use std::sync::Arc;

/// One hop of one message: sent by `from` to its neighbour `to`.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Sending end of the edge.
    pub from: AgentId,
    /// Receiving end of the edge.
    pub to: AgentId,
    /// Incarnation of the edge's queue: frames of an older queue (before a member left and
    /// rejoined) are recognised and dropped.
    pub epoch: u64,
    /// Where the router keeps this edge's state: a hint, checked against `from` and `to`
    /// before use, that saves a hash lookup per frame.
    pub(crate) link: u32,
    /// Data or acknowledgement.
    pub body: Body,
}

/// The content of a frame.
#[derive(Debug, Clone)]
pub enum Body {
    /// A message on the edge.
    Data {
        /// Position in the edge's FIFO queue.
        seq: u64,
        /// The sender's oldest unfinished position: anything below was acknowledged or given
        /// up (and rerouted), so the receiver stops waiting for it.
        floor: u64,
        /// The message.
        packet: Packet,
    },
    /// Cumulative acknowledgement: every position below `upto` was received. One ack covers
    /// every frame that arrived on the edge since the last one (acks are batched per edge).
    Ack {
        /// First position not yet received in order.
        upto: u64,
    },
}

/// A message as it travels.
#[derive(Debug, Clone)]
pub struct Packet {
    /// Origin and origin sequence number: the receiver's de-duplication key.
    pub id: MsgId,
    /// How it travels.
    pub route: Route,
    /// Where the origin's record of the message is (checked against `id` before use).
    pub(crate) rec: RecRef,
}

/// The slot of an open message's record in the router, with that slot's generation: a copy
/// of a finished message, whose slot may hold a newer record by now, is recognised as stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecRef {
    pub(crate) ix: u32,
    pub(crate) generation: u32,
}

/// How a packet travels.
#[derive(Debug, Clone)]
pub enum Route {
    /// Source-routed point to point: `hops[at]` is the member receiving this hop and the last
    /// hop is the target. `attempt` counts routes tried (0 = first).
    Path {
        /// The whole route, origin first.
        hops: Hops,
        /// Index of the receiving hop.
        at: u32,
        /// Which route attempt this copy belongs to.
        attempt: u8,
    },
    /// Broadcast along a spanning tree fixed when it was sent.
    Tree(Arc<Tree>),
}

/// Routes of up to this many members travel inline.
const INLINE: usize = 4;

/// No link hint known for a hop.
const NO_HINT: u32 = u32::MAX;

/// A source route, origin first. Short routes (the common case: 1–5 hops) are stored inline,
/// so a frame moving along an edge copies a few words instead of touching a shared reference
/// count, which costs more than the rest of a hop; longer ones are shared.
///
/// An inline route also carries, per hop, where the router keeps that edge's state (a hint,
/// checked against the edge's ends before use), so forwarding needs no lookup by member ids.
#[derive(Clone)]
pub struct Hops(HopsRepr);

#[derive(Clone)]
enum HopsRepr {
    Inline {
        len: u8,
        ids: [AgentId; INLINE],
        links: [u32; INLINE - 1],
    },
    Shared(Arc<[AgentId]>),
}

impl Hops {
    /// The route `path` (at least two members for a real hop).
    pub fn new(path: &[AgentId]) -> Self {
        if path.len() <= INLINE {
            let mut ids = [AgentId(0); INLINE];
            ids[..path.len()].copy_from_slice(path);
            Hops(HopsRepr::Inline {
                len: path.len() as u8,
                ids,
                links: [NO_HINT; INLINE - 1],
            })
        } else {
            Hops(HopsRepr::Shared(path.into()))
        }
    }

    /// The members of the route, origin first.
    pub fn as_slice(&self) -> &[AgentId] {
        match &self.0 {
            HopsRepr::Inline { len, ids, .. } => &ids[..*len as usize],
            HopsRepr::Shared(ids) => ids,
        }
    }

    /// The router's hint for the edge from member `i` to member `i + 1` of the route.
    pub(crate) fn link_hint(&self, i: usize) -> Option<u32> {
        match &self.0 {
            HopsRepr::Inline { links, .. } => links.get(i).copied().filter(|&l| l != NO_HINT),
            HopsRepr::Shared(_) => None,
        }
    }

    /// Records the router's hint for the edge from member `i` to member `i + 1` (kept only
    /// by inline routes).
    pub(crate) fn set_link_hint(&mut self, i: usize, link: u32) {
        if let HopsRepr::Inline { links, .. } = &mut self.0
            && let Some(l) = links.get_mut(i)
        {
            *l = link;
        }
    }
}

impl std::ops::Deref for Hops {
    type Target = [AgentId];
    fn deref(&self) -> &[AgentId] {
        self.as_slice()
    }
}

impl std::fmt::Debug for Hops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// A broadcast's spanning tree: who forwards to whom.
#[derive(Debug)]
pub struct Tree {
    pub(crate) children: crate::id::Map<AgentId, Vec<AgentId>>,
}

impl Tree {
    /// Where `at` forwards the broadcast.
    pub fn children(&self, at: AgentId) -> &[AgentId] {
        self.children.get(&at).map_or(&[], Vec::as_slice)
    }

    /// `at` and everything below it.
    pub fn subtree(&self, at: AgentId) -> Vec<AgentId> {
        let mut out = vec![at];
        let mut i = 0;
        while i < out.len() {
            out.extend_from_slice(self.children(out[i]));
            i += 1;
        }
        out
    }
}
