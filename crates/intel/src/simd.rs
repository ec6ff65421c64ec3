//! Runs a piece of work compiled for the best instruction set the CPU has.
//!
//! `pulp` detects AVX2/FMA (or AVX-512) at run time and calls [`pulp::WithSimd::with_simd`]
//! from a function compiled with those features; everything `#[inline(always)]` below it —
//! the graph walk and the distance kernels — is compiled with them too. The `unsafe` that
//! takes stays inside `pulp`.

use std::sync::OnceLock;

/// The detected instruction set, probed once per process.
pub(crate) fn arch() -> pulp::Arch {
    static ARCH: OnceLock<pulp::Arch> = OnceLock::new();
    *ARCH.get_or_init(pulp::Arch::new)
}
