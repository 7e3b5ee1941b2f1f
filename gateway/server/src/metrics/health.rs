//! Readiness checks behind `/readyz`: the store is open, every expected listener is bound,
//! key material is loaded and no configured certificate is expired (or not yet valid), the
//! audit log is being written.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use time::OffsetDateTime;

use super::CertificateEntry;

/// One readiness check: `Ok` or what is wrong.
pub type Check = Box<dyn Fn(OffsetDateTime) -> Result<(), String> + Send + Sync>;

/// The readiness checks of the gateway. Cheap to clone.
#[derive(Clone, Default)]
pub struct Health {
    checks: Arc<Mutex<Vec<(String, Check)>>>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health").finish_non_exhaustive()
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub name: String,
    /// `Err(what is wrong)`.
    pub result: Result<(), String>,
}

/// The outcome of all checks; ready only when there are checks and all passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub checks: Vec<CheckResult>,
}

/// Set by whoever binds a listener (see [`Health::expect_listener`]).
#[derive(Debug, Clone)]
pub struct ListenerFlag(Arc<AtomicU8>);

const PENDING: u8 = 0;
const BOUND: u8 = 1;
const STOPPED: u8 = 2;

impl ListenerFlag {
    /// The listener is bound and serving.
    pub fn bound(&self) {
        self.0.store(BOUND, Ordering::SeqCst);
    }
    /// The listener stopped (shutdown or failure).
    pub fn stopped(&self) {
        self.0.store(STOPPED, Ordering::SeqCst);
    }
}

impl Health {
    /// Adds a named check.
    pub fn add(
        &self,
        name: &str,
        check: impl Fn(OffsetDateTime) -> Result<(), String> + Send + Sync + 'static,
    ) {
        self.checks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((name.to_owned(), Box::new(check)));
    }

    /// Readiness requires this listener; it is ready once the returned flag says `bound`.
    pub fn expect_listener(&self, name: &str) -> ListenerFlag {
        let flag = ListenerFlag(Arc::new(AtomicU8::new(PENDING)));
        let f = flag.0.clone();
        self.add(&format!("listener {name}"), move |_| {
            match f.load(Ordering::SeqCst) {
                BOUND => Ok(()),
                STOPPED => Err("stopped".into()),
                _ => Err("not bound yet".into()),
            }
        });
        flag
    }

    /// Readiness requires the store to answer.
    pub fn require_store(&self, store: Arc<dyn sdkgw_store::Store>) {
        self.add("store", move |now| {
            store.stats(now).map(|_| ()).map_err(|e| e.to_string())
        });
    }

    /// Readiness requires key material and every certificate of it to be valid at the time
    /// asked (`entries` empty = keys not loaded).
    pub fn require_certificates(
        &self,
        entries: impl Fn() -> Vec<CertificateEntry> + Send + Sync + 'static,
    ) {
        self.add("keys", move |now| {
            let entries = entries();
            if entries.is_empty() {
                return Err("no key material loaded".into());
            }
            let bad: Vec<String> = entries
                .iter()
                .filter_map(|e| {
                    let c = &e.certificate;
                    if c.not_after() <= now {
                        Some(format!("{} expired at {}", e.role, c.not_after()))
                    } else if c.not_before() > now {
                        Some(format!("{} not valid before {}", e.role, c.not_before()))
                    } else {
                        None
                    }
                })
                .collect();
            if bad.is_empty() {
                Ok(())
            } else {
                Err(bad.join("; "))
            }
        });
    }

    /// Runs every check.
    pub fn ready(&self, now: OffsetDateTime) -> Readiness {
        let checks = self.checks.lock().unwrap_or_else(PoisonError::into_inner);
        let results: Vec<CheckResult> = checks
            .iter()
            .map(|(name, check)| CheckResult {
                name: name.clone(),
                result: check(now),
            })
            .collect();
        Readiness {
            ready: !results.is_empty() && results.iter().all(|c| c.result.is_ok()),
            checks: results,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_needs_checks_and_all_of_them_to_pass() {
        let h = Health::default();
        let now = OffsetDateTime::now_utc();
        assert!(!h.ready(now).ready, "no checks = not ready");
        let flag = h.expect_listener("admin");
        let r = h.ready(now);
        assert!(!r.ready);
        assert_eq!(r.checks[0].result.as_ref().unwrap_err(), "not bound yet");
        flag.bound();
        assert!(h.ready(now).ready);
        h.require_certificates(Vec::new);
        let r = h.ready(now);
        assert!(!r.ready);
        assert_eq!(
            r.checks[1].result.as_ref().unwrap_err(),
            "no key material loaded"
        );
    }
}
