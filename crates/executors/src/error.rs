//! Why an attempt failed, and whether another attempt may succeed.

/// An attempt that did not produce a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// A failure another attempt may not repeat: a network error, a 429 or 5xx from a provider,
    /// a scripted failure.
    #[error("{0} (retryable)")]
    Transient(String),
    /// A failure that will repeat: a rejected request, a missing API key, an unusable reply.
    #[error("{0}")]
    Permanent(String),
}

impl ExecError {
    /// Whether the runtime should try again (within the agent's `max_attempts`).
    pub fn is_retryable(&self) -> bool {
        matches!(self, ExecError::Transient(_))
    }

    /// The reason, without the retry marker.
    pub fn reason(&self) -> &str {
        match self {
            ExecError::Transient(r) | ExecError::Permanent(r) => r,
        }
    }
}
