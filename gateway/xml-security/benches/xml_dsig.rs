//! `cargo bench -p sdkgw-xml-security --bench xml_dsig`: C14N throughput and enveloped
//! sign/verify cost, next to the physical limit measured in the same run (`openssl speed
//! rsa3072`, and aws-lc-rs's bare RSA-3072 operations that our code calls).
//!
//! Targets (issue 3): per sign, everything except the RSA private-key operation costs at most
//! 15% of one RSA-3072 private op; verifying a 10 KB document (parse included) is within 2x
//! of one RSA-3072 public op plus the SHA-256 of its bytes (the signed document's: the 10 KB
//! with the signature added, about 12.6 KB). Runs a few seconds in total;
//! `BENCH_SECONDS` (default 1) sets the time per measurement.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, KeyPair as _, RSA_PKCS1_SHA256, UnparsedPublicKey};
use rcgen::{CertificateParams, KeyPair, PKCS_RSA_SHA256, RsaKeySize};
use sdkgw_certs::{Certificate, PrivateKey};
use sdkgw_xml_security::c14n::{Algorithm, NodeSet, canonicalize};
use sdkgw_xml_security::dsig::{EmbeddedCertificate, Verifier, VerifyPolicy, sign_enveloped};
use sdkgw_xml_security::xml::{Document, ParseOptions};

/// Time per call of `f`: the fastest mean over batches of 8 calls, running for about
/// `budget`. The minimum filters out other processes on this shared 2-core machine.
fn time_per_call(budget: Duration, mut f: impl FnMut()) -> Duration {
    f();
    let start = Instant::now();
    let mut best = Duration::MAX;
    while start.elapsed() < budget || best == Duration::MAX {
        let batch = Instant::now();
        for _ in 0..8 {
            f();
        }
        best = best.min(batch.elapsed() / 8);
    }
    best
}

/// An XHE-like document of about `target` bytes: namespaces, attributes, text, entities.
fn document(target: usize) -> Vec<u8> {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<x:XHE xmlns:x=\"urn:xhe\" xmlns=\"urn:basic\" xmlns:a=\"urn:agg\">\n",
    );
    let mut i = 0;
    while s.len() < target {
        s.push_str(&format!(
            "  <a:Party schemeID=\"iso6523-actorid-upis\" n=\"{i}\"><ID>0203:org{i}.example</ID><Name xml:lang=\"sv\">Organisation {i} &amp; Co &lt;test&gt;</Name></a:Party>\n"
        ));
        i += 1;
    }
    s.push_str("</x:XHE>\n");
    s.into_bytes()
}

/// One RSA-3072 key pair with a self-signed certificate.
fn key_and_cert() -> (PrivateKey, Certificate) {
    let kp = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_3072).unwrap();
    let cert = CertificateParams::new(vec!["bench.example".into()])
        .unwrap()
        .self_signed(&kp)
        .unwrap();
    let key = PrivateKey::from_pkcs8_der(&kp.serialize_der()).unwrap();
    (key, Certificate::from_der(cert.der()).unwrap())
}

/// `openssl speed -seconds N rsa3072`: (sign/s, verify/s), if openssl is there.
fn openssl_speed(seconds: u64) -> Option<(f64, f64)> {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", &seconds.to_string(), "rsa3072"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("rsa 3072"))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    // "rsa 3072 bits 0.000950s 0.000019s 1052.6 52631.6" (newer: more columns; the last two
    // numbers are sign/s and verify/s in the classic layout).
    let nums: Vec<f64> = fields
        .iter()
        .filter_map(|f| f.parse::<f64>().ok())
        .collect();
    match nums.as_slice() {
        [.., sign, verify] => Some((*sign, *verify)),
        _ => None,
    }
}

/// Times of `a` and `b` run alternately (see [`paired`]).
struct Pair {
    /// Medians: both operations see the same machine state, which matters on a shared host.
    a: Duration,
    b: Duration,
    /// Median of `b - a` per pair.
    diff: Duration,
    /// The fastest single calls: the cost with the least interference. On this VM, bursts
    /// of load from other tenants hit the longer of two alternating calls more often, which
    /// inflates its median more than the shorter one's.
    a_min: Duration,
    b_min: Duration,
}

/// Runs `a` and `b` alternately for about `budget` (at least 21 pairs).
fn paired(budget: Duration, mut a: impl FnMut(), mut b: impl FnMut()) -> Pair {
    let start = Instant::now();
    let (mut ta, mut tb, mut diff) = (Vec::new(), Vec::new(), Vec::new());
    while start.elapsed() < budget || ta.len() < 21 {
        let t0 = Instant::now();
        a();
        let t1 = Instant::now();
        b();
        let t2 = Instant::now();
        ta.push(t1 - t0);
        tb.push(t2 - t1);
        diff.push((t2 - t1).as_secs_f64() - (t1 - t0).as_secs_f64());
    }
    ta.sort();
    tb.sort();
    diff.sort_by(f64::total_cmp);
    Pair {
        a: ta[ta.len() / 2],
        b: tb[tb.len() / 2],
        diff: Duration::from_secs_f64(diff[diff.len() / 2].max(0.0)),
        a_min: ta[0],
        b_min: tb[0],
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let budget = Duration::from_secs(seconds);
    let options = ParseOptions::default();
    if let Ok(what) = std::env::var("BENCH_PROFILE") {
        profile(&what, &options);
        return;
    }
    if std::env::var_os("BENCH_PARSE_ONLY").is_some() {
        // For profiling the parser alone.
        let small = document(10 * 1024);
        let t = time_per_call(budget, || {
            black_box(Document::parse(small.clone(), &options).unwrap());
        });
        println!("parse 10 KB: {:.1} us", us(t));
        return;
    }

    // C14N throughput on 1 MB.
    let big = document(1 << 20);
    let big_doc = Document::parse(big.clone(), &options).unwrap();
    println!(
        "document: {} bytes (1 MB case), {} bytes (10 KB case)",
        big.len(),
        document(10 * 1024).len()
    );
    let mut sink = Vec::with_capacity(big.len() * 2);
    for (name, alg) in [
        ("C14N 1.0", Algorithm::c14n10()),
        ("exclusive C14N", Algorithm::exclusive(&[])),
    ] {
        let t = time_per_call(budget, || {
            sink.clear();
            canonicalize(&big_doc, &NodeSet::document(), &alg, &mut sink).unwrap();
            black_box(&sink);
        });
        println!(
            "c14n  {name:<15} 1 MB: {:>8.1} MB/s ({:.2} ms)",
            big.len() as f64 / t.as_secs_f64() / 1e6,
            t.as_secs_f64() * 1e3
        );
    }
    let t = time_per_call(budget, || {
        black_box(Document::parse(big.clone(), &options).unwrap());
    });
    println!(
        "parse                 1 MB: {:>8.1} MB/s",
        big.len() as f64 / t.as_secs_f64() / 1e6
    );
    let t = time_per_call(budget, || {
        let mut h = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        canonicalize(
            &big_doc,
            &NodeSet::document(),
            &Algorithm::c14n10(),
            HashWriter(&mut h),
        )
        .unwrap();
        black_box(h.finish());
    });
    println!(
        "c14n 1.0 -> SHA-256   1 MB: {:>8.1} MB/s",
        big.len() as f64 / t.as_secs_f64() / 1e6
    );

    // Sign and verify 10 KB, against the bare RSA operations.
    let (key, cert) = key_and_cert();
    let small = document(10 * 1024);
    let rng = SystemRandom::new();
    let mut sig = vec![0u8; key.rsa().public_modulus_len()];
    let sign = paired(
        budget * 2,
        || {
            key.rsa()
                .sign(
                    &RSA_PKCS1_SHA256,
                    &rng,
                    b"0123456789abcdef0123456789abcdef",
                    &mut sig,
                )
                .unwrap();
        },
        || {
            black_box(sign_enveloped(small.clone(), &key, &cert, &options).unwrap());
        },
    );
    let signed = sign_enveloped(small.clone(), &key, &cert, &options).unwrap();
    let public = UnparsedPublicKey::new(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        key.rsa().public_key().as_ref().to_vec(),
    );
    // The physical limit for verifying `signed`: one RSA public operation (from the key's
    // bytes, as the verifier has them from the certificate) over the SHA-256 of its bytes.
    let mut signed_sig = vec![0u8; key.rsa().public_modulus_len()];
    key.rsa()
        .sign(&RSA_PKCS1_SHA256, &rng, &signed, &mut signed_sig)
        .unwrap();
    let policy = VerifyPolicy::default();
    let parse_verify = paired(
        budget,
        || public.verify(black_box(&signed), &signed_sig).unwrap(),
        || {
            let doc = Document::parse(signed.clone(), &options).unwrap();
            black_box(
                Verifier::new(&policy, &EmbeddedCertificate)
                    .verify_enveloped(&doc)
                    .unwrap(),
            );
        },
    );
    let parsed = Document::parse(signed.clone(), &options).unwrap();
    let verify_only = paired(
        budget,
        || public.verify(black_box(&signed), &signed_sig).unwrap(),
        || {
            black_box(
                Verifier::new(&policy, &EmbeddedCertificate)
                    .verify_enveloped(&parsed)
                    .unwrap(),
            );
        },
    );
    let sha_signed = time_per_call(budget, || {
        black_box(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            black_box(&signed),
        ));
    });
    let parse_small = time_per_call(budget, || {
        black_box(Document::parse(signed.clone(), &options).unwrap());
    });

    println!();
    let openssl = openssl_speed(seconds);
    if let Some((sign_s, verify_s)) = openssl {
        println!(
            "openssl speed rsa3072:        sign {:>8.1} us   verify {:>6.1} us",
            1e6 / sign_s,
            1e6 / verify_s
        );
    } else {
        println!("openssl speed rsa3072: openssl not available");
    }
    let (rsa_private, sign_time, overhead) = (sign.a, sign.b, sign.diff);
    let rsa_public_plus_sha = parse_verify.a;
    println!(
        "aws-lc-rs RSA-3072 private op:     {:>8.1} us",
        us(rsa_private)
    );
    println!(
        "aws-lc-rs RSA-3072 public op + SHA-256 of the signed document ({} bytes): {:>6.1} us median, {:.1} us fastest",
        signed.len(),
        us(rsa_public_plus_sha),
        us(parse_verify.a_min)
    );
    let sign_ratio = overhead.as_secs_f64() / rsa_private.as_secs_f64();
    println!(
        "sign_enveloped 10 KB:  {:>8.1} us  (non-RSA part {:>6.1} us = {:>5.1}% of the RSA op; target <= 15%: {})",
        us(sign_time),
        us(overhead),
        sign_ratio * 100.0,
        if sign_ratio <= 0.15 { "met" } else { "MISSED" }
    );
    if let Some((sign_s, verify_s)) = openssl {
        println!(
            "  relative to openssl's RSA-3072: sign non-RSA part {:.1}% of its private op; parse + verify {:.2}x its public op + SHA-256",
            overhead.as_secs_f64() * sign_s * 100.0,
            parse_verify.b.as_secs_f64() / (1.0 / verify_s + sha_signed.as_secs_f64())
        );
    }
    let ratios = |p: &Pair| (ratio(p.b, p.a), ratio(p.b_min, p.a_min));
    let (by_medians, by_fastest) = ratios(&parse_verify);
    let verdict = match (by_medians <= 2.0, by_fastest <= 2.0) {
        (true, true) => "met",
        (false, true) => "met by the fastest calls, MISSED by the medians",
        (true, false) => "met by the medians, MISSED by the fastest calls",
        (false, false) => "MISSED",
    };
    println!(
        "parse + verify 10 KB:  {:>8.1} us median, {:.1} us fastest ({by_medians:.2}x RSA public op + SHA-256 by medians, {by_fastest:.2}x by the fastest calls; target <= 2x: {verdict})",
        us(parse_verify.b),
        us(parse_verify.b_min),
    );
    let (verify_medians, verify_fastest) = ratios(&verify_only);
    println!(
        "  of which parse {:>6.1} us; verify of the parsed tree {:.1} us median ({verify_medians:.2}x), {:.1} us fastest ({verify_fastest:.2}x)",
        us(parse_small),
        us(verify_only.b),
        us(verify_only.b_min),
    );
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// For instruction counts: runs one operation `BENCH_ITERATIONS` times (default 100) inside
/// `profiled`, so `valgrind --tool=callgrind --toggle-collect=*profiled*` counts exactly that
/// (key generation and setup excluded). `what`: `parse`, `verify` (the parsed tree),
/// `parse_verify`, `parse_1mb`, `c14n` (1 MB, C14N 1.0 into SHA-256), `sign`.
fn profile(what: &str, options: &ParseOptions) {
    let n: usize = std::env::var("BENCH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let (key, cert) = key_and_cert();
    let small = document(10 * 1024);
    let signed = sign_enveloped(small.clone(), &key, &cert, options).unwrap();
    let parsed = Document::parse(signed.clone(), options).unwrap();
    let big = document(1 << 20);
    let big_doc = Document::parse(big.clone(), options).unwrap();
    let policy = VerifyPolicy::default();
    let verifier = Verifier::new(&policy, &EmbeddedCertificate);
    let op: Box<dyn Fn()> = match what {
        "parse" => Box::new(|| drop(black_box(Document::parse(signed.clone(), options).unwrap()))),
        "parse_1mb" => Box::new(|| drop(black_box(Document::parse(big.clone(), options).unwrap()))),
        "verify" => Box::new(|| drop(black_box(verifier.verify_enveloped(&parsed).unwrap()))),
        "parse_verify" => Box::new(|| {
            let doc = Document::parse(signed.clone(), options).unwrap();
            drop(black_box(verifier.verify_enveloped(&doc).unwrap()));
        }),
        "c14n" => Box::new(|| {
            let mut h = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
            canonicalize(
                &big_doc,
                &NodeSet::document(),
                &Algorithm::c14n10(),
                HashWriter(&mut h),
            )
            .unwrap();
            black_box(h.finish());
        }),
        "sign" => Box::new(|| {
            drop(black_box(sign_enveloped(
                small.clone(),
                &key,
                &cert,
                options,
            )))
        }),
        other => panic!("unknown BENCH_PROFILE {other:?}"),
    };
    op();
    profiled(n, &*op);
    println!("{what}: {n} iterations");
}

#[inline(never)]
fn profiled(n: usize, op: &dyn Fn()) {
    for _ in 0..n {
        op();
    }
}

/// `io::Write` into an aws-lc-rs digest context.
struct HashWriter<'a>(&'a mut aws_lc_rs::digest::Context);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
