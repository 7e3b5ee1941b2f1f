//! Durable storage for sdk-gateway.
//!
//! What it does: the [`Store`] trait every pipeline writes through, and its sled 0.34
//! implementation [`SledStore`]: message records with their state machines, payload blobs
//! (small ones in the database, large ones as fsynced files, all SHA-256-checked), indexes
//! and queues, AS4 de-duplication, evidence, the append-only audit trail, generic keyspaces
//! (the address-book cache), retention (`gc`), `check`, online backup and restore, and the
//! operator socket ([`admin`]) through which `sdkgw queue|message|store` reach a running
//! gateway. A write returns only once it is durable.
//!
//! What it does not: parse or build messages, or decide delivery policy (when to retry, when
//! to give up): callers pass the times and target states.
//!
//! # State machines
//!
//! See [`MessageState`] for the diagrams. Every transition appends a [`StateChange`] with its
//! time and actor to the record's history and an event to the audit trail, in the same
//! transaction. A transition that is not an edge fails with
//! [`StoreError::IllegalTransition`]; [`Update::expect`] makes claims race-free
//! (`scheduled -> sending` succeeds for exactly one worker).
//!
//! | state | dir | meaning | API status (MT–MK §2.6) |
//! |---|---|---|---|
//! | `accepted` | out | taken from the internal service | `SCHEDULED` |
//! | `sealed` | out | XHE built, encrypted, signed | `SUBMITTED` |
//! | `scheduled` | out | in the due queue (first try or retry) | `SUBMITTED` / `SCHEDULED_FOR_RESEND` |
//! | `sending` | out | a worker is sending it | `SUBMITTED` |
//! | `delivered` | out | AS4 Receipt stored | `ACKNOWLEDGE` / `WAITING_FOR_RECEIPT` |
//! | `recipient-accepted` | out | Meddelandekvittens ACCEPTED | `ACCEPTED` |
//! | `recipient-rejected` | out | Meddelandekvittens REJECTED | `REJECTED` |
//! | `failed` | out | given up | `MESSAGE_EXCHANGE_ERROR` |
//! | `dead-lettered` | out | retries exhausted, waits for an operator | `SCHEDULED_FOR_RESEND` |
//! | `received` | in | persisted; only now the AS4 Receipt is sent | `RETRIEVED` |
//! | `verified` | in | XHE, signature, decryption ok | `RETRIEVED` |
//! | `filed` | in | in its function mailbox | `NEW` |
//! | `fetched` | in | read by the internal service | `NEW` |
//! | `deleted` | in | acknowledged (deleted) by the internal service | (gone from the API) |
//! | `rejected` | in | rejected after reception | `MESSAGE_EXCHANGE_ERROR` |
//!
//! Final states (`recipient-*`, `failed`, `deleted`, `rejected`) start the retention clocks.
//! Operator edges: `failed|dead-lettered -> scheduled` (retry/requeue; only while the sealed
//! content exists), `dead-lettered -> failed` (purge, deletes content). After a restart
//! [`Store::requeue_in_flight`] returns `sending` records to `scheduled`.
//!
//! # Durability contract
//!
//! When a writing method ([`Store::create_message`], [`Store::update`],
//! [`Store::append_audit`], [`Keyspace::put`]/[`Keyspace::remove`], [`BlobWriter::finish`],
//! repairs, gc) returns `Ok`, its change is on stable storage and survives a process kill and,
//! as far as the OS and drive honour `fsync`, a power loss:
//!
//! * **Records, indexes, inline blobs, de-dup, audit, keyspaces** live in sled. A write is one
//!   sled transaction across all trees (all of it or nothing after a crash), followed by group
//!   commit: the first waiting writer runs sled's `flush` (which writes the log with
//!   `sync_file_range`) and then `fdatasync` on sled's log file; every writer whose
//!   transaction committed before that flush started returns when it completes. Concurrent
//!   writers therefore share one fsync. Inline blobs (≤ `inline_blob_max`, at most 64 KiB)
//!   stay below sled's large-value threshold, so sled never puts them in its own blob files
//!   (which sled writes without fsync); should a node ever exceed it, the flush fsyncs those
//!   files too.
//! * **File blobs** are written to `blobs/tmp/`, fsynced, renamed to `blobs/xx/<id>` and the
//!   directory is fsynced before [`BlobWriter::finish`] returns. Records reference them only
//!   afterwards, so a record never points at an incomplete file. A crash before the record
//!   commits leaves an unreferenced file that `gc` (and `check --repair`) removes after
//!   `orphan_grace`; temp files are removed when the store opens.
//! * **Duplicates**: [`Store::create_message`] with a [`DedupKey`] returns `Duplicate` only
//!   after waiting for the flush too, so the first copy it points to is durable.
//! * A failed flush fails every waiting writer and poisons the store
//!   ([`StoreError::Poisoned`]): after a failed fsync the page cache cannot be trusted.
//! * Policy: [`Durability::Group`] (default) or [`Durability::PerWrite`]; a leader may wait
//!   `group_commit_wait` to gather more writers.
//!
//! # The audit trail
//!
//! [`Store::append_audit`] and every transition (and [`NewMessage::audit`] with a new record)
//! write the one audit trail of the product, in the same transaction as the change. The audit
//! tree is that trail's **journal**: `sdkgw_server::audit` ships its events into append-only
//! JSON-lines files (`<data_dir>/audit/`, retention `retention.audit`) and then removes them
//! with [`Store::trim_audit`]. Sequence numbers are never reused (a high-water mark in the
//! meta tree survives trims, retention and restarts).
//!
//! # Operator access while the gateway runs
//!
//! sled locks its directory, so only one process can open it. The gateway starts
//! [`admin::AdminServer`] on `<data_dir>/admin.sock` (mode 0600); the CLI uses it when a
//! gateway answers there and opens the directory itself otherwise ([`admin::Access`]). Reads
//! (stats, list, show, check without repair, backup) never take write locks; a backup
//! pauses writers only for its final catch-up.
//!
//! The commands (all take `--config CFG` or `--data-dir DIR`, and `--output table|json`; `ID`
//! is a message key, XHE id, AS4 MessageId, ConversationId or receipt id):
//!
//! ```text
//! sdkgw queue stats                              counts per state, due now, dead letters
//! sdkgw queue list --state scheduled --since 2h  also --mailbox FA, --direction, --limit
//! sdkgw message show ID                          metadata, history, content, evidence, ids
//! sdkgw queue retry ID                           due now (scheduled) or again (failed, dead)
//! sdkgw queue dead-letter list | requeue ID | purge ID
//! sdkgw store check [--repair]                   exit 1 on missing/corrupt blobs or index damage
//! sdkgw store backup --to DIR                    consistent online snapshot
//! sdkgw store restore --from DIR                 into an empty data directory, then checked
//! sdkgw store gc                                 retention now
//! ```
#![forbid(unsafe_code)]

pub mod admin;
mod api;
mod blob;
pub mod config;
mod durability;
mod error;
mod model;
mod sled_backend;

pub use api::{
    BackupReport, BlobReader, BlobWriter, CheckReport, Finding, GcReport, KeyValue, Keyspace,
    NewMessage, NoProgress, Progress, StagedBlob, Store, Update,
};
pub use blob::store_error;
pub use config::{Durability, Retention, StoreConfig};
pub use error::StoreError;
pub use model::{
    Attachment, AuditEvent, BlobId, BlobLocation, BlobRef, Correlation, Created, DedupKey,
    Direction, Evidence, IdKind, ListFilter, MAX_ID_LEN, MessageKey, MessageRecord, MessageState,
    MessageSummary, QueueStats, StateChange,
};
pub use sled_backend::{FORMAT_VERSION, RestoreReport, SledStore, read_format, restore};
