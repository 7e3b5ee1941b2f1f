//! Behaviour of the sled store through the `Store` trait: state machines, blobs, indexes,
//! de-dup, evidence, audit, keyspaces, persistence, retention, check.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use std::time::Duration;

use common::*;
use sdkgw_store::{
    BlobLocation, Correlation, Created, DedupKey, Direction, IdKind, ListFilter, MessageState,
    NewMessage, NoProgress, SledStore, Store, StoreConfig, StoreError, Update,
};
use time::Duration as TD;

use MessageState::*;

#[test]
fn outbound_message_walks_its_state_machine_with_a_timestamp_per_transition() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let r = outbound(&store, "fa-1", "xhe-1", b"hello", t0());
    assert_eq!(r.state, Accepted);
    let path = [Sealed, Scheduled, Sending, Delivered, RecipientAccepted];
    let done = walk(&store, &r.key, &path, t0());
    assert_eq!(done.state, RecipientAccepted);
    let states: Vec<_> = done.history.iter().map(|h| h.to).collect();
    assert_eq!(states, [&[Accepted][..], &path].concat());
    for (i, h) in done.history.iter().enumerate() {
        assert_eq!(h.at, t0() + TD::seconds(i as i64));
    }
    assert_eq!(done.attempts, 1);
    assert!(done.state.is_final());
}

#[test]
fn illegal_transition_is_a_typed_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let r = outbound(&store, "fa-1", "xhe-1", b"x", t0());
    let err = store
        .update(&r.key, Update::to(Delivered, t0(), "test"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::IllegalTransition {
                from: Accepted,
                to: Delivered,
                ..
            }
        ),
        "{err}"
    );
    let err = store
        .update(&r.key, Update::to(Filed, t0(), "test"))
        .unwrap_err();
    assert!(matches!(err, StoreError::IllegalTransition { .. }));
    assert_eq!(store.get_message(&r.key).unwrap().unwrap(), r);
}

#[test]
fn claiming_a_scheduled_message_succeeds_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let r = outbound(&store, "fa-1", "xhe-1", b"x", t0());
    walk(&store, &r.key, &[Sealed, Scheduled], t0());
    let claim = || Update::to(Sending, t0() + TD::minutes(1), "worker").expect(Scheduled);
    store.update(&r.key, claim()).unwrap();
    let err = store.update(&r.key, claim()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::StateMismatch {
                actual: Sending,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn inbound_message_walks_received_to_deleted_and_rejects_after_filing_fail() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut new = NewMessage::new(Direction::Inbound, t0(), "as4-receiver");
    new.content.push(("xhe".into(), blob(&store, b"<xhe/>")));
    let Created::New(r) = store.create_message(new).unwrap() else {
        panic!()
    };
    assert_eq!(r.state, Received);
    let done = walk(&store, &r.key, &[Verified, Filed, Fetched, Deleted], t0());
    assert_eq!(done.state, Deleted);
    assert!(matches!(
        store.update(&r.key, Update::to(Rejected, t0(), "t")),
        Err(StoreError::IllegalTransition { .. })
    ));
}

#[test]
fn small_blobs_are_inline_large_ones_are_files_and_both_read_back_verified() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let small = bytes(1, 10_000);
    let large = bytes(2, 3 * 1024 * 1024 + 17);
    let s = blob(&store, &small);
    let l = blob(&store, &large);
    assert_eq!(s.blob().location, BlobLocation::Inline);
    assert_eq!(l.blob().location, BlobLocation::File);
    assert_eq!(l.blob().len, large.len() as u64);
    let mut new = NewMessage::new(Direction::Outbound, t0(), "api");
    new.content.push(("small".into(), s));
    new.content.push(("large".into(), l));
    let Created::New(r) = store.create_message(new).unwrap() else {
        panic!()
    };
    assert_eq!(
        read_all(&store, r.content("small").unwrap()).unwrap(),
        small
    );
    assert_eq!(
        read_all(&store, r.content("large").unwrap()).unwrap(),
        large
    );
    let reopened = {
        drop(store);
        open(dir.path())
    };
    assert_eq!(
        read_all(&reopened, r.content("large").unwrap()).unwrap(),
        large
    );
    assert!(reopened.check(false, &mut NoProgress).unwrap().is_clean());
}

#[test]
fn a_staged_blob_that_is_never_committed_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let staged = blob(&store, &bytes(3, 200_000));
    drop(staged);
    let report = store.check(false, &mut NoProgress).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
}

#[test]
fn corrupt_blob_file_is_detected_on_read_and_by_check() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let r = outbound(&store, "fa", "x", &bytes(4, 100_000), t0());
    let blob = r.content("payload").unwrap().clone();
    let hex = blob.id.hex();
    let path = dir.path().join("blobs").join(&hex[..2]).join(&hex);
    let mut data = std::fs::read(&path).unwrap();
    data[500] ^= 0xff;
    std::fs::write(&path, data).unwrap();
    let err = read_all(&store, &blob).unwrap_err();
    let inner = sdkgw_store::store_error(&err).unwrap();
    assert!(matches!(inner, StoreError::CorruptBlob { .. }), "{inner}");
    let report = store.check(true, &mut NoProgress).unwrap();
    assert_eq!(report.errors().count(), 1);
    assert_eq!(report.errors().next().unwrap().kind, "corrupt-blob");
}

#[test]
fn indexes_list_by_mailbox_state_and_time_and_due_queue_is_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut keys = Vec::new();
    for i in 0..6 {
        let at = t0() + TD::minutes(i);
        let r = outbound(
            &store,
            if i % 2 == 0 { "fa-even" } else { "fa-odd" },
            &format!("x{i}"),
            b"p",
            at,
        );
        store.update(&r.key, Update::to(Sealed, at, "t")).unwrap();
        // Later messages are due earlier.
        let next = t0() + TD::hours(1) - TD::minutes(i);
        store
            .update(&r.key, Update::to(Scheduled, at, "t").next_attempt(next))
            .unwrap();
        keys.push(r.key);
    }
    let even = store
        .list_messages(&ListFilter {
            mailbox: Some("fa-even".into()),
            state: Some(Scheduled),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        even.iter().map(|s| s.key).collect::<Vec<_>>(),
        vec![keys[0], keys[2], keys[4]]
    );
    let since = store
        .list_messages(&ListFilter {
            state: Some(Scheduled),
            since: Some(t0() + TD::minutes(4)),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(since.len(), 2);
    let due = store.due_messages(t0() + TD::hours(1), 10).unwrap();
    assert_eq!(due, keys.iter().rev().copied().collect::<Vec<_>>());
    assert_eq!(
        store.due_messages(t0() + TD::minutes(56), 10).unwrap(),
        vec![keys[5], keys[4]]
    );
    // Claiming removes it from the due queue.
    store
        .update(&keys[5], Update::to(Sending, t0(), "w"))
        .unwrap();
    assert_eq!(
        store.due_messages(t0() + TD::minutes(56), 10).unwrap(),
        vec![keys[4]]
    );
    let stats = store.stats(t0() + TD::hours(2)).unwrap();
    assert!(stats.by_state.contains(&(Scheduled, 5)));
    assert_eq!(stats.due_now, 5);
}

#[test]
fn dead_letters_are_indexed_requeued_and_purged() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let r = outbound(&store, "fa", "x", b"payload", t0());
    walk(
        &store,
        &r.key,
        &[Sealed, Scheduled, Sending, DeadLettered],
        t0(),
    );
    assert_eq!(store.dead_letters(10).unwrap().len(), 1);
    store
        .update(
            &r.key,
            Update::to(Scheduled, t0() + TD::hours(1), "operator:test"),
        )
        .unwrap();
    assert!(store.dead_letters(10).unwrap().is_empty());
    walk(
        &store,
        &r.key,
        &[Sending, DeadLettered],
        t0() + TD::hours(2),
    );
    let mut purge = Update::to(Failed, t0() + TD::hours(3), "operator:test");
    purge.delete_content = true;
    let purged = store.update(&r.key, purge).unwrap();
    assert!(purged.content.is_empty() && purged.content_deleted_at.is_some());
    assert!(store.dead_letters(10).unwrap().is_empty());
    // Without content it cannot be scheduled again.
    let err = store
        .update(
            &r.key,
            Update::to(Scheduled, t0() + TD::hours(4), "operator:test"),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
}

#[test]
fn correlation_ids_find_the_message_in_both_directions() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let r = outbound(&store, "fa", "xhe-42", b"p", t0());
    let ids = Correlation {
        as4_message_id: Some("as4-42@sdkgw".into()),
        conversation_id: Some("xhe-42".into()),
        ..Default::default()
    };
    walk(&store, &r.key, &[Sealed, Scheduled, Sending], t0());
    let delivered = store
        .update(
            &r.key,
            Update::to(Delivered, t0() + TD::minutes(5), "worker")
                .correlation(Correlation {
                    receipt_id: Some("rcpt-1".into()),
                    ..ids.clone()
                })
                .evidence("as4-receipt", blob(&store, b"<eb:Receipt signed/>")),
        )
        .unwrap();
    for (kind, id) in [
        (IdKind::XheId, "xhe-42"),
        (IdKind::As4MessageId, "as4-42@sdkgw"),
        (IdKind::ConversationId, "xhe-42"),
        (IdKind::ReceiptId, "rcpt-1"),
    ] {
        assert_eq!(store.find_by_id(kind, id).unwrap(), vec![r.key], "{kind:?}");
    }
    assert_eq!(delivered.evidence.len(), 1);
    assert_eq!(
        read_all(&store, &delivered.evidence[0].blob).unwrap(),
        b"<eb:Receipt signed/>"
    );
}

#[test]
fn duplicate_as4_message_is_refused_until_the_dedup_entry_expires() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let inbound = |at| {
        let mut new = NewMessage::new(Direction::Inbound, at, "as4-receiver");
        new.content.push(("xhe".into(), blob(&store, b"<xhe/>")));
        new.dedup = Some(DedupKey {
            from_party: "ap-a".into(),
            as4_message_id: "m1@a".into(),
            expires_at: t0() + TD::days(1),
        });
        store.create_message(new).unwrap()
    };
    let Created::New(first) = inbound(t0()) else {
        panic!()
    };
    let Created::Duplicate { existing } = inbound(t0() + TD::hours(1)) else {
        panic!()
    };
    assert_eq!(existing, first.key);
    assert_eq!(
        store
            .stats(t0())
            .unwrap()
            .by_state
            .iter()
            .find(|s| s.0 == Received)
            .unwrap()
            .1,
        1
    );
    assert_eq!(
        store.dedup_lookup("ap-a", "m1@a", t0()).unwrap(),
        Some(first.key)
    );
    assert_eq!(store.dedup_lookup("ap-b", "m1@a", t0()).unwrap(), None);
    let later = t0() + TD::days(2);
    assert_eq!(store.dedup_lookup("ap-a", "m1@a", later).unwrap(), None);
    assert_eq!(store.gc(later, &mut NoProgress).unwrap().dedup_expired, 1);
    assert!(matches!(inbound(later), Created::New(_)));
}

#[test]
fn transitions_and_appends_are_in_the_audit_trail_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let r = outbound(&store, "fa", "x", b"p", t0());
    walk(&store, &r.key, &[Sealed], t0());
    store
        .append_audit(
            sdkgw_store::AuditEvent::new(t0(), "operator:alice", "config.change")
                .with("key", "store.retention"),
        )
        .unwrap();
    let trail = store.audit(0, 100).unwrap();
    let actions: Vec<_> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["message.create", "message.transition", "config.change"]
    );
    assert!(trail.windows(2).all(|w| w[0].seq < w[1].seq));
    drop(store);
    let store = open(dir.path());
    let seq = store
        .append_audit(sdkgw_store::AuditEvent::new(t0(), "t", "after.reopen"))
        .unwrap();
    assert!(seq > trail[2].seq);
}

#[test]
fn keyspace_entries_persist_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        let ks = store.keyspace("smp-cache").unwrap();
        ks.put(b"0203:a.se/doc1", b"meta-1").unwrap();
        ks.put(b"0203:a.se/doc2", b"meta-2").unwrap();
        ks.put(b"0203:b.se/doc1", b"meta-3").unwrap();
        assert!(ks.remove(b"0203:a.se/doc2").unwrap());
    }
    let store = open(dir.path());
    let ks = store.keyspace("smp-cache").unwrap();
    assert_eq!(
        ks.get(b"0203:a.se/doc1").unwrap().as_deref(),
        Some(&b"meta-1"[..])
    );
    assert_eq!(ks.scan_prefix(b"0203:a.se/", 10).unwrap().len(), 1);
    assert!(
        store
            .keyspace("other")
            .unwrap()
            .get(b"0203:a.se/doc1")
            .unwrap()
            .is_none()
    );
}

#[test]
fn in_flight_messages_are_requeued_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let key = {
        let store = open(dir.path());
        let r = outbound(&store, "fa", "x", b"p", t0());
        walk(&store, &r.key, &[Sealed, Scheduled, Sending], t0());
        r.key
    };
    let store = open(dir.path());
    assert_eq!(store.requeue_in_flight(t0() + TD::hours(1)).unwrap(), 1);
    let r = store.get_message(&key).unwrap().unwrap();
    assert_eq!(r.state, Scheduled);
    assert_eq!(
        store.due_messages(t0() + TD::hours(1), 10).unwrap(),
        vec![key]
    );
}

#[allow(clippy::unwrap_used)]
fn short_retention(dir: &std::path::Path) -> SledStore {
    let mut cfg = StoreConfig::at(dir);
    cfg.retention.content_after_final = Duration::from_secs(86_400);
    cfg.retention.content_max_age = Duration::from_secs(30 * 86_400);
    cfg.retention.orphan_grace = Duration::ZERO;
    SledStore::open(cfg).unwrap()
}

#[test]
fn gc_deletes_content_after_final_plus_period_and_after_max_age_keeping_metadata_and_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let store = short_retention(dir.path());
    let done = outbound(&store, "fa", "done", &bytes(5, 200_000), t0());
    walk(&store, &done.key, &[Sealed, Scheduled, Sending], t0());
    store
        .update(
            &done.key,
            Update::to(Delivered, t0() + TD::seconds(10), "w")
                .evidence("as4-receipt", blob(&store, b"receipt")),
        )
        .unwrap();
    store
        .update(
            &done.key,
            Update::to(RecipientAccepted, t0() + TD::seconds(20), "w"),
        )
        .unwrap();
    let stuck = outbound(&store, "fa", "stuck", b"still waiting", t0());

    let report = store.gc(t0() + TD::hours(23), &mut NoProgress).unwrap();
    assert_eq!(report.content_deleted, 0);
    let report = store.gc(t0() + TD::hours(25), &mut NoProgress).unwrap();
    assert_eq!(report.content_deleted, 1);
    assert_eq!(report.content_bytes_deleted, 200_000);
    let r = store.get_message(&done.key).unwrap().unwrap();
    assert!(r.content.is_empty() && r.content_deleted_at.is_some());
    assert_eq!(read_all(&store, &r.evidence[0].blob).unwrap(), b"receipt");
    assert_eq!(r.history.len(), 6);
    assert!(
        store
            .get_message(&stuck.key)
            .unwrap()
            .unwrap()
            .content_deleted_at
            .is_none()
    );

    let report = store.gc(t0() + TD::days(31), &mut NoProgress).unwrap();
    assert_eq!(
        report.content_deleted, 1,
        "max age applies to non-final messages too"
    );
    assert!(
        store
            .get_message(&stuck.key)
            .unwrap()
            .unwrap()
            .content
            .is_empty()
    );
    let check = store.check(false, &mut NoProgress).unwrap();
    assert!(check.is_clean(), "{:?}", check.findings);
}

#[test]
fn gc_keeps_metadata_and_audit_for_the_retention_and_removes_them_after() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let r = outbound(&store, "fa", "x", b"p", t0());
    walk(&store, &r.key, &[Failed], t0());
    store.gc(t0() + TD::days(399), &mut NoProgress).unwrap();
    assert!(
        store.get_message(&r.key).unwrap().is_some(),
        "kept for 400 days by default"
    );
    assert!(
        store
            .audit(0, 10)
            .unwrap()
            .iter()
            .any(|e| e.message == Some(r.key))
    );
    let report = store.gc(t0() + TD::days(401), &mut NoProgress).unwrap();
    assert_eq!(report.records_deleted, 1);
    assert!(report.audit_deleted >= 2);
    assert!(store.get_message(&r.key).unwrap().is_none());
    assert!(store.find_by_id(IdKind::XheId, "x").unwrap().is_empty());
    assert!(store.check(false, &mut NoProgress).unwrap().is_clean());
}

#[test]
fn check_reports_missing_blobs_and_repairs_orphans_and_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = short_retention(dir.path());
    let r = outbound(&store, "fa", "x", &bytes(6, 100_000), t0());
    let hex = r.content("payload").unwrap().id.hex();
    std::fs::remove_file(dir.path().join("blobs").join(&hex[..2]).join(&hex)).unwrap();
    let orphan = dir.path().join("blobs/ab/ab000000000000000000000000000000");
    std::fs::write(&orphan, b"left over").unwrap();
    std::fs::write(dir.path().join("blobs/tmp/x.tmp"), b"partial").unwrap();
    let report = store.check(true, &mut NoProgress).unwrap();
    let kinds: Vec<_> = report
        .findings
        .iter()
        .map(|f| (f.kind.as_str(), f.repaired))
        .collect();
    assert!(kinds.contains(&("missing-blob", false)), "{kinds:?}");
    assert!(kinds.contains(&("orphan-blob", true)), "{kinds:?}");
    assert!(kinds.contains(&("temp-file", true)), "{kinds:?}");
    assert!(!orphan.exists());
    let again = store.check(false, &mut NoProgress).unwrap();
    assert_eq!(again.findings.len(), 1, "{:?}", again.findings);
}

#[test]
fn refuses_ids_with_nul_or_oversized() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut new = NewMessage::new(Direction::Outbound, t0(), "api");
    new.mailbox = Some("a\0b".into());
    assert!(matches!(
        store.create_message(new),
        Err(StoreError::Invalid(_))
    ));
    assert!(store.find_by_id(IdKind::XheId, &"x".repeat(5000)).is_err());
}
