//! PEM decoding of certificates and private keys.

use crate::certificate::Certificate;
use crate::error::CertError;
use crate::key::PrivateKey;

/// Every `CERTIFICATE` block in `text`, in order. Other blocks are ignored.
pub fn certificates_from_pem(text: &[u8]) -> Result<Vec<Certificate>, CertError> {
    let blocks = pem::parse_many(text).map_err(|e| CertError::Format(format!("bad PEM: {e}")))?;
    blocks
        .iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| Certificate::from_der(b.contents()))
        .collect()
}

/// The first private key block in `text` (`PRIVATE KEY` or `RSA PRIVATE KEY`).
/// `ENCRYPTED PRIVATE KEY` is refused with a hint, since passwords belong to PKCS#12 files.
pub fn private_key_from_pem(text: &[u8]) -> Result<PrivateKey, CertError> {
    let blocks = pem::parse_many(text).map_err(|e| CertError::Format(format!("bad PEM: {e}")))?;
    for b in &blocks {
        match b.tag() {
            "PRIVATE KEY" => return PrivateKey::from_pkcs8_der(b.contents()),
            "RSA PRIVATE KEY" => return PrivateKey::from_pkcs1_der(b.contents()),
            "ENCRYPTED PRIVATE KEY" => {
                return Err(CertError::Key(
                    "encrypted PEM keys are not supported: use an unencrypted PEM key with \
                     restrictive file permissions, or a PKCS#12 file with a password"
                        .into(),
                ));
            }
            _ => {}
        }
    }
    Err(CertError::Format("no PRIVATE KEY block found".into()))
}
