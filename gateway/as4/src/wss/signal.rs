//! Signed signal messages: our receipts (and, on the sending side, verifying the peer's).
//!
//! A receipt is signed like a UserMessage (BST, exclusive C14N, rsa-sha256, sha256) over
//! `eb:Messaging`, the Body and the Timestamp; it is not encrypted (AS4 digest §3.1).

use sdkgw_certs::Certificate;
use sdkgw_xml_security::dsig::{self, DSIG_NS, VerifiedSignature, Verifier, VerifyPolicy};
use sdkgw_xml_security::xml::Document;
use time::OffsetDateTime;

use super::open::timestamp_element;
use super::seal::{SealError, Signer, element_references, signature_template, soap_parse_options};
use super::token::{TokenResolver, bst_xml, timestamp_xml};
use crate::soap::{self, EnvelopeParts, envelope};
use crate::text::new_xml_id;

/// A signed signal envelope: the `eb:Messaging` block `messaging_xml` (carrying
/// `wsu:Id="{messaging_id}"`) with a Security header signing it, the Body and a Timestamp.
pub fn sign_signal(
    messaging_xml: &str,
    messaging_id: &str,
    signer: Signer<'_>,
    created: OffsetDateTime,
) -> Result<Vec<u8>, SealError> {
    let opts = soap_parse_options();
    let ts_id = new_xml_id("TS");
    let bst_id = new_xml_id("X509");
    let body_id = new_xml_id("body");
    let security = format!(
        "<wsse:Security S12:mustUnderstand=\"true\">{}{}</wsse:Security>",
        timestamp_xml(&ts_id, created, None),
        bst_xml(&bst_id, signer.certificate)
    );
    let env = envelope(&[messaging_xml, &security], &body_id, "");
    let doc =
        Document::parse(env.into_bytes(), &opts).map_err(|e| SealError::Xml(e.to_string()))?;
    let parts = soap::locate(&doc).map_err(|e| SealError::Xml(e.to_string()))?;
    let security_node = parts
        .security
        .ok_or_else(|| SealError::Xml("no Security header".into()))?;
    let template = signature_template(
        element_references(&[messaging_id, &body_id, &ts_id]),
        &bst_id,
        security_node,
    );
    Ok(dsig::sign(&doc, &template, signer.key, None, &opts)?.bytes)
}

/// Verifies the signature of a received signal: made with `expected_signer` (the receiving
/// AP's SMP certificate; referenced by BST, SKI or IssuerSerial), covering `eb:Messaging` and
/// the Body (and the Timestamp when there is one). Returns the verified signature or the
/// reason it is not acceptable.
pub fn verify_signal(
    doc: &Document,
    parts: &EnvelopeParts,
    expected_signer: &Certificate,
) -> Result<VerifiedSignature, String> {
    let security = parts
        .security
        .ok_or("the signal is not signed (no wsse:Security)")?;
    let sec = doc.element(security).ok_or("no wsse:Security")?;
    let sigs: Vec<_> = sec.children_named(Some(DSIG_NS), "Signature").collect();
    let [signature] = sigs.as_slice() else {
        return Err(format!(
            "{} ds:Signature elements in the signal",
            sigs.len()
        ));
    };
    let policy = VerifyPolicy::as4();
    let resolver = TokenResolver::new(security, vec![expected_signer.clone()]);
    let verified = Verifier::new(&policy, &resolver)
        .verify(doc, signature.node_id())
        .map_err(|e| e.reason())?;
    if verified.key().certificate() != expected_signer {
        return Err(format!(
            "signed by {}, not by the receiving AP's SMP certificate {}",
            verified.key().certificate().subject(),
            expected_signer.subject()
        ));
    }
    let timestamp = timestamp_element(doc, security).map_err(|e| e.reason)?;
    for (what, node) in [
        ("eb:Messaging", Some(parts.messaging)),
        ("Body", Some(parts.body)),
        ("wsu:Timestamp", timestamp),
    ] {
        let Some(node) = node else { continue };
        if !verified.covers(doc, node).map_err(|e| e.reason())? {
            return Err(format!("the signal's {what} is not signed"));
        }
    }
    Ok(verified)
}
