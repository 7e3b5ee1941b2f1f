//! Parser limits. Every limit is checked while parsing, before the data it bounds is stored,
//! so a hostile document costs at most a constant factor of `max_bytes` in memory.

/// Upper bounds enforced by the parser. Exceeding one is an error, never a truncation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Total input size in bytes (including a BOM). The tree stores offsets in 32 bits, so
    /// a larger value still refuses inputs of 4 GiB or more.
    pub max_bytes: usize,
    /// Element nesting depth (the root element is depth 1).
    pub max_depth: usize,
    /// Attributes on one element, not counting namespace declarations.
    pub max_attributes: usize,
    /// Namespace declarations on one element.
    pub max_namespace_declarations: usize,
    /// Namespace declarations in the whole document.
    pub max_total_namespace_declarations: usize,
    /// Length in bytes of one text node (adjacent text, CDATA and references merged), comment
    /// or processing instruction.
    pub max_text_len: usize,
    /// Length in bytes of one attribute value.
    pub max_attribute_len: usize,
    /// Nodes (elements, text, comments, processing instructions) in the document.
    pub max_nodes: usize,
}

impl Limits {
    /// Limits for SOAP headers, SMP responses and receipts: small documents.
    pub const SMALL: Limits = Limits {
        max_bytes: 4 << 20,
        max_depth: 64,
        max_attributes: 32,
        max_namespace_declarations: 32,
        max_total_namespace_declarations: 1024,
        max_text_len: 1 << 20,
        max_attribute_len: 16 << 10,
        max_nodes: 100_000,
    };
}

impl Default for Limits {
    /// Generous limits for XHE envelopes carrying a base64 payload (SDK messages are at most
    /// 30 MB; base64 and encryption make that about 41 MB of text in one node).
    fn default() -> Self {
        Limits {
            max_bytes: 64 << 20,
            max_depth: 128,
            max_attributes: 64,
            max_namespace_declarations: 64,
            max_total_namespace_declarations: 4096,
            max_text_len: 64 << 20,
            max_attribute_len: 64 << 10,
            max_nodes: 1_000_000,
        }
    }
}
