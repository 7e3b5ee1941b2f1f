//! What the store keeps: message records with their state machines, blob references,
//! evidence, correlation ids, de-duplication keys and audit events. Plain data, no I/O.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::StoreError;

/// Longest external identifier (AS4 MessageId, XHE id, mailbox, party id) the store accepts.
pub const MAX_ID_LEN: usize = 1024;

/// The store's own key of a message record: 16 random bytes shown as a UUID (version 4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageKey([u8; 16]);

impl MessageKey {
    /// A fresh random key.
    pub fn random() -> Result<Self, StoreError> {
        random16().map(Self)
    }

    /// The key's bytes (index keys use them).
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Rebuilds a key from index bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }
}

impl fmt::Display for MessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_uuid(&self.0, f)
    }
}

impl fmt::Debug for MessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageKey({self})")
    }
}

impl FromStr for MessageKey {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        parse_uuid(s)
            .map(Self)
            .ok_or_else(|| StoreError::Invalid(format!("{s:?} is not a message key (UUID)")))
    }
}

impl Serialize for MessageKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MessageKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Identifier of one stored blob (random, never reused). Blobs belong to exactly one record.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId([u8; 16]);

impl BlobId {
    pub(crate) fn random() -> Result<Self, StoreError> {
        random16().map(Self)
    }
    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
    /// Rebuilds an id from stored bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }
    /// 32 lowercase hex digits (the file name of a file blob).
    pub fn hex(&self) -> String {
        hex(&self.0)
    }
    /// Parses [`BlobId::hex`] output.
    pub fn from_hex(s: &str) -> Option<Self> {
        unhex(s).and_then(|v| Self::from_slice(&v))
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobId({})", self.hex())
    }
}

impl Serialize for BlobId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BlobId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_hex(&s).ok_or_else(|| serde::de::Error::custom("bad blob id"))
    }
}

/// Where a blob's bytes live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlobLocation {
    /// In the database, committed atomically with the record that references it.
    Inline,
    /// In its own file under `blobs/`, fsynced before the referencing record was written.
    File,
}

/// A reference to stored bytes: id, SHA-256 and length, checked on every read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    pub id: BlobId,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
    pub len: u64,
    pub location: BlobLocation,
}

/// Direction of a message relative to this gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    /// The state a new record of this direction starts in.
    pub fn initial_state(self) -> MessageState {
        match self {
            Self::Inbound => MessageState::Received,
            Self::Outbound => MessageState::Accepted,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every state of both state machines (names are unique across directions). The edges
/// ([`MessageState::can_become`]) are exactly:
///
/// ```text
/// OUTBOUND
/// accepted      -> sealed | failed
/// sealed        -> scheduled | failed
/// scheduled     -> sending | dead-lettered | failed
/// sending       -> delivered | scheduled (retry) | failed (eb:Error) | dead-lettered (exhausted)
/// delivered     -> recipient-accepted | recipient-rejected | failed (no Meddelandekvittens)
/// dead-lettered -> scheduled (operator requeue) | failed (operator purge)
/// failed        -> scheduled (operator retry; only while the sealed content exists)
///
/// INBOUND
/// received      -> verified | rejected
/// verified      -> filed | rejected
/// filed         -> fetched | deleted
/// fetched       -> deleted
/// ```
///
/// Final: `recipient-accepted`, `recipient-rejected`, `failed`, `deleted`, `rejected`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MessageState {
    // outbound
    /// Taken from the internal service through the mailbox API (HTTP 201 after this is durable).
    Accepted,
    /// XHE built, encrypted and signed; the sealed bytes are stored.
    Sealed,
    /// Waiting in the due queue for its next delivery attempt.
    Scheduled,
    /// A delivery worker is sending it now.
    Sending,
    /// A valid AS4 Receipt arrived (stored as evidence).
    Delivered,
    /// The recipient's Meddelandekvittens said ACCEPTED.
    RecipientAccepted,
    /// The recipient's Meddelandekvittens said REJECTED.
    RecipientRejected,
    /// Delivery failed for good (validation, eb:Error failure, receipt timeout, purge).
    Failed,
    /// Retries exhausted or parked by an operator; waits for requeue or purge.
    DeadLettered,
    // inbound
    /// Persisted from AS4; the AS4 Receipt is sent only after this is durable.
    Received,
    /// XHE and O2O signature verified, content decrypted.
    Verified,
    /// Filed in its function mailbox; visible to the internal service.
    Filed,
    /// Read by the internal service.
    Fetched,
    /// Deleted (acknowledged) by the internal service.
    Deleted,
    /// Rejected after reception (invalid envelope, signature, not served, ...).
    Rejected,
}

impl MessageState {
    /// All states, outbound first.
    pub const ALL: [Self; 15] = [
        Self::Accepted,
        Self::Sealed,
        Self::Scheduled,
        Self::Sending,
        Self::Delivered,
        Self::RecipientAccepted,
        Self::RecipientRejected,
        Self::Failed,
        Self::DeadLettered,
        Self::Received,
        Self::Verified,
        Self::Filed,
        Self::Fetched,
        Self::Deleted,
        Self::Rejected,
    ];

    /// The direction whose state machine this state belongs to.
    pub fn direction(self) -> Direction {
        match self {
            Self::Accepted
            | Self::Sealed
            | Self::Scheduled
            | Self::Sending
            | Self::Delivered
            | Self::RecipientAccepted
            | Self::RecipientRejected
            | Self::Failed
            | Self::DeadLettered => Direction::Outbound,
            _ => Direction::Inbound,
        }
    }

    /// Final states: the message's flow is finished (retention clocks start here).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::RecipientAccepted
                | Self::RecipientRejected
                | Self::Failed
                | Self::Deleted
                | Self::Rejected
        )
    }

    /// Whether `self -> to` is an edge of the state machine.
    pub fn can_become(self, to: Self) -> bool {
        use MessageState::*;
        matches!(
            (self, to),
            (Accepted, Sealed | Failed)
                | (Sealed, Scheduled | Failed)
                | (Scheduled, Sending | DeadLettered | Failed)
                | (Sending, Delivered | Scheduled | Failed | DeadLettered)
                | (Delivered, RecipientAccepted | RecipientRejected | Failed)
                | (DeadLettered, Scheduled | Failed)
                | (Failed, Scheduled)
                | (Received, Verified | Rejected)
                | (Verified, Filed | Rejected)
                | (Filed, Fetched | Deleted)
                | (Fetched, Deleted)
        )
    }

    /// Stable one-byte code used in index keys (never renumber: it is on disk).
    pub fn code(self) -> u8 {
        match self {
            Self::Accepted => 1,
            Self::Sealed => 2,
            Self::Scheduled => 3,
            Self::Sending => 4,
            Self::Delivered => 5,
            Self::RecipientAccepted => 6,
            Self::RecipientRejected => 7,
            Self::Failed => 8,
            Self::DeadLettered => 9,
            Self::Received => 20,
            Self::Verified => 21,
            Self::Filed => 22,
            Self::Fetched => 23,
            Self::Deleted => 24,
            Self::Rejected => 25,
        }
    }

    /// Inverse of [`MessageState::code`].
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The kebab-case name used on the CLI, in JSON and in the docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Sealed => "sealed",
            Self::Scheduled => "scheduled",
            Self::Sending => "sending",
            Self::Delivered => "delivered",
            Self::RecipientAccepted => "recipient-accepted",
            Self::RecipientRejected => "recipient-rejected",
            Self::Failed => "failed",
            Self::DeadLettered => "dead-lettered",
            Self::Received => "received",
            Self::Verified => "verified",
            Self::Filed => "filed",
            Self::Fetched => "fetched",
            Self::Deleted => "deleted",
            Self::Rejected => "rejected",
        }
    }
}

impl fmt::Display for MessageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MessageState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|s| s.as_str()).collect();
                StoreError::Invalid(format!(
                    "unknown state {s:?}; states are {}",
                    names.join(", ")
                ))
            })
    }
}

/// One entry of a record's state history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    /// `None` for the creation entry.
    pub from: Option<MessageState>,
    pub to: MessageState,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who made the change: a pipeline (`as4-receiver`, `delivery-worker`) or `operator:NAME`.
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The correlation ids of a message (SAD 5.3.7: XHE id ↔ AS4 MessageId ↔ ConversationId ↔ receipt).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correlation {
    /// XHE `/Header/ID` (= M.MessageId, the API's `messageId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xhe_id: Option<String>,
    /// AS4 `eb:MessageId` of the UserMessage (T.MessageId; reused on retries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as4_message_id: Option<String>,
    /// AS4 `eb:ConversationId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Id of the receipt that settled this message: the AS4 Receipt signal's MessageId, or the
    /// Meddelandekvittens XHE id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_id: Option<String>,
}

/// Which correlation index an id belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdKind {
    XheId,
    As4MessageId,
    ConversationId,
    ReceiptId,
}

impl IdKind {
    pub const ALL: [Self; 4] = [
        Self::XheId,
        Self::As4MessageId,
        Self::ConversationId,
        Self::ReceiptId,
    ];
    pub(crate) fn code(self) -> u8 {
        match self {
            Self::XheId => b'x',
            Self::As4MessageId => b'a',
            Self::ConversationId => b'c',
            Self::ReceiptId => b'r',
        }
    }
}

impl Correlation {
    /// The ids that are set, with their kind.
    pub fn ids(&self) -> Vec<(IdKind, &str)> {
        let fields = [
            (IdKind::XheId, &self.xhe_id),
            (IdKind::As4MessageId, &self.as4_message_id),
            (IdKind::ConversationId, &self.conversation_id),
            (IdKind::ReceiptId, &self.receipt_id),
        ];
        fields
            .into_iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
            .collect()
    }

    /// Copies every id that `other` sets over this one.
    pub fn merge(&mut self, other: &Correlation) {
        for (mine, theirs) in [
            (&mut self.xhe_id, &other.xhe_id),
            (&mut self.as4_message_id, &other.as4_message_id),
            (&mut self.conversation_id, &other.conversation_id),
            (&mut self.receipt_id, &other.receipt_id),
        ] {
            if theirs.is_some() {
                mine.clone_from(theirs);
            }
        }
    }
}

/// Message content (payload, sealed XHE, the exact AS4 bytes sent, ...). Deleted by retention.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// What this content is, chosen by the writer (e.g. `xhe`, `sealed-xhe`, `as4-sent`).
    pub role: String,
    pub blob: BlobRef,
}

/// Evidence kept with the message as long as its metadata (raw signed AS4 signals, receipts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// e.g. `as4-receipt`, `as4-error-signal`, `as4-signed-header`, `meddelandekvittens`.
    pub kind: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub blob: BlobRef,
}

/// A message record: metadata, state, history, correlation, references to content and evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub key: MessageKey,
    pub direction: Direction,
    pub state: MessageState,
    /// Function address (funktionsadress) of the mailbox the message belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_type: Option<String>,
    pub correlation: Correlation,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the record entered its current state.
    #[serde(with = "time::serde::rfc3339")]
    pub state_since: OffsetDateTime,
    pub history: Vec<StateChange>,
    /// Number of delivery attempts started (transitions into `sending`).
    pub attempts: u32,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub content: Vec<Attachment>,
    pub evidence: Vec<Evidence>,
    /// Set when retention (or a purge) deleted the content; metadata and evidence remain.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub content_deleted_at: Option<OffsetDateTime>,
}

impl MessageRecord {
    /// Whether this record ever reached `state`.
    pub fn has_been(&self, state: MessageState) -> bool {
        self.history.iter().any(|h| h.to == state)
    }
    /// The content attachment with this role.
    pub fn content(&self, role: &str) -> Option<&BlobRef> {
        self.content
            .iter()
            .find(|a| a.role == role)
            .map(|a| &a.blob)
    }
    /// All blobs this record references (content and evidence).
    pub fn blobs(&self) -> impl Iterator<Item = &BlobRef> {
        self.content
            .iter()
            .map(|a| &a.blob)
            .chain(self.evidence.iter().map(|e| &e.blob))
    }
}

/// AS4 duplicate-detection key: the sending party and the UserMessage's `eb:MessageId`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedupKey {
    pub from_party: String,
    pub as4_message_id: String,
    /// The entry is kept until then (≥ the sender's full retry period).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Outcome of [`crate::Store::create_message`].
#[derive(Debug)]
pub enum Created {
    /// The record was stored (durably) and is returned.
    New(Box<MessageRecord>),
    /// The de-dup key was already present: nothing was stored; this is the first copy.
    Duplicate { existing: MessageKey },
}

/// Summary row for listings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageSummary {
    pub key: MessageKey,
    pub direction: Direction,
    pub state: MessageState,
    #[serde(with = "time::serde::rfc3339")]
    pub state_since: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xhe_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as4_message_id: Option<String>,
    pub attempts: u32,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl From<&MessageRecord> for MessageSummary {
    fn from(r: &MessageRecord) -> Self {
        Self {
            key: r.key,
            direction: r.direction,
            state: r.state,
            state_since: r.state_since,
            mailbox: r.mailbox.clone(),
            xhe_id: r.correlation.xhe_id.clone(),
            as4_message_id: r.correlation.as4_message_id.clone(),
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error.clone(),
        }
    }
}

/// Filter of [`crate::Store::list_messages`]. Results are ordered by the time the record
/// entered its current state (or by creation time when no state is given), oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<MessageState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    /// At most this many rows (0 = the default of 1000).
    #[serde(default)]
    pub limit: usize,
}

/// Counts per state plus the due queue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// Records per state (states with zero records are listed too).
    pub by_state: Vec<(MessageState, u64)>,
    /// Scheduled messages whose next attempt is due at the time asked.
    pub due_now: u64,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub oldest_due: Option<OffsetDateTime>,
    pub dead_letters: u64,
    pub dedup_entries: u64,
    pub audit_entries: u64,
}

/// One entry of the append-only audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Position in the trail (assigned by the store; increasing).
    #[serde(default)]
    pub seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    /// What happened, e.g. `message.transition`, `operator.requeue`, `store.gc`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageKey>,
    /// Free-form fields (AS4 event fields of AP-3.4.1, reasons, counts).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub detail: serde_json::Map<String, serde_json::Value>,
}

impl AuditEvent {
    /// A new event; `seq` is assigned when appended.
    pub fn new(at: OffsetDateTime, actor: &str, action: &str) -> Self {
        Self {
            seq: 0,
            at,
            actor: actor.to_owned(),
            action: action.to_owned(),
            message: None,
            detail: serde_json::Map::new(),
        }
    }
    /// Adds one detail field.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.detail.insert(key.to_owned(), value.into());
        self
    }
    /// Links the event to a message.
    pub fn for_message(mut self, key: MessageKey) -> Self {
        self.message = Some(key);
        self
    }
}

/// Checks an external identifier before it becomes part of an index key.
pub(crate) fn check_id(what: &str, id: &str) -> Result<(), StoreError> {
    if id.is_empty() || id.len() > MAX_ID_LEN || id.contains('\0') {
        return Err(StoreError::Invalid(format!(
            "{what} must be 1..={MAX_ID_LEN} bytes without NUL"
        )));
    }
    Ok(())
}

fn random16() -> Result<[u8; 16], StoreError> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b)
        .map_err(|_| StoreError::Invalid("system random generator failed".into()))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(b)
}

fn fmt_uuid(b: &[u8; 16], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let h = hex(b);
    write!(
        f,
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    if s.len() != 36 {
        return None;
    }
    let compact: String = s.chars().filter(|c| *c != '-').collect();
    if compact.len() != 32 || [8, 13, 18, 23].iter().any(|&i| s.as_bytes()[i] != b'-') {
        return None;
    }
    unhex(&compact).and_then(|v| v.try_into().ok())
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_key_round_trips_through_its_uuid_text() {
        let k = MessageKey::random().unwrap();
        let s = k.to_string();
        assert_eq!(s.len(), 36);
        assert_eq!(s.parse::<MessageKey>().unwrap(), k);
        assert!("not-a-key".parse::<MessageKey>().is_err());
    }

    #[test]
    fn state_names_and_codes_are_unique_and_round_trip() {
        for s in MessageState::ALL {
            assert_eq!(s.as_str().parse::<MessageState>().unwrap(), s);
            assert_eq!(MessageState::from_code(s.code()), Some(s));
        }
        let mut codes: Vec<u8> = MessageState::ALL.iter().map(|s| s.code()).collect();
        codes.dedup();
        assert_eq!(codes.len(), MessageState::ALL.len());
    }

    #[test]
    fn transitions_never_cross_directions_and_final_inbound_states_are_terminal() {
        for a in MessageState::ALL {
            for b in MessageState::ALL {
                if a.can_become(b) {
                    assert_eq!(a.direction(), b.direction(), "{a} -> {b}");
                }
            }
        }
        for s in [MessageState::Deleted, MessageState::Rejected] {
            assert!(MessageState::ALL.iter().all(|t| !s.can_become(*t)));
        }
    }

    #[test]
    fn documented_outbound_path_is_legal_and_skipping_is_not() {
        use MessageState::*;
        let path = [
            Accepted,
            Sealed,
            Scheduled,
            Sending,
            Delivered,
            RecipientAccepted,
        ];
        assert!(path.windows(2).all(|w| w[0].can_become(w[1])));
        assert!(!Accepted.can_become(Sending));
        assert!(!Delivered.can_become(Sending));
        assert!(!RecipientAccepted.can_become(Scheduled));
    }
}
