//! The context vector the policy sees for one (task, agent) pair.
//!
//! `x = [1, z₁ … z_r, s − ½, ℓ, f, p − ½, e]` where
//!
//! * `z = P·ê`: the unit task embedding projected to `r` dimensions by a fixed, seeded
//!   Gaussian matrix (entries `N(0, 1/r)`, so `‖z‖ ≈ 1`): a reduced embedding the per-agent
//!   linear models can afford;
//! * `s`: the agent's Laplace-smoothed success rate in the sliding window;
//! * `ℓ = m/(m + L)`: its mean latency `m` in the window over the latency scale `L` (0 with no
//!   record);
//! * `f = k/(k + 1)`: its `k` trajectories in flight;
//! * `p`: the pattern bank's smoothed success estimate for the agent on tasks like this one;
//! * `e = v/(v + 5)`: the weight `v` of evidence behind `p`.

use super::patterns::Estimate;
use super::window::Health;
use crate::rng::SplitMix64;

/// Features after the projected embedding.
pub(crate) const AGENT_FEATURES: usize = 5;

/// The fixed random projection.
#[derive(Debug, Clone)]
pub(crate) struct Projection {
    dims: usize,
    /// `dims × input` row-major.
    matrix: Vec<f64>,
}

impl Projection {
    pub(crate) fn new(input: usize, dims: usize, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let scale = 1.0 / (dims as f64).sqrt();
        let matrix = (0..input * dims).map(|_| rng.gaussian() * scale).collect();
        Self { dims, matrix }
    }

    /// Length of the feature vectors built with this projection.
    pub(crate) fn feature_len(&self) -> usize {
        1 + self.dims + AGENT_FEATURES
    }

    /// `P·ê` for a non-zero embedding.
    pub(crate) fn project(&self, embedding: &[f32]) -> Vec<f64> {
        let norm = embedding
            .iter()
            .map(|v| f64::from(*v).powi(2))
            .sum::<f64>()
            .sqrt()
            .max(f64::MIN_POSITIVE);
        self.matrix
            .chunks_exact(embedding.len())
            .map(|row| {
                row.iter()
                    .zip(embedding)
                    .map(|(p, e)| p * f64::from(*e))
                    .sum::<f64>()
                    / norm
            })
            .collect()
    }
}

/// Assembles `x` from the projected task and the agent's signals.
pub(crate) fn assemble(
    projected: &[f64],
    health: &Health,
    latency_scale_ms: f64,
    pattern: &Estimate,
) -> Vec<f64> {
    let mut x = Vec::with_capacity(1 + projected.len() + AGENT_FEATURES);
    x.push(1.0);
    x.extend_from_slice(projected);
    x.push(health.smoothed_success() - 0.5);
    x.push(
        health
            .mean_latency_ms
            .map_or(0.0, |m| m / (m + latency_scale_ms)),
    );
    let k = health.in_flight as f64;
    x.push(k / (k + 1.0));
    x.push(pattern.success - 0.5);
    x.push(pattern.evidence / (pattern.evidence + 5.0));
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_is_seeded_and_scale_free() {
        let p = Projection::new(4, 3, 7);
        let a = p.project(&[1.0, 2.0, 0.0, -1.0]);
        let b = p.project(&[2.0, 4.0, 0.0, -2.0]);
        assert_eq!(a.len(), 3);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-12);
        }
        assert_eq!(a, Projection::new(4, 3, 7).project(&[1.0, 2.0, 0.0, -1.0]));
        assert_ne!(a, Projection::new(4, 3, 8).project(&[1.0, 2.0, 0.0, -1.0]));
    }

    #[test]
    fn features_are_bounded() {
        let h = Health {
            ended: 4,
            successes: 3,
            mean_latency_ms: Some(1000.0),
            in_flight: 3,
        };
        let e = Estimate {
            success: 0.75,
            evidence: 5.0,
        };
        let x = assemble(&[0.1, -0.2], &h, 1000.0, &e);
        assert_eq!(x.len(), 1 + 2 + AGENT_FEATURES);
        assert_eq!(&x[3..], &[4.0 / 6.0 - 0.5, 0.5, 0.75, 0.25, 0.5]);
    }
}
