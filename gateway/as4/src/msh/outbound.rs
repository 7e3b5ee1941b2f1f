//! The sending MSH (corner C2), AS4 digest §4.1: prepare once (MessageId, compressed payload —
//! identical on every retry), then per attempt: check the receiver's certificate (no request
//! when it is not valid for this environment, TF-02), build the §3 header, sign, encrypt,
//! POST with client authentication, and classify the answer:
//!
//! * a receipt signed by the receiver's SMP certificate, for our MessageId, whose
//!   NonRepudiationInformation echoes exactly our signed references → delivered;
//! * an `eb:Error` of severity failure (plain signal or inside a SOAP Fault) → final;
//! * no usable answer (connection, timeout, 5xx, no signal, invalid receipt = `EBMS:0302`)
//!   → retry;
//! * a local refusal (receiver certificate, URL) → final, nothing sent.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, header};
use sdkgw_certs::Certificate;
use sdkgw_http::{ClientError, ClientSettings, HttpsClient, OutBody};
use sdkgw_schemas::{DocumentId, ParticipantId, TransportModel};
use sdkgw_xml_security::x509::MessagePurpose;
use sdkgw_xml_security::xml::Document;
use tempfile::TempPath;
use time::OffsetDateTime;

use super::config::{ApIdentity, LiveKeys, MessageTrust, MshKeys};
use super::inbound::signature_value;
use super::route::Route;
use super::xhe::{self, HEADER_PREFIX_LIMIT, XheHeader};
use crate::compress::gzip;
use crate::ebms::pmode::UserMessageParams;
use crate::ebms::{self, EbmsError, ErrorCode, Leg, PMode, Severity, Signal, new_message_id};
use crate::mime::{self, MimeLimits, MultipartWriter, OutgoingPart};
use crate::soap::{self, Fault};
use crate::text::new_xml_id;
use crate::wss::seal::{PlainAttachment, SealRequest, Signer, seal, soap_parse_options};
use crate::wss::signal::verify_signal;

/// A message ready to be sent, fixed across retries.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Outgoing {
    pub message_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    pub leg: LegName,
    pub model: String,
    /// XHE `/Header/ID` = ConversationId (TP-2.7.a).
    pub xhe_id: String,
    pub original_sender: String,
    pub final_recipient: String,
    /// The `Action` (qualified document id).
    pub action: String,
    /// The gzip-compressed XHE (what is signed and encrypted).
    #[serde(skip)]
    pub payload: PathBuf,
}

/// Serialisable leg name (`message` / `receipt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LegName {
    Message,
    Receipt,
}

impl From<Leg> for LegName {
    fn from(l: Leg) -> Self {
        match l {
            Leg::Message => LegName::Message,
            Leg::Receipt => LegName::Receipt,
        }
    }
}

impl Outgoing {
    pub fn recipient(&self) -> Result<ParticipantId, String> {
        ParticipantId::parse(&self.final_recipient).map_err(|e| e.to_string())
    }
    pub fn document(&self) -> Result<DocumentId, String> {
        DocumentId::parse(&self.action).map_err(|e| e.to_string())
    }
    fn model(&self) -> Result<TransportModel, String> {
        self.model
            .parse()
            .map_err(|e: sdkgw_schemas::TransportModelError| e.to_string())
    }
}

/// Why an XHE cannot be sent (a local refusal at submission).
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("cannot read the XHE: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Header(#[from] xhe::XheHeaderError),
    #[error("the XHE is not sendable: {0}")]
    Invalid(String),
}

/// Reads the XHE header of `xhe`, checks it is a message of `leg` (when given) for our
/// federation, and compresses it into a file in `spool_dir`.
pub fn prepare(
    xhe: &Path,
    leg: Option<Leg>,
    federation_id: &str,
    spool_dir: &Path,
    now: OffsetDateTime,
) -> Result<(Outgoing, TempPath), PrepareError> {
    let mut prefix = Vec::new();
    std::fs::File::open(xhe)?
        .take(HEADER_PREFIX_LIMIT as u64)
        .read_to_end(&mut prefix)?;
    let header = xhe::read_header(&prefix)?;
    let (xhe_leg, model, action) = classify(&header)?;
    if let Some(l) = leg
        && l != xhe_leg
    {
        return Err(PrepareError::Invalid(format!(
            "the XHE is a {} (DOCUMENTID), not a {}",
            xhe_leg.as_str(),
            l.as_str()
        )));
    }
    if header.criterion("FEDERATIONID") != Some(federation_id) {
        return Err(PrepareError::Invalid(format!(
            "XHE FEDERATIONID {:?} is not this federation ({federation_id})",
            header.criterion("FEDERATIONID")
        )));
    }
    let party = |(_, v): &(Option<String>, String), which: &str| {
        ParticipantId::parse(v)
            .map(|p| p.value().to_owned())
            .map_err(|e| PrepareError::Invalid(format!("XHE {which}: {e}")))
    };
    let out = tempfile::Builder::new()
        .prefix("as4-out-")
        .tempfile_in(spool_dir)?;
    let (file, payload) = out.into_parts();
    let input = BufReader::with_capacity(256 * 1024, std::fs::File::open(xhe)?);
    let mut w = std::io::BufWriter::with_capacity(256 * 1024, file);
    gzip(input, &mut w)?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok((
        Outgoing {
            message_id: new_message_id(),
            timestamp: now,
            leg: xhe_leg.into(),
            model: model.to_string(),
            xhe_id: header.id.clone(),
            original_sender: party(&header.from, "FromParty")?,
            final_recipient: party(&header.to, "ToParty")?,
            action,
            payload: payload.to_path_buf(),
        },
        payload,
    ))
}

fn classify(h: &XheHeader) -> Result<(Leg, TransportModel, String), PrepareError> {
    let doc = h
        .criterion("DOCUMENTID")
        .zip(h.criterion("DOCUMENTID_SCHEME"))
        .and_then(|(v, s)| DocumentId::from_parts(s, v).ok())
        .ok_or_else(|| {
            PrepareError::Invalid("XHE without a usable DOCUMENTID / DOCUMENTID_SCHEME".into())
        })?;
    let action = doc.qualified();
    let (leg, model) = PMode.leg_of_action(&action).ok_or_else(|| {
        PrepareError::Invalid(format!(
            "document type {action} is not one of the federation's"
        ))
    })?;
    Ok((leg, model, action))
}

/// Why an attempt did not deliver.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Failure {
    /// The ebMS code recorded (`EBMS:0005` connection, `EBMS:0302` invalid receipt, …);
    /// `None` for local refusals that never reached the network.
    pub code: Option<&'static str>,
    pub reason: String,
    /// Whether a request was sent.
    pub contacted: bool,
    pub http_status: Option<u16>,
}

impl Failure {
    fn local(reason: impl Into<String>) -> Self {
        Failure {
            code: None,
            reason: reason.into(),
            contacted: false,
            http_status: None,
        }
    }
    fn remote(code: ErrorCode, reason: impl Into<String>, status: Option<u16>) -> Self {
        Failure {
            code: Some(code.code()),
            reason: reason.into(),
            contacted: true,
            http_status: status,
        }
    }
}

/// A verified receipt.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The receipt signal exactly as received.
    pub receipt: Vec<u8>,
    pub receipt_message_id: String,
    pub receipt_signature: Vec<u8>,
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    Delivered(Delivered),
    /// An error signal with severity failure: the receiver decided; do not retry.
    Rejected {
        errors: Vec<EbmsError>,
        fault: Option<Fault>,
        signal: Vec<u8>,
        http_status: u16,
    },
    /// No usable answer: retry with the same MessageId and payload.
    Retry(Failure),
    /// Final without delivery (local refusal or a permanent HTTP answer).
    Fail(Failure),
}

impl AttemptOutcome {
    pub fn is_final(&self) -> bool {
        !matches!(self, AttemptOutcome::Retry(_))
    }
}

/// One attempt with what it sent.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub started_at: OffsetDateTime,
    pub outcome: AttemptOutcome,
    /// The receiving AP (CN of the route certificate) and its certificate.
    pub to_ap: Option<String>,
    pub receiver_certificate: Certificate,
    /// The SOAP envelope sent (signed header), when one was sent.
    pub envelope: Option<Vec<u8>>,
    /// Our `ds:SignatureValue`.
    pub signature_value: Option<Vec<u8>>,
    /// The digests of our signed references (URI, digest): the receipt must echo them, and
    /// the attachment digests are the same on every retry.
    pub references: Vec<(String, Vec<u8>)>,
}

/// Sender settings.
#[derive(Debug, Clone)]
pub struct OutboundSettings {
    /// `wsu:Timestamp/Expires` − `Created` (default 5 minutes, as WSS4J peers check).
    pub timestamp_ttl: Duration,
    /// Where the encrypted copy of a payload is written for one attempt.
    pub spool_dir: PathBuf,
    /// The request deadline grows with the message: `base_timeout + len / min_throughput`.
    pub base_timeout: Duration,
    /// Slowest transfer rate still accepted, bytes per second (default 1 MiB/s).
    pub min_throughput: u64,
    pub response_limits: MimeLimits,
}

impl OutboundSettings {
    pub fn new(spool_dir: PathBuf) -> Self {
        OutboundSettings {
            timestamp_ttl: Duration::from_secs(300),
            spool_dir,
            base_timeout: Duration::from_secs(120),
            min_throughput: 1024 * 1024,
            response_limits: MimeLimits {
                max_root_bytes: 4 << 20,
                max_part_bytes: 4 << 20,
                max_total_bytes: 8 << 20,
                ..MimeLimits::default()
            },
        }
    }
}

/// The sending MSH.
#[derive(Debug)]
pub struct Sender {
    keys: Arc<LiveKeys>,
    /// Replaced by [`Sender::replace_client`] (TLS client key or trust rotated).
    client: RwLock<ClientSettings>,
    settings: OutboundSettings,
}

impl Sender {
    /// `client` carries the TLS client configuration (our TLS client certificate, the TLS
    /// trust store for servers).
    pub fn new(
        identity: Arc<ApIdentity>,
        trust: Arc<MessageTrust>,
        client: ClientSettings,
        settings: OutboundSettings,
    ) -> Self {
        Self::with_keys(LiveKeys::new(identity, trust), client, settings)
    }

    /// A sender whose identity and trust are replaced through `keys` while it runs (an
    /// attempt uses the keys current when it started).
    pub fn with_keys(
        keys: Arc<LiveKeys>,
        client: ClientSettings,
        settings: OutboundSettings,
    ) -> Self {
        Sender {
            keys,
            client: RwLock::new(client),
            settings,
        }
    }

    /// The identity and trust this sender uses (replace them to rotate keys).
    pub fn keys(&self) -> &Arc<LiveKeys> {
        &self.keys
    }

    /// The AP identity attempts sign with now.
    pub fn identity(&self) -> Arc<ApIdentity> {
        Arc::clone(&self.keys.current().identity)
    }

    /// Uses `client` (TLS client certificate, server trust, hostname check) from the next
    /// attempt on; attempts in flight finish with the previous one.
    pub fn replace_client(&self, client: ClientSettings) {
        *self.client.write().unwrap_or_else(PoisonError::into_inner) = client;
    }

    /// One delivery attempt of `out` to `route`.
    pub async fn attempt(&self, out: &Outgoing, route: &Route) -> Attempt {
        let started_at = OffsetDateTime::now_utc();
        let mut attempt = Attempt {
            started_at,
            outcome: AttemptOutcome::Fail(Failure::local("not started")),
            to_ap: None,
            receiver_certificate: route.certificate.clone(),
            envelope: None,
            signature_value: None,
            references: Vec::new(),
        };
        attempt.outcome = match self.try_once(out, route, started_at, &mut attempt).await {
            Ok(outcome) | Err(outcome) => outcome,
        };
        attempt
    }

    async fn try_once(
        &self,
        out: &Outgoing,
        route: &Route,
        at: OffsetDateTime,
        attempt: &mut Attempt,
    ) -> Result<AttemptOutcome, AttemptOutcome> {
        let fail = |f: Failure| AttemptOutcome::Fail(f);
        let keys = self.keys.current();
        // TP-2.10.a/b: the receiver's certificate must be this environment's and not revoked.
        keys.trust
            .store
            .validate(
                &route.certificate,
                &[],
                MessagePurpose::KeyTransport,
                at,
                &keys.trust.revocation,
            )
            .map_err(|e| {
                fail(Failure::local(format!(
                    "receiver certificate {}: {e}",
                    route.certificate.subject()
                )))
            })?;
        let to_ap = route
            .certificate
            .common_name()
            .ok_or_else(|| fail(Failure::local("receiver certificate has no CN")))?
            .to_owned();
        attempt.to_ap = Some(to_ap.clone());
        if !route.endpoint.starts_with("https://") {
            return Err(fail(Failure::local(format!(
                "endpoint {:?} is not https",
                route.endpoint
            ))));
        }
        let sealed = self
            .seal(out, &to_ap, route, at, &keys)
            .await
            .map_err(|e| fail(Failure::local(e)))?;
        attempt.envelope = Some(sealed.envelope.clone());
        attempt.signature_value = Some(sealed.signature_value.clone());
        attempt.references = sealed.references.clone();
        let mut writer = MultipartWriter::new(Bytes::from(sealed.envelope));
        for a in &sealed.attachments {
            let part = OutgoingPart::from_file(&a.content_id, "application/octet-stream", &a.file)
                .await
                .map_err(|e| fail(Failure::local(format!("attachment: {e}"))))?;
            writer
                .attach(part)
                .map_err(|e| fail(Failure::local(e.to_string())))?;
        }
        let len = writer.encoded_len();
        let content_type = writer.content_type();
        let request = Request::builder()
            .method(Method::POST)
            .uri(route.endpoint.as_str())
            .header(
                header::CONTENT_TYPE,
                HeaderValue::from_str(&content_type)
                    .map_err(|e| fail(Failure::local(e.to_string())))?,
            )
            .body(OutBody::reader(writer.into_reader(), Some(len)))
            .map_err(|e| fail(Failure::local(e.to_string())))?;
        let mut settings = self
            .client
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        settings.request_timeout = self.settings.base_timeout
            + Duration::from_secs(len / self.settings.min_throughput.max(1));
        let response = HttpsClient::new(settings).send(request).await;
        // The encrypted copies are no longer needed.
        drop(sealed.attachments);
        Ok(match response {
            Err(e) => transport_failure(&e),
            Ok(resp) => {
                let status = resp.status().as_u16();
                let ct = resp
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let body = resp.into_body();
                self.classify(
                    out,
                    &route.certificate,
                    status,
                    &ct,
                    body,
                    &attempt.references,
                )
                .await
            }
        })
    }

    async fn seal(
        &self,
        out: &Outgoing,
        to_ap: &str,
        route: &Route,
        at: OffsetDateTime,
        keys: &MshKeys,
    ) -> Result<crate::wss::seal::Sealed, String> {
        let original_sender =
            ParticipantId::parse(&out.original_sender).map_err(|e| e.to_string())?;
        let final_recipient = out.recipient()?;
        let leg = match out.leg {
            LegName::Message => Leg::Message,
            LegName::Receipt => Leg::Receipt,
        };
        let um = PMode.user_message(&UserMessageParams {
            message_id: &out.message_id,
            timestamp: out.timestamp,
            from_ap: &keys.identity.party_id,
            to_ap,
            leg,
            model: out.model()?,
            conversation_id: &out.xhe_id,
            original_sender: &original_sender,
            final_recipient: &final_recipient,
            compressed: true,
        });
        let messaging_id = new_xml_id("_messaging");
        let header = ebms::write::user_message_header(&um, &messaging_id);
        let identity = Arc::clone(&keys.identity);
        let recipient = route.certificate.clone();
        let payload = out.payload.clone();
        let spool = self.settings.spool_dir.clone();
        let ttl = time::Duration::try_from(self.settings.timestamp_ttl)
            .unwrap_or(time::Duration::minutes(5));
        tokio::task::spawn_blocking(move || {
            let attachments = [PlainAttachment {
                content_id: PMode.payload_href().trim_start_matches("cid:").to_owned(),
                path: payload,
                mime_type: PMode.compression_type().to_owned(),
            }];
            seal(&SealRequest {
                messaging_xml: &header,
                messaging_id: &messaging_id,
                signer: Signer {
                    certificate: &identity.certificate,
                    key: &identity.key,
                },
                recipient: &recipient,
                attachments: &attachments,
                created: at,
                expires: Some(at + ttl),
                spool_dir: &spool,
            })
            .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| format!("sealing task: {e}"))?
    }

    async fn classify(
        &self,
        out: &Outgoing,
        receiver: &Certificate,
        status: u16,
        content_type: &str,
        body: Bytes,
        references: &[(String, Vec<u8>)],
    ) -> AttemptOutcome {
        let transient = sdkgw_http::client::status_is_transient(
            http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY),
        );
        let no_signal = |reason: String| {
            let f = Failure::remote(ErrorCode::ConnectionFailure, reason, Some(status));
            if transient || (200..300).contains(&status) {
                AttemptOutcome::Retry(f)
            } else {
                AttemptOutcome::Fail(f)
            }
        };
        let root = match soap_root(content_type, body, &self.settings).await {
            Ok(r) => r,
            Err(e) => return no_signal(format!("HTTP {status} without a usable SOAP answer: {e}")),
        };
        let Ok(doc) = Document::parse_slice(&root, &soap_parse_options()) else {
            return no_signal(format!("HTTP {status}: the answer is not acceptable XML"));
        };
        let fault = soap::locate(&doc)
            .ok()
            .and_then(|p| doc.element(p.body))
            .and_then(soap::read_fault);
        let signal = match response_signal(&doc) {
            Ok(s) => s,
            Err(e) => {
                return match fault {
                    // A bare SOAP Fault: the sender's fault is final, the receiver's retried.
                    Some(f) if f.code.ends_with("Sender") => AttemptOutcome::Fail(Failure::remote(
                        ErrorCode::Other,
                        format!("SOAP Fault {}: {}", f.code, f.reason),
                        Some(status),
                    )),
                    Some(f) => AttemptOutcome::Retry(Failure::remote(
                        ErrorCode::ConnectionFailure,
                        format!("SOAP Fault {}: {}", f.code, f.reason),
                        Some(status),
                    )),
                    None => no_signal(format!("HTTP {status}: {e}")),
                };
            }
        };
        match signal.signal {
            Signal::Errors(errors) => {
                if errors.iter().any(|e| e.severity == Severity::Failure) {
                    AttemptOutcome::Rejected {
                        errors,
                        fault,
                        signal: root.to_vec(),
                        http_status: status,
                    }
                } else {
                    let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                    AttemptOutcome::Retry(Failure::remote(
                        ErrorCode::MissingReceipt,
                        format!("warnings without a receipt: {}", text.join("; ")),
                        Some(status),
                    ))
                }
            }
            Signal::PlainReceipt => AttemptOutcome::Retry(Failure::remote(
                ErrorCode::InvalidReceipt,
                "receipt without NonRepudiationInformation",
                Some(status),
            )),
            Signal::Receipt(refs) => {
                match check_receipt(&doc, &signal.info, &refs, out, receiver, references) {
                    Ok(sig) => AttemptOutcome::Delivered(Delivered {
                        receipt: root.to_vec(),
                        receipt_message_id: signal.info.message_id,
                        receipt_signature: sig,
                    }),
                    Err(reason) => AttemptOutcome::Retry(Failure::remote(
                        ErrorCode::InvalidReceipt,
                        reason,
                        Some(status),
                    )),
                }
            }
        }
    }
}

fn transport_failure(e: &ClientError) -> AttemptOutcome {
    let f = Failure {
        code: Some(ErrorCode::ConnectionFailure.code()),
        reason: e.to_string(),
        contacted: !matches!(e.kind(), sdkgw_http::ErrorKind::InvalidRequest),
        http_status: None,
    };
    if e.is_transient() {
        AttemptOutcome::Retry(f)
    } else {
        AttemptOutcome::Fail(f)
    }
}

/// The SOAP envelope of an answer: a bare `application/soap+xml` body or the root part of a
/// `multipart/related` one.
async fn soap_root(
    content_type: &str,
    body: Bytes,
    settings: &OutboundSettings,
) -> Result<Bytes, String> {
    if content_type.is_empty() {
        return Err("no Content-Type".into());
    }
    let msg = mime::read_message(
        std::io::Cursor::new(body),
        content_type,
        &settings.response_limits,
        &settings.spool_dir,
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(msg.root.content)
}

/// The one SignalMessage of an answer.
fn response_signal(doc: &Document) -> Result<ebms::SignalMessage, String> {
    let parts = soap::locate(doc).map_err(|e| e.to_string())?;
    let el = doc.element(parts.messaging).ok_or("no eb:Messaging")?;
    let m = ebms::read::messaging(el).map_err(|e| e.to_string())?;
    let mut signals = m.signal_messages;
    if !m.user_messages.is_empty() || signals.len() != 1 {
        return Err(format!(
            "{} UserMessage(s) and {} SignalMessage(s) in the answer; one signal expected",
            m.user_messages.len(),
            signals.len()
        ));
    }
    Ok(signals.remove(0))
}

/// TMB-2.14.1 and AS4 §4.1 step 9: the receipt is for our MessageId, signed by the receiver's
/// SMP certificate over its Messaging and Body, and echoes exactly our signed references.
fn check_receipt(
    doc: &Document,
    info: &ebms::MessageInfo,
    refs: &[ebms::NrReference],
    out: &Outgoing,
    receiver: &Certificate,
    ours: &[(String, Vec<u8>)],
) -> Result<Vec<u8>, String> {
    if info.ref_to_message_id.as_deref() != Some(out.message_id.as_str()) {
        return Err(format!(
            "receipt RefToMessageId {:?} is not our MessageId {}",
            info.ref_to_message_id, out.message_id
        ));
    }
    let mut echoed: Vec<(String, Vec<u8>)> = refs
        .iter()
        .map(|r| (r.uri.clone(), r.digest_value.clone()))
        .collect();
    let mut expected = ours.to_vec();
    echoed.sort();
    expected.sort();
    if echoed != expected {
        return Err(
            "the receipt's NonRepudiationInformation does not echo our signed references".into(),
        );
    }
    let parts = soap::locate(doc).map_err(|e| e.to_string())?;
    let verified = verify_signal(doc, &parts, receiver)?;
    Ok(signature_value(doc, verified.signature_element()).unwrap_or_default())
}
