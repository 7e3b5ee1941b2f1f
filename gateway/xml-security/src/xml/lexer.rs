//! The tokenizer: splits the input into character data, references and markup.
//!
//! It accepts and refuses exactly what quick-xml 0.38's slice reader does with the
//! configuration this parser used to run it with (comment checks and end-name checks on,
//! empty elements not expanded, nothing trimmed, no dangling `&`), reports the same errors
//! (quick-xml's own error values, so the texts are identical) at the same offsets, and
//! iterates attributes as quick-xml's checked attribute iterator does. It exists because
//! quick-xml's event reader alone took 16 µs of a 10 KB document, half the RSA-3072
//! operation the whole verification is measured against; this one is a single pass over
//! borrowed input with no per-token allocation. Everything above the token level (names,
//! characters, references, namespaces, limits, DTD refusal) is the parser's job, as before.
//!
//! Offsets are absolute byte offsets of the input.

use std::ops::Range;

use quick_xml::errors::{Error, IllFormedError, SyntaxError};
use quick_xml::events::attributes::AttrError;

use super::chars::same;
use super::scan::{find1, find2, find3, text_run};
use super::tag::{self, Tag, TagAttr};

/// One token. Ranges are byte ranges of the input.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Token {
    /// Character data up to the next `<` (or a malformed reference), with the well-formed
    /// references `&name;` it contains when `refs` (the names are not checked here). Where
    /// quick-xml reports text and references as separate events, this is one token: text
    /// with entities is one text node, and most of its cost was the token round trips.
    Text {
        range: Range<usize>,
        refs: bool,
        /// No CR or `>` outside the references: with no reference, canonical as written.
        plain: bool,
    },
    /// `<![CDATA[...]]>`: the content.
    CData(Range<usize>),
    /// `<!--...-->`: the content.
    Comment(Range<usize>),
    /// `<!DOCTYPE ...>`.
    DocType,
    /// `<?xml ...?>`: everything between `<?` and `?>`.
    Decl(Range<usize>),
    /// `<?target content?>`; `content` keeps its leading whitespace.
    Pi {
        target: Range<usize>,
        content: Range<usize>,
    },
    /// `<content>` (`empty`: `<content/>`, the `/` not included); the name is the first
    /// `name_len` bytes of `content`, attributes follow.
    Start {
        content: Range<usize>,
        name_len: usize,
        empty: bool,
    },
    /// `</name>`, already checked against the open start tag.
    End,
    /// End of input.
    Eof,
}

/// A token of the kinds [`Lexer::next_usual`] reads.
#[derive(Debug)]
pub(super) enum Usual {
    /// As [`Token::Start`], read by [`super::tag::scan`].
    Start(Tag),
    /// As [`Token::Text`].
    Text {
        range: Range<usize>,
        refs: bool,
        plain: bool,
    },
    /// As [`Token::End`].
    End,
}

/// A tokenizer error: quick-xml's error value and where quick-xml reported it.
#[derive(Debug)]
pub(super) struct LexError {
    pub(super) error: Error,
    pub(super) offset: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before character data (or the next token).
    Text,
    /// At a `&` that does not start a well-formed reference.
    BadRef,
    /// Just after a `<`.
    Markup,
    /// At the end of the input.
    Done,
}

#[derive(Clone, Copy)]
enum Bang {
    Comment,
    CData,
    DocType,
}

impl Bang {
    fn unclosed(self) -> SyntaxError {
        match self {
            Bang::Comment => SyntaxError::UnclosedComment,
            Bang::CData => SyntaxError::UnclosedCData,
            Bang::DocType => SyntaxError::UnclosedDoctype,
        }
    }
}

/// XML whitespace.
pub(super) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Length of the first word of `bytes` (up to XML whitespace).
fn name_len(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|&b| is_space(b))
        .unwrap_or(bytes.len())
}

fn error(error: Error, offset: usize) -> Result<Token, Box<LexError>> {
    Err(Box::new(LexError { error, offset }))
}

/// UTF-8 of a name for an error message (names are cut at ASCII bytes, so always whole
/// characters; quick-xml shows an empty name otherwise).
fn text_of(bytes: &[u8]) -> String {
    std::str::from_utf8(bytes).unwrap_or_default().to_owned()
}

/// Index of the `>` that ends a tag: the first one outside `'...'` and `"..."`. Tags are
/// short, so a byte loop beats memchr's per-call setup; quoted values are skipped with
/// [`find1`].
fn tag_end(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'>' => return Some(i),
            b'"' | b'\'' => i += 1 + find1(b, bytes.get(i + 1..)?)?,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The tokenizer over `src`.
pub(super) struct Lexer<'i> {
    src: &'i [u8],
    pos: usize,
    state: State,
    /// Names of the open start tags, innermost last.
    open: Vec<Range<usize>>,
}

impl<'i> Lexer<'i> {
    /// Tokenizes `src` from offset `start` (after a byte order mark).
    pub(super) fn new(src: &'i [u8], start: usize) -> Self {
        Lexer {
            src,
            pos: start.min(src.len()),
            state: State::Text,
            open: Vec::new(),
        }
    }

    /// Where the next token starts (its `<` when the previous token ended at one).
    pub(super) fn position(&self) -> usize {
        match self.state {
            State::Markup => self.pos - 1,
            _ => self.pos,
        }
    }

    /// The next token.
    pub(super) fn next_token(&mut self) -> Result<Token, Box<LexError>> {
        loop {
            match self.state {
                State::Text => {
                    if let Some(token) = self.text() {
                        return Ok(token);
                    }
                }
                State::BadRef => return self.bad_reference(),
                State::Markup => return self.markup(),
                State::Done => return Ok(Token::Eof),
            }
        }
    }

    /// Character data from the current position: up to the next `<`, a malformed reference
    /// or the end of the input. `None` when it is empty (the next token is markup).
    fn text(&mut self) -> Option<Token> {
        let start = self.pos;
        let mut at = start;
        let mut refs = false;
        let mut special = false;
        let end = loop {
            let rest = &self.src[at..];
            let (found, not_as_written) = text_run(rest);
            special |= not_as_written;
            match found {
                Some(i) if rest[i] == b'<' => {
                    self.pos = at + i + 1;
                    self.state = State::Markup;
                    break at + i;
                }
                Some(i) => {
                    let amp = at + i;
                    let after = &self.src[amp + 1..];
                    match find3(b';', b'&', b'<', after) {
                        Some(len) if after[len] == b';' => {
                            refs = true;
                            at = amp + len + 2;
                        }
                        _ => {
                            self.pos = amp;
                            self.state = State::BadRef;
                            break amp;
                        }
                    }
                }
                None => {
                    self.state = State::Done;
                    self.pos = self.src.len();
                    if start == self.pos {
                        return Some(Token::Eof);
                    }
                    break self.pos;
                }
            }
        };
        (end > start).then_some(Token::Text {
            range: start..end,
            refs,
            plain: !special,
        })
    }

    /// At a `&` with no `;` before the next `&`, `<` or the end of the input: quick-xml's
    /// error, and where it resumes.
    fn bad_reference(&mut self) -> Result<Token, Box<LexError>> {
        let start = self.pos;
        let after = &self.src[start + 1..];
        let unclosed = Error::IllFormed(IllFormedError::UnclosedReference);
        self.state = State::Text;
        match find2(b'&', b'<', after) {
            Some(i) if after[i] == b'<' => {
                self.pos = start + i + 2;
                self.state = State::Markup;
            }
            Some(i) => self.pos = start + i + 1,
            None => {
                self.pos = self.src.len();
                self.state = State::Done;
            }
        }
        error(unclosed, start)
    }

    /// Just after `<`.
    fn markup(&mut self) -> Result<Token, Box<LexError>> {
        self.state = State::Text;
        let start = self.pos;
        match self.src.get(start) {
            Some(b'!') => self.bang(start),
            Some(b'/') => self.end_tag(start),
            Some(b'?') => self.question(start),
            Some(_) => self.start_tag(start),
            None => error(Error::Syntax(SyntaxError::UnclosedTag), start - 1),
        }
    }

    /// `<!`: comment, CDATA section or DOCTYPE.
    fn bang(&mut self, start: usize) -> Result<Token, Box<LexError>> {
        let rest = &self.src[start..];
        let kind = match rest.get(1) {
            Some(b'-') => Bang::Comment,
            Some(b'[') => Bang::CData,
            Some(b'D' | b'd') => Bang::DocType,
            _ => return error(Error::Syntax(SyntaxError::InvalidBangMarkup), start - 1),
        };
        let found = match kind {
            Bang::Comment => {
                memchr::memchr_iter(b'>', rest).find(|&i| i > 4 && rest[..i].ends_with(b"--"))
            }
            Bang::CData => memchr::memchr_iter(b'>', rest).find(|&i| rest[..i].ends_with(b"]]")),
            Bang::DocType => {
                let mut balance = 0usize;
                let mut end = None;
                for i in memchr::memchr2_iter(b'<', b'>', rest) {
                    if rest[i] == b'<' {
                        balance += 1;
                    } else if balance == 0 {
                        end = Some(i);
                        break;
                    } else {
                        balance -= 1;
                    }
                }
                end
            }
        };
        let Some(len) = found else {
            self.pos = self.src.len();
            return error(Error::Syntax(kind.unclosed()), start - 1);
        };
        self.pos = start + len + 1;
        let buf = &rest[..len];
        match kind {
            Bang::Comment if buf.starts_with(b"!--") => {
                self.check_comment(buf)?;
                Ok(Token::Comment(start + 3..start + len - 2))
            }
            Bang::CData if buf.starts_with(b"![CDATA[") && len >= 10 => {
                Ok(Token::CData(start + 8..start + len - 2))
            }
            Bang::DocType if buf.len() >= 8 && buf[..8].eq_ignore_ascii_case(b"!DOCTYPE") => {
                if buf[8..].iter().all(|&b| is_space(b)) {
                    let missing = Error::IllFormed(IllFormedError::MissingDoctypeName);
                    return error(missing, self.pos - 1);
                }
                Ok(Token::DocType)
            }
            _ => error(Error::Syntax(kind.unclosed()), start - 1),
        }
    }

    /// `--` inside a comment (`buf` is `!--...--`). The offset is computed as quick-xml
    /// does (from the position within the remaining search, not the comment).
    fn check_comment(&self, buf: &[u8]) -> Result<(), Box<LexError>> {
        let len = buf.len();
        let mut haystack = &buf[3..len - 2];
        let mut off = 0;
        while let Some(p) = memchr::memchr(b'-', haystack) {
            off += p + 1;
            if buf[3 + off] == b'-' {
                return Err(Box::new(LexError {
                    error: Error::IllFormed(IllFormedError::DoubleHyphenInComment),
                    offset: self.pos - len + 2 + p,
                }));
            }
            haystack = &haystack[p + 1..];
        }
        Ok(())
    }

    /// `</`: an end tag, which must close the innermost open start tag.
    fn end_tag(&mut self, start: usize) -> Result<Token, Box<LexError>> {
        if let Some(end) = self.end_of_open_element(start) {
            self.pos = end;
            self.open.pop();
            return Ok(Token::End);
        }
        let rest = &self.src[start..];
        let Some(len) = tag_end(rest) else {
            self.pos = self.src.len();
            return error(Error::Syntax(SyntaxError::UnclosedTag), start - 1);
        };
        self.pos = start + len + 1;
        let content = &rest[1..len];
        let name = match content.iter().rposition(|&b| !is_space(b)) {
            Some(last) => &content[..=last],
            None => content,
        };
        match self.open.pop() {
            Some(open) if &self.src[open.clone()] == name => Ok(Token::End),
            Some(open) => {
                let mismatch = IllFormedError::MismatchedEndTag {
                    expected: text_of(&self.src[open]),
                    found: text_of(name),
                };
                error(Error::IllFormed(mismatch), start - 1)
            }
            None => {
                let unmatched = IllFormedError::UnmatchedEndTag(text_of(name));
                error(Error::IllFormed(unmatched), start - 1)
            }
        }
    }

    /// `<?`: the XML declaration or a processing instruction, up to `?>`.
    fn question(&mut self, start: usize) -> Result<Token, Box<LexError>> {
        let rest = &self.src[start..];
        let found = memchr::memchr_iter(b'>', rest).find(|&i| i > 0 && rest[i - 1] == b'?');
        let unclosed = || Error::Syntax(SyntaxError::UnclosedPIOrXmlDecl);
        let Some(len) = found else {
            self.pos = self.src.len();
            return error(unclosed(), start - 1);
        };
        self.pos = start + len + 1;
        if len < 2 {
            return error(unclosed(), start - 1);
        }
        let content = start + 1..start + len - 1;
        let bytes = &self.src[content.clone()];
        if bytes.starts_with(b"xml") && bytes.get(3).is_none_or(|&b| is_space(b)) {
            return Ok(Token::Decl(content));
        }
        let target_end = content.start + name_len(bytes);
        Ok(Token::Pi {
            target: content.start..target_end,
            content: target_end..content.end,
        })
    }

    /// The next token if it is one of the usual kinds in their usual form: an ordinary
    /// start tag (see [`super::tag`], its attributes in `attrs`), character data, or the end
    /// tag `</name>` of the open element. These are what most of a document consists of, and
    /// the parser takes them without the general [`Token`] round trip. `None`: the next
    /// token is for [`Self::next_token`].
    pub(super) fn next_usual(
        &mut self,
        attrs: &mut Vec<TagAttr>,
        max_attrs: usize,
    ) -> Option<Usual> {
        let markup_at = match self.state {
            State::Markup => self.pos,
            // A tag right after another.
            State::Text if self.src.get(self.pos) == Some(&b'<') => self.pos + 1,
            State::Text if self.pos < self.src.len() => {
                return match self.text()? {
                    Token::Text { range, refs, plain } => Some(Usual::Text { range, refs, plain }),
                    _ => None,
                };
            }
            _ => return None,
        };
        if self.src.get(markup_at) == Some(&b'/') {
            let end = self.end_of_open_element(markup_at)?;
            self.pos = end;
            self.state = State::Text;
            self.open.pop();
            return Some(Usual::End);
        }
        let tag = tag::scan(self.src, markup_at, attrs, max_attrs)?;
        self.pos = tag.end;
        self.state = State::Text;
        if !tag.empty {
            self.open.push(tag.name.clone());
        }
        Some(Usual::Start(tag))
    }

    /// Where `</name>` at `at` (its `/`) ends, if `name` is the open element's and nothing
    /// stands between it and `>`; the general path reads such an end tag the same way as
    /// long as the name has no quote (names never have whitespace).
    fn end_of_open_element(&self, at: usize) -> Option<usize> {
        let name = self.src.get(self.open.last()?.clone())?;
        let written = self.src.get(at + 1..at + 2 + name.len())?;
        let (&close, written) = written.split_last()?;
        let matches = close == b'>'
            && written
                .iter()
                .zip(name)
                .all(|(&a, &b)| a == b && b != b'"' && b != b'\'');
        matches.then_some(at + name.len() + 2)
    }

    /// `<name ...>` or `<name .../>`.
    fn start_tag(&mut self, start: usize) -> Result<Token, Box<LexError>> {
        let rest = &self.src[start..];
        let Some(len) = tag_end(rest) else {
            self.pos = self.src.len();
            return error(Error::Syntax(SyntaxError::UnclosedTag), start - 1);
        };
        self.pos = start + len + 1;
        let empty = len > 0 && rest[len - 1] == b'/';
        let content = start..start + len - usize::from(empty);
        let name_len = name_len(&self.src[content.clone()]);
        if !empty {
            self.open.push(start..start + name_len);
        }
        Ok(Token::Start {
            content,
            name_len,
            empty,
        })
    }
}

/// An attribute as written: the name and the value between the quotes.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct RawAttribute {
    pub(super) key: Range<usize>,
    pub(super) value: Range<usize>,
}

/// The attributes of a start tag, read as quick-xml's checked attribute iterator reads them
/// (same acceptance, same errors with positions relative to the tag content).
pub(super) struct Attributes<'i> {
    /// The tag content (between `<` and `>` or `/>`).
    tag: &'i [u8],
    /// Absolute offset of `tag`.
    base: usize,
    pos: usize,
    done: bool,
}

impl<'i> Attributes<'i> {
    /// The attributes of the start tag `content` (absolute range of `src`) whose name is
    /// `name_len` bytes long.
    pub(super) fn new(src: &'i [u8], content: Range<usize>, name_len: usize) -> Self {
        let base = content.start;
        Attributes {
            tag: src.get(content).unwrap_or_default(),
            base,
            pos: name_len,
            done: false,
        }
    }

    /// Where the element name ends (absolute offset).
    pub(super) fn name_end(&self) -> usize {
        self.base + self.pos
    }

    /// The next attribute. `keys` holds the names read so far (relative ranges; clear it
    /// for each tag) for the duplicate check. The first error ends the iteration (the
    /// parser refuses the document there; quick-xml's recovery is not reproduced).
    pub(super) fn next_attribute(
        &mut self,
        keys: &mut Vec<Range<usize>>,
    ) -> Option<Result<RawAttribute, AttrError>> {
        let next = self.read_attribute(keys);
        if matches!(next, Some(Err(_))) {
            self.done = true;
        }
        next
    }

    fn read_attribute(
        &mut self,
        keys: &mut Vec<Range<usize>>,
    ) -> Option<Result<RawAttribute, AttrError>> {
        if self.done {
            return None;
        }
        let s = self.tag;
        let skip_space = |mut i: usize| {
            while i < s.len() && is_space(s[i]) {
                i += 1;
            }
            i
        };
        let start_key = skip_space(self.pos);
        if start_key >= s.len() {
            self.done = true;
            return None;
        }
        let mut i = start_key + 1;
        while i < s.len() && s[i] != b'=' && !is_space(s[i]) {
            i += 1;
        }
        if i >= s.len() {
            self.done = true;
            return Some(Err(AttrError::ExpectedEq(s.len())));
        }
        let key = start_key..i;
        let eq = if s[i] == b'=' {
            i
        } else {
            let next = skip_space(i + 1);
            if next >= s.len() {
                self.done = true;
                return Some(Err(AttrError::ExpectedEq(s.len())));
            }
            if s[next] != b'=' {
                self.pos = next;
                return Some(Err(AttrError::ExpectedEq(next)));
            }
            next
        };
        let name = &s[key.clone()];
        if let Some(previous) = keys.iter().find(|k| same(&s[(*k).clone()], name)) {
            return Some(Err(AttrError::Duplicated(key.start, previous.start)));
        }
        keys.push(key.clone());
        let value_start = skip_space(eq + 1);
        let Some(&quote) = s.get(value_start) else {
            self.done = true;
            return Some(Err(AttrError::ExpectedValue(s.len())));
        };
        if quote != b'"' && quote != b'\'' {
            return Some(Err(AttrError::UnquotedValue(value_start)));
        }
        let value_start = value_start + 1;
        match find1(quote, &s[value_start..]) {
            Some(len) => {
                self.pos = value_start + len + 1;
                Some(Ok(RawAttribute {
                    key: self.base + key.start..self.base + key.end,
                    value: self.base + value_start..self.base + value_start + len,
                }))
            }
            None => {
                self.done = true;
                Some(Err(AttrError::ExpectedQuote(s.len(), quote)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Differential tests: the tokenizer must accept, refuse and split exactly as quick-xml
    //! 0.38's slice reader (with the configuration the parser used to run it with) does.

    use quick_xml::Reader;
    use quick_xml::events::Event;

    use super::*;

    /// What one side produced: a token kind with its byte range and the position after it,
    /// or an error text with its offset.
    #[derive(Debug, PartialEq, Eq)]
    enum Seen {
        Token(&'static str, Range<usize>, usize),
        Attr(Range<usize>, Range<usize>),
        AttrError(AttrError),
        Error(String, usize),
    }

    fn offset_of(src: &[u8], piece: &[u8]) -> Range<usize> {
        let at = piece.as_ptr() as usize - src.as_ptr() as usize;
        at..at + piece.len()
    }

    fn quick_xml_view(src: &[u8]) -> Vec<Seen> {
        let mut reader = Reader::from_reader(src);
        let config = reader.config_mut();
        config.check_comments = true;
        config.check_end_names = true;
        config.expand_empty_elements = false;
        config.trim_text(false);
        let mut seen = Vec::new();
        loop {
            let event = match reader.read_event() {
                Ok(event) => event,
                Err(e) => {
                    seen.push(Seen::Error(e.to_string(), reader.error_position() as usize));
                    return seen;
                }
            };
            let kind = match &event {
                Event::Text(_) => "text",
                Event::GeneralRef(_) => "ref",
                Event::CData(_) => "cdata",
                Event::Comment(_) => "comment",
                Event::DocType(_) => "doctype",
                Event::Decl(_) => "decl",
                Event::PI(_) => "pi",
                Event::Start(_) => "start",
                Event::Empty(_) => "empty",
                Event::End(_) => "end",
                Event::Eof => "eof",
            };
            let range = match &event {
                Event::DocType(_) | Event::End(_) | Event::Eof => 0..0,
                // The whole `&name;`, which the tokenizer keeps inside its text token.
                Event::GeneralRef(name) => {
                    let name = offset_of(src, name);
                    name.start - 1..name.end + 1
                }
                other => offset_of(src, other),
            };
            let pos = reader.buffer_position() as usize;
            match (seen.last_mut(), kind) {
                // Text and references next to each other are one token of ours.
                (Some(Seen::Token("text", merged, end)), "text" | "ref") => {
                    merged.end = range.end;
                    *end = pos;
                }
                (_, "ref") => seen.push(Seen::Token("text", range, pos)),
                _ => seen.push(Seen::Token(kind, range, pos)),
            }
            if let Event::Start(e) | Event::Empty(e) = &event {
                for attr in e.attributes() {
                    match attr {
                        Ok(a) => seen.push(Seen::Attr(
                            offset_of(src, a.key.as_ref()),
                            offset_of(src, &a.value),
                        )),
                        Err(e) => {
                            seen.push(Seen::AttrError(e));
                            break;
                        }
                    }
                }
            }
            if matches!(event, Event::Eof) {
                return seen;
            }
        }
    }

    /// The tokens as the parser reads them: with [`Lexer::next_usual`] first when `usual`.
    fn our_view(src: &[u8], usual: bool) -> Vec<Seen> {
        let mut lexer = Lexer::new(src, 0);
        let mut seen = Vec::new();
        let mut keys = Vec::new();
        let mut tag_attrs = Vec::new();
        loop {
            if usual && let Some(token) = lexer.next_usual(&mut tag_attrs, 64) {
                let pos = lexer.position();
                match token {
                    Usual::Start(tag) => {
                        let content = tag.name.start..tag.end - 1 - usize::from(tag.empty);
                        let kind = if tag.empty { "empty" } else { "start" };
                        seen.push(Seen::Token(kind, content, pos));
                        for a in &tag_attrs {
                            seen.push(Seen::Attr(a.key.clone(), a.value.clone()));
                        }
                    }
                    Usual::Text { range, .. } => seen.push(Seen::Token("text", range, pos)),
                    Usual::End => seen.push(Seen::Token("end", 0..0, pos)),
                }
                continue;
            }
            let token = match lexer.next_token() {
                Ok(token) => token,
                Err(e) => {
                    seen.push(Seen::Error(e.error.to_string(), e.offset));
                    return seen;
                }
            };
            let pos = lexer.position();
            let (kind, range) = match &token {
                Token::Text { range, .. } => ("text", range.clone()),
                Token::CData(r) => ("cdata", r.clone()),
                Token::Comment(r) => ("comment", r.clone()),
                Token::DocType => ("doctype", 0..0),
                Token::Decl(r) => ("decl", r.clone()),
                Token::Pi { target, content } => ("pi", target.start..content.end),
                Token::Start { content, empty, .. } => {
                    (if *empty { "empty" } else { "start" }, content.clone())
                }
                Token::End => ("end", 0..0),
                Token::Eof => ("eof", 0..0),
            };
            seen.push(Seen::Token(kind, range, pos));
            if let Token::Start {
                content, name_len, ..
            } = &token
            {
                let mut attributes = Attributes::new(src, content.clone(), *name_len);
                keys.clear();
                while let Some(attr) = attributes.next_attribute(&mut keys) {
                    seen.push(match attr {
                        Ok(a) => Seen::Attr(a.key, a.value),
                        Err(e) => Seen::AttrError(e),
                    });
                }
            }
            if token == Token::Eof {
                return seen;
            }
        }
    }

    fn assert_same(src: &[u8]) {
        let theirs = quick_xml_view(src);
        for usual in [false, true] {
            assert_eq!(
                our_view(src, usual),
                theirs,
                "input {:?}, usual tokens read apart: {usual}",
                String::from_utf8_lossy(src)
            );
        }
    }

    #[test]
    fn tokens_errors_and_attributes_match_quick_xml_on_hand_written_inputs() {
        let inputs: &[&str] = &[
            "",
            "<a/>",
            "<?xml version=\"1.0\"?>\n<a b='1' c=\"2\">t&amp;x&#65;<![CDATA[<>]]><!--c--><?p d?></a>",
            "<a><b></a>",
            "</a>",
            "<a></a >",
            "<a></ a>",
            "<a>&amp</a>",
            "<a>&amp<b/></a>",
            "<a>&am&p;</a>",
            "<a>&",
            "<a><!-- a--b --></a>",
            "<a><!----></a>",
            "<a><!--->",
            "<a><![CDATA[x]></a>",
            "<a><![CDATA[]]></a>",
            "<!DOCTYPE a [<!ENTITY x 'y'>]><a/>",
            "<!DOCTYPE>",
            "<!doctype a>",
            "<!x>",
            "<!",
            "<",
            "<a",
            "<a b='>'>",
            "<a b=\"x'>\"/>",
            "<a b>",
            "<a b c='1'>",
            "<a b = '1' b='2'>",
            "<a b=1>",
            "<a b='1>",
            "<a b=>",
            "<a b='1'c='2'>",
            "<?>",
            "<??>",
            "<?xml?>",
            "<?xml-stylesheet x?>",
            "<?pi\n content ?>",
            "<a>\r\n</a>",
            "<p:a xmlns:p='u'></p:a>",
            "text only",
            "<a/><b/>",
            "<a><b/></a>trailing",
            "<a>x &amp; y &lt;z&gt; &#65;&#x42;</a>",
            "<a>&amp;&amp;<b/>&lt;</a>",
            "<a>t&amp;u&bad x&lt;</a>",
            "<a>t&amp;u&lt</a>",
            "<a>&amp;</a>&gt;tail&amp;",
            "<a>&amp;;&;&lt;&</a>",
        ];
        for input in inputs {
            assert_same(input.as_bytes());
        }
    }

    #[test]
    fn tokens_errors_and_attributes_match_quick_xml_on_generated_inputs() {
        const PIECES: &[&str] = &[
            "<", ">", "/", "a", "b:c", " ", "\n", "=", "\"", "'", "!", "--", "-", "[CDATA[", "]]",
            "]", "?", "xml", "&", ";", "amp", "DOCTYPE", "<a>", "</a>", "<a/>", "x='1'", "é",
        ];
        // A fixed linear congruential generator: the same inputs on every run.
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 33) as usize
        };
        for _ in 0..200_000 {
            let len = 1 + next() % 16;
            let input: String = (0..len).map(|_| PIECES[next() % PIECES.len()]).collect();
            assert_same(input.as_bytes());
        }
    }
}
