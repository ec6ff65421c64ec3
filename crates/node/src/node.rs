//! The [`Node`] façade.

use mcpflow_agents::{ExecutorFactory, Runtime, RuntimeConfig, RuntimeEvent, RuntimeStats};
use mcpflow_guard::{Guard, GuardConfig};
use mcpflow_intel::routing::RouterConfig;
use mcpflow_model::{ContentGate, Event, Timestamp};
use mcpflow_store::{DynStore, StoreUrl};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::broadcast;

use crate::audit::{AuditSink, DurableAudit};
use crate::gate::{GateStats, GuardGate};
use crate::learning::NodeLearning;
use crate::memory::{MemorySettings, NodeMemory};
use crate::swarms::Swarms;
use crate::{Error, NodeConfig};

/// How many events a slow bus subscriber may fall behind before it misses some (it is told
/// how many it missed; see [`broadcast::error::RecvError::Lagged`]).
const BUS_CAPACITY: usize = 4096;

/// One running mcpflow node. Cheap to clone; clones share everything.
#[derive(Debug, Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    id: String,
    store: DynStore,
    agents: Runtime,
    swarms: Swarms,
    memory: NodeMemory,
    bus: broadcast::Sender<Event>,
    gate: Option<Arc<GuardGate>>,
    audit: Arc<DurableAudit>,
    learning: NodeLearning,
    started: Instant,
    started_at: Timestamp,
}

/// A snapshot of the node for status endpoints and tools.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    /// This node's stable id (kept in the data directory).
    pub node_id: String,
    /// The mcpflow version.
    pub version: &'static str,
    /// When the node started.
    pub started_at: Timestamp,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// The store.
    pub store: StoreStatus,
    /// The agent runtime's counters.
    pub agents: RuntimeStats,
    /// The security gate: `null` when switched off (nothing is scanned).
    pub gate: Option<GateStats>,
}

/// The store part of [`NodeStatus`].
#[derive(Debug, Clone, Serialize)]
pub struct StoreStatus {
    /// `"sqlite"` or `"postgres"`.
    pub backend: &'static str,
    /// Where (no password).
    pub location: String,
    /// Whether it answered a ping just now.
    pub reachable: bool,
    /// Applied migrations, when reachable.
    pub schema_version: Option<u32>,
}

impl Node {
    /// Opens the data directory and the store (migrating it), buries sessions a previous run
    /// of this node left behind, and starts the agent runtime (restoring this node's agents
    /// and re-queueing its unfinished tasks), and loads semantic memory. Agents get scripted executors only; use
    /// [`Node::open_with`] to supply the executor factory.
    pub async fn open(config: NodeConfig) -> Result<Self, Error> {
        Self::open_with(config, mcpflow_agents::standard_executors()).await
    }

    /// [`Node::open`], with the factory that builds agents' executors. Memory runs with
    /// [`MemorySettings::default`] (the degraded hashing embedder).
    pub async fn open_with(config: NodeConfig, executors: ExecutorFactory) -> Result<Self, Error> {
        Self::open_with_memory(config, executors, MemorySettings::default()).await
    }

    /// [`Node::open_with`], with memory's settings (embedder, reaper and snapshot intervals,
    /// limits).
    pub async fn open_with_memory(
        config: NodeConfig,
        executors: ExecutorFactory,
        mut memory: MemorySettings,
    ) -> Result<Self, Error> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| Error::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let id = node_id(&config.data_dir)?;
        let url = match &config.store {
            Some(url) => StoreUrl::parse(url)?,
            None => StoreUrl::default_in(&config.data_dir),
        };
        let store = mcpflow_store::open(&url).await?;
        let buried = store.bury_sessions(&id, Timestamp::now()).await?;
        if buried > 0 {
            tracing::info!(buried, "sessions of the previous run marked dead");
        }
        let (bus, _) = broadcast::channel(BUS_CAPACITY);
        let durable = Arc::new(
            DurableAudit::open(&config.data_dir).map_err(|e| Error::Audit(e.to_string()))?,
        );
        let audit: Arc<dyn AuditSink> = durable.clone();
        let gate = if config.guard.enabled {
            let guard = Guard::new(GuardConfig {
                rules_path: config.guard.rules.clone(),
                ..GuardConfig::default()
            })
            .map_err(|e| Error::Guard(e.to_string()))?;
            let gate = GuardGate::new(guard, audit.clone());
            let gate = if config.guard.semantic {
                let embedder = memory.embedder.clone();
                tokio::task::spawn_blocking(move || gate.with_semantic(embedder))
                    .await
                    .map_err(|e| Error::Guard(e.to_string()))?
            } else {
                gate
            };
            Some(Arc::new(gate))
        } else {
            tracing::warn!(
                "the security gate is off: nothing is scanned ([guard] enabled = false)"
            );
            None
        };
        // Memory first: if it cannot load, nothing else has started yet.
        memory.gate = gate.clone().map(|g| g as Arc<dyn ContentGate>);
        let memory = NodeMemory::open(store.clone(), memory, bus.clone()).await?;
        let mut runtime = RuntimeConfig::new(id.clone());
        runtime.gate = gate.clone().map(|g| g as Arc<dyn ContentGate>);
        let agents = match Runtime::start(runtime, store.clone(), executors).await {
            Ok(agents) => agents,
            Err(e) => {
                memory.shutdown().await;
                return Err(e.into());
            }
        };
        // Learning restores from the store: its snapshot, then the trajectories after it.
        let learning =
            match NodeLearning::open(store.clone(), &id, RouterConfig::new(memory.dim())).await {
                Ok(learning) => learning,
                Err(e) => {
                    agents.shutdown().await;
                    memory.shutdown().await;
                    return Err(e);
                }
            };
        tokio::spawn(forward_agent_events(agents.events(), bus.clone()));
        let swarms = Swarms::start(
            agents.clone(),
            bus.clone(),
            gate.clone().map(|g| g as Arc<dyn ContentGate>),
        );
        tracing::info!(node_id = %id, store = %store.location(), "node open");
        Ok(Self {
            inner: Arc::new(Inner {
                id,
                store,
                agents,
                swarms,
                memory,
                bus,
                gate,
                audit: durable,
                learning,
                started: Instant::now(),
                started_at: Timestamp::now(),
            }),
        })
    }

    /// This node's stable id.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The store.
    pub fn store(&self) -> &DynStore {
        &self.inner.store
    }

    /// The agent runtime: spawn, supervise, submit tasks.
    pub fn agents(&self) -> &Runtime {
        &self.inner.agents
    }

    /// The swarms: topologies of this node's agents, messaging and consensus.
    pub fn swarms(&self) -> &Swarms {
        &self.inner.swarms
    }

    /// Semantic memory: namespaced entries, semantic search, TTLs.
    pub fn memory(&self) -> &NodeMemory {
        &self.inner.memory
    }

    /// Stops the swarm runtime (swarms live in memory and end here) and the node's agents
    /// (their stored status is kept, so they return at the next start), and waits for
    /// pending writes.
    pub async fn shutdown(&self) {
        self.inner.swarms.shutdown();
        self.inner.agents.shutdown().await;
        self.inner.learning.shutdown().await;
        self.inner.memory.shutdown().await;
        // Sign a checkpoint over the tail, so what this run wrote is covered by a signed head.
        let log = self.inner.audit.log().clone();
        match tokio::task::spawn_blocking(move || log.checkpoint()).await {
            Ok(Err(error)) => tracing::error!(%error, "final audit checkpoint failed"),
            Err(error) => tracing::error!(%error, "final audit checkpoint failed"),
            Ok(Ok(_)) => {}
        }
    }

    /// Subscribes to every event published from now on.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.inner.bus.subscribe()
    }

    /// Publishes an event to every subscriber (none listening is fine).
    pub fn publish(&self, event: Event) {
        let _ = self.inner.bus.send(event);
    }

    /// A snapshot for status endpoints; pings the store.
    pub async fn status(&self) -> NodeStatus {
        let store = &self.inner.store;
        let reachable = store.ping().await.is_ok();
        let schema_version = if reachable {
            store.schema_version().await.ok()
        } else {
            None
        };
        NodeStatus {
            node_id: self.inner.id.clone(),
            version: env!("CARGO_PKG_VERSION"),
            started_at: self.inner.started_at,
            uptime_secs: self.inner.started.elapsed().as_secs(),
            store: StoreStatus {
                backend: store.backend(),
                location: store.location(),
                reachable,
                schema_version,
            },
            agents: self.inner.agents.stats(),
            gate: self.inner.gate.as_ref().map(|g| g.stats()),
        }
    }

    /// The learning router: trajectories in, ranked agents out (ranking only; it assigns
    /// nothing). Trajectory changes are in the store when its async methods return.
    pub fn learning(&self) -> &NodeLearning {
        &self.inner.learning
    }

    /// The tamper-evident audit log every gate verdict goes to.
    pub fn audit(&self) -> &Arc<DurableAudit> {
        &self.inner.audit
    }

    /// The security gate, unless switched off.
    pub fn gate(&self) -> Option<&Arc<GuardGate>> {
        self.inner.gate.as_ref()
    }
}

/// URI of an agent's MCP resource.
pub fn agent_uri(id: &str) -> String {
    format!("mcpflow://agents/{id}")
}

/// URI of a task's MCP resource.
pub fn task_uri(id: &str) -> String {
    format!("mcpflow://tasks/{id}")
}

/// Turns the runtime's changes into bus events: typed facts for subsystems, and resource
/// updates for MCP subscribers of `mcpflow://agents/{id}` and `mcpflow://tasks/{id}`.
async fn forward_agent_events(
    mut events: broadcast::Receiver<RuntimeEvent>,
    bus: broadcast::Sender<Event>,
) {
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "agent events lagged; some resource updates were skipped"
                );
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        match event {
            RuntimeEvent::Agent { id, status, .. } => {
                let _ = bus.send(Event::ResourceUpdated {
                    uri: agent_uri(&id),
                });
                let _ = bus.send(Event::AgentChanged {
                    agent_id: id,
                    status,
                });
            }
            RuntimeEvent::Task { id, state, agent } => {
                let _ = bus.send(Event::ResourceUpdated { uri: task_uri(&id) });
                let _ = bus.send(Event::TaskChanged {
                    task_id: id,
                    state,
                    agent_id: agent,
                });
            }
            RuntimeEvent::TaskProgress { .. } => {}
        }
    }
}

/// Reads the node id from `data_dir/node-id`, creating it on first start.
fn node_id(data_dir: &Path) -> Result<String, Error> {
    let path = data_dir.join("node-id");
    let io = |source| Error::DataDir {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        Ok(_) => write_node_id(&path).map_err(io),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => write_node_id(&path).map_err(io),
        Err(e) => Err(io(e)),
    }
}

fn write_node_id(path: &Path) -> std::io::Result<String> {
    let id = format!("node-{}", uuid::Uuid::new_v4().simple());
    std::fs::write(path, format!("{id}\n"))?;
    Ok(id)
}
