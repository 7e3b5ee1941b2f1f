//! The parser: the [`Lexer`] tokenizes (as quick-xml would), this module enforces what a
//! tokenizer leaves to the caller (no DTD, only predefined entities, UTF-8, character and
//! name rules, namespaces, limits) and builds the [`Tree`].
//!
//! Tokens take one of two ways. The usual ones (ordinary start tags, character data, the end
//! tag of the open element; [`Lexer::next_usual`], [`super::tag`]) are read in one pass and
//! added directly; everything else goes the general way ([`Lexer::next_token`]), which also
//! decides every error. Both ways share the code that adds attributes, elements and text, and
//! build the same tree for any input: the differential tests below and the `parse_paths`
//! fuzz target check that through `parse_outcome`.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_xml::events::{BytesDecl, BytesStart};

use super::chars::{
    bytes_cmp, decode_attribute_into, first_invalid_char, needs_attribute_decoding, push_text,
    resolve_reference, same, shorten, split_qname,
};
use super::error::{Limit, ParseError};
use super::ids::{IdAttributes, IdIndex};
use super::lexer::{Attributes, LexError, Lexer, Token, Usual};
use super::limits::Limits;
use super::scan::{find1, find2};
use super::tag::{Tag, TagAttr};
use super::tree::{
    Attr, Chars, Document, ElementData, Fragment, Name, Node, NodeData, NodeId, NsDecl, NsId, Span,
    Tree, XML_NS, is_xml_space,
};

const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

static NEXT_DOC_ID: AtomicU64 = AtomicU64::new(1);

/// How to parse: limits and which attributes are ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Size and shape limits.
    pub limits: Limits,
    /// Attributes indexed as element ids.
    pub id_attributes: IdAttributes,
}

impl Document {
    /// Parses a complete document. The bytes are kept, unchanged, in the document.
    pub fn parse(input: Vec<u8>, options: &ParseOptions) -> Result<Document, ParseError> {
        let (tree, root) = build(input, &[], options, Mode::Document, Paths::All)?;
        let root = root.ok_or(ParseError::NoRootElement)?;
        Ok(Document { tree, root })
    }

    /// Parses a copy of `input`.
    pub fn parse_slice(input: &[u8], options: &ParseOptions) -> Result<Document, ParseError> {
        Self::parse(input.to_vec(), options)
    }
}

impl Fragment {
    /// Parses element content (any mix of elements, text, comments and PIs) as if it stood
    /// where `context` (e.g. [`super::ElementRef::in_scope_namespaces`] of the new parent) is
    /// in scope. No XML declaration is allowed.
    pub fn parse(
        input: Vec<u8>,
        context: &[NsDecl],
        options: &ParseOptions,
    ) -> Result<Fragment, ParseError> {
        let (tree, _) = build(input, context, options, Mode::Fragment, Paths::All)?;
        Ok(Fragment { tree })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Document,
    Fragment,
}

fn build(
    input: Vec<u8>,
    context: &[NsDecl],
    options: &ParseOptions,
    mode: Mode,
    paths: Paths,
) -> Result<(Tree, Option<NodeId>), ParseError> {
    // The tree stores offsets as `u32` (see `Span`).
    let max_bytes = options.limits.max_bytes.min(u32::MAX as usize);
    if input.len() > max_bytes {
        return Err(ParseError::LimitExceeded {
            limit: Limit::Bytes,
            max: max_bytes,
            offset: max_bytes,
        });
    }
    let input = checked_input(input)?;
    let mut builder = Builder::new(options, context, mode, &input, paths);
    builder.run()?;
    let Builder {
        nodes,
        attrs,
        decls,
        decoded,
        top,
        namespaces,
        ids,
        root,
        ..
    } = builder;
    let tree = Tree {
        doc_id: NEXT_DOC_ID.fetch_add(1, Ordering::Relaxed),
        input,
        nodes,
        attrs,
        decls,
        decoded,
        top,
        namespaces,
        inherited: context.to_vec(),
        ids,
    };
    Ok((tree, root))
}

/// The whole input as UTF-8 containing only characters XML 1.0 allows. Every part of an
/// accepted document must meet this, so it is checked once, up front, and the parser then
/// slices names and text straight out of the input.
fn checked_input(input: Vec<u8>) -> Result<String, ParseError> {
    if input.starts_with(b"\xFE\xFF") || input.starts_with(b"\xFF\xFE") {
        return Err(ParseError::Encoding {
            found: "UTF-16 byte order mark".into(),
            offset: 0,
        });
    }
    let input = String::from_utf8(input).map_err(|e| ParseError::Encoding {
        found: "invalid UTF-8".into(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    let body_start = if input.starts_with('\u{FEFF}') { 3 } else { 0 };
    if let Some(at) = first_invalid_char(&input.as_bytes()[body_start..]) {
        return Err(ParseError::InvalidChar {
            offset: body_start + at,
        });
    }
    Ok(input)
}

/// Which ways the parser may read tokens: [`Self::All`] in production;
/// [`Self::GeneralOnly`] sends every token the general way, so that tests and the
/// differential fuzz target can check that both ways build the same tree.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Paths {
    All,
    #[cfg(any(test, feature = "fuzzing"))]
    GeneralOnly,
}

/// Parses `input` as a document the usual way (`usual_paths`) or with every token taken
/// the general way, and describes the outcome: the whole tree (without its identity) or
/// the error. Both ways must always give the same description.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub fn parse_outcome(input: &[u8], options: &ParseOptions, usual_paths: bool) -> String {
    let paths = if usual_paths {
        Paths::All
    } else {
        Paths::GeneralOnly
    };
    match build(input.to_vec(), &[], options, Mode::Document, paths) {
        Err(e) => format!("error: {e:?}"),
        Ok((t, root)) => format!(
            "{root:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            t.nodes,
            t.attrs,
            t.decls,
            t.decoded,
            t.top,
            t.namespaces,
            t.ids.entries(),
            t.ids.duplicates()
        ),
    }
}

/// Where an element's attributes and namespace declarations start in the arenas.
struct Marks {
    attrs: usize,
    decls: usize,
}

/// Character data being accumulated into one text node.
enum TextBuf {
    /// A single piece that needs no decoding: a range of the input.
    Range(Range<usize>),
    /// Decoded text: `decoded[start..]` (the text being built is always at the end).
    Decoded(usize),
}

/// One piece of character data.
#[derive(Clone, Copy)]
enum Piece<'i> {
    /// Text or CDATA content as written, at this offset.
    Raw(&'i str, usize),
    /// A resolved reference.
    Char(char),
}

/// Inputs up to this many nodes' worth of bytes size the node arena by estimate.
const INITIAL_NODES: usize = 1 << 14;

/// Initial capacity of the node arena. Indented SOAP/XHE documents have about one node
/// (element or text) per 12 bytes. Large inputs are often mostly base64 text instead, and
/// growing a large arena by doubling copies it and, with glibc's allocator, made every parse
/// of a 1 MB document fault its pages in again; so for them the tags are counted (a memchr
/// pass, about 1% of the parse): an element takes a start and an end tag and text stands
/// between tags, so nodes are about as many as `<`.
fn node_capacity(src: &str) -> usize {
    let estimate = src.len() / 12;
    if estimate <= INITIAL_NODES {
        return estimate;
    }
    memchr::memchr_iter(b'<', src.as_bytes()).count() + 1
}

struct Builder<'o, 'i> {
    options: &'o ParseOptions,
    mode: Mode,
    src: &'i str,
    nodes: Vec<Node>,
    attrs: Vec<Attr>,
    decls: Vec<NsDecl>,
    decoded: String,
    top: Vec<NodeId>,
    namespaces: Vec<String>,
    ns_lookup: HashMap<String, NsId>,
    /// The configured id attributes as (namespace, local name), namespaces interned up front
    /// so that matching an attribute compares ids, not URIs.
    id_attributes: Vec<(Option<NsId>, &'o str)>,
    ids: IdIndex,
    root: Option<NodeId>,
    /// Open elements.
    open: Vec<NodeId>,
    /// Prefix bindings in scope, innermost last; `None` namespace = undeclared default. The
    /// prefixes borrow from the input or the fragment's context.
    scope: Vec<(Option<&'i str>, Option<NsId>)>,
    /// `scope.len()` when each open element was entered.
    scope_marks: Vec<usize>,
    total_ns_decls: usize,
    /// Character data being accumulated, with its start offset.
    text: Option<(TextBuf, usize)>,
    /// Whether all of it is canonical as written (see [`Node::canonical`]).
    text_canonical: bool,
    /// Raw attribute names of the start tag being read, for the duplicate check (reused from
    /// tag to tag).
    keys: Vec<Range<usize>>,
    /// Whether the usual tokens are read apart ([`Lexer::next_usual`]); off only to compare
    /// both ways.
    usual_paths: bool,
}

impl<'o, 'i> Builder<'o, 'i> {
    fn new(
        options: &'o ParseOptions,
        context: &'i [NsDecl],
        mode: Mode,
        src: &'i str,
        paths: Paths,
    ) -> Self {
        let mut b = Builder {
            options,
            mode,
            src,
            nodes: Vec::with_capacity(node_capacity(src)),
            attrs: Vec::with_capacity((src.len() / 32).min(INITIAL_NODES)),
            decls: Vec::new(),
            decoded: String::with_capacity((src.len() / 16).min(INITIAL_NODES)),
            top: Vec::new(),
            namespaces: Vec::new(),
            ns_lookup: HashMap::new(),
            id_attributes: Vec::new(),
            ids: IdIndex::default(),
            root: None,
            open: Vec::new(),
            scope: Vec::new(),
            scope_marks: Vec::new(),
            total_ns_decls: 0,
            text: None,
            text_canonical: true,
            keys: Vec::new(),
            usual_paths: paths == Paths::All,
        };
        b.intern(XML_NS);
        for decl in context {
            let ns = (!decl.uri.is_empty()).then(|| b.intern(&decl.uri));
            b.scope.push((decl.prefix.as_deref(), ns));
        }
        for a in &options.id_attributes.0 {
            let ns = a.namespace.as_deref().map(|uri| b.intern(uri));
            b.id_attributes.push((ns, a.local.as_str()));
        }
        b
    }

    /// The URI of `ns`, `""` for no namespace.
    fn ns_uri(&self, ns: Option<NsId>) -> &str {
        ns.and_then(|n| self.namespaces.get(n.0 as usize))
            .map_or("", String::as_str)
    }

    fn intern(&mut self, uri: &str) -> NsId {
        if let Some(&id) = self.ns_lookup.get(uri) {
            return id;
        }
        let id = NsId(self.namespaces.len() as u32);
        self.namespaces.push(uri.to_owned());
        self.ns_lookup.insert(uri.to_owned(), id);
        id
    }

    fn limit(&self, limit: Limit, max: usize, offset: usize) -> ParseError {
        ParseError::LimitExceeded { limit, max, offset }
    }

    /// The input text of a token range (ranges end at ASCII delimiters, so they are always
    /// character boundaries; the fallback is unreachable).
    fn text(&self, range: Range<usize>, near: usize) -> Result<&'i str, ParseError> {
        self.src
            .get(range)
            .ok_or_else(|| syntax("token outside the input", near))
    }

    fn run(&mut self) -> Result<(), ParseError> {
        let src = self.src;
        let base = if src.starts_with('\u{FEFF}') { 3 } else { 0 };
        let mut lexer = Lexer::new(src.as_bytes(), base);
        let mut first = true;
        let limits = &self.options.limits;
        // More attributes than any tag within the limits can have: such a tag goes the
        // general way, which reports the limit.
        let max_attrs = limits
            .max_attributes
            .saturating_add(limits.max_namespace_declarations)
            .saturating_add(1);
        let mut tag_attrs = Vec::new();
        loop {
            let start = lexer.position();
            if self.usual_paths
                && let Some(usual) = lexer.next_usual(&mut tag_attrs, max_attrs)
            {
                first = false;
                self.usual_token(usual, &tag_attrs, start, lexer.position())?;
                continue;
            }
            let was_first = std::mem::replace(&mut first, false);
            let token = lexer.next_token().map_err(|e| {
                let LexError { error, offset } = *e;
                ParseError::Syntax {
                    reason: error.to_string(),
                    offset,
                }
            })?;
            let end = lexer.position();
            if self.token(token, start, end, was_first)? {
                break;
            }
        }
        let end = src.len();
        self.flush_text(end)?;
        if !self.open.is_empty() {
            return Err(syntax("unclosed element at end of input", end));
        }
        if self.mode == Mode::Document && self.root.is_none() {
            return Err(ParseError::NoRootElement);
        }
        Ok(())
    }

    /// Handles a token [`Lexer::next_usual`] read, which ended at `end`.
    fn usual_token(
        &mut self,
        usual: Usual,
        tag_attrs: &[TagAttr],
        start: usize,
        end: usize,
    ) -> Result<(), ParseError> {
        match usual {
            Usual::Start(tag) => {
                self.flush_text(start)?;
                self.open_scanned(&tag, tag_attrs, start)?;
                if tag.empty {
                    self.close_element(end, end)?;
                }
            }
            Usual::Text {
                range,
                refs: false,
                plain,
            } => self.text_piece(range, start, plain)?,
            Usual::Text {
                range,
                refs: true,
                plain,
            } => self.text_with_references(range, plain)?,
            Usual::End => {
                self.flush_text(start)?;
                self.close_element(start, end)?;
            }
        }
        Ok(())
    }

    /// Handles one token; `Ok(true)` at the end of the input.
    fn token(
        &mut self,
        token: Token,
        start: usize,
        end: usize,
        was_first: bool,
    ) -> Result<bool, ParseError> {
        match token {
            Token::Decl(content) if was_first && self.mode == Mode::Document => {
                let content = self.text(content, start)?;
                let decl = BytesDecl::from_start(BytesStart::from_content(content, 3));
                check_declaration(&decl, start)?
            }
            Token::Decl(_) => return Err(syntax("XML declaration not at the start", start)),
            Token::DocType => return Err(ParseError::DtdForbidden { offset: start }),
            Token::Start {
                content,
                name_len,
                empty,
            } => {
                self.flush_text(start)?;
                self.open_element(content, name_len, start, end, empty)?;
                if empty {
                    self.close_element(end, end)?;
                }
            }
            Token::End => {
                self.flush_text(start)?;
                self.close_element(start, end)?;
            }
            Token::Text {
                range,
                refs: false,
                plain,
            } => self.text_piece(range, start, plain)?,
            Token::Text {
                range,
                refs: true,
                plain,
            } => self.text_with_references(range, plain)?,
            Token::CData(range) => {
                let at = range.start;
                let raw = self.text(range, start)?;
                if self.outside_root() {
                    return Err(syntax("CDATA outside the root element", start));
                }
                self.push_chars(start, Piece::Raw(raw, at), Some(false))?;
            }
            Token::Comment(range) => {
                self.flush_text(start)?;
                let at = range.start;
                let raw = self.text(range, start)?;
                self.check_text_len(raw.len(), start)?;
                let text = self.normalized(raw, at);
                self.add_leaf(NodeData::Comment(text), start..end, false)?;
            }
            Token::Pi { target, content } => {
                self.flush_text(start)?;
                let target_at = target.start;
                let target = self.text(target, start)?;
                if target.eq_ignore_ascii_case("xml") || !super::chars::is_ncname(target) {
                    return Err(ParseError::InvalidName {
                        name: shorten(target),
                        offset: start,
                    });
                }
                let at = content.start;
                let raw = self.text(content, start)?;
                self.check_text_len(raw.len(), start)?;
                let trimmed = raw.trim_start_matches(is_xml_space);
                let data = self.normalized(trimmed, at + (raw.len() - trimmed.len()));
                let target = Span::new(target_at..target_at + target.len());
                self.add_leaf(NodeData::Pi { target, data }, start..end, false)?;
            }
            Token::Eof => return Ok(true),
        }
        Ok(false)
    }

    /// Character data as written (no reference), starting at `start`; `plain`: with no CR
    /// or `>`.
    fn text_piece(
        &mut self,
        range: Range<usize>,
        start: usize,
        plain: bool,
    ) -> Result<(), ParseError> {
        if plain && self.text.is_none() && !self.outside_root() {
            // The usual case: a text node that is canonical as written.
            self.check_text_len(range.len(), start)?;
            self.text_canonical = true;
            self.text = Some((TextBuf::Range(range), start));
            return Ok(());
        }
        let at = range.start;
        let raw = self.text(range, start)?;
        self.push_chars(start, Piece::Raw(raw, at), None)
    }

    /// `&name;` at `start`.
    fn reference(&mut self, name: Range<usize>, start: usize) -> Result<(), ParseError> {
        let name = self.text(name, start)?;
        let c = resolve_reference(name, start)?;
        if self.outside_root() {
            return Err(syntax("reference outside the root element", start));
        }
        // `&amp;`, `&lt;` and `&gt;` are how C14N writes these characters.
        let canonical = matches!(name, "amp" | "lt" | "gt");
        self.push_chars(start, Piece::Char(c), Some(canonical))
    }

    /// Character data with references (`range`, as the lexer found it: text and
    /// well-formed `&name;`; `plain`: no CR or `>` outside them). A new plain text node
    /// inside the root is decoded in one pass; when that meets anything irregular (a bad
    /// reference, the length limit), the text is not plain (CR to normalise, `>` to
    /// escape: rare next to references) or it continues other character data, it is taken
    /// piece by piece, which reports what is wrong where.
    fn text_with_references(&mut self, range: Range<usize>, plain: bool) -> Result<(), ParseError> {
        if plain && self.text.is_none() && !self.outside_root() {
            let from = self.decoded.len();
            let decoded = self.decode_text(range.clone());
            match decoded {
                Some(canonical)
                    if self.decoded.len() - from <= self.options.limits.max_text_len =>
                {
                    self.text_canonical = canonical;
                    self.text = Some((TextBuf::Decoded(from), range.start));
                    return Ok(());
                }
                _ => self.decoded.truncate(from),
            }
        }
        let mut at = range.start;
        while at < range.end {
            let rest = self.src.as_bytes().get(at..range.end).unwrap_or_default();
            match memchr::memchr(b'&', rest) {
                Some(0) => {
                    let semi = memchr::memchr(b';', rest).unwrap_or(rest.len());
                    self.reference(at + 1..at + semi, at)?;
                    at += semi + 1;
                }
                Some(len) => {
                    self.text_piece(at..at + len, at, false)?;
                    at += len;
                }
                None => {
                    self.text_piece(at..range.end, at, false)?;
                    at = range.end;
                }
            }
        }
        Ok(())
    }

    /// Appends the text of `range` (text and `&name;`, no CR or `>` outside them) to
    /// `decoded`: whether it is canonical as written. `None` at a reference that does not
    /// resolve.
    fn decode_text(&mut self, range: Range<usize>) -> Option<bool> {
        let text = self.src.get(range)?;
        let bytes = text.as_bytes();
        self.decoded.reserve(bytes.len());
        let mut canonical = true;
        let mut copied = 0;
        while let Some(i) = find1(b'&', bytes.get(copied..)?) {
            let name_at = copied + i + 1;
            let name_len = find1(b';', bytes.get(name_at..)?)?;
            let name = text.get(name_at..name_at + name_len)?;
            // `&amp;`, `&lt;` and `&gt;` are how C14N writes these characters.
            let c = match name.as_bytes() {
                b"amp" => '&',
                b"lt" => '<',
                b"gt" => '>',
                _ => {
                    canonical = false;
                    resolve_reference(name, 0).ok()?
                }
            };
            self.decoded.push_str(text.get(copied..name_at - 1)?);
            self.decoded.push(c);
            copied = name_at + name_len + 1;
        }
        self.decoded.push_str(text.get(copied..)?);
        Some(canonical)
    }

    fn outside_root(&self) -> bool {
        self.mode == Mode::Document && self.open.is_empty()
    }

    fn check_text_len(&self, len: usize, offset: usize) -> Result<(), ParseError> {
        let max = self.options.limits.max_text_len;
        if len > max {
            return Err(self.limit(Limit::TextLength, max, offset));
        }
        Ok(())
    }

    /// `raw` (at offset `at` of the input) with line ends normalised: the input range itself
    /// when there is nothing to normalise.
    fn normalized(&mut self, raw: &str, at: usize) -> Chars {
        if memchr::memchr(b'\r', raw.as_bytes()).is_none() {
            return Chars::Input(Span::new(at..at + raw.len()));
        }
        let from = self.decoded.len();
        push_text(&mut self.decoded, raw);
        Chars::Decoded(Span::new(from..self.decoded.len()))
    }

    /// Adds a piece to the text node being built. `canonical`: whether the piece as written
    /// is its canonical form (`None`: text, which is unless it has `>` or CR).
    fn push_chars(
        &mut self,
        start: usize,
        piece: Piece<'i>,
        canonical: Option<bool>,
    ) -> Result<(), ParseError> {
        if self.outside_root() {
            // Only whitespace may stand outside the root (CDATA/references were refused above).
            return match piece {
                Piece::Raw(raw, _) if raw.trim_matches(is_xml_space).is_empty() => Ok(()),
                _ => Err(syntax("text outside the root element", start)),
            };
        }
        if let (None, Piece::Raw(raw, at)) = (&self.text, piece)
            && !raw.is_empty()
        {
            // The usual case: the first piece of a text node, taken as a range of the input
            // when it has no CR to normalise.
            self.check_text_len(raw.len(), start)?;
            let bytes = raw.as_bytes();
            let (has_cr, has_gt) = match find2(b'\r', b'>', bytes) {
                None => (false, false),
                Some(_) => (find1(b'\r', bytes).is_some(), find1(b'>', bytes).is_some()),
            };
            if !has_cr {
                self.text_canonical = canonical.unwrap_or(!has_gt);
                self.text = Some((TextBuf::Range(at..at + raw.len()), start));
                return Ok(());
            }
        }
        let added = match &piece {
            Piece::Raw(raw, _) => raw.len(),
            Piece::Char(c) => c.len_utf8(),
        };
        if added == 0 {
            // An empty CDATA section adds no character (and no empty text node, which the
            // XPath data model canonicalization works on does not have), but its markup
            // stands in the parent's bytes.
            self.text_canonical = false;
            self.not_canonical(self.open.last().copied());
            return Ok(());
        }
        let current = match &self.text {
            None => 0,
            Some((TextBuf::Range(r), _)) => r.len(),
            Some((TextBuf::Decoded(from), _)) => self.decoded.len() - from,
        };
        self.check_text_len(current + added, start)?;
        // One scan answers both questions in the usual case (neither CR nor `>`).
        let (has_cr, has_gt) = match piece {
            Piece::Raw(raw, _) => match find2(b'\r', b'>', raw.as_bytes()) {
                None => (false, false),
                Some(_) => (raw.contains('\r'), raw.contains('>')),
            },
            Piece::Char(_) => (false, false),
        };
        let canonical = canonical.unwrap_or(!has_cr && !has_gt);
        if self.text.is_none() {
            self.text_canonical = canonical;
        } else {
            self.text_canonical &= canonical;
        }
        let (buf, text_start) = match self.text.take() {
            None => match piece {
                Piece::Raw(raw, at) if !has_cr => (TextBuf::Range(at..at + raw.len()), start),
                other => {
                    let from = self.decoded.len();
                    push_piece(&mut self.decoded, other, has_cr);
                    (TextBuf::Decoded(from), start)
                }
            },
            Some((TextBuf::Range(r), at)) => {
                let from = self.decoded.len();
                self.decoded.push_str(self.src.get(r).unwrap_or_default());
                push_piece(&mut self.decoded, piece, has_cr);
                (TextBuf::Decoded(from), at)
            }
            Some((TextBuf::Decoded(from), at)) => {
                push_piece(&mut self.decoded, piece, has_cr);
                (TextBuf::Decoded(from), at)
            }
        };
        self.text = Some((buf, text_start));
        Ok(())
    }

    fn flush_text(&mut self, end: usize) -> Result<(), ParseError> {
        if let Some((buf, start)) = self.text.take() {
            let chars = match buf {
                TextBuf::Range(r) => Chars::Input(Span::new(r)),
                TextBuf::Decoded(from) => Chars::Decoded(Span::new(from..self.decoded.len())),
            };
            self.add_leaf(NodeData::Text(chars), start..end, self.text_canonical)?;
        }
        Ok(())
    }

    #[inline]
    fn new_node(
        &mut self,
        data: NodeData,
        span: Range<usize>,
        canonical: bool,
    ) -> Result<NodeId, ParseError> {
        let max = self.options.limits.max_nodes;
        if self.nodes.len() >= max {
            return Err(self.limit(Limit::Nodes, max, span.start));
        }
        let id = NodeId(self.nodes.len() as u32);
        let parent = self.open.last().copied();
        if !canonical {
            self.not_canonical(parent);
        }
        self.nodes.push(Node {
            parent,
            canonical,
            data,
            span: Span::new(span),
        });
        if parent.is_none() {
            self.top.push(id);
        }
        Ok(id)
    }

    fn add_leaf(
        &mut self,
        data: NodeData,
        span: Range<usize>,
        canonical: bool,
    ) -> Result<(), ParseError> {
        self.new_node(data, span, canonical).map(|_| ())
    }

    /// A child of `parent` is not canonical as written, so neither is `parent`'s subtree.
    fn not_canonical(&mut self, parent: Option<NodeId>) {
        if let Some(node) = parent.and_then(|p| self.nodes.get_mut(p.index())) {
            node.canonical = false;
        }
    }

    // Inlined (as `name` and `new_node`): returned through memory, their results were
    // reloaded with wider loads than the stores that wrote them (store-forwarding stalls).
    #[inline]
    fn lookup_prefix(
        &self,
        prefix: Option<&str>,
        offset: usize,
    ) -> Result<Option<NsId>, ParseError> {
        if prefix == Some("xml") {
            return Ok(Some(NsId(0)));
        }
        for &(p, ns) in self.scope.iter().rev() {
            let same = match (p, prefix) {
                (None, None) => true,
                (Some(a), Some(b)) => same(a.as_bytes(), b.as_bytes()),
                _ => false,
            };
            if same {
                return Ok(ns);
            }
        }
        match prefix {
            None => Ok(None),
            Some(p) => Err(ParseError::UndeclaredPrefix {
                prefix: shorten(p),
                offset,
            }),
        }
    }

    /// A name as written at `at`, checked as a QName.
    #[inline]
    fn name(
        &self,
        qname: &'i str,
        at: usize,
        offset: usize,
    ) -> Result<(Name, Option<&'i str>), ParseError> {
        let (prefix, _) = split_qname(qname).ok_or_else(|| ParseError::InvalidName {
            name: shorten(qname),
            offset,
        })?;
        let name = Name {
            span: Span::new(at..at + qname.len()),
            colon: prefix.map_or(0, |p| p.len() as u32),
            ns: None,
        };
        Ok((name, prefix))
    }

    /// Refuses a new element where none may start (after the root, beyond the depth limit).
    fn check_element_allowed(&self, start: usize) -> Result<(), ParseError> {
        let limits = &self.options.limits;
        if self.outside_root() && self.root.is_some() {
            return Err(syntax("content after the root element", start));
        }
        if self.open.len() >= limits.max_depth {
            return Err(self.limit(Limit::Depth, limits.max_depth, start));
        }
        Ok(())
    }

    /// A start tag the general way: `content` as the lexer found it.
    fn open_element(
        &mut self,
        content: Range<usize>,
        name_len: usize,
        start: usize,
        end: usize,
        empty: bool,
    ) -> Result<(), ParseError> {
        self.check_element_allowed(start)?;
        let at = content.start;
        let qname = self.text(at..at + name_len, start)?;
        let (name, prefix) = self.name(qname, at, start)?;
        let marks = self.element_marks();
        let written_end = content.end;
        let layout_end = self.read_attributes(
            Attributes::new(self.src.as_bytes(), content, name_len),
            &marks,
            start,
        )?;
        let c14n_layout = layout_end == Some(written_end);
        self.finish_element(name, prefix, &marks, c14n_layout, start..end, empty)
    }

    /// A start tag read in one pass ([`super::tag::scan`]): names already checked as
    /// QNames, values already checked for what needs decoding.
    fn open_scanned(
        &mut self,
        tag: &Tag,
        attrs: &[TagAttr],
        start: usize,
    ) -> Result<(), ParseError> {
        self.check_element_allowed(start)?;
        let qname = self.text(tag.name.clone(), start)?;
        let name = Name {
            span: Span::new(tag.name.clone()),
            colon: tag.colon,
            ns: None,
        };
        let prefix = qname.get(..tag.colon as usize).filter(|p| !p.is_empty());
        let marks = self.element_marks();
        let mut c14n_layout = tag.c14n_layout;
        for attr in attrs {
            let key = self.text(attr.key.clone(), start)?;
            let checked = Some((attr.colon, attr.plain));
            let as_written = self.attribute(
                key,
                attr.key.start,
                attr.value.clone(),
                checked,
                &marks,
                start,
            )?;
            c14n_layout &= as_written;
        }
        self.finish_element(name, prefix, &marks, c14n_layout, start..tag.end, tag.empty)
    }

    /// Where the new element's attributes and declarations start; brings a new namespace
    /// scope.
    fn element_marks(&mut self) -> Marks {
        self.scope_marks.push(self.scope.len());
        Marks {
            attrs: self.attrs.len(),
            decls: self.decls.len(),
        }
    }

    /// Completes a start tag whose attributes and declarations have been added: resolves
    /// the namespaces, refuses duplicate attributes, adds the node. `c14n_layout`: whether
    /// the tag as written would be C14N's so far (attribute order aside).
    fn finish_element(
        &mut self,
        mut name: Name,
        prefix: Option<&str>,
        marks: &Marks,
        c14n_layout: bool,
        span: Range<usize>,
        empty: bool,
    ) -> Result<(), ParseError> {
        let start = span.start;
        name.ns = self.lookup_prefix(prefix, start)?;
        // Canonical as written so far: `<name a="v">` laid out as C14N writes it, nothing
        // declared; the attribute order is checked below, the content as it is added.
        let mut canonical = !empty && c14n_layout && self.decls.len() == marks.decls;
        let src = self.src;
        let bytes = src.as_bytes();
        let attrs_start = marks.attrs;
        let id = NodeId(self.nodes.len() as u32);
        for i in attrs_start..self.attrs.len() {
            let ns = match self.attrs[i].name.colon {
                0 => None,
                _ => self.lookup_prefix(self.attrs[i].name.prefix(src), start)?,
            };
            self.attrs[i].name.ns = ns;
            let attr = &self.attrs[i];
            let local = attr.name.local_bytes(bytes);
            let duplicate = self.attrs[attrs_start..i]
                .iter()
                .any(|a| a.name.ns == ns && same(a.name.local_bytes(bytes), local));
            if duplicate {
                return Err(ParseError::DuplicateAttribute {
                    name: shorten(attr.name.qname(src)),
                    offset: start,
                });
            }
            if canonical && i > attrs_start {
                let previous = &self.attrs[i - 1].name;
                let order = match previous.ns == ns {
                    true => std::cmp::Ordering::Equal,
                    false => bytes_cmp(
                        self.ns_uri(previous.ns).as_bytes(),
                        self.ns_uri(ns).as_bytes(),
                    ),
                };
                canonical = order
                    .then_with(|| previous.local_bytes(bytes).cmp(local))
                    .is_lt();
            }
            let is_id = self
                .id_attributes
                .iter()
                .any(|&(id_ns, id_local)| id_ns == ns && same(id_local.as_bytes(), local));
            if is_id {
                let value = match &attr.value {
                    Chars::Input(r) => src.get(r.range()),
                    Chars::Decoded(r) => self.decoded.get(r.range()),
                };
                self.ids.insert(value.unwrap_or_default(), id);
            }
        }
        let end = span.end;
        let data = ElementData {
            name,
            attributes: Span::new(attrs_start..self.attrs.len()),
            ns_decls: Span::new(marks.decls..self.decls.len()),
            end: 0,
            start_tag: Span::new(start..end),
            end_tag: Span::new(end..end),
            self_closing: empty,
        };
        self.new_node(NodeData::Element(data), span, canonical)?;
        if self.open.is_empty() && self.mode == Mode::Document {
            self.root = Some(id);
        }
        self.open.push(id);
        Ok(())
    }

    /// Reads the attributes of a start tag the general way (quick-xml's rules), adding
    /// each with [`Self::attribute`].
    ///
    /// Returns where the tag content ends if it is laid out as C14N writes attributes (each
    /// ` name="value"`, single space, double quotes, values needing no escaping).
    fn read_attributes(
        &mut self,
        mut attributes: Attributes<'_>,
        marks: &Marks,
        start: usize,
    ) -> Result<Option<usize>, ParseError> {
        let bytes = self.src.as_bytes();
        let mut layout_end = Some(attributes.name_end());
        self.keys.clear();
        while let Some(attr) = attributes.next_attribute(&mut self.keys) {
            let attr = attr.map_err(|e| syntax(&e.to_string(), start))?;
            let key_at = attr.key.start;
            layout_end = layout_end.filter(|&end| {
                end + 1 == key_at
                    && bytes.get(end) == Some(&b' ')
                    && attr.key.end + 2 == attr.value.start
                    && bytes.get(attr.key.end..attr.value.start) == Some(b"=\"")
            });
            layout_end = layout_end.map(|_| attr.value.end + 1);
            let key = self.text(attr.key, start)?;
            if !self.attribute(key, key_at, attr.value, None, marks, start)? {
                layout_end = None;
            }
        }
        Ok(layout_end)
    }

    /// Adds one attribute of the element being opened: a namespace declaration is
    /// appended to `self.decls` and brought into scope, another attribute appended to
    /// `self.attrs` (its namespace resolved by [`Self::finish_element`]), with limits and
    /// declaration rules checked. `checked`: the prefix length and whether the value is
    /// plain, when a one-pass scan has established them. Returns whether the value stands
    /// as C14N writes it.
    fn attribute(
        &mut self,
        key: &'i str,
        key_at: usize,
        value: Range<usize>,
        checked: Option<(u32, bool)>,
        marks: &Marks,
        start: usize,
    ) -> Result<bool, ParseError> {
        let limits = &self.options.limits;
        if value.len() > limits.max_attribute_len {
            return Err(self.limit(Limit::AttributeLength, limits.max_attribute_len, start));
        }
        let raw_at = value.start;
        let raw = self.text(value, start)?;
        let prefix = if key == "xmlns" {
            None
        } else if let Some(p) = key.strip_prefix("xmlns:") {
            Some(p)
        } else {
            if self.attrs.len() - marks.attrs >= limits.max_attributes {
                return Err(self.limit(Limit::Attributes, limits.max_attributes, start));
            }
            let plain = checked.map_or_else(|| !needs_attribute_decoding(raw), |(_, p)| p);
            let value = if plain {
                Chars::Input(Span::new(raw_at..raw_at + raw.len()))
            } else {
                let from = self.decoded.len();
                decode_attribute_into(&mut self.decoded, raw, start)?;
                Chars::Decoded(Span::new(from..self.decoded.len()))
            };
            let name = match checked {
                Some((colon, _)) => Name {
                    span: Span::new(key_at..key_at + key.len()),
                    colon,
                    ns: None,
                },
                None => self.name(key, key_at, start)?.0,
            };
            self.attrs.push(Attr { name, value });
            return Ok(plain);
        };
        self.declare_namespace(key, prefix, raw, marks, start)?;
        // Declarations are never copied as written (C14N decides which to render; a
        // redundant `xmlns:xml` is dropped by `check_ns_decl` and never rendered).
        Ok(false)
    }

    /// The declaration `key="raw"` (`prefix`: `None` for the default namespace).
    fn declare_namespace(
        &mut self,
        key: &str,
        prefix: Option<&'i str>,
        raw: &str,
        marks: &Marks,
        start: usize,
    ) -> Result<(), ParseError> {
        let limits = &self.options.limits;
        let mut value = String::with_capacity(raw.len());
        decode_attribute_into(&mut value, raw, start)?;
        let Some(decl) = check_ns_decl(key, prefix, value, start)? else {
            return Ok(());
        };
        if self.decls.len() - marks.decls >= limits.max_namespace_declarations {
            let max = limits.max_namespace_declarations;
            return Err(self.limit(Limit::NamespaceDeclarations, max, start));
        }
        if self.total_ns_decls >= limits.max_total_namespace_declarations {
            let max = limits.max_total_namespace_declarations;
            return Err(self.limit(Limit::TotalNamespaceDeclarations, max, start));
        }
        self.total_ns_decls += 1;
        let ns = (!decl.uri.is_empty()).then(|| self.intern(&decl.uri));
        self.scope.push((prefix, ns));
        self.decls.push(decl);
        Ok(())
    }

    fn close_element(&mut self, start: usize, end: usize) -> Result<(), ParseError> {
        let Some(id) = self.open.pop() else {
            return Err(syntax("end tag without start tag", start));
        };
        if let Some(mark) = self.scope_marks.pop() {
            self.scope.truncate(mark);
        }
        let subtree_end = self.nodes.len();
        let node = &mut self.nodes[id.index()];
        node.span.end = end as u32;
        if let NodeData::Element(e) = &mut node.data {
            e.end_tag = Span::new(start..end);
            e.end = subtree_end as u32;
            // `</name>`, nothing else.
            node.canonical &= end - start == e.name.span.len() + 3;
        }
        if !node.canonical {
            let parent = node.parent;
            self.not_canonical(parent);
        }
        Ok(())
    }
}

/// Applies the Namespaces in XML 1.0 rules to one declaration. `Ok(None)`: a redundant but
/// legal `xmlns:xml` declaration, which canonical forms never show.
fn check_ns_decl(
    key: &str,
    prefix: Option<&str>,
    uri: String,
    offset: usize,
) -> Result<Option<NsDecl>, ParseError> {
    let forbidden = || ParseError::ForbiddenNamespaceDeclaration {
        declaration: shorten(key),
        offset,
    };
    match prefix {
        Some("xml") if uri == XML_NS => return Ok(None),
        Some("xml") | Some("xmlns") => return Err(forbidden()),
        Some(p) if !super::chars::is_ncname(p) => {
            return Err(ParseError::InvalidName {
                name: shorten(key),
                offset,
            });
        }
        // Undeclaring a prefix (`xmlns:p=""`) is XML 1.1 only.
        Some(_) if uri.is_empty() => return Err(forbidden()),
        _ => {}
    }
    if uri == XML_NS || uri == XMLNS_NS {
        return Err(forbidden());
    }
    Ok(Some(NsDecl {
        prefix: prefix.map(str::to_owned),
        uri,
    }))
}

fn check_declaration(decl: &BytesDecl<'_>, offset: usize) -> Result<(), ParseError> {
    let version = decl.version().map_err(|e| syntax(&e.to_string(), offset))?;
    if version.as_ref() != b"1.0" {
        return Err(syntax("only XML version 1.0 is accepted", offset));
    }
    if let Some(encoding) = decl.encoding() {
        let encoding = encoding.map_err(|e| syntax(&e.to_string(), offset))?;
        if !encoding.eq_ignore_ascii_case(b"utf-8") {
            return Err(ParseError::Encoding {
                found: format!(
                    "declared encoding {}",
                    shorten(&String::from_utf8_lossy(&encoding))
                ),
                offset,
            });
        }
    }
    Ok(())
}

fn syntax(reason: &str, offset: usize) -> ParseError {
    ParseError::Syntax {
        reason: reason.to_owned(),
        offset,
    }
}

/// Appends one piece; `has_cr`: whether a raw piece has a CR to normalise (in text, that is
/// the only normalisation).
fn push_piece(out: &mut String, piece: Piece<'_>, has_cr: bool) {
    match piece {
        Piece::Raw(raw, _) if !has_cr => out.push_str(raw),
        Piece::Raw(raw, _) => push_text(out, raw),
        Piece::Char(c) => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::Limits;

    #[test]
    fn node_arena_is_sized_by_estimate_for_small_inputs_and_by_tags_for_large_ones() {
        let small = "<a><b/>text</a>";
        assert_eq!(node_capacity(small), small.len() / 12);
        // A large document that is mostly one base64 text node: three nodes, not one per
        // 12 bytes.
        let base64 = format!("<a><b>{}</b></a>", "QUJD".repeat(1 << 18));
        assert_eq!(node_capacity(&base64), 5);
        // Many small elements: about one node per `<`.
        let many = "<e>x</e>".repeat(1 << 16);
        assert_eq!(node_capacity(&many), (1 << 17) + 1);
    }

    /// Parses `input` both ways; whether it was accepted.
    fn assert_both_ways_agree(input: &[u8], options: &ParseOptions) -> bool {
        let general = parse_outcome(input, options, false);
        assert_eq!(
            parse_outcome(input, options, true),
            general,
            "input {:?}",
            String::from_utf8_lossy(input)
        );
        !general.starts_with("error")
    }

    /// Start tags in the variations the one-pass reader accepts and the ones it leaves to
    /// the general path (each part irregular one time in 40), inside a root that
    /// declares the prefixes used.
    fn generated_documents() -> Vec<String> {
        type Choices = (&'static [&'static str], &'static [&'static str]);
        const NAMES: Choices = (
            &["a", "p:b", "wsu:c", "Id"],
            &["x:y:z", "é", "1a", "p:", "q:a"],
        );
        const KEYS: Choices = (
            &[
                "a", "b", "p:a", "wsu:a", "Id", "wsu:Id", "xml:lang", "xmlns", "xmlns:q",
            ],
            &["xmlns:xml", "xmlns:xmlns", "é", "a:b:c", "q:a", "xmlns:p"],
        );
        const VALUES: Choices = (
            &[
                "\"v\"",
                "'v'",
                "\"\"",
                "\"urn:q\"",
                "\"a&amp;b\"",
                "\"x>y\"",
                "'say \"hi\"'",
            ],
            &[
                "\"a&bad;\"",
                "\"t\tn\nr\r\"",
                "\"<\"",
                "v",
                "\"unclosed",
                "\"long-value\"",
            ],
        );
        const GAPS: Choices = (&[" "], &["  ", "\t", "\n", ""]);
        const EQUALS: Choices = (&["="], &[" = ", "= ", ""]);
        const ENDS: Choices = (&[">", "/>"], &[" >", " />", "/ >", ""]);
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = |n: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize % n
        };
        let mut pick = |(good, bad): Choices| {
            let from = if next(40) == 0 { bad } else { good };
            from[next(from.len())]
        };
        let mut documents = Vec::new();
        for _ in 0..20_000 {
            let mut doc = String::from("<r xmlns:p=\"urn:p\" xmlns:wsu=\"urn:w\">");
            let mut open = Vec::new();
            for tag in 0..4 {
                let name = pick(NAMES);
                doc.push('<');
                doc.push_str(name);
                for _ in 0..tag {
                    doc.push_str(pick(GAPS));
                    doc.push_str(pick(KEYS));
                    doc.push_str(pick(EQUALS));
                    doc.push_str(pick(VALUES));
                }
                let end = pick(ENDS);
                doc.push_str(end);
                if end.ends_with('>') && !end.contains('/') {
                    open.push(name);
                }
                doc.push_str(pick((&["", "t"], &["&amp;", "\n "])));
            }
            while let Some(name) = open.pop() {
                doc.push_str(&format!("</{name}>"));
            }
            doc.push_str("</r>");
            documents.push(doc);
        }
        documents
    }

    #[test]
    fn one_pass_tags_parse_exactly_as_the_general_path_on_generated_documents() {
        let small = ParseOptions {
            limits: Limits {
                max_attributes: 2,
                max_namespace_declarations: 1,
                max_total_namespace_declarations: 4,
                max_attribute_len: 8,
                max_depth: 3,
                ..Limits::default()
            },
            ..ParseOptions::default()
        };
        let mut accepted = 0;
        for doc in generated_documents() {
            accepted += usize::from(assert_both_ways_agree(
                doc.as_bytes(),
                &ParseOptions::default(),
            ));
            assert_both_ways_agree(doc.as_bytes(), &small);
        }
        // Both acceptance and refusal are exercised.
        assert!((2_000..18_000).contains(&accepted), "{accepted} accepted");
    }

    #[test]
    fn one_pass_tags_parse_exactly_as_the_general_path_on_the_reference_documents() {
        let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
        let mut files = Vec::new();
        let mut dirs = vec![shared.join("sdk-reference"), shared.join("spec")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "xml") {
                    files.push(path);
                }
            }
        }
        let mut accepted = 0;
        for file in &files {
            let bytes = std::fs::read(file).unwrap();
            accepted += usize::from(assert_both_ways_agree(&bytes, &ParseOptions::default()));
        }
        // Without `../shared` beside the checkout there is nothing to compare.
        assert!(files.is_empty() || accepted > 0);
    }
}
