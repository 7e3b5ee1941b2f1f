//! Typed identifiers of the SDK federation, parsed once at the edge.
//!
//! Each type accepts its textual forms in `FromStr` (and serde, which goes through the same
//! parser) and can only hold a valid, canonical value. Equality follows the spec's case rules:
//! participant ids compare case-insensitively (canonical lower case), document and process ids
//! and function addresses case-sensitively.

/// Serialize through `Display`, deserialize through `FromStr`: the textual form is the only
/// form, so a value read from JSON/TOML is parsed exactly like one read from the wire.
macro_rules! string_serde {
    ($ty:ty) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// For identifier types holding their canonical text in `value` and parsed by `parse`:
/// `Display` writes the value, `FromStr` is `parse`, serde goes through both.
macro_rules! text_identifier {
    ($ty:ty, $err:ty) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.value)
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $err;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        string_serde!($ty);
    };
}

mod ap_party;
mod document;
mod environment;
mod function_address;
mod participant;

pub use ap_party::{ApPartyFinding, ApPartyId, ApPartyIdError, ApPartyIssue, Severity};
pub use document::{DocumentId, DocumentIdError, ProcessId, ProcessIdError};
pub use environment::{
    Environment, EnvironmentError, FederationId, FederationIdError, TransportModel,
    TransportModelError,
};
pub use function_address::{FunctionAddress, FunctionAddressError};
pub use participant::{
    HttpPrefix, Icd, IcdPolicy, LabelProblem, ParseOptions, ParticipantId, ParticipantIdError,
    ParticipantWarning,
};

/// Longest input echoed back in an error message: identifiers come from peers, and an error
/// must stay readable (and bounded) whatever they sent.
const ECHO_MAX: usize = 80;

/// `s`, shortened to [`ECHO_MAX`] characters with a trailing `…` when longer.
pub(crate) fn excerpt(s: &str) -> String {
    match s.char_indices().nth(ECHO_MAX) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// True if `s` holds whitespace or control characters anywhere (identifiers never do).
fn has_space_or_control(s: &str) -> bool {
    s.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_shortens_long_input_on_a_char_boundary() {
        let long = "å".repeat(200);
        let short = excerpt(&long);
        assert_eq!(short.chars().count(), ECHO_MAX + 1);
        assert!(short.ends_with('…'));
        assert_eq!(excerpt("0203:a.se"), "0203:a.se");
    }
}
