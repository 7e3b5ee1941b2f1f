//! `check` (records, blob hashes, indexes, orphans) and `gc` (retention and deletion).
//!
//! Repairs and deletions re-read what they change inside a transaction, so they are safe
//! while the gateway writes.

use std::collections::HashSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use time::OffsetDateTime;

use super::messages::{
    append_audit_tx, decode_record, index_entries, keep_audit_seq_tx, key_suffix, remove_record,
};
use super::{Inner, SledStore, T, TxResult, ts_bytes};
use crate::api::{CheckReport, Finding, GcReport, Progress, Store, Update};
use crate::blob::verify;
use crate::error::StoreError;
use crate::model::{AuditEvent, BlobId, MessageKey, MessageRecord, MessageState};

const PROGRESS_EVERY: u64 = 10_000;
const BATCH: usize = 500;

fn entry_hash(t: T, key: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    t.name().hash(&mut h);
    key.hash(&mut h);
    h.finish()
}

fn finding(kind: &str, subject: impl ToString, detail: impl ToString, repaired: bool) -> Finding {
    Finding {
        kind: kind.to_owned(),
        subject: subject.to_string(),
        detail: detail.to_string(),
        repaired,
    }
}

fn to_duration(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

impl Inner {
    pub(crate) fn check(
        &self,
        store: &SledStore,
        repair: bool,
        progress: &mut dyn Progress,
    ) -> Result<CheckReport, StoreError> {
        let mut report = CheckReport::default();
        let total = self.tree(T::Messages).len() as u64;
        let mut expected = HashSet::new();
        for item in self.tree(T::Messages).iter() {
            let (k, v) = item.map_err(|e| self.db_err(e))?;
            report.records += 1;
            if report.records % PROGRESS_EVERY == 0 {
                progress.report("records and blobs", report.records, Some(total));
            }
            let record = match decode_record(&k, &v) {
                Ok(r) => r,
                Err(e) => {
                    report
                        .findings
                        .push(finding("undecodable-record", format!("{k:?}"), e, false));
                    continue;
                }
            };
            self.check_blobs(store, &record, &mut report);
            self.check_record_indexes(&record, repair, &mut expected, &mut report)?;
        }
        progress.report("records and blobs", report.records, Some(total));
        for t in T::INDEXES {
            self.check_stale(t, repair, &expected, &mut report, progress)?;
        }
        self.check_orphans(repair, &mut report)?;
        Ok(report)
    }

    fn check_blobs(&self, store: &SledStore, record: &MessageRecord, report: &mut CheckReport) {
        for blob in record.blobs() {
            let subject = format!("message {} blob {}", record.key, blob.id);
            match store.open_blob(blob).and_then(verify) {
                Ok(n) => {
                    report.blobs_verified += 1;
                    report.blob_bytes_verified += n;
                }
                Err(e @ StoreError::MissingBlob { .. }) => {
                    report
                        .findings
                        .push(finding("missing-blob", subject, e, false))
                }
                Err(e) => report
                    .findings
                    .push(finding("corrupt-blob", subject, e, false)),
            }
        }
    }

    fn check_record_indexes(
        &self,
        record: &MessageRecord,
        repair: bool,
        expected: &mut HashSet<u64>,
        report: &mut CheckReport,
    ) -> Result<(), StoreError> {
        let mut missing = false;
        for (t, key) in index_entries(record) {
            expected.insert(entry_hash(t, &key));
            if !self
                .tree(t)
                .contains_key(&key)
                .map_err(|e| self.db_err(e))?
            {
                missing = true;
                report.findings.push(finding(
                    "missing-index",
                    format!("message {}", record.key),
                    format!("no {} entry", t.name()),
                    repair,
                ));
            }
        }
        if missing && repair {
            self.reindex(&record.key)?;
        }
        Ok(())
    }

    /// Re-derives a record's index entries inside a transaction.
    fn reindex(&self, key: &MessageKey) -> Result<(), StoreError> {
        self.write(|tx| {
            let Some(v) = tx.get(T::Messages, key.as_bytes())? else {
                return Ok(());
            };
            let record = decode_record(key.as_bytes(), &v).map_err(super::abort)?;
            for (t, k) in index_entries(&record) {
                if tx.get(t, &k)?.is_none() {
                    tx.put(t, &k, &[])?;
                }
            }
            Ok(())
        })
    }

    fn check_stale(
        &self,
        t: T,
        repair: bool,
        expected: &HashSet<u64>,
        report: &mut CheckReport,
        progress: &mut dyn Progress,
    ) -> Result<(), StoreError> {
        let mut candidates = Vec::new();
        for item in self.tree(t).iter() {
            let (k, _) = item.map_err(|e| self.db_err(e))?;
            report.index_entries += 1;
            if report.index_entries.is_multiple_of(PROGRESS_EVERY) {
                progress.report("indexes", report.index_entries, None);
            }
            if !expected.contains(&entry_hash(t, &k)) {
                candidates.push(k.to_vec());
            }
        }
        for k in candidates {
            // Written after the record scan, or really stale: decide inside a transaction.
            let stale = self.write(|tx| {
                let owner = key_suffix(&k);
                let record = match owner {
                    Some(key) => match tx.get(T::Messages, key.as_bytes())? {
                        Some(v) => decode_record(key.as_bytes(), &v).ok(),
                        None => None,
                    },
                    None => None,
                };
                let stale = record.is_none_or(|r| !index_entries(&r).contains(&(t, k.clone())));
                if stale && repair {
                    tx.del(t, &k)?;
                }
                Ok(stale)
            })?;
            if stale {
                let subject =
                    key_suffix(&k).map_or_else(|| format!("{k:?}"), |key| format!("message {key}"));
                report.findings.push(finding(
                    "stale-index",
                    subject,
                    format!("{} entry without matching record", t.name()),
                    repair,
                ));
            }
        }
        Ok(())
    }

    fn check_orphans(&self, repair: bool, report: &mut CheckReport) -> Result<(), StoreError> {
        let grace = self.config.retention.orphan_grace.as_secs();
        for item in self.tree(T::Blobs).iter() {
            let (k, v) = item.map_err(|e| self.db_err(e))?;
            let Some(id) = BlobId::from_slice(&k) else {
                continue;
            };
            if self.inline_referenced(&id, &v)? || !self.orphan_inline(&id, repair)? {
                continue;
            }
            report.findings.push(finding(
                "orphan-blob",
                format!("inline blob {id}"),
                "not referenced by any record",
                repair,
            ));
        }
        for (id, age) in self.blobs.list()? {
            if self.blobs.is_staged(&id) || self.has_owner(&id)? {
                continue;
            }
            let fix = repair && age >= grace;
            if fix {
                self.blobs.remove(&id)?;
            }
            let detail = format!(
                "file not referenced by any record (age {age}s; removed by --repair after {grace}s)"
            );
            report.findings.push(finding(
                "orphan-blob",
                format!("blob file {id}"),
                detail,
                fix,
            ));
        }
        for path in self.blobs.temp_files()? {
            let age = age_secs(&path);
            let fix = repair && age >= grace;
            if fix {
                let _ = std::fs::remove_file(&path);
            }
            report.findings.push(finding(
                "temp-file",
                path.display(),
                format!("unfinished blob write (age {age}s)"),
                fix,
            ));
        }
        Ok(())
    }

    fn has_owner(&self, id: &BlobId) -> Result<bool, StoreError> {
        match self.tree(T::BlobOwner).scan_prefix(id.as_bytes()).next() {
            Some(Ok(_)) => Ok(true),
            Some(Err(e)) => Err(self.db_err(e)),
            None => Ok(false),
        }
    }

    /// An inline blob's value starts with its owner's key: is it referenced by that record?
    fn inline_referenced(&self, id: &BlobId, value: &[u8]) -> Result<bool, StoreError> {
        let Some(owner) = value.get(..16).and_then(MessageKey::from_slice) else {
            return Ok(false);
        };
        Ok(self
            .load(&owner)
            .ok()
            .flatten()
            .is_some_and(|r| r.blobs().any(|b| b.id == *id)))
    }

    /// Decides (and with `repair` removes) an unreferenced inline blob inside a transaction,
    /// so a record committed meanwhile is seen.
    fn orphan_inline(&self, id: &BlobId, repair: bool) -> Result<bool, StoreError> {
        self.write(|tx| {
            let Some(v) = tx.get(T::Blobs, id.as_bytes())? else {
                return Ok(false);
            };
            let owner = v.get(..16).and_then(MessageKey::from_slice);
            let record = match owner {
                Some(k) => tx
                    .get(T::Messages, k.as_bytes())?
                    .and_then(|r| decode_record(k.as_bytes(), &r).ok()),
                None => None,
            };
            let orphan = record.is_none_or(|r| !r.blobs().any(|b| b.id == *id));
            if orphan && repair {
                tx.del(T::Blobs, id.as_bytes())?;
            }
            Ok(orphan)
        })
    }

    pub(crate) fn gc(
        &self,
        now: OffsetDateTime,
        progress: &mut dyn Progress,
    ) -> Result<GcReport, StoreError> {
        let r = &self.config.retention;
        let mut report = GcReport::default();
        progress.report("content after final state", 0, None);
        let after_final = now - to_duration(r.content_after_final);
        for key in self.keys_before(T::FinalContent, &[], after_final)? {
            self.delete_content(&key, now, "acknowledged + retention period", &mut report)?;
            progress.report("content after final state", report.content_deleted, None);
        }
        let max_age = now - to_duration(r.content_max_age);
        for key in self.keys_before(T::ContentAge, &[], max_age)? {
            self.delete_content(&key, now, "maximum content age", &mut report)?;
            progress.report("content past maximum age", report.content_deleted, None);
        }
        let meta_cutoff = now - to_duration(r.metadata);
        for st in MessageState::ALL.into_iter().filter(|s| s.is_final()) {
            for key in self.keys_before(T::ByState, &[st.code()], meta_cutoff)? {
                report.records_deleted += u64::from(self.delete_record(&key, st, meta_cutoff)?);
                progress.report(
                    "records past metadata retention",
                    report.records_deleted,
                    None,
                );
            }
        }
        progress.report("audit, de-dup and orphans", 0, None);
        report.audit_deleted = self.expire_audit(now - to_duration(r.audit))?;
        report.dedup_expired = self.expire_dedup(now)?;
        report.orphans_deleted = self.delete_orphans()?;
        let event = AuditEvent::new(now, "store.gc", "store.gc")
            .with("content_deleted", report.content_deleted)
            .with("records_deleted", report.records_deleted)
            .with("audit_deleted", report.audit_deleted)
            .with("dedup_expired", report.dedup_expired)
            .with("orphans_deleted", report.orphans_deleted);
        self.write(|tx| append_audit_tx(self, tx, event.clone()))?;
        Ok(report)
    }

    /// Message keys of index entries `prefix + ts + key` with `ts < before`.
    fn keys_before(
        &self,
        t: T,
        prefix: &[u8],
        before: OffsetDateTime,
    ) -> Result<Vec<MessageKey>, StoreError> {
        let end = [prefix, &ts_bytes(before)].concat();
        let mut out = Vec::new();
        for item in self.tree(t).range(prefix.to_vec()..end) {
            let (k, _) = item.map_err(|e| self.db_err(e))?;
            out.extend(key_suffix(&k));
        }
        Ok(out)
    }

    fn delete_content(
        &self,
        key: &MessageKey,
        now: OffsetDateTime,
        why: &str,
        report: &mut GcReport,
    ) -> Result<(), StoreError> {
        let Some(record) = self.load(key)? else {
            return Ok(());
        };
        if record.content.is_empty() || record.content_deleted_at.is_some() {
            return Ok(());
        }
        let bytes: u64 = record.content.iter().map(|a| a.blob.len).sum();
        let mut update = Update::none(now, "store.gc").note(format!("content deleted: {why}"));
        update.delete_content = true;
        self.apply(key, update)?;
        report.content_deleted += 1;
        report.content_bytes_deleted += bytes;
        Ok(())
    }

    fn delete_record(
        &self,
        key: &MessageKey,
        state: MessageState,
        cutoff: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let files = self.write(|tx| -> TxResult<Option<Vec<BlobId>>> {
            let Some(v) = tx.get(T::Messages, key.as_bytes())? else {
                return Ok(None);
            };
            let record = decode_record(key.as_bytes(), &v).map_err(super::abort)?;
            if record.state != state || record.state_since >= cutoff {
                return Ok(None);
            }
            Ok(Some(remove_record(tx, &record)?))
        })?;
        let Some(files) = files else { return Ok(false) };
        for id in files {
            self.blobs.remove(&id)?;
        }
        Ok(true)
    }

    fn expire_audit(&self, cutoff: OffsetDateTime) -> Result<u64, StoreError> {
        let mut deleted = 0;
        loop {
            let mut batch = Vec::new();
            for item in self.tree(T::Audit).iter() {
                let (k, v) = item.map_err(|e| self.db_err(e))?;
                let at: Option<AuditEvent> = serde_json::from_slice(&v).ok();
                if at.is_none_or(|e| e.at >= cutoff) || batch.len() >= BATCH {
                    break;
                }
                batch.push(k.to_vec());
            }
            if batch.is_empty() {
                return Ok(deleted);
            }
            deleted += batch.len() as u64;
            self.write(|tx| {
                keep_audit_seq_tx(self, tx)?;
                for k in &batch {
                    tx.del(T::Audit, k)?;
                }
                Ok(())
            })?;
        }
    }

    fn expire_dedup(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let end = ts_bytes(now).to_vec();
        let mut expired = Vec::new();
        for item in self.tree(T::DedupExp).range(..end) {
            let (k, _) = item.map_err(|e| self.db_err(e))?;
            expired.push(k.to_vec());
        }
        let mut n = 0;
        for chunk in expired.chunks(BATCH) {
            n += self.write(|tx| {
                let mut n = 0;
                for k in chunk {
                    let dk = &k[8..];
                    // Only drop the entry if it is still the one that expires at this time.
                    let current = tx.get(T::Dedup, dk)?;
                    let expires = current
                        .and_then(|v| serde_json::from_slice::<serde_json::Value>(&v).ok())
                        .and_then(|v| {
                            v.get("expires_at")
                                .and_then(|e| e.as_str())
                                .map(str::to_owned)
                        })
                        .and_then(|s| {
                            OffsetDateTime::parse(
                                &s,
                                &time::format_description::well_known::Rfc3339,
                            )
                            .ok()
                        });
                    if expires.is_some_and(|e| ts_bytes(e) == k[..8]) {
                        tx.del(T::Dedup, dk)?;
                        n += 1;
                    }
                    tx.del(T::DedupExp, k)?;
                }
                Ok(n)
            })?;
        }
        Ok(n)
    }

    fn delete_orphans(&self) -> Result<u64, StoreError> {
        let grace = self.config.retention.orphan_grace.as_secs();
        let mut n = 0;
        for (id, age) in self.blobs.list()? {
            if age >= grace && !self.blobs.is_staged(&id) && !self.has_owner(&id)? {
                self.blobs.remove(&id)?;
                n += 1;
            }
        }
        for path in self.blobs.temp_files()? {
            if age_secs(&path) >= grace {
                let _ = std::fs::remove_file(&path);
                n += 1;
            }
        }
        Ok(n)
    }
}

fn age_secs(path: &std::path::Path) -> u64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .map_or(0, |d| d.as_secs())
}
