//! Where the node's audit events go: every gate verdict, and (as the security work lands)
//! every authorisation decision and privileged action.
//!
//! [`AuditSink`] is the seam: the node writes to it and does not care whether the events end
//! in the tamper-evident log, the tracing output or (in tests) memory.

use std::collections::VecDeque;
use std::sync::Mutex;

/// One audited event.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditEvent {
    /// Who acted: a session, an agent, a member.
    pub actor: String,
    /// What was done or decided (`gate.task_input`, …).
    pub action: String,
    /// What it concerned (`tool:agent_spawn`, `memory:docs`, …).
    pub resource: String,
    /// The decision or result (`allow`, `warn`, `block`, …).
    pub outcome: String,
    /// Anything else, as JSON.
    pub details: serde_json::Value,
}

/// Receives audit events. Must not block: a sink that writes to disk queues.
pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Records one event.
    fn record(&self, event: AuditEvent);
}

/// Writes each event to the tracing output (target `mcpflow::audit`): the sink a node uses
/// until a durable audit log is configured.
#[derive(Debug, Default)]
pub struct TracingAudit;

impl AuditSink for TracingAudit {
    fn record(&self, e: AuditEvent) {
        tracing::info!(target: "mcpflow::audit", actor = %e.actor, action = %e.action, resource = %e.resource, outcome = %e.outcome, details = %e.details);
    }
}

/// Keeps the last `capacity` events in memory (tests, and a recent-events view).
#[derive(Debug)]
pub struct MemoryAudit {
    capacity: usize,
    events: Mutex<VecDeque<AuditEvent>>,
}

impl MemoryAudit {
    /// Holds at most `capacity` events; older ones are dropped.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            events: Mutex::new(VecDeque::new()),
        }
    }

    /// The kept events, oldest first.
    pub fn recent(&self) -> Vec<AuditEvent> {
        let q = self.events.lock().unwrap_or_else(|p| p.into_inner());
        q.iter().cloned().collect()
    }
}

impl AuditSink for MemoryAudit {
    fn record(&self, event: AuditEvent) {
        let mut q = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() == self.capacity {
            q.pop_front();
        }
        q.push_back(event);
    }
}
