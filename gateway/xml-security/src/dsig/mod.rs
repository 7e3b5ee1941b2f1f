//! XML Signature (XML-DSig 1.0/1.1 subset): signing from a [`SignatureTemplate`] and
//! verification that reports exactly what was covered.
//!
//! Supported: same-document references (`URI=""`, `URI="#id"` through the configured id
//! attributes) with the enveloped-signature transform and C14N 1.0/1.1/exclusive
//! transforms; SwA attachment references (`cid:`, Attachment-Content-Signature-Transform)
//! through an [`AttachmentResolver`]; rsa-sha256/384/512 (rsa-sha1 and sha1 only for
//! verification, only when the [`VerifyPolicy`] allows them); `KeyInfo` through a
//! [`KeyResolver`] ([`EmbeddedCertificate`] reads `X509Data/X509Certificate`). Not
//! supported, and refused: `Object`/`Manifest`, XPath/XSLT/base64 transforms, remote or
//! XPointer URIs, HMAC, `RetrievalMethod`, `KeyValue`-only keys.
//!
//! # Anti-wrapping rules for callers
//!
//! Signature wrapping attacks make a verifier check one element while the application
//! reads another. This module removes the verifier's half of the problem by construction;
//! callers must do their half:
//!
//! 1. **Parse once, verify and read the same [`Document`](crate::xml::Document).** Never re-parse the bytes after
//!    verification, and never take values from another copy. [`VerifiedSignature`] is bound to
//!    the tree it was verified on (coverage checks against another document fail).
//! 2. **Find what you will use by structure, then ask whether it is covered.** Locate the
//!    elements you process by their place (`Envelope/Header/Messaging`, the root `XHE`) with
//!    the tree's navigation, never by following a reference, and require them with
//!    [`VerifiedSignature::require_references`] (exactly these references, nothing missing,
//!    nothing extra) or [`VerifiedSignature::covers`].
//! 3. **Expect exactly one signature where one belongs.** [`Verifier::verify_enveloped`]
//!    enforces one `Signature` in the whole document, a child of the root, with one
//!    `URI=""` enveloped reference. For WS-Security, select the one `ds:Signature` child of
//!    `wsse:Security` yourself and refuse others.
//! 4. **Ids are unique or nothing verifies.** A document with any id value on two elements is
//!    refused ([`PolicyViolation::DuplicateIds`]); ids come only from the attributes configured
//!    in [`crate::xml::IdAttributes`] at parse time.
//! 5. **Trust the key only after path validation.** A verified signature proves possession of
//!    the key in [`VerifiedSignature::key`]; whether that certificate may sign for this role
//!    (chain, validity, revocation, CertPub/SMP identity) is the next check.
//! 6. **Tell peers nothing specific.** Map [`VerifyError`] to the protocol's generic failure
//!    (`EBMS:0101`, receipt `SIG`); log [`VerifyError::reason`] internally.

mod algorithm;
mod base64_text;
mod error;
mod key;
mod model;
mod reference;
mod sign;
mod verify;

pub use crate::crypto::{DigestMethod, SignatureMethod};
pub use algorithm::{ATTACHMENT_CONTENT_TRANSFORM, DSIG_NS, ENVELOPED_SIGNATURE, VerifyPolicy};
pub use error::{InvalidReason, PolicyViolation, SignError, VerifyError};
pub use key::{EmbeddedCertificate, KeyResolver, KnownCertificate, VerificationKey};
pub use model::Transform;
pub use reference::{AttachmentResolver, Coverage};
pub use sign::{
    KeyInfoTemplate, Placement, ReferenceTemplate, SignatureTemplate, Signed, sign, sign_enveloped,
};
pub use verify::{Expected, VerifiedReference, VerifiedSignature, Verifier};
