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

/// The tamper-evident log (`mcpflow-audit`): hash-chained, Merkle checkpoints signed with
/// Ed25519, group-committed. Recording never blocks the caller: the event is queued at once
/// and a task waits for it to be durable; an append that fails is logged as an error and
/// counted (`failures`), never dropped silently.
#[derive(Debug)]
pub struct DurableAudit {
    log: std::sync::Arc<mcpflow_audit::AuditLog>,
    failures: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl DurableAudit {
    /// Opens (verifying what is there) or creates `audit.db` and its signing key in `dir`.
    pub fn open(dir: &std::path::Path) -> Result<Self, mcpflow_audit::Error> {
        let log = mcpflow_audit::AuditLog::open(mcpflow_audit::AuditConfig::in_dir(dir))?;
        Ok(Self {
            log: std::sync::Arc::new(log),
            failures: Default::default(),
        })
    }

    /// The log, for queries, proofs and verification.
    pub fn log(&self) -> &std::sync::Arc<mcpflow_audit::AuditLog> {
        &self.log
    }

    /// Appends that did not become durable.
    pub fn failures(&self) -> u64 {
        self.failures.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl DurableAudit {
    /// Queues `event` at once (so a later [`mcpflow_audit::AuditLog::checkpoint`] covers it)
    /// and waits for durability on a task; failures are logged and counted.
    pub(crate) fn append(&self, event: mcpflow_audit::Event) {
        let queued = self.log.append_async(event);
        let failures = self.failures.clone();
        let report = async move {
            // Durable once the writer's next group commit lands.
            if let Err(error) = queued.await {
                failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::error!(%error, "an audit event could not be written");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(report);
            }
            Err(_) => futures::executor::block_on(report),
        }
    }
}

impl AuditSink for DurableAudit {
    fn record(&self, e: AuditEvent) {
        self.append(
            mcpflow_audit::Event::new(e.actor, "default", e.action, e.resource, e.outcome)
                .details(e.details),
        );
    }
}
