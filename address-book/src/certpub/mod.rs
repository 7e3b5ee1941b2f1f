//! DIGG's CertPub extension: the participant's O2O signing and encryption certificates,
//! published inside the signed SMP `ServiceInformation` (addressing digest §2).
//!
//! Parsing follows the robust rules of §2.3: `ExtensionID` and `TypeCode` match after
//! trimming; Extensions with other ids are ignored; `ContentBinaryObject` may be bare
//! base64 DER, PEM (armour and line breaks), or base64 of the PEM text (DIGG describes the
//! content as "PEM format, BASE64-encoded"); a missing or other `mimeCode` is a note, not an
//! error. Each certificate element is read on its own, so one broken certificate does not
//! hide the others; several certificates of one type (rotation) are all kept, and
//! [`choose_encryption`] picks the one to encrypt to.

use base64::Engine as _;
use sdkgw_certs::Certificate;
use sdkgw_schemas::codelists;
use sdkgw_schemas::codelists::CertPubCertType;
use sdkgw_xml_security::xml::ElementRef;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::smp::verify::smp_ns;
use crate::smp::xsd_date_time;

/// One published certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedCertificate {
    /// `signing-cert` or `encryption-cert`.
    #[serde(with = "cert_type_serde")]
    pub cert_type: CertPubCertType,
    /// The certificate.
    #[serde(with = "crate::serde_cert")]
    pub certificate: Certificate,
    /// `smb:ActivationDate`, if published.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub activation: Option<OffsetDateTime>,
    /// `smb:ExpirationDate`, if published.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub expiration: Option<OffsetDateTime>,
}

impl PublishedCertificate {
    /// Whether the published window (if any) contains `at`.
    pub fn in_window(&self, at: OffsetDateTime) -> bool {
        self.activation.is_none_or(|a| a <= at) && self.expiration.is_none_or(|e| at < e)
    }
}

/// What the CertPub extensions of one ServiceInformation hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertPubExtensions {
    /// Every certificate that could be read, in document order.
    pub certificates: Vec<PublishedCertificate>,
    /// Tolerated oddities and skipped entries, for operators.
    pub notes: Vec<String>,
}

/// Reads every CertPub `Extension` child of `service_information`.
pub fn read_extensions(service_information: ElementRef<'_>) -> CertPubExtensions {
    let codes = codelists().certpub();
    let mut out = CertPubExtensions::default();
    for (i, extension) in service_information
        .children_named(Some(smp_ns()), "Extension")
        .enumerate()
    {
        let id = extension
            .child(Some(smp_ns()), "ExtensionID")
            .map(|e| e.trimmed_text());
        if id.as_deref() != Some(codes.extension_id.as_str()) {
            continue;
        }
        for cert in extension.children_named(Some(&codes.aggregate_namespace), "Certificate") {
            match read_certificate(cert, &mut out.notes) {
                Ok(c) => out.certificates.push(c),
                Err(why) => out
                    .notes
                    .push(format!("CertPub Extension {}: {why}", i + 1)),
            }
        }
    }
    out
}

fn read_certificate(
    cert: ElementRef<'_>,
    notes: &mut Vec<String>,
) -> Result<PublishedCertificate, String> {
    let codes = codelists().certpub();
    let basic = Some(codes.basic_namespace.as_str());
    let single = |local: &str| cert.optional_child(basic, local).map_err(|e| e.to_string());
    let type_code = single("TypeCode")?
        .ok_or("smb:TypeCode is missing")?
        .trimmed_text();
    let cert_type = CertPubCertType::from_type_code(&type_code)
        .map_err(|_| format!("unknown TypeCode {type_code:?} ignored"))?;
    let content = single("ContentBinaryObject")?.ok_or("smb:ContentBinaryObject is missing")?;
    match content.attribute(None, "mimeCode") {
        Some(m) if m.trim() == codes.mime_code => {}
        other => notes.push(format!(
            "CertPub {type_code}: mimeCode {other:?}, expected {:?} (accepted)",
            codes.mime_code
        )),
    }
    let certificate = decode_content(&content.text())?;
    let date = |local: &str| -> Result<Option<OffsetDateTime>, String> {
        single(local)?
            .map(|e| xsd_date_time(&e.trimmed_text()).map_err(|e| format!("smb:{local}: {e}")))
            .transpose()
    };
    Ok(PublishedCertificate {
        cert_type,
        certificate,
        activation: date("ActivationDate")?,
        expiration: date("ExpirationDate")?,
    })
}

/// Decodes a `ContentBinaryObject`: base64 DER, PEM, or base64 of PEM text; exactly one
/// certificate.
pub fn decode_content(text: &str) -> Result<Certificate, String> {
    let engine = base64::engine::general_purpose::STANDARD;
    let trimmed = text.trim();
    if trimmed.starts_with("-----BEGIN") {
        return from_pem(trimmed);
    }
    let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = engine
        .decode(compact.as_bytes())
        .map_err(|e| format!("certificate content is not base64: {e}"))?;
    if bytes.starts_with(b"-----BEGIN") {
        let pem = std::str::from_utf8(&bytes)
            .map_err(|_| "base64 content decodes to non-UTF-8 PEM".to_owned())?;
        return from_pem(pem);
    }
    Certificate::from_der(&bytes).map_err(|e| e.to_string())
}

fn from_pem(text: &str) -> Result<Certificate, String> {
    let mut certs =
        sdkgw_certs::certificates_from_pem(text.as_bytes()).map_err(|e| e.to_string())?;
    match certs.len() {
        1 => Ok(certs.remove(0)),
        n => Err(format!(
            "{n} certificates in one ContentBinaryObject, expected one"
        )),
    }
}

/// The rotation choice for encryption (§2.3): among `usable` certificates (already
/// validated and inside their published window), the one with the latest notBefore.
pub fn choose_encryption<'a>(
    usable: impl IntoIterator<Item = &'a Certificate>,
) -> Option<&'a Certificate> {
    usable.into_iter().max_by_key(|c| c.not_before())
}

mod cert_type_serde {
    use sdkgw_schemas::codelists::CertPubCertType;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(t: &CertPubCertType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match t {
            CertPubCertType::Signing => "signing",
            CertPubCertType::Encryption => "encryption",
        })
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<CertPubCertType, D::Error> {
        match <std::borrow::Cow<'de, str>>::deserialize(d)?.as_ref() {
            "signing" => Ok(CertPubCertType::Signing),
            "encryption" => Ok(CertPubCertType::Encryption),
            other => Err(serde::de::Error::custom(format!(
                "unknown CertPub certificate type {other:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use sdkgw_xml_security::xml::{Document, ParseOptions};

    use super::*;

    /// A self-signed certificate made at test time (base64 DER).
    fn cert_b64() -> (Certificate, String) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let der = rcgen::CertificateParams::new(vec!["o2o.test".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .der()
            .to_vec();
        let cert = Certificate::from_der(&der).unwrap();
        let b64 = cert.to_base64();
        (cert, b64)
    }

    fn read(extensions: &str) -> CertPubExtensions {
        let cp = codelists().certpub();
        let xml = format!(
            "<ServiceInformation xmlns=\"{}\" xmlns:smc=\"{}\" xmlns:smb=\"{}\">{extensions}</ServiceInformation>",
            smp_ns(),
            cp.aggregate_namespace,
            cp.basic_namespace
        );
        let doc = Document::parse(xml.into_bytes(), &ParseOptions::default()).unwrap();
        read_extensions(doc.root())
    }

    fn extension(id: &str, type_code: &str, content: &str, mime: &str) -> String {
        format!(
            "<Extension><ExtensionID>{id}</ExtensionID><smc:Certificate><smb:TypeCode>{type_code}</smb:TypeCode>\
             <smb:ContentBinaryObject{mime}>{content}</smb:ContentBinaryObject></smc:Certificate></Extension>"
        )
    }

    const MIME: &str = " mimeCode=\"application/base64\"";

    #[test]
    fn cp_01_both_types_are_read_and_typed() {
        let cp = codelists().certpub();
        let (cert, b64) = cert_b64();
        let enc = codelists().certpub_cert_type(CertPubCertType::Encryption);
        let sig = codelists().certpub_cert_type(CertPubCertType::Signing);
        let out = read(&format!(
            "{}{}",
            extension(&cp.extension_id, enc, &b64, MIME),
            extension(&cp.extension_id, sig, &b64, MIME)
        ));
        let types: Vec<_> = out.certificates.iter().map(|c| c.cert_type).collect();
        assert_eq!(
            types,
            [CertPubCertType::Encryption, CertPubCertType::Signing]
        );
        assert!(out.certificates.iter().all(|c| c.certificate == cert));
        assert!(out.notes.is_empty(), "{:?}", out.notes);
    }

    #[test]
    fn cp_02_whitespace_around_ids_and_pem_armour_with_line_breaks_are_accepted() {
        let cp = codelists().certpub();
        let (cert, _) = cert_b64();
        let enc = codelists().certpub_cert_type(CertPubCertType::Encryption);
        let out = read(&extension(
            &format!("\n  {}  \n", cp.extension_id),
            &format!("\t{enc}\n"),
            &format!("\n{}\n", cert.to_pem()),
            "",
        ));
        assert_eq!(out.certificates.len(), 1);
        assert_eq!(out.certificates[0].certificate, cert);
        assert!(
            out.notes.iter().any(|n| n.contains("mimeCode")),
            "a missing mimeCode is noted: {:?}",
            out.notes
        );
    }

    #[test]
    fn cp_04_extensions_with_other_ids_are_ignored_and_broken_certificates_noted() {
        let cp = codelists().certpub();
        let (_, b64) = cert_b64();
        let enc = codelists().certpub_cert_type(CertPubCertType::Encryption);
        let out = read(&format!(
            "{}{}{}",
            extension("urn:example:other-extension", enc, &b64, MIME),
            extension(&cp.extension_id, "urn:example:unknown-type", &b64, MIME),
            extension(&cp.extension_id, enc, "bm90IGEgY2VydGlmaWNhdGU=", MIME),
        ));
        assert!(out.certificates.is_empty());
        assert_eq!(out.notes.len(), 2, "{:?}", out.notes);
    }

    #[test]
    fn content_decoding_accepts_der_pem_and_base64_of_pem_only_for_single_certificates() {
        let (cert, b64) = cert_b64();
        let pem = cert.to_pem();
        let b64_of_pem = base64::engine::general_purpose::STANDARD.encode(pem.as_bytes());
        for content in [b64.clone(), pem.clone(), b64_of_pem] {
            assert_eq!(decode_content(&content).unwrap(), cert);
        }
        assert!(
            decode_content(&format!("{pem}{pem}"))
                .unwrap_err()
                .contains("2 certificates")
        );
        assert!(decode_content("%%%").is_err());
        assert!(decode_content("").is_err());
    }
}
