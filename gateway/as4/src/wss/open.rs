//! Inbound WS-Security, in the order of AS4 digest §4.2 steps 5–8: authenticate the signing
//! certificate (this environment's pinned AP issuing CA, validity, revocation, CN = From
//! PartyId), decrypt the attachments (only the profile's algorithms; GCM plaintext is released
//! only after its tag verified), verify the signature over the decrypted parts with exact
//! coverage, check the timestamp.
//!
//! Everything is found by structure in the one [`Document`] that is later read (the
//! `ds:Signature` child of our `wsse:Security`, the `eb:Messaging` block located by
//! [`crate::soap::locate`]), never by following an id from untrusted content.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use sdkgw_certs::Certificate;
use sdkgw_xml_security::crypto::gcm_stream::{StreamError, decrypt_stream};
use sdkgw_xml_security::crypto::{AlgorithmPolicy, ContentKey, DecryptionKey};
use sdkgw_xml_security::dsig::{Coverage, DSIG_NS, VerifiedSignature, Verifier, VerifyPolicy};
use sdkgw_xml_security::x509::{As4Ap, MessagePurpose, RevocationChecker, TrustStore};
use sdkgw_xml_security::xenc::{self, CipherSource, EncryptedData, EncryptedKey, XencError};
use sdkgw_xml_security::xml::{Document, ElementRef, NodeId, WSU_NS};
use tempfile::TempPath;
use time::{Duration, OffsetDateTime};

use super::seal::FileAttachments;
use super::token::{
    TokenRef, TokenResolver, binary_security_tokens, describe, matches, read_key_info,
};
use super::{SWA_CIPHERTEXT_TRANSFORM, SWA_CONTENT_ONLY, WssError, from_verify};
use crate::ebms::{ErrorCode, cid_to_content_id, cid_url};
use crate::text::parse_xsd_datetime;

const XENC_NS: &str = "http://www.w3.org/2001/04/xmlenc#";

/// What the receiving side trusts and holds.
#[derive(Debug, Clone, Copy)]
pub struct InboundSecurity<'a> {
    /// AS4 message-level trust: this environment's AP root, pinned issuing CA.
    pub trust: &'a TrustStore<As4Ap>,
    pub revocation: &'a RevocationChecker,
    /// Our AP certificate and key (the attachments' key is wrapped for it).
    pub our_certificate: &'a Certificate,
    pub our_key: &'a DecryptionKey,
    /// Previous AP certificates with their keys, for decryption only: during a rollover peers
    /// whose SMP cache still holds the old certificate encrypt for it.
    pub previous: &'a [Recipient<'a>],
    /// Tolerated clock difference for `wsu:Timestamp`.
    pub clock_skew: Duration,
}

/// Who the attachments are encrypted for: our AP certificate and its key.
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    pub certificate: &'a Certificate,
    pub key: &'a DecryptionKey,
}

impl<'a> InboundSecurity<'a> {
    pub fn recipient(&self) -> Recipient<'a> {
        Recipient {
            certificate: self.our_certificate,
            key: self.our_key,
        }
    }

    /// Every key the attachments may be encrypted for: the current one first, then the
    /// previous ones.
    pub fn recipients(&self) -> Vec<Recipient<'a>> {
        std::iter::once(self.recipient())
            .chain(self.previous.iter().copied())
            .collect()
    }
}

/// A signer whose certificate passed path validation for this environment.
#[derive(Debug, Clone)]
pub struct AuthenticatedSigner {
    pub certificate: Certificate,
    /// Leaf first, anchor last.
    pub chain: Vec<Certificate>,
    /// The `ds:Signature` element (not yet verified).
    pub signature: NodeId,
}

/// The one `ds:Signature` child of `security`; none is an unsigned message (`EBMS:0103`).
pub fn signature_element(doc: &Document, security: Option<NodeId>) -> Result<NodeId, WssError> {
    let sec = security
        .and_then(|s| doc.element(s))
        .ok_or_else(|| WssError::policy("no wsse:Security header: the message is not signed"))?;
    let sigs: Vec<_> = sec.children_named(Some(DSIG_NS), "Signature").collect();
    match sigs.as_slice() {
        [one] => Ok(one.node_id()),
        [] => Err(WssError::policy("no ds:Signature in wsse:Security")),
        more => Err(WssError::policy(format!(
            "{} ds:Signature elements",
            more.len()
        ))),
    }
}

/// Step 5: the signing certificate chains to this environment's AP issuing CA, is valid at
/// `at`, not revoked, and its CN is the message's `From/PartyId` (else `EBMS:0101`).
pub fn authenticate_signer(
    doc: &Document,
    security: NodeId,
    from_party: &str,
    sec: &InboundSecurity<'_>,
    at: OffsetDateTime,
) -> Result<AuthenticatedSigner, WssError> {
    let signature = signature_element(doc, Some(security))?;
    let key_info = doc
        .element(signature)
        .and_then(|s| s.child(Some(DSIG_NS), "KeyInfo"));
    let resolver = TokenResolver::new(security, Vec::new());
    let certificate = resolver
        .resolve_key_info(doc, key_info)
        .map_err(|e| WssError::auth(format!("signing certificate: {e}")))?;
    let presented: Vec<Certificate> = binary_security_tokens(doc, security)
        .map_err(WssError::auth)?
        .into_iter()
        .map(|(_, c)| c)
        .filter(|c| c != &certificate)
        .collect();
    let path = sec
        .trust
        .validate(
            &certificate,
            &presented,
            MessagePurpose::Signature,
            at,
            sec.revocation,
        )
        .map_err(|e| {
            WssError::auth(format!(
                "signing certificate {}: {e}",
                certificate.subject()
            ))
        })?;
    let cn = certificate.common_name().unwrap_or_default();
    if cn != from_party {
        return Err(WssError::auth(format!(
            "signing certificate CN {cn:?} is not the From PartyId {from_party:?}"
        )));
    }
    Ok(AuthenticatedSigner {
        chain: path.chain().to_vec(),
        certificate,
        signature,
    })
}

/// An attachment as it arrived (ciphertext, spooled to a file).
#[derive(Debug, Clone)]
pub struct EncryptedPart {
    pub content_id: String,
    pub path: PathBuf,
}

/// A decrypted attachment: authentic plaintext (the GCM tag verified) in a temp file.
#[derive(Debug)]
pub struct DecryptedPart {
    pub content_id: String,
    pub file: TempPath,
    pub len: u64,
    /// `EncryptedData/@MimeType`.
    pub mime_type: Option<String>,
    /// Which of our keys decrypted it (the index into the recipients given; 0 = the first,
    /// i.e. the current AP key).
    pub key_index: usize,
}

/// Step 6: decrypts every attachment. Each must be covered by exactly one EncryptedData of
/// type Attachment-Content-Only with a CipherReference to it (else `EBMS:0103`, unencrypted
/// payload); algorithms outside the profile are `EBMS:0103`; everything that fails after the
/// algorithms were accepted is the uniform `EBMS:0102`.
pub fn decrypt_attachments(
    doc: &Document,
    security: NodeId,
    parts: &[EncryptedPart],
    sec: &Recipient<'_>,
    spool_dir: &Path,
) -> Result<Vec<DecryptedPart>, WssError> {
    decrypt_attachments_for(doc, security, parts, std::slice::from_ref(sec), spool_dir)
}

/// [`decrypt_attachments`] with several keys of ours (current and previous AP keys): each
/// EncryptedKey is unwrapped with the key whose certificate its KeyInfo names; without a
/// KeyInfo the keys are tried in order.
pub fn decrypt_attachments_for(
    doc: &Document,
    security: NodeId,
    parts: &[EncryptedPart],
    sec: &[Recipient<'_>],
    spool_dir: &Path,
) -> Result<Vec<DecryptedPart>, WssError> {
    let sec_el = doc
        .element(security)
        .ok_or_else(|| WssError::policy("no wsse:Security header"))?;
    let policy = AlgorithmPolicy::as4();
    let mut data = Vec::new();
    for e in sec_el.children_named(Some(XENC_NS), "EncryptedData") {
        data.push((e, read_data(e, &policy)?));
    }
    let keys: Vec<(ElementRef<'_>, EncryptedKey)> = sec_el
        .children_named(Some(XENC_NS), "EncryptedKey")
        .map(|e| read_key(e, &policy).map(|k| (e, k)))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        let uri = cid_url(&part.content_id);
        let matching: Vec<_> = data
            .iter()
            .filter(|(_, d)| matches!(&d.cipher, CipherSource::Reference(r) if cid_to_content_id(r).as_deref() == Some(part.content_id.as_str())))
            .collect();
        let (ed_el, ed) = match matching.as_slice() {
            [one] => *one,
            [] => {
                return Err(WssError::policy(format!(
                    "attachment {uri} is not encrypted"
                )));
            }
            _ => {
                return Err(WssError::policy(format!(
                    "attachment {uri} is encrypted twice"
                )));
            }
        };
        let (ek_el, ek) = key_for(ed, &keys)?;
        let (content_key, key_index) = unwrap_key(doc, security, ek_el, ek, ed, sec)?;
        let (file, len) = decrypt_file(&content_key, &part.path, spool_dir)?;
        out.push(DecryptedPart {
            content_id: part.content_id.clone(),
            file,
            len,
            mime_type: ed_el.attribute(None, "MimeType").map(str::to_owned),
            key_index,
        });
    }
    if let Some((_, ed)) = data.iter().find(|(_, d)| {
        !parts.iter().any(|p| matches!(&d.cipher, CipherSource::Reference(r) if cid_to_content_id(r).as_deref() == Some(p.content_id.as_str())))
    }) {
        return Err(WssError::new(
            ErrorCode::MimeInconsistency,
            format!("EncryptedData {:?} refers to no attachment of the message", ed.id),
        ));
    }
    Ok(out)
}

fn xenc_error(e: XencError, what: &str) -> WssError {
    match e {
        XencError::Algorithm(a) => WssError::policy(format!("{what}: {a}")),
        XencError::Decryption(d) => WssError::decryption(format!("{what}: {}", d.log_reason())),
        other => WssError::decryption(format!("{what}: {other}")),
    }
}

fn read_data(e: ElementRef<'_>, policy: &AlgorithmPolicy) -> Result<EncryptedData, WssError> {
    let ed = xenc::read_encrypted_data(e).map_err(|x| xenc_error(x, "EncryptedData"))?;
    policy
        .check_data_encryption(ed.algorithm)
        .map_err(|a| WssError::policy(format!("EncryptedData: {a}")))?;
    if ed.type_uri.as_deref() != Some(SWA_CONTENT_ONLY) {
        return Err(WssError::policy(format!(
            "EncryptedData Type {:?} is not Attachment-Content-Only",
            ed.type_uri
        )));
    }
    let CipherSource::Reference(uri) = &ed.cipher else {
        return Err(WssError::policy(
            "EncryptedData with an inline CipherValue in AS4",
        ));
    };
    if cid_to_content_id(uri).is_none() {
        return Err(WssError::policy(format!(
            "CipherReference {uri:?} is not a cid: URL"
        )));
    }
    let transforms: Vec<&str> = e
        .child(Some(XENC_NS), "CipherData")
        .and_then(|c| c.child(Some(XENC_NS), "CipherReference"))
        .and_then(|r| r.child(Some(XENC_NS), "Transforms"))
        .map(|t| {
            t.child_elements()
                .map(|x| x.attribute(None, "Algorithm").unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    if transforms != [SWA_CIPHERTEXT_TRANSFORM] {
        return Err(WssError::policy(format!(
            "CipherReference transforms {transforms:?}: expected the Attachment-Ciphertext-Transform"
        )));
    }
    Ok(ed)
}

fn read_key(e: ElementRef<'_>, policy: &AlgorithmPolicy) -> Result<EncryptedKey, WssError> {
    let ek = xenc::read_encrypted_key(e).map_err(|x| xenc_error(x, "EncryptedKey"))?;
    policy
        .check_key_transport(ek.key_transport)
        .map_err(|a| WssError::policy(format!("EncryptedKey: {a}")))?;
    Ok(ek)
}

/// The EncryptedKey of an EncryptedData: named by the key's ReferenceList or by a reference
/// in the data's KeyInfo; exactly one.
fn key_for<'k, 'a>(
    ed: &EncryptedData,
    keys: &'k [(ElementRef<'a>, EncryptedKey)],
) -> Result<(ElementRef<'a>, &'k EncryptedKey), WssError> {
    let by_list = |k: &EncryptedKey| {
        ed.id
            .as_ref()
            .is_some_and(|id| k.data_references.contains(id))
    };
    let by_ref = |k: &EncryptedKey| {
        k.id.as_ref()
            .is_some_and(|id| ed.key_references.contains(id))
    };
    let found: Vec<_> = keys
        .iter()
        .filter(|(_, k)| by_list(k) || by_ref(k))
        .collect();
    match found.as_slice() {
        [(e, k)] => Ok((*e, k)),
        [] if ed.embedded_key.is_some() => Err(WssError::policy(
            "EncryptedKey embedded in EncryptedData (XHE style) is not the AS4 layout",
        )),
        [] => Err(WssError::decryption(
            "no EncryptedKey for the EncryptedData",
        )),
        _ => Err(WssError::decryption(
            "several EncryptedKeys for one EncryptedData",
        )),
    }
}

/// Finds the key of ours the EncryptedKey names (BST, SKI, IssuerSerial or embedded; none:
/// each of our keys is tried), then unwraps it; also says which of `ours` it was.
fn unwrap_key(
    doc: &Document,
    security: NodeId,
    ek_el: ElementRef<'_>,
    ek: &EncryptedKey,
    ed: &EncryptedData,
    ours: &[Recipient<'_>],
) -> Result<(ContentKey, usize), WssError> {
    let candidates: Vec<(usize, &Recipient<'_>)> = match ek_el.child(Some(DSIG_NS), "KeyInfo") {
        Some(ki) => {
            let token = read_key_info(ki)
                .map_err(|e| WssError::decryption(format!("EncryptedKey KeyInfo: {e}")))?;
            let named = match &token {
                TokenRef::Direct(_) => TokenResolver::new(security, Vec::new())
                    .certificate(doc, &token)
                    .ok()
                    .and_then(|c| ours.iter().enumerate().find(|(_, r)| r.certificate == &c)),
                other => ours
                    .iter()
                    .enumerate()
                    .find(|(_, r)| matches(other, r.certificate)),
            };
            let Some(named) = named else {
                return Err(WssError::decryption(format!(
                    "the content key is encrypted for another certificate ({})",
                    describe(&token)
                )));
            };
            vec![named]
        }
        None => ours.iter().enumerate().collect(),
    };
    let mut last = WssError::decryption("no key of ours to unwrap the EncryptedKey with");
    for (i, r) in candidates {
        match ek.key_transport.unwrap_with(
            r.key,
            &ek.wrapped,
            ed.algorithm,
            ek.oaep_label.as_deref(),
        ) {
            Ok(key) => return Ok((key, i)),
            Err(d) => last = WssError::decryption(format!("EncryptedKey: {}", d.log_reason())),
        }
    }
    Err(last)
}

fn decrypt_file(key: &ContentKey, input: &Path, dir: &Path) -> Result<(TempPath, u64), WssError> {
    let local =
        |e: std::io::Error| WssError::new(ErrorCode::DeliveryFailure, format!("spool: {e}"));
    let src = File::open(input).map_err(local)?;
    let out = tempfile::Builder::new()
        .prefix("as4-dec-")
        .tempfile_in(dir)
        .map_err(local)?;
    let (file, temp) = out.into_parts();
    let sink = BufWriter::with_capacity(256 * 1024, file);
    let authentic = decrypt_stream(key, BufReader::with_capacity(256 * 1024, src), sink).map_err(
        |e| match e {
            StreamError::Decryption(d) => {
                WssError::decryption(format!("attachment: {}", d.log_reason()))
            }
            StreamError::Io(io) => local(io),
            StreamError::Encrypt(x) => WssError::decryption(x.to_string()),
        },
    )?;
    let len = authentic.plaintext_len();
    let mut sink = authentic.into_inner();
    sink.flush().map_err(local)?;
    Ok((temp, len))
}

/// The one `wsu:Timestamp` child of `security`, if present (several: `EBMS:0103`).
pub fn timestamp_element(doc: &Document, security: NodeId) -> Result<Option<NodeId>, WssError> {
    let Some(sec) = doc.element(security) else {
        return Ok(None);
    };
    let all: Vec<_> = sec.children_named(Some(WSU_NS), "Timestamp").collect();
    match all.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.node_id())),
        _ => Err(WssError::policy("several wsu:Timestamp elements")),
    }
}

/// How the reason of a refusal for a Timestamp outside the allowed skew begins: the sender's
/// clock (or ours) is off, which operators are alerted to (`sdkgw_as4_clock_skew_total`).
pub const CLOCK_SKEW: &str = "clock skew: ";

/// Step 8: `Created` not after `at` + skew, `Expires` (if any) not before `at` − skew
/// (`EBMS:0101`, as WS-Security's MessageExpired maps to FailedAuthentication).
pub fn check_timestamp(
    doc: &Document,
    timestamp: NodeId,
    at: OffsetDateTime,
    skew: Duration,
) -> Result<(), WssError> {
    let ts = doc
        .element(timestamp)
        .ok_or_else(|| WssError::auth("timestamp vanished"))?;
    let read = |local: &str| -> Result<Option<OffsetDateTime>, WssError> {
        match ts.child(Some(WSU_NS), local) {
            None => Ok(None),
            Some(e) => parse_xsd_datetime(&e.text())
                .map(Some)
                .ok_or_else(|| WssError::auth(format!("wsu:{local} is not an xsd:dateTime"))),
        }
    };
    let created =
        read("Created")?.ok_or_else(|| WssError::auth("wsu:Timestamp without Created"))?;
    if created > at + skew {
        return Err(WssError::auth(format!(
            "{CLOCK_SKEW}wsu:Created {created} is in the future (received {at}, skew {skew})"
        )));
    }
    if let Some(expires) = read("Expires")? {
        if expires < at - skew {
            return Err(WssError::auth(format!(
                "{CLOCK_SKEW}message expired at {expires} (received {at})"
            )));
        }
        if expires < created {
            return Err(WssError::auth("wsu:Expires before wsu:Created"));
        }
    }
    Ok(())
}

/// What the signature of a UserMessage must cover.
#[derive(Debug, Clone)]
pub struct RequiredCoverage {
    pub messaging: NodeId,
    pub body: NodeId,
    pub timestamp: Option<NodeId>,
    /// Content-IDs of every attachment.
    pub attachments: Vec<String>,
}

/// Step 7: verifies the signature over the decrypted attachments. The references must cover
/// `eb:Messaging`, the Body, the Timestamp (when present) and every attachment; other
/// references may only point into the Security header (tokens). The verifying key must be the
/// authenticated signer's.
pub fn verify_signature(
    doc: &Document,
    security: NodeId,
    signer: &AuthenticatedSigner,
    required: &RequiredCoverage,
    decrypted: &[DecryptedPart],
) -> Result<VerifiedSignature, WssError> {
    let policy = VerifyPolicy::as4();
    let resolver = TokenResolver::new(security, Vec::new());
    let files = FileAttachments(
        decrypted
            .iter()
            .map(|d| (cid_url(&d.content_id), d.file.to_path_buf()))
            .collect(),
    );
    let verified = Verifier::new(&policy, &resolver)
        .with_attachments(&files)
        .verify(doc, signer.signature)
        .map_err(|e| from_verify(&e))?;
    if verified.key().certificate() != &signer.certificate {
        return Err(WssError::auth(
            "the signature key is not the authenticated certificate",
        ));
    }
    check_coverage(doc, security, &verified, required)?;
    Ok(verified)
}

fn check_coverage(
    doc: &Document,
    security: NodeId,
    verified: &VerifiedSignature,
    required: &RequiredCoverage,
) -> Result<(), WssError> {
    let in_security = |id: NodeId| match (doc.element(security), doc.element(id)) {
        (Some(s), Some(e)) => s.contains(e) && s.node_id() != e.node_id(),
        _ => false,
    };
    let mut seen_elements = Vec::new();
    let mut seen_attachments = Vec::new();
    for r in verified.references() {
        match &r.coverage {
            Coverage::Element {
                element,
                excluded: None,
            } => {
                let wanted = *element == required.messaging
                    || *element == required.body
                    || Some(*element) == required.timestamp;
                if !wanted && !in_security(*element) {
                    return Err(WssError::policy(format!(
                        "unexpected signed reference {:?}",
                        r.uri
                    )));
                }
                seen_elements.push(*element);
            }
            Coverage::Attachment { uri } => {
                let cid = cid_to_content_id(uri).unwrap_or_default();
                if !required.attachments.contains(&cid) {
                    return Err(WssError::policy(format!(
                        "signed reference to unknown attachment {uri}"
                    )));
                }
                seen_attachments.push(cid);
            }
            other => {
                return Err(WssError::policy(format!(
                    "signed reference {:?} does not fit the profile ({other:?})",
                    r.uri
                )));
            }
        }
    }
    let missing_element = [
        Some(required.messaging),
        Some(required.body),
        required.timestamp,
    ]
    .into_iter()
    .flatten()
    .find(|n| !seen_elements.contains(n));
    if let Some(n) = missing_element {
        let name = doc
            .element(n)
            .map(|e| e.qname().to_owned())
            .unwrap_or_default();
        return Err(WssError::policy(format!("{name} is not signed")));
    }
    if let Some(a) = required
        .attachments
        .iter()
        .find(|a| !seen_attachments.contains(a))
    {
        return Err(WssError::policy(format!(
            "attachment cid:{a} is not signed"
        )));
    }
    Ok(())
}
