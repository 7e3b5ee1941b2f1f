//! SOAP with Attachments framing as AS4 uses it: `multipart/related` (RFC 2387) with a SOAP 1.2
//! root part, or a bare `application/soap+xml` body (signals, errors).
//!
//! * [`MultipartReader`]: pull parts and their bytes from an async body, bounded per part, in
//!   total, in headers and in parts count. [`read_message`] builds on it: root part in memory
//!   (≤ [`MimeLimits::max_root_bytes`]), every attachment streamed into a temp file.
//! * [`MultipartWriter`]: the opposite direction, as an `AsyncRead` with an exact length.
//!
//! Every malformed input ends in a [`MimeError`]; the AS4 layer maps those that are the peer's
//! fault ([`MimeError::is_peer_error`]) to `EBMS:0007` MimeInconsistency.

mod content_type;
mod headers;
mod parser;
mod reader;
mod writer;

pub use content_type::ContentType;
pub use headers::{PartHeaders, TransferEncoding};
pub use reader::{Framing, MultipartReader, ReceivedMessage, RootPart, SpooledPart, read_message};
pub use writer::{MultipartWriter, OutgoingPart};

/// The media type of a SOAP 1.2 envelope.
pub const SOAP12_MEDIA_TYPE: &str = "application/soap+xml";

/// Bounds on what a peer may send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MimeLimits {
    /// Largest root (SOAP envelope) part, held in memory.
    pub max_root_bytes: usize,
    /// Largest attachment part.
    pub max_part_bytes: u64,
    /// Largest whole message (all bytes read from the body).
    pub max_total_bytes: u64,
    /// Most parts, root included.
    pub max_parts: usize,
    /// Largest header block of one part.
    pub max_header_bytes: usize,
    /// Most header fields in one part.
    pub max_headers_per_part: usize,
    /// Largest preamble, and largest epilogue, discarded.
    pub max_preamble_bytes: usize,
}

impl Default for MimeLimits {
    fn default() -> Self {
        Self {
            max_root_bytes: 4 * 1024 * 1024,
            max_part_bytes: 2 * 1024 * 1024 * 1024,
            max_total_bytes: 2 * 1024 * 1024 * 1024 + 16 * 1024 * 1024,
            max_parts: 32,
            max_header_bytes: 16 * 1024,
            max_headers_per_part: 32,
            max_preamble_bytes: 64 * 1024,
        }
    }
}

/// Why a MIME message was refused.
#[derive(Debug, thiserror::Error)]
pub enum MimeError {
    /// The `Content-Type` header value is not valid RFC 2045 syntax.
    #[error("invalid Content-Type '{value}': {reason}")]
    BadContentType {
        /// The value (truncated).
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Neither `multipart/related` nor `application/soap+xml`.
    #[error("unsupported message Content-Type '{media_type}'")]
    UnsupportedMediaType {
        /// The media type found.
        media_type: String,
    },
    /// A required Content-Type parameter (`boundary`, `type`) is missing.
    #[error("multipart/related without the '{0}' parameter")]
    MissingParameter(&'static str),
    /// The boundary is not 1–70 valid characters.
    #[error("invalid multipart boundary '{boundary}'")]
    InvalidBoundary {
        /// The boundary (truncated).
        boundary: String,
    },
    /// A delimiter line is followed by something other than `--` or padding + CRLF.
    #[error("malformed boundary delimiter line")]
    MalformedDelimiter,
    /// The body ended early.
    #[error("truncated MIME body: {context}")]
    Truncated {
        /// Where it ended.
        context: &'static str,
    },
    /// The close delimiter came before any part.
    #[error("multipart body without parts")]
    NoParts,
    /// More parts than allowed.
    #[error("more than {limit} MIME parts")]
    TooManyParts {
        /// The limit.
        limit: usize,
    },
    /// A header block is larger than allowed.
    #[error("MIME part headers exceed {limit} bytes")]
    HeadersTooLarge {
        /// The limit.
        limit: usize,
    },
    /// A part has more header fields than allowed.
    #[error("more than {limit} header fields in a MIME part")]
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// A header line is malformed.
    #[error("malformed MIME part header: {reason}")]
    BadHeader {
        /// What is wrong.
        reason: String,
    },
    /// A header that may appear once appears twice.
    #[error("duplicate '{name}' header in a MIME part")]
    DuplicateHeader {
        /// The header name.
        name: String,
    },
    /// A `Content-ID` (or the `start` parameter) is not a valid msg-id.
    #[error("invalid Content-ID '{value}'")]
    BadContentId {
        /// The value (truncated).
        value: String,
    },
    /// Two parts share a Content-ID.
    #[error("duplicate Content-ID '{0}'")]
    DuplicateContentId(String),
    /// An attachment part has no Content-ID (AS4 references parts by `cid:`).
    #[error("MIME part #{0} has no Content-ID")]
    MissingContentId(usize),
    /// `start` names a Content-ID no part has.
    #[error("the start parameter names '{0}', which no part has")]
    StartNotFound(String),
    /// The root part's media type differs from the multipart `type` parameter.
    #[error("root part is '{found}' but the multipart type parameter says '{declared}'")]
    RootTypeMismatch {
        /// The `type` parameter.
        declared: String,
        /// The root part's Content-Type media type (empty when absent).
        found: String,
    },
    /// base64, quoted-printable or another encoding we do not decode.
    #[error("unsupported Content-Transfer-Encoding '{encoding}'")]
    UnsupportedTransferEncoding {
        /// The encoding named.
        encoding: String,
    },
    /// Preamble or epilogue larger than allowed.
    #[error("MIME preamble or epilogue exceeds {limit} bytes")]
    PreambleTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The root part is larger than allowed.
    #[error("root part exceeds {limit} bytes")]
    RootTooLarge {
        /// The limit.
        limit: usize,
    },
    /// An attachment is larger than allowed.
    #[error("MIME part exceeds {limit} bytes")]
    PartTooLarge {
        /// The limit.
        limit: u64,
    },
    /// The whole message is larger than allowed.
    #[error("MIME message exceeds {limit} bytes")]
    MessageTooLarge {
        /// The limit.
        limit: u64,
    },
    /// Reading the body or writing a spool file failed.
    #[error("I/O error while reading the MIME message: {0}")]
    Io(#[from] std::io::Error),
    /// An outgoing part's header value would break the framing (CR/LF, empty id).
    #[error("invalid outgoing part header '{0}'")]
    InvalidOutgoingHeader(String),
}

impl MimeError {
    /// True when the peer's message is at fault (→ `EBMS:0007`); false for local I/O failures
    /// (spool disk full, our writer misused). A body cut off by the HTTP layer surfaces as
    /// [`MimeError::Io`] carrying the HTTP layer's error, which the caller inspects itself.
    pub fn is_peer_error(&self) -> bool {
        !matches!(self, Self::Io(_) | Self::InvalidOutgoingHeader(_))
    }
}
