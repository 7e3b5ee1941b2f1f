//! U-NAPTR processing for BDXL (RFC 3403/3404 record semantics, RFC 4848 U-NAPTR, OASIS BDXL):
//! keep records with flag `U` and the SMP service (both case-insensitive), sort by order then
//! preference, and take the first whose regexp yields an absolute http(s) URL. Every record
//! that is not taken is reported with the reason, so an operator can see why a zone is
//! unusable.

use std::fmt;

use crate::smp_url::SmpBaseUrl;

/// One NAPTR record, as text. `replacement` is `.` for the root name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NaptrRecord {
    /// Lower is processed first.
    pub order: u16,
    /// Lower is preferred among equal orders.
    pub preference: u16,
    /// `U` for a terminal rule yielding a URI.
    pub flags: String,
    /// `Meta:SMP` for BDXL.
    pub services: String,
    /// `!<ere>!<replacement>!` with any delimiter.
    pub regexp: String,
    /// Must be `.` when the regexp is used.
    pub replacement: String,
}

/// Why a record was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Flags other than `U`.
    NotTerminal,
    /// Another service (e.g. `Meta:SMP2`).
    OtherService,
    /// A `U` record must have replacement `.`.
    ReplacementNotRoot,
    /// The regexp field does not have the `<d>ere<d>repl<d>[i]` form.
    MalformedRegexp(&'static str),
    /// The ERE is not one that matches every name (`^.*$` and its equivalents).
    UnsupportedRegexp,
    /// The result is not an absolute http(s) URL.
    NotHttpUrl(String),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::NotTerminal => f.write_str("flags are not \"U\""),
            SkipReason::OtherService => f.write_str("service is not Meta:SMP"),
            SkipReason::ReplacementNotRoot => f.write_str("replacement is not \".\""),
            SkipReason::MalformedRegexp(why) => write!(f, "malformed regexp: {why}"),
            SkipReason::UnsupportedRegexp => {
                f.write_str("regexp does not match the whole name (only ^.*$ is used in BDXL)")
            }
            SkipReason::NotHttpUrl(why) => write!(f, "result is not an http(s) URL: {why}"),
        }
    }
}

/// A record and why it was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRecord {
    /// The record.
    pub record: NaptrRecord,
    /// Why.
    pub reason: SkipReason,
}

/// The SMP base URL from a NAPTR answer, or every record with the reason it was unusable
/// (empty if there were no records).
pub fn select_smp_url(
    records: &[NaptrRecord],
    service: &str,
) -> Result<SmpBaseUrl, Vec<SkippedRecord>> {
    let mut ranked: Vec<&NaptrRecord> = records.iter().collect();
    ranked.sort_by_key(|r| (r.order, r.preference));
    let mut skipped = Vec::new();
    for record in ranked {
        match smp_url_of(record, service) {
            Ok(url) => return Ok(url),
            Err(reason) => skipped.push(SkippedRecord {
                record: record.clone(),
                reason,
            }),
        }
    }
    Err(skipped)
}

fn smp_url_of(record: &NaptrRecord, service: &str) -> Result<SmpBaseUrl, SkipReason> {
    if !record.flags.eq_ignore_ascii_case("u") {
        return Err(SkipReason::NotTerminal);
    }
    if !record.services.eq_ignore_ascii_case(service) {
        return Err(SkipReason::OtherService);
    }
    if record.replacement != "." {
        return Err(SkipReason::ReplacementNotRoot);
    }
    let rule = Substitution::parse(&record.regexp).map_err(SkipReason::MalformedRegexp)?;
    if !rule.matches_every_name() {
        return Err(SkipReason::UnsupportedRegexp);
    }
    SmpBaseUrl::parse(&rule.replacement).map_err(|e| SkipReason::NotHttpUrl(e.to_string()))
}

/// A parsed `<d>ere<d>replacement<d>[i]` substitution (RFC 3402 §3.2).
#[derive(Debug, PartialEq, Eq)]
struct Substitution {
    ere: String,
    /// With `\<d>` and `\\` unescaped.
    replacement: String,
}

impl Substitution {
    fn parse(text: &str) -> Result<Self, &'static str> {
        let mut chars = text.chars();
        let delim = chars.next().ok_or("empty")?;
        if delim.is_ascii_digit() || delim == '\\' || delim == 'i' {
            return Err("the delimiter may not be a digit, 'i' or '\\'");
        }
        let mut parts = vec![String::new()];
        let mut escaped = false;
        for c in chars {
            let part = parts.last_mut().ok_or("empty")?;
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, c) if c == delim => parts.push(String::new()),
                (true, c) if c.is_ascii_digit() => {
                    return Err("back-references need groups, which BDXL regexps do not have");
                }
                (true, c) if c == delim || c == '\\' => {
                    part.push(c);
                    escaped = false;
                }
                (true, c) => {
                    part.push('\\');
                    part.push(c);
                    escaped = false;
                }
                (false, c) => part.push(c),
            }
        }
        if escaped {
            return Err("ends in a lone '\\'");
        }
        match <[String; 3]>::try_from(parts) {
            Ok([ere, replacement, flags]) if flags.is_empty() || flags == "i" => {
                Ok(Self { ere, replacement })
            }
            Ok(_) => Err("the only flag allowed after the last delimiter is 'i'"),
            Err(_) => Err("expected exactly three delimiters"),
        }
    }

    /// Whether the ERE matches every input in full, so the result is the replacement itself.
    /// BDXL publishes `^.*$`; the anchors are optional for a greedy `.*`.
    fn matches_every_name(&self) -> bool {
        matches!(self.ere.as_str(), "^.*$" | ".*" | "^.*" | ".*$")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(order: u16, pref: u16, flags: &str, service: &str, regexp: &str) -> NaptrRecord {
        NaptrRecord {
            order,
            preference: pref,
            flags: flags.into(),
            services: service.into(),
            regexp: regexp.into(),
            replacement: ".".into(),
        }
    }

    fn select(records: &[NaptrRecord]) -> Result<String, Vec<SkipReason>> {
        select_smp_url(records, "Meta:SMP")
            .map(|u| u.to_string())
            .map_err(|s| s.into_iter().map(|s| s.reason).collect())
    }

    #[test]
    fn digest_example_record_yields_the_smp() {
        let r = rec(100, 10, "U", "Meta:SMP", "!^.*$!https://smp.example.se!");
        assert_eq!(select(&[r]).unwrap(), "https://smp.example.se");
    }

    // DNS-02
    #[test]
    fn lower_preference_wins_within_an_order() {
        let records = [
            rec(100, 20, "U", "Meta:SMP", "!^.*$!https://pref20.example.se!"),
            rec(100, 10, "U", "Meta:SMP", "!^.*$!https://pref10.example.se!"),
        ];
        assert_eq!(select(&records).unwrap(), "https://pref10.example.se");
    }

    #[test]
    fn lower_order_wins_over_preference() {
        let records = [
            rec(
                200,
                1,
                "U",
                "Meta:SMP",
                "!^.*$!https://order200.example.se!",
            ),
            rec(
                100,
                99,
                "U",
                "Meta:SMP",
                "!^.*$!https://order100.example.se!",
            ),
        ];
        assert_eq!(select(&records).unwrap(), "https://order100.example.se");
    }

    // DNS-03
    #[test]
    fn only_terminal_meta_smp_records_are_used() {
        let records = [
            rec(10, 10, "U", "Meta:SMP2", "!^.*$!https://smp2.example.se!"),
            rec(20, 10, "S", "Meta:SMP", "!^.*$!https://srv.example.se!"),
            rec(
                30,
                10,
                "u",
                "meta:smp",
                "!^.*$!https://valid.example.se/smp/!",
            ),
        ];
        assert_eq!(select(&records).unwrap(), "https://valid.example.se/smp");
        let mut only_bad = records[..2].to_vec();
        only_bad.push(NaptrRecord {
            replacement: "smp.example.se".into(),
            ..records[2].clone()
        });
        assert_eq!(
            select(&only_bad).unwrap_err(),
            [
                SkipReason::OtherService,
                SkipReason::NotTerminal,
                SkipReason::ReplacementNotRoot
            ]
        );
    }

    // DNS-04
    #[test]
    fn regexp_delimiter_is_the_first_character() {
        let r = rec(1, 1, "U", "Meta:SMP", "#^.*$#https://hash.example.se/#");
        assert_eq!(select(&[r]).unwrap(), "https://hash.example.se");
        let escaped = rec(1, 1, "U", "Meta:SMP", "#^.*$#https://x.example.se/a\\#b#");
        assert_eq!(
            Substitution::parse(&escaped.regexp).unwrap().replacement,
            "https://x.example.se/a#b"
        );
        let flagged = rec(1, 1, "U", "Meta:SMP", "!^.*$!https://i.example.se!i");
        assert_eq!(select(&[flagged]).unwrap(), "https://i.example.se");
    }

    #[test]
    fn malformed_regexps_are_skipped_and_the_next_record_used() {
        let good = rec(9, 9, "U", "Meta:SMP", "!^.*$!https://good.example.se!");
        for bad in [
            "",
            "!^.*$!https://x.se",
            "!^.*$!https://x.se!!",
            "1^.*$1https://x.se1",
            "!^.*$!https://x.se!g",
            "!^.*$!\\1!",
            "!^.*$!x\\",
        ] {
            let records = [rec(1, 1, "U", "Meta:SMP", bad), good.clone()];
            assert_eq!(
                select(&records).unwrap(),
                "https://good.example.se",
                "{bad:?}"
            );
            let reasons = select(&records[..1]).unwrap_err();
            assert!(
                matches!(reasons[..], [SkipReason::MalformedRegexp(_)]),
                "{bad:?}: {reasons:?}"
            );
        }
    }

    #[test]
    fn non_http_results_and_partial_eres_give_no_smp() {
        let records = [
            rec(1, 1, "U", "Meta:SMP", "!^.*$!sip:smp@example.se!"),
            rec(2, 1, "U", "Meta:SMP", "!^.*$!ftp://smp.example.se!"),
            rec(3, 1, "U", "Meta:SMP", "!^abc$!https://smp.example.se!"),
        ];
        let reasons = select(&records).unwrap_err();
        assert!(matches!(
            reasons[..],
            [
                SkipReason::NotHttpUrl(_),
                SkipReason::NotHttpUrl(_),
                SkipReason::UnsupportedRegexp
            ]
        ));
        assert_eq!(select(&[]).unwrap_err(), []);
    }
}
