//! Auth's refusals and compliance decisions in the node's durable audit log, and compliance
//! reports read back from it (so they survive restarts, unlike the policy store's in-memory
//! log).
//!
//! Entries written here:
//! - `auth.refused`: every 401, 403 and 429. Actor = principal id (`anonymous` before
//!   authentication), tenant = the principal's (`default` when anonymous), resource =
//!   `tool:<name>` / `resource:<uri>` when the target is known, else `http:<path>`, outcome =
//!   `unauthenticated` | `forbidden` | `rate_limited`; details hold the status, the stable
//!   reason label, the message, method, path, peer and target. Token material never reaches
//!   the event ([`AuthEvent`] carries none).
//! - `compliance.decision`: every Cedar decision the server makes while authorising (allow
//!   and deny). Actor/tenant = the principal, resource as above, outcome = `allow` | `deny`;
//!   details hold the action, the resource name and tenant, the principal's kind and roles,
//!   and the deciding policies and evaluation errors. One entry per authorised tool call or
//!   resource read: the same order of volume as the gate's verdicts, which are audited too.

use mcpflow_audit::{Entry, Search};
use mcpflow_auth::{
    Action, AuthAudit, AuthEvent, AuthOutcome, ComplianceEvent, ComplianceReport, Decision,
    LoggedDecision,
};
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::audit::DurableAudit;

/// `action` of a refusal entry.
pub const REFUSED_ACTION: &str = "auth.refused";
/// `action` of a compliance decision entry.
pub const DECISION_ACTION: &str = "compliance.decision";

/// Entries read per query while building a report.
const PAGE: u32 = 10_000;

/// The [`AuthAudit`] of a server in front of a node: writes refusals and compliance decisions
/// to the node's [`DurableAudit`].
///
/// A server authenticates before its node is open (`mcpflow serve` listens first), so the
/// auditor can start [`Self::pending`] and be [`Self::attach`]ed once the node is open; until
/// then events go to the tracing output (`mcpflow_auth::TracingAudit`).
#[derive(Debug, Default)]
pub struct AuthAuditor {
    log: OnceLock<Arc<DurableAudit>>,
}

impl AuthAuditor {
    /// Writes to `audit` from the start.
    pub fn new(audit: Arc<DurableAudit>) -> Self {
        let auditor = Self::default();
        auditor.attach(audit);
        auditor
    }

    /// Logs to tracing until [`Self::attach`].
    pub fn pending() -> Self {
        Self::default()
    }

    /// From now on, writes to `audit`. Returns `false` (and changes nothing) if already
    /// attached.
    pub fn attach(&self, audit: Arc<DurableAudit>) -> bool {
        self.log.set(audit).is_ok()
    }
}

impl AuthAudit for AuthAuditor {
    fn record(&self, event: &AuthEvent) {
        match self.log.get() {
            Some(audit) => audit.append(refusal_event(event)),
            None => mcpflow_auth::TracingAudit.record(event),
        }
    }

    fn decision(&self, event: &ComplianceEvent<'_>) {
        match self.log.get() {
            Some(audit) => audit.append(decision_event(event)),
            None => mcpflow_auth::TracingAudit.decision(event),
        }
    }
}

/// `tool:<name>` or `resource:<uri>`.
fn target(action: Action, name: &str) -> String {
    format!("{}:{name}", action.kind())
}

fn refusal_event(e: &AuthEvent) -> mcpflow_audit::Event {
    // The server's targets read `<action> <name>` (`call_tool agent_spawn`).
    let resource = e
        .target
        .as_deref()
        .and_then(|t| t.split_once(' '))
        .and_then(|(action, name)| {
            serde_json::from_value::<Action>(Value::from(action))
                .ok()
                .map(|a| target(a, name))
        })
        .unwrap_or_else(|| format!("http:{}", e.path));
    let (outcome, details) = match &e.outcome {
        AuthOutcome::Unauthenticated { reason, message } => (
            "unauthenticated",
            json!({ "reason": reason, "message": message }),
        ),
        AuthOutcome::Forbidden { reason, message } => {
            ("forbidden", json!({ "reason": reason, "message": message }))
        }
        AuthOutcome::RateLimited { retry_after_secs } => (
            "rate_limited",
            json!({ "reason": "rate_limited", "retry_after_secs": retry_after_secs }),
        ),
    };
    let mut details = details;
    details["status"] = json!(e.outcome.status());
    details["method"] = json!(e.method);
    details["path"] = json!(e.path);
    details["peer"] = json!(e.peer.map(|p| p.to_string()));
    details["target"] = json!(e.target);
    mcpflow_audit::Event::new(
        e.principal.as_deref().unwrap_or("anonymous"),
        e.tenant.as_deref().unwrap_or("default"),
        REFUSED_ACTION,
        resource,
        outcome,
    )
    .details(details)
}

fn decision_event(e: &ComplianceEvent<'_>) -> mcpflow_audit::Event {
    mcpflow_audit::Event::new(
        e.principal.id.as_str(),
        e.principal.tenant.as_str(),
        DECISION_ACTION,
        target(e.action, &e.resource.name),
        if e.decision.allow { "allow" } else { "deny" },
    )
    .details(json!({
        "action": e.action.as_str(),
        "resource": e.resource.name,
        "resource_tenant": e.resource.tenant,
        "principal_kind": e.principal.kind.as_str(),
        "roles": e.principal.roles,
        "reasons": e.decision.reasons,
        "errors": e.decision.errors,
    }))
}

/// The decision an entry written by [`decision_event`] records; `None` for other entries.
fn logged_decision(entry: &Entry) -> Option<LoggedDecision> {
    if entry.action != DECISION_ACTION {
        return None;
    }
    let details: Value = serde_json::from_str(&entry.details).ok()?;
    let action: Action = serde_json::from_value(details["action"].clone()).ok()?;
    let strings = |key: &str| -> Vec<String> {
        details[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    Some(LoggedDecision {
        at: UNIX_EPOCH + Duration::from_millis(entry.ts_ms.max(0) as u64),
        principal: entry.actor.clone(),
        tenant: entry.tenant.clone(),
        action,
        resource: details["resource"].as_str()?.to_owned(),
        decision: Decision {
            allow: entry.outcome == "allow",
            reasons: strings("reasons"),
            errors: strings("errors"),
        },
    })
}

fn millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

impl DurableAudit {
    /// The compliance report over the `compliance.decision` entries in `[from, to]` (whole
    /// milliseconds; `to: None` is "now", read after the checkpoint below), listing at most `max_violations` violations (the newest; the rest are
    /// counted in `violations_omitted`). Blocking: it reads the database; call it from a
    /// blocking thread.
    ///
    /// It first signs a checkpoint, which the log's writer handles after every append queued
    /// before it: decisions made before the report are in it (and covered by a signed head).
    pub fn compliance_report(
        &self,
        from: SystemTime,
        to: Option<SystemTime>,
        max_violations: usize,
    ) -> Result<ComplianceReport, mcpflow_audit::Error> {
        let log = self.log();
        log.checkpoint()?;
        // The writer stamps an entry when it writes it, so a decision queued before this
        // report can carry a later time than the request's arrival: "now" is taken after the
        // checkpoint has written everything queued before it.
        let to = to.unwrap_or_else(SystemTime::now);
        let mut report = ComplianceReport::new(from, to);
        let since = millis(from);
        let mut until = millis(to).saturating_add(1);
        // Pages come newest first; `below` skips what an overlapping page repeats.
        let mut below = u64::MAX;
        let mut newest_first = Vec::new();
        loop {
            let page = log.search(&Search {
                text: format!("\"{DECISION_ACTION}\""),
                since_ms: Some(since),
                until_ms: Some(until),
                limit: Some(PAGE),
            })?;
            let full = page.len() == PAGE as usize;
            let oldest_ts = page.last().map(|e| e.ts_ms);
            let mut fresh = 0;
            for entry in &page {
                if entry.seq >= below {
                    continue;
                }
                fresh += 1;
                below = entry.seq;
                let Some(decision) = logged_decision(entry) else {
                    continue;
                };
                if report.count(&decision) {
                    if newest_first.len() < max_violations {
                        newest_first.push(decision);
                    } else {
                        report.violations_omitted += 1;
                    }
                }
            }
            let Some(oldest_ts) = oldest_ts else { break };
            if !full {
                break;
            }
            if fresh == 0 {
                // More than a page of entries in one millisecond: skip the rest of it rather
                // than loop, and say the counts are incomplete.
                report.truncated = true;
                until = oldest_ts;
            } else {
                // Entries of the oldest millisecond may continue past the page.
                until = oldest_ts.saturating_add(1);
            }
        }
        newest_first.reverse();
        report.violations = newest_first;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpflow_auth::{Principal, PrincipalKind, Resource};

    fn decide(audit: &AuthAuditor, who: &str, tool: &str, allow: bool) {
        let principal = Principal::new(who, "acme", ["dev"], PrincipalKind::User);
        let decision = Decision {
            allow,
            reasons: vec![if allow { "base" } else { "no-spawn" }.to_owned()],
            errors: Vec::new(),
        };
        audit.decision(&ComplianceEvent {
            principal: &principal,
            action: Action::CallTool,
            resource: &Resource::new(tool),
            decision: &decision,
        });
    }

    #[tokio::test]
    async fn decisions_round_trip_through_the_log_into_a_report() {
        let dir = tempfile::tempdir().unwrap();
        let durable = Arc::new(DurableAudit::open(dir.path()).unwrap());
        let auditor = AuthAuditor::new(durable.clone());
        let start = SystemTime::now() - Duration::from_secs(1);
        decide(&auditor, "alice", "agent_list", true);
        decide(&auditor, "bob", "agent_spawn", false);
        decide(&auditor, "bob", "agent_spawn", false);
        decide(&auditor, "carol", "task_submit", false);
        // A refusal is not a decision.
        auditor.record(&AuthEvent {
            at: SystemTime::now(),
            principal: None,
            tenant: None,
            peer: None,
            method: "POST".into(),
            path: "/mcp".into(),
            target: None,
            outcome: AuthOutcome::Unauthenticated {
                reason: "missing".into(),
                message: "missing credentials".into(),
            },
        });
        let end = SystemTime::now() + Duration::from_secs(1);
        let d = durable.clone();
        let report = tokio::task::spawn_blocking(move || d.compliance_report(start, Some(end), 2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((report.total, report.allowed, report.denied), (4, 1, 3));
        assert_eq!(report.denied_by_principal["bob"], 2);
        assert_eq!(report.denied_by_resource["agent_spawn"], 2);
        assert_eq!(report.by_policy["no-spawn"], 3);
        assert_eq!(report.by_action["call_tool"], (1, 3));
        // The two newest violations, oldest first; the third counted.
        assert_eq!(report.violations.len(), 2);
        assert_eq!(report.violations_omitted, 1);
        assert_eq!(report.violations[1].principal, "carol");
        assert!(!report.violations[1].decision.allow);
        // Nothing before the range.
        let d = durable.clone();
        let empty = tokio::task::spawn_blocking(move || {
            d.compliance_report(UNIX_EPOCH, Some(start - Duration::from_secs(10)), 10)
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(empty.total, 0);
        // The refusal went in under its own action, without a principal.
        let refused = durable
            .log()
            .search(&Search {
                text: "\"auth.refused\"".into(),
                ..Search::default()
            })
            .unwrap();
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].actor, "anonymous");
        assert_eq!(refused[0].resource, "http:/mcp");
        assert_eq!(refused[0].outcome, "unauthenticated");
        // The decisions survive a restart: reopen the log and report again.
        drop(auditor);
        let durable = Arc::into_inner(durable).expect("the only handle");
        drop(durable);
        let reopened = DurableAudit::open(dir.path()).unwrap();
        let again =
            tokio::task::spawn_blocking(move || reopened.compliance_report(start, Some(end), 2))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(again, report);
    }

    #[test]
    fn a_pending_auditor_attaches_once() {
        let dir = tempfile::tempdir().unwrap();
        let auditor = AuthAuditor::pending();
        let durable = Arc::new(DurableAudit::open(dir.path()).unwrap());
        assert!(auditor.attach(durable.clone()));
        assert!(!auditor.attach(durable));
    }
}
