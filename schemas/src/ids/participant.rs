//! Participant (organisation) identifiers: scheme `iso6523-actorid-upis`, value `ICD:id`.
//!
//! SDK organisations use ICD `0203` with a DNS-style domain (`0203:sundbyberg.se`). Values are
//! case-insensitive (Peppol/OASIS practice for this scheme); the canonical form is lower case,
//! and that is what is compared, hashed for BDXL and written out.

use std::fmt;

use super::{excerpt, has_space_or_control};

/// Longest accepted input: `iso6523-actorid-upis::` + `0203:` + a 253-character domain.
const MAX_INPUT: usize = 300;
/// Longest DNS name (RFC 1035, without the trailing dot).
const MAX_DOMAIN: usize = 253;
/// Longest DNS label.
const MAX_LABEL: usize = 63;

/// An organisation identifier in the `iso6523-actorid-upis` scheme, in canonical form.
///
/// `Display` writes the canonical value without the scheme (`0203:sundbyberg.se`); use
/// [`ParticipantId::qualified`] for `iso6523-actorid-upis::0203:…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId {
    icd: Icd,
    /// Canonical `ICD:id`, lower case.
    value: String,
}

/// The ISO 6523 ICDs on DIGG's platform list (code list C3.2.7 §1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize)]
pub enum Icd {
    /// `0007`: Swedish organisation number, 10 digits.
    #[serde(rename = "0007")]
    OrgNumber,
    /// `0088`: GS1 Global Location Number, 13 digits.
    #[serde(rename = "0088")]
    Gln,
    /// `0203`: eDelivery network participant id, a domain name. The only ICD SDK uses.
    #[serde(rename = "0203")]
    EDelivery,
}

impl Icd {
    /// Every ICD of the platform list.
    pub const ALL: [Icd; 3] = [Icd::OrgNumber, Icd::Gln, Icd::EDelivery];

    /// The four-digit code.
    pub fn code(self) -> &'static str {
        match self {
            Icd::OrgNumber => "0007",
            Icd::Gln => "0088",
            Icd::EDelivery => "0203",
        }
    }

    /// Number of digits of a numeric ICD's identifier; `None` for the domain-style `0203`.
    fn digits(self) -> Option<usize> {
        match self {
            Icd::OrgNumber => Some(10),
            Icd::Gln => Some(13),
            Icd::EDelivery => None,
        }
    }
}

impl fmt::Display for Icd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What to do with `0203:http://inera.se`-style values (B1.3.3 and SAD write organisation ids
/// with a URL prefix; SMP, XHE and the test beds use bare domains).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpPrefix {
    /// Reject the value (default: it would not match any SMP registration).
    #[default]
    Reject,
    /// Strip `http://`/`https://` (and one trailing `/`) and report a
    /// [`ParticipantWarning::StrippedUrlPrefix`].
    StripWithWarning,
}

/// Which ICDs are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IcdPolicy {
    /// Only `0203` (default): SDK organisations are identified by domain.
    #[default]
    SdkOnly,
    /// Every ICD of the platform list (`0007`, `0088`, `0203`).
    Platform,
}

/// Options of [`ParticipantId::parse_with`]. The default is strict SDK parsing, which is
/// also what `FromStr` and serde use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParseOptions {
    /// Handling of a URL prefix in the domain.
    pub http_prefix: HttpPrefix,
    /// Accepted ICDs.
    pub icds: IcdPolicy,
}

/// Something the parser accepted but the operator should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParticipantWarning {
    /// A URL prefix was removed (only with [`HttpPrefix::StripWithWarning`]).
    StrippedUrlPrefix {
        /// The input as given (shortened if long).
        given: String,
        /// The canonical id it was read as.
        canonical: ParticipantId,
    },
}

impl fmt::Display for ParticipantWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParticipantWarning::StrippedUrlPrefix { given, canonical } => write!(
                f,
                "participant id {given:?} carries a URL prefix; read it as {canonical} \
                 (SDK organisation ids are bare domain names)"
            ),
        }
    }
}

/// What is wrong with a DNS label of a `0203` participant id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelProblem {
    /// Two dots in a row, or a leading or trailing dot.
    Empty,
    /// More than 63 characters.
    TooLong,
    /// Starts or ends with `-`.
    HyphenAtEdge,
    /// A character other than `a-z`, `0-9`, `-` (e.g. `_`).
    InvalidCharacter(char),
}

impl fmt::Display for LabelProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelProblem::Empty => f.write_str("it is empty (leading, trailing or double dot)"),
            LabelProblem::TooLong => write!(f, "it is longer than {MAX_LABEL} characters"),
            LabelProblem::HyphenAtEdge => f.write_str("it starts or ends with '-'"),
            LabelProblem::InvalidCharacter(c) => {
                write!(
                    f,
                    "it contains {c:?} (only letters, digits and '-' are allowed)"
                )
            }
        }
    }
}

/// Why a participant id was rejected. Messages say what is wrong and what a valid id looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParticipantIdError {
    /// Nothing given.
    #[error("participant id is empty: expected 0203:<domain>, e.g. 0203:sundbyberg.se")]
    Empty,
    /// Longer than any valid id.
    #[error("participant id is {len} characters long; at most {MAX_INPUT} are possible")]
    TooLong {
        /// Length of the input in bytes.
        len: usize,
    },
    /// Whitespace or control characters.
    #[error("participant id {given:?} contains whitespace or control characters")]
    Whitespace {
        /// The input (shortened if long).
        given: String,
    },
    /// `scheme::value` with a scheme other than `iso6523-actorid-upis`.
    #[error("participant id scheme {scheme:?} is not supported: expected iso6523-actorid-upis")]
    UnknownScheme {
        /// The scheme given (shortened if long).
        scheme: String,
    },
    /// No `ICD:` part.
    #[error("participant id {given:?} has no ICD: expected 0203:<domain>, e.g. 0203:sundbyberg.se")]
    MissingIcd {
        /// The input (shortened if long).
        given: String,
    },
    /// An ICD that is not on DIGG's list.
    #[error("participant id ICD {icd:?} is unknown: SDK participants use 0203:<domain>")]
    UnknownIcd {
        /// The ICD given (shortened if long).
        icd: String,
    },
    /// A listed ICD that SDK does not use (with [`IcdPolicy::SdkOnly`]).
    #[error("participant id ICD {icd} is not used in SDK: SDK participants use 0203:<domain>")]
    IcdNotUsedInSdk {
        /// The ICD given.
        icd: Icd,
    },
    /// `0203:` with nothing after it.
    #[error("participant id has an empty domain: expected 0203:<domain>, e.g. 0203:sundbyberg.se")]
    EmptyDomain,
    /// `0203:http://…` (with [`HttpPrefix::Reject`]).
    #[error(
        "participant id {given:?} has a URL prefix: SDK organisation ids are bare domain \
         names (0203:inera.se, not 0203:http://inera.se)"
    )]
    UrlPrefix {
        /// The input (shortened if long).
        given: String,
    },
    /// A URL prefix followed by a path, which no stripping can turn into a domain.
    #[error("participant id {given:?} is a URL with a path, not a domain name")]
    UrlWithPath {
        /// The input (shortened if long).
        given: String,
    },
    /// Non-ASCII characters (internationalised domains must be given in `xn--` form).
    #[error(
        "participant id domain {domain:?} has non-ASCII characters: write internationalised \
         domains in their xn-- (punycode) form"
    )]
    NonAsciiDomain {
        /// The domain (shortened if long).
        domain: String,
    },
    /// A domain longer than DNS allows.
    #[error("participant id domain is {len} characters long; DNS allows at most {MAX_DOMAIN}")]
    DomainTooLong {
        /// Length of the domain.
        len: usize,
    },
    /// A label that is not a DNS label.
    #[error("participant id domain {domain:?} is not a domain name: label {label:?}: {problem}")]
    InvalidLabel {
        /// The domain (shortened if long).
        domain: String,
        /// The offending label (shortened if long).
        label: String,
        /// What is wrong with it.
        problem: LabelProblem,
    },
    /// A numeric ICD whose identifier has the wrong form.
    #[error("participant id {given:?}: ICD {icd} identifiers are exactly {digits} digits")]
    InvalidNumber {
        /// The input (shortened if long).
        given: String,
        /// The ICD.
        icd: Icd,
        /// Required number of digits.
        digits: usize,
    },
}

impl ParticipantId {
    /// The identifier scheme (`iso6523-actorid-upis`).
    pub const SCHEME: &'static str = "iso6523-actorid-upis";

    /// Parses `0203:<domain>` or `iso6523-actorid-upis::0203:<domain>` with strict SDK rules
    /// (same as `FromStr`).
    pub fn parse(input: &str) -> Result<Self, ParticipantIdError> {
        Self::parse_with(input, ParseOptions::default()).map(|(id, _)| id)
    }

    /// Parses with explicit options; returns the id and a warning when the options made the
    /// parser accept something questionable (a stripped URL prefix).
    pub fn parse_with(
        input: &str,
        options: ParseOptions,
    ) -> Result<(Self, Option<ParticipantWarning>), ParticipantIdError> {
        if input.is_empty() {
            return Err(ParticipantIdError::Empty);
        }
        if input.len() > MAX_INPUT {
            return Err(ParticipantIdError::TooLong { len: input.len() });
        }
        if has_space_or_control(input) {
            return Err(ParticipantIdError::Whitespace {
                given: excerpt(input),
            });
        }
        let value = match input.split_once("::") {
            Some((scheme, value)) if scheme.eq_ignore_ascii_case(Self::SCHEME) => value,
            Some((scheme, _)) => {
                return Err(ParticipantIdError::UnknownScheme {
                    scheme: excerpt(scheme),
                });
            }
            None => input,
        };
        let (icd_text, local) =
            value
                .split_once(':')
                .ok_or_else(|| ParticipantIdError::MissingIcd {
                    given: excerpt(input),
                })?;
        let icd = Icd::ALL
            .into_iter()
            .find(|icd| icd.code() == icd_text)
            .ok_or_else(|| ParticipantIdError::UnknownIcd {
                icd: excerpt(icd_text),
            })?;
        if options.icds == IcdPolicy::SdkOnly && icd != Icd::EDelivery {
            return Err(ParticipantIdError::IcdNotUsedInSdk { icd });
        }
        match icd.digits() {
            Some(digits) => Self::parse_number(input, icd, local, digits).map(|id| (id, None)),
            None => Self::parse_domain(input, local, options.http_prefix),
        }
    }

    fn parse_number(
        input: &str,
        icd: Icd,
        local: &str,
        digits: usize,
    ) -> Result<Self, ParticipantIdError> {
        if local.len() != digits || !local.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParticipantIdError::InvalidNumber {
                given: excerpt(input),
                icd,
                digits,
            });
        }
        Ok(Self::canonical(icd, local))
    }

    fn parse_domain(
        input: &str,
        local: &str,
        http_prefix: HttpPrefix,
    ) -> Result<(Self, Option<ParticipantWarning>), ParticipantIdError> {
        let (domain, stripped) = match strip_url_prefix(local) {
            None => (local, false),
            Some(_) if http_prefix == HttpPrefix::Reject => {
                return Err(ParticipantIdError::UrlPrefix {
                    given: excerpt(input),
                });
            }
            Some(rest) => {
                let host = rest.strip_suffix('/').unwrap_or(rest);
                if host.contains('/') {
                    return Err(ParticipantIdError::UrlWithPath {
                        given: excerpt(input),
                    });
                }
                (host, true)
            }
        };
        check_domain(domain)?;
        let id = Self::canonical(Icd::EDelivery, domain);
        let warning = stripped.then(|| ParticipantWarning::StrippedUrlPrefix {
            given: excerpt(input),
            canonical: id.clone(),
        });
        Ok((id, warning))
    }

    fn canonical(icd: Icd, local: &str) -> Self {
        Self {
            icd,
            value: format!("{}:{}", icd.code(), local.to_ascii_lowercase()),
        }
    }

    /// Always `iso6523-actorid-upis`.
    pub fn scheme(&self) -> &'static str {
        Self::SCHEME
    }

    /// The canonical value, `ICD:id` in lower case (`0203:sundbyberg.se`). This is what goes
    /// into XHE `PartyIdentification/ID`, AS4 `originalSender`/`finalRecipient` and BDXL.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The ICD.
    pub fn icd(&self) -> Icd {
        self.icd
    }

    /// The part after `ICD:`: the domain for `0203`, the number otherwise.
    pub fn local_part(&self) -> &str {
        let prefix = self.icd.code().len() + 1;
        self.value.get(prefix..).unwrap_or_default()
    }

    /// `iso6523-actorid-upis::0203:…`, the form used in SMP URLs (before percent-encoding).
    pub fn qualified(&self) -> String {
        format!("{}::{}", Self::SCHEME, self.value)
    }
}

/// The rest after a case-insensitive `http://` or `https://`, if present.
fn strip_url_prefix(s: &str) -> Option<&str> {
    ["http://", "https://"].into_iter().find_map(|prefix| {
        let head = s.get(..prefix.len())?;
        head.eq_ignore_ascii_case(prefix)
            .then(|| &s[prefix.len()..])
    })
}

/// A DNS host name: LDH labels of 1..=63 characters, no hyphen at either end, ≤ 253 in all.
fn check_domain(domain: &str) -> Result<(), ParticipantIdError> {
    if domain.is_empty() {
        return Err(ParticipantIdError::EmptyDomain);
    }
    if !domain.is_ascii() {
        return Err(ParticipantIdError::NonAsciiDomain {
            domain: excerpt(domain),
        });
    }
    if domain.len() > MAX_DOMAIN {
        return Err(ParticipantIdError::DomainTooLong { len: domain.len() });
    }
    for label in domain.split('.') {
        if let Some(problem) = label_problem(label) {
            return Err(ParticipantIdError::InvalidLabel {
                domain: excerpt(domain),
                label: excerpt(label),
                problem,
            });
        }
    }
    Ok(())
}

fn label_problem(label: &str) -> Option<LabelProblem> {
    if label.is_empty() {
        return Some(LabelProblem::Empty);
    }
    if label.len() > MAX_LABEL {
        return Some(LabelProblem::TooLong);
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Some(LabelProblem::HyphenAtEdge);
    }
    label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        .map(LabelProblem::InvalidCharacter)
}

text_identifier!(ParticipantId, ParticipantIdError);

#[cfg(test)]
mod tests {
    use super::*;

    fn strip() -> ParseOptions {
        ParseOptions {
            http_prefix: HttpPrefix::StripWithWarning,
            ..ParseOptions::default()
        }
    }

    // ID-01
    #[test]
    fn double_colon_form_splits_at_first_separator_and_lower_cases() {
        let id: ParticipantId = "iso6523-actorid-upis::0203:Sundbyberg.SE".parse().unwrap();
        assert_eq!(id.value(), "0203:sundbyberg.se");
        assert_eq!(id.scheme(), "iso6523-actorid-upis");
        assert_eq!(id.icd(), Icd::EDelivery);
        assert_eq!(id.local_part(), "sundbyberg.se");
        assert_eq!(id.to_string(), "0203:sundbyberg.se");
        assert_eq!(id.qualified(), "iso6523-actorid-upis::0203:sundbyberg.se");
    }

    #[test]
    fn scheme_is_case_insensitive() {
        let id: ParticipantId = "ISO6523-ACTORID-UPIS::0203:digg.se".parse().unwrap();
        assert_eq!(id.value(), "0203:digg.se");
    }

    #[test]
    fn participant_ids_compare_case_insensitively() {
        let a: ParticipantId = "0203:MyndighetA.org".parse().unwrap();
        let b: ParticipantId = "iso6523-actorid-upis::0203:myndigheta.org".parse().unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn accepts_single_label_and_punycode_domains() {
        assert_eq!(ParticipantId::parse("0203:a").unwrap().value(), "0203:a");
        assert_eq!(
            ParticipantId::parse("0203:xn--gteborg-90a.se")
                .unwrap()
                .value(),
            "0203:xn--gteborg-90a.se"
        );
        assert!(ParticipantId::parse("0203:digg-test1.example.se").is_ok());
    }

    // ID-02
    #[test]
    fn rejects_url_prefix_by_default() {
        let err = ParticipantId::parse("0203:http://inera.se").unwrap_err();
        assert_eq!(
            err,
            ParticipantIdError::UrlPrefix {
                given: "0203:http://inera.se".into()
            }
        );
        assert!(err.to_string().contains("0203:inera.se"), "{err}");
        assert!(matches!(
            ParticipantId::parse("0203:HTTPS://inera.se"),
            Err(ParticipantIdError::UrlPrefix { .. })
        ));
    }

    #[test]
    fn strips_url_prefix_with_a_warning_when_asked() {
        let (id, warning) = ParticipantId::parse_with("0203:http://Inera.se/", strip()).unwrap();
        assert_eq!(id.value(), "0203:inera.se");
        let warning = warning.expect("a stripped prefix is reported");
        assert_eq!(
            warning,
            ParticipantWarning::StrippedUrlPrefix {
                given: "0203:http://Inera.se/".into(),
                canonical: id.clone()
            }
        );
        assert!(warning.to_string().contains("0203:inera.se"));
        let (_, none) = ParticipantId::parse_with("0203:inera.se", strip()).unwrap();
        assert_eq!(none, None);
    }

    #[test]
    fn stripping_never_accepts_a_url_path() {
        assert!(matches!(
            ParticipantId::parse_with("0203:https://inera.se/x", strip()),
            Err(ParticipantIdError::UrlWithPath { .. })
        ));
    }

    #[test]
    fn rejects_empty_domain() {
        assert_eq!(
            ParticipantId::parse("0203:"),
            Err(ParticipantIdError::EmptyDomain)
        );
        assert_eq!(
            ParticipantId::parse_with("0203:https://", strip()),
            Err(ParticipantIdError::EmptyDomain)
        );
        assert_eq!(ParticipantId::parse(""), Err(ParticipantIdError::Empty));
    }

    #[test]
    fn rejects_bad_labels() {
        let err = ParticipantId::parse("0203:-bad-.se").unwrap_err();
        assert_eq!(
            err,
            ParticipantIdError::InvalidLabel {
                domain: "-bad-.se".into(),
                label: "-bad-".into(),
                problem: LabelProblem::HyphenAtEdge
            }
        );
        for (input, problem) in [
            ("0203:a..se", LabelProblem::Empty),
            ("0203:.a.se", LabelProblem::Empty),
            ("0203:a.se.", LabelProblem::Empty),
            ("0203:under_score.se", LabelProblem::InvalidCharacter('_')),
            ("0203:a:b.se", LabelProblem::InvalidCharacter(':')),
        ] {
            match ParticipantId::parse(input) {
                Err(ParticipantIdError::InvalidLabel { problem: p, .. }) => {
                    assert_eq!(p, problem, "{input}")
                }
                other => panic!("{input}: {other:?}"),
            }
        }
        let long_label = format!("0203:{}.se", "a".repeat(64));
        assert!(matches!(
            ParticipantId::parse(&long_label),
            Err(ParticipantIdError::InvalidLabel {
                problem: LabelProblem::TooLong,
                ..
            })
        ));
        let long_domain = format!("0203:{}se", "abcdefghi.".repeat(26));
        assert_eq!(
            ParticipantId::parse(&long_domain),
            Err(ParticipantIdError::DomainTooLong { len: 262 })
        );
        assert!(matches!(
            ParticipantId::parse("0203:göteborg.se"),
            Err(ParticipantIdError::NonAsciiDomain { .. })
        ));
    }

    #[test]
    fn rejects_unknown_icd_and_icds_sdk_does_not_use() {
        assert_eq!(
            ParticipantId::parse("9999:x"),
            Err(ParticipantIdError::UnknownIcd { icd: "9999".into() })
        );
        assert_eq!(
            ParticipantId::parse("0007:5560000000"),
            Err(ParticipantIdError::IcdNotUsedInSdk {
                icd: Icd::OrgNumber
            })
        );
        assert!(
            ParticipantId::parse("9999:x")
                .unwrap_err()
                .to_string()
                .contains("0203:<domain>")
        );
    }

    #[test]
    fn platform_policy_accepts_numeric_icds_with_exact_digits() {
        let platform = ParseOptions {
            icds: IcdPolicy::Platform,
            ..ParseOptions::default()
        };
        let (id, _) = ParticipantId::parse_with("0007:5560000000", platform).unwrap();
        assert_eq!((id.icd(), id.local_part()), (Icd::OrgNumber, "5560000000"));
        assert!(ParticipantId::parse_with("0088:1234567890123", platform).is_ok());
        assert!(matches!(
            ParticipantId::parse_with("0088:123ABC", platform),
            Err(ParticipantIdError::InvalidNumber { digits: 13, .. })
        ));
    }

    #[test]
    fn rejects_foreign_scheme_missing_icd_and_whitespace() {
        assert_eq!(
            ParticipantId::parse("busdox-docid-qns::0203:a.se"),
            Err(ParticipantIdError::UnknownScheme {
                scheme: "busdox-docid-qns".into()
            })
        );
        assert!(matches!(
            ParticipantId::parse("sundbyberg.se"),
            Err(ParticipantIdError::MissingIcd { .. })
        ));
        assert!(matches!(
            ParticipantId::parse(" 0203:a.se"),
            Err(ParticipantIdError::Whitespace { .. })
        ));
        let huge = format!("0203:{}", "a".repeat(10_000));
        assert_eq!(
            ParticipantId::parse(&huge),
            Err(ParticipantIdError::TooLong { len: 10_005 })
        );
    }

    #[test]
    fn serde_round_trips_through_the_canonical_string() {
        let id = ParticipantId::parse("0203:Digg.SE").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"0203:digg.se\"");
        let back: ParticipantId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        let qualified: ParticipantId =
            serde_json::from_str("\"iso6523-actorid-upis::0203:digg.se\"").unwrap();
        assert_eq!(qualified, id);
        let err = serde_json::from_str::<ParticipantId>("\"0203:http://digg.se\"").unwrap_err();
        assert!(err.to_string().contains("URL prefix"), "{err}");
    }
}
