//! Group commit: writers that finished their (in-memory) transaction wait until a flush that
//! started after their commit has completed. The first waiter becomes the flush leader; every
//! writer that committed before the leader started is made durable by that one flush.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::config::Durability;
use crate::error::StoreError;

#[derive(Debug, Default)]
struct State {
    /// Sequence number of the last committed (not necessarily durable) write.
    committed: u64,
    /// Every write with a sequence number up to this is durable.
    durable: u64,
    flushing: bool,
    /// Set forever after a failed flush (fsync errors cannot be retried safely).
    poisoned: Option<String>,
}

/// Shared flush coordinator of one open store.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    flushed: Condvar,
    policy: Durability,
    leader_wait: Duration,
}

impl GroupCommit {
    pub(crate) fn new(policy: Durability, leader_wait: Duration) -> Self {
        Self {
            state: Mutex::new(State::default()),
            flushed: Condvar::new(),
            policy,
            leader_wait,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Refuses new writes after a failed flush.
    pub(crate) fn check_writable(&self) -> Result<(), StoreError> {
        match &self.lock().poisoned {
            Some(reason) => Err(StoreError::Poisoned(reason.clone())),
            None => Ok(()),
        }
    }

    /// Registers a write that has just committed; returns its ticket.
    pub(crate) fn committed(&self) -> u64 {
        let mut st = self.lock();
        st.committed += 1;
        st.committed
    }

    /// Returns once the write with `ticket` is durable, running `flush` as leader if needed.
    pub(crate) fn wait_durable(
        &self,
        ticket: u64,
        flush: &dyn Fn() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if self.policy == Durability::PerWrite {
            return self.flush_alone(flush);
        }
        let mut st = self.lock();
        loop {
            if let Some(reason) = &st.poisoned {
                return Err(StoreError::Poisoned(reason.clone()));
            }
            if st.durable >= ticket {
                return Ok(());
            }
            if !st.flushing {
                st.flushing = true;
                drop(st);
                if !self.leader_wait.is_zero() {
                    std::thread::sleep(self.leader_wait);
                }
                // Every write that registered before this point completed its commit before
                // the flush starts, so the flush covers it.
                let target = self.lock().committed;
                let result = flush();
                st = self.lock();
                st.flushing = false;
                match &result {
                    Ok(()) => st.durable = st.durable.max(target),
                    Err(e) => st.poisoned = Some(e.to_string()),
                }
                self.flushed.notify_all();
                result?;
                continue;
            }
            st = self.flushed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn flush_alone(&self, flush: &dyn Fn() -> Result<(), StoreError>) -> Result<(), StoreError> {
        self.check_writable()?;
        flush().inspect_err(|e| self.lock().poisoned = Some(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn concurrent_writers_share_flushes_and_all_become_durable() {
        let gc = Arc::new(GroupCommit::new(Durability::Group, Duration::ZERO));
        let flushes = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let gc = gc.clone();
                let flushes = flushes.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let t = gc.committed();
                        gc.wait_durable(t, &|| {
                            flushes.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(1));
                            Ok(())
                        })
                        .unwrap();
                        assert!(gc.lock().durable >= t);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(flushes.load(Ordering::SeqCst) < 16 * 50);
    }

    #[test]
    fn a_failed_flush_fails_the_waiters_and_poisons_later_writes() {
        let gc = GroupCommit::new(Durability::Group, Duration::ZERO);
        let t = gc.committed();
        let err = gc
            .wait_durable(t, &|| Err(StoreError::Invalid("disk gone".into())))
            .unwrap_err();
        assert!(err.to_string().contains("disk gone"));
        assert!(matches!(gc.check_writable(), Err(StoreError::Poisoned(_))));
    }
}
