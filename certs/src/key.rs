//! Private keys. The gateway signs and decrypts with RSA only (DIGG issues RSA 3072 keys); any
//! other key type is refused at load time with a clear message rather than failing later.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, PrivateDecryptingKey};
use aws_lc_rs::signature::KeyPair as _;
use zeroize::Zeroizing;

use crate::certificate::Certificate;
use crate::error::CertError;

/// An RSA private key. `Debug` never prints key material.
pub struct PrivateKey {
    pkcs8: Zeroizing<Vec<u8>>,
    rsa: RsaKeyPair,
}

impl PrivateKey {
    /// Parses an unencrypted PKCS#8 PrivateKeyInfo (PEM label `PRIVATE KEY`).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, CertError> {
        let rsa = RsaKeyPair::from_pkcs8(der).map_err(|e| {
            CertError::Key(format!(
                "not an RSA PKCS#8 private key ({e}); only RSA keys are supported"
            ))
        })?;
        Ok(PrivateKey {
            pkcs8: Zeroizing::new(der.to_vec()),
            rsa,
        })
    }

    /// Parses a PKCS#1 RSAPrivateKey (PEM label `RSA PRIVATE KEY`).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, CertError> {
        let rsa = RsaKeyPair::from_der(der)
            .map_err(|e| CertError::Key(format!("not a PKCS#1 RSA private key ({e})")))?;
        let pkcs8 = rsa
            .as_der()
            .map_err(|_| CertError::Key("cannot re-encode the RSA key as PKCS#8".into()))?;
        Ok(PrivateKey {
            pkcs8: Zeroizing::new(pkcs8.as_ref().to_vec()),
            rsa,
        })
    }

    /// The key as PKCS#8 DER (for rustls and for re-export by the dev PKI).
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The RSA key pair, for signing (`sign` / `sign_digest`).
    pub fn rsa(&self) -> &RsaKeyPair {
        &self.rsa
    }

    /// A decryption handle for RSA-OAEP / PKCS#1 v1.5 key transport.
    pub fn decrypting_key(&self) -> Result<PrivateDecryptingKey, CertError> {
        PrivateDecryptingKey::from_pkcs8(&self.pkcs8)
            .map_err(|e| CertError::Key(format!("key cannot be used for decryption: {e}")))
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.rsa.public_modulus_len() * 8
    }

    /// The PKCS#1 RSAPublicKey DER of this key.
    pub fn public_key_der(&self) -> &[u8] {
        self.rsa.public_key().as_ref()
    }

    /// Whether `cert` carries this key's public key.
    pub fn matches(&self, cert: &Certificate) -> bool {
        cert.public_key_der() == self.public_key_der()
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey(RSA {} bits)", self.bits())
    }
}
