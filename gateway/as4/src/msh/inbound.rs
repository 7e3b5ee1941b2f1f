//! The receiving MSH (corner C3): checks in the order of AS4 digest §4.2, durable persistence,
//! then the signed non-repudiation receipt; or an ebMS error signal.
//!
//! 1. TLS with a client certificate (the listener, `sdkgw-http`).
//! 2. MIME: attachments spooled to files, bounded (`EBMS:0007`).
//! 3. SOAP 1.2 and `eb:Messaging` with exactly one UserMessage (`EBMS:0008`/`0009`).
//! 4. P-Mode match: parties, roles, MPC, Service, Action, properties, PartInfo
//!    (`EBMS:0001`/`0010`; an unknown document type is `EBMS:0004` NOT_SERVICED).
//! 5. Sender authentication: this environment's AP CA, validity, revocation, CN = From
//!    (`EBMS:0101`).
//! 6. Decryption (`EBMS:0102`; algorithms or unencrypted payload `EBMS:0103`).
//! 7. Signature with exact coverage (`EBMS:0101`/`0103`). 8. Timestamp (`EBMS:0101`).
//! 9. Duplicate detection: a duplicate gets its receipt again and is not stored twice.
//! 10. Decompression, bounded (`EBMS:0303`), straight into the store's blob.
//! 11. AS4 ↔ XHE header consistency and "do we serve this recipient" (`EBMS:0004`,
//!     ErrorDetail `NOT_SERVICED`).
//! 12. The record (XHE, signed header, receipt, de-dup key) is written durably; only then is
//!     the receipt returned. 13. The AP-3.4.1 event is appended to the audit trail.
//!
//! Local failures (disk, store) are not the peer's fault: they get `503` without a signal, so
//! reception awareness retries.

use std::io::{BufReader, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use sdkgw_schemas::{DocumentId, ParticipantId, ProcessId, TransportModel};
use sdkgw_store::{
    BlobWriter, Created, DedupKey, Direction, MessageKey, NewMessage, StagedBlob, Store, StoreError,
};
use sdkgw_xml_security::dsig::{DSIG_NS, Transform, VerifiedSignature};
use sdkgw_xml_security::xml::{Document, NodeId};
use time::OffsetDateTime;
use tokio::io::AsyncRead;

use super::audit::{ACTOR_RECEIVER, As4Event};
use super::config::{ApIdentity, InboundSettings, LiveKeys, MessageTrust, MshKeys, Served};
use super::handoff::{
    InboundHandoff, InboundMessage, RECEIPT_EVIDENCE, USER_MESSAGE_EVIDENCE, XHE_CONTENT,
};
use super::xhe::{self, HEADER_PREFIX_LIMIT, PrefixCapture, XheHeader};
use crate::compress::Gunzip;
use crate::ebms::{
    self, EbmsError, ErrorCode, Leg, MessageInfo, NOT_SERVICED, NrReference, PMode, Signal,
    SignalMessage, UserMessage, new_message_id,
};
use crate::mime::{self, MimeError, ReceivedMessage};
use crate::soap::{self, EnvelopeParts, FaultCode, SoapError};
use crate::text::new_xml_id;
use crate::wss::WssError;
use crate::wss::open::{
    AuthenticatedSigner, DecryptedPart, EncryptedPart, InboundSecurity, Recipient,
    RequiredCoverage, authenticate_signer, check_timestamp, decrypt_attachments_for,
    timestamp_element, verify_signature,
};
use crate::wss::seal::{Signer, soap_parse_options};
use crate::wss::signal::sign_signal;

/// Longest MessageId accepted (Domibus stores 255 characters).
const MAX_MESSAGE_ID: usize = 255;

/// What we know about the connection a message came on (for the audit trail).
#[derive(Debug, Clone, Default)]
pub struct PeerInfo {
    pub remote_addr: Option<SocketAddr>,
    /// Subject of the TLS client certificate (not the AS4 identity).
    pub tls_subject: Option<String>,
}

/// The answer to one POST.
#[derive(Debug)]
pub enum Reply {
    /// The signed receipt (`200`, `application/soap+xml`).
    Receipt {
        envelope: Vec<u8>,
        key: MessageKey,
        duplicate: bool,
    },
    /// An ebMS error signal with a SOAP Fault (`500`, like Domibus).
    Error {
        envelope: Vec<u8>,
        error: EbmsError,
        reason: String,
    },
    /// The body exceeded the size limit (`413`).
    TooLarge { envelope: Vec<u8> },
    /// A local problem (storage, spool): `503` with Retry-After, the sender retries.
    Unavailable { reason: String },
    /// The connection broke while the body was read; nobody is listening for an answer.
    Aborted { reason: String },
}

/// The receiving MSH.
#[derive(Debug)]
pub struct Receiver {
    keys: Arc<LiveKeys>,
    served: Served,
    settings: InboundSettings,
    store: Arc<dyn Store>,
    handoff: Arc<dyn InboundHandoff>,
}

/// Why a message is refused: the peer gets `error` (with a generic description), our log
/// gets `reason`.
#[derive(Debug)]
enum Refusal {
    Peer {
        error: Box<EbmsError>,
        reason: String,
        fault: FaultCode,
    },
    Local(String),
}

fn refuse(
    code: ErrorCode,
    ref_to: Option<&str>,
    public: &str,
    reason: impl Into<String>,
) -> Refusal {
    Refusal::Peer {
        error: Box::new(EbmsError::new(code, ref_to).with_description(public)),
        reason: reason.into(),
        fault: FaultCode::Sender,
    }
}

fn not_serviced(ref_to: &str, text: String) -> Refusal {
    Refusal::Peer {
        error: Box::new(
            EbmsError::new(ErrorCode::Other, Some(ref_to))
                .with_description(text.clone())
                .with_detail(NOT_SERVICED),
        ),
        reason: text,
        fault: FaultCode::Sender,
    }
}

fn from_wss(e: WssError, ref_to: &str) -> Refusal {
    if e.code == ErrorCode::DeliveryFailure {
        return Refusal::Local(e.reason);
    }
    refuse(e.code, Some(ref_to), e.public_text(), e.reason)
}

fn local(e: StoreError) -> Refusal {
    Refusal::Local(format!("store: {e}"))
}

/// The UserMessage values the P-Mode check established.
#[derive(Debug)]
struct Matched {
    leg: Leg,
    model: TransportModel,
    original_sender: ParticipantId,
    final_recipient: ParticipantId,
    compressed: bool,
    content_id: String,
}

impl Receiver {
    pub fn new(
        identity: Arc<ApIdentity>,
        trust: Arc<MessageTrust>,
        served: Served,
        settings: InboundSettings,
        store: Arc<dyn Store>,
        handoff: Arc<dyn InboundHandoff>,
    ) -> Self {
        Self::with_keys(
            LiveKeys::new(identity, trust),
            served,
            settings,
            store,
            handoff,
        )
    }

    /// A receiver whose identity and trust are replaced through `keys` while it runs (each
    /// message is processed with the keys current when its processing started).
    pub fn with_keys(
        keys: Arc<LiveKeys>,
        served: Served,
        settings: InboundSettings,
        store: Arc<dyn Store>,
        handoff: Arc<dyn InboundHandoff>,
    ) -> Self {
        Receiver {
            keys,
            served,
            settings,
            store,
            handoff,
        }
    }

    /// The identity and trust this receiver uses (replace them to rotate keys).
    pub fn keys(&self) -> &Arc<LiveKeys> {
        &self.keys
    }

    /// Processes one POST body. The whole message is read (attachments to spool files) before
    /// anything is answered; the CPU- and disk-heavy steps run on a blocking thread.
    pub async fn receive<R: AsyncRead + Unpin + Send>(
        self: &Arc<Self>,
        content_type: &str,
        body: R,
        peer: PeerInfo,
    ) -> Reply {
        let at = OffsetDateTime::now_utc();
        let msg = match mime::read_message(
            body,
            content_type,
            &self.settings.mime,
            &self.settings.spool_dir,
        )
        .await
        {
            Ok(m) => m,
            Err(e) => return self.mime_failure(e, at, peer),
        };
        let this = Arc::clone(self);
        match tokio::task::spawn_blocking(move || this.process(&msg, at, peer)).await {
            Ok(reply) => reply,
            Err(e) => Reply::Unavailable {
                reason: format!("processing task failed: {e}"),
            },
        }
    }

    fn mime_failure(&self, e: MimeError, at: OffsetDateTime, peer: PeerInfo) -> Reply {
        if let MimeError::Io(io) = &e {
            match sdkgw_http::BodyError::from_io(io) {
                Some(sdkgw_http::BodyError::TooLarge { .. }) => {
                    let err = EbmsError::new(ErrorCode::ProcessingModeMismatch, None)
                        .with_description(
                            "the message exceeds the size limit of this access point",
                        );
                    self.audit_rejection(at, &peer, None, &err, "body too large");
                    return Reply::TooLarge {
                        envelope: error_envelope(&err, None, FaultCode::Sender, at),
                    };
                }
                Some(other) => {
                    return Reply::Aborted {
                        reason: other.to_string(),
                    };
                }
                None => {
                    return Reply::Unavailable {
                        reason: format!("spooling the message failed: {e}"),
                    };
                }
            }
        }
        let err = EbmsError::new(ErrorCode::MimeInconsistency, None)
            .with_description("the MIME structure of the message is not acceptable");
        let reason = e.to_string();
        self.audit_rejection(at, &peer, None, &err, &reason);
        Reply::Error {
            envelope: error_envelope(&err, None, FaultCode::Sender, at),
            error: err,
            reason,
        }
    }

    /// Steps 3–13 on the spooled message (blocking).
    fn process(&self, msg: &ReceivedMessage, at: OffsetDateTime, peer: PeerInfo) -> Reply {
        let mut event = As4Event::inbound(at);
        if let Some(a) = peer.remote_addr {
            event.set("remote_addr", a.to_string());
        }
        if let Some(s) = &peer.tls_subject {
            event.set("tls_client_subject", s.as_str());
        }
        let mut ref_to = None;
        let keys = self.keys.current();
        match self.accept(msg, at, &keys, &mut event, &mut ref_to) {
            Ok((envelope, key, duplicate)) => {
                // A new message's event was written with its record (same transaction);
                // a duplicate stored nothing, so its event is written here.
                if duplicate {
                    event.message(key);
                    event.outcome("duplicate");
                    event.record(self.store.as_ref());
                }
                Reply::Receipt {
                    envelope,
                    key,
                    duplicate,
                }
            }
            Err(Refusal::Peer {
                error,
                reason,
                fault,
            }) => {
                tracing::info!(code = %error.error_code, %reason, "AS4 message refused");
                event.failure(&error.error_code, &reason);
                event.outcome("rejected");
                event.record(self.store.as_ref());
                Reply::Error {
                    envelope: error_envelope(&error, ref_to.as_deref(), fault, at),
                    error: *error,
                    reason,
                }
            }
            Err(Refusal::Local(reason)) => {
                tracing::error!(%reason, "AS4 message not accepted: local failure");
                event.failure("local", &reason);
                event.outcome("unavailable");
                event.record(self.store.as_ref());
                Reply::Unavailable { reason }
            }
        }
    }

    fn audit_rejection(
        &self,
        at: OffsetDateTime,
        peer: &PeerInfo,
        message_id: Option<&str>,
        err: &EbmsError,
        reason: &str,
    ) {
        let mut event = As4Event::inbound(at);
        if let Some(a) = peer.remote_addr {
            event.set("remote_addr", a.to_string());
        }
        if let Some(id) = message_id {
            event.set("as4_message_id", id);
        }
        event.failure(&err.error_code, reason);
        event.outcome("rejected");
        event.record(self.store.as_ref());
    }

    fn accept(
        &self,
        msg: &ReceivedMessage,
        at: OffsetDateTime,
        keys: &MshKeys,
        event: &mut As4Event,
        ref_to: &mut Option<String>,
    ) -> Result<(Vec<u8>, MessageKey, bool), Refusal> {
        let doc = Document::parse_slice(&msg.root.content, &soap_parse_options()).map_err(|e| {
            refuse(
                ErrorCode::InvalidHeader,
                None,
                "the SOAP envelope is not acceptable XML",
                e.to_string(),
            )
        })?;
        let parts = soap::locate(&doc).map_err(soap_refusal)?;
        let um = user_message(&doc, &parts)?;
        let id = um.info.message_id.clone();
        *ref_to = Some(id.clone());
        event.set("as4_message_id", id.as_str());
        event.set(
            "as4_conversation_id",
            um.collaboration.conversation_id.as_str(),
        );
        event.set("sending_ap", um.from.party_id.as_str());
        let matched = self.pmode_match(&um, &keys.identity)?;
        event.set("sender_participant", matched.original_sender.value());
        event.set("recipient_participant", matched.final_recipient.value());
        event.set("action", um.collaboration.action.as_str());
        let encrypted = mime_parts(&um, msg, &matched)?;
        let security_node = parts.security.ok_or_else(|| {
            refuse(
                ErrorCode::PolicyNoncompliance,
                Some(&id),
                "the message is not signed",
                "no wsse:Security header",
            )
        })?;
        let previous = previous_recipients(&keys.identity);
        let sec = self.security(keys, &previous);
        let signer = authenticate_signer(&doc, security_node, &um.from.party_id, &sec, at)
            .map_err(|e| from_wss(e, &id))?;
        event.certificate("sending", &signer.certificate);
        if let Some(v) = signature_value(&doc, signer.signature) {
            event.signature("sending_ap_signature", &v);
        }
        let decrypted = decrypt_attachments_for(
            &doc,
            security_node,
            &encrypted,
            &sec.recipients(),
            &self.settings.spool_dir,
        )
        .map_err(|e| from_wss(e, &id))?;
        let receipt_by = receipt_signer(&keys.identity, &decrypted);
        let timestamp = timestamp_element(&doc, security_node).map_err(|e| from_wss(e, &id))?;
        let coverage = RequiredCoverage {
            messaging: parts.messaging,
            body: parts.body,
            timestamp,
            attachments: encrypted.iter().map(|p| p.content_id.clone()).collect(),
        };
        let verified = verify_signature(&doc, security_node, &signer, &coverage, &decrypted)
            .map_err(|e| from_wss(e, &id))?;
        if let Some(ts) = timestamp {
            let skew = time::Duration::try_from(self.settings.clock_skew)
                .unwrap_or(time::Duration::minutes(5));
            check_timestamp(&doc, ts, at, skew).map_err(|e| from_wss(e, &id))?;
        }
        if let Some(existing) = self
            .store
            .dedup_lookup(&um.from.party_id, &id, at)
            .map_err(local)?
        {
            return self
                .duplicate(existing, &um, &verified, at, receipt_by)
                .map(|r| (r, existing, true));
        }
        let payload = decrypted
            .iter()
            .find(|d| d.content_id == matched.content_id)
            .ok_or_else(|| Refusal::Local("decrypted payload missing".into()))?;
        let (staged, prefix) = self.store_payload(payload, matched.compressed, &id)?;
        let header = xhe::read_header(&prefix).map_err(|e| {
            not_serviced(
                &id,
                format!("the XHE envelope header cannot be read: {}", e.0),
            )
        })?;
        event.set("xhe_id", header.id.as_str());
        self.check_xhe(&um, &matched, &header)?;
        let receipt = self.receipt(&um, &verified, at, receipt_by)?;
        match self.persist(
            msg, &um, &matched, &header, staged, &receipt, at, &signer, event,
        )? {
            Ok(key) => Ok((receipt, key, false)),
            // A concurrent copy won: answer with its receipt.
            Err(existing) => self
                .duplicate(existing, &um, &verified, at, receipt_by)
                .map(|r| (r, existing, true)),
        }
    }

    fn security<'a>(
        &self,
        keys: &'a MshKeys,
        previous: &'a [Recipient<'a>],
    ) -> InboundSecurity<'a> {
        InboundSecurity {
            trust: &keys.trust.store,
            revocation: &keys.trust.revocation,
            our_certificate: &keys.identity.certificate,
            our_key: &keys.identity.decryption,
            previous,
            clock_skew: time::Duration::try_from(self.settings.clock_skew)
                .unwrap_or(time::Duration::minutes(5)),
        }
    }

    /// Step 4: the UserMessage against DIGG's P-Mode.
    fn pmode_match(&self, um: &UserMessage, identity: &ApIdentity) -> Result<Matched, Refusal> {
        let pm = PMode;
        let id = um.info.message_id.as_str();
        let mismatch = |what: String| {
            refuse(
                ErrorCode::ProcessingModeMismatch,
                Some(id),
                &what,
                what.clone(),
            )
        };
        if id.len() > MAX_MESSAGE_ID || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(refuse(
                ErrorCode::FeatureNotSupported,
                None,
                "MessageId must be at most 255 characters without whitespace",
                format!("MessageId of {} bytes", id.len()),
            ));
        }
        if let Some(mpc) = &um.mpc
            && mpc != pm.mpc()
        {
            let text = format!("MPC {mpc:?} is not used; only the default MPC");
            return Err(refuse(
                ErrorCode::ValueNotRecognized,
                Some(id),
                &text,
                text.clone(),
            ));
        }
        for (party, role, name) in [
            (&um.from, pm.initiator_role(), "From"),
            (&um.to, pm.responder_role(), "To"),
        ] {
            if party.party_type.as_deref() != Some(pm.party_type()) {
                return Err(mismatch(format!(
                    "{name}/PartyId type must be {}",
                    pm.party_type()
                )));
            }
            if party.role != role {
                return Err(mismatch(format!("{name}/Role must be {role}")));
            }
        }
        if um.to.party_id != identity.party_id {
            return Err(mismatch(format!(
                "To/PartyId {:?} is not this access point ({})",
                um.to.party_id, identity.party_id
            )));
        }
        let c = &um.collaboration;
        if c.service != pm.service()
            || !c
                .service_type
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case(pm.service_type()))
        {
            return Err(mismatch(format!(
                "Service must be {} of type {}",
                pm.service(),
                pm.service_type()
            )));
        }
        let (leg, model) = pm
            .leg_of_action(&c.action)
            .filter(|(leg, model)| self.served.document(*leg, *model))
            .ok_or_else(|| not_serviced(id, format!("document type {} is not served", c.action)))?;
        let participant = |name: &str| -> Result<ParticipantId, Refusal> {
            let p = um
                .property_entry(name)
                .ok_or_else(|| mismatch(format!("MessageProperty {name} is required (once)")))?;
            if p.property_type.as_deref() != Some(pm.participant_property_type()) {
                return Err(mismatch(format!(
                    "MessageProperty {name} must have type {}",
                    pm.participant_property_type()
                )));
            }
            ParticipantId::parse(&p.value).map_err(|e| {
                let text = format!("MessageProperty {name}: {e}");
                refuse(ErrorCode::InvalidHeader, Some(id), &text, text.clone())
            })
        };
        let original_sender = participant(pm.original_sender_property())?;
        let final_recipient = participant(pm.final_recipient_property())?;
        let [part] = um.parts.as_slice() else {
            return Err(mismatch(format!(
                "{} PartInfo elements; the profile has exactly one payload ({})",
                um.parts.len(),
                pm.payload_href()
            )));
        };
        match part.href.as_deref() {
            None => return Err(mismatch("payload in the SOAP Body is not used".into())),
            Some(h) if !h.starts_with("cid:") => {
                let text = format!("external payload {h:?} is not used");
                return Err(refuse(
                    ErrorCode::ExternalPayloadError,
                    Some(id),
                    &text,
                    text.clone(),
                ));
            }
            Some(h) if h != pm.payload_href() => {
                return Err(mismatch(format!(
                    "payload {h:?}; the profile's payload is {}",
                    pm.payload_href()
                )));
            }
            Some(_) => {}
        }
        match part.property("MimeType") {
            Some("text/xml" | "application/xml") => {}
            Some(other) => {
                return Err(mismatch(format!(
                    "payload MimeType {other:?} is not an XML type"
                )));
            }
            None => return Err(mismatch("PartProperty MimeType is required".into())),
        }
        let compressed = match part.property("CompressionType") {
            None => false,
            Some(t) if t == pm.compression_type() => true,
            Some(other) => {
                let text = format!("CompressionType {other:?} is not supported (application/gzip)");
                return Err(refuse(
                    ErrorCode::DecompressionFailure,
                    Some(id),
                    &text,
                    text.clone(),
                ));
            }
        };
        Ok(Matched {
            leg,
            model,
            original_sender,
            final_recipient,
            compressed,
            content_id: part.content_id().unwrap_or_default(),
        })
    }

    /// Step 10: decrypted payload → (gunzip) → the store's blob writer, keeping the first bytes
    /// for the header check. Nothing is committed yet: dropping the staged blob removes it.
    fn store_payload(
        &self,
        payload: &DecryptedPart,
        compressed: bool,
        id: &str,
    ) -> Result<(StagedBlob, Vec<u8>), Refusal> {
        let writer = self.store.blob_writer().map_err(local)?;
        let mut capture = PrefixCapture::new(BlobSink(writer), HEADER_PREFIX_LIMIT);
        let mut input = BufReader::with_capacity(
            256 * 1024,
            std::fs::File::open(&payload.file).map_err(|e| Refusal::Local(e.to_string()))?,
        );
        if compressed {
            let mut gunzip = Gunzip::new(capture, self.settings.gzip);
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = input
                    .read(&mut buf)
                    .map_err(|e| Refusal::Local(e.to_string()))?;
                if n == 0 {
                    break;
                }
                gunzip
                    .write_compressed(&buf[..n])
                    .map_err(|e| gunzip_refusal(e, id))?;
            }
            let (c, _) = gunzip.finish().map_err(|e| gunzip_refusal(e, id))?;
            capture = c;
        } else {
            std::io::copy(&mut input, &mut capture).map_err(|e| Refusal::Local(e.to_string()))?;
        }
        let (sink, prefix) = capture.into_parts();
        let staged = sink.0.finish().map_err(local)?;
        Ok((staged, prefix))
    }

    /// Step 11: the XHE header must agree with the AS4 header, and we must serve the recipient.
    fn check_xhe(&self, um: &UserMessage, m: &Matched, h: &XheHeader) -> Result<(), Refusal> {
        let id = um.info.message_id.as_str();
        let c = &um.collaboration;
        let party = |(_, v): &(Option<String>, String)| ParticipantId::parse(v).ok();
        if party(&h.to).as_ref() != Some(&m.final_recipient) {
            return Err(not_serviced(
                id,
                format!(
                    "finalRecipient {} is not the XHE ToParty {}",
                    m.final_recipient, h.to.1
                ),
            ));
        }
        if party(&h.from).as_ref() != Some(&m.original_sender) {
            return Err(not_serviced(
                id,
                format!(
                    "originalSender {} is not the XHE FromParty {}",
                    m.original_sender, h.from.1
                ),
            ));
        }
        let process = h
            .criterion("PROCESSID")
            .zip(h.criterion("PROCESSID_SCHEME"))
            .and_then(|(v, s)| ProcessId::from_parts(s, v).ok());
        let service = c
            .service_type
            .as_deref()
            .and_then(|t| ProcessId::from_parts(t, &c.service).ok());
        if process.is_none() || process != service {
            return Err(not_serviced(
                id,
                "Service does not match the XHE PROCESSID / PROCESSID_SCHEME".into(),
            ));
        }
        let document = h
            .criterion("DOCUMENTID")
            .zip(h.criterion("DOCUMENTID_SCHEME"))
            .and_then(|(v, s)| DocumentId::from_parts(s, v).ok());
        if document.map(|d| d.qualified()).as_deref() != Some(c.action.as_str()) {
            return Err(not_serviced(
                id,
                "Action does not match the XHE DOCUMENTID_SCHEME::DOCUMENTID".into(),
            ));
        }
        if h.criterion("FEDERATIONID") != Some(self.settings.federation_id.as_str()) {
            return Err(not_serviced(
                id,
                format!(
                    "XHE FEDERATIONID {:?} is not this federation ({})",
                    h.criterion("FEDERATIONID"),
                    self.settings.federation_id
                ),
            ));
        }
        if !self.served.participant(&m.final_recipient) {
            return Err(not_serviced(
                id,
                format!(
                    "participant {} is not served by this access point",
                    m.final_recipient
                ),
            ));
        }
        if c.conversation_id != h.id {
            tracing::warn!(
                conversation_id = %c.conversation_id,
                xhe_id = %h.id,
                "ConversationId is not the XHE id (TP-2.7.a); accepted (sources disagree, digest §8.5)"
            );
        }
        Ok(())
    }

    /// The signed receipt echoing every verified reference (NonRepudiationInformation).
    fn receipt(
        &self,
        um: &UserMessage,
        verified: &VerifiedSignature,
        at: OffsetDateTime,
        signer: Signer<'_>,
    ) -> Result<Vec<u8>, Refusal> {
        let refs = nr_references(verified);
        let sm = SignalMessage {
            info: MessageInfo {
                timestamp: at,
                message_id: new_message_id(),
                ref_to_message_id: Some(um.info.message_id.clone()),
            },
            signal: Signal::Receipt(refs),
        };
        let mid = new_xml_id("_signal");
        let header = ebms::write::signal_message_header(&sm, Some(&mid));
        sign_signal(&header, &mid, signer, at)
            .map_err(|e| Refusal::Local(format!("signing the receipt: {e}")))
    }

    #[allow(clippy::too_many_arguments)]
    fn persist(
        &self,
        msg: &ReceivedMessage,
        um: &UserMessage,
        m: &Matched,
        header: &XheHeader,
        xhe: StagedBlob,
        receipt: &[u8],
        at: OffsetDateTime,
        signer: &AuthenticatedSigner,
        event: &As4Event,
    ) -> Result<Result<MessageKey, MessageKey>, Refusal> {
        let evidence = |bytes: &[u8]| -> Result<StagedBlob, Refusal> {
            let mut w = self.store.blob_writer().map_err(local)?;
            w.write_all(bytes)
                .map_err(|e| Refusal::Local(e.to_string()))?;
            w.finish().map_err(local)
        };
        let mut new = NewMessage::new(Direction::Inbound, at, ACTOR_RECEIVER);
        new.sender = Some(m.original_sender.value().to_owned());
        new.recipient = Some(m.final_recipient.value().to_owned());
        new.document_type = Some(um.collaboration.action.clone());
        new.correlation.xhe_id = Some(header.id.clone());
        new.correlation.as4_message_id = Some(um.info.message_id.clone());
        new.correlation.conversation_id = Some(um.collaboration.conversation_id.clone());
        new.content.push((XHE_CONTENT.to_owned(), xhe));
        new.evidence.push((
            USER_MESSAGE_EVIDENCE.to_owned(),
            evidence(&msg.root.content)?,
        ));
        new.evidence
            .push((RECEIPT_EVIDENCE.to_owned(), evidence(receipt)?));
        let window = time::Duration::try_from(self.settings.dedup_window)
            .unwrap_or(time::Duration::days(10));
        new.dedup = Some(DedupKey {
            from_party: um.from.party_id.clone(),
            as4_message_id: um.info.message_id.clone(),
            expires_at: at + window,
        });
        // The AP-3.4.1 reception event is durable with the record, before the receipt goes out.
        let mut accepted = event.clone();
        accepted.outcome("accepted");
        new.audit.push(accepted.into_event());
        match self.store.create_message(new).map_err(local)? {
            Created::New(record) => {
                self.handoff.accepted(&InboundMessage {
                    key: record.key,
                    as4_message_id: um.info.message_id.clone(),
                    from_ap: signer
                        .certificate
                        .common_name()
                        .unwrap_or_default()
                        .to_owned(),
                    leg: m.leg,
                    model: m.model,
                    original_sender: m.original_sender.clone(),
                    final_recipient: m.final_recipient.clone(),
                    xhe_id: header.id.clone(),
                    received_at: at,
                });
                Ok(Ok(record.key))
            }
            Created::Duplicate { existing } => Ok(Err(existing)),
        }
    }

    /// A MessageId seen before (the sender retried because our receipt was lost): if the
    /// payload digests are those of the stored copy, it is acknowledged again — with a fresh
    /// receipt whose NonRepudiationInformation echoes *this* transmission's references (a
    /// retry is re-signed, so its header digests differ) — and not stored or handed on again.
    /// Other content under a used MessageId is refused (`EBMS:0003`).
    fn duplicate(
        &self,
        existing: MessageKey,
        um: &UserMessage,
        verified: &VerifiedSignature,
        at: OffsetDateTime,
        signer: Signer<'_>,
    ) -> Result<Vec<u8>, Refusal> {
        let record = self
            .store
            .get_message(&existing)
            .map_err(local)?
            .ok_or_else(|| Refusal::Local("duplicate's record vanished".into()))?;
        let mut stored = Vec::new();
        if let Some(ev) = record.evidence.iter().find(|e| e.kind == RECEIPT_EVIDENCE) {
            self.store
                .open_blob(&ev.blob)
                .map_err(local)?
                .take(4 << 20)
                .read_to_end(&mut stored)
                .map_err(|e| Refusal::Local(e.to_string()))?;
        }
        let now: Vec<(String, Vec<u8>)> = verified
            .references()
            .iter()
            .filter(|r| r.uri.starts_with("cid:"))
            .map(|r| (r.uri.clone(), r.digest_value.clone()))
            .collect();
        if attachment_digests_of_receipt(&stored) != now {
            let id = um.info.message_id.as_str();
            let text = format!("MessageId {id} was already received with other content");
            return Err(refuse(
                ErrorCode::ValueInconsistent,
                Some(id),
                &text,
                text.clone(),
            ));
        }
        let receipt = self.receipt(um, verified, at, signer)?;
        let mut w = self.store.blob_writer().map_err(local)?;
        w.write_all(&receipt)
            .map_err(|e| Refusal::Local(e.to_string()))?;
        let blob = w.finish().map_err(local)?;
        let update = sdkgw_store::Update::none(at, ACTOR_RECEIVER)
            .note("duplicate acknowledged again")
            .evidence(RECEIPT_EVIDENCE, blob);
        self.store.update(&existing, update).map_err(local)?;
        Ok(receipt)
    }
}

/// The previous AP keys as decryption recipients.
fn previous_recipients(identity: &ApIdentity) -> Vec<Recipient<'_>> {
    identity
        .previous
        .iter()
        .map(|p| Recipient {
            certificate: &p.certificate,
            key: &p.decryption,
        })
        .collect()
}

/// Who signs the receipt: the key the message was encrypted for. That is the current AP key,
/// except for a peer whose SMP cache still holds our previous certificate (a rollover): it
/// can only verify a receipt of the certificate it encrypted for.
fn receipt_signer<'a>(identity: &'a ApIdentity, decrypted: &[DecryptedPart]) -> Signer<'a> {
    let used = decrypted.first().map_or(0, |d| d.key_index);
    match used.checked_sub(1).and_then(|i| identity.previous.get(i)) {
        Some(p) => Signer {
            certificate: &p.certificate,
            key: &p.key,
        },
        None => Signer {
            certificate: &identity.certificate,
            key: &identity.key,
        },
    }
}

/// Byte sink that forwards to a store blob writer (boxed trait object → `Write`).
struct BlobSink(Box<dyn BlobWriter>);

impl Write for BlobSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

fn gunzip_refusal(e: crate::compress::DecompressError, id: &str) -> Refusal {
    if e.is_peer_error() {
        refuse(
            ErrorCode::DecompressionFailure,
            Some(id),
            "the payload could not be decompressed",
            e.to_string(),
        )
    } else {
        Refusal::Local(format!("decompression output: {e}"))
    }
}

fn soap_refusal(e: SoapError) -> Refusal {
    let (code, fault) = match &e {
        SoapError::VersionMismatch(_) => {
            (ErrorCode::FeatureNotSupported, FaultCode::VersionMismatch)
        }
        SoapError::MustUnderstand(_) => (ErrorCode::InvalidHeader, FaultCode::MustUnderstand),
        SoapError::Security(_) => (ErrorCode::PolicyNoncompliance, FaultCode::Sender),
        SoapError::Malformed(_) | SoapError::Messaging(_) => {
            (ErrorCode::InvalidHeader, FaultCode::Sender)
        }
    };
    let text = e.to_string();
    Refusal::Peer {
        error: Box::new(EbmsError::new(code, None).with_description(text.clone())),
        reason: text,
        fault,
    }
}

/// Step 3: exactly one UserMessage and no signal.
fn user_message(doc: &Document, parts: &EnvelopeParts) -> Result<UserMessage, Refusal> {
    let header = |text: String| refuse(ErrorCode::InvalidHeader, None, &text, text.clone());
    let el = doc
        .element(parts.messaging)
        .ok_or_else(|| header("no eb:Messaging".into()))?;
    let m = ebms::read::messaging(el).map_err(|e| header(e.to_string()))?;
    if !m.signal_messages.is_empty() {
        let text =
            "signal messages are not accepted as requests (one-way push, synchronous signals)"
                .to_owned();
        return Err(refuse(
            ErrorCode::FeatureNotSupported,
            None,
            &text,
            text.clone(),
        ));
    }
    let mut ums = m.user_messages;
    if ums.len() != 1 {
        return Err(header(format!(
            "{} UserMessages; exactly one is required",
            ums.len()
        )));
    }
    Ok(ums.remove(0))
}

/// PartInfo ↔ MIME parts: each described part present, no undescribed part.
fn mime_parts(
    um: &UserMessage,
    msg: &ReceivedMessage,
    m: &Matched,
) -> Result<Vec<EncryptedPart>, Refusal> {
    let id = um.info.message_id.as_str();
    let Some(part) = msg.attachment(&m.content_id) else {
        let text = format!("no MIME part with Content-ID <{}>", m.content_id);
        return Err(refuse(
            ErrorCode::MimeInconsistency,
            Some(id),
            &text,
            text.clone(),
        ));
    };
    if let Some(extra) = msg
        .attachments
        .iter()
        .find(|a| a.headers.content_id() != Some(m.content_id.as_str()))
    {
        let text = format!(
            "MIME part <{}> is not described by PartInfo",
            extra.headers.content_id().unwrap_or_default()
        );
        return Err(refuse(
            ErrorCode::MimeInconsistency,
            Some(id),
            &text,
            text.clone(),
        ));
    }
    Ok(vec![EncryptedPart {
        content_id: m.content_id.clone(),
        path: part.path.to_path_buf(),
    }])
}

/// The NonRepudiationInformation of a verified signature: each reference as it was signed.
pub fn nr_references(verified: &VerifiedSignature) -> Vec<NrReference> {
    verified
        .references()
        .iter()
        .map(|r| NrReference {
            uri: r.uri.clone(),
            transforms: r
                .transforms
                .iter()
                .map(|t| {
                    let prefixes = match t {
                        Transform::C14n(a) => a.prefix_list(),
                        _ => None,
                    };
                    (t.uri().to_owned(), prefixes)
                })
                .collect(),
            digest_method: r.digest_method.uri().to_owned(),
            digest_value: r.digest_value.clone(),
        })
        .collect()
}

/// The `cid:` references of a stored receipt, for comparing a duplicate's payload.
fn attachment_digests_of_receipt(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let Ok(doc) = Document::parse_slice(bytes, &soap_parse_options()) else {
        return Vec::new();
    };
    let Ok(parts) = soap::locate(&doc) else {
        return Vec::new();
    };
    let Some(Ok(m)) = doc.element(parts.messaging).map(ebms::read::messaging) else {
        return Vec::new();
    };
    m.signal_messages
        .into_iter()
        .find_map(|s| match s.signal {
            Signal::Receipt(refs) => Some(refs),
            _ => None,
        })
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.uri.starts_with("cid:"))
        .map(|r| (r.uri, r.digest_value))
        .collect()
}

/// The decoded `ds:SignatureValue` of a Signature element.
pub(crate) fn signature_value(doc: &Document, signature: NodeId) -> Option<Vec<u8>> {
    let v = doc
        .element(signature)?
        .child(Some(DSIG_NS), "SignatureValue")?;
    let text: String = v.text().chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .ok()
}

/// An unsigned error signal with a SOAP Fault in the Body.
pub fn error_envelope(
    err: &EbmsError,
    ref_to: Option<&str>,
    fault: FaultCode,
    at: OffsetDateTime,
) -> Vec<u8> {
    let sm = SignalMessage {
        info: MessageInfo {
            timestamp: at,
            message_id: new_message_id(),
            ref_to_message_id: ref_to.map(str::to_owned),
        },
        signal: Signal::Errors(vec![err.clone()]),
    };
    let header = ebms::write::signal_message_header(&sm, None);
    let reason = err
        .description
        .clone()
        .unwrap_or_else(|| err.short_description.clone().unwrap_or_default());
    soap::envelope(
        &[&header],
        &new_xml_id("body"),
        &soap::fault_body(fault, &reason),
    )
    .into_bytes()
}
