//! WS-Security 1.1 as the eDelivery AS4 profile uses it (X.509 token profile, SwA profile):
//!
//! * [`token`]: `wsse:BinarySecurityToken`, `wsse:SecurityTokenReference` (direct reference,
//!   SubjectKeyIdentifier, IssuerSerial) and the key resolver built on them; `wsu:Timestamp`.
//! * [`seal`]: outbound — sign (exclusive C14N, rsa-sha256, sha256; `eb:Messaging`, Body,
//!   Timestamp, every attachment through the Attachment-Content-Signature-Transform), then
//!   encrypt every attachment (aes128-gcm, key transported with rsa-oaep/MGF1-SHA256/SHA-256,
//!   `EncryptedData` of type Attachment-Content-Only with a `CipherReference`).
//! * [`open`]: inbound — authenticate the signer certificate, decrypt, verify with exact
//!   coverage, check the timestamp.
//! * [`signal`]: signing and verifying signal messages (receipts).
//!
//! Streams: attachments are read from and written to files; nothing here holds a payload in
//! memory. Errors carry the ebMS code to send and, separately, a reason for local logs only.

pub mod open;
pub mod seal;
pub mod signal;
pub mod token;

use crate::ebms::ErrorCode;

/// `wsse` (WS-Security 1.0 secext).
pub const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
/// `wsse11` (WS-Security 1.1 secext).
pub const WSSE11_NS: &str = "http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd";
/// `wsu`.
pub use sdkgw_xml_security::xml::WSU_NS;
/// BinarySecurityToken ValueType of an X.509 v3 certificate.
pub const X509V3: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3";
/// EncodingType base64.
pub const BASE64_BINARY: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";
/// KeyIdentifier ValueType of a SubjectKeyIdentifier.
pub const X509_SKI: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509SubjectKeyIdentifier";
/// TokenType of a reference to an EncryptedKey.
pub const ENCRYPTED_KEY_TOKEN: &str =
    "http://docs.oasis-open.org/wss/oasis-wss-soap-message-security-1.1#EncryptedKey";
/// EncryptedData Type of an encrypted attachment body (MIME headers stay clear).
pub const SWA_CONTENT_ONLY: &str =
    "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Only";
/// The CipherReference transform of SwA ciphertext.
pub const SWA_CIPHERTEXT_TRANSFORM: &str =
    "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Ciphertext-Transform";

/// A WS-Security processing failure: the ebMS code a peer gets, and the precise reason that
/// only goes to our logs (DESIGN §4: peers never learn which cryptographic step failed).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {reason}")]
pub struct WssError {
    pub code: ErrorCode,
    pub reason: String,
}

impl WssError {
    pub fn new(code: ErrorCode, reason: impl Into<String>) -> Self {
        WssError {
            code,
            reason: reason.into(),
        }
    }
    pub(crate) fn auth(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::FailedAuthentication, reason)
    }
    pub(crate) fn policy(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::PolicyNoncompliance, reason)
    }
    pub(crate) fn decryption(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::FailedDecryption, reason)
    }
    /// The generic text a peer may see.
    pub fn public_text(&self) -> &'static str {
        match self.code {
            ErrorCode::FailedAuthentication => "the message could not be authenticated",
            ErrorCode::FailedDecryption => "the message could not be decrypted",
            ErrorCode::PolicyNoncompliance => {
                "the message does not comply with the security policy of the eDelivery AS4 profile"
            }
            _ => "WS-Security processing failed",
        }
    }
}

/// Maps a signature verification failure: policy (shape, algorithms, coverage) → `EBMS:0103`,
/// invalid signature or digest → `EBMS:0101`.
pub(crate) fn from_verify(e: &sdkgw_xml_security::dsig::VerifyError) -> WssError {
    use sdkgw_xml_security::dsig::VerifyError;
    match e {
        VerifyError::Policy(_) => WssError::policy(e.reason()),
        VerifyError::Invalid(_) => WssError::auth(e.reason()),
    }
}
