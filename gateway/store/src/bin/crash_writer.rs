//! Crash-test writer (used by `tests/crash.rs`, not an operator tool).
//!
//! `sdkgw-store-crash-writer DATA_DIR THREADS SEED` opens the store, prints `READY`, then
//! writes from THREADS threads until it is killed. After each write *returned*, it prints one
//! acknowledgement line (one `write` to the pipe, so a kill never leaves half a line):
//!
//! * `CREATE <key> <sha256> <len>` — outbound message with a payload blob
//! * `STATE <key> <state>` — a transition
//! * `EVIDENCE <key> <sha256>` — evidence added
//! * `AUDIT <seq>` — audit event appended
//! * `KV <hex key> <sha256>` — keyspace entry written
//! * `DEDUP <as4 id> <key>` — inbound message stored with its de-dup entry (a resend of an
//!   acknowledged id must come back as the same duplicate)
//! * `FAILED <error>` — a write failed or the store misbehaved (the test fails on it)

use std::io::Write;
use std::process::ExitCode;

use aws_lc_rs::digest;
use sdkgw_store::{
    Correlation, Created, Direction, MessageKey, MessageState, NewMessage, SledStore, Store,
    StoreConfig, StoreError, Update,
};
use time::OffsetDateTime;

const PATH: [MessageState; 5] = [
    MessageState::Sealed,
    MessageState::Scheduled,
    MessageState::Sending,
    MessageState::Delivered,
    MessageState::RecipientAccepted,
];

struct Rng(u64);

impl Rng {
    /// Distinct seeds give distinct streams (splitmix64 of the seed; xorshift needs non-zero).
    fn seeded(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)).max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn ack(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(format!("{line}\n").as_bytes());
    let _ = out.flush();
}

fn payload(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(10) {
        0 => 300_000 + rng.below(1_500_000),
        1..=3 => 70_000 + rng.below(100_000),
        _ => 100 + rng.below(30_000),
    };
    (0..len).map(|_| (rng.next() >> 32) as u8).collect()
}

fn write_blob(store: &dyn Store, data: &[u8]) -> Result<sdkgw_store::StagedBlob, StoreError> {
    let mut w = store.blob_writer()?;
    for chunk in data.chunks(16 * 1024) {
        w.write_all(chunk)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
    }
    w.finish()
}

fn sha(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

fn worker(store: &SledStore, seed: u64) -> Result<(), StoreError> {
    let mut rng = Rng::seeded(seed);
    let mut mine: Vec<(MessageKey, usize)> = Vec::new();
    let mut received: Vec<(String, MessageKey)> = Vec::new();
    let ks = store.keyspace("crash")?;
    loop {
        let now = OffsetDateTime::now_utc();
        match rng.below(10) {
            0..=3 => {
                let data = payload(&mut rng);
                let mut new = NewMessage::new(Direction::Outbound, now, "crash-writer");
                new.mailbox = Some(format!("fa-{}", rng.below(4)));
                new.correlation = Correlation {
                    xhe_id: Some(format!("xhe-{:016x}", rng.next())),
                    ..Correlation::default()
                };
                new.content
                    .push(("payload".into(), write_blob(store, &data)?));
                if let Created::New(r) = store.create_message(new)? {
                    ack(format!("CREATE {} {} {}", r.key, sha(&data), data.len()));
                    mine.push((r.key, 0));
                }
            }
            4..=6 if !mine.is_empty() => {
                let i = rng.below(mine.len() as u64) as usize;
                let (key, step) = mine[i];
                let Some(state) = PATH.get(step) else {
                    mine.swap_remove(i);
                    continue;
                };
                store.update(&key, Update::to(*state, now, "crash-writer"))?;
                ack(format!("STATE {key} {state}"));
                mine[i].1 += 1;
            }
            7 if !mine.is_empty() => {
                let key = mine[rng.below(mine.len() as u64) as usize].0;
                let data = payload(&mut rng);
                let blob = write_blob(store, &data[..data.len().min(20_000)])?;
                store.update(
                    &key,
                    Update::none(now, "crash-writer").evidence("as4-signal", blob),
                )?;
                ack(format!(
                    "EVIDENCE {key} {}",
                    sha(&data[..data.len().min(20_000)])
                ));
            }
            8 if rng.below(2) == 0 => {
                let resend = !received.is_empty() && rng.below(3) == 0;
                let (id, first) = if resend {
                    let (id, key) = &received[rng.below(received.len() as u64) as usize];
                    (id.clone(), Some(*key))
                } else {
                    (format!("{:016x}@ap-crash", rng.next()), None)
                };
                let mut new = NewMessage::new(Direction::Inbound, now, "crash-writer");
                new.content
                    .push(("xhe".into(), write_blob(store, &payload(&mut rng))?));
                new.dedup = Some(sdkgw_store::DedupKey {
                    from_party: "ap-crash".into(),
                    as4_message_id: id.clone(),
                    expires_at: now + time::Duration::days(1),
                });
                match (store.create_message(new)?, first) {
                    (Created::New(r), None) => {
                        ack(format!("DEDUP {id} {}", r.key));
                        received.push((id, r.key));
                    }
                    (Created::Duplicate { existing }, Some(key)) if existing == key => {}
                    (outcome, _) => {
                        return Err(StoreError::Invalid(format!(
                            "de-dup broken for {id}: {outcome:?}"
                        )));
                    }
                }
            }
            8 => {
                let ev = sdkgw_store::AuditEvent::new(now, "crash-writer", "crash.test");
                let seq = store.append_audit(ev)?;
                ack(format!("AUDIT {seq}"));
            }
            _ => {
                let key = rng.next().to_be_bytes();
                let value = payload(&mut rng);
                let value = &value[..value.len().min(2000)];
                ks.put(&key, value)?;
                ack(format!("KV {} {}", hex(&key), sha(value)));
            }
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(threads), Some(seed)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: sdkgw-store-crash-writer DATA_DIR THREADS SEED");
        return ExitCode::from(2);
    };
    let (Ok(threads), Ok(seed)) = (threads.parse::<u64>(), seed.parse::<u64>()) else {
        eprintln!("THREADS and SEED must be numbers");
        return ExitCode::from(2);
    };
    let store = match SledStore::open(StoreConfig::at(dir)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("open: {e}");
            return ExitCode::from(1);
        }
    };
    ack("READY".into());
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let result = worker(&store, seed.wrapping_mul(7919).wrapping_add(t));
                if let Err(e) = &result {
                    ack(format!("FAILED {e}"));
                }
                result
            })
        })
        .collect();
    for h in handles {
        if let Ok(Err(e)) = h.join() {
            eprintln!("writer failed: {e}");
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}
