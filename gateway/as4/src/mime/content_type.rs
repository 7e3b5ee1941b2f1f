//! `Content-Type` values (RFC 2045 §5.1): `type/subtype *(";" attribute "=" value)`, where a
//! value is a token or a quoted-string.

use super::MimeError;

/// A parsed media type: lower-cased `type/subtype` and its parameters (names lower-cased,
/// values as sent, quotes and escapes removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    media_type: String,
    params: Vec<(String, String)>,
}

impl ContentType {
    /// Parses a header value. Duplicate parameters and malformed syntax are errors.
    pub fn parse(value: &str) -> Result<Self, MimeError> {
        let bad = |reason| MimeError::BadContentType {
            value: truncate(value),
            reason,
        };
        let mut rest = value.trim_start_matches(is_ws);
        let (kind, after) = take_token(rest);
        let after = after
            .strip_prefix('/')
            .ok_or_else(|| bad("expected type/subtype"))?;
        let (sub, after) = take_token(after);
        if kind.is_empty() || sub.is_empty() {
            return Err(bad("expected type/subtype"));
        }
        let media_type = format!("{}/{}", kind.to_ascii_lowercase(), sub.to_ascii_lowercase());
        rest = after.trim_start_matches(is_ws);
        let mut params: Vec<(String, String)> = Vec::new();
        while !rest.is_empty() {
            rest = rest
                .strip_prefix(';')
                .ok_or_else(|| bad("expected ';' between parameters"))?;
            rest = rest.trim_start_matches(is_ws);
            if rest.is_empty() {
                break; // a trailing ';' is common and harmless
            }
            let (name, after) = take_token(rest);
            if name.is_empty() {
                return Err(bad("empty parameter name"));
            }
            let after = after.trim_start_matches(is_ws);
            let after = after
                .strip_prefix('=')
                .ok_or_else(|| bad("expected '=' after parameter name"))?;
            let after = after.trim_start_matches(is_ws);
            let (val, after) = if after.starts_with('"') {
                take_quoted(after).ok_or_else(|| bad("unterminated quoted string"))?
            } else {
                let (tok, after) = take_token(after);
                if tok.is_empty() {
                    return Err(bad("empty parameter value"));
                }
                (tok.to_owned(), after)
            };
            let name = name.to_ascii_lowercase();
            if params.iter().any(|(n, _)| *n == name) {
                return Err(bad("duplicate parameter"));
            }
            params.push((name, val));
            rest = after.trim_start_matches(is_ws);
        }
        Ok(Self { media_type, params })
    }

    /// `type/subtype`, lower-cased.
    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// A parameter by (case-insensitive) name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All parameters in order.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }
}

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// RFC 2045 token characters: printable ASCII except SP and tspecials.
fn is_token_char(c: char) -> bool {
    c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?=".contains(c)
}

fn take_token(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !is_token_char(c)).unwrap_or(s.len());
    s.split_at(end)
}

fn take_quoted(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => out.push(chars.next()?.1),
            '\r' | '\n' => return None,
            c => out.push(c),
        }
    }
    None
}

pub(super) fn truncate(value: &str) -> String {
    value.chars().take(200).collect()
}

/// Checks a multipart boundary per RFC 2046 §5.1.1: 1–70 characters from `bchars`, not ending
/// in a space.
pub(super) fn validate_boundary(boundary: &str) -> Result<(), MimeError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "'()+_,-./:=? ".contains(c);
    if boundary.is_empty()
        || boundary.len() > 70
        || boundary.ends_with(' ')
        || !boundary.chars().all(ok_char)
    {
        return Err(MimeError::InvalidBoundary {
            boundary: truncate(boundary),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_as4_multipart_content_type() {
        let ct = ContentType::parse(
            "Multipart/Related; type=\"application/soap+xml\"; boundary=\"MIME_b\\\"x\"; start=\"<root@x>\";",
        )
        .unwrap();
        assert_eq!(ct.media_type(), "multipart/related");
        assert_eq!(ct.param("TYPE"), Some("application/soap+xml"));
        assert_eq!(ct.param("boundary"), Some("MIME_b\"x"));
        assert_eq!(ct.param("start"), Some("<root@x>"));
    }

    #[test]
    fn rejects_malformed_content_types() {
        for bad in [
            "",
            "multipart",
            "multipart/",
            "multipart/related boundary=x",
            "multipart/related; boundary",
            "multipart/related; boundary=",
            "multipart/related; boundary=\"x",
            "multipart/related; boundary=a; boundary=b",
            "multipart/related; =x",
        ] {
            assert!(ContentType::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn validates_boundaries() {
        assert!(validate_boundary("uuid:0b1f-44=_Part").is_ok());
        assert!(validate_boundary(&"a".repeat(70)).is_ok());
        assert!(validate_boundary(&"a".repeat(71)).is_err());
        assert!(validate_boundary("").is_err());
        assert!(validate_boundary("ends ").is_err());
        assert!(validate_boundary("semi;colon").is_err());
        assert!(validate_boundary("cr\r\nlf").is_err());
    }
}
