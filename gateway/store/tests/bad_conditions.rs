//! Bad conditions: newer format, foreign directory, lock, read-only file system, full disk.
//!
//! Read-only and full-disk tests use a real tmpfs (mount needs root, which CI has); without
//! the permission they print a notice and return.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use sdkgw_store::{
    Direction, ListFilter, NewMessage, NoProgress, SledStore, Store, StoreConfig, StoreError,
};

#[test]
fn refuses_a_directory_written_by_a_newer_format_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let format = r#"{"format":99,"written_by":"sdkgw-store 9.0.0"}"#;
    std::fs::write(dir.path().join("FORMAT"), format).unwrap();
    let err = SledStore::open(StoreConfig::at(dir.path())).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NewerFormat {
                found: 99,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("format version 99") && msg.contains("newer sdkgw"),
        "{msg}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("FORMAT")).unwrap(),
        format
    );
    assert!(!dir.path().join("db").exists());
}

#[test]
fn refuses_a_directory_with_data_but_no_format_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("db")).unwrap();
    let err = SledStore::open(StoreConfig::at(dir.path())).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
}

#[test]
fn a_second_open_of_a_running_store_says_who_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let _store = open(dir.path());
    let err = SledStore::open(StoreConfig::at(dir.path())).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("admin.sock"));
}

/// A tmpfs mounted for one test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            println!(
                "notice: cannot mount a tmpfs here (needs root); real file-system failure test skipped"
            );
            return None;
        }
        Some(Self(at.to_path_buf()))
    }

    fn remount(&self, opts: &str) {
        assert!(
            Command::new("mount")
                .args(["-o", opts])
                .arg(&self.0)
                .status()
                .unwrap()
                .success()
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn bind_read_only(dir: &Path) -> Option<Tmpfs> {
    let ok = Command::new("mount")
        .args(["--bind"])
        .arg(dir)
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return None;
    }
    let m = Tmpfs(dir.to_path_buf());
    m.remount("remount,bind,ro");
    Some(m)
}

#[test]
fn read_only_data_directory_fails_with_a_clear_error_and_stores_nothing() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("data");
    let Some(fs) = Tmpfs::mount(&dir, "64m") else {
        return;
    };
    {
        let store = open(&dir);
        outbound(&store, "fa", "before", b"p", t0());
    }
    fs.remount("remount,ro");
    let err = SledStore::open(StoreConfig::at(&dir)).unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err}");
    assert!(err.to_string().contains("read-only file system"), "{err}");
    fs.remount("remount,rw");

    // The blob directory becomes read-only under a running store: the large write fails.
    let store = open(&dir);
    let ro = bind_read_only(&dir.join("blobs/tmp")).expect("bind mount");
    let mut w = store.blob_writer().unwrap();
    let err = w.write_all(&bytes(9, 200_000)).unwrap_err();
    let inner = sdkgw_store::store_error(&err).expect("store error inside");
    assert!(matches!(inner, StoreError::ReadOnly { .. }), "{inner}");
    drop(w);
    drop(ro);
    let rows = store.list_messages(&ListFilter::default()).unwrap();
    assert_eq!(rows.len(), 1, "only the message from before");
    assert!(store.check(false, &mut NoProgress).unwrap().is_clean());
}

#[test]
fn full_disk_fails_the_write_with_a_clear_error_and_leaves_nothing_partial() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("data");
    let Some(_fs) = Tmpfs::mount(&dir, "48m") else {
        return;
    };
    let store = open(&dir);
    let kept = outbound(&store, "fa", "kept", &bytes(1, 100_000), t0());
    // Fill the file system, leaving less than the next blob needs.
    let filler = dir.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 1 << 20];
    while f.write_all(&chunk).is_ok() {}
    drop(f);
    let free_some = std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap();
    let len = free_some.metadata().unwrap().len();
    free_some.set_len(len - 512 * 1024).unwrap();
    drop(free_some);

    let mut w = store.blob_writer().unwrap();
    let err = w.write_all(&bytes(2, 4 << 20)).unwrap_err();
    let inner = sdkgw_store::store_error(&err).expect("store error inside");
    assert!(matches!(inner, StoreError::DiskFull { .. }), "{inner}");
    assert!(inner.to_string().contains("disk full"), "{inner}");
    drop(w);
    assert!(
        std::fs::read_dir(dir.join("blobs/tmp"))
            .unwrap()
            .next()
            .is_none(),
        "temp file removed"
    );

    // Now the database itself cannot grow: the record write fails, nothing becomes visible.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&filler)
        .unwrap()
        .write_all(&vec![0u8; 512 * 1024])
        .ok();
    let mut failed = 0;
    for i in 0..200 {
        let mut new = NewMessage::new(Direction::Outbound, t0(), "api");
        new.mailbox = Some(format!("fa-{i}"));
        let Ok(mut w) = store.blob_writer() else {
            failed += 1;
            break;
        };
        if w.write_all(&bytes(i, 30_000)).is_err() {
            failed += 1;
            break;
        }
        let Ok(b) = w.finish() else {
            failed += 1;
            break;
        };
        new.content.push(("payload".into(), b));
        match store.create_message(new) {
            Ok(_) => {}
            Err(e) => {
                println!("write {i} failed as expected: {e}");
                assert!(
                    matches!(e.code(), "disk-full" | "poisoned" | "database" | "io"),
                    "{e}"
                );
                failed += 1;
                break;
            }
        }
    }
    assert!(failed > 0, "the full disk must fail a write");
    drop(store);
    std::fs::remove_file(&filler).unwrap();
    let store = reopen_when_released(&dir);
    assert_eq!(
        read_all(&store, kept_blob(&store, &kept)).unwrap(),
        bytes(1, 100_000)
    );
    let report = store.check(false, &mut NoProgress).unwrap();
    assert!(report.errors().next().is_none(), "{:?}", report.findings);
    assert!(
        report.findings.iter().all(|f| f.kind == "orphan-blob"),
        "{:?}",
        report.findings
    );
}

/// Opens the store again once the dropped one has let go of its lock. After a failed write
/// sled's I/O threads still hold the database for a moment after the handle is dropped (a
/// restarted process never sees that: the lock goes with the old process).
fn reopen_when_released(dir: &Path) -> SledStore {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match SledStore::open(StoreConfig::at(dir)) {
            Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other.unwrap(),
        }
    }
}

fn kept_blob<'a>(
    store: &SledStore,
    kept: &'a sdkgw_store::MessageRecord,
) -> &'a sdkgw_store::BlobRef {
    assert!(store.get_message(&kept.key).unwrap().is_some());
    kept.content("payload").unwrap()
}
