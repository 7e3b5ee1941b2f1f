//! Store-backed delivery: [`submit`] queues an XHE (record `scheduled`, MessageId and
//! compressed payload fixed and stored), [`DeliveryWorker`] sends what is due, one attempt
//! per turn, and records the outcome:
//!
//! | attempt | record | audit |
//! |---|---|---|
//! | verified receipt | `delivered`, receipt + sent envelope as evidence | `as4.outbound.delivered` |
//! | error signal (failure) | `failed`, the signal as evidence | `as4.outbound.rejected` |
//! | local refusal (receiver certificate, TF-02) | `failed` | `as4.outbound.failed` |
//! | no usable answer | `scheduled` again after the policy's delay | `as4.outbound.retry` |
//! | … and no attempts left | `dead-lettered`, `EBMS:0301` | `as4.outbound.exhausted` |
//!
//! Every retry sends the same MessageId and the same compressed payload (same digests),
//! re-signed with a fresh timestamp and re-encrypted under a fresh key.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sdkgw_store::{
    Direction, MessageKey, MessageRecord, MessageState, NewMessage, StagedBlob, Store, StoreError,
    Update,
};
use tempfile::TempPath;
use time::OffsetDateTime;
use tokio::sync::{Notify, Semaphore};

use super::audit::{ACTOR_SENDER, As4Event};
use super::handoff::{ERROR_SIGNAL_EVIDENCE, RECEIPT_EVIDENCE, XHE_CONTENT};
use super::outbound::{Attempt, AttemptOutcome, Outgoing, PrepareError, Sender, prepare};
use super::retry::RetryPolicy;
use super::route::{RouteError, RouteResolver};
use crate::ebms::{ErrorCode, Leg};

/// Content role of the compressed payload (fixed for every retry).
pub const PAYLOAD_CONTENT: &str = "as4-payload";
/// Content role of the prepared header values (JSON of [`Outgoing`]).
pub const OUTGOING_CONTENT: &str = "as4-outgoing";
/// Evidence kind of the SOAP envelope we sent in the delivering attempt.
pub const SENT_EVIDENCE: &str = "as4-sent-envelope";

/// Why an XHE could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// An AP sends for the participants it serves only (test-cases digest H-41).
    #[error("originalSender {sender} is not a participant this gateway serves ({served})")]
    NotServed { sender: String, served: String },
}

/// Refuses an XHE whose FromParty (the AS4 originalSender) is none of `served`; participant
/// ids compare case-insensitively, as everywhere in the federation.
pub fn check_served(sender: &str, served: &[&str]) -> Result<(), SubmitError> {
    if served.iter().any(|p| p.eq_ignore_ascii_case(sender)) {
        return Ok(());
    }
    Err(SubmitError::NotServed {
        sender: sender.to_owned(),
        served: served.join(", "),
    })
}

fn blob_from_file(store: &dyn Store, path: &Path) -> Result<StagedBlob, SubmitError> {
    let mut w = store.blob_writer()?;
    std::io::copy(&mut std::fs::File::open(path)?, &mut w)?;
    Ok(w.finish()?)
}

fn blob_from_bytes(store: &dyn Store, bytes: &[u8]) -> Result<StagedBlob, StoreError> {
    let mut w = store.blob_writer()?;
    w.write_all(bytes)
        .map_err(|e| StoreError::Invalid(format!("blob write: {e}")))?;
    w.finish()
}

/// Queues `xhe` (a sealed XHE file) for AS4 delivery: checks and compresses it
/// ([`prepare`]), refuses it unless its sender is one of the `served` participants, stores
/// XHE, payload and header values, and schedules the record now. Blocking (store writes).
pub fn submit(
    store: &dyn Store,
    xhe: &Path,
    leg: Option<Leg>,
    federation_id: &str,
    served: &[&str],
    spool_dir: &Path,
    at: OffsetDateTime,
) -> Result<MessageKey, SubmitError> {
    let (out, payload) = prepare(xhe, leg, federation_id, spool_dir, at)?;
    check_served(&out.original_sender, served)?;
    let json = serde_json::to_vec(&out).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let mut new = NewMessage::new(Direction::Outbound, at, ACTOR_SENDER);
    new.sender = Some(out.original_sender.clone());
    new.recipient = Some(out.final_recipient.clone());
    new.document_type = Some(out.action.clone());
    new.correlation.xhe_id = Some(out.xhe_id.clone());
    new.correlation.as4_message_id = Some(out.message_id.clone());
    new.correlation.conversation_id = Some(out.xhe_id.clone());
    new.content
        .push((XHE_CONTENT.into(), blob_from_file(store, xhe)?));
    new.content
        .push((PAYLOAD_CONTENT.into(), blob_from_file(store, &payload)?));
    new.content
        .push((OUTGOING_CONTENT.into(), blob_from_bytes(store, &json)?));
    let created = match store.create_message(new)? {
        sdkgw_store::Created::New(r) => r.key,
        sdkgw_store::Created::Duplicate { existing } => existing,
    };
    store.update(&created, Update::to(MessageState::Sealed, at, ACTOR_SENDER))?;
    store.update(
        &created,
        Update::to(MessageState::Scheduled, at, ACTOR_SENDER).next_attempt(at),
    )?;
    Ok(created)
}

/// Sends due messages.
#[derive(Debug)]
pub struct DeliveryWorker {
    store: Arc<dyn Store>,
    sender: Arc<Sender>,
    routes: Arc<dyn RouteResolver>,
    policy: RetryPolicy,
    spool_dir: PathBuf,
    /// Longest sleep when nothing is due.
    pub poll_interval: Duration,
    concurrency: Arc<Semaphore>,
    wake: Notify,
}

/// Runs a blocking store call off the async threads.
async fn blocking<T: Send + 'static>(
    store: &Arc<dyn Store>,
    f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|e| StoreError::Invalid(format!("store task: {e}")))?
}

impl DeliveryWorker {
    pub fn new(
        store: Arc<dyn Store>,
        sender: Arc<Sender>,
        routes: Arc<dyn RouteResolver>,
        policy: RetryPolicy,
        spool_dir: PathBuf,
    ) -> Self {
        DeliveryWorker {
            store,
            sender,
            routes,
            policy,
            spool_dir,
            poll_interval: Duration::from_secs(5),
            concurrency: Arc::new(Semaphore::new(8)),
            wake: Notify::new(),
        }
    }

    /// Wakes the loop (after a submit).
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// Delivers due messages until `shutdown` completes (in-flight attempts finish).
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            let now = OffsetDateTime::now_utc();
            let due = blocking(&self.store, move |s| s.due_messages(now, 64)).await;
            match due {
                Ok(keys) => {
                    for key in keys {
                        let Ok(permit) = Arc::clone(&self.concurrency).acquire_owned().await else {
                            break;
                        };
                        let this = Arc::clone(&self);
                        tasks.spawn(async move {
                            if let Err(e) = this.deliver(key).await {
                                tracing::error!(%key, error = %e, "delivery attempt could not be recorded");
                            }
                            drop(permit);
                        });
                    }
                }
                Err(e) => tracing::error!(error = %e, "reading the due queue failed"),
            }
            while tasks.try_join_next().is_some() {}
            tokio::select! {
                () = &mut shutdown => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.poll_interval) => {}
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    /// One attempt for the record `key`, if it is still `scheduled` (claimed race-free).
    /// Returns the record's new state.
    pub async fn deliver(&self, key: MessageKey) -> Result<Option<MessageState>, StoreError> {
        let now = OffsetDateTime::now_utc();
        let claim =
            Update::to(MessageState::Sending, now, ACTOR_SENDER).expect(MessageState::Scheduled);
        let record = match blocking(&self.store, move |s| s.update(&key, claim)).await {
            Ok(r) => r,
            Err(StoreError::StateMismatch { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let (out, _payload) = match self.load(&record).await {
            Ok(v) => v,
            Err(reason) => {
                let u = Update::to(MessageState::Failed, now, ACTOR_SENDER).error(reason);
                return blocking(&self.store, move |s| s.update(&key, u))
                    .await
                    .map(|r| Some(r.state));
            }
        };
        let route = match (out.recipient(), out.document()) {
            (Ok(p), Ok(d)) => self.routes.resolve(&p, &d).await,
            (Err(e), _) | (_, Err(e)) => Err(RouteError::NotRegistered {
                participant: out.final_recipient.clone(),
                document: out.action.clone(),
                reason: e,
            }),
        };
        let (update, event) = match route {
            Ok(route) => {
                let attempt = self.sender.attempt(&out, &route).await;
                self.outcome(&record, &out, attempt)
            }
            Err(e) => self.route_failure(&record, &out, &e, now),
        };
        let store = Arc::clone(&self.store);
        let event = event.into_event();
        blocking(&store, move |s| {
            let r = s.update(&key, update)?;
            s.append_audit(event)?;
            Ok(Some(r.state))
        })
        .await
    }

    async fn load(&self, record: &MessageRecord) -> Result<(Outgoing, TempPath), String> {
        let json = record
            .content(super::delivery::OUTGOING_CONTENT)
            .cloned()
            .ok_or("no prepared header (as4-outgoing)")?;
        let payload = record
            .content(PAYLOAD_CONTENT)
            .cloned()
            .ok_or("no compressed payload (as4-payload)")?;
        let spool = self.spool_dir.clone();
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || {
            let mut bytes = Vec::new();
            store
                .open_blob(&json)
                .map_err(|e| e.to_string())?
                .take(1 << 20)
                .read_to_end(&mut bytes)
                .map_err(|e| e.to_string())?;
            let mut out: Outgoing = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
            let file = tempfile::Builder::new()
                .prefix("as4-payload-")
                .tempfile_in(&spool)
                .map_err(|e| e.to_string())?;
            let (f, path) = file.into_parts();
            let mut w = BufWriter::with_capacity(256 * 1024, f);
            std::io::copy(
                &mut store.open_blob(&payload).map_err(|e| e.to_string())?,
                &mut w,
            )
            .map_err(|e| format!("payload blob: {e}"))?;
            w.flush().map_err(|e| e.to_string())?;
            out.payload = path.to_path_buf();
            Ok((out, path))
        })
        .await
        .map_err(|e| e.to_string())?
    }

    fn retry_or_exhaust(
        &self,
        record: &MessageRecord,
        now: OffsetDateTime,
        reason: &str,
        event: &mut As4Event,
    ) -> Update {
        match self.policy.delay_after(record.attempts) {
            Some(delay) => {
                event.outcome("retry");
                Update::to(MessageState::Scheduled, now, ACTOR_SENDER)
                    .next_attempt(
                        now + time::Duration::try_from(delay).unwrap_or(time::Duration::ZERO),
                    )
                    .error(reason.to_owned())
            }
            None => {
                let text = format!(
                    "{} {}: no receipt after {} attempts (last: {reason})",
                    ErrorCode::MissingReceipt.code(),
                    ErrorCode::MissingReceipt.short_description(),
                    record.attempts
                );
                event.outcome("exhausted");
                event.failure(ErrorCode::MissingReceipt.code(), &text);
                Update::to(MessageState::DeadLettered, now, ACTOR_SENDER).error(text)
            }
        }
    }

    fn outcome(
        &self,
        record: &MessageRecord,
        out: &Outgoing,
        attempt: Attempt,
    ) -> (Update, As4Event) {
        let now = OffsetDateTime::now_utc();
        let mut event = base_event(record, out, &attempt);
        let update = match attempt.outcome {
            AttemptOutcome::Delivered(d) => {
                event.outcome("delivered");
                event.signature("receipt_signature", &d.receipt_signature);
                event.set("receipt_message_id", d.receipt_message_id.as_str());
                let mut u = Update::to(MessageState::Delivered, now, ACTOR_SENDER);
                u.correlation.receipt_id = Some(d.receipt_message_id.clone());
                self.add_evidence(
                    u,
                    &[
                        (RECEIPT_EVIDENCE, &d.receipt),
                        (
                            super::delivery::SENT_EVIDENCE,
                            attempt.envelope.as_deref().unwrap_or_default(),
                        ),
                    ],
                )
            }
            AttemptOutcome::Rejected { errors, signal, .. } => {
                let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                let text = text.join("; ");
                event.outcome("rejected");
                event.failure(errors.first().map_or("", |e| e.error_code.as_str()), &text);
                let u = Update::to(MessageState::Failed, now, ACTOR_SENDER).error(text);
                self.add_evidence(u, &[(ERROR_SIGNAL_EVIDENCE, &signal)])
            }
            AttemptOutcome::Fail(f) => {
                event.outcome("failed");
                event.failure(f.code.unwrap_or("local"), &f.reason);
                Update::to(MessageState::Failed, now, ACTOR_SENDER).error(f.reason)
            }
            AttemptOutcome::Retry(f) => {
                event.failure(f.code.unwrap_or("local"), &f.reason);
                self.retry_or_exhaust(record, now, &f.reason, &mut event)
            }
        };
        (update, event)
    }

    fn route_failure(
        &self,
        record: &MessageRecord,
        out: &Outgoing,
        e: &RouteError,
        now: OffsetDateTime,
    ) -> (Update, As4Event) {
        let mut event = As4Event::outbound(now);
        event.message(record.key);
        event.set("as4_message_id", out.message_id.as_str());
        event.set("sender_participant", out.original_sender.as_str());
        event.set("recipient_participant", out.final_recipient.as_str());
        event.failure("route", &e.to_string());
        let update = match e {
            RouteError::NotRegistered { .. } => {
                event.outcome("failed");
                Update::to(MessageState::Failed, now, ACTOR_SENDER).error(e.to_string())
            }
            RouteError::Unavailable(_) => {
                self.retry_or_exhaust(record, now, &e.to_string(), &mut event)
            }
        };
        (update, event)
    }

    /// Adds evidence blobs; a blob that cannot be written is logged (the state change is
    /// what matters, and the audit event carries the signature values).
    fn add_evidence(&self, mut u: Update, items: &[(&str, &[u8])]) -> Update {
        for (kind, bytes) in items {
            if bytes.is_empty() {
                continue;
            }
            match blob_from_bytes(self.store.as_ref(), bytes) {
                Ok(b) => u = u.evidence(kind, b),
                Err(e) => tracing::error!(error = %e, kind, "cannot store AS4 evidence"),
            }
        }
        u
    }
}

/// The AP-3.4.1 fields every outbound event carries.
fn base_event(record: &MessageRecord, out: &Outgoing, attempt: &Attempt) -> As4Event {
    let mut event = As4Event::outbound(attempt.started_at);
    event.message(record.key);
    event.set("attempt", record.attempts);
    event.set("as4_message_id", out.message_id.as_str());
    event.set("as4_conversation_id", out.xhe_id.as_str());
    event.set("xhe_id", out.xhe_id.as_str());
    event.set("sender_participant", out.original_sender.as_str());
    event.set("recipient_participant", out.final_recipient.as_str());
    event.set("action", out.action.as_str());
    if let Some(ap) = &attempt.to_ap {
        event.set("receiving_ap", ap.as_str());
    }
    event.certificate("receiving", &attempt.receiver_certificate);
    if let Some(sig) = &attempt.signature_value {
        event.signature("sending_ap_signature", sig);
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_served_participants_may_send_whatever_the_case_of_the_id() {
        let served = ["0203:orga.test", "0203:other.test"];
        assert!(check_served("0203:orga.test", &served).is_ok());
        assert!(check_served("0203:OrgA.Test", &served).is_ok());
        let e = check_served("0203:orgb.test", &served).unwrap_err();
        assert!(matches!(e, SubmitError::NotServed { .. }));
        assert!(
            e.to_string()
                .contains("0203:orgb.test is not a participant"),
            "{e}"
        );
        assert!(check_served("0203:orga.test", &[]).is_err());
    }
}
