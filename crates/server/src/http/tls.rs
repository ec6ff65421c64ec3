//! HTTPS: the `[http.tls]` certificate, optional client certificates (mTLS), hot reload.
//!
//! - [`TlsFiles::load`] reads and checks the PEM files once, with errors that name the file
//!   and what is wrong (missing, no certificate, key not matching the certificate...).
//! - [`TlsListener`] wraps the TCP listener for `axum::serve`: TCP_NODELAY, then the handshake
//!   on its own task with a timeout, at most `max_handshakes` at once. A failed or silent
//!   handshake is counted and dropped; the accept loop goes on.
//! - [`TlsFiles::watch`] re-reads the files every `reload_poll_ms`; new content that checks
//!   out is used for new connections (open ones keep theirs), bad content is logged and the
//!   old set kept. Rotation is "write the new files" — no signal, no restart.
//! - Expiry: a leaf certificate that is expired or not yet valid is refused (at start and on
//!   reload); one that expires within [`EXPIRY_WARNING`] is logged as a warning at load and
//!   once a day after, and `mcpflow_tls_certificate_expiry_seconds` tells monitoring how long
//!   is left.
//! - [`ClientCert`]: the names of a verified client certificate, put into every request of
//!   the connection for the auth layer (`[[auth.client_certs]]` maps them to principals).
//!
//! ALPN offers `http/1.1` only: the server stack runs HTTP/1.1 (SSE and WebSocket upgrades).

use axum::serve::Listener;
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;

use crate::{ClientAuth, TlsConfig};

/// Why the TLS files cannot be used; each variant names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("[http.tls] {key} {path}: cannot read it: {source}")]
    Read {
        /// The config key naming the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file holds no usable PEM item of the kind expected.
    #[error("[http.tls] {key} {path}: {message}")]
    Content {
        /// The config key naming the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// rustls refused the certificate / key pair or the client CAs.
    #[error("[http.tls] {message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
    },
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.to_owned(),
        source,
    })
}

fn certificates(
    key: &'static str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Content {
            key,
            path: path.to_owned(),
            message: format!("not valid PEM ({e})"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Content {
            key,
            path: path.to_owned(),
            message: "no certificate in it: expected PEM blocks `-----BEGIN CERTIFICATE-----`"
                .into(),
        });
    }
    Ok(certs)
}

fn private_key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| TlsError::Content {
        key: "key_file",
        path: path.to_owned(),
        message: match e {
            rustls_pki_types::pem::Error::NoItemsFound => "no private key in it: expected a PEM block `-----BEGIN PRIVATE KEY-----` (PKCS#8), `RSA PRIVATE KEY` or `EC PRIVATE KEY`".into(),
            other => format!("not a valid PEM private key ({other})"),
        },
    })
}

/// How long before the certificate's end the server starts warning.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

/// When the leaf certificate (the first in `cert_file`) stops being valid; refuses one that is
/// not valid now — clients would reject it anyway, with a less helpful message.
fn leaf_not_after(path: &Path, leaf: &CertificateDer<'_>) -> Result<SystemTime, TlsError> {
    let invalid = |message: String| TlsError::Content {
        key: "cert_file",
        path: path.to_owned(),
        message,
    };
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| invalid(format!("the first certificate cannot be parsed ({e})")))?;
    let validity = cert.validity();
    let now_secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    if now_secs > validity.not_after.timestamp() {
        return Err(invalid(format!(
            "the certificate expired on {}; install a renewed one",
            validity.not_after
        )));
    }
    if now_secs < validity.not_before.timestamp() {
        return Err(invalid(format!(
            "the certificate is not valid before {}; check this machine's clock or the certificate",
            validity.not_before
        )));
    }
    let not_after = u64::try_from(validity.not_after.timestamp()).unwrap_or(0);
    Ok(UNIX_EPOCH + Duration::from_secs(not_after))
}

/// Publishes how long the certificate has left, and warns when that is under
/// [`EXPIRY_WARNING`].
fn report_expiry(not_after: SystemTime, cert_file: &Path) {
    let left = not_after
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    metrics::gauge!("mcpflow_tls_certificate_expiry_seconds").set(left.as_secs_f64());
    if left < EXPIRY_WARNING {
        tracing::warn!(
            cert_file = %cert_file.display(),
            days_left = left.as_secs() / 86_400,
            "the TLS certificate expires soon; write a renewed one to cert_file (it is picked up without a restart)"
        );
    }
}

/// The one crypto provider of the process: aws-lc-rs, as reqwest and jsonwebtoken use.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The raw bytes of the three files, to notice a change.
#[derive(Clone, PartialEq, Eq)]
struct Contents {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

/// Lengths only: the key must not end up in a log line through `{:?}`.
impl std::fmt::Debug for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contents")
            .field("cert_bytes", &self.cert.len())
            .field("key_bytes", &self.key.len())
            .field("client_ca_bytes", &self.client_ca.as_ref().map(Vec::len))
            .finish()
    }
}

impl Contents {
    fn read(config: &TlsConfig) -> Result<Self, TlsError> {
        Ok(Self {
            cert: read("cert_file", &config.cert_file)?,
            key: read("key_file", &config.key_file)?,
            client_ca: config
                .client_ca_file
                .as_deref()
                .map(|p| read("client_ca_file", p))
                .transpose()?,
        })
    }

    /// Checks the files and builds the rustls server configuration; also returns when the
    /// leaf certificate expires.
    fn build(&self, config: &TlsConfig) -> Result<(Arc<ServerConfig>, SystemTime), TlsError> {
        let chain = certificates("cert_file", &config.cert_file, &self.cert)?;
        let not_after = leaf_not_after(&config.cert_file, &chain[0])?;
        let key = private_key(&config.key_file, &self.key)?;
        let provider = provider();
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config {
                message: format!("no usable protocol version: {e}"),
            })?;
        let builder = match (&config.client_ca_file, &self.client_ca) {
            (Some(path), Some(pem)) => {
                let mut roots = RootCertStore::empty();
                for (i, ca) in certificates("client_ca_file", path, pem)?
                    .into_iter()
                    .enumerate()
                {
                    roots.add(ca).map_err(|e| TlsError::Content {
                        key: "client_ca_file",
                        path: path.clone(),
                        message: format!(
                            "certificate #{} is not a usable CA certificate ({e})",
                            i + 1
                        ),
                    })?;
                }
                let mut verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
                if config.client_auth == ClientAuth::Optional {
                    verifier = verifier.allow_unauthenticated();
                }
                let verifier = verifier.build().map_err(|e| TlsError::Content {
                    key: "client_ca_file",
                    path: path.clone(),
                    message: format!("cannot verify client certificates with it ({e})"),
                })?;
                builder.with_client_cert_verifier(verifier)
            }
            _ => builder.with_no_client_auth(),
        };
        let mut server = builder
            .with_single_cert(chain, key)
            .map_err(|e| TlsError::Config {
                message: match e {
                    rustls::Error::InconsistentKeys(_) => format!(
                        "key_file {} does not belong to the certificate in cert_file {} (the leaf certificate, first in the file, must match the key)",
                        config.key_file.display(),
                        config.cert_file.display()
                    ),
                    other => format!(
                        "cert_file {} with key_file {}: {other}",
                        config.cert_file.display(),
                        config.key_file.display()
                    ),
                },
            })?;
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok((Arc::new(server), not_after))
    }
}

/// The TLS configuration in use, and what it was built from (to reload on change).
#[derive(Debug)]
pub struct TlsFiles {
    config: TlsConfig,
    current: RwLock<Arc<ServerConfig>>,
    /// When the certificate in use expires.
    not_after: RwLock<SystemTime>,
    /// The file contents last looked at (loaded or refused), so a bad set is reported once.
    seen: std::sync::Mutex<Contents>,
}

impl TlsFiles {
    /// Reads and checks the files named by `config`.
    pub fn load(config: &TlsConfig) -> Result<Self, TlsError> {
        if config.client_ca_file.is_none() && config.client_auth == ClientAuth::Optional {
            tracing::debug!("[http.tls] client_auth has no effect without client_ca_file");
        }
        let contents = Contents::read(config)?;
        let (server, not_after) = contents.build(config)?;
        report_expiry(not_after, &config.cert_file);
        Ok(Self {
            config: config.clone(),
            current: RwLock::new(server),
            not_after: RwLock::new(not_after),
            seen: std::sync::Mutex::new(contents),
        })
    }

    /// Whether client certificates are verified (a client CA is configured).
    pub fn verifies_clients(&self) -> bool {
        self.config.client_ca_file.is_some()
    }

    /// Whether a handshake without a valid client certificate is refused.
    pub fn requires_client_cert(&self) -> bool {
        self.verifies_clients() && self.config.client_auth == ClientAuth::Required
    }

    /// When the certificate in use expires.
    pub fn not_after(&self) -> SystemTime {
        *self
            .not_after
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The configuration for the next handshake.
    fn server_config(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Re-reads the files; if their content changed and is valid, new connections use it.
    /// Returns whether a new configuration was installed.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let contents = Contents::read(&self.config)?;
        {
            let mut seen = self
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *seen == contents {
                return Ok(false);
            }
            *seen = contents.clone();
        }
        let (server, not_after) = contents.build(&self.config)?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = server;
        *self
            .not_after
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = not_after;
        report_expiry(not_after, &self.config.cert_file);
        Ok(true)
    }

    /// Polls the files every `reload_poll_ms` until the task is aborted; re-reports the
    /// certificate's remaining lifetime once a day.
    pub(crate) fn watch(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        const DAY: Duration = Duration::from_secs(86_400);
        let every = Duration::from_millis(self.config.reload_poll_ms.max(50));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            let mut reported = Instant::now();
            loop {
                tick.tick().await;
                if reported.elapsed() >= DAY {
                    report_expiry(self.not_after(), &self.config.cert_file);
                    reported = Instant::now();
                }
                let files = self.clone();
                let outcome = tokio::task::spawn_blocking(move || files.reload()).await;
                match outcome {
                    Ok(Ok(false)) => {}
                    Ok(Ok(true)) => {
                        metrics::counter!("mcpflow_tls_reloads_total", "outcome" => "loaded")
                            .increment(1);
                        tracing::info!("TLS certificate reloaded; new connections use it");
                    }
                    Ok(Err(e)) => {
                        metrics::counter!("mcpflow_tls_reloads_total", "outcome" => "refused")
                            .increment(1);
                        tracing::warn!(error = %e, "TLS files changed but cannot be used; still serving the previous certificate");
                    }
                    Err(e) => tracing::warn!(error = %e, "TLS reload task failed"),
                }
            }
        })
    }
}

/// The names of a client certificate verified during the handshake, in every request of that
/// connection's extensions.
#[derive(Debug, Clone)]
pub struct ClientCert(Arc<ClientCertNames>);

#[derive(Debug)]
struct ClientCertNames {
    subject: String,
    names: Vec<String>,
}

impl ClientCert {
    /// Reads the names of a DER certificate; `None` if it cannot be parsed (rustls verified it,
    /// so that does not happen with a sane CA).
    pub fn from_der(der: &[u8]) -> Option<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let mut names: Vec<String> = cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok())
            .map(str::to_owned)
            .collect();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            use x509_parser::extensions::GeneralName;
            for name in &san.value.general_names {
                if let GeneralName::DNSName(n) | GeneralName::URI(n) | GeneralName::RFC822Name(n) =
                    name
                {
                    names.push((*n).to_owned());
                }
            }
        }
        Some(Self(Arc::new(ClientCertNames {
            subject: cert.subject().to_string(),
            names,
        })))
    }

    /// The subject distinguished name, for logs.
    pub fn subject(&self) -> &str {
        &self.0.subject
    }

    /// The subject common name(s), then the DNS / URI / e-mail SANs.
    pub fn names(&self) -> &[String] {
        &self.0.names
    }
}

/// A connection that may carry a verified client certificate.
pub(crate) trait PeerCert {
    /// The client certificate's names, if the client sent one (it was verified if so).
    fn client_cert(&self) -> Option<ClientCert>;
}

impl PeerCert for TcpStream {
    fn client_cert(&self) -> Option<ClientCert> {
        None
    }
}

impl PeerCert for TlsStream<TcpStream> {
    fn client_cert(&self) -> Option<ClientCert> {
        let (_, connection) = self.get_ref();
        let leaf = connection.peer_certificates()?.first()?;
        ClientCert::from_der(leaf)
    }
}

type Handshake = Option<(TlsStream<TcpStream>, SocketAddr)>;

/// A TCP listener that hands `axum::serve` only connections whose TLS handshake finished.
#[derive(Debug)]
pub(crate) struct TlsListener {
    tcp: TcpListener,
    files: Arc<TlsFiles>,
    handshakes: JoinSet<Handshake>,
    timeout: Duration,
    max: usize,
}

impl TlsListener {
    pub(crate) fn new(tcp: TcpListener, files: Arc<TlsFiles>) -> Self {
        let timeout = Duration::from_secs(files.config.handshake_timeout_secs.max(1));
        let max = files.config.max_handshakes.max(1);
        Self {
            tcp,
            files,
            handshakes: JoinSet::new(),
            timeout,
            max,
        }
    }

    fn start_handshake(&mut self, tcp: TcpStream, peer: SocketAddr) {
        // Without it, small replies wait up to 40 ms for the peer's delayed ACK.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
        let acceptor = tokio_rustls::TlsAcceptor::from(self.files.server_config());
        let timeout = self.timeout;
        self.handshakes.spawn(async move {
            match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => Some((stream, peer)),
                Ok(Err(e)) => {
                    metrics::counter!("mcpflow_tls_handshake_failures_total", "reason" => "refused")
                        .increment(1);
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    None
                }
                Err(_) => {
                    metrics::counter!("mcpflow_tls_handshake_failures_total", "reason" => "timeout")
                        .increment(1);
                    tracing::debug!(%peer, ?timeout, "TLS handshake timed out");
                    None
                }
            }
        });
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let room = self.handshakes.len() < self.max;
            tokio::select! {
                biased;
                Some(done) = self.handshakes.join_next() => {
                    if let Ok(Some(connection)) = done {
                        return connection;
                    }
                }
                accepted = self.tcp.accept(), if room => match accepted {
                    Ok((tcp, peer)) => self.start_handshake(tcp, peer),
                    Err(e) => accept_error(e).await,
                },
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Per-connection errors are the client's problem; others (out of file descriptors) get a
/// pause so the loop does not spin, as axum's own listener does.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept error; pausing 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
