//! The audit log: the store's audit trail shipped into append-only JSON-lines files —
//! concurrency, rotation, retention, search filters, torn tails, tamper evidence.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sdkgw_server::audit::{self, Filter, LogSettings, Shipper, Writer, ship_pending};
use sdkgw_store::{AuditEvent, Direction, NewMessage, SledStore, Store, StoreConfig};
use time::OffsetDateTime;
use time::macros::datetime;

fn store(dir: &Path) -> Arc<dyn Store> {
    Arc::new(SledStore::open(StoreConfig::at(dir.join("data"))).unwrap())
}

fn settings(dir: &Path) -> LogSettings {
    LogSettings::new(&dir.join("data"))
}

fn all(dir: &Path) -> audit::SearchResult {
    audit::search(dir, &Filter::default()).unwrap()
}

#[test]
fn concurrent_appends_all_reach_the_files_once_in_order_with_an_intact_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let (shipper, repairs) = Shipper::start(
        store.clone(),
        settings(tmp.path()),
        Duration::from_millis(5),
    )
    .unwrap();
    assert!(repairs.is_empty());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..150 {
                    let e = AuditEvent::new(OffsetDateTime::now_utc(), "test", "test.event")
                        .with("thread", t)
                        .with("i", i);
                    store.append_audit(e).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    shipper.shutdown();
    let dir = settings(tmp.path()).dir;
    let found = all(&dir);
    assert!(found.problems.is_empty(), "{:?}", found.problems);
    let seqs: Vec<u64> = found.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs.len(), 1200);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
    for t in 0..8 {
        let n = found
            .events
            .iter()
            .filter(|e| e.detail["thread"] == t)
            .count();
        assert_eq!(n, 150, "thread {t}");
    }
    let v = audit::verify(&dir).unwrap();
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    assert_eq!(v.events, 1200);
}

#[test]
fn store_transitions_and_records_are_in_the_same_trail_as_explicit_events() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let at = OffsetDateTime::now_utc();
    let created = store
        .create_message(NewMessage::new(Direction::Inbound, at, "as4-receiver"))
        .unwrap();
    let sdkgw_store::Created::New(record) = created else {
        panic!("new record")
    };
    store
        .append_audit(
            AuditEvent::new(at, "as4-receiver", "as4.inbound.accepted")
                .for_message(record.key)
                .with("as4_message_id", "m-1@peer"),
        )
        .unwrap();
    let (mut writer, _) = Writer::open(settings(tmp.path())).unwrap();
    assert_eq!(ship_pending(&*store, &mut writer).unwrap(), 2);
    let found = all(writer.dir());
    let actions: Vec<&str> = found.events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["message.create", "as4.inbound.accepted"]);
    // The journal keeps nothing that the files hold: one trail, stored once.
    assert!(store.audit(0, 100).unwrap().is_empty());
    // Shipping again writes nothing twice (idempotent by seq).
    assert_eq!(ship_pending(&*store, &mut writer).unwrap(), 0);
    let (mut reopened, _) = Writer::open(settings(tmp.path())).unwrap();
    assert_eq!(ship_pending(&*store, &mut reopened).unwrap(), 0);
    assert_eq!(all(reopened.dir()).events.len(), 2);
}

fn event(seq: u64, at: OffsetDateTime, action: &str) -> AuditEvent {
    let mut e = AuditEvent::new(at, "test", action);
    e.seq = seq;
    e
}

#[test]
fn files_rotate_by_size_and_by_age_and_the_chain_spans_them() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = LogSettings::new(tmp.path());
    s.rotate_bytes = 2048;
    let (mut w, _) = Writer::open(s.clone()).unwrap();
    let t0 = datetime!(2026-01-01 00:00 UTC);
    let events: Vec<_> = (1..=60)
        .map(|i| event(i, t0 + time::Duration::minutes(i as i64), "size"))
        .collect();
    assert_eq!(w.append(&events).unwrap(), 60);
    let files = || {
        let mut v: Vec<_> = std::fs::read_dir(&s.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        v.sort();
        v
    };
    let by_size = files().len();
    assert!(by_size >= 3, "{by_size} files");
    for f in files() {
        assert!(
            std::fs::metadata(&f).unwrap().len() < 2048 + 400,
            "{}",
            f.display()
        );
    }
    // Two days later: a new file even though the current one is small.
    s.rotate_bytes = 1 << 30;
    let (mut w, _) = Writer::open(s.clone()).unwrap();
    w.append(&[event(61, t0 + time::Duration::days(2), "age")])
        .unwrap();
    w.append(&[event(62, t0 + time::Duration::days(2), "age")])
        .unwrap();
    assert_eq!(files().len(), by_size + 1);
    let newest = files().pop().unwrap();
    assert!(
        newest
            .to_str()
            .unwrap()
            .ends_with("-0000000000000061-20260103T000000Z.jsonl"),
        "{}",
        newest.display()
    );
    let v = audit::verify(&s.dir).unwrap();
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    assert_eq!((v.events, v.first_seq, v.last_seq), (62, Some(1), Some(62)));
}

#[test]
fn retention_deletes_only_files_whose_events_are_all_older_than_the_period() {
    let tmp = tempfile::tempdir().unwrap();
    let s = LogSettings::new(tmp.path());
    assert_eq!(s.retention, Duration::from_secs(400 * 86_400));
    let (mut w, _) = Writer::open(s.clone()).unwrap();
    let now = datetime!(2027-06-01 12:00 UTC);
    let ages_days = [600, 500, 401, 399, 330, 10, 0];
    for (i, days) in ages_days.iter().enumerate() {
        let at = now - time::Duration::days(*days);
        w.append(&[event(i as u64 + 1, at, "old")]).unwrap();
    }
    let deleted = w.expire(now).unwrap();
    // Files of 600d and 500d: their successors (500d, 401d) started before the cutoff.
    // The 401d file stays: the next one (399d) is inside the period.
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    let found = all(&s.dir);
    let seqs: Vec<u64> = found.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [3, 4, 5, 6, 7]);
    // 11 months old survives (T-LOG-05).
    assert!(
        found
            .events
            .iter()
            .any(|e| e.at == now - time::Duration::days(330))
    );
    // The newest file is never deleted, however old.
    let far = now + time::Duration::days(5000);
    w.expire(far).unwrap();
    assert_eq!(all(&s.dir).events.len(), 1);
    // The chain of what is kept still verifies (its first line anchors it).
    assert!(audit::verify(&s.dir).unwrap().problems.is_empty());
}

#[test]
fn search_filters_by_time_message_mailbox_and_event_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let t0 = datetime!(2026-12-01 08:00 UTC);
    let created = store
        .create_message(NewMessage::new(Direction::Inbound, t0, "as4-receiver"))
        .unwrap();
    let sdkgw_store::Created::New(rec) = created else {
        panic!()
    };
    let other = store
        .create_message(NewMessage::new(Direction::Outbound, t0, "api"))
        .unwrap();
    let append = |e: AuditEvent| {
        store.append_audit(e).unwrap();
    };
    append(
        AuditEvent::new(
            t0 + time::Duration::minutes(1),
            "as4-receiver",
            "as4.inbound.accepted",
        )
        .for_message(rec.key)
        .with("as4_message_id", "as4-1@peer")
        .with("xhe_id", "xhe-1"),
    );
    append(
        AuditEvent::new(t0 + time::Duration::minutes(2), "pipeline", "message.filed")
            .for_message(rec.key)
            .with("mailbox", "0203:kommun.example.se/registrator"),
    );
    append(audit::api_call(&audit::ApiCall {
        at: t0 + time::Duration::minutes(3),
        client: "sakra",
        operation: "messages.get",
        mailbox: Some("0203:kommun.example.se/registrator"),
        message_id: Some("xhe-1"),
        status: 200,
        reason: None,
        request_id: None,
    }));
    append(
        AuditEvent::new(
            t0 + time::Duration::minutes(4),
            "as4-sender",
            "as4.outbound.delivered",
        )
        .with("as4_message_id", "as4-2@us"),
    );
    let (mut w, _) = Writer::open(settings(tmp.path())).unwrap();
    ship_pending(&*store, &mut w).unwrap();
    let dir = w.dir().to_path_buf();
    let q = |f: Filter| -> Vec<String> {
        audit::search(&dir, &f)
            .unwrap()
            .events
            .into_iter()
            .map(|e| e.action)
            .collect()
    };
    assert_eq!(
        q(Filter {
            event: Some("as4".into()),
            ..Filter::default()
        }),
        ["as4.inbound.accepted", "as4.outbound.delivered"]
    );
    // By an id the record carries: the AS4 event, and every other event of that record.
    assert_eq!(
        q(Filter {
            message: Some("as4-1@peer".into()),
            ..Filter::default()
        }),
        ["message.create", "as4.inbound.accepted", "message.filed"]
    );
    // By the record key directly.
    assert_eq!(
        q(Filter {
            message: Some(rec.key.to_string()),
            ..Filter::default()
        })
        .len(),
        3
    );
    // By the XHE id also finds the API call naming it.
    assert_eq!(
        q(Filter {
            message: Some("xhe-1".into()),
            ..Filter::default()
        }),
        [
            "message.create",
            "as4.inbound.accepted",
            "message.filed",
            "api.messages.get"
        ]
    );
    // Mailbox: full id or the function address alone; includes the record's other events.
    for mb in ["0203:kommun.example.se/registrator", "registrator"] {
        assert_eq!(
            q(Filter {
                mailbox: Some(mb.into()),
                ..Filter::default()
            }),
            [
                "message.create",
                "as4.inbound.accepted",
                "message.filed",
                "api.messages.get"
            ],
            "{mb}"
        );
    }
    assert!(
        q(Filter {
            mailbox: Some("socialtjanst".into()),
            ..Filter::default()
        })
        .is_empty()
    );
    assert_eq!(
        q(Filter {
            since: Some(t0 + time::Duration::minutes(2)),
            until: Some(t0 + time::Duration::minutes(4)),
            ..Filter::default()
        }),
        ["message.filed", "api.messages.get"]
    );
    let limited = audit::search(
        &dir,
        &Filter {
            limit: 2,
            ..Filter::default()
        },
    )
    .unwrap();
    assert_eq!(limited.events.len(), 2);
    assert!(limited.truncated);
    drop(other);
}

/// Writes `n` events through a store into the files, *without* removing them from the journal
/// (the state between a write and its fdatasync, which a crash can cut); returns the file.
fn shipped_log(tmp: &Path, n: usize) -> (Arc<dyn Store>, std::path::PathBuf) {
    let store = store(tmp);
    for i in 0..n {
        store
            .append_audit(AuditEvent::new(OffsetDateTime::now_utc(), "t", "e").with("i", i))
            .unwrap();
    }
    let (mut w, _) = Writer::open(settings(tmp)).unwrap();
    w.append(&store.audit(0, usize::MAX).unwrap()).unwrap();
    let file = std::fs::read_dir(w.dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .unwrap();
    (store, file)
}

#[test]
fn a_write_cut_at_any_byte_never_shows_a_partial_event_and_the_writer_repairs_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, file) = shipped_log(tmp.path(), 5);
    let full = std::fs::read(&file).unwrap();
    let line_ends: Vec<usize> = full
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    let dir = file.parent().unwrap().to_path_buf();
    // Every possible length of the file a crash could leave: only whole lines are shown.
    let start = line_ends[2];
    for cut in start..=full.len() {
        std::fs::write(&file, &full[..cut]).unwrap();
        let r = all(&dir);
        let complete = line_ends.iter().filter(|e| **e <= cut).count();
        assert_eq!(r.events.len(), complete, "cut at {cut}");
        assert!(r.problems.is_empty(), "cut at {cut}: {:?}", r.problems);
        assert_eq!(r.incomplete_tail, !line_ends.contains(&cut), "cut at {cut}");
    }
    // A crash that left garbage (zeros from unwritten blocks) after a torn line.
    let mut torn = full[..line_ends[3] - 7].to_vec();
    torn.extend_from_slice(&[0u8; 300]);
    std::fs::write(&file, &torn).unwrap();
    let r = all(&dir);
    assert_eq!(r.events.len(), 3);
    assert!(r.incomplete_tail);
    // The writer cuts the tail (kept for inspection) and ships the lost events again from
    // the journal: nothing is lost, the chain is intact.
    let (mut w, repairs) = Writer::open(settings(tmp.path())).unwrap();
    assert_eq!(repairs.len(), 1);
    assert_eq!(repairs[0].kept_bytes as usize, line_ends[2]);
    assert_eq!(
        std::fs::read(&repairs[0].saved_to).unwrap(),
        &torn[line_ends[2]..]
    );
    assert_eq!(w.last_seq(), 3);
    assert_eq!(ship_pending(&*store, &mut w).unwrap(), 2);
    let r = all(&dir);
    assert_eq!(r.events.len(), 5);
    assert!(!r.incomplete_tail);
    assert!(audit::verify(&dir).unwrap().problems.is_empty());
    assert_eq!(
        std::fs::read(&file).unwrap(),
        full,
        "same bytes as before the crash"
    );
}

#[test]
fn a_damaged_complete_line_is_skipped_and_reported_by_search_and_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let (_store, file) = shipped_log(tmp.path(), 4);
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[1] = "{\"seq\": garbage".into();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let dir = file.parent().unwrap();
    let r = all(dir);
    assert_eq!(r.events.len(), 3);
    assert_eq!(r.problems.len(), 1);
    assert_eq!(r.problems[0].line, 2);
    assert!(!audit::verify(dir).unwrap().problems.is_empty());
}

#[test]
fn altering_or_removing_a_line_breaks_the_hash_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let (_store, file) = shipped_log(tmp.path(), 4);
    let dir = file.parent().unwrap().to_path_buf();
    let original = std::fs::read_to_string(&file).unwrap();
    assert!(audit::verify(&dir).unwrap().problems.is_empty());
    // Altered detail, still valid JSON.
    let altered = original.replacen("\"i\":1", "\"i\":9", 1);
    assert_ne!(altered, original);
    std::fs::write(&file, &altered).unwrap();
    let v = audit::verify(&dir).unwrap();
    assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
    assert!(v.problems[0].reason.contains("prev does not match"));
    // A removed line.
    let removed: Vec<&str> = original
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, l)| l)
        .collect();
    std::fs::write(&file, removed.join("\n") + "\n").unwrap();
    let v = audit::verify(&dir).unwrap();
    assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
}

#[test]
fn as4_events_keep_their_ap_3_4_1_fields_and_a_participant_extract_holds_only_its_own() {
    use sdkgw_as4::msh::audit::As4Event;
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let at = OffsetDateTime::now_utc();
    let mut inbound = As4Event::inbound(at);
    inbound.set("sending_ap", "AP0002-DEV");
    inbound.set("sender_participant", "0203:orgb.test");
    inbound.set("recipient_participant", "0203:orga.test");
    inbound.set("as4_message_id", "in-1@orgb");
    inbound.set("as4_conversation_id", "xhe-in-1");
    inbound.signature("sending_ap_signature", b"sig-bytes");
    inbound.outcome("accepted");
    inbound.record(&*store);
    let mut outbound = As4Event::outbound(at);
    outbound.set("receiving_ap", "AP0003-DEV");
    outbound.set("sender_participant", "0203:orga.test");
    outbound.set("recipient_participant", "0203:orgc.test");
    outbound.set("as4_message_id", "out-1@orga");
    outbound.failure("EBMS:0301", "no receipt after 12 attempts");
    outbound.outcome("exhausted");
    outbound.record(&*store);
    let (mut w, _) = Writer::open(settings(tmp.path())).unwrap();
    ship_pending(&*store, &mut w).unwrap();
    let dir = w.dir().to_path_buf();
    let inbound = audit::search(
        &dir,
        &Filter {
            event: Some("as4.inbound".into()),
            ..Filter::default()
        },
    )
    .unwrap();
    assert_eq!(inbound.events.len(), 1);
    let d = &inbound.events[0].detail;
    for key in [
        "sending_ap",
        "sending_ap_signature",
        "received_at",
        "sender_participant",
        "recipient_participant",
        "as4_message_id",
        "as4_conversation_id",
        "outcome",
    ] {
        assert!(d.contains_key(key), "{key} missing: {d:?}");
    }
    // orgc's extract: only the outbound event addressed to it.
    let extract = audit::search(
        &dir,
        &Filter {
            participant: Some("0203:orgc.test".into()),
            ..Filter::default()
        },
    )
    .unwrap();
    assert_eq!(extract.events.len(), 1);
    assert_eq!(extract.events[0].action, "as4.outbound.exhausted");
    assert_eq!(extract.events[0].detail["error_code"], "EBMS:0301");
    // orga (ours) is in both.
    let ours = audit::search(
        &dir,
        &Filter {
            participant: Some("0203:orga.test".into()),
            ..Filter::default()
        },
    )
    .unwrap();
    assert_eq!(ours.events.len(), 2);
}
