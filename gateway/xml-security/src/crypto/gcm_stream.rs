//! Streaming AES-GCM over `Read`/`Write`, for AS4 attachments of any size (2 GiB and more)
//! in constant memory. Wire layout as XML-Enc 1.1: `IV(12) || ciphertext || tag(16)`, no AAD.
//!
//! aws-lc-rs has no incremental GCM, so this is GCM built from its parts (NIST SP 800-38D):
//! AES-CTR from aws-lc-rs starting at `inc32(J0)`, GHASH over the ciphertext from
//! `super::ghash` (aws-lc-rs's own GHASH, reached through one-shot GMAC per 64 KiB), and the
//! tag `GHASH(C) ⊕ AES(K, J0)` compared in constant time. Unit tests check it against the
//! published GCM vectors and against aws-lc-rs's one-shot AES-GCM.
//!
//! **Decryption releases plaintext before it is authentic** — that is unavoidable when the
//! tag comes last and the data does not fit in memory. The API therefore takes the sink *by
//! value* and hands it back only inside [`Authentic`] once the tag has verified; on any failure
//! the sink is dropped with the error. Pass something that can be discarded (a temporary file
//! that is deleted on drop, or a staging path that is renamed only after success); never pass
//! `&mut` to a place other code reads from.

use std::io::{self, Read, Write};

use aws_lc_rs::cipher::{
    EncryptingKey, EncryptionContext, StreamingEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::iv::FixedLength;

use super::algorithm::DataEncryption;
use super::cipher::{ContentKey, EncryptError, GCM_IV_LEN, GCM_TAG_LEN};
use super::error::{DecryptionFailed, FailureReason};
use super::ghash::StreamGhash;

/// Largest plaintext GCM allows with one key and IV (2^39 − 256 bits, SP 800-38D §5.2.1.1).
/// Below this the 32-bit block counter cannot wrap, so aws-lc-rs's 128-bit CTR increment and
/// GCM's `inc32` agree.
pub const MAX_GCM_PLAINTEXT: u64 = (1 << 36) - 32;

const CHUNK: usize = 64 * 1024;

/// Failure of a streaming operation.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Reading the input or writing the output failed (local I/O, or the peer's stream broke).
    #[error("I/O error during streaming encryption: {0}")]
    Io(#[from] io::Error),
    /// The ciphertext is not authentic or not well-formed (uniform, see [`DecryptionFailed`]).
    #[error(transparent)]
    Decryption(#[from] DecryptionFailed),
    /// Encryption could not be set up (random generator, key).
    #[error(transparent)]
    Encrypt(#[from] EncryptError),
}

/// Proof that streamed plaintext passed the GCM tag check, holding the sink it was written to.
#[derive(Debug)]
#[must_use = "the plaintext is only authentic through this value"]
pub struct Authentic<W> {
    sink: W,
    plaintext_len: u64,
}

impl<W> Authentic<W> {
    /// The sink, now holding authentic plaintext.
    pub fn into_inner(self) -> W {
        self.sink
    }
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }
}

/// CTR keystream + GHASH accumulator shared by both directions.
struct GcmCore {
    algorithm: DataEncryption,
    ctr: StreamingEncryptingKey,
    mac: StreamGhash,
    tag_mask: [u8; 16],
    len: u64,
    /// Output of the last [`keystream`](Self::keystream) call.
    out: Vec<u8>,
}

impl GcmCore {
    fn new(key: &ContentKey, iv: &[u8; GCM_IV_LEN]) -> Result<Self, aws_lc_rs::error::Unspecified> {
        let ecb = EncryptingKey::ecb(UnboundCipherKey::new(key.aes(), key.bytes())?)?;
        let mut j0 = [0u8; 16];
        j0[..GCM_IV_LEN].copy_from_slice(iv);
        j0[15] = 1;
        let mut tag_mask = j0;
        ecb.encrypt(&mut tag_mask)?;
        let mut counter = j0;
        counter[15] = 2;
        let ctr = StreamingEncryptingKey::less_safe_ctr(
            UnboundCipherKey::new(key.aes(), key.bytes())?,
            EncryptionContext::Iv128(FixedLength::from(counter)),
        )?;
        Ok(GcmCore {
            algorithm: key.algorithm(),
            ctr,
            mac: StreamGhash::new(key)?,
            tag_mask,
            len: 0,
            out: vec![0u8; CHUNK + 16],
        })
    }

    /// XORs the keystream into `input` (at most [`CHUNK`] bytes), leaving the result in
    /// `self.out[..n]`; returns `n`. Fails past [`MAX_GCM_PLAINTEXT`].
    fn keystream(&mut self, input: &[u8]) -> Result<usize, DecryptionFailed> {
        let fail = || DecryptionFailed::new(FailureReason::CiphertextLength);
        self.len = self
            .len
            .checked_add(input.len() as u64)
            .filter(|l| *l <= MAX_GCM_PLAINTEXT)
            .ok_or_else(fail)?;
        let written = self
            .ctr
            .update(input, &mut self.out)
            .map_err(|_| fail())?
            .written()
            .len();
        if written != input.len() {
            return Err(fail());
        }
        Ok(written)
    }

    /// Absorbs ciphertext into GHASH.
    fn absorb(&mut self, ciphertext: &[u8]) -> Result<(), DecryptionFailed> {
        self.mac
            .update(ciphertext)
            .map_err(|_| DecryptionFailed::new(FailureReason::CiphertextLength))
    }

    fn tag(self) -> Result<[u8; 16], DecryptionFailed> {
        let s = self
            .mac
            .finish(self.len)
            .map_err(|_| DecryptionFailed::new(FailureReason::CiphertextLength))?;
        let mut tag = self.tag_mask;
        for (t, x) in tag.iter_mut().zip(s.iter()) {
            *t ^= x;
        }
        Ok(tag)
    }
}

/// A `Write` adapter that AES-GCM-encrypts everything written to it into `out`.
/// The IV is written first; call [`finish`](Self::finish) to append the tag.
pub struct GcmEncryptWriter<W: Write> {
    core: GcmCore,
    out: W,
}

impl<W: Write> GcmEncryptWriter<W> {
    /// Starts encrypting into `out` with a fresh random IV (written immediately).
    pub fn new(key: &ContentKey, mut out: W) -> Result<Self, StreamError> {
        if !key.algorithm().is_aead() {
            return Err(StreamError::Encrypt(EncryptError::Cipher));
        }
        let mut iv = [0u8; GCM_IV_LEN];
        aws_lc_rs::rand::fill(&mut iv).map_err(|_| EncryptError::Random)?;
        let core = GcmCore::new(key, &iv).map_err(|_| EncryptError::Cipher)?;
        out.write_all(&iv)?;
        Ok(GcmEncryptWriter { core, out })
    }

    /// Writes the tag, flushes and returns the underlying writer.
    pub fn finish(mut self) -> Result<W, StreamError> {
        let tag = self.core.tag().map_err(|_| EncryptError::Cipher)?;
        self.out.write_all(&tag)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for GcmEncryptWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let take = buf.len().min(CHUNK);
        let core = &mut self.core;
        let n = core
            .keystream(&buf[..take])
            .map_err(|_| io::Error::other(EncryptError::TooLong(core.algorithm)))?;
        core.mac
            .update(&core.out[..n])
            .map_err(|_| io::Error::other(EncryptError::Cipher))?;
        self.out.write_all(&core.out[..n])?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl<W: Write> std::fmt::Debug for GcmEncryptWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GcmEncryptWriter({} bytes)", self.core.len)
    }
}

/// Encrypts all of `input` into `output` (`IV || C || T`); returns the plaintext length.
pub fn encrypt_stream<R: Read, W: Write>(
    key: &ContentKey,
    mut input: R,
    output: W,
) -> Result<u64, StreamError> {
    let mut writer = GcmEncryptWriter::new(key, output)?;
    let copied = io::copy(&mut input, &mut writer)?;
    writer.finish()?;
    Ok(copied)
}

/// Decrypts `IV || C || T` from `input` into `sink`. The sink is returned, inside
/// [`Authentic`], only if the tag verifies; see the module documentation.
pub fn decrypt_stream<R: Read, W: Write>(
    key: &ContentKey,
    mut input: R,
    mut sink: W,
) -> Result<Authentic<W>, StreamError> {
    let malformed =
        || StreamError::Decryption(DecryptionFailed::new(FailureReason::CiphertextLength));
    if !key.algorithm().is_aead() {
        return Err(StreamError::Decryption(DecryptionFailed::new(
            FailureReason::KeyLength,
        )));
    }
    let mut iv = [0u8; GCM_IV_LEN];
    match input.read_exact(&mut iv) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(malformed()),
        Err(e) => return Err(e.into()),
    }
    let mut core = GcmCore::new(key, &iv).map_err(|_| malformed())?;
    // `buf[..held]` is data not yet known to be ciphertext rather than the trailing tag.
    let mut buf = vec![0u8; CHUNK + GCM_TAG_LEN];
    let mut held = 0usize;
    loop {
        let n = match input.read(&mut buf[held..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        let total = held + n;
        if total > GCM_TAG_LEN {
            let ct_len = total - GCM_TAG_LEN;
            core.absorb(&buf[..ct_len])?;
            let n = core.keystream(&buf[..ct_len])?;
            sink.write_all(&core.out[..n])?;
            buf.copy_within(ct_len..total, 0);
            held = GCM_TAG_LEN;
        } else {
            held = total;
        }
    }
    if held < GCM_TAG_LEN {
        return Err(malformed());
    }
    let received = buf[..GCM_TAG_LEN].to_vec();
    let plaintext_len = core.len;
    let expected = core.tag()?;
    verify_slices_are_equal(&expected, &received)
        .map_err(|_| DecryptionFailed::new(FailureReason::AuthenticationTag))?;
    sink.flush()?;
    Ok(Authentic {
        sink,
        plaintext_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::cipher::tests::{GCM_VECTORS, gcm_vector_key, unhex};

    /// Encrypts with a fixed IV (vectors only).
    fn encrypt_with_iv(key: &ContentKey, iv: [u8; 12], plain: &[u8], chunk: usize) -> Vec<u8> {
        let mut core = GcmCore::new(key, &iv).unwrap();
        let mut out = iv.to_vec();
        for piece in plain.chunks(chunk.max(1)) {
            let n = core.keystream(piece).unwrap();
            core.mac.update(&core.out[..n]).unwrap();
            out.extend_from_slice(&core.out[..n]);
        }
        out.extend(core.tag().unwrap());
        out
    }

    #[test]
    fn streaming_gcm_matches_published_vectors_for_any_chunking() {
        for (k, iv, p, c, t) in GCM_VECTORS {
            let key = gcm_vector_key(k);
            let iv: [u8; 12] = unhex(iv).try_into().unwrap();
            let mut expected = iv.to_vec();
            expected.extend(unhex(c));
            expected.extend(unhex(t));
            for chunk in [1, 5, 16, 17, 64] {
                assert_eq!(
                    encrypt_with_iv(&key, iv, &unhex(p), chunk),
                    expected,
                    "chunk {chunk}"
                );
            }
            let out = decrypt_stream(&key, expected.as_slice(), Vec::new()).unwrap();
            assert_eq!(out.into_inner(), unhex(p));
        }
    }

    #[test]
    fn empty_plaintext_gives_the_known_tag() {
        // McGrew & Viega test case 1 (AES-128) and 13 (AES-256): zero key and IV, no data.
        for (k, tag) in [
            (
                "00000000000000000000000000000000",
                "58e2fccefa7e3061367f1d57a4e7455a",
            ),
            (
                "0000000000000000000000000000000000000000000000000000000000000000",
                "530f8afbc74536b9a963b4f1c4cb738b",
            ),
        ] {
            let out = encrypt_with_iv(&gcm_vector_key(k), [0; 12], b"", 16);
            assert_eq!(&out[12..], unhex(tag).as_slice());
        }
    }

    #[test]
    fn streaming_and_one_shot_gcm_interoperate() {
        for alg in [DataEncryption::Aes128Gcm, DataEncryption::Aes256Gcm] {
            let key = ContentKey::generate(alg).unwrap();
            // Longer than one internal chunk, not block aligned.
            let plain: Vec<u8> = (0..(CHUNK * 2 + 1234))
                .map(|i| (i * 7 % 251) as u8)
                .collect();
            let mut streamed = Vec::new();
            assert_eq!(
                encrypt_stream(&key, plain.as_slice(), &mut streamed).unwrap(),
                plain.len() as u64
            );
            assert_eq!(key.decrypt(&streamed).unwrap().as_slice(), plain.as_slice());
            let one_shot = key.encrypt(&plain).unwrap();
            let out = decrypt_stream(&key, one_shot.as_slice(), Vec::new()).unwrap();
            assert_eq!(out.plaintext_len(), plain.len() as u64);
            assert_eq!(out.into_inner(), plain);
        }
    }

    #[test]
    fn odd_sized_writes_across_ghash_pieces_match_one_shot_decryption() {
        use std::io::Write;
        let key = ContentKey::generate(DataEncryption::Aes256Gcm).unwrap();
        let plain: Vec<u8> = (0..(3 * 64 * 1024 + 777))
            .map(|i| (i * 13 % 256) as u8)
            .collect();
        let mut w = GcmEncryptWriter::new(&key, Vec::new()).unwrap();
        let mut rest = plain.as_slice();
        for step in [1usize, 15, 65_535, 3, 70_000, 16, 9_999].iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let n = (*step).min(rest.len());
            w.write_all(&rest[..n]).unwrap();
            rest = &rest[n..];
        }
        let ct = w.finish().unwrap();
        assert_eq!(key.decrypt(&ct).unwrap().as_slice(), plain.as_slice());
    }

    /// A reader that returns at most `n` bytes per call, to exercise the hold-back logic.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn decryption_handles_short_reads_around_the_tag() {
        let key = ContentKey::generate(DataEncryption::Aes128Gcm).unwrap();
        let ct = key.encrypt(b"0123456789abcdefXYZ").unwrap();
        for step in [1, 3, 15, 16, 17, 1000] {
            let out = decrypt_stream(&key, Trickle(&ct, step), Vec::new()).unwrap();
            assert_eq!(out.into_inner(), b"0123456789abcdefXYZ");
        }
    }

    #[test]
    fn tampering_anywhere_fails_uniformly_without_returning_the_sink() {
        let key = ContentKey::generate(DataEncryption::Aes256Gcm).unwrap();
        let ct = key.encrypt(&[0x55; 100]).unwrap();
        for i in [0, 11, 12, 60, ct.len() - 16, ct.len() - 1] {
            let mut bad = ct.clone();
            bad[i] ^= 0x80;
            match decrypt_stream(&key, bad.as_slice(), Vec::new()) {
                Err(StreamError::Decryption(e)) => assert_eq!(e.to_string(), "decryption failed"),
                other => panic!("byte {i}: expected a decryption failure, got {other:?}"),
            }
        }
        for cut in [0, 5, 12, 27, ct.len() - 1] {
            assert!(matches!(
                decrypt_stream(&key, &ct[..cut], Vec::new()),
                Err(StreamError::Decryption(_))
            ));
        }
        let other = ContentKey::generate(DataEncryption::Aes256Gcm).unwrap();
        assert!(matches!(
            decrypt_stream(&other, ct.as_slice(), Vec::new()),
            Err(StreamError::Decryption(_))
        ));
    }
}
