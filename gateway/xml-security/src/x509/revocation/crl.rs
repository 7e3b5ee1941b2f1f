//! Certificate revocation lists (RFC 5280 §5): parsed once into owned fields, signature checked
//! against the issuing CA before use.
//!
//! Only complete, direct CRLs are supported: a delta-CRL indicator (always critical), an
//! indirect CRL, a CRL limited to some reasons, or any other unknown critical extension makes
//! the CRL unusable (an error at parse time), never silently "good".

use std::collections::HashMap;

use sdkgw_certs::Certificate;
use time::OffsetDateTime;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::x509::signed;

/// Why a CRL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrlError {
    #[error("malformed CRL: {0}")]
    Malformed(String),
    #[error("CRL of {issuer} has an unsupported critical extension {oid}")]
    UnsupportedExtension { issuer: String, oid: String },
    #[error("CRL of {issuer} is a {kind} CRL, which is not supported")]
    UnsupportedScope { issuer: String, kind: &'static str },
    #[error("CRL of {issuer} is not issued by {candidate}")]
    WrongIssuer { issuer: String, candidate: String },
    #[error("the signature on the CRL of {issuer} does not verify: {detail}")]
    BadSignature { issuer: String, detail: String },
    #[error("the issuer {issuer} may not sign CRLs (keyUsage lacks cRLSign)")]
    IssuerKeyUsage { issuer: String },
}

/// One revoked certificate entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    pub revoked_at: OffsetDateTime,
    /// RFC 5280 reason name (`keyCompromise`, ...), when the entry carries one.
    pub reason: Option<&'static str>,
}

/// Scope restriction of a CRL (issuingDistributionPoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    All,
    UserCertsOnly,
    CaCertsOnly,
}

/// A parsed CRL.
#[derive(Debug, Clone)]
pub struct Crl {
    issuer: String,
    issuer_der: Vec<u8>,
    this_update: OffsetDateTime,
    next_update: Option<OffsetDateTime>,
    revoked: HashMap<Vec<u8>, RevokedEntry>,
    scope: Scope,
    tbs: Vec<u8>,
    signature_algorithm: String,
    signature: Vec<u8>,
}

impl Crl {
    /// Parses one DER CRL.
    pub fn from_der(der: &[u8]) -> Result<Self, CrlError> {
        let (rest, crl) = CertificateRevocationList::from_der(der)
            .map_err(|e| CrlError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CrlError::Malformed(format!(
                "{} trailing bytes",
                rest.len()
            )));
        }
        let issuer = crl.issuer().to_string();
        let scope = scope_of(&crl, &issuer)?;
        let mut revoked = HashMap::new();
        for entry in crl.iter_revoked_certificates() {
            let revoked_at = time(entry.revocation_date)?;
            let reason = entry.reason_code().map(|(_, code)| reason_name(code.0));
            revoked.insert(
                strip_leading_zero(entry.raw_serial()).to_vec(),
                RevokedEntry { revoked_at, reason },
            );
        }
        Ok(Crl {
            issuer_der: crl.issuer().as_raw().to_vec(),
            this_update: time(crl.last_update())?,
            next_update: crl.next_update().map(time).transpose()?,
            revoked,
            scope,
            tbs: crl.tbs_cert_list.as_ref().to_vec(),
            signature_algorithm: crl.signature_algorithm.algorithm.to_id_string(),
            signature: crl.signature_value.data.to_vec(),
            issuer,
        })
    }

    /// Parses every `X509 CRL` block of a PEM text.
    pub fn from_pem(text: &[u8]) -> Result<Vec<Self>, CrlError> {
        let blocks =
            pem::parse_many(text).map_err(|e| CrlError::Malformed(format!("bad PEM: {e}")))?;
        blocks
            .iter()
            .filter(|b| b.tag() == "X509 CRL")
            .map(|b| Self::from_der(b.contents()))
            .collect()
    }

    /// Parses a CRL file's contents, PEM (any number of CRLs) or DER (one).
    pub fn parse_any(bytes: &[u8]) -> Result<Vec<Self>, CrlError> {
        if bytes.starts_with(b"-----") || bytes.windows(10).any(|w| w == b"-----BEGIN") {
            let crls = Self::from_pem(bytes)?;
            if crls.is_empty() {
                return Err(CrlError::Malformed(
                    "no X509 CRL block in the PEM file".into(),
                ));
            }
            Ok(crls)
        } else {
            Self::from_der(bytes).map(|c| vec![c])
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    pub fn this_update(&self) -> OffsetDateTime {
        self.this_update
    }
    pub fn next_update(&self) -> Option<OffsetDateTime> {
        self.next_update
    }
    pub fn revoked_count(&self) -> usize {
        self.revoked.len()
    }

    /// Whether this CRL replaces `other` in a cache: same issuer and scope, and not older.
    pub(crate) fn supersedes_or_equals(&self, other: &Crl) -> bool {
        self.issuer_der == other.issuer_der
            && self.scope == other.scope
            && self.this_update >= other.this_update
    }

    /// Whether this CRL is about certificates issued by `issuer` (by name).
    pub fn names_issuer(&self, issuer: &Certificate) -> bool {
        self.issuer_der == issuer.subject_der()
    }

    /// Checks that `issuer` issued and signed this CRL.
    pub fn verify_issued_by(&self, issuer: &Certificate) -> Result<(), CrlError> {
        if !self.names_issuer(issuer) {
            return Err(CrlError::WrongIssuer {
                issuer: self.issuer.clone(),
                candidate: issuer.subject().to_owned(),
            });
        }
        if issuer.key_usage().is_some_and(|ku| !ku.crl_sign) {
            return Err(CrlError::IssuerKeyUsage {
                issuer: self.issuer.clone(),
            });
        }
        signed::verify(
            &self.tbs,
            &self.signature_algorithm,
            &self.signature,
            issuer,
        )
        .map_err(|e| CrlError::BadSignature {
            issuer: self.issuer.clone(),
            detail: match e {
                signed::SignedError::Algorithm(a) => format!("algorithm {a} not accepted"),
                signed::SignedError::Key(k) => k,
                signed::SignedError::Invalid => "signature value mismatch".into(),
            },
        })
    }

    /// Whether this CRL's scope covers `cert` (a CA-only CRL says nothing about leaves).
    pub fn covers(&self, cert: &Certificate) -> bool {
        match self.scope {
            Scope::All => true,
            Scope::UserCertsOnly => !cert.is_ca(),
            Scope::CaCertsOnly => cert.is_ca(),
        }
    }

    /// The entry for `cert`'s serial, if listed.
    pub fn entry_for(&self, cert: &Certificate) -> Option<&RevokedEntry> {
        self.revoked.get(cert.serial())
    }
}

fn scope_of(crl: &CertificateRevocationList<'_>, issuer: &str) -> Result<Scope, CrlError> {
    let mut scope = Scope::All;
    for ext in crl.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::IssuingDistributionPoint(idp) => {
                let unsupported = |kind| CrlError::UnsupportedScope {
                    issuer: issuer.to_owned(),
                    kind,
                };
                if idp.indirect_crl {
                    return Err(unsupported("indirect"));
                }
                if idp.only_some_reasons.is_some() {
                    return Err(unsupported("reason-partitioned"));
                }
                if idp.only_contains_attribute_certs {
                    return Err(unsupported("attribute-certificate"));
                }
                if idp.only_contains_user_certs {
                    scope = Scope::UserCertsOnly;
                } else if idp.only_contains_ca_certs {
                    scope = Scope::CaCertsOnly;
                }
            }
            ParsedExtension::CRLNumber(_) | ParsedExtension::AuthorityKeyIdentifier(_) => {}
            ParsedExtension::ParseError { error } => {
                return Err(CrlError::Malformed(format!(
                    "extension {}: {error}",
                    ext.oid.to_id_string()
                )));
            }
            _ if ext.critical => {
                return Err(CrlError::UnsupportedExtension {
                    issuer: issuer.to_owned(),
                    oid: ext.oid.to_id_string(),
                });
            }
            _ => {}
        }
    }
    Ok(scope)
}

fn time(t: x509_parser::time::ASN1Time) -> Result<OffsetDateTime, CrlError> {
    OffsetDateTime::from_unix_timestamp(t.timestamp())
        .map_err(|_| CrlError::Malformed("date out of range".into()))
}

fn strip_leading_zero(serial: &[u8]) -> &[u8] {
    match serial {
        [0, rest @ ..] if !rest.is_empty() => rest,
        s => s,
    }
}

pub(crate) fn reason_name(code: u8) -> &'static str {
    match code {
        0 => "unspecified",
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        8 => "removeFromCRL",
        9 => "privilegeWithdrawn",
        10 => "aACompromise",
        _ => "unknown reason",
    }
}
