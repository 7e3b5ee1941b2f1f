//! Reading the log: `sdkgw audit search` and `sdkgw audit verify`. Readers need no lock and
//! run while the gateway writes: an unterminated last line is a write in progress (or a torn
//! tail) and is skipped; a complete line that is not a valid event is skipped and reported.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sdkgw_store::{AuditEvent, MessageKey};
use serde::Serialize;
use time::OffsetDateTime;

use super::AuditError;
use super::segment::{self, Segment};

/// Longest line read; longer ones are reported and skipped (a hostile or damaged file must
/// not make a search allocate without bound).
const MAX_LINE: usize = 4 * 1024 * 1024;

/// Files are pruned by the time in their names only with this margin, so a clock step
/// backwards around a rotation cannot hide events.
const PRUNE_MARGIN: time::Duration = time::Duration::hours(1);

/// What `sdkgw audit search` asks for; all given conditions must hold.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Events at or after.
    pub since: Option<OffsetDateTime>,
    /// Events before.
    pub until: Option<OffsetDateTime>,
    /// A message key, XHE id, AS4 MessageId, ConversationId, receipt id or API `messageId`:
    /// events that carry it, and every event of the message records they name.
    pub message: Option<String>,
    /// A mailbox (`0203:org/function` or the bare function address): events that name it, and
    /// every event of the message records they name.
    pub mailbox: Option<String>,
    /// An organisation (`0203:…`): events naming it as `participant`, `sender_participant` or
    /// `recipient_participant`, and every event of the message records they name — one
    /// participant's extract (GRR 3.3.a, ISM 6.6.2).
    pub participant: Option<String>,
    /// Action, or an action prefix ending at a dot boundary (`as4.inbound` matches
    /// `as4.inbound.accepted`).
    pub event: Option<String>,
    /// At most this many events (0 = unlimited).
    pub limit: usize,
}

/// A line that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line number.
    pub line: u64,
    pub reason: String,
}

/// What a search found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SearchResult {
    pub events: Vec<AuditEvent>,
    /// Complete lines that are not valid events (skipped).
    pub problems: Vec<Problem>,
    /// Whether the newest file ended in an unterminated line (a write in progress or a torn
    /// tail the writer will cut; skipped).
    pub incomplete_tail: bool,
    /// Whether `limit` cut the result.
    pub truncated: bool,
}

fn action_matches(action: &str, wanted: &str) -> bool {
    action == wanted
        || action
            .strip_prefix(wanted)
            .is_some_and(|rest| rest.starts_with('.'))
}

fn has_value(event: &AuditEvent, id: &str) -> bool {
    event.detail.values().any(|v| v.as_str() == Some(id))
}

const PARTICIPANT_KEYS: [&str; 3] = ["participant", "sender_participant", "recipient_participant"];

fn participant_matches(event: &AuditEvent, wanted: &str) -> bool {
    PARTICIPANT_KEYS.iter().any(|k| {
        event
            .detail
            .get(*k)
            .and_then(|v| v.as_str())
            .is_some_and(|v| v.eq_ignore_ascii_case(wanted))
    })
}

fn mailbox_matches(event: &AuditEvent, wanted: &str) -> bool {
    let Some(mb) = event.detail.get("mailbox").and_then(|v| v.as_str()) else {
        return false;
    };
    mb == wanted || mb.split_once('/').is_some_and(|(_, fa)| fa == wanted)
}

/// Calls `each` for every valid event of the log in order; collects problems.
fn scan(
    dir: &Path,
    since: Option<OffsetDateTime>,
    result: &mut SearchResult,
    mut each: impl FnMut(AuditEvent) -> bool,
) -> Result<(), AuditError> {
    let segments = segment::list(dir)?;
    let newest = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        let next_start = segments.get(i + 1).map(|s| s.started);
        if let (Some(since), Some(next)) = (since, next_start)
            && next + PRUNE_MARGIN < since
        {
            continue;
        }
        if !scan_file(seg, i == newest, result, &mut each)? {
            return Ok(());
        }
    }
    Ok(())
}

/// Reads one line of at most [`MAX_LINE`] bytes; `Ok(None)` at EOF. A longer line is
/// consumed and returned as `Err(len)`.
fn next_line(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Result<bool, usize>>> {
    buf.clear();
    let mut total = 0usize;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(if total == 0 {
                None
            } else if total > MAX_LINE {
                Some(Err(total))
            } else {
                Some(Ok(false))
            });
        }
        let (take, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(p) => (p + 1, true),
            None => (chunk.len(), false),
        };
        if total + take <= MAX_LINE + 1 {
            buf.extend_from_slice(&chunk[..take]);
        }
        total += take;
        r.consume(take);
        if done {
            if total > MAX_LINE + 1 {
                return Ok(Some(Err(total)));
            }
            buf.pop();
            return Ok(Some(Ok(true)));
        }
    }
}

fn scan_file(
    seg: &Segment,
    newest: bool,
    result: &mut SearchResult,
    each: &mut impl FnMut(AuditEvent) -> bool,
) -> Result<bool, AuditError> {
    let file = match File::open(&seg.path) {
        Ok(f) => f,
        // Expired by the writer while we listed: nothing to read.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(AuditError::io("open", &seg.path, e)),
    };
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut buf = Vec::new();
    let mut number = 0u64;
    let problem = |line: u64, reason: String| Problem {
        file: seg.path.clone(),
        line,
        reason,
    };
    while let Some(line) =
        next_line(&mut reader, &mut buf).map_err(|e| AuditError::io("read", &seg.path, e))?
    {
        number += 1;
        match line {
            Err(len) => result
                .problems
                .push(problem(number, format!("line of {len} bytes is too long"))),
            Ok(false) if newest => result.incomplete_tail = true,
            Ok(false) => result
                .problems
                .push(problem(number, "unterminated line in a closed file".into())),
            Ok(true) => match segment::decode(&buf) {
                Ok(l) => {
                    if !each(l.event) {
                        return Ok(false);
                    }
                }
                Err(e) => result
                    .problems
                    .push(problem(number, format!("not a valid event: {e}"))),
            },
        }
    }
    Ok(true)
}

/// Searches the log in `dir`.
pub fn search(dir: &Path, filter: &Filter) -> Result<SearchResult, AuditError> {
    let in_time = |e: &AuditEvent| {
        filter.since.is_none_or(|s| e.at >= s) && filter.until.is_none_or(|u| e.at < u)
    };
    let direct_message = filter
        .message
        .as_deref()
        .and_then(|m| MessageKey::from_str(m).ok());
    // Pass 1: the records that an id or mailbox names (their other events match too).
    let mut keys_by_id: HashSet<MessageKey> = direct_message.into_iter().collect();
    let mut keys_by_mailbox: HashSet<MessageKey> = HashSet::new();
    let mut keys_by_participant: HashSet<MessageKey> = HashSet::new();
    if filter.message.is_some() || filter.mailbox.is_some() || filter.participant.is_some() {
        let mut pass = SearchResult::default();
        scan(dir, None, &mut pass, |e| {
            if let (Some(id), Some(key)) = (&filter.message, e.message)
                && has_value(&e, id)
            {
                keys_by_id.insert(key);
            }
            if let (Some(mb), Some(key)) = (&filter.mailbox, e.message)
                && mailbox_matches(&e, mb)
            {
                keys_by_mailbox.insert(key);
            }
            if let (Some(p), Some(key)) = (&filter.participant, e.message)
                && participant_matches(&e, p)
            {
                keys_by_participant.insert(key);
            }
            true
        })?;
    }
    let mut result = SearchResult::default();
    let mut events = Vec::new();
    let mut truncated = false;
    scan(dir, filter.since, &mut result, |e| {
        let of = |keys: &HashSet<MessageKey>| e.message.is_some_and(|k| keys.contains(&k));
        let ok = in_time(&e)
            && filter
                .event
                .as_deref()
                .is_none_or(|w| action_matches(&e.action, w))
            && filter
                .message
                .as_deref()
                .is_none_or(|id| has_value(&e, id) || of(&keys_by_id))
            && filter
                .mailbox
                .as_deref()
                .is_none_or(|mb| mailbox_matches(&e, mb) || of(&keys_by_mailbox))
            && filter
                .participant
                .as_deref()
                .is_none_or(|p| participant_matches(&e, p) || of(&keys_by_participant));
        if ok {
            if filter.limit > 0 && events.len() >= filter.limit {
                truncated = true;
                return false;
            }
            events.push(e);
        }
        true
    })?;
    result.events = events;
    result.truncated = truncated;
    Ok(result)
}

/// What `sdkgw audit verify` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub files: u64,
    pub events: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// Broken links, invalid lines, out-of-order seqs. Empty = the chain is intact from the
    /// oldest file kept to the newest line.
    pub problems: Vec<Problem>,
    pub incomplete_tail: bool,
}

/// Checks the hash chain and the order of every line.
pub fn verify(dir: &Path) -> Result<VerifyReport, AuditError> {
    let segments = segment::list(dir)?;
    let mut report = VerifyReport {
        files: segments.len() as u64,
        ..VerifyReport::default()
    };
    let mut prev: Option<(u64, String)> = None;
    let newest = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        let file = File::open(&seg.path).map_err(|e| AuditError::io("open", &seg.path, e))?;
        let mut reader = BufReader::new(file);
        let mut buf = Vec::new();
        let mut number = 0u64;
        while let Some(line) =
            next_line(&mut reader, &mut buf).map_err(|e| AuditError::io("read", &seg.path, e))?
        {
            number += 1;
            let mut problem = |reason: String| {
                report.problems.push(Problem {
                    file: seg.path.clone(),
                    line: number,
                    reason,
                });
            };
            match line {
                Err(len) => problem(format!("line of {len} bytes is too long")),
                Ok(false) if i == newest => report.incomplete_tail = true,
                Ok(false) => problem("unterminated line in a closed file".into()),
                Ok(true) => match segment::decode(&buf) {
                    Err(e) => problem(format!("not a valid event: {e}")),
                    Ok(l) => {
                        if let Some((seq, hash)) = &prev {
                            if l.event.seq <= *seq {
                                problem(format!("seq {} after {seq}", l.event.seq));
                            }
                            if &l.prev != hash {
                                problem(format!(
                                    "seq {}: prev does not match the line before (altered, \
                                     removed or inserted lines)",
                                    l.event.seq
                                ));
                            }
                        }
                        report.first_seq.get_or_insert(l.event.seq);
                        report.last_seq = Some(l.event.seq);
                        report.events += 1;
                        prev = Some((l.event.seq, segment::line_hash(&buf)));
                    }
                },
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_match_exactly_or_by_dotted_prefix() {
        assert!(action_matches("as4.inbound.accepted", "as4.inbound"));
        assert!(action_matches("as4.inbound", "as4.inbound"));
        assert!(!action_matches("as4.inboundx", "as4.inbound"));
        assert!(!action_matches("as4.outbound.failed", "as4.inbound"));
    }

    #[test]
    fn long_lines_are_consumed_without_being_kept() {
        let mut data = vec![b'x'; MAX_LINE + 10];
        data.push(b'\n');
        data.extend_from_slice(b"ok\npartial");
        let mut r = std::io::Cursor::new(data);
        let mut buf = Vec::new();
        assert_eq!(
            next_line(&mut r, &mut buf).unwrap(),
            Some(Err(MAX_LINE + 11))
        );
        assert!(buf.len() <= MAX_LINE + 1);
        assert_eq!(next_line(&mut r, &mut buf).unwrap(), Some(Ok(true)));
        assert_eq!(buf, b"ok");
        assert_eq!(next_line(&mut r, &mut buf).unwrap(), Some(Ok(false)));
        assert_eq!(next_line(&mut r, &mut buf).unwrap(), None);
    }
}
