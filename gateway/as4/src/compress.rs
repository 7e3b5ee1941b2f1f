//! gzip for AS4 payloads (`CompressionType` = `application/gzip`), streaming in both
//! directions, with decompression bounded against bombs.
//!
//! [`Gunzip`] is push-style (feed compressed bytes as they arrive, e.g. from the MIME reader or
//! the AES-GCM decryptor); [`gunzip`] and [`gzip`] copy between `Read` and `Write`. Every
//! decompression is capped by [`GzipLimits`]: an absolute output size and a ratio of output to
//! input. Exceeding either, corrupt or truncated data all end in a [`DecompressError`] that the
//! AS4 layer maps to `EBMS:0303` DecompressionFailure when [`DecompressError::is_peer_error`].

use std::io::{self, Read, Write};

use flate2::Compression;
use flate2::write::{GzEncoder, MultiGzDecoder};

const COPY_CHUNK: usize = 64 * 1024;

/// Bounds on one decompression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GzipLimits {
    /// Largest decompressed size.
    pub max_output_bytes: u64,
    /// Largest ratio of decompressed to compressed bytes…
    pub max_ratio: u64,
    /// …enforced once the output exceeds this many bytes (tiny inputs compress oddly).
    pub ratio_grace_bytes: u64,
}

impl Default for GzipLimits {
    /// 2 GiB output (DIGG's Domibus `maxSize`), ratio 200:1 (XML rarely exceeds 50:1; an XHE
    /// carrying encrypted base64 payload compresses about 1.3:1), ratio checked past 1 MiB.
    fn default() -> Self {
        Self {
            max_output_bytes: 2 * 1024 * 1024 * 1024,
            max_ratio: 200,
            ratio_grace_bytes: 1024 * 1024,
        }
    }
}

/// Byte counts of one (de)compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GzipStats {
    /// Compressed bytes.
    pub compressed: u64,
    /// Uncompressed bytes.
    pub uncompressed: u64,
}

/// Why a decompression stopped.
#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    /// Not gzip, a corrupt deflate stream, a CRC/length mismatch, or truncated data.
    #[error("invalid or truncated gzip data: {0}")]
    Corrupt(#[source] io::Error),
    /// The output would exceed [`GzipLimits::max_output_bytes`].
    #[error("decompressed data exceeds {limit} bytes")]
    OutputTooLarge {
        /// The limit.
        limit: u64,
    },
    /// The output/input ratio exceeded [`GzipLimits::max_ratio`].
    #[error("decompression ratio exceeds {max_ratio}:1")]
    RatioExceeded {
        /// The limit.
        max_ratio: u64,
    },
    /// Reading the compressed input failed (our file, not the peer's data).
    #[error("reading compressed input failed: {0}")]
    Input(#[source] io::Error),
    /// Writing the decompressed output failed (disk full, ...).
    #[error("writing decompressed output failed: {0}")]
    Output(#[source] io::Error),
}

impl DecompressError {
    /// True when the peer's data is at fault (→ `EBMS:0303`), false for local I/O failures.
    pub fn is_peer_error(&self) -> bool {
        matches!(
            self,
            Self::Corrupt(_) | Self::OutputTooLarge { .. } | Self::RatioExceeded { .. }
        )
    }
}

/// Raised inside the decoder's sink and recognised again outside it.
#[derive(Debug, thiserror::Error)]
enum SinkStop {
    #[error("output limit")]
    Output,
    #[error("ratio limit")]
    Ratio,
    #[error("sink failed: {0}")]
    Sink(io::Error),
}

/// The decoder's output side: counts, enforces the limits, forwards to the real sink.
#[derive(Debug)]
struct LimitedSink<W> {
    inner: W,
    written: u64,
    compressed_in: u64,
    limits: GzipLimits,
}

impl<W: Write> Write for LimitedSink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let total = self.written.saturating_add(buf.len() as u64);
        if total > self.limits.max_output_bytes {
            return Err(io::Error::other(SinkStop::Output));
        }
        if total > self.limits.ratio_grace_bytes
            && total > self.compressed_in.saturating_mul(self.limits.max_ratio)
        {
            return Err(io::Error::other(SinkStop::Ratio));
        }
        let n = self
            .inner
            .write(buf)
            .map_err(|e| io::Error::other(SinkStop::Sink(e)))?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner
            .flush()
            .map_err(|e| io::Error::other(SinkStop::Sink(e)))
    }
}

/// Push-style bounded gzip decompressor writing into `W`. Concatenated gzip members (RFC 1952
/// allows them) are decoded in sequence; anything after the last member must be another member.
#[derive(Debug)]
pub struct Gunzip<W: Write> {
    decoder: MultiGzDecoder<LimitedSink<W>>,
    limits: GzipLimits,
}

impl<W: Write> Gunzip<W> {
    /// A decompressor writing decompressed bytes to `sink`.
    pub fn new(sink: W, limits: GzipLimits) -> Self {
        let sink = LimitedSink {
            inner: sink,
            written: 0,
            compressed_in: 0,
            limits,
        };
        Self {
            decoder: MultiGzDecoder::new(sink),
            limits,
        }
    }

    /// Feeds the next compressed bytes.
    pub fn write_compressed(&mut self, data: &[u8]) -> Result<(), DecompressError> {
        let sink = self.decoder.get_mut();
        sink.compressed_in = sink.compressed_in.saturating_add(data.len() as u64);
        let result = self.decoder.write_all(data);
        result.map_err(|e| self.classify(e))
    }

    /// Ends the stream: checks the final CRC and length, flushes, returns the sink and counts.
    pub fn finish(mut self) -> Result<(W, GzipStats), DecompressError> {
        if let Err(e) = self.decoder.try_finish() {
            return Err(self.classify(e));
        }
        let limits = self.limits;
        let sink = self
            .decoder
            .finish()
            .map_err(|e| classify_with(e, limits))?;
        let stats = GzipStats {
            compressed: sink.compressed_in,
            uncompressed: sink.written,
        };
        Ok((sink.inner, stats))
    }

    fn classify(&self, err: io::Error) -> DecompressError {
        classify_with(err, self.limits)
    }
}

fn classify_with(err: io::Error, limits: GzipLimits) -> DecompressError {
    let is_stop = err.get_ref().is_some_and(|inner| inner.is::<SinkStop>());
    if !is_stop {
        return DecompressError::Corrupt(err);
    }
    match err.into_inner().map(|inner| inner.downcast::<SinkStop>()) {
        Some(Ok(stop)) => match *stop {
            SinkStop::Output => DecompressError::OutputTooLarge {
                limit: limits.max_output_bytes,
            },
            SinkStop::Ratio => DecompressError::RatioExceeded {
                max_ratio: limits.max_ratio,
            },
            SinkStop::Sink(e) => DecompressError::Output(e),
        },
        _ => DecompressError::Output(io::Error::other("unclassifiable sink error")),
    }
}

/// Decompresses all of `src` into `dst` within `limits`.
pub fn gunzip<R: Read, W: Write>(
    mut src: R,
    dst: W,
    limits: GzipLimits,
) -> Result<GzipStats, DecompressError> {
    let mut gunzip = Gunzip::new(dst, limits);
    let mut buf = vec![0u8; COPY_CHUNK];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(DecompressError::Input(e)),
        };
        gunzip.write_compressed(&buf[..n])?;
    }
    gunzip.finish().map(|(_, stats)| stats)
}

/// Compresses all of `src` into `dst` (one gzip member, default level 6).
pub fn gzip<R: Read, W: Write>(mut src: R, dst: W) -> io::Result<GzipStats> {
    let mut encoder = GzEncoder::new(
        CountingWriter {
            inner: dst,
            written: 0,
        },
        Compression::default(),
    );
    let uncompressed = io::copy(&mut src, &mut encoder)?;
    let counted = encoder.finish()?;
    Ok(GzipStats {
        compressed: counted.written,
        uncompressed,
    })
}

#[derive(Debug)]
struct CountingWriter<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compress(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        gzip(data, &mut out).unwrap();
        out
    }

    #[test]
    fn round_trips_through_push_and_copy_apis() {
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let packed = compress(&data);
        let mut out = Vec::new();
        let stats = gunzip(packed.as_slice(), &mut out, GzipLimits::default()).unwrap();
        assert_eq!(out, data);
        assert_eq!(
            stats,
            GzipStats {
                compressed: packed.len() as u64,
                uncompressed: data.len() as u64
            }
        );

        let mut push = Gunzip::new(Vec::new(), GzipLimits::default());
        for piece in packed.chunks(7) {
            push.write_compressed(piece).unwrap();
        }
        assert_eq!(push.finish().unwrap().0, data);
    }

    #[test]
    fn accepts_concatenated_members() {
        let mut packed = compress(b"hello ");
        packed.extend(compress(b"world"));
        let mut out = Vec::new();
        gunzip(packed.as_slice(), &mut out, GzipLimits::default()).unwrap();
        assert_eq!(out, b"hello world");
    }

    #[test]
    fn rejects_non_gzip_truncated_and_tampered_data() {
        let packed = compress(&[b'x'; 10_000]);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            ("plain text", b"<xml>not compressed</xml>".to_vec()),
            ("raw deflate", {
                let mut e = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
                e.write_all(b"data").unwrap();
                e.finish().unwrap()
            }),
            ("truncated", packed[..packed.len() - 5].to_vec()),
            ("header only", packed[..10].to_vec()),
            ("bad crc", {
                let mut p = packed.clone();
                let n = p.len();
                p[n - 6] ^= 0xff;
                p
            }),
            ("trailing garbage", {
                let mut p = packed.clone();
                p.extend_from_slice(b"garbage!");
                p
            }),
        ];
        for (name, input) in cases {
            let err = gunzip(input.as_slice(), io::sink(), GzipLimits::default()).unwrap_err();
            assert!(matches!(err, DecompressError::Corrupt(_)), "{name}: {err}");
            assert!(err.is_peer_error(), "{name}");
        }
    }

    #[test]
    fn stops_a_bomb_at_the_ratio_limit_without_producing_it() {
        // 64 MiB of zeros compresses to ~64 KiB (ratio ~1000:1).
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..64 {
            encoder.write_all(&zeros).unwrap();
        }
        let bomb = encoder.finish().unwrap();
        let mut sink = CountingWriter {
            inner: io::sink(),
            written: 0,
        };
        let err = gunzip(bomb.as_slice(), &mut sink, GzipLimits::default()).unwrap_err();
        assert!(
            matches!(err, DecompressError::RatioExceeded { max_ratio: 200 }),
            "{err}"
        );
        assert!(
            sink.written < 16 * 1024 * 1024,
            "wrote {} bytes before stopping",
            sink.written
        );

        let limits = GzipLimits {
            max_output_bytes: 4 * 1024 * 1024,
            max_ratio: u64::MAX,
            ..GzipLimits::default()
        };
        let err = gunzip(bomb.as_slice(), io::sink(), limits).unwrap_err();
        assert!(
            matches!(err, DecompressError::OutputTooLarge { limit } if limit == 4 * 1024 * 1024),
            "{err}"
        );
        assert!(err.is_peer_error());
    }

    #[test]
    fn local_sink_failures_are_not_blamed_on_the_peer() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let err = gunzip(compress(b"payload").as_slice(), Full, GzipLimits::default()).unwrap_err();
        assert!(matches!(err, DecompressError::Output(_)), "{err}");
        assert!(!err.is_peer_error());
    }
}
