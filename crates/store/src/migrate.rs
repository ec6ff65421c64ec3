//! The numbered schema migrations, shared by both backends.
//!
//! A migration is written once per dialect and applied in order inside a transaction; the
//! `schema_migrations` table records what was applied. Migrations are never edited once
//! released — a change is a new migration.

/// One schema step, in both SQL dialects.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// 1-based, dense, increasing.
    pub version: u32,
    /// Short name, for error messages and the `schema_migrations` table.
    pub name: &'static str,
    /// The step for SQLite.
    pub sqlite: &'static str,
    /// The step for PostgreSQL.
    pub postgres: &'static str,
}

/// Every migration this build knows, in order.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "sessions",
        sqlite: include_str!("../migrations/sqlite/0001_sessions.sql"),
        postgres: include_str!("../migrations/postgres/0001_sessions.sql"),
    },
    Migration {
        version: 2,
        name: "agents_tasks",
        sqlite: include_str!("../migrations/sqlite/0002_agents_tasks.sql"),
        postgres: include_str!("../migrations/postgres/0002_agents_tasks.sql"),
    },
    Migration {
        version: 3,
        name: "memory",
        sqlite: include_str!("../migrations/sqlite/0003_memory.sql"),
        postgres: include_str!("../migrations/postgres/0003_memory.sql"),
    },
    Migration {
        version: 4,
        name: "trajectories",
        sqlite: include_str!("../migrations/sqlite/0004_trajectories.sql"),
        postgres: include_str!("../migrations/postgres/0004_trajectories.sql"),
    },
];

/// The schema version a fully migrated database reports.
pub const MIGRATION_COUNT: u32 = MIGRATIONS.len() as u32;

/// The bookkeeping table, identical in both dialects.
pub(crate) const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_dense_and_ordered() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "migration {}", m.name);
            assert!(!m.sqlite.trim().is_empty() && !m.postgres.trim().is_empty());
        }
    }
}
