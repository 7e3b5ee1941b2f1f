//! Offline inspection of a captured AS4 message (`sdkgw as4 inspect`): framing, ebMS header,
//! security header contents, and — as far as the inputs allow — decryption (with our AP key)
//! and signature verification, each result a finding. Nothing is trusted or stored.
//!
//! A capture is the HTTP body with its `Content-Type` in front (`Content-Type: …` lines, an
//! empty line, then the body — what [`capture`] writes), a bare `multipart/related` body
//! (the boundary is taken from its first line) or a bare SOAP envelope.

use std::io::Write;
use std::path::Path;

use sdkgw_certs::{Certificate, PrivateKey};
use sdkgw_xml_security::crypto::DecryptionKey;
use sdkgw_xml_security::dsig::DSIG_NS;
use sdkgw_xml_security::x509::MessagePurpose;
use sdkgw_xml_security::xml::{Document, ElementRef, NodeId, WSU_NS};
use time::OffsetDateTime;

use crate::ebms::{self, Signal};
use crate::mime::{self, MimeLimits, ReceivedMessage};
use crate::msh::MessageTrust;
use crate::soap::{self, EnvelopeParts};
use crate::wss::WSSE_NS;
use crate::wss::open::{
    AuthenticatedSigner, EncryptedPart, Recipient, RequiredCoverage, decrypt_attachments,
    signature_element, timestamp_element, verify_signature,
};
use crate::wss::seal::soap_parse_options;
use crate::wss::signal::verify_signal;
use crate::wss::token::{TokenResolver, binary_security_tokens, describe, read_key_info};

const XENC_NS: &str = "http://www.w3.org/2001/04/xmlenc#";

/// Writes `Content-Type: {content_type}`, an empty line and the body: the capture format
/// [`inspect`] reads.
pub fn capture(mut out: impl Write, content_type: &str, body: &[u8]) -> std::io::Result<()> {
    write!(out, "Content-Type: {content_type}\r\n\r\n")?;
    out.write_all(body)
}

/// How sure a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Info,
    Warning,
    Error,
}

/// One observation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    pub level: Level,
    pub text: String,
}

/// A certificate of the message.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenInfo {
    pub id: Option<String>,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_after: String,
}

/// Everything found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub content_type: String,
    /// `(Content-ID, Content-Type, length)` of each attachment.
    pub parts: Vec<(String, String, u64)>,
    /// The ebMS header, one `name: value` line per field.
    pub header: Vec<String>,
    pub tokens: Vec<TokenInfo>,
    /// Algorithms and references of the security header, one line each.
    pub security: Vec<String>,
    pub findings: Vec<Finding>,
}

impl Report {
    fn note(&mut self, level: Level, text: impl Into<String>) {
        self.findings.push(Finding {
            level,
            text: text.into(),
        });
    }
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.level == Level::Error)
    }
}

/// What inspection may use.
#[derive(Debug, Default)]
pub struct Inputs<'a> {
    /// Our AP private key: decrypts the attachments (the certificate it belongs to is taken
    /// from the message's tokens).
    pub key: Option<&'a PrivateKey>,
    /// Message-level trust: validates the signer's certificate path.
    pub trust: Option<&'a MessageTrust>,
}

/// Splits a capture into `(Content-Type, body)`.
fn split_capture(raw: &[u8]) -> Result<(String, &[u8]), String> {
    let starts = |p: &[u8]| raw.len() >= p.len() && raw[..p.len()].eq_ignore_ascii_case(p);
    if starts(b"content-type:") {
        let end = find(raw, b"\r\n\r\n")
            .map(|i| (i, 4))
            .or_else(|| find(raw, b"\n\n").map(|i| (i, 2)))
            .ok_or("no empty line after the Content-Type header")?;
        let head = String::from_utf8_lossy(&raw[..end.0]);
        let ct = head
            .split_once(':')
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        return Ok((ct, &raw[end.0 + end.1..]));
    }
    if raw.starts_with(b"--") {
        let line_end = find(raw, b"\r\n")
            .or_else(|| find(raw, b"\n"))
            .ok_or("no boundary line")?;
        let boundary = String::from_utf8_lossy(&raw[2..line_end]).trim().to_owned();
        return Ok((
            format!("multipart/related; type=\"application/soap+xml\"; boundary=\"{boundary}\""),
            raw,
        ));
    }
    Ok((crate::soap::SOAP12_CONTENT_TYPE.to_owned(), raw))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Inspects a capture; attachments are spooled to `spool_dir` while it runs.
pub async fn inspect(
    raw: &[u8],
    inputs: &Inputs<'_>,
    spool_dir: &Path,
    at: OffsetDateTime,
) -> Report {
    let mut report = Report::default();
    let (ct, body) = match split_capture(raw) {
        Ok(v) => v,
        Err(e) => {
            report.note(Level::Error, format!("not a captured AS4 message: {e}"));
            return report;
        }
    };
    report.content_type = ct.clone();
    let limits = MimeLimits::default();
    let msg = match mime::read_message(std::io::Cursor::new(body.to_vec()), &ct, &limits, spool_dir)
        .await
    {
        Ok(m) => m,
        Err(e) => {
            report.note(Level::Error, format!("MIME (EBMS:0007): {e}"));
            return report;
        }
    };
    for a in &msg.attachments {
        report.parts.push((
            a.headers.content_id().unwrap_or_default().to_owned(),
            a.headers
                .content_type()
                .map(|c| c.media_type().to_owned())
                .unwrap_or_default(),
            a.len,
        ));
    }
    let doc = match Document::parse_slice(&msg.root.content, &soap_parse_options()) {
        Ok(d) => d,
        Err(e) => {
            report.note(Level::Error, format!("SOAP envelope (EBMS:0009): {e}"));
            return report;
        }
    };
    let parts = match soap::locate(&doc) {
        Ok(p) => p,
        Err(e) => {
            report.note(Level::Error, format!("SOAP: {e}"));
            return report;
        }
    };
    let messaging = doc
        .element(parts.messaging)
        .map(ebms::read::messaging)
        .transpose();
    let messaging = match messaging {
        Ok(Some(m)) => m,
        Ok(None) => return report,
        Err(e) => {
            report.note(Level::Error, format!("ebMS header (EBMS:0009): {e}"));
            return report;
        }
    };
    describe_header(&messaging, &mut report);
    if let Some(sec) = parts.security {
        describe_security(&doc, sec, &mut report);
        if messaging.user_messages.len() == 1 {
            check_user_message(
                &doc,
                &parts,
                sec,
                &msg,
                &messaging.user_messages[0],
                inputs,
                spool_dir,
                at,
                &mut report,
            );
        } else {
            check_signal(&doc, &parts, sec, inputs, at, &mut report);
        }
    } else {
        report.note(
            Level::Warning,
            "no wsse:Security header: the message is neither signed nor encrypted",
        );
    }
    report
}

fn describe_header(m: &ebms::Messaging, report: &mut Report) {
    for um in &m.user_messages {
        let h = &mut report.header;
        h.push(format!("UserMessage MessageId: {}", um.info.message_id));
        h.push(format!(
            "Timestamp: {}",
            crate::xsd_datetime(um.info.timestamp)
        ));
        h.push(format!(
            "From: {} ({}) role {}",
            um.from.party_id,
            um.from.party_type.as_deref().unwrap_or("-"),
            um.from.role
        ));
        h.push(format!(
            "To: {} ({}) role {}",
            um.to.party_id,
            um.to.party_type.as_deref().unwrap_or("-"),
            um.to.role
        ));
        let c = &um.collaboration;
        h.push(format!(
            "Service: {} (type {})",
            c.service,
            c.service_type.as_deref().unwrap_or("-")
        ));
        h.push(format!("Action: {}", c.action));
        h.push(format!("ConversationId: {}", c.conversation_id));
        h.push(format!("MPC: {}", um.mpc.as_deref().unwrap_or("(default)")));
        for p in &um.properties {
            h.push(format!(
                "Property {} = {} ({})",
                p.name,
                p.value,
                p.property_type.as_deref().unwrap_or("-")
            ));
        }
        for p in &um.parts {
            let props: Vec<String> = p
                .properties
                .iter()
                .map(|x| format!("{}={}", x.name, x.value))
                .collect();
            h.push(format!(
                "PartInfo {}: {}",
                p.href.as_deref().unwrap_or("(body)"),
                props.join(", ")
            ));
        }
        match ebms::PMode.leg_of_action(&c.action) {
            Some((leg, model)) => report.findings.push(Finding {
                level: Level::Ok,
                text: format!(
                    "Action is the {} leg, transport model {model}",
                    leg.as_str()
                ),
            }),
            None => report.findings.push(Finding {
                level: Level::Error,
                text: "Action is not one of the federation's document types (EBMS:0004)".into(),
            }),
        }
    }
    for sm in &m.signal_messages {
        let h = &mut report.header;
        h.push(format!("SignalMessage MessageId: {}", sm.info.message_id));
        h.push(format!(
            "RefToMessageId: {}",
            sm.info.ref_to_message_id.as_deref().unwrap_or("-")
        ));
        match &sm.signal {
            Signal::Receipt(refs) => {
                for r in refs {
                    h.push(format!("NonRepudiationInformation {}", r.uri));
                }
            }
            Signal::PlainReceipt => h.push("Receipt without NonRepudiationInformation".into()),
            Signal::Errors(errors) => errors.iter().for_each(|e| h.push(format!("Error {e}"))),
        }
    }
}

fn describe_security(doc: &Document, sec: NodeId, report: &mut Report) {
    match binary_security_tokens(doc, sec) {
        Ok(tokens) => {
            for (id, c) in tokens {
                report.tokens.push(TokenInfo {
                    id,
                    subject: c.subject().to_owned(),
                    issuer: c.issuer().to_owned(),
                    serial: c.serial_hex(),
                    not_after: crate::xsd_datetime(c.not_after()),
                });
            }
        }
        Err(e) => report.note(Level::Error, format!("BinarySecurityToken: {e}")),
    }
    let Some(sec_el) = doc.element(sec) else {
        return;
    };
    let alg = |e: ElementRef<'_>| e.attribute(None, "Algorithm").unwrap_or("?").to_owned();
    for child in sec_el.child_elements() {
        let line = match (child.namespace(), child.local_name()) {
            (Some(WSU_NS), "Timestamp") => {
                let t = |n: &str| {
                    child
                        .child(Some(WSU_NS), n)
                        .map(|e| e.trimmed_text())
                        .unwrap_or_else(|| "-".into())
                };
                format!(
                    "Timestamp Created {} Expires {}",
                    t("Created"),
                    t("Expires")
                )
            }
            (Some(WSSE_NS), "BinarySecurityToken") => continue,
            (Some(XENC_NS), "EncryptedKey") => {
                let method = child.child(Some(XENC_NS), "EncryptionMethod");
                let inner: Vec<String> = method
                    .map(|m| m.child_elements().map(alg).collect())
                    .unwrap_or_default();
                let key_ref = child
                    .child(Some(DSIG_NS), "KeyInfo")
                    .map(|k| read_key_info(k).map(|t| describe(&t)).unwrap_or_else(|e| e))
                    .unwrap_or_else(|| "no KeyInfo".into());
                format!(
                    "EncryptedKey {} [{}] for {key_ref}",
                    method.map(alg).unwrap_or_default(),
                    inner.join(", ")
                )
            }
            (Some(XENC_NS), "EncryptedData") => {
                let method = child
                    .child(Some(XENC_NS), "EncryptionMethod")
                    .map(alg)
                    .unwrap_or_default();
                let cipher = child
                    .descendants()
                    .find(|d| d.is(Some(XENC_NS), "CipherReference"))
                    .and_then(|r| r.attribute(None, "URI").map(str::to_owned))
                    .unwrap_or_else(|| "inline CipherValue".into());
                format!(
                    "EncryptedData {} type {} → {cipher} (MimeType {})",
                    method,
                    child.attribute(None, "Type").unwrap_or("-"),
                    child.attribute(None, "MimeType").unwrap_or("-")
                )
            }
            (Some(DSIG_NS), "Signature") => {
                let si = child.child(Some(DSIG_NS), "SignedInfo");
                let get = |n: &str| {
                    si.and_then(|s| s.child(Some(DSIG_NS), n))
                        .map(alg)
                        .unwrap_or_default()
                };
                let mut s = format!(
                    "Signature {} c14n {}",
                    get("SignatureMethod"),
                    get("CanonicalizationMethod")
                );
                let refs: Vec<ElementRef<'_>> = si
                    .map(|s| s.children_named(Some(DSIG_NS), "Reference").collect())
                    .unwrap_or_default();
                for r in refs {
                    let transforms: Vec<String> = r
                        .descendants()
                        .filter(|t| t.is(Some(DSIG_NS), "Transform"))
                        .map(alg)
                        .collect();
                    let digest = r
                        .child(Some(DSIG_NS), "DigestMethod")
                        .map(alg)
                        .unwrap_or_default();
                    s.push_str(&format!(
                        "\n  Reference {} [{}] {digest}",
                        r.attribute(None, "URI").unwrap_or("?"),
                        transforms.join(", ")
                    ));
                }
                s
            }
            _ => format!("{} (not processed)", child.display_name()),
        };
        report.security.push(line);
    }
}

/// The certificate the signature's KeyInfo names, and the Signature element.
fn signer(doc: &Document, sec: NodeId, report: &mut Report) -> Option<(Certificate, NodeId)> {
    let signature = match signature_element(doc, Some(sec)) {
        Ok(s) => s,
        Err(e) => {
            report.note(Level::Error, format!("{} ({})", e.reason, e.code.code()));
            return None;
        }
    };
    let key_info = doc
        .element(signature)
        .and_then(|s| s.child(Some(DSIG_NS), "KeyInfo"));
    match TokenResolver::new(sec, Vec::new()).resolve_key_info(doc, key_info) {
        Ok(c) => {
            report.note(Level::Info, format!("signed by {}", c.subject()));
            Some((c, signature))
        }
        Err(e) => {
            report.note(Level::Error, format!("signing certificate: {e}"));
            None
        }
    }
}

fn check_path(cert: &Certificate, inputs: &Inputs<'_>, at: OffsetDateTime, report: &mut Report) {
    let Some(trust) = inputs.trust else {
        report.note(Level::Info, "certificate path not checked (no --config)");
        return;
    };
    match trust
        .store
        .validate(cert, &[], MessagePurpose::Signature, at, &trust.revocation)
    {
        Ok(_) => report.note(
            Level::Ok,
            "signer certificate is valid for this environment's AP CA",
        ),
        Err(e) => report.note(Level::Error, format!("signer certificate (EBMS:0101): {e}")),
    }
}

#[allow(clippy::too_many_arguments)]
fn check_user_message(
    doc: &Document,
    parts: &EnvelopeParts,
    sec: NodeId,
    msg: &ReceivedMessage,
    um: &ebms::UserMessage,
    inputs: &Inputs<'_>,
    spool_dir: &Path,
    at: OffsetDateTime,
    report: &mut Report,
) {
    let Some((cert, signature)) = signer(doc, sec, report) else {
        return;
    };
    if cert.common_name() != Some(um.from.party_id.as_str()) {
        report.note(
            Level::Error,
            "signer CN is not the From PartyId (EBMS:0101)",
        );
    }
    check_path(&cert, inputs, at, report);
    let Some(key) = inputs.key else {
        report.note(
            Level::Info,
            "attachments not decrypted, signature over them not verified (no --key)",
        );
        return;
    };
    let Ok(tokens) = binary_security_tokens(doc, sec) else {
        return;
    };
    let Some((_, ours)) = tokens.into_iter().find(|(_, c)| key.matches(c)) else {
        report.note(
            Level::Error,
            "the key belongs to none of the message's certificates",
        );
        return;
    };
    let Ok(decryption) = DecryptionKey::new(key) else {
        report.note(Level::Error, "the key cannot decrypt RSA-OAEP");
        return;
    };
    let recipient = Recipient {
        certificate: &ours,
        key: &decryption,
    };
    verify_attachments(
        doc, sec, msg, &recipient, spool_dir, report, parts, signature, cert,
    );
}

#[allow(clippy::too_many_arguments)]
fn verify_attachments(
    doc: &Document,
    sec: NodeId,
    msg: &ReceivedMessage,
    recipient: &Recipient<'_>,
    spool_dir: &Path,
    report: &mut Report,
    parts: &EnvelopeParts,
    signature: NodeId,
    cert: Certificate,
) {
    let encrypted: Vec<EncryptedPart> = msg
        .attachments
        .iter()
        .map(|a| EncryptedPart {
            content_id: a.headers.content_id().unwrap_or_default().to_owned(),
            path: a.path.to_path_buf(),
        })
        .collect();
    let decrypted = match decrypt_attachments(doc, sec, &encrypted, recipient, spool_dir) {
        Ok(d) => d,
        Err(e) => {
            report.note(
                Level::Error,
                format!("decryption ({}): {}", e.code.code(), e.reason),
            );
            return;
        }
    };
    for d in &decrypted {
        report.note(
            Level::Ok,
            format!(
                "cid:{} decrypted: {} bytes, authentic (GCM tag verified)",
                d.content_id, d.len
            ),
        );
    }
    let timestamp = timestamp_element(doc, sec).ok().flatten();
    let required = RequiredCoverage {
        messaging: parts.messaging,
        body: parts.body,
        timestamp,
        attachments: encrypted.iter().map(|p| p.content_id.clone()).collect(),
    };
    let signer = AuthenticatedSigner {
        certificate: cert,
        chain: Vec::new(),
        signature,
    };
    match verify_signature(doc, sec, &signer, &required, &decrypted) {
        Ok(v) => report.note(
            Level::Ok,
            format!("signature verifies; {} references cover eb:Messaging, Body, Timestamp and every attachment", v.references().len()),
        ),
        Err(e) => report.note(Level::Error, format!("signature ({}): {}", e.code.code(), e.reason)),
    }
}

fn check_signal(
    doc: &Document,
    parts: &EnvelopeParts,
    sec: NodeId,
    inputs: &Inputs<'_>,
    at: OffsetDateTime,
    report: &mut Report,
) {
    let Some((cert, _)) = signer(doc, sec, report) else {
        return;
    };
    check_path(&cert, inputs, at, report);
    match verify_signal(doc, parts, &cert) {
        Ok(v) => report.note(
            Level::Ok,
            format!(
                "signal signature verifies ({} references)",
                v.references().len()
            ),
        ),
        Err(e) => report.note(Level::Error, format!("signal signature: {e}")),
    }
}
