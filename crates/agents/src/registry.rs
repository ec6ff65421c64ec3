//! Where live agents are found: by id in O(1) (a sharded hash map), and by role and capability
//! through ordered indexes that also give stable pagination (ids are time-ordered).
//!
//! The scheduler asks for a few eligible candidates at a time ([`Registry::candidates`]) and
//! resumes each index where the previous search stopped, so picking an agent costs the same
//! with ten agents or a million, and work spreads across all of them.

use dashmap::DashMap;
use mcpflow_model::AgentStatus;
use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, RwLock};

use crate::agent::{Agent, Health};

/// Which agents a listing returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentFilter {
    /// Only agents with this role.
    pub role: Option<String>,
    /// Only agents with this capability.
    pub capability: Option<String>,
    /// Only agents in this status.
    pub status: Option<AgentStatus>,
    /// Only agents in this health.
    pub health: Option<Health>,
    /// Only ids after this one (the previous page's `next`).
    pub after: Option<String>,
    /// Page size (1 to 1000; 0 means 100).
    pub limit: usize,
}

type Index = RwLock<HashMap<String, BTreeSet<Arc<str>>>>;

#[derive(Debug, Default)]
pub(crate) struct Registry {
    agents: DashMap<Arc<str>, Arc<Agent>>,
    all: RwLock<BTreeSet<Arc<str>>>,
    by_role: Index,
    by_capability: Index,
    /// Per index key ("" = all agents): where the last candidate search stopped.
    cursors: Mutex<HashMap<String, Arc<str>>>,
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

impl Registry {
    pub fn insert(&self, agent: Arc<Agent>) {
        let id = agent.id.clone();
        write(&self.all).insert(id.clone());
        write(&self.by_role)
            .entry(agent.spec.role.clone())
            .or_default()
            .insert(id.clone());
        {
            let mut caps = write(&self.by_capability);
            for c in &agent.spec.capabilities {
                caps.entry(c.clone()).or_default().insert(id.clone());
            }
        }
        self.agents.insert(id, agent);
    }

    pub fn remove(&self, id: &str) -> Option<Arc<Agent>> {
        let (_, agent) = self.agents.remove(id)?;
        write(&self.all).remove(id);
        let mut roles = write(&self.by_role);
        if let Some(set) = roles.get_mut(&agent.spec.role) {
            set.remove(id);
            if set.is_empty() {
                roles.remove(&agent.spec.role);
            }
        }
        drop(roles);
        let mut caps = write(&self.by_capability);
        for c in &agent.spec.capabilities {
            if let Some(set) = caps.get_mut(c) {
                set.remove(id);
                if set.is_empty() {
                    caps.remove(c);
                }
            }
        }
        Some(agent)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Agent>> {
        self.agents.get(id).map(|a| a.value().clone())
    }

    pub fn len(&self) -> usize {
        self.agents.len()
    }

    /// Every live agent (for sweeps and shutdown).
    pub fn snapshot(&self) -> Vec<Arc<Agent>> {
        self.agents.iter().map(|e| e.value().clone()).collect()
    }

    /// One page of agents matching `filter`, and the cursor of the next page.
    pub fn list(&self, filter: &AgentFilter) -> (Vec<Arc<Agent>>, Option<String>) {
        let limit = match filter.limit {
            0 => 100,
            n => n.min(1000),
        };
        let matches = |a: &Agent| {
            filter.role.as_ref().is_none_or(|r| &a.spec.role == r)
                && filter
                    .capability
                    .as_ref()
                    .is_none_or(|c| a.spec.capabilities.contains(c))
                && filter.status.is_none_or(|s| a.status() == s)
                && filter.health.is_none_or(|h| a.health() == h)
        };
        let start = match &filter.after {
            Some(after) => Bound::Excluded(after.as_str()),
            None => Bound::Unbounded,
        };
        let scan = |set: &BTreeSet<Arc<str>>| {
            let mut out = Vec::with_capacity(limit.min(64));
            let mut more = false;
            for id in set.range::<str, _>((start, Bound::Unbounded)) {
                let Some(agent) = self.get(id) else { continue };
                if !matches(&agent) {
                    continue;
                }
                if out.len() == limit {
                    more = true;
                    break;
                }
                out.push(agent);
            }
            let next = more.then(|| out.last().map(|a| a.id.to_string())).flatten();
            (out, next)
        };
        // Walk the narrowest index the filter allows.
        if let Some(role) = &filter.role {
            return read(&self.by_role).get(role).map(scan).unwrap_or_default();
        }
        if let Some(cap) = &filter.capability {
            return read(&self.by_capability)
                .get(cap)
                .map(scan)
                .unwrap_or_default();
        }
        scan(&read(&self.all))
    }

    /// Up to `want` running agents having every capability in `needed` and passing `accept`,
    /// found by resuming the rarest capability's index (all agents if none is needed) where the
    /// last search stopped. Looks at no more than `max_scan` agents. Also returns how many
    /// running agents with the capabilities it saw.
    pub fn candidates(
        &self,
        needed: &[String],
        want: usize,
        max_scan: usize,
        accept: impl Fn(&Agent) -> bool,
    ) -> (Vec<Arc<Agent>>, usize) {
        let caps = read(&self.by_capability);
        let all = read(&self.all);
        let (key, set) = if needed.is_empty() {
            ("", Some(&*all))
        } else {
            let rarest = needed
                .iter()
                .min_by_key(|c| caps.get(*c).map_or(0, BTreeSet::len))
                .map(String::as_str)
                .unwrap_or_default();
            (rarest, caps.get(rarest))
        };
        let Some(set) = set else {
            return (Vec::new(), 0);
        };
        let cursor = self
            .cursors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned();
        let after = match &cursor {
            Some(c) => Bound::Excluded(&**c),
            None => Bound::Unbounded,
        };
        let (tail, head) = (
            set.range::<str, _>((after, Bound::Unbounded)),
            set.range::<str, _>((
                Bound::Unbounded,
                Bound::Included(cursor.as_deref().unwrap_or("")),
            )),
        );
        let mut out = Vec::with_capacity(want);
        let mut capable = 0;
        let mut last = None;
        for id in tail.chain(head).take(max_scan) {
            last = Some(id.clone());
            let Some(agent) = self.get(id) else { continue };
            if agent.status() != AgentStatus::Running || !agent.has_capabilities(needed) {
                continue;
            }
            capable += 1;
            if accept(&agent) {
                out.push(agent);
                if out.len() == want {
                    break;
                }
            }
        }
        if let Some(last) = last {
            self.cursors
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key.to_owned(), last);
        }
        (out, capable)
    }
}
