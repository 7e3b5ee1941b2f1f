//! The mailbox API (DIGG's MT–MK recommendation, `../shared/spec/mailbox-api-mt-mk.md`) on its
//! own TLS listener, so that an existing MT–MK client ("Säkra meddelanden") works unchanged.
//!
//! What it does: the four DIGG operations under a configurable base path (default `/v1`) —
//! `POST /sdk/messages` (201 + `Location`), `GET /sdk/messages?filter[...]`,
//! `GET /sdk/messages/{messageId}`, `DELETE /sdk/messages/{messageId}` (202, final states
//! only) — with RFC 7807 problem bodies in DIGG's `Events` shape; authentication and
//! authorisation ([`auth`]); our extensions (cursor paging, a long-poll change feed, binary
//! attachment download, a non-destructive ack, idempotency keys); the OpenAPI document we
//! serve (`schemas/openapi/sdk-gateway-api.json`) at `{base}/openapi.json`.
//!
//! What it does not: seal, deliver or open messages. A POST stores an outbound record in its
//! first state (`accepted`) with the SDK message as content role [`index::SDK_MESSAGE_ROLE`];
//! the outbound pipeline takes it from there. Inbound messages are filed by the inbound
//! pipeline and served from the store ([`status`] maps store states to DIGG codes).
//!
//! # Decisions on DIGG's ambiguities (MT–MK §4.2)
//!
//! 1. `id` = `messageId` always; a create whose `data.id` differs from `messageId` is a 400.
//!    A create with only `data.id` uses it as `messageId`.
//! 2. Output attribute `events`; `event`/`events` on input are ignored.
//! 3. Problem `type`: `urn:problem-type:sdk:badRequest` for 400s, `urn:event-type:sdk:message`
//!    in a message's `events`, `urn:problem-type:gw:*` for the statuses DIGG does not define.
//!    Issues always carry `typeCode` and `dateTime` (UTC, newest first). `instance` is a URI
//!    (`urn:uuid:<id>`), as DIGG's schema declares `format: uri`.
//! 4. A filter without match → `200` with `data: []` (`[api] empty_list = "404"` for strict
//!    compatibility).
//! 5. DELETE in a non-final status → `409` (`[api] delete_non_final = 400` configurable); an
//!    already deleted message → `404` with type `urn:problem-type:gw:alreadyDeleted` while its
//!    tombstone is kept (`tombstone_days`, default 7), then a plain `404`.
//! 6. Both `urn:sdk.api:sendMessages` and `urn:sdk.api:sendMessage` grant send.
//! 7. `meta.version` = `"1.0.0"` (`[api] meta_version = "sdk api 1.0.0"` for DIGG's enum).
//! 8. A REJECTED receipt shows as final `MESSAGE_EXCHANGE_ERROR` with `REJECTED` in `events`.
//! 9. Inbound messages we rejected are not in any mailbox.
//! 10. `messageStatus` on create → 400 (`[api] message_status_on_create = "ignore"`).
//! 11. A create needs at least one `digitalDocument`: the SDK message body holds 1..n
//!     documents with text or files (B1.3.3), so a message without one cannot be sent.
//! 12. `senderAttention` may be omitted when the caller holds exactly one mailbox of the
//!     `sender` organisation; that mailbox is then the sender.
//! 13. Size: at most `max_content_bytes` (default 30 MiB) of decoded content (files + text)
//!     per message → otherwise 413; the JSON body is capped at `max_body_bytes` (41 MiB).
//! 14. Lists are ordered by when the gateway accepted/filed the message (stable; new
//!     messages only ever appear at the end). `creationDateTimeStart` is inclusive,
//!     `creationDateTimeStop` exclusive; both accept any RFC 3339 offset (normalised to UTC).
//!     Unknown `filter[...]` keys and unknown statuses → 400.
//! 15. A malformed id in the path (not a UUID) → 404, like an unknown one.
//! 16. When a message went between two mailboxes of this gateway and the caller holds both,
//!     GET/DELETE address the inbound copy.

pub mod admin;
pub mod auth;
mod datetime;
mod file_name;
pub mod index;
pub mod message_json;
pub mod problem;
mod query;
mod router;
pub mod runtime;
mod service;
pub mod status;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use router::{ApiHandler, RunningApi, start, tls_config};
pub use service::{Api, MailboxSource, RecipientDirectory};

/// `[api]` settings (see `config/example.toml`).
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// `base_path` (default `/v1`; Inera-style `/sdk-api/v1`).
    pub base_path: String,
    /// `public_url`: scheme and authority for absolute links (default: `https://` + `Host`).
    pub public_url: Option<String>,
    pub auth: auth::AuthSettings,
    /// `mtls_client_ca` (mtls mode): CAs of the clients' certificates.
    pub mtls_client_ca: Vec<PathBuf>,
    /// `max_body_bytes` (default 41 MiB: 30 MiB of content Base64-encoded, plus JSON).
    pub max_body_bytes: u64,
    /// `max_content_bytes` (default 30 MiB decoded).
    pub max_content_bytes: u64,
    /// `max_list` (default 10 000): cap of an unpaged list (then `meta.truncated`).
    pub max_list: usize,
    pub empty_list_404: bool,
    /// 409 (default) or 400.
    pub delete_non_final_status: http::StatusCode,
    pub meta_version: String,
    pub status_on_create: message_json::StatusOnCreate,
    /// `idempotency_hours` (default 24, at least 24).
    pub idempotency_ttl: Duration,
    pub tombstone_days: i64,
    /// `max_concurrent_sends` (default 4): POSTs processed at once; more get 503.
    pub max_concurrent_sends: usize,
    /// `rate_limit` requests per second per client (0 = off; default 50) with `rate_burst`.
    pub rate_limit: f64,
    pub rate_burst: f64,
    /// PBKDF2 iterations for client secrets created by this gateway's CLI.
    pub secret_iterations: u32,
    /// `long_poll_max` (default 30 s, at most 30 s): the longest a change-feed request is held;
    /// larger `wait` values are shortened to it.
    pub long_poll_max: Duration,
    /// The store's retention (`[store.retention]`), for `meta.expiresAt`.
    pub content_retention: Option<sdkgw_store::Retention>,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            base_path: "/v1".into(),
            public_url: None,
            auth: auth::AuthSettings {
                mode: auth::AuthMode::Token,
                issuer: "sdkgw".into(),
                audience: "sdkgw-api".into(),
                token_lifetime: 15 * 60,
                auth_id_claim: "urn:sdk.digg.se:auth_id".into(),
            },
            mtls_client_ca: Vec::new(),
            max_body_bytes: 41 << 20,
            max_content_bytes: 30 << 20,
            max_list: 10_000,
            empty_list_404: false,
            delete_non_final_status: http::StatusCode::CONFLICT,
            meta_version: "1.0.0".into(),
            status_on_create: message_json::StatusOnCreate::Reject,
            idempotency_ttl: Duration::from_secs(24 * 3600),
            tombstone_days: 7,
            max_concurrent_sends: 4,
            rate_limit: 50.0,
            rate_burst: 100.0,
            secret_iterations: auth::clients::DEFAULT_ITERATIONS,
            long_poll_max: Duration::from_secs(30),
            content_retention: None,
        }
    }
}

/// Our OpenAPI document (written by us; compatible with DIGG's `sdk-api-restful.yml`).
pub const OPENAPI_JSON: &str = include_str!("../../../../schemas/openapi/sdk-gateway-api.json");

/// Shared handle to the service.
pub type SharedApi = Arc<Api>;
