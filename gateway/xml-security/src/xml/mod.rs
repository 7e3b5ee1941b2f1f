//! The hardened XML tree every layer reads documents through.
//!
//! [`Document::parse`] accepts UTF-8 XML 1.0 with namespaces and nothing else: a DTD, an
//! entity other than the five predefined ones, another encoding, a forbidden character or an
//! exceeded [`Limits`] value is a typed [`ParseError`], never a truncation or a guess. The
//! tree keeps what canonicalization needs (namespace declarations and attributes as written,
//! comments, PIs, character data with CDATA and references resolved) and the byte offsets of
//! every element ([`ElementRef::span`]) so that documents are changed by splicing bytes
//! ([`Edit`], [`apply_edits`]) rather than re-serialising.
//!
//! Navigation is by namespace and local name; the `required_*`/`optional_*` helpers turn a
//! wrong shape into a [`StructureError`]. Ids (`wsu:Id`, `Id`, `ID` by default, see
//! [`IdAttributes`]) are indexed at parse time; an id on two elements cannot be looked up.
//!
//! ```
//! use sdkgw_xml_security::xml::{Document, ParseOptions};
//! let doc = Document::parse(br#"<a xmlns="urn:x"><b Id="i1">text</b></a>"#.to_vec(),
//!                           &ParseOptions::default())?;
//! let b = doc.root().required_child(Some("urn:x"), "b")?;
//! assert_eq!(b.text(), "text");
//! assert_eq!(doc.element_by_id("i1")?, Some(b));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod chars;
mod edit;
mod error;
mod ids;
mod lexer;
mod limits;
mod parse;
mod scan;
mod tag;
mod tree;

pub use chars::is_ncname;
pub use edit::{Edit, EditError, apply_edits};
pub use error::{Limit, ParseError, StructureError};
pub use ids::{IdAttribute, IdAttributes, WSU_NS};
pub use limits::Limits;
pub use parse::ParseOptions;
#[cfg(any(test, feature = "fuzzing"))]
pub use parse::parse_outcome;
pub use tree::{
    AttributeRef, Descendants, Document, ElementRef, ElementSpan, Fragment, NodeId, NodeRef,
    NsDecl, XML_NS, is_xml_space,
};

pub(crate) use chars::bytes_cmp;
pub(crate) use tree::{NodeData, Tree};
