//! The backend-neutral API: the [`Store`] trait, what goes into it ([`NewMessage`],
//! [`Update`], [`StagedBlob`]) and the maintenance reports. No sled type appears here.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::StoreError;
use crate::model::{
    AuditEvent, BlobRef, Correlation, Created, DedupKey, Direction, IdKind, ListFilter, MessageKey,
    MessageRecord, MessageState, MessageSummary, QueueStats,
};

/// Bytes written through a [`BlobWriter`] and not yet referenced by a record.
///
/// Commit it by passing it to [`Store::create_message`] or [`Store::update`]. File blobs are
/// already durable (fsynced and renamed into place); inline blobs are written in the same
/// transaction as the record. A staged blob that is dropped without being committed is removed.
pub struct StagedBlob {
    pub(crate) blob: BlobRef,
    pub(crate) inline: Option<Vec<u8>>,
    pub(crate) owner: Option<Arc<dyn StagedOwner>>,
}

/// Cleans up a staged blob that was never committed (backend hook).
pub(crate) trait StagedOwner: Send + Sync {
    fn discard(&self, blob: &BlobRef);
}

impl StagedBlob {
    /// The reference the record will hold.
    pub fn blob(&self) -> &BlobRef {
        &self.blob
    }
    /// Marks the blob as committed: dropping it no longer removes anything.
    pub(crate) fn into_committed(mut self) -> (BlobRef, Option<Vec<u8>>) {
        self.owner = None;
        (self.blob.clone(), self.inline.take())
    }
}

impl Drop for StagedBlob {
    fn drop(&mut self) {
        if let Some(owner) = self.owner.take() {
            owner.discard(&self.blob);
        }
    }
}

impl fmt::Debug for StagedBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StagedBlob")
            .field("blob", &self.blob)
            .finish()
    }
}

/// Streaming blob writer: `write` the bytes (any size; memory use is bounded by the inline
/// limit), then [`BlobWriter::finish`]. Dropping it unfinished removes the partial data.
pub trait BlobWriter: Write + Send {
    /// Makes the content durable (file blobs: fsync, rename into place, directory fsync) and
    /// returns it staged for a record. The SHA-256 and length are computed while writing.
    fn finish(self: Box<Self>) -> Result<StagedBlob, StoreError>;
}

/// A reader over a blob that checks the SHA-256 and length: the read that reaches the end
/// fails with an `io::Error` wrapping [`StoreError::CorruptBlob`] if they do not match, so
/// consumers must not act on the data before they have read to the end without error.
pub type BlobReader = Box<dyn Read + Send>;

/// A new message record.
#[derive(Debug)]
pub struct NewMessage {
    pub direction: Direction,
    pub at: OffsetDateTime,
    pub actor: String,
    pub mailbox: Option<String>,
    pub sender: Option<String>,
    pub recipient: Option<String>,
    pub document_type: Option<String>,
    pub correlation: Correlation,
    /// Content (payload, XHE, ...) by role.
    pub content: Vec<(String, StagedBlob)>,
    /// Evidence (raw signed AS4 UserMessage header, ...) by kind.
    pub evidence: Vec<(String, StagedBlob)>,
    /// For inbound AS4 messages: stored atomically with the record; a duplicate stores nothing.
    pub dedup: Option<DedupKey>,
    /// Audit events appended in the same transaction as the record (e.g. the AS4 reception
    /// event with DIGG's AP-3.4.1 fields), so the record never exists without them. Events
    /// without a `message` are linked to the new record. Not stored for a duplicate.
    pub audit: Vec<AuditEvent>,
}

impl NewMessage {
    /// A bare record of this direction; fill the public fields as needed.
    pub fn new(direction: Direction, at: OffsetDateTime, actor: &str) -> Self {
        Self {
            direction,
            at,
            actor: actor.to_owned(),
            mailbox: None,
            sender: None,
            recipient: None,
            document_type: None,
            correlation: Correlation::default(),
            content: Vec::new(),
            evidence: Vec::new(),
            dedup: None,
            audit: Vec::new(),
        }
    }
}

/// One atomic change of a record: optionally a state transition, plus any of the other
/// fields. Everything in it is applied in one transaction, or nothing is.
#[derive(Debug)]
pub struct Update {
    pub at: OffsetDateTime,
    pub actor: String,
    /// Target state; `None` changes no state (e.g. adding evidence).
    pub to: Option<MessageState>,
    /// Fails with [`StoreError::StateMismatch`] unless the record is in this state (use it to
    /// claim work: `scheduled -> sending` with `expect = scheduled` wins exactly once).
    pub expect: Option<MessageState>,
    pub note: Option<String>,
    /// Next delivery attempt; used when the target is `scheduled` (default: `at`), or to move
    /// the attempt of a record that stays `scheduled`.
    pub next_attempt_at: Option<OffsetDateTime>,
    /// Error text to record as `last_error` (e.g. the transport failure of this attempt).
    pub error: Option<String>,
    pub mailbox: Option<String>,
    /// Ids to set (only the `Some` fields are changed).
    pub correlation: Correlation,
    pub add_content: Vec<(String, StagedBlob)>,
    pub add_evidence: Vec<(String, StagedBlob)>,
    /// Deletes the record's content blobs (evidence stays) and sets `content_deleted_at`.
    pub delete_content: bool,
}

impl Update {
    /// A state transition.
    pub fn to(state: MessageState, at: OffsetDateTime, actor: &str) -> Self {
        let mut u = Self::none(at, actor);
        u.to = Some(state);
        u
    }
    /// A change without a state transition.
    pub fn none(at: OffsetDateTime, actor: &str) -> Self {
        Self {
            at,
            actor: actor.to_owned(),
            to: None,
            expect: None,
            note: None,
            next_attempt_at: None,
            error: None,
            mailbox: None,
            correlation: Correlation::default(),
            add_content: Vec::new(),
            add_evidence: Vec::new(),
            delete_content: false,
        }
    }
    pub fn expect(mut self, state: MessageState) -> Self {
        self.expect = Some(state);
        self
    }
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
    pub fn next_attempt(mut self, at: OffsetDateTime) -> Self {
        self.next_attempt_at = Some(at);
        self
    }
    pub fn error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }
    pub fn content(mut self, role: &str, blob: StagedBlob) -> Self {
        self.add_content.push((role.to_owned(), blob));
        self
    }
    pub fn evidence(mut self, kind: &str, blob: StagedBlob) -> Self {
        self.add_evidence.push((kind.to_owned(), blob));
        self
    }
    pub fn correlation(mut self, correlation: Correlation) -> Self {
        self.correlation = correlation;
        self
    }
}

/// A key and its value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// A named generic key/value space (e.g. the address book's SMP cache). Writes are durable
/// when they return, with the same group commit as message writes.
pub trait Keyspace: Send + Sync + fmt::Debug {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;
    fn remove(&self, key: &[u8]) -> Result<bool, StoreError>;
    /// Entries whose key starts with `prefix`, in key order, at most `limit`.
    fn scan_prefix(&self, prefix: &[u8], limit: usize) -> Result<Vec<KeyValue>, StoreError>;
}

/// Receives progress of long operations (check, gc, backup, restore).
pub trait Progress {
    fn report(&mut self, phase: &str, done: u64, total: Option<u64>);
}

/// Ignores progress.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn report(&mut self, _phase: &str, _done: u64, _total: Option<u64>) {}
}

/// One finding of [`Store::check`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// `missing-blob`, `corrupt-blob`, `undecodable-record`, `missing-index`, `stale-index`,
    /// `orphan-blob`, `temp-file`.
    pub kind: String,
    pub subject: String,
    pub detail: String,
    /// Whether `--repair` fixed it (or would fix it: only safe repairs are made).
    pub repaired: bool,
}

/// Result of [`Store::check`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    pub records: u64,
    pub blobs_verified: u64,
    pub blob_bytes_verified: u64,
    pub index_entries: u64,
    pub findings: Vec<Finding>,
}

impl CheckReport {
    /// Findings that mean lost or damaged data (not fixable by `--repair`).
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| {
            matches!(
                f.kind.as_str(),
                "missing-blob" | "corrupt-blob" | "undecodable-record"
            )
        })
    }
    /// Whether nothing at all was found.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Result of [`Store::gc`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcReport {
    /// Records whose content was deleted (acknowledged + period, or older than the max age).
    pub content_deleted: u64,
    pub content_bytes_deleted: u64,
    /// Records removed entirely after the metadata retention.
    pub records_deleted: u64,
    pub audit_deleted: u64,
    pub dedup_expired: u64,
    pub orphans_deleted: u64,
}

/// Result of [`Store::backup`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupReport {
    pub path: PathBuf,
    pub records: u64,
    pub entries: u64,
    pub blob_files: u64,
    pub blob_bytes: u64,
    /// Entries changed by the running gateway during the copy and copied again.
    pub changes_caught_up: u64,
    /// How long writers were paused for the final catch-up, in microseconds.
    pub pause_micros: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub snapshot_at: OffsetDateTime,
}

/// The message store every pipeline writes through.
///
/// **Durability contract**: every method that changes data returns `Ok` only after all of
/// that change is durable (see the crate docs for exactly what that means per backend), and a
/// failed call leaves nothing of its change visible. Reads never block writers.
pub trait Store: Send + Sync + fmt::Debug {
    /// Starts a streaming blob write.
    fn blob_writer(&self) -> Result<Box<dyn BlobWriter>, StoreError>;
    /// Opens a blob for a hash-checked streaming read.
    fn open_blob(&self, blob: &BlobRef) -> Result<BlobReader, StoreError>;

    /// Stores a new record (with its content, evidence, correlation and de-dup entry)
    /// atomically and durably, in the direction's initial state.
    fn create_message(&self, new: NewMessage) -> Result<Created, StoreError>;
    /// Applies one [`Update`] atomically and durably; returns the new record.
    fn update(&self, key: &MessageKey, update: Update) -> Result<MessageRecord, StoreError>;
    fn get_message(&self, key: &MessageKey) -> Result<Option<MessageRecord>, StoreError>;
    /// Keys of records that carry this id (of this kind).
    fn find_by_id(&self, kind: IdKind, id: &str) -> Result<Vec<MessageKey>, StoreError>;
    fn list_messages(&self, filter: &ListFilter) -> Result<Vec<MessageSummary>, StoreError>;
    /// Scheduled records whose next attempt is at or before `now`, earliest first.
    fn due_messages(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<MessageKey>, StoreError>;
    /// Dead-lettered records, oldest first.
    fn dead_letters(&self, limit: usize) -> Result<Vec<MessageSummary>, StoreError>;
    /// After a restart: every `sending` record goes back to `scheduled`, due at `at`
    /// (the AS4 retry reuses the stored MessageId and bytes). Returns how many.
    fn requeue_in_flight(&self, at: OffsetDateTime) -> Result<u64, StoreError>;
    fn stats(&self, now: OffsetDateTime) -> Result<QueueStats, StoreError>;

    /// The record that holds this de-dup key, if the entry has not expired.
    fn dedup_lookup(
        &self,
        from_party: &str,
        as4_message_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<MessageKey>, StoreError>;

    /// Appends to the audit trail; returns the event's sequence number.
    fn append_audit(&self, event: AuditEvent) -> Result<u64, StoreError>;
    /// Audit events with `seq >= from`, at most `limit`, in order.
    fn audit(&self, from: u64, limit: usize) -> Result<Vec<AuditEvent>, StoreError>;
    /// Removes the audit events with `seq <= through` from the store (durably), once their
    /// long-term copy is safe elsewhere (the audit log files of `sdkgw_server::audit`).
    /// Sequence numbers are never reused afterwards, also across restarts. Returns how many.
    fn trim_audit(&self, through: u64) -> Result<u64, StoreError>;

    /// A named generic keyspace (created on first use).
    fn keyspace(&self, name: &str) -> Result<Arc<dyn Keyspace>, StoreError>;

    /// Verifies every record, blob (hash) and index; with `repair`, fixes what is safe:
    /// rebuilds index entries, removes stale ones, orphan blobs and temp files.
    fn check(&self, repair: bool, progress: &mut dyn Progress) -> Result<CheckReport, StoreError>;
    /// Applies the retention policy at `now`.
    fn gc(&self, now: OffsetDateTime, progress: &mut dyn Progress) -> Result<GcReport, StoreError>;
    /// Writes a consistent snapshot into the empty or absent directory `to`, while writers
    /// keep running (they pause only for the final catch-up). The result is itself a data
    /// directory: `store check` runs on it and `store restore` copies it back.
    fn backup(&self, to: &Path, progress: &mut dyn Progress) -> Result<BackupReport, StoreError>;
    /// The data directory.
    fn data_dir(&self) -> &Path;
}
