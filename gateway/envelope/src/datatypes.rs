//! Lexical checks of the XSD and schematron data types the profiles use. Everything here
//! reads `&str` without allocating, so it can run over 40 MB base64 text.

use sdkgw_xml_security::xml::is_xml_space;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// XSD whitespace collapse for the purposes of a lexical check: trims XML whitespace (the
/// types below do not allow inner whitespace anyway).
pub(crate) fn collapse(s: &str) -> &str {
    s.trim_matches(is_xml_space)
}

/// `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`, exactly as
/// the MessageConstraints UUID pattern (no version check, no surrounding whitespace).
pub(crate) fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The MessageConstraints timestamp pattern, with its unescaped `.`:
/// `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}.[0-9]{1,3}Z$`.
pub(crate) fn matches_schematron_timestamp(s: &str) -> bool {
    let mut chars = s.chars();
    let head: String = chars.by_ref().take(19).collect();
    let shape = "dddd-dd-ddTdd:dd:dd";
    if head.chars().count() != 19
        || !head.chars().zip(shape.chars()).all(|(c, p)| match p {
            'd' => c.is_ascii_digit(),
            other => c == other,
        })
    {
        return false;
    }
    // `.` (any character but a line end), then 1-3 digits, then `Z` at the very end.
    let rest: Vec<char> = chars.collect();
    let [any, digits @ .., z] = rest.as_slice() else {
        return false;
    };
    *any != '\n'
        && *any != '\r'
        && *z == 'Z'
        && (1..=3).contains(&digits.len())
        && digits.iter().all(char::is_ascii_digit)
}

/// An `xs:dateTime`, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct XsdDateTime {
    /// The instant, when a time zone is given and the year fits `time`'s range.
    pub(crate) instant: Option<OffsetDateTime>,
    /// Whether a time zone (`Z` or `±hh:mm`) is given.
    pub(crate) has_timezone: bool,
}

/// Parses an `xs:dateTime` (XSD 1.0 lexical space, after whitespace collapse).
pub(crate) fn parse_datetime(s: &str) -> Option<XsdDateTime> {
    let s = collapse(s);
    let (date_part, time_part) = s.split_once('T')?;
    let date = parse_date_fields(date_part)?;
    let (time, tz) = split_timezone(time_part);
    let clock = parse_time_fields(time)?;
    let offset = match tz {
        Some(t) => Some(parse_offset(t)?),
        None => None,
    };
    let instant = match (offset, date.0) {
        (Some(off), year) if (-9999..=9999).contains(&year) => to_instant(date, clock, off),
        _ => None,
    };
    Some(XsdDateTime {
        instant,
        has_timezone: offset.is_some(),
    })
}

/// Whether `s` is an `xs:date` (time zone optional).
pub(crate) fn is_date(s: &str) -> bool {
    let (date, tz) = split_timezone(collapse(s));
    parse_date_fields(date).is_some() && tz.is_none_or(|t| parse_offset(t).is_some())
}

/// An `xs:time`: `Some(has_timezone)` when valid.
pub(crate) fn parse_time(s: &str) -> Option<bool> {
    let (time, tz) = split_timezone(collapse(s));
    parse_time_fields(time)?;
    match tz {
        Some(t) => parse_offset(t).map(|_| true),
        None => Some(false),
    }
}

/// `xs:boolean`: `true`, `false`, `1`, `0` (after whitespace collapse).
pub(crate) fn parse_boolean(s: &str) -> Option<bool> {
    match collapse(s) {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// Base64 per RFC 4648 (standard alphabet, `=` padding to a multiple of four, zero pad
/// bits), with XML whitespace allowed between characters. Empty input is not Base64 here.
#[cfg(test)]
pub(crate) fn is_strict_base64(s: &str) -> bool {
    let mut checker = Base64Check::default();
    checker.feed(s);
    checker.finish()
}

/// [`is_strict_base64`] over text that arrives in pieces (several text nodes).
#[derive(Debug, Default)]
pub(crate) struct Base64Check {
    count: usize,
    padding: usize,
    last: u8,
    bad: bool,
}

impl Base64Check {
    /// Checks the next piece.
    pub(crate) fn feed(&mut self, s: &str) {
        for b in s.bytes() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => continue,
                b'=' => self.padding += 1,
                _ if self.padding > 0 => self.bad = true,
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => self.last = b,
                _ => self.bad = true,
            }
            self.count += 1;
        }
    }

    /// Whether everything fed was valid Base64.
    pub(crate) fn finish(&self) -> bool {
        if self.bad || self.count == 0 || !self.count.is_multiple_of(4) || self.padding > 2 {
            return false;
        }
        // The unused bits of the last data character must be zero.
        let last = self.last;
        let value = match last {
            b'A'..=b'Z' => last - b'A',
            b'a'..=b'z' => last - b'a' + 26,
            b'0'..=b'9' => last - b'0' + 52,
            b'+' => 62,
            _ => 63,
        };
        match self.padding {
            1 => value & 0b11 == 0,
            2 => value & 0b1111 == 0,
            _ => true,
        }
    }
}

/// `YYYY-MM-DDThh:mm:ss.fffZ` in UTC: what the SDK message's timestamp pattern requires, and
/// a valid XHE `CreationDateTime`.
pub(crate) fn format_utc_millis(at: OffsetDateTime) -> String {
    let t = at.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

type DateFields = (i32, u8, u8);
type TimeFields = (u8, u8, u8, u32);

fn digits(s: &str, n: usize) -> Option<u32> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn parse_date_fields(s: &str) -> Option<DateFields> {
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let mut parts = body.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() < 4 || (y.len() > 4 && y.starts_with('0')) {
        return None;
    }
    let year: i32 = digits(y, y.len())?.try_into().ok()?;
    if year == 0 {
        return None;
    }
    let month = u8::try_from(digits(m, 2)?).ok()?;
    let day = u8::try_from(digits(d, 2)?).ok()?;
    let year = if negative { -year } else { year };
    let max_day = days_in_month(year, month)?;
    (1..=max_day).contains(&day).then_some((year, month, day))
}

fn days_in_month(year: i32, month: u8) -> Option<u8> {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    Some(match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    })
}

/// `hh:mm:ss(.s+)?`; `24:00:00` is allowed (XSD 1.0).
fn parse_time_fields(s: &str) -> Option<TimeFields> {
    let (hms, fraction) = match s.split_once('.') {
        Some((hms, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => (hms, f),
        Some(_) => return None,
        None => (s, ""),
    };
    let mut parts = hms.split(':');
    let (h, m, sec) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (h, m, sec) = (
        u8::try_from(digits(h, 2)?).ok()?,
        u8::try_from(digits(m, 2)?).ok()?,
        u8::try_from(digits(sec, 2)?).ok()?,
    );
    let nanos: u32 = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(9)
        .fold(0, |acc, b| acc * 10 + u32::from(b - b'0'));
    let midnight_end = h == 24 && m == 0 && sec == 0 && nanos == 0;
    (midnight_end || (h < 24 && m < 60 && sec < 60)).then_some((h, m, sec, nanos))
}

/// Splits a trailing `Z` / `±hh:mm` off a date or time.
fn split_timezone(s: &str) -> (&str, Option<&str>) {
    if let Some(t) = s.strip_suffix('Z') {
        return (t, Some("Z"));
    }
    let candidate = s
        .len()
        .checked_sub(6)
        .and_then(|i| s.get(i..).map(|tz| (i, tz)));
    match candidate {
        Some((i, tz)) if tz.starts_with(['+', '-']) && tz.as_bytes().get(3) == Some(&b':') => {
            (&s[..i], Some(tz))
        }
        _ => (s, None),
    }
}

fn parse_offset(tz: &str) -> Option<UtcOffset> {
    if tz == "Z" {
        return Some(UtcOffset::UTC);
    }
    let sign: i8 = match tz.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = tz.get(1..)?.split_once(':')?;
    let (h, m) = (
        i8::try_from(digits(h, 2)?).ok()?,
        i8::try_from(digits(m, 2)?).ok()?,
    );
    if m > 59 || h > 14 || (h == 14 && m != 0) {
        return None;
    }
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

fn to_instant(date: DateFields, clock: TimeFields, offset: UtcOffset) -> Option<OffsetDateTime> {
    let (y, mo, d) = date;
    let date = Date::from_calendar_date(y, Month::try_from(mo).ok()?, d).ok()?;
    let (h, mi, s, n) = clock;
    let (date, h) = if h == 24 {
        (date.next_day()?, 0)
    } else {
        (date, h)
    };
    let time = Time::from_hms_nano(h, mi, s, n).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_offset(offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_pattern_is_exact() {
        assert!(is_uuid("3a94b4ed-a6d7-41e2-945d-b3fa91e8a6e9"));
        assert!(is_uuid("3A94B4ED-A6D7-41E2-945D-B3FA91E8A6E9"));
        assert!(!is_uuid("232cd54e-5aab-4518-b35c-d81bb053a590Ö"));
        assert!(!is_uuid(" 3a94b4ed-a6d7-41e2-945d-b3fa91e8a6e9"));
        assert!(!is_uuid("not-a-uuid"));
    }

    #[test]
    fn schematron_timestamp_requires_fraction_and_z_like_the_shipped_regex() {
        assert!(matches_schematron_timestamp("2019-08-22T07:27:15.433Z"));
        assert!(matches_schematron_timestamp("2019-08-22T07:27:15.4Z"));
        // The unescaped '.' accepts any character there.
        assert!(matches_schematron_timestamp("2019-08-22T07:27:15x4Z"));
        assert!(!matches_schematron_timestamp("2018-09-12T15:06:00Z"));
        assert!(!matches_schematron_timestamp(
            "2018-09-12T15:06:00.000+01:00"
        ));
        assert!(!matches_schematron_timestamp("2018-09-12T15:06:00.1234Z"));
        assert!(!matches_schematron_timestamp("3 Sept. 2019"));
    }

    #[test]
    fn datetimes_follow_xsd_lexical_rules() {
        let dt = parse_datetime("2021-03-24T17:22:10+01:00").unwrap();
        assert!(dt.has_timezone);
        assert_eq!(dt.instant.unwrap().unix_timestamp(), 1_616_602_930);
        assert!(
            !parse_datetime("2022-01-30T17:52:58.1")
                .unwrap()
                .has_timezone
        );
        assert!(parse_datetime(" 2022-01-30T17:52:58.1Z\n").is_some());
        assert!(
            parse_datetime("2024-02-29T24:00:00Z")
                .unwrap()
                .instant
                .is_some()
        );
        for bad in [
            "3 Sept. 2019",
            "2023-02-29T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-01-01T24:00:01Z",
            "2023-01-01T10:00:60Z",
            "2023-01-01T10:00:00.Z",
            "2023-01-01T10:00:00+15:00",
            "0000-01-01T00:00:00Z",
            "2023-01-01",
        ] {
            assert!(parse_datetime(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn formats_utc_with_milliseconds() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_616_602_930_123_456_789).unwrap();
        let text = format_utc_millis(at.to_offset(UtcOffset::from_hms(1, 0, 0).unwrap()));
        assert_eq!(text, "2021-03-24T16:22:10.123Z");
        assert!(matches_schematron_timestamp(&text));
    }

    #[test]
    fn dates_times_and_booleans() {
        assert!(is_date("2021-04-15"));
        assert!(is_date("2021-04-15Z"));
        assert!(is_date("2021-04-15+02:00"));
        assert!(!is_date("2021-04-31"));
        assert!(!is_date("2021-04-15T12:00:00"));
        assert_eq!(parse_time("12:00:00Z"), Some(true));
        assert_eq!(parse_time("12:00:00.5+01:00"), Some(true));
        assert_eq!(parse_time("12:00:00"), Some(false));
        assert_eq!(parse_time("2021-03-24T17:22:10+01:00"), None);
        assert_eq!(parse_boolean(" true "), Some(true));
        assert_eq!(parse_boolean("0"), Some(false));
        assert_eq!(parse_boolean("TRUE"), None);
    }

    #[test]
    fn base64_is_checked_strictly() {
        assert!(is_strict_base64("QUJD"));
        assert!(is_strict_base64("QUI=\n"));
        assert!(is_strict_base64("QQ=="));
        assert!(is_strict_base64("QU\r\nJD"));
        assert!(!is_strict_base64("AB$%"));
        assert!(!is_strict_base64("QUJ"));
        assert!(!is_strict_base64("QR=="), "non-zero pad bits");
        assert!(!is_strict_base64("Q===",));
        assert!(!is_strict_base64("QQ==QUJD"));
        assert!(!is_strict_base64(""));
        assert!(!is_strict_base64("   "));
    }
}
