//! API keys: read from the environment, never printed, wiped from memory when dropped.

use std::fmt;
use zeroize::Zeroizing;

/// A provider API key.
///
/// `Debug` and `Display` print `***`; the bytes are zeroised on drop; [`ApiKey::redact`] scrubs
/// the key from text that came back from a provider before it reaches a log or a task result.
#[derive(Clone)]
pub struct ApiKey(Zeroizing<String>);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(Zeroizing::new(key.into()))
    }

    /// Reads the key from the environment variable `name`; the error names the variable.
    pub fn from_env(name: &str) -> Result<Self, String> {
        match std::env::var(name) {
            Ok(key) if !key.trim().is_empty() => Ok(Self::new(key.trim())),
            Ok(_) => Err(format!(
                "environment variable {name} is empty; set it to the API key"
            )),
            Err(_) => Err(format!(
                "environment variable {name} is not set; export the API key in it before starting the server"
            )),
        }
    }

    /// The key itself, for the request header only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the key replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        if self.0.len() < 4 {
            return text.to_owned();
        }
        text.replace(self.0.as_str(), "***")
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let key = ApiKey::new("sk-live-abcdef123456");
        assert_eq!(format!("{key:?} {key}"), "ApiKey(***) ***");
        assert_eq!(
            key.redact("Incorrect API key provided: sk-live-abcdef123456."),
            "Incorrect API key provided: ***."
        );
    }

    #[test]
    fn missing_variable_is_named() {
        let err = ApiKey::from_env("MCPFLOW_TEST_SURELY_UNSET_VARIABLE").unwrap_err();
        assert!(err.contains("MCPFLOW_TEST_SURELY_UNSET_VARIABLE"), "{err}");
    }
}
