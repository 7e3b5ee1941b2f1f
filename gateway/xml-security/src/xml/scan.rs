//! Byte searches for the tokenizer and the parser. Most haystacks are a few bytes long
//! (names, attribute values, text between tags), where memchr's per-call setup costs more
//! than the search: the first `SHORT` bytes are searched with a byte loop, and only what
//! follows (long text such as base64) with memchr's SIMD search. (Searching the head eight
//! bytes at a time in a `u64` was measured slower: most matches are within a few bytes.)

const SHORT: usize = 32;

/// The first `a` in `bytes`.
pub(super) fn find1(a: u8, bytes: &[u8]) -> Option<usize> {
    let head = &bytes[..bytes.len().min(SHORT)];
    match head.iter().position(|&b| b == a) {
        Some(i) => Some(i),
        None if bytes.len() > SHORT => memchr::memchr(a, &bytes[SHORT..]).map(|i| i + SHORT),
        None => None,
    }
}

/// The first `a` or `b` in `bytes`.
pub(super) fn find2(a: u8, b: u8, bytes: &[u8]) -> Option<usize> {
    let head = &bytes[..bytes.len().min(SHORT)];
    match head.iter().position(|&x| x == a || x == b) {
        Some(i) => Some(i),
        None if bytes.len() > SHORT => memchr::memchr2(a, b, &bytes[SHORT..]).map(|i| i + SHORT),
        None => None,
    }
}

/// The first `a`, `b` or `c` in `bytes`.
pub(super) fn find3(a: u8, b: u8, c: u8, bytes: &[u8]) -> Option<usize> {
    let head = &bytes[..bytes.len().min(SHORT)];
    match head.iter().position(|&x| x == a || x == b || x == c) {
        Some(i) => Some(i),
        None if bytes.len() > SHORT => memchr::memchr3(a, b, c, &bytes[SHORT..]).map(|i| i + SHORT),
        None => None,
    }
}

/// Classes of bytes in character data: [`MARKUP`] ends a run of text, [`NOT_AS_WRITTEN`]
/// is written differently by C14N (`>` as `&gt;`, CR normalised away).
const TEXT_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'<' as usize] = MARKUP;
    t[b'&' as usize] = MARKUP;
    t[b'\r' as usize] = NOT_AS_WRITTEN;
    t[b'>' as usize] = NOT_AS_WRITTEN;
    t
};
const MARKUP: u8 = 1;
const NOT_AS_WRITTEN: u8 = 2;

/// The first `<` or `&` in `bytes`, and whether a CR or `>` comes before it: one pass finds
/// where character data ends and whether it is canonical as written.
pub(super) fn text_run(bytes: &[u8]) -> (Option<usize>, bool) {
    let head = &bytes[..bytes.len().min(SHORT)];
    let mut classes = 0;
    for (i, &b) in head.iter().enumerate() {
        let class = TEXT_CLASS[usize::from(b)];
        if class & MARKUP != 0 {
            return (Some(i), classes & NOT_AS_WRITTEN != 0);
        }
        classes |= class;
    }
    let special = classes & NOT_AS_WRITTEN != 0;
    let Some(tail) = bytes.get(SHORT..).filter(|t| !t.is_empty()) else {
        return (None, special);
    };
    let found = memchr::memchr2(b'<', b'&', tail);
    let run = &tail[..found.unwrap_or(tail.len())];
    let special = special || memchr::memchr2(b'\r', b'>', run).is_some();
    (found.map(|i| i + SHORT), special)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(needles: &[u8], bytes: &[u8]) -> Option<usize> {
        bytes.iter().position(|b| needles.contains(b))
    }

    #[test]
    fn searches_agree_with_a_byte_loop_on_both_sides_of_the_short_head() {
        for len in 0..100usize {
            for at in [None, Some(0), Some(len / 3), Some(len.saturating_sub(1))] {
                let mut bytes = vec![b'x'; len];
                if let Some(at) = at.filter(|&a| a < len) {
                    bytes[at] = b';';
                    if at + 1 < len {
                        bytes[at + 1] = b'<';
                    }
                }
                assert_eq!(find1(b';', &bytes), naive(b";", &bytes), "{bytes:?}");
                assert_eq!(find2(b'<', b';', &bytes), naive(b"<;", &bytes));
                assert_eq!(find3(b'&', b'<', b';', &bytes), naive(b"&<;", &bytes));
            }
        }
    }

    #[test]
    fn text_run_ends_at_markup_and_sees_what_c14n_writes_differently_before_it() {
        for len in 0..80usize {
            for special_at in [None, Some(0), Some(len / 2), Some(31), Some(33), Some(len)] {
                for end_at in [
                    None,
                    Some(0),
                    Some(len / 3),
                    Some(32),
                    Some(len.saturating_sub(1)),
                ] {
                    let mut bytes = vec![b'x'; len];
                    for (at, byte) in [(special_at, b'>'), (end_at, b'&')] {
                        if let Some(at) = at.filter(|&a| a < len) {
                            bytes[at] = byte;
                        }
                    }
                    let (end, special) = text_run(&bytes);
                    assert_eq!(end, naive(b"<&", &bytes), "{bytes:?}");
                    let before = &bytes[..end.unwrap_or(len)];
                    assert_eq!(special, naive(b"\r>", before).is_some(), "{bytes:?}");
                    bytes
                        .iter_mut()
                        .filter(|b| **b == b'>')
                        .for_each(|b| *b = b'\r');
                    assert_eq!(text_run(&bytes), (end, special), "{bytes:?}");
                }
            }
        }
    }
}
