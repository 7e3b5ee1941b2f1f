//! Message digests for `ds:DigestMethod`, one-shot and incremental.

use std::io;

use aws_lc_rs::digest;

use super::algorithm::DigestMethod;

impl DigestMethod {
    pub(crate) fn aws_lc(self) -> &'static digest::Algorithm {
        match self {
            DigestMethod::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            DigestMethod::Sha256 => &digest::SHA256,
            DigestMethod::Sha384 => &digest::SHA384,
            DigestMethod::Sha512 => &digest::SHA512,
        }
    }

    /// Digest length in bytes.
    pub fn output_len(self) -> usize {
        self.aws_lc().output_len()
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.aws_lc(), data).as_ref().to_vec()
    }

    /// An incremental hasher (also an `io::Write`, so canonicalizers and attachment copies
    /// can stream into it).
    pub fn hasher(self) -> Hasher {
        Hasher {
            method: self,
            ctx: digest::Context::new(self.aws_lc()),
        }
    }
}

/// Incremental digest computation.
#[derive(Clone)]
pub struct Hasher {
    method: DigestMethod,
    ctx: digest::Context,
}

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        self.ctx.update(data);
    }

    pub fn method(&self) -> DigestMethod {
        self.method
    }

    pub fn finish(self) -> Vec<u8> {
        self.ctx.finish().as_ref().to_vec()
    }
}

impl io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.ctx.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hasher({})", self.method)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    // FIPS 180-2 appendix examples for "abc".
    #[test]
    fn digests_match_fips_180_vectors() {
        assert_eq!(
            hex(&DigestMethod::Sha1.digest(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&DigestMethod::Sha256.digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&DigestMethod::Sha384.digest(b"abc")),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed\
             8086072ba1e7cc2358baeca134c825a7"
        );
        assert_eq!(
            hex(&DigestMethod::Sha512.digest(b"abc")),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
    }

    #[test]
    fn incremental_hasher_equals_one_shot() {
        let mut h = DigestMethod::Sha256.hasher();
        h.write_all(b"a").unwrap();
        h.update(b"bc");
        assert_eq!(h.finish(), DigestMethod::Sha256.digest(b"abc"));
    }
}
