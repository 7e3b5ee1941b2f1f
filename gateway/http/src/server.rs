//! A bounded HTTPS/1.1 server: TLS accept, connection slots, timeouts, graceful shutdown.
//!
//! Layering: the accept loop only hands TCP streams to connection tasks; a connection task does
//! the TLS handshake (bounded by the handshake timeout), then runs hyper's HTTP/1.1 state machine
//! whose service checks the declared body size and calls the [`Handler`].
//!
//! Back-pressure is explicit and bounded: `max_connections` slots serve normally; while all are
//! taken, up to `overload_connections` further clients get a fast `503` with `Retry-After`;
//! beyond that a connection is closed at once. Nothing waits in an unbounded queue.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls_pki_types::CertificateDer;
use sdkgw_certs::{CertError, Certificate};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::body::{OutBody, RequestBody};
use crate::metrics::{HandshakeFailure, ServerMetrics};
use crate::tls::ReloadableServerConfig;

/// hyper's per-connection read buffer (it grows to this from 8 KiB under sustained input).
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// The largest body limit we accept (DIGG's Domibus P-Mode: `maxSize="2147483647"`).
pub const MAX_BODY_LIMIT: u64 = 2 * 1024 * 1024 * 1024;

/// Limits and timeouts of one listener.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Connections served concurrently (each holds a slot from TCP accept to close).
    pub max_connections: usize,
    /// Extra connections answered `503 Service Unavailable` while every slot is taken.
    pub overload_connections: usize,
    /// `Retry-After` sent with a 503.
    pub retry_after: Duration,
    /// Time allowed for the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time allowed to receive a request head; also how long an idle keep-alive connection
    /// is kept (hyper starts this timer while waiting for the next request).
    pub header_read_timeout: Duration,
    /// Longest pause between two pieces of a request body.
    pub body_idle_timeout: Duration,
    /// Hard cap on a request body (≥ 100 MB for AS4, TP-2.8.a; at most [`MAX_BODY_LIMIT`]).
    pub max_body_bytes: u64,
    /// Cap on the request head (request line + headers), answered with 431 by hyper.
    pub max_header_bytes: usize,
    /// On shutdown, how long in-flight requests may run before connections are cut.
    pub shutdown_grace: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            max_connections: 256,
            overload_connections: 64,
            retry_after: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(60),
            max_body_bytes: 256 * 1024 * 1024,
            max_header_bytes: 64 * 1024,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Invalid [`ServerSettings`].
#[derive(Debug, thiserror::Error)]
pub enum ServerSettingsError {
    /// `max_body_bytes` above [`MAX_BODY_LIMIT`].
    #[error("max_body_bytes {0} exceeds the maximum of {MAX_BODY_LIMIT}")]
    BodyLimitTooLarge(u64),
    /// `max_connections` is zero.
    #[error("max_connections must be at least 1")]
    NoConnections,
    /// `max_header_bytes` below 8 KiB, too small for the heads real clients send.
    #[error("max_header_bytes must be at least 8192")]
    HeaderLimitTooSmall,
}

impl ServerSettings {
    fn validate(&self) -> Result<(), ServerSettingsError> {
        if self.max_body_bytes > MAX_BODY_LIMIT {
            return Err(ServerSettingsError::BodyLimitTooLarge(self.max_body_bytes));
        }
        if self.max_connections == 0 {
            return Err(ServerSettingsError::NoConnections);
        }
        if self.max_header_bytes < 8192 {
            return Err(ServerSettingsError::HeaderLimitTooSmall);
        }
        Ok(())
    }
}

/// What the handler knows about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The peer's address.
    pub remote_addr: SocketAddr,
    /// The client's certificate chain as presented (leaf first), already verified by rustls
    /// against the listener's trust store; empty on listeners without client authentication.
    pub peer_certificates: Vec<CertificateDer<'static>>,
    /// Negotiated TLS version.
    pub protocol_version: Option<rustls::ProtocolVersion>,
    /// Negotiated cipher suite.
    pub cipher_suite: Option<rustls::CipherSuite>,
    /// SNI host name the client asked for.
    pub server_name: Option<String>,
    /// Whether the TLS session was resumed. The peer chain is then the one verified in the
    /// original handshake; swapping in a new rustls config (e.g. after a CRL refresh) starts a
    /// new session cache, so revocation is never older than the config in use.
    pub resumed: bool,
}

impl ConnectionInfo {
    /// The client's chain parsed into [`Certificate`]s (leaf first).
    pub fn peer_chain(&self) -> Result<Vec<Certificate>, CertError> {
        self.peer_certificates
            .iter()
            .map(|der| Certificate::from_der(der.as_ref()))
            .collect()
    }

    fn from_tls(remote_addr: SocketAddr, conn: &rustls::ServerConnection) -> Self {
        Self {
            remote_addr,
            peer_certificates: conn
                .peer_certificates()
                .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
                .unwrap_or_default(),
            protocol_version: conn.protocol_version(),
            cipher_suite: conn.negotiated_cipher_suite().map(|s| s.suite()),
            server_name: conn.server_name().map(str::to_owned),
            resumed: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        }
    }
}

/// Application logic for one listener.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request. The body streams from the peer and stops with a
    /// [`crate::BodyError`] at the listener's limit or on a stall.
    fn handle(
        &self,
        request: Request<RequestBody>,
        connection: Arc<ConnectionInfo>,
    ) -> impl Future<Output = Response<OutBody>> + Send;
}

/// A bound listener, ready to [`serve`](Server::serve).
pub struct Server {
    listener: TcpListener,
    /// `None`: plain HTTP ([`Server::bind_plain`]). Read at every TLS accept.
    tls: Option<Arc<ReloadableServerConfig>>,
    settings: Arc<ServerSettings>,
    metrics: Arc<ServerMetrics>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds `addr` (use port 0 for tests) with the given rustls config.
    pub async fn bind(
        addr: SocketAddr,
        tls: Arc<rustls::ServerConfig>,
        settings: ServerSettings,
    ) -> Result<Self, BindError> {
        Self::bind_reloadable(addr, ReloadableServerConfig::new(tls), settings).await
    }

    /// Binds `addr` with a config that may be replaced while serving: each new connection
    /// is accepted with the config current at that moment (key rotation, CRL refresh).
    pub async fn bind_reloadable(
        addr: SocketAddr,
        tls: Arc<ReloadableServerConfig>,
        settings: ServerSettings,
    ) -> Result<Self, BindError> {
        settings.validate()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| BindError::Io { addr, source })?;
        Ok(Self {
            listener,
            tls: Some(tls),
            settings: Arc::new(settings),
            metrics: Arc::new(ServerMetrics::default()),
        })
    }

    /// Binds `addr` for plain HTTP (no TLS): the same slots, limits, timeouts and shutdown.
    /// Only for listeners on a trusted network segment (the admin listener's `/metrics` and
    /// probes on 127.0.0.1 or a pod network); peers never get one.
    pub async fn bind_plain(addr: SocketAddr, settings: ServerSettings) -> Result<Self, BindError> {
        settings.validate()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| BindError::Io { addr, source })?;
        Ok(Self {
            listener,
            tls: None,
            settings: Arc::new(settings),
            metrics: Arc::new(ServerMetrics::default()),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The listener's counters (for `/metrics`).
    pub fn metrics(&self) -> Arc<ServerMetrics> {
        self.metrics.clone()
    }

    /// Accepts and serves connections until `shutdown` completes, then stops accepting, lets
    /// in-flight requests finish within `shutdown_grace`, and cuts what is left.
    pub async fn serve<H: Handler>(self, handler: Arc<H>, shutdown: impl Future<Output = ()>) {
        let slots = Arc::new(Semaphore::new(self.settings.max_connections));
        let overload = Arc::new(Semaphore::new(self.settings.overload_connections));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                accepted = self.listener.accept() => {
                    let (tcp, remote) = match accepted {
                        Ok(pair) => pair,
                        Err(e) => {
                            // EMFILE and friends: back off instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let slot = if let Ok(p) = slots.clone().try_acquire_owned() {
                        Slot { _permit: p, overloaded: false }
                    } else if let Ok(p) = overload.clone().try_acquire_owned() {
                        self.metrics.record_overload_rejected();
                        Slot { _permit: p, overloaded: true }
                    } else {
                        self.metrics.record_overload_dropped();
                        drop(tcp);
                        continue;
                    };
                    let conn = Connection {
                        tls: self.tls.clone(),
                        settings: self.settings.clone(),
                        metrics: self.metrics.clone(),
                        stop: stop_rx.clone(),
                    };
                    tasks.spawn(conn.run(tcp, remote, slot, handler.clone()));
                }
            }
        }
        drop(self.listener);
        let _ = stop_tx.send(true);
        let drained = tokio::time::timeout(self.settings.shutdown_grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                remaining = tasks.len(),
                "shutdown grace elapsed; closing connections"
            );
            tasks.shutdown().await;
        }
    }
}

/// Why [`Server::bind`] failed.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Invalid settings.
    #[error(transparent)]
    Settings(#[from] ServerSettingsError),
    /// The socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Io {
        /// The requested address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
}

/// A connection's slot; the permit returns to its semaphore when the connection task ends.
struct Slot {
    _permit: OwnedSemaphorePermit,
    overloaded: bool,
}

struct Connection {
    tls: Option<Arc<ReloadableServerConfig>>,
    settings: Arc<ServerSettings>,
    metrics: Arc<ServerMetrics>,
    stop: watch::Receiver<bool>,
}

/// Decrements the active-connection gauge however the task ends.
struct ActiveGuard(Arc<ServerMetrics>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.connection_closed();
    }
}

impl Connection {
    async fn run<H: Handler>(
        self,
        tcp: TcpStream,
        remote: SocketAddr,
        slot: Slot,
        handler: Arc<H>,
    ) {
        self.metrics.connection_opened();
        let _active = ActiveGuard(self.metrics.clone());
        let _ = tcp.set_nodelay(true);
        let Some(tls) = self.tls.as_ref() else {
            let info = Arc::new(ConnectionInfo {
                remote_addr: remote,
                peer_certificates: Vec::new(),
                protocol_version: None,
                cipher_suite: None,
                server_name: None,
                resumed: false,
            });
            return self.serve_http(tcp, info, remote, slot, handler).await;
        };
        let acceptor = TlsAcceptor::from(tls.current());
        let tls = match tokio::time::timeout(self.settings.handshake_timeout, acceptor.accept(tcp))
            .await
        {
            Err(_) => {
                self.metrics
                    .record_handshake_failure(HandshakeFailure::Timeout);
                return;
            }
            Ok(Err(e)) => {
                let reason = HandshakeFailure::from_io_error(&e);
                self.metrics.record_handshake_failure(reason);
                tracing::info!(peer = %remote, reason = reason.label(), error = %e, "TLS handshake failed");
                return;
            }
            Ok(Ok(tls)) => tls,
        };
        self.metrics.record_handshake_completed();
        let info = Arc::new(ConnectionInfo::from_tls(remote, tls.get_ref().1));
        self.serve_http(tls, info, remote, slot, handler).await;
    }

    /// HTTP/1.1 on an established (TLS or plain) stream.
    async fn serve_http<H: Handler, IO>(
        self,
        io: IO,
        info: Arc<ConnectionInfo>,
        remote: SocketAddr,
        slot: Slot,
        handler: Arc<H>,
    ) where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.settings.header_read_timeout)
            // hyper's read buffer bounds the memory of each connection (default ~400 KiB);
            // 64 KiB keeps 256 busy uploads near 16 MiB of buffers for a few % of throughput.
            .max_buf_size(self.settings.max_header_bytes.max(READ_BUFFER_BYTES))
            .max_header_size(self.settings.max_header_bytes);
        let settings = self.settings.clone();
        let metrics = self.metrics.clone();
        let overloaded = slot.overloaded;
        builder.keep_alive(!overloaded);
        let service = service_fn(move |req: Request<Incoming>| {
            let handler = handler.clone();
            let info = info.clone();
            let settings = settings.clone();
            let metrics = metrics.clone();
            async move {
                let response = if overloaded {
                    service_unavailable(&settings)
                } else {
                    dispatch(&*handler, req, info, &settings, &metrics).await
                };
                Ok::<_, Infallible>(response)
            }
        });
        let conn = builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let mut stop = self.stop;
        tokio::select! {
            result = conn.as_mut() => log_connection_end(remote, result),
            () = until_stopped(&mut stop) => {
                conn.as_mut().graceful_shutdown();
                log_connection_end(remote, conn.await);
            }
        }
        drop(slot);
    }
}

async fn until_stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the server is gone: stop as well.
    let _ = stop.wait_for(|stopping| *stopping).await;
}

fn log_connection_end(remote: SocketAddr, result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        tracing::debug!(peer = %remote, error = %e, "connection ended with an error");
    }
}

async fn dispatch<H: Handler>(
    handler: &H,
    req: Request<Incoming>,
    info: Arc<ConnectionInfo>,
    settings: &ServerSettings,
    metrics: &ServerMetrics,
) -> Response<OutBody> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > settings.max_body_bytes) {
        metrics.record_body_too_large();
        return plain_response(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
    }
    let (parts, body) = req.into_parts();
    let body = RequestBody::new(body, settings.max_body_bytes, settings.body_idle_timeout);
    handler.handle(Request::from_parts(parts, body), info).await
}

fn service_unavailable(settings: &ServerSettings) -> Response<OutBody> {
    let mut response = plain_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "server busy, retry later\n",
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(settings.retry_after.as_secs()),
    );
    response
}

/// A small text response that also closes the connection (used for refusals).
pub fn plain_response(status: StatusCode, text: &'static str) -> Response<OutBody> {
    let mut response = Response::new(OutBody::full(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
