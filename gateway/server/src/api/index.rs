//! The API's own durable indexes, in the store keyspace [`KEYSPACE`] (every write durable):
//!
//! * **mailbox index** `e|mailbox|0|seq` → record key + creation time: every message the API
//!   shows, per function mailbox, in the order the gateway accepted (outbound) or filed
//!   (inbound) it, with dense per-mailbox sequence numbers so cursor pages are exact (no
//!   duplicates, no gaps, new messages only ever appended). `k|key` is the reverse entry (an
//!   entry is valid only if its reverse points back, which makes re-indexing idempotent);
//!   `c|mailbox` the next sequence number.
//! * **metadata** `m|key` → the message's `attributes` without `digitalDocument`, so lists
//!   never parse SDK messages.
//! * **tombstones** `t|messageId` → when the MK deleted it.
//! * **idempotency** `i|scope` → body hash and message id (POST retries).
//! * `p` → how far the indexer has read the store's audit trail.
//!
//! Outbound messages are indexed by the POST that creates them. Inbound messages are indexed
//! when the inbound pipeline files them (the store's audit trail records the transition to
//! `filed`; [`Index::catch_up`] follows it, run before every list and by a background task).

use std::sync::{Arc, Mutex};

use sdkgw_envelope::message::{self, SdkMessage};
use sdkgw_store::{BlobRef, Direction, Keyspace, MessageKey, MessageRecord, Store, StoreError};
use sdkgw_xml_security::xml::{Document, ParseOptions};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::message_json;
use super::status;

/// Keyspace of the API's indexes.
pub const KEYSPACE: &str = "api.index";
/// Content role of the SDK message (MessageWithAttachments v3 XML) on both directions.
pub const SDK_MESSAGE_ROLE: &str = "sdk-message";

/// One mailbox index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub key: MessageKey,
    /// Record creation time, microseconds since the epoch (merge order across mailboxes).
    pub created_us: i64,
}

/// Idempotency entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Idempotent {
    /// SHA-256 of the request body, hex.
    pub body_sha256: String,
    pub message_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// The indexes.
#[derive(Debug, Clone)]
pub struct Index {
    space: Arc<dyn Keyspace>,
    store: Arc<dyn Store>,
    write: Arc<Mutex<()>>,
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn entry_prefix(mailbox: &str) -> Vec<u8> {
    cat(&[b"e", mailbox.as_bytes(), &[0]])
}

impl Index {
    pub fn open(store: Arc<dyn Store>) -> Result<Self, StoreError> {
        Ok(Self {
            space: store.keyspace(KEYSPACE)?,
            store,
            write: Arc::new(Mutex::new(())),
        })
    }

    /// Indexes a visible record under its mailbox (idempotent) and stores its metadata.
    pub fn add(
        &self,
        record: &MessageRecord,
        meta: Option<&Map<String, Value>>,
    ) -> Result<(), StoreError> {
        let Some(mailbox) = record.mailbox.as_deref() else {
            return Ok(());
        };
        let _w = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let key = record.key;
        if let Some(m) = meta {
            self.put_meta(key, m)?;
        }
        if self.space.get(&cat(&[b"k", key.as_bytes()]))?.is_some() {
            return Ok(());
        }
        let seq = self.next_seq(mailbox)?;
        let created_us =
            i64::try_from(record.created_at.unix_timestamp_nanos() / 1000).unwrap_or(0);
        let value = cat(&[key.as_bytes(), &created_us.to_be_bytes()]);
        self.space
            .put(&cat(&[&entry_prefix(mailbox), &seq.to_be_bytes()]), &value)?;
        self.space.put(
            &cat(&[b"k", key.as_bytes()]),
            &cat(&[mailbox.as_bytes(), &[0], &seq.to_be_bytes()]),
        )?;
        self.space
            .put(&cat(&[b"c", mailbox.as_bytes()]), &(seq + 1).to_be_bytes())
    }

    /// The next free sequence number of a mailbox (probing past the counter, in case a crash
    /// came between writing an entry and the counter).
    fn next_seq(&self, mailbox: &str) -> Result<u64, StoreError> {
        let mut seq = self
            .space
            .get(&cat(&[b"c", mailbox.as_bytes()]))?
            .and_then(|v| v.try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0);
        while self
            .space
            .get(&cat(&[&entry_prefix(mailbox), &seq.to_be_bytes()]))?
            .is_some()
        {
            seq += 1;
        }
        Ok(seq)
    }

    /// Up to `limit` valid entries of `mailbox` with `seq >= from`, in order, plus the
    /// position after the last entry looked at (scans blocks of 256 sequence numbers).
    pub fn entries(
        &self,
        mailbox: &str,
        from: u64,
        limit: usize,
    ) -> Result<(Vec<Entry>, u64), StoreError> {
        let prefix = entry_prefix(mailbox);
        let end = self
            .space
            .get(&cat(&[b"c", mailbox.as_bytes()]))?
            .and_then(|v| v.try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0);
        let mut out = Vec::new();
        let mut pos = from;
        while pos < end && out.len() < limit {
            let block = pos >> 8;
            let block_prefix = cat(&[&prefix, &pos.to_be_bytes()[..7]]);
            for (k, v) in self.space.scan_prefix(&block_prefix, 256)? {
                let Some(seq) = k
                    .get(prefix.len()..)
                    .and_then(|s| s.try_into().ok())
                    .map(u64::from_be_bytes)
                else {
                    continue;
                };
                if seq < pos || out.len() >= limit {
                    continue;
                }
                pos = seq + 1;
                let (Some(key), Some(created)) = (
                    v.get(..16).and_then(MessageKey::from_slice),
                    v.get(16..24)
                        .and_then(|c| c.try_into().ok())
                        .map(i64::from_be_bytes),
                ) else {
                    continue;
                };
                let back = self.space.get(&cat(&[b"k", key.as_bytes()]))?;
                if back.as_deref()
                    == Some(&cat(&[mailbox.as_bytes(), &[0], &seq.to_be_bytes()])[..])
                {
                    out.push(Entry {
                        seq,
                        key,
                        created_us: created,
                    });
                }
            }
            if out.len() < limit {
                pos = pos.max((block + 1) << 8);
            }
        }
        Ok((out, pos.min(end.max(from))))
    }

    pub fn put_meta(&self, key: MessageKey, meta: &Map<String, Value>) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(meta).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.space.put(&cat(&[b"m", key.as_bytes()]), &bytes)
    }

    /// The listing attributes of a record: cached, or read from its SDK message once.
    pub fn meta(&self, record: &MessageRecord) -> Result<Option<Map<String, Value>>, StoreError> {
        if let Some(b) = self.space.get(&cat(&[b"m", record.key.as_bytes()]))?
            && let Ok(m) = serde_json::from_slice(&b)
        {
            return Ok(Some(m));
        }
        let Some(message) = self.load_message(record)? else {
            return Ok(None);
        };
        let meta = message_json::attributes(&message, false);
        self.put_meta(record.key, &meta)?;
        Ok(Some(meta))
    }

    /// The record's SDK message, parsed (`None` when it has none or it was deleted).
    pub fn load_message(&self, record: &MessageRecord) -> Result<Option<SdkMessage>, StoreError> {
        let Some(blob) = record.content(SDK_MESSAGE_ROLE) else {
            return Ok(None);
        };
        let mut reader = match self.store.open_blob(blob) {
            Ok(r) => r,
            // A DELETE between reading the record and opening its content removes the blob:
            // the message is gone, the store is fine.
            Err(StoreError::MissingBlob { .. }) if !self.still_holds(record, blob)? => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::with_capacity(usize::try_from(blob.len).unwrap_or(0).min(64 << 20));
        std::io::Read::read_to_end(&mut reader, &mut bytes)
            .map_err(|e| blob_io("read the SDK message", e))?;
        let doc = Document::parse(bytes, &ParseOptions::default())
            .map_err(|e| StoreError::Invalid(format!("stored SDK message unreadable: {e}")))?;
        Ok(message::validate_document(&doc).message)
    }

    /// Whether the stored record still references `blob` as its SDK message.
    fn still_holds(&self, record: &MessageRecord, blob: &BlobRef) -> Result<bool, StoreError> {
        Ok(self.store.get_message(&record.key)?.is_some_and(|now| {
            now.content(SDK_MESSAGE_ROLE)
                .is_some_and(|b| b.id == blob.id)
        }))
    }

    /// Follows the store's audit trail and indexes records that became visible (inbound
    /// messages filed by the inbound pipeline). Returns how many events were read.
    pub fn catch_up(&self) -> Result<usize, StoreError> {
        let mut pos = self
            .space
            .get(b"p")?
            .and_then(|v| v.try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0);
        let mut read = 0;
        loop {
            let events = self.store.audit(pos, 512)?;
            let Some(last) = events.last().map(|e| e.seq) else {
                break;
            };
            for ev in &events {
                let relevant =
                    matches!(ev.action.as_str(), "message.create" | "message.transition");
                if let (true, Some(key)) = (relevant, ev.message)
                    && let Some(rec) = self.store.get_message(&key)?
                    && rec.direction == Direction::Inbound
                    && status::is_visible(rec.direction, rec.state)
                {
                    let meta = self.meta(&rec)?;
                    self.add(&rec, meta.as_ref())?;
                }
            }
            read += events.len();
            pos = last + 1;
            self.space.put(b"p", &pos.to_be_bytes())?;
            if events.len() < 512 {
                break;
            }
        }
        Ok(read)
    }

    /// Remembers that the MK deleted `message_id` of `mailbox`.
    pub fn tombstone(
        &self,
        message_id: &str,
        mailbox: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let value = cat(&[&at.unix_timestamp().to_be_bytes(), mailbox.as_bytes()]);
        self.space.put(&cat(&[b"t", message_id.as_bytes()]), &value)
    }

    /// When and from which mailbox the message was deleted, if a tombstone is kept.
    pub fn tombstone_at(
        &self,
        message_id: &str,
    ) -> Result<Option<(OffsetDateTime, String)>, StoreError> {
        let Some(v) = self.space.get(&cat(&[b"t", message_id.as_bytes()]))? else {
            return Ok(None);
        };
        let at = v
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(i64::from_be_bytes)
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
        let mailbox = String::from_utf8_lossy(v.get(8..).unwrap_or_default()).into_owned();
        Ok(at.map(|at| (at, mailbox)))
    }

    pub fn idempotent(
        &self,
        scope: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Idempotent>, StoreError> {
        let Some(v) = self.space.get(&cat(&[b"i", scope.as_bytes()]))? else {
            return Ok(None);
        };
        Ok(serde_json::from_slice::<Idempotent>(&v)
            .ok()
            .filter(|e| e.expires_at > now))
    }

    pub fn put_idempotent(&self, scope: &str, entry: &Idempotent) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(entry).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.space.put(&cat(&[b"i", scope.as_bytes()]), &bytes)
    }

    /// Removes expired idempotency entries and tombstones (run periodically).
    pub fn sweep(&self, now: OffsetDateTime, tombstone_days: i64) -> Result<u64, StoreError> {
        let mut removed = 0;
        for (k, v) in self.space.scan_prefix(b"i", usize::MAX)? {
            let expired =
                serde_json::from_slice::<Idempotent>(&v).map_or(true, |e| e.expires_at <= now);
            if expired && self.space.remove(&k)? {
                removed += 1;
            }
        }
        let cutoff = (now - time::Duration::days(tombstone_days)).unix_timestamp();
        for (k, v) in self.space.scan_prefix(b"t", usize::MAX)? {
            let at = v
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(i64::from_be_bytes)
                .unwrap_or(0);
            if at < cutoff && self.space.remove(&k)? {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// An I/O error of a blob reader or writer as a store error.
pub(crate) fn blob_io(op: &'static str, e: std::io::Error) -> StoreError {
    StoreError::Io {
        op,
        path: std::path::PathBuf::from("blob"),
        source: e,
    }
}
