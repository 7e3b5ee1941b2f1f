//! The records a pipeline task works on right now: one task per record, released on drop.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use sdkgw_store::MessageKey;

/// The set of claimed records.
#[derive(Debug, Default)]
pub(crate) struct BusySet(Mutex<HashSet<MessageKey>>);

/// A claim on one record, released on drop.
#[derive(Debug)]
pub(crate) struct Busy<'a> {
    set: &'a BusySet,
    key: MessageKey,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.set.lock().remove(&self.key);
    }
}

impl BusySet {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<MessageKey>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Claims `key`; `None` when another task has it. The claim is only built once the key
    /// is ours: a claim dropped while the set is locked would lock it again (a deadlock) and
    /// release the other task's key.
    pub(crate) fn claim(&self, key: MessageKey) -> Option<Busy<'_>> {
        if !self.lock().insert(key) {
            return None;
        }
        Some(Busy { set: self, key })
    }

    pub(crate) fn contains(&self, key: &MessageKey) -> bool {
        self.lock().contains(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_of_a_busy_key_is_refused_and_leaves_the_first_in_place() {
        let set = BusySet::default();
        let key = MessageKey::random().unwrap();
        let first = set.claim(key).unwrap();
        // Used to deadlock: the refused claim was built and dropped under the lock.
        assert!(set.claim(key).is_none());
        assert!(
            set.contains(&key),
            "the refused claim released the holder's key"
        );
        drop(first);
        assert!(!set.contains(&key));
        assert!(set.claim(key).is_some());
    }

    #[test]
    fn claims_of_different_keys_are_independent() {
        let set = BusySet::default();
        let (a, b) = (MessageKey::random().unwrap(), MessageKey::random().unwrap());
        let ca = set.claim(a).unwrap();
        let _cb = set.claim(b).unwrap();
        drop(ca);
        assert!(!set.contains(&a));
        assert!(set.contains(&b));
    }
}
