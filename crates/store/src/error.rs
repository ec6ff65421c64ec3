//! The store's one error type.

use mcpflow_model::InvalidTransition;

/// What can go wrong in the store. Messages say what to check.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store URL could not be understood.
    #[error(
        "invalid store URL {url:?}: {reason} (expected sqlite:///path/to/file.db, a plain file path, or postgres://user@host:port/db)"
    )]
    InvalidUrl {
        /// The URL as given (with any password removed).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The SQLite file could not be opened or queried.
    #[error("sqlite store at {path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// The driver's error.
        #[source]
        source: rusqlite::Error,
    },
    /// PostgreSQL could not be reached or refused a query.
    #[error("postgres store at {location}: {message}")]
    Postgres {
        /// Host, port and database (no password).
        location: String,
        /// The driver's or pool's error, rendered.
        message: String,
    },
    /// A migration failed; the database was left at the previous version.
    #[error("migration {version} ({name}) failed: {message}")]
    Migration {
        /// The migration's number.
        version: u32,
        /// The migration's name.
        name: &'static str,
        /// What the database said.
        message: String,
    },
    /// The database has migrations this build does not know: it was written by a newer mcpflow.
    #[error(
        "the database is at schema version {found}, but this build knows only {known}: upgrade mcpflow or point it at another store"
    )]
    SchemaTooNew {
        /// Version found in the database.
        found: u32,
        /// Highest version this build has.
        known: u32,
    },
    /// The record does not exist.
    #[error("{kind} {id:?} not found")]
    NotFound {
        /// What was looked for (`"session"`, ...).
        kind: &'static str,
        /// Its id.
        id: String,
    },
    /// A lifecycle move the model forbids.
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    /// A stored value could not be decoded: the row was written by something else.
    #[error("corrupt {kind} row {id:?}: {reason}")]
    Corrupt {
        /// Which table's value.
        kind: &'static str,
        /// The row's id.
        id: String,
        /// What could not be decoded.
        reason: String,
    },
    /// The blocking worker that runs SQLite calls went away (the runtime is shutting down).
    #[error("the store's worker thread stopped: {0}")]
    Worker(String),
    /// A value the store cannot keep (out of the column's range); the caller has a bug.
    #[error("invalid input to the store: {0}")]
    Invalid(String),
}
