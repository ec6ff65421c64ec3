//! Runs a piece of work compiled for the best instruction set the CPU has.
//!
//! `pulp` detects AVX2/FMA at run time and calls [`pulp::WithSimd::with_simd`]
//! from a function compiled with those features; everything `#[inline(always)]` below it —
//! the graph walk and the distance kernels — is compiled with them too. The `unsafe` that
//! takes stays inside `pulp`.

use std::sync::OnceLock;

/// The detected instruction set, probed once per process.
///
/// AVX2/FMA even where AVX-512 exists (pulp offers it once any crate in the build enables its
/// `x86-v4` feature, as the embed crate's `gemm` does): on this Zen 4 the 512-bit build of
/// the graph walk answered 10–20 % fewer queries per second (`examples/hnsw_speed`, same
/// index, alternating runs).
pub(crate) fn arch() -> pulp::Arch {
    static ARCH: OnceLock<pulp::Arch> = OnceLock::new();
    *ARCH.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if let Some(v3) = pulp::x86::V3::try_new() {
            return pulp::Arch::V3(v3);
        }
        pulp::Arch::new()
    })
}

/// Asks the CPU to start loading `data` into the L2 cache (`prefetcht1`), so the next
/// distance computations find their vectors near instead of waiting on memory. A hint: never
/// faults, never changes a result; `pulp` exposes the SSE prefetch as a safe method (it takes
/// no reference). L2, not L1: a request into L1 holds one of its few miss buffers until the
/// line arrives, so whole 24-line rows ahead of the kernel saturated them and the
/// prefetches themselves stalled; into L2 many more lines are in flight, and the kernel's
/// loads then hit L2. Measured on the bench's clustered 100k × 384 index: 1.7–1.9x q/s
/// over whole rows into L1 at that variant's best distance (2 rows ahead).
#[inline(always)]
pub(crate) fn prefetch_l2(data: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if let Some(v1) = v1() {
        for line in data.chunks(16) {
            v1.sse._mm_prefetch::<2>(line.as_ptr().cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// [`prefetch_l2`] of the first cache line of `data` only.
#[inline(always)]
pub(crate) fn prefetch_head(data: &[f32]) {
    prefetch_l2(&data[..data.len().min(16)]);
}

/// A list of links into L1 (`prefetcht0`): two or three lines, read right after.
#[inline(always)]
pub(crate) fn prefetch_u32(data: &[u32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(v1) = v1() {
            for line in data.chunks(16) {
                v1.sse._mm_prefetch::<3>(line.as_ptr().cast());
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn v1() -> Option<pulp::x86::V1> {
    static V1: OnceLock<Option<pulp::x86::V1>> = OnceLock::new();
    *V1.get_or_init(pulp::x86::V1::try_new)
}
