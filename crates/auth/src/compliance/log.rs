//! The bounded decision log behind [`PolicyStore::report`](super::PolicyStore::report), and
//! the report itself. [`ComplianceReport::count`] lets any other decision source (a durable
//! audit log) build the same report.

use parking_lot::Mutex;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::time::SystemTime;

use super::Decision;
use crate::principal::Principal;
use crate::rbac::{Action, Resource};

/// One logged decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoggedDecision {
    /// When it was made.
    pub at: SystemTime,
    /// Principal id.
    pub principal: String,
    /// Principal tenant.
    pub tenant: String,
    /// The action.
    pub action: Action,
    /// Tool name or resource URI.
    pub resource: String,
    /// The decision.
    pub decision: Decision,
}

/// Summary of the decisions in a time range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComplianceReport {
    /// Range start (inclusive).
    pub from: SystemTime,
    /// Range end (inclusive).
    pub to: SystemTime,
    /// Decisions in range.
    pub total: u64,
    /// Allowed decisions.
    pub allowed: u64,
    /// Denied decisions (violations).
    pub denied: u64,
    /// `(allowed, denied)` per action.
    pub by_action: BTreeMap<String, (u64, u64)>,
    /// How often each policy decided.
    pub by_policy: BTreeMap<String, u64>,
    /// Denied decisions per principal id.
    pub denied_by_principal: BTreeMap<String, u64>,
    /// Denied decisions per tool name or resource URI.
    pub denied_by_resource: BTreeMap<String, u64>,
    /// Decisions that had evaluation errors.
    pub with_errors: u64,
    /// Denied decisions in range, oldest first (all of them, unless the builder capped the
    /// list: see `violations_omitted`).
    pub violations: Vec<LoggedDecision>,
    /// Denied decisions counted but not listed in `violations`.
    pub violations_omitted: u64,
    /// True if the log had already dropped entries that may have fallen in range (it is
    /// bounded); the counts then cover only what was kept.
    pub truncated: bool,
}

impl ComplianceReport {
    /// An empty report for `[from, to]`; feed it with [`Self::count`].
    pub fn new(from: SystemTime, to: SystemTime) -> Self {
        Self {
            from,
            to,
            total: 0,
            allowed: 0,
            denied: 0,
            by_action: BTreeMap::new(),
            by_policy: BTreeMap::new(),
            denied_by_principal: BTreeMap::new(),
            denied_by_resource: BTreeMap::new(),
            with_errors: 0,
            violations: Vec::new(),
            violations_omitted: 0,
            truncated: false,
        }
    }

    /// Adds `decision` to the counts (the caller checked it is in range). Returns whether it
    /// is a violation; the caller decides whether to list it in `violations` (or count it in
    /// `violations_omitted`), so a report over a large log can cap the list.
    pub fn count(&mut self, decision: &LoggedDecision) -> bool {
        self.total += 1;
        let slot = self
            .by_action
            .entry(decision.action.as_str().to_owned())
            .or_default();
        let denied = !decision.decision.allow;
        if denied {
            self.denied += 1;
            slot.1 += 1;
            *self
                .denied_by_principal
                .entry(decision.principal.clone())
                .or_default() += 1;
            *self
                .denied_by_resource
                .entry(decision.resource.clone())
                .or_default() += 1;
        } else {
            self.allowed += 1;
            slot.0 += 1;
        }
        if !decision.decision.errors.is_empty() {
            self.with_errors += 1;
        }
        for id in &decision.decision.reasons {
            *self.by_policy.entry(id.clone()).or_default() += 1;
        }
        denied
    }
}

#[derive(Debug)]
pub(super) struct DecisionLog {
    entries: Mutex<(VecDeque<LoggedDecision>, Option<SystemTime>)>,
    cap: usize,
}

impl DecisionLog {
    pub(super) fn new(cap: usize) -> Self {
        Self {
            entries: Mutex::new((VecDeque::new(), None)),
            cap,
        }
    }

    pub(super) fn push(
        &self,
        principal: &Principal,
        action: Action,
        resource: &Resource,
        decision: &Decision,
    ) {
        let entry = LoggedDecision {
            at: SystemTime::now(),
            principal: principal.id.clone(),
            tenant: principal.tenant.clone(),
            action,
            resource: resource.name.clone(),
            decision: decision.clone(),
        };
        let mut guard = self.entries.lock();
        let (entries, dropped_until) = &mut *guard;
        if entries.len() >= self.cap
            && let Some(old) = entries.pop_front()
        {
            *dropped_until = Some(old.at);
        }
        entries.push_back(entry);
    }

    pub(super) fn report(&self, from: SystemTime, to: SystemTime) -> ComplianceReport {
        let guard = self.entries.lock();
        let (entries, dropped_until) = &*guard;
        let mut report = ComplianceReport::new(from, to);
        report.truncated = dropped_until.is_some_and(|t| t >= from);
        for e in entries.iter().filter(|e| e.at >= from && e.at <= to) {
            if report.count(e) {
                report.violations.push(e.clone());
            }
        }
        report
    }
}
