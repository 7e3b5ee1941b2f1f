//! SOAP 1.2 envelopes as AS4 uses them: the namespaces we declare, writing an envelope around
//! header blocks, locating `eb:Messaging` and `wsse:Security` structurally (never by id), and
//! SOAP Faults in both directions. Wire format only.

use std::fmt::Write as _;

use sdkgw_xml_security::xml::{Document, ElementRef, NodeId, WSU_NS};

use crate::ebms::{EBBP_NS, EBMS_NS};
use crate::text::{esc_attr, esc_text};
use crate::wss::WSSE_NS;

/// The SOAP 1.2 envelope namespace.
pub const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
/// The SOAP 1.1 envelope namespace (refused: AS4 is SOAP 1.2).
pub const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// `Content-Type` of a bare SOAP 1.2 message (signals).
pub const SOAP12_CONTENT_TYPE: &str = "application/soap+xml; charset=UTF-8";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const ULTIMATE_RECEIVER: &str = "http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver";
const ROLE_NEXT: &str = "http://www.w3.org/2003/05/soap-envelope/role/next";

/// Writes a complete envelope: `header_blocks` in order inside `S12:Header`, then a Body with
/// `wsu:Id="{body_id}"` holding `body_content`. Every prefix the writers in this crate use
/// (`S12`, `eb`, `ebbp`, `wsse`, `wsu`, `ds`) is declared on the Envelope.
pub fn envelope(header_blocks: &[&str], body_id: &str, body_content: &str) -> String {
    let mut s = String::with_capacity(
        1024 + header_blocks.iter().map(|b| b.len()).sum::<usize>() + body_content.len(),
    );
    let _ = write!(
        s,
        "<S12:Envelope xmlns:S12=\"{SOAP12_NS}\" xmlns:eb=\"{EBMS_NS}\" xmlns:ebbp=\"{EBBP_NS}\" \
         xmlns:wsse=\"{WSSE_NS}\" xmlns:wsu=\"{WSU_NS}\" xmlns:ds=\"{DS_NS}\"><S12:Header>"
    );
    header_blocks.iter().for_each(|b| s.push_str(b));
    let _ = write!(s, "</S12:Header><S12:Body wsu:Id=\"{}\"", esc_attr(body_id));
    if body_content.is_empty() {
        s.push_str("/>");
    } else {
        let _ = write!(s, ">{body_content}</S12:Body>");
    }
    s.push_str("</S12:Envelope>");
    s
}

/// Why an envelope is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SoapError {
    /// The root is a SOAP 1.1 envelope (or another version).
    #[error("not a SOAP 1.2 envelope: {0}")]
    VersionMismatch(String),
    /// The root is not an Envelope, or Header/Body are missing or repeated.
    #[error("malformed SOAP envelope: {0}")]
    Malformed(String),
    /// A header block we do not process is marked mustUnderstand.
    #[error("header {0} is marked mustUnderstand and not understood")]
    MustUnderstand(String),
    /// No `eb:Messaging`, or more than one.
    #[error("{0}")]
    Messaging(String),
    /// More than one `wsse:Security` header for us.
    #[error("{0}")]
    Security(String),
}

/// The parts of an AS4 envelope, found by structure.
#[derive(Debug, Clone, Copy)]
pub struct EnvelopeParts {
    pub envelope: NodeId,
    pub header: NodeId,
    pub body: NodeId,
    /// The one `eb:Messaging` header block.
    pub messaging: NodeId,
    /// The one `wsse:Security` header for the ultimate receiver, if any.
    pub security: Option<NodeId>,
}

/// Locates Header, Body, the `eb:Messaging` block and our `wsse:Security` block.
pub fn locate(doc: &Document) -> Result<EnvelopeParts, SoapError> {
    let root = doc.root();
    if root.local_name() == "Envelope" && root.namespace() != Some(SOAP12_NS) {
        return Err(SoapError::VersionMismatch(
            root.namespace().unwrap_or("no namespace").to_owned(),
        ));
    }
    let envelope = root
        .expect(Some(SOAP12_NS), "Envelope")
        .map_err(|e| SoapError::Malformed(e.to_string()))?;
    let mut children = envelope.child_elements();
    let header = children
        .next()
        .filter(|h| h.is(Some(SOAP12_NS), "Header"))
        .ok_or_else(|| SoapError::Malformed("the first child is not S12:Header".into()))?;
    let body = children
        .next()
        .filter(|b| b.is(Some(SOAP12_NS), "Body"))
        .ok_or_else(|| SoapError::Malformed("S12:Body does not follow S12:Header".into()))?;
    if children.next().is_some() {
        return Err(SoapError::Malformed("elements after S12:Body".into()));
    }
    let mut messaging = Vec::new();
    let mut security = Vec::new();
    for block in header.child_elements() {
        if block.is(Some(EBMS_NS), "Messaging") {
            messaging.push(block.node_id());
        } else if block.is(Some(WSSE_NS), "Security") {
            if for_us(block) {
                security.push(block.node_id());
            }
        } else if must_understand(block) && for_us(block) {
            return Err(SoapError::MustUnderstand(block.display_name()));
        }
    }
    let messaging = match messaging.as_slice() {
        [one] => *one,
        [] => return Err(SoapError::Messaging("no eb:Messaging header".into())),
        more => {
            return Err(SoapError::Messaging(format!(
                "{} eb:Messaging headers",
                more.len()
            )));
        }
    };
    if security.len() > 1 {
        return Err(SoapError::Security(format!(
            "{} wsse:Security headers for the ultimate receiver",
            security.len()
        )));
    }
    Ok(EnvelopeParts {
        envelope: envelope.node_id(),
        header: header.node_id(),
        body: body.node_id(),
        messaging,
        security: security.first().copied(),
    })
}

fn must_understand(e: ElementRef<'_>) -> bool {
    e.attribute(Some(SOAP12_NS), "mustUnderstand")
        .is_some_and(|v| matches!(v.trim(), "true" | "1"))
}

/// Whether a header block targets us (no role, the ultimate receiver, or `next`).
fn for_us(e: ElementRef<'_>) -> bool {
    match e.attribute(Some(SOAP12_NS), "role").map(str::trim) {
        None | Some("") | Some(ULTIMATE_RECEIVER) | Some(ROLE_NEXT) => true,
        Some(_) => false,
    }
}

/// The SOAP 1.2 fault codes we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCode {
    VersionMismatch,
    MustUnderstand,
    /// The sender's message is at fault.
    Sender,
    /// We failed (storage, internal).
    Receiver,
}

impl FaultCode {
    fn qname(self) -> &'static str {
        match self {
            FaultCode::VersionMismatch => "S12:VersionMismatch",
            FaultCode::MustUnderstand => "S12:MustUnderstand",
            FaultCode::Sender => "S12:Sender",
            FaultCode::Receiver => "S12:Receiver",
        }
    }
}

/// The content of `S12:Body` for a fault.
pub fn fault_body(code: FaultCode, reason: &str) -> String {
    format!(
        "<S12:Fault><S12:Code><S12:Value>{}</S12:Value></S12:Code><S12:Reason>\
         <S12:Text xml:lang=\"en\">{}</S12:Text></S12:Reason></S12:Fault>",
        code.qname(),
        esc_text(reason)
    )
}

/// A SOAP Fault received from a peer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fault {
    /// `Code/Value` as written (`env:Sender`).
    pub code: String,
    /// The first `Reason/Text`.
    pub reason: String,
}

/// The Fault in `body`, if it holds one.
pub fn read_fault(body: ElementRef<'_>) -> Option<Fault> {
    let fault = body.child(Some(SOAP12_NS), "Fault")?;
    let code = fault
        .child(Some(SOAP12_NS), "Code")
        .and_then(|c| c.child(Some(SOAP12_NS), "Value"))
        .map(|v| v.trimmed_text())
        .unwrap_or_default();
    let reason = fault
        .child(Some(SOAP12_NS), "Reason")
        .and_then(|r| r.child(Some(SOAP12_NS), "Text"))
        .map(|t| t.trimmed_text())
        .unwrap_or_default();
    Some(Fault {
        code,
        reason: reason.chars().take(1000).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sdkgw_xml_security::xml::ParseOptions;

    fn parse(s: &str) -> Document {
        Document::parse(s.as_bytes().to_vec(), &ParseOptions::default()).unwrap()
    }

    const MESSAGING: &str = "<eb:Messaging S12:mustUnderstand=\"true\"/>";

    #[test]
    fn written_envelope_is_located_back() {
        let env = envelope(&[MESSAGING, "<wsse:Security/>"], "b1", "");
        let doc = parse(&env);
        let parts = locate(&doc).unwrap();
        assert!(parts.security.is_some());
        assert_eq!(
            doc.element_by_id("b1").unwrap().map(|e| e.node_id()),
            Some(parts.body)
        );
    }

    #[test]
    fn soap11_is_a_version_mismatch() {
        let doc = parse(&format!(
            "<e:Envelope xmlns:e=\"{SOAP11_NS}\"><e:Header/><e:Body/></e:Envelope>"
        ));
        assert!(matches!(locate(&doc), Err(SoapError::VersionMismatch(_))));
    }

    #[test]
    fn two_messaging_headers_and_unknown_must_understand_are_refused() {
        let doc = parse(&envelope(&[MESSAGING, MESSAGING], "b", ""));
        assert!(matches!(locate(&doc), Err(SoapError::Messaging(_))));
        let doc = parse(&envelope(
            &[
                MESSAGING,
                "<x:Other xmlns:x=\"urn:x\" S12:mustUnderstand=\"1\"/>",
            ],
            "b",
            "",
        ));
        assert!(matches!(locate(&doc), Err(SoapError::MustUnderstand(_))));
        let doc = parse(&envelope(
            &[
                MESSAGING,
                "<x:Other xmlns:x=\"urn:x\" S12:mustUnderstand=\"1\" S12:role=\"urn:someone-else\"/>",
            ],
            "b",
            "",
        ));
        assert!(
            locate(&doc).is_ok(),
            "blocks for other roles are not ours to understand"
        );
    }

    #[test]
    fn faults_round_trip() {
        let env = envelope(
            &[MESSAGING],
            "b",
            &fault_body(FaultCode::Sender, "bad <input>"),
        );
        let doc = parse(&env);
        let parts = locate(&doc).unwrap();
        let fault = read_fault(doc.element(parts.body).unwrap()).unwrap();
        assert_eq!(fault.code, "S12:Sender");
        assert_eq!(fault.reason, "bad <input>");
    }
}
