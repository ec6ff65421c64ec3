//! The bounded decision log behind compliance reports.

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
    /// Decisions that had evaluation errors.
    pub with_errors: u64,
    /// Every denied decision in range, oldest first.
    pub violations: Vec<LoggedDecision>,
    /// True if the log had already dropped entries that may have fallen in range (it is
    /// bounded); the counts then cover only what was kept.
    pub truncated: bool,
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
        let mut report = ComplianceReport {
            from,
            to,
            total: 0,
            allowed: 0,
            denied: 0,
            by_action: BTreeMap::new(),
            by_policy: BTreeMap::new(),
            with_errors: 0,
            violations: Vec::new(),
            truncated: dropped_until.is_some_and(|t| t >= from),
        };
        for e in entries.iter().filter(|e| e.at >= from && e.at <= to) {
            report.total += 1;
            let slot = report
                .by_action
                .entry(e.action.as_str().to_owned())
                .or_default();
            if e.decision.allow {
                report.allowed += 1;
                slot.0 += 1;
            } else {
                report.denied += 1;
                slot.1 += 1;
                report.violations.push(e.clone());
            }
            if !e.decision.errors.is_empty() {
                report.with_errors += 1;
            }
            for id in &e.decision.reasons {
                *report.by_policy.entry(id.clone()).or_default() += 1;
            }
        }
        report
    }
}
