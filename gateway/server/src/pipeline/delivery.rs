//! The delivery driver: sends what is due through `DeliveryWorker::deliver` (the AS4 layer's
//! attempt, retry schedule and exhaustion, unchanged), adding what a gateway talking to many
//! peers needs:
//!
//! * **concurrency limits**: at most `max_in_flight` attempts at once, `per_peer` to one
//!   receiving access point (its SMP endpoint URL);
//! * **a per-peer circuit breaker** ([`super::breaker`]): after `breaker_failures`
//!   consecutive attempts without a usable answer, the peer's due messages are deferred
//!   (their next attempt moved, no attempt counted) for `breaker_open`, then one probe
//!   decides;
//! * **what follows an attempt**: a delivered receipt leg is finished
//!   (`delivered → recipient-accepted`), a message that failed for good notifies its mailbox,
//!   latencies are recorded.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sdkgw_as4::msh::DeliveryWorker;
use sdkgw_schemas::{DocumentId, ParticipantId};
use sdkgw_store::{MessageKey, MessageRecord, MessageState, Store, StoreError, Update};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use super::breaker::{Admit, Breaker, Health};
use super::receipts::{ebms_code, notify_failed};
use super::{ACTOR, Ctx, is_receipt};
use crate::metrics::LatencyStage;

/// Longest sleep when nothing is due (and nobody wakes the driver).
const POLL: Duration = Duration::from_millis(500);
/// Due records looked at per round.
const BATCH: usize = 256;

/// One peer: its breaker and its concurrency slots.
struct Peer {
    breaker: Breaker,
    slots: Arc<Semaphore>,
}

/// Drives the AS4 delivery worker.
pub(crate) struct Driver {
    ctx: Arc<Ctx>,
    worker: Arc<DeliveryWorker>,
    all: Arc<Semaphore>,
    peers: Mutex<HashMap<String, Peer>>,
    in_flight: Mutex<HashSet<MessageKey>>,
}

impl Driver {
    pub(crate) fn new(ctx: Arc<Ctx>, worker: Arc<DeliveryWorker>) -> Arc<Self> {
        Arc::new(Driver {
            all: Arc::new(Semaphore::new(ctx.settings.max_in_flight.max(1))),
            ctx,
            worker,
            peers: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashSet::new()),
        })
    }

    /// Sends due messages until `stopped` (attempts in flight finish).
    pub(crate) async fn run(self: Arc<Self>, stopped: impl std::future::Future<Output = ()>) {
        tokio::pin!(stopped);
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            self.round(&mut tasks).await;
            while tasks.try_join_next().is_some() {}
            tokio::select! {
                () = &mut stopped => break,
                () = self.ctx.delivery_wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    async fn round(self: &Arc<Self>, tasks: &mut tokio::task::JoinSet<()>) {
        let now = OffsetDateTime::now_utc();
        let due = self
            .ctx
            .blocking(move |c| c.store().due_messages(now, BATCH))
            .await;
        let due = match due {
            Ok(Ok(d)) => d,
            Ok(Err(e)) | Err(e) => {
                tracing::error!(error = %e, "delivery driver: cannot read the due queue");
                return;
            }
        };
        for key in due {
            if self.lock_in_flight().contains(&key) {
                continue;
            }
            let Ok(global) = Arc::clone(&self.all).try_acquire_owned() else {
                return;
            };
            let Some(record) = self.record(key).await else {
                continue;
            };
            let peer = self.peer_of(&record).await;
            let (admit, slot) = self.admit(&peer);
            let probe = match admit {
                Admit::Go => false,
                Admit::Probe => true,
                Admit::Wait(until) => {
                    self.defer(key, until).await;
                    continue;
                }
            };
            let Some(slot) = slot else {
                if probe {
                    self.record_health(&peer, Health::Unknown, true);
                }
                continue;
            };
            self.lock_in_flight().insert(key);
            let this = Arc::clone(self);
            tasks.spawn(async move {
                let outcome = this.worker.deliver(key).await;
                drop(slot);
                drop(global);
                this.after(key, &peer, probe, outcome).await;
                this.lock_in_flight().remove(&key);
                this.ctx.delivery_wake.notify_one();
            });
        }
    }

    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<MessageKey>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn record(&self, key: MessageKey) -> Option<MessageRecord> {
        self.ctx
            .blocking(move |c| c.store().get_message(&key))
            .await
            .ok()?
            .ok()?
    }

    /// The receiving access point of a record: its endpoint URL (from the address-book
    /// cache), or the recipient when the address book cannot say now.
    async fn peer_of(&self, record: &MessageRecord) -> String {
        let recipient = record.recipient.clone().unwrap_or_default();
        let (Ok(p), Some(Ok(d))) = (
            ParticipantId::parse(&recipient),
            record.document_type.as_deref().map(DocumentId::parse),
        ) else {
            return recipient;
        };
        match self.ctx.book().route(&p, &d).await {
            Ok(route) => route.endpoint_url,
            Err(_) => recipient,
        }
    }

    /// The breaker's word and, when it lets the attempt go, one of the peer's slots.
    fn admit(&self, peer: &str) -> (Admit, Option<tokio::sync::OwnedSemaphorePermit>) {
        let s = &self.ctx.settings;
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = peers.entry(peer.to_owned()).or_insert_with(|| Peer {
            breaker: Breaker::new(
                s.breaker_failures,
                s.breaker_open,
                self.ctx.shared.config.retry.max_delay,
            ),
            slots: Arc::new(Semaphore::new(s.per_peer.max(1))),
        });
        let admit = entry.breaker.admit(Instant::now());
        let slot = match admit {
            Admit::Wait(_) => None,
            _ => Arc::clone(&entry.slots).try_acquire_owned().ok(),
        };
        (admit, slot)
    }

    fn record_health(&self, peer: &str, health: Health, probe: bool) {
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = peers.get_mut(peer) {
            let was_open = p.breaker.is_open(Instant::now());
            p.breaker.record(health, probe, Instant::now());
            if !was_open && p.breaker.is_open(Instant::now()) {
                tracing::warn!(%peer, "circuit open: deliveries to this access point are held back");
            }
        }
    }

    /// Moves a scheduled record's next attempt to `until` (no attempt is counted).
    async fn defer(&self, key: MessageKey, until: Instant) {
        let wait = until.saturating_duration_since(Instant::now());
        let r = self
            .ctx
            .blocking(move |c| {
                let now = OffsetDateTime::now_utc();
                let u = Update::none(now, ACTOR)
                    .expect(MessageState::Scheduled)
                    .next_attempt(now + super::after(wait));
                c.store().update(&key, u)
            })
            .await;
        if let Ok(Err(e)) = r
            && !matches!(e, StoreError::StateMismatch { .. })
        {
            tracing::error!(%key, error = %e, "cannot defer a delivery");
        }
    }

    /// What follows an attempt: the breaker learns, receipts legs finish, failures notify.
    async fn after(
        &self,
        key: MessageKey,
        peer: &str,
        probe: bool,
        outcome: Result<Option<MessageState>, StoreError>,
    ) {
        let state = match outcome {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(%key, error = %e, "delivery attempt could not be recorded");
                None
            }
        };
        let health = match state {
            Some(MessageState::Delivered) => Health::Up,
            Some(MessageState::Scheduled | MessageState::DeadLettered) => Health::Down,
            _ => Health::Unknown,
        };
        self.record_health(peer, health, probe);
        if !matches!(
            state,
            Some(MessageState::Delivered | MessageState::Failed | MessageState::DeadLettered)
        ) {
            return;
        }
        let Some(record) = self.record(key).await else {
            return;
        };
        let ctx = &self.ctx;
        match record.state {
            MessageState::Delivered if is_receipt(&record) => {
                let r = ctx
                    .blocking(move |c| {
                        finish_receipt_leg(c.store().as_ref(), &key, OffsetDateTime::now_utc())
                    })
                    .await;
                if let Ok(Err(e)) = r {
                    tracing::error!(%key, error = %e, "cannot finish a delivered receipt");
                }
            }
            MessageState::Delivered => {
                if let Some(m) = &ctx.hooks.metrics {
                    m.message(crate::metrics::Direction::Outbound, "delivered");
                    let waited = record.state_since - record.created_at;
                    m.delivery_latency(
                        LatencyStage::As4Receipt,
                        waited.try_into().unwrap_or_default(),
                    );
                }
                ctx.changed();
            }
            MessageState::Failed if self.retry_with_fresh_metadata(&record).await => {}
            MessageState::Failed | MessageState::DeadLettered if is_receipt(&record) => {
                tracing::error!(%key, state = %record.state, error = ?record.last_error,
                    "a Meddelandekvittens could not be delivered; the sender will see no receipt");
            }
            MessageState::Failed | MessageState::DeadLettered => {
                if let Some(m) = &ctx.hooks.metrics {
                    m.message(crate::metrics::Direction::Outbound, record.state.as_str());
                }
                let code = ebms_code(record.last_error.as_deref()).unwrap_or("AS4");
                notify_failed(
                    ctx,
                    &record,
                    "MESSAGE_EXCHANGE_ERROR",
                    Some(code),
                    record.state_since,
                );
                ctx.changed();
            }
            _ => {}
        }
    }
}

/// The receiving AP's answers that a stale address-book entry explains (CA-07): the message
/// went to an old endpoint or was encrypted to a rotated AP certificate.
const STALE_METADATA_CODES: [&str; 3] = ["EBMS:0004", "EBMS:0010", "EBMS:0102"];
/// The history note of the one retry after invalidating the entry.
const FRESH_METADATA_NOTE: &str = "the receiving access point refused the message in a way a stale address-book entry explains: entry invalidated, one more attempt with fresh SMP metadata";

impl Driver {
    /// CA-07: after a refusal that stale SMP metadata explains, the address-book entry is
    /// invalidated and the message is sent once more (`failed → scheduled`); `true` when so.
    async fn retry_with_fresh_metadata(&self, record: &MessageRecord) -> bool {
        let code = ebms_code(record.last_error.as_deref());
        let already = record
            .history
            .iter()
            .any(|h| h.note.as_deref() == Some(FRESH_METADATA_NOTE));
        if already || !code.is_some_and(|c| STALE_METADATA_CODES.contains(&c)) {
            return false;
        }
        let (Some(Ok(p)), Some(Ok(d))) = (
            record.recipient.as_deref().map(ParticipantId::parse),
            record.document_type.as_deref().map(DocumentId::parse),
        ) else {
            return false;
        };
        self.ctx.book().invalidate(&p, &d);
        let key = record.key;
        let requeued = self
            .ctx
            .blocking(move |c| {
                let now = OffsetDateTime::now_utc();
                let u = Update::to(MessageState::Scheduled, now, ACTOR)
                    .expect(MessageState::Failed)
                    .next_attempt(now)
                    .note(FRESH_METADATA_NOTE);
                c.store().update(&key, u)
            })
            .await;
        let ok = matches!(requeued, Ok(Ok(_)));
        if ok {
            tracing::warn!(%key, code = ?code, "refused by the receiving AP: retrying once with fresh SMP metadata");
            self.ctx.delivery_wake.notify_one();
        }
        ok
    }
}

/// A receipt-leg record is done once its AS4 Receipt arrived: `delivered →
/// recipient-accepted` (no Meddelandekvittens answers a Meddelandekvittens). Blocking.
pub(crate) fn finish_receipt_leg(
    store: &dyn Store,
    key: &MessageKey,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let u = Update::to(MessageState::RecipientAccepted, at, ACTOR)
        .expect(MessageState::Delivered)
        .note("receipt leg: the AS4 Receipt completes it (receipts are never answered)");
    match store.update(key, u) {
        Ok(_) | Err(StoreError::StateMismatch { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
