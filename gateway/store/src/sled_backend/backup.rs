//! Online backup and restore.
//!
//! Backup: the target becomes a data directory of its own. Phase 1 copies every tree and
//! every file blob while the gateway keeps writing; every (tree, key) written meanwhile is
//! tracked. Catch-up rounds copy the tracked keys again; the final round runs with writers
//! paused (exclusive write gate), so the copy equals the state at that instant: a consistent
//! snapshot. Blob files are immutable, so copying them online is safe; each is hash-checked
//! on the way. `backup.json` is written last: its presence marks a complete backup.
//!
//! Restore: copies a complete backup into an empty directory, then opens and checks it.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sled::IVec;
use time::OffsetDateTime;

use super::messages::decode_record;
use super::{Delta, FORMAT_VERSION, Inner, SledStore, T, read_format};
use crate::api::{BackupReport, CheckReport, Progress, Store};
use crate::blob::sync_dir;
use crate::config::StoreConfig;
use crate::error::StoreError;
use crate::model::{AuditEvent, BlobId, BlobLocation};

const MANIFEST: &str = "backup.json";
/// Catch-up rounds run online until fewer keys than this changed; the rest is copied paused.
const SMALL_DELTA: usize = 2000;
const MAX_ONLINE_ROUNDS: usize = 5;

#[derive(Serialize, Deserialize)]
struct Manifest {
    format: u32,
    #[serde(with = "time::serde::rfc3339")]
    snapshot_at: OffsetDateTime,
    source: PathBuf,
    records: u64,
    blob_files: u64,
}

/// Result of [`restore`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreReport {
    pub files: u64,
    pub bytes: u64,
    /// The check of the restored directory (no errors, or restore fails).
    pub check: CheckReport,
}

fn ensure_empty(dir: &Path) -> Result<(), StoreError> {
    match fs::read_dir(dir) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(StoreError::Invalid(format!(
                "{} is not empty; choose an empty or new directory",
                dir.display()
            ))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io("read directory", dir, e)),
    }
}

struct Copier<'a> {
    src: &'a Inner,
    dest: &'a Inner,
    trees: HashMap<IVec, (sled::Tree, sled::Tree)>,
    copied: HashSet<BlobId>,
    missed: HashSet<BlobId>,
    problems: Vec<String>,
    report: BackupReport,
}

impl Copier<'_> {
    fn pair(&mut self, name: &IVec) -> Result<(sled::Tree, sled::Tree), StoreError> {
        if let Some(p) = self.trees.get(name) {
            return Ok(p.clone());
        }
        let s = self
            .src
            .db
            .open_tree(name)
            .map_err(|e| self.src.db_err(e))?;
        let d = self
            .dest
            .db
            .open_tree(name)
            .map_err(|e| self.dest.db_err(e))?;
        self.trees.insert(name.clone(), (s.clone(), d.clone()));
        Ok((s, d))
    }

    fn put(
        &mut self,
        name: &IVec,
        dest: &sled::Tree,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), StoreError> {
        dest.insert(key, value).map_err(|e| self.dest.db_err(e))?;
        self.report.entries += 1;
        if name.as_ref() == T::Messages.name().as_bytes() {
            self.copy_files(key, value)?;
        }
        Ok(())
    }

    fn copy_files(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let Ok(record) = decode_record(key, value) else {
            self.problems
                .push(format!("undecodable record {key:?} copied as is"));
            return Ok(());
        };
        for blob in record.blobs().filter(|b| b.location == BlobLocation::File) {
            if self.copied.contains(&blob.id) {
                continue;
            }
            match self.src.blobs.copy_to(blob, &self.dest.blobs) {
                Ok(()) => {
                    self.copied.insert(blob.id);
                    self.missed.remove(&blob.id);
                    self.report.blob_files += 1;
                    self.report.blob_bytes += blob.len;
                }
                // Deleted by retention after the record was read: the catch-up decides.
                Err(StoreError::MissingBlob { .. }) => {
                    self.missed.insert(blob.id);
                }
                Err(e @ StoreError::CorruptBlob { .. }) => {
                    self.problems.push(format!("message {}: {e}", record.key));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn copy_everything(&mut self, progress: &mut dyn Progress) -> Result<(), StoreError> {
        let total = self.src.tree(T::Messages).len() as u64;
        for name in self.src.db.tree_names() {
            if name.as_ref() == b"__sled__default" {
                continue;
            }
            let (src, dest) = self.pair(&name)?;
            for item in src.iter() {
                let (k, v) = item.map_err(|e| self.src.db_err(e))?;
                self.put(&name, &dest, &k, &v)?;
                if self.report.entries.is_multiple_of(10_000) {
                    let phase = format!("copying {}", String::from_utf8_lossy(&name));
                    progress.report(&phase, self.report.entries, None);
                }
            }
        }
        progress.report("copied records", total, Some(total));
        Ok(())
    }

    fn take_delta(&self) -> Delta {
        let mut tracker = self.src.tracker.lock().unwrap_or_else(|p| p.into_inner());
        tracker.as_mut().map(std::mem::take).unwrap_or_default()
    }

    fn apply(&mut self, delta: Delta) -> Result<(), StoreError> {
        self.report.changes_caught_up += delta.len() as u64;
        for (name, key) in delta {
            let (src, dest) = self.pair(&name)?;
            match src.get(&key).map_err(|e| self.src.db_err(e))? {
                Some(v) => self.put(&name, &dest, &key, &v)?,
                None => {
                    dest.remove(&key).map_err(|e| self.dest.db_err(e))?;
                }
            }
        }
        Ok(())
    }

    /// Blobs that were missing when first seen and are still referenced in the snapshot.
    fn settle_missed(&mut self) -> Result<(), StoreError> {
        let owners = self.dest.tree(T::BlobOwner);
        for id in std::mem::take(&mut self.missed) {
            if let Some(item) = owners.scan_prefix(id.as_bytes()).next() {
                let (k, _) = item.map_err(|e| self.dest.db_err(e))?;
                self.problems.push(format!(
                    "blob {id} of message {} is missing in the source data directory",
                    super::messages::key_suffix(&k).map_or_else(String::new, |k| k.to_string())
                ));
            }
        }
        Ok(())
    }

    /// Files copied for records that the snapshot no longer references.
    fn drop_unreferenced(&self) -> Result<(), StoreError> {
        let owners = self.dest.tree(T::BlobOwner);
        for id in &self.copied {
            if owners.scan_prefix(id.as_bytes()).next().is_none() {
                self.dest.blobs.remove(id)?;
            }
        }
        Ok(())
    }
}

impl Inner {
    pub(crate) fn backup(
        &self,
        to: &Path,
        progress: &mut dyn Progress,
    ) -> Result<BackupReport, StoreError> {
        ensure_empty(to)?;
        let dest = SledStore::open(StoreConfig {
            data_dir: to.to_path_buf(),
            ..self.config.clone()
        })?;
        *self.tracker.lock().unwrap_or_else(|p| p.into_inner()) = Some(HashSet::new());
        let result = self.copy_to(&dest.inner, progress);
        *self.tracker.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let report = result?;
        let event = AuditEvent::new(report.snapshot_at, "store.backup", "store.backup")
            .with("to", to.display().to_string())
            .with("records", report.records);
        self.write(|tx| super::messages::append_audit_tx(self, tx, event.clone()))?;
        Ok(report)
    }

    fn copy_to(
        &self,
        dest: &Inner,
        progress: &mut dyn Progress,
    ) -> Result<BackupReport, StoreError> {
        let mut c = Copier {
            src: self,
            dest,
            trees: HashMap::new(),
            copied: HashSet::new(),
            missed: HashSet::new(),
            problems: Vec::new(),
            report: BackupReport {
                path: dest.dir.clone(),
                records: 0,
                entries: 0,
                blob_files: 0,
                blob_bytes: 0,
                changes_caught_up: 0,
                pause_micros: 0,
                snapshot_at: OffsetDateTime::UNIX_EPOCH,
            },
        };
        c.copy_everything(progress)?;
        for round in 0..MAX_ONLINE_ROUNDS {
            let delta = c.take_delta();
            let small = delta.len() < SMALL_DELTA;
            c.apply(delta)?;
            progress.report("catching up with changes", round as u64 + 1, None);
            if small {
                break;
            }
        }
        let paused = Instant::now();
        {
            let _gate = self.gate.write().unwrap_or_else(|p| p.into_inner());
            let delta = c.take_delta();
            c.apply(delta)?;
            c.report.snapshot_at = OffsetDateTime::now_utc();
        }
        c.report.pause_micros = u64::try_from(paused.elapsed().as_micros()).unwrap_or(u64::MAX);
        c.settle_missed()?;
        c.drop_unreferenced()?;
        dest.flush()?;
        c.report.records = dest.tree(T::Messages).len() as u64;
        c.report.path = dest.dir.clone();
        if !c.problems.is_empty() {
            return Err(StoreError::Invalid(format!(
                "backup in {} is incomplete (no {MANIFEST} written): {}",
                dest.dir.display(),
                c.problems.join("; ")
            )));
        }
        write_manifest(dest, &c.report, &self.dir)?;
        Ok(c.report)
    }
}

fn write_manifest(dest: &Inner, report: &BackupReport, source: &Path) -> Result<(), StoreError> {
    let manifest = Manifest {
        format: FORMAT_VERSION,
        snapshot_at: report.snapshot_at,
        source: source.to_path_buf(),
        records: report.records,
        blob_files: report.blob_files,
    };
    let path = dest.dir.join(MANIFEST);
    let body =
        serde_json::to_vec_pretty(&manifest).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let file = fs::File::create(&path).map_err(|e| StoreError::io("create", &path, e))?;
    std::io::Write::write_all(&mut &file, &body)
        .and_then(|()| file.sync_all())
        .map_err(|e| StoreError::io("write", &path, e))?;
    sync_dir(&dest.dir)
}

/// Copies the complete backup `from` into the empty or absent data directory of `config`,
/// then opens and checks it. Refuses while anything is in the target, and refuses an
/// incomplete backup or one of a newer format.
pub fn restore(
    from: &Path,
    config: StoreConfig,
    progress: &mut dyn Progress,
) -> Result<RestoreReport, StoreError> {
    match read_format(from)? {
        None => {
            return Err(StoreError::NotAStore {
                path: from.to_path_buf(),
                reason: "no FORMAT file".into(),
            });
        }
        Some(found) if found > FORMAT_VERSION => {
            return Err(StoreError::NewerFormat {
                path: from.to_path_buf(),
                found,
                supported: FORMAT_VERSION,
            });
        }
        Some(_) => {}
    }
    if !from.join(MANIFEST).is_file() {
        return Err(StoreError::NotAStore {
            path: from.to_path_buf(),
            reason: format!("no {MANIFEST}: not a complete backup (was the backup interrupted?)"),
        });
    }
    let to = config.data_dir.clone();
    ensure_empty(&to)?;
    let mut report = RestoreReport::default();
    copy_dir(from, &to, &mut report, progress)?;
    let manifest = to.join(MANIFEST);
    fs::remove_file(&manifest).map_err(|e| StoreError::io("remove", &manifest, e))?;
    let store = SledStore::open(config)?;
    let mut check = store.check(false, progress)?;
    if let Some(f) = check.errors().next() {
        return Err(StoreError::Invalid(format!(
            "restored data in {} fails its check: {} {}: {}",
            to.display(),
            f.kind,
            f.subject,
            f.detail
        )));
    }
    // Orphans and temp files in a backup are harmless; report only errors.
    check.findings.retain(|f| f.kind != "orphan-blob");
    store.append_audit(
        AuditEvent::new(OffsetDateTime::now_utc(), "store.restore", "store.restore")
            .with("from", from.display().to_string())
            .with("records", check.records),
    )?;
    report.check = check;
    Ok(report)
}

fn copy_dir(
    from: &Path,
    to: &Path,
    report: &mut RestoreReport,
    progress: &mut dyn Progress,
) -> Result<(), StoreError> {
    crate::blob::create_dir_durable(to)?;
    let entries = fs::read_dir(from).map_err(|e| StoreError::io("read directory", from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("read directory", from, e))?;
        let src = entry.path();
        let dest = to.join(entry.file_name());
        let kind = entry
            .file_type()
            .map_err(|e| StoreError::io("stat", &src, e))?;
        if kind.is_dir() {
            copy_dir(&src, &dest, report, progress)?;
        } else if kind.is_file() {
            let n = fs::copy(&src, &dest).map_err(|e| StoreError::io("copy to", &dest, e))?;
            fs::File::open(&dest)
                .and_then(|f| f.sync_all())
                .map_err(|e| StoreError::io("fsync", &dest, e))?;
            report.files += 1;
            report.bytes += n;
            if report.files.is_multiple_of(1000) {
                progress.report("copying files", report.files, None);
            }
        }
    }
    sync_dir(to)
}
