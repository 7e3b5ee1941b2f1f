//! Address-book lookup speed, next to the cost of the cryptography a cold lookup needs
//! (`openssl speed` for RSA-3072 verification, measured in the same run).
//!
//! `cargo bench -p sdkgw-address-book --bench lookup`
//!
//! * memory hits: `AddressBook::lookup` of 12 cached keys (3 organisations × 4 document
//!   types) in a loop on one core (current-thread runtime). Target ≥ 1 M/s.
//! * store reads: the same with `memory_entries = 1`, so every lookup reads the entry from the
//!   sled keyspace and decodes it (JSON, certificates). Target ≥ 100 k/s.
//! * cold lookups: `lookup_fresh` against the fake SMP on 127.0.0.1 over HTTPS: TLS handshake,
//!   GET, XML parse, signature verification, SMP/AP/O2O path validation with CRLs, store
//!   write. Reported as mean / p50 / p99 latency.
//!
//! Throughput is given per wall-clock second and per second the benchmark thread was on a CPU
//! (`/proc/thread-self/schedstat`): on a shared machine the second is the single-core figure.
//! `SDKGW_BENCH_SECS` (default 2) sets the duration of the throughput phases.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub, dead_code)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sdkgw_address_book::cache::{KEYSPACE, SystemWallClock};
use sdkgw_address_book::fake::dev_documents;
use sdkgw_address_book::{AddressBook, CachePolicy};
use sdkgw_schemas::{DocumentId, ParticipantId};
use sdkgw_store::{SledStore, Store, StoreConfig};
use support::*;

fn secs() -> Duration {
    let s = std::env::var("SDKGW_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    Duration::from_secs(s)
}

fn keys() -> Vec<(ParticipantId, DocumentId)> {
    (0..3)
        .flat_map(|i| {
            dev_documents()
                .into_iter()
                .map(move |d| (participant(i), d))
        })
        .collect()
}

/// Nanoseconds this thread has been on a CPU (`/proc/thread-self/schedstat`), so rates can be
/// given per CPU-second when the machine is shared with other work.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Lookups of `keys` for `duration` (in batches of 10 000): per wall-clock second and per
/// second on the CPU.
async fn throughput(
    book: &AddressBook,
    keys: &[(ParticipantId, DocumentId)],
    duration: Duration,
) -> (f64, Option<f64>) {
    let start = Instant::now();
    let cpu_start = thread_cpu_ns();
    let mut n: u64 = 0;
    while start.elapsed() < duration {
        for _ in 0..10_000 {
            let (p, d) = &keys[(n as usize) % keys.len()];
            let found = book.lookup(p, d).await.unwrap();
            std::hint::black_box(&found);
            n += 1;
        }
    }
    let wall = n as f64 / start.elapsed().as_secs_f64();
    let cpu = cpu_start
        .zip(thread_cpu_ns())
        .map(|(a, b)| n as f64 / ((b - a) as f64 / 1e9));
    (wall, cpu)
}

fn rate(label: &str, (wall, cpu): (f64, Option<f64>), target: &str) {
    let cpu = cpu.map_or_else(|| "n/a".into(), |c| format!("{c:.0}"));
    println!(
        "  {label:18} {wall:>10.0} lookups/s wall, {cpu:>10} per CPU-second   (target {target})"
    );
}

/// Latency of 300 `lookup_fresh` calls against the fake SMP.
async fn cold_latency(book: &AddressBook, keys: &[(ParticipantId, DocumentId)]) -> String {
    let mut cold = Vec::new();
    for i in 0..300 {
        let (p, d) = &keys[i % keys.len()];
        let t = Instant::now();
        book.lookup_fresh(p, d).await.unwrap();
        cold.push(t.elapsed());
    }
    cold.sort();
    let mean = cold.iter().sum::<Duration>() / cold.len() as u32;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let pct = |q: f64| cold[((cold.len() - 1) as f64 * q) as usize];
    format!(
        "mean {:.2} ms, p50 {:.2} ms, p99 {:.2} ms ({} HTTPS fetches, fake SMP on 127.0.0.1)",
        ms(mean),
        ms(pct(0.5)),
        ms(pct(0.99)),
        cold.len()
    )
}

fn openssl_rsa3072_verify_per_sec() -> Option<f64> {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "1", "rsa3072"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "rsa 3072 bits 0.002089s 0.000042s    478.7  23809.5"
    let line = text.lines().find(|l| l.starts_with("rsa 3072 bits"))?;
    line.split_whitespace().last()?.parse().ok()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let duration = secs();
    let smp = fake_smp();
    let running = serve(&smp).await;
    let keys = keys();
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(StoreConfig::at(dir.path())).unwrap();
    let keyspace = store.keyspace(KEYSPACE).unwrap();
    let clock = Arc::new(SystemWallClock);

    // Cold lookups (also fill the store for the store-read phase).
    let book = AddressBook::new(
        client(running.url()),
        CachePolicy::default(),
        Some(keyspace.clone()),
        clock.clone(),
    );
    for (p, d) in &keys {
        book.lookup_fresh(p, d).await.unwrap();
    }
    let cold_without_store = cold_latency(
        &AddressBook::new(
            client(running.url()),
            CachePolicy::default(),
            None,
            clock.clone(),
        ),
        &keys,
    )
    .await;
    let cold = cold_latency(&book, &keys).await;

    let memory = throughput(&book, &keys, duration).await;
    let from_store = AddressBook::new(
        client(running.url()),
        CachePolicy {
            memory_entries: 1,
            ..CachePolicy::default()
        },
        Some(keyspace.clone()),
        clock,
    );
    let durable = throughput(&from_store, &keys, duration).await;
    let m = from_store.metrics();
    assert_eq!(
        m.misses, 0,
        "every store-phase lookup was answered from the store"
    );
    assert!(m.durable_reads >= m.lookups - 1);

    println!(
        "address-book lookup benchmark (one thread, {} keys, load average {})",
        keys.len(),
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    );
    rate("memory hits", memory, ">= 1 000 000");
    rate("store reads", durable, ">= 100 000");
    println!("  cold lookup, memory only     {cold_without_store}");
    println!("  cold lookup, durable store   {cold}");
    match openssl_rsa3072_verify_per_sec() {
        Some(v) => println!(
            "  openssl speed rsa3072: {v:.0} verify/s = {:.1} us each; a cold lookup verifies ~10 \
             RSA-3072 signatures (SMP document, SMP/AP/O2O paths, TLS) = {:.2} ms",
            1e6 / v,
            10.0 * 1e3 / v
        ),
        None => println!("  openssl speed rsa3072: not available"),
    }
}
