//! Small helpers shared by the wire-format writers and readers: XML escaping of values we
//! write, and the `xsd:dateTime` form AS4 uses for timestamps.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Escapes character data for element content.
pub(crate) fn esc_text(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Escapes an attribute value written between double quotes.
pub(crate) fn esc_attr(value: &str) -> String {
    esc_text(value)
        .replace('"', "&quot;")
        .replace('\r', "&#13;")
        .replace('\n', "&#10;")
        .replace('\t', "&#9;")
}

/// `2025-02-08T17:45:26.123Z`: UTC, millisecond precision (WS-Security advises against more,
/// and Domibus/phase4 write exactly this form).
pub fn xsd_datetime(at: OffsetDateTime) -> String {
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

/// Parses an `xsd:dateTime`. A value without a zone is taken as UTC (ebMS3 §5.2.2.1 requires
/// UTC; peers omit the `Z`, as the DBC profile allows).
pub fn parse_xsd_datetime(value: &str) -> Option<OffsetDateTime> {
    let v = value.trim();
    if v.len() > 64 {
        return None;
    }
    if let Ok(t) = OffsetDateTime::parse(v, &Rfc3339) {
        return Some(t.to_offset(UtcOffset::UTC));
    }
    // No zone designator: append Z.
    let has_zone = v.ends_with('Z')
        || v.rfind(['+', '-'])
            .is_some_and(|i| i > 10 && v[i..].contains(':'));
    if has_zone {
        return None;
    }
    OffsetDateTime::parse(&format!("{v}Z"), &Rfc3339)
        .ok()
        .map(|t| t.to_offset(UtcOffset::UTC))
}

/// A new globally unique id for `wsu:Id`/`Id` attributes: an NCName (starts with a letter or
/// underscore) with the given prefix.
pub(crate) fn new_xml_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn datetime_is_written_in_utc_with_milliseconds() {
        let t = datetime!(2025-02-08 18:45:26.123456 +01:00);
        assert_eq!(xsd_datetime(t), "2025-02-08T17:45:26.123Z");
    }

    #[test]
    fn datetime_parsing_accepts_zones_and_zoneless_utc() {
        let want = datetime!(2025-02-08 17:45:26 UTC);
        for v in [
            "2025-02-08T17:45:26Z",
            "2025-02-08T17:45:26.000Z",
            "2025-02-08T18:45:26+01:00",
            "2025-02-08T17:45:26",
            " 2025-02-08T17:45:26.0 ",
        ] {
            assert_eq!(parse_xsd_datetime(v), Some(want), "{v}");
        }
        for bad in ["", "yesterday", "2025-02-08", "2025-13-08T17:45:26Z"] {
            assert_eq!(parse_xsd_datetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(esc_text("a<b&c>"), "a&lt;b&amp;c&gt;");
        assert_eq!(esc_attr("\"x\"\n"), "&quot;x&quot;&#10;");
    }
}
