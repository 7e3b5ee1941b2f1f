//! An in-memory [`Resolver`] for tests: scripted answers per name and a query counter.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{BoxFuture, DnsError, NaptrAnswer, Resolver};

/// Answers from a map; unknown names are NXDOMAIN.
#[derive(Debug, Default)]
pub struct MemoryResolver {
    answers: Mutex<HashMap<String, Result<NaptrAnswer, DnsError>>>,
    queries: AtomicUsize,
}

impl MemoryResolver {
    /// An empty resolver (every name NXDOMAIN).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets what `name` resolves to (case-insensitive), replacing any earlier answer.
    pub fn set(&self, name: &str, answer: Result<NaptrAnswer, DnsError>) {
        self.lock().insert(name.to_ascii_lowercase(), answer);
    }

    /// How many queries were made.
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Result<NaptrAnswer, DnsError>>> {
        self.answers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Resolver for MemoryResolver {
    fn naptr<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<NaptrAnswer, DnsError>> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        let answer = self
            .lock()
            .get(&name.to_ascii_lowercase())
            .cloned()
            .unwrap_or(Err(DnsError::NxDomain));
        Box::pin(async move { answer })
    }
}
