//! Durable write throughput and open time of the sled store, next to the disk's raw fsync rate
//! measured in the same run on the same file system.
//!
//! `cargo bench -p sdkgw-store --bench durable_writes`
//!
//! * raw: loops of 10 KB write + fdatasync on one file, appending and overwriting in place,
//!   before and after the store phases (the disk is shared); the best of them is the baseline;
//! * store: `create_message` with a 10 KB payload (inline blob), each call durable when it
//!   returns, with 1 and 16 concurrent writers, group commit and per-write policy;
//! * open: time to open a store holding `SDKGW_BENCH_RECORDS` (default 1 000 000) message
//!   records, after a clean close and after a crash: a child process adds 50 000 more records
//!   and aborts without closing, so the open must recover sled's log. The populated store is
//!   kept in `target/store-bench/open-N` and reused (it grows by 50 000 per run).
//!
//! `SDKGW_BENCH_SECS` (default 3) sets each throughput phase's duration. Target: 16 writers
//! ≥ 5× the raw single-writer fsync rate; open ≤ 5 s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sdkgw_store::{Correlation, Direction, Durability, NewMessage, SledStore, Store, StoreConfig};
use time::OffsetDateTime;

const RECORD: usize = 10 * 1024;

fn bench_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/store-bench");
    std::fs::create_dir_all(&root).unwrap();
    root
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Raw write + fdatasync loop of 10 KB records on one file. `overwrite`: the file is
/// preallocated and rewritten in place, so fdatasync has no size change to journal (the
/// faster, stricter baseline); otherwise every write appends.
fn raw_fsync_rate(dir: &Path, secs: Duration, overwrite: bool) -> f64 {
    use std::os::unix::fs::FileExt;
    let path = dir.join("raw-fsync");
    let f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    let buf = vec![0x5au8; RECORD];
    const SLOTS: u64 = 1024;
    if overwrite {
        for slot in 0..SLOTS {
            f.write_all_at(&buf, slot * RECORD as u64).unwrap();
        }
        f.sync_all().unwrap();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < secs {
        let slot = if overwrite { n % SLOTS } else { n };
        f.write_all_at(&buf, slot * RECORD as u64).unwrap();
        f.sync_data().unwrap();
        n += 1;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    drop(f);
    std::fs::remove_file(path).unwrap();
    rate
}

fn message(store: &dyn Store, i: u64, payload: &[u8]) -> NewMessage {
    let mut new = NewMessage::new(Direction::Outbound, OffsetDateTime::now_utc(), "bench");
    new.mailbox = Some(format!("fa-{}", i % 16));
    new.correlation = Correlation {
        xhe_id: Some(format!("xhe-{i}")),
        ..Correlation::default()
    };
    if !payload.is_empty() {
        let mut w = store.blob_writer().unwrap();
        w.write_all(payload).unwrap();
        new.content.push(("payload".into(), w.finish().unwrap()));
    }
    new
}

/// Durable inserts per second with `writers` threads for `secs`.
fn store_rate(dir: &Path, writers: u64, policy: Durability, secs: Duration) -> f64 {
    let _ = std::fs::remove_dir_all(dir);
    let mut cfg = StoreConfig::at(dir);
    cfg.durability = policy;
    let store = Arc::new(SledStore::open(cfg).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|t| {
            let (store, stop, count) = (store.clone(), stop.clone(), count.clone());
            std::thread::spawn(move || {
                let payload = vec![t as u8; RECORD];
                let mut i = t << 40;
                while !stop.load(Ordering::Relaxed) {
                    store
                        .create_message(message(store.as_ref(), i, &payload))
                        .unwrap();
                    count.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(secs);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let rate = count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    drop(store);
    std::fs::remove_dir_all(dir).unwrap();
    rate
}

/// Fills a store with `records` records (no payload) unless a previous run left it.
fn populate(dir: &Path, records: u64) {
    let done = dir.join("POPULATED");
    if done.exists() {
        return;
    }
    let _ = std::fs::remove_dir_all(dir);
    let store = Arc::new(SledStore::open(StoreConfig::at(dir)).unwrap());
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..64)
        .map(|_| {
            let (store, next) = (store.clone(), next.clone());
            std::thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= records {
                        return;
                    }
                    store
                        .create_message(message(store.as_ref(), i, &[]))
                        .unwrap();
                    if i % 100_000 == 0 {
                        eprintln!("populate: {i}/{records}");
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    eprintln!("populate: {records} records in {:.1?}", start.elapsed());
    drop(store);
    std::fs::write(done, records.to_string()).unwrap();
}

/// Child mode: add `n` records, then abort without closing the store.
fn crash_fill(dir: &Path, n: u64) -> ! {
    let store = Arc::new(SledStore::open(StoreConfig::at(dir)).unwrap());
    let next = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..64)
        .map(|_| {
            let (store, next) = (store.clone(), next.clone());
            std::thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    store
                        .create_message(message(store.as_ref(), i, &[]))
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    std::process::abort();
}

fn count(store: &SledStore) -> u64 {
    let stats = store.stats(OffsetDateTime::now_utc()).unwrap();
    stats.by_state.iter().map(|s| s.1).sum()
}

fn timed_open(dir: &Path) -> (Duration, u64) {
    let start = Instant::now();
    let store = SledStore::open(StoreConfig::at(dir)).unwrap();
    let open = start.elapsed();
    (open, count(&store))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return; // `cargo test --benches` / nextest discovery
    }
    if let [_, flag, dir, n] = args.as_slice()
        && flag == "--crash-fill"
    {
        crash_fill(Path::new(dir), n.parse().unwrap());
    }
    let secs = Duration::from_secs(env_num("SDKGW_BENCH_SECS", 3));
    let records = env_num("SDKGW_BENCH_RECORDS", 1_000_000);
    let root = bench_root();
    println!(
        "store bench in {} ({} s per phase)",
        root.display(),
        secs.as_secs()
    );

    let raw = |label: &str| {
        let append = raw_fsync_rate(&root, secs, false);
        let overwrite = raw_fsync_rate(&root, secs, true);
        println!(
            "raw 10 KB write+fdatasync {label}: append {append:.0} /s, overwrite {overwrite:.0} /s"
        );
        append.max(overwrite)
    };
    let fsync_before = raw("before");
    let w1 = store_rate(&root.join("w1"), 1, Durability::Group, secs);
    println!("store durable inserts, 10 KB, 1 writer:      {w1:>9.0} /s");
    let w16 = store_rate(&root.join("w16"), 16, Durability::Group, secs);
    println!("store durable inserts, 10 KB, 16 writers:    {w16:>9.0} /s");
    let p16 = store_rate(&root.join("p16"), 16, Durability::PerWrite, secs);
    println!("  same, per-write policy (each writer flushes): {p16:>9.0} /s");
    let fsync_after = raw("after ");
    // Compare with the best raw measurement of the run: the conservative ratio.
    let fsync = fsync_before.max(fsync_after);
    println!(
        "16 writers / best raw fsync rate ({fsync:.0} /s): {:.1}x (target >= 5x)",
        w16 / fsync
    );

    let dir = root.join(format!("open-{records}"));
    populate(&dir, records);
    let (open, total) = timed_open(&dir);
    assert!(total >= records, "the populated store holds every record");
    println!(
        "open after clean close, {total} records:   {:>9.2} s  (target <= 5 s)",
        open.as_secs_f64()
    );
    let status = std::process::Command::new(&args[0])
        .args(["--crash-fill", dir.to_str().unwrap(), "50000"])
        .status()
        .unwrap();
    assert!(!status.success(), "the filler aborts");
    let (open, after) = timed_open(&dir);
    assert_eq!(
        after,
        total + 50_000,
        "every acknowledged record survives the abort"
    );
    println!(
        "open after crash (abort), {after} records: {:>9.2} s  (target <= 5 s)",
        open.as_secs_f64()
    );
}
