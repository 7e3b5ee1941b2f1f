//! The outbound pipeline (corner C1, envelope digest §5 "outbound"): what the mailbox API
//! accepted (`accepted`, content `sdk-message`) is checked against the address book (the
//! recipient publishes the document type, an AS4 endpoint and a CertPub encryption
//! certificate), sealed (`messageId` = XHE id, HandlingServiceID = the recipient's function
//! address; encrypted to the recipient, signed with our O2O key, checked as a receiver would),
//! prepared for AS4 (MessageId and compressed payload fixed for every retry) and queued:
//! `accepted → sealed → scheduled`. The AS4 delivery worker takes it from there.
//!
//! | problem | record | API |
//! |---|---|---|
//! | recipient or document type not in the address book, no endpoint, no certificate | `failed` | MESSAGE_EXCHANGE_ERROR |
//! | address-book answer not trustworthy (signature, revoked, wrong environment) | `failed`, alert | MESSAGE_EXCHANGE_ERROR |
//! | address book unreachable | stays `accepted`, retried per `[retry]`, then `failed` | SCHEDULED, then MESSAGE_EXCHANGE_ERROR |
//! | no Meddelandekvittens within `receipt_timeout` after the AS4 Receipt | `delivered → failed` | MESSAGE_EXCHANGE_ERROR |
//!
//! Every failure notifies the sending mailbox (codes only).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sdkgw_address_book::ErrorKind;
use sdkgw_as4::ebms::Leg;
use sdkgw_as4::msh::delivery::{OUTGOING_CONTENT, PAYLOAD_CONTENT};
use sdkgw_as4::msh::handoff::XHE_CONTENT;
use sdkgw_as4::msh::{RetryPolicy, prepare};
use sdkgw_certs::Certificate;
use sdkgw_envelope::message;
use sdkgw_envelope::seal::{SealOptions, seal_message};
use sdkgw_envelope::xhe::Xhe;
use sdkgw_schemas::{DocumentId, FunctionAddress, ParticipantId, TransportModel};
use sdkgw_store::{
    Direction, ListFilter, MessageKey, MessageRecord, MessageState, StoreError, Update,
};
use sdkgw_xml_security::xml::{Document, ParseOptions};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use super::receipts::{advance_to_scheduled, notify_failed};
use super::{ACTOR, Ctx, SDK_MESSAGE, blob, classify, is_receipt, read_blob};

/// How often `accepted` records are looked for when nobody wakes the sealer.
const POLL: Duration = Duration::from_millis(250);
/// Largest stored SDK message read (the API caps content at 30 MiB, Base64 inflates it).
const MAX_SDK_MESSAGE: u64 = 64 << 20;
/// Sealings at once (each is one RSA signature and one key wrap, plus the XML work).
const SEALERS: usize = 4;

/// The `[retry]` schedule (also used for address-book outages before sealing).
pub(crate) fn retry_policy(ctx: &Ctx) -> RetryPolicy {
    let r = &ctx.shared.config.retry;
    RetryPolicy {
        max_attempts: u32::try_from(r.max_attempts).unwrap_or(u32::MAX),
        initial_delay: r.initial_delay,
        max_delay: r.max_delay,
        multiplier: r.multiplier,
    }
}

/// Seals accepted submissions until `stopped`.
pub(crate) async fn run(ctx: Arc<Ctx>, stopped: impl std::future::Future<Output = ()>) {
    tokio::pin!(stopped);
    let slots = Arc::new(Semaphore::new(SEALERS));
    let waiting: Arc<std::sync::Mutex<HashMap<MessageKey, (u32, Instant)>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let keys = ctx
            .blocking(|c| {
                let mut keys = Vec::new();
                for state in [MessageState::Accepted, MessageState::Sealed] {
                    let filter = ListFilter {
                        state: Some(state),
                        direction: Some(Direction::Outbound),
                        limit: 256,
                        ..ListFilter::default()
                    };
                    keys.extend(c.store().list_messages(&filter)?.into_iter().map(|s| s.key));
                }
                Ok::<_, StoreError>(keys)
            })
            .await;
        let keys = match keys {
            Ok(Ok(k)) => k,
            Ok(Err(e)) | Err(e) => {
                tracing::error!(error = %e, "outbound pipeline: cannot list accepted messages");
                Vec::new()
            }
        };
        let now = Instant::now();
        for key in keys {
            let due = waiting
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&key)
                .is_none_or(|(_, at)| *at <= now);
            if !due || ctx.is_busy(&key) {
                continue;
            }
            let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                break;
            };
            let (ctx, waiting) = (Arc::clone(&ctx), Arc::clone(&waiting));
            tasks.spawn(async move {
                let outcome = seal_one(&ctx, key).await;
                drop(permit);
                schedule_retry(&ctx, key, outcome, &waiting).await;
                ctx.outbound_wake.notify_one();
            });
        }
        while tasks.try_join_next().is_some() {}
        tokio::select! {
            () = &mut stopped => break,
            () = ctx.outbound_wake.notified() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
    while tasks.join_next().await.is_some() {}
}

/// What sealing one record came to.
#[derive(Debug)]
enum Sealing {
    Done,
    /// The address book is unreachable (or the store failed): try again per `[retry]`.
    Retry(String),
}

async fn schedule_retry(
    ctx: &Arc<Ctx>,
    key: MessageKey,
    outcome: Sealing,
    waiting: &std::sync::Mutex<HashMap<MessageKey, (u32, Instant)>>,
) {
    let reason = match outcome {
        Sealing::Done => {
            waiting
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&key);
            return;
        }
        Sealing::Retry(r) => r,
    };
    let attempts = {
        let mut w = waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = w.entry(key).or_insert((0, Instant::now()));
        entry.0 = entry.0.saturating_add(1);
        entry.0
    };
    match retry_policy(ctx).delay_after(attempts) {
        Some(delay) => {
            tracing::warn!(%key, attempts, ?delay, %reason, "outbound message not sealed yet; will retry");
            if let Some(e) = waiting
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get_mut(&key)
            {
                e.1 = Instant::now() + delay;
            }
        }
        None => {
            waiting
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&key);
            let text = format!(
                "the address book (SMP/CertPub) was unavailable for {attempts} attempts: {reason}"
            );
            if let Err(e) = fail(ctx, key, text, "SMP_UNAVAILABLE").await {
                tracing::error!(%key, error = %e, "cannot record the failure");
            }
        }
    }
}

/// Seals one `accepted` record (or finishes one a crash interrupted).
async fn seal_one(ctx: &Arc<Ctx>, key: MessageKey) -> Sealing {
    let Some(_busy) = ctx.claim(key) else {
        return Sealing::Done;
    };
    let record = match ctx.blocking(move |c| c.store().get_message(&key)).await {
        Ok(Ok(Some(r))) => r,
        Ok(Ok(None)) => return Sealing::Done,
        Ok(Err(e)) | Err(e) => return Sealing::Retry(e.to_string()),
    };
    let prepared = record.content(OUTGOING_CONTENT).is_some();
    if record.state == MessageState::Sealed || (record.state == MessageState::Accepted && prepared)
    {
        let r = ctx
            .blocking(move |c| {
                advance_to_scheduled(c.store().as_ref(), &key, OffsetDateTime::now_utc())
            })
            .await;
        ctx.delivery_wake.notify_one();
        return match r {
            Ok(Ok(())) => Sealing::Done,
            Ok(Err(e)) | Err(e) => Sealing::Retry(e.to_string()),
        };
    }
    if record.state != MessageState::Accepted {
        return Sealing::Done;
    }
    match seal_accepted(ctx, record).await {
        Ok(s) => s,
        Err(e) => Sealing::Retry(e.to_string()),
    }
}

/// The addressing of a submission.
struct Addressing {
    sender: ParticipantId,
    recipient: ParticipantId,
    document: DocumentId,
    model: TransportModel,
}

fn addressing(record: &MessageRecord) -> Result<Addressing, String> {
    let document = record
        .document_type
        .as_deref()
        .ok_or("the record has no document type")
        .and_then(|d| DocumentId::parse(d).map_err(|_| "the document type is not valid"))?;
    let (_, model) = classify(record).ok_or("the document type is not one of the federation's")?;
    Ok(Addressing {
        sender: super::participant(record.sender.as_deref(), "sender")?,
        recipient: super::participant(record.recipient.as_deref(), "recipient")?,
        document,
        model,
    })
}

async fn seal_accepted(ctx: &Arc<Ctx>, record: MessageRecord) -> Result<Sealing, StoreError> {
    let key = record.key;
    let a = match addressing(&record) {
        Ok(a) => a,
        Err(e) => return fail(ctx, key, e, "INVALID").await.map(|()| Sealing::Done),
    };
    let certificate = match recipient_certificate(ctx, &a).await {
        Ok(c) => c,
        Err(Lookup::Retry(why)) => return Ok(Sealing::Retry(why)),
        Err(Lookup::Fail(why, code)) => {
            return fail(ctx, key, why, code).await.map(|()| Sealing::Done);
        }
    };
    let sealed = ctx
        .blocking(move |c| seal_and_store(c, &record, &a, &certificate))
        .await?;
    match sealed {
        Ok(()) => {
            ctx.delivery_wake.notify_one();
            ctx.changed();
            if let Some(m) = &ctx.hooks.metrics {
                m.message(crate::metrics::Direction::Outbound, "submitted");
            }
            Ok(Sealing::Done)
        }
        Err(SealFailure::Store(StoreError::StateMismatch { .. })) => Ok(Sealing::Done),
        Err(SealFailure::Store(e)) => Err(e),
        Err(SealFailure::Refused(why)) => fail(ctx, key, why, "SEAL").await.map(|()| Sealing::Done),
    }
}

enum Lookup {
    Retry(String),
    Fail(String, &'static str),
}

/// The address book: the recipient publishes the document type with an AS4 endpoint, and its
/// CertPub encryption certificate (validated by the address book for the O2O role).
async fn recipient_certificate(ctx: &Ctx, a: &Addressing) -> Result<Certificate, Lookup> {
    let found = ctx.book().lookup(&a.recipient, &a.document).await;
    let classify = |e: sdkgw_address_book::LookupError| match e.kind() {
        ErrorKind::Transient => Lookup::Retry(e.to_string()),
        ErrorKind::Permanent => Lookup::Fail(
            format!(
                "{} cannot receive {} according to the address book: {e}",
                a.recipient,
                a.document.qualified()
            ),
            "NOT_REGISTERED",
        ),
        ErrorKind::Security => {
            tracing::error!(recipient = %a.recipient, error = %e, "address book answer refused");
            Lookup::Fail(
                format!(
                    "the address book's answer for {} was refused: {e}",
                    a.recipient
                ),
                "SECURITY",
            )
        }
    };
    let entry = found.map_err(classify)?.entry;
    entry.route().map_err(classify)?;
    entry.encryption_certificate().cloned().map_err(classify)
}

enum SealFailure {
    Store(StoreError),
    Refused(String),
}

impl From<StoreError> for SealFailure {
    fn from(e: StoreError) -> Self {
        SealFailure::Store(e)
    }
}

/// Seals the stored SDK message, prepares the AS4 payload and moves the record to
/// `scheduled`. Blocking.
fn seal_and_store(
    c: &Ctx,
    record: &MessageRecord,
    a: &Addressing,
    certificate: &Certificate,
) -> Result<(), SealFailure> {
    let store = c.store().as_ref();
    let refused =
        |what: &str, e: &dyn std::fmt::Display| SealFailure::Refused(format!("{what}: {e}"));
    let b = record
        .content(SDK_MESSAGE)
        .ok_or_else(|| SealFailure::Refused("the submission has no SDK message".into()))?;
    let bytes = read_blob(store, b, MAX_SDK_MESSAGE)?;
    let doc = Document::parse_slice(&bytes, &ParseOptions::default())
        .map_err(|e| refused("the stored SDK message is not XML", &e))?;
    let m = message::validate_document(&doc)
        .message
        .ok_or_else(|| SealFailure::Refused("the stored SDK message is not valid".into()))?;
    drop(doc);
    let function = FunctionAddress::parse(m.recipient_function())
        .map_err(|e| refused("the recipient function address", &e))?;
    let now = OffsetDateTime::now_utc();
    let header = Xhe::for_message(
        m.header.message_id.clone(),
        now,
        a.sender.clone(),
        a.recipient.clone(),
        Some(function.clone()),
        c.federation(),
        a.model,
    );
    let o2o = c.o2o();
    let sealed = seal_message(
        &bytes,
        &header,
        Some(certificate),
        Some(o2o.keys.signer()),
        SealOptions::default(),
    )
    .map_err(|e| refused("cannot seal the message", &e))?;
    drop(bytes);
    let spool = &c.shared.spool_dir;
    let mut file = tempfile::Builder::new()
        .prefix("sealed-")
        .tempfile_in(spool)
        .map_err(|e| refused("spool", &e))?;
    std::io::Write::write_all(&mut file, &sealed.bytes).map_err(|e| refused("spool", &e))?;
    let (out, payload) = prepare(
        file.path(),
        Some(Leg::Message),
        c.federation().as_str(),
        spool,
        now,
    )
    .map_err(|e| refused("cannot prepare the AS4 message", &e))?;
    let json = serde_json::to_vec(&out).map_err(|e| refused("AS4 header values", &e))?;
    let payload_bytes = std::fs::read(&payload).map_err(|e| refused("spool", &e))?;
    let mut u = Update::to(MessageState::Sealed, now, ACTOR)
        .expect(MessageState::Accepted)
        .content(XHE_CONTENT, blob(store, &sealed.bytes)?)
        .content(PAYLOAD_CONTENT, blob(store, &payload_bytes)?)
        .content(OUTGOING_CONTENT, blob(store, &json)?)
        .note(format!(
            "sealed for {} (function address {function}), encrypted to {}",
            a.recipient,
            certificate.subject()
        ));
    u.correlation.as4_message_id = Some(out.message_id.clone());
    store.update(&record.key, u)?;
    store.update(
        &record.key,
        Update::to(MessageState::Scheduled, now, ACTOR)
            .expect(MessageState::Sealed)
            .next_attempt(now),
    )?;
    Ok(())
}

/// `accepted → failed` with `error`, and the sender's mailbox told (`code`).
async fn fail(
    ctx: &Arc<Ctx>,
    key: MessageKey,
    error: String,
    code: &'static str,
) -> Result<(), StoreError> {
    tracing::warn!(%key, reason = %error, "outbound message failed before sending");
    let r = ctx
        .blocking(move |c| {
            let u = Update::to(MessageState::Failed, OffsetDateTime::now_utc(), ACTOR)
                .expect(MessageState::Accepted)
                .error(error);
            c.store().update(&key, u)
        })
        .await?;
    let record = match r {
        Ok(r) => r,
        Err(StoreError::StateMismatch { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    if let Some(m) = &ctx.hooks.metrics {
        m.message(crate::metrics::Direction::Outbound, "failed");
    }
    notify_failed(
        ctx,
        &record,
        "MESSAGE_EXCHANGE_ERROR",
        Some(code),
        record.state_since,
    );
    ctx.changed();
    Ok(())
}

/// How often delivered messages are checked for a missing Meddelandekvittens.
fn sweep_interval(timeout: Duration) -> Duration {
    (timeout / 4).clamp(Duration::from_secs(1), Duration::from_secs(30))
}

/// Fails delivered messages whose Meddelandekvittens did not come within `receipt_timeout`.
pub(crate) async fn sweep_receipt_timeouts(
    ctx: Arc<Ctx>,
    stopped: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stopped);
    let timeout = ctx.settings.receipt_timeout;
    loop {
        tokio::select! {
            () = &mut stopped => break,
            () = tokio::time::sleep(sweep_interval(timeout)) => {}
        }
        let timed_out = ctx
            .blocking(move |c| time_out_overdue(c, timeout, OffsetDateTime::now_utc()))
            .await;
        match timed_out {
            Ok(Ok(records)) => {
                for r in &records {
                    notify_failed(
                        &ctx,
                        r,
                        "MESSAGE_EXCHANGE_ERROR",
                        Some("TIMEOUT"),
                        r.state_since,
                    );
                }
                if !records.is_empty() {
                    ctx.changed();
                }
            }
            Ok(Err(e)) | Err(e) => tracing::error!(error = %e, "receipt timeout sweep failed"),
        }
    }
}

/// `delivered → failed` for every message waiting longer than `timeout` (oldest first); a
/// receipt-leg record left in `delivered` by a crash is finished instead. Blocking.
pub(crate) fn time_out_overdue(
    c: &Ctx,
    timeout: Duration,
    now: OffsetDateTime,
) -> Result<Vec<MessageRecord>, StoreError> {
    let store = c.store().as_ref();
    let filter = ListFilter {
        state: Some(MessageState::Delivered),
        direction: Some(Direction::Outbound),
        limit: 1000,
        ..ListFilter::default()
    };
    let cutoff = now - super::after(timeout);
    let mut failed = Vec::new();
    for s in store.list_messages(&filter)? {
        let Some(r) = store.get_message(&s.key)? else {
            continue;
        };
        if is_receipt(&r) {
            super::delivery::finish_receipt_leg(store, &r.key, now)?;
            continue;
        }
        if s.state_since > cutoff {
            break;
        }
        let u = Update::to(MessageState::Failed, now, ACTOR)
            .expect(MessageState::Delivered)
            .error(format!(
                "no Meddelandekvittens within {}s of the AS4 Receipt (receipt_timeout)",
                timeout.as_secs()
            ));
        match store.update(&s.key, u) {
            Ok(r) => {
                tracing::warn!(key = %r.key, "no Meddelandekvittens in time: MESSAGE_EXCHANGE_ERROR");
                if let Some(m) = &c.hooks.metrics {
                    m.message(crate::metrics::Direction::Outbound, "failed");
                }
                failed.push(r);
            }
            Err(StoreError::StateMismatch { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_runs_often_enough_for_short_timeouts_and_at_most_every_30s() {
        assert_eq!(
            sweep_interval(Duration::from_secs(2)),
            Duration::from_secs(1)
        );
        assert_eq!(
            sweep_interval(Duration::from_secs(60)),
            Duration::from_secs(15)
        );
        assert_eq!(
            sweep_interval(Duration::from_secs(86_400)),
            Duration::from_secs(30)
        );
    }
}
