//! The four shapes a swarm can take, their membership changes (with self-repair on removal)
//! and their edges.
//!
//! Edges are implicit — a 10k-member mesh does not store 50M pairs; each kind answers
//! "who are my neighbours" from a little structure (join order, ring positions, hub, tree).

use crate::error::{Error, Result};
use crate::id::{AgentId, Edge, Map, SwarmId};
use std::collections::VecDeque;

/// The shape of a swarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopologyKind {
    /// Every member is connected to every other.
    Mesh,
    /// A tree under one leader: each node has at most `fanout` children, so large swarms get
    /// several levels.
    Hierarchical {
        /// Children per node (1..=1024).
        fanout: usize,
    },
    /// Each member is connected to the one before and after it in join order; the last closes
    /// the circle back to the first.
    Ring,
    /// One hub connected to every other member (the spokes).
    Star,
}

/// What a removal changed, so members can be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// The member that left.
    pub removed: AgentId,
    /// Leader before the removal.
    pub leader_before: Option<AgentId>,
    /// Leader after the removal (a new hub or root when the old one left).
    pub leader_after: Option<AgentId>,
    /// Hierarchical only: orphans that were given a new parent, as (node, new parent).
    pub reattached: Vec<(AgentId, AgentId)>,
}

/// A read-only picture of a topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyView {
    /// The shape.
    pub kind: TopologyKind,
    /// Members in join order (ring order for a ring).
    pub nodes: Vec<AgentId>,
    /// Every edge once, smaller id first, sorted.
    pub edges: Vec<Edge>,
    /// The leader: hub (star), root (hierarchical), elected or earliest member (mesh, ring).
    pub leader: Option<AgentId>,
}

/// A topology and its members.
#[derive(Debug, Clone)]
pub struct Topology {
    swarm: SwarmId,
    kind: TopologyKind,
    /// Members in join order; for a ring this is the ring order.
    order: Vec<AgentId>,
    /// Index of each member in `order`.
    pos: Map<AgentId, usize>,
    hub: Option<AgentId>,
    root: Option<AgentId>,
    parent: Map<AgentId, AgentId>,
    children: Map<AgentId, Vec<AgentId>>,
    /// Hierarchical: nodes that may have a free child slot, shallowest first (checked on use).
    open: VecDeque<AgentId>,
    /// Mesh and ring: the leader chosen by an election, if any.
    elected: Option<AgentId>,
    version: u64,
    /// Unique per state across every topology of the process (see [`Topology::stamp`]).
    stamp: u64,
}

/// A number no other topology state has had: taken from a process-wide counter.
fn fresh_stamp() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Topology {
    /// An empty topology of `kind` for `swarm`.
    pub fn new(swarm: SwarmId, kind: TopologyKind) -> Result<Self> {
        if let TopologyKind::Hierarchical { fanout } = kind
            && !(1..=1024).contains(&fanout)
        {
            return Err(Error::InvalidTopology(format!(
                "hierarchical fanout {fanout} is out of range: use 1..=1024 children per node"
            )));
        }
        Ok(Self {
            swarm,
            kind,
            order: Vec::new(),
            pos: Map::default(),
            hub: None,
            root: None,
            parent: Map::default(),
            children: Map::default(),
            open: VecDeque::new(),
            elected: None,
            version: 0,
            stamp: fresh_stamp(),
        })
    }

    /// The shape.
    pub fn kind(&self) -> TopologyKind {
        self.kind
    }

    /// The swarm this topology belongs to.
    pub fn swarm(&self) -> SwarmId {
        self.swarm
    }

    /// Bumped by every membership or leader change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Changes with every membership or leader change, and no two topologies that differ
    /// share it (unlike `version`, which counts changes: two copies changed differently can
    /// reach the same count). A clone keeps it until either side changes. Lets a router cache
    /// paths safely.
    pub(crate) fn stamp(&self) -> u64 {
        self.stamp
    }

    /// Members in join order.
    pub fn members(&self) -> &[AgentId] {
        &self.order
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when there are no members.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Index of `a` in join order (ring order for a ring).
    pub(crate) fn position(&self, a: AgentId) -> Option<usize> {
        self.pos.get(&a).copied()
    }

    /// Whether `a` is a member.
    pub fn contains(&self, a: AgentId) -> bool {
        self.pos.contains_key(&a)
    }

    /// `Ok` if `a` is a member, else [`Error::NotMember`].
    pub fn require(&self, a: AgentId) -> Result<()> {
        if self.contains(a) {
            Ok(())
        } else {
            Err(Error::NotMember {
                swarm: self.swarm,
                agent: a,
            })
        }
    }

    /// The leader: hub of a star, root of a hierarchy; for mesh and ring the elected leader,
    /// or the earliest-joined member until an election has chosen one.
    pub fn leader(&self) -> Option<AgentId> {
        match self.kind {
            TopologyKind::Star => self.hub,
            TopologyKind::Hierarchical { .. } => self.root,
            TopologyKind::Mesh | TopologyKind::Ring => {
                self.elected.or_else(|| self.order.first().copied())
            }
        }
    }

    /// Records an election result. In a star the winner becomes the hub; a hierarchy's leader
    /// is its root and only changes when the root leaves.
    pub fn set_leader(&mut self, a: AgentId) -> Result<()> {
        self.require(a)?;
        match self.kind {
            TopologyKind::Star => self.hub = Some(a),
            TopologyKind::Hierarchical { .. } => {
                if self.root != Some(a) {
                    return Err(Error::InvalidTopology(
                        "a hierarchy's leader is its root; it changes only when the root leaves"
                            .into(),
                    ));
                }
            }
            TopologyKind::Mesh | TopologyKind::Ring => self.elected = Some(a),
        }
        self.version += 1;
        self.stamp = fresh_stamp();
        Ok(())
    }

    /// Adds a member: appended to the ring, a spoke of the star (or its hub when first), a
    /// child of the shallowest node with a free slot in a hierarchy.
    pub fn add(&mut self, a: AgentId) -> Result<()> {
        if self.contains(a) {
            return Err(Error::AlreadyMember {
                swarm: self.swarm,
                agent: a,
            });
        }
        self.pos.insert(a, self.order.len());
        self.order.push(a);
        match self.kind {
            TopologyKind::Star => {
                self.hub.get_or_insert(a);
            }
            TopologyKind::Hierarchical { .. } => {
                if self.root.is_none() {
                    self.root = Some(a);
                } else {
                    let p = self.free_slot();
                    self.attach(a, p);
                }
                self.children.entry(a).or_default();
                self.open.push_back(a);
            }
            TopologyKind::Mesh | TopologyKind::Ring => {}
        }
        self.version += 1;
        self.stamp = fresh_stamp();
        Ok(())
    }

    /// Removes a member and repairs the shape: the ring closes the gap, a star whose hub left
    /// takes the earliest-joined member as hub, a hierarchy promotes the earliest orphan to
    /// root (if the root left) and reattaches the other orphans — with their subtrees — to the
    /// shallowest free slots.
    pub fn remove(&mut self, a: AgentId) -> Result<Repair> {
        self.require(a)?;
        let leader_before = self.leader();
        let i = self.pos.remove(&a).unwrap_or(0);
        self.order.remove(i);
        for (j, m) in self.order.iter().enumerate().skip(i) {
            self.pos.insert(*m, j);
        }
        if self.elected == Some(a) {
            self.elected = None;
        }
        let mut reattached = Vec::new();
        match self.kind {
            TopologyKind::Star => {
                if self.hub == Some(a) {
                    self.hub = self.order.first().copied();
                }
            }
            TopologyKind::Hierarchical { .. } => {
                let mut orphans = self.children.remove(&a).unwrap_or_default();
                for o in &orphans {
                    self.parent.remove(o);
                }
                if let Some(p) = self.parent.remove(&a) {
                    if let Some(c) = self.children.get_mut(&p) {
                        c.retain(|x| *x != a);
                    }
                    self.open.push_front(p);
                }
                orphans.sort_by_key(|o| self.pos.get(o).copied().unwrap_or(usize::MAX));
                let mut rest = orphans.into_iter();
                if self.root == Some(a) {
                    self.root = rest.next();
                }
                for o in rest {
                    let p = self.free_slot();
                    self.attach(o, p);
                    reattached.push((o, p));
                }
            }
            TopologyKind::Mesh | TopologyKind::Ring => {}
        }
        self.version += 1;
        self.stamp = fresh_stamp();
        Ok(Repair {
            removed: a,
            leader_before,
            leader_after: self.leader(),
            reattached,
        })
    }

    fn attach(&mut self, child: AgentId, parent: AgentId) {
        self.parent.insert(child, parent);
        self.children.entry(parent).or_default().push(child);
    }

    /// Hierarchical: the shallowest node with fewer than `fanout` children. Uses the `open`
    /// queue and falls back to a walk of the tree when the queue is stale.
    fn free_slot(&mut self) -> AgentId {
        let fanout = match self.kind {
            TopologyKind::Hierarchical { fanout } => fanout,
            _ => usize::MAX,
        };
        let mut i = 0;
        while let Some(&c) = self.open.get(i) {
            if !self.contains(c) || self.children.get(&c).map_or(0, Vec::len) >= fanout {
                self.open.remove(i);
            } else if self.rooted(c) {
                return c;
            } else {
                // Inside an orphaned subtree being reattached: not a valid parent yet.
                i += 1;
            }
        }
        // Every finite tree has a leaf, so the walk finds a slot.
        let root = self.root.unwrap_or(self.order[0]);
        let mut queue = VecDeque::from([root]);
        while let Some(n) = queue.pop_front() {
            let kids = self.children.get(&n).map_or(&[][..], Vec::as_slice);
            if kids.len() < fanout {
                self.open.push_back(n);
                return n;
            }
            queue.extend(kids.iter().copied());
        }
        root
    }

    /// Whether `a`'s chain of parents ends at the root (false inside a detached subtree).
    fn rooted(&self, a: AgentId) -> bool {
        let mut cur = a;
        while let Some(p) = self.parent(cur) {
            cur = p;
        }
        Some(cur) == self.root
    }

    /// Hierarchical: the parent of `a` (None for the root and in other shapes).
    pub fn parent(&self, a: AgentId) -> Option<AgentId> {
        self.parent.get(&a).copied()
    }

    /// Whether `a` and `b` are joined by an edge.
    pub fn has_edge(&self, a: AgentId, b: AgentId) -> bool {
        if a == b || !self.contains(a) || !self.contains(b) {
            return false;
        }
        match self.kind {
            TopologyKind::Mesh => true,
            TopologyKind::Star => self.hub == Some(a) || self.hub == Some(b),
            TopologyKind::Hierarchical { .. } => {
                self.parent(a) == Some(b) || self.parent(b) == Some(a)
            }
            TopologyKind::Ring => {
                let n = self.order.len();
                let d = self.pos[&a].abs_diff(self.pos[&b]);
                d == 1 || d == n - 1
            }
        }
    }

    /// The neighbours of `a` (empty if `a` is not a member).
    pub fn neighbors(&self, a: AgentId) -> Vec<AgentId> {
        let Some(&p) = self.pos.get(&a) else {
            return Vec::new();
        };
        let n = self.order.len();
        match self.kind {
            TopologyKind::Mesh => self.order.iter().copied().filter(|x| *x != a).collect(),
            TopologyKind::Star => match self.hub {
                Some(h) if h == a => self.order.iter().copied().filter(|x| *x != a).collect(),
                Some(h) => vec![h],
                None => Vec::new(),
            },
            TopologyKind::Hierarchical { .. } => {
                let mut v: Vec<AgentId> = self.parent(a).into_iter().collect();
                v.extend(self.children.get(&a).into_iter().flatten().copied());
                v
            }
            TopologyKind::Ring => match n {
                1 => Vec::new(),
                2 => vec![self.order[1 - p]],
                _ => vec![self.order[(p + n - 1) % n], self.order[(p + 1) % n]],
            },
        }
    }

    /// Every edge once, sorted. A mesh of n members has n(n-1)/2 of them.
    pub fn edges(&self) -> Vec<Edge> {
        let mut edges = Vec::new();
        let n = self.order.len();
        match self.kind {
            TopologyKind::Mesh => {
                for i in 0..n {
                    for j in i + 1..n {
                        edges.push(Edge::new(self.order[i], self.order[j]));
                    }
                }
            }
            TopologyKind::Star => {
                if let Some(h) = self.hub {
                    edges.extend(
                        self.order
                            .iter()
                            .filter(|x| **x != h)
                            .map(|x| Edge::new(h, *x)),
                    );
                }
            }
            TopologyKind::Hierarchical { .. } => {
                edges.extend(self.parent.iter().map(|(c, p)| Edge::new(*c, *p)));
            }
            TopologyKind::Ring => {
                if n == 2 {
                    edges.push(Edge::new(self.order[0], self.order[1]));
                } else if n > 2 {
                    for i in 0..n {
                        edges.push(Edge::new(self.order[i], self.order[(i + 1) % n]));
                    }
                }
            }
        }
        edges.sort();
        edges
    }

    /// Nodes, edges and leader.
    pub fn view(&self) -> TopologyView {
        TopologyView {
            kind: self.kind,
            nodes: self.order.clone(),
            edges: self.edges(),
            leader: self.leader(),
        }
    }

    /// Next hops of a broadcast from `origin` at member `at`, which got it from `from`
    /// (None at the origin). Together they form a spanning tree: in a mesh the origin floods
    /// to everyone directly (so every copy after the first is a duplicate to drop), a ring
    /// passes it along clockwise, a star goes through the hub, a hierarchy along the tree.
    pub fn broadcast_next(
        &self,
        origin: AgentId,
        at: AgentId,
        from: Option<AgentId>,
    ) -> Vec<AgentId> {
        if !self.contains(at) {
            return Vec::new();
        }
        match self.kind {
            TopologyKind::Mesh => {
                if at == origin {
                    self.neighbors(at)
                } else {
                    Vec::new()
                }
            }
            TopologyKind::Star => {
                let hub = self.hub;
                if Some(at) == hub {
                    self.order
                        .iter()
                        .copied()
                        .filter(|x| *x != at && *x != origin)
                        .collect()
                } else if at == origin {
                    hub.into_iter().collect()
                } else {
                    Vec::new()
                }
            }
            TopologyKind::Ring => {
                let n = self.order.len();
                let next = self.order[(self.pos[&at] + 1) % n];
                if next == origin || next == at {
                    Vec::new()
                } else {
                    vec![next]
                }
            }
            TopologyKind::Hierarchical { .. } => self
                .neighbors(at)
                .into_iter()
                .filter(|x| Some(*x) != from)
                .collect(),
        }
    }

    /// True when every member can reach every other.
    pub fn is_connected(&self) -> bool {
        let Some(&start) = self.order.first() else {
            return true;
        };
        let mut seen = crate::id::Set::default();
        seen.insert(start);
        let mut queue = VecDeque::from([start]);
        while let Some(n) = queue.pop_front() {
            for m in self.neighbors(n) {
                if seen.insert(m) {
                    queue.push_back(m);
                }
            }
        }
        seen.len() == self.order.len()
    }
}
