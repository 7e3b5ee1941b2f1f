//! Records, their derived index entries, transitions, de-dup, audit and queue reads.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Inner, SledStore, T, Tx, TxResult, abort, ts_bytes, ts_from};
use crate::api::{
    BackupReport, BlobReader, BlobWriter, CheckReport, GcReport, Keyspace, NewMessage, Progress,
    StagedBlob, Store, Update,
};
use crate::blob::VerifyingReader;
use crate::error::StoreError;
use crate::model::{
    Attachment, AuditEvent, BlobId, BlobLocation, BlobRef, Created, DedupKey, Evidence, IdKind,
    ListFilter, MessageKey, MessageRecord, MessageState, MessageSummary, QueueStats, StateChange,
    check_id,
};

const DEFAULT_LIMIT: usize = 1000;
/// Longest note or error text of one update (records stay small; see `config::MAX_INLINE`).
const MAX_TEXT: usize = 16 * 1024;

#[derive(Serialize, Deserialize)]
struct DedupEntry {
    key: MessageKey,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

/// Every index entry a record implies (tree, key). Index values are empty.
pub(crate) fn index_entries(r: &MessageRecord) -> Vec<(T, Vec<u8>)> {
    let key = r.key.as_bytes();
    let since = ts_bytes(r.state_since);
    let created = ts_bytes(r.created_at);
    let code = r.state.code();
    let mut out = vec![
        (T::ByState, cat(&[&[code], &since, key])),
        (T::ByCreated, cat(&[&created, key])),
    ];
    if let Some(mb) = &r.mailbox {
        out.push((T::ByMailbox, cat(&[mb.as_bytes(), &[0, code], &since, key])));
    }
    if r.state == MessageState::Scheduled {
        let due = ts_bytes(r.next_attempt_at.unwrap_or(r.state_since));
        out.push((T::Due, cat(&[&due, key])));
    }
    if r.state == MessageState::DeadLettered {
        out.push((T::Dead, cat(&[&since, key])));
    }
    for (kind, id) in r.correlation.ids() {
        out.push((T::Corr, corr_key(kind, id, Some(&r.key))));
    }
    if !r.content.is_empty() {
        out.push((T::ContentAge, cat(&[&created, key])));
        if r.state.is_final() {
            out.push((T::FinalContent, cat(&[&since, key])));
        }
    }
    for blob in r.blobs() {
        out.push((T::BlobOwner, cat(&[blob.id.as_bytes(), key])));
    }
    out
}

pub(crate) fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

pub(crate) fn corr_key(kind: IdKind, id: &str, key: Option<&MessageKey>) -> Vec<u8> {
    let mut k = cat(&[&[kind.code()], id.as_bytes(), &[0]]);
    if let Some(key) = key {
        k.extend_from_slice(key.as_bytes());
    }
    k
}

fn dedup_key(from: &str, id: &str) -> Vec<u8> {
    cat(&[from.as_bytes(), &[0], id.as_bytes()])
}

/// The message key at the end of an index key.
pub(crate) fn key_suffix(index_key: &[u8]) -> Option<MessageKey> {
    index_key
        .len()
        .checked_sub(16)
        .and_then(|start| MessageKey::from_slice(&index_key[start..]))
}

pub(crate) fn decode_record(key: &[u8], bytes: &[u8]) -> Result<MessageRecord, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        what: "message record",
        key: MessageKey::from_slice(key).map_or_else(|| format!("{key:?}"), |k| k.to_string()),
        reason: e.to_string(),
    })
}

fn encode<V: Serialize>(v: &V) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// Writes a record and moves its index entries from `old` to the new ones.
pub(crate) fn put_record(
    tx: &Tx<'_>,
    old: Option<&MessageRecord>,
    new: &MessageRecord,
) -> TxResult<()> {
    let old_entries = old.map(index_entries).unwrap_or_default();
    let new_entries = index_entries(new);
    for e in old_entries.iter().filter(|e| !new_entries.contains(e)) {
        tx.del(e.0, &e.1)?;
    }
    for e in new_entries.iter().filter(|e| !old_entries.contains(e)) {
        tx.put(e.0, &e.1, &[])?;
    }
    tx.put(
        T::Messages,
        new.key.as_bytes(),
        &encode(new).map_err(abort)?,
    )
}

/// Removes a record with all its index entries and inline blobs; returns its file blobs.
pub(crate) fn remove_record(tx: &Tx<'_>, r: &MessageRecord) -> TxResult<Vec<BlobId>> {
    for (t, k) in index_entries(r) {
        tx.del(t, &k)?;
    }
    tx.del(T::Messages, r.key.as_bytes())?;
    let mut files = Vec::new();
    for blob in r.blobs() {
        match blob.location {
            BlobLocation::Inline => tx.del(T::Blobs, blob.id.as_bytes())?,
            BlobLocation::File => files.push(blob.id),
        }
    }
    Ok(files)
}

pub(crate) fn append_audit_tx(inner: &Inner, tx: &Tx<'_>, mut event: AuditEvent) -> TxResult<u64> {
    event.seq = inner.next_audit_seq();
    tx.put(
        T::Audit,
        &event.seq.to_be_bytes(),
        &encode(&event).map_err(abort)?,
    )?;
    Ok(event.seq)
}

/// Key in the meta tree: the next audit seq, written whenever audit events are removed, so a
/// store whose audit tree became empty does not hand out old numbers again after a restart.
pub(crate) const AUDIT_NEXT_SEQ: &[u8] = b"audit_next_seq";

/// Records the audit high-water mark in a transaction that removes audit events.
pub(crate) fn keep_audit_seq_tx(inner: &Inner, tx: &Tx<'_>) -> TxResult<()> {
    tx.put(
        T::Meta,
        AUDIT_NEXT_SEQ,
        &inner.peek_audit_seq().to_be_bytes(),
    )
}

/// Staged blobs split into the references for the record and the inline bytes to insert.
struct Staging {
    refs: Vec<(String, BlobRef)>,
    inline: Vec<(BlobId, Vec<u8>)>,
    staged: Vec<StagedBlob>,
}

impl Staging {
    fn new(items: Vec<(String, StagedBlob)>) -> Result<Self, StoreError> {
        let mut s = Self {
            refs: Vec::new(),
            inline: Vec::new(),
            staged: Vec::new(),
        };
        for (name, blob) in items {
            check_id("content role / evidence kind", &name)?;
            s.refs.push((name, blob.blob().clone()));
            if let Some(bytes) = &blob.inline {
                s.inline.push((blob.blob().id, bytes.clone()));
            }
            s.staged.push(blob);
        }
        Ok(s)
    }

    /// Inline blobs are stored as `owner key (16 bytes) ++ content`.
    fn insert(&self, tx: &Tx<'_>, owner: &MessageKey) -> TxResult<()> {
        for (id, bytes) in &self.inline {
            tx.put(T::Blobs, id.as_bytes(), &cat(&[owner.as_bytes(), bytes]))?;
        }
        Ok(())
    }

    /// After the commit: the blobs belong to the record now.
    fn committed(self, inner: &Inner) {
        for blob in self.staged {
            let (blob, _) = blob.into_committed();
            inner.blobs.unstage(&blob.id);
        }
    }
}

fn validate_new(new: &NewMessage) -> Result<(), StoreError> {
    for (what, v) in [
        ("mailbox", &new.mailbox),
        ("sender", &new.sender),
        ("recipient", &new.recipient),
        ("document type", &new.document_type),
    ] {
        if let Some(v) = v {
            check_id(what, v)?;
        }
    }
    for (_, id) in new.correlation.ids() {
        check_id("correlation id", id)?;
    }
    if let Some(d) = &new.dedup {
        check_id("de-dup sending party", &d.from_party)?;
        check_id("de-dup AS4 MessageId", &d.as4_message_id)?;
    }
    check_id("actor", &new.actor)
}

impl Inner {
    fn create(&self, new: NewMessage) -> Result<Created, StoreError> {
        validate_new(&new)?;
        let content = Staging::new(new.content)?;
        let evidence = Staging::new(new.evidence)?;
        let state = new.direction.initial_state();
        let key = MessageKey::random()?;
        let record = MessageRecord {
            key,
            direction: new.direction,
            state,
            mailbox: new.mailbox,
            sender: new.sender,
            recipient: new.recipient,
            document_type: new.document_type,
            correlation: new.correlation,
            created_at: new.at,
            state_since: new.at,
            history: vec![StateChange {
                from: None,
                to: state,
                at: new.at,
                actor: new.actor.clone(),
                note: None,
            }],
            attempts: 0,
            next_attempt_at: None,
            last_error: None,
            content: attachments(&content.refs),
            evidence: evidence_list(&evidence.refs, new.at),
            content_deleted_at: None,
        };
        let dedup = new.dedup;
        for e in &new.audit {
            check_id("actor", &e.actor)?;
        }
        let audit = new.audit;
        let outcome = self.write(|tx| {
            if let Some(d) = &dedup
                && let Some(existing) = self.dedup_check(tx, d, new.at, &key)?
            {
                return Ok(Created::Duplicate { existing });
            }
            put_record(tx, None, &record)?;
            content.insert(tx, &key)?;
            evidence.insert(tx, &key)?;
            let mut event = AuditEvent::new(new.at, &new.actor, "message.create")
                .for_message(key)
                .with("direction", record.direction.as_str())
                .with("state", state.as_str());
            for (kind, id) in record.correlation.ids() {
                event = event.with(&format!("{kind:?}"), id);
            }
            append_audit_tx(self, tx, event)?;
            for extra in &audit {
                let mut e = extra.clone();
                e.message.get_or_insert(key);
                append_audit_tx(self, tx, e)?;
            }
            Ok(Created::New(Box::new(record.clone())))
        })?;
        if matches!(outcome, Created::New(_)) {
            content.committed(self);
            evidence.committed(self);
        }
        Ok(outcome)
    }

    /// Inserts the de-dup entry unless a live one exists (then returns its record).
    fn dedup_check(
        &self,
        tx: &Tx<'_>,
        d: &DedupKey,
        at: OffsetDateTime,
        key: &MessageKey,
    ) -> TxResult<Option<MessageKey>> {
        let dk = dedup_key(&d.from_party, &d.as4_message_id);
        if let Some(old) = tx.get(T::Dedup, &dk)? {
            let old: DedupEntry = serde_json::from_slice(&old).map_err(|e| {
                abort(StoreError::Corrupt {
                    what: "de-dup entry",
                    key: d.as4_message_id.clone(),
                    reason: e.to_string(),
                })
            })?;
            if old.expires_at > at {
                return Ok(Some(old.key));
            }
            tx.del(T::DedupExp, &cat(&[&ts_bytes(old.expires_at), &dk]))?;
        }
        let entry = DedupEntry {
            key: *key,
            expires_at: d.expires_at,
        };
        tx.put(T::Dedup, &dk, &encode(&entry).map_err(abort)?)?;
        tx.put(T::DedupExp, &cat(&[&ts_bytes(d.expires_at), &dk]), &[])?;
        Ok(None)
    }

    pub(crate) fn load(&self, key: &MessageKey) -> Result<Option<MessageRecord>, StoreError> {
        match self.tree(T::Messages).get(key.as_bytes()) {
            Ok(Some(v)) => decode_record(key.as_bytes(), &v).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(self.db_err(e)),
        }
    }

    pub(crate) fn apply(
        &self,
        key: &MessageKey,
        mut u: Update,
    ) -> Result<MessageRecord, StoreError> {
        check_id("actor", &u.actor)?;
        for (what, text) in [("note", &u.note), ("error", &u.error)] {
            if text.as_ref().is_some_and(|t| t.len() > MAX_TEXT) {
                return Err(StoreError::Invalid(format!(
                    "{what} longer than {MAX_TEXT} bytes"
                )));
            }
        }
        for (_, id) in u.correlation.ids() {
            check_id("correlation id", id)?;
        }
        if let Some(mb) = &u.mailbox {
            check_id("mailbox", mb)?;
        }
        let content = Staging::new(std::mem::take(&mut u.add_content))?;
        let evidence = Staging::new(std::mem::take(&mut u.add_evidence))?;
        let (record, dropped_files) = self.write(|tx| {
            let Some(bytes) = tx.get(T::Messages, key.as_bytes())? else {
                return Err(abort(StoreError::NotFound(format!("message {key}"))));
            };
            let old = decode_record(key.as_bytes(), &bytes).map_err(abort)?;
            let mut new = old.clone();
            change(&mut new, &u, &content, &evidence).map_err(abort)?;
            let mut dropped_files = Vec::new();
            if u.delete_content && new.content_deleted_at.is_none() {
                for a in std::mem::take(&mut new.content) {
                    match a.blob.location {
                        BlobLocation::Inline => tx.del(T::Blobs, a.blob.id.as_bytes())?,
                        BlobLocation::File => dropped_files.push(a.blob.id),
                    }
                }
                new.content_deleted_at = Some(u.at);
            }
            put_record(tx, Some(&old), &new)?;
            content.insert(tx, key)?;
            evidence.insert(tx, key)?;
            let action = if u.to.is_some() {
                "message.transition"
            } else {
                "message.update"
            };
            let mut event = AuditEvent::new(u.at, &u.actor, action)
                .for_message(new.key)
                .with("from", old.state.as_str())
                .with("to", new.state.as_str());
            if let Some(note) = &u.note {
                event = event.with("note", note.as_str());
            }
            if let Some(err) = &u.error {
                event = event.with("error", err.as_str());
            }
            for (kind, _) in &evidence.refs {
                event = event.with("evidence", kind.as_str());
            }
            if u.delete_content {
                event = event.with("content_deleted", true);
            }
            append_audit_tx(self, tx, event)?;
            Ok((new, dropped_files))
        })?;
        content.committed(self);
        evidence.committed(self);
        for id in dropped_files {
            // After the commit: a crash here leaves an orphan file that gc removes.
            self.blobs.remove(&id)?;
        }
        Ok(record)
    }

    fn scan_keys(
        &self,
        t: T,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree(t).range(from.to_vec()..) {
            let (k, _) = item.map_err(|e| self.db_err(e))?;
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push(k.to_vec());
        }
        Ok(out)
    }

    fn summaries(
        &self,
        keys: &[Vec<u8>],
        f: &ListFilter,
        since_offset: Option<usize>,
    ) -> Result<Vec<MessageSummary>, StoreError> {
        let limit = if f.limit == 0 { DEFAULT_LIMIT } else { f.limit };
        let mut out = Vec::new();
        for k in keys {
            if out.len() >= limit {
                break;
            }
            if let (Some(off), Some(since)) = (since_offset, f.since)
                && k.get(off..off + 8).map(ts_from).is_some_and(|t| t < since)
            {
                continue;
            }
            let Some(key) = key_suffix(k) else { continue };
            let Some(r) = self.load(&key)? else { continue };
            if f.direction.is_some_and(|d| d != r.direction)
                || f.state.is_some_and(|s| s != r.state)
            {
                continue;
            }
            if f.mailbox
                .as_ref()
                .is_some_and(|m| r.mailbox.as_ref() != Some(m))
            {
                continue;
            }
            out.push(MessageSummary::from(&r));
        }
        Ok(out)
    }

    fn list(&self, f: &ListFilter) -> Result<Vec<MessageSummary>, StoreError> {
        let since = f.since.map(ts_bytes).unwrap_or([0; 8]);
        // Without a filter that the index orders by, read a bounded window and filter.
        let limit = if f.limit == 0 { DEFAULT_LIMIT } else { f.limit };
        let window = limit.saturating_mul(20).max(10_000);
        match (&f.mailbox, f.state) {
            (Some(mb), Some(st)) => {
                let prefix = cat(&[mb.as_bytes(), &[0, st.code()]]);
                let keys =
                    self.scan_keys(T::ByMailbox, &prefix, &cat(&[&prefix, &since]), limit)?;
                self.summaries(&keys, f, None)
            }
            (None, Some(st)) => {
                let keys = self.scan_keys(
                    T::ByState,
                    &[st.code()],
                    &cat(&[&[st.code()], &since]),
                    limit,
                )?;
                self.summaries(&keys, f, None)
            }
            (Some(mb), None) => {
                let prefix = cat(&[mb.as_bytes(), &[0]]);
                let keys = self.scan_keys(T::ByMailbox, &prefix, &prefix, window)?;
                let mut rows = self.summaries(&keys, f, Some(prefix.len() + 1))?;
                rows.sort_by_key(|r| r.state_since);
                Ok(rows)
            }
            (None, None) => {
                let scan = if f.direction.is_some() { window } else { limit };
                let keys = self.scan_keys(T::ByCreated, &[], &since, scan)?;
                self.summaries(&keys, f, None)
            }
        }
    }

    fn count_prefix(&self, t: T, prefix: &[u8]) -> Result<u64, StoreError> {
        let mut n = 0;
        for item in self.tree(t).scan_prefix(prefix) {
            item.map_err(|e| self.db_err(e))?;
            n += 1;
        }
        Ok(n)
    }

    fn stats(&self, now: OffsetDateTime) -> Result<QueueStats, StoreError> {
        let mut by_state = Vec::new();
        for st in MessageState::ALL {
            by_state.push((st, self.count_prefix(T::ByState, &[st.code()])?));
        }
        let mut due_now = 0;
        let mut oldest_due = None;
        for item in self
            .tree(T::Due)
            .range(..ts_bytes(now + time::Duration::nanoseconds(1)).to_vec())
        {
            let (k, _) = item.map_err(|e| self.db_err(e))?;
            oldest_due.get_or_insert_with(|| ts_from(&k));
            due_now += 1;
        }
        Ok(QueueStats {
            by_state,
            due_now,
            oldest_due,
            dead_letters: self.count_prefix(T::Dead, &[])?,
            dedup_entries: self.count_prefix(T::Dedup, &[])?,
            audit_entries: self.count_prefix(T::Audit, &[])?,
        })
    }
}

/// Applies the non-blob parts of an update to a record (the state machine lives here).
fn change(
    r: &mut MessageRecord,
    u: &Update,
    content: &Staging,
    evidence: &Staging,
) -> Result<(), StoreError> {
    let key = r.key.to_string();
    if let Some(expected) = u.expect
        && r.state != expected
    {
        return Err(StoreError::StateMismatch {
            key,
            expected,
            actual: r.state,
        });
    }
    if let Some(to) = u.to {
        if !r.state.can_become(to) {
            return Err(StoreError::IllegalTransition {
                key,
                from: r.state,
                to,
            });
        }
        if to == MessageState::Scheduled
            && (r.content_deleted_at.is_some() || !r.has_been(MessageState::Sealed))
        {
            return Err(StoreError::Invalid(format!(
                "message {key} has no sealed content left to send"
            )));
        }
        r.history.push(StateChange {
            from: Some(r.state),
            to,
            at: u.at,
            actor: u.actor.clone(),
            note: u.note.clone(),
        });
        r.state = to;
        r.state_since = u.at;
        r.next_attempt_at =
            (to == MessageState::Scheduled).then(|| u.next_attempt_at.unwrap_or(u.at));
        if to == MessageState::Sending {
            r.attempts = r.attempts.saturating_add(1);
        }
    } else if let Some(next) = u.next_attempt_at {
        if r.state != MessageState::Scheduled {
            return Err(StoreError::Invalid(format!(
                "message {key} is {}, only scheduled messages have a next attempt",
                r.state
            )));
        }
        r.next_attempt_at = Some(next);
    }
    if u.error.is_some() {
        r.last_error.clone_from(&u.error);
    }
    if u.mailbox.is_some() {
        r.mailbox.clone_from(&u.mailbox);
    }
    r.correlation.merge(&u.correlation);
    if r.content_deleted_at.is_some() && !content.refs.is_empty() {
        return Err(StoreError::Invalid(format!(
            "message {key}: content was already deleted"
        )));
    }
    r.content.extend(attachments(&content.refs));
    r.evidence.extend(evidence_list(&evidence.refs, u.at));
    Ok(())
}

fn attachments(refs: &[(String, BlobRef)]) -> Vec<Attachment> {
    refs.iter()
        .map(|(role, blob)| Attachment {
            role: role.clone(),
            blob: blob.clone(),
        })
        .collect()
}

fn evidence_list(refs: &[(String, BlobRef)], at: OffsetDateTime) -> Vec<Evidence> {
    refs.iter()
        .map(|(kind, blob)| Evidence {
            kind: kind.clone(),
            at,
            blob: blob.clone(),
        })
        .collect()
}

impl Store for SledStore {
    fn blob_writer(&self) -> Result<Box<dyn BlobWriter>, StoreError> {
        self.inner.commit.check_writable()?;
        self.inner.blobs.writer(self.inner.config.inline_blob_max)
    }

    fn open_blob(&self, blob: &BlobRef) -> Result<BlobReader, StoreError> {
        let inner = &self.inner;
        match blob.location {
            BlobLocation::Inline => {
                let bytes = inner
                    .tree(T::Blobs)
                    .get(blob.id.as_bytes())
                    .map_err(|e| inner.db_err(e))?
                    .ok_or_else(|| StoreError::MissingBlob { id: blob.id.hex() })?;
                let content = bytes.get(16..).unwrap_or_default().to_vec();
                Ok(Box::new(VerifyingReader::new(
                    Cursor::new(content),
                    blob.clone(),
                )))
            }
            BlobLocation::File => {
                let file = inner.blobs.open_file(blob)?;
                let reader = std::io::BufReader::with_capacity(256 * 1024, file);
                Ok(Box::new(VerifyingReader::new(reader, blob.clone())))
            }
        }
    }

    fn create_message(&self, new: NewMessage) -> Result<Created, StoreError> {
        self.inner.create(new)
    }

    fn update(&self, key: &MessageKey, update: Update) -> Result<MessageRecord, StoreError> {
        self.inner.apply(key, update)
    }

    fn get_message(&self, key: &MessageKey) -> Result<Option<MessageRecord>, StoreError> {
        self.inner.load(key)
    }

    fn find_by_id(&self, kind: IdKind, id: &str) -> Result<Vec<MessageKey>, StoreError> {
        check_id("id", id)?;
        let prefix = corr_key(kind, id, None);
        let keys = self
            .inner
            .scan_keys(T::Corr, &prefix, &prefix, DEFAULT_LIMIT)?;
        Ok(keys.iter().filter_map(|k| key_suffix(k)).collect())
    }

    fn list_messages(&self, filter: &ListFilter) -> Result<Vec<MessageSummary>, StoreError> {
        self.inner.list(filter)
    }

    fn due_messages(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<MessageKey>, StoreError> {
        let end = ts_bytes(now + time::Duration::nanoseconds(1));
        let mut out = Vec::new();
        for item in self.inner.tree(T::Due).range(..end.to_vec()) {
            let (k, _) = item.map_err(|e| self.inner.db_err(e))?;
            if out.len() >= limit {
                break;
            }
            out.extend(key_suffix(&k));
        }
        Ok(out)
    }

    fn dead_letters(&self, limit: usize) -> Result<Vec<MessageSummary>, StoreError> {
        let limit = if limit == 0 { DEFAULT_LIMIT } else { limit };
        let keys = self.inner.scan_keys(T::Dead, &[], &[], limit)?;
        let filter = ListFilter {
            limit,
            ..ListFilter::default()
        };
        self.inner.summaries(&keys, &filter, None)
    }

    fn requeue_in_flight(&self, at: OffsetDateTime) -> Result<u64, StoreError> {
        let code = MessageState::Sending.code();
        let keys = self
            .inner
            .scan_keys(T::ByState, &[code], &[code], usize::MAX)?;
        let mut n = 0;
        for key in keys.iter().filter_map(|k| key_suffix(k)) {
            let update = Update::to(MessageState::Scheduled, at, "store.recovery")
                .expect(MessageState::Sending)
                .note("in flight when the gateway stopped; retried with the same AS4 MessageId");
            match self.inner.apply(&key, update) {
                Ok(_) => n += 1,
                Err(StoreError::StateMismatch { .. } | StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    fn stats(&self, now: OffsetDateTime) -> Result<QueueStats, StoreError> {
        self.inner.stats(now)
    }

    fn dedup_lookup(
        &self,
        from_party: &str,
        as4_message_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<MessageKey>, StoreError> {
        check_id("sending party", from_party)?;
        check_id("AS4 MessageId", as4_message_id)?;
        let dk = dedup_key(from_party, as4_message_id);
        let Some(v) = self
            .inner
            .tree(T::Dedup)
            .get(dk)
            .map_err(|e| self.inner.db_err(e))?
        else {
            return Ok(None);
        };
        let entry: DedupEntry = serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt {
            what: "de-dup entry",
            key: as4_message_id.to_owned(),
            reason: e.to_string(),
        })?;
        Ok((entry.expires_at > now).then_some(entry.key))
    }

    fn append_audit(&self, event: AuditEvent) -> Result<u64, StoreError> {
        check_id("actor", &event.actor)?;
        self.inner
            .write(|tx| append_audit_tx(&self.inner, tx, event.clone()))
    }

    fn audit(&self, from: u64, limit: usize) -> Result<Vec<AuditEvent>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .inner
            .tree(T::Audit)
            .range(from.to_be_bytes().to_vec()..)
        {
            let (k, v) = item.map_err(|e| self.inner.db_err(e))?;
            if out.len() >= limit {
                break;
            }
            out.push(serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt {
                what: "audit event",
                key: super::be_u64(&k).to_string(),
                reason: e.to_string(),
            })?);
        }
        Ok(out)
    }

    fn trim_audit(&self, through: u64) -> Result<u64, StoreError> {
        const BATCH: usize = 1000;
        let mut removed = 0;
        loop {
            let keys: Vec<Vec<u8>> = self
                .inner
                .tree(T::Audit)
                .range(..=through.to_be_bytes().to_vec())
                .keys()
                .take(BATCH)
                .collect::<Result<Vec<sled::IVec>, _>>()
                .map_err(|e| self.inner.db_err(e))?
                .into_iter()
                .map(|k| k.to_vec())
                .collect();
            if keys.is_empty() {
                return Ok(removed);
            }
            self.inner.write(|tx| {
                keep_audit_seq_tx(&self.inner, tx)?;
                for k in &keys {
                    tx.del(T::Audit, k)?;
                }
                Ok(())
            })?;
            removed += keys.len() as u64;
        }
    }

    fn keyspace(&self, name: &str) -> Result<Arc<dyn Keyspace>, StoreError> {
        super::keyspace::open(&self.inner, name)
    }

    fn check(&self, repair: bool, progress: &mut dyn Progress) -> Result<CheckReport, StoreError> {
        self.inner.check(self, repair, progress)
    }

    fn gc(&self, now: OffsetDateTime, progress: &mut dyn Progress) -> Result<GcReport, StoreError> {
        self.inner.gc(now, progress)
    }

    fn backup(&self, to: &Path, progress: &mut dyn Progress) -> Result<BackupReport, StoreError> {
        self.inner.backup(to, progress)
    }

    fn data_dir(&self) -> &Path {
        &self.inner.dir
    }
}
