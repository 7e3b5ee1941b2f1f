//! Character-level rules of XML 1.0: allowed characters, names, references, and the
//! normalisation of line ends and attribute values that a conforming parser applies before
//! anything (c14n included) sees the data.

use super::error::ParseError;

/// Checks that `text` (already valid UTF-8) has only characters XML 1.0 allows.
/// Returns the offset (relative to `text`) of the first forbidden one.
pub(crate) fn first_invalid_char(text: &[u8]) -> Option<usize> {
    // 32 bytes at a time: a block with no control character other than tab, LF and CR and
    // no 0xEF (first byte of U+FFFE/U+FFFF) is clean; otherwise its bytes are checked one by
    // one. The test over a fixed-size block is branch-free and compiles to vector
    // instructions.
    const BLOCK: usize = 32;
    let (blocks, _) = text.as_chunks::<BLOCK>();
    for (n, block) in blocks.iter().enumerate() {
        let mut suspect = 0u8;
        for &b in block {
            let control = b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r';
            suspect |= u8::from(control) | u8::from(b == 0xEF);
        }
        if suspect != 0 {
            let at = n * BLOCK;
            if let Some(i) = (at..at + BLOCK).find(|&j| invalid_at(text, j)) {
                return Some(i);
            }
        }
    }
    (blocks.len() * BLOCK..text.len()).find(|&j| invalid_at(text, j))
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

/// Name characters by byte: [`NAME_START`] for ASCII letters and `_`, [`NAME_CHAR`] for
/// those and digits, `-` and `.`, [`NON_ASCII`] for every byte of a multi-byte character.
/// Names are almost always ASCII, so they are checked byte by byte through this table; a
/// non-ASCII byte sends a name to the general, per-character check.
const NAME_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if b.is_ascii_alphabetic() || b == b'_' {
            t[c] = NAME_START | NAME_CHAR;
        } else if b.is_ascii_digit() || b == b'-' || b == b'.' {
            t[c] = NAME_CHAR;
        } else if b >= 0x80 {
            t[c] = NON_ASCII;
        }
        c += 1;
    }
    t
};
const NAME_START: u8 = 1;
const NAME_CHAR: u8 = 2;
const NON_ASCII: u8 = 4;

/// Whether `s` is an NCName (a name without colon), e.g. a valid prefix.
pub fn is_ncname(s: &str) -> bool {
    let bytes = s.as_bytes();
    let Some((&first, rest)) = bytes.split_first() else {
        return false;
    };
    // One pass: the AND of the classes says whether every byte is an ASCII name character,
    // the OR whether any is non-ASCII (then the per-character rules decide).
    let first_class = NAME_CLASS[usize::from(first)];
    let (all, any) = rest
        .iter()
        .fold((NAME_CHAR, first_class), |(all, any), &b| {
            let class = NAME_CLASS[usize::from(b)];
            (all & class, any | class)
        });
    if any & NON_ASCII == 0 {
        return first_class & NAME_START != 0 && all & NAME_CHAR != 0;
    }
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if is_name_start(c) => chars.all(is_name_char),
        _ => false,
    }
}

/// Splits a QName into (prefix, local part), or `None` when it is not a valid QName.
pub(crate) fn split_qname(name: &str) -> Option<(Option<&str>, &str)> {
    let bytes = name.as_bytes();
    // One pass for ASCII names: where the colon is, and the classes of all other bytes.
    let mut colon = None;
    let (mut all, mut any) = (NAME_CHAR, 0);
    for (i, &b) in bytes.iter().enumerate() {
        if b == b':' {
            if colon.is_some() {
                return None;
            }
            colon = Some(i);
        } else {
            let class = NAME_CLASS[usize::from(b)];
            all &= class;
            any |= class;
        }
    }
    let starts_name = |i: usize| {
        bytes
            .get(i)
            .is_some_and(|&b| NAME_CLASS[usize::from(b)] & NAME_START != 0)
    };
    if any & NON_ASCII == 0 {
        let names = all & NAME_CHAR != 0 && starts_name(0);
        return match colon {
            None => names.then_some((None, name)),
            Some(at) => (names && at > 0 && starts_name(at + 1))
                .then(|| Some((Some(name.get(..at)?), name.get(at + 1..)?)))
                .flatten(),
        };
    }
    let split = match colon {
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

/// The ASCII QName at the start of `bytes`: where it ends and the length of its prefix (0
/// for none), if it ends at an ASCII byte that cannot continue a name (the caller decides
/// whether that byte may follow). `None` for anything else (no name there, a non-ASCII byte,
/// a second colon, a colon not followed by a name start, the end of the input): those are
/// left to [`split_qname`] and the general path. This lets a tag be read in one pass.
#[inline]
pub(crate) fn ascii_qname(bytes: &[u8]) -> Option<(usize, u32)> {
    let starts_name = |b: &u8| NAME_CLASS[usize::from(*b)] & NAME_START != 0;
    if !starts_name(bytes.first()?) {
        return None;
    }
    let (mut i, mut colon) = (1, 0);
    loop {
        let b = *bytes.get(i)?;
        if NAME_CLASS[usize::from(b)] & NAME_CHAR != 0 {
            i += 1;
        } else if b == b':' && colon == 0 && bytes.get(i + 1).is_some_and(starts_name) {
            colon = i as u32;
            i += 2;
        } else if b == b':' || b >= 0x80 {
            return None;
        } else {
            return Some((i, colon));
        }
    }
}

/// Byte-wise ordering of two strings, inline (for short names a `memcmp` call costs more
/// than the comparison).
pub(crate) fn bytes_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// Equality of the short byte strings the parser compares (names, prefixes): an inline
/// loop costs less than the `memcmp` call a slice comparison makes.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
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
        assert_eq!(split_qname("é:ü"), Some((Some("é"), "ü")));
        assert_eq!(split_qname("a:b-1.c"), Some((Some("a"), "b-1.c")));
        for bad in [
            "", ":a", "a:", "a:b:c", "1a", "a b", "-x", "a:1", "a:-", ":", "::", "é:1", "a::b",
        ] {
            assert_eq!(split_qname(bad), None, "{bad}");
        }
    }

    #[test]
    fn ascii_name_table_agrees_with_the_character_rules() {
        let by_chars = |s: &str| {
            let mut chars = s.chars();
            matches!(chars.next(), Some(c) if is_name_start(c)) && chars.all(is_name_char)
        };
        let mut names: Vec<String> = Vec::new();
        for a in 0u8..128 {
            names.push(char::from(a).to_string());
            for b in 0u8..128 {
                names.push([char::from(a), char::from(b)].iter().collect());
            }
        }
        for s in [
            "é",
            "aé",
            "éa",
            "a\u{B7}",
            "\u{B7}a",
            "a\u{300}",
            "\u{2070}x",
            "x\u{D7}",
        ] {
            names.push(s.to_owned());
        }
        for name in &names {
            assert_eq!(is_ncname(name), by_chars(name), "{name:?}");
        }
        assert!(!is_ncname(""));
    }

    /// Strings of up to four pieces of `alphabet` (with repeats).
    fn strings_over(alphabet: &[&str]) -> Vec<String> {
        let mut strings = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = strings
                .iter()
                .flat_map(|n| alphabet.iter().map(move |c| format!("{n}{c}")))
                .collect();
            strings.extend(longer);
        }
        strings
    }

    #[test]
    fn qname_fast_path_agrees_with_splitting_and_checking_each_part() {
        fn by_parts(name: &str) -> Option<(Option<&str>, &str)> {
            match name.split_once(':') {
                None => is_ncname(name).then_some((None, name)),
                Some((prefix, local)) => {
                    (is_ncname(prefix) && is_ncname(local)).then_some((Some(prefix), local))
                }
            }
        }
        const ALPHABET: [&str; 7] = ["a", "1", "-", ":", "é", "_", "."];
        let names = strings_over(&ALPHABET);
        for name in &names {
            assert_eq!(split_qname(name), by_parts(name), "{name:?}");
        }
    }

    #[test]
    fn one_pass_qname_scan_agrees_with_split_qname_wherever_it_answers() {
        const ALPHABET: [&str; 8] = ["a", "1", "-", ":", "é", "_", ".", "Z"];
        const STOPS: [&str; 6] = [" ", ">", "/", "=", "\"", "é"];
        let names = strings_over(&ALPHABET);
        let mut answered = 0;
        for name in &names {
            for stop in STOPS {
                let input = format!("{name}{stop}");
                let Some((end, colon)) = ascii_qname(input.as_bytes()) else {
                    // Refused: not an ASCII QName followed by an ASCII non-name byte.
                    let ascii_stop = stop.is_ascii();
                    let ascii_name = name.is_ascii() && split_qname(name).is_some();
                    assert!(!(ascii_stop && ascii_name), "{input:?}");
                    continue;
                };
                answered += 1;
                assert_eq!(end, name.len(), "{input:?}");
                let prefix = (colon > 0).then(|| &name[..colon as usize]);
                assert_eq!(split_qname(name).map(|(p, _)| p), Some(prefix), "{input:?}");
            }
        }
        assert!(answered > 1000, "{answered}");
        assert_eq!(
            ascii_qname(b"abc"),
            None,
            "the end of the input is not a stop"
        );
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
