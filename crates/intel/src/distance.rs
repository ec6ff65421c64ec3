//! Distance kernels and vector checks.
//!
//! Two forms of each kernel. The index's hot paths use the `_simd` ones, written against
//! `pulp`'s safe SIMD types and run inside [`crate::simd`]'s dispatch: on this machine that
//! is AVX2 with FMA, four independent 8-lane accumulators. (Plain auto-vectorisable code was
//! tried first: LLVM's SLP vectoriser kept it at 128-bit even with AVX2 enabled.) The plain
//! [`dot`] / [`l2_squared`] — 32 lanes of accumulators the compiler vectorises at the
//! baseline instruction set — serve everything outside the index's hot paths.

use crate::error::{Error, Result};
use pulp::Simd;

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

    /// Distance between two vectors as the index measures it (for cosine, both must already
    /// be unit length: the index stores and queries them so).
    #[inline(always)]
    pub fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Metric::Cosine => 1.0 - dot(a, b),
            Metric::L2 => l2_squared(a, b),
        }
    }

    /// [`Metric::distance`] with `simd`'s registers (8 lanes and FMA under AVX2).
    #[inline(always)]
    pub(crate) fn distance_simd<S: Simd>(self, simd: S, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Metric::Cosine => 1.0 - dot_simd(simd, a, b),
            Metric::L2 => l2_squared_simd(simd, a, b),
        }
    }
}

/// Dot product in `simd`'s registers: four independent accumulators, so the fused
/// multiply-adds of consecutive registers do not wait on each other.
#[inline(always)]
pub(crate) fn dot_simd<S: Simd>(simd: S, a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (ah, at) = S::as_simd_f32s(&a[..n]);
    let (bh, bt) = S::as_simd_f32s(&b[..n]);
    let zero = simd.splat_f32s(0.0);
    let mut acc = [zero; 4];
    let mut ca = ah.chunks_exact(4);
    let mut cb = bh.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..4 {
            acc[i] = simd.mul_add_e_f32s(x[i], y[i], acc[i]);
        }
    }
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        acc[0] = simd.mul_add_e_f32s(*x, *y, acc[0]);
    }
    let sum = simd.add_f32s(simd.add_f32s(acc[0], acc[1]), simd.add_f32s(acc[2], acc[3]));
    let mut tail = 0.0f32;
    for (x, y) in at.iter().zip(bt) {
        tail += x * y;
    }
    simd.reduce_sum_f32s(sum) + tail
}

/// Squared Euclidean distance in `simd`'s registers (see [`dot_simd`]).
#[inline(always)]
pub(crate) fn l2_squared_simd<S: Simd>(simd: S, a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (ah, at) = S::as_simd_f32s(&a[..n]);
    let (bh, bt) = S::as_simd_f32s(&b[..n]);
    let zero = simd.splat_f32s(0.0);
    let mut acc = [zero; 4];
    let mut ca = ah.chunks_exact(4);
    let mut cb = bh.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..4 {
            let d = simd.sub_f32s(x[i], y[i]);
            acc[i] = simd.mul_add_e_f32s(d, d, acc[i]);
        }
    }
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        let d = simd.sub_f32s(*x, *y);
        acc[0] = simd.mul_add_e_f32s(d, d, acc[0]);
    }
    let sum = simd.add_f32s(simd.add_f32s(acc[0], acc[1]), simd.add_f32s(acc[2], acc[3]));
    let mut tail = 0.0f32;
    for (x, y) in at.iter().zip(bt) {
        let d = x - y;
        tail += d * d;
    }
    simd.reduce_sum_f32s(sum) + tail
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
    fn simd_kernels_match_plain_ones() {
        struct Both<'a>(&'a [f32], &'a [f32]);
        impl pulp::WithSimd for Both<'_> {
            type Output = (f32, f32);
            #[inline(always)]
            fn with_simd<S: Simd>(self, simd: S) -> (f32, f32) {
                (
                    dot_simd(simd, self.0, self.1),
                    l2_squared_simd(simd, self.0, self.1),
                )
            }
        }
        for n in [0, 1, 7, 8, 31, 32, 33, 100, 384, 385] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let (d, l) = crate::simd::arch().dispatch(Both(&a, &b));
            assert!((d - dot(&a, &b)).abs() < 1e-3, "n={n}");
            assert!((l - l2_squared(&a, &b)).abs() < 1e-3, "n={n}");
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
