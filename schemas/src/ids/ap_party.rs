//! Access point party ids: the CN of a DIGG-issued AP certificate, used verbatim as AS4
//! `From/PartyId` and `To/PartyId` (type `urn:fdc:digg.se:edelivery:transportprofile:as4:partytype:ap`).
//!
//! DIGG assigns `AP` + 4 digits + `-<FEDERATION>-<ENV>` (`AP0001-SDK-QA`, `AP0040-SDK-PROD`,
//! `AP0007-OPEN-TEST`). Parsing accepts any plausible CN, because a test environment must still
//! talk to an AP whose CN breaks the naming rule; [`ApPartyId::check`] applies the rule for an
//! environment: a warning in test environments, an error in QA and PROD (addressing digest §4.3).

use std::fmt;

use super::{Environment, excerpt, has_space_or_control};
use crate::codelists::codelists;

/// Longest CN (X.520 `ub-common-name`).
const MAX_CN: usize = 64;

/// An AP party id (the AP certificate's CN), case preserved and compared exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApPartyId {
    value: String,
}

/// Why a value cannot be an AP party id at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApPartyIdError {
    /// Nothing given.
    #[error("AP party id is empty: expected the AP certificate's CN, e.g. AP0001-SDK-QA")]
    Empty,
    /// Longer than a CN can be.
    #[error("AP party id is {len} characters long; a certificate CN has at most {MAX_CN}")]
    TooLong {
        /// Length in characters.
        len: usize,
    },
    /// Whitespace or control characters.
    #[error("AP party id {given:?} contains whitespace or control characters")]
    Whitespace {
        /// The input (shortened if long).
        given: String,
    },
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Report, but go on.
    Warning,
    /// Refuse.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// What is wrong with an AP party id's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApPartyIssue {
    /// Not `AP` + 4 digits + `-` + upper-case words separated by `-`.
    NotApForm,
    /// Well-formed, but with another environment's suffix.
    WrongSuffix {
        /// The suffix this environment's AP ids end in (e.g. `-SDK-PROD`).
        expected: &'static str,
    },
}

/// The result of [`ApPartyId::check`] when the rule is not met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApPartyFinding {
    /// Warning in test environments, error in QA and PROD.
    pub severity: Severity,
    /// What is wrong.
    pub issue: ApPartyIssue,
    /// The id checked.
    pub party: ApPartyId,
    /// The environment whose rule was applied.
    pub environment: Environment,
}

impl fmt::Display for ApPartyFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            severity,
            issue,
            party,
            environment,
        } = self;
        match issue {
            ApPartyIssue::NotApForm => write!(
                f,
                "{severity}: AP party id {party:?} is not of DIGG's form APnnnn-<FEDERATION>-<ENV> \
                 (e.g. AP0001-SDK-QA)"
            ),
            ApPartyIssue::WrongSuffix { expected } => write!(
                f,
                "{severity}: AP party id {party:?} does not end in {expected}, as AP ids of the \
                 {environment} environment do (certificate from another environment?)"
            ),
        }
    }
}

impl ApPartyId {
    /// Parses a CN / AS4 PartyId value. Accepts any 1–64 character value without whitespace;
    /// DIGG's naming rule is applied separately by [`ApPartyId::check`].
    pub fn parse(input: &str) -> Result<Self, ApPartyIdError> {
        if input.is_empty() {
            return Err(ApPartyIdError::Empty);
        }
        let len = input.chars().count();
        if len > MAX_CN {
            return Err(ApPartyIdError::TooLong { len });
        }
        if has_space_or_control(input) {
            return Err(ApPartyIdError::Whitespace {
                given: excerpt(input),
            });
        }
        Ok(Self {
            value: input.to_owned(),
        })
    }

    /// The value, exactly as in the certificate.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The four-digit AP number (`AP0040-SDK-PROD` → 40), if the id has DIGG's form.
    pub fn number(&self) -> Option<u16> {
        self.has_ap_form()
            .then(|| self.value.get(2..6)?.parse().ok())
            .flatten()
    }

    /// DIGG's naming rule for `environment`: `None` if met, otherwise a finding whose severity
    /// is [`Severity::Error`] in QA/PROD and [`Severity::Warning`] elsewhere. The caller
    /// decides what to do with a warning (log it) and an error (refuse the peer).
    pub fn check(&self, environment: Environment) -> Option<ApPartyFinding> {
        let issue = if !self.has_ap_form() {
            ApPartyIssue::NotApForm
        } else {
            let expected = codelists().environment(environment).ap_party_suffix()?;
            if self.value.ends_with(expected) {
                return None;
            }
            ApPartyIssue::WrongSuffix { expected }
        };
        let severity = if environment.is_strict() {
            Severity::Error
        } else {
            Severity::Warning
        };
        Some(ApPartyFinding {
            severity,
            issue,
            party: self.clone(),
            environment,
        })
    }

    /// `^AP[0-9]{4}-[A-Z]+(-[A-Z]+)*$`
    fn has_ap_form(&self) -> bool {
        let Some(rest) = self.value.strip_prefix("AP") else {
            return false;
        };
        let (digits, words) = rest.split_at_checked(4).unwrap_or((rest, ""));
        digits.len() == 4
            && digits.bytes().all(|b| b.is_ascii_digit())
            && words.strip_prefix('-').is_some_and(|words| {
                words
                    .split('-')
                    .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_uppercase()))
            })
    }
}

text_identifier!(ApPartyId, ApPartyIdError);

#[cfg(test)]
mod tests {
    use super::*;

    fn ap(s: &str) -> ApPartyId {
        s.parse().unwrap()
    }

    #[test]
    fn digg_ids_pass_their_own_environment() {
        assert_eq!(ap("AP0001-SDK-QA").check(Environment::Qa), None);
        assert_eq!(ap("AP0040-SDK-PROD").check(Environment::Prod), None);
        assert_eq!(ap("AP0007-OPEN-TEST").check(Environment::OpenTest), None);
        assert_eq!(ap("AP0002-DEV").check(Environment::Dev), None);
        assert_eq!(ap("AP0040-SDK-PROD").number(), Some(40));
    }

    // AP-06: CN `foo` ⇒ warning in TEST, error in QA/PROD.
    #[test]
    fn non_digg_name_is_a_warning_in_test_and_an_error_in_qa_and_prod() {
        let foo = ap("foo");
        assert_eq!(foo.number(), None);
        for (env, severity) in [
            (Environment::OpenTest, Severity::Warning),
            (Environment::Dev, Severity::Warning),
            (Environment::Qa, Severity::Error),
            (Environment::Prod, Severity::Error),
        ] {
            let finding = foo.check(env).expect("foo breaks the rule");
            assert_eq!(
                (finding.severity, finding.issue),
                (severity, ApPartyIssue::NotApForm)
            );
        }
        let text = foo.check(Environment::Qa).unwrap().to_string();
        assert!(
            text.starts_with("error:") && text.contains("APnnnn"),
            "{text}"
        );
    }

    #[test]
    fn other_environment_suffix_is_reported_with_the_expected_one() {
        let finding = ap("AP0001-SDK-QA").check(Environment::Prod).unwrap();
        assert_eq!(finding.severity, Severity::Error);
        assert_eq!(
            finding.issue,
            ApPartyIssue::WrongSuffix {
                expected: "-SDK-PROD"
            }
        );
        assert!(finding.to_string().contains("-SDK-PROD"));
        let finding = ap("AP0001-SDK-QA").check(Environment::OpenTest).unwrap();
        assert_eq!(finding.severity, Severity::Warning);
        assert_eq!(
            finding.issue,
            ApPartyIssue::WrongSuffix {
                expected: "-OPEN-TEST"
            }
        );
    }

    #[test]
    fn ap_form_needs_four_digits_and_upper_case_words() {
        for bad in [
            "AP001-SDK-QA",
            "AP00010-SDK-QA",
            "AP0001",
            "AP0001-",
            "AP0001-sdk-qa",
            "AP0001--QA",
            "ap0001-SDK-QA",
        ] {
            let finding = ap(bad).check(Environment::Dev);
            assert_eq!(
                finding.map(|f| f.issue),
                Some(ApPartyIssue::NotApForm),
                "{bad}"
            );
        }
    }

    #[test]
    fn parse_rejects_empty_long_and_spaced_values() {
        assert_eq!(ApPartyId::parse(""), Err(ApPartyIdError::Empty));
        assert_eq!(
            ApPartyId::parse(&"A".repeat(65)),
            Err(ApPartyIdError::TooLong { len: 65 })
        );
        assert!(matches!(
            ApPartyId::parse("AP 0001"),
            Err(ApPartyIdError::Whitespace { .. })
        ));
        let json = serde_json::to_string(&ap("AP0001-SDK-QA")).unwrap();
        assert_eq!(
            serde_json::from_str::<ApPartyId>(&json).unwrap(),
            ap("AP0001-SDK-QA")
        );
    }
}
