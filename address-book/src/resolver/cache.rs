//! A TTL-honouring cache in front of any [`Resolver`].
//!
//! Fresh for the answer's TTL clamped to `[min_ttl, max_ttl]` (60 s – 1 h by default: a 30 s
//! TTL does not make us query twice a minute, a day-long TTL does not pin a moved SMP for a
//! day). "Not registered" is cached for `negative_ttl`. When the name servers fail
//! transiently, the last answer is served for up to `max_stale` past its expiry; transient
//! failures themselves are never cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{BoxFuture, Clock, DnsError, NaptrAnswer, Resolver};

/// Cache limits. The defaults are the addressing digest's §3.5 proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePolicy {
    /// Shortest time an answer is kept fresh, whatever its TTL.
    pub min_ttl: Duration,
    /// Longest time an answer is kept fresh, whatever its TTL.
    pub max_ttl: Duration,
    /// How long NXDOMAIN/NODATA is remembered.
    pub negative_ttl: Duration,
    /// How long past freshness an entry may be served while the name servers fail.
    pub max_stale: Duration,
    /// Most names kept (memory bound; expired entries are dropped first).
    pub max_entries: usize,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(3600),
            negative_ttl: Duration::from_secs(300),
            max_stale: Duration::from_secs(24 * 3600),
            max_entries: 10_000,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    /// `Ok`, or a not-registered error.
    result: Result<NaptrAnswer, DnsError>,
    fresh_until: Instant,
    stale_until: Instant,
}

/// A [`Resolver`] that caches another one's answers.
#[derive(Debug)]
pub struct CachingResolver<R> {
    inner: R,
    clock: Arc<dyn Clock>,
    policy: CachePolicy,
    entries: Mutex<HashMap<String, Entry>>,
}

impl<R: Resolver> CachingResolver<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, clock: Arc<dyn Clock>, policy: CachePolicy) -> Self {
        Self {
            inner,
            clock,
            policy,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The wrapped resolver.
    pub fn inner(&self) -> &R {
        &self.inner
    }

    fn cached(&self, key: &str) -> Option<Entry> {
        self.lock().get(key).cloned()
    }

    fn store(&self, key: String, result: Result<NaptrAnswer, DnsError>, fresh_for: Duration) {
        let now = self.clock.now();
        let fresh_until = now + fresh_for;
        let entry = Entry {
            result,
            fresh_until,
            stale_until: fresh_until + self.policy.max_stale,
        };
        let mut entries = self.lock();
        if entries.len() >= self.policy.max_entries && !entries.contains_key(&key) {
            entries.retain(|_, e| e.stale_until > now);
            if entries.len() >= self.policy.max_entries {
                return;
            }
        }
        entries.insert(key, entry);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn lookup(&self, name: &str) -> Result<NaptrAnswer, DnsError> {
        let key = name.to_ascii_lowercase();
        let cached = self.cached(&key);
        if let Some(entry) = &cached
            && self.clock.now() < entry.fresh_until
        {
            return entry.result.clone();
        }
        match self.inner.naptr(name).await {
            Ok(answer) => {
                let ttl = answer.ttl.clamp(self.policy.min_ttl, self.policy.max_ttl);
                self.store(key, Ok(answer.clone()), ttl);
                Ok(answer)
            }
            Err(e) if e.is_not_registered() => {
                self.store(key, Err(e.clone()), self.policy.negative_ttl);
                Err(e)
            }
            Err(e) => match cached {
                Some(entry) if self.clock.now() < entry.stale_until => entry.result,
                _ => Err(e),
            },
        }
    }
}

impl<R: Resolver> Resolver for CachingResolver<R> {
    fn naptr<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<NaptrAnswer, DnsError>> {
        Box::pin(self.lookup(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolver::{ManualClock, MemoryResolver};

    const NAME: &str =
        "icy7ra4xv2nezihwixutndogwrmrtasibauhbuofirmaqc3j3ika.iso6523-actorid-upis.sdk.test";

    fn answer(url: &str, ttl: u64) -> NaptrAnswer {
        NaptrAnswer::for_smp(url, Duration::from_secs(ttl))
    }

    fn setup(policy: CachePolicy) -> (Arc<ManualClock>, CachingResolver<MemoryResolver>) {
        let clock = Arc::new(ManualClock::new());
        let resolver = CachingResolver::new(MemoryResolver::new(), clock.clone(), policy);
        (clock, resolver)
    }

    async fn regexp_of(r: &CachingResolver<MemoryResolver>) -> String {
        r.naptr(NAME).await.unwrap().records[0].regexp.clone()
    }

    // DNS-06: TTL 30 s then the record changes ⇒ cached ≥ 60 s (clamp), refreshed after.
    #[tokio::test]
    async fn short_ttl_is_clamped_to_a_minute_then_refreshed() {
        let (clock, r) = setup(CachePolicy::default());
        r.inner()
            .set(NAME, Ok(answer("https://old.example.se", 30)));
        assert!(regexp_of(&r).await.contains("old"));
        r.inner()
            .set(NAME, Ok(answer("https://new.example.se", 30)));
        clock.advance(Duration::from_secs(31));
        assert!(
            regexp_of(&r).await.contains("old"),
            "still cached after the 30 s TTL"
        );
        clock.advance(Duration::from_secs(28));
        assert!(regexp_of(&r).await.contains("old"), "cached until 60 s");
        assert_eq!(r.inner().queries(), 1);
        clock.advance(Duration::from_secs(1));
        assert!(regexp_of(&r).await.contains("new"), "refreshed at 60 s");
        assert_eq!(r.inner().queries(), 2);
    }

    #[tokio::test]
    async fn long_ttl_is_clamped_to_an_hour() {
        let (clock, r) = setup(CachePolicy::default());
        r.inner()
            .set(NAME, Ok(answer("https://old.example.se", 86_400)));
        regexp_of(&r).await;
        r.inner()
            .set(NAME, Ok(answer("https://new.example.se", 86_400)));
        clock.advance(Duration::from_secs(3599));
        assert!(regexp_of(&r).await.contains("old"));
        clock.advance(Duration::from_secs(1));
        assert!(regexp_of(&r).await.contains("new"));
    }

    #[tokio::test]
    async fn ttl_inside_the_clamp_is_honoured() {
        let (clock, r) = setup(CachePolicy::default());
        r.inner()
            .set(NAME, Ok(answer("https://old.example.se", 120)));
        regexp_of(&r).await;
        r.inner()
            .set(NAME, Ok(answer("https://new.example.se", 120)));
        clock.advance(Duration::from_secs(119));
        assert!(regexp_of(&r).await.contains("old"));
        clock.advance(Duration::from_secs(1));
        assert!(regexp_of(&r).await.contains("new"));
    }

    #[tokio::test]
    async fn not_registered_is_cached_for_the_negative_ttl() {
        let (clock, r) = setup(CachePolicy::default());
        assert_eq!(r.naptr(NAME).await, Err(DnsError::NxDomain));
        r.inner()
            .set(NAME, Ok(answer("https://new.example.se", 60)));
        clock.advance(Duration::from_secs(299));
        assert_eq!(r.naptr(NAME).await, Err(DnsError::NxDomain));
        clock.advance(Duration::from_secs(1));
        assert!(regexp_of(&r).await.contains("new"));
        assert_eq!(r.inner().queries(), 2);
    }

    #[tokio::test]
    async fn stale_answer_is_served_while_servers_fail_but_not_forever() {
        let policy = CachePolicy {
            max_stale: Duration::from_secs(600),
            ..CachePolicy::default()
        };
        let (clock, r) = setup(policy);
        r.inner()
            .set(NAME, Ok(answer("https://old.example.se", 60)));
        regexp_of(&r).await;
        r.inner().set(NAME, Err(DnsError::ServFail));
        clock.advance(Duration::from_secs(61));
        assert!(
            regexp_of(&r).await.contains("old"),
            "stale served on SERVFAIL"
        );
        clock.advance(Duration::from_secs(600));
        assert_eq!(r.naptr(NAME).await, Err(DnsError::ServFail));
    }

    #[tokio::test]
    async fn transient_failures_are_not_cached() {
        let (_clock, r) = setup(CachePolicy::default());
        r.inner()
            .set(NAME, Err(DnsError::Timeout(Duration::from_secs(2))));
        assert!(r.naptr(NAME).await.is_err());
        r.inner().set(NAME, Ok(answer("https://up.example.se", 60)));
        assert!(regexp_of(&r).await.contains("up"));
    }

    #[tokio::test]
    async fn cache_size_is_bounded() {
        let policy = CachePolicy {
            max_entries: 2,
            ..CachePolicy::default()
        };
        let (_clock, r) = setup(policy);
        for name in ["a.test", "b.test", "c.test"] {
            r.inner().set(name, Ok(answer("https://x.example.se", 600)));
            r.naptr(name).await.unwrap();
        }
        assert_eq!(r.lock().len(), 2);
        r.naptr("c.test").await.unwrap();
        assert_eq!(
            r.inner().queries(),
            4,
            "the uncached third name is queried again"
        );
    }
}
