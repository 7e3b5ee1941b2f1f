//! Incremental GHASH (NIST SP 800-38D §6.4) over a stream, computed with aws-lc-rs's
//! hardware AES-GCM.
//!
//! aws-lc-rs has no incremental GCM and no GHASH, but its one-shot AES-GCM over additional
//! data `A` and an empty plaintext returns `T = E_K(N‖1) ⊕ GHASH_H(A ‖ L)` with
//! `L = [len(A)]₆₄ ‖ [0]₆₄`. Since `GHASH(X ‖ L) = GHASH(X)·H ⊕ L·H`, each 64 KiB piece `X`
//! of the stream yields `GHASH(X)·H = T ⊕ E_K(N‖1) ⊕ L·H`, and pieces combine linearly:
//! `GHASH(P ‖ X) = GHASH(P)·H^b ⊕ GHASH(X)` for `X` of `b` blocks. So the bulk work runs in
//! aws-lc's vectorised GHASH, and only a few multiplications in GF(2¹²⁸) per piece are done
//! here (constant-time, bit-serial). The tags computed internally are never output.
//!
//! The state kept is `S·H` (GHASH so far times H), which avoids inverting H: the final
//! `GHASH(C ‖ L_C) = S·H ⊕ L_C·H`.

use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{EncryptingKey, UnboundCipherKey};
use aws_lc_rs::error::Unspecified;

use super::cipher::ContentKey;

/// Bytes folded per aws-lc call.
pub(crate) const PIECE: usize = 64 * 1024;
/// The GCM reduction constant R = 11100001 ‖ 0¹²⁰.
const R: u128 = 0xE1 << 120;
/// Nonce of the internal GMAC computations (their tags never leave this module).
const GMAC_NONCE: [u8; 12] = [0; 12];

/// Multiplication in GF(2¹²⁸) with GCM's bit order (SP 800-38D Algorithm 1), in constant time.
pub(crate) fn gf_mul(x: u128, y: u128) -> u128 {
    let mut z = 0u128;
    let mut v = y;
    for i in 0..128 {
        let bit = (x >> (127 - i)) & 1;
        z ^= v & bit.wrapping_neg();
        let lsb = v & 1;
        v = (v >> 1) ^ (R & lsb.wrapping_neg());
    }
    z
}

fn gf_pow(h: u128, mut n: u64) -> u128 {
    let mut result = 1u128 << 127; // the field's one
    let mut base = h;
    while n > 0 {
        if n & 1 == 1 {
            result = gf_mul(result, base);
        }
        base = gf_mul(base, base);
        n >>= 1;
    }
    result
}

/// GHASH of a byte stream (zero-padded to whole blocks at the end, as GCM pads C).
pub(crate) struct StreamGhash {
    gmac: LessSafeKey,
    /// `E_K(GMAC_NONCE ‖ 1)`.
    gmac_mask: u128,
    h: u128,
    /// `H^(PIECE/16)`.
    h_piece: u128,
    /// `GHASH(stream so far) · H`.
    state: u128,
    pending: Vec<u8>,
}

impl StreamGhash {
    pub(crate) fn new(key: &ContentKey) -> Result<Self, Unspecified> {
        let ecb = EncryptingKey::ecb(UnboundCipherKey::new(key.aes(), key.bytes())?)?;
        let mut h = [0u8; 16];
        ecb.encrypt(&mut h)?;
        let mut j0 = [0u8; 16];
        j0[..12].copy_from_slice(&GMAC_NONCE);
        j0[15] = 1;
        ecb.encrypt(&mut j0)?;
        let aead = if key.bytes().len() == 16 {
            &AES_128_GCM
        } else {
            &AES_256_GCM
        };
        let h = u128::from_be_bytes(h);
        Ok(StreamGhash {
            gmac: LessSafeKey::new(UnboundKey::new(aead, key.bytes())?),
            gmac_mask: u128::from_be_bytes(j0),
            h,
            h_piece: gf_pow(h, (PIECE / 16) as u64),
            state: 0,
            pending: Vec::with_capacity(PIECE),
        })
    }

    /// Folds one piece (at most [`PIECE`] bytes; only the last may be shorter or unaligned).
    fn fold(&mut self, piece: &[u8]) -> Result<(), Unspecified> {
        if piece.is_empty() {
            return Ok(());
        }
        let tag = self.gmac.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(GMAC_NONCE),
            Aad::from(piece),
            &mut [],
        )?;
        let mut t = [0u8; 16];
        t.copy_from_slice(tag.as_ref());
        let len_block = ((piece.len() as u128) * 8) << 64;
        let piece_times_h = u128::from_be_bytes(t) ^ self.gmac_mask ^ gf_mul(len_block, self.h);
        let blocks = piece.len().div_ceil(16) as u64;
        let shift = if piece.len() == PIECE {
            self.h_piece
        } else {
            gf_pow(self.h, blocks)
        };
        self.state = gf_mul(self.state, shift) ^ piece_times_h;
        Ok(())
    }

    /// Absorbs more of the stream.
    pub(crate) fn update(&mut self, mut data: &[u8]) -> Result<(), Unspecified> {
        if !self.pending.is_empty() {
            let take = (PIECE - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() < PIECE {
                return Ok(());
            }
            let piece = std::mem::take(&mut self.pending);
            self.fold(&piece)?;
            self.pending = piece;
            self.pending.clear();
        }
        let mut pieces = data.chunks_exact(PIECE);
        for piece in &mut pieces {
            self.fold(piece)?;
        }
        self.pending.extend_from_slice(pieces.remainder());
        Ok(())
    }

    /// `GHASH_H(stream ‖ [0]₆₄ ‖ [bits]₆₄)` for a stream of `total_len` bytes (no AAD), i.e. the
    /// S of GCM before the final mask.
    pub(crate) fn finish(mut self, total_len: u64) -> Result<[u8; 16], Unspecified> {
        let rest = std::mem::take(&mut self.pending);
        self.fold(&rest)?;
        let len_block = u128::from(total_len) * 8;
        Ok((self.state ^ gf_mul(len_block, self.h)).to_be_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(hex: &str) -> u128 {
        u128::from_str_radix(hex, 16).unwrap()
    }

    // RFC 8452 Appendix A: GHASH(H, X_1, X_2).
    #[test]
    fn gf_mul_matches_the_rfc8452_ghash_vector() {
        let h = block("25629347589242761d31f826ba4b757b");
        let x1 = block("4f4f95668c83dfb6401762bb2d01a262");
        let x2 = block("d1a24ddd2721d006bbe45f20d3c9f362");
        let y = gf_mul(gf_mul(x1, h) ^ x2, h);
        assert_eq!(y, block("bd9b3997046731fb96251b91f9c99d7a"));
    }

    #[test]
    fn gf_pow_agrees_with_repeated_multiplication() {
        let h = block("66e94bd4ef8a2c3b884cfa59ca342b2e");
        let mut p = 1u128 << 127;
        for n in 0..40u64 {
            assert_eq!(gf_pow(h, n), p, "H^{n}");
            p = gf_mul(p, h);
        }
    }
}
