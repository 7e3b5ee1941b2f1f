//! kill -9 while the audit log is being written: `sdkgw audit search` without a running
//! gateway ships the store's journal into the JSON-lines files; it is killed at several
//! moments. After each kill the files show only whole events, in order, without gaps or
//! repeats; the next run repairs the tail and completes the log with an intact hash chain.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use sdkgw_server::audit::{self, Filter};
use sdkgw_store::{AuditEvent, SledStore, Store, StoreConfig};
use time::OffsetDateTime;

const EVENTS: u64 = 24_000;

#[test]
fn killing_the_writer_never_exposes_a_partial_event_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    {
        let store: Arc<dyn Store> = Arc::new(SledStore::open(StoreConfig::at(&data)).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..EVENTS / 8 {
                        let e = AuditEvent::new(OffsetDateTime::now_utc(), "test", "crash.test")
                            .with("thread", t)
                            .with("i", i)
                            .with("pad", "x".repeat(200));
                        store.append_audit(e).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
    let journal: Vec<u64> = {
        let store = SledStore::open(StoreConfig::at(&data)).unwrap();
        store
            .audit(0, usize::MAX)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect()
    };
    assert_eq!(journal.len() as u64, EVENTS);
    let dir = data.join(audit::DIR_NAME);
    let data_arg = data.to_str().unwrap();
    let mut killed_mid_way = 0;
    // Kill later and later, until a run got to finish (at most 40 runs).
    for run in 0..40u64 {
        let delay_ms = 10 + run * 5;
        let mut child = common::sdkgw()
            .args([
                "audit",
                "search",
                "--data-dir",
                data_arg,
                "--limit",
                "1",
                "--output",
                "json",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let seen = audit::search(&dir, &Filter::default()).unwrap();
        assert!(
            seen.problems.is_empty(),
            "after a kill at {delay_ms} ms: {:?}",
            seen.problems
        );
        let seqs: Vec<u64> = seen.events.iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            journal[..seqs.len()],
            "a prefix of the trail, no gaps or repeats"
        );
        if seqs.len() as u64 == EVENTS {
            break;
        }
        if !seqs.is_empty() {
            killed_mid_way += 1;
        }
    }
    eprintln!("{killed_mid_way} kill(s) landed while shipping");
    let (code, _, err) = common::run(&["audit", "verify", "--data-dir", data_arg]);
    assert_eq!(code, 0, "{err}");
    let all = audit::search(&dir, &Filter::default()).unwrap();
    assert!(!all.incomplete_tail);
    let seqs: Vec<u64> = all.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, journal);
    // Shipped events left the journal: the trail is stored once.
    let store = SledStore::open(StoreConfig::at(&data)).unwrap();
    assert!(store.audit(0, 10).unwrap().is_empty());
    let v = audit::verify(&dir).unwrap();
    assert!(v.problems.is_empty(), "{:?}", v.problems);
}
