//! The typed outcomes of an address-book lookup.
//!
//! Callers decide with [`LookupError::kind`]: a permanent answer about the recipient (tell
//! the sender, do not retry this message), a transient failure (retry later; the cache may
//! still answer from a stale entry), or a trust failure (refuse to send; alert).

use sdkgw_schemas::{DocumentId, ParticipantId};
use serde::{Deserialize, Serialize};

/// Why a lookup gave no usable answer. Serializable: validation results are kept in the
/// durable cache and shown as JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "kebab-case")]
pub enum LookupError {
    /// NXDOMAIN/NODATA in the SML, ServiceGroup 404, or not in the directory file: the
    /// participant is not registered (AP 3.2.4: notify the sender).
    #[error("{participant} is not registered ({detail})")]
    NotRegistered {
        /// The participant asked for.
        participant: ParticipantId,
        /// Where that was decided (DNS name and answer, SMP URL).
        detail: String,
    },
    /// NAPTR records exist but none names an SMP (misregistered participant).
    #[error("{participant} has no usable SMP record: {detail}")]
    NoSmp {
        /// The participant asked for.
        participant: ParticipantId,
        /// The discovery error.
        detail: String,
    },
    /// The participant is registered but publishes no metadata for this document type
    /// (SignedServiceMetadata 404). The AP must not send it (AP 3.1.3 b).
    #[error("{participant} does not accept document type {document}")]
    DocTypeNotSupported {
        /// The participant asked for.
        participant: ParticipantId,
        /// The document type asked for.
        document: DocumentId,
    },
    /// Signed metadata exists, but no endpoint has an accepted transport profile, the DIGG
    /// process, and an activation window containing now.
    #[error("no usable endpoint for {participant} / {document}: {}", reasons.join("; "))]
    NoMatchingEndpoint {
        /// The participant asked for.
        participant: ParticipantId,
        /// The document type asked for.
        document: DocumentId,
        /// Why each published endpoint was skipped.
        reasons: Vec<String>,
    },
    /// The signed answer is about another participant or document type than asked for.
    #[error("SMP answered for {field} {found:?}, but {expected:?} was asked for")]
    MetadataMismatch {
        /// `ParticipantIdentifier` or `DocumentIdentifier`.
        field: String,
        /// What was asked for.
        expected: String,
        /// What the signed document says.
        found: String,
    },
    /// A `ServiceMetadata/Redirect` (DIGG's SMP never redirects) or an HTTP redirect to
    /// another host.
    #[error("SMP redirect to {target:?} is not followed")]
    UnsupportedRedirect {
        /// The redirect target.
        target: String,
    },
    /// No signature, a signature that does not verify, a disallowed algorithm or shape, or
    /// a document structure that could hide unsigned data (wrapping).
    #[error("SMP metadata signature is not valid: {reason}")]
    SignatureInvalid {
        /// What failed (for logs; never sent to peers).
        reason: String,
    },
    /// The signature verifies, but its certificate is not a valid SMP signer of this
    /// environment (other CA, other environment, expired, revoked, status unknown).
    #[error("SMP metadata is signed by an untrusted certificate: {reason}")]
    UntrustedSigner {
        /// The path validation error.
        reason: String,
    },
    /// The recipient's AP certificate (SMP `Endpoint/Certificate`) is revoked (TF-02).
    #[error("recipient AP certificate {subject} is revoked: {detail}")]
    RecipientCertRevoked {
        /// Subject DN.
        subject: String,
        /// Path validation detail.
        detail: String,
    },
    /// The recipient's AP certificate belongs to another environment (TF-03).
    #[error("recipient AP certificate {subject} is from another environment: {detail}")]
    WrongEnvironment {
        /// Subject DN.
        subject: String,
        /// Path validation detail.
        detail: String,
    },
    /// The recipient's AP certificate is otherwise unusable: expired, not issued by the
    /// pinned issuing CA, unknown issuer, revocation status unknown, bad key usage or CN.
    #[error("recipient AP certificate {subject} is not acceptable: {detail}")]
    RecipientCertInvalid {
        /// Subject DN.
        subject: String,
        /// Path validation detail.
        detail: String,
    },
    /// CertPub publishes no (usable) encryption certificate for the participant (CP-03).
    #[error(
        "{participant} publishes no usable CertPub encryption certificate{}",
        detail_suffix(detail)
    )]
    NoEncryptionCert {
        /// The participant asked for.
        participant: ParticipantId,
        /// Why published certificates were not usable (empty when none is published).
        detail: String,
    },
    /// CertPub publishes no (usable) signing certificate for the participant.
    #[error(
        "{participant} publishes no usable CertPub signing certificate{}",
        detail_suffix(detail)
    )]
    NoSigningCert {
        /// The participant asked for.
        participant: ParticipantId,
        /// Why published certificates were not usable (empty when none is published).
        detail: String,
    },
    /// CertPub publishes certificates of this type, but none validates for the O2O role
    /// (other CA, expired, revoked, outside its window; CP-06).
    #[error("{participant}: no published CertPub {cert_type} certificate is acceptable: {detail}")]
    O2oCertRejected {
        /// The participant asked for.
        participant: ParticipantId,
        /// `signing` or `encryption`.
        cert_type: String,
        /// Why each published certificate was rejected.
        detail: String,
    },
    /// The answer is not a well-formed SMP document within the limits (size, DTD, shape).
    #[error("SMP answer is malformed: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// The SMP address itself is unusable (e.g. plain http where https is required).
    #[error("SMP address {url} cannot be used: {reason}")]
    BadSmpAddress {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// DNS or SMP unreachable, timed out or answering 5xx; no cached entry could stand in.
    #[error("address book lookup failed, try again later: {reason}")]
    Transient {
        /// What failed.
        reason: String,
    },
    /// The local cache store failed.
    #[error("address book cache store failed: {reason}")]
    Store {
        /// The store error.
        reason: String,
    },
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

/// How a caller should react to a [`LookupError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A definite answer about the recipient: do not send, tell the sender
    /// (not registered, document type not accepted, no endpoint, no O2O certificate).
    Permanent,
    /// Retry later (with backoff); after the retries, tell the sender (AP 3.2.3).
    Transient,
    /// Trust or integrity failure (bad signature, untrusted signer, revoked or foreign
    /// certificate, mismatching answer): do not send, alert the operator.
    Security,
}

impl LookupError {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotRegistered { .. }
            | Self::NoSmp { .. }
            | Self::DocTypeNotSupported { .. }
            | Self::NoMatchingEndpoint { .. }
            | Self::NoEncryptionCert { .. }
            | Self::NoSigningCert { .. }
            | Self::BadSmpAddress { .. } => ErrorKind::Permanent,
            Self::Transient { .. } | Self::Store { .. } => ErrorKind::Transient,
            Self::MetadataMismatch { .. }
            | Self::UnsupportedRedirect { .. }
            | Self::SignatureInvalid { .. }
            | Self::UntrustedSigner { .. }
            | Self::RecipientCertRevoked { .. }
            | Self::WrongEnvironment { .. }
            | Self::RecipientCertInvalid { .. }
            | Self::O2oCertRejected { .. }
            | Self::Malformed { .. } => ErrorKind::Security,
        }
    }

    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind() == ErrorKind::Transient
    }

    /// A short stable label for metrics and JSON output (`not-registered`, `transient`, …).
    pub fn label(&self) -> &'static str {
        match self {
            Self::NotRegistered { .. } => "not-registered",
            Self::NoSmp { .. } => "no-smp",
            Self::DocTypeNotSupported { .. } => "doc-type-not-supported",
            Self::NoMatchingEndpoint { .. } => "no-matching-endpoint",
            Self::MetadataMismatch { .. } => "metadata-mismatch",
            Self::UnsupportedRedirect { .. } => "unsupported-redirect",
            Self::SignatureInvalid { .. } => "signature-invalid",
            Self::UntrustedSigner { .. } => "untrusted-signer",
            Self::RecipientCertRevoked { .. } => "recipient-cert-revoked",
            Self::WrongEnvironment { .. } => "wrong-environment",
            Self::RecipientCertInvalid { .. } => "recipient-cert-invalid",
            Self::NoEncryptionCert { .. } => "no-encryption-cert",
            Self::NoSigningCert { .. } => "no-signing-cert",
            Self::O2oCertRejected { .. } => "o2o-cert-rejected",
            Self::Malformed { .. } => "malformed",
            Self::BadSmpAddress { .. } => "bad-smp-address",
            Self::Transient { .. } => "transient",
            Self::Store { .. } => "store",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_separate_permanent_transient_and_security_failures() {
        let p: ParticipantId = "0203:a.test".parse().unwrap();
        let not_registered = LookupError::NotRegistered {
            participant: p.clone(),
            detail: "NXDOMAIN".into(),
        };
        assert_eq!(not_registered.kind(), ErrorKind::Permanent);
        assert_eq!(not_registered.label(), "not-registered");
        let t = LookupError::Transient {
            reason: "timeout".into(),
        };
        assert!(t.is_transient());
        let sig = LookupError::SignatureInvalid {
            reason: "digest".into(),
        };
        assert_eq!(sig.kind(), ErrorKind::Security);
        let none = LookupError::NoEncryptionCert {
            participant: p,
            detail: String::new(),
        };
        assert_eq!(
            none.to_string(),
            "0203:a.test publishes no usable CertPub encryption certificate"
        );
    }
}
