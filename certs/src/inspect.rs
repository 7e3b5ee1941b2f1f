//! What an operator wants to know about a certificate, as one serialisable record
//! (`sdkgw certs inspect`, and any other command that shows certificates).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::certificate::{Certificate, eku};

/// A certificate described for display. Times are RFC 3339 UTC.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertificateReport {
    pub subject: String,
    pub issuer: String,
    /// Certificate serial, lower-case hex.
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    /// `valid`, `expired` or `not yet valid` at the inspection time.
    pub status: &'static str,
    /// e.g. `RSA 3072`.
    pub key: String,
    /// Whether basicConstraints says CA.
    pub ca: bool,
    pub key_usage: Vec<&'static str>,
    /// Names for the well-known EKUs, dotted OIDs for the rest; empty when absent.
    pub extended_key_usage: Vec<String>,
    pub subject_alt_names: Vec<String>,
    /// SHA-256 over the DER, upper-case hex without separators.
    pub sha256_fingerprint: String,
}

impl CertificateReport {
    /// Describes `cert` as seen at `at` (for the validity status).
    pub fn new(cert: &Certificate, at: OffsetDateTime) -> Self {
        let status = if at < cert.not_before() {
            "not yet valid"
        } else if at > cert.not_after() {
            "expired"
        } else {
            "valid"
        };
        CertificateReport {
            subject: cert.subject().to_owned(),
            issuer: cert.issuer().to_owned(),
            serial: cert.serial_hex(),
            not_before: rfc3339(cert.not_before()),
            not_after: rfc3339(cert.not_after()),
            status,
            key: cert.key_algorithm().to_string(),
            ca: cert.is_ca(),
            key_usage: cert.key_usage().map(|k| k.names()).unwrap_or_default(),
            extended_key_usage: cert
                .extended_key_usage()
                .unwrap_or_default()
                .iter()
                .map(|oid| eku_name(oid))
                .collect(),
            subject_alt_names: cert.subject_alt_names().to_vec(),
            sha256_fingerprint: cert.fingerprint_hex(),
        }
    }
}

/// RFC 3339 in UTC; the fallback can only trigger for years outside 0..=9999.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// The conventional name of an extended key usage OID, or the OID itself.
pub fn eku_name(oid: &str) -> String {
    match oid {
        eku::SERVER_AUTH => "serverAuth",
        eku::CLIENT_AUTH => "clientAuth",
        eku::EMAIL_PROTECTION => "emailProtection",
        eku::OCSP_SIGNING => "OCSPSigning",
        eku::ANY => "anyExtendedKeyUsage",
        "1.3.6.1.5.5.7.3.3" => "codeSigning",
        "1.3.6.1.5.5.7.3.8" => "timeStamping",
        other => other,
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_known_ekus_and_keeps_unknown_oids() {
        assert_eq!(eku_name(eku::CLIENT_AUTH), "clientAuth");
        assert_eq!(
            eku_name("1.3.6.1.4.1.311.10.3.12"),
            "1.3.6.1.4.1.311.10.3.12"
        );
    }
}
