//! Shared by the benchmarks: an AS4-like payload that never exists in full, and process
//! measurements (CPU seconds, peak RSS) from /proc.
#![allow(dead_code, unreachable_pub)] // shared bench support; each bench uses a subset

use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use sdkgw_as4::compress::{Gunzip, GzipLimits, gzip};
use sdkgw_as4::mime::{MultipartReader, MultipartWriter, OutgoingPart};
use tokio::io::{AsyncRead, ReadBuf};

pub const MIB: u64 = 1024 * 1024;

pub const SOAP: &[u8] = b"<S12:Envelope xmlns:S12=\"http://www.w3.org/2003/05/soap-envelope\"><S12:Header/><S12:Body/></S12:Envelope>";

/// Wire size in MiB from `SDKGW_BENCH_MIB` (default 1024).
pub fn wire_mib() -> u64 {
    std::env::var("SDKGW_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

/// 8 MiB of base64 text from a xorshift generator, gzip-compressed (~1.33:1, like an XHE that
/// carries an encrypted payload).
pub fn gzip_member() -> Bytes {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let text: Vec<u8> = (0..8 * MIB)
        .map(|i| {
            if i % 77 == 76 {
                return b'\n';
            }
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ALPHABET[(state % 64) as usize]
        })
        .collect();
    let mut out = Vec::new();
    gzip(text.as_slice(), &mut out).unwrap();
    Bytes::from(out)
}

/// `member` repeated `count` times: concatenated gzip members are valid gzip (RFC 1952).
pub struct Repeat {
    member: Bytes,
    offset: usize,
    left: u64,
}

impl Repeat {
    pub fn new(member: Bytes, count: u64) -> Self {
        let left = member.len() as u64 * count;
        Self {
            member,
            offset: 0,
            left,
        }
    }
}

impl AsyncRead for Repeat {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let avail = (this.member.len() - this.offset).min(buf.remaining());
        let n = (avail as u64).min(this.left) as usize;
        buf.put_slice(&this.member[this.offset..this.offset + n]);
        this.offset = (this.offset + n) % this.member.len();
        this.left -= n as u64;
        Poll::Ready(Ok(()))
    }
}

/// An AS4-shaped message of about `wire_mib` MiB: SOAP root plus one gzip attachment
/// `cid:message` made of whole copies of `member`.
pub fn as4_message(member: &Bytes, wire_mib: u64) -> MultipartWriter {
    let count = (wire_mib * MIB / member.len() as u64).max(1);
    let mut writer = MultipartWriter::new(Bytes::from_static(SOAP));
    let source = Repeat::new(member.clone(), count);
    let len = member.len() as u64 * count;
    writer
        .attach(
            OutgoingPart::from_reader("message", "application/octet-stream", source, len).unwrap(),
        )
        .unwrap();
    writer
}

/// What the receive side found.
#[derive(Debug, Default)]
pub struct Received {
    pub parts: usize,
    pub root_bytes: usize,
    pub decompressed: u64,
}

/// The receive path under test: MIME parts from `reader`; the root into memory, `cid:message`
/// through bounded gunzip into `sink`.
pub async fn receive<R: AsyncRead + Unpin, W: Write>(
    reader: &mut MultipartReader<R>,
    sink: W,
) -> Received {
    let mut received = Received::default();
    let mut sink = Some(sink);
    while let Some(headers) = reader.next_part().await.unwrap() {
        received.parts += 1;
        match (headers.content_id(), sink.take()) {
            (Some("message"), Some(sink)) => {
                let limits = GzipLimits {
                    max_output_bytes: 4 * 1024 * MIB,
                    ..GzipLimits::default()
                };
                let mut gunzip = Gunzip::new(sink, limits);
                while let Some(chunk) = reader.chunk().await.unwrap() {
                    gunzip.write_compressed(&chunk).unwrap();
                }
                let (mut sink, stats) = gunzip.finish().unwrap();
                sink.flush().unwrap();
                received.decompressed = stats.uncompressed;
            }
            (_, unused) => {
                sink = unused;
                while let Some(chunk) = reader.chunk().await.unwrap() {
                    received.root_bytes += chunk.len();
                }
            }
        }
    }
    received
}

/// CPU seconds (user + system) this process has used, from /proc/self/stat (100 Hz ticks):
/// unlike wall time, barely affected by other processes competing for the cores.
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // Fields 14 and 15 of stat(5) are utime and stime: index 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident set size (VmHWM) of this process in MiB.
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    kib / 1024.0
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

/// flate2 decompressing `member` from memory into a sink, wall MiB/s and MiB per CPU-second:
/// the ceiling for the decompressed-output rate of the pipelines.
pub fn gunzip_ceiling(member: &Bytes) -> (f64, f64) {
    let rounds = 24;
    let started = std::time::Instant::now();
    let cpu_started = cpu_seconds();
    let mut out = 0;
    for _ in 0..rounds {
        out += sdkgw_as4::compress::gunzip(member.as_ref(), std::io::sink(), GzipLimits::default())
            .unwrap()
            .uncompressed;
    }
    (
        mib(out) / started.elapsed().as_secs_f64(),
        mib(out) / (cpu_seconds() - cpu_started),
    )
}
