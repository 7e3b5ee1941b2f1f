//! The audit tree as the journal of the audit trail: events written with a record are in the
//! same transaction, trimming removes only what was shipped, and sequence numbers are never
//! reused — after a trim, after retention, across restarts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use common::{open, t0};
use sdkgw_store::{AuditEvent, Created, DedupKey, Direction, NewMessage, Store};

/// Opens again after a drop (sled may release its directory lock a moment later).
fn reopen(dir: &std::path::Path) -> sdkgw_store::SledStore {
    for _ in 0..200 {
        match sdkgw_store::SledStore::open(sdkgw_store::StoreConfig::at(dir)) {
            Ok(s) => return s,
            Err(sdkgw_store::StoreError::Locked { .. }) => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("store stays locked")
}

fn seqs(store: &dyn Store) -> Vec<u64> {
    store
        .audit(0, usize::MAX)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect()
}

#[test]
fn trim_removes_only_events_up_to_the_given_seq() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for i in 0..5 {
        store
            .append_audit(AuditEvent::new(t0(), "t", "e").with("i", i))
            .unwrap();
    }
    assert_eq!(seqs(&store), [1, 2, 3, 4, 5]);
    assert_eq!(store.trim_audit(3).unwrap(), 3);
    assert_eq!(seqs(&store), [4, 5]);
    assert_eq!(store.trim_audit(3).unwrap(), 0, "idempotent");
    assert_eq!(store.trim_audit(u64::MAX).unwrap(), 2);
    assert!(seqs(&store).is_empty());
}

#[test]
fn seqs_are_never_reused_after_trim_or_retention_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        for _ in 0..3 {
            store.append_audit(AuditEvent::new(t0(), "t", "e")).unwrap();
        }
        store.trim_audit(3).unwrap();
    }
    {
        let store = reopen(dir.path());
        let seq = store.append_audit(AuditEvent::new(t0(), "t", "e")).unwrap();
        assert_eq!(seq, 4, "not 1 again after an empty journal and a restart");
        // Retention removes everything older than the audit period (400 days).
        let old = t0() - time::Duration::days(500);
        store
            .append_audit(AuditEvent::new(old, "t", "old"))
            .unwrap();
        store.trim_audit(4).unwrap();
        let report = store.gc(t0(), &mut sdkgw_store::NoProgress).unwrap();
        assert_eq!(report.audit_deleted, 1);
        // gc appended its own event; remove it too so the tree is empty again.
        store.trim_audit(u64::MAX).unwrap();
    }
    let store = reopen(dir.path());
    let seq = store.append_audit(AuditEvent::new(t0(), "t", "e")).unwrap();
    assert!(seq > 6, "seq {seq} reused a removed number");
}

#[test]
fn events_given_with_a_new_record_are_written_with_it_and_not_for_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let new = |id: &str| {
        let mut n = NewMessage::new(Direction::Inbound, t0(), "as4-receiver");
        n.dedup = Some(DedupKey {
            from_party: "AP0002".into(),
            as4_message_id: id.into(),
            expires_at: t0() + time::Duration::days(10),
        });
        n.audit.push(
            AuditEvent::new(t0(), "as4-receiver", "as4.inbound.accepted")
                .with("as4_message_id", id),
        );
        n
    };
    let Created::New(record) = store.create_message(new("m-1@peer")).unwrap() else {
        panic!("new")
    };
    let events = store.audit(0, 100).unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["message.create", "as4.inbound.accepted"]);
    assert_eq!(
        events[1].message,
        Some(record.key),
        "linked to the new record"
    );
    assert!(matches!(
        store.create_message(new("m-1@peer")).unwrap(),
        Created::Duplicate { .. }
    ));
    assert_eq!(
        store.audit(0, 100).unwrap().len(),
        2,
        "a duplicate stores nothing"
    );
    let mut bad = new("m-2@peer");
    bad.audit[0].actor = String::new();
    assert!(
        store.create_message(bad).is_err(),
        "checked before anything is written"
    );
}
