//! The [`Runtime`] façade: spawn and stop agents, submit and cancel tasks, look things up.

use dashmap::DashMap;
use mcpflow_executors::Executor;
use mcpflow_model::{
    AgentRecord, AgentSpec, AgentState, AgentStatus, ContentGate, GateOutcome, GatePoint,
    TaskRecord, TaskSpec, TaskState, Timestamp, new_agent_id, new_task_id,
};
use mcpflow_store::{DynStore, TaskQuery};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

use crate::Error;
use crate::agent::{Agent, AgentInfo, Health};
use crate::events::{RuntimeEvent, RuntimeStats};
use crate::journal::Journal;
use crate::registry::{AgentFilter, Registry};
use crate::supervisor::Exit;
use crate::tasks::TaskEntry;

/// Builds an agent's executor from its spec (the node decides which kinds it supports).
pub type ExecutorFactory =
    Arc<dyn Fn(&AgentSpec) -> Result<Arc<dyn Executor>, String> + Send + Sync>;

/// The factory for every executor that needs no MCP connection: scripted, OpenAI-compatible
/// and Anthropic ([`mcpflow_executors::build`]). MCP sampling is refused with a reason; the
/// server wraps this factory to provide it.
pub fn standard_executors() -> ExecutorFactory {
    Arc::new(|spec: &AgentSpec| mcpflow_executors::build(&spec.executor))
}

/// How the runtime behaves.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// This node's id (agents and tasks record which node runs them).
    pub node: String,
    /// Most restarts of one agent within `restart_period` (OTP's intensity; seed: 5).
    pub restart_intensity: u32,
    /// The window for `restart_intensity` (seed: 60 s).
    pub restart_period: Duration,
    /// How often the health monitor looks at every agent.
    pub health_interval: Duration,
    /// Wait before the first retry of a failed attempt; doubles each retry, up to 32×.
    pub retry_backoff: Duration,
    /// Finished tasks kept in memory for fast lookup (older ones are read from the store).
    pub finished_tasks_kept: usize,
    /// Inspects every task input before it is accepted and every result before the task
    /// completes with it; `None` lets everything through (tests, the library alone).
    pub gate: Option<Arc<dyn ContentGate>>,
}

impl RuntimeConfig {
    /// Defaults from the seed design for a node called `node`.
    pub fn new(node: impl Into<String>) -> Self {
        Self {
            node: node.into(),
            restart_intensity: 5,
            restart_period: Duration::from_secs(60),
            health_interval: Duration::from_secs(5),
            retry_backoff: Duration::from_millis(100),
            finished_tasks_kept: 100_000,
            gate: None,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub agents_spawned: AtomicU64,
    pub agents_recovered: AtomicU64,
    pub restarts: AtomicU64,
    pub given_up: AtomicU64,
    pub tasks_submitted: AtomicU64,
    pub tasks_recovered: AtomicU64,
    pub tasks_completed: AtomicU64,
    pub tasks_failed: AtomicU64,
    pub tasks_cancelled: AtomicU64,
    pub retries: AtomicU64,
    pub redistributed: AtomicU64,
    pub interrupted: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The agent runtime. Cheap to clone; clones share everything.
///
/// ```no_run
/// # async fn demo(store: mcpflow_store::DynStore) -> Result<(), mcpflow_agents::Error> {
/// use mcpflow_agents::{Runtime, RuntimeConfig, standard_executors};
/// use mcpflow_model::{AgentLimits, AgentSpec, ExecutorSpec, RestartPolicy, TaskSpec};
///
/// let rt = Runtime::start(RuntimeConfig::new("node-a"), store, standard_executors()).await?;
/// let agent = rt
///     .spawn(AgentSpec {
///         name: "echo".into(),
///         role: "worker".into(),
///         capabilities: vec!["echo".into()],
///         instructions: None,
///         executor: ExecutorSpec::Scripted { reply: "echo: {input}".into(), delay_ms: 0, fail_every: 0 },
///         limits: AgentLimits::default(),
///         restart: RestartPolicy::Permanent,
///     })
///     .await?;
/// let task = rt.submit(TaskSpec::new("hello")).await?;
/// let done = rt.wait(&task.id).await?;
/// assert_eq!(done.result.unwrap()["text"], "echo: hello");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("node", &self.inner.config.node)
            .field("agents", &self.inner.registry.len())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub config: RuntimeConfig,
    pub store: DynStore,
    pub factory: ExecutorFactory,
    pub registry: Registry,
    pub tasks: DashMap<Arc<str>, Arc<TaskEntry>>,
    finished: Mutex<VecDeque<Arc<str>>>,
    pub journal: Journal,
    pub events: broadcast::Sender<RuntimeEvent>,
    pub exits: mpsc::UnboundedSender<Exit>,
    pub counters: Counters,
    shutdown: watch::Sender<bool>,
}

/// Candidates compared per scheduling decision (least loaded wins).
const CHOICES: usize = 4;
/// Most agents looked at per scheduling decision before settling for what was found.
const MAX_SCAN: usize = 256;

impl Runtime {
    /// Starts the runtime on `store`: restores this node's live agents (same ids, state from
    /// the store) and re-queues its unfinished tasks, then starts the supervisor and the
    /// health monitor.
    pub async fn start(
        config: RuntimeConfig,
        store: DynStore,
        factory: ExecutorFactory,
    ) -> Result<Self, Error> {
        let (exits_tx, exits_rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(4096);
        let inner = Arc::new(Inner {
            journal: Journal::start(store.clone()),
            config,
            store,
            factory,
            registry: Registry::default(),
            tasks: DashMap::new(),
            finished: Mutex::new(VecDeque::new()),
            events,
            exits: exits_tx,
            counters: Counters::default(),
            shutdown: watch::Sender::new(false),
        });
        tokio::spawn(crate::supervisor::run(Arc::downgrade(&inner), exits_rx));
        tokio::spawn(crate::health::run(
            Arc::downgrade(&inner),
            inner.shutdown.subscribe(),
        ));
        inner.recover().await?;
        Ok(Self { inner })
    }

    /// Validates `spec`, builds its executor, registers and persists the agent, and starts it.
    pub async fn spawn(&self, spec: AgentSpec) -> Result<AgentInfo, Error> {
        self.inner.check_running()?;
        spec.validate()?;
        let executor = (self.inner.factory)(&spec).map_err(Error::Executor)?;
        let now = Timestamp::now();
        let record = AgentRecord {
            id: new_agent_id(),
            node: self.inner.config.node.clone(),
            spec,
            status: AgentStatus::Running,
            reason: None,
            state: AgentState::default(),
            created_at: now,
            updated_at: now,
        };
        // Durable before anyone can see it: a crash right after this call keeps the agent.
        self.inner
            .journal
            .commit(None, Some(record.clone()))
            .await
            .map_err(|e| Error::Store(mcpflow_store::Error::Worker(e)))?;
        let agent = Arc::new(Agent::new(&record, executor));
        self.inner.registry.insert(agent.clone());
        self.inner.start_agent(&agent);
        bump(&self.inner.counters.agents_spawned);
        self.inner.agent_event(&agent);
        tracing::debug!(agent = %agent.id, role = %agent.spec.role, "agent spawned");
        Ok(agent.info())
    }

    /// The agent with this id: live, or as last stored.
    pub async fn agent(&self, id: &str) -> Result<AgentInfo, Error> {
        if let Some(agent) = self.inner.registry.get(id) {
            return Ok(agent.info());
        }
        match self.inner.store.agent(id).await? {
            Some(record) => Ok(AgentInfo::from_record(record)),
            None => Err(Error::UnknownAgent(id.to_owned())),
        }
    }

    /// One page of live agents.
    pub fn agents(&self, filter: &AgentFilter) -> Page<AgentInfo> {
        let (agents, next) = self.inner.registry.list(filter);
        Page {
            items: agents.iter().map(|a| a.info()).collect(),
            next,
        }
    }

    /// Stops an agent for good: it takes no more tasks, its running task is interrupted and
    /// its queued tasks go to other agents with the same capabilities.
    pub async fn terminate(&self, id: &str, reason: &str) -> Result<AgentInfo, Error> {
        let agent = self
            .inner
            .registry
            .get(id)
            .ok_or_else(|| Error::UnknownAgent(id.to_owned()))?;
        if let Err(status) = agent.end(AgentStatus::Stopped) {
            return Err(Error::AgentNotRunning {
                id: id.to_owned(),
                status,
            });
        }
        agent.set_reason(reason);
        agent.close();
        agent.abort();
        self.inner
            .journal
            .commit(None, Some(agent.record()))
            .await
            .map_err(|e| Error::Store(mcpflow_store::Error::Worker(e)))?;
        self.inner.agent_event(&agent);
        Ok(agent.info())
    }

    /// Fault injection: kills an agent's task as a crash would (the supervisor restarts it or
    /// gives it up). For chaos tests and drills.
    pub fn crash(&self, id: &str) -> Result<(), Error> {
        let agent = self
            .inner
            .registry
            .get(id)
            .ok_or_else(|| Error::UnknownAgent(id.to_owned()))?;
        agent.abort();
        Ok(())
    }

    /// Accepts a task: picks an agent (the one named, or the least-loaded healthy agent with
    /// the capabilities), makes the task durable, then queues it. Returns once it is durable.
    ///
    /// A full mailbox is refused with [`Error::MailboxFull`] / [`Error::AllMailboxesFull`]:
    /// back-pressure, never unbounded growth.
    pub async fn submit(&self, mut spec: TaskSpec) -> Result<TaskRecord, Error> {
        self.inner.check_running()?;
        spec.validate()?;
        let agent = self.inner.reserve(&spec)?;
        if let Some(gate) = &self.inner.config.gate {
            let actor = spec.origin.as_deref().unwrap_or("unknown");
            let point = GatePoint::TaskInput {
                instructions: agent.spec.instructions.as_deref(),
            };
            if let GateOutcome::Block(reason) = gate.inspect(point, actor, &spec.input) {
                agent.release_reservation();
                return Err(Error::Blocked(reason));
            }
        }
        spec.max_attempts
            .get_or_insert(agent.spec.limits.max_attempts);
        spec.timeout_ms
            .get_or_insert(agent.spec.limits.task_timeout_ms);
        let now = Timestamp::now();
        let record = TaskRecord {
            id: new_task_id(),
            node: self.inner.config.node.clone(),
            spec,
            state: TaskState::Queued,
            agent: None,
            attempts: 0,
            result: None,
            error: None,
            created_at: now,
            updated_at: now,
        };
        if let Err(e) = self.inner.journal.commit(Some(record.clone()), None).await {
            agent.release_reservation();
            return Err(Error::Store(mcpflow_store::Error::Worker(e)));
        }
        bump(&self.inner.counters.tasks_submitted);
        let entry = TaskEntry::new(record);
        self.inner.tasks.insert(entry.id.clone(), entry.clone());
        self.inner.task_event(&entry);
        Ok(self.inner.hand_to(&agent, entry, true))
    }

    /// The task with this id: live, or as stored.
    pub async fn task(&self, id: &str) -> Result<TaskRecord, Error> {
        if let Some(entry) = self.inner.tasks.get(id) {
            return Ok(entry.snapshot());
        }
        self.inner
            .store
            .task(id)
            .await?
            .ok_or_else(|| Error::UnknownTask(id.to_owned()))
    }

    /// Waits until the task is final and returns it.
    pub async fn wait(&self, id: &str) -> Result<TaskRecord, Error> {
        let entry = self.inner.tasks.get(id).map(|e| e.value().clone());
        match entry {
            Some(entry) => {
                entry.finished().await;
                Ok(entry.snapshot())
            }
            None => self.task(id).await,
        }
    }

    /// State changes of a live task (`None` if it is not live: it ended a while ago or
    /// never existed).
    pub fn watch_task(&self, id: &str) -> Option<watch::Receiver<TaskState>> {
        self.inner.tasks.get(id).map(|e| e.watch())
    }

    /// Cancels a task that has not ended; a running attempt is stopped.
    pub async fn cancel(&self, id: &str, reason: &str) -> Result<TaskRecord, Error> {
        let Some(entry) = self.inner.tasks.get(id).map(|e| e.value().clone()) else {
            let stored = self.task(id).await?;
            return Err(Error::AlreadyFinal {
                id: id.to_owned(),
                state: stored.state,
            });
        };
        let reason = format!("cancelled: {reason}");
        match entry.transition(TaskState::Cancelled, |r| r.error = Some(reason)) {
            Some(record) => {
                if let Some(agent) = record
                    .agent
                    .as_deref()
                    .and_then(|a| self.inner.registry.get(a))
                {
                    agent.remove(id);
                }
                self.inner.finished(&entry, record.clone(), None);
                Ok(record)
            }
            None => Err(Error::AlreadyFinal {
                id: id.to_owned(),
                state: entry.state(),
            }),
        }
    }

    /// One page of tasks (from the store, after everything written so far is durable).
    pub async fn tasks(
        &self,
        state: Option<TaskState>,
        after: Option<String>,
        limit: u32,
    ) -> Result<Page<TaskRecord>, Error> {
        self.inner
            .journal
            .flush()
            .await
            .map_err(|e| Error::Store(mcpflow_store::Error::Worker(e)))?;
        let limit = limit.clamp(1, 1000);
        let mut items = self
            .inner
            .store
            .tasks(&TaskQuery {
                node: None,
                state,
                open_only: false,
                after,
                limit: limit + 1,
            })
            .await?;
        // The store lags memory for fire-and-forget writes: show the live copy when we have it.
        for t in &mut items {
            if let Some(live) = self.inner.tasks.get(t.id.as_str()) {
                *t = live.snapshot();
            }
        }
        let next = (items.len() > limit as usize).then(|| {
            items.truncate(limit as usize);
            items.last().map(|t| t.id.clone())
        });
        Ok(Page {
            items,
            next: next.flatten(),
        })
    }

    /// Every change from now on.
    pub fn events(&self) -> broadcast::Receiver<RuntimeEvent> {
        self.inner.events.subscribe()
    }

    /// Counters since start.
    pub fn stats(&self) -> RuntimeStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (completed, failed, cancelled) = (
            get(&c.tasks_completed),
            get(&c.tasks_failed),
            get(&c.tasks_cancelled),
        );
        RuntimeStats {
            agents_live: self.inner.registry.len() as u64,
            agents_spawned: get(&c.agents_spawned),
            agents_recovered: get(&c.agents_recovered),
            restarts: get(&c.restarts),
            given_up: get(&c.given_up),
            tasks_submitted: get(&c.tasks_submitted),
            tasks_recovered: get(&c.tasks_recovered),
            tasks_finished: completed + failed + cancelled,
            tasks_completed: completed,
            tasks_failed: failed,
            tasks_cancelled: cancelled,
            retries: get(&c.retries),
            redistributed: get(&c.redistributed),
            interrupted: get(&c.interrupted),
        }
    }

    /// Waits until every write so far is durable.
    pub async fn flush(&self) -> Result<(), Error> {
        self.inner
            .journal
            .flush()
            .await
            .map_err(|e| Error::Store(mcpflow_store::Error::Worker(e)))
    }

    /// Stops every agent without changing their stored status (they come back at the next
    /// start), and waits for pending writes. Open tasks stay open in the store and are
    /// re-queued at the next start.
    pub async fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        for agent in self.inner.registry.snapshot() {
            agent.close();
            agent.abort();
        }
        // An aborted agent may still finish the poll it is in; its writes must not land after
        // whoever opens the store next has read it.
        self.inner.journal.close();
        if let Err(e) = self.inner.journal.flush().await {
            tracing::error!(error = %e, "agent runtime: final journal flush failed");
        }
    }
}

impl Inner {
    pub fn check_running(&self) -> Result<(), Error> {
        if *self.shutdown.borrow() {
            return Err(Error::ShuttingDown);
        }
        Ok(())
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Starts (or restarts) an agent's loop under supervision.
    pub fn start_agent(self: &Arc<Self>, agent: &Arc<Agent>) {
        let generation = agent.next_generation();
        let guard = crate::supervisor::ExitGuard::new(self, agent, generation);
        let handle = tokio::spawn(crate::supervisor::agent_loop(
            self.clone(),
            agent.clone(),
            guard,
        ));
        agent.set_abort(handle.abort_handle());
    }

    /// Picks the agent for a new task and promises it a mailbox slot.
    fn reserve(&self, spec: &TaskSpec) -> Result<Arc<Agent>, Error> {
        if let Some(id) = &spec.agent {
            let agent = self
                .registry
                .get(id)
                .ok_or_else(|| Error::UnknownAgent(id.clone()))?;
            let status = agent.status();
            if status != AgentStatus::Running {
                return Err(Error::AgentNotRunning {
                    id: id.clone(),
                    status,
                });
            }
            let missing = agent.missing_capabilities(&spec.capabilities);
            if !missing.is_empty() {
                return Err(Error::MissingCapabilities {
                    id: id.clone(),
                    missing,
                });
            }
            if !agent.try_reserve() {
                return Err(Error::MailboxFull {
                    id: id.clone(),
                    capacity: agent.capacity(),
                });
            }
            return Ok(agent);
        }
        for _ in 0..3 {
            let (candidates, capable) =
                self.registry
                    .candidates(&spec.capabilities, CHOICES, MAX_SCAN, |a| {
                        a.health() != Health::Unhealthy && a.depth() < a.capacity()
                    });
            if candidates.is_empty() {
                if capable == 0 {
                    return Err(Error::NoCapableAgent(spec.capabilities.clone()));
                }
                return Err(Error::AllMailboxesFull {
                    capabilities: spec.capabilities.clone(),
                    agents: capable,
                });
            }
            let mut ranked = candidates;
            ranked.sort_by_key(|a| load_score(a));
            if let Some(agent) = ranked.into_iter().find(|a| a.try_reserve()) {
                return Ok(agent);
            }
        }
        Err(Error::AllMailboxesFull {
            capabilities: spec.capabilities.clone(),
            agents: CHOICES,
        })
    }

    /// Queues an admitted task on `agent` (state → assigned).
    pub fn hand_to(&self, agent: &Arc<Agent>, entry: Arc<TaskEntry>, reserved: bool) -> TaskRecord {
        let assigned = entry.transition(TaskState::Assigned, |r| {
            r.agent = Some(agent.id.to_string())
        });
        if assigned.is_none() {
            if reserved {
                agent.release_reservation();
            }
            return entry.snapshot();
        }
        match agent.push(entry.clone(), reserved) {
            Ok(()) => self.task_event(&entry),
            Err(entry) => {
                // The agent stopped between being chosen and now; it is no longer a candidate
                // (its status is final), so placing again picks another.
                entry.transition(TaskState::Queued, |r| r.agent = None);
                self.place(entry.clone());
            }
        }
        entry.snapshot()
    }

    /// Finds a new agent for an admitted task that lost its own (retry, redistribution,
    /// recovery). Never refuses for a full mailbox — the task was admitted under the bound
    /// already — but fails the task if no capable agent is running.
    pub fn place(&self, entry: Arc<TaskEntry>) {
        if entry.state().is_final() {
            return;
        }
        let record = entry.snapshot();
        if let Some(id) = &record.spec.agent {
            match self.registry.get(id) {
                Some(agent) if agent.status() == AgentStatus::Running => {
                    self.hand_to(&agent, entry, false);
                }
                other => {
                    let status = other.map_or("gone".to_string(), |a| a.status().to_string());
                    self.fail(
                        &entry,
                        format!("the agent it was submitted to ({id}) is {status}"),
                    );
                }
            }
            return;
        }
        let (mut candidates, _) =
            self.registry
                .candidates(&record.spec.capabilities, CHOICES, MAX_SCAN, |a| {
                    a.health() != Health::Unhealthy
                });
        if candidates.is_empty() {
            // Unhealthy agents are better than none.
            candidates = self
                .registry
                .candidates(&record.spec.capabilities, 1, MAX_SCAN, |_| true)
                .0;
        }
        match candidates.into_iter().min_by_key(|a| load_score(a)) {
            Some(agent) => {
                self.hand_to(&agent, entry, false);
            }
            None => self.fail(
                &entry,
                format!(
                    "no running agent has the capabilities {:?}",
                    record.spec.capabilities
                ),
            ),
        }
    }

    /// Ends a task as failed (if it has not ended).
    pub fn fail(&self, entry: &Arc<TaskEntry>, reason: String) {
        if let Some(record) = entry.transition(TaskState::Failed, |r| r.error = Some(reason)) {
            self.finished(entry, record, None);
        }
    }

    /// Records a task's final state: counters, journal (with the agent's state when it ran
    /// there), events, and the bounded cache of finished tasks.
    pub fn finished(&self, entry: &Arc<TaskEntry>, record: TaskRecord, agent: Option<&Agent>) {
        bump(match record.state {
            TaskState::Completed => &self.counters.tasks_completed,
            TaskState::Cancelled => &self.counters.tasks_cancelled,
            _ => &self.counters.tasks_failed,
        });
        match agent {
            Some(agent) => agent.journal(&self.journal, Some(record)),
            None => self.journal.record(Some(record), None),
        }
        self.task_event(entry);
        let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        finished.push_back(entry.id.clone());
        while finished.len() > self.config.finished_tasks_kept {
            if let Some(old) = finished.pop_front() {
                self.tasks.remove(&old);
            }
        }
    }

    pub fn task_event(&self, entry: &TaskEntry) {
        if self.events.receiver_count() == 0 {
            return;
        }
        let record = entry.snapshot();
        let _ = self.events.send(RuntimeEvent::Task {
            id: record.id,
            state: record.state,
            agent: record.agent,
        });
    }

    pub fn agent_event(&self, agent: &Agent) {
        let _ = self.events.send(RuntimeEvent::Agent {
            id: agent.id.to_string(),
            status: agent.status(),
            health: agent.health(),
        });
    }

    /// Restores this node's agents and open tasks after a restart.
    async fn recover(self: &Arc<Self>) -> Result<(), Error> {
        let mut after = None;
        loop {
            let page = self
                .store
                .agents(&mcpflow_store::AgentQuery {
                    node: Some(self.config.node.clone()),
                    live_only: true,
                    after: after.clone(),
                    limit: 1000,
                })
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            for mut record in page {
                record.status = AgentStatus::Running;
                let executor = match (self.factory)(&record.spec) {
                    Ok(e) => e,
                    Err(reason) => {
                        tracing::error!(agent = %record.id, %reason, "cannot restore agent; giving it up");
                        record.status = AgentStatus::GivenUp;
                        record.reason = Some(format!("not restored after restart: {reason}"));
                        self.journal.record(None, Some(record));
                        continue;
                    }
                };
                let agent = Arc::new(Agent::new(&record, executor));
                self.registry.insert(agent.clone());
                self.start_agent(&agent);
                agent.journal(&self.journal, None);
                bump(&self.counters.agents_recovered);
            }
        }
        let mut after = None;
        loop {
            let page = self
                .store
                .tasks(&TaskQuery {
                    node: Some(self.config.node.clone()),
                    state: None,
                    open_only: true,
                    after: after.clone(),
                    limit: 1000,
                })
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            for mut record in page {
                let interrupted = record.state == TaskState::Running;
                record.state = TaskState::Queued;
                let entry = TaskEntry::new(record.clone());
                self.tasks.insert(entry.id.clone(), entry.clone());
                bump(&self.counters.tasks_recovered);
                let max = record.spec.max_attempts.unwrap_or(1);
                if interrupted && record.attempts >= max {
                    self.fail(
                        &entry,
                        format!(
                            "interrupted by a node restart during its last attempt ({}/{max})",
                            record.attempts
                        ),
                    );
                } else {
                    self.place(entry);
                }
            }
        }
        let stats = (
            self.counters.agents_recovered.load(Ordering::Relaxed),
            self.counters.tasks_recovered.load(Ordering::Relaxed),
        );
        if stats != (0, 0) {
            tracing::info!(
                agents = stats.0,
                tasks = stats.1,
                "agent runtime recovered this node's agents and open tasks"
            );
        }
        Ok(())
    }
}

/// What the scheduler minimises: queued + running, with unhealthy-ish agents looking busier.
fn load_score(agent: &Agent) -> u32 {
    let penalty = match agent.health() {
        Health::Healthy => 0,
        Health::Degraded => 4,
        Health::Unhealthy => 64,
    };
    agent.load() + penalty
}
