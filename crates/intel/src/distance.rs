//! Distance kernels and vector checks.
//!
//! The kernels are plain Rust written so LLVM vectorises them: 32 lanes of independent
//! accumulators (four 8-wide registers) break the add dependency chain, and the lane-wise
//! reduction happens once at the end. They are `#[inline(always)]` so that, when the index
//! runs its search inside [`crate::simd`]'s dispatch, they are compiled with AVX2 — without
//! `unsafe` in this crate and without `-C target-cpu=native`.

use crate::error::{Error, Result};

/// How distance between two vectors is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// `1 - cos(a, b)`, in `[0, 2]`. Vectors are normalised on insert and on query, so
    /// the kernel is a dot product.
    Cosine,
    /// Squared Euclidean distance (monotone in the Euclidean one; the square root is skipped).
    L2,
}

impl Metric {
    pub(crate) fn code(self) -> u8 {
        match self {
            Metric::Cosine => 0,
            Metric::L2 => 1,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Metric::Cosine),
            1 => Some(Metric::L2),
            _ => None,
        }
    }

    /// Distance between two stored (already prepared) vectors.
    #[inline(always)]
    pub(crate) fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Metric::Cosine => 1.0 - dot(a, b),
            Metric::L2 => l2_squared(a, b),
        }
    }
}

const LANES: usize = 32;

/// Dot product of two equally long slices.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    reduce(&acc) + tail
}

/// Squared Euclidean distance of two equally long slices.
#[inline(always)]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..LANES {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        let d = x - y;
        tail += d * d;
    }
    reduce(&acc) + tail
}

/// Pairwise tree reduction: vectorises and keeps rounding error low.
#[inline(always)]
fn reduce(acc: &[f32; LANES]) -> f32 {
    let mut v = *acc;
    let mut width = LANES / 2;
    while width > 0 {
        for i in 0..width {
            v[i] += v[i + width];
        }
        width /= 2;
    }
    v[0]
}

/// Checks a vector against the index's dimension and for NaN/infinity.
pub(crate) fn check(vector: &[f32], dim: usize) -> Result<()> {
    if vector.len() != dim {
        return Err(Error::DimensionMismatch {
            expected: dim,
            got: vector.len(),
        });
    }
    if let Some((position, &value)) = vector.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(Error::NonFinite { position, value });
    }
    Ok(())
}

/// Checks a vector and returns it in the form the metric stores (unit length for cosine).
pub(crate) fn prepare(vector: &[f32], dim: usize, metric: Metric) -> Result<Vec<f32>> {
    check(vector, dim)?;
    let mut v = vector.to_vec();
    if metric == Metric::Cosine {
        // Accumulate in f64: a vector of huge finite components must not overflow to inf.
        let norm = v
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt();
        if norm == 0.0 || !norm.is_finite() {
            return Err(Error::ZeroVector);
        }
        let inv = 1.0 / norm;
        for x in &mut v {
            *x = (f64::from(*x) * inv) as f32;
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum()
    }

    #[test]
    fn kernels_match_naive_for_every_length() {
        for n in 0..100 {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            assert!(
                (f64::from(dot(&a, &b)) - naive_dot(&a, &b)).abs() < 1e-4,
                "n={n}"
            );
            let l2: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| f64::from(x - y).powi(2))
                .sum();
            assert!((f64::from(l2_squared(&a, &b)) - l2).abs() < 1e-4, "n={n}");
        }
    }

    #[test]
    fn prepare_rejects_bad_vectors() {
        assert_eq!(
            prepare(&[1.0, 2.0], 3, Metric::L2),
            Err(Error::DimensionMismatch {
                expected: 3,
                got: 2
            })
        );
        assert!(matches!(
            prepare(&[1.0, f32::NAN, 0.0], 3, Metric::L2),
            Err(Error::NonFinite { position: 1, .. })
        ));
        assert!(matches!(
            prepare(&[f32::INFINITY], 1, Metric::Cosine),
            Err(Error::NonFinite { position: 0, .. })
        ));
        assert_eq!(
            prepare(&[0.0; 4], 4, Metric::Cosine),
            Err(Error::ZeroVector)
        );
        assert_eq!(prepare(&[0.0; 4], 4, Metric::L2), Ok(vec![0.0; 4]));
    }

    #[test]
    fn cosine_vectors_are_normalised() {
        let v = prepare(&[3.0, 4.0], 2, Metric::Cosine).unwrap();
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        let big = prepare(&[3e30, 4e30], 2, Metric::Cosine).unwrap();
        assert!((big[0] - 0.6).abs() < 1e-6);
    }
}
