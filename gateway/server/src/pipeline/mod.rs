//! The message pipelines between the mailbox API and AS4 (DESIGN §1 flows; envelope digest §5).
//!
//! ```text
//! OUTBOUND  API POST ─► accepted ─seal─► sealed ─► scheduled ─AS4─► sending ─► delivered ─Meddelandekvittens─► recipient-accepted
//!                          │ (address book: recipient + document    ▲   │        │                           recipient-rejected
//!                          │  type, CertPub encryption certificate) └───┘ retry  └─ receipt_timeout ─► failed
//!                          └─► failed (not registered / no certificate / SMP down after [retry])
//! INBOUND   AS4 receipt ─► received ─open─► verified (mailbox, sdk-message, our receipt) ─► filed (NEW) ─► notify
//!                                     ├──► rejected + REJECTED receipt (SV/BV/SIG)
//!                                     ├──► rejected, quarantined: no receipt (envelope, decryption, unknown sender)
//!                                     └──► rejected, re-delivery: the stored receipt is sent again
//! RECEIPTS  received Meddelandekvittens ─► applied to the outbound record it answers ─► consumed
//!           our receipts ─► outbound records of the receipt leg (MessageId receipt-<key>@sdkgw)
//! ```
//!
//! * [`inbound`]: opens what the AS4 receiver stored (sender's CertPub signing certificate from
//!   the address book, one refetch when the signer does not match, CP-07/08), files it in the
//!   function mailbox, notifies, and answers with a Meddelandekvittens (never for a receipt).
//! * [`outbound`]: seals what the API accepted (recipient's CertPub encryption certificate)
//!   and queues it for the AS4 delivery worker; the receipt timeout.
//! * [`receipts`]: queues our receipts (idempotent per inbound record) and applies received
//!   ones to the message they answer.
//! * [`delivery`]: drives `sdkgw_as4::msh::DeliveryWorker::deliver` (whose retry schedule
//!   stays the AS4 layer's) with concurrency limits and a per-peer circuit breaker.
//!
//! **Crash safety.** Every step is a durable store transition, and each is either idempotent
//! or guarded by `expect(state)`: a restart finds unfinished work by state (`accepted`,
//! `sealed`, `received`, `verified`) and continues it. A decision (our receipt, the mailbox)
//! is stored before anything acts on it, and a receipt's AS4 MessageId is derived from the
//! record it answers, so a crash between queueing and the next transition queues nothing twice.

mod breaker;
mod busy;
pub mod content;
pub mod delivery;
mod history;
pub mod inbound;
pub mod outbound;
pub mod receipts;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use sdkgw_address_book::AddressBook;
use sdkgw_as4::msh::{DeliveryWorker, InboundHandoff, InboundMessage};
use sdkgw_certs::{Certificate, KeyPairWithChain, PrivateKey};
use sdkgw_envelope::open::DecryptionKeys;
use sdkgw_envelope::seal::Signer;
use sdkgw_schemas::codelists::MessageType;
use sdkgw_schemas::{DocumentId, FederationId, ParticipantId, TransportModel, codelists};
use sdkgw_store::{BlobRef, MessageKey, MessageRecord, StagedBlob, Store, StoreError};
use sdkgw_xml_security::x509::O2o;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;

use crate::config::runtime::RoleTrust;
use crate::mailbox::Registry;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::serve::Shared;

/// Evidence kind of a Meddelandekvittens envelope: ours on inbound records, the recipient's
/// on outbound ones.
pub const RECEIPT_EVIDENCE: &str = "meddelandekvittens";
/// Content role of an SDK message (the API's submission, the decrypted inbound message).
pub const SDK_MESSAGE: &str = crate::api::index::SDK_MESSAGE_ROLE;
/// Actor of the pipelines' store transitions.
pub const ACTOR: &str = "pipeline";

/// `[pipeline]`: see `config/pipeline.rs` for the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineSettings {
    /// How long a delivered message waits for its Meddelandekvittens (default 24 h).
    pub receipt_timeout: Duration,
    /// Envelopes opened concurrently (default 4).
    pub inbound_workers: usize,
    /// Concurrent AS4 delivery attempts (default 16).
    pub max_in_flight: usize,
    /// Concurrent attempts to one receiving access point (default 4).
    pub per_peer: usize,
    /// Consecutive failed attempts that open a peer's circuit (default 5).
    pub breaker_failures: u32,
    /// How long an open circuit defers deliveries before one probe (default 30 s).
    pub breaker_open: Duration,
    /// Accepted attachment MIME types on send and receive (`application/pdf` always;
    /// default [`content::DEFAULT_ATTACHMENT_TYPES`]).
    pub attachment_types: Vec<String>,
    /// The malware scanner's command line (attachment on stdin); empty = no scanning.
    pub malware_scan_command: Vec<String>,
    /// How long one scan may take before it counts as failed (default 60 s).
    pub malware_scan_timeout: Duration,
}

impl PipelineSettings {
    /// The configured malware scanner, if any.
    pub fn scanner(&self) -> Option<content::CommandScanner> {
        content::CommandScanner::new(&self.malware_scan_command, self.malware_scan_timeout)
    }
}

impl Default for PipelineSettings {
    fn default() -> Self {
        PipelineSettings {
            receipt_timeout: Duration::from_secs(24 * 3600),
            inbound_workers: 4,
            max_in_flight: 16,
            per_peer: 4,
            breaker_failures: 5,
            breaker_open: Duration::from_secs(30),
            attachment_types: content::DEFAULT_ATTACHMENT_TYPES
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
            malware_scan_command: Vec::new(),
            malware_scan_timeout: content::DEFAULT_SCAN_TIMEOUT,
        }
    }
}

/// Who else hears about pipeline events (all optional).
#[derive(Clone, Default)]
pub struct Hooks {
    /// Mailbox notifications (new message, delivery failed).
    pub notifier: Option<Notifier>,
    pub metrics: Option<Metrics>,
    /// The function-mailbox registry (inbound messages are filed in its mailboxes; without
    /// it, in the configured ones).
    pub registry: Option<Arc<Registry>>,
    /// Called after a transition the mailbox API shows (e.g. `Api::notify_changes`).
    pub on_change: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("notifier", &self.notifier.is_some())
            .field("metrics", &self.metrics.is_some())
            .field("registry", &self.registry.is_some())
            .field("on_change", &self.on_change.is_some())
            .finish()
    }
}

/// Why the pipelines cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("keys.o2o.signing: no signing key configured")]
    NoSigningKey,
    #[error("keys.o2o.encryption: {0}")]
    Decryption(String),
}

/// Our O2O identity: the signing pair (receipts, outbound messages) and the decryption keys.
pub(crate) struct O2oKeys {
    signing_key: PrivateKey,
    signing_cert: Certificate,
    decryption: DecryptionKeys,
}

impl O2oKeys {
    pub(crate) fn signer(&self) -> Signer<'_> {
        Signer {
            key: &self.signing_key,
            cert: &self.signing_cert,
        }
    }
}

/// The O2O keys and trust of the pipelines, replaced as a whole by a reload
/// ([`Pipeline::replace_o2o`]).
pub(crate) struct O2oMaterial {
    pub(crate) keys: O2oKeys,
    pub(crate) trust: RoleTrust<O2o>,
}

impl std::fmt::Debug for O2oMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("O2oMaterial")
            .field("signing_cert", &self.keys.signing_cert.subject())
            .finish_non_exhaustive()
    }
}

impl O2oMaterial {
    /// `signing` (the first `keys.o2o.signing`), `encryption` (every `keys.o2o.encryption`),
    /// the O2O trust (`trust.o2o`); the decryption keys are prepared here.
    pub(crate) fn build(
        signing: Option<KeyPairWithChain>,
        encryption: &[KeyPairWithChain],
        trust: RoleTrust<O2o>,
    ) -> Result<Self, PipelineError> {
        let (signing_key, chain) = signing.ok_or(PipelineError::NoSigningKey)?.into_parts();
        let signing_cert = chain
            .into_iter()
            .next()
            .ok_or(PipelineError::NoSigningKey)?;
        let pairs: Vec<(&PrivateKey, &Certificate)> = encryption
            .iter()
            .map(|p| (p.key(), p.certificate()))
            .collect();
        let decryption =
            DecryptionKeys::new(&pairs).map_err(|e| PipelineError::Decryption(e.to_string()))?;
        Ok(O2oMaterial {
            keys: O2oKeys {
                signing_key,
                signing_cert,
                decryption,
            },
            trust,
        })
    }
}

/// Everything the pipeline tasks share.
pub(crate) struct Ctx {
    pub(crate) shared: Arc<Shared>,
    /// Read once per message ([`Ctx::o2o`]): a message in progress finishes with the keys it
    /// started with.
    o2o: RwLock<Arc<O2oMaterial>>,
    pub(crate) settings: PipelineSettings,
    pub(crate) hooks: Hooks,
    /// Wakes the outbound sealer (after an API POST).
    pub(crate) outbound_wake: Notify,
    /// Wakes the delivery driver (after a record became `scheduled`).
    pub(crate) delivery_wake: Notify,
    /// Records a task works on right now (one task per record).
    busy: busy::BusySet,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("pipeline::Ctx")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Ctx {
    /// The O2O keys and trust to use now.
    pub(crate) fn o2o(&self) -> Arc<O2oMaterial> {
        Arc::clone(&self.o2o.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    pub(crate) fn book(&self) -> &AddressBook {
        &self.shared.address_book.book
    }

    pub(crate) fn federation(&self) -> FederationId {
        self.shared.config.environment.federation_id
    }

    /// Claims `key` for this task; `None` when another task has it.
    pub(crate) fn claim(&self, key: MessageKey) -> Option<busy::Busy<'_>> {
        self.busy.claim(key)
    }

    pub(crate) fn is_busy(&self, key: &MessageKey) -> bool {
        self.busy.contains(key)
    }

    pub(crate) fn changed(&self) {
        if let Some(f) = &self.hooks.on_change {
            f();
        }
    }

    /// Runs a blocking store/crypto call off the async threads.
    pub(crate) async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Ctx) -> T + Send + 'static,
    ) -> Result<T, StoreError> {
        let ctx = Arc::clone(self);
        tokio::task::spawn_blocking(move || f(&ctx))
            .await
            .map_err(|e| StoreError::Invalid(format!("pipeline task: {e}")))
    }
}

/// The running pipelines' handle (cheap to clone).
#[derive(Debug, Clone)]
pub struct Pipeline {
    ctx: Arc<Ctx>,
    inbound_tx: mpsc::UnboundedSender<MessageKey>,
    inbound_rx: Arc<Mutex<Option<mpsc::UnboundedReceiver<MessageKey>>>>,
}

/// The AS4 receiver's hand-off: queues the key for the inbound pipeline (never blocks).
#[derive(Debug)]
struct Handoff(mpsc::UnboundedSender<MessageKey>);

impl InboundHandoff for Handoff {
    fn accepted(&self, message: &InboundMessage) {
        // A closed channel means the gateway is stopping: the record waits in `received`
        // and the next start finds it.
        let _ = self.0.send(message.key);
    }
}

impl Pipeline {
    /// Builds the pipelines of the gateway `shared`: `signing` (the first `keys.o2o.signing`),
    /// `encryption` (every `keys.o2o.encryption`), the O2O trust (`trust.o2o`).
    pub fn new(
        shared: &Arc<Shared>,
        signing: Option<KeyPairWithChain>,
        encryption: &[KeyPairWithChain],
        o2o: RoleTrust<O2o>,
        settings: PipelineSettings,
        hooks: Hooks,
    ) -> Result<Pipeline, PipelineError> {
        let o2o = O2oMaterial::build(signing, encryption, o2o)?;
        let (inbound_tx, inbound_rx) = mpsc::unbounded_channel();
        Ok(Pipeline {
            ctx: Arc::new(Ctx {
                shared: Arc::clone(shared),
                o2o: RwLock::new(Arc::new(o2o)),
                settings,
                hooks,
                outbound_wake: Notify::new(),
                delivery_wake: Notify::new(),
                busy: busy::BusySet::default(),
            }),
            inbound_tx,
            inbound_rx: Arc::new(Mutex::new(Some(inbound_rx))),
        })
    }

    /// Makes `o2o` (built with [`O2oMaterial::build`]) the pipelines' O2O keys and trust:
    /// messages opened or sealed from now on use it; one in progress finishes with the old.
    pub(crate) fn replace_o2o(&self, o2o: O2oMaterial) {
        *self.ctx.o2o.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(o2o);
    }

    /// The hand-off for `sdkgw_as4::msh::Receiver`.
    pub fn handoff(&self) -> Arc<dyn InboundHandoff> {
        Arc::new(Handoff(self.inbound_tx.clone()))
    }

    /// Wakes the outbound sealer (call after an API submission is durable).
    pub fn wake_outbound(&self) {
        self.ctx.outbound_wake.notify_one();
    }

    /// Wakes the delivery driver (call after queueing an XHE yourself).
    pub fn wake_delivery(&self) {
        self.ctx.delivery_wake.notify_one();
    }

    /// Starts the inbound worker, the outbound sealer, the delivery driver over `worker` and
    /// the receipt-timeout sweeper; they stop with the gateway. Call once.
    pub fn start(&self, worker: Arc<DeliveryWorker>, tasks: &mut JoinSet<()>) {
        let stopped = || self.ctx.shared.stopped();
        if let Some(rx) = self
            .inbound_rx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let requeue = self.inbound_tx.clone();
            tasks.spawn(inbound::run(Arc::clone(&self.ctx), rx, requeue, stopped()));
        }
        tasks.spawn(outbound::run(Arc::clone(&self.ctx), stopped()));
        tasks.spawn(outbound::sweep_receipt_timeouts(
            Arc::clone(&self.ctx),
            stopped(),
        ));
        let driver = delivery::Driver::new(Arc::clone(&self.ctx), worker);
        tasks.spawn(driver.run(stopped()));
    }
}

// ---- small helpers shared by the pipelines ----

/// The message type and transport model of a record's `document_type`.
pub(crate) fn classify(record: &MessageRecord) -> Option<(MessageType, TransportModel)> {
    let doc = DocumentId::parse(record.document_type.as_deref()?).ok()?;
    codelists().classify_document(&doc)
}

/// Whether a record carries a Meddelandekvittens (either direction).
pub(crate) fn is_receipt(record: &MessageRecord) -> bool {
    classify(record).is_some_and(|(t, _)| t == MessageType::Receipt)
}

pub(crate) fn participant(value: Option<&str>, what: &str) -> Result<ParticipantId, String> {
    let v = value.ok_or_else(|| format!("the record has no {what}"))?;
    ParticipantId::parse(v).map_err(|e| format!("{what} {v:?}: {e}"))
}

/// Writes `bytes` as a staged blob.
pub(crate) fn blob(store: &dyn Store, bytes: &[u8]) -> Result<StagedBlob, StoreError> {
    let mut w = store.blob_writer()?;
    w.write_all(bytes)
        .map_err(|e| StoreError::Invalid(format!("blob write: {e}")))?;
    w.finish()
}

/// Reads a whole blob (hash-checked), refusing more than `max` bytes.
pub(crate) fn read_blob(store: &dyn Store, b: &BlobRef, max: u64) -> Result<Vec<u8>, StoreError> {
    if b.len > max {
        return Err(StoreError::Invalid(format!(
            "blob of {} bytes is above the limit of {max}",
            b.len
        )));
    }
    let mut out = Vec::with_capacity(usize::try_from(b.len).unwrap_or(0));
    store
        .open_blob(b)?
        .take(max + 1)
        .read_to_end(&mut out)
        .map_err(|e| StoreError::Invalid(format!("reading blob {}: {e}", b.id)))?;
    Ok(out)
}

/// The evidence blob of `kind`, if any.
pub(crate) fn evidence<'r>(record: &'r MessageRecord, kind: &str) -> Option<&'r BlobRef> {
    record
        .evidence
        .iter()
        .rev()
        .find(|e| e.kind == kind)
        .map(|e| &e.blob)
}

/// Time as `time::Duration` for store timestamps.
pub(crate) fn after(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

/// The largest XHE the pipelines read (the AS4 limit).
pub(crate) fn max_xhe(ctx: &Ctx) -> u64 {
    ctx.shared.config.limits.max_message_bytes
}

/// [`max_xhe`] as the envelope layer's parser limit.
pub(crate) fn max_xhe_usize(ctx: &Ctx) -> usize {
    usize::try_from(max_xhe(ctx)).unwrap_or(usize::MAX)
}
