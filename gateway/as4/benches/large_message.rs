//! One large message (default 1 GiB XHE) through the whole AS4 path: the sender compresses,
//! signs and encrypts it and streams it over mutual TLS; the receiver — a separate process, so
//! each side's memory is measured on its own — spools, decrypts, verifies, decompresses into
//! its durable store and returns the signed receipt, which the sender verifies. Reports the
//! peak RSS of each side (target ≤ 128 MiB each; Domibus needs 3–4 GB for 1 GB) and the times.
//!
//! `cargo bench -p sdkgw-as4 --bench large_message` (`SDKGW_BENCH_MIB=256` for a shorter run).
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark binary

mod msh_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use sdkgw_as4::ebms::Leg;
use sdkgw_as4::msh::{AttemptOutcome, Route, prepare};
use sdkgw_schemas::Environment;
use sdkgw_store::ListFilter;
use time::OffsetDateTime;

const ROLE: &str = "SDKGW_BENCH_ROLE";
const PKI: &str = "SDKGW_BENCH_PKI";

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if std::env::var(ROLE).as_deref() == Ok("receiver") {
        rt.block_on(receiver());
    } else {
        rt.block_on(sender());
    }
}

/// The receiving side: serve until told `done` on stdin, then report.
async fn receiver() {
    let root = std::path::PathBuf::from(std::env::var(PKI).unwrap());
    let m = msh_support::pki_at(&root);
    let data = tempfile::tempdir().unwrap();
    let node = msh_support::receiver(&root, &m, 1, data.path()).await;
    println!("LISTENING {}", node.addr.port());
    let line = tokio::task::spawn_blocking(|| {
        let mut s = String::new();
        std::io::stdin().lock().read_line(&mut s).unwrap();
        s
    })
    .await
    .unwrap();
    assert_eq!(line.trim(), "done");
    let records = node.store.list_messages(&ListFilter::default()).unwrap();
    let rec = node.store.get_message(&records[0].key).unwrap().unwrap();
    let blob = rec.content(sdkgw_as4::msh::handoff::XHE_CONTENT).unwrap();
    // Read the stored XHE back (hash-checked by the store) to prove it is complete.
    let mut reader = node.store.open_blob(blob).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    println!(
        "STORED {} {} RSS {:.1}",
        records.len(),
        total,
        msh_support::peak_rss_mib()
    );
}

async fn sender() {
    let mib: u64 = std::env::var("SDKGW_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    eprintln!("generating the development PKI …");
    let pki = msh_support::generate_pki();
    let root = pki.dir.path();
    let m = &pki.manifest;
    let work = tempfile::tempdir().unwrap();
    let xhe = work.path().join("large.xml");
    eprintln!("writing a {mib} MiB XHE …");
    msh_support::write_xhe(&xhe, mib * 1024 * 1024);
    let size = std::fs::metadata(&xhe).unwrap().len();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, "receiver")
        .env(PKI, root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let port: u16 = line
        .trim()
        .strip_prefix("LISTENING ")
        .unwrap()
        .parse()
        .unwrap();
    let spool = work.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let sender = msh_support::sender(root, m, 0, spool.clone());
    let route = Route {
        endpoint: format!("https://localhost:{port}/as4"),
        certificate: msh_support::identity(root, m, 1).certificate,
    };
    let fed = Environment::Dev.federation().as_str();
    let t0 = Instant::now();
    let cpu0 = msh_support::cpu_seconds();
    let (outgoing, _payload) = prepare(
        &xhe,
        Some(Leg::Message),
        fed,
        &spool,
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let compressed = std::fs::metadata(&outgoing.payload).unwrap().len();
    let t_prepare = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let attempt = sender.attempt(&outgoing, &route).await;
    let t_exchange = t1.elapsed().as_secs_f64();
    let sender_cpu = msh_support::cpu_seconds() - cpu0;
    assert!(
        matches!(attempt.outcome, AttemptOutcome::Delivered(_)),
        "{:?}",
        attempt.outcome
    );
    let sender_rss = msh_support::peak_rss_mib();
    writeln!(child.stdin.as_mut().unwrap(), "done").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    child.wait().unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (records, stored, receiver_rss): (usize, u64, f64) = (
        fields[1].parse().unwrap(),
        fields[2].parse().unwrap(),
        fields[4].parse().unwrap(),
    );
    assert_eq!(records, 1);
    assert_eq!(stored, size, "the receiver stored the whole XHE");
    let mb = size as f64 / (1024.0 * 1024.0);
    println!(
        "large_message: {mb:.0} MiB XHE ({:.0} MiB gzip) sent and received over mTLS, receipt verified",
        compressed as f64 / (1024.0 * 1024.0)
    );
    println!(
        "  sender: prepare (gzip to file) {t_prepare:.1} s; seal + send + receive + receipt {t_exchange:.1} s ({:.0} MiB/s of XHE); sender CPU {sender_cpu:.1} s",
        mb / t_exchange
    );
    println!(
        "  peak RSS: sender {sender_rss:.1} MiB, receiver {receiver_rss:.1} MiB (target <= 128 MiB each)"
    );
}
