//! A scripted AS4 peer: answers each POST as told (HTTP status, error signal with or without a
//! SOAP Fault, receipts right or wrong), and records what it was sent.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http::{Request, Response, StatusCode, header};
use sdkgw_as4::ebms::{
    EbmsError, ErrorCode, MessageInfo, NOT_SERVICED, NrReference, Signal, SignalMessage, write,
};
use sdkgw_as4::msh::ApIdentity;
use sdkgw_as4::msh::inbound::error_envelope;
use sdkgw_as4::soap::{self, FaultCode};
use sdkgw_as4::wss::seal::{Signer, soap_parse_options};
use sdkgw_as4::wss::signal::sign_signal;
use sdkgw_http::{ConnectionInfo, Handler, OutBody, RequestBody, Server, ServerSettings};
use sdkgw_xml_security::xml::Document;
use time::OffsetDateTime;
use tokio::sync::oneshot;

use super::pki;

/// What to answer.
#[derive(Clone, Debug)]
pub enum Answer {
    Status(u16),
    /// `EBMS:0004` NOT_SERVICED, as a plain signal (HTTP 200) or inside a SOAP Fault (500).
    Error {
        fault: bool,
    },
    Receipt(ReceiptKind),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptKind {
    /// Correct: signed by the fake's identity, echoing the request's references.
    Valid,
    WrongRefToMessageId,
    AlteredDigest,
    /// Correct but signed by organisation A's AP key instead.
    OtherSigner,
    /// Without NonRepudiationInformation.
    Plain,
    /// Correct, but the signer is named by SubjectKeyIdentifier and no BST is included.
    SkiWithoutBst,
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Seen {
    /// `Content-Type` and body, as captured.
    pub content_type: String,
    pub body: Vec<u8>,
    pub message_id: String,
    /// `(URI, digest)` of the request's signed references.
    pub references: Vec<(String, Vec<u8>)>,
}

pub struct FakePeer {
    script: Mutex<Vec<Answer>>,
    then: Answer,
    identity: ApIdentity,
    pub seen: Mutex<Vec<Seen>>,
    spool: tempfile::TempDir,
}

/// A running fake: its address and log.
pub struct Fake {
    pub addr: SocketAddr,
    pub peer: Arc<FakePeer>,
    _stop: oneshot::Sender<()>,
}

impl Fake {
    pub fn url(&self) -> String {
        format!("https://localhost:{}/as4", self.addr.port())
    }
    pub fn seen(&self) -> Vec<Seen> {
        self.peer.seen.lock().unwrap().clone()
    }
}

/// Starts a fake with organisation `org`'s TLS and AP identity: `script` answers the first
/// requests in order, `then` every later one.
pub async fn start(org: usize, script: Vec<Answer>, then: Answer) -> Fake {
    let p = pki();
    let peer = Arc::new(FakePeer {
        script: Mutex::new(script.into_iter().rev().collect()),
        then,
        identity: p.identity(org),
        seen: Mutex::new(Vec::new()),
        spool: tempfile::tempdir().unwrap(),
    });
    let tls = sdkgw_http::tls::mtls_server_config(
        &p.tls_identity(&p.org(org).tls_server),
        &p.tls_anchors(),
    )
    .unwrap();
    let server = Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        tls,
        ServerSettings::default(),
    )
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.serve(peer.clone(), async move {
        let _ = stopped.await;
    }));
    Fake {
        addr,
        peer,
        _stop: stop,
    }
}

fn soap_response(status: u16, body: Vec<u8>) -> Response<OutBody> {
    let mut r = Response::new(OutBody::full(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/soap+xml; charset=UTF-8".parse().unwrap(),
    );
    r
}

impl Handler for FakePeer {
    async fn handle(
        &self,
        request: Request<RequestBody>,
        _c: Arc<ConnectionInfo>,
    ) -> Response<OutBody> {
        let ct = request
            .headers()
            .get(header::CONTENT_TYPE)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let body = request
            .into_body()
            .collect_bounded(256 << 20)
            .await
            .unwrap()
            .to_vec();
        let msg = sdkgw_as4::mime::read_message(
            std::io::Cursor::new(body.clone()),
            &ct,
            &Default::default(),
            self.spool.path(),
        )
        .await
        .unwrap();
        let mut seen = inspect(&msg.root.content);
        seen.content_type = ct;
        seen.body = body;
        self.seen.lock().unwrap().push(seen.clone());
        let answer = self
            .script
            .lock()
            .unwrap()
            .pop()
            .unwrap_or_else(|| self.then.clone());
        let now = OffsetDateTime::now_utc();
        match answer {
            Answer::Status(s) => {
                sdkgw_http::server::plain_response(StatusCode::from_u16(s).unwrap(), "scripted\n")
            }
            Answer::Error { fault: true } => {
                let e = EbmsError::new(ErrorCode::Other, Some(&seen.message_id))
                    .with_detail(NOT_SERVICED);
                soap_response(
                    500,
                    error_envelope(&e, Some(&seen.message_id), FaultCode::Sender, now),
                )
            }
            Answer::Error { fault: false } => {
                let e = EbmsError::new(ErrorCode::Other, Some(&seen.message_id))
                    .with_detail(NOT_SERVICED);
                let sm = SignalMessage {
                    info: MessageInfo {
                        timestamp: now,
                        message_id: "err@fake".into(),
                        ref_to_message_id: Some(seen.message_id.clone()),
                    },
                    signal: Signal::Errors(vec![e]),
                };
                let env = soap::envelope(&[&write::signal_message_header(&sm, None)], "b", "");
                soap_response(200, env.into_bytes())
            }
            Answer::Receipt(kind) => soap_response(200, self.receipt(&seen, kind, now)),
        }
    }
}

impl FakePeer {
    fn receipt(&self, seen: &Seen, kind: ReceiptKind, now: OffsetDateTime) -> Vec<u8> {
        let mut refs: Vec<NrReference> = seen
            .references
            .iter()
            .map(|(uri, d)| NrReference {
                uri: uri.clone(),
                transforms: Vec::new(),
                digest_method: "http://www.w3.org/2001/04/xmlenc#sha256".into(),
                digest_value: d.clone(),
            })
            .collect();
        if kind == ReceiptKind::AlteredDigest {
            refs[0].digest_value[0] ^= 1;
        }
        let ref_to = if kind == ReceiptKind::WrongRefToMessageId {
            "other@x".to_owned()
        } else {
            seen.message_id.clone()
        };
        let signal = if kind == ReceiptKind::Plain {
            Signal::PlainReceipt
        } else {
            Signal::Receipt(refs)
        };
        let sm = SignalMessage {
            info: MessageInfo {
                timestamp: now,
                message_id: format!("r-{}@fake", uuid::Uuid::new_v4()),
                ref_to_message_id: Some(ref_to),
            },
            signal,
        };
        let header = write::signal_message_header(&sm, Some("_sig"));
        let other = pki().identity(0);
        let id = if kind == ReceiptKind::OtherSigner {
            &other
        } else {
            &self.identity
        };
        sign_signal(
            &header,
            "_sig",
            Signer {
                certificate: &id.certificate,
                key: &id.key,
            },
            now,
        )
        .unwrap()
    }
}

/// MessageId and SignedInfo references of a request (read without verifying anything).
fn inspect(envelope: &[u8]) -> Seen {
    let doc = Document::parse_slice(envelope, &soap_parse_options()).unwrap();
    let ds = "http://www.w3.org/2000/09/xmldsig#";
    let message_id = doc
        .elements()
        .find(|e| e.local_name() == "MessageId")
        .map(|e| e.trimmed_text())
        .unwrap_or_default();
    let references = doc
        .elements()
        .filter(|e| e.is(Some(ds), "Reference"))
        .map(|r| {
            use base64::Engine as _;
            let dv = r.child(Some(ds), "DigestValue").unwrap().trimmed_text();
            (
                r.attribute(None, "URI").unwrap().to_owned(),
                base64::engine::general_purpose::STANDARD
                    .decode(dv)
                    .unwrap(),
            )
        })
        .collect();
    Seen {
        content_type: String::new(),
        body: Vec::new(),
        message_id,
        references,
    }
}
