//! Task routing that learns from trajectories.
//!
//! [`Router::route`] ranks the registered agents for a task — it does not assign: the caller
//! picks (normally the first), then records the attempt with [`Router::start`],
//! [`Router::record_step`] and [`Router::end`]. Ranking is a pipeline:
//!
//! 1. **capability filter**: only registered agents holding every capability the task needs;
//! 2. **recent load and health** of each agent over a sliding window (at most 5 minutes):
//!    success rate, mean latency, trajectories in flight (`window`);
//! 3. **similar past tasks**: the pattern bank, an online clustering of task embeddings on
//!    our HNSW index with per-agent outcome statistics per cluster (`patterns`, the "SONA"
//!    mechanism, defined exactly there);
//! 4. **a learned policy**: LinUCB, one ridge model per agent over those signals plus a
//!    random projection of the task embedding (`features`, `bandit`), scoring by the upper
//!    confidence bound.
//!
//! **Learning** happens in cycles: ended trajectories are buffered, and once
//! [`RouterConfig::cycle_size`] of them (10 by default) have arrived a cycle feeds them to the
//! policy (Sherman–Morrison updates) and to the pattern bank, then **consolidates** —
//! EWC-style: discounted evidence is moved into a Gaussian prior (full Fisher matrix)
//! prior around an anchor, so tasks that stop arriving are not forgotten. The exact
//! mathematics is in the `bandit` module's documentation, reproduced in [`PolicyConfig`]'s
//! fields. [`Router::learning_stats`] reports what learning has done.
//!
//! The features of each decision are captured at [`Router::start`] and kept with the
//! trajectory, so the policy learns about the context it actually chose in — also when the
//! trajectory ends after a restart.
//!
//! **Persistence and restart.** Trajectories are written through a
//! [`TrajectoryPersistence`]. After every learning cycle the learned state — every agent's
//! model (data statistics, Fisher information, anchor, `A⁻¹`, `θ`), the pattern bank with
//! its centroid index, the counters — is saved as one checksummed snapshot (`snapshot`; floats
//! bit-exact). [`Router::open`] loads the snapshot, then feeds the trajectories that ended
//! after it (each with the decision captured at its start) back into the cycle buffer, and
//! rebuilds the sliding windows and in-flight counts from the stored trajectories: the
//! reopened router ranks exactly as the one that stopped. Retention never drops an ended
//! trajectory the saved snapshot does not yet hold. Without a usable snapshot (none yet,
//! corrupt, or learned under another dimension or projection: see
//! [`LearningStats::restore`]) the stored trajectories are replayed from the start instead.
//!
//! Metrics (through the `metrics` facade): histograms `mcpflow_route_decision_seconds` and
//! `mcpflow_trajectory_latency_seconds` (label `outcome`), counters
//! `mcpflow_learning_cycles_total` and `mcpflow_trajectories_ended_total` (label `outcome`),
//! gauge `mcpflow_learning_patterns`.
//!
//! ```
//! use mcpflow_intel::memory::ManualClock;
//! use mcpflow_intel::routing::{Router, RouterConfig};
//! use mcpflow_intel::trajectory::{InMemoryTrajectories, Outcome, TaskSpec};
//! use std::sync::Arc;
//!
//! let mut config = RouterConfig::new(2);
//! config.cycle_size = 5;
//! let router = Router::open(
//!     config,
//!     Arc::new(InMemoryTrajectories::default()),
//!     Arc::new(ManualClock::new(0)),
//! )?;
//! router.register_agent("careful", ["rust"])?;
//! router.register_agent("sloppy", ["rust"])?;
//! let task = || TaskSpec::new("review", vec![1.0, 0.2]).capabilities(["rust"]);
//! for i in 0..40 {
//!     let agent = if i % 2 == 0 { "careful" } else { "sloppy" };
//!     let id = router.start(agent, task())?;
//!     let ok = agent == "careful";
//!     let outcome = if ok { Outcome::Success } else { Outcome::Failure };
//!     router.end(id, outcome, if ok { 1.0 } else { 0.0 }, 100)?;
//! }
//! let ranking = router.route(&task())?;
//! assert_eq!(ranking[0].agent, "careful");
//! assert_eq!(router.learning_stats().cycles, 8);
//! # Ok::<(), mcpflow_intel::routing::RoutingError>(())
//! ```

mod bandit;
mod features;
pub mod linalg;
mod patterns;
mod snapshot;
mod window;

pub use bandit::PolicyConfig;
pub use patterns::PatternConfig;
pub use snapshot::SNAPSHOT_VERSION;

use crate::memory::Clock;
use crate::trajectory::{
    Decision, Outcome, RecorderConfig, Step, TaskSpec, Trajectory, TrajectoryError,
    TrajectoryPersistence, TrajectoryRecorder,
};
use bandit::ArmModel;
use features::Projection;
use parking_lot::Mutex;
use patterns::{Neighbourhood, PatternBank};
use serde::Serialize;
use snapshot::{ReadResult, Reader, Writer};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;
use window::AgentWindow;

/// The longest sliding window for load and health: 5 minutes.
pub const MAX_WINDOW_MS: u64 = 300_000;

/// What the router refuses, with the reason and what to do.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RoutingError {
    /// A trajectory operation failed (unknown id, ended twice, bad reward, bad task, store).
    #[error(transparent)]
    Trajectory(#[from] TrajectoryError),
    /// The agent is not registered.
    #[error("agent {0:?} is not registered; call register_agent first")]
    UnknownAgent(String),
    /// The agent lacks capabilities the task needs.
    #[error(
        "agent {agent:?} lacks the capabilities {missing:?} this task needs; route the task to get a capable agent"
    )]
    NotCapable {
        /// The agent.
        agent: String,
        /// Capabilities it lacks.
        missing: Vec<String>,
    },
    /// No registered agent can take the task.
    #[error(
        "no registered agent has all of {required:?} ({registered} agents registered); register an agent with these capabilities"
    )]
    NoCapableAgent {
        /// What the task needs.
        required: Vec<String>,
        /// Agents registered.
        registered: usize,
    },
    /// The configuration is out of range.
    #[error("invalid router configuration: {0}")]
    InvalidConfig(String),
}

/// The router's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterConfig {
    /// Trajectory recording (embedding dimension, step and retention limits).
    pub recorder: RecorderConfig,
    /// Sliding window of load/health metrics, in ms (at most [`MAX_WINDOW_MS`]).
    pub window_ms: u64,
    /// Ended trajectories that trigger a learning cycle.
    pub cycle_size: usize,
    /// Dimensions the task embedding is projected to for the policy.
    pub projection_dims: usize,
    /// Seed of the projection.
    pub seed: u64,
    /// Latency at which the latency feature is ½, in ms.
    pub latency_scale_ms: f64,
    /// The learned policy.
    pub policy: PolicyConfig,
    /// The pattern bank.
    pub patterns: PatternConfig,
}

impl RouterConfig {
    /// Defaults for `dim`-dimensional task embeddings: a 5-minute window, a cycle per 10
    /// trajectories, 8 projected dimensions, a 1 s latency scale.
    pub fn new(dim: usize) -> Self {
        Self {
            recorder: RecorderConfig::new(dim),
            window_ms: MAX_WINDOW_MS,
            cycle_size: 10,
            projection_dims: 8,
            seed: 0x5EED_A6E7,
            latency_scale_ms: 1000.0,
            policy: PolicyConfig::default(),
            patterns: PatternConfig::default(),
        }
    }

    fn validate(&self) -> Result<(), RoutingError> {
        let bad = |m: String| Err(RoutingError::InvalidConfig(m));
        if self.recorder.dim == 0 || self.recorder.dim > 65_536 {
            return bad(format!("dim = {} (must be 1..=65536)", self.recorder.dim));
        }
        if self.window_ms == 0 || self.window_ms > MAX_WINDOW_MS {
            return bad(format!(
                "window_ms = {} (must be 1..={MAX_WINDOW_MS}: recent metrics only)",
                self.window_ms
            ));
        }
        if self.cycle_size == 0 {
            return bad("cycle_size = 0 (must be at least 1; 10 is typical)".into());
        }
        if !(1..=256).contains(&self.projection_dims) {
            return bad(format!(
                "projection_dims = {} (must be 1..=256; 8 is typical)",
                self.projection_dims
            ));
        }
        if !(self.latency_scale_ms.is_finite() && self.latency_scale_ms > 0.0) {
            return bad(format!(
                "latency_scale_ms = {} (must be finite and > 0)",
                self.latency_scale_ms
            ));
        }
        self.policy.validate().or_else(bad)?;
        self.patterns.validate().or_else(bad)?;
        Ok(())
    }
}

/// One agent in a ranking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranked {
    /// The agent.
    pub agent: String,
    /// Upper confidence bound of its reward: `mean + α·width` (the ranking key).
    pub score: f64,
    /// Predicted reward.
    pub mean: f64,
    /// `1 / (1 + width)` in `(0, 1]`: 1 means the policy has no uncertainty left here.
    pub confidence: f64,
    /// Why, in words: the score's parts and the signals behind them.
    pub explanation: String,
}

/// What one learning cycle did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CycleReport {
    /// Cycle number (1-based).
    pub cycle: u64,
    /// Trajectories learned from.
    pub trajectories: usize,
    /// Mean squared error of the policy's predicted reward on them, before learning.
    pub loss: f64,
    /// Mean of (best predicted reward among the candidates at decision time − observed
    /// reward): the policy's own estimate of its regret on them.
    pub regret_estimate: f64,
    /// Patterns in the bank after the cycle.
    pub patterns: usize,
}

/// Per-agent learning statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentStats {
    /// The agent.
    pub agent: String,
    /// Whether it is registered (models of removed agents are kept).
    pub registered: bool,
    /// Its capabilities.
    pub capabilities: Vec<String>,
    /// Trajectories the policy learned from.
    pub learned: u64,
    /// Of which successful.
    pub successes: u64,
    /// Mean reward over them.
    pub mean_reward: f64,
    /// Success rate in the sliding window (None: no trajectory ended in it).
    pub window_success_rate: Option<f64>,
    /// Mean latency in the sliding window.
    pub window_mean_latency_ms: Option<f64>,
    /// Trajectories in flight.
    pub in_flight: u64,
    /// ‖θ‖ of its model.
    pub theta_norm: f64,
    /// ‖θ − θ*‖: how far it moved from its consolidation anchor.
    pub anchor_distance: f64,
    /// Mean of the diagonal of its Fisher information.
    pub fisher_mean: f64,
}

/// What learning has done so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LearningStats {
    /// Learning cycles run.
    pub cycles: u64,
    /// Ended trajectories seen (learned or buffered).
    pub trajectories_seen: u64,
    /// Ended trajectories waiting for the next cycle.
    pub buffered: usize,
    /// Open trajectories.
    pub active_trajectories: usize,
    /// Clusters in the pattern bank.
    pub patterns: usize,
    /// Of which critical (protected from eviction).
    pub critical_patterns: usize,
    /// Clusters evicted.
    pub pattern_evictions: u64,
    /// Evictions of critical clusters (the bank was full of them): raise `max_patterns`.
    pub protected_evictions: u64,
    /// Trajectories whose decision features were not captured at start (started before a
    /// restart) and were recomputed at their end instead.
    pub recomputed_decisions: u64,
    /// The last cycle.
    pub last_cycle: Option<CycleReport>,
    /// Per agent, by name.
    pub agents: Vec<AgentStats>,
    /// A failure to drop old trajectories from the persistence, if the latest try failed.
    pub retention_error: Option<String>,
    /// A failure to save the learning snapshot after the latest cycle, if it failed (the
    /// previous snapshot and the stored trajectories still rebuild learning at restart).
    pub snapshot_error: Option<String>,
    /// How learning was restored when the router opened.
    pub restore: String,
}

/// What [`Router::end`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Ended {
    /// The ended trajectory.
    pub trajectory: Trajectory,
    /// The learning cycle this end triggered, if any.
    pub cycle: Option<CycleReport>,
}

#[derive(Debug)]
struct AgentState {
    registered: bool,
    capabilities: BTreeSet<String>,
    window: AgentWindow,
    arm: ArmModel,
    successes: u64,
    reward_sum: f64,
}

#[derive(Debug)]
struct Sample {
    seq: u64,
    agent: String,
    decision: Decision,
    reward: f32,
    success: bool,
    embedding: Vec<f32>,
    task_type: String,
}

#[derive(Debug)]
struct Inner {
    config: RouterConfig,
    recorder: TrajectoryRecorder,
    agents: BTreeMap<String, AgentState>,
    bank: PatternBank,
    projection: Projection,
    buffer: Vec<Sample>,
    cycles: u64,
    seen: u64,
    recomputed: u64,
    last_cycle: Option<CycleReport>,
    /// The last end (`seq`) learned in a cycle.
    learned_through: u64,
    snapshot_error: Option<String>,
    restore: String,
}

/// Learned state read from a snapshot.
struct Restored {
    learned_through: u64,
    cycles: u64,
    seen: u64,
    recomputed: u64,
    last_cycle: Option<CycleReport>,
    agents: Vec<(String, u64, f64, ArmModel)>,
    bank: PatternBank,
}

/// The routing engine: agents, trajectories, pattern bank and policy behind one lock.
#[derive(Debug)]
pub struct Router {
    inner: Mutex<Inner>,
    clock: Arc<dyn Clock>,
}

/// One candidate's evaluation.
struct Scored {
    agent: String,
    x: Vec<f64>,
    mean: f64,
    width: f64,
    score: f64,
}

impl Router {
    /// A router over what `persistence` holds: the learning snapshot plus the trajectories
    /// that ended after it (or, without a usable snapshot, every stored trajectory replayed).
    pub fn open(
        config: RouterConfig,
        persistence: Arc<dyn TrajectoryPersistence>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, RoutingError> {
        config.validate()?;
        let dim = config.recorder.dim;
        let projection = Projection::new(dim, config.projection_dims, config.seed);
        let (restored, unused) = match persistence.load_snapshot().map_err(TrajectoryError::from)? {
            None => (None, None),
            Some(bytes) => match Inner::decode(&bytes, &config, &projection) {
                Ok(r) => (Some(r), None),
                Err(reason) => (None, Some(reason)),
            },
        };
        let through = restored.as_ref().map_or(0, |r| r.learned_through);
        let recorder = TrajectoryRecorder::open_retaining(
            config.recorder.clone(),
            persistence,
            clock.clone(),
            through,
        )?;
        let mut inner = Inner {
            bank: PatternBank::new(dim, config.patterns),
            projection,
            config,
            recorder,
            agents: BTreeMap::new(),
            buffer: Vec::new(),
            cycles: 0,
            seen: 0,
            recomputed: 0,
            last_cycle: None,
            learned_through: 0,
            snapshot_error: None,
            restore: String::new(),
        };
        inner.restore(restored, unused);
        Ok(Self {
            inner: Mutex::new(inner),
            clock,
        })
    }

    /// Registers `name` with `capabilities` (again: replaces its capabilities and keeps what
    /// was learned about it).
    pub fn register_agent<I, S>(&self, name: &str, capabilities: I) -> Result<(), RoutingError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let caps: BTreeSet<String> = capabilities.into_iter().map(Into::into).collect();
        // Reuse the trajectory checks for names.
        let probe = TaskSpec::new("probe", vec![1.0]).capabilities(caps.iter().cloned());
        probe.validate(1)?;
        TaskSpec::new(name, vec![1.0]).validate(1).map_err(|_| {
            TrajectoryError::Invalid(format!(
                "agent name {name:?} must be 1-128 bytes without control characters"
            ))
        })?;
        let mut inner = self.inner.lock();
        let state = inner.agent_mut(name);
        state.registered = true;
        state.capabilities = caps;
        Ok(())
    }

    /// Stops routing to `name` (its model and statistics are kept). False if unknown.
    pub fn remove_agent(&self, name: &str) -> bool {
        let mut inner = self.inner.lock();
        match inner.agents.get_mut(name) {
            Some(s) if s.registered => {
                s.registered = false;
                true
            }
            _ => false,
        }
    }

    /// Registered agents with their capabilities.
    pub fn agents(&self) -> Vec<(String, Vec<String>)> {
        self.inner
            .lock()
            .agents
            .iter()
            .filter(|(_, s)| s.registered)
            .map(|(n, s)| (n.clone(), s.capabilities.iter().cloned().collect()))
            .collect()
    }

    /// Ranks the capable agents for `task`, best first (ties by name).
    pub fn route(&self, task: &TaskSpec) -> Result<Vec<Ranked>, RoutingError> {
        let started = Instant::now();
        let mut inner = self.inner.lock();
        let now = self.clock.now_ms();
        let (scored, near) = inner.score(task, now)?;
        let ranked = scored
            .iter()
            .map(|s| inner.explain(s, &near, now))
            .collect();
        drop(inner);
        metrics::histogram!("mcpflow_route_decision_seconds")
            .record(started.elapsed().as_secs_f64());
        Ok(ranked)
    }

    /// Opens a trajectory of `agent` (registered and capable) on `task`; returns its id.
    pub fn start(&self, agent: &str, task: TaskSpec) -> Result<u64, RoutingError> {
        let mut inner = self.inner.lock();
        let now = self.clock.now_ms();
        let state = inner
            .agents
            .get(agent)
            .filter(|s| s.registered)
            .ok_or_else(|| RoutingError::UnknownAgent(agent.to_string()))?;
        let missing: Vec<String> = task
            .capabilities
            .iter()
            .filter(|c| !state.capabilities.contains(*c))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(RoutingError::NotCapable {
                agent: agent.to_string(),
                missing,
            });
        }
        let (scored, _) = inner.score(&task, now)?;
        let best_mean = scored.iter().map(|s| s.mean).fold(f64::MIN, f64::max);
        let chosen = scored
            .into_iter()
            .find(|s| s.agent == agent)
            .expect("a registered, capable agent is scored");
        let decision = Decision {
            features: chosen.x,
            best_mean,
        };
        let id = inner.recorder.start_decided(agent, task, Some(decision))?;
        inner.agent_mut(agent).window.in_flight += 1;
        Ok(id)
    }

    /// Appends a step to trajectory `id`.
    pub fn record_step(&self, id: u64, step: Step) -> Result<(), RoutingError> {
        Ok(self.inner.lock().recorder.record_step(id, step)?)
    }

    /// Closes trajectory `id`; runs a learning cycle when enough trajectories have ended.
    pub fn end(
        &self,
        id: u64,
        outcome: Outcome,
        reward: f32,
        latency_ms: u64,
    ) -> Result<Ended, RoutingError> {
        let mut inner = self.inner.lock();
        let trajectory = inner.recorder.end(id, outcome, reward, latency_ms)?;
        let decision = trajectory.decision.clone();
        let state = inner.agent_mut(&trajectory.agent);
        state.window.in_flight = state.window.in_flight.saturating_sub(1);
        inner.absorb(&trajectory, decision);
        metrics::histogram!("mcpflow_trajectory_latency_seconds", "outcome" => outcome.as_str())
            .record(latency_ms as f64 / 1000.0);
        metrics::counter!("mcpflow_trajectories_ended_total", "outcome" => outcome.as_str())
            .increment(1);
        let cycle = (inner.buffer.len() >= inner.config.cycle_size).then(|| inner.cycle());
        Ok(Ended { trajectory, cycle })
    }

    /// Runs a learning cycle now on whatever is buffered (None if nothing is).
    pub fn learn_now(&self) -> Option<CycleReport> {
        let mut inner = self.inner.lock();
        (!inner.buffer.is_empty()).then(|| inner.cycle())
    }

    /// Trajectory `id` (active, or ended and retained).
    pub fn trajectory(&self, id: u64) -> Option<Trajectory> {
        self.inner.lock().recorder.get(id).cloned()
    }

    /// What learning has done.
    pub fn learning_stats(&self) -> LearningStats {
        let mut inner = self.inner.lock();
        let now = self.clock.now_ms();
        let window_ms = inner.config.window_ms;
        let agents = inner
            .agents
            .iter_mut()
            .map(|(name, s)| {
                let h = s.window.health(now, window_ms);
                let learned = s.arm.observations;
                AgentStats {
                    agent: name.clone(),
                    registered: s.registered,
                    capabilities: s.capabilities.iter().cloned().collect(),
                    learned,
                    successes: s.successes,
                    mean_reward: if learned > 0 {
                        s.reward_sum / learned as f64
                    } else {
                        0.0
                    },
                    window_success_rate: (h.ended > 0).then(|| h.successes as f64 / h.ended as f64),
                    window_mean_latency_ms: h.mean_latency_ms,
                    in_flight: h.in_flight,
                    theta_norm: s.arm.theta_norm(),
                    anchor_distance: s.arm.anchor_distance(),
                    fisher_mean: s.arm.fisher_mean(),
                }
            })
            .collect();
        LearningStats {
            cycles: inner.cycles,
            trajectories_seen: inner.seen,
            buffered: inner.buffer.len(),
            active_trajectories: inner.recorder.active().count(),
            patterns: inner.bank.len(),
            critical_patterns: inner.bank.critical(),
            pattern_evictions: inner.bank.evictions,
            protected_evictions: inner.bank.protected_evictions,
            recomputed_decisions: inner.recomputed,
            last_cycle: inner.last_cycle.clone(),
            agents,
            retention_error: inner.recorder.last_retention_error().map(str::to_string),
            snapshot_error: inner.snapshot_error.clone(),
            restore: inner.restore.clone(),
        }
    }
}

impl Inner {
    fn agent_mut(&mut self, name: &str) -> &mut AgentState {
        let d = self.projection.feature_len();
        let policy = self.config.policy;
        self.agents
            .entry(name.to_string())
            .or_insert_with(|| AgentState {
                registered: false,
                capabilities: BTreeSet::new(),
                window: AgentWindow::default(),
                arm: ArmModel::new(d, &policy),
                successes: 0,
                reward_sum: 0.0,
            })
    }

    /// Capability filter, then features and policy score of every candidate, best first.
    fn score(
        &mut self,
        task: &TaskSpec,
        now: u64,
    ) -> Result<(Vec<Scored>, Neighbourhood), RoutingError> {
        task.validate(self.config.recorder.dim)?;
        let candidates: Vec<String> = self
            .agents
            .iter()
            .filter(|(_, s)| {
                s.registered && task.capabilities.iter().all(|c| s.capabilities.contains(c))
            })
            .map(|(n, _)| n.clone())
            .collect();
        if candidates.is_empty() {
            return Err(RoutingError::NoCapableAgent {
                required: task.capabilities.clone(),
                registered: self.agents.values().filter(|s| s.registered).count(),
            });
        }
        let projected = self.projection.project(&task.embedding);
        let near = self.bank.neighbourhood(&unit(&task.embedding));
        let alpha = self.config.policy.alpha;
        let mut scored: Vec<Scored> = candidates
            .into_iter()
            .map(|agent| {
                let x = self.features(&agent, &projected, &near, now);
                let (mean, width) = self.agents[&agent].arm.predict(&x);
                Scored {
                    score: mean + alpha * width,
                    agent,
                    x,
                    mean,
                    width,
                }
            })
            .collect();
        scored.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.agent.cmp(&b.agent)));
        Ok((scored, near))
    }

    fn features(
        &mut self,
        agent: &str,
        projected: &[f64],
        near: &Neighbourhood,
        now: u64,
    ) -> Vec<f64> {
        let window_ms = self.config.window_ms;
        let scale = self.config.latency_scale_ms;
        let health = self.agent_mut(agent).window.health(now, window_ms);
        let pattern = self.bank.estimate(near, agent);
        features::assemble(projected, &health, scale, &pattern)
    }

    fn explain(&mut self, s: &Scored, near: &Neighbourhood, now: u64) -> Ranked {
        let window_ms = self.config.window_ms;
        let h = self
            .agents
            .get_mut(&s.agent)
            .expect("scored agents exist")
            .window
            .health(now, window_ms);
        let mut text = format!(
            "ucb {:.3} = predicted reward {:.3} + exploration {:.3}; last {}s: {}/{} succeeded",
            s.score,
            s.mean,
            s.score - s.mean,
            window_ms / 1000,
            h.successes,
            h.ended
        );
        if let Some(m) = h.mean_latency_ms {
            text.push_str(&format!(", {m:.0} ms mean latency"));
        }
        text.push_str(&format!(", {} in flight", h.in_flight));
        match near.first() {
            Some((id, sim)) => match self.bank.record(*id, &s.agent) {
                Some(r) => text.push_str(&format!(
                    "; nearest pattern #{id} (similarity {sim:.2}): {:.1}/{:.1} succeeded",
                    r.successes, r.n
                )),
                None => text.push_str(&format!(
                    "; nearest pattern #{id} (similarity {sim:.2}): no record for this agent"
                )),
            },
            None => text.push_str("; no similar past task"),
        }
        Ranked {
            agent: s.agent.clone(),
            score: s.score,
            mean: s.mean,
            confidence: 1.0 / (1.0 + s.width),
            explanation: text,
        }
    }

    /// Buffers an ended trajectory for the next cycle and updates the agent's window.
    fn absorb(&mut self, t: &Trajectory, decision: Option<Decision>) {
        let ending = t.ending.as_ref().expect("absorbed trajectories are ended");
        let feature_len = self.projection.feature_len();
        let decision = match decision.filter(|d| d.features.len() == feature_len) {
            Some(d) => d,
            None => {
                // Started before a restart (or replayed): recompute at the end's time.
                self.recomputed += 1;
                let projected = self.projection.project(&t.task.embedding);
                let near = self.bank.neighbourhood(&unit(&t.task.embedding));
                let x = self.features(&t.agent, &projected, &near, ending.ended_ms);
                let mean = self.agent_mut(&t.agent).arm.predict(&x).0;
                Decision {
                    features: x,
                    best_mean: mean,
                }
            }
        };
        let success = ending.outcome == Outcome::Success;
        self.agent_mut(&t.agent)
            .window
            .record(ending.ended_ms, success, ending.latency_ms);
        self.buffer.push(Sample {
            seq: ending.seq,
            agent: t.agent.clone(),
            decision,
            reward: ending.reward,
            success,
            embedding: t.task.embedding.clone(),
            task_type: t.task.task_type.clone(),
        });
        self.seen += 1;
    }

    fn cycle(&mut self) -> CycleReport {
        let policy = self.config.policy;
        let samples = std::mem::take(&mut self.buffer);
        let (mut loss, mut regret) = (0.0, 0.0);
        for s in &samples {
            let r = f64::from(s.reward);
            let state = self.agent_mut(&s.agent);
            loss += state.arm.observe(&s.decision.features, r, &policy);
            state.successes += u64::from(s.success);
            state.reward_sum += r;
            regret += s.decision.best_mean - r;
            self.bank
                .observe(&s.embedding, &s.task_type, &s.agent, s.success, s.reward);
        }
        for state in self.agents.values_mut() {
            state.arm.consolidate(&policy);
        }
        self.bank.decay();
        self.cycles += 1;
        let n = samples.len().max(1) as f64;
        let report = CycleReport {
            cycle: self.cycles,
            trajectories: samples.len(),
            loss: loss / n,
            regret_estimate: regret / n,
            patterns: self.bank.len(),
        };
        metrics::counter!("mcpflow_learning_cycles_total").increment(1);
        metrics::gauge!("mcpflow_learning_patterns").set(self.bank.len() as f64);
        self.last_cycle = Some(report.clone());
        if let Some(last) = samples.iter().map(|s| s.seq).max() {
            self.learned_through = self.learned_through.max(last);
        }
        self.save_snapshot();
        report
    }

    /// Saves the learned state; once saved, retention may drop the ends it holds.
    fn save_snapshot(&mut self) {
        let bytes = self.encode();
        match self.recorder.persistence().save_snapshot(&bytes) {
            Ok(()) => {
                self.snapshot_error = None;
                let through = self.learned_through;
                self.recorder.set_learned_through(through);
            }
            Err(e) => {
                self.snapshot_error = Some(format!(
                    "could not save the learning snapshot after cycle {}: {e} (restart rebuilds learning from the previous snapshot and the stored trajectories)",
                    self.cycles
                ));
            }
        }
    }

    /// What ties a snapshot to the configuration it was learned under.
    fn fingerprint(config: &RouterConfig, projection: &Projection) -> [u64; 4] {
        [
            config.recorder.dim as u64,
            config.projection_dims as u64,
            config.seed,
            projection.feature_len() as u64,
        ]
    }

    /// The learned state as a snapshot (see the `snapshot` module for the format).
    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        for v in Self::fingerprint(&self.config, &self.projection) {
            w.u64(v);
        }
        w.u64(self.learned_through);
        w.u64(self.cycles);
        w.u64(self.seen);
        w.u64(self.recomputed);
        match &self.last_cycle {
            None => w.u8(0),
            Some(c) => {
                w.u8(1);
                w.u64(c.cycle);
                w.u64(c.trajectories as u64);
                w.f64(c.loss);
                w.f64(c.regret_estimate);
                w.u64(c.patterns as u64);
            }
        }
        w.len(self.agents.len());
        for (name, s) in &self.agents {
            w.str(name);
            w.u64(s.successes);
            w.f64(s.reward_sum);
            s.arm.write(&mut w);
        }
        self.bank.write(&mut w);
        w.finish()
    }

    /// Reads a snapshot written under `config`; the reason it cannot be used otherwise.
    fn decode(
        bytes: &[u8],
        config: &RouterConfig,
        projection: &Projection,
    ) -> ReadResult<Restored> {
        let mut r = Reader::open(bytes)?;
        let found = [r.u64()?, r.u64()?, r.u64()?, r.u64()?];
        if found != Self::fingerprint(config, projection) {
            return Err(
                "it was learned under another embedding dimension or projection".to_string(),
            );
        }
        let learned_through = r.u64()?;
        let cycles = r.u64()?;
        let seen = r.u64()?;
        let recomputed = r.u64()?;
        let last_cycle = match r.u8()? {
            0 => None,
            1 => Some(CycleReport {
                cycle: r.u64()?,
                trajectories: r.u64()? as usize,
                loss: r.f64()?,
                regret_estimate: r.f64()?,
                patterns: r.u64()? as usize,
            }),
            other => return Err(format!("bad last-cycle flag {other}")),
        };
        let d = projection.feature_len();
        let mut agents = Vec::new();
        for _ in 0..r.len(8)? {
            let name = r.str()?;
            let successes = r.u64()?;
            let reward_sum = r.f64()?;
            agents.push((name, successes, reward_sum, ArmModel::read(&mut r, d)?));
        }
        let bank = PatternBank::read(&mut r, config.recorder.dim, config.patterns)?;
        r.end()?;
        Ok(Restored {
            learned_through,
            cycles,
            seen,
            recomputed,
            last_cycle,
            agents,
            bank,
        })
    }

    /// Rebuilds learning: the snapshot's state (if any), then the retained ended trajectories
    /// it does not hold (in end order, with the decisions captured at their start), then the
    /// sliding windows and in-flight counts from the stored trajectories.
    fn restore(&mut self, restored: Option<Restored>, unused: Option<String>) {
        let from_snapshot = restored.is_some();
        if let Some(r) = restored {
            self.learned_through = r.learned_through;
            self.cycles = r.cycles;
            self.seen = r.seen;
            self.recomputed = r.recomputed;
            self.last_cycle = r.last_cycle;
            self.bank = r.bank;
            for (name, successes, reward_sum, arm) in r.agents {
                let state = self.agent_mut(&name);
                state.successes = successes;
                state.reward_sum = reward_sum;
                state.arm = arm;
            }
        }
        let recomputed = self.recomputed;
        let snapshot_cycle = self.cycles;
        let dim = self.config.recorder.dim;
        let ended: Vec<Trajectory> = self.recorder.ended().cloned().collect();
        let (mut replayed, mut skipped) = (0u64, 0u64);
        for t in &ended {
            let ending = t.ending.as_ref().expect("ended");
            if t.task.embedding.len() != dim {
                skipped += 1;
                continue;
            }
            if from_snapshot && ending.seq <= self.learned_through {
                // Learned already: only the sliding window needs it.
                let success = ending.outcome == Outcome::Success;
                self.agent_mut(&t.agent)
                    .window
                    .record(ending.ended_ms, success, ending.latency_ms);
                continue;
            }
            replayed += 1;
            self.absorb(t, t.decision.clone());
            if self.buffer.len() >= self.config.cycle_size {
                self.cycle();
            }
        }
        // Decisions rebuilt while restoring are reconstructions, not restart losses.
        self.recomputed = recomputed;
        let active: Vec<String> = self.recorder.active().map(|t| t.agent.clone()).collect();
        for agent in &active {
            self.agent_mut(agent).window.in_flight += 1;
        }
        let mut text = if from_snapshot {
            format!(
                "snapshot of cycle {snapshot_cycle} plus {replayed} trajectories ended after it"
            )
        } else {
            format!("no snapshot: replayed {replayed} stored trajectories")
        };
        if let Some(reason) = unused {
            text = format!("snapshot not used ({reason}); {text}");
        }
        if skipped > 0 {
            text.push_str(&format!(
                "; {skipped} trajectories of another embedding dimension were not learned from"
            ));
        }
        text.push_str(&format!("; {} open trajectories resumed", active.len()));
        self.restore = text;
    }
}

fn unit(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

#[cfg(test)]
mod tests;
