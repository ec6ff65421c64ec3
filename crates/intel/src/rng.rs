//! A small seeded random generator (SplitMix64) and test/benchmark data sets.
//!
//! Our own so that level assignment and generated data are identical on every platform and
//! every version of every dependency: a seed always means the same index.

/// SplitMix64: tiny, fast, and good enough for level draws and synthetic data.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose whole output is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub(crate) fn state(&self) -> u64 {
        self.state
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `(0, 1]` (never 0, so `ln` of it is finite).
    pub fn next_f64(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Standard normal (Box–Muller).
    pub fn gaussian(&mut self) -> f64 {
        let u1 = self.next_f64();
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// `n` vectors uniformly distributed on the unit sphere in `dim` dimensions, row-major.
///
/// The hard case for an approximate index: no structure, every point about equally far.
pub fn random_unit_vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let start = out.len();
        out.extend((0..dim).map(|_| rng.gaussian() as f32));
        normalise(&mut out[start..]);
    }
    out
}

/// Directions of within-topic variation in [`clustered_unit_vectors`].
const LATENT: usize = 16;

/// `n` unit vectors shaped like real embeddings: `clusters` topics (random centres), and
/// within a topic variation along a few directions shared by all ([`LATENT`], far fewer
/// than `dim`: real embeddings have a low intrinsic dimension) plus a little isotropic noise.
/// `centre_seed` fixes the topics and directions, `seed` the points: data and queries share
/// the first.
pub fn clustered_unit_vectors(
    n: usize,
    dim: usize,
    clusters: usize,
    centre_seed: u64,
    seed: u64,
) -> Vec<f32> {
    let clusters = clusters.max(1);
    let centres = random_unit_vectors(clusters, dim, centre_seed);
    let basis = random_unit_vectors(LATENT, dim, centre_seed ^ 0xBA5E);
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(n * dim);
    let noise = 0.1 / (dim as f64).sqrt();
    let along = 0.6 / (LATENT as f64).sqrt();
    for _ in 0..n {
        let c = rng.below(clusters as u64) as usize;
        let mut v: Vec<f64> = centres[c * dim..(c + 1) * dim]
            .iter()
            .map(|&x| f64::from(x) + noise * rng.gaussian())
            .collect();
        for b in basis.chunks_exact(dim) {
            let z = along * rng.gaussian();
            v.iter_mut()
                .zip(b)
                .for_each(|(x, &y)| *x += z * f64::from(y));
        }
        let start = out.len();
        out.extend(v.iter().map(|&x| x as f32));
        normalise(&mut out[start..]);
    }
    out
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data() {
        assert_eq!(random_unit_vectors(5, 7, 3), random_unit_vectors(5, 7, 3));
        assert_ne!(random_unit_vectors(5, 7, 3), random_unit_vectors(5, 7, 4));
        let v = random_unit_vectors(1, 16, 9);
        let norm: f32 = v.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-5);
    }

    #[test]
    fn below_stays_in_range() {
        let mut r = SplitMix64::new(1);
        assert!((0..1000).all(|_| r.below(7) < 7));
    }
}
