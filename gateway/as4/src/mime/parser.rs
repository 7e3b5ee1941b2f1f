//! The sans-I/O multipart state machine: the caller appends bytes to [`Parser::buffer`] and
//! pulls [`Event`]s. Memory stays bounded: body data is handed out as soon as it cannot be the
//! start of a delimiter, and header blocks, preamble and epilogue have their own limits.

use bytes::{Buf, Bytes, BytesMut};
use memchr::memmem::Finder;

use super::headers::PartHeaders;
use super::{MimeError, MimeLimits};

/// What the parser found next.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Event {
    /// Append more input (or report end of input) and ask again.
    NeedMore,
    /// A part begins.
    PartStart(PartHeaders),
    /// Body bytes of the current part.
    Data(Bytes),
    /// The current part ended.
    PartEnd,
    /// The close delimiter was seen and the input ended.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Preamble,
    AfterDelimiter,
    Headers,
    Body,
    Epilogue,
    Done,
}

#[derive(Debug)]
pub(super) struct Parser {
    buf: BytesMut,
    finder: Finder<'static>,
    delimiter_len: usize,
    state: State,
    /// Preamble or epilogue bytes discarded so far.
    discarded: usize,
    parts: usize,
    limits: MimeLimits,
}

impl Parser {
    pub(super) fn new(boundary: &str, limits: MimeLimits) -> Self {
        let delimiter = format!("\r\n--{boundary}").into_bytes();
        let mut buf = BytesMut::with_capacity(64 * 1024);
        // The first delimiter may open the body without a preceding line break.
        buf.extend_from_slice(b"\r\n");
        Self {
            buf,
            delimiter_len: delimiter.len(),
            finder: Finder::new(&delimiter).into_owned(),
            state: State::Preamble,
            discarded: 0,
            parts: 0,
            limits,
        }
    }

    /// Where the caller appends input.
    pub(super) fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// How many parts have started.
    pub(super) fn parts(&self) -> usize {
        self.parts
    }

    /// The next event; `eof` says no more input will come.
    pub(super) fn next_event(&mut self, eof: bool) -> Result<Event, MimeError> {
        loop {
            let progressed = match self.state {
                State::Preamble => self.preamble(eof)?,
                State::AfterDelimiter => self.after_delimiter(eof)?,
                State::Headers => return self.headers(eof),
                State::Body => return self.body(eof),
                State::Epilogue => return self.epilogue(eof),
                State::Done => return Ok(Event::End),
            };
            if !progressed {
                return Ok(Event::NeedMore);
            }
        }
    }

    fn preamble(&mut self, eof: bool) -> Result<bool, MimeError> {
        if let Some(pos) = self.finder.find(&self.buf) {
            self.discard(pos)?;
            self.buf.advance(self.delimiter_len);
            self.state = State::AfterDelimiter;
            return Ok(true);
        }
        if eof {
            return Err(MimeError::Truncated {
                context: "no boundary delimiter found",
            });
        }
        let keep = self.delimiter_len - 1;
        let drop = self.buf.len().saturating_sub(keep);
        self.discard(drop)?;
        Ok(false)
    }

    fn discard(&mut self, n: usize) -> Result<(), MimeError> {
        self.discarded = self.discarded.saturating_add(n);
        // The two bytes we prepended are not the peer's preamble.
        if self.discarded > self.limits.max_preamble_bytes.saturating_add(2) {
            return Err(MimeError::PreambleTooLarge {
                limit: self.limits.max_preamble_bytes,
            });
        }
        self.buf.advance(n);
        Ok(())
    }

    /// After `CRLF--boundary`: `--` (close) or transport padding then CRLF (next part).
    fn after_delimiter(&mut self, eof: bool) -> Result<bool, MimeError> {
        if self.buf.starts_with(b"--") {
            self.buf.advance(2);
            if self.parts == 0 {
                return Err(MimeError::NoParts);
            }
            self.state = State::Epilogue;
            self.discarded = 0;
            return Ok(true);
        }
        let padding = self
            .buf
            .iter()
            .take_while(|b| **b == b' ' || **b == b'\t')
            .count();
        let rest = &self.buf[padding..];
        if rest.starts_with(b"\r\n") {
            self.buf.advance(padding + 2);
            if self.parts == self.limits.max_parts {
                return Err(MimeError::TooManyParts {
                    limit: self.limits.max_parts,
                });
            }
            self.parts += 1;
            self.state = State::Headers;
            return Ok(true);
        }
        let could_still_match = rest.is_empty() || rest == b"\r" || (self.buf.as_ref() == b"-");
        if !could_still_match {
            return Err(MimeError::MalformedDelimiter);
        }
        if eof {
            return Err(MimeError::Truncated {
                context: "input ended after a boundary",
            });
        }
        if padding > 1024 {
            return Err(MimeError::MalformedDelimiter);
        }
        Ok(false)
    }

    fn headers(&mut self, eof: bool) -> Result<Event, MimeError> {
        let limit = self.limits.max_header_bytes;
        let end = if self.buf.starts_with(b"\r\n") {
            Some((0, 2))
        } else {
            memchr::memmem::find(&self.buf, b"\r\n\r\n").map(|pos| (pos, 4))
        };
        match end {
            Some((pos, _)) if pos > limit => Err(MimeError::HeadersTooLarge { limit }),
            Some((pos, sep)) => {
                let block = self.buf.split_to(pos);
                self.buf.advance(sep);
                let headers = PartHeaders::parse(&block, &self.limits)?;
                self.state = State::Body;
                Ok(Event::PartStart(headers))
            }
            None if self.buf.len() > limit.saturating_add(4) => {
                Err(MimeError::HeadersTooLarge { limit })
            }
            None if eof => Err(MimeError::Truncated {
                context: "input ended in part headers",
            }),
            None => Ok(Event::NeedMore),
        }
    }

    fn body(&mut self, eof: bool) -> Result<Event, MimeError> {
        match self.finder.find(&self.buf) {
            Some(0) => {
                self.buf.advance(self.delimiter_len);
                self.state = State::AfterDelimiter;
                Ok(Event::PartEnd)
            }
            Some(pos) => Ok(Event::Data(self.buf.split_to(pos).freeze())),
            None => {
                let safe = self.buf.len().saturating_sub(self.delimiter_len - 1);
                if safe > 0 {
                    Ok(Event::Data(self.buf.split_to(safe).freeze()))
                } else if eof {
                    Err(MimeError::Truncated {
                        context: "input ended inside a part",
                    })
                } else {
                    Ok(Event::NeedMore)
                }
            }
        }
    }

    fn epilogue(&mut self, eof: bool) -> Result<Event, MimeError> {
        let n = self.buf.len();
        self.discarded = self.discarded.saturating_add(n);
        self.buf.clear();
        if self.discarded > self.limits.max_preamble_bytes {
            return Err(MimeError::PreambleTooLarge {
                limit: self.limits.max_preamble_bytes,
            });
        }
        if eof {
            self.state = State::Done;
            return Ok(Event::End);
        }
        Ok(Event::NeedMore)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes and collects (headers, body) per part.
    pub(crate) fn parse_all(
        boundary: &str,
        input: &[u8],
        step: usize,
    ) -> Result<Vec<(PartHeaders, Vec<u8>)>, MimeError> {
        let mut parser = Parser::new(boundary, MimeLimits::default());
        let mut parts: Vec<(PartHeaders, Vec<u8>)> = Vec::new();
        let mut chunks = input.chunks(step.max(1));
        let mut eof = false;
        loop {
            match parser.next_event(eof)? {
                Event::NeedMore => match chunks.next() {
                    Some(c) => parser.buffer().extend_from_slice(c),
                    None => eof = true,
                },
                Event::PartStart(h) => parts.push((h, Vec::new())),
                Event::Data(d) => parts
                    .last_mut()
                    .expect("data inside a part")
                    .1
                    .extend_from_slice(&d),
                Event::PartEnd => {}
                Event::End => return Ok(parts),
            }
        }
    }

    const MSG: &[u8] = b"preamble\r\n--b1\r\nContent-ID: <root>\r\n\r\n<soap/>\r\n--b1  \r\nContent-ID: <a>\r\n\r\n\r\n-- b1\r\n--b\r\n\r\n--b1--\r\nepilogue";

    #[test]
    fn parses_parts_whatever_the_chunking() {
        for step in [1, 2, 3, 7, 64, 4096] {
            let parts = parse_all("b1", MSG, step);
            let parts = match parts {
                Ok(p) => p,
                Err(e) => panic!("step {step}: {e}"),
            };
            assert_eq!(parts.len(), 2, "step {step}");
            assert_eq!(parts[0].1, b"<soap/>");
            assert_eq!(parts[1].0.content_id(), Some("a"));
            assert_eq!(parts[1].1, b"\r\n-- b1\r\n--b\r\n");
        }
    }

    #[test]
    fn a_delimiter_prefix_followed_by_other_text_is_malformed() {
        let err = parse_all("b1", b"--b1\r\n\r\nx\r\n--b1x\r\n--b1--", 5).unwrap_err();
        assert!(matches!(err, MimeError::MalformedDelimiter), "{err}");
    }
}
