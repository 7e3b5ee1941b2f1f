//! The function-mailbox registry: which function mailboxes (funktionsadresser) this gateway
//! serves, for which organisation, and how each is notified.
//!
//! **One truth.** The registry (keyspace `mailboxes` in the store) is what the running gateway
//! uses: the inbound pipeline files into it ([`Registry::resolve`]), the API checks against it,
//! notifications read their settings from it. Its entries come from two places, and can never
//! contradict each other:
//!
//! * **declared** in the configuration (`[[participants]] mailboxes = [...]`): every time the
//!   registry is opened with a configuration (gateway start, CLI without a running gateway)
//!   each declared mailbox is present with the configured name, and a formerly declared
//!   mailbox that the file no longer lists is removed. `sdkgw mailbox remove` refuses a
//!   declared mailbox (remove it from the file), and `sdkgw mailbox add` refuses an address the
//!   file declares;
//! * **added** with `sdkgw mailbox add` (no restart, no file edit): kept until `remove`. If
//!   the file later declares the same address it becomes declared (its settings are kept).
//!
//! Organisations are configuration only: a mailbox's participant must be a configured
//! `[[participants]]` id (it needs that organisation's keys and SMP registration); mailboxes
//! of a participant that is no longer configured are removed when the registry is opened.
//! A function address names one mailbox on this gateway (the store's `mailbox` field of a
//! message record is the function address).
//!
//! Notification settings (webhook URL and secret, e-mail recipients, which events) are kept
//! here only, for declared and added mailboxes alike — secrets never go into the
//! configuration file. Every change is recorded in the audit trail (`mailbox.*`).

pub mod admin;

use std::sync::{Arc, Mutex, PoisonError};

use sdkgw_schemas::{FunctionAddress, ParticipantId};
use sdkgw_store::{AuditEvent, Keyspace, Store, StoreError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::Config;

/// Keyspace of the registry.
pub const KEYSPACE: &str = "mailboxes";

/// Where a mailbox entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Declared in the configuration file.
    Config,
    /// Added with `sdkgw mailbox add`.
    Operator,
}

/// Events a mailbox can be notified about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    /// A new inbound message was filed in the mailbox.
    NewMessage,
    /// An outbound message from the mailbox failed for good (retries exhausted, rejected by
    /// the recipient's access point, recipient unknown).
    DeliveryFailed,
}

impl Event {
    pub const ALL: [Self; 2] = [Self::NewMessage, Self::DeliveryFailed];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NewMessage => "new-message",
            Self::DeliveryFailed => "delivery-failed",
        }
    }
}

/// A webhook target.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// `https://` URL the notification is POSTed to.
    pub url: String,
    /// The HMAC-SHA256 key (base64 of 32 random bytes unless the operator gave one).
    pub secret: String,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Webhook {
    /// A short fingerprint of the secret, for showing without revealing it.
    pub fn secret_fingerprint(&self) -> String {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, self.secret.as_bytes());
        let hex: String = d.as_ref()[..6].iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }
}

/// How a mailbox is notified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notifications {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
    /// E-mail recipients (an Outlook group, a TOPdesk intake address, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email: Vec<String>,
    /// Which events are notified (both by default).
    #[serde(default = "all_events")]
    pub events: Vec<Event>,
}

fn all_events() -> Vec<Event> {
    Event::ALL.to_vec()
}

impl Default for Notifications {
    /// No channel; both events once a channel is set.
    fn default() -> Self {
        Self {
            webhook: None,
            email: Vec::new(),
            events: all_events(),
        }
    }
}

impl Notifications {
    /// Whether anything is sent for `event`.
    pub fn wants(&self, event: Event) -> bool {
        self.events.contains(&event) && (self.webhook.is_some() || !self.email.is_empty())
    }
}

/// One function mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    pub address: FunctionAddress,
    pub participant: ParticipantId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub source: Source,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub created_by: String,
    #[serde(default)]
    pub notifications: Notifications,
}

/// A change of a mailbox's notification settings (`None` = unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationChange {
    /// Set (`Some(Some(url))`) or remove (`Some(None)`) the webhook. A new webhook gets a
    /// generated secret unless `webhook_secret` is given.
    #[serde(default)]
    pub webhook_url: Option<Option<String>>,
    /// Use this secret (at least 16 bytes).
    #[serde(default)]
    pub webhook_secret: Option<String>,
    /// Generate a new secret for the existing webhook.
    #[serde(default)]
    pub rotate_secret: bool,
    /// Replace the e-mail recipients.
    #[serde(default)]
    pub email: Option<Vec<String>>,
    /// Replace the notified events.
    #[serde(default)]
    pub events: Option<Vec<Event>>,
}

/// Registry failures; messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    #[error("no mailbox {0} on this gateway")]
    NotFound(String),
    #[error("mailbox {0} exists already")]
    Exists(String),
    #[error("mailbox {address} is declared in {file} ({key}); change it there")]
    Declared {
        address: String,
        file: String,
        key: String,
    },
    #[error("{0} is not a participant of this gateway (configure it in [[participants]] first)")]
    UnknownParticipant(String),
    #[error("{0}")]
    Invalid(String),
    #[error("mailbox registry: {0}")]
    Store(#[from] StoreError),
    #[error("mailbox registry entry {key:?} is damaged: {reason}")]
    Corrupt { key: String, reason: String },
}

impl MailboxError {
    /// Whether the operator asked for something impossible (exit code 2) rather than the
    /// registry failing (1).
    pub fn is_input_error(&self) -> bool {
        !matches!(self, Self::Store(_) | Self::Corrupt { .. })
    }
}

/// A mailbox declared in the configuration.
#[derive(Debug, Clone)]
struct Declared {
    address: FunctionAddress,
    participant: ParticipantId,
    name: Option<String>,
    key: String,
}

/// What opening the registry changed to follow the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reconciled {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub removed: Vec<String>,
}

/// The registry. Cheap to share (`Arc`); changes are serialised within the process, and only
/// the process that holds the store writes it.
pub struct Registry {
    store: Arc<dyn Store>,
    keyspace: Arc<dyn Keyspace>,
    participants: Vec<ParticipantId>,
    declared: Vec<Declared>,
    config_file: String,
    write: Mutex<()>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("declared", &self.declared.len())
            .finish_non_exhaustive()
    }
}

const ACTOR_CONFIG: &str = "config";
const MAX_SCAN: usize = 100_000;
const MAX_EMAILS: usize = 20;

fn check_email(a: &str) -> Result<(), MailboxError> {
    let ok = a.len() <= 254
        && a.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && a.bytes().all(|b| {
            b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b',' | b';' | b'"' | b'\\')
        });
    if ok {
        Ok(())
    } else {
        Err(MailboxError::Invalid(format!(
            "{a:?} is not an e-mail address (name@domain.tld)"
        )))
    }
}

fn check_url(u: &str) -> Result<(), MailboxError> {
    let ok = u.len() <= 2048
        && u.strip_prefix("https://")
            .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
        && u.parse::<http::Uri>().is_ok();
    if ok {
        Ok(())
    } else {
        Err(MailboxError::Invalid(format!(
            "{u:?}: webhooks are https:// URLs (the notification is signed, but its ids and \
             mailbox names are not for the open network)"
        )))
    }
}

/// 32 random bytes, base64.
fn new_secret() -> Result<String, MailboxError> {
    use base64::Engine as _;
    let mut b = [0u8; 32];
    aws_lc_rs::rand::fill(&mut b)
        .map_err(|_| MailboxError::Invalid("system random generator failed".into()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(b))
}

impl Registry {
    /// Opens the registry of `store` and makes it follow `config` (see the module docs).
    pub fn open(
        store: Arc<dyn Store>,
        config: &Config,
        now: OffsetDateTime,
    ) -> Result<(Self, Reconciled), MailboxError> {
        let declared = config
            .participants
            .iter()
            .enumerate()
            .flat_map(|(i, p)| {
                p.mailboxes.iter().enumerate().map(move |(j, m)| Declared {
                    address: m.address.clone(),
                    participant: p.id.clone(),
                    name: m.name.clone(),
                    key: format!("participants[{i}].mailboxes[{j}]"),
                })
            })
            .collect();
        let registry = Self {
            keyspace: store.keyspace(KEYSPACE)?,
            store,
            participants: config.participants.iter().map(|p| p.id.clone()).collect(),
            declared,
            config_file: config.file.display().to_string(),
            write: Mutex::new(()),
        };
        let report = registry.reconcile(now)?;
        Ok((registry, report))
    }

    fn put(&self, m: &Mailbox) -> Result<(), MailboxError> {
        let value = serde_json::to_vec(m).map_err(|e| MailboxError::Invalid(e.to_string()))?;
        self.keyspace.put(m.address.as_str().as_bytes(), &value)?;
        Ok(())
    }

    fn audit(
        &self,
        at: OffsetDateTime,
        actor: &str,
        action: &str,
        m: &Mailbox,
    ) -> Result<(), MailboxError> {
        let n = &m.notifications;
        let events: Vec<&str> = n.events.iter().map(|e| e.as_str()).collect();
        let mut e = AuditEvent::new(at, actor, action)
            .with("mailbox", m.address.as_str())
            .with("participant", m.participant.value())
            .with(
                "source",
                if m.source == Source::Config {
                    "config"
                } else {
                    "operator"
                },
            )
            .with("email", n.email.clone())
            .with("events", events);
        if let Some(w) = &n.webhook {
            e = e
                .with("webhook_url", w.url.as_str())
                .with("webhook_secret", w.secret_fingerprint());
        }
        self.store.append_audit(e)?;
        Ok(())
    }

    fn reconcile(&self, now: OffsetDateTime) -> Result<Reconciled, MailboxError> {
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let mut report = Reconciled::default();
        for d in &self.declared {
            match self.get(&d.address)? {
                Some(mut m) => {
                    let changed = m.source != Source::Config
                        || m.name != d.name
                        || m.participant != d.participant;
                    if changed {
                        m.source = Source::Config;
                        m.name = d.name.clone();
                        m.participant = d.participant.clone();
                        self.put(&m)?;
                        self.audit(now, ACTOR_CONFIG, "mailbox.updated", &m)?;
                        report.updated.push(m.address.to_string());
                    }
                }
                None => {
                    let m = Mailbox {
                        address: d.address.clone(),
                        participant: d.participant.clone(),
                        name: d.name.clone(),
                        source: Source::Config,
                        created_at: now,
                        created_by: ACTOR_CONFIG.into(),
                        notifications: Notifications::default(),
                    };
                    self.put(&m)?;
                    self.audit(now, ACTOR_CONFIG, "mailbox.added", &m)?;
                    report.added.push(m.address.to_string());
                }
            }
        }
        for m in self.list()? {
            let undeclared =
                m.source == Source::Config && !self.declared.iter().any(|d| d.address == m.address);
            let orphan = !self.participants.contains(&m.participant);
            if undeclared || orphan {
                self.keyspace.remove(m.address.as_str().as_bytes())?;
                self.audit(now, ACTOR_CONFIG, "mailbox.removed", &m)?;
                report.removed.push(m.address.to_string());
            }
        }
        Ok(report)
    }

    /// The mailbox with this function address.
    pub fn get(&self, address: &FunctionAddress) -> Result<Option<Mailbox>, MailboxError> {
        let Some(bytes) = self.keyspace.get(address.as_str().as_bytes())? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| MailboxError::Corrupt {
                key: address.to_string(),
                reason: e.to_string(),
            })
    }

    /// The mailbox a message for `participant` / `address` is filed in; `None` = unknown
    /// function address (the pipeline answers REJECTED/BV).
    pub fn resolve(
        &self,
        participant: &ParticipantId,
        address: &FunctionAddress,
    ) -> Result<Option<Mailbox>, MailboxError> {
        Ok(self.get(address)?.filter(|m| &m.participant == participant))
    }

    /// Every mailbox, ordered by function address.
    pub fn list(&self) -> Result<Vec<Mailbox>, MailboxError> {
        self.keyspace
            .scan_prefix(b"", MAX_SCAN)?
            .into_iter()
            .map(|(k, v)| {
                serde_json::from_slice(&v).map_err(|e| MailboxError::Corrupt {
                    key: String::from_utf8_lossy(&k).into_owned(),
                    reason: e.to_string(),
                })
            })
            .collect()
    }

    fn declared(&self, address: &FunctionAddress) -> Option<&Declared> {
        self.declared.iter().find(|d| &d.address == address)
    }

    fn refuse_declared(&self, address: &FunctionAddress) -> Result<(), MailboxError> {
        match self.declared(address) {
            Some(d) => Err(MailboxError::Declared {
                address: address.to_string(),
                file: self.config_file.clone(),
                key: d.key.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Adds an operator-managed mailbox. Returns it with its settings (including a generated
    /// webhook secret, which the caller shows once).
    pub fn add(
        &self,
        address: FunctionAddress,
        participant: ParticipantId,
        name: Option<String>,
        notifications: NotificationChange,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<Mailbox, MailboxError> {
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        self.refuse_declared(&address)?;
        if !self.participants.contains(&participant) {
            return Err(MailboxError::UnknownParticipant(participant.to_string()));
        }
        if let Some(existing) = self.get(&address)? {
            return Err(MailboxError::Exists(format!(
                "{} (of {})",
                existing.address, existing.participant
            )));
        }
        if let Some(n) = &name
            && (n.len() > 256 || n.chars().any(char::is_control))
        {
            return Err(MailboxError::Invalid(
                "name: at most 256 characters, no control characters".into(),
            ));
        }
        let mut m = Mailbox {
            address,
            participant,
            name,
            source: Source::Operator,
            created_at: now,
            created_by: actor.to_owned(),
            notifications: Notifications::default(),
        };
        apply(&mut m.notifications, notifications)?;
        self.put(&m)?;
        self.audit(now, actor, "mailbox.added", &m)?;
        Ok(m)
    }

    /// Removes an operator-managed mailbox (its messages stay in the store).
    pub fn remove(
        &self,
        address: &FunctionAddress,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<Mailbox, MailboxError> {
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        self.refuse_declared(address)?;
        let m = self
            .get(address)?
            .ok_or_else(|| MailboxError::NotFound(address.to_string()))?;
        self.keyspace.remove(address.as_str().as_bytes())?;
        self.audit(now, actor, "mailbox.removed", &m)?;
        Ok(m)
    }

    /// Changes the notification settings of any mailbox.
    pub fn set_notifications(
        &self,
        address: &FunctionAddress,
        change: NotificationChange,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<Mailbox, MailboxError> {
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let mut m = self
            .get(address)?
            .ok_or_else(|| MailboxError::NotFound(address.to_string()))?;
        apply(&mut m.notifications, change)?;
        self.put(&m)?;
        self.audit(now, actor, "mailbox.notifications", &m)?;
        Ok(m)
    }
}

/// The mailbox API asks the registry on every call, so `sdkgw mailbox add|remove` takes
/// effect at once. A registry read failure shows no mailboxes (fail closed) and is logged.
impl crate::api::MailboxSource for Registry {
    fn mailboxes(&self) -> Vec<(FunctionAddress, ParticipantId)> {
        match self.list() {
            Ok(list) => list
                .into_iter()
                .map(|m| (m.address, m.participant))
                .collect(),
            Err(e) => {
                tracing::error!(error = %e, "mailbox registry unreadable; the API shows no mailbox");
                Vec::new()
            }
        }
    }
}

fn apply(n: &mut Notifications, change: NotificationChange) -> Result<(), MailboxError> {
    if let Some(secret) = &change.webhook_secret
        && secret.len() < 16
    {
        return Err(MailboxError::Invalid(
            "webhook secret: at least 16 bytes".into(),
        ));
    }
    match change.webhook_url {
        Some(Some(url)) => {
            check_url(&url)?;
            let secret = match (&change.webhook_secret, &n.webhook) {
                (Some(s), _) => s.clone(),
                (None, Some(w)) if !change.rotate_secret => w.secret.clone(),
                _ => new_secret()?,
            };
            n.webhook = Some(Webhook { url, secret });
        }
        Some(None) => n.webhook = None,
        None => {
            if let Some(w) = &mut n.webhook {
                if let Some(s) = change.webhook_secret {
                    w.secret = s;
                } else if change.rotate_secret {
                    w.secret = new_secret()?;
                }
            } else if change.rotate_secret || change.webhook_secret.is_some() {
                return Err(MailboxError::Invalid(
                    "the mailbox has no webhook: give --webhook-url".into(),
                ));
            }
        }
    }
    if let Some(email) = change.email {
        if email.len() > MAX_EMAILS {
            return Err(MailboxError::Invalid(format!(
                "at most {MAX_EMAILS} e-mail recipients"
            )));
        }
        email.iter().try_for_each(|a| check_email(a))?;
        n.email = email;
    }
    if let Some(events) = change.events {
        let mut events = events;
        events.dedup();
        n.events = events;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_are_https_and_emails_look_like_addresses() {
        assert!(check_url("https://hooks.kommun.example.se/sdk").is_ok());
        for bad in ["http://x.se/", "https://", "https:///x", "ftp://x"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_email("registrator@kommun.example.se").is_ok());
        for bad in [
            "x",
            "a@b",
            "a b@c.se",
            "a@c.se>\r\nRCPT TO:<x@y.se",
            "<a@c.se>",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_new_webhook_gets_a_secret_that_stays_until_rotated() {
        let mut n = Notifications::default();
        apply(
            &mut n,
            NotificationChange {
                webhook_url: Some(Some("https://h.example.se/a".into())),
                ..NotificationChange::default()
            },
        )
        .unwrap();
        let first = n.webhook.clone().unwrap().secret;
        assert_eq!(first.len(), 44);
        apply(
            &mut n,
            NotificationChange {
                webhook_url: Some(Some("https://h.example.se/b".into())),
                ..NotificationChange::default()
            },
        )
        .unwrap();
        assert_eq!(n.webhook.as_ref().unwrap().secret, first);
        apply(
            &mut n,
            NotificationChange {
                rotate_secret: true,
                ..NotificationChange::default()
            },
        )
        .unwrap();
        assert_ne!(n.webhook.as_ref().unwrap().secret, first);
        assert!(!format!("{:?}", n.webhook).contains(&first));
    }
}
