//! OCSP (RFC 6960) wire format: building the request for one certificate and checking the
//! responder's answer. No I/O here; the HTTP transport lives in `sdkgw-http`.
//!
//! * Request: one CertID (SHA-1 over the issuer's name and key, as RFC 5019 and every deployed
//!   responder expect; SHA-1 only identifies, it protects nothing) and, optionally, a random
//!   nonce extension (RFC 8954 form: 16 bytes in an OCTET STRING). Unsigned.
//! * Response: `successful` status, `id-pkix-ocsp-basic` type, signed (RSA PKCS#1 v1.5 or
//!   ECDSA, the algorithms of [`crate::x509`]) by the issuer itself or by a delegated responder
//!   certificate that the issuer issued directly, with `id-kp-OCSPSigning`, valid at the
//!   validation instant; the single response must be for our CertID; an echoed nonce must be
//!   ours (a response without one is accepted: pre-signed responses never carry it); unknown
//!   critical extensions are refused. Freshness (thisUpdate/nextUpdate) is judged by the
//!   [`super::RevocationChecker`] against its policy.
//!
//! The delegated responder's own revocation status is not checked (RFC 6960 §4.2.2.2.1: such
//! certificates are short-lived and usually carry `id-pkix-ocsp-nocheck`).

use aws_lc_rs::digest;
use sdkgw_certs::Certificate;
use time::OffsetDateTime;

use super::der::{self, DerError, Reader, Tlv};
use super::{OcspCertStatus, OcspResponse};
use crate::x509::signed;

/// `id-sha1` with NULL parameters, as CertIDs carry it.
const SHA1_ALGORITHM: [u8; 11] = [
    0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00,
];
const SHA1_OID: [u8; 5] = [0x2b, 0x0e, 0x03, 0x02, 0x1a];
/// `id-pkix-ocsp-basic` (1.3.6.1.5.5.7.48.1.1).
const BASIC_OID: [u8; 9] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];
/// `id-pkix-ocsp-nonce` (1.3.6.1.5.5.7.48.1.2).
const NONCE_OID: [u8; 9] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];
/// `id-kp-OCSPSigning`.
pub const OCSP_SIGNING: &str = "1.3.6.1.5.5.7.3.9";

/// Why an OCSP answer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OcspError {
    #[error("malformed OCSP response: {0}")]
    Malformed(String),
    #[error("OCSP responder answered {0}")]
    Status(&'static str),
    #[error("OCSP response type {0} is not id-pkix-ocsp-basic")]
    UnsupportedType(String),
    #[error("the OCSP response has no answer for the certificate asked about")]
    NoMatchingResponse,
    #[error("the OCSP response is not signed by the issuer or a responder it authorised: {0}")]
    UnauthorizedSigner(String),
    #[error("the OCSP response signature does not verify: {0}")]
    BadSignature(String),
    #[error("the OCSP response nonce is not the one sent")]
    NonceMismatch,
    #[error("the OCSP response has an unsupported critical extension {0}")]
    UnsupportedExtension(String),
    #[error("no random nonce could be generated")]
    Random,
}

impl From<DerError> for OcspError {
    fn from(e: DerError) -> Self {
        OcspError::Malformed(e.0)
    }
}

/// The identity of the certificate asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CertId {
    hash_oid: Vec<u8>,
    name_hash: Vec<u8>,
    key_hash: Vec<u8>,
    /// Serial magnitude without leading zeros.
    serial: Vec<u8>,
}

/// An OCSP request for one certificate, kept to check the answer against.
#[derive(Debug, Clone)]
pub struct OcspRequest {
    der: Vec<u8>,
    cert_id_der: Vec<u8>,
    cert_id: CertId,
    /// The nonce extension's extnValue, when one was sent.
    nonce: Option<Vec<u8>>,
}

fn sha1(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, data)
        .as_ref()
        .to_vec()
}

fn trim_zeros(serial: &[u8]) -> Vec<u8> {
    let start = serial.iter().position(|b| *b != 0).unwrap_or(serial.len());
    serial[start..].to_vec()
}

impl OcspRequest {
    /// The request for `cert`, issued by `issuer`; with `nonce`, a fresh random nonce.
    pub fn new(cert: &Certificate, issuer: &Certificate, nonce: bool) -> Result<Self, OcspError> {
        let cert_id = CertId {
            hash_oid: SHA1_OID.to_vec(),
            name_hash: sha1(issuer.subject_der()),
            key_hash: sha1(issuer.public_key_der()),
            serial: trim_zeros(cert.serial()),
        };
        let mut body = SHA1_ALGORITHM.to_vec();
        der::write(&mut body, der::OCTET_STRING, &cert_id.name_hash);
        der::write(&mut body, der::OCTET_STRING, &cert_id.key_hash);
        der::write(
            &mut body,
            der::INTEGER,
            &der::unsigned_integer(cert.serial()),
        );
        let cert_id_der = der::element(der::SEQUENCE, &body);
        let request_list = der::element(der::SEQUENCE, &der::element(der::SEQUENCE, &cert_id_der));
        let mut tbs = request_list;
        let nonce = if nonce {
            let mut random = [0u8; 16];
            aws_lc_rs::rand::fill(&mut random).map_err(|_| OcspError::Random)?;
            let value = der::element(der::OCTET_STRING, &random);
            let mut ext = der::element(der::OID, &NONCE_OID);
            der::write(&mut ext, der::OCTET_STRING, &value);
            let extensions = der::element(der::SEQUENCE, &der::element(der::SEQUENCE, &ext));
            der::write(&mut tbs, der::ctx_cons(2), &extensions);
            Some(value)
        } else {
            None
        };
        let der = der::element(der::SEQUENCE, &der::element(der::SEQUENCE, &tbs));
        Ok(OcspRequest {
            der,
            cert_id_der,
            cert_id,
            nonce,
        })
    }

    /// The DER request (body of an HTTP POST, `application/ocsp-request`).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The CertID's encoding: a cache key for the answer (same issuer key, name and serial).
    pub fn cert_id_der(&self) -> &[u8] {
        &self.cert_id_der
    }

    /// Checks a DER `OCSPResponse` answering this request (see the module documentation) and
    /// returns the status of the certificate. `at` is the instant a delegated responder
    /// certificate must be valid at.
    pub fn check_response(
        &self,
        bytes: &[u8],
        issuer: &Certificate,
        at: OffsetDateTime,
    ) -> Result<OcspResponse, OcspError> {
        let basic = basic_response(bytes)?;
        let data = ResponseData::parse(&basic.tbs)?;
        let signer = authorised_signer(&data.responder, issuer, &basic.certs, at)?;
        signed::verify(basic.tbs.raw, &basic.algorithm, basic.signature, signer).map_err(|e| {
            OcspError::BadSignature(match e {
                signed::SignedError::Algorithm(a) => format!("algorithm {a} not accepted"),
                signed::SignedError::Key(k) => k,
                signed::SignedError::Invalid => "signature value mismatch".into(),
            })
        })?;
        if let (Some(sent), Some(echoed)) = (&self.nonce, &data.nonce)
            && sent != echoed
        {
            return Err(OcspError::NonceMismatch);
        }
        let mut responses = data.responses.reader();
        while !responses.is_empty() {
            let single =
                SingleResponse::parse(&responses.expect(der::SEQUENCE, "SingleResponse")?)?;
            if single.cert_id == self.cert_id {
                return Ok(OcspResponse {
                    status: single.status,
                    this_update: single.this_update,
                    next_update: single.next_update,
                });
            }
        }
        Err(OcspError::NoMatchingResponse)
    }
}

/// The parts of a BasicOCSPResponse.
struct Basic<'a> {
    tbs: Tlv<'a>,
    algorithm: String,
    signature: &'a [u8],
    certs: Vec<Certificate>,
}

fn basic_response(bytes: &[u8]) -> Result<Basic<'_>, OcspError> {
    let mut top = Reader::new(bytes);
    let response = top.expect(der::SEQUENCE, "OCSPResponse")?;
    top.finish("OCSPResponse")?;
    let mut r = response.reader();
    let status = r.expect(der::ENUMERATED, "responseStatus")?;
    match status.value {
        [0] => {}
        [1] => return Err(OcspError::Status("malformedRequest")),
        [2] => return Err(OcspError::Status("internalError")),
        [3] => return Err(OcspError::Status("tryLater")),
        [5] => return Err(OcspError::Status("sigRequired")),
        [6] => return Err(OcspError::Status("unauthorized")),
        _ => return Err(OcspError::Status("an unknown status")),
    }
    let bytes_tlv = r.expect(der::ctx_cons(0), "responseBytes")?;
    let mut rb = bytes_tlv
        .reader()
        .expect(der::SEQUENCE, "ResponseBytes")?
        .reader();
    let kind = rb.expect(der::OID, "responseType")?;
    if kind.value != BASIC_OID {
        return Err(OcspError::UnsupportedType(der::oid_string(kind.value)?));
    }
    let inner = rb.expect(der::OCTET_STRING, "response")?;
    let mut outer = Reader::new(inner.value);
    let basic = outer.expect(der::SEQUENCE, "BasicOCSPResponse")?;
    outer.finish("BasicOCSPResponse")?;
    let mut b = basic.reader();
    let tbs = b.expect(der::SEQUENCE, "tbsResponseData")?;
    let mut alg = b.expect(der::SEQUENCE, "signatureAlgorithm")?.reader();
    let algorithm = der::oid_string(alg.expect(der::OID, "signatureAlgorithm")?.value)?;
    let bits = b.expect(der::BIT_STRING, "signature")?;
    let signature = match bits.value {
        [0, sig @ ..] => sig,
        _ => return Err(OcspError::Malformed("signature BIT STRING".into())),
    };
    let mut certs = Vec::new();
    if let Some(list) = b.optional(der::ctx_cons(0), "certs")? {
        let mut seq = list.reader().expect(der::SEQUENCE, "certs")?.reader();
        while !seq.is_empty() {
            let cert = seq.expect(der::SEQUENCE, "certificate")?;
            certs.push(
                Certificate::from_der(cert.raw)
                    .map_err(|e| OcspError::Malformed(format!("responder certificate: {e}")))?,
            );
        }
    }
    Ok(Basic {
        tbs,
        algorithm,
        signature,
        certs,
    })
}

/// ResponderID.
enum Responder<'a> {
    ByName(&'a [u8]),
    ByKey(&'a [u8]),
}

impl Responder<'_> {
    fn is(&self, cert: &Certificate) -> bool {
        match self {
            Responder::ByName(name) => cert.subject_der() == *name,
            Responder::ByKey(hash) => sha1(cert.public_key_der()) == *hash,
        }
    }
}

struct ResponseData<'a> {
    responder: Responder<'a>,
    responses: Tlv<'a>,
    nonce: Option<Vec<u8>>,
}

impl<'a> ResponseData<'a> {
    fn parse(tbs: &Tlv<'a>) -> Result<Self, OcspError> {
        let mut r = tbs.reader();
        if let Some(v) = r.optional(der::ctx_cons(0), "version")?
            && v.reader().expect(der::INTEGER, "version")?.value != [0]
        {
            return Err(OcspError::Malformed("unknown ResponseData version".into()));
        }
        let id = r.any("responderID")?;
        let responder = match id.tag {
            t if t == der::ctx_cons(1) => {
                Responder::ByName(id.reader().expect(der::SEQUENCE, "responderID byName")?.raw)
            }
            t if t == der::ctx_cons(2) => Responder::ByKey(
                id.reader()
                    .expect(der::OCTET_STRING, "responderID byKey")?
                    .value,
            ),
            _ => return Err(OcspError::Malformed("responderID".into())),
        };
        der::generalized_time(&r.any("producedAt")?, "producedAt")?;
        let responses = r.expect(der::SEQUENCE, "responses")?;
        let mut nonce = None;
        if let Some(ext) = r.optional(der::ctx_cons(1), "responseExtensions")? {
            for (oid, value) in extensions(&ext)? {
                if oid == NONCE_OID {
                    nonce = Some(value.to_vec());
                }
            }
        }
        r.finish("ResponseData")?;
        Ok(ResponseData {
            responder,
            responses,
            nonce,
        })
    }
}

/// One extension: its OID and extnValue contents.
type Extension<'a> = (&'a [u8], &'a [u8]);

/// The extensions of an `[n] EXPLICIT Extensions`; an unknown critical extension (anything
/// but the nonce) is an error.
fn extensions<'a>(wrapper: &Tlv<'a>) -> Result<Vec<Extension<'a>>, OcspError> {
    let mut list = wrapper
        .reader()
        .expect(der::SEQUENCE, "Extensions")?
        .reader();
    let mut out = Vec::new();
    while !list.is_empty() {
        let mut ext = list.expect(der::SEQUENCE, "Extension")?.reader();
        let oid = ext.expect(der::OID, "extnID")?.value;
        let critical = ext
            .optional(der::BOOLEAN, "critical")?
            .is_some_and(|b| b.value != [0]);
        let value = ext.expect(der::OCTET_STRING, "extnValue")?.value;
        ext.finish("Extension")?;
        if critical && oid != NONCE_OID {
            return Err(OcspError::UnsupportedExtension(der::oid_string(oid)?));
        }
        out.push((oid, value));
    }
    Ok(out)
}

struct SingleResponse {
    cert_id: CertId,
    status: OcspCertStatus,
    this_update: OffsetDateTime,
    next_update: Option<OffsetDateTime>,
}

impl SingleResponse {
    fn parse(tlv: &Tlv<'_>) -> Result<Self, OcspError> {
        let mut r = tlv.reader();
        let cert_id = parse_cert_id(&r.expect(der::SEQUENCE, "certID")?)?;
        let status_tlv = r.any("certStatus")?;
        let status = match status_tlv.tag {
            t if t == der::ctx_prim(0) => OcspCertStatus::Good,
            t if t == der::ctx_cons(1) => revoked_info(&status_tlv)?,
            t if t == der::ctx_prim(2) => OcspCertStatus::Unknown,
            _ => return Err(OcspError::Malformed("certStatus".into())),
        };
        let this_update = der::generalized_time(&r.any("thisUpdate")?, "thisUpdate")?;
        let next_update = match r.optional(der::ctx_cons(0), "nextUpdate")? {
            Some(n) => Some(der::generalized_time(
                &n.reader().any("nextUpdate")?,
                "nextUpdate",
            )?),
            None => None,
        };
        if let Some(ext) = r.optional(der::ctx_cons(1), "singleExtensions")? {
            extensions(&ext)?;
        }
        r.finish("SingleResponse")?;
        Ok(SingleResponse {
            cert_id,
            status,
            this_update,
            next_update,
        })
    }
}

fn parse_cert_id(tlv: &Tlv<'_>) -> Result<CertId, OcspError> {
    let mut r = tlv.reader();
    let mut alg = r.expect(der::SEQUENCE, "hashAlgorithm")?.reader();
    let hash_oid = alg.expect(der::OID, "hashAlgorithm")?.value.to_vec();
    let name_hash = r
        .expect(der::OCTET_STRING, "issuerNameHash")?
        .value
        .to_vec();
    let key_hash = r.expect(der::OCTET_STRING, "issuerKeyHash")?.value.to_vec();
    let serial = trim_zeros(r.expect(der::INTEGER, "serialNumber")?.value);
    r.finish("CertID")?;
    Ok(CertId {
        hash_oid,
        name_hash,
        key_hash,
        serial,
    })
}

fn revoked_info(tlv: &Tlv<'_>) -> Result<OcspCertStatus, OcspError> {
    let mut r = tlv.reader();
    let revoked_at = der::generalized_time(&r.any("revocationTime")?, "revocationTime")?;
    let reason = match r.optional(der::ctx_cons(0), "revocationReason")? {
        Some(wrapper) => match wrapper.reader().expect(der::ENUMERATED, "CRLReason")?.value {
            [code] => Some(super::crl::reason_name(*code)),
            _ => return Err(OcspError::Malformed("CRLReason".into())),
        },
        None => None,
    };
    r.finish("RevokedInfo")?;
    Ok(OcspCertStatus::Revoked { revoked_at, reason })
}

/// The certificate whose key must have signed the response: the issuer itself, or a delegated
/// responder certificate from the response that the issuer authorised.
fn authorised_signer<'c>(
    responder: &Responder<'_>,
    issuer: &'c Certificate,
    certs: &'c [Certificate],
    at: OffsetDateTime,
) -> Result<&'c Certificate, OcspError> {
    if responder.is(issuer) {
        return Ok(issuer);
    }
    let Some(delegate) = certs.iter().find(|c| responder.is(c)) else {
        return Err(OcspError::UnauthorizedSigner(
            "the responder is neither the issuer nor a certificate in the response".into(),
        ));
    };
    let refuse = |why: &str| {
        Err(OcspError::UnauthorizedSigner(format!(
            "{}: {why}",
            delegate.subject()
        )))
    };
    if delegate.issuer_der() != issuer.subject_der() {
        return refuse("not issued by the certificate's issuer");
    }
    if signed::verify(
        delegate.tbs_der(),
        delegate.signature_algorithm(),
        delegate.signature(),
        issuer,
    )
    .is_err()
    {
        return refuse("its signature does not verify with the issuer's key");
    }
    if !delegate
        .extended_key_usage()
        .is_some_and(|ekus| ekus.iter().any(|e| e == OCSP_SIGNING))
    {
        return refuse("extended key usage lacks id-kp-OCSPSigning");
    }
    if delegate
        .key_usage()
        .is_some_and(|ku| !ku.digital_signature && !ku.non_repudiation)
    {
        return refuse("key usage lacks digitalSignature");
    }
    if !delegate.is_valid_at(at) {
        return refuse("not valid at the validation time");
    }
    Ok(delegate)
}
