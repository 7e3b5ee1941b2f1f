//! Seal and open of a 10 KB and a 30 MB SDK message: throughput and peak memory.
//!
//! `cargo bench -p sdkgw-envelope --bench seal_open` (add `-- --quick` for one iteration
//! each). Peak memory is the process's high-water mark (`VmHWM` in `/proc/self/status`),
//! reset before each phase through `/proc/self/clear_refs`; the baseline is `VmRSS` just
//! before the phase. The open phase starts before the sealed XHE is read from disk, so its
//! growth includes the received bytes themselves. Floors for comparison, measured in the same
//! run: SHA-256 over the XHE (the signature digest), AES-256-CBC decryption of the
//! ciphertext and one RSA-3072 private-key operation, with the same aws-lc-rs primitives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/pki.rs"]
mod pki;

use std::path::Path;
use std::time::{Duration, Instant};

use sdkgw_envelope::message::{ContentFile, MessagePolicy, NewMessage, SdkMessage};
use sdkgw_envelope::open::{self, OpenConfig, Opened};
use sdkgw_envelope::seal::{self, SealOptions, Signer};
use sdkgw_envelope::xhe::Xhe;
use sdkgw_schemas::{FederationId, TransportModel};
use sdkgw_xml_security::crypto::{ContentKey, DataEncryption, DigestMethod, SignatureMethod};
use time::OffsetDateTime;

fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Resets the peak to the current RSS and returns the current RSS in bytes.
fn reset_peak() -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    status_kb("VmRSS:") * 1024
}

fn peak() -> u64 {
    status_kb("VmHWM:") * 1024
}

/// Incompressible but deterministic bytes (xorshift).
fn attachment(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// `12.3 KiB` or `4.56 MiB`.
fn size(bytes: u64) -> String {
    if bytes < 1 << 20 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.2} MiB", mib(bytes))
    }
}

/// `850 µs` or `12.3 ms`.
fn dur(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{} µs", d.as_micros())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    }
}

fn rate(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / d.as_secs_f64()
}

/// One measured phase: average time per iteration and peak growth over the baseline.
struct Measured {
    time: Duration,
    growth: u64,
    bytes: usize,
}

fn new_message(p: &pki::Pki, attachment_len: usize) -> String {
    let m = SdkMessage::new(NewMessage {
        message_id: uuid::Uuid::new_v4(),
        created: OffsetDateTime::now_utc(),
        from: p.a.participant.clone(),
        from_function: Some("box-a".parse().unwrap()),
        to: p.b.participant.clone(),
        to_function: "box-b".parse().unwrap(),
        subject: "benchmark".into(),
        text: Some("Se bilaga.".into()),
        files: vec![ContentFile::new(
            "bilaga.pdf",
            "application/pdf",
            &attachment(attachment_len),
        )],
        confidential: false,
    });
    m.to_xml().unwrap()
}

/// Seals `iterations` messages (new ids each time) and writes the last XHE to `file`.
fn measure_seal(p: &pki::Pki, attachment_len: usize, iterations: u32, file: &Path) -> Measured {
    let xml = new_message(p, attachment_len);
    let mut header = Xhe::for_message(
        String::new(),
        OffsetDateTime::now_utc(),
        p.a.participant.clone(),
        p.b.participant.clone(),
        Some("box-b".parse().unwrap()),
        FederationId::Test,
        TransportModel::ExtSigenc,
    );
    let signer = Signer {
        key: &p.a.sign_key,
        cert: &p.a.sign_cert,
    };
    let old_id = extract_id(&xml);
    // Warm up on a small message, outside the measurement; it also serves the open warm-up.
    let small = new_message(p, 1024);
    header.id = extract_id(&small);
    let warm = seal::seal_message(
        small.as_bytes(),
        &header,
        Some(&p.b.enc_cert),
        Some(signer),
        SealOptions::default(),
    )
    .unwrap();
    std::fs::write(file.with_file_name("warmup.xhe"), &warm.bytes).unwrap();
    drop((small, warm));
    let base = reset_peak();
    let started = Instant::now();
    let mut last = Vec::new();
    for _ in 0..iterations {
        header.id = uuid::Uuid::new_v4().to_string();
        let payload = xml.replacen(&old_id, &header.id, 2);
        last = seal::seal_message(
            payload.as_bytes(),
            &header,
            Some(&p.b.enc_cert),
            Some(signer),
            SealOptions::default(),
        )
        .unwrap()
        .bytes;
    }
    let time = started.elapsed() / iterations;
    let growth = peak().saturating_sub(base);
    std::fs::write(file, &last).unwrap();
    Measured {
        time,
        growth,
        bytes: xml.len(),
    }
}

/// Opens `file` `iterations` times, reading it from disk inside the measured region.
fn measure_open(p: &pki::Pki, file: &Path, iterations: u32, phases_too: bool) -> Measured {
    let mut rx = pki::Receiver::new(p, &p.b);
    rx.served.clear();
    let cfg = rx.config(Some(&p.a.sign_cert), MessagePolicy::default());
    // Warm up (code lists, rule tables) on a small envelope, outside the measurement.
    let _ = open::open(
        std::fs::read(file.with_file_name("warmup.xhe")).unwrap(),
        &cfg,
    );
    if phases_too {
        phases(file, &cfg);
        return Measured {
            time: Duration::ZERO,
            growth: 0,
            bytes: 0,
        };
    }
    let base = reset_peak();
    let started = Instant::now();
    for _ in 0..iterations {
        let bytes = std::fs::read(file).unwrap();
        match open::open(bytes, &cfg).unwrap() {
            Opened::Accepted(_) => {}
            other => panic!("{other:?}"),
        }
    }
    let time = started.elapsed() / iterations;
    Measured {
        time,
        growth: peak().saturating_sub(base),
        bytes: std::fs::metadata(file).unwrap().len() as usize,
    }
}

/// The floors: SHA-256 over the XHE (the signature digest), AES-256-CBC decryption of a
/// ciphertext of the message's size, and one RSA-3072 private-key operation (each of seal
/// and open needs one: signing, unwrapping the content key), median of 21.
fn floors(file: &Path, message_bytes: usize, p: &pki::Pki) -> (Duration, Duration, Duration) {
    let bytes = std::fs::read(file).unwrap();
    let started = Instant::now();
    std::hint::black_box(DigestMethod::Sha256.digest(&bytes));
    let sha256 = started.elapsed();
    let key = ContentKey::generate(DataEncryption::Aes256Cbc).unwrap();
    let ciphertext = key.encrypt(&vec![7u8; message_bytes]).unwrap();
    let started = Instant::now();
    std::hint::black_box(key.decrypt(&ciphertext).unwrap());
    let aes = started.elapsed();
    let mut rsa: Vec<Duration> = (0..21)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(
                SignatureMethod::RsaSha256
                    .sign(&p.a.sign_key, b"floor")
                    .unwrap(),
            );
            started.elapsed()
        })
        .collect();
    rsa.sort();
    (sha256, aes, rsa[10])
}

/// Runs this binary again as a child measuring one phase in a fresh process (so one phase's
/// freed memory cannot hide the next one's growth).
fn child(args: &[String]) -> Vec<String> {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--child")
        .args(args)
        .output()
        .unwrap();
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "child {args:?} failed");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn run_child(args: &[String], p: &pki::Pki) {
    let n: u32 = args[2].parse().unwrap();
    let file = Path::new(&args[3]);
    let m = match args[0].as_str() {
        "seal" => measure_seal(p, args[1].parse().unwrap(), n, file),
        _ => measure_open(p, file, n, args[1] == "phases"),
    };
    println!("{} {} {}", m.time.as_nanos(), m.growth, m.bytes);
}

fn parse_measured(v: &[String]) -> Measured {
    Measured {
        time: Duration::from_nanos(v[0].parse().unwrap()),
        growth: v[1].parse().unwrap(),
        bytes: v[2].parse().unwrap(),
    }
}

/// Where the memory of one open goes: the peak after each typestate step, relative to the
/// RSS before the XHE was read.
fn phases(file: &Path, cfg: &OpenConfig<'_>) {
    let base = reset_peak();
    let report = |step: &str| {
        eprintln!(
            "  open phase {step:<28} peak +{:.1} MiB",
            mib(peak().saturating_sub(base))
        )
    };
    let bytes = std::fs::read(file).unwrap();
    report("read XHE");
    let received = open::ReceivedEnvelope::parse(bytes, &cfg.context).unwrap();
    report("parse + profile");
    let verified = received.verify(&cfg.trust, cfg.at).unwrap();
    report("verify signature");
    let decrypted = verified.decrypt(cfg.keys).unwrap();
    report("decrypt (xenc)");
    let opened = decrypted.validate(&cfg.policy).unwrap();
    report("validate message");
    drop(opened);
}

fn extract_id(xml: &str) -> String {
    let start = xml.find("<tns:messageId>").unwrap() + "<tns:messageId>".len();
    xml[start..start + 36].to_owned()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let p = pki::load(root.join("target/test-envelope-pki/dev"));
    if let Some(i) = args.iter().position(|a| a == "--child") {
        run_child(&args[i + 1..], &p);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let dir = root.join("target/bench-envelope");
    std::fs::create_dir_all(&dir).unwrap();
    let runs = [
        ("10 KB", 7 * 1024, if quick { 1 } else { 20 }),
        ("30 MB", 22_000_000, if quick { 1 } else { 3 }),
    ];
    println!(
        "| message | XHE | seal | seal peak growth | open | open peak growth (× XHE) | floors: SHA-256 of the XHE, AES-256-CBC decrypt, RSA-3072 private op |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (label, len, n) in runs {
        let file = dir.join(format!("{}.xhe", label.replace(' ', "")));
        let f = file.to_str().unwrap().to_owned();
        let seal = parse_measured(&child(&[
            "seal".into(),
            len.to_string(),
            n.to_string(),
            f.clone(),
        ]));
        let open = parse_measured(&child(&[
            "open".into(),
            "loop".into(),
            n.to_string(),
            f.clone(),
        ]));
        if len > 1 << 20 {
            child(&["open".into(), "phases".into(), "1".into(), f]);
        }
        let (sha256, aes_cbc, rsa) = floors(&file, seal.bytes, &p);
        println!(
            "| {label} ({}) | {} | {} ({:.0} MiB/s) | {} | {} ({:.0} MiB/s) | {} ({:.2}×) | {}, {}, {} |",
            size(seal.bytes as u64),
            size(open.bytes as u64),
            dur(seal.time),
            rate(seal.bytes, seal.time),
            size(seal.growth),
            dur(open.time),
            rate(seal.bytes, open.time),
            size(open.growth),
            open.growth as f64 / open.bytes as f64,
            dur(sha256),
            dur(aes_cbc),
            dur(rsa),
        );
    }
}
