//! MIME part headers (RFC 2045/5322 fields, with folding), bounded in count and size.

use super::content_type::{ContentType, truncate};
use super::{MimeError, MimeLimits};

/// How a part's body is encoded. Only identity encodings are accepted: AS4 sends binary parts,
/// and decoding base64/quoted-printable would need buffering we do not do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferEncoding {
    /// `binary` (also the default when the header is absent).
    Binary,
    /// `8bit`.
    EightBit,
    /// `7bit` (a subset of 8bit; no decoding needed).
    SevenBit,
}

/// The headers of one part, with the fields AS4 uses parsed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartHeaders {
    fields: Vec<(String, String)>,
    content_id: Option<String>,
    content_type: Option<ContentType>,
    transfer_encoding: TransferEncoding,
}

impl PartHeaders {
    /// Parses a header block (the bytes between the delimiter line and the empty line,
    /// without the final CRLF CRLF).
    pub(super) fn parse(block: &[u8], limits: &MimeLimits) -> Result<Self, MimeError> {
        let text = std::str::from_utf8(block).map_err(|_| MimeError::BadHeader {
            reason: "header bytes are not UTF-8".into(),
        })?;
        let mut fields: Vec<(String, String)> = Vec::new();
        if !text.is_empty() {
            for line in text.split("\r\n") {
                if line.contains(['\r', '\n', '\0']) {
                    return Err(bad("bare CR, LF or NUL in a header line"));
                }
                if line.starts_with([' ', '\t']) {
                    let (_, value) = fields
                        .last_mut()
                        .ok_or_else(|| bad("continuation line before any header"))?;
                    value.push(' ');
                    value.push_str(line.trim());
                    continue;
                }
                let (name, value) = line
                    .split_once(':')
                    .ok_or_else(|| bad("header line without ':'"))?;
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(bad("invalid header name"));
                }
                if fields.len() == limits.max_headers_per_part {
                    return Err(MimeError::TooManyHeaders {
                        limit: limits.max_headers_per_part,
                    });
                }
                fields.push((name.to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let single = |name: &str| -> Result<Option<&str>, MimeError> {
            let mut found = fields.iter().filter(|(n, _)| n == name);
            let first = found.next().map(|(_, v)| v.as_str());
            if found.next().is_some() {
                return Err(MimeError::DuplicateHeader {
                    name: name.to_owned(),
                });
            }
            Ok(first)
        };
        let content_id = single("content-id")?.map(parse_content_id).transpose()?;
        let content_type = single("content-type")?
            .map(ContentType::parse)
            .transpose()?;
        let transfer_encoding = match single("content-transfer-encoding")? {
            None => TransferEncoding::Binary,
            Some(v) if v.eq_ignore_ascii_case("binary") => TransferEncoding::Binary,
            Some(v) if v.eq_ignore_ascii_case("8bit") => TransferEncoding::EightBit,
            Some(v) if v.eq_ignore_ascii_case("7bit") => TransferEncoding::SevenBit,
            Some(v) => {
                return Err(MimeError::UnsupportedTransferEncoding {
                    encoding: truncate(v),
                });
            }
        };
        Ok(Self {
            fields,
            content_id,
            content_type,
            transfer_encoding,
        })
    }

    /// `Content-ID` without the angle brackets.
    pub fn content_id(&self) -> Option<&str> {
        self.content_id.as_deref()
    }

    /// The parsed `Content-Type`, if present.
    pub fn content_type(&self) -> Option<&ContentType> {
        self.content_type.as_ref()
    }

    /// `Content-Transfer-Encoding`.
    pub fn transfer_encoding(&self) -> TransferEncoding {
        self.transfer_encoding
    }

    /// The first field with this (case-insensitive) name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All fields in order, names lower-cased.
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }
}

fn bad(reason: &str) -> MimeError {
    MimeError::BadHeader {
        reason: reason.into(),
    }
}

/// `<id>` → `id` (RFC 2392 msg-id). Bare ids without brackets are accepted, as several AS4
/// stacks send them; an empty id or stray brackets are not.
pub(super) fn parse_content_id(value: &str) -> Result<String, MimeError> {
    let v = value.trim();
    let inner = match (v.strip_prefix('<'), v.ends_with('>')) {
        (Some(rest), true) => &rest[..rest.len() - 1],
        (None, false) => v,
        _ => {
            return Err(MimeError::BadContentId {
                value: truncate(value),
            });
        }
    };
    if inner.is_empty() || inner.contains(['<', '>', ' ', '\t']) || !inner.is_ascii() {
        return Err(MimeError::BadContentId {
            value: truncate(value),
        });
    }
    Ok(inner.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PartHeaders, MimeError> {
        PartHeaders::parse(text.as_bytes(), &MimeLimits::default())
    }

    #[test]
    fn parses_fields_with_folding_and_case_insensitive_names() {
        let h = parse(
            "Content-Type: application/octet-stream\r\nCONTENT-ID: <message>\r\nX-Long: a\r\n  b",
        )
        .unwrap();
        assert_eq!(h.content_id(), Some("message"));
        assert_eq!(
            h.content_type().unwrap().media_type(),
            "application/octet-stream"
        );
        assert_eq!(h.get("x-long"), Some("a b"));
        assert_eq!(h.transfer_encoding(), TransferEncoding::Binary);
    }

    #[test]
    fn rejects_encodings_we_do_not_decode() {
        for enc in ["base64", "quoted-printable", "x-gzip"] {
            let err = parse(&format!("Content-Transfer-Encoding: {enc}")).unwrap_err();
            assert!(
                matches!(err, MimeError::UnsupportedTransferEncoding { .. }),
                "{enc}"
            );
        }
        assert_eq!(
            parse("Content-Transfer-Encoding: 8BIT")
                .unwrap()
                .transfer_encoding(),
            TransferEncoding::EightBit
        );
    }

    #[test]
    fn rejects_hostile_header_blocks() {
        assert!(matches!(
            parse("Content-ID: <a>\r\nContent-ID: <b>"),
            Err(MimeError::DuplicateHeader { .. })
        ));
        assert!(matches!(
            parse(" folded-first: x"),
            Err(MimeError::BadHeader { .. })
        ));
        assert!(matches!(
            parse("no colon here"),
            Err(MimeError::BadHeader { .. })
        ));
        assert!(matches!(
            parse("Bad Name: x"),
            Err(MimeError::BadHeader { .. })
        ));
        assert!(matches!(
            parse("A: x\ny: z"),
            Err(MimeError::BadHeader { .. })
        ));
        assert!(matches!(
            parse("Content-ID: <>"),
            Err(MimeError::BadContentId { .. })
        ));
        assert!(matches!(
            parse("Content-ID: <a"),
            Err(MimeError::BadContentId { .. })
        ));
        let many: String = (0..100)
            .map(|i| format!("X-{i}: v"))
            .collect::<Vec<_>>()
            .join("\r\n");
        assert!(matches!(
            parse(&many),
            Err(MimeError::TooManyHeaders { .. })
        ));
        assert!(matches!(
            PartHeaders::parse(b"A: \xff", &MimeLimits::default()),
            Err(MimeError::BadHeader { .. })
        ));
    }

    #[test]
    fn accepts_bare_content_ids() {
        assert_eq!(parse_content_id("message").unwrap(), "message");
        assert_eq!(parse_content_id(" <root@sdkgw> ").unwrap(), "root@sdkgw");
    }
}
