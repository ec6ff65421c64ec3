//! A hook for the audit log: every refusal and every compliance decision is reported here.
//!
//! The server calls [`AuthAudit::record`] for each 401, 403 and 429 it sends, and
//! [`Auth::authorize`](crate::Auth::authorize) calls [`AuthAudit::decision`] for each Cedar
//! decision it makes (allow and deny). `mcpflow-node` implements the trait over its durable
//! audit log; [`TracingAudit`] logs, [`MemoryAudit`] keeps refusals (tests, status pages).

use parking_lot::Mutex;
use serde::Serialize;
use std::net::IpAddr;
use std::time::SystemTime;

use crate::compliance::Decision;
use crate::principal::Principal;
use crate::rbac::{Action, Resource};

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuthOutcome {
    /// 401: no or bad credentials. `reason` is [`crate::AuthError::label`].
    Unauthenticated {
        /// Stable label.
        reason: String,
        /// Human message.
        message: String,
    },
    /// 403: authenticated but not allowed. `reason` is [`crate::Denied::label`].
    Forbidden {
        /// Stable label.
        reason: String,
        /// Human message.
        message: String,
    },
    /// 429: over the principal's rate limit.
    RateLimited {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
}

impl AuthOutcome {
    /// The HTTP status this outcome is answered with.
    pub fn status(&self) -> u16 {
        match self {
            AuthOutcome::Unauthenticated { .. } => 401,
            AuthOutcome::Forbidden { .. } => 403,
            AuthOutcome::RateLimited { .. } => 429,
        }
    }
}

/// One refused request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthEvent {
    /// When.
    pub at: SystemTime,
    /// Principal id, when authentication succeeded.
    pub principal: Option<String>,
    /// Principal tenant, when known.
    pub tenant: Option<String>,
    /// Client address.
    pub peer: Option<IpAddr>,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// What was attempted (`tools/call agent_spawn`), when known.
    pub target: Option<String>,
    /// The refusal.
    pub outcome: AuthOutcome,
}

/// One compliance decision made while authorising a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComplianceEvent<'a> {
    /// Who asked.
    pub principal: &'a Principal,
    /// What for.
    pub action: Action,
    /// On what.
    pub resource: &'a Resource,
    /// The policies' answer.
    pub decision: &'a Decision,
}

/// Receives every refusal and compliance decision. Implementations must be cheap: they run on
/// the request path.
pub trait AuthAudit: Send + Sync + std::fmt::Debug {
    /// Records one refusal.
    fn record(&self, event: &AuthEvent);

    /// Records one compliance decision (allowed or denied). Sinks that only care about
    /// refusals keep the default, which ignores it: a denial also arrives at [`Self::record`]
    /// as a 403.
    fn decision(&self, event: &ComplianceEvent<'_>) {
        let _ = event;
    }
}

/// Logs refusals with `tracing` at `warn` (the default sink).
#[derive(Debug, Default, Clone, Copy)]
pub struct TracingAudit;

impl AuthAudit for TracingAudit {
    fn record(&self, event: &AuthEvent) {
        tracing::warn!(
            status = event.outcome.status(),
            principal = event.principal.as_deref().unwrap_or("-"),
            tenant = event.tenant.as_deref().unwrap_or("-"),
            peer = ?event.peer,
            path = %event.path,
            target = event.target.as_deref().unwrap_or("-"),
            outcome = ?event.outcome,
            "request refused"
        );
    }

    fn decision(&self, event: &ComplianceEvent<'_>) {
        tracing::debug!(
            principal = %event.principal.id,
            action = event.action.as_str(),
            resource = %event.resource.name,
            allow = event.decision.allow,
            reasons = ?event.decision.reasons,
            "compliance decision"
        );
    }
}

/// Keeps refusals in memory (bounded), for tests and inspection.
#[derive(Debug)]
pub struct MemoryAudit {
    events: Mutex<Vec<AuthEvent>>,
    cap: usize,
}

impl Default for MemoryAudit {
    fn default() -> Self {
        Self::new(10_000)
    }
}

impl MemoryAudit {
    /// Keeps the last `cap` events.
    pub fn new(cap: usize) -> Self {
        Self {
            events: Mutex::new(Vec::new()),
            cap: cap.max(1),
        }
    }

    /// A copy of the events, oldest first.
    pub fn events(&self) -> Vec<AuthEvent> {
        self.events.lock().clone()
    }
}

impl AuthAudit for MemoryAudit {
    fn record(&self, event: &AuthEvent) {
        let mut events = self.events.lock();
        if events.len() >= self.cap {
            events.remove(0);
        }
        events.push(event.clone());
    }
}
