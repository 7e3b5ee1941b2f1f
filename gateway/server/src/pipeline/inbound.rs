//! The inbound pipeline (corner C4, envelope digest §5), after the AS4 receiver stored a
//! message (`received`) and answered with its AS4 Receipt:
//!
//! 1. the sending access point (AS4 `From/PartyId`) must be one the address book lists for
//!    the sender ([`sending_ap`], B1.3.3 row 13): otherwise REJECTED / BV `security` without
//!    looking further;
//! 2. the sender's O2O signing certificates from CertPub (sender + receipt document type,
//!    falling back to the message type, CP-09); an unknown sender gets no receipt (row 13);
//!    the address book unreachable → try again later;
//! 3. [`sdkgw_envelope::open::open`]: profile, signature (signer = the CertPub certificate),
//!    decryption with our O2O keys, validation, the function mailbox (GW-MSG-8 → BV
//!    `not-found`), duplicates and re-deliveries ([`super::history`]). When the signature does
//!    not match the published certificate, the metadata is refetched once (CP-07/08) and the
//!    envelope opened again with what the sender publishes now;
//! 4. by outcome — **accepted**: `received → verified` (mailbox, decrypted message, our
//!    ACCEPTED receipt), receipt queued, `verified → filed`, mailbox notified; **rejected**:
//!    the REJECTED receipt stored on the record, queued, `received → rejected`; **no receipt**
//!    (envelope, decryption, unknown sender): `received → rejected` as quarantined, logged at
//!    error level and audited (`pipeline.inbound.quarantined`); **re-delivery**: the stored
//!    receipt sent again, `received → rejected` (no second mailbox entry); **a receipt**:
//!    applied to the message it answers ([`super::receipts::apply`]) and consumed.
//!
//! Every decision is written before it is acted on, so a restart resumes from the record's
//! state: `received` with a stored receipt → queue it and finish; `verified` → queue the
//! receipt and file.

mod sending_ap;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sdkgw_address_book::{ErrorKind, SignerCheck};
use sdkgw_as4::msh::handoff::XHE_CONTENT;
use sdkgw_certs::Certificate;
use sdkgw_envelope::message::{MalwareScanner, MessagePolicy};
use sdkgw_envelope::open::{
    self, OpenConfig, Opened, ReceivedEnvelope, Refusal, SendingAp, SignerTrust,
};
use sdkgw_envelope::xhe::XheContext;
use sdkgw_envelope::{Report, RuleId, Stage};
use sdkgw_schemas::codelists::MessageType;
use sdkgw_schemas::{FunctionAddress, MessageRule, ParticipantId, TransportModel, codelists};
use sdkgw_store::{
    AuditEvent, Direction, ListFilter, MessageKey, MessageRecord, MessageState, StoreError, Update,
};
use time::OffsetDateTime;
use tokio::sync::{Semaphore, mpsc};

use super::history::StoreHistory;
use super::receipts::{self, Applied, describe_lines};
use super::{ACTOR, Ctx, RECEIPT_EVIDENCE, SDK_MESSAGE, blob, classify, evidence, read_blob};
use crate::metrics::{Flow, MALWARE_FOUND};
use crate::notify::MessageFiled;

/// How often the store is searched for inbound work nobody queued (missed hand-offs).
const RESCAN: Duration = Duration::from_secs(30);
/// Longest wait before retrying a message whose processing hit a transient failure.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How long a received receipt waits for its message to record the AS4 Receipt.
const RECEIPT_PATIENCE: Duration = Duration::from_secs(24 * 3600);
/// Largest receipt envelope read back from a record.
const MAX_RECEIPT: u64 = 1 << 20;

/// What to do after one processing round of a record.
#[derive(Debug)]
enum Next {
    Done,
    /// Try again later (transient failure); the reason for the log.
    Retry(String),
}

/// Runs the inbound pipeline until `stopped`.
pub(crate) async fn run(
    ctx: Arc<Ctx>,
    mut rx: mpsc::UnboundedReceiver<MessageKey>,
    requeue: mpsc::UnboundedSender<MessageKey>,
    stopped: impl std::future::Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(ctx.settings.inbound_workers.max(1)));
    let failures: Arc<Mutex<std::collections::HashMap<MessageKey, u32>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    let mut rescan = tokio::time::interval(RESCAN);
    tokio::pin!(stopped);
    loop {
        let key = tokio::select! {
            () = &mut stopped => break,
            _ = rescan.tick() => {
                pending(&ctx, &requeue).await;
                continue;
            }
            key = rx.recv() => match key {
                Some(k) => k,
                None => break,
            },
        };
        if ctx.is_busy(&key) {
            continue;
        }
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let (ctx, requeue, failures) = (Arc::clone(&ctx), requeue.clone(), Arc::clone(&failures));
        tasks.spawn(async move {
            let next = process(&ctx, key).await;
            drop(permit);
            retry_later(next, key, &requeue, &failures);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

fn retry_later(
    next: Next,
    key: MessageKey,
    requeue: &mpsc::UnboundedSender<MessageKey>,
    failures: &Mutex<std::collections::HashMap<MessageKey, u32>>,
) {
    let mut map = failures.lock().unwrap_or_else(PoisonError::into_inner);
    let reason = match next {
        Next::Done => {
            map.remove(&key);
            return;
        }
        Next::Retry(reason) => reason,
    };
    let n = map.entry(key).or_insert(0);
    *n = n.saturating_add(1);
    let delay = Duration::from_millis(250)
        .saturating_mul(1 << (*n).min(12))
        .min(MAX_BACKOFF);
    tracing::warn!(%key, attempt = *n, ?delay, %reason, "inbound message: will retry");
    let requeue = requeue.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let _ = requeue.send(key);
    });
}

/// Queues every inbound record waiting for the pipeline (`received`, `verified`).
async fn pending(ctx: &Arc<Ctx>, requeue: &mpsc::UnboundedSender<MessageKey>) {
    let keys = ctx
        .blocking(|c| {
            let mut keys = Vec::new();
            for state in [MessageState::Received, MessageState::Verified] {
                let filter = ListFilter {
                    state: Some(state),
                    direction: Some(Direction::Inbound),
                    limit: 10_000,
                    ..ListFilter::default()
                };
                keys.extend(c.store().list_messages(&filter)?.into_iter().map(|s| s.key));
            }
            Ok::<_, StoreError>(keys)
        })
        .await;
    match keys {
        Ok(Ok(keys)) => {
            for k in keys.into_iter().filter(|k| !ctx.is_busy(k)) {
                let _ = requeue.send(k);
            }
        }
        Ok(Err(e)) | Err(e) => {
            tracing::error!(error = %e, "inbound pipeline: cannot list pending work")
        }
    }
}

/// One round for the record `key`.
async fn process(ctx: &Arc<Ctx>, key: MessageKey) -> Next {
    let Some(_busy) = ctx.claim(key) else {
        return Next::Done;
    };
    let record = match ctx.blocking(move |c| c.store().get_message(&key)).await {
        Ok(Ok(Some(r))) => r,
        Ok(Ok(None)) => return Next::Done,
        Ok(Err(e)) | Err(e) => return Next::Retry(e.to_string()),
    };
    let result = match record.state {
        MessageState::Verified if super::is_receipt(&record) => {
            consume(ctx, key, "consumed after a restart".into()).await
        }
        MessageState::Verified => finish_accepted(ctx, record).await,
        MessageState::Received if evidence(&record, RECEIPT_EVIDENCE).is_some() => {
            finish_answered(ctx, record).await
        }
        MessageState::Received => open_and_decide(ctx, record).await,
        _ => Ok(Next::Done),
    };
    result.unwrap_or_else(|e| Next::Retry(e.to_string()))
}

/// An error on the way: the store (retry) or a reason to quarantine.
type Step = Result<Next, StoreError>;

/// How the envelope came out, with what the sender publishes.
enum Decision {
    Opened(Opened),
    Refused(Refusal),
    /// No receipt possible: the sender is unknown to the address book (or the answer was not
    /// trustworthy): the text says why.
    Unanswerable(String),
    Retry(String),
}

async fn open_and_decide(ctx: &Arc<Ctx>, record: MessageRecord) -> Step {
    let Some((kind, model)) = classify(&record) else {
        return quarantine(
            ctx,
            &record,
            "the document type is not one of the federation's",
        )
        .await;
    };
    let decision = open_record(ctx, &record, model).await;
    let at = OffsetDateTime::now_utc();
    match decision {
        Decision::Retry(why) => Ok(Next::Retry(why)),
        Decision::Unanswerable(why) => quarantine(ctx, &record, &why).await,
        Decision::Refused(Refusal::Internal(why)) => {
            tracing::error!(key = %record.key, reason = %why, "inbound: cannot build the receipt");
            Ok(Next::Retry(why))
        }
        Decision::Refused(r) => {
            let text = format!("{r} ({})", r.log_reason());
            quarantine(ctx, &record, &text).await
        }
        Decision::Opened(Opened::Receipt(receipt)) if kind == MessageType::Receipt => {
            consume_receipt(ctx, record, *receipt, at).await
        }
        Decision::Opened(Opened::Receipt(_)) => {
            quarantine(ctx, &record, "a receipt sent on the message leg").await
        }
        Decision::Opened(Opened::Accepted(m)) => accept(ctx, record, *m, at).await,
        Decision::Opened(Opened::Rejected(r)) => {
            let Some(envelope) = r.receipt.envelope.clone() else {
                return quarantine(ctx, &record, "the REJECTED receipt could not be signed").await;
            };
            tracing::warn!(key = %record.key, stage = ?r.stage, reason = %r.log_reason(), "inbound message rejected");
            if r.report.has(MessageRule::Malware) {
                malware_incident(ctx, &record, &r.report).await?;
            }
            let reasons = format!("REJECTED: {}", describe_lines(&r.receipt.receipt.lines));
            answer_and_close(ctx, record, envelope, reasons, None).await
        }
        Decision::Opened(Opened::Redelivered(previous)) => match previous.receipt {
            Some(envelope) => {
                let note = "re-delivery of an answered message: its receipt is sent again";
                answer_and_close(ctx, record, envelope, String::new(), Some(note)).await
            }
            None => Ok(Next::Retry(
                "a copy of this envelope is still being processed".into(),
            )),
        },
    }
}

fn receipt_documents(
    model: TransportModel,
) -> (
    &'static sdkgw_schemas::DocumentId,
    &'static sdkgw_schemas::DocumentId,
) {
    let lists = codelists();
    (
        lists.receipt_document(model),
        lists.sdk_message_document(model),
    )
}

/// Looks up the sender's signing certificates and opens the envelope (refetching once when
/// the signer is not the published certificate).
async fn open_record(ctx: &Arc<Ctx>, record: &MessageRecord, model: TransportModel) -> Decision {
    let sender = match super::participant(record.sender.as_deref(), "sender") {
        Ok(s) => s,
        Err(e) => return Decision::Unanswerable(e),
    };
    let (receipt_doc, message_doc) = receipt_documents(model);
    match sending_ap::check(ctx, record, &sender, (receipt_doc, message_doc)).await {
        sending_ap::Verdict::Retry(why) => return Decision::Retry(why),
        sending_ap::Verdict::NotListed(why) => {
            return open_blocking(ctx, record, None, Some(why)).await;
        }
        sending_ap::Verdict::Listed | sending_ap::Verdict::Unchecked => {}
    }
    if !model.requires_signature_and_encryption() {
        return open_blocking(ctx, record, None, None).await;
    }
    let book = ctx.book();
    let published = match book
        .signing_certificates(&sender, receipt_doc, Some(message_doc))
        .await
    {
        Ok(certs) => certs,
        Err(e) if e.kind() == ErrorKind::Transient => return Decision::Retry(e.to_string()),
        Err(e) => {
            return Decision::Unanswerable(format!(
                "the sender {sender} has no usable signing certificate in the address book \
                 ({}): {e}",
                e.label()
            ));
        }
    };
    let mut expected = published.first().cloned();
    if published.len() > 1 {
        // Rotation: open with the published certificate that actually signed.
        if let Some(signer) = peek_signer(ctx, record).await
            && published.contains(&signer)
        {
            expected = Some(signer);
        }
    }
    let first = open_blocking(ctx, record, expected.clone(), None).await;
    if !signature_failed(&first) {
        return first;
    }
    // CP-07/08: the signer may have rotated since the metadata was cached.
    let Some(signer) = peek_signer(ctx, record).await else {
        return first;
    };
    if expected.as_ref() == Some(&signer) {
        return first;
    }
    match book
        .check_signer(&sender, receipt_doc, Some(message_doc), &signer)
        .await
    {
        Ok(SignerCheck::Published) => open_blocking(ctx, record, Some(signer), None).await,
        Ok(SignerCheck::NotPublished) => first,
        Err(e) if e.kind() == ErrorKind::Transient => Decision::Retry(e.to_string()),
        Err(_) => first,
    }
}

fn signature_failed(d: &Decision) -> bool {
    match d {
        Decision::Opened(Opened::Rejected(r)) => r.stage == Stage::Signature,
        Decision::Refused(Refusal::BadReceipt(_)) => true,
        _ => false,
    }
}

fn xhe_bytes(c: &Ctx, record: &MessageRecord) -> Result<Vec<u8>, String> {
    let b = record
        .content(XHE_CONTENT)
        .ok_or("the record has no XHE (content deleted?)")?;
    read_blob(c.store().as_ref(), b, super::max_xhe(c)).map_err(|e| e.to_string())
}

/// The certificate that made the envelope's signature, if the signature verifies and the
/// signer chains to an O2O issuer (no CertPub comparison).
async fn peek_signer(ctx: &Arc<Ctx>, record: &MessageRecord) -> Option<Certificate> {
    let record = record.clone();
    ctx.blocking(move |c| {
        let bytes = xhe_bytes(c, &record).ok()?;
        let env = Some(c.shared.config.environment.name);
        let max = super::max_xhe_usize(c);
        let received =
            ReceivedEnvelope::parse_within(bytes, &XheContext { environment: env }, max).ok()?;
        let o2o = c.o2o();
        let trust = SignerTrust {
            certpub: None,
            store: &o2o.trust.store,
            revocation: &o2o.trust.revocation,
        };
        let verified = received.verify(&trust, OffsetDateTime::now_utc()).ok()?;
        verified.signer().cloned()
    })
    .await
    .ok()
    .flatten()
}

/// The function mailboxes of `participant` (the registry when wired, else the configuration).
fn functions_of(c: &Ctx, participant: &ParticipantId) -> Vec<FunctionAddress> {
    if let Some(registry) = &c.hooks.registry {
        match registry.list() {
            Ok(list) => {
                return list
                    .into_iter()
                    .filter(|m| &m.participant == participant)
                    .map(|m| m.address)
                    .collect();
            }
            Err(e) => {
                tracing::error!(error = %e, "mailbox registry unreadable; using the configuration")
            }
        }
    }
    c.shared
        .config
        .participants
        .iter()
        .filter(|p| &p.id == participant)
        .flat_map(|p| p.mailboxes.iter().map(|m| m.address.clone()))
        .collect()
}

/// Opens the record's XHE; `not_listed` says why its sending AP is not FromParty's (stage 4).
async fn open_blocking(
    ctx: &Arc<Ctx>,
    record: &MessageRecord,
    certpub: Option<Certificate>,
    not_listed: Option<String>,
) -> Decision {
    let record = record.clone();
    let result = ctx
        .blocking(move |c| {
            let bytes = match xhe_bytes(c, &record) {
                Ok(b) => b,
                Err(e) => return Decision::Retry(e),
            };
            let served: Vec<ParticipantId> = c
                .shared
                .config
                .participants
                .iter()
                .map(|p| p.id.clone())
                .collect();
            let functions = match super::participant(record.recipient.as_deref(), "recipient") {
                Ok(p) => functions_of(c, &p),
                Err(_) => Vec::new(),
            };
            let history = StoreHistory {
                store: Arc::clone(c.store()),
                current: record.clone(),
            };
            let content = &c.shared.config.pipeline;
            let scanner = content.scanner();
            let o2o = c.o2o();
            let cfg = OpenConfig {
                context: XheContext {
                    environment: Some(c.shared.config.environment.name),
                },
                serves: Some(&served),
                trust: SignerTrust {
                    certpub: certpub.as_ref(),
                    store: &o2o.trust.store,
                    revocation: &o2o.trust.revocation,
                },
                keys: &o2o.keys.decryption,
                policy: MessagePolicy {
                    // One limit for both ends: what our API accepts, we accept (lead decision).
                    max_message_bytes: usize::try_from(c.shared.config.api.max_content_bytes)
                        .unwrap_or(usize::MAX),
                    // Every XHE the AS4 layer took is read far enough to be answered (TF-08).
                    max_xhe_bytes: super::max_xhe_usize(c),
                    functions: Some(&functions),
                    history: &history,
                    // MT–MK §2.8, §3: the attachment allow-list and the malware scan.
                    attachment_types: Some(&content.attachment_types),
                    scanner: scanner.as_ref().map(|s| s as &dyn MalwareScanner),
                    sending_ap: not_listed
                        .as_deref()
                        .map_or(SendingAp::NoObjection, SendingAp::NotListed),
                },
                receipt_signer: Some(o2o.keys.signer()),
                at: OffsetDateTime::now_utc(),
            };
            match open::open(bytes, &cfg) {
                Ok(o) => Decision::Opened(o),
                // Never accepted unscanned: the scan is tried again later.
                Err(Refusal::Unscanned(why)) => {
                    tracing::error!(key = %record.key, reason = %why,
                        "inbound: an attachment could not be scanned for malware; retrying later");
                    Decision::Retry(why)
                }
                Err(r) => Decision::Refused(r),
            }
        })
        .await;
    result.unwrap_or_else(|e| Decision::Retry(e.to_string()))
}

/// A security incident: an attachment of `record` holds malware (it is rejected with `BV
/// forbidden` all the same). Audited as `security.malware_found`, which the metrics count.
async fn malware_incident(
    ctx: &Arc<Ctx>,
    record: &MessageRecord,
    report: &Report,
) -> Result<(), StoreError> {
    let key = record.key;
    let paths: Vec<String> = report
        .findings()
        .iter()
        .filter(|f| f.rule == RuleId::Message(MessageRule::Malware))
        .map(|f| f.path.clone())
        .collect();
    tracing::error!(%key, files = ?paths,
        "security incident: malware in an inbound message's attachment; the message is rejected");
    ctx.blocking(move |c| {
        c.store().append_audit(
            AuditEvent::new(OffsetDateTime::now_utc(), ACTOR, MALWARE_FOUND)
                .for_message(key)
                .with("direction", "inbound")
                .with("files", paths),
        )
    })
    .await?
    .map(|_| ())
}

/// No receipt: `received → rejected` (quarantined; content kept for escalation), alert.
async fn quarantine(ctx: &Arc<Ctx>, record: &MessageRecord, why: &str) -> Step {
    let key = record.key;
    tracing::error!(%key, xhe_id = ?record.correlation.xhe_id, reason = %why,
        "inbound message quarantined: no receipt can be sent; escalate to the platform operator");
    let why = why.to_owned();
    ctx.blocking(move |c| {
        let now = OffsetDateTime::now_utc();
        let u = Update::to(MessageState::Rejected, now, ACTOR)
            .expect(MessageState::Received)
            .error(format!("quarantined (no receipt): {why}"));
        match c.store().update(&key, u) {
            Ok(_) | Err(StoreError::StateMismatch { .. }) => {}
            Err(e) => return Err(e),
        }
        c.store().append_audit(
            AuditEvent::new(now, ACTOR, "pipeline.inbound.quarantined")
                .for_message(key)
                .with("reason", why.as_str()),
        )?;
        if let Some(m) = &c.hooks.metrics {
            m.message(crate::metrics::Direction::Inbound, "quarantined");
        }
        Ok(Next::Done)
    })
    .await?
}

/// Valid: store the decision (mailbox, message, our ACCEPTED receipt), then finish.
async fn accept(
    ctx: &Arc<Ctx>,
    record: MessageRecord,
    message: open::OpenedMessage,
    at: OffsetDateTime,
) -> Step {
    let mailbox = message.message().recipient_function().to_owned();
    let o2o = ctx.o2o();
    let receipt = match message.acceptance(Some(o2o.keys.signer()), at) {
        Ok(r) => r,
        Err(e) => return Ok(Next::Retry(format!("cannot build the receipt: {e}"))),
    };
    let (Some(envelope), Ok(xml)) = (receipt.envelope, message.message().to_xml()) else {
        return Ok(Next::Retry(
            "cannot serialise the message or its receipt".into(),
        ));
    };
    let key = record.key;
    let verified = ctx
        .blocking(move |c| {
            let store = c.store().as_ref();
            let receipt_id = sdkgw_as4::msh::xhe::read_header(&envelope)
                .map(|h| h.id)
                .ok();
            let mut u = Update::to(MessageState::Verified, at, ACTOR)
                .expect(MessageState::Received)
                .content(SDK_MESSAGE, blob(store, xml.as_bytes())?)
                .evidence(RECEIPT_EVIDENCE, blob(store, &envelope)?)
                .note(format!("opened: valid, for mailbox {mailbox}"));
            u.mailbox = Some(mailbox);
            u.correlation.receipt_id = receipt_id;
            store.update(&key, u)
        })
        .await?;
    match verified {
        Ok(r) => finish_accepted(ctx, r).await,
        Err(StoreError::StateMismatch { .. }) => Ok(Next::Done),
        Err(e) => Err(e),
    }
}

/// Queues the receipt stored on `record` (idempotent).
async fn queue_stored_receipt(
    ctx: &Arc<Ctx>,
    record: &MessageRecord,
    code: &'static str,
) -> Result<(), StoreError> {
    let key = record.key;
    let stored = evidence(record, RECEIPT_EVIDENCE).cloned();
    let queued = ctx
        .blocking(move |c| {
            let b = stored.ok_or_else(|| StoreError::Invalid("no stored receipt".into()))?;
            let envelope = read_blob(c.store().as_ref(), &b, MAX_RECEIPT)?;
            let at = OffsetDateTime::now_utc();
            super::receipts::queue_receipt(
                c.store().as_ref(),
                &c.shared.spool_dir,
                c.federation().as_str(),
                &key,
                &envelope,
                at,
            )
            .map_err(|e| StoreError::Invalid(e.to_string()))
        })
        .await??;
    tracing::debug!(%key, receipt = %queued, "receipt queued");
    if let Some(m) = &ctx.hooks.metrics {
        m.receipt(Flow::Sent, code);
    }
    ctx.delivery_wake.notify_one();
    Ok(())
}

/// `verified`: queue the ACCEPTED receipt, file, notify.
async fn finish_accepted(ctx: &Arc<Ctx>, record: MessageRecord) -> Step {
    queue_stored_receipt(ctx, &record, "ACCEPTED").await?;
    let key = record.key;
    let filed = ctx
        .blocking(move |c| {
            let now = OffsetDateTime::now_utc();
            let u = Update::to(MessageState::Filed, now, ACTOR).expect(MessageState::Verified);
            c.store().update(&key, u)
        })
        .await?;
    let record = match filed {
        Ok(r) => r,
        Err(StoreError::StateMismatch { .. }) => return Ok(Next::Done),
        Err(e) => return Err(e),
    };
    if let Some(m) = &ctx.hooks.metrics {
        m.message(crate::metrics::Direction::Inbound, "filed");
    }
    notify_filed(ctx, &record);
    ctx.changed();
    tracing::info!(%key, mailbox = ?record.mailbox, xhe_id = ?record.correlation.xhe_id, "inbound message filed");
    Ok(Next::Done)
}

fn notify_filed(ctx: &Ctx, record: &MessageRecord) {
    let Some(notifier) = &ctx.hooks.notifier else {
        return;
    };
    let (Some(mailbox), Some(sender)) = (
        record
            .mailbox
            .as_deref()
            .and_then(|m| FunctionAddress::parse(m).ok()),
        record
            .sender
            .as_deref()
            .and_then(|s| ParticipantId::parse(s).ok()),
    ) else {
        return;
    };
    let message_id = record.correlation.xhe_id.clone().unwrap_or_default();
    let event = MessageFiled {
        mailbox: &mailbox,
        message_key: record.key,
        message_id: &message_id,
        sender: &sender,
        at: record.state_since,
    };
    if let Err(e) = notifier.message_filed(&event) {
        tracing::error!(key = %record.key, error = %e, "cannot queue the new-message notification");
    }
}

/// Rejected or re-delivered: store the receipt to send (and why), then finish.
async fn answer_and_close(
    ctx: &Arc<Ctx>,
    record: MessageRecord,
    envelope: Vec<u8>,
    reasons: String,
    note: Option<&'static str>,
) -> Step {
    let key = record.key;
    let stored = ctx
        .blocking(move |c| {
            let store = c.store().as_ref();
            let at = OffsetDateTime::now_utc();
            let mut u = Update::none(at, ACTOR)
                .expect(MessageState::Received)
                .evidence(RECEIPT_EVIDENCE, blob(store, &envelope)?);
            if !reasons.is_empty() {
                u = u.error(reasons);
            }
            if let Some(n) = note {
                u = u.note(n);
            }
            u.correlation.receipt_id = sdkgw_as4::msh::xhe::read_header(&envelope)
                .map(|h| h.id)
                .ok();
            store.update(&key, u)
        })
        .await?;
    match stored {
        Ok(r) => finish_answered(ctx, r).await,
        Err(StoreError::StateMismatch { .. }) => Ok(Next::Done),
        Err(e) => Err(e),
    }
}

/// `received` with a stored receipt: queue it, then `received → rejected`.
async fn finish_answered(ctx: &Arc<Ctx>, record: MessageRecord) -> Step {
    let error = record.last_error.clone();
    let redelivery = error.is_none();
    let code = if redelivery { "RESENT" } else { "REJECTED" };
    queue_stored_receipt(ctx, &record, code).await?;
    let key = record.key;
    ctx.blocking(move |c| {
        let now = OffsetDateTime::now_utc();
        let mut u = Update::to(MessageState::Rejected, now, ACTOR).expect(MessageState::Received);
        if let Some(e) = error {
            u = u.error(e);
        } else {
            u = u.note("re-delivery: answered with the receipt of the first copy");
        }
        match c.store().update(&key, u) {
            Ok(_) | Err(StoreError::StateMismatch { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    })
    .await??;
    if let Some(m) = &ctx.hooks.metrics {
        let outcome = if redelivery {
            "redelivered"
        } else {
            "rejected"
        };
        m.message(crate::metrics::Direction::Inbound, outcome);
    }
    Ok(Next::Done)
}

/// A verified receipt: apply it to its message, then consume the record.
async fn consume_receipt(
    ctx: &Arc<Ctx>,
    record: MessageRecord,
    receipt: open::InboundReceipt,
    at: OffsetDateTime,
) -> Step {
    let key = record.key;
    let created = record.created_at;
    let applied = ctx
        .blocking(move |c| {
            let bytes = xhe_bytes(c, &record).map_err(StoreError::Invalid)?;
            receipts::apply(c, &receipt, &bytes, at)
        })
        .await??;
    let note = match &applied {
        Applied::Settled { message, accepted } => {
            let code = if *accepted { "ACCEPTED" } else { "REJECTED" };
            format!("Meddelandekvittens {code} applied to outbound message {message}")
        }
        Applied::NotYetDelivered(message) => {
            if at - created < super::after(RECEIPT_PATIENCE) {
                return Ok(Next::Retry(format!(
                    "outbound message {message} has not recorded its AS4 Receipt yet"
                )));
            }
            format!("gave up waiting for outbound message {message} to be delivered")
        }
        Applied::Ignored(why) => {
            tracing::warn!(%key, reason = %why, "received Meddelandekvittens not applied");
            format!("not applied: {why}")
        }
    };
    consume(ctx, key, note).await
}

/// `received → verified → filed → deleted`: the receipt record is finished (no mailbox, so
/// the mailbox API never lists it).
async fn consume(ctx: &Arc<Ctx>, key: MessageKey, note: String) -> Step {
    ctx.blocking(move |c| {
        let now = OffsetDateTime::now_utc();
        let steps = [
            (MessageState::Received, MessageState::Verified),
            (MessageState::Verified, MessageState::Filed),
            (MessageState::Filed, MessageState::Deleted),
        ];
        for (i, (from, to)) in steps.into_iter().enumerate() {
            let mut u = Update::to(to, now, ACTOR).expect(from);
            if i == 0 {
                u = u.note(note.clone());
            }
            match c.store().update(&key, u) {
                Ok(_) => {}
                Err(StoreError::StateMismatch { .. }) => {
                    let state = c.store().get_message(&key)?.map(|r| r.state);
                    if state.is_some_and(|s| s > from) {
                        continue;
                    }
                    return Ok(Next::Done);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Next::Done)
    })
    .await?
}
