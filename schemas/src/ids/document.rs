//! Document type and process identifiers.
//!
//! Document ids (`busdox-docid-qns`) are case-sensitive (OASIS/CEF practice) and themselves
//! contain `::` and `##`, so the qualified form is recognised by its scheme prefix only. Process
//! ids live in DIGG's scheme `urn:fdc:digg.se:edelivery:process`; the scheme is compared
//! case-insensitively (B1.3.3 writes it with a capital `D`), the value exactly.

use super::{TransportModel, excerpt, has_space_or_control};

/// Longest accepted document id value (the Peppol/OASIS limit).
const MAX_DOCUMENT_VALUE: usize = 500;
/// Longest accepted process id value.
const MAX_PROCESS_VALUE: usize = 200;

/// A document type identifier in the `busdox-docid-qns` scheme.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId {
    value: String,
}

/// Why a document id was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentIdError {
    /// Nothing given, or only the scheme.
    #[error("document type id is empty")]
    Empty,
    /// Longer than any document id.
    #[error("document type id is {len} characters long; at most {MAX_DOCUMENT_VALUE} are allowed")]
    TooLong {
        /// Length in bytes.
        len: usize,
    },
    /// Whitespace or control characters.
    #[error("document type id {given:?} contains whitespace or control characters")]
    Whitespace {
        /// The input (shortened if long).
        given: String,
    },
    /// A scheme other than `busdox-docid-qns`.
    #[error("document type id scheme {scheme:?} is not supported: expected busdox-docid-qns")]
    UnknownScheme {
        /// The scheme given (shortened if long).
        scheme: String,
    },
}

impl DocumentId {
    /// The identifier scheme (`busdox-docid-qns`).
    pub const SCHEME: &'static str = "busdox-docid-qns";

    /// Parses a bare value or the qualified form `busdox-docid-qns::<value>` (as in the AS4
    /// `Action`). Anything not starting with that scheme prefix is taken as the value.
    pub fn parse(input: &str) -> Result<Self, DocumentIdError> {
        let value = strip_scheme_prefix(input, Self::SCHEME).unwrap_or(input);
        Self::from_value(value)
    }

    /// Builds from a separate scheme and value (XHE `DOCUMENTID_SCHEME` + `DOCUMENTID`, SMP
    /// `DocumentIdentifier/@scheme` + text). The scheme is compared case-insensitively.
    pub fn from_parts(scheme: &str, value: &str) -> Result<Self, DocumentIdError> {
        if !scheme.eq_ignore_ascii_case(Self::SCHEME) {
            return Err(DocumentIdError::UnknownScheme {
                scheme: excerpt(scheme),
            });
        }
        Self::from_value(value)
    }

    fn from_value(value: &str) -> Result<Self, DocumentIdError> {
        if value.is_empty() {
            return Err(DocumentIdError::Empty);
        }
        if value.len() > MAX_DOCUMENT_VALUE {
            return Err(DocumentIdError::TooLong { len: value.len() });
        }
        if has_space_or_control(value) {
            return Err(DocumentIdError::Whitespace {
                given: excerpt(value),
            });
        }
        Ok(Self {
            value: value.to_owned(),
        })
    }

    /// Always `busdox-docid-qns`.
    pub fn scheme(&self) -> &'static str {
        Self::SCHEME
    }

    /// The value, exactly as given (case preserved).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// `busdox-docid-qns::<value>`: the AS4 `Action` and the SMP URL segment (before
    /// percent-encoding).
    pub fn qualified(&self) -> String {
        format!("{}::{}", Self::SCHEME, self.value)
    }

    /// The transport model named by the `::tm-…` suffix, if the id has one.
    pub fn transport_model(&self) -> Option<TransportModel> {
        let (_, suffix) = self.value.rsplit_once("::")?;
        TransportModel::ALL
            .into_iter()
            .find(|m| m.document_suffix() == suffix)
    }
}

text_identifier!(DocumentId, DocumentIdError);

/// A process identifier (`bdx:noprocess` in scheme `urn:fdc:digg.se:edelivery:process`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessId {
    value: String,
}

/// Why a process id was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessIdError {
    /// Nothing given.
    #[error("process id is empty: expected bdx:noprocess")]
    Empty,
    /// Longer than any process id.
    #[error("process id is {len} characters long; at most {MAX_PROCESS_VALUE} are allowed")]
    TooLong {
        /// Length in bytes.
        len: usize,
    },
    /// Whitespace or control characters.
    #[error("process id {given:?} contains whitespace or control characters")]
    Whitespace {
        /// The input (shortened if long).
        given: String,
    },
    /// A scheme other than DIGG's process scheme.
    #[error(
        "process id scheme {scheme:?} is not supported: expected urn:fdc:digg.se:edelivery:process"
    )]
    UnknownScheme {
        /// The scheme given (shortened if long).
        scheme: String,
    },
}

impl ProcessId {
    /// The identifier scheme (`urn:fdc:digg.se:edelivery:process`).
    pub const SCHEME: &'static str = "urn:fdc:digg.se:edelivery:process";

    /// Parses a bare value (`bdx:noprocess`) or `<scheme>::<value>`.
    pub fn parse(input: &str) -> Result<Self, ProcessIdError> {
        match input.split_once("::") {
            Some((scheme, value)) => Self::from_parts(scheme, value),
            None => Self::from_value(input),
        }
    }

    /// Builds from a separate scheme and value (XHE `PROCESSID_SCHEME` + `PROCESSID`, SMP
    /// `ProcessIdentifier/@scheme` + text, AS4 `Service/@type` + text).
    pub fn from_parts(scheme: &str, value: &str) -> Result<Self, ProcessIdError> {
        if !scheme.eq_ignore_ascii_case(Self::SCHEME) {
            return Err(ProcessIdError::UnknownScheme {
                scheme: excerpt(scheme),
            });
        }
        Self::from_value(value)
    }

    fn from_value(value: &str) -> Result<Self, ProcessIdError> {
        if value.is_empty() {
            return Err(ProcessIdError::Empty);
        }
        if value.len() > MAX_PROCESS_VALUE {
            return Err(ProcessIdError::TooLong { len: value.len() });
        }
        if has_space_or_control(value) {
            return Err(ProcessIdError::Whitespace {
                given: excerpt(value),
            });
        }
        Ok(Self {
            value: value.to_owned(),
        })
    }

    /// Always `urn:fdc:digg.se:edelivery:process`.
    pub fn scheme(&self) -> &'static str {
        Self::SCHEME
    }

    /// The value, exactly as given.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// `<scheme>::<value>`.
    pub fn qualified(&self) -> String {
        format!("{}::{}", Self::SCHEME, self.value)
    }
}

text_identifier!(ProcessId, ProcessIdError);

/// The rest of `input` after `<scheme>::`, matching the scheme case-insensitively.
fn strip_scheme_prefix<'a>(input: &'a str, scheme: &str) -> Option<&'a str> {
    let head = input.get(..scheme.len())?;
    let rest = input.get(scheme.len()..)?.strip_prefix("::")?;
    head.eq_ignore_ascii_case(scheme).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE_SIGENC: &str = "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc";

    // ID-03
    #[test]
    fn document_id_keeps_case_and_compares_case_sensitively() {
        let id = DocumentId::parse(MESSAGE_SIGENC).unwrap();
        assert_eq!(id.value(), MESSAGE_SIGENC);
        assert_eq!(id.to_string(), MESSAGE_SIGENC);
        let lower = DocumentId::parse(&MESSAGE_SIGENC.to_lowercase()).unwrap();
        assert_ne!(id, lower);
    }

    #[test]
    fn qualified_form_is_the_as4_action_and_parses_back() {
        let id = DocumentId::parse(MESSAGE_SIGENC).unwrap();
        let action = id.qualified();
        assert_eq!(action, format!("busdox-docid-qns::{MESSAGE_SIGENC}"));
        assert_eq!(DocumentId::parse(&action).unwrap(), id);
        assert_eq!(
            DocumentId::parse(&format!("BUSDOX-DOCID-QNS::{MESSAGE_SIGENC}")).unwrap(),
            id
        );
    }

    #[test]
    fn from_parts_checks_the_scheme() {
        assert!(DocumentId::from_parts("busdox-docid-qns", MESSAGE_SIGENC).is_ok());
        assert_eq!(
            DocumentId::from_parts("peppol-doctype-wildcard", MESSAGE_SIGENC),
            Err(DocumentIdError::UnknownScheme {
                scheme: "peppol-doctype-wildcard".into()
            })
        );
    }

    #[test]
    fn document_id_names_its_transport_model() {
        let sigenc = DocumentId::parse(MESSAGE_SIGENC).unwrap();
        assert_eq!(sigenc.transport_model(), Some(TransportModel::ExtSigenc));
        let base = DocumentId::parse(MESSAGE_SIGENC.strip_suffix("-ext-sigenc").unwrap()).unwrap();
        assert_eq!(base.transport_model(), Some(TransportModel::Base));
        let bare = DocumentId::parse("urn:x::y##1.0").unwrap();
        assert_eq!(bare.transport_model(), None);
    }

    #[test]
    fn rejects_empty_long_and_spaced_document_ids() {
        assert_eq!(DocumentId::parse(""), Err(DocumentIdError::Empty));
        assert_eq!(
            DocumentId::parse("busdox-docid-qns::"),
            Err(DocumentIdError::Empty)
        );
        assert_eq!(
            DocumentId::parse(&"x".repeat(501)),
            Err(DocumentIdError::TooLong { len: 501 })
        );
        assert!(matches!(
            DocumentId::parse("urn:a b"),
            Err(DocumentIdError::Whitespace { .. })
        ));
    }

    #[test]
    fn process_id_defaults_to_digg_scheme_and_accepts_qualified_form() {
        let bare = ProcessId::parse("bdx:noprocess").unwrap();
        assert_eq!(bare.scheme(), "urn:fdc:digg.se:edelivery:process");
        assert_eq!(bare.value(), "bdx:noprocess");
        let qualified = ProcessId::parse("urn:fdc:digg.se:edelivery:process::bdx:noprocess");
        assert_eq!(qualified.unwrap(), bare);
        assert_eq!(
            bare.qualified(),
            "urn:fdc:digg.se:edelivery:process::bdx:noprocess"
        );
        // B1.3.3 spells the scheme with a capital D; the code list and p-mode do not.
        assert_eq!(
            ProcessId::from_parts("urn:fdc:Digg.se:edelivery:process", "bdx:noprocess").unwrap(),
            bare
        );
    }

    #[test]
    fn process_id_value_is_case_sensitive_and_scheme_checked() {
        assert_ne!(
            ProcessId::parse("BDX:noprocess").unwrap(),
            ProcessId::parse("bdx:noprocess").unwrap()
        );
        assert!(matches!(
            ProcessId::from_parts("cenbii-procid-ubl", "bdx:noprocess"),
            Err(ProcessIdError::UnknownScheme { .. })
        ));
        assert_eq!(ProcessId::parse(""), Err(ProcessIdError::Empty));
    }

    #[test]
    fn serde_uses_the_bare_values() {
        let id = DocumentId::parse(MESSAGE_SIGENC).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<DocumentId>(&json).unwrap(), id);
        let p: ProcessId = serde_json::from_str("\"bdx:noprocess\"").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"bdx:noprocess\"");
    }
}
