//! Bodies: the bounded, streaming request body handed to handlers, and [`OutBody`] for what we
//! send (server responses and client requests), from memory or streamed from a reader/file.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Why reading a request body stopped early.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BodyError {
    /// More bytes arrived than the listener's body limit allows (HTTP 413).
    #[error("request body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// No body bytes arrived within the idle timeout (stalled or slow-loris upload).
    #[error("no request body data for {0:?}")]
    Timeout(Duration),
    /// The connection failed or the framing was invalid (client went away, bad chunking).
    #[error("request body transport failed: {0}")]
    Transport(Arc<hyper::Error>),
}

impl BodyError {
    /// Recovers a body error from the `io::Error` a [`BodyReader`] returned.
    pub fn from_io(err: &io::Error) -> Option<&BodyError> {
        err.get_ref()
            .and_then(|inner| inner.downcast_ref::<BodyError>())
    }

    fn into_io(self) -> io::Error {
        let kind = match &self {
            Self::TooLarge { .. } => io::ErrorKind::InvalidData,
            Self::Timeout(_) => io::ErrorKind::TimedOut,
            Self::Transport(_) => io::ErrorKind::ConnectionAborted,
        };
        io::Error::new(kind, self)
    }
}

/// A request body as the peer sends it: streamed, never buffered by us, cut off at `limit`.
///
/// Back-pressure is TCP's: hyper reads from the socket only as fast as the handler pulls.
#[derive(Debug)]
pub struct RequestBody {
    inner: Incoming,
    limit: u64,
    received: u64,
    idle_timeout: Duration,
    idle: Pin<Box<Sleep>>,
    failed: Option<BodyError>,
    finished: bool,
}

impl RequestBody {
    pub(crate) fn new(inner: Incoming, limit: u64, idle_timeout: Duration) -> Self {
        Self {
            inner,
            limit,
            received: 0,
            idle_timeout,
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            failed: None,
            finished: false,
        }
    }

    /// The hard limit for this body.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The next chunk of data, `None` at the end. Trailers are skipped.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        std::future::poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// Reads the whole body into memory; only for bodies known to be small (`max` bytes).
    pub async fn collect_bounded(mut self, max: u64) -> Result<Bytes, BodyError> {
        self.limit = self.limit.min(max);
        let mut out = Vec::new();
        while let Some(chunk) = self.chunk().await? {
            out.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(out))
    }

    /// An `AsyncRead` view; body errors surface as `io::Error`s carrying a [`BodyError`].
    pub fn into_reader(self) -> BodyReader {
        BodyReader {
            body: self,
            pending: Bytes::new(),
        }
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, BodyError>> {
        if let Some(err) = &self.failed {
            return Poll::Ready(Err(err.clone()));
        }
        if self.finished {
            return Poll::Ready(Ok(None));
        }
        let result = loop {
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    self.idle.as_mut().reset(Instant::now() + self.idle_timeout);
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    if data.is_empty() {
                        continue;
                    }
                    self.received = self.received.saturating_add(data.len() as u64);
                    if self.received > self.limit {
                        break Err(BodyError::TooLarge { limit: self.limit });
                    }
                    break Ok(Some(data));
                }
                Poll::Ready(Some(Err(e))) => break Err(BodyError::Transport(Arc::new(e))),
                Poll::Ready(None) => {
                    self.finished = true;
                    break Ok(None);
                }
                Poll::Pending => {
                    ready!(self.idle.as_mut().poll(cx));
                    break Err(BodyError::Timeout(self.idle_timeout));
                }
            }
        };
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        Poll::Ready(result)
    }
}

/// [`RequestBody`] as a `tokio::io::AsyncRead` (for the streaming MIME reader).
#[derive(Debug)]
pub struct BodyReader {
    body: RequestBody,
    pending: Bytes,
}

impl BodyReader {
    /// Bytes received from the peer so far.
    pub fn received(&self) -> u64 {
        self.body.received()
    }
}

impl AsyncRead for BodyReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pending.is_empty() {
            match ready!(this.body.poll_chunk(cx)) {
                Ok(Some(chunk)) => this.pending = chunk,
                Ok(None) => return Poll::Ready(Ok(())),
                Err(e) => return Poll::Ready(Err(e.into_io())),
            }
        }
        let n = this.pending.len().min(buf.remaining());
        buf.put_slice(&this.pending.split_to(n));
        Poll::Ready(Ok(()))
    }
}

const READ_CHUNK: usize = 64 * 1024;

/// A body we send: empty, in memory, or streamed from a reader with an optional exact length.
pub struct OutBody {
    kind: OutKind,
}

enum OutKind {
    Full(Option<Bytes>),
    Reader {
        reader: Pin<Box<dyn AsyncRead + Send>>,
        buf: Box<[u8]>,
        remaining: Option<u64>,
    },
}

impl std::fmt::Debug for OutBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            OutKind::Full(b) => f
                .debug_struct("OutBody::Full")
                .field("len", &b.as_ref().map(Bytes::len))
                .finish(),
            OutKind::Reader { remaining, .. } => f
                .debug_struct("OutBody::Reader")
                .field("remaining", remaining)
                .finish(),
        }
    }
}

impl OutBody {
    /// No body.
    pub fn empty() -> Self {
        Self {
            kind: OutKind::Full(None),
        }
    }

    /// A body held in memory.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        Self {
            kind: OutKind::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// A body streamed from `reader`. With `len`, it is sent with a Content-Length and the
    /// reader must yield exactly that many bytes; without, it is sent chunked.
    pub fn reader(reader: impl AsyncRead + Send + 'static, len: Option<u64>) -> Self {
        Self {
            kind: OutKind::Reader {
                reader: Box::pin(reader),
                buf: vec![0u8; READ_CHUNK].into_boxed_slice(),
                remaining: len,
            },
        }
    }

    /// A body streamed from a file, with its current length as Content-Length.
    pub async fn file(path: &std::path::Path) -> io::Result<Self> {
        let file = tokio::fs::File::open(path).await?;
        let len = file.metadata().await?.len();
        Ok(Self::reader(file, Some(len)))
    }

    /// The bytes of an in-memory body (for replaying it on a redirect).
    pub(crate) fn replayable(&self) -> Option<Option<Bytes>> {
        match &self.kind {
            OutKind::Full(b) => Some(b.clone()),
            OutKind::Reader { .. } => None,
        }
    }
}

impl Body for OutBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match &mut self.kind {
            OutKind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            OutKind::Reader {
                reader,
                buf,
                remaining,
            } => {
                let want = match remaining {
                    Some(0) => return Poll::Ready(None),
                    Some(n) => usize::try_from(*n).unwrap_or(usize::MAX).min(buf.len()),
                    None => buf.len(),
                };
                let mut read_buf = ReadBuf::new(&mut buf[..want]);
                if let Err(e) = ready!(reader.as_mut().poll_read(cx, &mut read_buf)) {
                    return Poll::Ready(Some(Err(e)));
                }
                let filled = read_buf.filled();
                if filled.is_empty() {
                    return Poll::Ready(remaining.map(|n| {
                        Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("body source ended {n} bytes before its declared length"),
                        ))
                    }));
                }
                if let Some(n) = remaining {
                    *n -= filled.len() as u64;
                }
                Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(filled)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(
            self.kind,
            OutKind::Full(None)
                | OutKind::Reader {
                    remaining: Some(0),
                    ..
                }
        )
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            OutKind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            OutKind::Reader {
                remaining: Some(n), ..
            } => SizeHint::with_exact(*n),
            OutKind::Reader {
                remaining: None, ..
            } => SizeHint::default(),
        }
    }
}

/// Reads a (response) body into memory, refusing more than `limit` bytes.
pub(crate) async fn collect_limited(body: Incoming, limit: u64) -> Result<Bytes, LimitedError> {
    if body.size_hint().lower() > limit {
        return Err(LimitedError::TooLarge);
    }
    let mut body = body;
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(LimitedError::Transport)?;
        if let Ok(data) = frame.into_data() {
            if out.len() as u64 + data.len() as u64 > limit {
                return Err(LimitedError::TooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(out))
}

#[derive(Debug)]
pub(crate) enum LimitedError {
    TooLarge,
    Transport(hyper::Error),
}
