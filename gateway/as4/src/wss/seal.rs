//! Outbound WS-Security: sign, then encrypt the attachments (BSTPOL `sp:SignBeforeEncrypting`).
//!
//! The security header comes out as
//! `wsu:Timestamp, BST(our AP cert), BST(recipient cert), xenc:EncryptedKey,
//! xenc:EncryptedData…, ds:Signature` — every token before its first use and the key before
//! the data it decrypts (WS-SecurityPolicy *Strict* layout). The signature covers
//! `eb:Messaging`, the Body and the Timestamp (exclusive C14N) and each attachment's content
//! as it is before encryption (the compressed payload), via the
//! Attachment-Content-Signature-Transform, so receipts can echo digests that stay the same on
//! every retry.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sdkgw_certs::{Certificate, PrivateKey};
use sdkgw_xml_security::c14n::Algorithm;
use sdkgw_xml_security::crypto::gcm_stream::GcmEncryptWriter;
use sdkgw_xml_security::crypto::{
    ContentKey, DataEncryption, DigestMethod, KeyTransport, SignatureMethod,
};
use sdkgw_xml_security::dsig::{
    self, AttachmentResolver, DSIG_NS, KeyInfoTemplate, Placement, ReferenceTemplate,
    SignatureTemplate, Transform,
};
use sdkgw_xml_security::xenc::{self, RecipientInfo};
use sdkgw_xml_security::xml::{Document, Edit, NodeId, ParseOptions, apply_edits};
use tempfile::TempPath;
use time::OffsetDateTime;

use super::token::{bst_reference_xml, bst_xml, timestamp_xml};
use super::{ENCRYPTED_KEY_TOKEN, SWA_CIPHERTEXT_TRANSFORM, SWA_CONTENT_ONLY, WSSE_NS, WSSE11_NS};
use crate::ebms::cid_url;
use crate::soap::{self, envelope};
use crate::text::{esc_attr, new_xml_id};

const XENC_NS: &str = "http://www.w3.org/2001/04/xmlenc#";

/// Our signing identity.
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    pub certificate: &'a Certificate,
    pub key: &'a PrivateKey,
}

/// One attachment to sign and encrypt: its plaintext (for us: the gzip payload) in a file.
#[derive(Debug, Clone)]
pub struct PlainAttachment {
    /// Content-ID without brackets (`message`); the references use `cid:` + this.
    pub content_id: String,
    pub path: PathBuf,
    /// `EncryptedData/@MimeType`: the media type of the plaintext (`application/gzip` for a
    /// compressed payload, as Domibus writes it).
    pub mime_type: String,
}

/// What to seal.
#[derive(Debug)]
pub struct SealRequest<'a> {
    /// The `eb:Messaging` block, with `wsu:Id="{messaging_id}"`.
    pub messaging_xml: &'a str,
    pub messaging_id: &'a str,
    pub signer: Signer<'a>,
    /// The receiving AP's certificate (from SMP): the attachments' key is wrapped for it.
    pub recipient: &'a Certificate,
    pub attachments: &'a [PlainAttachment],
    pub created: OffsetDateTime,
    pub expires: Option<OffsetDateTime>,
    /// Where the encrypted attachment files are written.
    pub spool_dir: &'a Path,
}

/// An encrypted attachment, ready for the MIME writer (`application/octet-stream`).
#[derive(Debug)]
pub struct SealedAttachment {
    pub content_id: String,
    pub file: TempPath,
    pub len: u64,
}

/// A signed and encrypted message.
#[derive(Debug)]
pub struct Sealed {
    /// The SOAP envelope (root MIME part).
    pub envelope: Vec<u8>,
    pub attachments: Vec<SealedAttachment>,
    /// `(URI, digest)` of every signed reference: what an NRR receipt must echo.
    pub references: Vec<(String, Vec<u8>)>,
    /// The `ds:SignatureValue` (for the AP-3.4.1 log).
    pub signature_value: Vec<u8>,
}

/// A local failure while sealing (our key, our files), never a peer's fault.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("signing failed: {0}")]
    Sign(#[from] dsig::SignError),
    #[error("encryption failed: {0}")]
    Encrypt(#[from] xenc::XencError),
    #[error("encrypting an attachment failed: {0}")]
    Stream(#[from] sdkgw_xml_security::crypto::gcm_stream::StreamError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("XML error: {0}")]
    Xml(String),
}

/// Parse options for the envelopes we write and read (SOAP-sized documents).
pub fn soap_parse_options() -> ParseOptions {
    ParseOptions {
        limits: sdkgw_xml_security::xml::Limits::SMALL,
        ..ParseOptions::default()
    }
}

/// Attachments in files, by `cid:` URI.
pub(crate) struct FileAttachments(pub Vec<(String, PathBuf)>);

impl AttachmentResolver for FileAttachments {
    fn open(&self, uri: &str) -> Result<Box<dyn Read + '_>, String> {
        let (_, path) = self
            .0
            .iter()
            .find(|(u, _)| u == uri)
            .ok_or_else(|| format!("no attachment {uri}"))?;
        let file = File::open(path).map_err(|e| e.to_string())?;
        Ok(Box::new(BufReader::with_capacity(256 * 1024, file)))
    }
}

/// Signs and encrypts. Blocking (RSA, file I/O): run it on a blocking thread.
pub fn seal(req: &SealRequest<'_>) -> Result<Sealed, SealError> {
    let opts = soap_parse_options();
    let ts_id = new_xml_id("TS");
    let signer_bst = new_xml_id("X509");
    let recipient_bst = new_xml_id("X509");
    let body_id = new_xml_id("body");
    let security = format!(
        "<wsse:Security S12:mustUnderstand=\"true\">{}{}{}</wsse:Security>",
        timestamp_xml(&ts_id, req.created, req.expires),
        bst_xml(&signer_bst, req.signer.certificate),
        bst_xml(&recipient_bst, req.recipient),
    );
    let env = envelope(&[req.messaging_xml, &security], &body_id, "");
    let doc =
        Document::parse(env.into_bytes(), &opts).map_err(|e| SealError::Xml(e.to_string()))?;
    let security_node = security_node(&doc)?;
    let mut references = element_references(&[req.messaging_id, &body_id, &ts_id]);
    let files = FileAttachments(
        req.attachments
            .iter()
            .map(|a| (cid_url(&a.content_id), a.path.clone()))
            .collect(),
    );
    for (uri, _) in &files.0 {
        references.push(ReferenceTemplate {
            uri: uri.clone(),
            transforms: vec![Transform::AttachmentContent],
            digest: DigestMethod::Sha256,
        });
    }
    let template = signature_template(references, &signer_bst, security_node);
    let signed = dsig::sign(&doc, &template, req.signer.key, Some(&files), &opts)?;
    drop(doc);
    let (envelope, attachments) = encrypt_attachments(signed.bytes, req, &recipient_bst, &opts)?;
    let signature_value = signature_value(&envelope, &opts)?;
    Ok(Sealed {
        envelope,
        attachments,
        references: signed.references,
        signature_value,
    })
}

/// References to elements by `wsu:Id`, exclusive C14N, SHA-256.
pub fn element_references(ids: &[&str]) -> Vec<ReferenceTemplate> {
    ids.iter()
        .map(|id| ReferenceTemplate {
            uri: format!("#{id}"),
            transforms: vec![Transform::C14n(Algorithm::exclusive(&[]))],
            digest: DigestMethod::Sha256,
        })
        .collect()
}

/// The profile's signature: exclusive C14N, rsa-sha256, KeyInfo a direct reference to the
/// signer's BST, last child of the Security header.
pub fn signature_template(
    references: Vec<ReferenceTemplate>,
    signer_bst: &str,
    security: NodeId,
) -> SignatureTemplate {
    SignatureTemplate {
        c14n: Algorithm::exclusive(&[]),
        method: SignatureMethod::RsaSha256,
        references,
        key_info: KeyInfoTemplate::Xml(bst_reference_xml(signer_bst)),
        prefix: Some("ds".into()),
        id: Some(new_xml_id("SIG")),
        placement: Placement::LastChildOf(security),
    }
}

fn security_node(doc: &Document) -> Result<NodeId, SealError> {
    let parts = soap::locate(doc).map_err(|e| SealError::Xml(e.to_string()))?;
    parts
        .security
        .ok_or_else(|| SealError::Xml("no Security header".into()))
}

/// The encryption step of [`seal`], on an envelope already signed: encrypts every attachment
/// under one fresh AES-128-GCM key (for `req.recipient`, whose certificate is the BST
/// `recipient_bst` of the Security header) and splices the EncryptedKey and the EncryptedData
/// elements in before the Signature.
pub fn encrypt_attachments(
    signed: Vec<u8>,
    req: &SealRequest<'_>,
    recipient_bst: &str,
    opts: &ParseOptions,
) -> Result<(Vec<u8>, Vec<SealedAttachment>), SealError> {
    let key = ContentKey::generate(DataEncryption::Aes128Gcm)
        .map_err(|e| SealError::Xml(e.to_string()))?;
    let ek_id = new_xml_id("EK");
    let mut data_xml = String::new();
    let mut data_ids = Vec::new();
    let mut sealed = Vec::new();
    for a in req.attachments {
        let ed_id = new_xml_id("ED");
        let (file, len) = encrypt_file(&key, &a.path, req.spool_dir)?;
        data_xml.push_str(&encrypted_data_xml(
            &ed_id,
            &ek_id,
            &a.content_id,
            &a.mime_type,
        ));
        data_ids.push(ed_id);
        sealed.push(SealedAttachment {
            content_id: a.content_id.clone(),
            file,
            len,
        });
    }
    let refs: Vec<&str> = data_ids.iter().map(String::as_str).collect();
    let ek = xenc::encrypted_key_xml(
        &key,
        KeyTransport::RSA_OAEP_SHA256,
        req.recipient,
        RecipientInfo::Raw(&bst_reference_xml(recipient_bst)),
        Some(&ek_id),
        &refs,
    )?;
    let doc = Document::parse(signed, opts).map_err(|e| SealError::Xml(e.to_string()))?;
    let security = doc
        .element(security_node(&doc)?)
        .ok_or_else(|| SealError::Xml("no Security header".into()))?;
    let signature = security
        .child(Some(DSIG_NS), "Signature")
        .ok_or_else(|| SealError::Xml("no Signature after signing".into()))?;
    let insert = format!("{ek}{data_xml}");
    let bytes = apply_edits(
        doc.bytes(),
        vec![Edit::insert_before(signature, insert.as_bytes())],
    )
    .map_err(|e| SealError::Xml(e.to_string()))?;
    Ok((bytes, sealed))
}

/// `IV || AES-GCM(plaintext) || tag` of the file at `path`, into a temp file.
fn encrypt_file(key: &ContentKey, path: &Path, dir: &Path) -> Result<(TempPath, u64), SealError> {
    let input = File::open(path)?;
    let out = tempfile::Builder::new()
        .prefix("as4-enc-")
        .tempfile_in(dir)?;
    let (file, temp) = out.into_parts();
    let mut writer = GcmEncryptWriter::new(key, BufWriter::with_capacity(256 * 1024, file))?;
    std::io::copy(
        &mut BufReader::with_capacity(256 * 1024, input),
        &mut writer,
    )?;
    let mut buffered = writer.finish()?;
    buffered.flush()?;
    let file = buffered.into_inner().map_err(|e| e.into_error())?;
    let len = file.metadata()?.len();
    Ok((temp, len))
}

/// The SwA `EncryptedData` of one attachment (Attachment-Content-Only, CipherReference to the
/// MIME part, key by reference to the EncryptedKey — the layout Domibus/WSS4J write).
fn encrypted_data_xml(id: &str, ek_id: &str, content_id: &str, mime_type: &str) -> String {
    format!(
        "<xenc:EncryptedData xmlns:xenc=\"{XENC_NS}\" Id=\"{id}\" MimeType=\"{mime}\" \
         Type=\"{SWA_CONTENT_ONLY}\"><xenc:EncryptionMethod Algorithm=\"{gcm}\"/>\
         <ds:KeyInfo xmlns:ds=\"{DSIG_NS}\"><wsse:SecurityTokenReference xmlns:wsse=\"{WSSE_NS}\" \
         xmlns:wsse11=\"{WSSE11_NS}\" wsse11:TokenType=\"{ENCRYPTED_KEY_TOKEN}\">\
         <wsse:Reference URI=\"#{ek}\"/></wsse:SecurityTokenReference></ds:KeyInfo>\
         <xenc:CipherData><xenc:CipherReference URI=\"{cid}\"><xenc:Transforms>\
         <ds:Transform xmlns:ds=\"{DSIG_NS}\" Algorithm=\"{SWA_CIPHERTEXT_TRANSFORM}\"/>\
         </xenc:Transforms></xenc:CipherReference></xenc:CipherData></xenc:EncryptedData>",
        id = esc_attr(id),
        mime = esc_attr(mime_type),
        gcm = DataEncryption::Aes128Gcm.uri(),
        ek = esc_attr(ek_id),
        cid = esc_attr(&cid_url(content_id)),
    )
}

fn signature_value(envelope: &[u8], opts: &ParseOptions) -> Result<Vec<u8>, SealError> {
    use base64::Engine as _;
    let doc = Document::parse_slice(envelope, opts).map_err(|e| SealError::Xml(e.to_string()))?;
    let value = doc
        .elements()
        .find(|e| e.is(Some(DSIG_NS), "SignatureValue"))
        .map(|e| {
            e.text()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
        })
        .unwrap_or_default();
    base64::engine::general_purpose::STANDARD
        .decode(value.as_bytes())
        .map_err(|e| SealError::Xml(e.to_string()))
}
