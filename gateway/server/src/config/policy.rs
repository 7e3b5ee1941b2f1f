//! `[retry]` and `[limits]`: how hard the gateway tries, and how much it accepts.

use std::time::Duration;

use super::reader::Table;

/// `[retry]`: outbound AS4 delivery attempts (exponential backoff).
#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    /// `max_attempts` (default 12, as DIGG's example P-Mode `12;4`).
    pub max_attempts: u64,
    /// `initial_delay` (default `30s`).
    pub initial_delay: Duration,
    /// `max_delay` between two attempts (default `1h`).
    pub max_delay: Duration,
    /// `multiplier` of the delay after each failure (default 2.0).
    pub multiplier: f64,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            max_attempts: 12,
            initial_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(3600),
            multiplier: 2.0,
        }
    }
}

impl Retry {
    pub(crate) fn read(t: Option<&Table<'_>>) -> Option<Self> {
        let d = Retry::default();
        let Some(t) = t else { return Some(d) };
        let r = Retry {
            max_attempts: t.u64_or("max_attempts", d.max_attempts),
            initial_delay: t.duration_or("initial_delay", d.initial_delay),
            max_delay: t.duration_or("max_delay", d.max_delay),
            multiplier: t.f64_or("multiplier", d.multiplier),
        };
        if r.max_attempts == 0 {
            t.ctx()
                .error(&t.key_path("max_attempts"), "must be at least 1");
        }
        if !(1.0..=10.0).contains(&r.multiplier) {
            t.ctx()
                .error(&t.key_path("multiplier"), "must be between 1.0 and 10.0");
        }
        if r.max_delay < r.initial_delay {
            t.ctx()
                .error(&t.key_path("max_delay"), "is shorter than initial_delay");
        }
        Some(r)
    }
}

/// `[limits]`: bounds on everything peers and clients send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `max_message_bytes`: largest AS4 message / API submission (default 150 MiB; DIGG
    /// requires at least 100 MB to be accepted).
    pub max_message_bytes: u64,
    /// `max_decompression_ratio`: decompressed / compressed size (default 100).
    pub max_decompression_ratio: u64,
    /// `max_xml_depth`: element nesting (default 64).
    pub max_xml_depth: u64,
    /// `max_connections`: concurrent connections per listener (default 256).
    pub max_connections: u64,
}

/// DIGG's lower bound for message size (AS4 profile 2.8.a).
pub const DIGG_MIN_MESSAGE_BYTES: u64 = 100_000_000;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 150 * 1024 * 1024,
            max_decompression_ratio: 100,
            max_xml_depth: 64,
            max_connections: 256,
        }
    }
}

impl Limits {
    pub(crate) fn read(t: Option<&Table<'_>>) -> Option<Self> {
        let d = Limits::default();
        let Some(t) = t else { return Some(d) };
        let l = Limits {
            max_message_bytes: t.u64_or("max_message_bytes", d.max_message_bytes),
            max_decompression_ratio: t.u64_or("max_decompression_ratio", d.max_decompression_ratio),
            max_xml_depth: t.u64_or("max_xml_depth", d.max_xml_depth),
            max_connections: t.u64_or("max_connections", d.max_connections),
        };
        if l.max_message_bytes < DIGG_MIN_MESSAGE_BYTES {
            t.ctx().warning(
                &t.key_path("max_message_bytes"),
                format!(
                    "{} is below the {DIGG_MIN_MESSAGE_BYTES} bytes DIGG requires an AP to accept",
                    l.max_message_bytes
                ),
            );
        }
        for (key, v) in [
            ("max_decompression_ratio", l.max_decompression_ratio),
            ("max_xml_depth", l.max_xml_depth),
            ("max_connections", l.max_connections),
        ] {
            if v == 0 {
                t.ctx().error(&t.key_path(key), "must be at least 1");
            }
        }
        Some(l)
    }
}
