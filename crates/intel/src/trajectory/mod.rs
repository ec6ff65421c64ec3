//! Trajectories: what an agent did for one task, and how it went.
//!
//! A trajectory is opened with [`TrajectoryRecorder::start`] (the agent and the task: type,
//! required capabilities, text, embedding), grows by [`TrajectoryRecorder::record_step`]
//! (action, observation, milliseconds) and is closed once by [`TrajectoryRecorder::end`]
//! (success or failure, a reward in `[-1, 1]`, the end-to-end latency). Ended trajectories
//! are what the router learns from (see [`crate::routing`]).
//!
//! The recorder writes every change through a [`TrajectoryPersistence`] *before* changing
//! itself: a failed write changes nothing, and [`TrajectoryRecorder::open`] rebuilds the
//! recorder from what the persistence holds. Ended trajectories beyond
//! [`RecorderConfig::max_ended`] are dropped, oldest first, from both.
//!
//! ```
//! use mcpflow_intel::memory::SystemClock;
//! use mcpflow_intel::trajectory::{
//!     InMemoryTrajectories, Outcome, RecorderConfig, Step, TaskSpec, TrajectoryRecorder,
//! };
//! use std::sync::Arc;
//!
//! let mut recorder = TrajectoryRecorder::open(
//!     RecorderConfig::new(3),
//!     Arc::new(InMemoryTrajectories::default()),
//!     Arc::new(SystemClock),
//! )?;
//! let task = TaskSpec::new("review", vec![1.0, 0.0, 0.0]).capabilities(["rust"]);
//! let id = recorder.start("coder-1", task)?;
//! recorder.record_step(id, Step::new("read diff", "3 files", 12))?;
//! let done = recorder.end(id, Outcome::Success, 1.0, 40)?;
//! assert_eq!(done.steps.len(), 1);
//! assert!(recorder.end(id, Outcome::Success, 1.0, 40).is_err()); // ended twice
//! # Ok::<(), mcpflow_intel::trajectory::TrajectoryError>(())
//! ```

mod persistence;

pub use persistence::{InMemoryTrajectories, TrajectoryPersistence};

use crate::memory::{Clock, PersistenceError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Longest agent name, task type, capability or step action, in bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// Longest task text or step observation, in bytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Most capabilities a task may require.
pub const MAX_CAPABILITIES: usize = 64;

/// What the recorder refuses, with the reason and what to do.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TrajectoryError {
    /// No trajectory has this id (never started, or dropped by retention).
    #[error(
        "unknown trajectory {0}: start one with `start` and use the id it returns (ended trajectories beyond the retention limit are dropped)"
    )]
    Unknown(u64),
    /// The trajectory was already ended.
    #[error(
        "trajectory {0} has already ended; a trajectory ends once — start a new one for a new attempt"
    )]
    AlreadyEnded(u64),
    /// The reward is NaN, infinite or outside `[-1, 1]`.
    #[error(
        "reward {0} is not usable: give a finite reward in [-1, 1] (1 = best outcome, 0 = neutral, -1 = worst)"
    )]
    InvalidReward(f32),
    /// A bad agent name, task or step.
    #[error("invalid trajectory input: {0}")]
    Invalid(String),
    /// The trajectory already holds the most steps allowed.
    #[error(
        "trajectory {id} already has {max} steps (the limit); end it, or raise RecorderConfig::max_steps"
    )]
    TooManySteps {
        /// The trajectory.
        id: u64,
        /// The limit.
        max: usize,
    },
    /// The persistence failed; nothing was changed.
    #[error("trajectory persistence failed (nothing was changed): {0}")]
    Persistence(#[from] PersistenceError),
}

/// The task a trajectory works on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// The kind of task ("review", "refactor", ...): groups tasks for statistics.
    pub task_type: String,
    /// Capabilities an agent must have to take the task.
    pub capabilities: Vec<String>,
    /// The task's text (may be empty).
    pub text: String,
    /// The task's embedding, of the recorder's dimension.
    pub embedding: Vec<f32>,
}

impl TaskSpec {
    /// A task of `task_type` with `embedding`, no required capabilities and no text.
    pub fn new(task_type: impl Into<String>, embedding: Vec<f32>) -> Self {
        Self {
            task_type: task_type.into(),
            capabilities: Vec::new(),
            text: String::new(),
            embedding,
        }
    }

    /// Sets the required capabilities.
    pub fn capabilities<I, S>(mut self, caps: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.capabilities = caps.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the text.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = text.into();
        self
    }

    /// Checks the task against `dim`; every problem is reported with what to do.
    pub fn validate(&self, dim: usize) -> Result<(), TrajectoryError> {
        check_name("task type", &self.task_type)?;
        if self.capabilities.len() > MAX_CAPABILITIES {
            return Err(invalid(format!(
                "task requires {} capabilities; at most {MAX_CAPABILITIES} are allowed",
                self.capabilities.len()
            )));
        }
        for cap in &self.capabilities {
            check_name("capability", cap)?;
        }
        if self.text.len() > MAX_TEXT_BYTES {
            return Err(invalid(format!(
                "task text is {} bytes; at most {MAX_TEXT_BYTES} are allowed (store the rest in memory and reference it)",
                self.text.len()
            )));
        }
        check_embedding(&self.embedding, dim)
    }
}

/// One action an agent took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// What the agent did.
    pub action: String,
    /// What came back.
    pub observation: String,
    /// How long it took, in milliseconds.
    pub ms: u64,
}

impl Step {
    /// A step.
    pub fn new(action: impl Into<String>, observation: impl Into<String>, ms: u64) -> Self {
        Self {
            action: action.into(),
            observation: observation.into(),
            ms,
        }
    }
}

/// How a trajectory ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The task was done.
    Success,
    /// It was not.
    Failure,
}

impl Outcome {
    /// `"success"` or `"failure"` (metric labels).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// The closing record of a trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ending {
    /// Success or failure.
    pub outcome: Outcome,
    /// The reward in `[-1, 1]`.
    pub reward: f32,
    /// End-to-end latency the caller measured, in milliseconds.
    pub latency_ms: u64,
    /// When it ended (clock milliseconds).
    pub ended_ms: u64,
    /// Its place in the order of ends (1-based, never reused by one recorder and its
    /// persistence): what learning uses to know which ends a snapshot already holds.
    #[serde(default)]
    pub seq: u64,
}

/// What the router's policy saw when it chose the agent: kept with the trajectory (and
/// persisted) so the policy learns about the context it actually chose in, also when the
/// trajectory ends after a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The feature vector the chosen agent was scored on.
    pub features: Vec<f64>,
    /// The best predicted reward among the candidates then.
    pub best_mean: f64,
}

/// One agent's attempt at one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    /// Recorder-assigned id (never reused by one recorder).
    pub id: u64,
    /// The agent.
    pub agent: String,
    /// The task.
    pub task: TaskSpec,
    /// Steps, in order.
    pub steps: Vec<Step>,
    /// When it started (clock milliseconds).
    pub started_ms: u64,
    /// The ending, once ended.
    pub ending: Option<Ending>,
    /// The policy's decision at start, when a router started it (internal: not serialised).
    #[serde(skip)]
    pub decision: Option<Decision>,
}

/// The recorder's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RecorderConfig {
    /// Embedding dimension of tasks.
    pub dim: usize,
    /// Most steps per trajectory.
    pub max_steps: usize,
    /// Ended trajectories kept (in memory and in the persistence); older ones are dropped.
    pub max_ended: usize,
}

impl RecorderConfig {
    /// `dim`-dimensional tasks, 1024 steps per trajectory, 10 000 ended trajectories kept.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            max_steps: 1024,
            max_ended: 10_000,
        }
    }
}

/// Records trajectories, writing through a [`TrajectoryPersistence`]. Not synchronised: the
/// router holds it under its lock.
#[derive(Debug)]
pub struct TrajectoryRecorder {
    config: RecorderConfig,
    persistence: Arc<dyn TrajectoryPersistence>,
    clock: Arc<dyn Clock>,
    active: BTreeMap<u64, Trajectory>,
    /// Ended trajectories, oldest end first.
    ended: VecDeque<Trajectory>,
    next_id: u64,
    /// The `seq` the next end gets.
    next_seq: u64,
    /// Ended trajectories with `seq` above this are not yet in a saved learning snapshot:
    /// retention keeps them, so learning can be rebuilt after a restart (`u64::MAX`: no
    /// snapshots are taken, retention is free to drop).
    learned_through: u64,
    /// The last failed retention removal (kept so it is visible; retried on the next end).
    last_retention_error: Option<String>,
}

impl TrajectoryRecorder {
    /// A recorder holding everything `persistence` has (ended ones beyond the retention are
    /// dropped from both, oldest first).
    pub fn open(
        config: RecorderConfig,
        persistence: Arc<dyn TrajectoryPersistence>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, TrajectoryError> {
        Self::open_retaining(config, persistence, clock, u64::MAX)
    }

    /// [`TrajectoryRecorder::open`] for a router whose saved learning snapshot holds the ends
    /// up to `learned_through`: retention never drops a later one (see
    /// [`TrajectoryRecorder::set_learned_through`]).
    pub fn open_retaining(
        config: RecorderConfig,
        persistence: Arc<dyn TrajectoryPersistence>,
        clock: Arc<dyn Clock>,
        learned_through: u64,
    ) -> Result<Self, TrajectoryError> {
        if config.dim == 0 || config.max_steps == 0 || config.max_ended == 0 {
            return Err(invalid(format!(
                "recorder config {config:?}: dim, max_steps and max_ended must all be at least 1"
            )));
        }
        let mut all = persistence.load_all()?;
        all.sort_by_key(|t| (t.ending.as_ref().map(|e| (e.seq, e.ended_ms)), t.id));
        let next_id = all.iter().map(|t| t.id).max().unwrap_or(0) + 1;
        let next_seq = all
            .iter()
            .filter_map(|t| t.ending.as_ref().map(|e| e.seq))
            .max()
            .unwrap_or(0)
            + 1;
        let mut recorder = Self {
            config,
            persistence,
            clock,
            active: BTreeMap::new(),
            ended: VecDeque::new(),
            next_id,
            next_seq,
            learned_through,
            last_retention_error: None,
        };
        for t in all {
            if t.ending.is_some() {
                recorder.ended.push_back(t);
            } else {
                recorder.active.insert(t.id, t);
            }
        }
        recorder.enforce_retention();
        Ok(recorder)
    }

    /// The settings.
    pub fn config(&self) -> &RecorderConfig {
        &self.config
    }

    /// Opens a trajectory of `agent` working on `task`; returns its id.
    pub fn start(&mut self, agent: &str, task: TaskSpec) -> Result<u64, TrajectoryError> {
        self.start_decided(agent, task, None)
    }

    /// [`TrajectoryRecorder::start`], keeping the router's `decision` with the trajectory.
    pub fn start_decided(
        &mut self,
        agent: &str,
        task: TaskSpec,
        decision: Option<Decision>,
    ) -> Result<u64, TrajectoryError> {
        check_name("agent name", agent)?;
        task.validate(self.config.dim)?;
        let trajectory = Trajectory {
            id: self.next_id,
            agent: agent.to_string(),
            task,
            steps: Vec::new(),
            started_ms: self.clock.now_ms(),
            ending: None,
            decision,
        };
        self.persistence.put(&trajectory)?;
        self.next_id += 1;
        let id = trajectory.id;
        self.active.insert(id, trajectory);
        Ok(id)
    }

    /// Appends `step` to trajectory `id`.
    pub fn record_step(&mut self, id: u64, step: Step) -> Result<(), TrajectoryError> {
        check_name("step action", &step.action)?;
        if step.observation.len() > MAX_TEXT_BYTES {
            return Err(invalid(format!(
                "step observation is {} bytes; at most {MAX_TEXT_BYTES} are allowed (truncate or summarise it)",
                step.observation.len()
            )));
        }
        let max = self.config.max_steps;
        let t = self.active_mut(id)?;
        if t.steps.len() >= max {
            return Err(TrajectoryError::TooManySteps { id, max });
        }
        let mut updated = t.clone();
        updated.steps.push(step);
        self.persistence.put(&updated)?;
        *self.active_mut(id)? = updated;
        Ok(())
    }

    /// Closes trajectory `id` and returns it, ended.
    pub fn end(
        &mut self,
        id: u64,
        outcome: Outcome,
        reward: f32,
        latency_ms: u64,
    ) -> Result<Trajectory, TrajectoryError> {
        if !reward.is_finite() || !(-1.0..=1.0).contains(&reward) {
            return Err(TrajectoryError::InvalidReward(reward));
        }
        let mut updated = self.active_mut(id)?.clone();
        updated.ending = Some(Ending {
            outcome,
            reward,
            latency_ms,
            ended_ms: self.clock.now_ms(),
            seq: self.next_seq,
        });
        self.persistence.put(&updated)?;
        self.next_seq += 1;
        self.active.remove(&id);
        self.ended.push_back(updated.clone());
        self.enforce_retention();
        Ok(updated)
    }

    /// Trajectory `id`, active or ended (while retained).
    pub fn get(&self, id: u64) -> Option<&Trajectory> {
        self.active
            .get(&id)
            .or_else(|| self.ended.iter().find(|t| t.id == id))
    }

    /// Open trajectories, by id.
    pub fn active(&self) -> impl Iterator<Item = &Trajectory> {
        self.active.values()
    }

    /// Ended trajectories up to `seq` are held by a saved learning snapshot: retention may
    /// drop them (and only them) from now on.
    pub fn set_learned_through(&mut self, seq: u64) {
        self.learned_through = seq;
        self.enforce_retention();
    }

    /// The persistence (the router saves its learning snapshots through it).
    pub fn persistence(&self) -> &Arc<dyn TrajectoryPersistence> {
        &self.persistence
    }

    /// Retained ended trajectories, oldest end first.
    pub fn ended(&self) -> impl Iterator<Item = &Trajectory> {
        self.ended.iter()
    }

    /// The last failure to drop an old trajectory from the persistence (it stays retained
    /// and is retried on the next end), if the latest attempt failed.
    pub fn last_retention_error(&self) -> Option<&str> {
        self.last_retention_error.as_deref()
    }

    fn active_mut(&mut self, id: u64) -> Result<&mut Trajectory, TrajectoryError> {
        if self.active.contains_key(&id) {
            return Ok(self.active.get_mut(&id).expect("checked"));
        }
        if self.ended.iter().any(|t| t.id == id) {
            return Err(TrajectoryError::AlreadyEnded(id));
        }
        Err(TrajectoryError::Unknown(id))
    }

    fn enforce_retention(&mut self) {
        self.last_retention_error = None;
        while self.ended.len() > self.config.max_ended {
            let front = self.ended.front().expect("non-empty");
            let seq = front.ending.as_ref().map_or(0, |e| e.seq);
            if seq > self.learned_through {
                // Not yet in a saved snapshot: needed to rebuild learning after a restart.
                break;
            }
            let oldest = front.id;
            match self.persistence.remove(oldest) {
                Ok(()) => {
                    self.ended.pop_front();
                }
                Err(e) => {
                    self.last_retention_error = Some(format!(
                        "could not drop ended trajectory {oldest} from persistence: {e}"
                    ));
                    break;
                }
            }
        }
    }
}

fn invalid(msg: String) -> TrajectoryError {
    TrajectoryError::Invalid(msg)
}

fn check_name(what: &str, name: &str) -> Result<(), TrajectoryError> {
    if name.trim().is_empty() {
        return Err(invalid(format!("{what} is empty; give a non-blank name")));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(invalid(format!(
            "{what} is {} bytes; at most {MAX_NAME_BYTES} are allowed",
            name.len()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{what} {name:?} contains control characters; remove them"
        )));
    }
    Ok(())
}

pub(crate) fn check_embedding(embedding: &[f32], dim: usize) -> Result<(), TrajectoryError> {
    if embedding.len() != dim {
        return Err(invalid(format!(
            "task embedding has {} dimensions but {dim} are expected; embed with the configured model",
            embedding.len()
        )));
    }
    if let Some((i, v)) = embedding.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(invalid(format!(
            "task embedding component {i} is {v}; fix the embedding (every component must be finite)"
        )));
    }
    if embedding.iter().all(|&v| v == 0.0) {
        return Err(invalid(
            "task embedding is all zeros; it has no direction to compare tasks by".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
