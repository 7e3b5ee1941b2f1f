//! Errors of signing and verification.
//!
//! A [`VerifyError`]'s `Display` says only whether the signature broke the policy or did not
//! verify: peers must not learn which cryptographic step failed. The precise reason, for
//! logs, is [`VerifyError::reason`].

use thiserror::Error;

use crate::c14n::C14nError;
use crate::xml::{EditError, ParseError, StructureError};

/// Why a signature was refused.
#[derive(Debug, Error)]
pub enum VerifyError {
    /// The signature does not have the allowed shape or algorithms, or covers the wrong
    /// things (a policy decision, checked before and after cryptography).
    #[error("signature does not meet the signature policy")]
    Policy(PolicyViolation),
    /// The signature, a digest or the key did not verify.
    #[error("signature is not valid")]
    Invalid(InvalidReason),
}

impl VerifyError {
    /// The internal reason, for logs only.
    pub fn reason(&self) -> String {
        match self {
            VerifyError::Policy(p) => p.to_string(),
            VerifyError::Invalid(i) => i.to_string(),
        }
    }
}

/// Shape, algorithm and coverage violations.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PolicyViolation {
    /// The Signature (or a child) is not shaped as XML-DSig requires, or has parts we refuse
    /// (`Object`, `Manifest`, XPath content, `HMACOutputLength`, ...).
    #[error("malformed Signature: {0}")]
    Shape(String),
    /// A structural rule of the caller's profile (count or place of Signature elements).
    #[error("signature placement: {0}")]
    Placement(String),
    /// An algorithm that is unknown or not allowed.
    #[error("algorithm not allowed: {0}")]
    Algorithm(String),
    /// A transform that is unknown, not allowed, or in a disallowed order.
    #[error("transform not allowed: {0}")]
    Transform(String),
    /// A reference URI form we do not dereference (remote, XPointer, attachments not
    /// allowed, ...).
    #[error("reference URI not allowed: {0:?}")]
    ReferenceUri(String),
    /// The document has ids used by several elements.
    #[error("duplicate ids in document: {0:?}")]
    DuplicateIds(Vec<String>),
    /// More references than allowed, or not exactly the references the caller expected.
    #[error("unexpected references: {0}")]
    References(String),
    /// The RSA key is shorter than the policy allows.
    #[error("RSA key of {0} bits is too short")]
    WeakKey(usize),
    /// The tree given for coverage checks is not the tree that was verified.
    #[error("coverage checked against another document")]
    OtherDocument,
}

/// Cryptographic and key failures.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum InvalidReason {
    /// The SignatureValue does not verify with the key over the canonical SignedInfo.
    #[error("SignatureValue does not verify")]
    SignatureValue,
    /// A reference's digest differs.
    #[error("digest mismatch for reference {0:?}")]
    Digest(String),
    /// A `#id` reference names no element.
    #[error("reference target {0:?} not found")]
    MissingTarget(String),
    /// An attachment could not be read.
    #[error("attachment {uri:?} unavailable: {detail}")]
    Attachment {
        /// Its URI.
        uri: String,
        /// Why.
        detail: String,
    },
    /// No usable verification key (missing or malformed certificate, key resolver refusal).
    #[error("no usable key: {0}")]
    Key(String),
    /// Base64 of DigestValue/SignatureValue/X509Certificate is malformed.
    #[error("bad base64 in {0}")]
    Base64(&'static str),
    /// Canonicalization failed.
    #[error("canonicalization failed: {0}")]
    C14n(#[from] C14nError),
}

impl From<PolicyViolation> for VerifyError {
    fn from(p: PolicyViolation) -> Self {
        VerifyError::Policy(p)
    }
}

impl From<InvalidReason> for VerifyError {
    fn from(i: InvalidReason) -> Self {
        VerifyError::Invalid(i)
    }
}

impl From<StructureError> for VerifyError {
    fn from(e: StructureError) -> Self {
        match e {
            StructureError::DuplicateId { id } => PolicyViolation::DuplicateIds(vec![id]).into(),
            other => PolicyViolation::Shape(other.to_string()).into(),
        }
    }
}

/// Why signing failed. These are local errors (our template, key or document), so they are
/// precise.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SignError {
    /// The document could not be parsed (before or after inserting the Signature).
    #[error("document: {0}")]
    Parse(#[from] ParseError),
    /// The template is inconsistent (no references, SHA-1, a reference to itself, ...).
    #[error("signature template: {0}")]
    Template(String),
    /// A reference target is missing or ambiguous.
    #[error("reference target: {0}")]
    Target(#[from] StructureError),
    /// The insertion point is not in the document.
    #[error("cannot insert the Signature: {0}")]
    Edit(#[from] EditError),
    /// Canonicalization failed.
    #[error("canonicalization: {0}")]
    C14n(#[from] C14nError),
    /// An attachment could not be read.
    #[error("attachment {uri:?}: {detail}")]
    Attachment {
        /// Its URI.
        uri: String,
        /// Why.
        detail: String,
    },
    /// The RSA operation failed (e.g. the key cannot sign with this method).
    #[error("RSA signing failed: {0}")]
    Rsa(crate::crypto::SignatureError),
}
