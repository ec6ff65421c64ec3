//! What memory holds: entries, and what a caller gives to store one.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One remembered item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Unique within its namespace.
    pub key: String,
    /// The payload (any JSON).
    pub value: Value,
    /// A JSON object searched by [`crate::memory::MetadataFilter`].
    pub metadata: Value,
    /// The vector semantic search compares (absent: the entry is found by key and list only).
    pub embedding: Option<Vec<f32>>,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// Milliseconds since the Unix epoch; equals `created_at_ms` until overwritten.
    pub updated_at_ms: u64,
    /// When the entry stops existing (ms since the epoch), if it has a TTL.
    pub expires_at_ms: Option<u64>,
}

impl Entry {
    /// True once its TTL has run out at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_some_and(|t| now_ms >= t)
    }
}

/// What to store: a key, a value, optional metadata, embedding and time to live.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NewEntry {
    /// Unique within the namespace; storing an existing key replaces that entry.
    pub key: String,
    /// The payload.
    pub value: Value,
    /// A JSON object (or null for none).
    #[serde(default)]
    pub metadata: Value,
    /// The vector to search by.
    #[serde(default)]
    pub embedding: Option<Vec<f32>>,
    /// Time to live in milliseconds (none: until deleted).
    #[serde(default)]
    pub ttl_ms: Option<u64>,
}

impl NewEntry {
    /// An entry with a key and value, no metadata, embedding or TTL.
    pub fn new(key: impl Into<String>, value: Value) -> Self {
        Self {
            key: key.into(),
            value,
            ..Self::default()
        }
    }

    /// With metadata (a JSON object).
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }

    /// With an embedding.
    pub fn embedding(mut self, embedding: Vec<f32>) -> Self {
        self.embedding = Some(embedding);
        self
    }

    /// With a time to live.
    pub fn ttl_ms(mut self, ttl_ms: u64) -> Self {
        self.ttl_ms = Some(ttl_ms);
        self
    }
}
