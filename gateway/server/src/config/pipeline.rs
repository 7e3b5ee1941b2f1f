//! `[pipeline]`: the message pipelines between the mailbox API and AS4 (the AS4 retry schedule
//! itself is `[retry]`). Every key is optional; the block for `example.toml`:
//!
//! ```toml
//! # ---------------------------------------------------------------------------------------------
//! # Message pipelines (sealing, opening, receipts, delivery driving). All keys optional.
//! [pipeline]
//! receipt_timeout = "24h"    # WAITING_FOR_RECEIPT longer than this -> MESSAGE_EXCHANGE_ERROR
//! inbound_workers = 4        # envelopes opened (verified, decrypted, validated) at once
//! max_in_flight = 16         # AS4 deliveries at once, all peers together
//! per_peer = 4               # AS4 deliveries at once to one receiving access point
//! breaker_failures = 5       # consecutive failed attempts to a peer that open its circuit
//! breaker_open = "30s"       # how long an open circuit holds deliveries back (then one probe)
//! ```

use std::time::Duration;

use super::reader::Table;
pub use crate::pipeline::PipelineSettings;

fn count(t: &Table<'_>, key: &'static str, default: usize) -> usize {
    let v = t.u64_or(key, default as u64);
    if v == 0 || v > 1024 {
        t.ctx()
            .error(&t.key_path(key), "must be between 1 and 1024");
    }
    usize::try_from(v).unwrap_or(default).clamp(1, 1024)
}

/// Reads `[pipeline]` (absent: the defaults).
pub(crate) fn read(t: Option<&Table<'_>>) -> Option<PipelineSettings> {
    let d = PipelineSettings::default();
    let Some(t) = t else { return Some(d) };
    let s = PipelineSettings {
        receipt_timeout: t.duration_or("receipt_timeout", d.receipt_timeout),
        inbound_workers: count(t, "inbound_workers", d.inbound_workers),
        max_in_flight: count(t, "max_in_flight", d.max_in_flight),
        per_peer: count(t, "per_peer", d.per_peer),
        breaker_failures: u32::try_from(count(t, "breaker_failures", 5)).unwrap_or(5),
        breaker_open: t.duration_or("breaker_open", d.breaker_open),
    };
    if s.receipt_timeout < Duration::from_secs(60) {
        t.ctx()
            .error(&t.key_path("receipt_timeout"), "must be at least 1m");
    }
    if s.per_peer > s.max_in_flight {
        t.ctx()
            .warning(&t.key_path("per_peer"), "is larger than max_in_flight");
    }
    if s.breaker_open < Duration::from_secs(1) {
        t.ctx()
            .error(&t.key_path("breaker_open"), "must be at least 1s");
    }
    Some(s)
}
