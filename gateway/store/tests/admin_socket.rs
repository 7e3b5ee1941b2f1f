//! The admin socket: a running store serves operator requests to other processes' CLI, read
//! requests do not stop writers, and a backup taken while writers run restores consistently.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use sdkgw_store::admin::{Access, AdminServer, Request, Response};
use sdkgw_store::{
    ListFilter, MessageState, NoProgress, Progress, SledStore, Store, StoreConfig, StoreError,
    Update, restore,
};

use MessageState::*;

#[derive(Default)]
struct Seen(Vec<String>);
impl Progress for Seen {
    fn report(&mut self, phase: &str, _done: u64, _total: Option<u64>) {
        self.0.push(phase.to_owned());
    }
}

fn call(access: &Access, req: Request) -> Result<Response, StoreError> {
    access.call(&req, &mut NoProgress)
}

#[test]
fn cli_reaches_a_running_store_through_its_socket_and_operator_actions_apply() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let server = AdminServer::start(store.clone()).unwrap();
    let mode = std::fs::metadata(server.path())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    let dead = outbound(store.as_ref(), "fa-1", "xhe-dead", b"payload", t0());
    walk(
        store.as_ref(),
        &dead.key,
        &[Sealed, Scheduled, Sending, DeadLettered],
        t0(),
    );
    let failed = outbound(store.as_ref(), "fa-1", "xhe-failed", b"payload", t0());
    walk(
        store.as_ref(),
        &failed.key,
        &[Sealed, Scheduled, Sending, Failed],
        t0(),
    );

    // The directory is locked by the running store; the CLI side must use the socket.
    assert!(matches!(
        SledStore::open(StoreConfig::at(dir.path())),
        Err(StoreError::Locked { .. })
    ));
    let access = Access::open(StoreConfig::at(dir.path())).unwrap();
    assert!(access.is_remote());

    let Response::Stats(stats) = call(&access, Request::Stats).unwrap() else {
        panic!()
    };
    assert!(stats.by_state.contains(&(DeadLettered, 1)) && stats.dead_letters == 1);
    let Response::List(rows) = call(
        &access,
        Request::List {
            filter: ListFilter {
                mailbox: Some("fa-1".into()),
                ..Default::default()
            },
        },
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(rows.len(), 2);
    let Response::Message(shown) = call(
        &access,
        Request::Show {
            id: "xhe-dead".into(),
        },
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(shown.key, dead.key);
    assert_eq!(shown.history.len(), 5);

    let Response::List(dl) = call(&access, Request::DeadLetterList { limit: 0 }).unwrap() else {
        panic!()
    };
    assert_eq!(dl.len(), 1);
    let Response::Message(requeued) = call(
        &access,
        Request::Requeue {
            id: dead.key.to_string(),
            actor: "operator:test".into(),
        },
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(requeued.state, Scheduled);
    assert_eq!(requeued.history.last().unwrap().actor, "operator:test");
    let Response::Message(retried) = call(
        &access,
        Request::Retry {
            id: "xhe-failed".into(),
            actor: "operator:test".into(),
        },
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(retried.state, Scheduled);

    // Purge only applies to dead letters: a typed error comes back through the socket.
    let err = call(
        &access,
        Request::Purge {
            id: "xhe-failed".into(),
            actor: "operator:test".into(),
        },
    )
    .unwrap_err();
    assert_eq!(err.code(), "state-mismatch", "{err}");
    walk(
        store.as_ref(),
        &dead.key,
        &[Sending, DeadLettered],
        t0() + time::Duration::hours(1),
    );
    let Response::Message(purged) = call(
        &access,
        Request::Purge {
            id: "xhe-dead".into(),
            actor: "operator:test".into(),
        },
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(purged.state, Failed);
    assert!(purged.content.is_empty());

    let err = call(&access, Request::Show { id: "nope".into() }).unwrap_err();
    assert_eq!(err.code(), "not-found");

    let mut seen = Seen::default();
    let Response::Check(report) = access
        .call(&Request::Check { repair: false }, &mut seen)
        .unwrap()
    else {
        panic!()
    };
    assert!(report.is_clean(), "{:?}", report.findings);
    assert!(
        seen.0.iter().any(|p| p == "records and blobs"),
        "progress is streamed: {:?}",
        seen.0
    );
    let Response::Gc(_) = call(&access, Request::Gc).unwrap() else {
        panic!()
    };

    drop(access);
    server.shutdown();
    assert!(!dir.path().join("admin.sock").exists());
    drop(store);
    let local = Access::open(StoreConfig::at(dir.path())).unwrap();
    assert!(
        !local.is_remote(),
        "without a gateway the CLI opens the directory itself"
    );
}

#[test]
fn access_refuses_a_directory_without_a_store_instead_of_creating_one() {
    let dir = tempfile::tempdir().unwrap();
    let err = Access::open(StoreConfig::at(dir.path().join("typo"))).unwrap_err();
    assert_eq!(err.code(), "not-a-store", "{err}");
    assert!(!dir.path().join("typo/db").exists());
}

#[test]
fn online_backup_while_writers_run_restores_a_consistent_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let before: Vec<_> = (0..40)
        .map(|i| {
            outbound(
                store.as_ref(),
                "fa",
                &format!("pre-{i}"),
                &bytes(i, if i % 5 == 0 { 150_000 } else { 2000 }),
                t0(),
            )
            .key
        })
        .collect();
    let server = AdminServer::start(store.clone()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let r = outbound(
                    store.as_ref(),
                    "fa",
                    &format!("during-{n}"),
                    &bytes(1000 + n, 3000),
                    t0(),
                );
                store.update(&r.key, Update::to(Sealed, t0(), "w")).unwrap();
                n += 1;
            }
            n
        })
    };
    let backup_dir = tempfile::tempdir().unwrap();
    let target = backup_dir.path().join("snap");
    let access = Access::open(StoreConfig::at(dir.path())).unwrap();
    let Response::Backup(report) = call(&access, Request::Backup { to: target.clone() }).unwrap()
    else {
        panic!()
    };
    stop.store(true, Ordering::SeqCst);
    let written_during = writer.join().unwrap();
    assert!(report.records >= 40);
    println!("backup: {report:?}, {written_during} messages written meanwhile");

    let restored_dir = backup_dir.path().join("restored");
    let restored = restore(&target, StoreConfig::at(&restored_dir), &mut NoProgress).unwrap();
    assert!(restored.check.errors().next().is_none());
    let restored = open(&restored_dir);
    for key in &before {
        let r = restored
            .get_message(key)
            .unwrap()
            .expect("record from before the backup");
        assert_eq!(
            read_all(&restored, r.content("payload").unwrap())
                .unwrap()
                .len(),
            r.content[0].blob.len as usize
        );
    }
    // Consistency: every restored record is complete (indexes, blobs) — no torn message.
    let check = restored.check(false, &mut NoProgress).unwrap();
    assert!(
        check.findings.iter().all(|f| f.kind == "orphan-blob"),
        "{:?}",
        check.findings
    );
    let rows = restored
        .list_messages(&ListFilter {
            limit: 100_000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(rows.len() as u64, report.records);
    drop(server);
}

#[test]
fn restore_refuses_non_empty_targets_and_incomplete_backups() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("live"));
    outbound(&store, "fa", "x", b"p", t0());
    let err = restore(
        &dir.path().join("live"),
        StoreConfig::at(dir.path().join("new")),
        &mut NoProgress,
    )
    .unwrap_err();
    assert!(err.to_string().contains("not a complete backup"), "{err}");
    let snap = dir.path().join("snap");
    store.backup(&snap, &mut NoProgress).unwrap();
    let err = restore(
        &snap,
        StoreConfig::at(dir.path().join("live")),
        &mut NoProgress,
    )
    .unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    let err = store.backup(&snap, &mut NoProgress).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
}

#[test]
fn periodic_gc_runs_in_the_background_until_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let gc =
        sdkgw_store::admin::PeriodicGc::start(store.clone(), std::time::Duration::from_millis(5))
            .unwrap();
    let mut ran = false;
    for _ in 0..2000 {
        if let Some(result) = gc.last() {
            assert!(result.is_ok(), "{result:?}");
            ran = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    drop(gc);
    assert!(ran, "gc ran");
    assert!(
        store
            .audit(0, 100)
            .unwrap()
            .iter()
            .any(|e| e.action == "store.gc")
    );
}

/// A progress sink that performs a write from another thread each time it is called and
/// requires it to finish: if the operation held writers off, the write would not complete.
struct WriteDuring {
    store: Arc<SledStore>,
    writes: u64,
}

impl Progress for WriteDuring {
    fn report(&mut self, phase: &str, _done: u64, _total: Option<u64>) {
        let store = self.store.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let r = outbound(
                store.as_ref(),
                "fa-during",
                "during",
                b"written mid-operation",
                t0(),
            );
            let _ = tx.send(r.key);
        });
        let key = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("a write could not complete during {phase:?}"));
        assert!(self.store.get_message(&key).unwrap().is_some());
        self.writes += 1;
    }
}

#[test]
fn writes_complete_while_check_gc_and_backup_are_running() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    for i in 0..20 {
        outbound(
            store.as_ref(),
            "fa",
            &format!("m{i}"),
            &bytes(i, 100_000),
            t0(),
        );
    }
    let mut during = WriteDuring {
        store: store.clone(),
        writes: 0,
    };
    let report = store.check(false, &mut during).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    let target = tempfile::tempdir().unwrap();
    store.backup(&target.path().join("b"), &mut during).unwrap();
    store.gc(t0(), &mut during).unwrap();
    assert!(
        during.writes >= 5,
        "progress was reported by each operation ({})",
        during.writes
    );
}
