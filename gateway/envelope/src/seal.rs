//! Sealing (the sender, corner C1; digest §2.2 and §5 "outbound"): validate the SDK message
//! and its consistency with the envelope, put it in the XHE, encrypt the `messagePayload`
//! element for the recipient's O2O encryption certificate (aes256-cbc, rsa-oaep-mgf1p,
//! EncryptedKey embedded with the recipient certificate), sign the whole XHE (enveloped,
//! rsa-sha256, C14N 1.0), then check the result as a receiver would (profile + signature).
//!
//! Under `tm-base` nothing is encrypted or signed. Receipts ([`seal_receipt`]) are signed
//! under `tm-base-ext-sigenc`, never encrypted.

use sdkgw_certs::{Certificate, PrivateKey};
use sdkgw_schemas::TransportModel;
use sdkgw_schemas::codelists::MessageType;
use sdkgw_xml_security::dsig::{self, EmbeddedCertificate, Verifier, VerifyPolicy};
use sdkgw_xml_security::xenc::{self, EncryptOptions};
use sdkgw_xml_security::xml::{Document, ParseError, ParseOptions};

use crate::finding::Report;
use crate::message;
use crate::ns::XHA;
use crate::receipt::Receipt;
use crate::xhe::{self, PayloadXml, Xhe, XheContext};
use crate::xml_out::InvalidCharacter;

/// A signing key and its certificate (the organisation's O2O signing pair).
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    /// The private key.
    pub key: &'a PrivateKey,
    /// Its certificate, embedded in `KeyInfo`.
    pub cert: &'a Certificate,
}

/// Options of [`seal_message`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SealOptions {
    /// Seal a message that fails validation or does not match its envelope (conformance
    /// testing of receivers, e.g. DIGG's TF2.4.x). The findings are still returned.
    pub allow_invalid: bool,
}

/// A sealed envelope.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The XHE bytes, exactly as they must be sent.
    pub bytes: Vec<u8>,
    /// What validation found in the message (empty unless `allow_invalid` let it pass).
    pub message_report: Report,
}

/// Why sealing failed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The payload is not XML.
    #[error("the message is not well-formed XML: {0}")]
    NotXml(#[source] ParseError),
    /// The message fails validation or contradicts the envelope.
    #[error("the message is not valid:\n{0}")]
    InvalidMessage(Report),
    /// A value XML cannot carry.
    #[error(transparent)]
    Character(#[from] InvalidCharacter),
    /// `tm-base-ext-sigenc` needs the recipient's encryption certificate and our signer.
    #[error("tm-base-ext-sigenc needs {0}")]
    Missing(&'static str),
    /// Encryption failed.
    #[error("cannot encrypt the payload: {0}")]
    Encrypt(#[from] xenc::XencError),
    /// Signing failed.
    #[error("cannot sign the envelope: {0}")]
    Sign(#[from] dsig::SignError),
    /// Our own output failed the receiver's checks (a bug; nothing is returned).
    #[error("the sealed envelope fails its own check: {0}")]
    SelfCheck(String),
}

/// Our own envelopes are read with the receiver's default XHE limit (150 MiB): what we send,
/// a gateway with our defaults parses.
fn xhe_options() -> ParseOptions {
    crate::open::sized(crate::message::DEFAULT_MAX_XHE_BYTES)
}

fn parse(bytes: Vec<u8>) -> Result<Document, SealError> {
    Document::parse(bytes, &xhe_options()).map_err(|e| SealError::SelfCheck(e.to_string()))
}

/// Seals the SDK message `payload` (a `messagePayload` document or element) in an envelope
/// described by `header`. Under `tm-base-ext-sigenc`, `recipient` (its O2O encryption
/// certificate) and `signer` are required.
pub fn seal_message(
    payload: &[u8],
    header: &Xhe,
    recipient: Option<&Certificate>,
    signer: Option<Signer<'_>>,
    options: SealOptions,
) -> Result<Sealed, SealError> {
    let payload_doc = Document::parse_slice(payload, &xhe_options()).map_err(SealError::NotXml)?;
    let root = payload_doc.root();
    let checked = message::validate(root, payload_doc.bytes());
    let mut report = checked.report;
    if let Some(m) = &checked.message {
        for f in message::cross_check(m, header).into_findings() {
            report.push(f);
        }
    }
    if !report.is_empty() && !options.allow_invalid {
        return Err(SealError::InvalidMessage(report));
    }
    let element = String::from_utf8_lossy(&payload_doc.bytes()[root.span().whole()]).into_owned();
    drop(payload_doc);
    let mut header = header.clone();
    let protected = header.transport_model.requires_signature_and_encryption();
    header.payload.encrypted = protected;
    let xml = header.to_xml(PayloadXml::Element(&element))?;
    drop(element);
    let bytes = if protected {
        let recipient =
            recipient.ok_or(SealError::Missing("the recipient's encryption certificate"))?;
        let signer = signer.ok_or(SealError::Missing("a signing key and certificate"))?;
        let encrypted = encrypt_payload(xml.into_bytes(), recipient)?;
        dsig::sign_enveloped(encrypted, signer.key, signer.cert, &xhe_options())?
    } else {
        xml.into_bytes()
    };
    let bytes = self_check(bytes, header.transport_model)?;
    Ok(Sealed {
        bytes,
        message_report: report,
    })
}

/// Replaces the element in `PayloadContent` by its `xenc:EncryptedData`.
fn encrypt_payload(xhe: Vec<u8>, recipient: &Certificate) -> Result<Vec<u8>, SealError> {
    let doc = parse(xhe)?;
    let target = doc
        .root()
        .descendants()
        .find(|e| e.is(Some(XHA), "PayloadContent"))
        .and_then(|c| c.child_elements().next())
        .ok_or_else(|| SealError::SelfCheck("no payload element to encrypt".into()))?;
    Ok(xenc::encrypt_element(
        &doc,
        target,
        recipient,
        &EncryptOptions::xhe(),
    )?)
}

/// Checks the envelope as a receiver would (profile; signature integrity under sigenc) and
/// hands the bytes back.
fn self_check(bytes: Vec<u8>, model: TransportModel) -> Result<Vec<u8>, SealError> {
    let doc = parse(bytes)?;
    let checked = xhe::check(&doc, &XheContext::default());
    if !checked.is_conformant() {
        return Err(SealError::SelfCheck(checked.report.to_string()));
    }
    if model.requires_signature_and_encryption() {
        Verifier::new(&VerifyPolicy::xhe(), &EmbeddedCertificate)
            .verify_enveloped(&doc)
            .map_err(|e| SealError::SelfCheck(e.reason()))?;
    }
    Ok(doc.into_bytes())
}

/// Puts `receipt` into an envelope described by `header` (from [`Xhe::for_receipt`]) and
/// signs it under `tm-base-ext-sigenc` (never encrypted).
pub fn seal_receipt(
    receipt: &Receipt,
    header: &Xhe,
    signer: Option<Signer<'_>>,
) -> Result<Vec<u8>, SealError> {
    if header.message_type != MessageType::Receipt {
        return Err(SealError::SelfCheck(
            "the header is not a receipt envelope".into(),
        ));
    }
    let mut header = header.clone();
    header.payload.encrypted = false;
    let xml = header.to_xml(PayloadXml::Element(&receipt.to_xml()?))?;
    let bytes = if header.transport_model.requires_signature_and_encryption() {
        let signer = signer.ok_or(SealError::Missing("a signing key and certificate"))?;
        dsig::sign_enveloped(
            xml.into_bytes(),
            signer.key,
            signer.cert,
            &ParseOptions::default(),
        )?
    } else {
        xml.into_bytes()
    };
    self_check(bytes, header.transport_model)
}
