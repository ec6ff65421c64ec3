//! Parsing the `--store` URL.

use std::path::{Path, PathBuf};

use crate::Error;

/// Which backend to open, and where.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// An SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection string (`postgres://...` or `postgresql://...`).
    Postgres(String),
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a password, even in debug output.
        write!(f, "StoreUrl({})", self.redacted())
    }
}

impl StoreUrl {
    /// The default: `mcpflow.db` in the data directory.
    pub fn default_in(data_dir: &Path) -> Self {
        StoreUrl::Sqlite(data_dir.join("mcpflow.db"))
    }

    /// Parses `sqlite:///abs/path`, `sqlite://rel/path`, `sqlite:path`, a bare file path, or
    /// `postgres://` / `postgresql://` URLs.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: redact(url),
            reason: reason.to_owned(),
        };
        if url.trim().is_empty() {
            return Err(invalid("it is empty"));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(StoreUrl::Postgres(url.to_owned()));
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(invalid("no file path after sqlite:"));
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(invalid(&format!("unknown scheme {scheme:?}")));
        }
        Ok(StoreUrl::Sqlite(PathBuf::from(url)))
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        match self {
            StoreUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            StoreUrl::Postgres(url) => redact(url),
        }
    }
}

/// Removes the password from `scheme://user:password@host/...`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_accepted_form() {
        assert_eq!(
            StoreUrl::parse("sqlite:///tmp/x.db").unwrap(),
            StoreUrl::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(
            StoreUrl::parse("sqlite://data/x.db").unwrap(),
            StoreUrl::Sqlite("data/x.db".into())
        );
        assert_eq!(
            StoreUrl::parse("sqlite:x.db").unwrap(),
            StoreUrl::Sqlite("x.db".into())
        );
        assert_eq!(
            StoreUrl::parse("./x.db").unwrap(),
            StoreUrl::Sqlite("./x.db".into())
        );
        assert!(matches!(
            StoreUrl::parse("postgresql://u@h/db").unwrap(),
            StoreUrl::Postgres(_)
        ));
    }

    #[test]
    fn rejects_nonsense_with_a_helpful_message() {
        let err = StoreUrl::parse("mysql://root@localhost/test").unwrap_err();
        assert!(
            err.to_string().contains("unknown scheme \"mysql\""),
            "{err}"
        );
        assert!(StoreUrl::parse("").is_err());
        assert!(StoreUrl::parse("sqlite:").is_err());
    }

    #[test]
    fn passwords_never_show() {
        let url = StoreUrl::parse("postgres://bob:hunter2@db:5432/test").unwrap();
        assert_eq!(url.redacted(), "postgres://bob:***@db:5432/test");
        assert!(!format!("{url:?}").contains("hunter2"));
        let err = StoreUrl::parse("bogus://bob:hunter2@db").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }
}
