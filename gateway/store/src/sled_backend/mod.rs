//! The sled 0.34 backend: one sled database (`db/`) for records, indexes, inline blobs,
//! de-dup, audit and keyspaces; `blobs/` for file blobs; `FORMAT` for the on-disk version.
//!
//! Every write goes through [`Inner::write`]: one sled transaction over all fixed trees
//! (atomic across trees), then group commit (sled flush + fdatasync of sled's log file).

mod backup;
mod keyspace;
mod maintenance;
mod messages;

use std::cell::RefCell;
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::{IVec, Transactional};

pub use backup::{RestoreReport, restore};

use crate::blob::{BlobFiles, create_dir_durable, sync_dir};
use crate::config::StoreConfig;
use crate::durability::GroupCommit;
use crate::error::StoreError;

/// The on-disk format this build writes and understands.
pub const FORMAT_VERSION: u32 = 1;
const FORMAT_FILE: &str = "FORMAT";
/// sled segment size: its large-value threshold is a quarter of it (see `config::MAX_INLINE`).
const SEGMENT_SIZE: usize = 8 * 1024 * 1024;

/// The fixed trees; every write transaction spans all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum T {
    Messages,
    Blobs,
    BlobOwner,
    ByState,
    ByMailbox,
    ByCreated,
    Due,
    Dead,
    Corr,
    ContentAge,
    FinalContent,
    Dedup,
    DedupExp,
    Audit,
    Meta,
}

impl T {
    const ALL: [T; 15] = [
        T::Messages,
        T::Blobs,
        T::BlobOwner,
        T::ByState,
        T::ByMailbox,
        T::ByCreated,
        T::Due,
        T::Dead,
        T::Corr,
        T::ContentAge,
        T::FinalContent,
        T::Dedup,
        T::DedupExp,
        T::Audit,
        T::Meta,
    ];
    /// Index trees derived from records (rebuilt by `check --repair`).
    const INDEXES: [T; 9] = [
        T::ByState,
        T::ByMailbox,
        T::ByCreated,
        T::Due,
        T::Dead,
        T::Corr,
        T::ContentAge,
        T::FinalContent,
        T::BlobOwner,
    ];
    fn name(self) -> &'static str {
        match self {
            T::Messages => "messages",
            T::Blobs => "blobs",
            T::BlobOwner => "blob_owner",
            T::ByState => "idx_state",
            T::ByMailbox => "idx_mailbox",
            T::ByCreated => "idx_created",
            T::Due => "idx_due",
            T::Dead => "idx_dead",
            T::Corr => "idx_corr",
            T::ContentAge => "idx_content_age",
            T::FinalContent => "idx_final_content",
            T::Dedup => "dedup",
            T::DedupExp => "dedup_expiry",
            T::Audit => "audit",
            T::Meta => "meta",
        }
    }
    fn idx(self) -> usize {
        self as usize
    }
}

/// The sled implementation of [`crate::Store`].
#[derive(Debug, Clone)]
pub struct SledStore {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    dir: PathBuf,
    db_dir: PathBuf,
    db: sled::Db,
    trees: Vec<sled::Tree>,
    /// sled's log file, for the fdatasync after sled's flush (sled itself only issues
    /// `sync_file_range`, which does not flush the drive cache or file-size metadata).
    log_file: File,
    blobs: Arc<BlobFiles>,
    commit: GroupCommit,
    config: StoreConfig,
    audit_seq: AtomicU64,
    /// sled's own large-value files (`db/blobs/`) already fsynced by us (see `flush`).
    synced_sled_blobs: Mutex<HashSet<std::ffi::OsString>>,
    /// Writers hold it shared; a backup holds it exclusively for its final catch-up.
    gate: RwLock<()>,
    /// While a backup runs: every (tree, key) written since it started.
    tracker: Mutex<Option<Delta>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").field("dir", &self.dir).finish()
    }
}

#[derive(Serialize, Deserialize)]
struct FormatFile {
    format: u32,
    written_by: String,
}

/// (tree name, key) pairs written while a backup runs.
pub(crate) type Delta = HashSet<(IVec, Vec<u8>)>;

type TxError = ConflictableTransactionError<StoreError>;
pub(crate) type TxResult<R> = Result<R, TxError>;

pub(crate) fn abort(e: StoreError) -> TxError {
    ConflictableTransactionError::Abort(e)
}

/// The view of one write transaction; records what it touched for a running backup.
pub(crate) struct Tx<'a> {
    views: &'a [TransactionalTree],
    touched: &'a RefCell<Vec<(T, Vec<u8>)>>,
}

impl Tx<'_> {
    pub(crate) fn get(&self, t: T, key: &[u8]) -> TxResult<Option<IVec>> {
        Ok(self.views[t.idx()].get(key)?)
    }
    pub(crate) fn put(&self, t: T, key: &[u8], value: &[u8]) -> TxResult<()> {
        self.views[t.idx()].insert(key, value)?;
        self.touched.borrow_mut().push((t, key.to_vec()));
        Ok(())
    }
    pub(crate) fn del(&self, t: T, key: &[u8]) -> TxResult<()> {
        self.views[t.idx()].remove(key)?;
        self.touched.borrow_mut().push((t, key.to_vec()));
        Ok(())
    }
}

impl SledStore {
    /// Opens (or creates) the data directory. Refuses a directory written by a newer format,
    /// one held by another process, and one that is not a sdkgw data directory.
    pub fn open(config: StoreConfig) -> Result<Self, StoreError> {
        config.validate()?;
        let dir = config.data_dir.clone();
        prepare_dir(&dir)?;
        let db_dir = dir.join("db");
        let db = sled::Config::new()
            .path(&db_dir)
            .cache_capacity(config.cache_mb.saturating_mul(1024 * 1024))
            .segment_size(SEGMENT_SIZE)
            .flush_every_ms(None)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(|e| open_error(&dir, e))?;
        let trees = T::ALL
            .iter()
            .map(|t| db.open_tree(t.name()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::db(&db_dir, e))?;
        let log_path = db_dir.join("db");
        let log_file = File::open(&log_path).map_err(|e| StoreError::io("open", &log_path, e))?;
        let blobs = BlobFiles::open(dir.join("blobs"))?;
        let after_last = match trees[T::Audit.idx()].last() {
            Ok(Some((k, _))) => be_u64(&k).saturating_add(1),
            Ok(None) => 1,
            Err(e) => return Err(StoreError::db(&db_dir, e)),
        };
        // Removed events (trim, retention) leave a high-water mark: never reuse their numbers.
        let high_water = match trees[T::Meta.idx()].get(messages::AUDIT_NEXT_SEQ) {
            Ok(v) => v.map_or(1, |v| be_u64(&v)),
            Err(e) => return Err(StoreError::db(&db_dir, e)),
        };
        let next_seq = after_last.max(high_water);
        let inner = Inner {
            commit: GroupCommit::new(config.durability, config.group_commit_wait),
            dir,
            db_dir,
            db,
            trees,
            log_file,
            blobs,
            config,
            audit_seq: AtomicU64::new(next_seq),
            synced_sled_blobs: Mutex::new(HashSet::new()),
            gate: RwLock::new(()),
            tracker: Mutex::new(None),
        };
        // Make the freshly created directory layout durable before anything references it.
        inner.flush()?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }
}

/// Reads the `FORMAT` file: `None` when absent.
pub fn read_format(dir: &Path) -> Result<Option<u32>, StoreError> {
    let path = dir.join(FORMAT_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io("read", &path, e)),
    };
    let parsed: FormatFile = serde_json::from_str(&text).map_err(|e| StoreError::NotAStore {
        path: dir.to_path_buf(),
        reason: format!("{FORMAT_FILE} is not valid: {e}"),
    })?;
    Ok(Some(parsed.format))
}

/// Checks the format version, creating the layout of a new data directory.
fn prepare_dir(dir: &Path) -> Result<(), StoreError> {
    create_dir_durable(dir)?;
    match read_format(dir)? {
        Some(found) if found > FORMAT_VERSION => Err(StoreError::NewerFormat {
            path: dir.to_path_buf(),
            found,
            supported: FORMAT_VERSION,
        }),
        Some(_) => Ok(()),
        None if dir.join("db").exists() || dir.join("blobs").exists() => {
            Err(StoreError::NotAStore {
                path: dir.to_path_buf(),
                reason: format!("it has db/ or blobs/ but no {FORMAT_FILE} file"),
            })
        }
        None => {
            // New data directory: owner-only access (it holds message content).
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| StoreError::io("set permissions of", dir, e))?;
            write_format(dir)
        }
    }
}

pub(crate) fn write_format(dir: &Path) -> Result<(), StoreError> {
    let body = serde_json::to_string(&FormatFile {
        format: FORMAT_VERSION,
        written_by: format!("sdkgw-store {}", env!("CARGO_PKG_VERSION")),
    })
    .map_err(|e| StoreError::Invalid(e.to_string()))?;
    let tmp = dir.join("FORMAT.tmp");
    let path = dir.join(FORMAT_FILE);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| StoreError::io("create", &tmp, e))?;
    f.write_all(body.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| StoreError::io("write", &tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| StoreError::io("rename into", &path, e))?;
    sync_dir(dir)
}

fn open_error(dir: &Path, e: sled::Error) -> StoreError {
    if e.to_string().contains("could not acquire lock") {
        return StoreError::Locked {
            path: dir.to_path_buf(),
        };
    }
    StoreError::db(&dir.join("db"), e)
}

impl Inner {
    fn tree(&self, t: T) -> &sled::Tree {
        &self.trees[t.idx()]
    }

    fn db_err(&self, e: sled::Error) -> StoreError {
        StoreError::db(&self.db_dir, e)
    }

    /// sled flush (writes and syncs its log) plus fdatasync of the log file, plus fsync of
    /// any new file in sled's own `blobs/` directory, which sled writes without fsync. The
    /// store keeps every value far below the size that makes sled use that directory, so it
    /// is normally empty; this closes the gap should a node ever grow past it.
    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(|e| self.db_err(e))?;
        self.log_file
            .sync_data()
            .map_err(|e| StoreError::io("fdatasync", &self.db_dir.join("db"), e))?;
        self.sync_sled_blobs()
    }

    fn sync_sled_blobs(&self) -> Result<(), StoreError> {
        let dir = self.db_dir.join("blobs");
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(());
        };
        let mut synced = self
            .synced_sled_blobs
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut any = false;
        for entry in entries.flatten() {
            let name = entry.file_name();
            if synced.contains(&name) {
                continue;
            }
            let path = entry.path();
            match File::open(&path).and_then(|f| f.sync_all()) {
                Ok(()) => {}
                // sled removed it meanwhile (no longer referenced).
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io("fsync", &path, e)),
            }
            synced.insert(name);
            any = true;
        }
        if any { sync_dir(&dir) } else { Ok(()) }
    }

    /// Runs `body` as one transaction over all fixed trees and returns once it is durable.
    pub(crate) fn write<R>(&self, body: impl Fn(&Tx<'_>) -> TxResult<R>) -> Result<R, StoreError> {
        self.commit.check_writable()?;
        let result = {
            let _gate = self.gate.read().unwrap_or_else(|p| p.into_inner());
            let touched = RefCell::new(Vec::new());
            let result = self.trees[..].transaction(|views: &Vec<TransactionalTree>| {
                touched.borrow_mut().clear();
                body(&Tx {
                    views,
                    touched: &touched,
                })
            });
            let result = match result {
                Ok(r) => r,
                Err(TransactionError::Abort(e)) => return Err(e),
                Err(TransactionError::Storage(e)) => return Err(self.db_err(e)),
            };
            self.track(
                touched
                    .into_inner()
                    .into_iter()
                    .map(|(t, k)| (IVec::from(t.name()), k)),
            );
            result
        };
        self.wait_durable()?;
        Ok(result)
    }

    fn wait_durable(&self) -> Result<(), StoreError> {
        let ticket = self.commit.committed();
        self.commit.wait_durable(ticket, &|| self.flush())
    }

    fn track(&self, keys: impl Iterator<Item = (IVec, Vec<u8>)>) {
        let mut tracker = self.tracker.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(set) = tracker.as_mut() {
            set.extend(keys);
        }
    }

    /// The seq the next audit event will get (for the high-water mark).
    pub(crate) fn peek_audit_seq(&self) -> u64 {
        self.audit_seq.load(Ordering::SeqCst)
    }

    fn next_audit_seq(&self) -> u64 {
        self.audit_seq.fetch_add(1, Ordering::SeqCst)
    }
}

/// Big-endian u64 of the first 8 bytes (0 when shorter).
pub(crate) fn be_u64(b: &[u8]) -> u64 {
    b.get(..8)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map_or(0, u64::from_be_bytes)
}

/// Nanoseconds since the epoch as sortable big-endian bytes (before 1970 sorts as 0).
pub(crate) fn ts_bytes(t: time::OffsetDateTime) -> [u8; 8] {
    let n = u64::try_from(t.unix_timestamp_nanos().max(0)).unwrap_or(u64::MAX);
    n.to_be_bytes()
}

pub(crate) fn ts_from(b: &[u8]) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(be_u64(b)))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}
