//! Selecting entries by their metadata.

use super::MemoryError;
use serde_json::Value;

/// A metadata filter: a JSON object whose fields must all be present in an entry's metadata
/// with equal values. Nested objects match recursively (a subset of the entry's object);
/// every other value, arrays included, must be equal. `{}` matches everything.
///
/// `{"kind": "lesson", "source": {"agent": "coder"}}` matches metadata
/// `{"kind": "lesson", "score": 3, "source": {"agent": "coder", "run": 7}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataFilter {
    fields: serde_json::Map<String, Value>,
}

impl MetadataFilter {
    /// A filter from a JSON object; anything else is refused.
    pub fn new(filter: Value) -> Result<Self, MemoryError> {
        match filter {
            Value::Object(fields) => Ok(Self { fields }),
            other => Err(MemoryError::InvalidFilter(format!(
                "a metadata filter is a JSON object of fields to match, got {other}"
            ))),
        }
    }

    /// True if `metadata` has every field of the filter with a matching value.
    pub fn matches(&self, metadata: &Value) -> bool {
        match metadata {
            Value::Object(m) => subset(&self.fields, m),
            _ => self.fields.is_empty(),
        }
    }
}

fn subset(want: &serde_json::Map<String, Value>, have: &serde_json::Map<String, Value>) -> bool {
    want.iter().all(|(k, w)| match (w, have.get(k)) {
        (Value::Object(w), Some(Value::Object(h))) => subset(w, h),
        (w, Some(h)) => w == h,
        (_, None) => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_subsets() {
        let f =
            MetadataFilter::new(json!({"kind": "lesson", "source": {"agent": "coder"}})).unwrap();
        assert!(
            f.matches(&json!({"kind": "lesson", "x": 1, "source": {"agent": "coder", "run": 7}}))
        );
        assert!(!f.matches(&json!({"kind": "lesson", "source": {"agent": "tester"}})));
        assert!(!f.matches(&json!({"kind": "lesson"})));
        assert!(!f.matches(&Value::Null));
        assert!(
            MetadataFilter::new(json!({}))
                .unwrap()
                .matches(&Value::Null)
        );
        assert!(
            MetadataFilter::new(json!({"tags": [1, 2]}))
                .unwrap()
                .matches(&json!({"tags": [1, 2]}))
        );
        assert!(matches!(
            MetadataFilter::new(json!([1])),
            Err(MemoryError::InvalidFilter(_))
        ));
    }
}
