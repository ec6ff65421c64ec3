//! The element-wise parts of a BERT layer: layer norm, exact (erf) GELU, softmax.
//!
//! Each is a plain branch-free loop over `f32`s, `#[inline(always)]`, so that inside the
//! encoder's SIMD dispatch the compiler vectorises it for the CPU's widest unit. `exp` and
//! `erf` are our own polynomial approximations for the same reason: libm's are scalar calls,
//! and erf/exp took a sixth of the time of the candle-based encoder this replaced.

/// `e^x` for `x` in [-87, 88], relative error below 2e-7 (Cephes' `expf` polynomial after
/// reduction by ln 2); smaller inputs give `e^-87`, which every caller treats as zero.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // 1.5 · 2^23: adding it rounds to an integer held in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x.mul_add(LOG2E, ROUND);
    let n = shifted - ROUND;
    let r = n.mul_add(-0.693_359_4, x);
    let r = n.mul_add(2.121_944_4e-4, r);
    let mut p = 1.987_569_1e-4_f32;
    p = p.mul_add(r, 1.398_2e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 0.166_666_65);
    p = p.mul_add(r, 0.5);
    let y = (p * r).mul_add(r, r) + 1.0;
    let n = shifted.to_bits() as i32 - ROUND.to_bits() as i32;
    y * f32::from_bits(((n + 127) << 23) as u32)
}

/// erf(x), absolute error below 5e-7 (Abramowitz & Stegun 7.1.26: 1.5e-7, plus f32 rounding).
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / 0.327_591_1_f32.mul_add(a, 1.0);
    let mut p = 1.061_405_4_f32;
    p = p.mul_add(t, -1.453_152);
    p = p.mul_add(t, 1.421_413_8);
    p = p.mul_add(t, -0.284_496_74);
    p = p.mul_add(t, 0.254_829_6);
    let y = 1.0 - p * t * exp(-a * a);
    y.copysign(x)
}

/// GELU as BERT defines it: `x · Φ(x) = x/2 · (1 + erf(x/√2))`, in place.
#[inline(always)]
pub(crate) fn gelu(xs: &mut [f32]) {
    for x in xs {
        *x = 0.5 * *x * (1.0 + erf(*x * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// Softmax in place.
#[inline(always)]
pub(crate) fn softmax(xs: &mut [f32]) {
    let max = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for x in xs.iter_mut() {
        *x = exp(*x - max);
        sum += *x;
    }
    let inv = 1.0 / sum;
    for x in xs {
        *x *= inv;
    }
}

/// `row = layer_norm(row + add) · gamma + beta`, in place (`add` may be empty).
#[inline(always)]
pub(crate) fn add_layer_norm(row: &mut [f32], add: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
    if !add.is_empty() {
        for (x, a) in row.iter_mut().zip(add) {
            *x += a;
        }
    }
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    let var = row.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / n;
    let inv = 1.0 / (var + eps).sqrt();
    for ((x, g), b) in row.iter_mut().zip(gamma).zip(beta) {
        *x = ((*x - mean) * inv).mul_add(*g, *b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf by its Maclaurin series in f64: exact enough for |x| ≤ 3.
    fn erf_series(x: f64) -> f64 {
        let (mut term, mut sum) = (x, x);
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn exp_matches_the_standard_library() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (exp(x) as f64, (x as f64).exp());
            assert!(
                ((got - want) / want).abs() < 5e-7,
                "exp({x}) = {got}, want {want}"
            );
            x += 0.013;
        }
        assert!(exp(-1000.0) < 1e-37);
    }

    #[test]
    fn erf_matches_its_series() {
        let mut x = -3.0f32;
        while x <= 3.0 {
            let (got, want) = (erf(x) as f64, erf_series(x as f64));
            assert!((got - want).abs() < 5e-7, "erf({x}) = {got}, want {want}");
            x += 0.001;
        }
        assert_eq!(erf(10.0), 1.0);
        assert_eq!(erf(-10.0), -1.0);
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let mut xs = [1.0, 3.0, -2.0, 3.0, 0.5];
        softmax(&mut xs);
        assert!((xs.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(xs[1] == xs[3] && xs[1] > xs[0] && xs[0] > xs[4] && xs[4] > xs[2]);
        let mut big = [1000.0, 999.0];
        softmax(&mut big);
        assert!((big[0] - 1.0 / (1.0 + (-1.0f32).exp())).abs() < 1e-6);
    }

    #[test]
    fn layer_norm_centres_and_scales() {
        let mut row = [1.0, 2.0, 3.0, 4.0];
        add_layer_norm(&mut row, &[1.0; 4], &[2.0; 4], &[0.5; 4], 1e-12);
        let inv = 1.0 / 1.25f32.sqrt();
        for (x, z) in row.iter().zip([-1.5, -0.5, 0.5, 1.5]) {
            assert!((x - (z * inv * 2.0 + 0.5)).abs() < 1e-5);
        }
    }
}
