//! Receipt (Meddelandekvittens) codes and the SDK rejection cases, typed.

use super::codelists;

/// Declares a closed vocabulary whose wire strings live in the code-list data: `ALL`, `code()`
/// (from the data), `Display` and an exact-match `FromStr`.
macro_rules! coded_enum {
    (
        $(#[$meta:meta])* $name:ident, $err:ident, $what:literal, $lookup:ident {
            $($(#[$vmeta:meta])* $variant:ident),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in a stable order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The exact wire value, from the code list.
            pub fn code(self) -> &'static str {
                codelists().$lookup(self)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.code())
            }
        }

        /// A value that is not in the code list.
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        #[error("unknown {} {given:?}: expected one of {}", $what, expected_codes($name::ALL.iter().map(|v| v.code())))]
        pub struct $err {
            /// What was given (shortened if long).
            pub given: String,
        }

        impl std::str::FromStr for $name {
            type Err = $err;

            /// Exact, case-sensitive match.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.code() == s)
                    .ok_or_else(|| $err { given: crate::ids::excerpt(s) })
            }
        }
    };
}
pub(crate) use coded_enum;

/// `a, b, c` for error messages.
pub(crate) fn expected_codes<'a>(codes: impl Iterator<Item = &'a str>) -> String {
    codes.collect::<Vec<_>>().join(", ")
}

coded_enum! {
    /// `DocumentResponse/Response/ResponseCode` (C3.2.4 §4.1).
    ResponseCode, ResponseCodeError, "receipt response code", response_code {
        /// `ACCEPTED`: passed validation and reached the recipient's message service.
        Accepted,
        /// `REJECTED`: at least one `LineResponse` says why.
        Rejected,
    }
}

coded_enum! {
    /// `LineResponse/Response/ResponseCode` (C3.2.4 §4.2): the only three reason codes.
    ReasonCode, ReasonCodeError, "receipt reason code", reason_code {
        /// `SV`: fails the XML Schema.
        Sv,
        /// `BV`: fails another fatal validation rule.
        Bv,
        /// `SIG`: not correctly signed.
        Sig,
    }
}

coded_enum! {
    /// `StatusReasonCode`: B1.3.3's detail words.
    DetailCode, DetailCodeError, "receipt detail code", detail_code {
        /// `structure`
        Structure,
        /// `invariant`
        Invariant,
        /// `security`
        Security,
        /// `not-found`
        NotFound,
        /// `not-supported`
        NotSupported,
        /// `too-long`
        TooLong,
        /// `forbidden`
        Forbidden,
        /// `duplicate`
        Duplicate,
        /// `multiple-matches`
        MultipleMatches,
    }
}

/// The cases in which an SDK message is REJECTED (B1.3.3 §4 and §5.3), each with its fixed
/// reason and detail code. Use [`crate::CodeLists::rejection`] to get the codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectionCase {
    /// Row 2: structurally invalid (XSD, data types) or corrupt → SV `structure`.
    Structure,
    /// Row 3: malware → BV `forbidden`.
    Malware,
    /// Row 4: larger than 30 MB → BV `too-long`.
    TooLarge,
    /// Row 5: schematron / code-list rule broken → BV `invariant`.
    RuleViolation,
    /// Row 6: messageId not unique → BV `duplicate`.
    DuplicateMessageId,
    /// Row 8: attachment type not supported → BV `not-supported`.
    UnsupportedAttachment,
    /// Row 9: functional address missing or wrong → BV `not-found`.
    FunctionAddressNotFound,
    /// Row 11: reply to a message marked REJECTED → BV `not-supported`.
    ReplyToRejected,
    /// Row 12: XHE signature ≠ the sender's CertPub certificate → SIG `security`.
    SenderSignatureMismatch,
    /// Row 13: originalSender does not fit the sending AP / unknown sender → BV `security`.
    SenderNotConfigured,
    /// Row 14: unencrypted although the transport model requires encryption → SIG `security`.
    NotEncrypted,
    /// Wrong or unknown XHE HandlingServiceID → BV `not-found`.
    HandlingServiceUnknown,
    /// recipientID ≠ XHE ToParty → BV `security`.
    RecipientMismatch,
    /// Recipient subOrganization id ≠ HandlingServiceID → BV `security`.
    HandlingServiceMismatch,
    /// senderID wrong or unknown → BV `invariant`.
    SenderIdUnknown,
}

impl RejectionCase {
    /// Every case, in a stable order.
    pub const ALL: &'static [RejectionCase] = &[
        RejectionCase::Structure,
        RejectionCase::Malware,
        RejectionCase::TooLarge,
        RejectionCase::RuleViolation,
        RejectionCase::DuplicateMessageId,
        RejectionCase::UnsupportedAttachment,
        RejectionCase::FunctionAddressNotFound,
        RejectionCase::ReplyToRejected,
        RejectionCase::SenderSignatureMismatch,
        RejectionCase::SenderNotConfigured,
        RejectionCase::NotEncrypted,
        RejectionCase::HandlingServiceUnknown,
        RejectionCase::RecipientMismatch,
        RejectionCase::HandlingServiceMismatch,
        RejectionCase::SenderIdUnknown,
    ];

    /// The key of this case in `receipts.toml`.
    pub(crate) fn key(self) -> &'static str {
        match self {
            RejectionCase::Structure => "structure",
            RejectionCase::Malware => "malware",
            RejectionCase::TooLarge => "too-large",
            RejectionCase::RuleViolation => "rule-violation",
            RejectionCase::DuplicateMessageId => "duplicate-message-id",
            RejectionCase::UnsupportedAttachment => "unsupported-attachment",
            RejectionCase::FunctionAddressNotFound => "function-address-not-found",
            RejectionCase::ReplyToRejected => "reply-to-rejected",
            RejectionCase::SenderSignatureMismatch => "sender-signature-mismatch",
            RejectionCase::SenderNotConfigured => "sender-not-configured",
            RejectionCase::NotEncrypted => "not-encrypted",
            RejectionCase::HandlingServiceUnknown => "handling-service-unknown",
            RejectionCase::RecipientMismatch => "recipient-mismatch",
            RejectionCase::HandlingServiceMismatch => "handling-service-mismatch",
            RejectionCase::SenderIdUnknown => "sender-id-unknown",
        }
    }
}

/// The codes of one rejection case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// B1.3.3 §5.3 row, or `-` for the §4 field-table cases.
    pub row: String,
    /// What happened, in words.
    pub event: String,
    /// `LineResponse/Response/ResponseCode`.
    pub reason: ReasonCode,
    /// `StatusReasonCode`.
    pub detail: DetailCode,
    /// Fixed `StatusReason` text where B1.3.3 prescribes one.
    pub text: Option<String>,
}
