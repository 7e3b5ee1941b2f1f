//! Function addresses (funktionsadresser): the mailbox inside an organisation, carried in the
//! SDK message as `subOrganization/organizationId` (root
//! `urn:riv:infrastructure:messaging:functionalAddress`, extension = the address book's function
//! identifier, e.g. `SE2321000016-nnnnn`) and in XHE `Payload/HandlingServiceID`.

use super::{excerpt, has_space_or_control};

/// Longest accepted identifier (the SDK message's label limit; real ids are far shorter).
const MAX_LEN: usize = 256;

/// A function address identifier, case preserved and compared exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunctionAddress {
    value: String,
}

/// Why a function address was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FunctionAddressError {
    /// Nothing given.
    #[error("function address is empty: expected the address book's function id")]
    Empty,
    /// Too long.
    #[error("function address is {len} characters long; at most {MAX_LEN} are allowed")]
    TooLong {
        /// Length in characters.
        len: usize,
    },
    /// Whitespace or control characters.
    #[error("function address {given:?} contains whitespace or control characters")]
    Whitespace {
        /// The input (shortened if long).
        given: String,
    },
    /// An `organizationId/root` other than the function-address scheme.
    #[error(
        "function address root {root:?} is wrong: expected \
         urn:riv:infrastructure:messaging:functionalAddress"
    )]
    WrongRoot {
        /// The root given (shortened if long).
        root: String,
    },
}

impl FunctionAddress {
    /// The `organizationId/root` of function addresses.
    pub const SCHEME: &'static str = "urn:riv:infrastructure:messaging:functionalAddress";

    /// Parses a bare identifier (the `extension`, or XHE `HandlingServiceID`).
    pub fn parse(input: &str) -> Result<Self, FunctionAddressError> {
        if input.is_empty() {
            return Err(FunctionAddressError::Empty);
        }
        let len = input.chars().count();
        if len > MAX_LEN {
            return Err(FunctionAddressError::TooLong { len });
        }
        if has_space_or_control(input) {
            return Err(FunctionAddressError::Whitespace {
                given: excerpt(input),
            });
        }
        Ok(Self {
            value: input.to_owned(),
        })
    }

    /// Builds from an SDK message `organizationId` (`root`, `extension`); the root must be the
    /// function-address scheme, compared exactly (as the MessageConstraints schematron does).
    pub fn from_parts(root: &str, extension: &str) -> Result<Self, FunctionAddressError> {
        if root != Self::SCHEME {
            return Err(FunctionAddressError::WrongRoot {
                root: excerpt(root),
            });
        }
        Self::parse(extension)
    }

    /// Always `urn:riv:infrastructure:messaging:functionalAddress`.
    pub fn scheme(&self) -> &'static str {
        Self::SCHEME
    }

    /// The identifier.
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

text_identifier!(FunctionAddress, FunctionAddressError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_address_book_ids_exactly() {
        let fa: FunctionAddress = "SE2321000016-A1b2".parse().unwrap();
        assert_eq!(fa.as_str(), "SE2321000016-A1b2");
        assert_ne!(fa, "se2321000016-a1b2".parse().unwrap());
        assert_eq!(
            fa.scheme(),
            "urn:riv:infrastructure:messaging:functionalAddress"
        );
    }

    #[test]
    fn from_parts_requires_the_function_address_root() {
        let ok = FunctionAddress::from_parts(FunctionAddress::SCHEME, "SE1-x").unwrap();
        assert_eq!(ok.to_string(), "SE1-x");
        assert!(matches!(
            FunctionAddress::from_parts("1.2.752.29.6.2.1", "SE1-x"),
            Err(FunctionAddressError::WrongRoot { .. })
        ));
    }

    #[test]
    fn rejects_empty_blank_and_long_values() {
        assert_eq!(FunctionAddress::parse(""), Err(FunctionAddressError::Empty));
        assert!(matches!(
            FunctionAddress::parse(" "),
            Err(FunctionAddressError::Whitespace { .. })
        ));
        assert!(matches!(
            FunctionAddress::parse(&"x".repeat(257)),
            Err(FunctionAddressError::TooLong { len: 257 })
        ));
        let json = serde_json::to_string(&FunctionAddress::parse("SE1-x").unwrap()).unwrap();
        assert_eq!(json, "\"SE1-x\"");
    }
}
