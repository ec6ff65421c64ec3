//! Configuration layering: built-in defaults → `mcpflow.toml` → `MCPFLOW_*` env → flags.
//!
//! Each layer overrides only what it sets. The file is `./mcpflow.toml` unless `--config`
//! names another; a missing default file is fine, a missing named file is an error.
//! Nested keys use a double underscore in the environment: `MCPFLOW_HTTP__MAX_SESSIONS=64`.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use mcpflow_node::NodeConfig;
use mcpflow_server::HttpConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The whole configuration of `mcpflow serve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory for the embedded store and the node id.
    pub data_dir: PathBuf,
    /// Store URL; empty means SQLite `mcpflow.db` in `data_dir`.
    pub store: Option<String>,
    /// `text` (default) or `json` log lines on stderr.
    pub log_format: LogFormat,
    /// A `tracing` filter (`info`, `mcpflow=debug,rmcp=warn`, ...). `RUST_LOG` wins if set.
    pub log_level: String,
    /// HTTP interface settings.
    pub http: HttpConfig,
    /// Authentication and authorisation for `/mcp` and `/ws`; required to listen on anything
    /// but loopback.
    pub auth: Option<mcpflow_auth::AuthConfig>,
    /// The security gate (`enabled`, `rules`): on by default.
    pub guard: mcpflow_node::GateConfig,
}

/// Top-level keys settable from the environment.
const SETTINGS: &[&str] = &["data_dir", "store", "log_format", "log_level"];
/// Sections settable from the environment with `MCPFLOW_<SECTION>__<KEY>`.
const SECTIONS: &[&str] = &["http", "auth", "guard"];

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for log shippers).
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            store: None,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            http: HttpConfig::default(),
            auth: None,
            guard: mcpflow_node::GateConfig::default(),
        }
    }
}

/// `$MCPFLOW_HOME`-free default: `$XDG_DATA_HOME/mcpflow`, else `~/.local/share/mcpflow`,
/// else `./mcpflow-data`.
fn default_data_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("mcpflow");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join(".local/share/mcpflow");
    }
    PathBuf::from("mcpflow-data")
}

/// Values given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Default, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpFlagOverrides>,
}

/// The `[http]` values settable by flags.
#[derive(Debug, Default, Serialize)]
pub struct HttpFlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<std::net::SocketAddr>,
}

impl Config {
    /// Loads the layers. `file` is `--config`; when `None`, `./mcpflow.toml` is read if present.
    pub fn load(file: Option<&Path>, flags: FlagOverrides) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => {
                anyhow::ensure!(
                    path.exists(),
                    "config file {} does not exist",
                    path.display()
                );
                figment = figment.merge(Toml::file_exact(path));
            }
            None => figment = figment.merge(Toml::file("mcpflow.toml")),
        }
        // Only variables naming a setting are settings: MCPFLOW_CONFIG names the file, and
        // tools may keep their own MCPFLOW_* variables (scripts, tests). Within a section,
        // unknown keys are still errors, so a typo in MCPFLOW_HTTP__… is caught.
        let env = Env::prefixed("MCPFLOW_").split("__").filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            SETTINGS.contains(&key.as_str())
                || SECTIONS.iter().any(|s| key.starts_with(&format!("{s}.")))
        });
        let config: Config = figment
            .merge(env)
            .merge(Serialized::defaults(flags))
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        Ok(config)
    }

    /// The node part.
    pub fn node(&self) -> NodeConfig {
        NodeConfig {
            data_dir: self.data_dir.clone(),
            store: self.store.clone().filter(|s| !s.trim().is_empty()),
            guard: self.guard.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature, not ours
    fn layers_override_in_order() {
        // Jail serialises environment changes and runs in a scratch directory.
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "mcpflow.toml",
                "data_dir = \"/from/file\"\nlog_level = \"debug\"\n[http]\nmax_sessions = 7\nlisten = \"127.0.0.1:9000\"\n",
            )?;
            jail.set_env("MCPFLOW_LOG_LEVEL", "warn");
            jail.set_env("MCPFLOW_HTTP__MAX_BODY_BYTES", "1234");
            // Not settings: ignored rather than fatal.
            jail.set_env("MCPFLOW_CACHE", "/tmp/somewhere");
            jail.set_env("MCPFLOW_TEST_POSTGRES_URL", "postgres://x");
            layers_override_in_order_inner();
            Ok(())
        });
    }

    fn layers_override_in_order_inner() {
        let flags = FlagOverrides {
            http: Some(HttpFlagOverrides {
                listen: Some("127.0.0.1:9999".parse().unwrap()),
            }),
            ..Default::default()
        };
        let c = Config::load(None, flags).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/from/file"), "file over default");
        assert_eq!(c.log_level, "warn", "env over file");
        assert_eq!(c.http.max_sessions, 7, "file value kept");
        assert_eq!(c.http.max_body_bytes, 1234, "nested env key");
        assert_eq!(c.http.listen.port(), 9999, "flag over file");
        assert_eq!(
            c.http.session_idle_secs,
            HttpConfig::default().session_idle_secs
        );
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature, not ours
    fn unknown_keys_and_missing_files_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "[http]\nmax_sesions = 7\n")?;
            let err = Config::load(Some(Path::new("bad.toml")), FlagOverrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("max_sesions"), "{err}");
            jail.set_env("MCPFLOW_HTTP__MAX_SESIONS", "3");
            let err = Config::load(None, FlagOverrides::default())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("max_sesions"),
                "a typo inside a section is an error: {err}"
            );
            assert!(Config::load(Some(Path::new("nope.toml")), FlagOverrides::default()).is_err());
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature, not ours
    fn auth_section_is_read() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "auth.toml",
                "[auth]\nroles_file = \"roles.toml\"\napi_keys_file = \"keys.toml\"\n[auth.jwt]\nissuer = \"https://idp\"\naudience = \"https://mcp/mcp\"\njwks_file = \"jwks.json\"\n[auth.rate_limit]\nper_sec = 5\nburst = 9\n[auth.compliance]\npolicy_dir = \"policies\"\n",
            )?;
            let c = Config::load(Some(Path::new("auth.toml")), FlagOverrides::default()).unwrap();
            let auth = c.auth.expect("[auth] read");
            assert_eq!(auth.jwt.unwrap().issuer, "https://idp");
            assert_eq!((auth.rate_limit.per_sec, auth.rate_limit.burst), (5, 9));
            assert!(auth.compliance.is_some());
            assert!(
                Config::load(None, FlagOverrides::default())
                    .unwrap()
                    .auth
                    .is_none()
            );
            jail.create_file("typo.toml", "[auth]\nrole_file = \"x\"\n")?;
            assert!(Config::load(Some(Path::new("typo.toml")), FlagOverrides::default()).is_err());
            jail.create_file(
                "tls.toml",
                "[http.tls]\ncert_file = \"s.crt\"\nkey_file = \"s.key\"\nclient_ca_file = \"ca.pem\"\nclient_auth = \"optional\"\n[[auth.client_certs]]\nname = \"agent-7\"\ntenant = \"acme\"\nroles = [\"agent\"]\n",
            )?;
            let c = Config::load(Some(Path::new("tls.toml")), FlagOverrides::default()).unwrap();
            let tls = c.http.tls.expect("[http.tls] read");
            assert_eq!(tls.client_auth, mcpflow_server::ClientAuth::Optional);
            assert_eq!(tls.handshake_timeout_secs, 10, "defaults fill the rest");
            assert_eq!(c.auth.unwrap().client_certs[0].name, "agent-7");
            jail.create_file(
                "tls-typo.toml",
                "[http.tls]\ncert_file = \"a\"\nkey_file = \"b\"\nclient_auth = \"maybe\"\n",
            )?;
            assert!(
                Config::load(Some(Path::new("tls-typo.toml")), FlagOverrides::default()).is_err()
            );
            Ok(())
        });
    }
}
