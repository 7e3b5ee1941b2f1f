//! Metrics and health of the running gateway: the facade every module records into
//! ([`Metrics`]), what is sampled at scrape time (store queues, address-book cache, listener
//! TLS counters, certificate expiry, audit shipping, notification queue), and the admin
//! listener ([`admin`]) that serves `/metrics`, `/healthz` and `/readyz`.
//!
//! Recording is cheap (atomic counters of the `prometheus` crate) and never fails. Label
//! values that come from peers (ebMS error codes, receipt codes) are checked: anything that
//! is not a short code-like token, and any value beyond [`MAX_SERIES`] distinct ones per
//! family, is recorded as `other`, so a hostile peer cannot grow the registry.
//!
//! Metric names (all prefixed `sdkgw_`) are listed in [`FAMILIES`] and in the README.

pub mod admin;
mod health;
pub mod operations;
mod sampled;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use sdkgw_as4::wss::open::CLOCK_SKEW;
use time::OffsetDateTime;

pub use health::{Check, CheckResult, Health, ListenerFlag, Readiness};
pub use sampled::CertificateEntry;

/// The audit action of a malware incident (detail `direction`: `inbound` or `outbound`).
pub const MALWARE_FOUND: &str = "security.malware_found";

/// Distinct label sets kept per family before new ones are folded into `other`.
pub const MAX_SERIES: usize = 256;

/// Every family the gateway exports: (name, type, labels, help).
pub const FAMILIES: &[(&str, &str, &str, &str)] = &[
    (
        "sdkgw_messages_total",
        "counter",
        "direction, outcome",
        "Messages processed, by direction (inbound/outbound) and outcome",
    ),
    (
        "sdkgw_messages",
        "gauge",
        "direction, state",
        "Message records by direction and current store state",
    ),
    (
        "sdkgw_as4_signals_total",
        "counter",
        "direction, signal, code",
        "AS4 signals sent/received: receipts and ebMS errors by code",
    ),
    (
        "sdkgw_as4_clock_skew_total",
        "counter",
        "",
        "AS4 messages refused because their WS-Security Timestamp was outside the allowed clock skew (the peer's clock or ours is off)",
    ),
    (
        "sdkgw_malware_found_total",
        "counter",
        "direction",
        "Security incidents: messages with malware in an attachment, received (inbound, rejected BV forbidden) or submitted to the API (outbound, refused with 400)",
    ),
    (
        "sdkgw_receipts_total",
        "counter",
        "direction, code",
        "Meddelandekvittens sent/received by response code",
    ),
    (
        "sdkgw_delivery_latency_seconds",
        "histogram",
        "stage",
        "Outbound latency from API submission to the AS4 receipt / the Meddelandekvittens",
    ),
    (
        "sdkgw_queue_due_messages",
        "gauge",
        "",
        "Scheduled outbound messages whose attempt is due",
    ),
    (
        "sdkgw_queue_oldest_due_age_seconds",
        "gauge",
        "",
        "Age of the oldest due outbound message (0 when none)",
    ),
    (
        "sdkgw_queue_dead_letters",
        "gauge",
        "",
        "Outbound messages whose retries are exhausted",
    ),
    (
        "sdkgw_address_book_*_total",
        "counter",
        "",
        "Address-book cache: lookups, hits, misses, stale serves, refresh failures, ...",
    ),
    (
        "sdkgw_certificate_expiry_seconds",
        "gauge",
        "role, subject, serial",
        "Seconds until a configured certificate expires (negative: expired)",
    ),
    (
        "sdkgw_tls_handshake_failures_total",
        "counter",
        "listener, reason",
        "Failed TLS handshakes by listener and reason",
    ),
    (
        "sdkgw_tls_handshakes_total",
        "counter",
        "listener",
        "Completed TLS handshakes",
    ),
    (
        "sdkgw_connections_accepted_total",
        "counter",
        "listener",
        "Connections accepted into a slot",
    ),
    (
        "sdkgw_connections_active",
        "gauge",
        "listener",
        "Connections holding a slot",
    ),
    (
        "sdkgw_connections_overload_total",
        "counter",
        "listener, action",
        "Connections refused for overload (503 or dropped)",
    ),
    (
        "sdkgw_notifications_total",
        "counter",
        "channel, outcome",
        "Notifications by channel (webhook/email) and outcome (sent/retry/failed)",
    ),
    (
        "sdkgw_notification_queue",
        "gauge",
        "",
        "Notifications waiting to be sent",
    ),
    (
        "sdkgw_audit_events_shipped_total",
        "counter",
        "",
        "Audit events written to the JSON-lines log",
    ),
    (
        "sdkgw_audit_ship_errors_total",
        "counter",
        "",
        "Failed audit shipping rounds (events stay in the journal)",
    ),
    (
        "sdkgw_audit_journal_events",
        "gauge",
        "",
        "Audit events in the store journal not yet removed",
    ),
    (
        "sdkgw_ready",
        "gauge",
        "",
        "1 when /readyz answers 200 (every readiness check passes), else 0",
    ),
    (
        "sdkgw_readiness_check",
        "gauge",
        "check",
        "1 when this readiness check passes, else 0",
    ),
    (
        "sdkgw_build_info",
        "gauge",
        "version",
        "Always 1; the gateway's version as a label",
    ),
];

/// Message direction as a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    fn label(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }
}

impl From<sdkgw_store::Direction> for Direction {
    fn from(d: sdkgw_store::Direction) -> Self {
        match d {
            sdkgw_store::Direction::Inbound => Self::Inbound,
            sdkgw_store::Direction::Outbound => Self::Outbound,
        }
    }
}

/// Whether we sent or received a signal / receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Sent,
    Received,
}

impl Flow {
    fn label(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Received => "received",
        }
    }
}

/// The AS4 signal kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Receipt,
    Error,
}

/// What a delivery latency measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyStage {
    /// API submission (record created) → valid AS4 receipt stored.
    As4Receipt,
    /// API submission → Meddelandekvittens received.
    Meddelandekvittens,
}

/// A label value checker: code-like tokens only, at most [`MAX_SERIES`] label sets.
#[derive(Debug, Default)]
struct Bounded {
    seen: Mutex<HashSet<Vec<String>>>,
}

fn token_ok(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 48
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'.' | b'-' | b'/'))
}

impl Bounded {
    /// The labels to use: unchanged if allowed, else with the untrusted ones as `other`.
    fn labels(&self, trusted: &[&str], untrusted: &[&str]) -> Vec<String> {
        let mut all: Vec<String> = trusted.iter().map(|s| (*s).to_owned()).collect();
        all.extend(untrusted.iter().map(|v| {
            if token_ok(v) {
                (*v).to_owned()
            } else {
                "other".to_owned()
            }
        }));
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.contains(&all) || seen.len() < MAX_SERIES {
            seen.insert(all.clone());
            return all;
        }
        all.truncate(trusted.len());
        all.extend(untrusted.iter().map(|_| "other".to_owned()));
        all
    }
}

struct Recorded {
    messages: IntCounterVec,
    signals: IntCounterVec,
    clock_skew: prometheus::IntCounter,
    malware: IntCounterVec,
    receipts: IntCounterVec,
    latency: HistogramVec,
    notifications: IntCounterVec,
    bounded_messages: Bounded,
    bounded_signals: Bounded,
    bounded_receipts: Bounded,
}

/// The gateway's metrics. Cheap to clone; record from anywhere.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    recorded: Arc<Recorded>,
    sampled: Arc<sampled::Sampled>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| unreachable_metric(name, &e));
    register(registry, Box::new(c.clone()), name);
    c
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| unreachable_metric(name, &e));
    register(registry, Box::new(g.clone()), name);
    g
}

fn register(registry: &Registry, c: Box<dyn prometheus::core::Collector>, name: &str) {
    if let Err(e) = registry.register(c) {
        tracing::error!(metric = name, error = %e, "metric not registered");
    }
}

/// Metric definitions are constants of this module; an invalid one is a programming error
/// caught by the unit tests, never by input.
#[allow(clippy::panic)]
fn unreachable_metric(name: &str, e: &prometheus::Error) -> ! {
    panic!("invalid metric definition {name}: {e}")
}

fn help(name: &str) -> &'static str {
    FAMILIES.iter().find(|f| f.0 == name).map_or("", |f| f.3)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty set of metrics with every family registered.
    pub fn new() -> Self {
        let registry = Registry::new();
        let c = |name: &str, labels: &[&str]| counter(&registry, name, help(name), labels);
        let messages = c("sdkgw_messages_total", &["direction", "outcome"]);
        let signals = c("sdkgw_as4_signals_total", &["direction", "signal", "code"]);
        let clock_skew = prometheus::IntCounter::new(
            "sdkgw_as4_clock_skew_total",
            help("sdkgw_as4_clock_skew_total"),
        )
        .unwrap_or_else(|e| unreachable_metric("sdkgw_as4_clock_skew_total", &e));
        register(
            &registry,
            Box::new(clock_skew.clone()),
            "sdkgw_as4_clock_skew_total",
        );
        let malware = c("sdkgw_malware_found_total", &["direction"]);
        let receipts = c("sdkgw_receipts_total", &["direction", "code"]);
        let notifications = c("sdkgw_notifications_total", &["channel", "outcome"]);
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "sdkgw_delivery_latency_seconds",
                help("sdkgw_delivery_latency_seconds"),
            )
            .buckets(vec![
                0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
                14400.0, 86400.0,
            ]),
            &["stage"],
        )
        .unwrap_or_else(|e| unreachable_metric("sdkgw_delivery_latency_seconds", &e));
        register(
            &registry,
            Box::new(latency.clone()),
            "sdkgw_delivery_latency_seconds",
        );
        // Known label sets exist from the start, so "0" and "absent" are not confused.
        for stage in ["as4_receipt", "meddelandekvittens"] {
            latency.with_label_values(&[stage]);
        }
        for direction in ["inbound", "outbound"] {
            malware.with_label_values(&[direction]);
        }
        for channel in ["webhook", "email"] {
            for outcome in ["sent", "retry", "failed"] {
                notifications.with_label_values(&[channel, outcome]);
            }
        }
        gauge(
            &registry,
            "sdkgw_build_info",
            help("sdkgw_build_info"),
            &["version"],
        )
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
        let sampled = Arc::new(sampled::Sampled::new(&registry));
        Self {
            registry,
            recorded: Arc::new(Recorded {
                messages,
                signals,
                clock_skew,
                malware,
                receipts,
                latency,
                notifications,
                bounded_messages: Bounded::default(),
                bounded_signals: Bounded::default(),
                bounded_receipts: Bounded::default(),
            }),
            sampled,
        }
    }

    /// A message was processed with this outcome (e.g. inbound `received`, `filed`,
    /// `rejected`; outbound `submitted`, `delivered`, `failed`, `recipient-accepted`).
    pub fn message(&self, direction: Direction, outcome: &str) {
        let r = &self.recorded;
        let l = r.bounded_messages.labels(&[direction.label()], &[outcome]);
        r.messages
            .with_label_values(&[l[0].as_str(), l[1].as_str()])
            .inc();
    }

    /// An AS4 signal was sent or received: a receipt (`code` ignored) or an ebMS error with
    /// its code (`EBMS:0004`).
    pub fn as4_signal(&self, flow: Flow, signal: Signal, code: Option<&str>) {
        let r = &self.recorded;
        let (kind, code) = match signal {
            Signal::Receipt => ("receipt", "receipt"),
            Signal::Error => ("error", code.unwrap_or("unknown")),
        };
        let l = r.bounded_signals.labels(&[flow.label(), kind], &[code]);
        r.signals
            .with_label_values(&[l[0].as_str(), l[1].as_str(), l[2].as_str()])
            .inc();
    }

    /// Counts the AS4 signals the audit trail records (every exchange is an event):
    /// receipts and errors we sent for inbound messages, receipts and error signals we got
    /// for outbound ones, and refusals for clock skew; and malware incidents.
    pub fn observe_audit(&self, events: &[sdkgw_store::AuditEvent]) {
        for e in events {
            let field = |k: &str| e.detail.get(k).and_then(|v| v.as_str());
            match e.action.as_str() {
                "as4.inbound.accepted" => self.as4_signal(Flow::Sent, Signal::Receipt, None),
                "as4.inbound.rejected" => {
                    self.as4_signal(Flow::Sent, Signal::Error, field("error_code"));
                    if field("error_cause").is_some_and(|c| c.starts_with(CLOCK_SKEW)) {
                        self.recorded.clock_skew.inc();
                    }
                }
                "as4.outbound.delivered" => {
                    self.as4_signal(Flow::Received, Signal::Receipt, None);
                }
                "as4.outbound.rejected" => {
                    self.as4_signal(Flow::Received, Signal::Error, field("error_code"));
                }
                MALWARE_FOUND => {
                    if let Some(d @ ("inbound" | "outbound")) = field("direction") {
                        self.recorded.malware.with_label_values(&[d]).inc();
                    }
                }
                _ => {}
            }
        }
    }

    /// A Meddelandekvittens was sent or received with this response code (`ACCEPTED`,
    /// `REJECTED`; optionally with the reason, `REJECTED/SV`).
    pub fn receipt(&self, flow: Flow, code: &str) {
        let r = &self.recorded;
        let l = r.bounded_receipts.labels(&[flow.label()], &[code]);
        r.receipts
            .with_label_values(&[l[0].as_str(), l[1].as_str()])
            .inc();
    }

    /// One outbound delivery latency.
    pub fn delivery_latency(&self, stage: LatencyStage, latency: Duration) {
        let stage = match stage {
            LatencyStage::As4Receipt => "as4_receipt",
            LatencyStage::Meddelandekvittens => "meddelandekvittens",
        };
        self.recorded
            .latency
            .with_label_values(&[stage])
            .observe(latency.as_secs_f64());
    }

    /// One notification attempt: channel `webhook` or `email`, outcome `sent`, `retry`,
    /// `failed` (given up).
    pub(crate) fn notification(&self, channel: &'static str, outcome: &'static str) {
        self.recorded
            .notifications
            .with_label_values(&[channel, outcome])
            .inc();
    }

    /// Samples the store's queue statistics at every scrape.
    pub fn watch_store(&self, store: Arc<dyn sdkgw_store::Store>) {
        self.sampled.set_store(store);
    }

    /// Samples the address-book cache counters at every scrape.
    pub fn watch_address_book(&self, book: sdkgw_address_book::AddressBook) {
        self.sampled.set_address_book(book);
    }

    /// Samples a listener's connection and TLS handshake counters at every scrape.
    pub fn watch_listener(&self, name: &str, listener: Arc<sdkgw_http::ServerMetrics>) {
        self.sampled.add_listener(name, listener);
    }

    /// Samples the audit shipper's counters at every scrape.
    pub fn watch_audit(&self, shipper: &crate::audit::Shipper) {
        let report = shipper.reporter();
        self.watch(move |s| {
            let r = report();
            s.audit(r.shipped, r.errors);
        });
    }

    /// Exports seconds-until-expiry of these certificates.
    pub fn watch_certificates(&self, certificates: Vec<CertificateEntry>) {
        self.sampled.set_certificates(certificates);
    }

    /// Samples a source of extra gauges/counters (audit shipper, notification queue).
    pub(crate) fn watch(&self, source: impl Fn(&sampled::Sampled) + Send + Sync + 'static) {
        self.sampled.add_source(Arc::new(source));
    }

    /// Exports the readiness checks as `sdkgw_ready` and `sdkgw_readiness_check{check}`.
    pub fn watch_health(&self, health: Health) {
        self.watch(move |s| s.readiness(&health.ready(OffsetDateTime::now_utc())));
    }

    /// The certificates being watched (for `/readyz`).
    pub fn certificates(&self) -> Vec<CertificateEntry> {
        self.sampled.certificates()
    }

    /// The Prometheus text exposition of everything, sampled at `now`.
    pub fn render(&self, now: OffsetDateTime) -> String {
        self.sampled.refresh(now);
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_events_become_as4_signal_and_clock_skew_counts() {
        let m = Metrics::new();
        let at = OffsetDateTime::UNIX_EPOCH;
        let ev = |action: &str, code: Option<&str>, cause: &str| {
            let mut e = sdkgw_store::AuditEvent::new(at, "as4", action);
            if let Some(code) = code {
                e = e.with("error_code", code).with("error_cause", cause);
            }
            e
        };
        m.observe_audit(&[
            ev("as4.inbound.accepted", None, ""),
            ev(
                "as4.inbound.rejected",
                Some("EBMS:0101"),
                &format!("{CLOCK_SKEW}message expired at …"),
            ),
            ev("as4.inbound.rejected", Some("EBMS:0004"), "not served"),
            ev("as4.outbound.delivered", None, ""),
            ev("as4.outbound.rejected", Some("EBMS:0103"), "policy"),
            ev("message.transition", None, ""),
            ev(MALWARE_FOUND, None, "").with("direction", "inbound"),
            ev(MALWARE_FOUND, None, "").with("direction", "inbound"),
            ev(MALWARE_FOUND, None, "").with("direction", "<hostile>"),
        ]);
        let text = m.render(at);
        for line in [
            "sdkgw_as4_signals_total{code=\"receipt\",direction=\"sent\",signal=\"receipt\"} 1",
            "sdkgw_as4_signals_total{code=\"EBMS:0101\",direction=\"sent\",signal=\"error\"} 1",
            "sdkgw_as4_signals_total{code=\"EBMS:0004\",direction=\"sent\",signal=\"error\"} 1",
            "sdkgw_as4_signals_total{code=\"receipt\",direction=\"received\",signal=\"receipt\"} 1",
            "sdkgw_as4_signals_total{code=\"EBMS:0103\",direction=\"received\",signal=\"error\"} 1",
            "sdkgw_as4_clock_skew_total 1",
            "sdkgw_malware_found_total{direction=\"inbound\"} 2",
            "sdkgw_malware_found_total{direction=\"outbound\"} 0",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }

    #[test]
    fn every_family_is_registered_and_hostile_labels_are_folded() {
        let m = Metrics::new();
        m.message(Direction::Inbound, "filed");
        m.as4_signal(Flow::Sent, Signal::Error, Some("EBMS:0004"));
        m.as4_signal(Flow::Received, Signal::Error, Some("<script>\n"));
        m.receipt(Flow::Received, "REJECTED/SV");
        m.delivery_latency(LatencyStage::As4Receipt, Duration::from_millis(300));
        let text = m.render(OffsetDateTime::now_utc());
        assert!(text.contains("sdkgw_messages_total{direction=\"inbound\",outcome=\"filed\"} 1"));
        assert!(text.contains("code=\"EBMS:0004\""));
        assert!(text.contains("code=\"other\""), "{text}");
        assert!(!text.contains("script"));
        assert!(
            text.contains(
                "sdkgw_delivery_latency_seconds_bucket{stage=\"as4_receipt\",le=\"0.5\"} 1"
            )
        );
        for i in 0..(MAX_SERIES + 50) {
            m.as4_signal(Flow::Received, Signal::Error, Some(&format!("EBMS:{i:04}")));
        }
        let text = m.render(OffsetDateTime::now_utc());
        let series = text
            .lines()
            .filter(|l| l.starts_with("sdkgw_as4_signals_total{"))
            .count();
        assert!(series <= MAX_SERIES + 1, "{series}");
        // Every exported family is documented in FAMILIES (deploy/ relies on the list).
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let name = line.split(' ').nth(2).unwrap();
            let base = name.trim_end_matches("_bucket").trim_end_matches("_sum");
            assert!(
                FAMILIES.iter().any(|f| f.0 == base) || base.starts_with("sdkgw_address_book_"),
                "{name} is not in FAMILIES"
            );
        }
    }
}
