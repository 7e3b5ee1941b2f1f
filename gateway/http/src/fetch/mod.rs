//! Revocation data over HTTP: the [`RevocationFetcher`] implements `sdkgw-xml-security`'s
//! [`CrlFetcher`] (CRLs from distribution points) and [`OcspClient`] (RFC 6960 over HTTP POST),
//! for `http://` and `https://` URLs, with timeouts, size caps and redirects only within the
//! same host.
//!
//! # Sync trait, async runtime
//!
//! Path validation is synchronous and runs inside async handlers (AS4 receive, address-book
//! lookups), so the traits are sync. The fetcher therefore does all network I/O on **one
//! dedicated thread** (`sdkgw-revocation`, with its own current-thread tokio runtime) and keeps
//! what it fetched in memory:
//!
//! * a call is answered from memory whenever it can be: a CRL until its nextUpdate, an OCSP
//!   answer until its nextUpdate (at most `refresh_interval`); a source that failed recently
//!   (exponential backoff from `retry_after`) is not asked again — the caller gets the last good
//!   CRL (marked stale; the checker applies its grace) or the error at once;
//! * the background thread refreshes what is in use (asked for within the last 24 hours) every
//!   `refresh_interval` and from `refresh_ahead` before nextUpdate, so in steady state a
//!   validation never waits for the network;
//! * only a first use (or a source whose data ran out while it was reachable) waits for the
//!   network, at most connect + request timeout. On a multi-threaded tokio runtime the wait
//!   runs inside `tokio::task::block_in_place`, so the worker hands its other tasks to the
//!   runtime instead of stalling them; outside a runtime (CLI, `config check`) it simply
//!   blocks. A current-thread runtime's only thread is blocked for that time (tests, tools);
//!   the fetch itself never runs on the caller's runtime, so this cannot deadlock.
//!
//! Concurrent callers for the same URL share one request. The last good CRL of every
//! distribution point is written to `cache_dir` (atomically: temporary file, fsync, rename),
//! and read back at start, so a restart during a CRL outage keeps working until nextUpdate plus
//! the configured grace. Before a CRL is kept or written it must parse and — once the issuer
//! is known — carry the issuer's valid signature and be at least as new as the copy held, so a
//! forged or replayed CRL never replaces the last good one. Failures are counted
//! ([`RevocationFetcher::metrics`]) for `/metrics`.

mod state;
mod worker;

use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use sdkgw_certs::Certificate;
use sdkgw_xml_security::x509::{
    CrlFetcher, FetchError, FetchedCrl, OcspClient, OcspRequest, OcspResponse,
};
use time::OffsetDateTime;

use state::Shared;
pub use state::{CrlSourceStatus, FetchMetrics};

/// The clock the fetcher judges nextUpdate, backoff and refresh times by.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// How revocation sources are fetched.
#[derive(Clone)]
pub struct FetchSettings {
    /// TCP connect (plus TLS handshake for `https://`).
    pub connect_timeout: Duration,
    /// The whole request.
    pub request_timeout: Duration,
    /// Largest CRL accepted (DIGG's and SITHS' CRLs are far smaller).
    pub max_crl_bytes: u64,
    /// Largest OCSP response accepted.
    pub max_ocsp_bytes: u64,
    /// In-use CRLs and OCSP answers are fetched again after this long.
    pub refresh_interval: Duration,
    /// … and from this long before their nextUpdate.
    pub refresh_ahead: Duration,
    /// Least time between two successful fetches of one URL.
    pub min_refetch: Duration,
    /// First wait after a failure; doubles per consecutive failure up to `refresh_interval`.
    pub retry_after: Duration,
    /// How often the background thread looks for due refreshes.
    pub tick: Duration,
    /// Where the last good CRLs are kept across restarts (None: memory only).
    pub cache_dir: Option<PathBuf>,
    /// Trust for `https://` distribution points and responders (public web PKI, usually).
    pub tls: Arc<rustls::ClientConfig>,
    /// Send a nonce in OCSP requests (an echoed nonce must match; a missing echo is accepted).
    pub ocsp_nonce: bool,
    /// Current time (tests move it).
    pub clock: Clock,
}

impl FetchSettings {
    /// Defaults: 5 s connect, 15 s request, 32 MiB CRLs, 64 KiB OCSP answers, refresh hourly
    /// and from 1 h before nextUpdate, at least 5 min between fetches, retry from 60 s, tick
    /// 30 s, no cache directory, nonces on.
    pub fn new(tls: Arc<rustls::ClientConfig>) -> Self {
        FetchSettings {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            max_crl_bytes: 32 << 20,
            max_ocsp_bytes: 64 << 10,
            refresh_interval: Duration::from_secs(3600),
            refresh_ahead: Duration::from_secs(3600),
            min_refetch: Duration::from_secs(300),
            retry_after: Duration::from_secs(60),
            tick: Duration::from_secs(30),
            cache_dir: None,
            tls,
            ocsp_nonce: true,
            clock: Arc::new(OffsetDateTime::now_utc),
        }
    }
}

/// A TLS client configuration that trusts no server, for when no CA bundle is available:
/// `https://` sources then fail (and are reported), `http://` ones work.
pub fn trust_nothing() -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    Ok(Arc::new(config))
}

impl std::fmt::Debug for FetchSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchSettings")
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_crl_bytes", &self.max_crl_bytes)
            .field("max_ocsp_bytes", &self.max_ocsp_bytes)
            .field("refresh_interval", &self.refresh_interval)
            .field("refresh_ahead", &self.refresh_ahead)
            .field("min_refetch", &self.min_refetch)
            .field("retry_after", &self.retry_after)
            .field("tick", &self.tick)
            .field("cache_dir", &self.cache_dir)
            .field("ocsp_nonce", &self.ocsp_nonce)
            .finish_non_exhaustive()
    }
}

/// Why a fetcher could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the revocation cache directory {path}: {source}")]
    CacheDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot start the revocation fetch thread: {0}")]
    Thread(std::io::Error),
}

/// Fetches CRLs and OCSP answers over HTTP(S); see the module documentation. One per process
/// is enough (share it with `Arc` between the roles' revocation checkers): the URLs are
/// global, and so is the cache directory. Dropping the last handle stops its thread.
pub struct RevocationFetcher {
    shared: Arc<Shared>,
    commands: tokio::sync::mpsc::UnboundedSender<worker::Command>,
}

impl std::fmt::Debug for RevocationFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationFetcher")
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

impl RevocationFetcher {
    /// Starts the fetch thread, after reading the CRLs persisted in `settings.cache_dir`.
    pub fn start(settings: FetchSettings) -> Result<Arc<Self>, StartError> {
        if let Some(dir) = &settings.cache_dir {
            std::fs::create_dir_all(dir).map_err(|source| StartError::CacheDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let shared = Arc::new(Shared::new(settings));
        shared.load_persisted();
        let (commands, rx) = tokio::sync::mpsc::unbounded_channel();
        worker::spawn(Arc::clone(&shared), rx).map_err(StartError::Thread)?;
        Ok(Arc::new(RevocationFetcher { shared, commands }))
    }

    /// Failure and fetch counters.
    pub fn metrics(&self) -> FetchMetrics {
        self.shared.counters.snapshot()
    }

    /// What is known about each CRL source (for operators and `config check`).
    pub fn crl_sources(&self) -> Vec<CrlSourceStatus> {
        self.shared.crl_sources()
    }

    /// Runs one background refresh round now and waits for it (tests, `sdkgw` tooling).
    pub fn refresh_now(&self) {
        let (done, wait) = mpsc::channel();
        if self.commands.send(worker::Command::Refresh(done)).is_ok() {
            let _ = self.wait(&wait, 4);
        }
    }

    /// Waits for one job's completion signal, for at most `rounds` request timeouts.
    fn wait(&self, rx: &mpsc::Receiver<()>, rounds: u32) -> Result<(), mpsc::RecvTimeoutError> {
        let s = &self.shared.settings;
        let limit = (s.connect_timeout + s.request_timeout) * rounds + Duration::from_secs(1);
        let recv = || rx.recv_timeout(limit);
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(recv)
            }
            _ => recv(),
        }
    }

    /// Asks the fetch thread for `key` (joining a request in flight) and waits for it.
    fn fetch_and_wait(&self, key: state::Key, command: impl FnOnce() -> worker::Command) {
        let (done, wait) = mpsc::channel();
        if self.shared.join_or_start(&key, done) && self.commands.send(command()).is_err() {
            self.shared.finish(&key);
        }
        let _ = self.wait(&wait, 1);
    }
}

impl CrlFetcher for RevocationFetcher {
    fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.crl(url, None).map(|f| f.bytes)
    }

    fn fetch_for(&self, url: &str, issuer: &Certificate) -> Result<FetchedCrl, FetchError> {
        self.crl(url, Some(issuer))
    }
}

impl RevocationFetcher {
    fn crl(&self, url: &str, issuer: Option<&Certificate>) -> Result<FetchedCrl, FetchError> {
        match self.shared.crl_answer(url, issuer) {
            state::Answer::Ready(result) => result,
            state::Answer::Fetch => {
                let key = state::Key::Crl(url.to_owned());
                self.fetch_and_wait(key, || worker::Command::Crl(url.to_owned()));
                self.shared.crl_after_fetch(url)
            }
        }
    }
}

impl OcspClient for RevocationFetcher {
    fn query(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        url: &str,
    ) -> Result<OcspResponse, FetchError> {
        let id = OcspRequest::new(cert, issuer, false)
            .map_err(|e| FetchError(e.to_string()))?
            .cert_id_der()
            .to_vec();
        let key = state::Key::Ocsp(url.to_owned(), id);
        if let Some(result) = self.shared.ocsp_answer(&key, cert, issuer) {
            return result;
        }
        let command = || worker::Command::Ocsp(key.clone());
        self.fetch_and_wait(key.clone(), command);
        self.shared.ocsp_after_fetch(&key)
    }
}
