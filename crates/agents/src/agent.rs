//! One agent: its identity, its bounded inbox, its executor and what it keeps across restarts.
//!
//! The inbox is not a channel: it lives in the registry, outside the agent's tokio task, so a
//! crash (a panic, an abort) loses nothing — the supervisor finds the queued tasks and the one
//! that was running right here, and either hands them to the restarted agent or redistributes
//! them.

use mcpflow_executors::Executor;
use mcpflow_model::{AgentRecord, AgentSpec, AgentState, AgentStatus, TaskRecord, Timestamp};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use crate::journal::Journal;
use crate::tasks::TaskEntry;

/// How well an agent is doing, as the health monitor last judged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Working normally.
    Healthy,
    /// Slow, erring now and then, or its mailbox is nearly full: given less work.
    Degraded,
    /// Mostly failing or stuck: given no new work while others can take it.
    Unhealthy,
}

impl Health {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Health::Healthy,
            1 => Health::Degraded,
            _ => Health::Unhealthy,
        }
    }
}

fn status_from_u8(v: u8) -> AgentStatus {
    match v {
        0 => AgentStatus::Running,
        1 => AgentStatus::Restarting,
        2 => AgentStatus::Stopped,
        _ => AgentStatus::GivenUp,
    }
}

fn status_to_u8(s: AgentStatus) -> u8 {
    match s {
        AgentStatus::Running => 0,
        AgentStatus::Restarting => 1,
        AgentStatus::Stopped => 2,
        AgentStatus::GivenUp => 3,
    }
}

/// What the agent loop should do next.
pub(crate) enum Next {
    /// Run this task.
    Run(Arc<TaskEntry>),
    /// Wait for work.
    Idle,
    /// The agent was stopped: leave the loop.
    Closed,
}

#[derive(Debug, Default)]
struct Inbox {
    queue: VecDeque<Arc<TaskEntry>>,
    /// Slots promised to submitters whose task is being made durable.
    reserved: u32,
    /// The task being executed, if any.
    current: Option<Arc<TaskEntry>>,
    closed: bool,
}

/// Attempt statistics the health monitor reads (and decays) each sweep.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub attempts: AtomicU32,
    pub failures: AtomicU32,
    /// Sum of attempt latencies since the last sweep, in microseconds.
    pub latency_us: AtomicU64,
    /// When the current attempt started (ms since the Unix epoch; 0 = none running).
    pub running_since: AtomicU64,
}

/// A live agent, as the registry holds it.
#[derive(Debug)]
pub(crate) struct Agent {
    pub id: Arc<str>,
    pub spec: AgentSpec,
    pub node: Arc<str>,
    pub created_at: Timestamp,
    status: AtomicU8,
    health: AtomicU8,
    generation: AtomicU64,
    inbox: Mutex<Inbox>,
    pub wake: Notify,
    executor: Mutex<Arc<dyn Executor>>,
    state: Mutex<(AgentState, Option<String>)>,
    task: Mutex<Option<AbortHandle>>,
    pub stats: Stats,
}

impl Agent {
    pub fn new(record: &AgentRecord, executor: Arc<dyn Executor>) -> Self {
        Self {
            id: Arc::from(record.id.as_str()),
            spec: record.spec.clone(),
            node: Arc::from(record.node.as_str()),
            created_at: record.created_at,
            status: AtomicU8::new(status_to_u8(record.status)),
            health: AtomicU8::new(0),
            generation: AtomicU64::new(0),
            inbox: Mutex::new(Inbox::default()),
            wake: Notify::new(),
            executor: Mutex::new(executor),
            state: Mutex::new((record.state.clone(), record.reason.clone())),
            task: Mutex::new(None),
            stats: Stats::default(),
        }
    }

    fn inbox(&self) -> std::sync::MutexGuard<'_, Inbox> {
        // Inbox updates are single pushes and pops: a panic cannot leave it half-changed.
        self.inbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn status(&self) -> AgentStatus {
        status_from_u8(self.status.load(Ordering::Acquire))
    }

    /// Moves `from` → `to` atomically; false if the status was no longer `from`.
    pub fn swap_status(&self, from: AgentStatus, to: AgentStatus) -> bool {
        self.status
            .compare_exchange(
                status_to_u8(from),
                status_to_u8(to),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Moves any live status to the final `to`; returns the final status it found instead,
    /// if it was already final.
    pub fn end(&self, to: AgentStatus) -> Result<(), AgentStatus> {
        let mut current = self.status.load(Ordering::Acquire);
        loop {
            let status = status_from_u8(current);
            if status.is_final() {
                return Err(status);
            }
            match self.status.compare_exchange(
                current,
                status_to_u8(to),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
    }

    pub fn health(&self) -> Health {
        Health::from_u8(self.health.load(Ordering::Relaxed))
    }

    /// Sets the health; returns whether it changed.
    pub fn set_health(&self, health: Health) -> bool {
        self.health.swap(health as u8, Ordering::Relaxed) != health as u8
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn next_generation(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    pub fn executor(&self) -> Arc<dyn Executor> {
        self.executor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_executor(&self, executor: Arc<dyn Executor>) {
        *self.executor.lock().unwrap_or_else(|p| p.into_inner()) = executor;
    }

    pub fn set_abort(&self, handle: AbortHandle) {
        *self.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
    }

    /// Aborts the agent's tokio task (a crash, as far as the supervisor can tell).
    pub fn abort(&self) -> bool {
        match &*self.task.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(h) => {
                h.abort();
                true
            }
            None => false,
        }
    }

    pub fn has_capabilities(&self, needed: &[String]) -> bool {
        needed.iter().all(|c| self.spec.capabilities.contains(c))
    }

    pub fn missing_capabilities(&self, needed: &[String]) -> Vec<String> {
        needed
            .iter()
            .filter(|c| !self.spec.capabilities.contains(c))
            .cloned()
            .collect()
    }

    pub fn capacity(&self) -> u32 {
        self.spec.limits.mailbox
    }

    /// Tasks waiting or promised, plus the running one: what the scheduler balances.
    pub fn load(&self) -> u32 {
        let inbox = self.inbox();
        inbox.queue.len() as u32 + inbox.reserved + u32::from(inbox.current.is_some())
    }

    /// Waiting tasks and promised slots (not the running one).
    pub fn depth(&self) -> u32 {
        let inbox = self.inbox();
        inbox.queue.len() as u32 + inbox.reserved
    }

    pub fn current_task(&self) -> Option<Arc<str>> {
        self.inbox().current.as_ref().map(|t| t.id.clone())
    }

    /// Promises a mailbox slot to a submitter, if one is free.
    pub fn try_reserve(&self) -> bool {
        let mut inbox = self.inbox();
        if inbox.closed || inbox.queue.len() as u32 + inbox.reserved >= self.capacity() {
            return false;
        }
        inbox.reserved += 1;
        true
    }

    pub fn release_reservation(&self) {
        let mut inbox = self.inbox();
        inbox.reserved = inbox.reserved.saturating_sub(1);
    }

    /// Queues a task. `reserved` turns a promised slot into the task; without one the push
    /// may exceed the bound — used only for tasks already admitted elsewhere (retries,
    /// redistribution, recovery), which must never be dropped. Gives the task back if the
    /// agent stopped meanwhile (its inbox is closed and already drained).
    pub fn push(&self, task: Arc<TaskEntry>, reserved: bool) -> Result<(), Arc<TaskEntry>> {
        {
            let mut inbox = self.inbox();
            if reserved {
                inbox.reserved = inbox.reserved.saturating_sub(1);
            }
            if inbox.closed {
                return Err(task);
            }
            inbox.queue.push_back(task);
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Puts a task back at the head of the queue (the restarted agent resumes with it).
    pub fn push_front(&self, task: Arc<TaskEntry>) {
        self.inbox().queue.push_front(task);
        self.wake.notify_one();
    }

    /// Removes a queued task (it was cancelled), freeing its slot.
    pub fn remove(&self, id: &str) {
        self.inbox().queue.retain(|t| &*t.id != id);
    }

    /// Takes the next task that has not ended meanwhile, making it the current one.
    pub fn next(&self) -> Next {
        let mut inbox = self.inbox();
        if inbox.closed {
            return Next::Closed;
        }
        while let Some(task) = inbox.queue.pop_front() {
            if !task.state().is_final() {
                inbox.current = Some(task.clone());
                return Next::Run(task);
            }
        }
        Next::Idle
    }

    pub fn clear_current(&self) {
        self.inbox().current = None;
    }

    /// Stops taking tasks; the loop leaves at its next turn.
    pub fn close(&self) {
        self.inbox().closed = true;
        self.wake.notify_one();
    }

    /// Empties the inbox: the running task first, then the queue in order.
    pub fn drain(&self) -> Vec<Arc<TaskEntry>> {
        let mut inbox = self.inbox();
        let mut out: Vec<_> = inbox.current.take().into_iter().collect();
        out.extend(inbox.queue.drain(..));
        out
    }

    /// Takes the task that was running (after a crash), leaving the queue.
    pub fn take_current(&self) -> Option<Arc<TaskEntry>> {
        self.inbox().current.take()
    }

    pub fn update_state(&self, f: impl FnOnce(&mut AgentState)) {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()).0);
    }

    pub fn set_state(&self, state: AgentState) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0 = state;
    }

    pub fn set_reason(&self, reason: impl Into<String>) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1 = Some(reason.into());
    }

    /// The agent as stored.
    pub fn record(&self) -> AgentRecord {
        let (state, reason) = self.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        self.record_with(state, reason)
    }

    /// Queues the agent as stored (and `task` in the same write) while its state is locked:
    /// records reach the journal in the order of the states they carry. Without the lock, a
    /// snapshot taken just before a task's completion could be queued just after it and
    /// overwrite the stored count (seen as a CI flake of the recovery test under load).
    pub(crate) fn journal(&self, journal: &Journal, task: Option<TaskRecord>) {
        let guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let record = self.record_with(guard.0.clone(), guard.1.clone());
        journal.record(task, Some(record));
    }

    fn record_with(&self, state: AgentState, reason: Option<String>) -> AgentRecord {
        AgentRecord {
            id: self.id.to_string(),
            node: self.node.to_string(),
            spec: self.spec.clone(),
            status: self.status(),
            reason,
            state,
            created_at: self.created_at,
            updated_at: Timestamp::now(),
        }
    }

    /// The agent as shown to callers.
    pub fn info(&self) -> AgentInfo {
        let record = self.record();
        AgentInfo {
            health: Some(self.health()),
            mailbox: Some(Mailbox {
                depth: self.depth(),
                capacity: self.capacity(),
            }),
            executor: self.executor().kind(),
            running_task: self.current_task().map(|t| t.to_string()),
            ..AgentInfo::from_record(record)
        }
    }
}

/// An agent's mailbox fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Mailbox {
    /// Tasks waiting.
    pub depth: u32,
    /// Most that may wait.
    pub capacity: u32,
}

/// An agent as callers see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentInfo {
    /// Its id.
    pub id: String,
    /// Its executor's kind (`scripted`, `openai_compatible`, ...).
    pub executor: &'static str,
    /// Lifecycle status.
    pub status: AgentStatus,
    /// Why it stopped or was given up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Health (live agents only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// Mailbox fill (live agents only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<Mailbox>,
    /// The task it is running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_task: Option<String>,
    /// Counters kept across restarts.
    pub state: AgentState,
    /// The full spec it was spawned with.
    pub spec: AgentSpec,
    /// When it was spawned.
    pub created_at: Timestamp,
}

impl AgentInfo {
    /// The view of a stored (possibly no longer live) agent.
    pub fn from_record(record: AgentRecord) -> Self {
        let executor = match &record.spec.executor {
            mcpflow_model::ExecutorSpec::Scripted { .. } => "scripted",
            mcpflow_model::ExecutorSpec::OpenAiCompatible { .. } => "openai_compatible",
            mcpflow_model::ExecutorSpec::Anthropic { .. } => "anthropic",
            mcpflow_model::ExecutorSpec::McpSampling { .. } => "mcp_sampling",
        };
        Self {
            id: record.id,
            executor,
            status: record.status,
            reason: record.reason,
            health: None,
            mailbox: None,
            running_task: None,
            state: record.state,
            spec: record.spec,
            created_at: record.created_at,
        }
    }
}
