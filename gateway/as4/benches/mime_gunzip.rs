//! One large AS4-shaped MIME message streamed from the MIME writer through the MIME reader and
//! bounded gunzip into a file, as the receive path will (minus TLS, AES-GCM and digests).
//! Reports throughput and the process's peak RSS, which must stay small and independent of the
//! message size.
//!
//! `cargo bench -p sdkgw-as4 --bench mime_gunzip` (1 GiB on the wire);
//! `SDKGW_BENCH_MIB=256 cargo bench -p sdkgw-as4 --bench mime_gunzip` for a shorter run.
//!
//! The attachment is one 8 MiB gzip member repeated (see `common`), so the message never
//! exists in memory or on disk.
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark binary

mod common;

use std::io::BufWriter;
use std::time::Instant;

use common::{cpu_seconds, gunzip_ceiling, gzip_member, mib, peak_rss_mib};
use sdkgw_as4::mime::{MimeLimits, MultipartReader};

fn main() {
    let member = gzip_member();
    let writer = common::as4_message(&member, common::wire_mib());
    let wire_total = writer.encoded_len();
    let boundary =
        match sdkgw_as4::mime::Framing::from_content_type(&writer.content_type()).unwrap() {
            sdkgw_as4::mime::Framing::Multipart { boundary, .. } => boundary,
            sdkgw_as4::mime::Framing::Soap => unreachable!("a multipart writer"),
        };
    let rss_before = peak_rss_mib();

    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let out_path = dir.path().join("payload.xml");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let cpu_started = cpu_seconds();
    let received = runtime.block_on(async {
        let mut reader =
            MultipartReader::new(writer.into_reader(), &boundary, MimeLimits::default()).unwrap();
        let file = BufWriter::with_capacity(256 * 1024, std::fs::File::create(&out_path).unwrap());
        common::receive(&mut reader, file).await
    });
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_started;
    assert_eq!(received.parts, 2);
    assert_eq!(
        std::fs::metadata(&out_path).unwrap().len(),
        received.decompressed
    );
    let out = received.decompressed;
    println!(
        "mime_gunzip: wire {:.0} MiB ({:.1} MiB gzip members) -> {:.0} MiB decompressed file",
        mib(wire_total),
        mib(member.len() as u64),
        mib(out)
    );
    println!(
        "mime_gunzip: {secs:.2} s, {:.0} MiB/s wire in, {:.0} MiB/s decompressed out; CPU {cpu:.2} s = {:.0} MiB out per CPU-second",
        mib(wire_total) / secs,
        mib(out) / secs,
        mib(out) / cpu
    );
    let (ceiling_wall, ceiling_cpu) = gunzip_ceiling(&member);
    println!(
        "mime_gunzip: reference, gunzip alone from memory to a sink: {ceiling_wall:.0} MiB/s, {ceiling_cpu:.0} MiB per CPU-second"
    );
    println!(
        "mime_gunzip: peak RSS {:.1} MiB (before the stream: {rss_before:.1} MiB, incl. the 8 MiB test member and its source text); limit of interest: {} MiB",
        peak_rss_mib(),
        128
    );
}
