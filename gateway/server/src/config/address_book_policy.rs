//! `[address_book.cache]` and `[address_book.http]`: how long SMP answers are kept and used,
//! and how the SMP is asked. Every key is optional; the defaults are the addressing digest's
//! proposals (§1.4, §3.5), since DIGG publishes no cache rules.

use std::path::PathBuf;
use std::time::Duration;

use sdkgw_address_book::CachePolicy;

use super::reader::Table;

/// Where the system's CA bundle usually is (Debian/Ubuntu, Alpine, Fedora's compat link).
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// `[address_book.http]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressBookHttp {
    /// `connect_timeout` (default `5s`): TCP connect + TLS handshake to the SMP.
    pub connect_timeout: Duration,
    /// `request_timeout` (default `10s`): the whole request (SMP SLA: 99 % within 2 s).
    pub request_timeout: Duration,
    /// `max_response_bytes` (default 2 MiB, at most 4 MiB).
    pub max_response_bytes: u64,
    /// `tls_anchors`: CA files the SMP's TLS server certificate must chain to (default: the
    /// system CA bundle). Not the SMP signing CA: that is `trust.smp`.
    pub tls_anchors: Vec<PathBuf>,
}

impl Default for AddressBookHttp {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_response_bytes: 2 << 20,
            tls_anchors: vec![PathBuf::from(SYSTEM_CA_BUNDLE)],
        }
    }
}

/// The `cache` and `http` tables below `[address_book]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddressBookPolicy {
    /// `[address_book.cache]`
    pub cache: CachePolicy,
    /// `[address_book.http]`
    pub http: AddressBookHttp,
}

impl AddressBookPolicy {
    /// Reads `cache` and `http` of the `[address_book]` table `t` (absent: defaults).
    pub(crate) fn read(t: Option<&Table<'_>>) -> Option<Self> {
        let Some(t) = t else {
            return Some(Self::default());
        };
        let cache = read_cache(t.opt_table("cache").as_ref());
        let http = read_http(t.opt_table("http").as_ref());
        Some(Self {
            cache: cache?,
            http: http?,
        })
    }
}

fn read_cache(t: Option<&Table<'_>>) -> Option<CachePolicy> {
    let d = CachePolicy::default();
    let Some(t) = t else { return Some(d) };
    let p = CachePolicy {
        ttl: t.duration_or("ttl", d.ttl),
        stale_while_revalidate: t.duration_or("stale_while_revalidate", d.stale_while_revalidate),
        max_stale: t.duration_or("max_stale", d.max_stale),
        negative_ttl: t.duration_or("negative_ttl", d.negative_ttl),
        revalidate_every: t.duration_or("revalidate_every", d.revalidate_every),
        refresh_ahead: t.duration_or("refresh_ahead", d.refresh_ahead),
        in_use_window: t.duration_or("in_use_window", d.in_use_window),
        memory_entries: usize::try_from(t.u64_or("memory_entries", d.memory_entries as u64))
            .unwrap_or(usize::MAX),
    };
    let err = |key: &str, message: &str| t.ctx().error(&t.key_path(key), message);
    if p.ttl < Duration::from_secs(1) {
        err("ttl", "must be at least 1s");
    }
    if p.max_stale < p.ttl {
        err("max_stale", "is shorter than ttl");
    }
    if p.negative_ttl < Duration::from_secs(1) {
        err("negative_ttl", "must be at least 1s");
    }
    if p.revalidate_every < Duration::from_secs(1) {
        err("revalidate_every", "must be at least 1s");
    }
    if p.refresh_ahead >= p.ttl {
        err("refresh_ahead", "must be shorter than ttl");
    }
    if p.memory_entries == 0 {
        err("memory_entries", "must be at least 1");
    }
    Some(p)
}

fn read_http(t: Option<&Table<'_>>) -> Option<AddressBookHttp> {
    let d = AddressBookHttp::default();
    let Some(t) = t else { return Some(d) };
    let anchors = t.path_list("tls_anchors");
    let h = AddressBookHttp {
        connect_timeout: t.duration_or("connect_timeout", d.connect_timeout),
        request_timeout: t.duration_or("request_timeout", d.request_timeout),
        max_response_bytes: t.u64_or("max_response_bytes", d.max_response_bytes),
        tls_anchors: if anchors.is_empty() {
            d.tls_anchors
        } else {
            anchors
        },
    };
    let err = |key: &str, message: &str| t.ctx().error(&t.key_path(key), message);
    if h.connect_timeout.is_zero() {
        err("connect_timeout", "must be more than 0s");
    }
    if h.request_timeout < h.connect_timeout {
        err("request_timeout", "is shorter than connect_timeout");
    }
    if !(64 << 10..=4 << 20).contains(&h.max_response_bytes) {
        err(
            "max_response_bytes",
            "must be between 65536 and 4194304 (the SMP parser limit)",
        );
    }
    Some(h)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{EXAMPLE, from_toml};
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> super::super::Loaded {
        let vars = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        from_toml(text, Path::new("/etc/sdkgw/sdkgw.toml"), vars)
    }

    #[test]
    fn the_example_documents_the_defaults() {
        let loaded = load(EXAMPLE, &[]);
        let config = loaded.ok().expect("example parses");
        assert_eq!(config.address_book_policy, AddressBookPolicy::default());
    }

    #[test]
    fn values_are_read_overridable_and_checked_with_key_paths() {
        let text = EXAMPLE
            .replace("ttl = \"15m\"", "ttl = \"30m\"")
            .replace("memory_entries = 100000", "memory_entries = 10");
        let loaded = load(&text, &[("SDKGW_ADDRESS_BOOK__CACHE__MAX_STALE", "48h")]);
        let p = &loaded.ok().expect("valid").address_book_policy;
        assert_eq!(p.cache.ttl, Duration::from_secs(1800));
        assert_eq!(p.cache.max_stale, Duration::from_secs(48 * 3600));
        assert_eq!(p.cache.memory_entries, 10);
        let bad = EXAMPLE
            .replace("max_stale = \"24h\"", "max_stale = \"1m\"")
            .replace("refresh_ahead = \"2m\"", "refresh_ahead = \"1h\"")
            .replace(
                "max_response_bytes = 2097152",
                "max_response_bytes = 99999999",
            )
            .replace(
                "negative_ttl = \"5m\"",
                "negative_ttl = \"5m\"\nfreshness = \"1s\"",
            );
        let found: Vec<String> = load(&bad, &[])
            .findings
            .iter()
            .map(|f| f.to_string())
            .collect();
        for expected in [
            "address_book.cache.max_stale: is shorter than ttl",
            "address_book.cache.refresh_ahead: must be shorter than ttl",
            "address_book.http.max_response_bytes: must be between",
            "address_book.cache.freshness: unknown key",
        ] {
            assert!(
                found.iter().any(|f| f.contains(expected)),
                "{expected}: {found:?}"
            );
        }
    }
}
