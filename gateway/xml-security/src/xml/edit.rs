//! Byte-exact editing: callers change a document by splicing bytes at element offsets (insert
//! a Signature before an end tag, replace an element by its EncryptedData) and never
//! re-serialise the rest, so signed bytes stay as they were.

use std::ops::Range;

use thiserror::Error;

use super::tree::ElementRef;

/// Replace `range` of the input by `bytes` (an insertion when the range is empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    /// Byte range of the original input.
    pub range: Range<usize>,
    /// What goes there instead.
    pub bytes: Vec<u8>,
}

/// Edits that cannot be applied together.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum EditError {
    /// An edit reaches past the end of the input or has start > end.
    #[error("edit {start}..{end} is outside the input ({len} bytes)")]
    OutOfBounds {
        /// Range start.
        start: usize,
        /// Range end.
        end: usize,
        /// Input length.
        len: usize,
    },
    /// Two edits touch the same bytes.
    #[error("edits overlap at byte {at}")]
    Overlap {
        /// Where.
        at: usize,
    },
}

impl Edit {
    /// Inserts `bytes` as the last content of `element` (just before its end tag). A
    /// self-closing `<e/>` becomes `<e>bytes</e>`.
    pub fn append_child(element: ElementRef<'_>, bytes: &[u8]) -> Edit {
        let span = element.span();
        if !element.is_self_closing() {
            return Edit {
                range: span.end_tag.start..span.end_tag.start,
                bytes: bytes.to_vec(),
            };
        }
        // The start tag ends with "/>": replace those two bytes.
        let tag_end = span.start_tag.end;
        let mut out = Vec::with_capacity(bytes.len() + element.qname().len() + 4);
        out.push(b'>');
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"</");
        out.extend_from_slice(element.qname().as_bytes());
        out.push(b'>');
        Edit {
            range: tag_end.saturating_sub(2)..tag_end,
            bytes: out,
        }
    }

    /// Inserts `bytes` just before `element`'s start tag.
    pub fn insert_before(element: ElementRef<'_>, bytes: &[u8]) -> Edit {
        let at = element.span().start_tag.start;
        Edit {
            range: at..at,
            bytes: bytes.to_vec(),
        }
    }

    /// Replaces the whole `element` (start tag to end tag) by `bytes`.
    pub fn replace_element(element: ElementRef<'_>, bytes: Vec<u8>) -> Edit {
        Edit {
            range: element.span().whole(),
            bytes,
        }
    }

    /// Replaces the content of `element` (between its tags); for `<e/>` see
    /// [`Edit::append_child`].
    pub fn replace_content(element: ElementRef<'_>, bytes: &[u8]) -> Edit {
        if element.is_self_closing() {
            return Edit::append_child(element, bytes);
        }
        Edit {
            range: element.span().content,
            bytes: bytes.to_vec(),
        }
    }
}

/// Applies non-overlapping edits to `input`, in any order given.
pub fn apply_edits(input: &[u8], mut edits: Vec<Edit>) -> Result<Vec<u8>, EditError> {
    edits.sort_by_key(|e| (e.range.start, e.range.end));
    let mut out =
        Vec::with_capacity(input.len() + edits.iter().map(|e| e.bytes.len()).sum::<usize>());
    let mut pos = 0;
    for edit in &edits {
        let Range { start, end } = edit.range;
        if start > end || end > input.len() {
            return Err(EditError::OutOfBounds {
                start,
                end,
                len: input.len(),
            });
        }
        if start < pos {
            return Err(EditError::Overlap { at: start });
        }
        out.extend_from_slice(&input[pos..start]);
        out.extend_from_slice(&edit.bytes);
        pos = end;
    }
    out.extend_from_slice(&input[pos..]);
    Ok(out)
}
