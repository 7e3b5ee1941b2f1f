//! Builds an outgoing `multipart/related` message as a stream with an exact length: the root
//! part from memory, attachments from readers or files, never concatenated in memory.

use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, ReadBuf};

use super::content_type::{ContentType, validate_boundary};
use super::headers::parse_content_id;
use super::{MimeError, SOAP12_MEDIA_TYPE};

/// One attachment to send.
pub struct OutgoingPart {
    content_id: String,
    content_type: String,
    extra_headers: Vec<(String, String)>,
    source: Pin<Box<dyn AsyncRead + Send>>,
    len: u64,
}

impl std::fmt::Debug for OutgoingPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingPart")
            .field("content_id", &self.content_id)
            .field("content_type", &self.content_type)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl OutgoingPart {
    /// A part whose `len` bytes come from `source` (which must yield exactly that many).
    pub fn from_reader(
        content_id: &str,
        content_type: &str,
        source: impl AsyncRead + Send + 'static,
        len: u64,
    ) -> Result<Self, MimeError> {
        let invalid = |what: &str| MimeError::InvalidOutgoingHeader(what.to_owned());
        let id = parse_content_id(content_id).map_err(|_| invalid(content_id))?;
        if id != content_id || content_id.contains(['\r', '\n']) {
            return Err(invalid(content_id)); // pass the bare id, without brackets
        }
        ContentType::parse(content_type).map_err(|_| invalid(content_type))?;
        if content_type.contains(['\r', '\n']) {
            return Err(invalid(content_type));
        }
        Ok(Self {
            content_id: id,
            content_type: content_type.to_owned(),
            extra_headers: Vec::new(),
            source: Box::pin(source),
            len,
        })
    }

    /// A part from a file, its current length as the part length.
    pub async fn from_file(
        content_id: &str,
        content_type: &str,
        path: &Path,
    ) -> Result<Self, MimeError> {
        let file = tokio::fs::File::open(path).await?;
        let len = file.metadata().await?.len();
        Self::from_reader(content_id, content_type, file, len)
    }

    /// A part from memory.
    pub fn from_bytes(
        content_id: &str,
        content_type: &str,
        bytes: Bytes,
    ) -> Result<Self, MimeError> {
        let len = bytes.len() as u64;
        Self::from_reader(content_id, content_type, io::Cursor::new(bytes), len)
    }

    /// Adds a header line (e.g. `Content-Description`).
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, MimeError> {
        let name_ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        if !name_ok || value.contains(['\r', '\n']) {
            return Err(MimeError::InvalidOutgoingHeader(format!("{name}: {value}")));
        }
        self.extra_headers.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }
}

/// An outgoing AS4 message: SOAP 1.2 root part plus attachments.
#[derive(Debug)]
pub struct MultipartWriter {
    boundary: String,
    root_id: String,
    root: Bytes,
    parts: Vec<OutgoingPart>,
}

impl MultipartWriter {
    /// A message with a fresh random boundary and root Content-ID. The boundary carries 122
    /// random bits, so it cannot plausibly occur in (encrypted) part data.
    pub fn new(root_envelope: Bytes) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            boundary: format!("MIMEBoundary_{id}"),
            root_id: format!("root.{id}@sdkgw"),
            root: root_envelope,
            parts: Vec::new(),
        }
    }

    /// A message with a chosen boundary and root Content-ID (reproducible output, tests).
    pub fn with_framing(
        root_envelope: Bytes,
        boundary: &str,
        root_id: &str,
    ) -> Result<Self, MimeError> {
        validate_boundary(boundary)?;
        if parse_content_id(root_id).ok().as_deref() != Some(root_id) {
            return Err(MimeError::InvalidOutgoingHeader(root_id.to_owned()));
        }
        Ok(Self {
            boundary: boundary.to_owned(),
            root_id: root_id.to_owned(),
            root: root_envelope,
            parts: Vec::new(),
        })
    }

    /// Adds an attachment; Content-IDs must be unique.
    pub fn attach(&mut self, part: OutgoingPart) -> Result<(), MimeError> {
        if part.content_id == self.root_id
            || self.parts.iter().any(|p| p.content_id == part.content_id)
        {
            return Err(MimeError::DuplicateContentId(part.content_id));
        }
        self.parts.push(part);
        Ok(())
    }

    /// The root part's Content-ID (without brackets).
    pub fn root_content_id(&self) -> &str {
        &self.root_id
    }

    /// The HTTP `Content-Type` header value for this message.
    pub fn content_type(&self) -> String {
        format!(
            "multipart/related; type=\"{SOAP12_MEDIA_TYPE}\"; boundary=\"{}\"; start=\"<{}>\"",
            self.boundary, self.root_id
        )
    }

    fn root_head(&self) -> String {
        format!(
            "--{}\r\nContent-Type: {SOAP12_MEDIA_TYPE}; charset=UTF-8\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{}>\r\n\r\n",
            self.boundary, self.root_id
        )
    }

    fn part_head(&self, part: &OutgoingPart) -> String {
        let mut head = format!(
            "\r\n--{}\r\nContent-Type: {}\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{}>\r\n",
            self.boundary, part.content_type, part.content_id
        );
        for (name, value) in &part.extra_headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        head
    }

    fn closing(&self) -> String {
        format!("\r\n--{}--\r\n", self.boundary)
    }

    /// The exact number of bytes [`into_reader`](Self::into_reader) yields (for Content-Length).
    pub fn encoded_len(&self) -> u64 {
        let heads: usize = self.parts.iter().map(|p| self.part_head(p).len()).sum();
        let bodies: u64 = self.parts.iter().map(|p| p.len).sum();
        (self.root_head().len() + self.root.len() + heads + self.closing().len()) as u64 + bodies
    }

    /// The message as a stream of bytes.
    pub fn into_reader(self) -> MultipartBody {
        let mut segments = VecDeque::new();
        segments.push_back(Segment::Bytes(Bytes::from(self.root_head())));
        segments.push_back(Segment::Bytes(self.root.clone()));
        let heads: Vec<String> = self.parts.iter().map(|p| self.part_head(p)).collect();
        let closing = self.closing();
        for (part, head) in self.parts.into_iter().zip(heads) {
            segments.push_back(Segment::Bytes(Bytes::from(head)));
            segments.push_back(Segment::Reader {
                source: part.source,
                remaining: part.len,
            });
        }
        segments.push_back(Segment::Bytes(Bytes::from(closing)));
        MultipartBody {
            segments,
            scratch: vec![0u8; 64 * 1024].into_boxed_slice(),
            failed: None,
        }
    }
}

enum Segment {
    Bytes(Bytes),
    Reader {
        source: Pin<Box<dyn AsyncRead + Send>>,
        remaining: u64,
    },
}

/// The serialized message ([`MultipartWriter::into_reader`]). An attachment source that ends
/// before its declared length is an `UnexpectedEof` error, never a silently short message.
pub struct MultipartBody {
    segments: VecDeque<Segment>,
    scratch: Box<[u8]>,
    failed: Option<io::Error>,
}

impl std::fmt::Debug for MultipartBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultipartBody")
            .field("segments_left", &self.segments.len())
            .finish()
    }
}

impl AsyncRead for MultipartBody {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let MultipartBody {
            segments,
            scratch,
            failed,
        } = &mut *self;
        if let Some(err) = failed.take() {
            return Poll::Ready(Err(err));
        }
        let start = buf.filled().len();
        while buf.remaining() > 0 {
            let Some(front) = segments.front_mut() else {
                break;
            };
            match front {
                Segment::Bytes(bytes) => {
                    let n = bytes.len().min(buf.remaining());
                    buf.put_slice(&bytes[..n]);
                    bytes.advance(n);
                    if bytes.is_empty() {
                        segments.pop_front();
                    }
                }
                Segment::Reader { source, remaining } => {
                    if *remaining == 0 {
                        segments.pop_front();
                        continue;
                    }
                    let want = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(buf.remaining())
                        .min(scratch.len());
                    let mut part_buf = ReadBuf::new(&mut scratch[..want]);
                    let outcome = match source.as_mut().poll_read(cx, &mut part_buf) {
                        Poll::Pending if buf.filled().len() == start => return Poll::Pending,
                        // Hand out what is already there before waiting on the source.
                        Poll::Pending => break,
                        Poll::Ready(Err(e)) => Err(e),
                        Poll::Ready(Ok(())) if part_buf.filled().is_empty() => Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "attachment source ended before its declared length",
                        )),
                        Poll::Ready(Ok(())) => Ok(part_buf.filled()),
                    };
                    match outcome {
                        Ok(got) => {
                            buf.put_slice(got);
                            *remaining -= got.len() as u64;
                        }
                        // A read that produced bytes must succeed; report the error next time.
                        Err(e) if buf.filled().len() > start => {
                            *failed = Some(e);
                            break;
                        }
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}
