//! Matrix products through the `gemm` crate, behind a checked, safe door.
//!
//! `gemm` is the fastest CPU sgemm in pure Rust (AVX-512 and AVX2/FMA kernels picked at run
//! time), but its entry point takes raw pointers and strides. [`matmul`] checks every index
//! the product can touch against the slices it was given before it calls in, so no caller can
//! make it read or write out of bounds. This is the workspace's only `unsafe` block.

#![allow(unsafe_code)]

/// A read-only matrix inside a slice: element `(r, c)` is `data[r * row_stride + c * col_stride]`.
///
/// Row-major matrices have `col_stride == 1`; [`View::t`] swaps the roles, so a PyTorch
/// `Linear` weight (`out × in`, row-major) is used as `in × out` without copying.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> View<'a> {
    /// `rows × cols`, row-major, consecutive rows `row_stride` apart.
    pub(crate) fn rows(data: &'a [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            row_stride,
            col_stride: 1,
        }
    }

    /// Its number of columns.
    pub(crate) fn cols(&self) -> usize {
        self.cols
    }

    /// The transpose (no copy).
    pub(crate) fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// Index of the last element, or `None` for an empty matrix.
    fn last(&self) -> Option<usize> {
        (self.rows > 0 && self.cols > 0)
            .then(|| (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride)
    }
}

/// `dst = (accumulate ? dst : 0) + scale · a · b`, where `dst` is `a.rows × b.cols`, row-major
/// with rows `dst_stride` apart. `threads > 1` splits the work over rayon's pool.
///
/// # Panics
///
/// If the shapes do not fit (`a.cols != b.rows`), a view reaches past its slice, or
/// `dst_stride < b.cols` (rows would overlap).
pub(crate) fn matmul(
    dst: &mut [f32],
    dst_stride: usize,
    a: View<'_>,
    b: View<'_>,
    accumulate: bool,
    scale: f32,
    threads: usize,
) {
    let (m, n, k) = (a.rows, b.cols, a.cols);
    assert_eq!(k, b.rows, "matmul: inner dimensions differ");
    assert!(dst_stride >= n, "matmul: destination rows overlap");
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        (m - 1) * dst_stride + n <= dst.len(),
        "matmul: destination too small"
    );
    if k == 0 {
        if !accumulate {
            for row in dst.chunks_mut(dst_stride).take(m) {
                row[..n].fill(0.0);
            }
        }
        return;
    }
    for v in [a, b] {
        assert!(
            v.last().is_some_and(|last| last < v.data.len()),
            "matmul: operand view out of bounds"
        );
    }
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let stride = |s: usize| isize::try_from(s).expect("matmul: stride overflows isize");
    // SAFETY: every element gemm reads is `a.data[r*rs + c*cs]` for r < m, c < k (resp.
    // `b.data[..]` for r < k, c < n), and every element it writes is `dst[r*dst_stride + c]`
    // for r < m, c < n; the asserts above bound the largest such index by each slice's length.
    // `dst` is a unique borrow, so it cannot alias `a` or `b`, and the strides are non-negative.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            stride(dst_stride),
            accumulate,
            a.data.as_ptr(),
            stride(a.col_stride),
            stride(a.row_stride),
            b.data.as_ptr(),
            stride(b.col_stride),
            stride(b.row_stride),
            1.0,
            scale,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for r in 0..m {
            for c in 0..n {
                out[r * n + c] = (0..k).map(|i| a[r * k + i] * b[i * n + c]).sum();
            }
        }
        out
    }

    fn values(n: usize, seed: f32) -> Vec<f32> {
        (0..n).map(|i| ((i as f32 + seed) * 0.37).sin()).collect()
    }

    #[test]
    fn matches_a_naive_product_for_plain_transposed_and_strided_operands() {
        for (m, n, k) in [(1, 1, 1), (3, 5, 7), (17, 33, 9), (64, 48, 40)] {
            let a = values(m * k, 1.0);
            let b = values(k * n, 2.0);
            let want = naive(&a, &b, m, n, k);

            let mut got = vec![0.0; m * n];
            matmul(
                &mut got,
                n,
                View::rows(&a, m, k, k),
                View::rows(&b, k, n, n),
                false,
                1.0,
                1,
            );
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-4, "{m}x{n}x{k}");
            }

            // b stored transposed (n × k), used through `t()`; dst rows padded; scaled and
            // accumulated onto a bias; two threads.
            let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
            let stride = n + 3;
            let mut dst = vec![1.0; m * stride];
            matmul(
                &mut dst,
                stride,
                View::rows(&a, m, k, k),
                View::rows(&bt, n, k, k).t(),
                true,
                0.5,
                2,
            );
            for r in 0..m {
                for c in 0..n {
                    let w = 1.0 + 0.5 * want[r * n + c];
                    assert!((dst[r * stride + c] - w).abs() < 1e-4, "{m}x{n}x{k}");
                }
                assert!(
                    dst[r * stride + n..(r + 1) * stride]
                        .iter()
                        .all(|&x| x == 1.0)
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn refuses_a_view_past_its_slice() {
        let a = [0.0; 6];
        let mut dst = [0.0; 4];
        matmul(
            &mut dst,
            2,
            View::rows(&a, 2, 3, 3),
            View::rows(&a, 3, 2, 3),
            false,
            1.0,
            1,
        );
    }

    #[test]
    #[should_panic(expected = "destination too small")]
    fn refuses_a_short_destination() {
        let a = [0.0; 4];
        let mut dst = [0.0; 3];
        matmul(
            &mut dst,
            2,
            View::rows(&a, 2, 2, 2),
            View::rows(&a, 2, 2, 2),
            false,
            1.0,
            1,
        );
    }
}
