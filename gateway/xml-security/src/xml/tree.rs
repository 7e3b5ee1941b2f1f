//! The parsed tree: an arena of nodes with namespace-resolved names, the declarations and
//! attributes exactly as written (for canonicalization), and the byte offsets of every
//! element in the original input (for byte-exact splicing).

use std::ops::Range;

use super::error::StructureError;
use super::ids::IdIndex;

/// The namespace of the `xml:` prefix.
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Index of a node inside its [`Document`] (or [`Fragment`]). Only meaningful together with
/// the tree it came from; [`Document::doc_id`] tells trees apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(crate) u32);

impl NodeId {
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

/// An interned namespace URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct NsId(pub(crate) u32);

/// A namespace declaration as written: `xmlns="uri"` (prefix `None`) or `xmlns:p="uri"`.
/// `uri` is empty only for the default-namespace undeclaration `xmlns=""`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NsDecl {
    /// The declared prefix; `None` for the default namespace.
    pub prefix: Option<String>,
    /// The namespace URI.
    pub uri: String,
}

/// A byte range of the input (or of [`Tree::decoded`], which is never longer) in 8 bytes:
/// the parser refuses inputs of 4 GiB or more, and with ranges stored as `usize` the nodes
/// were twice the size, most of the memory a parse writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Span {
    /// `range`, whose ends the parser has checked to be below 4 GiB.
    pub(crate) fn new(range: Range<usize>) -> Span {
        Span {
            start: range.start as u32,
            end: range.end as u32,
        }
    }

    pub(crate) fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    pub(crate) fn len(self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }
}

/// Character data: usually a range of the input (nothing to decode), otherwise a range of
/// [`Tree::decoded`], where the parser appends all decoded text (one buffer for the whole
/// document instead of an allocation per node).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Chars {
    /// `input[start..end]` as written.
    Input(Span),
    /// `decoded[start..end]`: references resolved, line ends or attribute whitespace
    /// normalised.
    Decoded(Span),
}

/// An element or attribute name as written (a range of the input), with its namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Name {
    pub(crate) span: Span,
    /// Length of the prefix; 0 when there is none (a prefix is never empty).
    pub(crate) colon: u32,
    pub(crate) ns: Option<NsId>,
}

impl Name {
    pub(crate) fn qname<'a>(&self, input: &'a str) -> &'a str {
        input.get(self.span.range()).unwrap_or_default()
    }
    pub(crate) fn prefix<'a>(&self, input: &'a str) -> Option<&'a str> {
        let q = self.qname(input);
        (self.colon > 0)
            .then(|| q.get(..self.colon as usize))
            .flatten()
    }
    /// [`Self::local`] as bytes, for comparisons (no character-boundary checks).
    pub(crate) fn local_bytes<'a>(&self, input: &'a [u8]) -> &'a [u8] {
        let skip = if self.colon == 0 { 0 } else { self.colon + 1 };
        let range = (self.span.start + skip) as usize..self.span.end as usize;
        input.get(range).unwrap_or_default()
    }
    pub(crate) fn local<'a>(&self, input: &'a str) -> &'a str {
        let q = self.qname(input);
        match self.colon {
            0 => q,
            c => q.get(c as usize + 1..).unwrap_or_default(),
        }
    }
}

/// An attribute (never a namespace declaration) with its normalised value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Attr {
    pub(crate) name: Name,
    pub(crate) value: Chars,
}

#[derive(Debug)]
pub(crate) struct ElementData {
    pub(crate) name: Name,
    /// Range of [`Tree::attrs`].
    pub(crate) attributes: Span,
    /// Range of [`Tree::decls`].
    pub(crate) ns_decls: Span,
    /// Nodes are stored in document order, so this element's descendants are the nodes
    /// after it up to (not including) index `end`.
    pub(crate) end: u32,
    pub(crate) start_tag: Span,
    pub(crate) end_tag: Span,
    pub(crate) self_closing: bool,
}

#[derive(Debug)]
pub(crate) enum NodeData {
    Element(ElementData),
    /// Character data: text, CDATA sections and references merged, line ends normalised.
    Text(Chars),
    Comment(Chars),
    Pi {
        /// A range of the input.
        target: Span,
        data: Chars,
    },
}

#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) parent: Option<NodeId>,
    /// Whether `span` of the input is already the node's inclusive canonical form (C14N
    /// 1.0/1.1) wherever it stands below the apex: for text, written without `>`, CR,
    /// CDATA or references other than `&amp;`, `&lt;`, `&gt;`; for an element, its whole
    /// subtree written that way, with start tags `<name a="v" b="w">` (one space before each
    /// attribute, double quotes, canonical attribute order, values needing no escaping), no
    /// namespace declarations, no comments or PIs, no `<e/>`, end tags `</name>`.
    pub(crate) canonical: bool,
    pub(crate) data: NodeData,
    pub(crate) span: Span,
}

/// The arena shared by [`Document`] and [`Fragment`].
#[derive(Debug)]
pub(crate) struct Tree {
    pub(crate) doc_id: u64,
    /// The whole input, checked to be UTF-8 with only XML characters.
    pub(crate) input: String,
    pub(crate) nodes: Vec<Node>,
    /// Attributes of all elements, each element owning a range.
    pub(crate) attrs: Vec<Attr>,
    /// Namespace declarations of all elements, each element owning a range.
    pub(crate) decls: Vec<NsDecl>,
    /// Decoded character data ([`Chars::Decoded`] ranges point here).
    pub(crate) decoded: String,
    pub(crate) top: Vec<NodeId>,
    pub(crate) namespaces: Vec<String>,
    /// Namespaces in scope from outside (the context of a fragment); empty for documents.
    pub(crate) inherited: Vec<NsDecl>,
    pub(crate) ids: IdIndex,
}

impl Tree {
    /// The text `chars` stands for.
    pub(crate) fn chars(&self, chars: &Chars) -> &str {
        // Ranges are made by the parser at character boundaries of these very buffers.
        match chars {
            Chars::Input(r) => self.input.get(r.range()).unwrap_or_default(),
            Chars::Decoded(r) => self.decoded.get(r.range()).unwrap_or_default(),
        }
    }

    /// The namespace declarations written on element `data`.
    pub(crate) fn declarations(&self, data: &ElementData) -> &[NsDecl] {
        self.decls.get(data.ns_decls.range()).unwrap_or_default()
    }

    /// The child nodes of element `id` (none for other nodes).
    pub(crate) fn child_ids(&self, id: NodeId) -> ChildIds<'_> {
        let end = self.element_data(id).map_or(0, |e| e.end as usize);
        ChildIds {
            tree: self,
            next: id.index() + 1,
            end,
        }
    }

    pub(crate) fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    pub(crate) fn element_data(&self, id: NodeId) -> Option<&ElementData> {
        match &self.nodes.get(id.index())?.data {
            NodeData::Element(e) => Some(e),
            _ => None,
        }
    }

    pub(crate) fn ns_uri(&self, ns: Option<NsId>) -> Option<&str> {
        ns.map(|n| self.namespaces[n.0 as usize].as_str())
    }

    pub(crate) fn element(&self, id: NodeId) -> Option<ElementRef<'_>> {
        self.element_data(id).map(|data| ElementRef {
            tree: self,
            id,
            data,
        })
    }

    pub(crate) fn node_ref(&self, id: NodeId) -> NodeRef<'_> {
        match &self.node(id).data {
            NodeData::Element(data) => NodeRef::Element(ElementRef {
                tree: self,
                id,
                data,
            }),
            NodeData::Text(t) => NodeRef::Text(self.chars(t)),
            NodeData::Comment(c) => NodeRef::Comment(self.chars(c)),
            NodeData::Pi { target, data } => NodeRef::Pi {
                target: self.input.get(target.range()).unwrap_or_default(),
                data: self.chars(data),
            },
        }
    }

    pub(crate) fn by_id(&self, value: &str) -> Result<Option<ElementRef<'_>>, StructureError> {
        match self.ids.lookup(value)? {
            Some(id) => Ok(self.element(id)),
            None => Ok(None),
        }
    }
}

/// A parsed, well-formed XML document with one root element.
#[derive(Debug)]
pub struct Document {
    pub(crate) tree: Tree,
    pub(crate) root: NodeId,
}

impl Document {
    /// The document element.
    pub fn root(&self) -> ElementRef<'_> {
        // The parser only ever sets `root` to an element; the fallback keeps this total
        // without a panic path.
        self.tree.element(self.root).unwrap_or(ElementRef {
            tree: &self.tree,
            id: self.root,
            data: &NO_ELEMENT,
        })
    }

    /// The element with this id, if `id` names an element of this document.
    pub fn element(&self, id: NodeId) -> Option<ElementRef<'_>> {
        self.tree.element(id)
    }

    /// Any node of this document.
    pub fn node(&self, id: NodeId) -> Option<NodeRef<'_>> {
        (id.index() < self.tree.nodes.len()).then(|| self.tree.node_ref(id))
    }

    /// The element whose id attribute (one of the configured [`super::IdAttributes`]) has
    /// this value. An id carried by several elements is an error, never a choice.
    pub fn element_by_id(&self, value: &str) -> Result<Option<ElementRef<'_>>, StructureError> {
        self.tree.by_id(value)
    }

    /// Ids that occur on more than one element (empty for a sound document).
    pub fn duplicate_ids(&self) -> &[String] {
        self.tree.ids.duplicates()
    }

    /// The exact input bytes (including BOM and XML declaration).
    pub fn bytes(&self) -> &[u8] {
        self.tree.input.as_bytes()
    }

    /// Gives the input bytes back.
    pub fn into_bytes(self) -> Vec<u8> {
        self.tree.input.into_bytes()
    }

    /// A number unique to this parse, to tell apart node ids of different trees.
    pub fn doc_id(&self) -> u64 {
        self.tree.doc_id
    }

    /// Top-level nodes in document order: comments and PIs before and after the root, and
    /// the root itself.
    pub fn top_level(&self) -> impl Iterator<Item = NodeRef<'_>> + '_ {
        self.tree.top.iter().map(|&id| self.tree.node_ref(id))
    }

    /// Every element in document order (pre-order), root first.
    pub fn elements(&self) -> impl Iterator<Item = ElementRef<'_>> + '_ {
        self.root().descendants()
    }

    /// Every element `{ns}local` in document order. The namespace is looked up once and
    /// compared as its interned id, not as a string per element.
    pub(crate) fn elements_named<'a>(
        &'a self,
        ns: &str,
        local: &'a str,
    ) -> impl Iterator<Item = ElementRef<'a>> + 'a {
        let id = self.tree.namespaces.iter().position(|uri| uri == ns);
        self.elements().filter(move |e| {
            id.is_some_and(|id| e.data.name.ns == Some(NsId(id as u32))) && e.local_name() == local
        })
    }
}

/// An element with no name, attributes or content (see [`Document::root`]).
static NO_ELEMENT: ElementData = ElementData {
    name: Name {
        span: Span { start: 0, end: 0 },
        colon: 0,
        ns: None,
    },
    attributes: Span { start: 0, end: 0 },
    ns_decls: Span { start: 0, end: 0 },
    end: 0,
    start_tag: Span { start: 0, end: 0 },
    end_tag: Span { start: 0, end: 0 },
    self_closing: true,
};

/// A parsed fragment (element content, e.g. decrypted `EncryptedData` plaintext), parsed
/// with the namespaces in scope at the place it belongs to.
#[derive(Debug)]
pub struct Fragment {
    pub(crate) tree: Tree,
}

impl Fragment {
    /// Top-level nodes in order (elements, text, comments, PIs).
    pub fn top_level(&self) -> impl Iterator<Item = NodeRef<'_>> + '_ {
        self.tree.top.iter().map(|&id| self.tree.node_ref(id))
    }

    /// The only top-level element, with nothing but whitespace around it.
    pub fn single_element(&self) -> Result<ElementRef<'_>, StructureError> {
        let mut elements = Vec::new();
        for node in self.top_level() {
            match node {
                NodeRef::Element(e) => elements.push(e),
                NodeRef::Text(t) if t.trim_matches(is_xml_space).is_empty() => {}
                NodeRef::Text(_) => {
                    return Err(StructureError::UnexpectedText {
                        element: "(fragment)".into(),
                    });
                }
                _ => {}
            }
        }
        match elements.as_slice() {
            [one] => Ok(*one),
            _ => Err(StructureError::NotSingleElement {
                count: elements.len(),
            }),
        }
    }

    /// The element with this id in the fragment (see [`Document::element_by_id`]).
    pub fn element_by_id(&self, value: &str) -> Result<Option<ElementRef<'_>>, StructureError> {
        self.tree.by_id(value)
    }

    /// The fragment's bytes as given.
    pub fn bytes(&self) -> &[u8] {
        self.tree.input.as_bytes()
    }

    /// The namespaces the fragment was parsed with.
    pub fn context(&self) -> &[NsDecl] {
        &self.tree.inherited
    }
}

/// Whitespace as XML defines it.
pub fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Any node.
#[derive(Clone, Copy, Debug)]
pub enum NodeRef<'a> {
    /// An element.
    Element(ElementRef<'a>),
    /// Character data (normalised, references resolved).
    Text(&'a str),
    /// A comment's text.
    Comment(&'a str),
    /// A processing instruction.
    Pi {
        /// Its target.
        target: &'a str,
        /// Its data (without the leading whitespace).
        data: &'a str,
    },
}

/// Byte ranges of one element in the original input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElementSpan {
    /// `<name ...>` or `<name .../>`.
    pub start_tag: Range<usize>,
    /// Between the start and the end tag (empty for `<name/>`).
    pub content: Range<usize>,
    /// `</name>`; empty (at `start_tag.end`) for `<name/>`.
    pub end_tag: Range<usize>,
}

impl ElementSpan {
    /// The whole element, start tag to end tag.
    pub fn whole(&self) -> Range<usize> {
        self.start_tag.start..self.end_tag.end
    }
}

/// An attribute of an element.
#[derive(Clone, Copy, Debug)]
pub struct AttributeRef<'a> {
    tree: &'a Tree,
    attr: &'a Attr,
}

impl<'a> AttributeRef<'a> {
    /// The prefix as written.
    pub fn prefix(&self) -> Option<&'a str> {
        self.attr.name.prefix(&self.tree.input)
    }
    /// The local name.
    pub fn local_name(&self) -> &'a str {
        self.attr.name.local(&self.tree.input)
    }
    /// The name as written (`prefix:local` or `local`).
    pub fn qname(&self) -> &'a str {
        self.attr.name.qname(&self.tree.input)
    }
    /// The namespace URI; unprefixed attributes have none.
    pub fn namespace(&self) -> Option<&'a str> {
        self.tree.ns_uri(self.attr.name.ns)
    }
    /// The normalised value (references resolved).
    pub fn value(&self) -> &'a str {
        self.tree.chars(&self.attr.value)
    }
    /// The attribute as written, `name="value"`, when that is also how C14N writes it: `="`
    /// right after the name and a value in double quotes that needed no decoding (the parser
    /// decodes any value with `&`, `<`, tab, CR or LF, and a double-quoted value has no `"`,
    /// so nothing in it is escaped either).
    pub(crate) fn canonical_as_written(&self) -> Option<&'a str> {
        let Chars::Input(value) = self.attr.value else {
            return None;
        };
        let (name, value) = (self.attr.name.span.range(), value.range());
        let bytes = self.tree.input.as_bytes();
        let laid_out = name.end + 2 == value.start
            && bytes.get(name.end..value.start) == Some(b"=\"")
            && bytes.get(value.end) == Some(&b'"');
        if !laid_out {
            return None;
        }
        self.tree.input.get(name.start..value.end + 1)
    }
}

/// A borrowed element with navigation helpers.
#[derive(Clone, Copy)]
pub struct ElementRef<'a> {
    pub(crate) tree: &'a Tree,
    pub(crate) id: NodeId,
    pub(crate) data: &'a ElementData,
}

impl std::fmt::Debug for ElementRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ElementRef({:?}, {})", self.id, self.display_name())
    }
}

impl PartialEq for ElementRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.tree, other.tree) && self.id == other.id
    }
}

impl<'a> ElementRef<'a> {
    /// This element's node id.
    pub fn node_id(&self) -> NodeId {
        self.id
    }
    /// The local name.
    pub fn local_name(&self) -> &'a str {
        self.data.name.local(&self.tree.input)
    }
    /// The prefix as written.
    pub fn prefix(&self) -> Option<&'a str> {
        self.data.name.prefix(&self.tree.input)
    }
    /// The name as written.
    pub fn qname(&self) -> &'a str {
        self.data.name.qname(&self.tree.input)
    }
    /// The namespace URI (none when unqualified).
    pub fn namespace(&self) -> Option<&'a str> {
        self.tree.ns_uri(self.data.name.ns)
    }
    /// Whether this element is `{ns}local`. `ns` `None` matches elements in no namespace.
    pub fn is(&self, ns: Option<&str>, local: &str) -> bool {
        self.local_name() == local && self.namespace() == ns
    }
    /// `{namespace}local`, for messages.
    pub fn display_name(&self) -> String {
        expanded(self.namespace(), self.local_name())
    }

    /// Requires this element to be `{ns}local`.
    pub fn expect(self, ns: Option<&str>, local: &str) -> Result<Self, StructureError> {
        if self.is(ns, local) {
            Ok(self)
        } else {
            Err(StructureError::UnexpectedElement {
                expected: expanded(ns, local),
                found: self.display_name(),
            })
        }
    }

    /// Attributes as written, in document order (namespace declarations excluded).
    pub fn attributes(&self) -> impl Iterator<Item = AttributeRef<'a>> + 'a + use<'a> {
        let tree = self.tree;
        tree.attrs
            .get(self.data.attributes.range())
            .unwrap_or_default()
            .iter()
            .map(move |attr| AttributeRef { tree, attr })
    }
    /// Whether the element has attributes (namespace declarations aside).
    pub(crate) fn has_attributes(&self) -> bool {
        self.data.attributes.len() > 0
    }
    /// The value of attribute `{ns}local` (`ns` `None` for unprefixed attributes).
    pub fn attribute(&self, ns: Option<&str>, local: &str) -> Option<&'a str> {
        self.attributes()
            .find(|a| a.local_name() == local && a.namespace() == ns)
            .map(|a| a.value())
    }
    /// Like [`Self::attribute`], but absence is an error.
    pub fn required_attribute(
        &self,
        ns: Option<&str>,
        local: &str,
    ) -> Result<&'a str, StructureError> {
        self.attribute(ns, local)
            .ok_or_else(|| StructureError::MissingAttribute {
                element: self.display_name(),
                attribute: expanded(ns, local),
            })
    }
    /// Namespace declarations written on this element's start tag.
    pub fn namespace_declarations(&self) -> &'a [NsDecl] {
        self.tree.declarations(self.data)
    }
    /// All namespaces in scope here, innermost declaration winning, sorted by prefix
    /// (default first). A default namespace undeclared with `xmlns=""` is absent. The `xml`
    /// prefix is not listed.
    pub fn in_scope_namespaces(&self) -> Vec<NsDecl> {
        let mut seen: Vec<NsDecl> = Vec::new();
        let mut note = |d: &NsDecl| {
            if !seen.iter().any(|s| s.prefix == d.prefix) {
                seen.push(d.clone());
            }
        };
        let mut cur = Some(self.id);
        while let Some(id) = cur {
            if let Some(e) = self.tree.element_data(id) {
                self.tree.declarations(e).iter().for_each(&mut note);
            }
            cur = self.tree.node(id).parent;
        }
        self.tree.inherited.iter().for_each(&mut note);
        seen.retain(|d| !d.uri.is_empty());
        seen.sort_by(|a, b| a.prefix.cmp(&b.prefix));
        seen
    }

    /// The parent element (none for the root or a fragment's top-level elements).
    pub fn parent(&self) -> Option<ElementRef<'a>> {
        self.tree
            .node(self.id)
            .parent
            .and_then(|p| self.tree.element(p))
    }
    /// Ancestors, nearest first.
    pub fn ancestors(&self) -> impl Iterator<Item = ElementRef<'a>> + 'a + use<'a> {
        std::iter::successors(self.parent(), |e| e.parent())
    }
    /// Whether `other` is this element or inside it.
    pub fn contains(&self, other: ElementRef<'_>) -> bool {
        std::ptr::eq(self.tree, other.tree)
            && (other.id == self.id || other.ancestors().any(|a| a.id == self.id))
    }

    /// Child nodes in order.
    pub fn children(&self) -> impl Iterator<Item = NodeRef<'a>> + 'a + use<'a> {
        let tree = self.tree;
        tree.child_ids(self.id).map(move |id| tree.node_ref(id))
    }
    /// Child elements in order.
    pub fn child_elements(&self) -> impl Iterator<Item = ElementRef<'a>> + 'a + use<'a> {
        let tree = self.tree;
        tree.child_ids(self.id)
            .filter_map(move |id| tree.element(id))
    }
    /// Child elements named `{ns}local`.
    pub fn children_named<'n>(
        &self,
        ns: Option<&'n str>,
        local: &'n str,
    ) -> impl Iterator<Item = ElementRef<'a>> + use<'a, 'n>
    where
        'a: 'n,
    {
        self.child_elements().filter(move |e| e.is(ns, local))
    }
    /// The first child element named `{ns}local`.
    pub fn child(&self, ns: Option<&str>, local: &str) -> Option<ElementRef<'a>> {
        self.child_elements().find(|e| e.is(ns, local))
    }
    /// The only child element named `{ns}local`: absent or repeated is an error.
    pub fn required_child(
        &self,
        ns: Option<&str>,
        local: &str,
    ) -> Result<ElementRef<'a>, StructureError> {
        self.optional_child(ns, local)?
            .ok_or_else(|| StructureError::MissingChild {
                parent: self.display_name(),
                child: expanded(ns, local),
            })
    }
    /// The child element named `{ns}local` if present; repeated is an error.
    pub fn optional_child(
        &self,
        ns: Option<&str>,
        local: &str,
    ) -> Result<Option<ElementRef<'a>>, StructureError> {
        let mut found = self.children_named(ns, local);
        let first = found.next();
        let more = found.count();
        if more > 0 {
            return Err(StructureError::RepeatedChild {
                parent: self.display_name(),
                child: expanded(ns, local),
                count: more + 1,
            });
        }
        Ok(first)
    }
    /// Fails when the element has non-whitespace text of its own (element-only content).
    pub fn require_no_text(&self) -> Result<(), StructureError> {
        let text = self
            .children()
            .any(|n| matches!(n, NodeRef::Text(t) if !t.trim_matches(is_xml_space).is_empty()));
        if text {
            Err(StructureError::UnexpectedText {
                element: self.display_name(),
            })
        } else {
            Ok(())
        }
    }
    /// The concatenated text of the direct text children.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for node in self.children() {
            if let NodeRef::Text(t) = node {
                out.push_str(t);
            }
        }
        out
    }
    /// The text with leading and trailing XML whitespace removed.
    pub fn trimmed_text(&self) -> String {
        self.text().trim_matches(is_xml_space).to_owned()
    }

    /// This element and all elements inside it, in document order.
    pub fn descendants(&self) -> Descendants<'a> {
        Descendants {
            tree: self.tree,
            next: self.id.index(),
            end: self.data.end as usize,
        }
    }

    /// Byte ranges of this element in the input.
    pub fn span(&self) -> ElementSpan {
        ElementSpan {
            start_tag: self.data.start_tag.range(),
            content: self.data.start_tag.end as usize..self.data.end_tag.start as usize,
            end_tag: self.data.end_tag.range(),
        }
    }
    /// Whether the element was written `<name/>`.
    pub fn is_self_closing(&self) -> bool {
        self.data.self_closing
    }
}

/// Pre-order iterator over elements: the index range of a subtree, in order.
#[derive(Debug)]
pub struct Descendants<'a> {
    tree: &'a Tree,
    next: usize,
    end: usize,
}

impl<'a> Iterator for Descendants<'a> {
    type Item = ElementRef<'a>;
    fn next(&mut self) -> Option<Self::Item> {
        while self.next < self.end {
            let id = NodeId(self.next as u32);
            self.next += 1;
            if let Some(e) = self.tree.element(id) {
                return Some(e);
            }
        }
        None
    }
}

/// The children of one element, following subtree ends from one child to the next.
pub(crate) struct ChildIds<'a> {
    tree: &'a Tree,
    next: usize,
    end: usize,
}

impl Iterator for ChildIds<'_> {
    type Item = NodeId;
    fn next(&mut self) -> Option<NodeId> {
        if self.next >= self.end {
            return None;
        }
        let id = self.next;
        self.next = match &self.tree.nodes.get(id)?.data {
            NodeData::Element(e) => e.end as usize,
            _ => id + 1,
        };
        Some(NodeId(id as u32))
    }
}

/// `{ns}local` or `local`.
pub(crate) fn expanded(ns: Option<&str>, local: &str) -> String {
    match ns {
        Some(ns) => format!("{{{ns}}}{local}"),
        None => local.to_owned(),
    }
}
