//! Character-level rules of XML 1.0: allowed characters, names, references, and the
//! normalisation of line ends and attribute values that a conforming parser applies before
//! anything (c14n included) sees the data.

use super::error::ParseError;

/// Checks that `text` (already valid UTF-8) has only characters XML 1.0 allows.
/// Returns the offset (relative to `text`) of the first forbidden one.
pub(crate) fn first_invalid_char(text: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    // Eight bytes at a time: a word with no byte below 0x20 and no 0xEF (first byte of
    // U+FFFE/U+FFFF) is clean; otherwise (or on a false positive) check its bytes one by one.
    while let Some(chunk) = text.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        let y = x ^ (ONES * 0xEF);
        let ef = y.wrapping_sub(ONES) & !y & HIGH;
        if below_space | ef != 0
            && let Some(at) = (i..i + 8).find(|&j| invalid_at(text, j))
        {
            return Some(at);
        }
        i += 8;
    }
    (i..text.len()).find(|&j| invalid_at(text, j))
}

fn invalid_at(text: &[u8], i: usize) -> bool {
    let b = text[i];
    if b < 0x20 {
        return b != b'\t' && b != b'\n' && b != b'\r';
    }
    // U+FFFE and U+FFFF are EF BF BE / EF BF BF; surrogates cannot occur in valid UTF-8.
    b == 0xEF && text.get(i + 1) == Some(&0xBF) && matches!(text.get(i + 2), Some(0xBE | 0xBF))
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic()
        || c == '_'
        || matches!(c as u32,
            0xC0..=0xD6 | 0xD8..=0xF6 | 0xF8..=0x2FF | 0x370..=0x37D | 0x37F..=0x1FFF
            | 0x200C..=0x200D | 0x2070..=0x218F | 0x2C00..=0x2FEF | 0x3001..=0xD7FF
            | 0xF900..=0xFDCF | 0xFDF0..=0xFFFD | 0x10000..=0xEFFFF)
}

fn is_name_char(c: char) -> bool {
    is_name_start(c)
        || c.is_ascii_digit()
        || c == '-'
        || c == '.'
        || matches!(c as u32, 0xB7 | 0x300..=0x36F | 0x203F..=0x2040)
}

/// ASCII name characters: [`NAME_START`] for letters and `_`, [`NAME_CHAR`] for those and
/// digits, `-` and `.`. Names are almost always ASCII, so they are checked byte by byte
/// through this table; any other byte sends a name to the general, per-character check.
const ASCII_NAME: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        if b.is_ascii_alphabetic() || b == b'_' {
            t[c] = NAME_START | NAME_CHAR;
        } else if b.is_ascii_digit() || b == b'-' || b == b'.' {
            t[c] = NAME_CHAR;
        }
        c += 1;
    }
    t
};
const NAME_START: u8 = 1;
const NAME_CHAR: u8 = 2;

/// The class bits of `b` in [`ASCII_NAME`] (none for non-ASCII bytes).
fn ascii_class(b: u8) -> u8 {
    ASCII_NAME.get(usize::from(b)).copied().unwrap_or(0)
}

/// Whether `s` is an NCName (a name without colon), e.g. a valid prefix.
pub fn is_ncname(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.is_ascii() {
        return match bytes.split_first() {
            Some((&first, rest)) => {
                ascii_class(first) & NAME_START != 0
                    && rest.iter().all(|&b| ascii_class(b) & NAME_CHAR != 0)
            }
            None => false,
        };
    }
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if is_name_start(c) => chars.all(is_name_char),
        _ => false,
    }
}

/// Splits a QName into (prefix, local part), or `None` when it is not a valid QName.
pub(crate) fn split_qname(name: &str) -> Option<(Option<&str>, &str)> {
    let split = match name.bytes().position(|b| b == b':') {
        None => None,
        Some(at) => Some((name.get(..at)?, name.get(at + 1..)?)),
    };
    match split {
        None => is_ncname(name).then_some((None, name)),
        Some((prefix, local)) => {
            (is_ncname(prefix) && is_ncname(local)).then_some((Some(prefix), local))
        }
    }
}

/// Byte-wise ordering of two strings, inline (for short names a `memcmp` call costs more
/// than the comparison).
pub(crate) fn bytes_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    for (x, y) in a.bytes().zip(b.bytes()) {
        if x != y {
            return x.cmp(&y);
        }
    }
    a.len().cmp(&b.len())
}

/// String equality for the short names the parser compares (prefixes, local names): an
/// inline byte loop is cheaper than a `memcmp` call for a few bytes.
pub(crate) fn same_bytes(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// Appends `raw` to `out` with XML line-end normalisation (CR LF and lone CR become LF).
/// In attribute values, every literal whitespace character additionally becomes a space.
fn push_normalized(out: &mut String, raw: &str, attribute: bool) {
    if !raw.contains(['\r', '\n', '\t']) {
        out.push_str(raw);
        return;
    }
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        let c = if c == '\r' {
            if chars.peek() == Some(&'\n') {
                chars.next();
            }
            '\n'
        } else {
            c
        };
        if attribute && matches!(c, '\n' | '\t') {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
}

/// Appends normalised character data (text outside references) to `out`.
pub(crate) fn push_text(out: &mut String, raw: &str) {
    push_normalized(out, raw, false);
}

/// The character a reference `&name;` stands for; `name` is the text between `&` and `;`.
/// Only the five predefined entities and character references are accepted.
pub(crate) fn resolve_reference(name: &str, offset: usize) -> Result<char, ParseError> {
    let predefined = match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => None,
    };
    if let Some(c) = predefined {
        return Ok(c);
    }
    let Some(number) = name.strip_prefix('#') else {
        return Err(ParseError::EntityForbidden {
            name: shorten(name),
            offset,
        });
    };
    let value = match number.strip_prefix('x') {
        Some(hex)
            if !hex.is_empty() && hex.len() <= 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            u32::from_str_radix(hex, 16).ok()
        }
        None if !number.is_empty()
            && number.len() <= 10
            && number.bytes().all(|b| b.is_ascii_digit()) =>
        {
            number.parse::<u32>().ok()
        }
        _ => None,
    };
    value
        .and_then(char::from_u32)
        .filter(|c| {
            let mut buf = [0u8; 4];
            first_invalid_char(c.encode_utf8(&mut buf).as_bytes()).is_none()
        })
        .ok_or_else(|| ParseError::InvalidCharRef {
            text: shorten(name),
            offset,
        })
}

/// Whether an attribute value as written differs from its normalised value (references,
/// literal whitespace to normalise) or is malformed (`<`).
pub(crate) fn needs_attribute_decoding(raw: &str) -> bool {
    raw.bytes()
        .any(|b| matches!(b, b'&' | b'<' | b'\t' | b'\n' | b'\r'))
}

/// Decodes an attribute value as written (between the quotes) onto `out`: references
/// resolved, line ends and literal whitespace normalised as XML 1.0 §3.3.3 requires for CDATA
/// attributes.
pub(crate) fn decode_attribute_into(
    out: &mut String,
    raw: &str,
    offset: usize,
) -> Result<(), ParseError> {
    if raw.contains('<') {
        return Err(ParseError::Syntax {
            reason: "'<' in attribute value".into(),
            offset,
        });
    }
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        push_normalized(out, &rest[..amp], true);
        let after = &rest[amp + 1..];
        let Some(semi) = after.find(';') else {
            return Err(ParseError::Syntax {
                reason: "unterminated reference in attribute value".into(),
                offset,
            });
        };
        out.push(resolve_reference(&after[..semi], offset)?);
        rest = &after[semi + 1..];
    }
    push_normalized(out, rest, true);
    Ok(())
}

/// A name shortened for error messages, so a hostile 10 MB name is not copied into logs.
pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_whitespace_is_normalised_but_char_refs_are_kept() {
        let mut v = String::from("before:");
        decode_attribute_into(&mut v, "a\r\nb\tc&#9;d&#xA;&amp;", 0).unwrap();
        assert_eq!(v, "before:a b c\td\n&");
    }

    #[test]
    fn rejects_undefined_entities_and_bad_char_refs() {
        assert!(matches!(
            resolve_reference("xxe", 0),
            Err(ParseError::EntityForbidden { .. })
        ));
        for bad in [
            "#0", "#x0", "#xD800", "#x110000", "#", "#x", "#12a", "#xFFFE",
        ] {
            assert!(
                matches!(
                    resolve_reference(bad, 0),
                    Err(ParseError::InvalidCharRef { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(resolve_reference("#x1F600", 0).unwrap(), '😀');
    }

    #[test]
    fn qnames_are_split_and_checked() {
        assert_eq!(split_qname("ds:Signature"), Some((Some("ds"), "Signature")));
        assert_eq!(split_qname("a"), Some((None, "a")));
        for bad in ["", ":a", "a:", "a:b:c", "1a", "a b", "-x"] {
            assert_eq!(split_qname(bad), None, "{bad}");
        }
    }

    #[test]
    fn finds_control_characters_and_noncharacters() {
        assert_eq!(first_invalid_char(b"ab\x01"), Some(2));
        assert_eq!(first_invalid_char("a\u{FFFF}".as_bytes()), Some(1));
        assert_eq!(first_invalid_char(b"a\tb\r\n"), None);
        // Every position relative to the 8-byte words, and the word boundary for U+FFFE.
        for at in 0..20 {
            let mut text = "x".repeat(20).into_bytes();
            text[at] = 0x1F;
            assert_eq!(first_invalid_char(&text), Some(at));
            let mut text = "y".repeat(24);
            text.replace_range(at..at + 1, "\u{FFFE}");
            assert_eq!(first_invalid_char(text.as_bytes()), Some(at));
        }
        assert_eq!(
            first_invalid_char("ëëëë\u{FFFD}ïïïï\u{EFFF}".as_bytes()),
            None
        );
    }
}
