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
}
