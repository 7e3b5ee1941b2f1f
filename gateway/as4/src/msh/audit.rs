//! The AS4 event log fields DIGG requires (AP-3.4.1 / KOMP 3.1.7): recorded through the store's
//! append-only audit trail, one event per received or sent message (and per failed attempt).
//!
//! Incoming: sending AP id, its certificate and signature, reception time, sending and
//! receiving participant, AS4 MessageId and ConversationId, failure cause. Outgoing: receiving
//! AP id, its certificate and its signature on the receipt, send time, participants,
//! MessageId, ConversationId, failure cause.

use base64::Engine as _;
use sdkgw_certs::Certificate;
use sdkgw_store::{AuditEvent, MessageKey, Store};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Actor name of the MSH in the audit trail and record histories.
pub const ACTOR_RECEIVER: &str = "as4-receiver";
pub const ACTOR_SENDER: &str = "as4-sender";

/// An audit event being filled in as processing learns more.
#[derive(Debug, Clone)]
pub struct As4Event {
    event: AuditEvent,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(crate) fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

impl As4Event {
    /// An inbound event received at `at`.
    pub fn inbound(at: OffsetDateTime) -> Self {
        let mut e = As4Event {
            event: AuditEvent::new(at, ACTOR_RECEIVER, "as4.inbound"),
        };
        e.set("direction", "inbound");
        e.set("received_at", rfc3339(at));
        e
    }
    /// An outbound event (one attempt) started at `at`.
    pub fn outbound(at: OffsetDateTime) -> Self {
        let mut e = As4Event {
            event: AuditEvent::new(at, ACTOR_SENDER, "as4.outbound"),
        };
        e.set("direction", "outbound");
        e.set("sent_at", rfc3339(at));
        e
    }
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.event.detail.insert(key.to_owned(), value.into());
    }
    /// Sets the `{role}_ap_certificate` (base64 DER) and its SHA-256 fingerprint.
    pub fn certificate(&mut self, role: &str, cert: &Certificate) {
        self.set(&format!("{role}_ap_certificate"), cert.to_base64());
        self.set(
            &format!("{role}_ap_certificate_sha256"),
            cert.fingerprint_hex(),
        );
        self.set(&format!("{role}_ap_certificate_subject"), cert.subject());
    }
    /// `sending_ap_signature` / `receipt_signature`: the SignatureValue, base64.
    pub fn signature(&mut self, key: &str, value: &[u8]) {
        self.set(key, b64(value));
    }
    pub fn outcome(&mut self, action_suffix: &str) {
        self.event.action = format!("{}.{action_suffix}", self.base_action());
        self.set("outcome", action_suffix);
    }
    fn base_action(&self) -> &'static str {
        if self.event.action.starts_with("as4.inbound") {
            "as4.inbound"
        } else {
            "as4.outbound"
        }
    }
    pub fn message(&mut self, key: MessageKey) {
        self.event.message = Some(key);
    }
    /// The failure cause: the ebMS code and our internal reason.
    pub fn failure(&mut self, code: &str, reason: &str) {
        self.set("error_code", code);
        self.set("error_cause", reason);
    }
    pub fn into_event(self) -> AuditEvent {
        self.event
    }

    /// Appends the event; a failure is logged (the message outcome does not depend on it).
    pub fn record(self, store: &dyn Store) {
        if let Err(e) = store.append_audit(self.event) {
            tracing::error!(error = %e, "cannot append the AS4 audit event");
        }
    }
}
