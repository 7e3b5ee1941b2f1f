//! `[as4]`: tolerances of the AS4 message service handler (the listener itself is
//! `[listeners.as4]`, retries `[retry]`, sizes `[limits]`).

use std::time::Duration;

use sdkgw_http::HostnameVerification;

use super::ids::Environment;
use super::reader::Table;
use super::report::Finding;

/// `[as4]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct As4Settings {
    /// `clock_skew`: tolerated difference between a peer's `wsu:Timestamp` and our clock
    /// (default `5m`).
    pub clock_skew: Duration,
    /// `duplicate_window`: how long a received MessageId is remembered; must cover the peers'
    /// whole retry period (default `10d`, the retention of DIGG's Domibus P-Mode).
    pub duplicate_window: Duration,
    /// `timestamp_ttl`: `Expires` − `Created` of the timestamps we send (default `5m`).
    pub timestamp_ttl: Duration,
    /// `peer_hostname_check`: `"verify"` (default) — a receiving AP's TLS server certificate
    /// must name the host of its SMP endpoint URL; `"skip"` — any name, while chain, validity
    /// and revocation are still checked (DIGG's testbed peers need it: their samples set
    /// `disableCNCheck`). Changed by a reload.
    pub peer_hostname_check: HostnameVerification,
}

impl Default for As4Settings {
    fn default() -> Self {
        As4Settings {
            clock_skew: Duration::from_secs(300),
            duplicate_window: Duration::from_secs(10 * 24 * 3600),
            timestamp_ttl: Duration::from_secs(300),
            peer_hostname_check: HostnameVerification::Verify,
        }
    }
}

impl As4Settings {
    pub(crate) fn read(t: Option<&Table<'_>>) -> Option<Self> {
        let d = As4Settings::default();
        let Some(t) = t else { return Some(d) };
        let s = As4Settings {
            clock_skew: t.duration_or("clock_skew", d.clock_skew),
            duplicate_window: t.duration_or("duplicate_window", d.duplicate_window),
            timestamp_ttl: t.duration_or("timestamp_ttl", d.timestamp_ttl),
            peer_hostname_check: t
                .opt_parsed("peer_hostname_check", |s| match s {
                    "verify" => Ok(HostnameVerification::Verify),
                    "skip" => Ok(HostnameVerification::SkipNameCheck),
                    _ => Err(format!("{s:?}: expected verify or skip")),
                })
                .unwrap_or(d.peer_hostname_check),
        };
        if s.clock_skew > Duration::from_secs(3600) {
            t.ctx()
                .error(&t.key_path("clock_skew"), "must be at most 1h");
        }
        if s.duplicate_window < Duration::from_secs(24 * 3600) {
            t.ctx().warning(
                &t.key_path("duplicate_window"),
                "is shorter than a day: retries of peers may be delivered twice",
            );
        }
        if s.timestamp_ttl < Duration::from_secs(60) {
            t.ctx()
                .error(&t.key_path("timestamp_ttl"), "must be at least 1m");
        }
        Some(s)
    }

    /// What `config check` says about these settings in `env`: skipping the peer hostname
    /// check in qa or prod is a warning (a testbed shortcut, not for real peers).
    pub(crate) fn check(&self, env: Environment) -> Option<Finding> {
        (env.is_strict() && self.peer_hostname_check != HostnameVerification::Verify)
            .then(|| {
                Finding::warning(
                    "as4.peer_hostname_check",
                    "is \"skip\" in qa/prod: receiving APs' TLS certificates are not checked against their endpoint host names (chain, validity and revocation still are)",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skipping() -> As4Settings {
        As4Settings {
            peer_hostname_check: HostnameVerification::SkipNameCheck,
            ..As4Settings::default()
        }
    }

    #[test]
    fn peer_hostname_check_is_on_by_default() {
        assert_eq!(
            As4Settings::default().peer_hostname_check,
            HostnameVerification::Verify
        );
        assert!(As4Settings::default().check(Environment::Prod).is_none());
    }

    #[test]
    fn skipping_the_peer_hostname_check_warns_in_qa_and_prod_only() {
        for env in [Environment::Qa, Environment::Prod] {
            let f = skipping().check(env).expect("a warning");
            assert_eq!(f.path, "as4.peer_hostname_check");
            assert_eq!(f.severity, super::super::report::Severity::Warning);
        }
        for env in [Environment::Dev, Environment::OpenTest] {
            assert!(skipping().check(env).is_none());
        }
    }
}
