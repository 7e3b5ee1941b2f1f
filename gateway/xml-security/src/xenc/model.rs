//! `xenc:EncryptedData` and `xenc:EncryptedKey` read from the hardened tree.
//!
//! Reading never decrypts. Unknown algorithms are [`AlgorithmError`]s (visible in the clear,
//! so reporting them is no oracle); every other defect of the encrypted structure is the
//! uniform [`DecryptionFailed`] (internal reason "structure").

use base64::Engine;
use sdkgw_certs::Certificate;

use super::{DS_NS, XENC_NS, XENC11_NS};
use crate::crypto::{
    AlgorithmError, DataEncryption, DecryptionFailed, FailureReason, KeyTransport,
};
use crate::xml::{ElementRef, NodeRef};

/// What an EncryptedData replaces when decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncryptedType {
    /// `xmlenc#Element`: the plaintext is one element.
    Element,
    /// `xmlenc#Content`: the plaintext is element content.
    Content,
    /// Any other `Type` (e.g. the SwA `Attachment-Content-Only`): the caller decides.
    Other,
}

pub const TYPE_ELEMENT: &str = "http://www.w3.org/2001/04/xmlenc#Element";
pub const TYPE_CONTENT: &str = "http://www.w3.org/2001/04/xmlenc#Content";

/// Where the ciphertext is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CipherSource {
    /// `CipherData/CipherValue`, decoded.
    Value(Vec<u8>),
    /// `CipherData/CipherReference/@URI` (e.g. `cid:` attachments in AS4).
    Reference(String),
}

/// A parsed `xenc:EncryptedKey`.
#[derive(Debug, Clone)]
pub struct EncryptedKey {
    pub id: Option<String>,
    pub key_transport: KeyTransport,
    /// `xenc:OAEPparams`, decoded.
    pub oaep_label: Option<Vec<u8>>,
    /// `ds:KeyInfo/ds:X509Data/ds:X509Certificate`: the recipient certificate.
    pub recipient: Option<Certificate>,
    /// `ds:KeyInfo/ds:X509Data/ds:X509SKI`, decoded.
    pub recipient_ski: Option<Vec<u8>>,
    /// The wrapped key.
    pub wrapped: Vec<u8>,
    /// `xenc:ReferenceList/xenc:DataReference/@URI` without the `#`.
    pub data_references: Vec<String>,
}

/// A parsed `xenc:EncryptedData`.
#[derive(Debug, Clone)]
pub struct EncryptedData {
    pub id: Option<String>,
    pub kind: EncryptedType,
    pub type_uri: Option<String>,
    pub algorithm: DataEncryption,
    pub cipher: CipherSource,
    /// An EncryptedKey carried in `ds:KeyInfo` (XHE style).
    pub embedded_key: Option<EncryptedKey>,
    /// `URI="#x"` references found inside `ds:KeyInfo` (e.g. a SecurityTokenReference to a
    /// detached EncryptedKey), without the `#`.
    pub key_references: Vec<String>,
}

fn structure() -> DecryptionFailed {
    DecryptionFailed::new(FailureReason::Structure)
}

/// Either an algorithm problem or the uniform failure.
#[derive(Debug)]
pub(crate) enum ReadError {
    Algorithm(AlgorithmError),
    Failed(DecryptionFailed),
}

impl From<AlgorithmError> for ReadError {
    fn from(e: AlgorithmError) -> Self {
        ReadError::Algorithm(e)
    }
}
impl From<DecryptionFailed> for ReadError {
    fn from(e: DecryptionFailed) -> Self {
        ReadError::Failed(e)
    }
}

fn one_child<'a>(
    parent: ElementRef<'a>,
    ns: &str,
    local: &str,
) -> Result<ElementRef<'a>, DecryptionFailed> {
    parent
        .optional_child(Some(ns), local)
        .ok()
        .flatten()
        .ok_or_else(structure)
}

fn optional_child<'a>(
    parent: ElementRef<'a>,
    ns: &str,
    local: &str,
) -> Result<Option<ElementRef<'a>>, DecryptionFailed> {
    parent
        .optional_child(Some(ns), local)
        .map_err(|_| structure())
}

/// Decodes the base64 text of `e` straight from its text nodes, a few KiB at a time, so a
/// large CipherValue costs its decoded size and not two more copies of the text.
pub(crate) fn base64_text(e: ElementRef<'_>) -> Result<Vec<u8>, DecryptionFailed> {
    const QUADS: usize = 4 * 1024;
    let engine = &base64::engine::general_purpose::STANDARD;
    let text_len: usize = e
        .children()
        .map(|n| match n {
            NodeRef::Text(t) => t.len(),
            _ => 0,
        })
        .sum();
    let mut out = Vec::with_capacity(text_len / 4 * 3 + 3);
    let mut quad = Vec::with_capacity(QUADS);
    let flush = |quad: &mut Vec<u8>, out: &mut Vec<u8>| -> Result<(), DecryptionFailed> {
        let start = out.len();
        out.resize(start + quad.len() / 4 * 3 + 3, 0);
        let n = engine
            .decode_slice(&quad[..], &mut out[start..])
            .map_err(|_| structure())?;
        out.truncate(start + n);
        quad.clear();
        Ok(())
    };
    for node in e.children() {
        let NodeRef::Text(t) = node else { continue };
        for b in t
            .bytes()
            .filter(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        {
            quad.push(b);
            // Only whole quads before the end: padding may only come last.
            if quad.len() == QUADS {
                if quad.contains(&b'=') {
                    return Err(structure());
                }
                flush(&mut quad, &mut out)?;
            }
        }
    }
    flush(&mut quad, &mut out)?;
    Ok(out)
}

fn algorithm(method: ElementRef<'_>) -> Result<&str, DecryptionFailed> {
    method.attribute(None, "Algorithm").ok_or_else(structure)
}

fn cipher_source(parent: ElementRef<'_>) -> Result<CipherSource, DecryptionFailed> {
    let data = one_child(parent, XENC_NS, "CipherData")?;
    if let Some(v) = optional_child(data, XENC_NS, "CipherValue")? {
        return Ok(CipherSource::Value(base64_text(v)?));
    }
    let r = one_child(data, XENC_NS, "CipherReference")?;
    Ok(CipherSource::Reference(
        r.attribute(None, "URI").ok_or_else(structure)?.to_owned(),
    ))
}

fn fragment_ref(uri: &str) -> Option<String> {
    uri.strip_prefix('#').map(str::to_owned)
}

impl EncryptedKey {
    /// Reads an `xenc:EncryptedKey` element.
    pub(crate) fn read(e: ElementRef<'_>) -> Result<Self, ReadError> {
        if !e.is(Some(XENC_NS), "EncryptedKey") {
            return Err(structure().into());
        }
        let method = one_child(e, XENC_NS, "EncryptionMethod")?;
        let digest = optional_child(method, DS_NS, "DigestMethod")?
            .map(algorithm)
            .transpose()?;
        let mgf = optional_child(method, XENC11_NS, "MGF")?
            .map(algorithm)
            .transpose()?;
        let key_transport = KeyTransport::from_uris(algorithm(method)?, digest, mgf)?;
        let oaep_label = optional_child(method, XENC_NS, "OAEPparams")?
            .map(base64_text)
            .transpose()?;
        let (recipient, recipient_ski) = match optional_child(e, DS_NS, "KeyInfo")? {
            Some(ki) => read_x509(ki)?,
            None => (None, None),
        };
        let wrapped = match cipher_source(e)? {
            CipherSource::Value(v) => v,
            CipherSource::Reference(_) => return Err(structure().into()),
        };
        let data_references = match optional_child(e, XENC_NS, "ReferenceList")? {
            Some(list) => list
                .children_named(Some(XENC_NS), "DataReference")
                .filter_map(|d| d.attribute(None, "URI").and_then(fragment_ref))
                .collect(),
            None => Vec::new(),
        };
        Ok(EncryptedKey {
            id: e.attribute(None, "Id").map(str::to_owned),
            key_transport,
            oaep_label,
            recipient,
            recipient_ski,
            wrapped,
            data_references,
        })
    }
}

fn read_x509(
    ki: ElementRef<'_>,
) -> Result<(Option<Certificate>, Option<Vec<u8>>), DecryptionFailed> {
    let Some(x509) = optional_child(ki, DS_NS, "X509Data")? else {
        return Ok((None, None));
    };
    let cert = optional_child(x509, DS_NS, "X509Certificate")?
        .map(|c| Certificate::from_der(&base64_text(c)?).map_err(|_| structure()))
        .transpose()?;
    let ski = optional_child(x509, DS_NS, "X509SKI")?
        .map(base64_text)
        .transpose()?;
    Ok((cert, ski))
}

impl EncryptedData {
    /// Reads an `xenc:EncryptedData` element.
    pub(crate) fn read(e: ElementRef<'_>) -> Result<Self, ReadError> {
        if !e.is(Some(XENC_NS), "EncryptedData") {
            return Err(structure().into());
        }
        let type_uri = e.attribute(None, "Type").map(str::to_owned);
        let kind = match type_uri.as_deref() {
            Some(TYPE_ELEMENT) => EncryptedType::Element,
            Some(TYPE_CONTENT) => EncryptedType::Content,
            _ => EncryptedType::Other,
        };
        let method = one_child(e, XENC_NS, "EncryptionMethod")?;
        let algorithm = DataEncryption::from_uri(algorithm(method)?)?;
        let mut embedded_key = None;
        let mut key_references = Vec::new();
        if let Some(ki) = optional_child(e, DS_NS, "KeyInfo")? {
            if let Some(k) = optional_child(ki, XENC_NS, "EncryptedKey")? {
                embedded_key = Some(EncryptedKey::read(k)?);
            }
            key_references = ki
                .descendants()
                .filter_map(|d| d.attribute(None, "URI").and_then(fragment_ref))
                .collect();
        }
        Ok(EncryptedData {
            id: e.attribute(None, "Id").map(str::to_owned),
            kind,
            type_uri,
            algorithm,
            cipher: cipher_source(e)?,
            embedded_key,
            key_references,
        })
    }
}
