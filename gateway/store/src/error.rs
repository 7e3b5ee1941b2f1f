//! The store's error type. Every variant says what failed and where (path, message key); none
//! carries backend (sled) types, so callers and a future shared-database backend share it.

use std::io;
use std::path::{Path, PathBuf};

use crate::model::MessageState;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The requested state change is not an edge of the message's state machine.
    #[error("illegal state transition for message {key}: {from} -> {to}")]
    IllegalTransition {
        key: String,
        from: MessageState,
        to: MessageState,
    },
    /// An update required the message to be in a given state and it was not (lost race).
    #[error("message {key} is in state {actual}, not {expected}")]
    StateMismatch {
        key: String,
        expected: MessageState,
        actual: MessageState,
    },
    /// No message, blob or entry with this id.
    #[error("not found: {0}")]
    NotFound(String),
    /// A caller-supplied value is unusable (empty id, NUL byte, wrong direction, ...).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The file system has no space left; nothing of the failed write became visible.
    #[error("disk full while trying to {op} {}: nothing of this write was stored", path.display())]
    DiskFull { op: &'static str, path: PathBuf },
    /// The file system is read-only; nothing of the failed write became visible.
    #[error("read-only file system: cannot {op} {}", path.display())]
    ReadOnly { op: &'static str, path: PathBuf },
    /// Any other I/O failure.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The embedded database reported an error (its message, without backend types).
    #[error("database error in {}: {message}", path.display())]
    Database { path: PathBuf, message: String },
    /// The data directory was written by a newer sdkgw with an on-disk format this build
    /// does not understand. Nothing was changed.
    #[error(
        "{} has store format version {found}, written by a newer sdkgw; this build understands \
         format {supported} at most. Run the newer sdkgw, or restore a backup made in format \
         {supported}. Nothing was changed.",
        path.display()
    )]
    NewerFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// The directory is not (or not entirely) a sdkgw data directory.
    #[error("{} is not a sdkgw data directory: {reason}", path.display())]
    NotAStore { path: PathBuf, reason: String },
    /// Another process (normally the running gateway) holds the data directory.
    #[error(
        "{} is in use by another process (is the gateway running? it serves operator \
         commands on {}/admin.sock)",
        path.display(),
        path.display()
    )]
    Locked { path: PathBuf },
    /// A blob's content does not match the SHA-256 (or length) recorded when it was written.
    #[error(
        "blob {id} is corrupt: expected sha256 {expected} ({expected_len} bytes), found {actual} ({actual_len} bytes)"
    )]
    CorruptBlob {
        id: String,
        expected: String,
        expected_len: u64,
        actual: String,
        actual_len: u64,
    },
    /// A record references a blob that is not stored.
    #[error("blob {id} is missing")]
    MissingBlob { id: String },
    /// A stored record cannot be decoded.
    #[error("stored {what} {key} cannot be decoded: {reason}")]
    Corrupt {
        what: &'static str,
        key: String,
        reason: String,
    },
    /// A durability flush failed earlier; the store refuses writes until it is reopened,
    /// because after a failed fsync the state on disk is unknown.
    #[error("the store refuses writes: an earlier flush to disk failed ({0}); restart the gateway")]
    Poisoned(String),
    /// The running gateway answered an operator request through its admin socket with an
    /// error (its code and message).
    #[error("{message}")]
    Remote { code: String, message: String },
    /// The admin socket protocol failed (connection, malformed answer).
    #[error("admin socket {}: {message}", path.display())]
    Admin { path: PathBuf, message: String },
}

impl StoreError {
    /// Maps an I/O error on `path` to the clearest variant (disk full, read-only, other).
    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> Self {
        let path = path.to_path_buf();
        match classify(&source) {
            IoClass::Full => Self::DiskFull { op, path },
            IoClass::ReadOnly => Self::ReadOnly { op, path },
            IoClass::Other => Self::Io { op, path, source },
        }
    }

    /// Maps a sled error without exposing it.
    pub(crate) fn db(path: &Path, err: sled::Error) -> Self {
        match err {
            sled::Error::Io(source) => Self::io("write the database in", path, source),
            other => Self::Database {
                path: path.to_path_buf(),
                message: other.to_string(),
            },
        }
    }

    const ALL_CODES: [&'static str; 16] = [
        "illegal-transition",
        "state-mismatch",
        "not-found",
        "invalid",
        "disk-full",
        "read-only",
        "io",
        "database",
        "newer-format",
        "not-a-store",
        "locked",
        "corrupt-blob",
        "missing-blob",
        "corrupt",
        "poisoned",
        "admin",
    ];

    /// A stable, short machine-readable code for JSON output and the admin protocol.
    pub fn code(&self) -> &'static str {
        match self {
            Self::IllegalTransition { .. } => "illegal-transition",
            Self::StateMismatch { .. } => "state-mismatch",
            Self::NotFound(_) => "not-found",
            Self::Invalid(_) => "invalid",
            Self::DiskFull { .. } => "disk-full",
            Self::ReadOnly { .. } => "read-only",
            Self::Io { .. } => "io",
            Self::Database { .. } => "database",
            Self::NewerFormat { .. } => "newer-format",
            Self::NotAStore { .. } => "not-a-store",
            Self::Locked { .. } => "locked",
            Self::CorruptBlob { .. } => "corrupt-blob",
            Self::MissingBlob { .. } => "missing-blob",
            Self::Corrupt { .. } => "corrupt",
            Self::Poisoned(_) => "poisoned",
            Self::Admin { .. } => "admin",
            Self::Remote { code, .. } => Self::ALL_CODES
                .iter()
                .find(|c| **c == code.as_str())
                .copied()
                .unwrap_or("remote"),
        }
    }
}

enum IoClass {
    Full,
    ReadOnly,
    Other,
}

const ENOSPC: i32 = 28;
const EDQUOT: i32 = 122;
const EROFS: i32 = 30;

fn classify(err: &io::Error) -> IoClass {
    match (err.kind(), err.raw_os_error()) {
        (io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded, _) => IoClass::Full,
        (_, Some(ENOSPC | EDQUOT)) => IoClass::Full,
        (io::ErrorKind::ReadOnlyFilesystem, _) | (_, Some(EROFS)) => IoClass::ReadOnly,
        _ => IoClass::Other,
    }
}
