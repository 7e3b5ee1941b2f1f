//! Audit files ("segments"): names, listing, and the line format with its hash chain.

use std::path::{Path, PathBuf};

use sdkgw_store::AuditEvent;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;

use super::AuditError;

/// `prev` of the very first line of a log.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One file of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    pub path: PathBuf,
    /// Seq of its first event (from the name).
    pub first_seq: u64,
    /// Time of its first event (from the name, whole seconds).
    pub started: OffsetDateTime,
}

const STAMP: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

impl Segment {
    pub(crate) fn name_for(first_seq: u64, started: OffsetDateTime) -> String {
        let stamp = started
            .to_offset(time::UtcOffset::UTC)
            .format(STAMP)
            .unwrap_or_else(|_| "00000000T000000Z".into());
        format!("audit-{first_seq:016}-{stamp}.jsonl")
    }

    fn parse(path: PathBuf) -> Option<Self> {
        let name = path.file_name()?.to_str()?;
        let rest = name.strip_prefix("audit-")?.strip_suffix(".jsonl")?;
        let (seq, stamp) = rest.split_once('-')?;
        if seq.len() != 16 {
            return None;
        }
        let first_seq = seq.parse().ok()?;
        let started = time::PrimitiveDateTime::parse(stamp, STAMP)
            .ok()?
            .assume_utc();
        Some(Self {
            path,
            first_seq,
            started,
        })
    }
}

/// The log's files in sequence order (other files in the directory are ignored).
pub(crate) fn list(dir: &Path) -> Result<Vec<Segment>, AuditError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(AuditError::io("list", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| AuditError::io("list", dir, e))?;
        if let Some(s) = Segment::parse(entry.path()) {
            out.push(s);
        }
    }
    out.sort_by_key(|s| s.first_seq);
    Ok(out)
}

/// A line of the log: the event and the hash of the line before it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Line {
    #[serde(flatten)]
    pub event: AuditEvent,
    pub prev: String,
}

/// SHA-256 (hex) of a line's bytes (without the newline).
pub(crate) fn line_hash(line: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, line);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Encodes an event as one line (without the newline).
pub(crate) fn encode(event: &AuditEvent, prev: &str) -> Result<Vec<u8>, AuditError> {
    let line = Line {
        event: event.clone(),
        prev: prev.to_owned(),
    };
    serde_json::to_vec(&line).map_err(|e| AuditError::Encode {
        seq: event.seq,
        reason: e.to_string(),
    })
}

/// Decodes one line (without the newline).
pub(crate) fn decode(line: &[u8]) -> Result<Line, String> {
    serde_json::from_slice(line).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_sequence_and_parse_back() {
        let at = time::macros::datetime!(2026-12-02 06:55:01.5 UTC);
        let name = Segment::name_for(42, at);
        assert_eq!(name, "audit-0000000000000042-20261202T065501Z.jsonl");
        let s = Segment::parse(PathBuf::from(&name)).unwrap();
        assert_eq!(s.first_seq, 42);
        assert_eq!(s.started, time::macros::datetime!(2026-12-02 06:55:01 UTC));
        assert!(Segment::parse(PathBuf::from("audit-42-x.jsonl")).is_none());
        assert!(Segment::parse(PathBuf::from("notes.txt")).is_none());
    }

    #[test]
    fn a_line_round_trips_with_its_chain_hash() {
        let at = time::macros::datetime!(2026-12-02 06:55:01.123456 UTC);
        let mut e = AuditEvent::new(at, "as4-receiver", "as4.inbound.accepted")
            .with("as4_message_id", "m1@x");
        e.seq = 7;
        let bytes = encode(&e, GENESIS).unwrap();
        let line = decode(&bytes).unwrap();
        assert_eq!(line.event, e);
        assert_eq!(line.prev, GENESIS);
        assert_eq!(line_hash(&bytes).len(), 64);
        assert!(
            String::from_utf8(bytes)
                .unwrap()
                .contains("06:55:01.123456Z")
        );
    }
}
