//! Helpers shared by the store's behaviour tests.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::{Read, Write};
use std::path::Path;

use sdkgw_store::{
    Correlation, Direction, MessageKey, MessageRecord, MessageState, NewMessage, SledStore,
    StagedBlob, Store, StoreConfig, Update,
};
use time::OffsetDateTime;

pub fn t0() -> OffsetDateTime {
    time::macros::datetime!(2026-12-01 10:00 UTC)
}

pub fn open(dir: &Path) -> SledStore {
    SledStore::open(StoreConfig::at(dir)).unwrap()
}

pub fn blob(store: &dyn Store, bytes: &[u8]) -> StagedBlob {
    let mut w = store.blob_writer().unwrap();
    for chunk in bytes.chunks(7919) {
        w.write_all(chunk).unwrap();
    }
    w.finish().unwrap()
}

pub fn read_all(store: &dyn Store, r: &sdkgw_store::BlobRef) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    store.open_blob(r).unwrap().read_to_end(&mut out)?;
    Ok(out)
}

/// Deterministic pseudo-random bytes.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// An outbound message with a payload, in `accepted`.
pub fn outbound(
    store: &dyn Store,
    mailbox: &str,
    xhe: &str,
    payload: &[u8],
    at: OffsetDateTime,
) -> MessageRecord {
    let mut new = NewMessage::new(Direction::Outbound, at, "mailbox-api");
    new.mailbox = Some(mailbox.into());
    new.correlation = Correlation {
        xhe_id: Some(xhe.into()),
        ..Correlation::default()
    };
    new.content.push(("payload".into(), blob(store, payload)));
    match store.create_message(new).unwrap() {
        sdkgw_store::Created::New(r) => *r,
        other => panic!("{other:?}"),
    }
}

/// Walks a record through `states` (one second apart), returning the final record.
pub fn walk(
    store: &dyn Store,
    key: &MessageKey,
    states: &[MessageState],
    start: OffsetDateTime,
) -> MessageRecord {
    let mut last = None;
    for (i, st) in states.iter().enumerate() {
        let at = start + time::Duration::seconds(i as i64 + 1);
        last = Some(store.update(key, Update::to(*st, at, "test")).unwrap());
    }
    last.unwrap()
}
