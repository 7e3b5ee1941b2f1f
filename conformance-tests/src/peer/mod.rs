//! The peer access point the suite plays — DIGG's test bed in miniature (test-cases digest
//! §3.1 "Peer AP simulator"): TestAP-01 receives over mutual TLS with the AS4 layer's own
//! receiver (strict AS4 checks, signed receipts with NRR), opens what arrives as its
//! participant (`0203:digg-qa01.example.se`, XHE profile, O2O signature against the target's
//! CertPub certificate, decryption) and answers a message with a Meddelandekvittens; it sends
//! with the AS4 layer's sender or posts crafted, mutated messages ([`craft`], [`wire`]).
//!
//! Knobs let it misbehave on the HTTP level (503, a dropped connection, an empty 200) and
//! stay silent instead of answering. Everything it receives is logged for the cases.

pub mod craft;
mod emulate;
pub mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use sdkgw_as4::msh::{
    ApIdentity, As4Handler, InboundHandoff, InboundMessage, InboundSettings, OutboundSettings,
    Outgoing, Receiver, Route, Sender, Served, prepare,
};
use sdkgw_certs::{Certificate, PrivateKey};
use sdkgw_http::{
    ClientSettings, ClientTlsSettings, ConnectionInfo, Handler, HostnameVerification, OutBody,
    RequestBody, Server, ServerSettings, TlsIdentity,
};
use sdkgw_schemas::{Environment, FunctionAddress, ParticipantId};
use sdkgw_store::{SledStore, Store, StoreConfig};
use tokio::sync::{Notify, mpsc, oneshot};

pub use emulate::{Answered, Opening, PeerInbound};

use crate::pki::{OPEN_TEST_PEER, PEER, ROLLOVER_PEER, SuitePki};
use crate::target::Target;
use wire::WireClient;

/// How the peer's HTTP endpoint behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMode {
    /// The AS4 receiver answers.
    Normal,
    /// Every POST gets this status and an empty body.
    Status(u16),
    /// The connection breaks before a response body arrives.
    Drop,
    /// `200 OK` with an empty body (no receipt).
    EmptyOk,
    /// The receiver's Receipt with its `wsse:Security` header removed (unsigned).
    UnsignedReceipt,
    /// The receiver's Receipt with one NRR digest altered (its signature no longer verifies).
    TamperedReceipt,
    /// `200 OK` with the body set by [`Knobs::set_canned`] as `application/soap+xml` (H-60).
    Canned,
}

/// What the peer's participant does with a message it received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A Meddelandekvittens: ACCEPTED, or REJECTED with the reasons its validation found.
    Receipt,
    /// Nothing (the sender's receipt timeout).
    Silent,
}

/// Behaviour switches, changed by the cases (and reset after each).
#[derive(Debug)]
pub struct Knobs {
    http: Mutex<HttpMode>,
    answer: Mutex<Answer>,
    canned: Mutex<Vec<u8>>,
    /// POSTs that reached the endpoint.
    pub requests: AtomicUsize,
}

impl Knobs {
    pub fn set_http(&self, mode: HttpMode) {
        *self.http.lock().unwrap_or_else(PoisonError::into_inner) = mode;
    }
    pub fn http(&self) -> HttpMode {
        *self.http.lock().unwrap_or_else(PoisonError::into_inner)
    }
    pub fn set_answer(&self, answer: Answer) {
        *self.answer.lock().unwrap_or_else(PoisonError::into_inner) = answer;
    }
    pub fn answer(&self) -> Answer {
        *self.answer.lock().unwrap_or_else(PoisonError::into_inner)
    }
    /// The body of [`HttpMode::Canned`].
    pub fn set_canned(&self, body: Vec<u8>) {
        *self.canned.lock().unwrap_or_else(PoisonError::into_inner) = body;
    }
    pub fn reset(&self) {
        self.set_http(HttpMode::Normal);
        self.set_answer(Answer::Receipt);
    }
}

/// What the peer received, in order, with a wake-up for waiters.
#[derive(Debug, Default)]
pub struct PeerLog {
    inbound: Mutex<Vec<PeerInbound>>,
    changed: Notify,
}

impl PeerLog {
    fn push(&self, entry: PeerInbound) {
        self.inbound
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry);
        self.changed.notify_waiters();
    }

    /// Everything received so far.
    pub fn all(&self) -> Vec<PeerInbound> {
        self.inbound
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until `pred` holds for the entries received so far (or `limit` passes), and
    /// returns the matching entries.
    pub async fn wait_for(
        &self,
        limit: Duration,
        pred: impl Fn(&PeerInbound) -> bool,
        count: usize,
    ) -> Vec<PeerInbound> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.changed.notified();
            let found: Vec<PeerInbound> = self.all().into_iter().filter(|e| pred(e)).collect();
            if found.len() >= count || tokio::time::Instant::now() >= deadline {
                return found;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }
}

/// The peer's knobs in front of the AS4 receiver.
struct PeerHandler {
    inner: As4Handler,
    knobs: Arc<Knobs>,
}

struct Broken;

impl tokio::io::AsyncRead for Broken {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        _buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Err(std::io::Error::other("connection dropped by the peer")))
    }
}

/// The envelope without its `wsse:Security` header block.
fn strip_security(text: &str) -> String {
    match (text.find("<wsse:Security"), text.find("</wsse:Security>")) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &text[..a], &text[b + 16..]),
        _ => text.to_owned(),
    }
}

/// The envelope with the first NRR digest value changed (one Base64 character).
fn tamper_nrr(text: &str) -> String {
    let Some(nrr) = text.find("NonRepudiationInformation") else {
        return text.to_owned();
    };
    let Some(dv) = text[nrr..]
        .find("DigestValue>")
        .map(|i| nrr + i + "DigestValue>".len())
    else {
        return text.to_owned();
    };
    let mut b = text.as_bytes().to_vec();
    b[dv] = if b[dv] == b'A' { b'B' } else { b'A' };
    String::from_utf8_lossy(&b).into_owned()
}

fn status_response(status: u16, body: OutBody) -> Response<OutBody> {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r
}

impl Handler for PeerHandler {
    async fn handle(
        &self,
        request: Request<RequestBody>,
        connection: Arc<ConnectionInfo>,
    ) -> Response<OutBody> {
        self.knobs.requests.fetch_add(1, Ordering::SeqCst);
        match self.knobs.http() {
            HttpMode::Normal => self.inner.handle(request, connection).await,
            HttpMode::Status(s) => status_response(s, OutBody::empty()),
            HttpMode::EmptyOk => status_response(200, OutBody::empty()),
            HttpMode::Drop => status_response(200, OutBody::reader(Broken, Some(1024))),
            HttpMode::Canned => {
                // Read the request as a receiver would before answering.
                let mut request = request.into_body();
                while let Ok(Some(_)) = request.chunk().await {}
                let body = self
                    .knobs
                    .canned
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                let mut r = status_response(200, OutBody::full(body));
                r.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/soap+xml"),
                );
                r
            }
            mode @ (HttpMode::UnsignedReceipt | HttpMode::TamperedReceipt) => {
                let response = self.inner.handle(request, connection).await;
                let (parts, body) = response.into_parts();
                let bytes = match http_body_util::BodyExt::collect(body).await {
                    Ok(b) => b.to_bytes().to_vec(),
                    Err(_) => Vec::new(),
                };
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let changed = if mode == HttpMode::UnsignedReceipt {
                    strip_security(&text)
                } else {
                    tamper_nrr(&text)
                };
                Response::from_parts(parts, OutBody::full(changed.into_bytes()))
            }
        }
    }
}

/// Forwards the AS4 receiver's hand-offs to the participant emulation.
#[derive(Debug)]
struct Forward(mpsc::UnboundedSender<InboundMessage>);

impl InboundHandoff for Forward {
    fn accepted(&self, message: &InboundMessage) {
        let _ = self.0.send(message.clone());
    }
}

/// Where and how the peer listens.
#[derive(Debug, Clone)]
pub struct PeerSettings {
    /// The AS4 listener's address (`127.0.0.1:0` in-process).
    pub bind: SocketAddr,
    /// The host name in the peer's published endpoint URL (its TLS certificate names
    /// `localhost` and `127.0.0.1`).
    pub public_host: String,
    /// The public port, when it differs from the bound one (a port forward).
    pub public_port: Option<u16>,
    /// The environment the peer pretends to be in (that of the target).
    pub environment: Environment,
}

/// The running peer.
pub struct Peer {
    pub pki: Arc<SuitePki>,
    pub identity: Arc<ApIdentity>,
    /// The participants it serves (TestAP-01 and Open Test's digg-test1).
    pub participants: Vec<ParticipantId>,
    /// Its participant's function mailbox.
    pub function: FunctionAddress,
    pub o2o_signing: (Certificate, Arc<PrivateKey>),
    pub o2o_encryption: (Certificate, Arc<PrivateKey>),
    pub store: Arc<dyn Store>,
    /// Its AS4 endpoint as published in the fake SMP.
    pub url: String,
    pub addr: SocketAddr,
    pub sender: Arc<Sender>,
    /// Posts crafted messages with the peer's TLS client certificate.
    pub wire: WireClient,
    pub knobs: Arc<Knobs>,
    pub log: Arc<PeerLog>,
    pub environment: Environment,
    pub spool: PathBuf,
    target: Arc<Mutex<Option<Target>>>,
    _dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("url", &self.url)
            .field("participants", &self.participants)
            .finish_non_exhaustive()
    }
}

/// Why the peer cannot start.
#[derive(Debug, thiserror::Error)]
#[error("peer access point: {0}")]
pub struct PeerError(pub String);

fn perr(e: impl std::fmt::Display) -> PeerError {
    PeerError(e.to_string())
}

/// The peer's function mailbox.
pub const PEER_FUNCTION: &str = "digg-qa01.example.se-inbox";

impl Peer {
    /// Starts the peer's AS4 listener and participant emulation.
    pub async fn start(pki: Arc<SuitePki>, settings: &PeerSettings) -> Result<Peer, PeerError> {
        let org = pki.peer().clone();
        let identity = Arc::new(pki.identity(&org.ap).map_err(perr)?);
        let dir = tempfile::Builder::new()
            .prefix("sdk-conformance-peer-")
            .tempdir()
            .map_err(perr)?;
        let spool = dir.path().join("spool");
        std::fs::create_dir_all(&spool).map_err(perr)?;
        let store_dir = dir.path().join("store");
        let store: Arc<dyn Store> = Arc::new(
            tokio::task::spawn_blocking(move || SledStore::open(StoreConfig::at(store_dir)))
                .await
                .map_err(perr)?
                .map_err(perr)?,
        );
        let participants: Vec<ParticipantId> = [PEER, OPEN_TEST_PEER, ROLLOVER_PEER]
            .iter()
            .map(|p| p.parse().map_err(perr))
            .collect::<Result<_, _>>()?;
        let trust = Arc::new(pki.message_trust().map_err(perr)?);
        let (tx, rx) = mpsc::unbounded_channel();
        let federation = settings.environment.federation();
        let receiver = Arc::new(Receiver::new(
            Arc::clone(&identity),
            Arc::clone(&trust),
            Served::new(participants.clone(), settings.environment),
            InboundSettings::new(spool.clone(), federation.as_str()),
            Arc::clone(&store),
            Arc::new(Forward(tx)),
        ));
        let tls_anchors = pki.tls_anchors().map_err(perr)?;
        let server_identity: TlsIdentity = pki.tls_identity(&org.tls_server).map_err(perr)?;
        let tls =
            sdkgw_http::tls::mtls_server_config(&server_identity, &tls_anchors).map_err(perr)?;
        let server = Server::bind(
            settings.bind,
            tls,
            ServerSettings {
                max_body_bytes: sdkgw_http::server::MAX_BODY_LIMIT,
                body_idle_timeout: Duration::from_secs(120),
                ..ServerSettings::default()
            },
        )
        .await
        .map_err(perr)?;
        let addr = server.local_addr().map_err(perr)?;
        let knobs = Arc::new(Knobs {
            http: Mutex::new(HttpMode::Normal),
            answer: Mutex::new(Answer::Receipt),
            canned: Mutex::new(Vec::new()),
            requests: AtomicUsize::new(0),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let handler = Arc::new(PeerHandler {
            inner: As4Handler::new(receiver, "/as4"),
            knobs: Arc::clone(&knobs),
        });
        tokio::spawn(server.serve(handler, async move {
            let _ = stopped.await;
        }));
        let client_identity = pki.tls_identity(&org.tls_client).map_err(perr)?;
        let client_tls = sdkgw_http::tls::client_config(&ClientTlsSettings {
            identity: Some(client_identity),
            server_trust: tls_anchors,
            hostname: HostnameVerification::Verify,
        })
        .map_err(perr)?;
        let mut client = ClientSettings::new(client_tls);
        client.connect_timeout = Duration::from_secs(10);
        let sender = Arc::new(Sender::new(
            Arc::clone(&identity),
            trust,
            client.clone(),
            OutboundSettings::new(spool.clone()),
        ));
        let (sign_cert, sign_key) = pki.pair(&org.o2o_signing).map_err(perr)?;
        let (enc_cert, enc_key) = pki.pair(&org.o2o_encryption).map_err(perr)?;
        let port = settings.public_port.unwrap_or(addr.port());
        let peer = Peer {
            url: format!("https://{}:{port}/as4", settings.public_host),
            addr,
            identity,
            participants,
            function: FunctionAddress::parse(PEER_FUNCTION).map_err(perr)?,
            o2o_signing: (sign_cert, Arc::new(sign_key)),
            o2o_encryption: (enc_cert, Arc::new(enc_key)),
            store,
            sender,
            wire: WireClient::new(client),
            knobs,
            log: Arc::new(PeerLog::default()),
            environment: settings.environment,
            spool,
            target: Arc::new(Mutex::new(None)),
            pki,
            _dir: dir,
            _stop: stop,
        };
        emulate::spawn(&peer, rx)?;
        Ok(peer)
    }

    /// The participant TestAP-01 (the normal peer).
    pub fn participant(&self) -> &ParticipantId {
        &self.participants[0]
    }

    /// Tells the peer where its receipts go.
    pub fn set_target(&self, target: Target) {
        *self.target.lock().unwrap_or_else(PoisonError::into_inner) = Some(target);
    }

    /// Sends the XHE in `xhe` to the target with the AS4 layer's sender (one attempt).
    pub async fn send_xhe(&self, xhe: &[u8], target: &Target) -> Result<SentXhe, String> {
        let file = tempfile::NamedTempFile::new_in(&self.spool).map_err(|e| e.to_string())?;
        std::fs::write(file.path(), xhe).map_err(|e| e.to_string())?;
        let federation = target.federation();
        let (outgoing, _payload) = prepare(
            file.path(),
            None,
            federation.as_str(),
            &self.spool,
            time::OffsetDateTime::now_utc(),
        )
        .map_err(|e| e.to_string())?;
        let attempt = self
            .sender
            .attempt(
                &outgoing,
                &Route {
                    endpoint: target.as4_url.clone(),
                    certificate: target.ap_certificate.clone(),
                },
            )
            .await;
        Ok(SentXhe { outgoing, attempt })
    }
}

/// One AS4 send of the peer.
#[derive(Debug)]
pub struct SentXhe {
    pub outgoing: Outgoing,
    pub attempt: sdkgw_as4::msh::Attempt,
}

impl SentXhe {
    /// Whether a valid, verified receipt came back.
    pub fn delivered(&self) -> bool {
        matches!(
            self.attempt.outcome,
            sdkgw_as4::msh::AttemptOutcome::Delivered(_)
        )
    }

    /// One line for the report.
    pub fn summary(&self) -> String {
        use sdkgw_as4::msh::AttemptOutcome::*;
        match &self.attempt.outcome {
            Delivered(d) => format!(
                "AS4 Receipt {} (signature and NRR verified by the AS4 sender)",
                d.receipt_message_id
            ),
            Rejected {
                errors,
                http_status,
                ..
            } => format!(
                "HTTP {http_status}, eb:Error {}",
                errors
                    .iter()
                    .map(|e| format!(
                        "{}{}",
                        e.error_code,
                        e.detail
                            .as_deref()
                            .map(|d| format!(" ({d})"))
                            .unwrap_or_default()
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Retry(f) => format!("no usable answer (retry): {}", f.reason),
            Fail(f) => format!("failed: {}", f.reason),
        }
    }
}
