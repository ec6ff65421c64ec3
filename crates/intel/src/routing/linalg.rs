//! The little dense linear algebra the bandit needs: symmetric `d × d` matrices stored
//! row-major in `Vec<f64>`, `d` around 10–30. Our own: the sizes are tiny and the
//! operations are four.

/// `m · v`.
pub(crate) fn mat_vec(m: &[f64], v: &[f64]) -> Vec<f64> {
    let d = v.len();
    debug_assert_eq!(m.len(), d * d);
    m.chunks_exact(d)
        .map(|row| row.iter().zip(v).map(|(a, b)| a * b).sum())
        .collect()
}

/// `vᵀ m v`.
pub(crate) fn quad_form(m: &[f64], v: &[f64]) -> f64 {
    mat_vec(m, v).iter().zip(v).map(|(a, b)| a * b).sum()
}

/// Sherman–Morrison: given `inv = A⁻¹` (symmetric), makes it `(A + x xᵀ)⁻¹` in `O(d²)`:
/// `A⁻¹ − (A⁻¹x)(A⁻¹x)ᵀ / (1 + xᵀA⁻¹x)`. `A` must be positive definite, so the
/// denominator is at least 1.
pub fn sherman_morrison(inv: &mut [f64], x: &[f64]) {
    let d = x.len();
    let u = mat_vec(inv, x);
    let denom = 1.0 + u.iter().zip(x).map(|(a, b)| a * b).sum::<f64>();
    for i in 0..d {
        for j in 0..d {
            inv[i * d + j] -= u[i] * u[j] / denom;
        }
    }
}

/// The inverse of a symmetric positive-definite `a` (`d × d`) by Cholesky, or `None` when
/// `a` is not positive definite (to rounding).
pub fn invert_spd(a: &[f64], d: usize) -> Option<Vec<f64>> {
    debug_assert_eq!(a.len(), d * d);
    // a = L Lᵀ.
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum();
            if i == j {
                let diag = a[i * d + i] - s;
                if diag <= 0.0 || !diag.is_finite() {
                    return None;
                }
                l[i * d + i] = diag.sqrt();
            } else {
                l[i * d + j] = (a[i * d + j] - s) / l[j * d + j];
            }
        }
    }
    // Solve L Lᵀ X = I column by column.
    let mut inv = vec![0.0; d * d];
    let mut y = vec![0.0; d];
    for c in 0..d {
        for i in 0..d {
            let rhs = if i == c { 1.0 } else { 0.0 };
            let s: f64 = (0..i).map(|k| l[i * d + k] * y[k]).sum();
            y[i] = (rhs - s) / l[i * d + i];
        }
        for i in (0..d).rev() {
            let s: f64 = (i + 1..d).map(|k| l[k * d + i] * inv[k * d + c]).sum();
            inv[i * d + c] = (y[i] - s) / l[i * d + i];
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spd(d: usize, rows: &[Vec<f64>], ridge: f64) -> Vec<f64> {
        let mut a = vec![0.0; d * d];
        for i in 0..d {
            a[i * d + i] = ridge;
        }
        for x in rows {
            for i in 0..d {
                for j in 0..d {
                    a[i * d + j] += x[i] * x[j];
                }
            }
        }
        a
    }

    fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn inverse_of_known_matrix() {
        let a = [4.0, 2.0, 2.0, 3.0];
        let inv = invert_spd(&a, 2).unwrap();
        let expect = [0.375, -0.25, -0.25, 0.5];
        assert!(max_abs_diff(&inv, &expect) < 1e-12, "{inv:?}");
        assert!(invert_spd(&[1.0, 2.0, 2.0, 1.0], 2).is_none(), "indefinite");
    }

    proptest! {
        #[test]
        fn sherman_morrison_equals_explicit_inverse(
            d in 1usize..8,
            raw in prop::collection::vec(prop::collection::vec(-3.0f64..3.0, 8), 0..12),
            x in prop::collection::vec(-3.0f64..3.0, 8),
            ridge in 0.1f64..5.0,
        ) {
            let rows: Vec<Vec<f64>> = raw.iter().map(|r| r[..d].to_vec()).collect();
            let x = &x[..d];
            let a = spd(d, &rows, ridge);
            let mut inv = invert_spd(&a, d).unwrap();
            sherman_morrison(&mut inv, x);
            let mut with_x = rows.clone();
            with_x.push(x.to_vec());
            let explicit = invert_spd(&spd(d, &with_x, ridge), d).unwrap();
            let scale = explicit.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            prop_assert!(max_abs_diff(&inv, &explicit) <= 1e-8 * scale,
                "diff {}", max_abs_diff(&inv, &explicit));
        }

        #[test]
        fn inverse_times_matrix_is_identity(
            d in 1usize..8,
            raw in prop::collection::vec(prop::collection::vec(-3.0f64..3.0, 8), 0..12),
            ridge in 0.1f64..5.0,
        ) {
            let rows: Vec<Vec<f64>> = raw.iter().map(|r| r[..d].to_vec()).collect();
            let a = spd(d, &rows, ridge);
            let inv = invert_spd(&a, d).unwrap();
            for c in 0..d {
                let col: Vec<f64> = (0..d).map(|r| inv[r * d + c]).collect();
                let e = mat_vec(&a, &col);
                for (r, v) in e.iter().enumerate() {
                    let want = if r == c { 1.0 } else { 0.0 };
                    prop_assert!((v - want).abs() < 1e-7, "{v} vs {want}");
                }
            }
        }
    }
}
