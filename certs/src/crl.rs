//! Certificate revocation lists, read for inspection and configuration checks (issuer, dates,
//! revoked serials). Verifying a CRL's signature and applying it is path validation's job
//! (`sdkgw-xml-security`).

use std::path::Path;

use time::OffsetDateTime;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::certificate::hex_lower;
use crate::error::CertError;

/// The parts of a CRL an operator looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlInfo {
    /// Issuer DN in display form.
    pub issuer: String,
    /// Issuer Name DER, to match against a CA certificate's subject.
    pub issuer_der: Vec<u8>,
    pub this_update: OffsetDateTime,
    pub next_update: Option<OffsetDateTime>,
    /// Revoked serial numbers, lower-case hex without leading zero bytes (as
    /// [`crate::Certificate::serial_hex`]).
    pub revoked_serials: Vec<String>,
    /// The DER of the CRL.
    pub der: Vec<u8>,
}

impl CrlInfo {
    /// Parses one CRL from PEM (`X509 CRL`) or DER.
    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Self, CertError> {
        let der = match pem::parse(bytes) {
            Ok(block) if block.tag() == "X509 CRL" => block.into_contents(),
            Ok(block) => {
                return Err(CertError::Format(format!(
                    "{name}: PEM block {:?} is not an X509 CRL",
                    block.tag()
                )));
            }
            Err(_) => bytes.to_vec(),
        };
        let (rest, crl) = CertificateRevocationList::from_der(&der)
            .map_err(|e| CertError::Format(format!("{name} is not a CRL: {e}")))?;
        if !rest.is_empty() {
            return Err(CertError::Format(format!(
                "{name}: trailing bytes after the CRL"
            )));
        }
        let time = |t: x509_parser::time::ASN1Time| {
            OffsetDateTime::from_unix_timestamp(t.timestamp())
                .map_err(|_| CertError::Format(format!("{name}: date out of range")))
        };
        let revoked_serials = crl
            .iter_revoked_certificates()
            .map(|r| {
                let raw = r.raw_serial();
                let trimmed = match raw {
                    [0, rest @ ..] if !rest.is_empty() => rest,
                    s => s,
                };
                hex_lower(trimmed)
            })
            .collect();
        Ok(CrlInfo {
            issuer: crl.issuer().to_string(),
            issuer_der: crl.issuer().as_raw().to_vec(),
            this_update: time(crl.last_update())?,
            next_update: crl.next_update().map(time).transpose()?,
            revoked_serials,
            der: der.clone(),
        })
    }

    /// Reads a CRL file.
    pub fn from_file(path: &Path) -> Result<Self, CertError> {
        let bytes = std::fs::read(path).map_err(|source| CertError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }
}
