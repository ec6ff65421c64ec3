//! mcpflow's intelligence subsystem: an HNSW vector index of our own.
//!
//! * [`HnswIndex`]: approximate nearest neighbours over `f32` vectors of any fixed
//!   dimension, cosine or (squared) L2, with insert, tombstone delete (and automatic
//!   rebuild), filtered search, an exact search to compare against, and a checksummed,
//!   versioned byte format ([`HnswIndex::to_bytes`] / [`HnswIndex::from_bytes`]).
//! * [`SharedIndex`]: the same behind a reader–writer lock, for parallel searches.
//!
//! The distance kernels are safe Rust compiled for AVX2 at run time when the CPU has it
//! (see `simd`); `mcpflow bench memory` measures the index against hnswlib in the same run.
//!
//! ```
//! use mcpflow_intel::{HnswIndex, Metric, Params};
//!
//! let mut index = HnswIndex::new(Params::new(3, Metric::Cosine))?;
//! index.insert(1, &[1.0, 0.0, 0.0])?;
//! index.insert(2, &[0.0, 1.0, 0.0])?;
//! index.insert(3, &[0.9, 0.1, 0.0])?;
//!
//! let hits = index.search(&[1.0, 0.05, 0.0], 2)?;
//! assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [1, 3]);
//!
//! // Only even ids:
//! let hits = index.search_filtered(&[1.0, 0.05, 0.0], 1, &|id| id % 2 == 0)?;
//! assert_eq!(hits[0].id, 2);
//!
//! index.delete(1)?;
//! let restored = HnswIndex::from_bytes(&index.to_bytes())?;
//! assert_eq!(restored.search(&[1.0, 0.0, 0.0], 1)?[0].id, 3);
//! # Ok::<(), mcpflow_intel::Error>(())
//! ```

mod distance;
mod error;
mod hnsw;
pub mod memory;
mod pages;
mod persist;
pub mod rng;
pub mod routing;
mod shared;
mod simd;
pub mod trajectory;
mod visited;

pub use distance::{Metric, dot, l2_squared};
pub use error::{Error, Result};
pub use hnsw::{Hit, HnswIndex, Params};
pub use persist::FORMAT_VERSION;
pub use shared::SharedIndex;

/// Recall of `found` against `truth`: the fraction of true ids that were found.
pub fn recall(found: &[Hit], truth: &[Hit]) -> f64 {
    if truth.is_empty() {
        return 1.0;
    }
    let hits = truth
        .iter()
        .filter(|t| found.iter().any(|f| f.id == t.id))
        .count();
    hits as f64 / truth.len() as f64
}
