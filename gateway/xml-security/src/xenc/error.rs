//! Errors of XML encryption and decryption.

use crate::crypto::{AlgorithmError, DecryptionFailed, EncryptError, WrapError};
use crate::xml::EditError;

/// Why an XML-Enc operation failed.
///
/// On the decryption side only three variants occur: [`XencError::Algorithm`] (an algorithm
/// that is unknown or not allowed — visible in the clear, `EBMS:0103`),
/// [`XencError::NothingEncrypted`], and the uniform [`XencError::Decryption`] for everything
/// else (structure, key selection, unwrap, padding, tag, plaintext).
#[derive(Debug, thiserror::Error)]
pub enum XencError {
    #[error(transparent)]
    Algorithm(#[from] AlgorithmError),
    #[error(transparent)]
    Decryption(#[from] DecryptionFailed),
    #[error("the document contains no EncryptedData")]
    NothingEncrypted,
    /// The ciphertext is a `CipherReference` (e.g. an AS4 attachment): decrypt it with
    /// [`crate::crypto::gcm_stream`] after reading the EncryptedData with [`super::read_encrypted_data`].
    #[error("EncryptedData refers to external ciphertext (CipherReference); not handled here")]
    CipherReference,
    #[error("cannot encrypt: {0}")]
    Encrypt(#[from] EncryptError),
    #[error("cannot wrap the content key: {0}")]
    Wrap(#[from] WrapError),
    #[error("cannot splice the document: {0}")]
    Edit(#[from] EditError),
}
