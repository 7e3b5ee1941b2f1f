//! The single writer of the log (run by the [`super::Shipper`] in the process that has the
//! store open): append in seq order, rotate, repair a torn tail, expire old files.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sdkgw_store::AuditEvent;
use time::OffsetDateTime;

use super::segment::{self, GENESIS, Segment};
use super::{AuditError, LogSettings};

/// Subdirectory that keeps bytes cut from a torn tail.
const TORN_DIR: &str = "torn";

/// What [`Writer::open`] cut from the newest file after a crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// The file that had a torn or invalid tail.
    pub file: PathBuf,
    /// Bytes of valid lines kept.
    pub kept_bytes: u64,
    /// Bytes cut (saved in `saved_to`).
    pub cut_bytes: u64,
    /// Where the cut bytes were saved.
    pub saved_to: PathBuf,
    /// Why the first cut line was invalid.
    pub reason: String,
}

struct Current {
    segment: Segment,
    file: File,
    bytes: u64,
}

/// Appends events to the log. Exactly one per log directory at a time: the process that
/// holds the store (whose lock makes it exclusive).
pub struct Writer {
    settings: LogSettings,
    current: Option<Current>,
    last_seq: u64,
    last_hash: String,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("dir", &self.settings.dir)
            .field("last_seq", &self.last_seq)
            .finish_non_exhaustive()
    }
}

/// The valid prefix of a file: its length, last seq and last line hash.
struct ValidPrefix {
    len: u64,
    last: Option<(u64, String)>,
    invalid: Option<String>,
}

fn valid_prefix(bytes: &[u8]) -> ValidPrefix {
    let mut pos = 0usize;
    let mut last: Option<(u64, String)> = None;
    while pos < bytes.len() {
        let Some(nl) = bytes[pos..].iter().position(|b| *b == b'\n') else {
            return ValidPrefix {
                len: pos as u64,
                last,
                invalid: Some("unterminated last line".into()),
            };
        };
        let line = &bytes[pos..pos + nl];
        let problem = match segment::decode(line) {
            Err(e) => Some(format!("not a valid event: {e}")),
            Ok(l) => match &last {
                Some((seq, _)) if l.event.seq <= *seq => {
                    Some(format!("seq {} does not follow {seq}", l.event.seq))
                }
                Some((_, hash)) if &l.prev != hash => {
                    Some(format!("seq {}: hash chain broken", l.event.seq))
                }
                _ => {
                    last = Some((l.event.seq, segment::line_hash(line)));
                    None
                }
            },
        };
        if let Some(p) = problem {
            return ValidPrefix {
                len: pos as u64,
                last,
                invalid: Some(p),
            };
        }
        pos += nl + 1;
    }
    ValidPrefix {
        len: pos as u64,
        last,
        invalid: None,
    }
}

fn fsync_dir(dir: &Path) -> Result<(), AuditError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| AuditError::io("fsync", dir, e))
}

impl Writer {
    /// Opens (creating it, mode 0700) the log directory, repairs a torn tail of the newest
    /// file, and positions after the last valid event.
    pub fn open(settings: LogSettings) -> Result<(Self, Vec<Repair>), AuditError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&settings.dir)
            .map_err(|e| AuditError::io("create", &settings.dir, e))?;
        let mut repairs = Vec::new();
        let mut segments = segment::list(&settings.dir)?;
        let mut writer = Self {
            settings,
            current: None,
            last_seq: 0,
            last_hash: GENESIS.to_owned(),
        };
        while let Some(newest) = segments.pop() {
            let bytes =
                fs::read(&newest.path).map_err(|e| AuditError::io("read", &newest.path, e))?;
            let prefix = valid_prefix(&bytes);
            if let Some(reason) = &prefix.invalid {
                repairs.push(writer.cut(&newest, &bytes, prefix.len, reason)?);
            }
            match prefix.last {
                Some((seq, hash)) => {
                    writer.last_seq = seq;
                    writer.last_hash = hash;
                    let file = OpenOptions::new()
                        .append(true)
                        .open(&newest.path)
                        .map_err(|e| AuditError::io("open", &newest.path, e))?;
                    writer.current = Some(Current {
                        segment: newest,
                        file,
                        bytes: prefix.len,
                    });
                    break;
                }
                None => {
                    // Nothing valid in it: it was created right before the crash.
                    fs::remove_file(&newest.path)
                        .map_err(|e| AuditError::io("remove", &newest.path, e))?;
                    fsync_dir(&writer.settings.dir)?;
                }
            }
        }
        Ok((writer, repairs))
    }

    /// Saves the bytes after `keep` and truncates the file there.
    fn cut(
        &self,
        seg: &Segment,
        bytes: &[u8],
        keep: u64,
        reason: &str,
    ) -> Result<Repair, AuditError> {
        let torn = self.settings.dir.join(TORN_DIR);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&torn)
            .map_err(|e| AuditError::io("create", &torn, e))?;
        let name = seg
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("audit");
        let saved_to = torn.join(format!("{name}.{keep}.torn"));
        let tail = bytes.get(keep as usize..).unwrap_or_default();
        let mut f = File::create(&saved_to).map_err(|e| AuditError::io("create", &saved_to, e))?;
        f.write_all(tail)
            .and_then(|()| f.sync_all())
            .map_err(|e| AuditError::io("write", &saved_to, e))?;
        let file = OpenOptions::new()
            .write(true)
            .open(&seg.path)
            .map_err(|e| AuditError::io("open", &seg.path, e))?;
        file.set_len(keep)
            .and_then(|()| file.sync_all())
            .map_err(|e| AuditError::io("truncate", &seg.path, e))?;
        fsync_dir(&torn)?;
        tracing::warn!(file = %seg.path.display(), kept = keep, cut = tail.len(), reason,
            "audit log: cut a torn tail (the events are shipped again from the journal)");
        Ok(Repair {
            file: seg.path.clone(),
            kept_bytes: keep,
            cut_bytes: tail.len() as u64,
            saved_to,
            reason: reason.to_owned(),
        })
    }

    /// Seq of the last event in the log (0 when empty).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.settings.dir
    }

    fn needs_rotation(&self, event: &AuditEvent) -> bool {
        match &self.current {
            None => true,
            Some(c) => {
                c.bytes >= self.settings.rotate_bytes
                    || (event.at - c.segment.started).unsigned_abs() >= self.settings.rotate_every
            }
        }
    }

    fn start_segment(&mut self, event: &AuditEvent) -> Result<(), AuditError> {
        let name = Segment::name_for(event.seq, event.at);
        let path = self.settings.dir.join(name);
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| AuditError::io("create", &path, e))?;
        fsync_dir(&self.settings.dir)?;
        self.current = Some(Current {
            segment: Segment {
                path,
                first_seq: event.seq,
                started: event.at.replace_nanosecond(0).unwrap_or(event.at),
            },
            file,
            bytes: 0,
        });
        Ok(())
    }

    fn flush(&mut self, buf: &mut Vec<u8>) -> Result<(), AuditError> {
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(c) = &mut self.current {
            c.file
                .write_all(buf)
                .and_then(|()| c.file.sync_data())
                .map_err(|e| AuditError::io("append to", &c.segment.path, e))?;
            c.bytes += buf.len() as u64;
        }
        buf.clear();
        Ok(())
    }

    /// Appends the events with a seq above [`Writer::last_seq`] (others were shipped
    /// before a crash and are skipped), in order, and makes them durable. Returns how many
    /// were written. On error nothing is acknowledged: the caller keeps them in the journal.
    pub fn append(&mut self, events: &[AuditEvent]) -> Result<usize, AuditError> {
        let mut buf = Vec::new();
        let mut written = 0;
        let (mut last_seq, mut last_hash) = (self.last_seq, self.last_hash.clone());
        for event in events {
            // Already in the file (shipped before a crash, journal not yet trimmed).
            if event.seq <= last_seq {
                continue;
            }
            if self.needs_rotation(event) {
                self.flush(&mut buf)?;
                self.start_segment(event)?;
            }
            let line = segment::encode(event, &last_hash)?;
            last_hash = segment::line_hash(&line);
            last_seq = event.seq;
            buf.extend_from_slice(&line);
            buf.push(b'\n');
            written += 1;
            if let Some(c) = &self.current
                && c.bytes + buf.len() as u64 >= self.settings.rotate_bytes
            {
                self.flush(&mut buf)?;
            }
        }
        self.flush(&mut buf)?;
        self.last_seq = last_seq;
        self.last_hash = last_hash;
        Ok(written)
    }

    /// Deletes files all of whose events are older than the retention at `now` (the next
    /// file started before the cutoff). The newest file is kept. Returns the deleted paths.
    pub fn expire(&mut self, now: OffsetDateTime) -> Result<Vec<PathBuf>, AuditError> {
        let cutoff = now - self.settings.retention;
        let segments = segment::list(&self.settings.dir)?;
        let mut deleted = Vec::new();
        for pair in segments.windows(2) {
            if pair[1].started >= cutoff {
                break;
            }
            fs::remove_file(&pair[0].path)
                .map_err(|e| AuditError::io("remove", &pair[0].path, e))?;
            deleted.push(pair[0].path.clone());
        }
        if !deleted.is_empty() {
            fsync_dir(&self.settings.dir)?;
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_prefix_stops_at_a_torn_or_unchained_line() {
        let at = time::macros::datetime!(2026-12-02 06:00 UTC);
        let mut e1 = AuditEvent::new(at, "t", "a");
        e1.seq = 1;
        let mut e2 = e1.clone();
        e2.seq = 2;
        let l1 = segment::encode(&e1, GENESIS).unwrap();
        let l2 = segment::encode(&e2, &segment::line_hash(&l1)).unwrap();
        let mut good = [l1.clone(), b"\n".to_vec(), l2.clone(), b"\n".to_vec()].concat();
        let p = valid_prefix(&good);
        assert!(p.invalid.is_none());
        assert_eq!(p.last.unwrap().0, 2);
        good.extend_from_slice(b"{\"seq\":3,\"at\":\"2026-");
        let p = valid_prefix(&good);
        assert_eq!(p.len as usize, l1.len() + l2.len() + 2);
        assert_eq!(p.invalid.as_deref(), Some("unterminated last line"));
        let bad_chain = [
            l1.clone(),
            b"\n".to_vec(),
            segment::encode(&e2, GENESIS).unwrap(),
            b"\n".to_vec(),
        ]
        .concat();
        let p = valid_prefix(&bad_chain);
        assert_eq!(p.len as usize, l1.len() + 1);
        assert!(p.invalid.unwrap().contains("hash chain"));
    }
}
