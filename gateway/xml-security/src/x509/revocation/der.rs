//! The few DER pieces OCSP needs: a bounds-checked TLV reader over hostile bytes and a writer
//! for the request. Only low-number tags (one identifier byte) occur in OCSP; anything else,
//! indefinite lengths and lengths beyond the input are errors, never panics.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const OID: u8 = 0x06;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const ENUMERATED: u8 = 0x0a;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const BOOLEAN: u8 = 0x01;
pub(crate) const GENERALIZED_TIME: u8 = 0x18;

/// Context-specific tag `n`, constructed (EXPLICIT or IMPLICIT SEQUENCE).
pub(crate) const fn ctx_cons(n: u8) -> u8 {
    0xa0 | n
}
/// Context-specific tag `n`, primitive (IMPLICIT NULL and the like).
pub(crate) const fn ctx_prim(n: u8) -> u8 {
    0x80 | n
}

/// A malformed structure; the text says which one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DerError(pub(crate) String);

fn bad(what: &str) -> DerError {
    DerError(what.to_owned())
}

/// One element: its tag, its contents and its whole encoding (for signatures and hashing).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub(crate) tag: u8,
    pub(crate) value: &'a [u8],
    pub(crate) raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// The contents as a sequence of elements.
    pub(crate) fn reader(&self) -> Reader<'a> {
        Reader { input: self.value }
    }
}

/// Reads consecutive elements from a slice.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Reader { input }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    /// The tag of the next element, if any.
    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.input.first().copied()
    }

    /// The next element, whatever its tag.
    pub(crate) fn any(&mut self, what: &str) -> Result<Tlv<'a>, DerError> {
        let input = self.input;
        let [tag, first, rest @ ..] = input else {
            return Err(bad(&format!("{what}: truncated")));
        };
        if tag & 0x1f == 0x1f {
            return Err(bad(&format!(
                "{what}: high tag numbers are not used in OCSP"
            )));
        }
        let (len, rest) = match *first {
            n if n < 0x80 => (usize::from(n), rest),
            0x80 => return Err(bad(&format!("{what}: indefinite length"))),
            n => {
                let count = usize::from(n & 0x7f);
                if count > 4 || rest.len() < count {
                    return Err(bad(&format!("{what}: bad length")));
                }
                let len = rest[..count]
                    .iter()
                    .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
                (len, &rest[count..])
            }
        };
        if rest.len() < len {
            return Err(bad(&format!("{what}: length beyond the data")));
        }
        let header = input.len() - rest.len();
        let (value, after) = rest.split_at(len);
        self.input = after;
        Ok(Tlv {
            tag: *tag,
            value,
            raw: &input[..header + len],
        })
    }

    /// The next element, which must have tag `tag`.
    pub(crate) fn expect(&mut self, tag: u8, what: &str) -> Result<Tlv<'a>, DerError> {
        let tlv = self.any(what)?;
        if tlv.tag == tag {
            Ok(tlv)
        } else {
            Err(bad(&format!(
                "{what}: tag {:#04x} where {tag:#04x} was expected",
                tlv.tag
            )))
        }
    }

    /// The next element if it has tag `tag`.
    pub(crate) fn optional(&mut self, tag: u8, what: &str) -> Result<Option<Tlv<'a>>, DerError> {
        if self.peek_tag() == Some(tag) {
            self.expect(tag, what).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Nothing may follow.
    pub(crate) fn finish(&self, what: &str) -> Result<(), DerError> {
        if self.input.is_empty() {
            Ok(())
        } else {
            Err(bad(&format!("{what}: unexpected trailing data")))
        }
    }
}

/// Parses a GeneralizedTime `YYYYMMDDHHMMSS[.f…]Z` (UTC, as RFC 5280 profiles it).
pub(crate) fn generalized_time(tlv: &Tlv<'_>, what: &str) -> Result<OffsetDateTime, DerError> {
    let err = || bad(&format!("{what}: not a UTC GeneralizedTime"));
    if tlv.tag != GENERALIZED_TIME {
        return Err(err());
    }
    let text = std::str::from_utf8(tlv.value).map_err(|_| err())?;
    let body = text.strip_suffix('Z').ok_or_else(err)?;
    let (main, fraction) = body.split_once('.').unwrap_or((body, ""));
    if main.len() != 14
        || !main.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(err());
    }
    let num = |r: std::ops::Range<usize>| main[r].parse::<u16>().map_err(|_| err());
    let month = Month::try_from(u8::try_from(num(4..6)?).map_err(|_| err())?).map_err(|_| err())?;
    let byte = |r| num(r).and_then(|v| u8::try_from(v).map_err(|_| err()));
    let date =
        Date::from_calendar_date(i32::from(num(0..4)?), month, byte(6..8)?).map_err(|_| err())?;
    let time = Time::from_hms(byte(8..10)?, byte(10..12)?, byte(12..14)?).map_err(|_| err())?;
    Ok(PrimitiveDateTime::new(date, time).assume_utc())
}

/// Dotted form of an OBJECT IDENTIFIER's contents.
pub(crate) fn oid_string(value: &[u8]) -> Result<String, DerError> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut current: u64 = 0;
    for (i, b) in value.iter().enumerate() {
        if current > (u64::MAX >> 7) {
            return Err(bad("OID arc too large"));
        }
        current = (current << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(current);
            current = 0;
        } else if i + 1 == value.len() {
            return Err(bad("OID truncated"));
        }
    }
    let Some(first) = arcs.first().copied() else {
        return Err(bad("empty OID"));
    };
    let (a, b) = match first {
        0..40 => (0, first),
        40..80 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut out = format!("{a}.{b}");
    for arc in &arcs[1..] {
        out.push('.');
        out.push_str(&arc.to_string());
    }
    Ok(out)
}

/// Appends one element with tag `tag` and contents `value`.
pub(crate) fn write(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8); // < 0x80: fits
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8); // at most 8 length bytes
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
}

/// One element as a new vector.
pub(crate) fn element(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    write(&mut out, tag, value);
    out
}

/// INTEGER contents for an unsigned big-endian magnitude (a certificate serial).
pub(crate) fn unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let start = magnitude
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(magnitude.len().saturating_sub(1));
    let trimmed = magnitude.get(start..).unwrap_or_default();
    let mut out = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        out.push(0);
    }
    out.extend_from_slice(trimmed);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_elements_and_keeps_their_raw_encoding() {
        let inner = element(OCTET_STRING, &[1, 2, 3]);
        let outer = element(SEQUENCE, &inner);
        let mut r = Reader::new(&outer);
        let seq = r.expect(SEQUENCE, "outer").unwrap();
        assert_eq!(seq.raw, &outer[..]);
        let os = seq.reader().expect(OCTET_STRING, "inner").unwrap();
        assert_eq!(os.value, &[1, 2, 3]);
        r.finish("outer").unwrap();
    }

    #[test]
    fn long_lengths_round_trip() {
        let big = vec![7u8; 70_000];
        let enc = element(OCTET_STRING, &big);
        assert_eq!(&enc[..5], &[0x04, 0x83, 0x01, 0x11, 0x70]);
        let tlv = Reader::new(&enc).any("big").unwrap();
        assert_eq!(tlv.value.len(), 70_000);
    }

    #[test]
    fn refuses_truncated_indefinite_and_oversized_lengths() {
        for input in [
            &[0x30][..],
            &[0x30, 0x80, 0, 0],
            &[0x30, 0x05, 1, 2],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x1f, 0x01, 0],
        ] {
            assert!(Reader::new(input).any("x").is_err(), "{input:?}");
        }
    }

    #[test]
    fn parses_generalized_time_with_and_without_fraction() {
        let t = |s: &str| {
            generalized_time(
                &Tlv {
                    tag: GENERALIZED_TIME,
                    value: s.as_bytes(),
                    raw: &[],
                },
                "t",
            )
        };
        let a = t("20261202101112Z").unwrap();
        assert_eq!(a.unix_timestamp(), 1_796_206_272);
        assert_eq!(t("20261202101112.5Z").unwrap(), a);
        for bad in [
            "20261202101112",
            "2026120210111Z",
            "20261302101112Z",
            "2026120210111xZ",
        ] {
            assert!(t(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn decodes_oids_and_encodes_serials_as_positive_integers() {
        assert_eq!(
            oid_string(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b]).unwrap(),
            "1.2.840.113549.1.1.11"
        );
        assert!(oid_string(&[0x2a, 0x86]).is_err());
        assert_eq!(unsigned_integer(&[0x80, 1]), vec![0, 0x80, 1]);
        assert_eq!(unsigned_integer(&[0, 0, 0x12]), vec![0x12]);
        assert_eq!(unsigned_integer(&[]), vec![0]);
    }
}
