//! One-pass reading of ordinary start tags.
//!
//! The general path reads a start tag four times over: the tokenizer finds its end and the
//! name, the attribute iterator (quick-xml's rules) splits the attributes, and the parser
//! checks each name as a QName and each value for what needs decoding. Almost every tag of
//! a real document is ordinary (`<p:name a="v" p:b='w'>`, ASCII names, `=` right after the
//! attribute name), and for those [`scan`] establishes all of it in a single forward pass.
//! Anything else (a non-ASCII name, spaces around `=`, a duplicate attribute name, a tag
//! that does not end, ...) makes [`scan`] answer `None` and the tag goes the general way,
//! which decides what it is and which error to report; so [`scan`] only has to be right
//! about the tags it accepts. Where it accepts one, the general path accepts the same tag
//! with the same names and values, which the parser's differential tests check.

use std::ops::Range;

use super::chars::{ascii_qname, same};
use super::lexer::is_space;

/// A start tag read by [`scan`]. Offsets are absolute.
#[derive(Debug)]
pub(super) struct Tag {
    /// The element name.
    pub(super) name: Range<usize>,
    /// Length of the name's prefix, 0 for none.
    pub(super) colon: u32,
    /// `<name .../>`.
    pub(super) empty: bool,
    /// Just after the closing `>`.
    pub(super) end: usize,
    /// Whether the tag is laid out as C14N writes one: a single space before each
    /// attribute, double quotes, nothing before `>` (values are judged by the parser).
    pub(super) c14n_layout: bool,
}

/// An attribute of a [`Tag`], in the order written.
#[derive(Debug)]
pub(super) struct TagAttr {
    pub(super) key: Range<usize>,
    /// Length of the name's prefix, 0 for none.
    pub(super) colon: u32,
    /// Between the quotes.
    pub(super) value: Range<usize>,
    /// The value needs no decoding: no reference, `<` or whitespace to normalise.
    pub(super) plain: bool,
}

/// Reads the start tag whose name starts at `at` (just after `<`) if it is ordinary, with
/// its attributes in `attrs` (cleared first); at most `max_attrs` of them, so that the
/// general path reports the limit.
pub(super) fn scan(
    src: &[u8],
    at: usize,
    attrs: &mut Vec<TagAttr>,
    max_attrs: usize,
) -> Option<Tag> {
    attrs.clear();
    let (len, colon) = ascii_qname(src.get(at..)?)?;
    let name = at..at + len;
    let mut c14n_layout = true;
    let mut i = name.end;
    loop {
        let mut b = *src.get(i)?;
        if is_space(b) {
            c14n_layout &= b == b' ';
            let spaces = i;
            while is_space(b) {
                i += 1;
                b = *src.get(i)?;
            }
            c14n_layout &= i == spaces + 1;
            if b != b'>' && b != b'/' {
                if attrs.len() >= max_attrs {
                    return None;
                }
                let (attr, double_quoted) = attribute(src, i, attrs)?;
                c14n_layout &= double_quoted;
                i = attr.value.end + 1;
                attrs.push(attr);
                continue;
            }
            // Space before `>` or `/>`.
            c14n_layout = false;
        }
        let (empty, end) = match (b, src.get(i + 1)) {
            (b'>', _) => (false, i + 1),
            (b'/', Some(b'>')) => (true, i + 2),
            _ => return None,
        };
        return Some(Tag {
            name,
            colon,
            empty,
            end,
            c14n_layout,
        });
    }
}

/// The attribute `name="value"` or `name='value'` at `at`, and whether it is double-quoted;
/// `None` unless the name is a new ASCII QName followed directly by `=` and a quote.
fn attribute(src: &[u8], at: usize, attrs: &[TagAttr]) -> Option<(TagAttr, bool)> {
    let (len, colon) = ascii_qname(src.get(at..)?)?;
    let key = at..at + len;
    let quote = match src.get(key.end..key.end + 2)? {
        [b'=', q @ (b'"' | b'\'')] => *q,
        _ => return None,
    };
    let name = &src[key.clone()];
    if attrs
        .iter()
        .any(|a| src.get(a.key.clone()).is_some_and(|k| same(k, name)))
    {
        return None;
    }
    let start = key.end + 2;
    let (len, plain) = value_len(src.get(start..)?, quote)?;
    let attr = TagAttr {
        key,
        colon,
        value: start..start + len,
        plain,
    };
    Some((attr, quote == b'"'))
}

/// Bytes that stop the reading of an attribute value: a quote (the closing one, or the
/// other kind, which the value may contain) or one that needs decoding.
const VALUE_STOP: [bool; 256] = {
    let stops = b"\"'&<\t\n\r";
    let mut t = [false; 256];
    let mut i = 0;
    while i < stops.len() {
        t[stops[i] as usize] = true;
        i += 1;
    }
    t
};

/// The length of the value that `value` starts with (up to the closing `quote`), and
/// whether it is plain (needs no decoding); `None` if it does not end.
fn value_len(value: &[u8], quote: u8) -> Option<(usize, bool)> {
    let mut plain = true;
    for (i, &b) in value.iter().enumerate() {
        if VALUE_STOP[usize::from(b)] {
            if b == quote {
                return Some((i, plain));
            }
            plain &= b == b'"' || b == b'\'';
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanned(src: &str) -> Option<(Tag, Vec<TagAttr>)> {
        let mut attrs = Vec::new();
        scan(src.as_bytes(), 1, &mut attrs, 8).map(|tag| (tag, attrs))
    }

    #[test]
    fn reads_names_attributes_and_layout_of_ordinary_tags() {
        let (tag, attrs) = scanned(r#"<p:a b="1" x:c='&amp;'>rest"#).unwrap();
        assert_eq!(
            (tag.name, tag.colon, tag.empty, tag.end),
            (1..4, 1, false, 23)
        );
        assert!(!tag.c14n_layout, "single quotes");
        assert_eq!(attrs.len(), 2);
        assert_eq!((attrs[0].key.clone(), attrs[0].colon), (5..6, 0));
        assert_eq!((attrs[0].value.clone(), attrs[0].plain), (8..9, true));
        assert_eq!((attrs[1].key.clone(), attrs[1].colon), (11..14, 1));
        assert_eq!((attrs[1].value.clone(), attrs[1].plain), (16..21, false));

        let (tag, _) = scanned(r#"<a b="1" c="x>y">"#).unwrap();
        assert!(tag.c14n_layout && !tag.empty && tag.end == 17);
        let (tag, attrs) = scanned("<a/>").unwrap();
        assert!(tag.empty && tag.end == 4 && attrs.is_empty());
        for not_c14n in ["<a  b=\"1\">", "<a\tb=\"1\">", "<a b=\"1\" >", "<a >"] {
            assert!(!scanned(not_c14n).unwrap().0.c14n_layout, "{not_c14n}");
        }
    }

    #[test]
    fn values_with_a_reference_lt_or_whitespace_to_normalise_are_not_plain() {
        for (value, plain) in [
            ("x", true),
            ("it's", true),
            ("a&amp;b", false),
            ("<", false),
            ("\t", false),
            ("\n", false),
            ("\r", false),
        ] {
            let (_, attrs) = scanned(&format!("<a b=\"{value}\">")).unwrap();
            assert_eq!(attrs[0].plain, plain, "{value:?}");
        }
        let (_, attrs) = scanned("<a b='say \"hi\"'>").unwrap();
        assert!(attrs[0].plain && attrs[0].value == (6..14));
    }

    #[test]
    fn leaves_everything_unusual_to_the_general_path() {
        for unusual in [
            "<é>",
            "<a b = \"1\">",
            "<a b=1>",
            "<a b=\"1\"c=\"2\">",
            "<a b=\"1\" b='2'>",
            "<a b=\"1>",
            "<a/ >",
            "<a b>",
            "<a:b:c>",
            "<a:>",
            "<1a>",
            "<a",
            "<a b=\"1\"",
            "<a b=\"1\" c=\"2\" d=\"3\" e=\"4\" f=\"5\" g=\"6\" h=\"7\" i=\"8\" j=\"9\">",
        ] {
            assert!(scanned(unusual).is_none(), "{unusual}");
        }
    }
}
