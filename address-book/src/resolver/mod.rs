//! DNS resolution of NAPTR records for BDXL, behind a [`Resolver`] trait.
//!
//! - [`UdpResolver`]: the real one — queries configured (or `/etc/resolv.conf`) name servers
//!   over UDP, retries over TCP when the answer is truncated. Wire format by `simple-dns`.
//! - [`MemoryResolver`]: an in-memory fake for tests, with a query counter.
//! - [`CachingResolver`]: honours the answer's TTL clamped to 60 s – 1 h (addressing digest
//!   §3.5, DNS-06), caches "not registered" briefly, serves a stale answer for a bounded time
//!   when the name servers fail; the clock is injected.

mod cache;
mod memory;
mod udp;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use cache::{CachePolicy, CachingResolver};
pub use memory::MemoryResolver;
pub use udp::{UdpResolver, UdpResolverError};

use crate::bdxl::NaptrRecord;

/// A boxed, sendable future (keeps [`Resolver`] object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Resolves the NAPTR records of a DNS name.
pub trait Resolver: Send + Sync + fmt::Debug {
    /// The NAPTR records of `name` (absolute, without trailing dot).
    fn naptr<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<NaptrAnswer, DnsError>>;
}

/// A successful NAPTR answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NaptrAnswer {
    /// The records, in answer order.
    pub records: Vec<NaptrRecord>,
    /// The smallest TTL of the records (how long the answer may be cached, before clamping).
    pub ttl: Duration,
}

impl NaptrAnswer {
    /// The answer an SML gives for a registered participant: one `U`/`Meta:SMP` record with
    /// regexp `!^.*$!<url>!` (for fakes: [`MemoryResolver`], test DNS servers).
    pub fn for_smp(url: &str, ttl: Duration) -> Self {
        let record = NaptrRecord {
            order: 100,
            preference: 10,
            flags: "U".into(),
            services: "Meta:SMP".into(),
            regexp: format!("!^.*$!{url}!"),
            replacement: ".".into(),
        };
        Self {
            records: vec![record],
            ttl,
        }
    }
}

/// A DNS failure, classified as BDXL needs it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The name does not exist.
    #[error("NXDOMAIN")]
    NxDomain,
    /// The name exists but has no NAPTR records.
    #[error("no NAPTR records (NODATA)")]
    NoData,
    /// The server failed (SERVFAIL).
    #[error("server failure (SERVFAIL)")]
    ServFail,
    /// The server refused or answered another error code.
    #[error("server answered {0}")]
    Rcode(String),
    /// No answer in time from any server.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Socket error.
    #[error("network error: {0}")]
    Network(String),
    /// An answer that cannot be parsed or does not answer the question.
    #[error("malformed answer: {0}")]
    Malformed(String),
}

impl DnsError {
    /// NXDOMAIN and NODATA: the participant is not registered. Everything else is transient.
    pub fn is_not_registered(&self) -> bool {
        matches!(self, DnsError::NxDomain | DnsError::NoData)
    }
}

/// A monotonic clock, injectable so TTL behaviour is testable without sleeping.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> Instant;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told (tests, simulations).
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    elapsed: Mutex<Duration>,
}

impl ManualClock {
    /// A clock at an arbitrary starting instant.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            elapsed: Mutex::new(Duration::ZERO),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut elapsed = self.elapsed.lock().unwrap_or_else(|e| e.into_inner());
        *elapsed += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *self.elapsed.lock().unwrap_or_else(|e| e.into_inner())
    }
}
