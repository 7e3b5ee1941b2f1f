//! Errors of the XML layer: parse errors (hostile or malformed input, limits) and structure
//! errors (a well-formed document that does not have the shape a caller expects).

use thiserror::Error;

/// Which limit of [`crate::xml::Limits`] was exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// `max_bytes`
    Bytes,
    /// `max_depth`
    Depth,
    /// `max_attributes`
    Attributes,
    /// `max_namespace_declarations`
    NamespaceDeclarations,
    /// `max_total_namespace_declarations`
    TotalNamespaceDeclarations,
    /// `max_text_len`
    TextLength,
    /// `max_attribute_len`
    AttributeLength,
    /// `max_nodes`
    Nodes,
}

/// Why a document was refused by the parser. `offset` is a byte offset into the input.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A configured limit was exceeded.
    #[error("XML limit exceeded: {limit:?} (at most {max}) at byte {offset}")]
    LimitExceeded {
        /// Which limit.
        limit: Limit,
        /// Its configured value.
        max: usize,
        /// Where parsing stopped.
        offset: usize,
    },
    /// A `<!DOCTYPE` (DTD) was present; DTDs are never accepted.
    #[error("DTD (DOCTYPE) is not allowed (byte {offset})")]
    DtdForbidden {
        /// Start of the DOCTYPE.
        offset: usize,
    },
    /// An entity reference other than the five predefined ones.
    #[error("entity reference &{name}; is not allowed (byte {offset})")]
    EntityForbidden {
        /// The entity name.
        name: String,
        /// Where it occurred.
        offset: usize,
    },
    /// A character reference that is malformed or names a character XML does not allow.
    #[error("invalid character reference &{text}; (byte {offset})")]
    InvalidCharRef {
        /// The text between `&` and `;`.
        text: String,
        /// Where it occurred.
        offset: usize,
    },
    /// The document is not UTF-8 (another declared encoding, a UTF-16 BOM, invalid UTF-8).
    #[error("only UTF-8 is accepted: {found} (byte {offset})")]
    Encoding {
        /// What was found instead.
        found: String,
        /// Where.
        offset: usize,
    },
    /// A character XML 1.0 does not allow (control characters, U+FFFE, U+FFFF).
    #[error("character not allowed in XML at byte {offset}")]
    InvalidChar {
        /// Where.
        offset: usize,
    },
    /// An element or attribute name that is not a valid namespace-aware XML name.
    #[error("invalid XML name {name:?} (byte {offset})")]
    InvalidName {
        /// The name as written (possibly shortened).
        name: String,
        /// Where.
        offset: usize,
    },
    /// A prefix that is used but not declared.
    #[error("namespace prefix {prefix:?} is not declared (byte {offset})")]
    UndeclaredPrefix {
        /// The prefix.
        prefix: String,
        /// Where.
        offset: usize,
    },
    /// A namespace declaration the Namespaces in XML rules forbid (binding `xmlns`, rebinding
    /// `xml`, undeclaring a prefix).
    #[error("forbidden namespace declaration {declaration:?} (byte {offset})")]
    ForbiddenNamespaceDeclaration {
        /// The attribute name of the declaration.
        declaration: String,
        /// Where.
        offset: usize,
    },
    /// Two attributes with the same expanded name on one element.
    #[error("duplicate attribute {name:?} (byte {offset})")]
    DuplicateAttribute {
        /// The attribute as written.
        name: String,
        /// Where the element starts.
        offset: usize,
    },
    /// Not well-formed (the detail comes from the tokenizer or from our checks).
    #[error("XML is not well-formed at byte {offset}: {reason}")]
    Syntax {
        /// What is wrong.
        reason: String,
        /// Where.
        offset: usize,
    },
    /// The document has no root element.
    #[error("document has no root element")]
    NoRootElement,
}

/// A well-formed document that does not have the shape the caller requires. Names are shown
/// as `{namespace}local`.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum StructureError {
    /// A required child element is absent.
    #[error("{parent}: missing child element {child}")]
    MissingChild {
        /// The parent element.
        parent: String,
        /// The expected child.
        child: String,
    },
    /// A child element that may occur once occurs several times.
    #[error("{parent}: child element {child} occurs {count} times, expected once")]
    RepeatedChild {
        /// The parent element.
        parent: String,
        /// The repeated child.
        child: String,
        /// How often it occurs.
        count: usize,
    },
    /// A required attribute is absent.
    #[error("{element}: missing attribute {attribute}")]
    MissingAttribute {
        /// The element.
        element: String,
        /// The attribute.
        attribute: String,
    },
    /// An element other than the expected one.
    #[error("expected element {expected}, found {found}")]
    UnexpectedElement {
        /// What was expected.
        expected: String,
        /// What was found.
        found: String,
    },
    /// The fragment or document has not exactly one top-level element.
    #[error("expected exactly one element, found {count}")]
    NotSingleElement {
        /// How many there are.
        count: usize,
    },
    /// An id is carried by more than one element (possible signature wrapping).
    #[error("id {id:?} is used by more than one element")]
    DuplicateId {
        /// The id value.
        id: String,
    },
    /// Non-whitespace text where only elements are allowed.
    #[error("{element}: unexpected text content")]
    UnexpectedText {
        /// The element.
        element: String,
    },
}
