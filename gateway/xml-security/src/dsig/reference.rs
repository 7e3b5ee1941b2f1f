//! Dereferencing a Reference URI and computing its digest: same-document references resolve
//! only through the parse-time id index of the very tree being verified, attachments only
//! through the caller's [`AttachmentResolver`].

use std::io::Read;

use super::model::Transform;
use crate::c14n::{self, Algorithm, NodeSet};
use crate::crypto::DigestMethod;
use crate::xml::{Document, NodeId};

/// Gives the content bytes of SwA attachments (`cid:` references), as a stream, so large
/// attachments are digested without being held in memory twice.
pub trait AttachmentResolver {
    /// The attachment's content (after MIME transfer decoding, as the Attachment-Content
    /// transform defines), or a message why it is unavailable.
    fn open(&self, uri: &str) -> Result<Box<dyn Read + '_>, String>;
}

/// What one reference covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// The whole document (`URI=""`), except the subtree `excluded` (the enveloped
    /// Signature), without comments.
    Document {
        /// The removed subtree.
        excluded: Option<NodeId>,
    },
    /// The subtree of one element (`URI="#id"`), except `excluded`.
    Element {
        /// The referenced element.
        element: NodeId,
        /// A removed subtree inside it.
        excluded: Option<NodeId>,
    },
    /// An attachment's content bytes (`URI="cid:..."`).
    Attachment {
        /// The URI as written.
        uri: String,
    },
}

/// Where a reference URI points.
pub(crate) enum Target {
    Document,
    Element(NodeId),
    Attachment,
}

/// Errors while dereferencing, before they are sorted into policy or validity failures.
pub(crate) enum DerefError {
    UnsupportedUri,
    Duplicate,
    Missing,
}

pub(crate) fn target(doc: &Document, uri: &str) -> Result<Target, DerefError> {
    if uri.is_empty() {
        return Ok(Target::Document);
    }
    if uri.starts_with("cid:") {
        return Ok(Target::Attachment);
    }
    let Some(id) = uri.strip_prefix('#') else {
        return Err(DerefError::UnsupportedUri);
    };
    // XPointer forms (`#xpointer(...)`) are not ids; refuse instead of guessing.
    if id.is_empty() || id.contains(['(', ')', ' ']) {
        return Err(DerefError::UnsupportedUri);
    }
    match doc.element_by_id(id) {
        Ok(Some(e)) => Ok(Target::Element(e.node_id())),
        Ok(None) => Err(DerefError::Missing),
        Err(_) => Err(DerefError::Duplicate),
    }
}

/// The transforms a same-document reference may have: an optional enveloped-signature
/// transform, then an optional canonicalization. Returns whether the Signature is removed
/// and the canonicalization (C14N 1.0 when none is given, as XML-DSig prescribes).
pub(crate) fn xml_transforms(transforms: &[Transform]) -> Option<(bool, Algorithm)> {
    match transforms {
        [] => Some((false, Algorithm::c14n10())),
        [Transform::EnvelopedSignature] => Some((true, Algorithm::c14n10())),
        [Transform::C14n(a)] => Some((false, a.clone())),
        [Transform::EnvelopedSignature, Transform::C14n(a)] => Some((true, a.clone())),
        _ => None,
    }
}

/// The node-set and coverage of a same-document reference. The enveloped-signature
/// transform removes `signature` only where it lies inside the referenced data.
pub(crate) fn node_set(
    doc: &Document,
    target: &Target,
    enveloped: bool,
    signature: NodeId,
) -> Option<(NodeSet, Coverage)> {
    match *target {
        Target::Document => {
            let excluded = enveloped.then_some(signature);
            let mut set = NodeSet::document().without_comments();
            set.exclude = excluded;
            Some((set, Coverage::Document { excluded }))
        }
        Target::Element(element) => {
            let inside = match (doc.element(element), doc.element(signature)) {
                (Some(apex), Some(sig)) => apex.contains(sig),
                _ => false,
            };
            let excluded = (enveloped && inside).then_some(signature);
            let mut set = NodeSet::subtree(element).without_comments();
            set.exclude = excluded;
            Some((set, Coverage::Element { element, excluded }))
        }
        Target::Attachment => None,
    }
}

/// Digest of a canonicalized node-set.
pub(crate) fn digest_node_set(
    doc: &Document,
    set: &NodeSet,
    alg: &Algorithm,
    method: DigestMethod,
) -> Result<Vec<u8>, c14n::C14nError> {
    let mut sink = method.hasher();
    c14n::canonicalize(doc, set, alg, &mut sink)?;
    Ok(sink.finish())
}

/// Digest of an attachment's content stream.
pub(crate) fn digest_attachment(
    resolver: &dyn AttachmentResolver,
    uri: &str,
    method: DigestMethod,
) -> Result<Vec<u8>, String> {
    let mut reader = resolver.open(uri)?;
    let mut sink = method.hasher();
    std::io::copy(&mut reader, &mut sink).map_err(|e| e.to_string())?;
    Ok(sink.finish())
}
