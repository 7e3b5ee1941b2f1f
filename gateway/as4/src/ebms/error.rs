//! ebMS3 error codes (ebMS3 Core §6.7 and the AS4 profile §5) and the `eb:Error` signal.

use std::fmt;

/// `failure` or `warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Failure,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Failure => "failure",
            Severity::Warning => "warning",
        }
    }
    /// Reads the attribute value; anything but `warning` counts as `failure` (the safe side:
    /// a failure stops retries).
    pub fn from_attr(value: &str) -> Self {
        if value.trim().eq_ignore_ascii_case("warning") {
            Severity::Warning
        } else {
            Severity::Failure
        }
    }
}

/// The error codes this MSH emits or records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    ValueNotRecognized,
    FeatureNotSupportedWarning,
    ValueInconsistent,
    Other,
    ConnectionFailure,
    MimeInconsistency,
    FeatureNotSupported,
    InvalidHeader,
    ProcessingModeMismatch,
    ExternalPayloadError,
    FailedAuthentication,
    FailedDecryption,
    PolicyNoncompliance,
    DeliveryFailure,
    MissingReceipt,
    InvalidReceipt,
    DecompressionFailure,
}

impl ErrorCode {
    /// Every code, for tables and tests.
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::ValueNotRecognized,
        ErrorCode::FeatureNotSupportedWarning,
        ErrorCode::ValueInconsistent,
        ErrorCode::Other,
        ErrorCode::ConnectionFailure,
        ErrorCode::MimeInconsistency,
        ErrorCode::FeatureNotSupported,
        ErrorCode::InvalidHeader,
        ErrorCode::ProcessingModeMismatch,
        ErrorCode::ExternalPayloadError,
        ErrorCode::FailedAuthentication,
        ErrorCode::FailedDecryption,
        ErrorCode::PolicyNoncompliance,
        ErrorCode::DeliveryFailure,
        ErrorCode::MissingReceipt,
        ErrorCode::InvalidReceipt,
        ErrorCode::DecompressionFailure,
    ];

    /// `EBMS:0004` etc.
    pub fn code(self) -> &'static str {
        self.meta().0
    }
    /// The `shortDescription` attribute.
    pub fn short_description(self) -> &'static str {
        self.meta().1
    }
    /// The default severity.
    pub fn severity(self) -> Severity {
        self.meta().2
    }
    /// The `category` attribute.
    pub fn category(self) -> &'static str {
        self.meta().3
    }
    /// The `origin` attribute (`ebMS`, `security`, `reliability`).
    pub fn origin(self) -> &'static str {
        self.meta().4
    }

    fn meta(
        self,
    ) -> (
        &'static str,
        &'static str,
        Severity,
        &'static str,
        &'static str,
    ) {
        use ErrorCode::*;
        use Severity::*;
        match self {
            ValueNotRecognized => (
                "EBMS:0001",
                "ValueNotRecognized",
                Failure,
                "Content",
                "ebMS",
            ),
            FeatureNotSupportedWarning => (
                "EBMS:0002",
                "FeatureNotSupported",
                Warning,
                "Content",
                "ebMS",
            ),
            ValueInconsistent => ("EBMS:0003", "ValueInconsistent", Failure, "Content", "ebMS"),
            Other => ("EBMS:0004", "Other", Failure, "Content", "ebMS"),
            ConnectionFailure => (
                "EBMS:0005",
                "ConnectionFailure",
                Failure,
                "Communication",
                "ebMS",
            ),
            MimeInconsistency => (
                "EBMS:0007",
                "MimeInconsistency",
                Failure,
                "Unpackaging",
                "ebMS",
            ),
            FeatureNotSupported => (
                "EBMS:0008",
                "FeatureNotSupported",
                Failure,
                "Unpackaging",
                "ebMS",
            ),
            InvalidHeader => ("EBMS:0009", "InvalidHeader", Failure, "Unpackaging", "ebMS"),
            ProcessingModeMismatch => (
                "EBMS:0010",
                "ProcessingModeMismatch",
                Failure,
                "Processing",
                "ebMS",
            ),
            ExternalPayloadError => (
                "EBMS:0011",
                "ExternalPayloadError",
                Failure,
                "Content",
                "ebMS",
            ),
            FailedAuthentication => (
                "EBMS:0101",
                "FailedAuthentication",
                Failure,
                "Processing",
                "security",
            ),
            FailedDecryption => (
                "EBMS:0102",
                "FailedDecryption",
                Failure,
                "Processing",
                "security",
            ),
            PolicyNoncompliance => (
                "EBMS:0103",
                "PolicyNoncompliance",
                Failure,
                "Processing",
                "security",
            ),
            DeliveryFailure => (
                "EBMS:0202",
                "DeliveryFailure",
                Failure,
                "Communication",
                "reliability",
            ),
            MissingReceipt => (
                "EBMS:0301",
                "MissingReceipt",
                Failure,
                "Communication",
                "ebMS",
            ),
            InvalidReceipt => (
                "EBMS:0302",
                "InvalidReceipt",
                Failure,
                "Communication",
                "ebMS",
            ),
            DecompressionFailure => (
                "EBMS:0303",
                "DecompressionFailure",
                Failure,
                "Communication",
                "ebMS",
            ),
        }
    }

    /// The code for an `errorCode` attribute value, if it is one we know.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code.trim())
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.short_description())
    }
}

/// The `ErrorDetail` DIGG defines for a recipient or document type the AP does not serve
/// (TP-2.5.c).
pub const NOT_SERVICED: &str = "NOT_SERVICED";

/// One `eb:Error` of a signal, as sent or received. Received values are kept as strings (a
/// peer may use codes we do not know).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EbmsError {
    pub error_code: String,
    pub severity: Severity,
    pub category: Option<String>,
    pub origin: Option<String>,
    pub short_description: Option<String>,
    pub ref_to_message_in_error: Option<String>,
    /// `eb:Description` text.
    pub description: Option<String>,
    /// `eb:ErrorDetail` text.
    pub detail: Option<String>,
}

impl EbmsError {
    /// An error of `code` with its default attributes.
    pub fn new(code: ErrorCode, ref_to: Option<&str>) -> Self {
        EbmsError {
            error_code: code.code().to_owned(),
            severity: code.severity(),
            category: Some(code.category().to_owned()),
            origin: Some(code.origin().to_owned()),
            short_description: Some(code.short_description().to_owned()),
            ref_to_message_in_error: ref_to.map(str::to_owned),
            description: None,
            detail: None,
        }
    }
    pub fn with_description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }
    pub fn with_detail(mut self, text: impl Into<String>) -> Self {
        self.detail = Some(text.into());
        self
    }
    /// The known code, if any.
    pub fn code(&self) -> Option<ErrorCode> {
        ErrorCode::from_code(&self.error_code)
    }
}

impl fmt::Display for EbmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.error_code, self.severity.as_str())?;
        if let Some(s) = &self.short_description {
            write!(f, " {s}")?;
        }
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        if let Some(d) = &self.description {
            write!(f, " — {d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.code()), "{c}");
            assert_eq!(ErrorCode::from_code(c.code()), Some(c));
        }
        assert_eq!(ErrorCode::from_code("EBMS:9999"), None);
    }

    #[test]
    fn not_serviced_error_has_digg_attributes() {
        let e = EbmsError::new(ErrorCode::Other, Some("m@x")).with_detail(NOT_SERVICED);
        assert_eq!(e.error_code, "EBMS:0004");
        assert_eq!(e.severity, Severity::Failure);
        assert_eq!(e.category.as_deref(), Some("Content"));
        assert_eq!(e.origin.as_deref(), Some("ebMS"));
        assert_eq!(e.short_description.as_deref(), Some("Other"));
    }

    #[test]
    fn security_and_as4_codes_have_their_origins() {
        assert_eq!(ErrorCode::FailedAuthentication.origin(), "security");
        assert_eq!(ErrorCode::DecompressionFailure.code(), "EBMS:0303");
        assert_eq!(ErrorCode::DeliveryFailure.origin(), "reliability");
        assert_eq!(Severity::from_attr("Warning"), Severity::Warning);
        assert_eq!(Severity::from_attr("bogus"), Severity::Failure);
    }
}
