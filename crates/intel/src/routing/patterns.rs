//! The pattern bank ("SONA", self-organising pattern bank): online clustering of the
//! embeddings of ended tasks, each cluster remembering how every agent did on tasks like it.
//!
//! # What it is, exactly
//!
//! * **Online leader clustering with mean updates** (leader algorithm + online k-means).
//!   An ended task's unit embedding `e` goes to the nearest cluster centroid `c` (found through
//!   an [`HnswIndex`] over the centroids, cosine). If `1 − cos(e, c) ≤ radius` it joins that
//!   cluster and the centroid moves to the running mean of its members
//!   (`c ← normalise(c + (e − c)/n)`, `n` the member weight); otherwise `e` leads a new
//!   cluster. A moved centroid is re-indexed once it has drifted more than `radius/4` from
//!   the indexed copy.
//! * **Per-agent outcome statistics per cluster**: for each agent, the weight of trajectories,
//!   of successes, and the sum of rewards. Every learning cycle multiplies all weights by
//!   the bank's decay, so stale experience fades like the policy's data does.
//! * **Estimates**: for a new task, the `k` nearest clusters within `2·radius` are combined,
//!   each weighted by its cosine similarity: `p̂_a = (Σ w·successes_a + 1) / (Σ w·n_a + 2)`
//!   with evidence `Σ w·n_a`. These feed the policy as features.
//! * **Bounded, with protected critical patterns**: at most `max_patterns` clusters. When a
//!   new one would exceed that, the cluster with the least member weight is evicted — but
//!   *critical* clusters are skipped: those where some agent's mean reward is at least
//!   `critical_reward` over at least 3 (weighted) trajectories (*high reward*), and those that
//!   are the only cluster whose most frequent task type is that type (*rare*: evicting it
//!   would erase everything known about the type). If every cluster is critical the smallest
//!   is evicted anyway and counted in `protected_evictions` (visible in the learning stats).

use super::snapshot::{ReadResult, Reader, Writer};
use crate::distance::Metric;
use crate::hnsw::{HnswIndex, Params};
use std::collections::{BTreeMap, HashMap};

/// Settings of the bank.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PatternConfig {
    /// Cosine distance within which a task joins a cluster, in `(0, 2)`.
    pub radius: f32,
    /// Most clusters kept.
    pub max_patterns: usize,
    /// Mean reward that makes a cluster critical (protected from eviction).
    pub critical_reward: f32,
    /// Per-cycle decay of the statistics, in `(0, 1]`.
    pub decay: f64,
    /// Clusters combined for an estimate.
    pub neighbours: usize,
}

impl Default for PatternConfig {
    fn default() -> Self {
        Self {
            radius: 0.15,
            max_patterns: 512,
            critical_reward: 0.8,
            decay: 0.97,
            neighbours: 3,
        }
    }
}

impl PatternConfig {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(self.radius > 0.0 && self.radius < 2.0) {
            return Err(format!(
                "pattern radius = {} (must be a cosine distance in (0, 2); 0.15 is typical)",
                self.radius
            ));
        }
        if self.max_patterns < 2 {
            return Err(format!(
                "max_patterns = {} (must be at least 2)",
                self.max_patterns
            ));
        }
        if !self.critical_reward.is_finite() {
            return Err("critical_reward must be finite".into());
        }
        if !(self.decay > 0.0 && self.decay <= 1.0) {
            return Err(format!(
                "pattern decay = {} (must be in (0, 1])",
                self.decay
            ));
        }
        if self.neighbours == 0 {
            return Err("pattern neighbours must be at least 1".into());
        }
        Ok(())
    }
}

/// One agent's record inside a cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Record {
    pub(crate) n: f64,
    pub(crate) successes: f64,
    pub(crate) reward: f64,
}

#[derive(Debug, Clone)]
struct Cluster {
    centroid: Vec<f32>,
    indexed: Vec<f32>,
    weight: f64,
    agents: BTreeMap<String, Record>,
    types: BTreeMap<String, u64>,
}

impl Cluster {
    fn dominant_type(&self) -> Option<&str> {
        self.types
            .iter()
            .max_by_key(|(t, n)| (**n, std::cmp::Reverse(*t)))
            .map(|(t, _)| t.as_str())
    }

    fn high_reward(&self, critical: f32) -> bool {
        self.agents
            .values()
            .any(|r| r.n >= 3.0 && r.reward / r.n >= f64::from(critical))
    }
}

/// What the bank knows about one agent for one task.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Estimate {
    /// Smoothed success probability.
    pub(crate) success: f64,
    /// Similarity-weighted trajectories behind it.
    pub(crate) evidence: f64,
}

/// The clusters near a task: `(cluster id, cosine similarity)`, nearest first.
pub(crate) type Neighbourhood = Vec<(u64, f64)>;

/// The bank.
#[derive(Debug)]
pub(crate) struct PatternBank {
    config: PatternConfig,
    index: HnswIndex,
    clusters: HashMap<u64, Cluster>,
    next_id: u64,
    pub(crate) evictions: u64,
    pub(crate) protected_evictions: u64,
}

impl PatternBank {
    pub(crate) fn new(dim: usize, config: PatternConfig) -> Self {
        let index = HnswIndex::new(Params::new(dim, Metric::Cosine))
            .expect("dimension was validated by the router config");
        Self {
            config,
            index,
            clusters: HashMap::new(),
            next_id: 1,
            evictions: 0,
            protected_evictions: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.clusters.len()
    }

    /// Writes the clusters, their statistics and the centroid index, bit-exact.
    pub(crate) fn write(&self, w: &mut Writer) {
        w.u64(self.next_id);
        w.u64(self.evictions);
        w.u64(self.protected_evictions);
        w.bytes(&self.index.to_bytes());
        let mut ids: Vec<&u64> = self.clusters.keys().collect();
        ids.sort();
        w.len(ids.len());
        for id in ids {
            let c = &self.clusters[id];
            w.u64(*id);
            w.f32s(&c.centroid);
            w.f32s(&c.indexed);
            w.f64(c.weight);
            w.len(c.agents.len());
            for (agent, r) in &c.agents {
                w.str(agent);
                w.f64(r.n);
                w.f64(r.successes);
                w.f64(r.reward);
            }
            w.len(c.types.len());
            for (t, n) in &c.types {
                w.str(t);
                w.u64(*n);
            }
        }
    }

    /// Reads a bank of dimension `dim` written by [`PatternBank::write`].
    pub(crate) fn read(r: &mut Reader<'_>, dim: usize, config: PatternConfig) -> ReadResult<Self> {
        let next_id = r.u64()?;
        let evictions = r.u64()?;
        let protected_evictions = r.u64()?;
        let index = HnswIndex::from_bytes(r.bytes()?).map_err(|e| format!("pattern index: {e}"))?;
        if index.params().dim != dim {
            return Err(format!(
                "a pattern index of dimension {}, expected {dim}",
                index.params().dim
            ));
        }
        let n = r.len(8)?;
        let mut clusters = HashMap::with_capacity(n);
        for _ in 0..n {
            let id = r.u64()?;
            let centroid = r.f32s(dim)?;
            let indexed = r.f32s(dim)?;
            let weight = r.f64()?;
            let mut agents = BTreeMap::new();
            for _ in 0..r.len(24)? {
                let name = r.str()?;
                let rec = Record {
                    n: r.f64()?,
                    successes: r.f64()?,
                    reward: r.f64()?,
                };
                agents.insert(name, rec);
            }
            let mut types = BTreeMap::new();
            for _ in 0..r.len(8)? {
                let t = r.str()?;
                types.insert(t, r.u64()?);
            }
            if !index.contains(id) || id >= next_id {
                return Err(format!("pattern {id} is not in the index"));
            }
            clusters.insert(
                id,
                Cluster {
                    centroid,
                    indexed,
                    weight,
                    agents,
                    types,
                },
            );
        }
        if index.len() != clusters.len() {
            return Err(format!(
                "the pattern index holds {} entries for {} patterns",
                index.len(),
                clusters.len()
            ));
        }
        Ok(Self {
            config,
            index,
            clusters,
            next_id,
            evictions,
            protected_evictions,
        })
    }

    /// Critical clusters right now.
    pub(crate) fn critical(&self) -> usize {
        self.clusters
            .keys()
            .filter(|id| self.is_critical(**id))
            .count()
    }

    /// The clusters near `embedding` (a valid, non-zero embedding of the bank's dimension).
    pub(crate) fn neighbourhood(&self, embedding: &[f32]) -> Neighbourhood {
        if self.clusters.is_empty() {
            return Vec::new();
        }
        let reach = 2.0 * self.config.radius;
        self.index
            .search(embedding, self.config.neighbours)
            .unwrap_or_default()
            .into_iter()
            .filter(|h| h.distance <= reach)
            .map(|h| (h.id, f64::from(1.0 - h.distance).max(0.0)))
            .collect()
    }

    /// `agent`'s estimate over `near`.
    pub(crate) fn estimate(&self, near: &Neighbourhood, agent: &str) -> Estimate {
        let (mut s, mut n) = (0.0, 0.0);
        for (id, w) in near {
            if let Some(r) = self.clusters.get(id).and_then(|c| c.agents.get(agent)) {
                s += w * r.successes;
                n += w * r.n;
            }
        }
        Estimate {
            success: (s + 1.0) / (n + 2.0),
            evidence: n,
        }
    }

    /// The agent's record in cluster `id` (for explanations).
    pub(crate) fn record(&self, id: u64, agent: &str) -> Option<Record> {
        self.clusters.get(&id)?.agents.get(agent).copied()
    }

    /// Adds one ended task.
    pub(crate) fn observe(
        &mut self,
        embedding: &[f32],
        task_type: &str,
        agent: &str,
        success: bool,
        reward: f32,
    ) {
        let e = unit(embedding);
        let nearest = self
            .index
            .search(&e, 1)
            .ok()
            .and_then(|h| h.first().copied())
            .filter(|h| h.distance <= self.config.radius);
        let id = match nearest {
            Some(hit) => {
                let radius = self.config.radius;
                let c = self
                    .clusters
                    .get_mut(&hit.id)
                    .expect("indexed clusters exist");
                c.weight += 1.0;
                let step = (1.0 / c.weight) as f32;
                for (ci, ei) in c.centroid.iter_mut().zip(&e) {
                    *ci += (ei - *ci) * step;
                }
                c.centroid = unit(&c.centroid);
                if Metric::Cosine.distance(&c.centroid, &c.indexed) > radius / 4.0 {
                    c.indexed = c.centroid.clone();
                    let v = c.indexed.clone();
                    self.index.delete(hit.id).expect("indexed");
                    self.index.insert(hit.id, &v).expect("valid unit vector");
                }
                hit.id
            }
            None => {
                if self.clusters.len() >= self.config.max_patterns {
                    self.evict_one();
                }
                let id = self.next_id;
                self.next_id += 1;
                self.index.insert(id, &e).expect("valid unit vector");
                self.clusters.insert(
                    id,
                    Cluster {
                        centroid: e.clone(),
                        indexed: e,
                        weight: 1.0,
                        agents: BTreeMap::new(),
                        types: BTreeMap::new(),
                    },
                );
                id
            }
        };
        let c = self.clusters.get_mut(&id).expect("just ensured");
        *c.types.entry(task_type.to_string()).or_default() += 1;
        let r = c.agents.entry(agent.to_string()).or_default();
        r.n += 1.0;
        r.successes += if success { 1.0 } else { 0.0 };
        r.reward += f64::from(reward);
    }

    /// End of a learning cycle: decay every statistic.
    pub(crate) fn decay(&mut self) {
        let g = self.config.decay;
        for c in self.clusters.values_mut() {
            c.weight *= g;
            for r in c.agents.values_mut() {
                r.n *= g;
                r.successes *= g;
                r.reward *= g;
            }
        }
    }

    fn is_critical(&self, id: u64) -> bool {
        let c = &self.clusters[&id];
        if c.high_reward(self.config.critical_reward) {
            return true;
        }
        match c.dominant_type() {
            Some(t) => !self
                .clusters
                .iter()
                .any(|(other, oc)| *other != id && oc.dominant_type() == Some(t)),
            None => false,
        }
    }

    fn evict_one(&mut self) {
        let mut by_weight: Vec<(u64, f64)> = self
            .clusters
            .iter()
            .map(|(id, c)| (*id, c.weight))
            .collect();
        by_weight.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        let victim = match by_weight.iter().find(|(id, _)| !self.is_critical(*id)) {
            Some(v) => v.0,
            None => {
                self.protected_evictions += 1;
                by_weight[0].0
            }
        };
        self.clusters.remove(&victim);
        self.index.delete(victim).expect("indexed");
        self.evictions += 1;
    }

    #[cfg(test)]
    pub(crate) fn contains_type(&self, task_type: &str) -> bool {
        self.clusters
            .values()
            .any(|c| c.types.contains_key(task_type))
    }
}

fn unit(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter().map(|x| x / norm).collect()
    } else {
        v.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(max: usize) -> PatternConfig {
        PatternConfig {
            max_patterns: max,
            ..PatternConfig::default()
        }
    }

    #[test]
    fn similar_tasks_share_a_cluster_and_estimates_follow_outcomes() {
        let mut bank = PatternBank::new(3, cfg(10));
        for i in 0..10 {
            let e = [1.0, 0.01 * i as f32, 0.0];
            bank.observe(&e, "review", "good", true, 1.0);
            bank.observe(&e, "review", "bad", i % 5 == 0, 0.0);
        }
        bank.observe(&[0.0, 0.0, 1.0], "deploy", "bad", true, 1.0);
        assert_eq!(bank.len(), 2);
        let near = bank.neighbourhood(&[1.0, 0.05, 0.0]);
        assert_eq!(near.len(), 1, "the far cluster is out of reach");
        let good = bank.estimate(&near, "good");
        let bad = bank.estimate(&near, "bad");
        assert!(
            good.success > 0.85 && bad.success < 0.35,
            "{good:?} {bad:?}"
        );
        assert!(good.evidence > 9.0);
        let unknown = bank.estimate(&near, "nobody");
        assert_eq!((unknown.success, unknown.evidence), (0.5, 0.0));
        bank.decay();
        assert!(bank.estimate(&near, "good").evidence < good.evidence);
    }

    #[test]
    fn eviction_spares_rare_and_high_reward_patterns() {
        let mut bank = PatternBank::new(4, cfg(3));
        // Two clusters of type "common" with low reward (evictable: not rare, not high).
        bank.observe(&[1.0, 0.0, 0.0, 0.0], "common", "a", false, 0.0);
        bank.observe(&[1.0, 0.0, 0.0, 0.0], "common", "a", false, 0.0);
        bank.observe(&[0.0, 1.0, 0.0, 0.0], "common", "a", false, 0.0);
        // A rare type, observed once (the smallest weight of all).
        bank.observe(&[0.0, 0.0, 1.0, 0.0], "rare", "a", false, 0.0);
        // Full: a fourth pattern evicts the lightest non-critical one (the second "common"),
        // not the equally light "rare" one.
        bank.observe(&[0.0, 0.0, 0.0, 1.0], "other", "a", false, 0.0);
        assert_eq!(bank.len(), 3);
        assert!(
            bank.contains_type("rare"),
            "the only cluster of its type is protected"
        );
        assert_eq!(bank.evictions, 1);
        assert_eq!(bank.protected_evictions, 0);
        assert_eq!(bank.neighbourhood(&[0.0, 1.0, 0.0, 0.0]).len(), 0);
        assert_eq!(
            bank.critical(),
            3,
            "rare, other and the sole remaining common"
        );
    }

    #[test]
    fn high_reward_patterns_are_protected() {
        let mut bank = PatternBank::new(4, cfg(2));
        for _ in 0..3 {
            bank.observe(&[1.0, 0.0, 0.0, 0.0], "t", "a", true, 0.9);
        }
        for _ in 0..5 {
            bank.observe(&[0.0, 1.0, 0.0, 0.0], "t", "a", false, 0.0);
        }
        // Both are type "t"; the first is lighter but high-reward, so the second goes.
        bank.observe(&[0.0, 0.0, 1.0, 0.0], "u", "a", false, 0.0);
        assert_eq!(bank.neighbourhood(&[1.0, 0.0, 0.0, 0.0]).len(), 1);
        assert!(bank.neighbourhood(&[0.0, 1.0, 0.0, 0.0]).is_empty());
    }
}
