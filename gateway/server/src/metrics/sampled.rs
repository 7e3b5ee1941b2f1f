//! Values read from their owners at scrape time: store queue statistics, address-book cache
//! counters, listener counters, certificate expiry, and extra sources (audit, notifications).
//! Counters that other crates keep as plain totals are mirrored into Prometheus counters
//! (they only ever grow, so the mirror adds the difference).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use sdkgw_certs::Certificate;
use time::OffsetDateTime;

use super::{counter, gauge, help, register, unreachable_metric};

/// A configured certificate whose expiry is exported.
#[derive(Debug, Clone)]
pub struct CertificateEntry {
    /// `ap`, `o2o_signing`, `o2o_encryption`, `tls_server`, `tls_client` (with an index for
    /// rollover lists: `o2o_encryption[1]`).
    pub role: String,
    pub certificate: Certificate,
}

type Source = Arc<dyn Fn(&Sampled) + Send + Sync>;

#[derive(Default)]
struct Sources {
    store: Option<Arc<dyn sdkgw_store::Store>>,
    address_book: Option<sdkgw_address_book::AddressBook>,
    address_book_counters: HashMap<&'static str, IntCounter>,
    listeners: Vec<(String, Arc<sdkgw_http::ServerMetrics>)>,
    certificates: Vec<CertificateEntry>,
    extra: Vec<Source>,
}

/// The sampled families.
pub(crate) struct Sampled {
    registry: Registry,
    sources: Mutex<Sources>,
    /// One scrape at a time (mirrored counters add each difference once).
    scrape: Mutex<()>,
    ready: IntGauge,
    readiness: IntGaugeVec,
    messages: IntGaugeVec,
    due: IntGauge,
    oldest_due: IntGauge,
    dead_letters: IntGauge,
    journal: IntGauge,
    expiry: IntGaugeVec,
    handshake_failures: IntCounterVec,
    handshakes: IntCounterVec,
    accepted: IntCounterVec,
    active: IntGaugeVec,
    overload: IntCounterVec,
    notification_queue: IntGauge,
    audit_shipped: IntCounter,
    audit_errors: IntCounter,
}

fn single_gauge(registry: &Registry, name: &str) -> IntGauge {
    let g = IntGauge::with_opts(Opts::new(name, help(name)))
        .unwrap_or_else(|e| unreachable_metric(name, &e));
    register(registry, Box::new(g.clone()), name);
    g
}

fn single_counter(registry: &Registry, name: &str, help_text: &str) -> IntCounter {
    let c = IntCounter::with_opts(Opts::new(name, help_text))
        .unwrap_or_else(|e| unreachable_metric(name, &e));
    register(registry, Box::new(c.clone()), name);
    c
}

/// Raises a counter to a total kept elsewhere.
fn mirror(counter: &IntCounter, total: u64) {
    let current = counter.get();
    if total > current {
        counter.inc_by(total - current);
    }
}

impl Sampled {
    pub(crate) fn new(registry: &Registry) -> Self {
        let g = |name: &str, labels: &[&str]| gauge(registry, name, help(name), labels);
        let c = |name: &str, labels: &[&str]| counter(registry, name, help(name), labels);
        Self {
            registry: registry.clone(),
            sources: Mutex::new(Sources::default()),
            scrape: Mutex::new(()),
            ready: single_gauge(registry, "sdkgw_ready"),
            readiness: g("sdkgw_readiness_check", &["check"]),
            messages: g("sdkgw_messages", &["direction", "state"]),
            due: single_gauge(registry, "sdkgw_queue_due_messages"),
            oldest_due: single_gauge(registry, "sdkgw_queue_oldest_due_age_seconds"),
            dead_letters: single_gauge(registry, "sdkgw_queue_dead_letters"),
            journal: single_gauge(registry, "sdkgw_audit_journal_events"),
            expiry: g(
                "sdkgw_certificate_expiry_seconds",
                &["role", "subject", "serial"],
            ),
            handshake_failures: c(
                "sdkgw_tls_handshake_failures_total",
                &["listener", "reason"],
            ),
            handshakes: c("sdkgw_tls_handshakes_total", &["listener"]),
            accepted: c("sdkgw_connections_accepted_total", &["listener"]),
            active: g("sdkgw_connections_active", &["listener"]),
            overload: c("sdkgw_connections_overload_total", &["listener", "action"]),
            notification_queue: single_gauge(registry, "sdkgw_notification_queue"),
            audit_shipped: single_counter(
                registry,
                "sdkgw_audit_events_shipped_total",
                help("sdkgw_audit_events_shipped_total"),
            ),
            audit_errors: single_counter(
                registry,
                "sdkgw_audit_ship_errors_total",
                help("sdkgw_audit_ship_errors_total"),
            ),
        }
    }

    fn sources(&self) -> MutexGuard<'_, Sources> {
        self.sources.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_store(&self, store: Arc<dyn sdkgw_store::Store>) {
        self.sources().store = Some(store);
    }

    pub(crate) fn set_address_book(&self, book: sdkgw_address_book::AddressBook) {
        self.sources().address_book = Some(book);
    }

    pub(crate) fn add_listener(&self, name: &str, m: Arc<sdkgw_http::ServerMetrics>) {
        self.sources().listeners.push((name.to_owned(), m));
    }

    pub(crate) fn set_certificates(&self, certificates: Vec<CertificateEntry>) {
        self.sources().certificates = certificates;
    }

    pub(crate) fn certificates(&self) -> Vec<CertificateEntry> {
        self.sources().certificates.clone()
    }

    pub(crate) fn add_source(&self, source: Source) {
        self.sources().extra.push(source);
    }

    /// Audit shipping totals and journal size.
    pub(crate) fn audit(&self, shipped: u64, errors: u64) {
        mirror(&self.audit_shipped, shipped);
        mirror(&self.audit_errors, errors);
    }

    /// `/readyz` as gauges.
    pub(crate) fn readiness(&self, r: &super::Readiness) {
        self.ready.set(i64::from(r.ready));
        self.readiness.reset();
        for c in &r.checks {
            self.readiness
                .with_label_values(&[c.name.as_str()])
                .set(i64::from(c.result.is_ok()));
        }
    }

    pub(crate) fn notification_queue(&self, waiting: u64) {
        self.notification_queue
            .set(i64::try_from(waiting).unwrap_or(i64::MAX));
    }

    /// Reads every source (one scrape at a time, so mirrored counters add each difference once).
    pub(crate) fn refresh(&self, now: OffsetDateTime) {
        let _one = self.scrape.lock().unwrap_or_else(PoisonError::into_inner);
        let mut s = self.sources();
        if let Some(store) = &s.store {
            self.store_stats(store.as_ref(), now);
        }
        if let Some(book) = s.address_book.clone() {
            for (name, help_text, value) in book.metrics().samples() {
                let counter = s
                    .address_book_counters
                    .entry(name)
                    .or_insert_with(|| single_counter(&self.registry, name, help_text));
                mirror(counter, value);
            }
        }
        for (name, m) in &s.listeners {
            let snap = m.snapshot();
            for (reason, n) in &snap.handshake_failures {
                mirror(
                    &self
                        .handshake_failures
                        .with_label_values(&[name, reason.label()]),
                    *n,
                );
            }
            mirror(
                &self.handshakes.with_label_values(&[name]),
                snap.handshakes_completed,
            );
            mirror(
                &self.accepted.with_label_values(&[name]),
                snap.connections_accepted,
            );
            self.active
                .with_label_values(&[name])
                .set(i64::try_from(snap.connections_active).unwrap_or(i64::MAX));
            mirror(
                &self.overload.with_label_values(&[name, "rejected_503"]),
                snap.connections_rejected_overload,
            );
            mirror(
                &self.overload.with_label_values(&[name, "dropped"]),
                snap.connections_dropped_overload,
            );
        }
        // Only the certificates configured now (a replaced one must not linger).
        self.expiry.reset();
        for c in &s.certificates {
            let cert = &c.certificate;
            let serial = cert.serial_hex();
            self.expiry
                .with_label_values(&[c.role.as_str(), cert.subject(), serial.as_str()])
                .set((cert.not_after() - now).whole_seconds());
        }
        // Extra sources may read this struct (readiness reads the certificates): unlocked.
        let extra = s.extra.clone();
        drop(s);
        for source in extra {
            source(self);
        }
    }

    fn store_stats(&self, store: &dyn sdkgw_store::Store, now: OffsetDateTime) {
        match store.stats(now) {
            Ok(stats) => {
                for (state, n) in &stats.by_state {
                    let dir = match state.direction() {
                        sdkgw_store::Direction::Inbound => "inbound",
                        sdkgw_store::Direction::Outbound => "outbound",
                    };
                    self.messages
                        .with_label_values(&[dir, state.as_str()])
                        .set(i64::try_from(*n).unwrap_or(i64::MAX));
                }
                let to_i = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                self.due.set(to_i(stats.due_now));
                self.dead_letters.set(to_i(stats.dead_letters));
                self.journal.set(to_i(stats.audit_entries));
                self.oldest_due.set(
                    stats
                        .oldest_due
                        .map_or(0, |t| (now - t).whole_seconds().max(0)),
                );
            }
            Err(e) => tracing::warn!(error = %e, "metrics: store statistics unavailable"),
        }
    }
}
