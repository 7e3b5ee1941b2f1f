//! Writing `EncryptedData` / `EncryptedKey` and encrypting elements in place.
//!
//! The document is changed by splicing bytes (the target element or its content is replaced
//! by the EncryptedData), so everything else stays byte-identical. The plaintext is the
//! element's bytes exactly as written; a decrypter parses it in the namespace context of the
//! parent, as XML-Enc §4.2 and the XHE profile expect.

use std::fmt::Write as _;

use base64::Engine;
use sdkgw_certs::Certificate;

use super::error::XencError;
use super::model::{TYPE_CONTENT, TYPE_ELEMENT};
use super::{DS_NS, XENC_NS, XENC11_NS};
use crate::crypto::{ContentKey, DataEncryption, KeyTransport, KeyTransportMethod};
use crate::xml::{Document, Edit, ElementRef, apply_edits};

/// How to encrypt.
#[derive(Debug, Clone)]
pub struct EncryptOptions {
    pub data: DataEncryption,
    pub key_transport: KeyTransport,
    /// Encrypt the element's content (`#Content`) instead of the element (`#Element`).
    pub content_only: bool,
    /// `Id` attribute of the EncryptedData.
    pub id: Option<String>,
}

impl EncryptOptions {
    /// DIGG's XHE payload profile: aes256-cbc, rsa-oaep-mgf1p, `#Element`.
    pub fn xhe() -> Self {
        EncryptOptions {
            data: DataEncryption::Aes256Cbc,
            key_transport: KeyTransport::RSA_OAEP_MGF1P,
            content_only: false,
            id: None,
        }
    }
}

/// What goes into an EncryptedKey's `ds:KeyInfo`.
#[derive(Debug, Clone, Copy)]
pub enum RecipientInfo<'a> {
    /// `ds:X509Data/ds:X509Certificate` with the recipient certificate (XHE; rollover).
    Certificate(&'a Certificate),
    /// Caller-supplied KeyInfo content, e.g. a `wsse:SecurityTokenReference` (AS4).
    Raw(&'a str),
    /// No KeyInfo.
    None,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Attribute-value escaping for ids and URIs we write.
fn attr(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

/// The `xenc:EncryptionMethod` of an EncryptedKey.
fn key_transport_method(kt: KeyTransport) -> String {
    let mut s = format!(
        "<xenc:EncryptionMethod Algorithm=\"{}\">",
        kt.method().uri()
    );
    // The DigestMethod is written even when it is the SHA-1 default, as the Inera examples do.
    let _ = write!(
        s,
        "<ds:DigestMethod xmlns:ds=\"{DS_NS}\" Algorithm=\"{}\"/>",
        kt.digest().uri()
    );
    if kt.method() == KeyTransportMethod::RsaOaep
        && let Some(mgf) = kt.mgf()
    {
        let _ = write!(
            s,
            "<xenc11:MGF xmlns:xenc11=\"{XENC11_NS}\" Algorithm=\"{}\"/>",
            mgf.uri()
        );
    }
    s.push_str("</xenc:EncryptionMethod>");
    s
}

/// Wraps `key` for `recipient` and writes an `xenc:EncryptedKey` (with the xenc namespace
/// declared on it). `references` become a `ReferenceList` of `DataReference`s (WS-Security
/// style, detached); leave it empty for a key embedded in `EncryptedData/ds:KeyInfo`.
pub fn encrypted_key_xml(
    key: &ContentKey,
    kt: KeyTransport,
    recipient: &Certificate,
    info: RecipientInfo<'_>,
    id: Option<&str>,
    references: &[&str],
) -> Result<String, XencError> {
    let wrapped = kt.wrap(recipient, key, None)?;
    let mut s = format!("<xenc:EncryptedKey xmlns:xenc=\"{XENC_NS}\"");
    if let Some(id) = id {
        let _ = write!(s, " Id=\"{}\"", attr(id));
    }
    s.push('>');
    s.push_str(&key_transport_method(kt));
    match info {
        RecipientInfo::Certificate(c) => {
            let _ = write!(
                s,
                "<ds:KeyInfo xmlns:ds=\"{DS_NS}\"><ds:X509Data><ds:X509Certificate>{}\
                 </ds:X509Certificate></ds:X509Data></ds:KeyInfo>",
                c.to_base64()
            );
        }
        RecipientInfo::Raw(xml) => {
            let _ = write!(s, "<ds:KeyInfo xmlns:ds=\"{DS_NS}\">{xml}</ds:KeyInfo>");
        }
        RecipientInfo::None => {}
    }
    let _ = write!(
        s,
        "<xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData>",
        b64(&wrapped)
    );
    if !references.is_empty() {
        s.push_str("<xenc:ReferenceList>");
        for r in references {
            let _ = write!(s, "<xenc:DataReference URI=\"#{}\"/>", attr(r));
        }
        s.push_str("</xenc:ReferenceList>");
    }
    s.push_str("</xenc:EncryptedKey>");
    Ok(s)
}

/// Encrypts `plaintext` with `key` and writes an `xenc:EncryptedData` of type `type_uri`,
/// with `key_info` (already serialised, e.g. from [`encrypted_key_xml`]) inside `ds:KeyInfo`.
pub fn encrypted_data_xml(
    key: &ContentKey,
    plaintext: &[u8],
    type_uri: &str,
    id: Option<&str>,
    key_info: Option<&str>,
) -> Result<String, XencError> {
    let ciphertext = key.encrypt(plaintext)?;
    let mut s = format!("<xenc:EncryptedData xmlns:xenc=\"{XENC_NS}\"");
    if let Some(id) = id {
        let _ = write!(s, " Id=\"{}\"", attr(id));
    }
    let _ = write!(
        s,
        " Type=\"{}\"><xenc:EncryptionMethod Algorithm=\"{}\"/>",
        attr(type_uri),
        key.algorithm().uri()
    );
    if let Some(ki) = key_info {
        let _ = write!(s, "<ds:KeyInfo xmlns:ds=\"{DS_NS}\">{ki}</ds:KeyInfo>");
    }
    let _ = write!(
        s,
        "<xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData>\
         </xenc:EncryptedData>",
        b64(&ciphertext)
    );
    Ok(s)
}

/// Encrypts `target` of `doc` for `recipient` (EncryptedKey embedded in KeyInfo, carrying the
/// recipient certificate — the XHE layout) and returns the new document bytes.
pub fn encrypt_element(
    doc: &Document,
    target: ElementRef<'_>,
    recipient: &Certificate,
    options: &EncryptOptions,
) -> Result<Vec<u8>, XencError> {
    let key = ContentKey::generate(options.data)?;
    let ek = encrypted_key_xml(
        &key,
        options.key_transport,
        recipient,
        RecipientInfo::Certificate(recipient),
        None,
        &[],
    )?;
    replace_encrypted(doc, target, options.content_only, |plaintext, type_uri| {
        encrypted_data_xml(&key, plaintext, type_uri, options.id.as_deref(), Some(&ek))
    })
}

/// Replaces `target` (or its content) by the EncryptedData `build` makes from its bytes.
fn replace_encrypted(
    doc: &Document,
    target: ElementRef<'_>,
    content_only: bool,
    build: impl FnOnce(&[u8], &str) -> Result<String, XencError>,
) -> Result<Vec<u8>, XencError> {
    let span = target.span();
    let edit = if content_only {
        let ed = build(&doc.bytes()[span.content.clone()], TYPE_CONTENT)?;
        Edit::replace_content(target, ed.as_bytes())
    } else {
        let ed = build(&doc.bytes()[span.whole()], TYPE_ELEMENT)?;
        Edit::replace_element(target, ed.into_bytes())
    };
    Ok(apply_edits(doc.bytes(), vec![edit])?)
}

/// Encrypts `target` with an existing content key and no KeyInfo, for use with a detached
/// EncryptedKey whose ReferenceList names `id` (WS-Security style). Returns the new bytes.
pub fn encrypt_element_detached(
    doc: &Document,
    target: ElementRef<'_>,
    key: &ContentKey,
    id: &str,
    content_only: bool,
) -> Result<Vec<u8>, XencError> {
    replace_encrypted(doc, target, content_only, |plaintext, type_uri| {
        encrypted_data_xml(key, plaintext, type_uri, Some(id), None)
    })
}
