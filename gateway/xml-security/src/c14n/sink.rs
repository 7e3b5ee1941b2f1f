//! Output of canonical bytes: a small write buffer in front of any [`std::io::Write`].

use std::io::{self, Write};

const FLUSH_AT: usize = 16 * 1024;

/// Batches the many small writes of canonicalization.
pub(crate) struct Buffered<W: Write> {
    out: W,
    buf: Vec<u8>,
}

impl<W: Write> Buffered<W> {
    pub(crate) fn new(out: W) -> Self {
        Buffered {
            out,
            buf: Vec::with_capacity(FLUSH_AT + 1024),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.len() >= FLUSH_AT {
            self.flush_buf()?;
            return self.out.write_all(bytes);
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= FLUSH_AT {
            self.flush_buf()?;
        }
        Ok(())
    }

    #[inline]
    pub(crate) fn byte(&mut self, b: u8) -> io::Result<()> {
        self.push(&[b])
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.flush_buf()?;
        self.out.flush()
    }
}
