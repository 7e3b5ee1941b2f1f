//! The one decryption error.
//!
//! Whatever went wrong while decrypting (RSA-OAEP unwrap, wrong key length, CBC padding, GCM
//! tag, truncated or malformed ciphertext, unparsable plaintext), callers get the same
//! [`DecryptionFailed`] value: no padding oracle, no Bleichenbacher oracle. The reason is kept
//! for the local log only ([`DecryptionFailed::log_reason`]); neither `Display` nor `Debug`
//! shows it, so it cannot leak into a peer-facing message by accident.

use std::fmt;

/// What actually failed, for local logs only.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureReason {
    KeyUnwrap,
    KeyLength,
    CiphertextLength,
    Padding,
    AuthenticationTag,
    Plaintext,
    NoMatchingKey,
    Structure,
}

impl FailureReason {
    fn as_str(self) -> &'static str {
        match self {
            FailureReason::KeyUnwrap => "RSA-OAEP key unwrap failed",
            FailureReason::KeyLength => "unwrapped key has the wrong length",
            FailureReason::CiphertextLength => "ciphertext is truncated or not block aligned",
            FailureReason::Padding => "invalid CBC padding",
            FailureReason::AuthenticationTag => "GCM authentication tag mismatch",
            FailureReason::Plaintext => "decrypted plaintext is not acceptable XML",
            FailureReason::NoMatchingKey => "no private key matches the EncryptedKey",
            FailureReason::Structure => "EncryptedData/EncryptedKey structure is malformed",
        }
    }
}

/// Decryption failed. Deliberately uninformative; see the module documentation.
#[derive(Clone)]
pub struct DecryptionFailed {
    reason: FailureReason,
}

impl DecryptionFailed {
    pub(crate) fn new(reason: FailureReason) -> Self {
        DecryptionFailed { reason }
    }

    /// The internal cause, for the gateway's own log. Never send this to a peer.
    pub fn log_reason(&self) -> &'static str {
        self.reason.as_str()
    }
}

impl fmt::Display for DecryptionFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("decryption failed")
    }
}

impl fmt::Debug for DecryptionFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DecryptionFailed")
    }
}

impl std::error::Error for DecryptionFailed {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_debug_never_reveal_the_reason() {
        let pad = DecryptionFailed::new(FailureReason::Padding);
        let rsa = DecryptionFailed::new(FailureReason::KeyUnwrap);
        assert_eq!(pad.to_string(), rsa.to_string());
        assert_eq!(format!("{pad:?}"), format!("{rsa:?}"));
        assert_ne!(pad.log_reason(), rsa.log_reason());
    }
}
