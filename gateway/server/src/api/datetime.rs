//! Timestamps of the API: RFC 3339 in, `YYYY-MM-DDThh:mm:ss.fffZ` (UTC, milliseconds) out —
//! the form the SDK message schematron demands for `creationDateTime`.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// `2019-08-15T17:52:58.100Z`.
pub(crate) fn format_utc(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// Parses an RFC 3339 date-time (any offset; normalised to UTC). Fractions beyond
/// milliseconds are truncated, since the SDK message carries at most three digits.
pub(crate) fn parse(value: &str) -> Result<OffsetDateTime, String> {
    let at = OffsetDateTime::parse(value, &Rfc3339).map_err(|_| {
        format!(
            "{:?} is not an RFC 3339 date-time such as 2019-08-15T17:52:58.1Z",
            excerpt(value)
        )
    })?;
    let at = at.to_offset(UtcOffset::UTC);
    at.replace_nanosecond(at.millisecond() as u32 * 1_000_000)
        .map_err(|e| e.to_string())
}

/// A short, printable rendition of client input for error messages.
pub(crate) fn excerpt(value: &str) -> String {
    let mut s: String = value.chars().take(64).filter(|c| !c.is_control()).collect();
    if value.chars().count() > 64 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_milliseconds_in_utc_and_normalises_offsets() {
        let at = parse("2019-08-15T19:52:58.1+02:00").unwrap();
        assert_eq!(format_utc(at), "2019-08-15T17:52:58.100Z");
        assert!(parse("2019-08-15 17:52").is_err());
        assert!(parse("2019-13-15T17:52:58Z").is_err());
    }
}
