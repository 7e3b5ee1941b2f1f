//! Operator operations on a store, and how the CLI reaches them.
//!
//! sled takes an exclusive lock on its directory, so while the gateway runs no other process
//! can open it. The gateway therefore serves operator requests on a Unix domain socket,
//! `<data_dir>/admin.sock` (mode 0600, in the 0700 data directory), with [`AdminServer`]. The
//! CLI's [`Access::open`] uses that socket when a gateway answers on it and opens the
//! directory directly otherwise. Both paths run the same [`execute`].
//!
//! Protocol: the client writes one JSON [`Request`] line; the server answers with zero or
//! more `{"progress":{...}}` lines and one final `{"ok":...}` or `{"error":{...}}` line.

mod client;
mod periodic;
mod server;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use client::{Access, AdminClient};
pub use periodic::{LastGc, PeriodicGc};
pub use server::AdminServer;

use crate::api::{BackupReport, CheckReport, GcReport, Progress, Store, Update};
use crate::error::StoreError;
use crate::model::{
    IdKind, ListFilter, MessageKey, MessageRecord, MessageState, MessageSummary, QueueStats,
};

/// File name of the admin socket inside the data directory.
pub const SOCKET_NAME: &str = "admin.sock";

/// An operator request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    Stats,
    List {
        filter: ListFilter,
    },
    /// `id`: message key, XHE id, AS4 MessageId, ConversationId or receipt id.
    Show {
        id: String,
    },
    Retry {
        id: String,
        actor: String,
    },
    DeadLetterList {
        limit: usize,
    },
    Requeue {
        id: String,
        actor: String,
    },
    Purge {
        id: String,
        actor: String,
    },
    Check {
        repair: bool,
    },
    /// `to` is resolved by the process that runs the request (absolute paths only).
    Backup {
        to: PathBuf,
    },
    Gc,
}

impl Request {
    /// Whether the request changes data (for documentation and logging).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Self::Retry { .. } | Self::Requeue { .. } | Self::Purge { .. } | Self::Gc
        ) || matches!(self, Self::Check { repair: true })
    }
}

/// The answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum Response {
    Stats(QueueStats),
    List(Vec<MessageSummary>),
    Message(Box<MessageRecord>),
    Check(CheckReport),
    Backup(BackupReport),
    Gc(GcReport),
}

/// Resolves an operator-supplied id: a message key, or any correlation id that names exactly
/// one message.
pub fn resolve(store: &dyn Store, id: &str) -> Result<MessageRecord, StoreError> {
    if let Ok(key) = id.parse::<MessageKey>()
        && let Some(r) = store.get_message(&key)?
    {
        return Ok(r);
    }
    let mut keys = Vec::new();
    for kind in IdKind::ALL {
        for k in store.find_by_id(kind, id)? {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    match keys.as_slice() {
        [] => Err(StoreError::NotFound(format!(
            "no message with key, XHE id, AS4 MessageId, ConversationId or receipt id {id:?}"
        ))),
        [key] => store
            .get_message(key)?
            .ok_or_else(|| StoreError::NotFound(format!("message {key}"))),
        many => Err(StoreError::Invalid(format!(
            "{id:?} names {} messages ({}); use a message key",
            many.len(),
            many.iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Runs one request against a store (in the gateway or in the CLI process).
pub fn execute(
    store: &dyn Store,
    request: &Request,
    now: OffsetDateTime,
    progress: &mut dyn Progress,
) -> Result<Response, StoreError> {
    use MessageState::*;
    Ok(match request {
        Request::Stats => Response::Stats(store.stats(now)?),
        Request::List { filter } => Response::List(store.list_messages(filter)?),
        Request::Show { id } => Response::Message(Box::new(resolve(store, id)?)),
        Request::DeadLetterList { limit } => Response::List(store.dead_letters(*limit)?),
        Request::Retry { id, actor } => {
            let r = resolve(store, id)?;
            let update = match r.state {
                Scheduled => Update::none(now, actor).next_attempt(now),
                Failed | DeadLettered => Update::to(Scheduled, now, actor).expect(r.state),
                other => {
                    return Err(StoreError::Invalid(format!(
                        "message {} is {other}; only scheduled, failed or dead-lettered \
                         messages can be retried",
                        r.key
                    )));
                }
            };
            let update = update.note("retry requested by operator");
            Response::Message(Box::new(store.update(&r.key, update)?))
        }
        Request::Requeue { id, actor } => {
            let r = resolve(store, id)?;
            let update = Update::to(Scheduled, now, actor)
                .expect(DeadLettered)
                .next_attempt(now)
                .note("requeued from dead letters by operator");
            Response::Message(Box::new(store.update(&r.key, update)?))
        }
        Request::Purge { id, actor } => {
            let r = resolve(store, id)?;
            let mut update = Update::to(Failed, now, actor)
                .expect(DeadLettered)
                .note("purged from dead letters by operator; content deleted");
            update.delete_content = true;
            Response::Message(Box::new(store.update(&r.key, update)?))
        }
        Request::Check { repair } => Response::Check(store.check(*repair, progress)?),
        Request::Backup { to } => {
            if !to.is_absolute() {
                return Err(StoreError::Invalid(format!(
                    "backup target {} must be an absolute path",
                    to.display()
                )));
            }
            Response::Backup(store.backup(to, progress)?)
        }
        Request::Gc => Response::Gc(store.gc(now, progress)?),
    })
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Line {
    Progress {
        phase: String,
        done: u64,
        total: Option<u64>,
    },
    Ok(Response),
    Error {
        code: String,
        message: String,
    },
}
