//! The audit log: the long-term, append-only JSON-lines form of the store's audit trail.
//!
//! **One trail.** Every audit event of the product — AS4 events with DIGG's AP-3.4.1 fields
//! (`sdkgw_as4::msh::audit`), every mailbox-API call ([`api_call`]), every state transition
//! of a message record, operator actions, notifications — is appended through
//! [`sdkgw_store::Store::append_audit`], in the same durable transaction as the change it
//! describes. The store's audit tree is the trail's **journal**: the [`Shipper`] moves its
//! events, in sequence order, into JSON-lines files under `<data_dir>/audit/`, which are what
//! retention keeps and what `sdkgw audit search` reads (while the gateway runs: the files are
//! plain files, no lock). An event is always in at least one durable place: it is removed
//! from the journal ([`sdkgw_store::Store::trim_audit`]) only after the file that holds it was
//! fdatasync'ed, so the journal holds only the events not yet shipped (normally none).
//!
//! **Files.** `audit-<first seq, 16 digits>-<UTC time of the first event>.jsonl`, one event per
//! line: the store's [`AuditEvent`] (`seq`, `at` as RFC 3339 UTC with sub-second precision,
//! `actor`, `action`, `message`, `detail`) plus `prev`, the SHA-256 (hex) of the previous line's
//! bytes — across file boundaries — so that altering, removing or reordering a line breaks the
//! chain (`sdkgw audit verify`). A new file starts when the current one reaches
//! `[audit] rotate_bytes` or is older than `rotate_every`.
//!
//! **Durability (fsync policy).** Each shipped batch is written with one `write` of whole
//! lines and `fdatasync`ed before the journal forgets it; a new file's directory entry is
//! fsynced before lines go into it. Nothing is acknowledged on the strength of the file: the
//! acknowledgement (AS4 receipt, HTTP answer) already waited for the journal's group commit.
//!
//! **Crash safety.** A crash can leave a torn or garbage tail in the newest file (bytes
//! written but not synced). Readers never show it: an unterminated last line is skipped, a
//! complete line that is not a valid event is skipped and reported. When the writer opens the
//! log it truncates the newest file after its last valid line (the cut bytes are kept in
//! `audit/torn/` for inspection) and ships those events again from the journal.
//!
//! **Retention.** `store.retention.audit` (default 400 days; `config check` refuses less
//! than 365, DIGG's "minst 12 månader"). A file is deleted once every event in it is older
//! than that (the next file's first event is); the newest file is never deleted.

mod reader;
mod segment;
mod shipper;
mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use sdkgw_store::AuditEvent;
use time::OffsetDateTime;

pub use reader::{Filter, Problem, SearchResult, VerifyReport, search, verify};
pub use shipper::{Observer, ShipReport, Shipper, ship_pending};
pub use writer::{Repair, Writer};

/// Name of the audit directory inside the data directory.
pub const DIR_NAME: &str = "audit";

/// Where the log lives and how it rotates and expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// The directory (default `<data_dir>/audit`).
    pub dir: PathBuf,
    /// Start a new file when the current one reaches this size (default 64 MiB).
    pub rotate_bytes: u64,
    /// ... or when its first event is this old (default 1 day).
    pub rotate_every: Duration,
    /// Delete files whose events are all older than this (`store.retention.audit`).
    pub retention: Duration,
}

/// Shortest retention accepted (DIGG: AP event logs at least 12 months).
pub const MIN_RETENTION: Duration = Duration::from_secs(365 * 86_400);

impl LogSettings {
    /// Defaults for a data directory.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join(DIR_NAME),
            rotate_bytes: 64 * 1024 * 1024,
            rotate_every: Duration::from_secs(86_400),
            retention: Duration::from_secs(400 * 86_400),
        }
    }
}

/// Audit log failures.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file operation failed.
    #[error("audit log: cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// An event could not be encoded.
    #[error("audit log: cannot encode event {seq}: {reason}")]
    Encode { seq: u64, reason: String },
    /// The journal (store) failed.
    #[error("audit journal: {0}")]
    Store(#[from] sdkgw_store::StoreError),
    /// Retention below the minimum.
    #[error("audit retention of {days} days is below the 365 days DIGG requires")]
    RetentionTooShort { days: u64 },
}

impl AuditError {
    pub(crate) fn io(op: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The outcome of one mailbox-API call, as recorded in the trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiOutcome {
    /// The call did what was asked.
    Ok,
    /// Refused: authentication or authorisation (401/403), the security events of ISM 7.10.2.
    Denied,
    /// Refused: the request was invalid or named nothing we have (4xx).
    Rejected,
    /// We failed (5xx).
    Failed,
}

impl ApiOutcome {
    /// The outcome of an HTTP status.
    pub fn of_status(status: u16) -> Self {
        match status {
            200..=399 => Self::Ok,
            401 | 403 => Self::Denied,
            400..=499 => Self::Rejected,
            _ => Self::Failed,
        }
    }
    /// `ok`, `denied`, `rejected`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Denied => "denied",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
        }
    }
}

/// One mailbox-API call for the trail (MT–MK §4.3 "Audit": who, what, when, result).
#[derive(Debug, Clone)]
pub struct ApiCall<'a> {
    pub at: OffsetDateTime,
    /// The client (`azp` / client id, or the mTLS client's mapped name); `anonymous` when
    /// authentication failed before a client was known.
    pub client: &'a str,
    /// The operation, e.g. `messages.create`, `messages.get`, `messages.list`,
    /// `messages.delete`, `token`.
    pub operation: &'a str,
    /// The mailbox concerned (`MailboxId` text form), if any.
    pub mailbox: Option<&'a str>,
    /// The message id (`messageId`) concerned, if any.
    pub message_id: Option<&'a str>,
    /// The HTTP status answered.
    pub status: u16,
    /// Problem type or short reason for refusals (never tokens, secrets or content).
    pub reason: Option<&'a str>,
    /// Correlation id of the request (`X-Request-ID` / `traceparent`).
    pub request_id: Option<&'a str>,
}

/// The audit event of a mailbox-API call: action `api.<operation>`, actor = the client,
/// detail `client`, `mailbox`, `message_id`, `status`, `outcome`, `reason`, `request_id`.
pub fn api_call(call: &ApiCall<'_>) -> AuditEvent {
    let outcome = ApiOutcome::of_status(call.status);
    let actor = if call.client.is_empty() {
        "anonymous"
    } else {
        call.client
    };
    let mut e = AuditEvent::new(call.at, actor, &format!("api.{}", call.operation))
        .with("client", actor)
        .with("status", call.status)
        .with("outcome", outcome.as_str());
    for (key, value) in [
        ("mailbox", call.mailbox),
        ("message_id", call.message_id),
        ("reason", call.reason),
        ("request_id", call.request_id),
    ] {
        if let Some(v) = value {
            e = e.with(key, v);
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_call_events_carry_client_mailbox_message_and_outcome() {
        let at = time::macros::datetime!(2026-12-02 10:00:00.123 UTC);
        let e = api_call(&ApiCall {
            at,
            client: "sakra-meddelanden",
            operation: "messages.get",
            mailbox: Some("0203:kommun.example.se/registrator"),
            message_id: Some("8b3c…"),
            status: 403,
            reason: Some("mailbox not granted"),
            request_id: None,
        });
        assert_eq!(e.action, "api.messages.get");
        assert_eq!(e.actor, "sakra-meddelanden");
        assert_eq!(e.detail["outcome"], "denied");
        assert_eq!(e.detail["mailbox"], "0203:kommun.example.se/registrator");
        assert_eq!(e.detail["status"], 403);
        assert!(!e.detail.contains_key("request_id"));
        let anon = api_call(&ApiCall {
            client: "",
            status: 401,
            ..ApiCall {
                at,
                client: "",
                operation: "token",
                mailbox: None,
                message_id: None,
                status: 0,
                reason: None,
                request_id: None,
            }
        });
        assert_eq!(anon.actor, "anonymous");
        assert_eq!(ApiOutcome::of_status(201), ApiOutcome::Ok);
        assert_eq!(ApiOutcome::of_status(404), ApiOutcome::Rejected);
        assert_eq!(ApiOutcome::of_status(503), ApiOutcome::Failed);
    }
}
