//! Notifications to function mailboxes: on a new inbound message and on an outbound delivery
//! that failed for good, by webhook (JSON, HMAC-signed, [`webhook`]) and/or e-mail (SMTP,
//! [`smtp`]), as each mailbox's settings in the [`crate::mailbox::Registry`] say.
//!
//! **No content, ever.** A notification carries ids, the mailbox, the status and times only:
//! never subject, text, attachments or file names of a message (MT–MK: staff are told "there
//! is something", and read it through the service).
//!
//! **Nothing lost.** [`Notifier::message_filed`] / [`Notifier::delivery_failed`] write one
//! queue entry per channel into the store (keyspace `notify.queue`) and return once it is
//! durable; the worker ([`Notifier::run`]) sends due entries and removes an entry only after
//! the receiver accepted it (webhook 2xx, SMTP 250 after DATA). Failures are retried with
//! exponential backoff (`[notifications]`) across restarts; after `max_attempts` the entry is
//! dropped with a `notify.failed` audit event. Delivery is at least once: a crash between
//! sending and removing repeats a notification with the same id (`X-Sdkgw-Delivery`).
//!
//! The pipelines call:
//!
//! ```ignore
//! notifier.message_filed(&MessageFiled { mailbox, message_key, message_id, sender, at })?;
//! notifier.delivery_failed(&DeliveryFailed { mailbox, message_key, message_id, recipient,
//!     status: "MESSAGE_EXCHANGE_ERROR", reason_code: Some("EBMS:0301"), at })?;
//! ```

pub mod smtp;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use sdkgw_http::HttpsClient;
use sdkgw_schemas::{FunctionAddress, ParticipantId};
use sdkgw_store::{AuditEvent, Keyspace, MessageKey, Store, StoreError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::mailbox::{Event, MailboxError, Registry};
use crate::metrics::Metrics;

pub use smtp::{SmtpAuth, SmtpSettings, SmtpTls};

/// Keyspace of the queue.
pub const KEYSPACE: &str = "notify.queue";
/// Entries the worker takes per round.
const BATCH: usize = 32;
/// Longest pause of the worker between looks at the queue.
const IDLE: Duration = Duration::from_secs(1);

/// Retry policy and channels (`[notifications]`).
#[derive(Debug, Clone)]
pub struct NotifySettings {
    pub max_attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    /// HTTPS client for webhooks (its TLS config holds the trusted CAs).
    pub webhook: HttpsClient,
    /// The mail relay; without it e-mail notifications wait in the queue (and are reported).
    pub smtp: Option<SmtpSettings>,
}

/// Why a notification could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("notification queue: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mailbox(#[from] MailboxError),
    #[error("notification: {0}")]
    Encode(String),
}

/// A new inbound message was filed (call after the filing is durable).
#[derive(Debug, Clone)]
pub struct MessageFiled<'a> {
    pub mailbox: &'a FunctionAddress,
    pub message_key: MessageKey,
    /// The message's id as the API shows it (`messageId` = XHE id).
    pub message_id: &'a str,
    /// The sending organisation.
    pub sender: &'a ParticipantId,
    pub at: OffsetDateTime,
}

/// An outbound message from `mailbox` failed for good.
#[derive(Debug, Clone)]
pub struct DeliveryFailed<'a> {
    pub mailbox: &'a FunctionAddress,
    pub message_key: MessageKey,
    pub message_id: &'a str,
    /// The organisation it was for.
    pub recipient: &'a ParticipantId,
    /// The API status now shown (`MESSAGE_EXCHANGE_ERROR`, `REJECTED`).
    pub status: &'a str,
    /// A code, never free text: `EBMS:0301`, a receipt reason (`SV`, `BV`, `SIG`),
    /// `NOT_REGISTERED`.
    pub reason_code: Option<&'a str>,
    pub at: OffsetDateTime,
}

/// The notification as JSON (the webhook body; the e-mail shows the same fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    /// The notification id (the same for its webhook and e-mail, and on every retry).
    pub id: String,
    /// `message.new` or `delivery.failed`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function address.
    pub mailbox: String,
    /// The mailbox's organisation.
    pub participant: String,
    pub message_id: String,
    /// The gateway's record key (for `sdkgw message show`).
    pub message_key: String,
    /// Sender (message.new) or recipient (delivery.failed) organisation.
    pub counterpart: String,
    /// `NEW` or the failed message's API status.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// RFC 3339 UTC.
    pub occurred_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Channel {
    Webhook,
    Email,
}

impl Channel {
    fn label(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Email => "email",
        }
    }
}

/// One queued notification for one channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Item {
    /// Unique per channel (`X-Sdkgw-Delivery`).
    delivery_id: String,
    channel: Channel,
    payload: Payload,
    attempts: u32,
    #[serde(with = "time::serde::rfc3339")]
    due_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
}

impl Item {
    /// Queue key: due time (µs, big-endian) then the delivery id, so scans yield due first.
    fn key(&self) -> Vec<u8> {
        let micros = (self.due_at.unix_timestamp_nanos() / 1000).max(0) as u64;
        let mut k = micros.to_be_bytes().to_vec();
        k.extend_from_slice(self.delivery_id.as_bytes());
        k
    }
}

/// What one worker round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
    pub dropped: u64,
    /// The last failure of the round (also logged).
    pub last_error: Option<String>,
}

/// Queues and sends notifications. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    queue: Arc<dyn Keyspace>,
    settings: NotifySettings,
    metrics: Option<Metrics>,
    wake: tokio::sync::Notify,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").finish_non_exhaustive()
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Notifier {
    pub fn new(
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        settings: NotifySettings,
        metrics: Option<Metrics>,
    ) -> Result<Self, NotifyError> {
        let queue = store.keyspace(KEYSPACE)?;
        let notifier = Self {
            inner: Arc::new(Inner {
                store,
                registry,
                queue,
                settings,
                metrics,
                wake: tokio::sync::Notify::new(),
            }),
        };
        if let Some(m) = &notifier.inner.metrics {
            let n = notifier.clone();
            m.watch(move |s| s.notification_queue(n.pending().unwrap_or(0)));
        }
        Ok(notifier)
    }

    /// Queues the "new message" notification of the mailbox's channels (none configured:
    /// nothing). Returns how many channels were queued, once durable.
    pub fn message_filed(&self, e: &MessageFiled<'_>) -> Result<usize, NotifyError> {
        self.queue_event(
            Event::NewMessage,
            e.mailbox,
            Payload {
                id: uuid(),
                kind: "message.new".into(),
                mailbox: e.mailbox.to_string(),
                participant: String::new(),
                message_id: e.message_id.to_owned(),
                message_key: e.message_key.to_string(),
                counterpart: e.sender.value().to_owned(),
                status: "NEW".into(),
                reason_code: None,
                occurred_at: rfc3339(e.at),
            },
            e.at,
        )
    }

    /// Queues the "delivery failed" notification (see [`MessageFiled`] for the contract).
    pub fn delivery_failed(&self, e: &DeliveryFailed<'_>) -> Result<usize, NotifyError> {
        self.queue_event(
            Event::DeliveryFailed,
            e.mailbox,
            Payload {
                id: uuid(),
                kind: "delivery.failed".into(),
                mailbox: e.mailbox.to_string(),
                participant: String::new(),
                message_id: e.message_id.to_owned(),
                message_key: e.message_key.to_string(),
                counterpart: e.recipient.value().to_owned(),
                status: e.status.to_owned(),
                reason_code: e.reason_code.map(str::to_owned),
                occurred_at: rfc3339(e.at),
            },
            e.at,
        )
    }

    fn queue_event(
        &self,
        event: Event,
        mailbox: &FunctionAddress,
        mut payload: Payload,
        at: OffsetDateTime,
    ) -> Result<usize, NotifyError> {
        let Some(m) = self.inner.registry.get(mailbox)? else {
            return Ok(0);
        };
        if !m.notifications.wants(event) {
            return Ok(0);
        }
        payload.participant = m.participant.value().to_owned();
        let mut channels = Vec::new();
        if m.notifications.webhook.is_some() {
            channels.push(Channel::Webhook);
        }
        if !m.notifications.email.is_empty() {
            channels.push(Channel::Email);
        }
        for channel in &channels {
            let item = Item {
                delivery_id: uuid(),
                channel: *channel,
                payload: payload.clone(),
                attempts: 0,
                due_at: at,
                last_error: None,
            };
            self.put(&item)?;
        }
        self.inner.wake.notify_one();
        Ok(channels.len())
    }

    fn put(&self, item: &Item) -> Result<(), NotifyError> {
        let value = serde_json::to_vec(item).map_err(|e| NotifyError::Encode(e.to_string()))?;
        self.inner.queue.put(&item.key(), &value)?;
        Ok(())
    }

    /// Entries waiting (due or not).
    pub fn pending(&self) -> Result<u64, NotifyError> {
        Ok(self.inner.queue.scan_prefix(b"", 1_000_000)?.len() as u64)
    }

    /// Sends what is due at `now` (one batch). The worker loop calls this; tests too.
    pub async fn run_once(&self, now: OffsetDateTime) -> Result<Round, NotifyError> {
        let mut round = Round::default();
        for (key, value) in self.inner.queue.scan_prefix(b"", BATCH)? {
            let item: Item = match serde_json::from_slice(&value) {
                Ok(i) => i,
                Err(e) => {
                    tracing::error!(error = %e, "notification queue: undecodable entry removed");
                    self.inner.queue.remove(&key)?;
                    round.dropped += 1;
                    continue;
                }
            };
            if item.due_at > now {
                break;
            }
            self.attempt(key, item, now, &mut round).await?;
        }
        Ok(round)
    }

    async fn attempt(
        &self,
        key: Vec<u8>,
        mut item: Item,
        now: OffsetDateTime,
        round: &mut Round,
    ) -> Result<(), NotifyError> {
        let address = FunctionAddress::parse(&item.payload.mailbox)
            .map_err(|e| NotifyError::Encode(e.to_string()))?;
        let result = match self.inner.registry.get(&address)? {
            None => Err(None),
            Some(m) => match item.channel {
                Channel::Webhook => match &m.notifications.webhook {
                    None => Err(None),
                    Some(w) => self
                        .send_webhook(&w.url, &w.secret, &item, now)
                        .await
                        .map_err(Some),
                },
                Channel::Email if m.notifications.email.is_empty() => Err(None),
                Channel::Email => self
                    .send_email(&m.notifications.email, m.name.as_deref(), &item.payload)
                    .await
                    .map_err(Some),
            },
        };
        item.attempts += 1;
        let channel = item.channel.label();
        match result {
            Ok(()) => {
                self.inner.queue.remove(&key)?;
                self.audit(now, "notify.sent", &item, None)?;
                self.count(channel, "sent");
                round.sent += 1;
            }
            // The mailbox or its channel was removed meanwhile: nobody to tell.
            Err(None) => {
                self.inner.queue.remove(&key)?;
                self.audit(
                    now,
                    "notify.dropped",
                    &item,
                    Some("channel no longer configured"),
                )?;
                round.dropped += 1;
            }
            Err(Some(why)) if item.attempts >= self.inner.settings.max_attempts => {
                self.inner.queue.remove(&key)?;
                self.audit(now, "notify.failed", &item, Some(&why))?;
                self.count(channel, "failed");
                tracing::error!(channel, mailbox = %item.payload.mailbox, attempts = item.attempts,
                    error = %why, "notification given up");
                round.failed += 1;
            }
            Err(Some(why)) => {
                tracing::warn!(channel, mailbox = %item.payload.mailbox, attempts = item.attempts,
                    error = %why, "notification failed; retrying");
                round.last_error = Some(why.clone());
                item.due_at = now + self.backoff(item.attempts);
                item.last_error = Some(why);
                // New entry first, then the old one: a crash in between repeats, never loses.
                self.put(&item)?;
                self.inner.queue.remove(&key)?;
                self.count(channel, "retry");
                round.retried += 1;
            }
        }
        Ok(())
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let s = &self.inner.settings;
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(30));
        s.initial_delay.saturating_mul(factor).min(s.max_delay)
    }

    fn count(&self, channel: &'static str, outcome: &'static str) {
        if let Some(m) = &self.inner.metrics {
            m.notification(channel, outcome);
        }
    }

    fn audit(
        &self,
        at: OffsetDateTime,
        action: &str,
        item: &Item,
        error: Option<&str>,
    ) -> Result<(), NotifyError> {
        let mut e = AuditEvent::new(at, "notifier", action)
            .with("channel", item.channel.label())
            .with("mailbox", item.payload.mailbox.as_str())
            .with("notification_id", item.payload.id.as_str())
            .with("delivery_id", item.delivery_id.as_str())
            .with("type", item.payload.kind.as_str())
            .with("message_id", item.payload.message_id.as_str())
            .with("attempts", item.attempts);
        if let Ok(key) = item.payload.message_key.parse() {
            e = e.for_message(key);
        }
        if let Some(err) = error {
            e = e.with("error", err);
        }
        self.inner.store.append_audit(e)?;
        Ok(())
    }

    async fn send_webhook(
        &self,
        url: &str,
        secret: &str,
        item: &Item,
        now: OffsetDateTime,
    ) -> Result<(), String> {
        let body = serde_json::to_vec(&item.payload).map_err(|e| e.to_string())?;
        webhook::post(
            &self.inner.settings.webhook,
            url,
            secret.as_bytes(),
            &item.delivery_id,
            &item.payload.kind,
            body,
            now.unix_timestamp(),
        )
        .await
    }

    async fn send_email(
        &self,
        to: &[String],
        name: Option<&str>,
        payload: &Payload,
    ) -> Result<(), String> {
        let Some(smtp) = &self.inner.settings.smtp else {
            return Err("no [notifications.smtp] relay configured".into());
        };
        let text = email_text(&smtp.from, to, name, payload);
        smtp::send_mail(smtp, to, &text)
            .await
            .map_err(|e| e.to_string())
    }

    /// Sends due notifications until `shutdown` resolves; wakes when something is queued.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let busy = match self.run_once(OffsetDateTime::now_utc()).await {
                Ok(r) => r.sent + r.retried + r.failed + r.dropped > 0,
                Err(e) => {
                    tracing::error!(error = %e, "notification worker");
                    false
                }
            };
            if busy {
                continue;
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(IDLE) => {}
            }
        }
    }
}

/// RFC 2047 for a header value that is not plain ASCII.
fn header_text(s: &str) -> String {
    use base64::Engine as _;
    let clean: String = s.chars().filter(|c| !c.is_control()).collect();
    if clean.is_ascii() {
        clean
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(clean.as_bytes())
        )
    }
}

/// The e-mail: the same fields as the webhook, as text. ASCII lines only (names in the
/// subject are RFC 2047-encoded, the body is base64 when it is not ASCII).
fn email_text(from: &str, to: &[String], name: Option<&str>, p: &Payload) -> String {
    use base64::Engine as _;
    let what = match p.kind.as_str() {
        "message.new" => "New message",
        _ => "Delivery failed",
    };
    let label = name.unwrap_or(&p.mailbox);
    let subject = header_text(&format!("[sdkgw] {what} in {label}"));
    let mut body = format!(
        "{what} in function mailbox {} ({}).\r\n\r\n\
         Notification: {}\r\nType:         {}\r\nMessage id:   {}\r\nRecord key:   {}\r\n\
         {}: {}\r\nStatus:       {}\r\n",
        p.mailbox,
        p.participant,
        p.id,
        p.kind,
        p.message_id,
        p.message_key,
        if p.kind == "message.new" {
            "Sender      "
        } else {
            "Recipient   "
        },
        p.counterpart,
        p.status,
    );
    if let Some(code) = &p.reason_code {
        body.push_str(&format!("Reason code:  {code}\r\n"));
    }
    body.push_str(&format!(
        "Time (UTC):   {}\r\n\r\nThe message itself is only available through the mailbox \
         service; this notice never contains its content.\r\n",
        p.occurred_at
    ));
    let date = OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    let (encoding, body) = if body.is_ascii() {
        ("7bit", body)
    } else {
        let b = base64::engine::general_purpose::STANDARD.encode(body.as_bytes());
        let wrapped: Vec<&str> = b
            .as_bytes()
            .chunks(76)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        ("base64", wrapped.join("\r\n"))
    };
    format!(
        "From: {from}\r\nTo: {}\r\nSubject: {subject}\r\nDate: {date}\r\n\
         Message-ID: <{}@sdk-gateway>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {encoding}\r\n\
         Auto-Submitted: auto-generated\r\nX-Sdkgw-Notification: {}\r\n\r\n{body}",
        to.join(", "),
        p.id,
        p.id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_has_ids_and_no_room_for_content() {
        let p = Payload {
            id: "n-1".into(),
            kind: "message.new".into(),
            mailbox: "registrator".into(),
            participant: "0203:kommun.example.se".into(),
            message_id: "m-1".into(),
            message_key: "k-1".into(),
            counterpart: "0203:other.se".into(),
            status: "NEW".into(),
            reason_code: None,
            occurred_at: "2026-12-02T10:00:00Z".into(),
        };
        let text = email_text(
            "gw@kommun.example.se",
            &["a@b.se".into()],
            Some("Socialtjänsten"),
            &p,
        );
        assert!(text.contains("Subject: =?UTF-8?B?"), "{text}");
        assert!(text.contains("Message id:   m-1"));
        assert!(text.is_ascii());
        assert!(text.contains("\r\n\r\n"));
    }
}
