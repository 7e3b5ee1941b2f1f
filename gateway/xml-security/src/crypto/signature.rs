//! RSA PKCS#1 v1.5 signatures for `ds:SignatureMethod`.
//!
//! Signing is SHA-2 only. Verification accepts SHA-1 as well, but whether SHA-1 may be used is
//! the caller's [`AlgorithmPolicy`](super::AlgorithmPolicy) decision, checked before calling
//! here. Keys below 2048 bits are refused (aws-lc-rs's bounds: 2048..=8192).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, UnparsedPublicKey};
use sdkgw_certs::{Certificate, KeyAlgorithm, PrivateKey};

use super::algorithm::SignatureMethod;

/// Why a signature could not be made or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signer's key is not an RSA key (XML-DSig here is RSA only).
    #[error("the signing key is {0}, not RSA")]
    NotRsa(String),
    /// The key is RSA but unusable (e.g. fewer than 2048 bits).
    #[error("the RSA key is not acceptable ({0} bits; 2048 to 8192 required)")]
    KeyRejected(usize),
    /// The signature value does not match the message under this key.
    #[error("signature value does not verify")]
    Invalid,
    /// Signing with this method is not offered (SHA-1).
    #[error("signing with {0} is not supported")]
    SigningUnsupported(SignatureMethod),
    /// The crypto library refused to sign (should not happen with a loaded key).
    #[error("RSA signing failed")]
    SigningFailed,
}

impl SignatureMethod {
    fn verification(self) -> &'static signature::RsaParameters {
        match self {
            SignatureMethod::RsaSha1 => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            SignatureMethod::RsaSha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            SignatureMethod::RsaSha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            SignatureMethod::RsaSha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        }
    }

    /// Signs `message` (e.g. the canonical SignedInfo) with `key`.
    pub fn sign(self, key: &PrivateKey, message: &[u8]) -> Result<Vec<u8>, SignatureError> {
        let encoding: &'static dyn signature::RsaEncoding = match self {
            SignatureMethod::RsaSha1 => return Err(SignatureError::SigningUnsupported(self)),
            SignatureMethod::RsaSha256 => &signature::RSA_PKCS1_SHA256,
            SignatureMethod::RsaSha384 => &signature::RSA_PKCS1_SHA384,
            SignatureMethod::RsaSha512 => &signature::RSA_PKCS1_SHA512,
        };
        let rsa = key.rsa();
        let mut sig = vec![0u8; rsa.public_modulus_len()];
        rsa.sign(encoding, &SystemRandom::new(), message, &mut sig)
            .map_err(|_| SignatureError::SigningFailed)?;
        Ok(sig)
    }

    /// Verifies `signature` over `message` with the public key of `signer`.
    pub fn verify(
        self,
        signer: &Certificate,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        let bits = match signer.key_algorithm() {
            KeyAlgorithm::Rsa { bits } => *bits,
            other => return Err(SignatureError::NotRsa(other.to_string())),
        };
        if !(2048..=8192).contains(&bits) {
            return Err(SignatureError::KeyRejected(bits));
        }
        self.verify_pkcs1(signer.public_key_der(), message, signature)
    }

    /// Verifies with a PKCS#1 `RSAPublicKey` DER (or SubjectPublicKeyInfo).
    pub fn verify_pkcs1(
        self,
        public_key_der: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        UnparsedPublicKey::new(self.verification(), public_key_der)
            .verify(message, signature)
            .map_err(|_| SignatureError::Invalid)
    }
}
