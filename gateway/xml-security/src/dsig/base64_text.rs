//! Base64 element content (`DigestValue`, `SignatureValue`, `X509Certificate`) decoded in one
//! pass over the text as it stands in the tree: XML whitespace (other signers' line breaks)
//! is skipped on the way instead of being stripped into a copy first.
//!
//! Accepts exactly what `base64::engine::general_purpose::STANDARD` accepts once that
//! whitespace is removed: the standard alphabet, `=` padding required and only at the end,
//! and unused bits of the last symbol zero.

/// Table values that are not a 6-bit symbol value.
const INVALID: u8 = 0xFF;
const SPACE: u8 = 0xFE;
const PAD: u8 = 0xFD;

/// Byte → symbol value (0..64), [`SPACE`], [`PAD`] or [`INVALID`].
const TABLE: [u8; 256] = {
    let mut t = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < alphabet.len() {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t[b' ' as usize] = SPACE;
    t[b'\t' as usize] = SPACE;
    t[b'\n' as usize] = SPACE;
    t[b'\r' as usize] = SPACE;
    t[b'=' as usize] = PAD;
    t
};

/// For the fast path: the bits symbol `c` contributes at position `i` (0..4) of a group of
/// four, placed where they land in the group's 3 decoded bytes read as a little-endian
/// `u32`; [`GROUP_INVALID`] for anything that is not a symbol (space and `=` included).
const GROUP: [[u32; 256]; 4] = {
    let mut t = [[GROUP_INVALID; 256]; 4];
    let mut c = 0;
    while c < 256 {
        let v = TABLE[c] as u32;
        if v < 64 {
            t[0][c] = v << 2;
            t[1][c] = (v >> 4) | ((v & 0xF) << 12);
            t[2][c] = ((v >> 2) << 8) | ((v & 0x3) << 22);
            t[3][c] = v << 16;
        }
        c += 1;
    }
    t
};
/// Has a bit above the 24 a valid group sets.
const GROUP_INVALID: u32 = 0x0100_0000;

/// The 3 bytes (little-endian, low 24 bits) of 4 symbols, or a value with
/// [`GROUP_INVALID`] set.
#[inline]
fn group(c: &[u8]) -> u32 {
    match c {
        &[a, b, c, d] => {
            GROUP[0][usize::from(a)]
                | GROUP[1][usize::from(b)]
                | GROUP[2][usize::from(c)]
                | GROUP[3][usize::from(d)]
        }
        _ => GROUP_INVALID,
    }
}

/// Decodes the concatenation of `parts()` (called twice: once to size the output), with
/// XML whitespace anywhere ignored. `None` when it is not valid base64.
pub(crate) fn decode<'p, I>(parts: impl Fn() -> I) -> Option<Vec<u8>>
where
    I: Iterator<Item = &'p [u8]>,
{
    let total: usize = parts().map(<[u8]>::len).sum();
    // At most 3 bytes per 4 symbols; the 8-symbol steps store 8 bytes to keep 6 of them.
    let mut d = Decoder {
        out: vec![0; total / 4 * 3 + 8],
        len: 0,
        acc: 0,
        n: 0,
        pads: 0,
    };
    for part in parts() {
        d.feed(part)?;
    }
    d.finish()
}

struct Decoder {
    /// Sized once; `len` bytes of it are decoded.
    out: Vec<u8>,
    len: usize,
    /// The symbols of the current, incomplete group of four.
    acc: u32,
    /// How many symbols `acc` holds.
    n: u8,
    /// How many `=` were seen (only ever at the end).
    pads: u8,
}

impl Decoder {
    fn feed(&mut self, mut bytes: &[u8]) -> Option<()> {
        loop {
            if self.n == 0 && self.pads == 0 {
                // Runs of 8 symbols without whitespace: 6 bytes at once.
                while let Some((c, rest)) = bytes.split_first_chunk::<8>() {
                    let (x0, x1) = (group(&c[..4]), group(&c[4..]));
                    if (x0 | x1) >= GROUP_INVALID {
                        break;
                    }
                    let word = u64::from(x0) | (u64::from(x1) << 24);
                    self.put(&word.to_le_bytes(), 6)?;
                    bytes = rest;
                }
            }
            let Some((&b, rest)) = bytes.split_first() else {
                return Some(());
            };
            bytes = rest;
            self.symbol(b)?;
        }
    }

    /// Stores `bytes` at the end of the decoded output, of which the first `keep` count.
    fn put(&mut self, bytes: &[u8], keep: usize) -> Option<()> {
        // Never short: the output is sized for the whole input.
        self.out
            .get_mut(self.len..self.len + bytes.len())?
            .copy_from_slice(bytes);
        self.len += keep;
        Some(())
    }

    fn symbol(&mut self, b: u8) -> Option<()> {
        match TABLE[usize::from(b)] {
            SPACE => {}
            PAD => {
                // `=` completes a group of two or three symbols, and nothing follows.
                if self.n < 2 || self.n + self.pads >= 4 {
                    return None;
                }
                self.pads += 1;
            }
            INVALID => return None,
            v => {
                if self.pads > 0 {
                    return None;
                }
                self.acc = (self.acc << 6) | u32::from(v);
                self.n += 1;
                if self.n == 4 {
                    self.put(&(self.acc << 8).to_be_bytes(), 3)?;
                    self.acc = 0;
                    self.n = 0;
                }
            }
        }
        Some(())
    }

    fn finish(mut self) -> Option<Vec<u8>> {
        match (self.n, self.pads) {
            (0, 0) => {}
            // Two symbols: 12 bits, one byte and four bits that must be zero.
            (2, 2) if self.acc & 0xF == 0 => self.put(&[(self.acc >> 4) as u8], 1)?,
            // Three symbols: 18 bits, two bytes and two bits that must be zero.
            (3, 1) if self.acc & 0x3 == 0 => {
                self.put(&((self.acc >> 2) as u16).to_be_bytes(), 2)?;
            }
            _ => return None,
        }
        self.out.truncate(self.len);
        Some(self.out)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    use super::decode;

    fn reference(text: &[u8]) -> Option<Vec<u8>> {
        let compact: Vec<u8> = text
            .iter()
            .filter(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            .copied()
            .collect();
        STANDARD.decode(compact).ok()
    }

    fn ours(text: &[u8]) -> Option<Vec<u8>> {
        decode(|| std::iter::once(text))
    }

    /// xorshift64*: deterministic test input without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn fixed_cases() {
        let ok: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"   \n", b""),
            (b"QQ==", b"A"),
            (b"QUI=", b"AB"),
            (b"QUJD", b"ABC"),
            (b"QUJDRA==", b"ABCD"),
            (b"QU\nJD\r\n RA\t=\n=\n", b"ABCD"),
            (b"QUJDREVGR0g=", b"ABCDEFGH"),
            (b"QUJDREVGR0hJ", b"ABCDEFGHI"),
        ];
        for (text, want) in ok {
            assert_eq!(ours(text).as_deref(), Some(*want), "{text:?}");
            assert_eq!(reference(text).as_deref(), Some(*want), "{text:?}");
        }
        let bad: &[&[u8]] = &[
            b"Q",
            b"QQ",
            b"QQ=",
            b"QUI",
            b"Q===",
            b"QQ===",
            b"QUI==",
            b"====",
            b"=",
            b"QR==",
            b"QUJ=",
            b"QQ==QQ==",
            b"QQ=a",
            b"QUJD\x00",
            b"QUJD-",
            b"QUJD_",
            b"QUJD\x0c",
            b"QUJDREVGR0\xc3\xa9",
            b"QUJDREVGR0hJ.",
        ];
        for text in bad {
            assert_eq!(ours(text), None, "{text:?}");
            assert_eq!(reference(text), None, "{text:?}");
        }
    }

    #[test]
    fn agrees_with_the_base64_crate_on_random_text() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let symbols = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let odd = b"= \n\r\t-_.*\x00\xff";
        let mut accepted = 0;
        for _ in 0..50_000 {
            let len = rng.below(40);
            let text: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.below(8) == 0 {
                        odd[rng.below(odd.len())]
                    } else {
                        symbols[rng.below(symbols.len())]
                    }
                })
                .collect();
            let want = reference(&text);
            accepted += usize::from(want.is_some());
            assert_eq!(ours(&text), want, "{:?}", String::from_utf8_lossy(&text));
        }
        assert!(accepted > 1000, "too few valid samples: {accepted}");
    }

    #[test]
    fn decodes_encoded_bytes_with_whitespace_and_split_parts() {
        let mut rng = Rng(7);
        for _ in 0..3_000 {
            let data: Vec<u8> = (0..rng.below(300)).map(|_| rng.next() as u8).collect();
            let encoded = STANDARD.encode(&data).into_bytes();
            assert_eq!(ours(&encoded).as_deref(), Some(&data[..]));
            let mut spaced = Vec::new();
            for &b in &encoded {
                if rng.below(10) == 0 {
                    spaced.push(b" \t\r\n"[rng.below(4)]);
                }
                spaced.push(b);
            }
            assert_eq!(ours(&spaced).as_deref(), Some(&data[..]));
            // Split into several text parts at arbitrary points.
            let mut cuts: Vec<usize> = (0..rng.below(4))
                .map(|_| rng.below(spaced.len() + 1))
                .collect();
            cuts.sort_unstable();
            let mut parts = Vec::new();
            let mut from = 0;
            for c in cuts {
                parts.push(&spaced[from..c]);
                from = c;
            }
            parts.push(&spaced[from..]);
            assert_eq!(decode(|| parts.iter().copied()).as_deref(), Some(&data[..]));
            // One corrupted byte is refused exactly when the crate refuses it.
            if !encoded.is_empty() {
                let mut bad = encoded.clone();
                let i = rng.below(bad.len());
                bad[i] = b"=-!A\xff"[rng.below(5)];
                assert_eq!(ours(&bad), reference(&bad));
            }
        }
    }
}
