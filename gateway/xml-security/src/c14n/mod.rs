//! Canonical XML: C14N 1.0 (with and without comments), C14N 1.1 and exclusive C14N with
//! `InclusiveNamespaces PrefixList`, over a whole [`Document`], an element subtree, or either
//! minus one excluded subtree (the enveloped-signature transform).
//!
//! Output goes into any [`std::io::Write`] (a [`crate::crypto::Hasher`] hashes it on the fly). The
//! walk is iterative, so nesting depth costs heap, never stack.
//!
//! The namespace rules implemented, per algorithm:
//! * inclusive (1.0, 1.1): the apex of a subtree shows every namespace in scope (declared on
//!   it or inherited); below it an element shows a declaration only when its value differs
//!   from what the nearest output ancestor rendered. `xmlns=""` appears only on an element
//!   whose output parent rendered a non-empty default namespace — never on an apex, which is
//!   where lxml's subtree c14n goes wrong. The apex also shows inherited `xml:*` attributes.
//! * exclusive: an element shows only the prefixes it visibly uses (its own and its
//!   attributes') plus the `PrefixList`, each when not already rendered with the same value
//!   by an output ancestor; nothing `xml:*` is inherited.

mod algorithm;
mod render;
mod sink;

use thiserror::Error;

use crate::xml::{Document, Fragment, NodeId};

pub use algorithm::{
    Algorithm, C14N_10, C14N_10_WITH_COMMENTS, C14N_11, C14N_11_WITH_COMMENTS, EXC_C14N,
    EXC_C14N_WITH_COMMENTS, Family,
};

/// Why canonicalization failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum C14nError {
    /// Writing the output failed.
    #[error("cannot write canonical output: {0}")]
    Io(#[from] std::io::Error),
    /// The node-set's apex is not an element of this document.
    #[error("node-set apex is not an element of the document")]
    NotAnElement,
    /// Not a canonicalization algorithm we implement.
    #[error("unsupported canonicalization algorithm {0:?}")]
    UnknownAlgorithm(String),
    /// An `InclusiveNamespaces` `PrefixList` given to an inclusive algorithm.
    #[error("InclusiveNamespaces is only defined for exclusive canonicalization")]
    PrefixListNotExclusive,
    /// C14N 1.1 of a subtree whose ancestors carry `xml:base` needs URI fix-up, which is not
    /// implemented; such input is refused rather than canonicalized wrongly.
    #[error("C14N 1.1 xml:base fix-up is not supported")]
    XmlBaseFixup,
}

/// Which nodes to canonicalize (the XPath node-sets XML-DSig references produce).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSet {
    /// `None`: the whole document; otherwise the subtree of this element.
    pub apex: Option<NodeId>,
    /// A subtree left out (the enveloped Signature).
    pub exclude: Option<NodeId>,
    /// Whether comment nodes are in the set (a `URI=""` or `#id` reference has none).
    pub comments: bool,
}

impl NodeSet {
    /// The whole document, comments included.
    pub fn document() -> Self {
        NodeSet {
            apex: None,
            exclude: None,
            comments: true,
        }
    }

    /// One element's subtree, comments included.
    pub fn subtree(apex: NodeId) -> Self {
        NodeSet {
            apex: Some(apex),
            exclude: None,
            comments: true,
        }
    }

    /// The same set without the subtree of `element`.
    pub fn excluding(mut self, element: NodeId) -> Self {
        self.exclude = Some(element);
        self
    }

    /// The same set without comment nodes.
    pub fn without_comments(mut self) -> Self {
        self.comments = false;
        self
    }
}

/// Writes the canonical form of `set` to `out`.
pub fn canonicalize<W: std::io::Write>(
    doc: &Document,
    set: &NodeSet,
    alg: &Algorithm,
    out: W,
) -> Result<(), C14nError> {
    render::canonicalize(&doc.tree, Some(doc.root().node_id()), set, alg, out)
}

/// Writes the canonical form of the subtree of `apex`, an element of a [`Fragment`]: the
/// namespaces the fragment was parsed with count as declared by its (absent) ancestors.
pub fn canonicalize_fragment<W: std::io::Write>(
    fragment: &Fragment,
    apex: NodeId,
    alg: &Algorithm,
    out: W,
) -> Result<(), C14nError> {
    render::canonicalize(&fragment.tree, None, &NodeSet::subtree(apex), alg, out)
}

/// The canonical form of `set` as bytes.
pub fn canonicalize_to_vec(
    doc: &Document,
    set: &NodeSet,
    alg: &Algorithm,
) -> Result<Vec<u8>, C14nError> {
    let mut out = Vec::with_capacity(doc.bytes().len());
    canonicalize(doc, set, alg, &mut out)?;
    Ok(out)
}
