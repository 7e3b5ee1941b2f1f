//! What the fetcher knows: per CRL source and per OCSP question the last good answer, when it
//! was fetched, failures and backoff; the requests in flight with their waiters; the counters;
//! and the copies of the CRLs in the cache directory. No network I/O here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};

use sdkgw_certs::Certificate;
use sdkgw_xml_security::x509::{Crl, FetchError, FetchedCrl, OcspResponse};
use time::OffsetDateTime;

use super::FetchSettings;

/// A source counts as in use (and is refreshed in the background) this long after it was
/// last asked for.
const IN_USE: time::Duration = time::Duration::hours(24);
/// CRL sources and OCSP answers kept; beyond that the least recently used is dropped.
const MAX_CRL_SOURCES: usize = 256;
const MAX_OCSP_ANSWERS: usize = 4096;
const FILE_MAGIC: &[u8] = b"sdkgw-crl 1\n";

/// One job of the fetch thread.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Crl(String),
    /// Responder URL and the CertID asked about.
    Ocsp(String, Vec<u8>),
}

/// A source's failures: how many in a row, when to try again, the last error.
#[derive(Debug, Clone, Default)]
struct Backoff {
    failures: u32,
    retry_at: Option<OffsetDateTime>,
    last_error: Option<String>,
}

impl Backoff {
    fn waiting(&self, now: OffsetDateTime) -> bool {
        self.retry_at.is_some_and(|t| now < t)
    }

    fn failed(&mut self, now: OffsetDateTime, error: String, s: &FetchSettings) {
        self.failures = self.failures.saturating_add(1);
        let factor = 1u32 << self.failures.saturating_sub(1).min(16);
        let wait = (s.retry_after * factor).min(s.refresh_interval.max(s.retry_after));
        self.retry_at = Some(now + wait);
        self.last_error = Some(error);
    }

    fn succeeded(&mut self) {
        *self = Backoff::default();
    }
}

#[derive(Debug)]
struct CrlEntry {
    bytes: Option<Arc<Vec<u8>>>,
    this_update: Option<OffsetDateTime>,
    next_update: Option<OffsetDateTime>,
    /// Last successful download (None for a copy read from the cache directory).
    fetched_at: Option<OffsetDateTime>,
    /// The CA whose CRL this is, once a caller said so; `bytes` are verified against it.
    issuer: Option<Certificate>,
    verified: bool,
    last_used: OffsetDateTime,
    backoff: Backoff,
}

impl CrlEntry {
    fn new(now: OffsetDateTime) -> Self {
        CrlEntry {
            bytes: None,
            this_update: None,
            next_update: None,
            fetched_at: None,
            issuer: None,
            verified: false,
            last_used: now,
            backoff: Backoff::default(),
        }
    }

    fn is_current(&self, now: OffsetDateTime) -> bool {
        self.bytes.is_some() && self.next_update.is_some_and(|n| now < n)
    }

    fn refresh_due(&self, now: OffsetDateTime, s: &FetchSettings) -> bool {
        if self.backoff.waiting(now) {
            return false;
        }
        let Some(fetched) = self.fetched_at else {
            return true;
        };
        now >= fetched + s.min_refetch
            && (now >= fetched + s.refresh_interval
                || self.next_update.is_none_or(|n| now >= n - s.refresh_ahead))
    }

    /// Sets `bytes` from `crls`: the one of `issuer` that it signed (when the issuer is known),
    /// refused if older than the copy held.
    fn take(&mut self, bytes: Vec<u8>, crls: &[Crl]) -> Result<(), String> {
        let chosen = match &self.issuer {
            Some(issuer) => {
                let mut last = format!("no CRL of {} in the response", issuer.subject());
                let mut found = None;
                for crl in crls.iter().filter(|c| c.names_issuer(issuer)) {
                    match crl.verify_issued_by(issuer) {
                        Ok(()) => {
                            found = Some(crl);
                            break;
                        }
                        Err(e) => last = e.to_string(),
                    }
                }
                found.ok_or(last)?
            }
            None => crls
                .iter()
                .max_by_key(|c| c.this_update())
                .ok_or("no CRL in the response")?,
        };
        if let Some(held) = self.this_update.filter(|_| self.bytes.is_some())
            && chosen.this_update() < held
        {
            return Err(format!(
                "CRL of {} issued {} is older than the copy held ({held})",
                chosen.issuer(),
                chosen.this_update()
            ));
        }
        self.this_update = Some(chosen.this_update());
        self.next_update = chosen.next_update();
        self.verified = self.issuer.is_some();
        self.bytes = Some(Arc::new(bytes));
        Ok(())
    }

    /// Checks bytes read from disk or fetched before the issuer was known.
    fn verify_held(&mut self) {
        let Some(bytes) = self.bytes.take() else {
            return;
        };
        let parsed = Crl::parse_any(&bytes).map_err(|e| e.to_string());
        self.this_update = None;
        let result = parsed.and_then(|crls| self.take(bytes.to_vec(), &crls));
        if let Err(e) = result {
            self.next_update = None;
            self.backoff.last_error = Some(format!("the copy held is not usable: {e}"));
        }
    }

    fn stale_answer(&self, counters: &Counters) -> Result<FetchedCrl, FetchError> {
        let cause = self
            .backoff
            .last_error
            .clone()
            .unwrap_or_else(|| "the source's CRL is past its nextUpdate".into());
        match &self.bytes {
            Some(bytes) => {
                counters.crl_stale_served.fetch_add(1, Ordering::Relaxed);
                let held = self.this_update.map(|t| t.to_string()).unwrap_or_default();
                Ok(FetchedCrl {
                    bytes: bytes.to_vec(),
                    note: Some(format!(
                        "{cause}; using the last good copy (thisUpdate {held})"
                    )),
                })
            }
            None => Err(FetchError(cause)),
        }
    }
}

#[derive(Debug)]
struct OcspEntry {
    cert: Certificate,
    issuer: Certificate,
    response: Option<OcspResponse>,
    fetched_at: Option<OffsetDateTime>,
    last_error: Option<String>,
    last_used: OffsetDateTime,
}

impl OcspEntry {
    /// Until when the held answer is served without asking again.
    fn serve_until(&self, s: &FetchSettings) -> Option<OffsetDateTime> {
        let (r, fetched) = (self.response.as_ref()?, self.fetched_at?);
        let limit = fetched + s.refresh_interval;
        Some(r.next_update.map_or(limit, |n| n.min(limit)))
    }

    fn fresh(&self, now: OffsetDateTime, s: &FetchSettings) -> bool {
        self.serve_until(s).is_some_and(|t| now < t)
    }

    fn refresh_due(&self, now: OffsetDateTime, s: &FetchSettings) -> bool {
        let (Some(until), Some(fetched)) = (self.serve_until(s), self.fetched_at) else {
            return false;
        };
        let ahead = s.refresh_ahead.min((until - fetched).unsigned_abs() / 2);
        now >= fetched + s.min_refetch && now >= until - ahead
    }
}

#[derive(Debug, Default)]
struct Inner {
    crls: HashMap<String, CrlEntry>,
    ocsp: HashMap<Key, OcspEntry>,
    /// Per responder URL (an outage concerns every question to it).
    responders: HashMap<String, Backoff>,
}

/// Fetch and failure counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) crl_fetches: AtomicU64,
    pub(crate) crl_failures: AtomicU64,
    pub(crate) crl_stale_served: AtomicU64,
    pub(crate) ocsp_queries: AtomicU64,
    pub(crate) ocsp_failures: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> FetchMetrics {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        FetchMetrics {
            crl_fetches: get(&self.crl_fetches),
            crl_failures: get(&self.crl_failures),
            crl_stale_served: get(&self.crl_stale_served),
            ocsp_queries: get(&self.ocsp_queries),
            ocsp_failures: get(&self.ocsp_failures),
        }
    }
}

/// Totals since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FetchMetrics {
    /// CRL downloads attempted.
    pub crl_fetches: u64,
    /// CRL downloads that failed (network, HTTP status, size, unparsable, bad signature,
    /// older than held).
    pub crl_failures: u64,
    /// Answers with a CRL past its nextUpdate because no fresh one could be had.
    pub crl_stale_served: u64,
    /// OCSP requests sent.
    pub ocsp_queries: u64,
    /// OCSP requests without a usable answer (network, status, signature, mismatch).
    pub ocsp_failures: u64,
}

impl FetchMetrics {
    /// `(name, help, value)` counters for `/metrics`.
    pub fn samples(&self) -> Vec<(&'static str, &'static str, u64)> {
        vec![
            (
                "sdkgw_revocation_crl_fetches_total",
                "CRL downloads attempted from distribution points",
                self.crl_fetches,
            ),
            (
                "sdkgw_revocation_crl_fetch_failures_total",
                "CRL downloads that failed or gave an unusable CRL",
                self.crl_failures,
            ),
            (
                "sdkgw_revocation_crl_stale_served_total",
                "Revocation checks given a CRL past nextUpdate (source unreachable)",
                self.crl_stale_served,
            ),
            (
                "sdkgw_revocation_ocsp_queries_total",
                "OCSP requests sent",
                self.ocsp_queries,
            ),
            (
                "sdkgw_revocation_ocsp_failures_total",
                "OCSP requests without a usable answer",
                self.ocsp_failures,
            ),
        ]
    }
}

/// One CRL source as the fetcher sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlSourceStatus {
    pub url: String,
    pub this_update: Option<OffsetDateTime>,
    pub next_update: Option<OffsetDateTime>,
    pub fetched_at: Option<OffsetDateTime>,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
}

/// What a caller gets without waiting.
pub(crate) enum Answer {
    Ready(Result<FetchedCrl, FetchError>),
    /// Ask the fetch thread and wait.
    Fetch,
}

/// State shared by the callers and the fetch thread.
pub(crate) struct Shared {
    pub(crate) settings: FetchSettings,
    pub(crate) counters: Counters,
    inner: Mutex<Inner>,
    pending: Mutex<HashMap<Key, Vec<mpsc::Sender<()>>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update replaces whole fields; a panic elsewhere cannot leave half an entry.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Drops the least recently used entry when `map` is full.
fn make_room<K: Clone + Eq + std::hash::Hash, V>(
    map: &mut HashMap<K, V>,
    max: usize,
    used: impl Fn(&V) -> OffsetDateTime,
) {
    if map.len() < max {
        return;
    }
    if let Some(oldest) = map
        .iter()
        .min_by_key(|(_, v)| used(v))
        .map(|(k, _)| k.clone())
    {
        map.remove(&oldest);
    }
}

impl Shared {
    pub(crate) fn new(settings: FetchSettings) -> Self {
        Shared {
            settings,
            counters: Counters::default(),
            inner: Mutex::new(Inner::default()),
            pending: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        (self.settings.clock)()
    }

    fn crl_entry<'a>(inner: &'a mut Inner, url: &str, now: OffsetDateTime) -> &'a mut CrlEntry {
        if !inner.crls.contains_key(url) {
            make_room(&mut inner.crls, MAX_CRL_SOURCES, |e| e.last_used);
        }
        inner
            .crls
            .entry(url.to_owned())
            .or_insert_with(|| CrlEntry::new(now))
    }

    /// The answer for `url` from memory, or [`Answer::Fetch`].
    pub(crate) fn crl_answer(&self, url: &str, issuer: Option<&Certificate>) -> Answer {
        let now = self.now();
        let mut inner = lock(&self.inner);
        let entry = Self::crl_entry(&mut inner, url, now);
        entry.last_used = now;
        if let Some(issuer) = issuer
            && entry.issuer.as_ref() != Some(issuer)
        {
            entry.issuer = Some(issuer.clone());
            entry.verified = false;
        }
        if entry.issuer.is_some() && !entry.verified {
            entry.verify_held();
        }
        if entry.is_current(now) {
            Answer::Ready(Ok(FetchedCrl {
                bytes: entry.bytes.as_deref().cloned().unwrap_or_default(),
                note: None,
            }))
        } else if entry.backoff.waiting(now) {
            Answer::Ready(entry.stale_answer(&self.counters))
        } else {
            Answer::Fetch
        }
    }

    /// The answer for `url` once the fetch thread is done with it (or gave up waiting).
    pub(crate) fn crl_after_fetch(&self, url: &str) -> Result<FetchedCrl, FetchError> {
        let now = self.now();
        let mut inner = lock(&self.inner);
        let entry = Self::crl_entry(&mut inner, url, now);
        if entry.is_current(now) {
            Ok(FetchedCrl {
                bytes: entry.bytes.as_deref().cloned().unwrap_or_default(),
                note: None,
            })
        } else {
            entry.stale_answer(&self.counters)
        }
    }

    /// Takes downloaded bytes for `url` (validated; then persisted).
    pub(crate) fn crl_downloaded(&self, url: &str, bytes: Vec<u8>) {
        let crls = Crl::parse_any(&bytes);
        let now = self.now();
        let mut inner = lock(&self.inner);
        let entry = Self::crl_entry(&mut inner, url, now);
        let result = crls
            .map_err(|e| format!("unusable CRL: {e}"))
            .and_then(|crls| entry.take(bytes, &crls));
        match result {
            Ok(()) => {
                entry.fetched_at = Some(now);
                entry.backoff.succeeded();
                let held = entry.bytes.clone();
                drop(inner);
                if let Some(bytes) = held {
                    self.persist(url, &bytes);
                }
            }
            Err(e) => {
                drop(inner);
                self.crl_failed(url, e);
            }
        }
    }

    pub(crate) fn crl_failed(&self, url: &str, error: String) {
        self.counters.crl_failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%url, %error, "CRL fetch failed");
        let now = self.now();
        let mut inner = lock(&self.inner);
        Self::crl_entry(&mut inner, url, now)
            .backoff
            .failed(now, error, &self.settings);
    }

    pub(crate) fn crl_sources(&self) -> Vec<CrlSourceStatus> {
        let inner = lock(&self.inner);
        let mut out: Vec<_> = inner
            .crls
            .iter()
            .map(|(url, e)| CrlSourceStatus {
                url: url.clone(),
                this_update: e.this_update,
                next_update: e.next_update,
                fetched_at: e.fetched_at,
                consecutive_failures: e.backoff.failures,
                last_error: e.backoff.last_error.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.url.cmp(&b.url));
        out
    }

    /// The held OCSP answer for `key` if it is fresh, the responder's error while it is in
    /// backoff, else None (ask). Remembers the certificate pair for background refreshes.
    pub(crate) fn ocsp_answer(
        &self,
        key: &Key,
        cert: &Certificate,
        issuer: &Certificate,
    ) -> Option<Result<OcspResponse, FetchError>> {
        let Key::Ocsp(url, _) = key else {
            return None;
        };
        let now = self.now();
        let mut inner = lock(&self.inner);
        if !inner.ocsp.contains_key(key) {
            make_room(&mut inner.ocsp, MAX_OCSP_ANSWERS, |e| e.last_used);
        }
        let entry = inner.ocsp.entry(key.clone()).or_insert_with(|| OcspEntry {
            cert: cert.clone(),
            issuer: issuer.clone(),
            response: None,
            fetched_at: None,
            last_error: None,
            last_used: now,
        });
        entry.last_used = now;
        if entry.fresh(now, &self.settings) {
            return entry.response.clone().map(Ok);
        }
        let backoff = inner.responders.get(url)?;
        backoff.waiting(now).then(|| {
            Err(FetchError(format!(
                "OCSP {url}: {}",
                backoff.last_error.as_deref().unwrap_or("unavailable")
            )))
        })
    }

    /// After a query: the answer it got, or its error.
    pub(crate) fn ocsp_after_fetch(&self, key: &Key) -> Result<OcspResponse, FetchError> {
        let inner = lock(&self.inner);
        let url = match key {
            Key::Ocsp(url, _) => url.as_str(),
            Key::Crl(url) => url.as_str(),
        };
        match inner.ocsp.get(key) {
            Some(OcspEntry {
                response: Some(r),
                last_error: None,
                ..
            }) => Ok(r.clone()),
            Some(OcspEntry {
                last_error: Some(e),
                ..
            }) => Err(FetchError(format!("OCSP {url}: {e}"))),
            _ => Err(FetchError(format!("OCSP {url}: no answer in time"))),
        }
    }

    /// The certificate pair a question is about (for the fetch thread).
    pub(crate) fn ocsp_subject(&self, key: &Key) -> Option<(Certificate, Certificate)> {
        lock(&self.inner)
            .ocsp
            .get(key)
            .map(|e| (e.cert.clone(), e.issuer.clone()))
    }

    pub(crate) fn ocsp_answered(&self, key: &Key, response: OcspResponse) {
        let now = self.now();
        let mut inner = lock(&self.inner);
        if let Key::Ocsp(url, _) = key {
            inner.responders.entry(url.clone()).or_default().succeeded();
        }
        if let Some(e) = inner.ocsp.get_mut(key) {
            e.response = Some(response);
            e.fetched_at = Some(now);
            e.last_error = None;
        }
    }

    pub(crate) fn ocsp_failed(&self, key: &Key, error: String) {
        self.counters.ocsp_failures.fetch_add(1, Ordering::Relaxed);
        let now = self.now();
        let mut inner = lock(&self.inner);
        let Key::Ocsp(url, _) = key else {
            return;
        };
        tracing::warn!(%url, %error, "OCSP query failed");
        inner
            .responders
            .entry(url.clone())
            .or_default()
            .failed(now, error.clone(), &self.settings);
        if let Some(e) = inner.ocsp.get_mut(key) {
            e.last_error = Some(error);
        }
    }

    /// Registers a waiter for `key`; true when no request is in flight (the caller starts it).
    pub(crate) fn join_or_start(&self, key: &Key, waiter: mpsc::Sender<()>) -> bool {
        let mut pending = lock(&self.pending);
        match pending.get_mut(key) {
            Some(waiters) => {
                waiters.push(waiter);
                false
            }
            None => {
                pending.insert(key.clone(), vec![waiter]);
                true
            }
        }
    }

    /// The job for `key` is done: wake its waiters.
    pub(crate) fn finish(&self, key: &Key) {
        let waiters = lock(&self.pending).remove(key).unwrap_or_default();
        for w in waiters {
            let _ = w.send(());
        }
    }

    /// Jobs due in a background round, marked in flight. Drops OCSP answers no longer in use.
    pub(crate) fn due_jobs(&self) -> Vec<Key> {
        let now = self.now();
        let s = &self.settings;
        let mut inner = lock(&self.inner);
        inner.ocsp.retain(|_, e| now - e.last_used <= IN_USE);
        let mut due: Vec<Key> = inner
            .crls
            .iter()
            .filter(|(_, e)| now - e.last_used <= IN_USE && e.refresh_due(now, s))
            .map(|(url, _)| Key::Crl(url.clone()))
            .collect();
        let responders = &inner.responders;
        due.extend(
            inner
                .ocsp
                .iter()
                .filter(|(k, e)| {
                    let Key::Ocsp(url, _) = k else { return false };
                    e.refresh_due(now, s) && !responders.get(url).is_some_and(|b| b.waiting(now))
                })
                .map(|(k, _)| k.clone()),
        );
        drop(inner);
        let mut pending = lock(&self.pending);
        due.retain(|k| !pending.contains_key(k));
        for k in &due {
            pending.insert(k.clone(), Vec::new());
        }
        due
    }

    fn file_for(&self, url: &str) -> Option<PathBuf> {
        let dir = self.settings.cache_dir.as_ref()?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, url.as_bytes());
        let name: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        Some(dir.join(format!("{name}.crl")))
    }

    /// Writes the last good CRL of `url` (temporary file, fsync, rename).
    fn persist(&self, url: &str, bytes: &[u8]) {
        let Some(path) = self.file_for(url) else {
            return;
        };
        if let Err(e) = write_atomically(&path, url, bytes) {
            tracing::warn!(%url, path = %path.display(), error = %e, "cannot keep the CRL on disk");
        }
    }

    /// Reads the CRLs kept in the cache directory (unverified until a caller names the issuer).
    pub(crate) fn load_persisted(&self) {
        let Some(dir) = &self.settings.cache_dir else {
            return;
        };
        let Ok(listing) = std::fs::read_dir(dir) else {
            return;
        };
        let now = self.now();
        let mut inner = lock(&self.inner);
        for path in listing.flatten().map(|e| e.path()).take(MAX_CRL_SOURCES) {
            if path.extension().is_none_or(|x| x != "crl") {
                continue;
            }
            let Some((url, bytes)) = read_kept(&path, self.settings.max_crl_bytes) else {
                tracing::warn!(path = %path.display(), "ignoring an unreadable kept CRL");
                continue;
            };
            let Ok(crls) = Crl::parse_any(&bytes) else {
                continue;
            };
            let entry = Self::crl_entry(&mut inner, &url, now);
            if entry.take(bytes, &crls).is_ok() {
                tracing::info!(%url, this_update = ?entry.this_update, "CRL read from the cache directory");
            }
        }
    }
}

fn write_atomically(path: &Path, url: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(FILE_MAGIC)?;
    f.write_all(url.as_bytes())?;
    f.write_all(b"\n")?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// A kept file: magic line, URL line, the CRL bytes.
fn read_kept(path: &Path, max: u64) -> Option<(String, Vec<u8>)> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.len() > max + 4096 {
        return None;
    }
    let data = std::fs::read(path).ok()?;
    let rest = data.strip_prefix(FILE_MAGIC)?;
    let nl = rest.iter().position(|b| *b == b'\n')?;
    let url = std::str::from_utf8(&rest[..nl]).ok()?.to_owned();
    Some((url, rest[nl + 1..].to_vec()))
}
