//! Blob content: streaming writers that hash while writing and keep small blobs in memory
//! (inline) or spill to a temp file; file blobs made durable by fsync + rename + directory
//! fsync; readers that verify SHA-256 and length.
//!
//! Layout under the data directory: `blobs/tmp/<id>.tmp` while being written (never
//! referenced, removed at open), `blobs/<first two hex digits>/<id>` once finished.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest;

use crate::api::{BlobReader, BlobWriter, StagedBlob, StagedOwner};
use crate::error::StoreError;
use crate::model::{BlobId, BlobLocation, BlobRef, hex};

/// The `blobs/` directory of a data directory.
#[derive(Debug)]
pub(crate) struct BlobFiles {
    root: PathBuf,
    tmp: PathBuf,
    /// Finished but not yet committed file blobs: `gc`/`check` must not take them for orphans.
    staged: Mutex<HashSet<BlobId>>,
}

impl BlobFiles {
    /// Creates the directory layout (durably) and removes leftover temp files of a crash.
    pub(crate) fn open(root: PathBuf) -> Result<Arc<Self>, StoreError> {
        let tmp = root.join("tmp");
        create_dir_durable(&root)?;
        create_dir_durable(&tmp)?;
        for shard in 0..=255u8 {
            let dir = root.join(hex(&[shard]));
            if !dir.is_dir() {
                fs::create_dir(&dir).map_err(|e| StoreError::io("create directory", &dir, e))?;
            }
        }
        sync_dir(&root)?;
        let files = Arc::new(Self {
            root,
            tmp,
            staged: Mutex::new(HashSet::new()),
        });
        files.remove_temp_files()?;
        Ok(files)
    }

    pub(crate) fn path(&self, id: &BlobId) -> PathBuf {
        let h = id.hex();
        self.root.join(&h[0..2]).join(h)
    }

    /// Temp files left by writers that never finished (a crash, a dropped writer).
    pub(crate) fn temp_files(&self) -> Result<Vec<PathBuf>, StoreError> {
        let entries = fs::read_dir(&self.tmp).map_err(|e| StoreError::io("list", &self.tmp, e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io("list", &self.tmp, e))?;
            out.push(entry.path());
        }
        Ok(out)
    }

    pub(crate) fn remove_temp_files(&self) -> Result<usize, StoreError> {
        let files = self.temp_files()?;
        for f in &files {
            fs::remove_file(f).map_err(|e| StoreError::io("remove temp file", f, e))?;
        }
        Ok(files.len())
    }

    /// Every finished blob file with its age in seconds (for orphan detection).
    pub(crate) fn list(&self) -> Result<Vec<(BlobId, u64)>, StoreError> {
        let mut out = Vec::new();
        for shard in 0..=255u8 {
            let dir = self.root.join(hex(&[shard]));
            let entries = fs::read_dir(&dir).map_err(|e| StoreError::io("list", &dir, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| StoreError::io("list", &dir, e))?;
                let name = entry.file_name();
                let Some(id) = name.to_str().and_then(BlobId::from_hex) else {
                    continue;
                };
                let age = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .map_or(0, |d| d.as_secs());
                out.push((id, age));
            }
        }
        Ok(out)
    }

    pub(crate) fn is_staged(&self, id: &BlobId) -> bool {
        self.staged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(id)
    }

    pub(crate) fn unstage(&self, id: &BlobId) {
        self.staged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Removes a file blob (after the record no longer references it). Missing is fine.
    pub(crate) fn remove(&self, id: &BlobId) -> Result<(), StoreError> {
        let path = self.path(id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io("remove blob", &path, e)),
        }
    }

    pub(crate) fn open_file(&self, blob: &BlobRef) -> Result<File, StoreError> {
        let path = self.path(&blob.id);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::MissingBlob { id: blob.id.hex() },
            _ => StoreError::io("open blob", &path, e),
        })
    }

    /// A new streaming writer.
    pub(crate) fn writer(
        self: &Arc<Self>,
        inline_max: usize,
    ) -> Result<Box<dyn BlobWriter>, StoreError> {
        Ok(Box::new(FileBlobWriter {
            files: self.clone(),
            id: BlobId::random()?,
            inline_max,
            buf: Vec::new(),
            spill: None,
            hasher: digest::Context::new(&digest::SHA256),
            len: 0,
        }))
    }

    /// Copies a file blob into another data directory's `blobs/`, verifying its hash on the
    /// way; the copy is durable when this returns.
    pub(crate) fn copy_to(&self, blob: &BlobRef, dest: &BlobFiles) -> Result<(), StoreError> {
        let src = self.open_file(blob)?;
        let tmp = dest.tmp.join(format!("{}.tmp", blob.id.hex()));
        let mut out = create_new(&tmp)?;
        let mut reader = VerifyingReader::new(src, blob.clone());
        let copied = io::copy(&mut reader, &mut out);
        let finished = copied
            .map_err(|e| unwrap_store_error(e, "copy blob to", &tmp))
            .and_then(|_| out.sync_all().map_err(|e| StoreError::io("fsync", &tmp, e)));
        if let Err(e) = finished {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        dest.install(&tmp, &blob.id)
    }

    /// Renames a fully written, fsynced temp file into place and fsyncs the directory.
    fn install(&self, tmp: &Path, id: &BlobId) -> Result<(), StoreError> {
        let dest = self.path(id);
        fs::rename(tmp, &dest).map_err(|e| StoreError::io("rename blob into", &dest, e))?;
        match dest.parent() {
            Some(dir) => sync_dir(dir),
            None => Ok(()),
        }
    }
}

impl StagedOwner for BlobFiles {
    fn discard(&self, blob: &BlobRef) {
        self.unstage(&blob.id);
        if blob.location == BlobLocation::File {
            // Best effort: an uncommitted file that survives is an orphan that `gc` removes.
            let _ = self.remove(&blob.id);
        }
    }
}

struct FileBlobWriter {
    files: Arc<BlobFiles>,
    id: BlobId,
    inline_max: usize,
    buf: Vec<u8>,
    spill: Option<(BufWriter<File>, PathBuf)>,
    hasher: digest::Context,
    len: u64,
}

/// Write buffer of a spilled blob: big enough to keep syscalls few for 2 GiB payloads.
const SPILL_BUFFER: usize = 256 * 1024;

impl FileBlobWriter {
    fn spill(&mut self) -> io::Result<()> {
        let path = self.files.tmp.join(format!("{}.tmp", self.id.hex()));
        let mut file = BufWriter::with_capacity(SPILL_BUFFER, create_new(&path).map_err(into_io)?);
        let written = file.write_all(&self.buf);
        self.spill = Some((file, path.clone()));
        written.map_err(|e| into_io(StoreError::io("write blob", &path, e)))?;
        self.buf = Vec::new();
        Ok(())
    }
}

impl Write for FileBlobWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.spill.is_none() && self.buf.len() + data.len() > self.inline_max {
            self.spill()?;
        }
        match &mut self.spill {
            Some((file, path)) => file
                .write_all(data)
                .map_err(|e| into_io(StoreError::io("write blob", path, e)))?,
            None => self.buf.extend_from_slice(data),
        }
        self.hasher.update(data);
        self.len += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl BlobWriter for FileBlobWriter {
    fn finish(mut self: Box<Self>) -> Result<StagedBlob, StoreError> {
        let hasher = std::mem::replace(&mut self.hasher, digest::Context::new(&digest::SHA256));
        let sha256 = hex(hasher.finish().as_ref());
        let owner: Arc<dyn StagedOwner> = self.files.clone();
        let Some((file, tmp)) = self.spill.take() else {
            let blob = BlobRef {
                id: self.id,
                sha256,
                len: self.len,
                location: BlobLocation::Inline,
            };
            return Ok(StagedBlob {
                blob,
                inline: Some(std::mem::take(&mut self.buf)),
                owner: Some(owner),
            });
        };
        let synced = file
            .into_inner()
            .map_err(|e| StoreError::io("write blob", &tmp, e.into_error()))
            .and_then(|f| {
                f.sync_all()
                    .map_err(|e| StoreError::io("fsync blob", &tmp, e))
            });
        if let Err(e) = synced.and_then(|()| {
            self.files
                .staged
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(self.id);
            self.files.install(&tmp, &self.id)
        }) {
            self.files.unstage(&self.id);
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(StagedBlob {
            blob: BlobRef {
                id: self.id,
                sha256,
                len: self.len,
                location: BlobLocation::File,
            },
            inline: None,
            owner: Some(owner),
        })
    }
}

impl Drop for FileBlobWriter {
    fn drop(&mut self) {
        // Unfinished (or finished: then `spill` is None): remove the partial temp file.
        if let Some((_, path)) = self.spill.take() {
            let _ = fs::remove_file(path);
        }
    }
}

/// Checks SHA-256 and length when the end of the content is reached.
pub(crate) struct VerifyingReader<R> {
    inner: R,
    expected: BlobRef,
    hasher: Option<digest::Context>,
    len: u64,
}

impl<R: Read> VerifyingReader<R> {
    pub(crate) fn new(inner: R, expected: BlobRef) -> Self {
        Self {
            inner,
            expected,
            hasher: Some(digest::Context::new(&digest::SHA256)),
            len: 0,
        }
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let Some(hasher) = self.hasher.as_mut() else {
            return Ok(n);
        };
        if n > 0 {
            hasher.update(&buf[..n]);
            self.len += n as u64;
            if self.len <= self.expected.len {
                return Ok(n);
            }
        }
        let Some(hasher) = self.hasher.take() else {
            return Ok(n);
        };
        let actual = hex(hasher.finish().as_ref());
        if n == 0 && self.len == self.expected.len && actual == self.expected.sha256 {
            return Ok(0);
        }
        Err(into_io(StoreError::CorruptBlob {
            id: self.expected.id.hex(),
            expected: self.expected.sha256.clone(),
            expected_len: self.expected.len,
            actual,
            actual_len: self.len,
        }))
    }
}

/// Reads a blob to the end, verifying it; returns the number of bytes.
pub(crate) fn verify(reader: BlobReader) -> Result<u64, StoreError> {
    let mut reader = reader;
    io::copy(&mut reader, &mut io::sink())
        .map_err(|e| unwrap_store_error(e, "read blob", Path::new("")))
}

fn create_new(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| StoreError::io("create blob file", path, e))
}

/// Creates a directory if absent and makes its entry durable (fsync of the parent).
pub(crate) fn create_dir_durable(dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| StoreError::io("create directory", dir, e))?;
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => Ok(()),
    }
}

/// fsync of a directory, so renames and creations in it survive a power loss.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("fsync directory", dir, e))
}

fn into_io(e: StoreError) -> io::Error {
    let kind = match &e {
        StoreError::DiskFull { .. } => io::ErrorKind::StorageFull,
        StoreError::ReadOnly { .. } => io::ErrorKind::ReadOnlyFilesystem,
        StoreError::Io { source, .. } => source.kind(),
        StoreError::CorruptBlob { .. } => io::ErrorKind::InvalidData,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

/// Recovers the [`StoreError`] a blob reader/writer wrapped in an `io::Error`.
pub(crate) fn unwrap_store_error(e: io::Error, op: &'static str, path: &Path) -> StoreError {
    if e.get_ref().is_some_and(|inner| inner.is::<StoreError>()) {
        if let Some(inner) = e.into_inner()
            && let Ok(store) = inner.downcast::<StoreError>()
        {
            return *store;
        }
        return StoreError::Invalid("unreadable error".into());
    }
    StoreError::io(op, path, e)
}

/// For callers of [`crate::Store::open_blob`] and [`crate::BlobWriter`]: the
/// store error behind an `io::Error` from a blob reader or writer, if there is one.
pub fn store_error(e: &io::Error) -> Option<&StoreError> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<StoreError>())
}
