//! Audit events and their canonical serialisation.
//!
//! # Canonical serialisation, version 1
//!
//! The bytes that the hash chain and the Merkle tree cover for entry `seq`:
//!
//! ```text
//! "mcpflow-audit-entry-v1"          22 bytes, ASCII, a domain tag
//! seq                               u64, big-endian
//! ts_ms                             i64, big-endian (milliseconds since the Unix epoch)
//! actor, tenant, action, resource,  each: u32 big-endian byte length, then the UTF-8 bytes
//!   outcome, details
//! sensitive                         0x00 when absent; else 0x01, u32 big-endian length, bytes
//! ```
//!
//! `details` is stored and hashed as *canonical JSON* ([`canonical_json`]): object keys sorted
//! by their UTF-8 bytes, no whitespace, strings and numbers as `serde_json` prints them. The
//! stored text is what is hashed, so verification never re-canonicalises. `sensitive` is the
//! AES-256-GCM ciphertext (see `mcpflow_secrets::format`), so the chain covers the ciphertext
//! and verifying needs no key. Length prefixes make the encoding injective: no two different
//! entries serialise to the same bytes.

use serde::Serialize;
use serde_json::Value;

/// SHA-256 output.
pub type Hash = [u8; 32];

/// Domain tag at the start of every canonical entry.
pub const ENTRY_TAG: &[u8; 22] = b"mcpflow-audit-entry-v1";

/// What happened, as the caller describes it; [`crate::AuditLog::append`] assigns the sequence
/// number and the time.
///
/// ```
/// use mcpflow_audit::Event;
/// let e = Event::new("user:alice", "acme", "tool.call", "tool:search", "allowed")
///     .details(serde_json::json!({"latency_ms": 12}))
///     .sensitive(serde_json::json!({"arguments": {"query": "salary of bob"}}));
/// assert_eq!(e.action, "tool.call");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Who acted: principal, agent or service id.
    pub actor: String,
    /// Tenant the action belongs to.
    pub tenant: String,
    /// What was done, e.g. `tool.call`, `guard.verdict`, `agent.spawn`.
    pub action: String,
    /// What it was done to, e.g. `tool:search`, `agent:42`.
    pub resource: String,
    /// The verdict or outcome, e.g. `allowed`, `blocked`, `ok`, `error`.
    pub outcome: String,
    /// Searchable, non-secret details (stored as canonical JSON).
    pub details: Value,
    /// Secret details: encrypted before storage, never searchable.
    pub sensitive: Option<Value>,
}

impl Event {
    /// An event with empty details and nothing sensitive.
    pub fn new(
        actor: impl Into<String>,
        tenant: impl Into<String>,
        action: impl Into<String>,
        resource: impl Into<String>,
        outcome: impl Into<String>,
    ) -> Self {
        Event {
            actor: actor.into(),
            tenant: tenant.into(),
            action: action.into(),
            resource: resource.into(),
            outcome: outcome.into(),
            details: Value::Object(Default::default()),
            sensitive: None,
        }
    }

    /// Sets the searchable details.
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// Sets the secret details (encrypted at rest).
    pub fn sensitive(mut self, sensitive: Value) -> Self {
        self.sensitive = Some(sensitive);
        self
    }
}

/// One stored entry, exactly as the chain covers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Position in the log, from 0; also its Merkle leaf index.
    pub seq: u64,
    /// When it was appended, milliseconds since the Unix epoch (never decreasing).
    pub ts_ms: i64,
    /// See [`Event::actor`].
    pub actor: String,
    /// See [`Event::tenant`].
    pub tenant: String,
    /// See [`Event::action`].
    pub action: String,
    /// See [`Event::resource`].
    pub resource: String,
    /// See [`Event::outcome`].
    pub outcome: String,
    /// Canonical JSON text of the details.
    pub details: String,
    /// Ciphertext of the sensitive details, if any.
    #[serde(serialize_with = "ser_opt_hex")]
    pub sensitive: Option<Vec<u8>>,
    /// Chain hash of the previous entry (zeros for seq 0).
    #[serde(serialize_with = "ser_hex")]
    pub prev: Hash,
    /// This entry's chain hash: SHA-256(prev || canonical bytes).
    #[serde(serialize_with = "ser_hex")]
    pub hash: Hash,
}

pub(crate) fn ser_hex<S: serde::Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&mcpflow_secrets::hex::encode(h))
}

fn ser_opt_hex<S: serde::Serializer>(h: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match h {
        Some(b) => s.serialize_str(&mcpflow_secrets::hex::encode(b)),
        None => s.serialize_none(),
    }
}

/// The fields that are hashed, borrowed: lets the writer hash before it owns an [`Entry`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields<'a> {
    pub seq: u64,
    pub ts_ms: i64,
    pub actor: &'a str,
    pub tenant: &'a str,
    pub action: &'a str,
    pub resource: &'a str,
    pub outcome: &'a str,
    pub details: &'a str,
    pub sensitive: Option<&'a [u8]>,
}

impl Entry {
    pub(crate) fn fields(&self) -> Fields<'_> {
        Fields {
            seq: self.seq,
            ts_ms: self.ts_ms,
            actor: &self.actor,
            tenant: &self.tenant,
            action: &self.action,
            resource: &self.resource,
            outcome: &self.outcome,
            details: &self.details,
            sensitive: self.sensitive.as_deref(),
        }
    }

    /// The canonical bytes of this entry (see the module documentation).
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.fields().write_canonical(&mut out);
        out
    }
}

impl Fields<'_> {
    /// Appends the canonical serialisation to `out`.
    pub(crate) fn write_canonical(&self, out: &mut Vec<u8>) {
        fn field(out: &mut Vec<u8>, bytes: &[u8]) {
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(bytes);
        }
        out.extend_from_slice(ENTRY_TAG);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.ts_ms.to_be_bytes());
        for f in [
            self.actor,
            self.tenant,
            self.action,
            self.resource,
            self.outcome,
            self.details,
        ] {
            field(out, f.as_bytes());
        }
        match self.sensitive {
            None => out.push(0),
            Some(b) => {
                out.push(1);
                field(out, b);
            }
        }
    }
}

/// Canonical JSON: object keys sorted by UTF-8 bytes, no whitespace. Independent of whether
/// `serde_json` preserves insertion order in this build.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_json(value, &mut out);
    out
}

fn write_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_json(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_and_strips() {
        let v = json!({"b": [1, {"z": null, "a": "x y"}], "a": true, "é": 1.5});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":true,"b":[1,{"a":"x y","z":null}],"é":1.5}"#
        );
    }

    #[test]
    fn canonical_json_is_stable_under_reparse() {
        let v = json!({"k": "quote \" and \\ and \n", "n": -0.25, "big": 18446744073709551615u64});
        let once = canonical_json(&v);
        let again = canonical_json(&serde_json::from_str(&once).unwrap());
        assert_eq!(once, again);
    }

    fn entry() -> Entry {
        Entry {
            seq: 7,
            ts_ms: 1000,
            actor: "a".into(),
            tenant: "t".into(),
            action: "x".into(),
            resource: "r".into(),
            outcome: "ok".into(),
            details: "{}".into(),
            sensitive: None,
            prev: [0; 32],
            hash: [0; 32],
        }
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let mut a = entry();
        let mut b = entry();
        a.actor = "ab".into();
        a.tenant = "c".into();
        b.actor = "a".into();
        b.tenant = "bc".into();
        assert_ne!(a.canonical(), b.canonical());
        let mut c = entry();
        c.sensitive = Some(vec![]);
        assert_ne!(entry().canonical(), c.canonical(), "empty vs absent");
    }

    #[test]
    fn layout_is_as_documented() {
        let bytes = entry().canonical();
        assert_eq!(&bytes[..22], ENTRY_TAG);
        assert_eq!(&bytes[22..30], &7u64.to_be_bytes());
        assert_eq!(&bytes[30..38], &1000i64.to_be_bytes());
        assert_eq!(&bytes[38..43], &[0, 0, 0, 1, b'a']);
        assert_eq!(*bytes.last().unwrap(), 0);
        assert_eq!(
            bytes.len(),
            22 + 8 + 8 + (4 + 1) * 4 + (4 + 2) + (4 + 2) + 1
        );
    }
}
