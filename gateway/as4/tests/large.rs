//! A 100 MB XHE (DIGG's capacity rule, TP-2.8.a; TF-08 asks 70 MB) passes through send and
//! receive — gzip, AES-GCM, digests, MIME, TLS — byte-identical, without either side holding
//! the payload in memory: the whole test process (both MSHs) stays far below the message size.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufWriter, Read, Write};

use base64::Engine as _;
use common::{ORG_A, ORG_B, XheSpec, node};
use sdkgw_as4::ebms::Leg;
use sdkgw_as4::msh::handoff::XHE_CONTENT;
use sdkgw_as4::msh::{AttemptOutcome, prepare};
use sdkgw_schemas::Environment;
use sdkgw_xml_security::crypto::DigestMethod;
use time::OffsetDateTime;

const TARGET: u64 = 100_000_000;

/// Writes an XHE of about `TARGET` bytes whose payload is base64 of pseudo-random bytes (an
/// end-to-end encrypted SDK message looks like this); returns its SHA-256.
fn write_big_xhe(spec: &XheSpec, path: &std::path::Path) -> Vec<u8> {
    let mut hasher = DigestMethod::Sha256.hasher();
    let file = std::fs::File::create(path).unwrap();
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut put = |bytes: &[u8], w: &mut BufWriter<std::fs::File>| {
        hasher.update(bytes);
        w.write_all(bytes).unwrap();
    };
    put(spec.head().as_bytes(), &mut w);
    put(b"<CipherValue>", &mut w);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut raw = vec![0u8; 3 * 256 * 1024];
    let mut written = 0u64;
    while written < TARGET {
        for chunk in raw.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        let text = base64::engine::general_purpose::STANDARD.encode(&raw);
        put(text.as_bytes(), &mut w);
        written += text.len() as u64;
    }
    put(b"</CipherValue>", &mut w);
    put(XheSpec::TAIL.as_bytes(), &mut w);
    w.flush().unwrap();
    hasher.finish()
}

/// Sends a 100 MB XHE from `from` to `to` and checks what `to` stored.
async fn send_large(from: &common::Node, to: &common::Node, spec: &XheSpec) -> u64 {
    let path = from.spool.join("big.xml");
    let digest = write_big_xhe(spec, &path);
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size >= TARGET, "{size}");
    let fed = Environment::Dev.federation().as_str();
    let (out, _payload) = prepare(
        &path,
        Some(Leg::Message),
        fed,
        &from.spool,
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let attempt = from.sender.attempt(&out, &to.route()).await;
    assert!(
        matches!(attempt.outcome, AttemptOutcome::Delivered(_)),
        "{:?}",
        attempt.outcome
    );
    let key = to
        .store
        .find_by_id(sdkgw_store::IdKind::As4MessageId, &out.message_id)
        .unwrap()[0];
    let rec = to.store.get_message(&key).unwrap().unwrap();
    let blob = rec.content(XHE_CONTENT).unwrap().clone();
    assert_eq!(blob.len, size);
    let mut hasher = DigestMethod::Sha256.hasher();
    let mut reader = to.store.open_blob(&blob).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    assert_eq!(hasher.finish(), digest, "delivered XHE is byte-identical");
    std::fs::remove_file(&path).unwrap();
    size
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_megabyte_messages_are_delivered_byte_identical_both_ways_in_bounded_memory() {
    let (a, b) = (node(0).await, node(1).await);
    let size = send_large(&a, &b, &XheSpec::message(ORG_A, ORG_B)).await;
    send_large(&b, &a, &XheSpec::message(ORG_B, ORG_A)).await;
    let peak_mib = common::peak_rss_mib();
    eprintln!(
        "peak RSS of the test process (sender + receiver): {peak_mib} MiB for {} MB messages",
        size / 1_000_000
    );
    assert!(
        peak_mib < 96,
        "peak RSS {peak_mib} MiB: the payload is being held in memory"
    );
}
