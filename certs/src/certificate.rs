//! An X.509 certificate parsed once into owned, typed fields.
//!
//! Everything the gateway needs to decide about a certificate (names, validity, key, extensions)
//! is extracted at parse time, so callers never touch ASN.1 and a certificate that parses is one
//! whose extensions we could read. Unknown non-critical extensions are ignored; an unknown
//! *critical* extension is recorded so path validation can refuse it.

use std::fmt;
use std::sync::Arc;

use time::OffsetDateTime;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::oid_registry;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::error::CertError;

/// Key usage bits (RFC 5280 §4.2.1.3) that the gateway's roles care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct KeyUsage {
    pub digital_signature: bool,
    pub non_repudiation: bool,
    pub key_encipherment: bool,
    pub data_encipherment: bool,
    pub key_agreement: bool,
    pub key_cert_sign: bool,
    pub crl_sign: bool,
}

impl KeyUsage {
    /// The set bits by their RFC 5280 names, for display.
    pub fn names(&self) -> Vec<&'static str> {
        let bits = [
            (self.digital_signature, "digitalSignature"),
            (self.non_repudiation, "nonRepudiation"),
            (self.key_encipherment, "keyEncipherment"),
            (self.data_encipherment, "dataEncipherment"),
            (self.key_agreement, "keyAgreement"),
            (self.key_cert_sign, "keyCertSign"),
            (self.crl_sign, "cRLSign"),
        ];
        bits.iter()
            .filter(|(set, _)| *set)
            .map(|(_, n)| *n)
            .collect()
    }
}

/// The algorithm and size of a certificate's subject public key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum KeyAlgorithm {
    Rsa { bits: usize },
    Ec { curve: String },
    Other { oid: String },
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA {bits}"),
            KeyAlgorithm::Ec { curve } => write!(f, "EC {curve}"),
            KeyAlgorithm::Other { oid } => write!(f, "other ({oid})"),
        }
    }
}

/// Well-known extended key usage OIDs.
pub mod eku {
    pub const SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";
    pub const CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";
    pub const EMAIL_PROTECTION: &str = "1.3.6.1.5.5.7.3.4";
    pub const OCSP_SIGNING: &str = "1.3.6.1.5.5.7.3.9";
    pub const ANY: &str = "2.5.29.37.0";
}

/// A parsed X.509 v3 certificate. Cheap to clone (the DER is shared).
#[derive(Clone)]
pub struct Certificate {
    der: Arc<[u8]>,
    fields: Arc<Fields>,
}

#[derive(Debug)]
struct Fields {
    subject: String,
    issuer: String,
    subject_der: Vec<u8>,
    issuer_der: Vec<u8>,
    common_name: Option<String>,
    serial_number_attr: Option<String>,
    serial: Vec<u8>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    spki_der: Vec<u8>,
    public_key_der: Vec<u8>,
    key_algorithm: KeyAlgorithm,
    tbs_der: Vec<u8>,
    signature_algorithm: String,
    signature: Vec<u8>,
    key_usage: Option<KeyUsage>,
    extended_key_usage: Option<Vec<String>>,
    basic_constraints: Option<BasicConstraints>,
    subject_alt_names: Vec<String>,
    subject_key_id: Option<Vec<u8>>,
    authority_key_id: Option<Vec<u8>>,
    crl_distribution_points: Vec<String>,
    ocsp_urls: Vec<String>,
    unknown_critical_extensions: Vec<String>,
}

/// The basicConstraints extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BasicConstraints {
    pub ca: bool,
    pub path_len: Option<u32>,
}

impl Certificate {
    /// Parses one DER-encoded certificate. Trailing bytes are an error.
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        let (rest, cert) = X509Certificate::from_der(der)
            .map_err(|e| CertError::Malformed(format!("not an X.509 certificate: {e}")))?;
        if !rest.is_empty() {
            return Err(CertError::Malformed(format!(
                "{} trailing bytes after the certificate",
                rest.len()
            )));
        }
        let fields = extract(&cert)?;
        Ok(Certificate {
            der: Arc::from(der),
            fields: Arc::new(fields),
        })
    }

    /// Parses a base64 DER certificate as found in XML (`X509Certificate`, SMP `Certificate`),
    /// ignoring whitespace and an optional PEM armour.
    pub fn from_base64(text: &str) -> Result<Self, CertError> {
        use base64::Engine;
        let body: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("-----"))
            .flat_map(|l| l.chars())
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|e| CertError::Malformed(format!("certificate is not valid base64: {e}")))?;
        Self::from_der(&der)
    }

    /// The DER encoding, exactly as parsed.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The DER encoding as base64 without line breaks (for `X509Certificate`, BST).
    pub fn to_base64(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&self.der)
    }

    /// PEM with the standard 64-column body.
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("CERTIFICATE", self.der.to_vec()))
    }

    /// Subject distinguished name in RFC 4514-like display form (`CN=…, O=…, C=SE`).
    pub fn subject(&self) -> &str {
        &self.fields.subject
    }
    pub fn issuer(&self) -> &str {
        &self.fields.issuer
    }
    /// DER of the subject Name, for exact issuer/subject matching in chains.
    pub fn subject_der(&self) -> &[u8] {
        &self.fields.subject_der
    }
    pub fn issuer_der(&self) -> &[u8] {
        &self.fields.issuer_der
    }
    /// The (first) subject commonName, e.g. the AP party id `AP0001-SDK-QA`.
    pub fn common_name(&self) -> Option<&str> {
        self.fields.common_name.as_deref()
    }
    /// The subject `serialNumber` attribute (2.5.4.5), where SITHS/test PKIs put HSA ids or
    /// participant ids. Not the certificate serial.
    pub fn subject_serial_number(&self) -> Option<&str> {
        self.fields.serial_number_attr.as_deref()
    }
    /// Certificate serial number, big-endian bytes as encoded (leading zero stripped).
    pub fn serial(&self) -> &[u8] {
        &self.fields.serial
    }
    /// Serial as lower-case hex with no separators.
    pub fn serial_hex(&self) -> String {
        hex_lower(&self.fields.serial)
    }
    pub fn not_before(&self) -> OffsetDateTime {
        self.fields.not_before
    }
    pub fn not_after(&self) -> OffsetDateTime {
        self.fields.not_after
    }
    /// Whether `at` lies within notBefore..=notAfter.
    pub fn is_valid_at(&self, at: OffsetDateTime) -> bool {
        at >= self.fields.not_before && at <= self.fields.not_after
    }
    /// DER of SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.fields.spki_der
    }
    /// The subjectPublicKey BIT STRING contents (for RSA: the PKCS#1 RSAPublicKey DER).
    pub fn public_key_der(&self) -> &[u8] {
        &self.fields.public_key_der
    }
    pub fn key_algorithm(&self) -> &KeyAlgorithm {
        &self.fields.key_algorithm
    }
    /// The to-be-signed part, for verifying this certificate's signature.
    pub fn tbs_der(&self) -> &[u8] {
        &self.fields.tbs_der
    }
    /// OID (dotted) of the algorithm the issuer signed with.
    pub fn signature_algorithm(&self) -> &str {
        &self.fields.signature_algorithm
    }
    pub fn signature(&self) -> &[u8] {
        &self.fields.signature
    }
    /// None when the extension is absent (all usages allowed by RFC 5280).
    pub fn key_usage(&self) -> Option<KeyUsage> {
        self.fields.key_usage
    }
    /// Dotted OIDs; None when the extension is absent.
    pub fn extended_key_usage(&self) -> Option<&[String]> {
        self.fields.extended_key_usage.as_deref()
    }
    pub fn basic_constraints(&self) -> Option<BasicConstraints> {
        self.fields.basic_constraints
    }
    pub fn is_ca(&self) -> bool {
        self.fields.basic_constraints.is_some_and(|b| b.ca)
    }
    /// SAN entries as `DNS:name`, `IP:addr`, `URI:…`, `email:…`.
    pub fn subject_alt_names(&self) -> &[String] {
        &self.fields.subject_alt_names
    }
    pub fn subject_key_id(&self) -> Option<&[u8]> {
        self.fields.subject_key_id.as_deref()
    }
    pub fn authority_key_id(&self) -> Option<&[u8]> {
        self.fields.authority_key_id.as_deref()
    }
    /// URIs from the CRL distribution points extension.
    pub fn crl_distribution_points(&self) -> &[String] {
        &self.fields.crl_distribution_points
    }
    /// OCSP responder URIs from authorityInfoAccess.
    pub fn ocsp_urls(&self) -> &[String] {
        &self.fields.ocsp_urls
    }
    /// Critical extensions this parser does not understand (path validation must reject them).
    pub fn unknown_critical_extensions(&self) -> &[String] {
        &self.fields.unknown_critical_extensions
    }
    pub fn is_self_issued(&self) -> bool {
        self.fields.subject_der == self.fields.issuer_der
    }
    /// SHA-256 over the DER.
    pub fn fingerprint_sha256(&self) -> [u8; 32] {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.der);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }
    /// Upper-case hex SHA-256 fingerprint without separators (as DIGG's digest lists them).
    pub fn fingerprint_hex(&self) -> String {
        hex_lower(&self.fingerprint_sha256()).to_ascii_uppercase()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}
impl Eq for Certificate {}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.fields.subject)
            .field("issuer", &self.fields.issuer)
            .field("serial", &self.serial_hex())
            .finish()
    }
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn asn1_time(t: x509_parser::time::ASN1Time) -> Result<OffsetDateTime, CertError> {
    OffsetDateTime::from_unix_timestamp(t.timestamp())
        .map_err(|_| CertError::Malformed("validity date out of range".into()))
}

fn general_name(name: &GeneralName<'_>) -> Option<String> {
    match name {
        GeneralName::DNSName(d) => Some(format!("DNS:{d}")),
        GeneralName::RFC822Name(e) => Some(format!("email:{e}")),
        GeneralName::URI(u) => Some(format!("URI:{u}")),
        GeneralName::IPAddress(ip) => match ip.len() {
            4 => Some(format!(
                "IP:{}",
                std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3])
            )),
            16 => {
                let mut o = [0u8; 16];
                o.copy_from_slice(ip);
                Some(format!("IP:{}", std::net::Ipv6Addr::from(o)))
            }
            _ => None,
        },
        _ => None,
    }
}

fn extract(cert: &X509Certificate<'_>) -> Result<Fields, CertError> {
    let tbs = &cert.tbs_certificate;
    let spki = tbs.public_key();
    let key_algorithm = match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => KeyAlgorithm::Rsa {
            bits: rsa.key_size(),
        },
        Ok(PublicKey::EC(_)) => KeyAlgorithm::Ec {
            curve: spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_else(|| "unknown".into()),
        },
        _ => KeyAlgorithm::Other {
            oid: oid_string(&spki.algorithm.algorithm),
        },
    };
    let mut fields = Fields {
        subject: tbs.subject().to_string(),
        issuer: tbs.issuer().to_string(),
        subject_der: tbs.subject().as_raw().to_vec(),
        issuer_der: tbs.issuer().as_raw().to_vec(),
        common_name: tbs
            .subject()
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_owned),
        serial_number_attr: tbs
            .subject()
            .iter_by_oid(&oid_registry::OID_X509_SERIALNUMBER)
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_owned),
        serial: strip_leading_zero(tbs.raw_serial()).to_vec(),
        not_before: asn1_time(tbs.validity().not_before)?,
        not_after: asn1_time(tbs.validity().not_after)?,
        spki_der: spki.raw.to_vec(),
        public_key_der: spki.subject_public_key.data.to_vec(),
        key_algorithm,
        tbs_der: tbs.as_ref().to_vec(),
        signature_algorithm: oid_string(&cert.signature_algorithm.algorithm),
        signature: cert.signature_value.data.to_vec(),
        key_usage: None,
        extended_key_usage: None,
        basic_constraints: None,
        subject_alt_names: Vec::new(),
        subject_key_id: None,
        authority_key_id: None,
        crl_distribution_points: Vec::new(),
        ocsp_urls: Vec::new(),
        unknown_critical_extensions: Vec::new(),
    };
    for ext in tbs.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::KeyUsage(ku) => {
                fields.key_usage = Some(KeyUsage {
                    digital_signature: ku.digital_signature(),
                    non_repudiation: ku.non_repudiation(),
                    key_encipherment: ku.key_encipherment(),
                    data_encipherment: ku.data_encipherment(),
                    key_agreement: ku.key_agreement(),
                    key_cert_sign: ku.key_cert_sign(),
                    crl_sign: ku.crl_sign(),
                })
            }
            ParsedExtension::ExtendedKeyUsage(e) => {
                let mut oids = Vec::new();
                let known = [
                    (e.any, eku::ANY),
                    (e.server_auth, eku::SERVER_AUTH),
                    (e.client_auth, eku::CLIENT_AUTH),
                    (e.email_protection, eku::EMAIL_PROTECTION),
                    (e.ocsp_signing, eku::OCSP_SIGNING),
                    (e.code_signing, "1.3.6.1.5.5.7.3.3"),
                    (e.time_stamping, "1.3.6.1.5.5.7.3.8"),
                ];
                oids.extend(known.iter().filter(|(s, _)| *s).map(|(_, o)| o.to_string()));
                oids.extend(e.other.iter().map(|o| o.to_id_string()));
                fields.extended_key_usage = Some(oids);
            }
            ParsedExtension::BasicConstraints(bc) => {
                fields.basic_constraints = Some(BasicConstraints {
                    ca: bc.ca,
                    path_len: bc.path_len_constraint,
                })
            }
            ParsedExtension::SubjectAlternativeName(san) => {
                fields.subject_alt_names =
                    san.general_names.iter().filter_map(general_name).collect();
            }
            ParsedExtension::SubjectKeyIdentifier(k) => fields.subject_key_id = Some(k.0.to_vec()),
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                fields.authority_key_id = a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            ParsedExtension::CRLDistributionPoints(points) => {
                for p in points.iter() {
                    if let Some(DistributionPointName::FullName(names)) = &p.distribution_point {
                        for n in names {
                            if let GeneralName::URI(u) = n {
                                fields.crl_distribution_points.push(u.to_string());
                            }
                        }
                    }
                }
            }
            ParsedExtension::AuthorityInfoAccess(aia) => {
                for d in aia.iter() {
                    if d.access_method == oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_OCSP
                        && let GeneralName::URI(u) = &d.access_location
                    {
                        fields.ocsp_urls.push(u.to_string());
                    }
                }
            }
            ParsedExtension::ParseError { error } => {
                return Err(CertError::Malformed(format!(
                    "extension {} cannot be parsed: {error}",
                    ext.oid.to_id_string()
                )));
            }
            ParsedExtension::UnsupportedExtension { .. } if ext.critical => fields
                .unknown_critical_extensions
                .push(ext.oid.to_id_string()),
            _ => {}
        }
    }
    Ok(fields)
}

fn strip_leading_zero(serial: &[u8]) -> &[u8] {
    match serial {
        [0, rest @ ..] if !rest.is_empty() => rest,
        s => s,
    }
}

/// Dotted forms of the algorithm OIDs certificates carry, by their DER content bytes:
/// `Oid::to_id_string` builds a `String` per arc and joins them on every call.
const KNOWN_OIDS: &[(&[u8], &str)] = &[
    (
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b",
        "1.2.840.113549.1.1.11",
    ),
    (
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0c",
        "1.2.840.113549.1.1.12",
    ),
    (
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0d",
        "1.2.840.113549.1.1.13",
    ),
    (
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0a",
        "1.2.840.113549.1.1.10",
    ),
    (
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x05",
        "1.2.840.113549.1.1.5",
    ),
    (b"\x2a\x86\x48\xce\x3d\x04\x03\x02", "1.2.840.10045.4.3.2"),
    (b"\x2a\x86\x48\xce\x3d\x04\x03\x03", "1.2.840.10045.4.3.3"),
    (b"\x2a\x86\x48\xce\x3d\x04\x03\x04", "1.2.840.10045.4.3.4"),
    (b"\x2b\x65\x70", "1.3.101.112"),
];

/// `oid.to_id_string()`, from [`KNOWN_OIDS`] when it is one of them.
fn oid_string(oid: &x509_parser::der_parser::oid::Oid<'_>) -> String {
    use x509_parser::der_parser::oid::Oid;
    KNOWN_OIDS
        .iter()
        .find(|(der, _)| *oid == Oid::new(std::borrow::Cow::Borrowed(der)))
        .map_or_else(|| oid.to_id_string(), |(_, dotted)| (*dotted).to_owned())
}

#[cfg(test)]
mod oid_tests {
    use std::borrow::Cow;

    use x509_parser::der_parser::oid::Oid;

    use super::{KNOWN_OIDS, oid_string};

    #[test]
    fn known_oids_read_as_asn1_rs_formats_them() {
        for (der, dotted) in KNOWN_OIDS {
            let oid = Oid::new(Cow::Borrowed(der));
            assert_eq!(oid.to_id_string(), *dotted);
            assert_eq!(oid_string(&oid), *dotted);
            // A relative OID with the same bytes is not the same OID.
            let relative = Oid::new_relative(Cow::Borrowed(der));
            assert_eq!(oid_string(&relative), relative.to_id_string());
        }
        let other = Oid::from(&[1, 2, 752, 1, 2, 3]).expect("valid oid");
        assert_eq!(oid_string(&other), "1.2.752.1.2.3");
    }
}
