//! Counters of the address-book cache, for `sdkgw addressbook stats` and `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Live counters (monotonic since start).
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) lookups: AtomicU64,
    pub(crate) hits: AtomicU64,
    pub(crate) durable_reads: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) stale_serves: AtomicU64,
    pub(crate) negative_hits: AtomicU64,
    pub(crate) upstream_fetches: AtomicU64,
    pub(crate) upstream_failures: AtomicU64,
    pub(crate) refresh_failures: AtomicU64,
    pub(crate) revalidations: AtomicU64,
    pub(crate) invalidations: AtomicU64,
    pub(crate) store_errors: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsSnapshot {
    /// Lookups asked.
    pub lookups: u64,
    /// Answered from a fresh cache entry (memory or durable store).
    pub hits: u64,
    /// Entries read from the durable store (memory miss, e.g. after a restart).
    pub durable_reads: u64,
    /// No cache entry: the answer had to come from the SMP.
    pub misses: u64,
    /// Answered from a stale entry (stale-while-revalidate or stale-if-error).
    pub stale_serves: u64,
    /// Answered from a cached "not registered" / "document type not supported".
    pub negative_hits: u64,
    /// SMP fetches made (lookups, refreshes, background refreshes).
    pub upstream_fetches: u64,
    /// SMP fetches that failed (any reason).
    pub upstream_failures: u64,
    /// Refreshes of an existing entry that failed (the old entry stayed in use).
    pub refresh_failures: u64,
    /// Certificate re-validations of cached entries (expiry, revocation).
    pub revalidations: u64,
    /// Explicit invalidations (AS4 decryption / NOT_SERVICED failures, operators).
    pub invalidations: u64,
    /// Durable store reads or writes that failed.
    pub store_errors: u64,
}

impl Metrics {
    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            lookups: g(&self.lookups),
            hits: g(&self.hits),
            durable_reads: g(&self.durable_reads),
            misses: g(&self.misses),
            stale_serves: g(&self.stale_serves),
            negative_hits: g(&self.negative_hits),
            upstream_fetches: g(&self.upstream_fetches),
            upstream_failures: g(&self.upstream_failures),
            refresh_failures: g(&self.refresh_failures),
            revalidations: g(&self.revalidations),
            invalidations: g(&self.invalidations),
            store_errors: g(&self.store_errors),
        }
    }
}

impl MetricsSnapshot {
    /// `(name, help, value)` for a Prometheus exporter; names are counters
    /// (`sdkgw_address_book_<what>_total`).
    pub fn samples(&self) -> [(&'static str, &'static str, u64); 12] {
        [
            (
                "sdkgw_address_book_lookups_total",
                "Address-book lookups",
                self.lookups,
            ),
            (
                "sdkgw_address_book_hits_total",
                "Lookups answered from a fresh cache entry",
                self.hits,
            ),
            (
                "sdkgw_address_book_durable_reads_total",
                "Cache entries read from the durable store",
                self.durable_reads,
            ),
            (
                "sdkgw_address_book_misses_total",
                "Lookups without a cache entry",
                self.misses,
            ),
            (
                "sdkgw_address_book_stale_serves_total",
                "Lookups answered from a stale entry",
                self.stale_serves,
            ),
            (
                "sdkgw_address_book_negative_hits_total",
                "Lookups answered from a cached not-registered",
                self.negative_hits,
            ),
            (
                "sdkgw_address_book_upstream_fetches_total",
                "SMP fetches",
                self.upstream_fetches,
            ),
            (
                "sdkgw_address_book_upstream_failures_total",
                "Failed SMP fetches",
                self.upstream_failures,
            ),
            (
                "sdkgw_address_book_refresh_failures_total",
                "Failed refreshes of cached entries",
                self.refresh_failures,
            ),
            (
                "sdkgw_address_book_revalidations_total",
                "Certificate re-validations of cached entries",
                self.revalidations,
            ),
            (
                "sdkgw_address_book_invalidations_total",
                "Explicit cache invalidations",
                self.invalidations,
            ),
            (
                "sdkgw_address_book_store_errors_total",
                "Durable cache store errors",
                self.store_errors,
            ),
        ]
    }
}
