//! Verifying a SignedServiceMetadata (addressing digest §1.7): parse hardened, check the
//! structure, verify the one enveloped signature under the SMP policy, validate the signer
//! for the SMP role, and hand out the tree only inside [`VerifiedMetadata`] so that data is
//! read from exactly the document that was verified (never re-parsed).

use sdkgw_certs::Certificate;
use sdkgw_schemas::codelists;
use sdkgw_xml_security::c14n;
use sdkgw_xml_security::dsig::{DSIG_NS, EmbeddedCertificate, Verifier, VerifyPolicy};
use sdkgw_xml_security::xml::{Document, ElementRef, IdAttributes, Limits, ParseOptions};
use time::OffsetDateTime;

use crate::error::LookupError;
use crate::trust::Trust;

/// Largest SMP answer accepted by default (digest §1.7 step 1).
pub const DEFAULT_MAX_BYTES: usize = 2 << 20;

/// The signature policy for SMP metadata: enveloped, one `URI=""` reference, C14N 1.0,
/// 1.1 or exclusive (with or without comments), SHA-256/384/512 digests and RSA-SHA-256+
/// signatures, RSA keys of at least 2048 bits. SHA-1, MD5 and HMAC are refused.
pub fn smp_policy() -> VerifyPolicy {
    VerifyPolicy {
        canonicalizations: vec![
            c14n::C14N_10,
            c14n::C14N_10_WITH_COMMENTS,
            c14n::C14N_11,
            c14n::C14N_11_WITH_COMMENTS,
            c14n::EXC_C14N,
            c14n::EXC_C14N_WITH_COMMENTS,
        ],
        max_references: 1,
        ..VerifyPolicy::default()
    }
}

/// Parse options for SMP answers: the small-document limits, capped at `max_bytes`.
pub fn parse_options(max_bytes: usize) -> ParseOptions {
    ParseOptions {
        limits: Limits {
            max_bytes: max_bytes.min(Limits::SMALL.max_bytes),
            ..Limits::SMALL
        },
        id_attributes: IdAttributes::default(),
    }
}

/// The SMP namespace (`http://docs.oasis-open.org/bdxr/ns/SMP/2016/05`).
pub(crate) fn smp_ns() -> &'static str {
    codelists().smp_namespace()
}

/// A SignedServiceMetadata whose signature verified and whose signer is a trusted SMP
/// certificate of this environment. The only way to read metadata ([`super::metadata`]).
#[derive(Debug)]
pub struct VerifiedMetadata {
    doc: Document,
    signer: Certificate,
}

impl VerifiedMetadata {
    /// The verified `ServiceMetadata` element (structure checked: the root's only
    /// `ServiceMetadata` child, covered by the signature).
    pub(crate) fn service_metadata(&self) -> Result<ElementRef<'_>, LookupError> {
        self.doc
            .root()
            .required_child(Some(smp_ns()), "ServiceMetadata")
            .map_err(malformed)
    }

    /// The certificate that signed it.
    pub fn signer(&self) -> &Certificate {
        &self.signer
    }
}

/// Parses `bytes`, checks the structure, verifies the signature and validates the signer at
/// `at`. Every failure is typed: [`LookupError::Malformed`] (not an SMP document within the
/// limits), [`LookupError::SignatureInvalid`] (missing/broken/disallowed signature, wrapping
/// structure), [`LookupError::UntrustedSigner`].
pub fn verify_signed_metadata(
    bytes: Vec<u8>,
    trust: &Trust,
    at: OffsetDateTime,
    max_bytes: usize,
) -> Result<VerifiedMetadata, LookupError> {
    let doc = Document::parse(bytes, &parse_options(max_bytes)).map_err(malformed)?;
    let root = doc.root();
    if !root.is(Some(smp_ns()), "SignedServiceMetadata") {
        return Err(LookupError::Malformed {
            reason: format!(
                "root element is {}, expected SignedServiceMetadata",
                root.display_name()
            ),
        });
    }
    check_structure(root)?;
    let policy = smp_policy();
    let verified = Verifier::new(&policy, &EmbeddedCertificate)
        .verify_enveloped(&doc)
        .map_err(|e| LookupError::SignatureInvalid { reason: e.reason() })?;
    let service_metadata = root
        .required_child(Some(smp_ns()), "ServiceMetadata")
        .map_err(malformed)?;
    let covered = verified
        .covers(&doc, service_metadata.node_id())
        .map_err(|e| LookupError::SignatureInvalid { reason: e.reason() })?;
    if !covered {
        return Err(LookupError::SignatureInvalid {
            reason: "ServiceMetadata is not covered by the signature".into(),
        });
    }
    let signer = verified.key().certificate().clone();
    trust.check_smp_signer(&signer, at)?;
    Ok(VerifiedMetadata { doc, signer })
}

/// §1.7 step 2: the root holds exactly one `ServiceMetadata` followed by one `ds:Signature`
/// and nothing else, so no unsigned sibling can carry metadata a reader might pick up.
fn check_structure(root: ElementRef<'_>) -> Result<(), LookupError> {
    let structure = |reason: String| LookupError::SignatureInvalid {
        reason: format!("structure: {reason}"),
    };
    root.require_no_text()
        .map_err(|e| structure(e.to_string()))?;
    let children: Vec<ElementRef<'_>> = root.child_elements().collect();
    match children.as_slice() {
        [metadata, signature]
            if metadata.is(Some(smp_ns()), "ServiceMetadata")
                && signature.is(Some(DSIG_NS), "Signature") =>
        {
            Ok(())
        }
        [] => Err(structure("SignedServiceMetadata is empty".into())),
        other => Err(structure(format!(
            "SignedServiceMetadata must hold ServiceMetadata then Signature, found [{}]",
            other
                .iter()
                .map(ElementRef::display_name)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

pub(crate) fn malformed(e: impl std::fmt::Display) -> LookupError {
    LookupError::Malformed {
        reason: e.to_string(),
    }
}
