//! RSA-OAEP key transport of content keys (`xenc:EncryptedKey`).

use aws_lc_rs::rsa::{OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PublicEncryptingKey};
use sdkgw_certs::CertError;
use sdkgw_certs::{Certificate, PrivateKey};
use zeroize::Zeroizing;

use super::algorithm::{DataEncryption, KeyTransport};
use super::cipher::ContentKey;
use super::error::{DecryptionFailed, FailureReason};

/// Why a content key could not be wrapped for a recipient.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WrapError {
    /// The recipient certificate's key is not an RSA key of 2048..=8192 bits.
    #[error("the recipient certificate has no usable RSA public key (2048 to 8192 bits)")]
    RecipientKey,
    #[error("RSA-OAEP encryption failed")]
    Encrypt,
}

/// A private key prepared for RSA-OAEP unwrapping. Building it checks the RSA key (as costly
/// as one private-key operation), so a gateway builds it once per key, not per message.
pub struct DecryptionKey {
    oaep: OaepPrivateDecryptingKey,
    public_key_der: Vec<u8>,
}

impl DecryptionKey {
    pub fn new(key: &PrivateKey) -> Result<Self, CertError> {
        let oaep = OaepPrivateDecryptingKey::new(key.decrypting_key()?)
            .map_err(|_| CertError::Key("the RSA key cannot be used for RSA-OAEP".into()))?;
        Ok(DecryptionKey {
            oaep,
            public_key_der: key.public_key_der().to_vec(),
        })
    }

    /// Whether `cert` carries this key's public key.
    pub fn matches(&self, cert: &Certificate) -> bool {
        cert.public_key_der() == self.public_key_der.as_slice()
    }

    /// Modulus size in bytes (the length of every wrapped key for it).
    pub fn modulus_len(&self) -> usize {
        self.oaep.key_size_bytes()
    }
}

impl std::fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DecryptionKey(RSA {} bits)", self.oaep.key_size_bits())
    }
}

impl KeyTransport {
    /// Wraps `key` for the holder of `recipient` (CipherValue of the EncryptedKey).
    /// `label` is the `xenc:OAEPparams` value (None = empty, as both DIGG profiles use).
    pub fn wrap(
        self,
        recipient: &Certificate,
        key: &ContentKey,
        label: Option<&[u8]>,
    ) -> Result<Vec<u8>, WrapError> {
        let public = PublicEncryptingKey::from_der(recipient.spki_der())
            .map_err(|_| WrapError::RecipientKey)?;
        let oaep = OaepPublicEncryptingKey::new(public).map_err(|_| WrapError::RecipientKey)?;
        let mut out = vec![0u8; oaep.ciphertext_size()];
        let len = oaep
            .encrypt(self.oaep(), key.bytes(), &mut out, label)
            .map_err(|_| WrapError::Encrypt)?
            .len();
        out.truncate(len);
        Ok(out)
    }

    /// Unwraps a content key for `algorithm` with a key prepared once ([`DecryptionKey`]).
    /// Every failure — wrong private key, malformed or wrong-length ciphertext, a key of the
    /// wrong size — is the same [`DecryptionFailed`].
    pub fn unwrap_with(
        self,
        key: &DecryptionKey,
        wrapped: &[u8],
        algorithm: DataEncryption,
        label: Option<&[u8]>,
    ) -> Result<ContentKey, DecryptionFailed> {
        let unwrap_failed = || DecryptionFailed::new(FailureReason::KeyUnwrap);
        if wrapped.len() != key.oaep.key_size_bytes() {
            return Err(unwrap_failed());
        }
        let mut out = Zeroizing::new(vec![0u8; key.oaep.min_output_size()]);
        let plain = key
            .oaep
            .decrypt(self.oaep(), wrapped, &mut out, label)
            .map_err(|_| unwrap_failed())?;
        ContentKey::from_bytes(algorithm, plain)
            .map_err(|_| DecryptionFailed::new(FailureReason::KeyLength))
    }

    /// [`unwrap_with`](Self::unwrap_with) preparing the key on the spot (one extra RSA key
    /// check per call; prefer a long-lived [`DecryptionKey`]).
    pub fn unwrap(
        self,
        private: &PrivateKey,
        wrapped: &[u8],
        algorithm: DataEncryption,
        label: Option<&[u8]>,
    ) -> Result<ContentKey, DecryptionFailed> {
        let key = DecryptionKey::new(private)
            .map_err(|_| DecryptionFailed::new(FailureReason::KeyUnwrap))?;
        self.unwrap_with(&key, wrapped, algorithm, label)
    }
}
