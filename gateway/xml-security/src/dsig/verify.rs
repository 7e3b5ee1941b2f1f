//! Signature verification. The result names exactly what each reference covered, as node
//! ids of the tree that was verified; callers check it against what they are about to use.

use super::algorithm::{DSIG_NS, VerifyPolicy};
use super::error::{InvalidReason, PolicyViolation, VerifyError};
use super::key::{KeyResolver, VerificationKey};
use super::model::{Transform, read_signature};
use super::reference::{self, AttachmentResolver, Coverage, DerefError, Target};
use crate::c14n::{self, Algorithm, NodeSet};
use crate::crypto::{DigestMethod, SignatureMethod};
use crate::xml::{Document, NodeData, NodeId};
use sdkgw_certs::KeyAlgorithm;

/// One verified reference.
#[derive(Clone, Debug)]
pub struct VerifiedReference {
    /// The URI as written.
    pub uri: String,
    /// What the digest covered.
    pub coverage: Coverage,
    /// Its transforms.
    pub transforms: Vec<Transform>,
    /// Its digest method.
    pub digest_method: DigestMethod,
    /// Its (verified) digest value, e.g. for AS4 non-repudiation receipts.
    pub digest_value: Vec<u8>,
}

/// A reference a caller requires (see [`VerifiedSignature::require_references`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected<'a> {
    /// `URI=""` with the enveloped Signature removed.
    EnvelopedDocument,
    /// The subtree of this element (found by the caller through the tree's structure).
    Element(NodeId),
    /// This attachment URI.
    Attachment(&'a str),
}

/// A signature that verified, bound to the document it was verified on.
#[derive(Clone, Debug)]
pub struct VerifiedSignature {
    doc_id: u64,
    signature: NodeId,
    method: SignatureMethod,
    c14n: Algorithm,
    references: Vec<VerifiedReference>,
    key: VerificationKey,
}

impl VerifiedSignature {
    /// The `Signature` element.
    pub fn signature_element(&self) -> NodeId {
        self.signature
    }
    /// The SignatureMethod used.
    pub fn method(&self) -> SignatureMethod {
        self.method
    }
    /// The SignedInfo canonicalization.
    pub fn canonicalization(&self) -> &Algorithm {
        &self.c14n
    }
    /// The references in SignedInfo order.
    pub fn references(&self) -> &[VerifiedReference] {
        &self.references
    }
    /// The key (and certificate) the signature verified with. Validating the certificate
    /// for the caller's trust role is the caller's next step.
    pub fn key(&self) -> &VerificationKey {
        &self.key
    }

    fn same_document(&self, doc: &Document) -> Result<(), VerifyError> {
        if doc.doc_id() == self.doc_id {
            Ok(())
        } else {
            Err(PolicyViolation::OtherDocument.into())
        }
    }

    /// Whether `node` (an element of `doc`) lies inside what some reference covered.
    pub fn covers(&self, doc: &Document, node: NodeId) -> Result<bool, VerifyError> {
        self.same_document(doc)?;
        let Some(element) = doc.element(node) else {
            return Ok(false);
        };
        let inside = |apex: NodeId| doc.element(apex).is_some_and(|a| a.contains(element));
        let outside_excluded = |excluded: Option<NodeId>| !excluded.is_some_and(inside);
        Ok(self.references.iter().any(|r| match r.coverage {
            Coverage::Document { excluded } => outside_excluded(excluded),
            Coverage::Element {
                element: apex,
                excluded,
            } => inside(apex) && outside_excluded(excluded),
            Coverage::Attachment { .. } => false,
        }))
    }

    /// Requires the references to be exactly `expected` (each once, any order): a missing
    /// one, an extra one, or one pointing elsewhere is a policy error.
    pub fn require_references(
        &self,
        doc: &Document,
        expected: &[Expected<'_>],
    ) -> Result<(), VerifyError> {
        self.same_document(doc)?;
        let matches = |r: &VerifiedReference, e: &Expected<'_>| match (&r.coverage, e) {
            (Coverage::Document { excluded }, Expected::EnvelopedDocument) => {
                *excluded == Some(self.signature)
            }
            (Coverage::Element { element, .. }, Expected::Element(want)) => element == want,
            (Coverage::Attachment { uri }, Expected::Attachment(want)) => uri == want,
            _ => false,
        };
        let mut used = vec![false; self.references.len()];
        for e in expected {
            let hit = self
                .references
                .iter()
                .enumerate()
                .find(|(i, r)| !used[*i] && matches(r, e))
                .map(|(i, _)| i);
            match hit {
                Some(i) => used[i] = true,
                None => {
                    return Err(PolicyViolation::References(format!(
                        "expected reference {e:?} is missing"
                    ))
                    .into());
                }
            }
        }
        if let Some(i) = used.iter().position(|u| !u) {
            let uri = &self.references[i].uri;
            return Err(
                PolicyViolation::References(format!("unexpected reference {uri:?}")).into(),
            );
        }
        Ok(())
    }

    /// One line per reference saying what it covered, for operators.
    pub fn describe(&self, doc: &Document) -> Vec<String> {
        let name = |id: NodeId| {
            doc.element(id)
                .map_or_else(|| "?".to_owned(), |e| e.qname().to_owned())
        };
        self.references
            .iter()
            .map(|r| match &r.coverage {
                Coverage::Document {
                    excluded: Some(sig),
                } => {
                    format!(
                        "URI=\"\": the whole document except this {} element",
                        name(*sig)
                    )
                }
                Coverage::Document { excluded: None } => "URI=\"\": the whole document".to_owned(),
                Coverage::Element { element, excluded } => format!(
                    "URI=\"{}\": element {}{}",
                    r.uri,
                    name(*element),
                    if excluded.is_some() {
                        " (minus this Signature)"
                    } else {
                        ""
                    }
                ),
                Coverage::Attachment { uri } => format!("URI=\"{uri}\": attachment content"),
            })
            .collect()
    }
}

/// The first `ds:Signature` element of `doc` and how many there are, in one pass over the
/// node arena (a namespace id and a name compared per element, nothing collected).
fn signature_elements(doc: &Document) -> (Option<NodeId>, usize) {
    let tree = &doc.tree;
    let Some(ns) = tree.namespaces.iter().position(|uri| uri == DSIG_NS) else {
        return (None, 0);
    };
    let root = doc.root();
    let from = root.node_id().index();
    let nodes = tree
        .nodes
        .get(from..root.data.end as usize)
        .unwrap_or_default();
    let input = tree.input.as_bytes();
    let mut first = None;
    let mut count = 0;
    for (i, node) in nodes.iter().enumerate() {
        if let NodeData::Element(e) = &node.data
            && e.name.ns.is_some_and(|id| id.0 as usize == ns)
            && e.name.local_bytes(input) == b"Signature"
        {
            count += 1;
            first = first.or(Some(NodeId((from + i) as u32)));
        }
    }
    // The tree's own query says the same (checked in debug builds).
    debug_assert_eq!(count, doc.elements_named(DSIG_NS, "Signature").count());
    (first, count)
}

/// Verifies signatures under one policy, with one key resolver and optionally an
/// attachment resolver.
#[derive(Clone, Copy)]
pub struct Verifier<'a> {
    policy: &'a VerifyPolicy,
    keys: &'a dyn KeyResolver,
    attachments: Option<&'a dyn AttachmentResolver>,
}

impl std::fmt::Debug for Verifier<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("policy", self.policy)
            .finish_non_exhaustive()
    }
}

impl<'a> Verifier<'a> {
    /// A verifier without attachment support.
    pub fn new(policy: &'a VerifyPolicy, keys: &'a dyn KeyResolver) -> Self {
        Verifier {
            policy,
            keys,
            attachments: None,
        }
    }

    /// The same verifier, resolving `cid:` references through `attachments` (the policy
    /// must also allow them).
    pub fn with_attachments(mut self, attachments: &'a dyn AttachmentResolver) -> Self {
        self.attachments = Some(attachments);
        self
    }

    /// The XHE/SMP profile: exactly one `ds:Signature` in the whole document, a child of the
    /// root, with exactly one Reference `URI=""` carrying the enveloped-signature transform.
    pub fn verify_enveloped(&self, doc: &Document) -> Result<VerifiedSignature, VerifyError> {
        let signature = match signature_elements(doc) {
            (Some(one), 1) => one,
            (_, 0) => return Err(PolicyViolation::Placement("no Signature".into()).into()),
            (_, more) => {
                return Err(
                    PolicyViolation::Placement(format!("{more} Signature elements")).into(),
                );
            }
        };
        let parent = doc
            .element(signature)
            .and_then(|s| s.parent())
            .map(|p| p.node_id());
        if parent != Some(doc.root().node_id()) {
            return Err(PolicyViolation::Placement(
                "Signature is not a child of the root element".into(),
            )
            .into());
        }
        let verified = self.verify(doc, signature)?;
        verified.require_references(doc, &[Expected::EnvelopedDocument])?;
        Ok(verified)
    }

    /// Verifies the Signature element `signature` of `doc`. Checks policy and shape first,
    /// then the SignatureValue, then every reference digest.
    pub fn verify(
        &self,
        doc: &Document,
        signature: NodeId,
    ) -> Result<VerifiedSignature, VerifyError> {
        if !doc.duplicate_ids().is_empty() {
            return Err(PolicyViolation::DuplicateIds(doc.duplicate_ids().to_vec()).into());
        }
        let element = doc
            .element(signature)
            .ok_or_else(|| PolicyViolation::Shape("not an element of this document".into()))?;
        let model = read_signature(element, self.policy)?;
        let mut targets = Vec::with_capacity(model.references.len());
        for r in &model.references {
            targets.push(self.check_reference(doc, &r.uri, &r.transforms)?);
        }
        let key = self.keys.resolve(doc, model.key_info)?;
        let bits = match key.certificate().key_algorithm() {
            KeyAlgorithm::Rsa { bits } => *bits,
            other => return Err(InvalidReason::Key(format!("{other} key, RSA required")).into()),
        };
        if bits < self.policy.min_rsa_bits {
            return Err(PolicyViolation::WeakKey(bits).into());
        }
        let signed_info =
            c14n::canonicalize_to_vec(doc, &NodeSet::subtree(model.signed_info), &model.c14n)
                .map_err(InvalidReason::C14n)?;
        model
            .method
            .verify(key.certificate(), &signed_info, &model.value)
            .map_err(|_| InvalidReason::SignatureValue)?;
        let mut references = Vec::with_capacity(model.references.len());
        for (r, target) in model.references.into_iter().zip(targets) {
            let (digest, coverage) = self.digest(
                doc,
                &r.uri,
                &r.transforms,
                &target,
                r.digest_method,
                signature,
            )?;
            if aws_lc_rs::constant_time::verify_slices_are_equal(&digest, &r.digest_value).is_err()
            {
                return Err(InvalidReason::Digest(r.uri).into());
            }
            references.push(VerifiedReference {
                uri: r.uri,
                coverage,
                transforms: r.transforms,
                digest_method: r.digest_method,
                digest_value: r.digest_value,
            });
        }
        Ok(VerifiedSignature {
            doc_id: doc.doc_id(),
            signature,
            method: model.method,
            c14n: model.c14n,
            references,
            key,
        })
    }

    /// Policy checks of one reference that need no cryptography.
    fn check_reference(
        &self,
        doc: &Document,
        uri: &str,
        transforms: &[Transform],
    ) -> Result<Target, VerifyError> {
        let short = || uri.chars().take(200).collect::<String>();
        let target = match reference::target(doc, uri) {
            Ok(t) => t,
            Err(DerefError::UnsupportedUri) => {
                return Err(PolicyViolation::ReferenceUri(short()).into());
            }
            Err(DerefError::Duplicate) => {
                return Err(PolicyViolation::DuplicateIds(vec![short()]).into());
            }
            Err(DerefError::Missing) => return Err(InvalidReason::MissingTarget(short()).into()),
        };
        let transforms_ok = match target {
            Target::Attachment => {
                if !self.policy.allow_attachments || self.attachments.is_none() {
                    return Err(PolicyViolation::ReferenceUri(short()).into());
                }
                transforms == [Transform::AttachmentContent]
            }
            Target::Document | Target::Element(_) => {
                reference::xml_transforms(transforms).is_some()
            }
        };
        if !transforms_ok {
            let list: Vec<&str> = transforms.iter().map(Transform::uri).collect();
            return Err(PolicyViolation::Transform(format!("{list:?} for {:?}", short())).into());
        }
        Ok(target)
    }

    fn digest(
        &self,
        doc: &Document,
        uri: &str,
        transforms: &[Transform],
        target: &Target,
        method: DigestMethod,
        signature: NodeId,
    ) -> Result<(Vec<u8>, Coverage), VerifyError> {
        if let Target::Attachment = target {
            let resolver = self
                .attachments
                .ok_or_else(|| PolicyViolation::ReferenceUri(uri.to_owned()))?;
            let digest = reference::digest_attachment(resolver, uri, method).map_err(|detail| {
                InvalidReason::Attachment {
                    uri: uri.to_owned(),
                    detail,
                }
            })?;
            return Ok((
                digest,
                Coverage::Attachment {
                    uri: uri.to_owned(),
                },
            ));
        }
        let (enveloped, alg) = reference::xml_transforms(transforms)
            .ok_or_else(|| PolicyViolation::Transform(uri.to_owned()))?;
        let (set, coverage) = reference::node_set(doc, target, enveloped, signature)
            .ok_or_else(|| PolicyViolation::ReferenceUri(uri.to_owned()))?;
        let digest =
            reference::digest_node_set(doc, &set, &alg, method).map_err(InvalidReason::C14n)?;
        Ok((digest, coverage))
    }
}
