//! XML-DSig identifiers this module needs beyond the algorithm enums of [`crate::crypto`],
//! and the verification policy.

use crate::crypto::AlgorithmPolicy;

/// `http://www.w3.org/2000/09/xmldsig#` — the XML-DSig namespace.
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// The enveloped-signature transform.
pub const ENVELOPED_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
/// The SwA profile transform digesting an attachment's content bytes.
pub const ATTACHMENT_CONTENT_TRANSFORM: &str = "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Signature-Transform";

/// What a verifier accepts. Anything not listed is refused before any cryptography runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// Allowed signature and digest methods.
    pub algorithms: AlgorithmPolicy,
    /// Allowed canonicalization identifiers (SignedInfo and Reference transforms).
    pub canonicalizations: Vec<&'static str>,
    /// Smallest accepted RSA modulus.
    pub min_rsa_bits: usize,
    /// Most `Reference`s one signature may carry.
    pub max_references: usize,
    /// Whether `cid:` references (SwA attachments) are accepted; they also need a resolver.
    pub allow_attachments: bool,
}

impl Default for VerifyPolicy {
    /// SHA-2 only (rsa-sha256/384/512, sha256/384/512), all C14N variants XML-DSig requires
    /// verifiers to support, RSA ≥ 2048 bits, at most 8 references, no attachments.
    fn default() -> Self {
        use crate::c14n::*;
        VerifyPolicy {
            algorithms: AlgorithmPolicy::modern(),
            canonicalizations: vec![
                C14N_10,
                C14N_10_WITH_COMMENTS,
                C14N_11,
                C14N_11_WITH_COMMENTS,
                EXC_C14N,
                EXC_C14N_WITH_COMMENTS,
            ],
            min_rsa_bits: 2048,
            max_references: 8,
            allow_attachments: false,
        }
    }
}

impl VerifyPolicy {
    /// The default policy plus rsa-sha1 and sha1, for old signatures a caller has decided to
    /// accept explicitly.
    pub fn allowing_sha1(mut self) -> Self {
        self.algorithms = self.algorithms.allowing_sha1();
        self
    }

    /// The eDelivery AS4 profile: rsa-sha256, sha256, exclusive C14N, attachments allowed.
    pub fn as4() -> Self {
        VerifyPolicy {
            algorithms: AlgorithmPolicy::as4(),
            canonicalizations: vec![crate::c14n::EXC_C14N],
            max_references: 16,
            allow_attachments: true,
            ..Self::default()
        }
    }

    /// DIGG's XHE profile (C3.2.2 §3.5): rsa-sha256, sha256; any of the three C14N
    /// algorithms verifiers must support.
    pub fn xhe() -> Self {
        VerifyPolicy {
            algorithms: AlgorithmPolicy::xhe(),
            ..Self::default()
        }
    }
}
