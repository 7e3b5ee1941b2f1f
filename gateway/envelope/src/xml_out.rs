//! Careful string building for the documents we write: every text and attribute value is
//! escaped, characters XML 1.0 cannot carry are refused (never dropped), and elements are
//! indented two spaces per level. Leaf text is written inline, so no whitespace is added to
//! values.

use std::fmt::Write as _;

/// A value that XML 1.0 cannot represent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} contains a character XML cannot carry (U+{code:04X})")]
pub struct InvalidCharacter {
    /// Which element or attribute.
    pub field: String,
    /// The character.
    pub code: u32,
}

/// An XML document (or fragment) being written.
#[derive(Debug, Default)]
pub(crate) struct XmlOut {
    buf: String,
    depth: usize,
}

impl XmlOut {
    /// A document starting with the XML declaration.
    pub(crate) fn document() -> Self {
        XmlOut {
            buf: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
            depth: 0,
        }
    }

    /// A fragment (no declaration), starting at `depth` levels of indentation.
    pub(crate) fn fragment(depth: usize) -> Self {
        XmlOut {
            buf: String::new(),
            depth,
        }
    }

    fn indent(&mut self) {
        if !self.buf.is_empty() && !self.buf.ends_with('\n') {
            self.buf.push('\n');
        }
        for _ in 0..self.depth {
            self.buf.push_str("  ");
        }
    }

    fn open_tag(&mut self, qname: &str, attrs: &[(&str, &str)]) -> Result<(), InvalidCharacter> {
        self.indent();
        self.buf.push('<');
        self.buf.push_str(qname);
        for (name, value) in attrs {
            let _ = write!(self.buf, " {name}=\"");
            escape_into(&mut self.buf, value, true, name)?;
            self.buf.push('"');
        }
        Ok(())
    }

    /// `<qname attrs>` and one level deeper.
    pub(crate) fn start(
        &mut self,
        qname: &str,
        attrs: &[(&str, &str)],
    ) -> Result<(), InvalidCharacter> {
        self.open_tag(qname, attrs)?;
        self.buf.push('>');
        self.depth += 1;
        Ok(())
    }

    /// `</qname>` one level up.
    pub(crate) fn end(&mut self, qname: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        let _ = write!(self.buf, "</{qname}>");
    }

    /// `<qname attrs>text</qname>`.
    pub(crate) fn leaf(
        &mut self,
        qname: &str,
        attrs: &[(&str, &str)],
        text: &str,
    ) -> Result<(), InvalidCharacter> {
        self.open_tag(qname, attrs)?;
        self.buf.push('>');
        escape_into(&mut self.buf, text, false, qname)?;
        let _ = write!(self.buf, "</{qname}>");
        Ok(())
    }

    /// A leaf for an optional value.
    pub(crate) fn optional_leaf(
        &mut self,
        qname: &str,
        text: Option<&str>,
    ) -> Result<(), InvalidCharacter> {
        match text {
            Some(t) => self.leaf(qname, &[], t),
            None => Ok(()),
        }
    }

    /// Already serialised, well-formed XML (an extension element, a payload), on its own line.
    pub(crate) fn raw(&mut self, xml: &str) {
        self.indent();
        self.buf.push_str(xml);
    }

    /// The document, ending with a newline.
    pub(crate) fn finish(mut self) -> String {
        if !self.buf.ends_with('\n') {
            self.buf.push('\n');
        }
        self.buf
    }

    /// The fragment as written (no trailing newline).
    pub(crate) fn into_fragment(self) -> String {
        self.buf
    }
}

/// Escapes `value` for element content (`attr == false`) or a double-quoted attribute.
/// Carriage returns (and in attributes tabs and line feeds) become character references so a
/// parser gives back exactly `value`.
fn escape_into(
    out: &mut String,
    value: &str,
    attr: bool,
    field: &str,
) -> Result<(), InvalidCharacter> {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\n' if attr => out.push_str("&#10;"),
            '\t' if attr => out.push_str("&#9;"),
            '\t' | '\n' => out.push(c),
            c if is_xml_char(c) => out.push(c),
            c => {
                return Err(InvalidCharacter {
                    field: field.to_owned(),
                    code: u32::from(c),
                });
            }
        }
    }
    Ok(())
}

/// XML 1.0 `Char`, minus what `escape_into` handles itself.
fn is_xml_char(c: char) -> bool {
    matches!(u32::from(c), 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sdkgw_xml_security::xml::{Document, ParseOptions};

    #[test]
    fn escaped_values_parse_back_unchanged() {
        let text = "a & b < c > d \"q\" 'a'\r\n\ttab é 😀";
        let mut out = XmlOut::document();
        out.start("r", &[("a", text)]).unwrap();
        out.leaf("t", &[], text).unwrap();
        out.end("r");
        let xml = out.finish();
        let doc = Document::parse(xml.into_bytes(), &ParseOptions::default()).unwrap();
        assert_eq!(doc.root().attribute(None, "a"), Some(text));
        assert_eq!(doc.root().child(None, "t").unwrap().text(), text);
    }

    #[test]
    fn refuses_characters_xml_cannot_carry() {
        let mut out = XmlOut::fragment(0);
        let err = out.leaf("label", &[], "bell\u{7}").unwrap_err();
        assert_eq!(err.code, 7);
        assert_eq!(err.field, "label");
    }
}
