//! The fixture pack of the official MCP conformance suite (`@modelcontextprotocol/conformance`
//! 0.1.16 and 0.2.0-alpha.12), registered by `mcpflow serve --conformance`.
//!
//! Each fixture does what its scenario's description asks; the literal texts are the values
//! the scenarios (and our own tests) assert. Nothing here is used by a normal server.

mod basic;
mod mrtr;
mod stateless;
mod tasks;

pub use basic::{ERROR_TEXT, RED_PIXEL_PNG, SILENT_WAV, SIMPLE_TEXT, STATIC_TEXT, WATCHED_URI};

use crate::mcp::Catalog;

/// Adds every fixture to `catalog`.
pub fn register(catalog: &mut Catalog) {
    basic::register(catalog);
    mrtr::register(catalog);
    stateless::register(catalog);
    tasks::register(catalog);
}
