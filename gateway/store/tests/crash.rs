//! Crash proof: a writer process (8 threads) is killed with SIGKILL at random moments, N
//! times, on the same data directory. After every kill the store must open without repair,
//! hold every write the writer had acknowledged, intact (SHA-256 checked), and show nothing
//! half-written (`check` finds no missing/corrupt blob, undecodable record or index mismatch).
//!
//! N = `SDKGW_CRASH_ITERATIONS` (default 20); the seed is printed so a failure can be rerun
//! with `SDKGW_CRASH_SEED`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sdkgw_store::{MessageKey, MessageState, NoProgress, SledStore, Store, StoreConfig};

#[derive(Default)]
struct Acked {
    created: HashMap<MessageKey, (String, u64)>,
    states: Vec<(MessageKey, MessageState)>,
    evidence: Vec<(MessageKey, String)>,
    audit: Vec<u64>,
    kv: HashMap<Vec<u8>, String>,
    dedup: HashMap<String, MessageKey>,
}

impl Acked {
    fn absorb(&mut self, line: &str) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["READY"] => {}
            ["FAILED", ..] => panic!("the writer reported a failure: {line}"),
            ["CREATE", key, sha, len] => {
                self.created.insert(
                    key.parse().unwrap(),
                    (sha.to_string(), len.parse().unwrap()),
                );
            }
            ["STATE", key, state] => self
                .states
                .push((key.parse().unwrap(), state.parse().unwrap())),
            ["EVIDENCE", key, sha] => self.evidence.push((key.parse().unwrap(), sha.to_string())),
            ["AUDIT", seq] => self.audit.push(seq.parse().unwrap()),
            ["KV", key, sha] => {
                self.kv.insert(unhex(key), sha.to_string());
            }
            ["DEDUP", id, key] => {
                self.dedup.insert(id.to_string(), key.parse().unwrap());
            }
            other => panic!("unexpected line from writer: {other:?}"),
        }
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn sha_of(store: &dyn Store, blob: &sdkgw_store::BlobRef) -> String {
    let mut reader = store.open_blob(blob).unwrap();
    let mut data = Vec::new();
    reader
        .read_to_end(&mut data)
        .expect("blob reads back with a valid hash");
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn verify(dir: &std::path::Path, acked: &Acked, iteration: usize) {
    let store = SledStore::open(StoreConfig::at(dir))
        .unwrap_or_else(|e| panic!("iteration {iteration}: store does not open: {e}"));
    for (key, (sha, len)) in &acked.created {
        let r = store
            .get_message(key)
            .unwrap()
            .unwrap_or_else(|| panic!("iteration {iteration}: acknowledged message {key} lost"));
        let blob = r.content("payload").unwrap();
        assert_eq!(blob.len, *len);
        assert_eq!(&sha_of(&store, blob), sha, "payload of {key}");
    }
    for (key, state) in &acked.states {
        let r = store.get_message(key).unwrap().unwrap();
        assert!(
            r.has_been(*state),
            "iteration {iteration}: acknowledged transition {key} -> {state} lost"
        );
    }
    for (key, sha) in &acked.evidence {
        let r = store.get_message(key).unwrap().unwrap();
        assert!(
            r.evidence.iter().any(|e| &sha_of(&store, &e.blob) == sha),
            "evidence of {key} lost"
        );
    }
    let seqs: std::collections::HashSet<u64> = store
        .audit(0, usize::MAX)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    for seq in &acked.audit {
        assert!(
            seqs.contains(seq),
            "iteration {iteration}: audit event {seq} lost"
        );
    }
    let now = time::OffsetDateTime::now_utc();
    for (id, key) in &acked.dedup {
        assert_eq!(
            store.dedup_lookup("ap-crash", id, now).unwrap(),
            Some(*key),
            "iteration {iteration}: de-dup entry of acknowledged inbound {id} lost"
        );
        assert!(store.get_message(key).unwrap().is_some());
    }
    let ks = store.keyspace("crash").unwrap();
    for (k, sha) in &acked.kv {
        let v = ks
            .get(k)
            .unwrap()
            .unwrap_or_else(|| panic!("keyspace entry lost"));
        let got: String = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &v)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(&got, sha);
    }
    let report = store.check(false, &mut NoProgress).unwrap();
    let bad: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.kind != "orphan-blob") // a file finished but not yet referenced at the kill
        .collect();
    assert!(
        bad.is_empty(),
        "iteration {iteration}: half-written state visible: {bad:?}"
    );
}

#[test]
fn acknowledged_writes_survive_sigkill_at_random_moments() {
    let iterations: usize = std::env::var("SDKGW_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("SDKGW_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("crash test: {iterations} iterations, SDKGW_CRASH_SEED={seed}");
    let dir = tempfile::tempdir().unwrap();
    let mut acked = Acked::default();
    let mut rng = seed | 1;
    let started = Instant::now();
    for i in 0..iterations {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let run_for = Duration::from_millis(30 + rng % 470);
        let mut child = Command::new(env!("CARGO_BIN_EXE_sdkgw-store-crash-writer"))
            .args([
                dir.path().to_str().unwrap(),
                "8",
                &(seed.wrapping_add(i as u64)).to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("writer starts");
        assert_eq!(ready, "READY", "iteration {i}");
        std::thread::sleep(run_for);
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "the writer must have been killed, not exited"
        );
        reader.join().unwrap();
        let before = acked.created.len() + acked.states.len();
        for line in rx.try_iter() {
            acked.absorb(&line);
        }
        let new_acks = acked.created.len() + acked.states.len() - before;
        verify(dir.path(), &acked, i);
        println!(
            "iteration {i}: killed after {run_for:?}, {new_acks} new acks, {} messages verified",
            acked.created.len()
        );
    }
    println!(
        "crash test passed: {iterations} kills, {} messages, {} transitions, {} evidence, {} audit, {} kv, {} de-dup acknowledged and intact ({:?})",
        acked.created.len(),
        acked.states.len(),
        acked.evidence.len(),
        acked.audit.len(),
        acked.kv.len(),
        acked.dedup.len(),
        started.elapsed()
    );
    assert!(
        !acked.created.is_empty() && !acked.states.is_empty(),
        "the writer acknowledged nothing"
    );
}
