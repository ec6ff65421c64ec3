//! Helpers shared by both backends' memory tables.

/// A write time in ms as the `BIGINT` column holds it (times past `i64::MAX` ms do not occur;
/// clamp rather than wrap if one ever does).
pub(crate) fn clamp(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}
