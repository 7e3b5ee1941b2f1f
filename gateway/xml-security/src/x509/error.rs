//! Why a certificate path is not acceptable. One variant per distinct operator-visible cause,
//! each naming the certificate it is about (subject DN) so logs and `sdkgw config check` can
//! say exactly what is wrong.

use time::OffsetDateTime;

/// Path validation failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("certificate {subject} expired at {not_after}")]
    Expired {
        subject: String,
        not_after: OffsetDateTime,
    },
    #[error("certificate {subject} is not valid before {not_before}")]
    NotYetValid {
        subject: String,
        not_before: OffsetDateTime,
    },
    #[error("certificate {subject} (serial {serial}) was revoked at {revoked_at}{}", reason_suffix(.reason))]
    Revoked {
        subject: String,
        serial: String,
        revoked_at: OffsetDateTime,
        reason: Option<String>,
    },
    #[error("revocation status of {subject} is unknown: {reason}")]
    RevocationUnknown { subject: String, reason: String },
    #[error("issuer {issuer} of {subject} is not a trusted CA for the {role} role")]
    UnknownIssuer {
        subject: String,
        issuer: String,
        role: &'static str,
    },
    #[error(
        "{subject} is issued by {issuer}, a CA of environment {found}, but this trust store is \
         for environment {expected}"
    )]
    WrongEnvironment {
        subject: String,
        issuer: String,
        found: String,
        expected: String,
    },
    #[error("{subject} is issued by {issuer}, not by the pinned issuing CA {pinned}")]
    IssuerNotPinned {
        subject: String,
        issuer: String,
        pinned: String,
    },
    #[error("the signature on {subject} does not verify with the key of {issuer}")]
    BadSignature { subject: String, issuer: String },
    #[error("{subject} is signed with {algorithm}, which is not accepted")]
    UnsupportedSignatureAlgorithm { subject: String, algorithm: String },
    #[error("the key of {subject} is not acceptable: {detail}")]
    WeakKey { subject: String, detail: String },
    #[error("{subject} issues certificates but is not a CA (basicConstraints)")]
    NotCa { subject: String },
    #[error("{subject} is a CA certificate and cannot be used as an end-entity certificate")]
    CaAsLeaf { subject: String },
    #[error("the path length constraint of {subject} is exceeded")]
    PathLenExceeded { subject: String },
    #[error("{subject} may not sign certificates (keyUsage lacks keyCertSign)")]
    CaKeyUsage { subject: String },
    #[error("{subject} has an unsupported critical extension {oid}")]
    UnknownCriticalExtension { subject: String, oid: String },
    #[error("{subject} may not be used for {purpose} in the {role} role: {detail}")]
    UsageNotAllowed {
        subject: String,
        purpose: &'static str,
        role: &'static str,
        detail: String,
    },
    #[error("no acceptable path of at most {0} certificates")]
    ChainTooLong(usize),
    #[error("certificate {subject} cannot be read for validation: {detail}")]
    Malformed { subject: String, detail: String },
}

fn reason_suffix(reason: &Option<String>) -> String {
    reason
        .as_ref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default()
}

impl PathError {
    /// Whether the failure is about revocation (revoked or status unknown), which callers
    /// such as the AS4 layer may want to alert on separately.
    pub fn is_revocation(&self) -> bool {
        matches!(
            self,
            PathError::Revoked { .. } | PathError::RevocationUnknown { .. }
        )
    }
}
