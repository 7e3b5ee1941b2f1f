//! Revocation checking: OCSP (behind [`OcspClient`]) first, then CRLs (from files and/or a
//! [`CrlFetcher`], signature-checked, cached until nextUpdate), then a stale CRL within the
//! configured grace, then the [`RevocationPolicy`]'s verdict on "unknown" — fail closed by
//! default (addressing digest §4.5, security-operations §1.6 D).
//!
//! With [`RevocationChecker::with_crl_recheck`], a cached CRL that is still current is asked
//! for again from the fetcher once per interval, so a CRL the CA published before the old
//! one's nextUpdate (listing a fresh revocation) is picked up without waiting for it. The
//! fetcher is expected to answer such rechecks from its own background-refreshed cache
//! (`sdkgw_http::fetch` does), so they cost no network round trip.
//!
//! The OCSP wire format (request building, response checking) is in [`ocsp`].

mod crl;
mod der;
pub mod ocsp;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use sdkgw_certs::Certificate;
use time::{Duration, OffsetDateTime};

pub use crl::{Crl, CrlError, RevokedEntry};
pub use ocsp::{OcspError, OcspRequest};

use super::error::PathError;

/// Failure to obtain revocation data from a source (network, file, responder).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(pub String);

/// What a [`CrlFetcher`] hands back for one distribution point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedCrl {
    /// The CRL(s), DER or PEM.
    pub bytes: Vec<u8>,
    /// Set when the source could not be reached and `bytes` are the last good copy (which
    /// may be past its nextUpdate: the checker applies the grace). Shown in the reason when
    /// the status ends up unknown.
    pub note: Option<String>,
}

/// Fetches CRLs by distribution-point URL (HTTP in production, a fake in tests).
pub trait CrlFetcher: Send + Sync {
    /// The CRL at `url`, DER or PEM.
    fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError>;

    /// The CRL at `url` for certificates issued by `issuer`. A fetcher that caches or persists
    /// CRLs uses the issuer to verify what it keeps, so a forged CRL can never replace the
    /// last good one. The default asks [`CrlFetcher::fetch`].
    fn fetch_for(&self, url: &str, issuer: &Certificate) -> Result<FetchedCrl, FetchError> {
        let _ = issuer;
        self.fetch(url)
            .map(|bytes| FetchedCrl { bytes, note: None })
    }
}

/// Status of one certificate as an OCSP responder reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcspCertStatus {
    Good,
    Revoked {
        revoked_at: OffsetDateTime,
        reason: Option<&'static str>,
    },
    Unknown,
}

/// A verified OCSP single response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspResponse {
    pub status: OcspCertStatus,
    pub this_update: OffsetDateTime,
    pub next_update: Option<OffsetDateTime>,
}

/// Queries an OCSP responder (RFC 6960).
///
/// Implementations must return only responses whose signature they verified: signed by the
/// issuer itself or by a delegated responder certificate issued by it with
/// `id-kp-OCSPSigning`, and matching the request's CertID (and nonce, if used). Freshness is
/// checked by the caller ([`RevocationChecker`]) against the validation time.
pub trait OcspClient: Send + Sync {
    fn query(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        url: &str,
    ) -> Result<OcspResponse, FetchError>;
}

/// What to do when no fresh revocation information can be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnUnknown {
    /// Reject the certificate (`PathError::RevocationUnknown`). The default, for peers.
    #[default]
    FailClosed,
    /// Accept, recording [`RevocationOutcome::UnknownAccepted`] (soft-fail; an explicit choice).
    Accept,
}

/// Which certificates of a path are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RevocationScope {
    /// The leaf and every intermediate (each against its issuer's CRL/OCSP). The default.
    #[default]
    WholeChain,
    /// The leaf only.
    LeafOnly,
}

/// The explicit revocation policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationPolicy {
    pub on_unknown: OnUnknown,
    /// How long after nextUpdate a cached CRL may still be used when no fresh one can be
    /// fetched. Zero by default.
    pub grace: Duration,
    pub scope: RevocationScope,
    /// Maximum age of an OCSP response without nextUpdate.
    pub ocsp_max_age: Duration,
    /// Tolerated clock difference for thisUpdate in the future.
    pub clock_skew: Duration,
}

impl Default for RevocationPolicy {
    fn default() -> Self {
        RevocationPolicy {
            on_unknown: OnUnknown::FailClosed,
            grace: Duration::ZERO,
            scope: RevocationScope::WholeChain,
            ocsp_max_age: Duration::hours(24),
            clock_skew: Duration::minutes(5),
        }
    }
}

/// Where a "good" status came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusSource {
    Ocsp {
        this_update: OffsetDateTime,
    },
    Crl {
        issuer: String,
        this_update: OffsetDateTime,
        next_update: Option<OffsetDateTime>,
        /// Past nextUpdate but within the configured grace.
        stale_within_grace: bool,
    },
}

/// Result of checking one certificate that did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationOutcome {
    Good(StatusSource),
    /// Revocation checking is disabled for this checker.
    NotChecked,
    /// No fresh information, accepted because the policy says [`OnUnknown::Accept`].
    UnknownAccepted {
        reason: String,
    },
}

/// Revocation checker with a CRL cache. Shared across validations (interior mutability).
pub struct RevocationChecker {
    enabled: bool,
    policy: RevocationPolicy,
    crls: Mutex<Vec<Arc<Crl>>>,
    fetcher: Option<Arc<dyn CrlFetcher>>,
    ocsp: Option<Arc<dyn OcspClient>>,
    /// Ask the fetcher again for a still-current CRL after this long (None: only when the
    /// cached one is no longer current).
    recheck: Option<Duration>,
    /// Per distribution point: when it was last asked (validation time) and a digest of the
    /// bytes it gave, so unchanged CRLs are not parsed and verified again.
    asked: Mutex<HashMap<String, Asked>>,
}

#[derive(Debug, Clone)]
struct Asked {
    at: OffsetDateTime,
    accepted: Option<[u8; 32]>,
}

/// Distribution points remembered for rechecks; beyond this the memory starts afresh.
const MAX_ASKED: usize = 1024;

impl RevocationChecker {
    /// A checker with no sources yet: everything is "unknown" until CRLs or sources are added.
    pub fn new(policy: RevocationPolicy) -> Self {
        RevocationChecker {
            enabled: true,
            policy,
            crls: Mutex::new(Vec::new()),
            fetcher: None,
            ocsp: None,
            recheck: None,
            asked: Mutex::new(HashMap::new()),
        }
    }

    /// No revocation checking at all; every outcome is [`RevocationOutcome::NotChecked`].
    /// For integrity-only checks and old vectors — never for peers.
    pub fn disabled() -> Self {
        RevocationChecker {
            enabled: false,
            ..Self::new(RevocationPolicy::default())
        }
    }

    pub fn with_fetcher(mut self, fetcher: Arc<dyn CrlFetcher>) -> Self {
        self.fetcher = Some(fetcher);
        self
    }

    pub fn with_ocsp(mut self, client: Arc<dyn OcspClient>) -> Self {
        self.ocsp = Some(client);
        self
    }

    /// Asks the fetcher again for a distribution point whose CRL is still current once
    /// `interval` (of validation time) has passed since it was last asked.
    pub fn with_crl_recheck(mut self, interval: Duration) -> Self {
        self.recheck = Some(interval);
        self
    }

    /// Whether a CRL fetcher is configured.
    pub fn has_fetcher(&self) -> bool {
        self.fetcher.is_some()
    }

    /// Whether an OCSP client is configured.
    pub fn has_ocsp(&self) -> bool {
        self.ocsp.is_some()
    }

    pub fn policy(&self) -> &RevocationPolicy {
        &self.policy
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Adds CRLs (e.g. from files). Their signatures are checked when used, against the
    /// issuer found in the path.
    pub fn add_crls(&self, crls: impl IntoIterator<Item = Crl>) {
        let mut cache = self.cache();
        for crl in crls {
            insert(&mut cache, crl);
        }
    }

    /// Number of cached CRLs.
    pub fn cached_crls(&self) -> usize {
        self.cache().len()
    }

    fn cache(&self) -> MutexGuard<'_, Vec<Arc<Crl>>> {
        // A panic while holding the lock cannot leave the Vec half-updated (push/retain
        // are the only mutations), so a poisoned lock is still usable.
        self.crls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The revocation status of `cert`, issued by `issuer`, at `at`.
    pub fn check(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        at: OffsetDateTime,
    ) -> Result<RevocationOutcome, PathError> {
        if !self.enabled {
            return Ok(RevocationOutcome::NotChecked);
        }
        let mut reasons = Vec::new();
        if let Some(outcome) = self.check_ocsp(cert, issuer, at, &mut reasons)? {
            return Ok(outcome);
        }
        if let Some(outcome) = self.check_crl(cert, issuer, at, &mut reasons)? {
            return Ok(outcome);
        }
        let reason = if reasons.is_empty() {
            "no CRL or OCSP source for its issuer".to_owned()
        } else {
            reasons.join("; ")
        };
        match self.policy.on_unknown {
            OnUnknown::FailClosed => Err(PathError::RevocationUnknown {
                subject: cert.subject().to_owned(),
                reason,
            }),
            OnUnknown::Accept => Ok(RevocationOutcome::UnknownAccepted { reason }),
        }
    }

    fn check_ocsp(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        at: OffsetDateTime,
        reasons: &mut Vec<String>,
    ) -> Result<Option<RevocationOutcome>, PathError> {
        let Some(client) = &self.ocsp else {
            return Ok(None);
        };
        for url in cert.ocsp_urls() {
            let resp = match client.query(cert, issuer, url) {
                Ok(r) => r,
                Err(e) => {
                    reasons.push(format!("OCSP {url}: {e}"));
                    continue;
                }
            };
            if !self.ocsp_fresh(&resp, at) {
                reasons.push(format!(
                    "OCSP {url}: response of {} is not current",
                    resp.this_update
                ));
                continue;
            }
            match resp.status {
                OcspCertStatus::Good => {
                    return Ok(Some(RevocationOutcome::Good(StatusSource::Ocsp {
                        this_update: resp.this_update,
                    })));
                }
                OcspCertStatus::Revoked { revoked_at, reason } if revoked_at <= at => {
                    return Err(revoked(cert, revoked_at, reason));
                }
                OcspCertStatus::Revoked { .. } => {
                    return Ok(Some(RevocationOutcome::Good(StatusSource::Ocsp {
                        this_update: resp.this_update,
                    })));
                }
                OcspCertStatus::Unknown => reasons.push(format!("OCSP {url}: status unknown")),
            }
        }
        Ok(None)
    }

    fn ocsp_fresh(&self, resp: &OcspResponse, at: OffsetDateTime) -> bool {
        let p = &self.policy;
        if resp.this_update > at + p.clock_skew {
            return false;
        }
        match resp.next_update {
            Some(next) => at <= next + p.clock_skew,
            None => at <= resp.this_update + p.ocsp_max_age,
        }
    }

    fn check_crl(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        at: OffsetDateTime,
        reasons: &mut Vec<String>,
    ) -> Result<Option<RevocationOutcome>, PathError> {
        let current = self
            .usable_crl(cert, issuer, at, false, reasons)
            .filter(|_| !self.recheck_due(cert, at));
        let chosen = match current {
            Some(c) => Some((c, false)),
            None => {
                self.fetch_crls(cert, issuer, at, reasons);
                match self.usable_crl(cert, issuer, at, false, reasons) {
                    Some(c) => Some((c, false)),
                    None => self
                        .usable_crl(cert, issuer, at, true, reasons)
                        .map(|c| (c, true)),
                }
            }
        };
        let Some((crl, stale)) = chosen else {
            return Ok(None);
        };
        if let Some(entry) = crl.entry_for(cert)
            && entry.revoked_at <= at
        {
            return Err(revoked(cert, entry.revoked_at, entry.reason));
        }
        Ok(Some(RevocationOutcome::Good(StatusSource::Crl {
            issuer: crl.issuer().to_owned(),
            this_update: crl.this_update(),
            next_update: crl.next_update(),
            stale_within_grace: stale,
        })))
    }

    /// The newest verified CRL of `issuer` covering `cert` that is current at `at` (or, with
    /// `in_grace`, past nextUpdate by at most the grace).
    fn usable_crl(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        at: OffsetDateTime,
        in_grace: bool,
        reasons: &mut Vec<String>,
    ) -> Option<Arc<Crl>> {
        let p = &self.policy;
        let cache = self.cache();
        let mut best: Option<&Arc<Crl>> = None;
        for crl in cache
            .iter()
            .filter(|c| c.names_issuer(issuer) && c.covers(cert))
        {
            if let Err(e) = crl.verify_issued_by(issuer) {
                push_once(reasons, e.to_string());
                continue;
            }
            let Some(next) = crl.next_update() else {
                push_once(
                    reasons,
                    format!("CRL of {} has no nextUpdate", crl.issuer()),
                );
                continue;
            };
            let limit = if in_grace { next + p.grace } else { next };
            // A CRL issued after `at` still speaks about `at` (its entries carry revocation
            // dates), which is what verifying "as of" an earlier instant needs.
            if at > limit {
                if !in_grace {
                    push_once(
                        reasons,
                        format!("CRL of {} is not current (nextUpdate {next})", crl.issuer()),
                    );
                }
                continue;
            }
            if best.is_none_or(|b| crl.this_update() > b.this_update()) {
                best = Some(crl);
            }
        }
        best.cloned()
    }

    /// Whether a current CRL should nevertheless be asked for again (see
    /// [`RevocationChecker::with_crl_recheck`]).
    fn recheck_due(&self, cert: &Certificate, at: OffsetDateTime) -> bool {
        let (Some(interval), Some(_)) = (self.recheck, &self.fetcher) else {
            return false;
        };
        let asked = self.asked();
        cert.crl_distribution_points()
            .iter()
            .any(|url| asked.get(url).is_none_or(|a| at >= a.at + interval))
    }

    fn asked(&self) -> MutexGuard<'_, HashMap<String, Asked>> {
        // Inserts of whole values only: a poisoned map is still consistent.
        self.asked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `bytes` are exactly what `url` gave the last time they were accepted.
    fn unchanged(&self, url: &str, bytes: &[u8]) -> bool {
        let digest = sha256(bytes);
        self.asked()
            .get(url)
            .is_some_and(|a| a.accepted == Some(digest))
    }

    /// Records that `url` was asked at `at`, and the digest of the bytes if they were accepted.
    fn note_asked(&self, url: &str, at: OffsetDateTime, accepted: Option<&[u8]>) {
        let accepted = accepted.map(sha256);
        let mut asked = self.asked();
        if asked.len() >= MAX_ASKED && !asked.contains_key(url) {
            asked.clear();
        }
        asked.insert(url.to_owned(), Asked { at, accepted });
    }

    /// Fetches the CRLs named in `cert`'s distribution points into the cache.
    fn fetch_crls(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        at: OffsetDateTime,
        reasons: &mut Vec<String>,
    ) {
        let Some(fetcher) = &self.fetcher else {
            return;
        };
        for url in cert.crl_distribution_points() {
            let fetched = match fetcher.fetch_for(url, issuer) {
                Ok(f) => f,
                Err(e) => {
                    self.note_asked(url, at, None);
                    reasons.push(format!("CRL {url}: {e}"));
                    continue;
                }
            };
            if let Some(note) = &fetched.note {
                reasons.push(format!("CRL {url}: {note}"));
            }
            if self.unchanged(url, &fetched.bytes) {
                // Already parsed, verified and cached.
                self.note_asked(url, at, Some(&fetched.bytes));
                continue;
            }
            let accepted = self.accept_crls(url, &fetched.bytes, issuer, reasons);
            self.note_asked(url, at, accepted.then_some(&fetched.bytes[..]));
        }
    }

    /// Parses the CRLs fetched from `url` and caches those `issuer` signed; true if any was.
    fn accept_crls(
        &self,
        url: &str,
        bytes: &[u8],
        issuer: &Certificate,
        reasons: &mut Vec<String>,
    ) -> bool {
        let crls = match Crl::parse_any(bytes) {
            Ok(crls) => crls,
            Err(e) => {
                reasons.push(format!("CRL {url}: {e}"));
                return false;
            }
        };
        let mut cache = self.cache();
        let mut named = false;
        let mut accepted = false;
        for crl in crls.into_iter().filter(|c| c.names_issuer(issuer)) {
            named = true;
            // Verified before caching, so a forged CRL cannot evict a good one.
            match crl.verify_issued_by(issuer) {
                Ok(()) => {
                    insert(&mut cache, crl);
                    accepted = true;
                }
                Err(e) => push_once(reasons, e.to_string()),
            }
        }
        if !named {
            reasons.push(format!(
                "CRL from {url} is not issued by {}",
                issuer.subject()
            ));
        }
        accepted
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl std::fmt::Debug for RevocationChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationChecker")
            .field("enabled", &self.enabled)
            .field("policy", &self.policy)
            .field("cached_crls", &self.cached_crls())
            .field("fetcher", &self.fetcher.is_some())
            .field("ocsp", &self.ocsp.is_some())
            .finish()
    }
}

fn revoked(
    cert: &Certificate,
    revoked_at: OffsetDateTime,
    reason: Option<&'static str>,
) -> PathError {
    PathError::Revoked {
        subject: cert.subject().to_owned(),
        serial: cert.serial_hex(),
        revoked_at,
        reason: reason.map(str::to_owned),
    }
}

/// Adds `crl`, dropping older CRLs of the same issuer and scope so the cache stays bounded.
fn insert(cache: &mut Vec<Arc<Crl>>, crl: Crl) {
    if cache.iter().any(|c| c.supersedes_or_equals(&crl)) {
        return;
    }
    cache.retain(|c| !crl.supersedes_or_equals(c));
    cache.push(Arc::new(crl));
}

fn push_once(reasons: &mut Vec<String>, reason: String) {
    if !reasons.contains(&reason) {
        reasons.push(reason);
    }
}
