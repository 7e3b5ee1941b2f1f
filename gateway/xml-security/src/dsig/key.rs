//! Verification keys and where they come from. The signature's `KeyInfo` is read by a
//! [`KeyResolver`]: [`EmbeddedCertificate`] for `X509Data/X509Certificate` (XHE, SMP), or a
//! caller's own for WS-Security (`SecurityTokenReference` → `BinarySecurityToken`).

use sdkgw_certs::Certificate;

use super::algorithm::DSIG_NS;
use super::error::InvalidReason;
use super::model::base64_content;
use crate::xml::{Document, ElementRef};

/// The public key a signature is checked with, and the certificate it came from (which the
/// caller then validates for its trust role).
#[derive(Clone, Debug)]
pub struct VerificationKey {
    certificate: Certificate,
}

impl VerificationKey {
    /// The key of `certificate`; only RSA keys are usable.
    pub fn from_certificate(certificate: Certificate) -> Self {
        VerificationKey { certificate }
    }

    /// The signer's certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }
}

/// Turns a Signature's `KeyInfo` into a key. Implementations must read only the tree they
/// are given (no network, no files).
pub trait KeyResolver {
    /// The key for the signature whose `KeyInfo` is `key_info` (`None` when absent).
    fn resolve(
        &self,
        doc: &Document,
        key_info: Option<ElementRef<'_>>,
    ) -> Result<VerificationKey, InvalidReason>;
}

/// `KeyInfo/X509Data/X509Certificate`: exactly one certificate; other X509Data children
/// (`X509SubjectName`, `X509IssuerSerial`) are tolerated and ignored, anything else in
/// KeyInfo (`KeyValue`, `RetrievalMethod`, ...) is refused.
#[derive(Clone, Copy, Debug, Default)]
pub struct EmbeddedCertificate;

impl KeyResolver for EmbeddedCertificate {
    fn resolve(
        &self,
        _doc: &Document,
        key_info: Option<ElementRef<'_>>,
    ) -> Result<VerificationKey, InvalidReason> {
        let key_info = key_info.ok_or_else(|| InvalidReason::Key("no KeyInfo".into()))?;
        let mut certs = Vec::new();
        for child in key_info.child_elements() {
            if !child.is(Some(DSIG_NS), "X509Data") {
                return Err(InvalidReason::Key(format!(
                    "KeyInfo child {} not accepted",
                    child.local_name()
                )));
            }
            for item in child.child_elements() {
                match (item.namespace(), item.local_name()) {
                    (Some(DSIG_NS), "X509Certificate") => certs.push(item),
                    (Some(DSIG_NS), "X509SubjectName" | "X509IssuerSerial" | "X509SKI") => {}
                    _ => {
                        return Err(InvalidReason::Key(format!(
                            "X509Data child {} not accepted",
                            item.local_name()
                        )));
                    }
                }
            }
        }
        let [cert] = certs.as_slice() else {
            return Err(InvalidReason::Key(format!(
                "{} X509Certificate elements, expected one",
                certs.len()
            )));
        };
        let der = base64_content(*cert, "X509Certificate")
            .map_err(|_| InvalidReason::Base64("X509Certificate"))?;
        let certificate =
            Certificate::from_der(&der).map_err(|e| InvalidReason::Key(e.to_string()))?;
        Ok(VerificationKey::from_certificate(certificate))
    }
}

/// Ignores KeyInfo and verifies with a certificate the caller already has (e.g. the one
/// published in SMP/CertPub).
#[derive(Clone, Debug)]
pub struct KnownCertificate(pub Certificate);

impl KeyResolver for KnownCertificate {
    fn resolve(
        &self,
        _doc: &Document,
        _key_info: Option<ElementRef<'_>>,
    ) -> Result<VerificationKey, InvalidReason> {
        Ok(VerificationKey::from_certificate(self.0.clone()))
    }
}
