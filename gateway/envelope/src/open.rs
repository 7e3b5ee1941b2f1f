//! Opening (the receiver, corner C4; digest §5): typestates that make "verify, then decrypt,
//! then use" the only order the compiler accepts.
//!
//! ```text
//! bytes ─parse─► ReceivedEnvelope ─verify─► VerifiedEnvelope ─decrypt─► DecryptedPayload ─validate─► OpenedMessage
//!                (unverified header         (verified header,           (plaintext, not              (typed message;
//!                 for routing only)          signer certificate)         yet validated)               acceptance receipt)
//! ```
//!
//! Only [`VerifiedEnvelope`] can decrypt, and only [`OpenedMessage`] exposes the message.
//! [`open`] runs the whole pipeline and says what to answer: an [`Opened`] outcome (deliver,
//! reject with a receipt, an inbound receipt, a re-delivery), or a [`Refusal`] that gets no
//! receipt. Refusals and signature failures tell a peer nothing specific; the detail is in
//! `log_reason()` for the gateway's own log.

use sdkgw_certs::Certificate;
use sdkgw_schemas::codelists::{MessageType, RejectionCase};
use sdkgw_schemas::{FunctionAddress, ParticipantId, codelists};
use sdkgw_xml_security::crypto::{AlgorithmPolicy, DecryptionKey, DigestMethod};
use sdkgw_xml_security::dsig::{EmbeddedCertificate, Verifier, VerifyPolicy};
use sdkgw_xml_security::x509::{MessagePurpose, O2o, RevocationChecker, TrustStore};
use sdkgw_xml_security::xenc::{self, RecipientKey, XencError};
use sdkgw_xml_security::xml::{
    Document, ElementRef, Fragment, Limits, NodeRef, NsDecl, ParseError, ParseOptions, is_xml_space,
};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::finding::Report;
use crate::message::{self, MessagePolicy, Previous, ScanFailed, SdkMessage};
use crate::ns::{self, XHA};
use crate::receipt::{self, LineResponse, Receipt, ReceiptContext};
use crate::rejection::{self, Stage};
use crate::seal::{SealError, Signer, seal_receipt};
use crate::xhe::{self, TransportIssue, Xhe, XheContext};

/// Why an envelope gets no receipt (C3.2.4 §2.1.2 and the decisions in the crate docs). The
/// `Display` text is what a peer or an operator may see; [`Refusal::log_reason`] has detail.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Not well-formed XML, a DTD, or a parser limit (size, depth, …) exceeded.
    #[error("the envelope is not acceptable XML: {0}")]
    Malformed(#[source] ParseError),
    /// The XHE breaks its profile (escalate to the platform operator; no receipt).
    #[error("the envelope does not conform to the XHE profile")]
    Envelope(Report),
    /// ToParty is not a participant served here (the AP's `NOT_SERVICED`).
    #[error("the envelope is not addressed to a participant served here")]
    NotServed(ParticipantId),
    /// The payload cannot be decrypted: every cause looks the same.
    #[error("the payload could not be decrypted")]
    Undecryptable(String),
    /// An inbound receipt whose signature or content is not acceptable (never answered).
    #[error("the receipt is not acceptable")]
    BadReceipt(String),
    /// The answer could not be built (a bug or a configuration problem; alert, retry).
    #[error("internal error while building the receipt")]
    Internal(String),
    /// An attachment could not be scanned for malware (GW-MSG-11): neither accepted nor
    /// rejected; alert and try again later, never take it as clean.
    #[error("an attachment could not be scanned for malware")]
    Unscanned(String),
}

impl Refusal {
    /// The internal cause, for the gateway's log only.
    pub fn log_reason(&self) -> String {
        match self {
            Refusal::Malformed(e) => e.to_string(),
            Refusal::Envelope(r) => r.to_string(),
            Refusal::NotServed(p) => format!("ToParty {p} is not served"),
            Refusal::Undecryptable(reason)
            | Refusal::BadReceipt(reason)
            | Refusal::Internal(reason)
            | Refusal::Unscanned(reason) => reason.clone(),
        }
    }
}

/// Which of our O2O keys may decrypt. [`DecryptionKeys`] is the usual implementation; the
/// open pipeline asks for the keys only when it decrypts (after the signature verified).
pub trait KeyRing {
    /// The keys, each with its certificate (matched against the EncryptedKey's certificate).
    fn recipient_keys(&self) -> Vec<RecipientKey<'_>>;
}

/// Our O2O encryption keys, prepared once (several during a certificate rollover).
#[derive(Debug)]
pub struct DecryptionKeys {
    keys: Vec<(DecryptionKey, Option<Certificate>)>,
}

impl DecryptionKeys {
    /// Prepares `(key, certificate)` pairs.
    pub fn new(
        pairs: &[(&sdkgw_certs::PrivateKey, &Certificate)],
    ) -> Result<Self, sdkgw_certs::CertError> {
        let pairs: Vec<_> = pairs.iter().map(|(k, c)| (*k, Some(*c))).collect();
        Self::with_optional_certificates(&pairs)
    }

    /// Prepares keys whose certificate may be unknown (such a key is matched against the
    /// EncryptedKey's certificate by its public key).
    pub fn with_optional_certificates(
        pairs: &[(&sdkgw_certs::PrivateKey, Option<&Certificate>)],
    ) -> Result<Self, sdkgw_certs::CertError> {
        let keys = pairs
            .iter()
            .map(|(k, c)| Ok((DecryptionKey::new(k)?, c.cloned())))
            .collect::<Result<_, sdkgw_certs::CertError>>()?;
        Ok(DecryptionKeys { keys })
    }
}

impl KeyRing for DecryptionKeys {
    fn recipient_keys(&self) -> Vec<RecipientKey<'_>> {
        self.keys
            .iter()
            .map(|(key, cert)| RecipientKey {
                key,
                cert: cert.as_ref(),
            })
            .collect()
    }
}

/// How the sender's signature is trusted (digest §2.6 order: signature, CertPub identity,
/// chain, validity, revocation).
#[derive(Clone, Copy)]
pub struct SignerTrust<'a> {
    /// The CertPub signing certificate of FromParty, when looked up: the signer must be it.
    pub certpub: Option<&'a Certificate>,
    /// The O2O issuers of this environment.
    pub store: &'a TrustStore<O2o>,
    /// Revocation sources and policy.
    pub revocation: &'a RevocationChecker,
}

impl std::fmt::Debug for SignerTrust<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerTrust")
            .field("certpub", &self.certpub.map(Certificate::subject))
            .field("anchors", &self.store.anchors().len())
            .finish_non_exhaustive()
    }
}

/// A parsed envelope whose profile checked, before any cryptography.
#[derive(Debug)]
pub struct ReceivedEnvelope {
    doc: Document,
    header: Xhe,
    transport_issue: Option<TransportIssue>,
    sha256: [u8; 32],
}

/// A signature failure (or a missing signature/encryption under sigenc): answered with
/// REJECTED/SIG for messages, never for receipts.
#[derive(Debug, Clone)]
pub struct SignatureFailure {
    /// The (unverified) header, to address the receipt.
    pub header: Xhe,
    /// Which B1.3.3 case.
    pub case: RejectionCase,
    log: String,
}

impl SignatureFailure {
    /// The internal cause, for the gateway's log only.
    pub fn log_reason(&self) -> &str {
        &self.log
    }
}

/// Parser options for a document of at most `max_bytes`: the XHE (its CipherValue is one
/// text node of nearly the whole size) or the decrypted payload (one Base64 file may be most
/// of it). The structural limits (depth, attributes, nodes) stay the defaults.
pub(crate) fn sized(max_bytes: usize) -> ParseOptions {
    ParseOptions {
        limits: Limits {
            max_bytes,
            max_text_len: max_bytes,
            ..Limits::default()
        },
        ..ParseOptions::default()
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&DigestMethod::Sha256.digest(bytes));
    out
}

impl ReceivedEnvelope {
    /// Stages 0–3: parse within limits (at most [`message::DEFAULT_MAX_XHE_BYTES`]), check
    /// the XHE profile. A transport-model problem that B1.3.3 answers with SIG is kept for
    /// [`ReceivedEnvelope::verify`]; every other finding refuses the envelope.
    pub fn parse(bytes: Vec<u8>, ctx: &XheContext) -> Result<ReceivedEnvelope, Refusal> {
        Self::parse_within(bytes, ctx, message::DEFAULT_MAX_XHE_BYTES)
    }

    /// [`ReceivedEnvelope::parse`] for an XHE of at most `max_bytes` (the AS4 message limit,
    /// [`MessagePolicy::max_xhe_bytes`]); larger is [`Refusal::Malformed`].
    pub fn parse_within(
        bytes: Vec<u8>,
        ctx: &XheContext,
        max_bytes: usize,
    ) -> Result<ReceivedEnvelope, Refusal> {
        let sha256 = sha256(&bytes);
        let doc = Document::parse(bytes, &sized(max_bytes)).map_err(Refusal::Malformed)?;
        let checked = xhe::check(&doc, ctx);
        let signature_issue = checked
            .transport_issue
            .is_some_and(TransportIssue::is_signature_rejection);
        let header = match checked.header {
            Some(h) if checked.report.is_conformant() || signature_issue => h,
            _ => return Err(Refusal::Envelope(checked.report)),
        };
        if signature_issue && header.message_type == MessageType::Receipt {
            return Err(Refusal::Envelope(checked.report));
        }
        Ok(ReceivedEnvelope {
            doc,
            header,
            transport_issue: checked.transport_issue,
            sha256,
        })
    }

    /// The header as received, **not verified**: for routing and for looking up the sender's
    /// CertPub certificate, nothing else.
    pub fn unverified_header(&self) -> &Xhe {
        &self.header
    }

    /// Stages 5–6: the transport model's protection, then the signature (allow-listed
    /// algorithms, one enveloped reference over the whole XHE), the signer = the CertPub
    /// certificate when given, and its path to an O2O issuer at `at`, with revocation.
    pub fn verify(
        self,
        trust: &SignerTrust<'_>,
        at: OffsetDateTime,
    ) -> Result<VerifiedEnvelope, Box<SignatureFailure>> {
        let fail = |header: Xhe, case: RejectionCase, log: String| {
            Box::new(SignatureFailure { header, case, log })
        };
        if let Some(issue) = self.transport_issue {
            let case = match issue {
                TransportIssue::NotEncrypted => RejectionCase::NotEncrypted,
                _ => RejectionCase::SenderSignatureMismatch,
            };
            return Err(fail(
                self.header,
                case,
                format!("transport model: {issue:?}"),
            ));
        }
        if !self
            .header
            .transport_model
            .requires_signature_and_encryption()
        {
            return Ok(VerifiedEnvelope {
                doc: self.doc,
                header: self.header,
                signer: None,
                sha256: self.sha256,
            });
        }
        let mismatch = RejectionCase::SenderSignatureMismatch;
        let verified = match Verifier::new(&VerifyPolicy::xhe(), &EmbeddedCertificate)
            .verify_enveloped(&self.doc)
        {
            Ok(v) => v,
            Err(e) => {
                return Err(fail(
                    self.header,
                    mismatch,
                    format!("signature: {}", e.reason()),
                ));
            }
        };
        let signer = verified.key().certificate().clone();
        if let Some(expected) = trust.certpub
            && expected != &signer
        {
            let log = format!(
                "signer {} is not FromParty's CertPub signing certificate",
                signer.subject()
            );
            return Err(fail(self.header, mismatch, log));
        }
        if let Err(e) = trust.store.validate(
            &signer,
            &[],
            MessagePurpose::Signature,
            at,
            trust.revocation,
        ) {
            return Err(fail(
                self.header,
                mismatch,
                format!("signer certificate: {e}"),
            ));
        }
        Ok(VerifiedEnvelope {
            doc: self.doc,
            header: self.header,
            signer: Some(signer),
            sha256: self.sha256,
        })
    }
}

/// An envelope whose signature verified (or that is `tm-base`, which has none).
#[derive(Debug)]
pub struct VerifiedEnvelope {
    doc: Document,
    header: Xhe,
    signer: Option<Certificate>,
    sha256: [u8; 32],
}

/// A verified inbound receipt. It is never answered with a receipt.
#[derive(Debug, Clone)]
pub struct InboundReceipt {
    /// The receipt's envelope header.
    pub header: Xhe,
    /// The receipt (DocumentReference/ID names the outbound XHE it answers).
    pub receipt: Receipt,
    /// Who signed it (`None` under tm-base).
    pub signer: Option<Certificate>,
}

fn payload_content(doc: &Document) -> Option<ElementRef<'_>> {
    doc.root()
        .child(Some(XHA), "Payloads")?
        .child(Some(XHA), "Payload")?
        .child(Some(XHA), "PayloadContent")
}

impl VerifiedEnvelope {
    /// The verified header.
    pub fn header(&self) -> &Xhe {
        &self.header
    }

    /// The signer's certificate (`None` under tm-base).
    pub fn signer(&self) -> Option<&Certificate> {
        self.signer.as_ref()
    }

    /// SHA-256 of the envelope bytes (to recognise a re-delivery).
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }

    /// Reads a receipt envelope's ApplicationResponse (plaintext; receipts are never
    /// encrypted) and checks it against the receipt profile.
    pub fn read_receipt(self) -> Result<InboundReceipt, Refusal> {
        let bad = |why: String| Refusal::BadReceipt(why);
        if self.header.message_type != MessageType::Receipt {
            return Err(bad("not a receipt envelope".into()));
        }
        let root = payload_content(&self.doc)
            .and_then(|c| c.child_elements().next())
            .ok_or_else(|| bad("no ApplicationResponse".into()))?;
        let checked = receipt::check(root, &ReceiptContext::default());
        let receipt = checked
            .receipt
            .ok_or_else(|| bad(checked.report.to_string()))?;
        Ok(InboundReceipt {
            header: self.header,
            receipt,
            signer: self.signer,
        })
    }

    /// Stage 7: decrypts the payload with whichever of our keys matches the EncryptedKey's
    /// certificate. Every failure is the same [`Refusal::Undecryptable`]. The envelope's tree
    /// is dropped here: from now on only the plaintext (and the verified header) is kept.
    pub fn decrypt(self, keys: &dyn KeyRing) -> Result<DecryptedPayload, Refusal> {
        let undecryptable = |why: &str| Refusal::Undecryptable(why.to_owned());
        let content =
            payload_content(&self.doc).ok_or_else(|| undecryptable("no PayloadContent"))?;
        let context = content.in_scope_namespaces();
        let plaintext = if self.header.payload.encrypted {
            let encrypted = content
                .child(Some(ns::XENC), "EncryptedData")
                .ok_or_else(|| undecryptable("no EncryptedData"))?;
            let recipient_keys = keys.recipient_keys();
            match xenc::decrypt_element(
                &self.doc,
                encrypted,
                &recipient_keys,
                &AlgorithmPolicy::xhe(),
            ) {
                Ok((plaintext, _item)) => plaintext,
                Err(e) => return Err(Refusal::Undecryptable(decryption_log(&e))),
            }
        } else {
            // tm-base: the plaintext is PayloadContent's content as it was sent.
            Zeroizing::new(self.doc.bytes()[content.span().content].to_vec())
        };
        drop(self.doc);
        Ok(DecryptedPayload {
            plaintext,
            context,
            header: self.header,
            signer: self.signer,
            sha256: self.sha256,
        })
    }
}

fn decryption_log(e: &XencError) -> String {
    match e {
        XencError::Decryption(d) => format!("decryption failed: {}", d.log_reason()),
        other => other.to_string(),
    }
}

/// The plaintext payload of a verified envelope, not yet parsed or validated.
#[derive(Debug)]
pub struct DecryptedPayload {
    plaintext: Zeroizing<Vec<u8>>,
    /// The namespaces in scope at `PayloadContent` (the plaintext may use them).
    context: Vec<NsDecl>,
    header: Xhe,
    signer: Option<Certificate>,
    sha256: [u8; 32],
}

/// Why [`DecryptedPayload::validate`] gave no [`OpenedMessage`].
#[derive(Debug)]
pub enum NotValidated {
    /// The payload is rejected (answered by a REJECTED receipt).
    Rejected(Box<PayloadRejection>),
    /// An attachment could not be scanned (stage 11): no answer yet, try again later.
    Unscanned(ScanFailed),
}

/// Why a verified, decrypted payload is rejected (stages 8–11).
#[derive(Debug, Clone)]
pub struct PayloadRejection {
    /// The verified header.
    pub header: Xhe,
    /// The stage that failed.
    pub stage: Stage,
    /// The findings (paths from the payload root, `/tns:messagePayload/...`).
    pub report: Report,
    /// The sender's function address, when the message could be read.
    pub sender_function: Option<FunctionAddress>,
}

impl DecryptedPayload {
    /// The plaintext's size in bytes.
    pub fn len(&self) -> usize {
        self.plaintext.len()
    }

    /// Whether the plaintext is empty (a corrupt payload).
    pub fn is_empty(&self) -> bool {
        self.plaintext.is_empty()
    }

    /// Stages 8–11: the size limit, one well-formed `messagePayload` element as
    /// DocumentTypeCode says, the XSD, the schematron and content rules, then the
    /// cross-checks with the envelope and the receiving organisation's policy.
    pub fn validate(mut self, policy: &MessagePolicy<'_>) -> Result<OpenedMessage, NotValidated> {
        let header = self.header.clone();
        let reject = |stage: Stage, report: Report, sender_function: Option<FunctionAddress>| {
            NotValidated::Rejected(Box::new(PayloadRejection {
                header: header.clone(),
                stage,
                report,
                sender_function,
            }))
        };
        let size = message::check_size(self.plaintext.len(), policy);
        if !size.is_empty() {
            return Err(reject(Stage::Business, size, None));
        }
        // The plaintext becomes the fragment's (unzeroized) text anyway: move, do not copy.
        let bytes = std::mem::take(&mut *self.plaintext);
        let options = sized(message::xml_size_bound(policy.max_message_bytes));
        let fragment = match Fragment::parse(bytes, &self.context, &options) {
            Ok(f) => f,
            Err(e) => {
                return Err(reject(
                    Stage::Payload,
                    corrupt(&format!("not well-formed XML: {e}")),
                    None,
                ));
            }
        };
        let root = match payload_root(&fragment, &self.header) {
            Ok(root) => root,
            Err(report) => return Err(reject(Stage::Payload, report, None)),
        };
        let checked = message::validate(root, fragment.bytes());
        let Some(m) = checked.message else {
            return Err(reject(Stage::Schema, checked.report, None));
        };
        drop(fragment);
        let sender_function = m
            .sender_function()
            .and_then(|f| FunctionAddress::parse(f).ok());
        if !checked.report.is_empty() {
            return Err(reject(Stage::Rules, checked.report, sender_function));
        }
        let mut business = message::cross_check(&m, &self.header);
        let policy_findings =
            message::policy_check(&m, &self.sha256, policy).map_err(NotValidated::Unscanned)?;
        for f in policy_findings.into_findings() {
            business.push(f);
        }
        if !business.is_empty() {
            return Err(reject(Stage::Business, business, sender_function));
        }
        Ok(OpenedMessage {
            header: self.header,
            message: m,
            signer: self.signer,
            sha256: self.sha256,
        })
    }
}

/// A GW-MSG-14 finding (LineID `NA`: there is no node to point at).
fn corrupt(detail: &str) -> Report {
    let mut report = Report::default();
    report.add(sdkgw_schemas::MessageRule::PayloadWellFormed, "NA", detail);
    report
}

/// Stage 8: the plaintext is exactly one element (comments and whitespace aside), and it is
/// the `messagePayload` that `DocumentTypeCode`, `ContentTypeCode` and the SDK message type
/// announce.
fn payload_root<'f>(fragment: &'f Fragment, header: &Xhe) -> Result<ElementRef<'f>, Report> {
    let mut elements = Vec::new();
    let mut text = false;
    for node in fragment.top_level() {
        match node {
            NodeRef::Element(e) => elements.push(e),
            NodeRef::Text(t) if !t.trim_matches(is_xml_space).is_empty() => text = true,
            _ => {}
        }
    }
    let root = match elements.as_slice() {
        [one] if !text => *one,
        _ => {
            let what = if text { "and text" } else { "and no text" };
            return Err(corrupt(&format!("{} elements {what}", elements.len())));
        }
    };
    let codes = codelists().message_type(MessageType::SdkMessage);
    let eqname = format!(
        "Q{{{}}}{}",
        root.namespace().unwrap_or_default(),
        root.local_name()
    );
    if eqname != header.payload.document_type
        || eqname != codes.payload_root
        || header.payload.content_type != codes.content_type
    {
        return Err(corrupt(
            "the payload is not the messagePayload that DocumentTypeCode and ContentTypeCode announce",
        ));
    }
    Ok(root)
}

/// A valid, verified, decrypted SDK message: deliver it, then send [`OpenedMessage::acceptance`].
#[derive(Debug)]
pub struct OpenedMessage {
    header: Xhe,
    message: SdkMessage,
    signer: Option<Certificate>,
    sha256: [u8; 32],
}

/// A receipt to send: the Meddelandekvittens and, when a signer was available (or the model
/// is tm-base), its XHE envelope ready for the AP.
#[derive(Debug, Clone)]
pub struct OutgoingReceipt {
    /// The ApplicationResponse.
    pub receipt: Receipt,
    /// The enveloped (and under sigenc signed) receipt.
    pub envelope: Option<Vec<u8>>,
}

impl OpenedMessage {
    /// The verified envelope header.
    pub fn header(&self) -> &Xhe {
        &self.header
    }

    /// The message.
    pub fn message(&self) -> &SdkMessage {
        &self.message
    }

    /// The signer's certificate (`None` under tm-base).
    pub fn signer(&self) -> Option<&Certificate> {
        self.signer.as_ref()
    }

    /// SHA-256 of the envelope bytes.
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }

    /// The ACCEPTED receipt. Send it only after the message is durably delivered to its
    /// mailbox (B1.3.3: ACCEPTED means it reached the recipient's message service).
    pub fn acceptance(
        &self,
        signer: Option<Signer<'_>>,
        at: OffsetDateTime,
    ) -> Result<OutgoingReceipt, SealError> {
        let sender_function = self
            .message
            .sender_function()
            .and_then(|f| FunctionAddress::parse(f).ok());
        receipt_for(&self.header, Vec::new(), sender_function, signer, at)
    }
}

/// Builds (and envelopes, when possible) the receipt answering `original`.
pub(crate) fn receipt_for(
    original: &Xhe,
    lines: Vec<receipt::LineResponse>,
    sender_function: Option<FunctionAddress>,
    signer: Option<Signer<'_>>,
    at: OffsetDateTime,
) -> Result<OutgoingReceipt, SealError> {
    let receipt = Receipt::new(
        original.to.clone(),
        original.from.clone(),
        original.id.clone(),
        lines,
        at,
    );
    let header = Xhe::for_receipt(
        original,
        uuid::Uuid::new_v4().hyphenated().to_string(),
        at,
        sender_function,
    );
    let envelope =
        if signer.is_some() || !original.transport_model.requires_signature_and_encryption() {
            Some(seal_receipt(&receipt, &header, signer)?)
        } else {
            None
        };
    Ok(OutgoingReceipt { receipt, envelope })
}

/// Stage 4 (B1.3.3 row 13, H-39): what the caller found out about the access point that
/// sent the envelope, compared with the access points the address book lists for FromParty.
/// Only the caller knows the AS4 sender, so the envelope layer takes its word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SendingAp<'a> {
    /// Nothing against it: the sending access point is listed for FromParty, or could not
    /// be compared (no AS4 sender known, no address-book entry for FromParty).
    #[default]
    NoObjection,
    /// The address book lists only other access points for FromParty: a message is
    /// REJECTED / BV / `security` before its signature is looked at. The text (which APs) is
    /// for the gateway's log.
    NotListed(&'a str),
}

/// The `StatusReason` of a message whose sending access point is not FromParty's.
pub const SENDING_AP_NOT_LISTED: &str =
    "the sending access point is not the one the address book lists for the sender";

/// Everything [`open`] needs.
#[derive(Clone, Copy)]
pub struct OpenConfig<'a> {
    /// The environment for the profile check.
    pub context: XheContext,
    /// Participants served here; `None` accepts any ToParty.
    pub serves: Option<&'a [ParticipantId]>,
    /// How the sender's signature is trusted.
    pub trust: SignerTrust<'a>,
    /// Our decryption keys.
    pub keys: &'a dyn KeyRing,
    /// The receiving organisation's message rules.
    pub policy: MessagePolicy<'a>,
    /// Our signing pair, for the receipts (`None`: receipts are built but not enveloped).
    pub receipt_signer: Option<Signer<'a>>,
    /// The validation time (certificates, receipt timestamps).
    pub at: OffsetDateTime,
}

impl std::fmt::Debug for OpenConfig<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenConfig")
            .field("context", &self.context)
            .field("serves", &self.serves)
            .field("trust", &self.trust)
            .field("policy", &self.policy)
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

/// A rejected message and the receipt that says why.
#[derive(Debug, Clone)]
pub struct Rejected {
    /// The envelope's header (verified from stage 7 on).
    pub header: Xhe,
    /// The stage that failed.
    pub stage: Stage,
    /// The rule findings (empty for signature failures, whose detail is only logged).
    pub report: Report,
    /// The REJECTED receipt.
    pub receipt: OutgoingReceipt,
    log: String,
}

impl Rejected {
    /// The internal cause, for the gateway's log only.
    pub fn log_reason(&self) -> &str {
        &self.log
    }
}

/// What to do with an envelope that was not refused.
#[derive(Debug)]
pub enum Opened {
    /// Valid: deliver the message, then send its [`OpenedMessage::acceptance`].
    Accepted(Box<OpenedMessage>),
    /// Invalid: send the REJECTED receipt.
    Rejected(Box<Rejected>),
    /// An inbound receipt (correlate it; never answer it).
    Receipt(Box<InboundReceipt>),
    /// The same envelope, byte for byte, was received before (a re-delivery after a lost AS4
    /// acknowledgement): send the earlier receipt again.
    Redelivered(Previous),
}

/// How far ahead of the receiver's clock a `CreationDateTime` may be: wide enough for clock
/// skew and a local time written with a `Z`, narrow enough to refuse invented dates.
const MAX_CREATION_AHEAD: time::Duration = time::Duration::days(1);

/// GW-XHE-9 (hardening H-57): an envelope created more than [`MAX_CREATION_AHEAD`] after `at`
/// is an envelope error (no receipt, escalated), like the other XHE profile rules.
fn created_in_the_future(header: &Xhe, at: OffsetDateTime) -> Option<Report> {
    if header.created <= at + MAX_CREATION_AHEAD {
        return None;
    }
    let mut report = Report::default();
    report.add(
        sdkgw_schemas::XheRule::CreationDateTimeNotFuture,
        "/XHE/Header/CreationDateTime",
        &format!(
            "{} is more than a day after the receiver's clock",
            header.created
        ),
    );
    Some(report)
}

/// Runs the inbound pipeline on one XHE.
pub fn open(bytes: Vec<u8>, cfg: &OpenConfig<'_>) -> Result<Opened, Refusal> {
    let received = ReceivedEnvelope::parse_within(bytes, &cfg.context, cfg.policy.max_xhe_bytes)?;
    if let Some(report) = created_in_the_future(received.unverified_header(), cfg.at) {
        return Err(Refusal::Envelope(report));
    }
    let to = &received.unverified_header().to;
    if let Some(served) = cfg.serves
        && !served.contains(to)
    {
        return Err(Refusal::NotServed(to.clone()));
    }
    let is_receipt = received.unverified_header().message_type == MessageType::Receipt;
    if !is_receipt && let SendingAp::NotListed(why) = cfg.policy.sending_ap {
        return rejected_for_sending_ap(received.header, why, cfg)
            .map(|r| Opened::Rejected(Box::new(r)));
    }
    let verified = match received.verify(&cfg.trust, cfg.at) {
        Ok(v) => v,
        Err(failure) if is_receipt => return Err(Refusal::BadReceipt(failure.log)),
        Err(failure) => {
            return rejected_for_signature(failure, cfg).map(|r| Opened::Rejected(Box::new(r)));
        }
    };
    if is_receipt {
        return verified
            .read_receipt()
            .map(|r| Opened::Receipt(Box::new(r)));
    }
    if let Some(previous) = cfg.policy.history.previous(&verified.header().id)
        && &previous.envelope_sha256 == verified.sha256()
    {
        return Ok(Opened::Redelivered(previous));
    }
    let decrypted = verified.decrypt(cfg.keys)?;
    match decrypted.validate(&cfg.policy) {
        Ok(m) => Ok(Opened::Accepted(Box::new(m))),
        Err(NotValidated::Rejected(r)) => {
            rejected_payload(r, cfg).map(|r| Opened::Rejected(Box::new(r)))
        }
        Err(NotValidated::Unscanned(e)) => Err(Refusal::Unscanned(e.to_string())),
    }
}

fn internal(e: SealError) -> Refusal {
    Refusal::Internal(format!("cannot build the receipt: {e}"))
}

fn rejected_for_signature(
    f: Box<SignatureFailure>,
    cfg: &OpenConfig<'_>,
) -> Result<Rejected, Refusal> {
    let lines = vec![rejection::signature_line(f.case)];
    let receipt =
        receipt_for(&f.header, lines, None, cfg.receipt_signer, cfg.at).map_err(internal)?;
    Ok(Rejected {
        header: f.header,
        stage: Stage::Signature,
        report: Report::default(),
        receipt,
        log: f.log,
    })
}

/// Stage 4: one BV `security` line (row 13), LineID `NA`, the fixed text; the sender's
/// function address is unknown (the payload is never decrypted).
fn rejected_for_sending_ap(
    header: Xhe,
    why: &str,
    cfg: &OpenConfig<'_>,
) -> Result<Rejected, Refusal> {
    let case = codelists().rejection(RejectionCase::SenderNotConfigured);
    let line = LineResponse::new("NA", case.reason, case.detail, SENDING_AP_NOT_LISTED);
    let receipt =
        receipt_for(&header, vec![line], None, cfg.receipt_signer, cfg.at).map_err(internal)?;
    Ok(Rejected {
        header,
        stage: Stage::Business,
        report: Report::default(),
        receipt,
        log: format!("sending access point (B1.3.3 row 13): {why}"),
    })
}

fn rejected_payload(r: Box<PayloadRejection>, cfg: &OpenConfig<'_>) -> Result<Rejected, Refusal> {
    let lines = rejection::lines_for(&r.report);
    let receipt = receipt_for(
        &r.header,
        lines,
        r.sender_function,
        cfg.receipt_signer,
        cfg.at,
    )
    .map_err(internal)?;
    Ok(Rejected {
        log: r.report.to_string(),
        header: r.header,
        stage: r.stage,
        report: r.report,
        receipt,
    })
}
