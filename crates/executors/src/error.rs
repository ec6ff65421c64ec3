//! Why an attempt failed, and whether another attempt may succeed.

use std::time::Duration;

/// An attempt that did not produce a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// A failure another attempt may not repeat: a network error, a 5xx from a provider, a
    /// stream cut short, a scripted failure.
    #[error("{0} (retryable)")]
    Transient(String),
    /// The provider asked us to slow down (429, 529 or `Retry-After`): retryable, but not
    /// before `retry_after`.
    #[error("{reason} (retryable after {} ms)", retry_after.as_millis())]
    Throttled {
        /// What the provider said.
        reason: String,
        /// How long to wait before the next attempt.
        retry_after: Duration,
    },
    /// A failure that will repeat: a rejected request, a missing API key, an unusable reply.
    #[error("{0}")]
    Permanent(String),
}

impl ExecError {
    /// Whether the runtime should try again (within the agent's `max_attempts`).
    pub fn is_retryable(&self) -> bool {
        !matches!(self, ExecError::Permanent(_))
    }

    /// The earliest the next attempt should start, when the provider said so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ExecError::Throttled { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// The same error with its reason rewritten (e.g. scrubbed of a secret).
    pub fn map_reason(self, f: impl FnOnce(&str) -> String) -> Self {
        match self {
            ExecError::Transient(r) => ExecError::Transient(f(&r)),
            ExecError::Permanent(r) => ExecError::Permanent(f(&r)),
            ExecError::Throttled {
                reason,
                retry_after,
            } => ExecError::Throttled {
                reason: f(&reason),
                retry_after,
            },
        }
    }

    /// The reason, without the retry marker.
    pub fn reason(&self) -> &str {
        match self {
            ExecError::Transient(r) | ExecError::Permanent(r) => r,
            ExecError::Throttled { reason, .. } => reason,
        }
    }
}
