//! The address book the gateway asks: a verified, durable cache in front of the SMP client.
//!
//! Per (participant, document type) it keeps the last verified SMP answer ([`ServiceEntry`])
//! in memory and in the store ([`Keyspace`]), and answers by these rules (addressing digest
//! §3.5, all times configurable in [`CachePolicy`]):
//!
//! | age of the entry (since fetch) | answer |
//! |---|---|
//! | `< ttl` | the entry (fresh) |
//! | `< ttl + stale_while_revalidate` | the entry, flagged stale; a background refresh starts |
//! | older, or invalidated | a refresh now; if the SMP fails (not "not registered"): the entry, flagged stale, while `age < max_stale`; otherwise the error |
//!
//! - "Not registered" / "document type not supported" answers are cached for `negative_ttl`
//!   and replace (and delete) an earlier entry: SMP is authoritative for sending.
//! - Certificates are validated again whenever a certificate, endpoint or CertPub window in
//!   use ends and every `revalidate_every` (revocation): an entry whose AP or O2O certificate
//!   expired or was revoked is never handed out as usable — [`ServiceEntry::route`] and the
//!   certificate accessors return the error, and a refresh is tried at once.
//! - Concurrent misses, refreshes and re-validations of one key share one upstream request
//!   (single-flight); entries looked up within `in_use_window` are refreshed ahead of expiry
//!   by [`AddressBook::refresh_due`] (run periodically by [`AddressBook::spawn_refresher`]).
//! - [`AddressBook::invalidate`] forces the next lookup to refetch (the AS4 layer calls it on
//!   decryption / `NOT_SERVICED` failures, CA-07).
//! - Entries are persisted, so a restart during an SMP outage keeps answering within
//!   `max_stale` (CA-08). Counters: [`AddressBook::metrics`].

mod clock;
mod metrics;

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use sdkgw_certs::Certificate;
use sdkgw_schemas::{DocumentId, ParticipantId};
use sdkgw_store::Keyspace;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::watch;

pub use clock::{ManualWallClock, SystemWallClock, WallClock};
pub use metrics::MetricsSnapshot;

use crate::entry::{Route, ServiceEntry};
use crate::error::LookupError;
use crate::serde_cert;
use crate::smp::SmpClient;
use metrics::{Metrics, bump};

/// Name of the store keyspace holding the cache: entries under `e\0<participant>\0<document>`
/// (JSON, certificates as `sha256:` references), certificates once each under
/// `c\0<sha256 hex>` (DER).
pub const KEYSPACE: &str = "address-book.smp";

/// Parsed certificates kept for store reads (cleared when full).
const MAX_CACHED_CERTS: usize = 8192;

fn cert_key(fingerprint: &str) -> Vec<u8> {
    format!("c\0{fingerprint}").into_bytes()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The cache's times and size. Defaults are the digest's proposals (§3.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachePolicy {
    /// How long an entry is fresh (default 15 min).
    pub ttl: Duration,
    /// After `ttl`, how long the entry is still served while a background refresh runs
    /// (default 1 min).
    pub stale_while_revalidate: Duration,
    /// Oldest entry served when the SMP cannot be reached (default 24 h).
    pub max_stale: Duration,
    /// How long "not registered" / "document type not supported" is remembered (5 min).
    pub negative_ttl: Duration,
    /// How often cached certificates are validated again, for revocation (default 5 min).
    pub revalidate_every: Duration,
    /// Entries in use are refreshed this long before `ttl` ends (default 2 min).
    pub refresh_ahead: Duration,
    /// An entry looked up within this time counts as in use (default 1 h).
    pub in_use_window: Duration,
    /// Entries kept in memory (the store keeps all of them; default 100 000).
    pub memory_entries: usize,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(15 * 60),
            stale_while_revalidate: Duration::from_secs(60),
            max_stale: Duration::from_secs(24 * 3600),
            negative_ttl: Duration::from_secs(5 * 60),
            revalidate_every: Duration::from_secs(5 * 60),
            refresh_ahead: Duration::from_secs(2 * 60),
            in_use_window: Duration::from_secs(3600),
            memory_entries: 100_000,
        }
    }
}

/// Whether an answer was fresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Freshness {
    /// Younger than the TTL, or just fetched.
    Fresh,
    /// Past its TTL; a background refresh was started.
    Revalidating,
    /// Past its TTL and the refresh failed; served because it is younger than `max_stale`.
    StaleIfError {
        /// Why the refresh failed.
        reason: String,
    },
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServedFrom {
    /// The in-memory cache.
    Memory,
    /// The durable store (memory miss).
    Store,
    /// The SMP, just now.
    Smp,
}

/// A lookup's answer: the entry and how current it is.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// The cached SMP answer.
    pub entry: Arc<ServiceEntry>,
    /// Fresh or stale.
    pub freshness: Freshness,
    /// Memory, store or SMP.
    pub served_from: ServedFrom,
    /// Time since the SMP answer was fetched.
    pub age: time::Duration,
}

impl Lookup {
    /// Whether the entry was past its TTL.
    pub fn is_stale(&self) -> bool {
        self.freshness != Freshness::Fresh
    }

    /// See [`ServiceEntry::route`].
    pub fn route(&self) -> Result<&Route, LookupError> {
        self.entry.route()
    }
}

/// Whether a certificate was published as the participant's signing certificate
/// ([`AddressBook::check_signer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerCheck {
    /// It is one of the usable published signing certificates.
    Published,
    /// It is not, even after refetching once.
    NotPublished,
}

/// What [`AddressBook::refresh_due`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RefreshReport {
    /// Entries refreshed.
    pub refreshed: usize,
    /// Refreshes that failed (the entries stay in use within `max_stale`).
    pub failed: usize,
}

/// A cached positive entry and its bookkeeping.
#[derive(Debug)]
struct Cached {
    entry: Arc<ServiceEntry>,
    /// Unix seconds of the last lookup.
    last_used: AtomicI64,
    /// Set by [`AddressBook::invalidate`]: refetch before serving again.
    invalidated: AtomicBool,
}

#[derive(Debug, Clone)]
enum Slot {
    Positive(Arc<Cached>),
    Negative {
        error: LookupError,
        until: OffsetDateTime,
    },
}

type Key = (ParticipantId, DocumentId);
type FlightResult = Result<Arc<ServiceEntry>, LookupError>;
type Memory = HashMap<ParticipantId, HashMap<DocumentId, Slot>>;
type Flights = HashMap<(Key, FlightKind), watch::Receiver<Option<FlightResult>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum FlightKind {
    Fetch,
    Revalidate,
}

#[derive(Debug)]
struct Inner {
    client: SmpClient,
    policy: CachePolicy,
    clock: Arc<dyn WallClock>,
    store: Option<Arc<dyn Keyspace>>,
    /// Parsed certificates by SHA-256 (hex), so store reads need not parse them again.
    certs: Arc<Mutex<HashMap<String, Certificate>>>,
    memory: RwLock<Memory>,
    flights: Mutex<Flights>,
    metrics: Metrics,
}

/// The address book: lookups through the cache. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct AddressBook {
    inner: Arc<Inner>,
}

fn std_to_time(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

/// Answers that are the SMP's word about the participant (not failures to get one).
fn is_authoritative(e: &LookupError) -> bool {
    matches!(
        e,
        LookupError::NotRegistered { .. }
            | LookupError::DocTypeNotSupported { .. }
            | LookupError::NoSmp { .. }
    )
}

impl AddressBook {
    /// An address book over `client`, persisting to `store` (`None`: memory only).
    pub fn new(
        client: SmpClient,
        policy: CachePolicy,
        store: Option<Arc<dyn Keyspace>>,
        clock: Arc<dyn WallClock>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                policy,
                clock,
                store,
                certs: Arc::new(Mutex::new(HashMap::new())),
                memory: RwLock::new(HashMap::new()),
                flights: Mutex::new(HashMap::new()),
                metrics: Metrics::default(),
            }),
        }
    }

    /// The SMP client.
    pub fn client(&self) -> &SmpClient {
        &self.inner.client
    }

    /// The policy.
    pub fn policy(&self) -> &CachePolicy {
        &self.inner.policy
    }

    /// The counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics.snapshot()
    }

    /// The metadata of `participant` for `document`, through the cache (rules above).
    pub async fn lookup(
        &self,
        participant: &ParticipantId,
        document: &DocumentId,
    ) -> Result<Lookup, LookupError> {
        let inner = &self.inner;
        bump(&inner.metrics.lookups);
        let now = inner.clock.now();
        let (slot, from) = match inner.memory_get(participant, document) {
            Some(slot) => (Some(slot), ServedFrom::Memory),
            None => (
                inner.load_durable(participant, document, now),
                ServedFrom::Store,
            ),
        };
        match slot {
            Some(Slot::Negative { error, until }) if now < until => {
                bump(&inner.metrics.negative_hits);
                Err(error)
            }
            Some(Slot::Positive(cached)) => {
                self.serve(participant, document, &cached, from, now).await
            }
            _ => {
                bump(&inner.metrics.misses);
                let entry = self
                    .flight(participant, document, FlightKind::Fetch)
                    .await?;
                Ok(Lookup::fetched(entry, now))
            }
        }
    }

    /// The metadata fetched from the SMP now (the cache is updated; concurrent callers share
    /// one request). For `--fresh`, and for one refetch after a failure the entry may explain.
    pub async fn lookup_fresh(
        &self,
        participant: &ParticipantId,
        document: &DocumentId,
    ) -> Result<Lookup, LookupError> {
        bump(&self.inner.metrics.lookups);
        let now = self.inner.clock.now();
        let entry = self
            .flight(participant, document, FlightKind::Fetch)
            .await?;
        Ok(Lookup::fetched(entry, now))
    }

    /// Where to send `document` for `participant`: the endpoint and its validated AP
    /// certificate (AS4 digest §4.1 steps 2–3).
    pub async fn route(
        &self,
        participant: &ParticipantId,
        document: &DocumentId,
    ) -> Result<Route, LookupError> {
        self.lookup(participant, document)
            .await?
            .entry
            .route()
            .cloned()
    }

    /// The recipient's O2O certificate to encrypt to (CertPub `encryption-cert`).
    pub async fn encryption_certificate(
        &self,
        participant: &ParticipantId,
        document: &DocumentId,
    ) -> Result<Certificate, LookupError> {
        self.lookup(participant, document)
            .await?
            .entry
            .encryption_certificate()
            .cloned()
    }

    /// The sender's usable O2O signing certificates, looked up with `document` (the receipt
    /// document type for inbound messages); when the participant does not publish that
    /// document type, with `fallback` (the message document type, CP-09).
    pub async fn signing_certificates(
        &self,
        participant: &ParticipantId,
        document: &DocumentId,
        fallback: Option<&DocumentId>,
    ) -> Result<Vec<Certificate>, LookupError> {
        let found = match (self.lookup(participant, document).await, fallback) {
            (Err(LookupError::DocTypeNotSupported { .. }), Some(f)) => {
                self.lookup(participant, f).await
            }
            (other, _) => other,
        }?;
        found.entry.signing_certificates().map(<[_]>::to_vec)
    }

    /// Whether `certificate` is a published signing certificate of `participant`. When it is
    /// not, the metadata is refetched once (the sender may have rotated, CP-08) before the
    /// answer is [`SignerCheck::NotPublished`] (CP-07).
    pub async fn check_signer(
        &self,
        participant: &ParticipantId,
        document: &DocumentId,
        fallback: Option<&DocumentId>,
        certificate: &Certificate,
    ) -> Result<SignerCheck, LookupError> {
        let published = |certs: &[Certificate]| certs.iter().any(|c| c == certificate);
        if let Ok(certs) = self
            .signing_certificates(participant, document, fallback)
            .await
            && published(&certs)
        {
            return Ok(SignerCheck::Published);
        }
        let refetched = match (self.lookup_fresh(participant, document).await, fallback) {
            (Err(LookupError::DocTypeNotSupported { .. }), Some(f)) => {
                self.lookup_fresh(participant, f).await
            }
            (other, _) => other,
        }?;
        let certs = refetched.entry.signing_certificates()?;
        Ok(if published(certs) {
            SignerCheck::Published
        } else {
            SignerCheck::NotPublished
        })
    }

    /// Forces the next lookup of this entry to refetch from the SMP (stale-if-error still
    /// applies when the SMP is down). Kept in memory only.
    pub fn invalidate(&self, participant: &ParticipantId, document: &DocumentId) {
        let inner = &self.inner;
        bump(&inner.metrics.invalidations);
        let now = inner.clock.now();
        if inner.memory_get(participant, document).is_none() {
            inner.load_durable(participant, document, now);
        }
        let mut memory = inner.write_memory();
        let Some(docs) = memory.get_mut(participant) else {
            return;
        };
        match docs.get(document) {
            Some(Slot::Positive(c)) => c.invalidated.store(true, Ordering::SeqCst),
            Some(Slot::Negative { .. }) => {
                docs.remove(document);
            }
            None => {}
        }
    }

    /// [`AddressBook::invalidate`] for every cached document type of `participant`.
    pub fn invalidate_participant(&self, participant: &ParticipantId) {
        let documents: Vec<DocumentId> = self
            .inner
            .cached_keys()
            .into_iter()
            .filter(|(p, _)| p == participant)
            .map(|(_, d)| d)
            .collect();
        for d in documents {
            self.invalidate(participant, &d);
        }
    }

    /// Refreshes entries in use (looked up within `in_use_window`) whose TTL ends within
    /// `refresh_ahead`, and invalidated ones, so lookups keep finding fresh entries.
    pub async fn refresh_due(&self) -> RefreshReport {
        let inner = &self.inner;
        let now = inner.clock.now();
        let p = &inner.policy;
        let horizon = std_to_time(p.ttl.saturating_sub(p.refresh_ahead));
        let used_since = (now - std_to_time(p.in_use_window)).unix_timestamp();
        let due: Vec<Key> = {
            let memory = inner.read_memory();
            memory
                .iter()
                .flat_map(|(pid, docs)| docs.iter().map(move |(d, s)| (pid, d, s)))
                .filter_map(|(pid, d, s)| match s {
                    Slot::Positive(c)
                        if c.last_used.load(Ordering::Relaxed) >= used_since
                            && (c.invalidated.load(Ordering::Relaxed)
                                || now - c.entry.fetched_at >= horizon) =>
                    {
                        Some((pid.clone(), d.clone()))
                    }
                    _ => None,
                })
                .collect()
        };
        let mut report = RefreshReport::default();
        for (pid, d) in due {
            match self.flight(&pid, &d, FlightKind::Fetch).await {
                Ok(_) => report.refreshed += 1,
                Err(_) => report.failed += 1,
            }
        }
        report
    }

    /// Runs [`AddressBook::refresh_due`] every `every` until the handle is aborted.
    pub fn spawn_refresher(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let book = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let report = book.refresh_due().await;
                if report.failed > 0 {
                    tracing::warn!(
                        refreshed = report.refreshed,
                        failed = report.failed,
                        "address book refresh: some SMP fetches failed; cached entries stay in use"
                    );
                }
            }
        })
    }

    /// Every cached entry (store and memory), for listings and statistics.
    pub fn entries(&self) -> Vec<Arc<ServiceEntry>> {
        let inner = &self.inner;
        let mut out: HashMap<Key, Arc<ServiceEntry>> = HashMap::new();
        for entry in inner.durable_entries() {
            out.insert(
                (entry.participant.clone(), entry.document.clone()),
                Arc::new(entry),
            );
        }
        for (pid, docs) in inner.read_memory().iter() {
            for (d, s) in docs {
                if let Slot::Positive(c) = s {
                    out.insert((pid.clone(), d.clone()), c.entry.clone());
                }
            }
        }
        let mut entries: Vec<_> = out.into_values().collect();
        entries.sort_by(|a, b| (&a.participant, &a.document).cmp(&(&b.participant, &b.document)));
        entries
    }

    /// Serves a cached positive entry by the rules in the module documentation.
    async fn serve(
        &self,
        participant: &ParticipantId,
        document: &DocumentId,
        cached: &Arc<Cached>,
        from: ServedFrom,
        now: OffsetDateTime,
    ) -> Result<Lookup, LookupError> {
        let inner = &self.inner;
        let policy = &inner.policy;
        cached
            .last_used
            .store(now.unix_timestamp(), Ordering::Relaxed);
        let mut entry = cached.entry.clone();
        let mut lost_usable = false;
        if entry.needs_validation(now, std_to_time(policy.revalidate_every)) {
            let before = entry.clone();
            entry = self
                .flight(participant, document, FlightKind::Revalidate)
                .await?;
            lost_usable = (before.validation.route.is_ok() && entry.validation.route.is_err())
                || (before.validation.encryption.is_ok() && entry.validation.encryption.is_err());
        }
        let age = now - entry.fetched_at;
        let invalidated = cached.invalidated.load(Ordering::Relaxed);
        if !invalidated && !lost_usable {
            if age < std_to_time(policy.ttl) {
                bump(&inner.metrics.hits);
                return Ok(Lookup {
                    entry,
                    freshness: Freshness::Fresh,
                    served_from: from,
                    age,
                });
            }
            if age < std_to_time(policy.ttl + policy.stale_while_revalidate) {
                bump(&inner.metrics.stale_serves);
                let book = self.clone();
                let (p, d) = (participant.clone(), document.clone());
                tokio::spawn(async move {
                    let _ = book.flight(&p, &d, FlightKind::Fetch).await;
                });
                return Ok(Lookup {
                    entry,
                    freshness: Freshness::Revalidating,
                    served_from: from,
                    age,
                });
            }
        }
        match self.flight(participant, document, FlightKind::Fetch).await {
            Ok(fresh) => Ok(Lookup::fetched(fresh, now)),
            Err(e) if is_authoritative(&e) => Err(e),
            Err(e) if age < std_to_time(policy.max_stale) => {
                bump(&inner.metrics.stale_serves);
                tracing::warn!(
                    participant = %participant, document = %document, error = %e,
                    "SMP refresh failed; serving the cached entry (stale-if-error)"
                );
                Ok(Lookup {
                    entry,
                    freshness: Freshness::StaleIfError {
                        reason: e.to_string(),
                    },
                    served_from: from,
                    age,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Runs one fetch or re-validation per key at a time; concurrent callers wait for it.
    /// The work runs in its own task, so a caller that gives up does not strand the others.
    async fn flight(
        &self,
        participant: &ParticipantId,
        document: &DocumentId,
        kind: FlightKind,
    ) -> FlightResult {
        let key = ((participant.clone(), document.clone()), kind);
        let mut rx = {
            let mut flights = self.inner.lock_flights();
            match flights.get(&key) {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    flights.insert(key.clone(), rx.clone());
                    let inner = self.inner.clone();
                    tokio::spawn(async move {
                        let ((p, d), kind) = &key;
                        let result = match kind {
                            FlightKind::Fetch => inner.fetch_and_store(p, d).await,
                            FlightKind::Revalidate => inner.revalidate(p, d).await,
                        };
                        inner.lock_flights().remove(&key);
                        let _ = tx.send(Some(result));
                    });
                    rx
                }
            }
        };
        match rx.wait_for(Option::is_some).await {
            Ok(v) => v.clone().unwrap_or_else(|| {
                Err(LookupError::Transient {
                    reason: "address book fetch produced no result".into(),
                })
            }),
            Err(_) => Err(LookupError::Transient {
                reason: "address book fetch task ended without a result".into(),
            }),
        }
    }
}

impl Lookup {
    fn fetched(entry: Arc<ServiceEntry>, now: OffsetDateTime) -> Self {
        let age = now - entry.fetched_at;
        Self {
            entry,
            freshness: Freshness::Fresh,
            served_from: ServedFrom::Smp,
            age: age.max(time::Duration::ZERO),
        }
    }
}

impl Inner {
    fn read_memory(&self) -> std::sync::RwLockReadGuard<'_, Memory> {
        self.memory.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_memory(&self) -> std::sync::RwLockWriteGuard<'_, Memory> {
        self.memory.write().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_flights(&self) -> MutexGuard<'_, Flights> {
        self.flights.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn memory_get(&self, participant: &ParticipantId, document: &DocumentId) -> Option<Slot> {
        self.read_memory().get(participant)?.get(document).cloned()
    }

    fn memory_len(memory: &Memory) -> usize {
        memory.values().map(HashMap::len).sum()
    }

    /// Inserts a slot, evicting the least recently used entry when memory is full.
    fn memory_put(&self, participant: &ParticipantId, document: &DocumentId, slot: Slot) {
        let mut memory = self.write_memory();
        let present = memory
            .get(participant)
            .is_some_and(|d| d.contains_key(document));
        if !present && Self::memory_len(&memory) >= self.policy.memory_entries.max(1) {
            let oldest = memory
                .iter()
                .flat_map(|(p, docs)| docs.iter().map(move |(d, s)| (p, d, s)))
                .min_by_key(|(_, _, s)| match s {
                    Slot::Positive(c) => c.last_used.load(Ordering::Relaxed),
                    Slot::Negative { .. } => i64::MIN,
                })
                .map(|(p, d, _)| (p.clone(), d.clone()));
            if let Some((p, d)) = oldest
                && let Some(docs) = memory.get_mut(&p)
            {
                docs.remove(&d);
                if docs.is_empty() {
                    memory.remove(&p);
                }
            }
        }
        memory
            .entry(participant.clone())
            .or_default()
            .insert(document.clone(), slot);
    }

    fn put_positive(&self, entry: Arc<ServiceEntry>, keep_invalidated: bool) {
        let (p, d) = (&entry.participant, &entry.document);
        let last_used = match self.memory_get(p, d) {
            Some(Slot::Positive(c)) => c.last_used.load(Ordering::Relaxed),
            _ => self.clock.now().unix_timestamp(),
        };
        let invalidated = keep_invalidated
            && matches!(self.memory_get(p, d), Some(Slot::Positive(c)) if c.invalidated.load(Ordering::Relaxed));
        let cached = Cached {
            entry: entry.clone(),
            last_used: AtomicI64::new(last_used),
            invalidated: AtomicBool::new(invalidated),
        };
        self.memory_put(p, d, Slot::Positive(Arc::new(cached)));
    }

    async fn fetch_and_store(&self, p: &ParticipantId, d: &DocumentId) -> FlightResult {
        bump(&self.metrics.upstream_fetches);
        let had_entry = matches!(self.memory_get(p, d), Some(Slot::Positive(_)));
        let now = self.clock.now();
        match self.client.fetch(p, d, now).await {
            Ok(entry) => {
                let entry = Arc::new(entry);
                self.persist(&entry).await;
                self.put_positive(entry.clone(), false);
                Ok(entry)
            }
            Err(e) => {
                bump(&self.metrics.upstream_failures);
                if is_authoritative(&e) {
                    self.memory_put(
                        p,
                        d,
                        Slot::Negative {
                            error: e.clone(),
                            until: now + std_to_time(self.policy.negative_ttl),
                        },
                    );
                    self.remove_durable(p, d).await;
                } else if had_entry {
                    bump(&self.metrics.refresh_failures);
                }
                Err(e)
            }
        }
    }

    /// Validates the cached entry's certificates again (new CRLs, expiry, windows).
    async fn revalidate(&self, p: &ParticipantId, d: &DocumentId) -> FlightResult {
        let Some(Slot::Positive(cached)) = self.memory_get(p, d) else {
            return Err(LookupError::Transient {
                reason: "cache entry disappeared during re-validation".into(),
            });
        };
        bump(&self.metrics.revalidations);
        let trust = self.client.trust().clone();
        let now = self.clock.now();
        let mut entry = (*cached.entry).clone();
        let entry = tokio::task::spawn_blocking(move || {
            entry.revalidate(&trust, now);
            entry
        })
        .await
        .map_err(|e| LookupError::Transient {
            reason: format!("re-validation task failed: {e}"),
        })?;
        let entry = Arc::new(entry);
        self.persist(&entry).await;
        self.put_positive(entry.clone(), true);
        Ok(entry)
    }

    fn durable_key(p: &ParticipantId, d: &DocumentId) -> Vec<u8> {
        format!("e\0{}\0{}", p.value(), d.value()).into_bytes()
    }

    /// Reads an entry from the store into memory.
    fn load_durable(&self, p: &ParticipantId, d: &DocumentId, now: OffsetDateTime) -> Option<Slot> {
        let store = self.store.as_ref()?;
        let bytes = match store.get(&Self::durable_key(p, d)) {
            Ok(b) => b?,
            Err(e) => {
                bump(&self.metrics.store_errors);
                tracing::warn!(error = %e, "address book store read failed");
                return None;
            }
        };
        let entry: ServiceEntry = match self.decode(store, &bytes) {
            Ok(e) => e,
            Err(e) => {
                bump(&self.metrics.store_errors);
                tracing::warn!(error = %e, "undecodable address book cache entry ignored");
                return None;
            }
        };
        if &entry.participant != p || &entry.document != d {
            bump(&self.metrics.store_errors);
            return None;
        }
        bump(&self.metrics.durable_reads);
        let cached = Arc::new(Cached {
            entry: Arc::new(entry),
            last_used: AtomicI64::new(now.unix_timestamp()),
            invalidated: AtomicBool::new(false),
        });
        self.memory_put(p, d, Slot::Positive(cached.clone()));
        Some(Slot::Positive(cached))
    }

    /// Decodes a stored entry, resolving its certificate references through the parsed
    /// certificate cache and the store.
    fn decode(
        &self,
        store: &Arc<dyn Keyspace>,
        bytes: &[u8],
    ) -> Result<ServiceEntry, serde_json::Error> {
        let (store, cache) = (store.clone(), self.certs.clone());
        let resolver: serde_cert::Resolver = Rc::new(move |fp: &str| {
            if let Some(c) = lock(&cache).get(fp) {
                return Some(c.clone());
            }
            let der = store.get(&cert_key(fp)).ok()??;
            let cert = Certificate::from_der(&der).ok()?;
            if cert.fingerprint_hex() != fp {
                return None;
            }
            let mut cache = lock(&cache);
            if cache.len() >= MAX_CACHED_CERTS {
                cache.clear();
            }
            cache.insert(fp.to_owned(), cert.clone());
            Some(cert)
        });
        serde_cert::resolve(resolver, || serde_json::from_slice(bytes))
    }

    async fn persist(&self, entry: &Arc<ServiceEntry>) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let key = Self::durable_key(&entry.participant, &entry.document);
        let (value, certs) = serde_cert::collect(|| serde_json::to_vec(entry.as_ref()));
        let value = match value {
            Ok(v) => v,
            Err(e) => {
                bump(&self.metrics.store_errors);
                tracing::warn!(error = %e, "cannot encode address book cache entry");
                return;
            }
        };
        {
            let mut cache = lock(&self.certs);
            if cache.len() + certs.len() > MAX_CACHED_CERTS {
                cache.clear();
            }
            for (fp, c) in &certs {
                cache.insert(fp.clone(), c.clone());
            }
        }
        // Certificates first (each once), then the entry that references them. The puts wait
        // for an fsync: keep them off the async threads.
        let written = tokio::task::spawn_blocking(move || {
            for (fp, c) in &certs {
                let k = cert_key(fp);
                // Written unless already there intact (a damaged record is replaced).
                if store.get(&k)?.as_deref() != Some(c.der()) {
                    store.put(&k, c.der())?;
                }
            }
            store.put(&key, &value)
        })
        .await;
        if !matches!(written, Ok(Ok(()))) {
            bump(&self.metrics.store_errors);
            tracing::warn!("address book cache entry could not be persisted");
        }
    }

    async fn remove_durable(&self, p: &ParticipantId, d: &DocumentId) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let key = Self::durable_key(p, d);
        let removed = tokio::task::spawn_blocking(move || store.remove(&key)).await;
        if !matches!(removed, Ok(Ok(_))) {
            bump(&self.metrics.store_errors);
        }
    }

    fn durable_entries(&self) -> Vec<ServiceEntry> {
        let Some(store) = &self.store else {
            return Vec::new();
        };
        match store.scan_prefix(b"e\0", usize::MAX) {
            Ok(kvs) => kvs
                .into_iter()
                .filter_map(|(_, v)| self.decode(store, &v).ok())
                .collect(),
            Err(e) => {
                bump(&self.metrics.store_errors);
                tracing::warn!(error = %e, "address book store scan failed");
                Vec::new()
            }
        }
    }

    fn cached_keys(&self) -> Vec<Key> {
        let mut keys: Vec<Key> = self
            .durable_entries()
            .into_iter()
            .map(|e| (e.participant, e.document))
            .collect();
        for (p, docs) in self.read_memory().iter() {
            for d in docs.keys() {
                keys.push((p.clone(), d.clone()));
            }
        }
        keys.sort();
        keys.dedup();
        keys
    }
}
