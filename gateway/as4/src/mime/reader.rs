//! Async driver around the [`Parser`]: [`MultipartReader`] (pull API) and [`read_message`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tempfile::TempPath;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::content_type::{ContentType, validate_boundary};
use super::headers::{PartHeaders, parse_content_id};
use super::parser::{Event, Parser};
use super::{MimeError, MimeLimits, SOAP12_MEDIA_TYPE};

const READ_CHUNK: usize = 64 * 1024;

/// How an AS4 HTTP body is framed, from its `Content-Type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    /// `multipart/related` (SOAP with Attachments).
    Multipart {
        /// The `boundary` parameter.
        boundary: String,
        /// The `start` parameter as a Content-ID (brackets removed); `None`: the first part.
        start: Option<String>,
        /// The `type` parameter: the root part's media type, lower-cased.
        root_type: String,
    },
    /// A bare `application/soap+xml` body without attachments.
    Soap,
}

impl Framing {
    /// Classifies a message `Content-Type`.
    pub fn from_content_type(value: &str) -> Result<Self, MimeError> {
        let ct = ContentType::parse(value)?;
        match ct.media_type() {
            SOAP12_MEDIA_TYPE => Ok(Self::Soap),
            "multipart/related" => {
                let boundary = ct
                    .param("boundary")
                    .ok_or(MimeError::MissingParameter("boundary"))?;
                validate_boundary(boundary)?;
                let root_type = ct
                    .param("type")
                    .ok_or(MimeError::MissingParameter("type"))?;
                let start = ct.param("start").map(parse_content_id).transpose()?;
                Ok(Self::Multipart {
                    boundary: boundary.to_owned(),
                    start,
                    root_type: root_type.to_ascii_lowercase(),
                })
            }
            other => Err(MimeError::UnsupportedMediaType {
                media_type: other.to_owned(),
            }),
        }
    }
}

/// Pulls parts out of a `multipart/*` body as it arrives.
///
/// ```text
/// while let Some(headers) = reader.next_part().await? {
///     while let Some(bytes) = reader.chunk().await? { /* digest, decrypt, write … */ }
/// }
/// ```
#[derive(Debug)]
pub struct MultipartReader<R> {
    source: R,
    parser: Parser,
    limits: MimeLimits,
    eof: bool,
    in_part: bool,
    part_bytes: u64,
    total: u64,
}

impl<R: AsyncRead + Unpin> MultipartReader<R> {
    /// A reader for a body whose boundary is `boundary`.
    pub fn new(source: R, boundary: &str, limits: MimeLimits) -> Result<Self, MimeError> {
        validate_boundary(boundary)?;
        Ok(Self {
            source,
            parser: Parser::new(boundary, limits.clone()),
            limits,
            eof: false,
            in_part: false,
            part_bytes: 0,
            total: 0,
        })
    }

    /// Bytes read from the source so far.
    pub fn bytes_read(&self) -> u64 {
        self.total
    }

    /// Advances to the next part (skipping what is left of the current one) and returns its
    /// headers; `None` after the close delimiter and the end of input.
    pub async fn next_part(&mut self) -> Result<Option<PartHeaders>, MimeError> {
        loop {
            match self.event().await? {
                Event::Data(_) => {}
                Event::PartEnd => self.in_part = false,
                Event::PartStart(headers) => {
                    self.in_part = true;
                    self.part_bytes = 0;
                    return Ok(Some(headers));
                }
                Event::End => return Ok(None),
                Event::NeedMore => parser_invariant_broken()?,
            }
        }
    }

    /// The next bytes of the current part; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, MimeError> {
        if !self.in_part {
            return Ok(None);
        }
        match self.event().await? {
            Event::Data(data) => {
                self.part_bytes += data.len() as u64;
                if self.part_bytes > self.limits.max_part_bytes {
                    return Err(MimeError::PartTooLarge {
                        limit: self.limits.max_part_bytes,
                    });
                }
                Ok(Some(data))
            }
            Event::PartEnd => {
                self.in_part = false;
                Ok(None)
            }
            // The parser always ends a part before starting another or ending the body.
            Event::PartStart(_) | Event::End | Event::NeedMore => {
                parser_invariant_broken().map(|()| None)
            }
        }
    }

    async fn event(&mut self) -> Result<Event, MimeError> {
        loop {
            match self.parser.next_event(self.eof)? {
                Event::NeedMore => self.fill().await?,
                event => return Ok(event),
            }
        }
    }

    async fn fill(&mut self) -> Result<(), MimeError> {
        let buf = self.parser.buffer();
        buf.reserve(READ_CHUNK);
        let n = (&mut self.source)
            .take(READ_CHUNK as u64)
            .read_buf(buf)
            .await?;
        if n == 0 {
            self.eof = true;
        }
        self.total += n as u64;
        if self.total > self.limits.max_total_bytes {
            return Err(MimeError::MessageTooLarge {
                limit: self.limits.max_total_bytes,
            });
        }
        Ok(())
    }

    /// Parts started so far.
    pub fn parts_seen(&self) -> usize {
        self.parser.parts()
    }
}

/// The parser never returns `NeedMore` from [`MultipartReader::event`]; kept as an error
/// rather than a panic should that invariant ever break.
fn parser_invariant_broken() -> Result<(), MimeError> {
    Err(MimeError::Truncated {
        context: "internal parser state",
    })
}

/// The SOAP envelope part, in memory.
#[derive(Debug)]
pub struct RootPart {
    /// Its headers (for a bare SOAP body: just the message Content-Type).
    pub headers: PartHeaders,
    /// The envelope bytes.
    pub content: Bytes,
}

/// An attachment streamed to a temp file, deleted when dropped unless persisted
/// (`path.persist(...)`).
#[derive(Debug)]
pub struct SpooledPart {
    /// Its headers (Content-ID is always present).
    pub headers: PartHeaders,
    /// The temp file holding exactly the part's bytes.
    pub path: TempPath,
    /// Its length.
    pub len: u64,
}

/// A received message: root part plus spooled attachments, in wire order.
#[derive(Debug)]
pub struct ReceivedMessage {
    /// The SOAP envelope.
    pub root: RootPart,
    /// The attachments.
    pub attachments: Vec<SpooledPart>,
}

impl ReceivedMessage {
    /// The attachment with this Content-ID (for resolving `cid:` references).
    pub fn attachment(&self, content_id: &str) -> Option<&SpooledPart> {
        self.attachments
            .iter()
            .find(|p| p.headers.content_id() == Some(content_id))
    }
}

/// Reads a whole AS4 HTTP body: the root part into memory, attachments into temp files in
/// `spool_dir`. On any error every temp file created so far is removed.
pub async fn read_message<R: AsyncRead + Unpin>(
    body: R,
    content_type: &str,
    limits: &MimeLimits,
    spool_dir: &Path,
) -> Result<ReceivedMessage, MimeError> {
    match Framing::from_content_type(content_type)? {
        Framing::Soap => read_bare_soap(body, content_type, limits).await,
        Framing::Multipart {
            boundary,
            start,
            root_type,
        } => {
            let reader = MultipartReader::new(body, &boundary, limits.clone())?;
            Spooler {
                reader,
                limits,
                spool_dir: spool_dir.to_owned(),
            }
            .run(start, root_type)
            .await
        }
    }
}

async fn read_bare_soap<R: AsyncRead + Unpin>(
    body: R,
    content_type: &str,
    limits: &MimeLimits,
) -> Result<ReceivedMessage, MimeError> {
    let limit = limits.max_root_bytes;
    let mut content = Vec::new();
    let n = body
        .take((limit as u64).saturating_add(1))
        .read_to_end(&mut content)
        .await?;
    if n > limit {
        return Err(MimeError::RootTooLarge { limit });
    }
    let headers = PartHeaders::parse(format!("Content-Type: {content_type}").as_bytes(), limits)?;
    Ok(ReceivedMessage {
        root: RootPart {
            headers,
            content: Bytes::from(content),
        },
        attachments: Vec::new(),
    })
}

struct Spooler<'a, R> {
    reader: MultipartReader<R>,
    limits: &'a MimeLimits,
    spool_dir: PathBuf,
}

impl<R: AsyncRead + Unpin> Spooler<'_, R> {
    async fn run(
        mut self,
        start: Option<String>,
        root_type: String,
    ) -> Result<ReceivedMessage, MimeError> {
        let mut root: Option<RootPart> = None;
        let mut attachments = Vec::new();
        let mut seen = HashSet::new();
        let mut index = 0usize;
        while let Some(headers) = self.reader.next_part().await? {
            if let Some(cid) = headers.content_id()
                && !seen.insert(cid.to_owned())
            {
                return Err(MimeError::DuplicateContentId(cid.to_owned()));
            }
            let is_root = match &start {
                Some(s) => headers.content_id() == Some(s.as_str()),
                None => index == 0,
            };
            if is_root {
                root = Some(self.read_root(headers, &root_type).await?);
            } else {
                if headers.content_id().is_none() {
                    return Err(MimeError::MissingContentId(index));
                }
                attachments.push(self.spool(headers).await?);
            }
            index += 1;
        }
        let root = root.ok_or_else(|| MimeError::StartNotFound(start.unwrap_or_default()))?;
        Ok(ReceivedMessage { root, attachments })
    }

    async fn read_root(
        &mut self,
        headers: PartHeaders,
        root_type: &str,
    ) -> Result<RootPart, MimeError> {
        let found = headers
            .content_type()
            .map(|c| c.media_type().to_owned())
            .unwrap_or_default();
        if found != root_type {
            return Err(MimeError::RootTypeMismatch {
                declared: root_type.to_owned(),
                found,
            });
        }
        let limit = self.limits.max_root_bytes;
        let mut content = Vec::new();
        while let Some(chunk) = self.reader.chunk().await? {
            if content.len() + chunk.len() > limit {
                return Err(MimeError::RootTooLarge { limit });
            }
            content.extend_from_slice(&chunk);
        }
        Ok(RootPart {
            headers,
            content: Bytes::from(content),
        })
    }

    async fn spool(&mut self, headers: PartHeaders) -> Result<SpooledPart, MimeError> {
        let (file, path) = tempfile::Builder::new()
            .prefix("mime-part-")
            .tempfile_in(&self.spool_dir)?
            .into_parts();
        let mut file = tokio::fs::File::from_std(file);
        let mut len = 0u64;
        while let Some(chunk) = self.reader.chunk().await? {
            file.write_all(&chunk).await?;
            len += chunk.len() as u64;
        }
        file.flush().await?;
        Ok(SpooledPart { headers, path, len })
    }
}
