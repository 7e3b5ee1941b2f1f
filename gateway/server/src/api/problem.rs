//! RFC 7807 problem documents in DIGG's `Events` shape (MT–MK §2.5): `type`, `title`,
//! `status`, `detail`, `instance` and `eventIssues[]` with `typeCode`, `title`, `detail`, `in`
//! and `dateTime`. The same shape is a message's `events` attribute.
//!
//! Problem bodies are served as `application/json` (what DIGG's OpenAPI declares), not
//! `application/problem+json`, so DIGG clients that check the media type keep working.

use http::StatusCode;
use serde::Serialize;
use time::OffsetDateTime;

use super::datetime::format_utc;

/// DIGG's type for synchronous API errors.
pub const BAD_REQUEST: &str = "urn:problem-type:sdk:badRequest";
/// DIGG's type for exchange outcomes (a message's `events`).
pub const MESSAGE_EVENT: &str = "urn:event-type:sdk:message";
/// Ours: no or invalid credentials.
pub const UNAUTHORIZED: &str = "urn:problem-type:gw:unauthorized";
/// Ours: valid credentials without the scope the operation needs.
pub const FORBIDDEN: &str = "urn:problem-type:gw:forbidden";
/// Ours: unknown, or not visible to the caller (the two are indistinguishable).
pub const NOT_FOUND: &str = "urn:problem-type:gw:notFound";
/// Ours: deleted earlier, tombstone still kept (clients may treat it as success).
pub const ALREADY_DELETED: &str = "urn:problem-type:gw:alreadyDeleted";
/// Ours: the request conflicts with the state (non-final delete, idempotency key reuse).
pub const CONFLICT: &str = "urn:problem-type:gw:conflict";
/// Ours: body larger than allowed.
pub const TOO_LARGE: &str = "urn:problem-type:gw:payloadTooLarge";
/// Ours: wrong `Content-Type`.
pub const UNSUPPORTED_MEDIA_TYPE: &str = "urn:problem-type:gw:unsupportedMediaType";
/// Ours: rate limit.
pub const TOO_MANY_REQUESTS: &str = "urn:problem-type:gw:tooManyRequests";
/// Ours: storage or a dependency is unavailable, or the gateway is saturated; retry later.
pub const UNAVAILABLE: &str = "urn:problem-type:gw:unavailable";
/// Ours: method not allowed on the path.
pub const METHOD_NOT_ALLOWED: &str = "urn:problem-type:gw:methodNotAllowed";
/// Ours: an unexpected fault (never caused by input; logged with the request id).
pub const INTERNAL: &str = "urn:problem-type:gw:internal";

/// `typeCode` of issues of synchronous errors (DIGG's examples use it, marked mandatory).
pub const SYNC_TYPE_CODE: &str = "MESSAGE_EXCHANGE_ERROR";

/// One `eventIssues[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    #[serde(rename = "typeCode")]
    pub type_code: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(rename = "in", skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(rename = "dateTime")]
    pub date_time: String,
}

/// The title of an issue with the input.
pub const INVALID: &str = "Input isn't valid with respect to schema";

impl Issue {
    /// An issue of a synchronous error: `typeCode` [`SYNC_TYPE_CODE`].
    pub fn new(title: &str, detail: impl Into<String>, at: OffsetDateTime) -> Self {
        Self {
            type_code: SYNC_TYPE_CODE.to_owned(),
            title: title.to_owned(),
            detail: Some(detail.into()),
            location: None,
            date_time: format_utc(at),
        }
    }

    /// Points the issue at a JSON pointer (`/data/attributes/label`) or XPath.
    pub fn at(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }
}

/// A problem document / `Events` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(rename = "eventIssues")]
    pub issues: Vec<Issue>,
    /// `Retry-After` seconds for 429/503 (a header, not part of the body).
    #[serde(skip)]
    pub retry_after: Option<u32>,
}

impl Problem {
    /// A synchronous error with HTTP `status`.
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind,
            title: status.canonical_reason().unwrap_or("Error"),
            status: Some(status.as_u16()),
            detail: Some(detail.into()),
            instance: None,
            issues: Vec::new(),
            retry_after: None,
        }
    }

    /// 400 with DIGG's `urn:problem-type:sdk:badRequest` and the issues found.
    pub fn bad_request(detail: impl Into<String>, issues: Vec<Issue>) -> Self {
        let mut p = Self::new(StatusCode::BAD_REQUEST, BAD_REQUEST, detail);
        p.issues = issues;
        p
    }

    /// 400 with one issue at `location`.
    pub fn invalid(location: &str, detail: impl Into<String>, at: OffsetDateTime) -> Self {
        let detail = detail.into();
        Self::bad_request(
            detail.clone(),
            vec![Issue::new(INVALID, detail, at).at(location)],
        )
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, UNAUTHORIZED, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, FORBIDDEN, detail)
    }

    /// 404 that says nothing about whether the id exists.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, NOT_FOUND, "no such message")
    }

    pub fn already_deleted() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ALREADY_DELETED,
            "the message was deleted earlier",
        )
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, CONFLICT, detail)
    }

    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE, detail)
    }

    pub fn unavailable(detail: impl Into<String>, retry_after: u32) -> Self {
        let mut p = Self::new(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE, detail);
        p.retry_after = Some(retry_after);
        p
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            INTERNAL,
            "unexpected error; the gateway logged it with the request id",
        )
    }

    /// Sets `instance` (the resource or request the problem is about), as a URI.
    pub fn instance(mut self, id: &str) -> Self {
        self.instance = Some(as_uri(id));
        self
    }

    /// The HTTP status (500 when unset).
    pub fn http_status(&self) -> StatusCode {
        self.status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// `instance` is `format: uri` in DIGG's schema: bare UUIDs become `urn:uuid:…`.
pub fn as_uri(id: &str) -> String {
    if id.contains(':') {
        id.to_owned()
    } else {
        format!("urn:uuid:{id}")
    }
}
