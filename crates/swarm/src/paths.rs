//! Paths through a topology: shortest (BFS, with a direct answer per shape so routing a
//! message never walks the whole swarm), shortest avoiding some edges (for failover), and up
//! to three edge-disjoint paths (unit-capacity max-flow, so the count is the true maximum).

use crate::error::{Error, Result};
use crate::id::{AgentId, Edge, Map};
use crate::topology::{Topology, TopologyKind};
use std::collections::VecDeque;

impl Topology {
    /// A shortest path from `a` to `b`, both ends included (`[a]` when `a == b`).
    pub fn shortest_path(&self, a: AgentId, b: AgentId) -> Result<Vec<AgentId>> {
        self.require(a)?;
        self.require(b)?;
        if a == b {
            return Ok(vec![a]);
        }
        if self.has_edge(a, b) {
            return Ok(vec![a, b]);
        }
        let path = match self.kind() {
            TopologyKind::Mesh => vec![a, b],
            TopologyKind::Star => match self.leader() {
                Some(h) => vec![a, h, b],
                None => return Err(Error::NoPath { from: a, to: b }),
            },
            TopologyKind::Ring => {
                let order = self.members();
                let n = order.len();
                let pa = self.position(a).unwrap_or(0);
                let pb = self.position(b).unwrap_or(0);
                let cw = (pb + n - pa) % n;
                let (steps, forward) = if cw <= n - cw {
                    (cw, true)
                } else {
                    (n - cw, false)
                };
                (0..=steps)
                    .map(|k| {
                        let i = if forward {
                            (pa + k) % n
                        } else {
                            (pa + n - k) % n
                        };
                        order[i]
                    })
                    .collect()
            }
            TopologyKind::Hierarchical { .. } => {
                // Up from `a` to the lowest common ancestor, then down to `b`.
                let mut up = vec![a];
                while let Some(p) = self.parent(*up.last().unwrap_or(&a)) {
                    up.push(p);
                }
                let at: Map<AgentId, usize> = up.iter().enumerate().map(|(i, x)| (*x, i)).collect();
                let mut down = vec![b];
                let mut cur = b;
                while !at.contains_key(&cur) {
                    match self.parent(cur) {
                        Some(p) => {
                            cur = p;
                            down.push(p);
                        }
                        None => return Err(Error::NoPath { from: a, to: b }),
                    }
                }
                down.pop();
                up.truncate(at[&cur] + 1);
                up.extend(down.into_iter().rev());
                up
            }
        };
        Ok(path)
    }

    /// A shortest path from `a` to `b` that uses none of the `avoid` edges, by BFS.
    pub fn path_avoiding<S: std::hash::BuildHasher>(
        &self,
        a: AgentId,
        b: AgentId,
        avoid: &std::collections::HashSet<Edge, S>,
    ) -> Option<Vec<AgentId>> {
        if !self.contains(a) || !self.contains(b) {
            return None;
        }
        if a == b {
            return Some(vec![a]);
        }
        if avoid.is_empty() {
            return self.shortest_path(a, b).ok();
        }
        let mut prev: Map<AgentId, AgentId> = Map::default();
        prev.insert(a, a);
        let mut queue = VecDeque::from([a]);
        while let Some(n) = queue.pop_front() {
            for m in self.neighbors(n) {
                if prev.contains_key(&m) || avoid.contains(&Edge::new(n, m)) {
                    continue;
                }
                prev.insert(m, n);
                if m == b {
                    return Some(walk_back(&prev, a, b));
                }
                queue.push_back(m);
            }
        }
        None
    }

    /// Up to `k` (1..=3) pairwise edge-disjoint paths from `a` to `b`, shortest first. Fewer
    /// come back when the topology has fewer (a tree has one; a ring two).
    pub fn disjoint_paths(&self, a: AgentId, b: AgentId, k: u8) -> Result<Vec<Vec<AgentId>>> {
        if !(1..=3).contains(&k) {
            return Err(Error::InvalidRedundancy(k));
        }
        self.require(a)?;
        self.require(b)?;
        if a == b {
            return Ok(vec![vec![a]]);
        }
        // Flow on an undirected unit edge: f(u,v) = -f(v,u) in {-1,0,1}; u->v has residual
        // capacity 1 - f(u,v).
        let mut flow: Map<(AgentId, AgentId), i8> = Map::default();
        let f = |flow: &Map<(AgentId, AgentId), i8>, u: AgentId, v: AgentId| {
            flow.get(&(u, v)).copied().unwrap_or(0)
        };
        let mut found = 0;
        while found < k {
            let mut prev: Map<AgentId, AgentId> = Map::default();
            prev.insert(a, a);
            let mut queue = VecDeque::from([a]);
            let mut reached = false;
            'bfs: while let Some(n) = queue.pop_front() {
                for m in self.neighbors(n) {
                    if prev.contains_key(&m) || f(&flow, n, m) >= 1 {
                        continue;
                    }
                    prev.insert(m, n);
                    if m == b {
                        reached = true;
                        break 'bfs;
                    }
                    queue.push_back(m);
                }
            }
            if !reached {
                break;
            }
            for w in walk_back(&prev, a, b).windows(2) {
                *flow.entry((w[0], w[1])).or_insert(0) += 1;
                *flow.entry((w[1], w[0])).or_insert(0) -= 1;
            }
            found += 1;
        }
        if found == 0 {
            return Err(Error::NoPath { from: a, to: b });
        }
        // Decompose: follow edges carrying flow from `a`; cut any loop a walk makes.
        let mut out: Map<AgentId, Vec<AgentId>> = Map::default();
        for (&(u, v), &x) in &flow {
            if x == 1 {
                out.entry(u).or_default().push(v);
            }
        }
        for list in out.values_mut() {
            list.sort();
        }
        let mut paths = Vec::new();
        for _ in 0..found {
            let mut path = vec![a];
            let mut cur = a;
            while cur != b {
                let Some(next) = out.get_mut(&cur).and_then(Vec::pop) else {
                    break;
                };
                if let Some(i) = path.iter().position(|x| *x == next) {
                    path.truncate(i + 1);
                } else {
                    path.push(next);
                }
                cur = next;
            }
            if cur == b {
                paths.push(path);
            }
        }
        paths.sort_by_key(Vec::len);
        Ok(paths)
    }
}

fn walk_back(prev: &Map<AgentId, AgentId>, a: AgentId, b: AgentId) -> Vec<AgentId> {
    let mut path = vec![b];
    let mut cur = b;
    while cur != a {
        cur = prev[&cur];
        path.push(cur);
    }
    path.reverse();
    path
}

/// The edges a path walks.
pub fn path_edges(path: &[AgentId]) -> impl Iterator<Item = Edge> + '_ {
    path.windows(2).map(|w| Edge::new(w[0], w[1]))
}
