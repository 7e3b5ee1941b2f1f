//! Generic named keyspaces (one sled tree each, `ks:<name>`), e.g. the address-book cache.

use std::sync::Arc;

use sled::IVec;

use super::Inner;
use crate::api::{KeyValue, Keyspace};
use crate::error::StoreError;
use crate::model::check_id;

pub(crate) const PREFIX: &str = "ks:";

pub(crate) struct SledKeyspace {
    inner: Arc<Inner>,
    name: String,
    tree: sled::Tree,
}

impl std::fmt::Debug for SledKeyspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyspace")
            .field("name", &self.name)
            .finish()
    }
}

pub(crate) fn open(inner: &Arc<Inner>, name: &str) -> Result<Arc<dyn Keyspace>, StoreError> {
    check_id("keyspace name", name)?;
    let tree_name = format!("{PREFIX}{name}");
    let tree = inner
        .db
        .open_tree(&tree_name)
        .map_err(|e| inner.db_err(e))?;
    Ok(Arc::new(SledKeyspace {
        inner: inner.clone(),
        name: tree_name,
        tree,
    }))
}

impl SledKeyspace {
    /// A single-key write: atomic in sled, tracked for a running backup, then durable.
    fn write<R>(
        &self,
        key: &[u8],
        op: impl FnOnce(&sled::Tree) -> sled::Result<R>,
    ) -> Result<R, StoreError> {
        self.inner.commit.check_writable()?;
        let result = {
            let _gate = self.inner.gate.read().unwrap_or_else(|p| p.into_inner());
            let r = op(&self.tree).map_err(|e| self.inner.db_err(e))?;
            self.inner.track(std::iter::once((
                IVec::from(self.name.as_bytes()),
                key.to_vec(),
            )));
            r
        };
        self.inner.wait_durable()?;
        Ok(result)
    }
}

impl Keyspace for SledKeyspace {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let v = self.tree.get(key).map_err(|e| self.inner.db_err(e))?;
        Ok(v.map(|v| v.to_vec()))
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.write(key, |t| t.insert(key, value).map(|_| ()))
    }

    fn remove(&self, key: &[u8]) -> Result<bool, StoreError> {
        self.write(key, |t| t.remove(key).map(|old| old.is_some()))
    }

    fn scan_prefix(&self, prefix: &[u8], limit: usize) -> Result<Vec<KeyValue>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(prefix) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item.map_err(|e| self.inner.db_err(e))?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }
}
