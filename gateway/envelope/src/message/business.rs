//! Stage 11 of the inbound pipeline (digest §5) and the outbound consistency check: the SDK
//! message against its XHE (GW-MSG-4..7) and against the receiving organisation's policy —
//! served function addresses, size, attachment types, malware, duplicates, replies to
//! rejected messages (GW-MSG-8..13).

use sdkgw_schemas::{FunctionAddress, MessageRule, ParticipantId};

use super::SdkMessage;
use crate::finding::{Report, excerpt};
use crate::open::SendingAp;
use crate::xhe::Xhe;

const HEADER: &str = "/tns:messagePayload/tns:message/tns:messageHeader";

fn header_path(rest: &str) -> String {
    format!("{HEADER}/{rest}")
}

const RECIPIENT_FUNCTION: &str =
    "tns:recipient/tns:attention/tns:subOrganization/tns:organizationId/tns:extension";

/// GW-MSG-4..7: the message says what its envelope says.
pub(crate) fn cross_check(m: &SdkMessage, xhe: &Xhe) -> Report {
    let mut report = Report::default();
    let h = &m.header;
    if h.message_id != xhe.id {
        report.add(
            MessageRule::MessageIdIsXheId,
            header_path("tns:messageId"),
            &format!(
                "messageId {} but Header/ID {}",
                excerpt(&h.message_id),
                excerpt(&xhe.id)
            ),
        );
    }
    let same =
        |ext: &str, party: &ParticipantId| ParticipantId::parse(ext).is_ok_and(|p| &p == party);
    if !same(&h.recipient.id.extension, &xhe.to) {
        report.add(
            MessageRule::RecipientIsToParty,
            header_path("tns:recipient/tns:recipientID/tns:extension"),
            &format!(
                "recipientID {} but ToParty {}",
                excerpt(&h.recipient.id.extension),
                xhe.to
            ),
        );
    }
    if !same(&h.sender.id.extension, &xhe.from) {
        report.add(
            MessageRule::SenderIsFromParty,
            header_path("tns:sender/tns:senderID/tns:extension"),
            &format!(
                "senderID {} but FromParty {}",
                excerpt(&h.sender.id.extension),
                xhe.from
            ),
        );
    }
    if let Some(hs) = &xhe.payload.handling_service
        && hs.as_str() != m.recipient_function()
    {
        report.add(
            MessageRule::FunctionIsHandlingService,
            header_path(RECIPIENT_FUNCTION),
            &format!(
                "functional address {} but HandlingServiceID {}",
                excerpt(m.recipient_function()),
                excerpt(hs.as_str())
            ),
        );
    }
    report
}

/// Decides whether an attachment is malicious. Implementations wrap a real engine; the crate
/// ships only [`EicarTestSignature`].
pub trait MalwareScanner: Send + Sync {
    /// Whether `content` (an attachment's bytes) must be refused; [`ScanFailed`] when the
    /// engine could not decide (then the message is neither accepted nor rejected: the
    /// caller tries again later, it never takes an unscanned attachment as clean).
    fn is_malicious(&self, file_name: &str, content: &[u8]) -> Result<bool, ScanFailed>;
}

/// The malware scan did not complete (engine missing, crashed, timed out): the text is for
/// the gateway's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the malware scan failed: {0}")]
pub struct ScanFailed(pub String);

/// Detects the EICAR anti-virus test file and nothing else: for tests and for checking that
/// the refusal path works end to end. It is not a malware scanner.
#[derive(Debug, Clone, Copy, Default)]
pub struct EicarTestSignature;

/// The 68-byte EICAR test string.
const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

impl MalwareScanner for EicarTestSignature {
    fn is_malicious(&self, _file_name: &str, content: &[u8]) -> Result<bool, ScanFailed> {
        Ok(content.windows(EICAR.len()).any(|w| w == EICAR))
    }
}

/// What the receiver knows about a message id from earlier deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previous {
    /// SHA-256 of the XHE bytes received then.
    pub envelope_sha256: [u8; 32],
    /// Whether that message was rejected.
    pub rejected: bool,
    /// The receipt XHE sent for it, if any yet.
    pub receipt: Option<Vec<u8>>,
}

/// Earlier messages, by `messageId` (= XHE `Header/ID`). The server implements it on its
/// store; [`NoHistory`] knows nothing.
pub trait MessageHistory: Send + Sync {
    /// The earlier message with this id, if one was received.
    fn previous(&self, message_id: &str) -> Option<Previous>;
}

/// A history that has seen nothing (every message is new, every reference unknown).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHistory;

impl MessageHistory for NoHistory {
    fn previous(&self, _message_id: &str) -> Option<Previous> {
        None
    }
}

/// 30 MiB: B1.3.3 1.5.2's limit for a whole message including attachments, measured on the
/// decoded content ([`SdkMessage::content_bytes`]: files after Base64 plus text bodies).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 30 * 1024 * 1024;

/// 150 MiB: the largest XHE parsed at all by default — the gateway's AS4 message limit
/// (`[limits] max_message_bytes`; DIGG wants APs to take at least 100 MB, TF-08 sends 70 MiB
/// and 100 MB). Anything the AP received within it is read far enough to be answered (BV
/// `too-long` when its content is over [`MessagePolicy::max_message_bytes`]), never
/// quarantined for its size alone.
pub const DEFAULT_MAX_XHE_BYTES: usize = 150 * 1024 * 1024;

/// The receiving organisation's rules for stage 11 (and the XHE size read at stage 0).
#[derive(Clone, Copy)]
pub struct MessagePolicy<'a> {
    /// Largest accepted message content in bytes (GW-MSG-9): decoded files plus text bodies,
    /// as the mailbox API counts it. The decrypted XML may be up to
    /// [`xml_size_bound`]`(max_message_bytes)` before it is parsed at all.
    pub max_message_bytes: usize,
    /// Largest XHE parsed, in bytes (stage 0; larger is refused without a receipt): the
    /// AS4 message limit, so every XHE the AP took gets a Meddelandekvittens.
    pub max_xhe_bytes: usize,
    /// Function addresses served here; `None` accepts any (GW-MSG-8).
    pub functions: Option<&'a [FunctionAddress]>,
    /// Accepted attachment MIME types (`type/subtype`, case-insensitive); `application/pdf`
    /// is always accepted; `None` accepts any (GW-MSG-10).
    pub attachment_types: Option<&'a [String]>,
    /// Malware scanning of attachments (GW-MSG-11), if configured.
    pub scanner: Option<&'a dyn MalwareScanner>,
    /// Earlier messages (GW-MSG-12, GW-MSG-13).
    pub history: &'a dyn MessageHistory,
    /// Stage 4 (B1.3.3 row 13): whether the access point that sent the envelope is one the
    /// address book lists for FromParty, as the caller found out.
    pub sending_ap: SendingAp<'a>,
}

impl std::fmt::Debug for MessagePolicy<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessagePolicy")
            .field("max_message_bytes", &self.max_message_bytes)
            .field("max_xhe_bytes", &self.max_xhe_bytes)
            .field("functions", &self.functions)
            .field("attachment_types", &self.attachment_types)
            .field("scanner", &self.scanner.is_some())
            .field("sending_ap", &self.sending_ap)
            .finish_non_exhaustive()
    }
}

impl Default for MessagePolicy<'_> {
    fn default() -> Self {
        MessagePolicy {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_xhe_bytes: DEFAULT_MAX_XHE_BYTES,
            functions: None,
            attachment_types: None,
            scanner: None,
            history: &NoHistory,
            sending_ap: SendingAp::NoObjection,
        }
    }
}

/// The largest decrypted XML a message within `max_content` bytes of content can need, so
/// that a message the mailbox API accepted is never refused here: text may grow six-fold by
/// XML escaping (`"` → `&quot;`), Base64 files by 4/3 (a little more with line breaks), plus
/// 1 MiB of message structure. Larger plaintext is refused (BV `too-long`) before it is
/// parsed; within it the decoded content decides ([`MessagePolicy::max_message_bytes`]).
pub fn xml_size_bound(max_content: usize) -> usize {
    max_content.saturating_mul(6).saturating_add(1 << 20)
}

fn size_finding(what: &str, len: u64, limit: u64) -> Report {
    let mut report = Report::default();
    report.add(
        MessageRule::SizeLimit,
        "/tns:messagePayload",
        &format!("{what} {len} bytes, the limit is {limit}"),
    );
    report
}

/// GW-MSG-9 before parsing: the decrypted XML against [`xml_size_bound`].
pub(crate) fn check_size(xml_len: usize, policy: &MessagePolicy<'_>) -> Report {
    let bound = xml_size_bound(policy.max_message_bytes);
    if xml_len > bound {
        return size_finding("decrypted message XML", xml_len as u64, bound as u64);
    }
    Report::default()
}

/// GW-MSG-9 on the parsed message: its decoded content.
fn check_content(m: &SdkMessage, policy: &MessagePolicy<'_>) -> Report {
    let (len, limit) = (m.content_bytes(), policy.max_message_bytes as u64);
    if len > limit {
        return size_finding("content (decoded files and text)", len, limit);
    }
    Report::default()
}

fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// GW-MSG-8, 10, 11, 12, 13 (the envelope digest is for GW-MSG-12: a different message
/// with a known id). [`ScanFailed`] when an attachment could not be scanned.
pub(crate) fn policy_check(
    m: &SdkMessage,
    envelope_sha256: &[u8; 32],
    policy: &MessagePolicy<'_>,
) -> Result<Report, ScanFailed> {
    let mut report = check_content(m, policy);
    if let Some(served) = policy.functions
        && !served.iter().any(|f| f.as_str() == m.recipient_function())
    {
        report.add(
            MessageRule::FunctionKnown,
            header_path(RECIPIENT_FUNCTION),
            &format!("{} is not served here", excerpt(m.recipient_function())),
        );
    }
    for (d, doc) in m.body.documents.iter().enumerate() {
        for (f, file) in doc.files.iter().enumerate() {
            let base = format!(
                "/tns:messagePayload/tns:message/tns:messageBody/tns:documents[{}]/tns:ContentFiles[{}]",
                d + 1,
                f + 1
            );
            let mt = media_type(&file.content_type);
            if let Some(allowed) = policy.attachment_types
                && mt != "application/pdf"
                && !allowed.iter().any(|a| media_type(a) == mt)
            {
                report.add(
                    MessageRule::AttachmentTypeSupported,
                    format!("{base}/tns:contentType"),
                    &format!("{} is not accepted", excerpt(&mt)),
                );
            }
            // Content that is not Base64 is a rules finding already (GW-MSG-2).
            if let Some(scanner) = policy.scanner
                && let Ok(bytes) = file.decode()
                && scanner.is_malicious(&file.file_name, &bytes)?
            {
                report.add(MessageRule::Malware, format!("{base}/tns:content"), "");
            }
        }
    }
    if let Some(previous) = policy.history.previous(&m.header.message_id)
        && &previous.envelope_sha256 != envelope_sha256
    {
        report.add(
            MessageRule::MessageIdUnique,
            header_path("tns:messageId"),
            &excerpt(&m.header.message_id),
        );
    }
    if let Some(reference) = &m.header.ref_to_message_id
        && policy
            .history
            .previous(reference)
            .is_some_and(|p| p.rejected)
    {
        report.add(
            MessageRule::ReplyToRejected,
            header_path("tns:refToMessageId"),
            &excerpt(reference),
        );
    }
    Ok(report)
}
