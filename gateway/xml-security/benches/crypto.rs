//! `cargo bench -p sdkgw-xml-security --bench crypto`: streaming AES-GCM throughput (what AS4
//! attachments of up to 2 GiB go through) and RSA-OAEP key-unwrap cost, next to the limits
//! measured in the same run: aws-lc-rs one-shot AES-GCM on the same data size, and
//! `openssl speed rsa3072` private-key operations. `BENCH_SECONDS` (default 1) sets the time
//! per RSA measurement; `BENCH_GCM_MIB` (default 256) the streamed size.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::io::{self, Read};
use std::process::Command;
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, PrivateDecryptingKey,
};
use rcgen::{CertificateParams, KeyPair};
use sdkgw_certs::{Certificate, PrivateKey};
use sdkgw_xml_security::crypto::gcm_stream::{decrypt_stream, encrypt_stream};
use sdkgw_xml_security::crypto::{ContentKey, DataEncryption, DecryptionKey, KeyTransport};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Mean time per call of `f`, running it for about `budget`.
fn time_per_call(budget: Duration, mut f: impl FnMut()) -> Duration {
    f();
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < budget || n < 10 {
        f();
        n += 1;
    }
    start.elapsed() / n
}

/// A reader yielding `left` bytes of a fixed pattern (a memcpy per read, so the reader's own
/// cost stays far below the cipher's).
struct Pattern {
    left: u64,
    block: Vec<u8>,
}
impl Pattern {
    fn new(left: u64) -> Self {
        Pattern {
            left,
            block: (0..64 * 1024).map(|i| (i % 251) as u8).collect(),
        }
    }
}
impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(self.block.len())
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        buf[..n].copy_from_slice(&self.block[..n]);
        self.left -= n as u64;
        Ok(n)
    }
}

fn mib_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / d.as_secs_f64()
}

fn bench_gcm() {
    let mib = env_or("BENCH_GCM_MIB", 256);
    let len = mib * 1024 * 1024;
    let key = ContentKey::generate(DataEncryption::Aes128Gcm).unwrap();

    let start = Instant::now();
    encrypt_stream(&key, Pattern::new(len), io::sink()).unwrap();
    let enc = start.elapsed();

    // Decrypt needs real ciphertext: 64 MiB in memory, streamed through the decryptor.
    let dec_len = len.min(64 * 1024 * 1024);
    let mut ct = Vec::with_capacity(dec_len as usize + 28);
    encrypt_stream(&key, Pattern::new(dec_len), &mut ct).unwrap();
    let start = Instant::now();
    let out = decrypt_stream(&key, ct.as_slice(), io::sink()).unwrap();
    let dec = start.elapsed();
    assert_eq!(out.plaintext_len(), dec_len);

    // The limit: aws-lc-rs one-shot AES-128-GCM in place on 64 MiB.
    let raw = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &[7u8; 16]).unwrap());
    let mut buf = vec![0x5au8; dec_len as usize];
    let start = Instant::now();
    let tag = raw
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key([1; 12]),
            Aad::empty(),
            &mut buf,
        )
        .unwrap();
    let one_shot = start.elapsed();
    let _ = black_box(tag);

    println!(
        "AES-128-GCM streaming encrypt: {mib} MiB in {enc:?} = {:.0} MiB/s",
        mib_per_s(len, enc)
    );
    println!(
        "AES-128-GCM streaming decrypt: {} MiB in {dec:?} = {:.0} MiB/s (tag checked at the end)",
        dec_len >> 20,
        mib_per_s(dec_len, dec)
    );
    println!(
        "aws-lc-rs one-shot AES-128-GCM seal (limit): {} MiB in {one_shot:?} = {:.0} MiB/s",
        dec_len >> 20,
        mib_per_s(dec_len, one_shot)
    );
}

/// `openssl speed rsa3072` private operations per second, if openssl is there.
fn openssl_rsa3072_sign_per_s(seconds: u64) -> Option<f64> {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", &seconds.to_string(), "rsa3072"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("rsa 3072 bits"))?;
    // "rsa 3072 bits 0.002345s 0.000051s    426.4  19607.8": sign/s is the 6th field.
    line.split_whitespace().nth(5)?.parse().ok()
}

fn bench_oaep() {
    let budget = Duration::from_secs(env_or("BENCH_SECONDS", 1));
    let rsa = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa3072).unwrap();
    let pkcs8 = rsa.as_der().unwrap();
    let key = PrivateKey::from_pkcs8_der(pkcs8.as_ref()).unwrap();
    let kp = KeyPair::try_from(pkcs8.as_ref()).unwrap();
    let cert = CertificateParams::new(vec!["bench.example".into()])
        .unwrap()
        .self_signed(&kp)
        .unwrap();
    let cert = Certificate::from_der(cert.der()).unwrap();
    let cek = ContentKey::generate(DataEncryption::Aes128Gcm).unwrap();
    let wrapped = KeyTransport::RSA_OAEP_SHA256
        .wrap(&cert, &cek, None)
        .unwrap();

    let prepared = DecryptionKey::new(&key).unwrap();
    let ours = time_per_call(budget, || {
        black_box(
            KeyTransport::RSA_OAEP_SHA256
                .unwrap_with(
                    &prepared,
                    black_box(&wrapped),
                    DataEncryption::Aes128Gcm,
                    None,
                )
                .unwrap(),
        );
    });
    let unprepared = time_per_call(budget, || {
        black_box(
            KeyTransport::RSA_OAEP_SHA256
                .unwrap(&key, black_box(&wrapped), DataEncryption::Aes128Gcm, None)
                .unwrap(),
        );
    });
    let bare_key =
        OaepPrivateDecryptingKey::new(PrivateDecryptingKey::from_pkcs8(pkcs8.as_ref()).unwrap())
            .unwrap();
    let mut out = vec![0u8; bare_key.min_output_size()];
    let bare = time_per_call(budget, || {
        black_box(
            bare_key
                .decrypt(&OAEP_SHA256_MGF1SHA256, black_box(&wrapped), &mut out, None)
                .unwrap(),
        );
    });
    println!("RSA-3072 OAEP unwrap (KeyTransport::unwrap_with, prepared key): {ours:?} per key");
    println!(
        "RSA-3072 OAEP unwrap preparing the key each time (unwrap):    {unprepared:?} per key"
    );
    println!("RSA-3072 OAEP decrypt, aws-lc-rs bare (pre-parsed key):        {bare:?} per key");
    match openssl_rsa3072_sign_per_s(env_or("BENCH_SECONDS", 1)) {
        Some(per_s) => {
            let op = Duration::from_secs_f64(1.0 / per_s);
            println!(
                "openssl speed rsa3072: {per_s:.1} private ops/s = {op:?} per op; unwrap = {:.2}x",
                ours.as_secs_f64() / op.as_secs_f64()
            );
        }
        None => println!("openssl speed rsa3072: not available"),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and expects a quick run.
    if !std::env::args().any(|a| a == "--bench") {
        println!("crypto bench: run with `cargo bench -p sdkgw-xml-security --bench crypto`");
        return;
    }
    bench_gcm();
    bench_oaep();
}
