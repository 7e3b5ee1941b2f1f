//! An HTTPS/1.1 client for AS4 sends and SMP lookups: one connection per request, mutual TLS,
//! connect and overall timeouts, a response size cap, and errors classified so the callers'
//! retry policies (AS4 reception awareness, SMP transient/permanent) can decide.
//!
//! With [`ClientSettings::allow_plain_http`] it also speaks plain `http://`, with the same
//! timeouts, caps and redirect rules: CRL distribution points and OCSP responders are
//! normally plain HTTP (their content is signed). AS4 and SMP clients never enable it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::body::{LimitedError, OutBody, collect_limited};

/// What to do with a 3xx answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedirectPolicy {
    /// Return the 3xx response to the caller (default; AS4 endpoints never redirect).
    #[default]
    Never,
    /// Follow up to `max` redirects that stay on the same scheme, host and port, for requests
    /// whose body is in memory (so it can be sent again).
    SameHost {
        /// Most redirects followed for one request.
        max: u8,
    },
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// rustls client config (see [`crate::tls::client_config`]).
    pub tls: Arc<rustls::ClientConfig>,
    /// Time for TCP connect plus TLS handshake.
    pub connect_timeout: Duration,
    /// Deadline for the whole exchange, connect through the last response byte. Scale it with
    /// the request size for large AS4 messages.
    pub request_timeout: Duration,
    /// Largest response body accepted (receipts and SMP documents are small).
    pub max_response_bytes: u64,
    /// Redirect handling.
    pub redirects: RedirectPolicy,
    /// Also accept `http://` URLs (plain TCP). Only for signed content (CRLs, OCSP).
    pub allow_plain_http: bool,
}

impl ClientSettings {
    /// Defaults: 10 s connect, 5 min overall, 16 MiB responses, no redirects.
    pub fn new(tls: Arc<rustls::ClientConfig>) -> Self {
        Self {
            tls,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(300),
            max_response_bytes: 16 * 1024 * 1024,
            redirects: RedirectPolicy::Never,
            allow_plain_http: false,
        }
    }
}

/// How a request failed; see [`ClientError::kind`].
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not an absolute `https://` URL (or `http://`, where allowed) with a host.
    #[error("invalid URL '{url}': {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Name resolution or TCP connect failed (refused, unreachable, no such host).
    #[error("cannot connect to {authority}: {source}")]
    Connect {
        /// host:port.
        authority: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// TCP connect plus TLS handshake did not finish within `connect_timeout`.
    #[error("connecting to {authority} timed out after {after:?}")]
    ConnectTimeout {
        /// host:port.
        authority: String,
        /// The configured timeout.
        after: Duration,
    },
    /// The TLS handshake failed: the server certificate is not trusted, expired, revoked or
    /// for another name, or the server refused our certificate or protocol.
    #[error("TLS with {authority} failed: {source}")]
    Tls {
        /// host:port.
        authority: String,
        /// The rustls error.
        source: rustls::Error,
    },
    /// The whole exchange did not finish within `request_timeout`.
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    /// The connection broke or the server spoke broken HTTP after the handshake.
    #[error("HTTP exchange failed: {0}")]
    Protocol(#[source] hyper::Error),
    /// Reading our own request body (e.g. the spooled AS4 message file) failed.
    #[error("reading the request body failed: {0}")]
    RequestBody(#[source] hyper::Error),
    /// The response body exceeded `max_response_bytes`.
    #[error("response body exceeds {limit} bytes")]
    ResponseTooLarge {
        /// The configured cap.
        limit: u64,
    },
    /// A redirect was not followed (other host, streamed body, or too many).
    #[error("redirect to '{location}' not followed: {reason}")]
    Redirect {
        /// The Location header.
        location: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The server answered with a non-success status ([`error_for_status`]).
    #[error("server answered {status}")]
    Status {
        /// The status code.
        status: StatusCode,
        /// The response body (bounded by `max_response_bytes`).
        body: Bytes,
    },
}

/// Coarse classes of [`ClientError`] for retry decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input on our side; retrying cannot help.
    InvalidRequest,
    /// Could not reach the server (includes connect timeouts).
    Connect,
    /// TLS handshake failure.
    Tls,
    /// Deadline for the exchange passed.
    Timeout,
    /// Connection lost or broken HTTP after connecting.
    Protocol,
    /// Response larger than allowed.
    ResponseTooLarge,
    /// Redirect refused.
    Redirect,
    /// Non-success HTTP status.
    Status,
}

impl ClientError {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidUrl { .. } | Self::RequestBody(_) => ErrorKind::InvalidRequest,
            Self::Connect { .. } | Self::ConnectTimeout { .. } => ErrorKind::Connect,
            Self::Tls { .. } => ErrorKind::Tls,
            Self::Timeout(_) => ErrorKind::Timeout,
            Self::Protocol(_) => ErrorKind::Protocol,
            Self::ResponseTooLarge { .. } => ErrorKind::ResponseTooLarge,
            Self::Redirect { .. } => ErrorKind::Redirect,
            Self::Status { .. } => ErrorKind::Status,
        }
    }

    /// Whether the same request may succeed later without any configuration change:
    /// connect failures, timeouts, lost connections, TLS failures that are not about
    /// certificates, and 408/429/5xx statuses. Certificate problems, bad URLs, oversized
    /// responses, refused redirects and other statuses are permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::ConnectTimeout { .. } | Self::Timeout(_) => true,
            Self::Protocol(_) => true,
            Self::Tls { source, .. } => !tls_error_is_permanent(source),
            Self::Status { status, .. } => status_is_transient(*status),
            Self::InvalidUrl { .. }
            | Self::RequestBody(_)
            | Self::ResponseTooLarge { .. }
            | Self::Redirect { .. } => false,
        }
    }
}

/// Certificate and version problems on either side need someone to change a configuration.
fn tls_error_is_permanent(err: &rustls::Error) -> bool {
    use rustls::AlertDescription as A;
    match err {
        rustls::Error::InvalidCertificate(_)
        | rustls::Error::NoCertificatesPresented
        | rustls::Error::PeerIncompatible(_) => true,
        rustls::Error::AlertReceived(alert) => matches!(
            alert,
            A::BadCertificate
                | A::UnsupportedCertificate
                | A::CertificateRevoked
                | A::CertificateExpired
                | A::CertificateUnknown
                | A::UnknownCA
                | A::AccessDenied
                | A::CertificateRequired
                | A::ProtocolVersion
                | A::InsufficientSecurity
        ),
        _ => false,
    }
}

/// 408, 429 and 5xx are worth retrying.
pub fn status_is_transient(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

/// Turns a non-2xx response into [`ClientError::Status`] (for callers like the SMP client
/// that want only successful bodies; the AS4 sender reads error bodies for eb:Error signals).
pub fn error_for_status(response: Response<Bytes>) -> Result<Response<Bytes>, ClientError> {
    if response.status().is_success() {
        Ok(response)
    } else {
        let status = response.status();
        Err(ClientError::Status {
            status,
            body: response.into_body(),
        })
    }
}

/// The HTTPS client. Cheap to clone; holds no connections between requests.
#[derive(Clone)]
pub struct HttpsClient {
    settings: Arc<ClientSettings>,
    connector: TlsConnector,
}

impl std::fmt::Debug for HttpsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

struct Target {
    host: String,
    port: u16,
    authority: Authority,
    /// `https://` (else plain `http://`).
    tls: bool,
}

impl HttpsClient {
    /// A client with the given settings.
    pub fn new(settings: ClientSettings) -> Self {
        let connector = TlsConnector::from(settings.tls.clone());
        Self {
            settings: Arc::new(settings),
            connector,
        }
    }

    /// Sends `request` (absolute `https://` URI, or `http://` where allowed) and reads the
    /// response body up to the cap.
    /// Any HTTP status is returned as a response; transport problems are errors.
    pub async fn send(&self, request: Request<OutBody>) -> Result<Response<Bytes>, ClientError> {
        let deadline = self.settings.request_timeout;
        tokio::time::timeout(deadline, self.send_following(request))
            .await
            .unwrap_or(Err(ClientError::Timeout(deadline)))
    }

    async fn send_following(
        &self,
        request: Request<OutBody>,
    ) -> Result<Response<Bytes>, ClientError> {
        let mut redirects_left = match self.settings.redirects {
            RedirectPolicy::Never => 0,
            RedirectPolicy::SameHost { max } => max,
        };
        let (parts, body) = request.into_parts();
        let replay = body.replayable();
        let mut next = Request::from_parts(parts.clone(), body);
        loop {
            let uri = next.uri().clone();
            let response = self.exchange(next).await?;
            if !response.status().is_redirection()
                || self.settings.redirects == RedirectPolicy::Never
            {
                return Ok(response);
            }
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let refuse = |reason| {
                Err(ClientError::Redirect {
                    location: location.clone(),
                    reason,
                })
            };
            if redirects_left == 0 {
                return refuse("too many redirects");
            }
            redirects_left -= 1;
            let Some(body) = replay.clone() else {
                return refuse("request body cannot be replayed");
            };
            let Some(target) = resolve_location(&uri, &location) else {
                return refuse("location is not on the same scheme, host and port");
            };
            let mut again = Request::from_parts(
                parts.clone(),
                body.map_or_else(OutBody::empty, OutBody::full),
            );
            *again.uri_mut() = target;
            if response.status() == StatusCode::SEE_OTHER {
                *again.method_mut() = Method::GET;
                *again.body_mut() = OutBody::empty();
            }
            next = again;
        }
    }

    async fn exchange(&self, request: Request<OutBody>) -> Result<Response<Bytes>, ClientError> {
        let target = target_of(request.uri(), self.settings.allow_plain_http)?;
        if target.tls {
            let io = self.connect(&target).await?;
            self.exchange_on(io, &target, request).await
        } else {
            let after = self.settings.connect_timeout;
            let io = tokio::time::timeout(after, tcp_connect(&target))
                .await
                .unwrap_or_else(|_| {
                    Err(ClientError::ConnectTimeout {
                        authority: target.authority.to_string(),
                        after,
                    })
                })?;
            self.exchange_on(io, &target, request).await
        }
    }

    async fn exchange_on<IO>(
        &self,
        io: IO,
        target: &Target,
        mut request: Request<OutBody>,
    ) -> Result<Response<Bytes>, ClientError>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| transport_error(target, e))?;
        let driver = tokio::spawn(conn);
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        *request.uri_mut() = path.parse().map_err(|_| ClientError::InvalidUrl {
            url: path.clone(),
            reason: "bad path",
        })?;
        if let Ok(host) = HeaderValue::from_str(target.authority.as_str()) {
            request.headers_mut().insert(header::HOST, host);
        }
        let result = async {
            let response = sender.send_request(request).await.map_err(|e| {
                if e.is_user() {
                    ClientError::RequestBody(e)
                } else {
                    transport_error(target, e)
                }
            })?;
            let (parts, body) = response.into_parts();
            let limit = self.settings.max_response_bytes;
            let bytes = collect_limited(body, limit).await.map_err(|e| match e {
                LimitedError::TooLarge => ClientError::ResponseTooLarge { limit },
                LimitedError::Transport(e) => transport_error(target, e),
            })?;
            Ok(Response::from_parts(parts, bytes))
        }
        .await;
        driver.abort();
        result
    }

    async fn connect(
        &self,
        target: &Target,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ClientError> {
        let authority = target.authority.to_string();
        let after = self.settings.connect_timeout;
        let attempt = async {
            let tcp = tcp_connect(target).await?;
            let name =
                ServerName::try_from(target.host.clone()).map_err(|_| ClientError::InvalidUrl {
                    url: authority.clone(),
                    reason: "host is not a valid DNS name or IP address",
                })?;
            self.connector.connect(name, tcp).await.map_err(|e| {
                let tls = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                    .cloned();
                match tls {
                    Some(source) => ClientError::Tls {
                        authority: authority.clone(),
                        source,
                    },
                    None => ClientError::Connect {
                        authority: authority.clone(),
                        source: e,
                    },
                }
            })
        };
        tokio::time::timeout(after, attempt)
            .await
            .unwrap_or_else(|_| {
                Err(ClientError::ConnectTimeout {
                    authority: authority.clone(),
                    after,
                })
            })
    }
}

async fn tcp_connect(target: &Target) -> Result<TcpStream, ClientError> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|source| ClientError::Connect {
            authority: target.authority.to_string(),
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// A failure after the handshake: a TLS alert from the server (with TLS 1.3 a refused client
/// certificate arrives only now) is a TLS error; anything else a protocol/connection error.
fn transport_error(target: &Target, err: hyper::Error) -> ClientError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&err);
    while let Some(current) = source {
        let tls = current.downcast_ref::<rustls::Error>().or_else(|| {
            current
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(tls) = tls {
            return ClientError::Tls {
                authority: target.authority.to_string(),
                source: tls.clone(),
            };
        }
        source = current.source();
    }
    ClientError::Protocol(err)
}

fn target_of(uri: &Uri, plain_allowed: bool) -> Result<Target, ClientError> {
    let invalid = |reason| ClientError::InvalidUrl {
        url: uri.to_string(),
        reason,
    };
    let tls = match uri.scheme() {
        Some(s) if *s == Scheme::HTTPS => true,
        Some(s) if *s == Scheme::HTTP && plain_allowed => false,
        _ if plain_allowed => return Err(invalid("only http:// and https:// URLs are allowed")),
        _ => return Err(invalid("only https:// URLs are allowed")),
    };
    let authority = uri.authority().ok_or_else(|| invalid("no host"))?.clone();
    if authority.as_str().contains('@') {
        return Err(invalid("credentials in the URL are not allowed"));
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    if host.is_empty() {
        return Err(invalid("no host"));
    }
    Ok(Target {
        host,
        port: authority.port_u16().unwrap_or(default_port(tls)),
        authority,
        tls,
    })
}

fn default_port(tls: bool) -> u16 {
    if tls { 443 } else { 80 }
}

/// Resolves a Location against `base` and returns it only if it stays on the same origin.
fn resolve_location(base: &Uri, location: &str) -> Option<Uri> {
    let parsed: Uri = location.parse().ok()?;
    let resolved = if parsed.scheme().is_some() {
        parsed
    } else if location.starts_with('/') && !location.starts_with("//") {
        let mut parts = base.clone().into_parts();
        parts.path_and_query = parsed.path_and_query().cloned();
        Uri::from_parts(parts).ok()?
    } else {
        return None;
    };
    let port = |u: &Uri| {
        u.port_u16()
            .unwrap_or(default_port(u.scheme() == Some(&Scheme::HTTPS)))
    };
    let same = resolved.scheme() == base.scheme()
        && resolved.host().map(str::to_ascii_lowercase) == base.host().map(str::to_ascii_lowercase)
        && port(&resolved) == port(base);
    same.then_some(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_only_same_origin_locations() {
        let base: Uri = "https://smp.example:8443/a/b".parse().unwrap();
        assert_eq!(
            resolve_location(&base, "/c").unwrap().to_string(),
            "https://smp.example:8443/c"
        );
        assert!(resolve_location(&base, "https://SMP.example:8443/d").is_some());
        assert!(resolve_location(&base, "https://other.example:8443/d").is_none());
        assert!(resolve_location(&base, "https://smp.example/d").is_none());
        assert!(resolve_location(&base, "http://smp.example:8443/d").is_none());
        assert!(resolve_location(&base, "//evil.example/x").is_none());
        assert!(resolve_location(&base, "relative").is_none());
    }

    #[test]
    fn refuses_non_https_and_credential_urls() {
        let err = target_of(&"http://a.example/".parse().unwrap(), false)
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert!(target_of(&"https://u:p@a.example/".parse().unwrap(), false).is_err());
        let t = target_of(&"https://[::1]:9/x".parse().unwrap(), false).unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 9));
    }

    #[test]
    fn plain_http_only_where_allowed_with_port_80_by_default() {
        let t = target_of(&"http://crl.example/a.crl".parse().unwrap(), true).unwrap();
        assert_eq!((t.port, t.tls), (80, false));
        assert!(target_of(&"ftp://crl.example/a.crl".parse().unwrap(), true).is_err());
        assert!(target_of(&"http://u:p@crl.example/".parse().unwrap(), true).is_err());
        let base: Uri = "http://crl.example/a.crl".parse().unwrap();
        assert!(resolve_location(&base, "http://crl.example:80/b.crl").is_some());
        assert!(resolve_location(&base, "https://crl.example/b.crl").is_none());
        assert!(resolve_location(&base, "http://evil.example/b.crl").is_none());
    }

    #[test]
    fn classifies_statuses_for_retry() {
        for (code, transient) in [
            (503, true),
            (500, true),
            (429, true),
            (404, false),
            (400, false),
        ] {
            let err =
                error_for_status(Response::builder().status(code).body(Bytes::new()).unwrap())
                    .unwrap_err();
            assert_eq!(err.is_transient(), transient, "{code}");
            assert_eq!(err.kind(), ErrorKind::Status);
        }
        assert!(error_for_status(Response::new(Bytes::new())).is_ok());
    }
}
