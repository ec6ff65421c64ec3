//! The learning router's trajectories as the store keeps them, and the byte encodings both
//! backends share (embeddings and decision features are kept bit-exact, never as text).

use crate::Error;
use serde::{Deserialize, Serialize};

/// One step of a trajectory (stored as part of a JSON array).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRow {
    /// What the agent did.
    pub action: String,
    /// What came back.
    pub observation: String,
    /// How long it took, in ms.
    pub ms: u64,
}

/// How a trajectory ended.
#[derive(Debug, Clone, PartialEq)]
pub struct EndingRow {
    /// `true` for success, `false` for failure.
    pub success: bool,
    /// The reward in `[-1, 1]`.
    pub reward: f32,
    /// End-to-end latency, in ms.
    pub latency_ms: u64,
    /// When it ended (ms).
    pub ended_ms: u64,
    /// Its place in the order of ends (1-based, dense per router).
    pub seq: u64,
}

/// The policy's view of the decision to start a trajectory: the feature vector and the best
/// predicted reward among the candidates then.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRow {
    /// The features the policy scored the chosen agent on.
    pub features: Vec<f64>,
    /// The best predicted reward among the candidates.
    pub best_mean: f64,
}

/// One trajectory, as [`crate::Store::trajectory_put`] writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrajectoryRow {
    /// The router's id.
    pub id: u64,
    /// The agent.
    pub agent: String,
    /// The task's type.
    pub task_type: String,
    /// Capabilities the task requires.
    pub capabilities: Vec<String>,
    /// The task's text.
    pub text: String,
    /// The task's embedding.
    pub embedding: Vec<f32>,
    /// Steps, in order.
    pub steps: Vec<StepRow>,
    /// The decision, when the router captured one.
    pub decision: Option<DecisionRow>,
    /// When it started (ms).
    pub started_ms: u64,
    /// The ending, once ended.
    pub ending: Option<EndingRow>,
}

/// The row's id as the `BIGINT` column holds it; ids past `i64::MAX` are refused.
pub(crate) fn db_id(id: u64) -> Result<i64, Error> {
    i64::try_from(id).map_err(|_| {
        Error::Invalid(format!(
            "trajectory id {id} is beyond the store's range (at most {}); this is a bug in the caller",
            i64::MAX
        ))
    })
}

pub(crate) fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn f64_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn corrupt(id: i64, reason: String) -> Error {
    Error::Corrupt {
        kind: "trajectory",
        id: id.to_string(),
        reason,
    }
}

pub(crate) fn f32_from(id: i64, b: &[u8]) -> Result<Vec<f32>, Error> {
    if !b.len().is_multiple_of(4) {
        return Err(corrupt(id, format!("embedding of {} bytes", b.len())));
    }
    Ok(b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect())
}

pub(crate) fn f64_from(id: i64, b: &[u8]) -> Result<Vec<f64>, Error> {
    if !b.len().is_multiple_of(8) {
        return Err(corrupt(id, format!("features of {} bytes", b.len())));
    }
    Ok(b.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect())
}

/// The columns of a trajectory row, in table order, as both backends read them.
pub(crate) struct RawRow {
    pub(crate) id: i64,
    pub(crate) agent: String,
    pub(crate) task_type: String,
    pub(crate) capabilities: String,
    pub(crate) text: String,
    pub(crate) embedding: Vec<u8>,
    pub(crate) steps: String,
    pub(crate) features: Option<Vec<u8>>,
    pub(crate) best_mean: Option<f64>,
    pub(crate) started_ms: i64,
    pub(crate) outcome: Option<String>,
    pub(crate) reward: Option<f64>,
    pub(crate) latency_ms: Option<i64>,
    pub(crate) ended_ms: Option<i64>,
    pub(crate) end_seq: Option<i64>,
}

/// The select list matching [`RawRow`].
pub(crate) const COLUMNS: &str = "id, agent, task_type, capabilities, task_text, embedding, steps, \
     features, best_mean, started_ms, outcome, reward, latency_ms, ended_ms, end_seq";

impl RawRow {
    pub(crate) fn decode(self) -> Result<TrajectoryRow, Error> {
        let id = self.id;
        let json = |what: &str, e: serde_json::Error| corrupt(id, format!("{what}: {e}"));
        let decision = match (self.features, self.best_mean) {
            (Some(f), Some(best_mean)) => Some(DecisionRow {
                features: f64_from(id, &f)?,
                best_mean,
            }),
            (None, None) => None,
            _ => return Err(corrupt(id, "features without best_mean or back".into())),
        };
        let ending = match (
            self.outcome,
            self.reward,
            self.latency_ms,
            self.ended_ms,
            self.end_seq,
        ) {
            (None, None, None, None, None) => None,
            (Some(o), Some(reward), Some(latency), Some(ended), Some(seq)) => Some(EndingRow {
                success: match o.as_str() {
                    "success" => true,
                    "failure" => false,
                    other => return Err(corrupt(id, format!("outcome {other:?}"))),
                },
                reward: reward as f32,
                latency_ms: latency as u64,
                ended_ms: ended as u64,
                seq: seq as u64,
            }),
            _ => return Err(corrupt(id, "a partial ending".into())),
        };
        Ok(TrajectoryRow {
            id: id as u64,
            agent: self.agent,
            task_type: self.task_type,
            capabilities: serde_json::from_str(&self.capabilities)
                .map_err(|e| json("capabilities", e))?,
            text: self.text,
            embedding: f32_from(id, &self.embedding)?,
            steps: serde_json::from_str(&self.steps).map_err(|e| json("steps", e))?,
            decision,
            started_ms: self.started_ms as u64,
            ending,
        })
    }
}

/// The values a write binds, in table order.
pub(crate) struct Bound {
    pub(crate) id: i64,
    pub(crate) capabilities: String,
    pub(crate) embedding: Vec<u8>,
    pub(crate) steps: String,
    pub(crate) features: Option<Vec<u8>>,
    pub(crate) best_mean: Option<f64>,
    pub(crate) started_ms: i64,
    pub(crate) outcome: Option<&'static str>,
    pub(crate) reward: Option<f64>,
    pub(crate) latency_ms: Option<i64>,
    pub(crate) ended_ms: Option<i64>,
    pub(crate) end_seq: Option<i64>,
}

impl Bound {
    pub(crate) fn of(t: &TrajectoryRow) -> Result<Self, Error> {
        use crate::memory::clamp;
        let e = t.ending.as_ref();
        Ok(Self {
            id: db_id(t.id)?,
            capabilities: crate::encode(&t.capabilities),
            embedding: f32_bytes(&t.embedding),
            steps: crate::encode(&t.steps),
            features: t.decision.as_ref().map(|d| f64_bytes(&d.features)),
            best_mean: t.decision.as_ref().map(|d| d.best_mean),
            started_ms: clamp(t.started_ms),
            outcome: e.map(|e| if e.success { "success" } else { "failure" }),
            reward: e.map(|e| f64::from(e.reward)),
            latency_ms: e.map(|e| clamp(e.latency_ms)),
            ended_ms: e.map(|e| clamp(e.ended_ms)),
            end_seq: e.map(|e| clamp(e.seq)),
        })
    }
}

/// The upsert both dialects share (placeholders `$1..$16` work in SQLite too): an ended row
/// is never overwritten.
pub(crate) const UPSERT: &str =
    "INSERT INTO trajectories (node, id, agent, task_type, capabilities, \
     task_text, embedding, steps, features, best_mean, started_ms, outcome, reward, latency_ms, \
     ended_ms, end_seq)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
     ON CONFLICT (node, id) DO UPDATE SET
       agent = excluded.agent, task_type = excluded.task_type,
       capabilities = excluded.capabilities, task_text = excluded.task_text,
       embedding = excluded.embedding, steps = excluded.steps, features = excluded.features,
       best_mean = excluded.best_mean, started_ms = excluded.started_ms,
       outcome = excluded.outcome, reward = excluded.reward, latency_ms = excluded.latency_ms,
       ended_ms = excluded.ended_ms, end_seq = excluded.end_seq
     WHERE trajectories.ended_ms IS NULL";
