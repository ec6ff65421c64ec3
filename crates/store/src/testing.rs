//! Throw-away PostgreSQL schemas for the tests of crates built on the store.
//!
//! Tests that need the PostgreSQL backend run against the real server (CI starts one). Each
//! test gets its own schema, so tests running in parallel — or a previous run that crashed —
//! never see each other's tables; the store reaches the schema through `search_path` in the
//! connection URL, exactly as a deployment that shares a database would.
//!
//! ```no_run
//! # async fn demo() {
//! let schema = mcpflow_store::testing::ScratchSchema::create("mcpflow_demo").await;
//! let store = mcpflow_store::open(schema.url()).await.unwrap();
//! assert_eq!(store.backend(), "postgres");
//! schema.drop().await;
//! # }
//! ```

use crate::StoreUrl;

/// The server the tests use: `MCPFLOW_TEST_POSTGRES_URL`, else the local test database.
pub fn postgres_test_url() -> String {
    std::env::var("MCPFLOW_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// An empty schema of its own on the test server, named `<prefix>_<pid>`, recreated if a
/// previous run left it behind.
#[derive(Debug)]
pub struct ScratchSchema {
    admin: tokio_postgres::Client,
    name: String,
    text: String,
    url: StoreUrl,
}

impl ScratchSchema {
    /// Creates the schema. Panics with advice when the server is unreachable: the tests that
    /// call this are meant to fail, not skip, without PostgreSQL.
    pub async fn create(prefix: &str) -> ScratchSchema {
        let base = postgres_test_url();
        let (admin, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL at {base} is required ({e}); set MCPFLOW_TEST_POSTGRES_URL")
            });
        tokio::spawn(conn);
        let name = format!("{prefix}_{}", std::process::id());
        admin
            .batch_execute(&format!(
                "SET client_min_messages = warning; \
                 DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
            ))
            .await
            .unwrap_or_else(|e| panic!("creating schema {name}: {e}"));
        let sep = if base.contains('?') { '&' } else { '?' };
        let text = format!("{base}{sep}options=-csearch_path%3D{name}");
        let url = StoreUrl::Postgres(text.clone());
        ScratchSchema {
            admin,
            name,
            text,
            url,
        }
    }

    /// The URL that opens a store inside this schema.
    pub fn url(&self) -> &StoreUrl {
        &self.url
    }

    /// The same URL as text, for a `--store` flag.
    pub fn url_text(&self) -> &str {
        &self.text
    }

    /// The schema's name, to qualify tables in [`ScratchSchema::admin`] statements.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A connection outside the store, to break or inspect what the store wrote.
    pub fn admin(&self) -> &tokio_postgres::Client {
        &self.admin
    }

    /// Drops the schema and everything in it.
    pub async fn drop(self) {
        self.admin
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name))
            .await
            .unwrap_or_else(|e| panic!("dropping schema {}: {e}", self.name));
    }
}
