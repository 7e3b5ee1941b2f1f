//! Verifying the signature an issuer put on a certificate or CRL, dispatched on the
//! signatureAlgorithm OID: RSA PKCS#1 v1.5 with SHA-256/384/512 (DIGG's SITHS CAs sign with
//! sha512WithRSA) and ECDSA with SHA-256/384 on P-256/P-384. SHA-1 and RSA keys below 2048 bits
//! are refused.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use sdkgw_certs::{Certificate, KeyAlgorithm};

const SHA256_RSA: &str = "1.2.840.113549.1.1.11";
const SHA384_RSA: &str = "1.2.840.113549.1.1.12";
const SHA512_RSA: &str = "1.2.840.113549.1.1.13";
const SHA1_RSA: &str = "1.2.840.113549.1.1.5";
const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
const P256: &str = "1.2.840.10045.3.1.7";
const P384: &str = "1.3.132.0.34";

/// Why an issuer's signature could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SignedError {
    /// The algorithm (OID or display name) is not accepted.
    Algorithm(String),
    /// The issuer key is unsuitable (too small, unknown curve, mismatched type).
    Key(String),
    /// The signature does not verify.
    Invalid,
}

/// Human name of a signature OID, for messages.
pub(crate) fn algorithm_name(oid: &str) -> String {
    match oid {
        SHA256_RSA => "sha256WithRSAEncryption".into(),
        SHA384_RSA => "sha384WithRSAEncryption".into(),
        SHA512_RSA => "sha512WithRSAEncryption".into(),
        SHA1_RSA => "sha1WithRSAEncryption".into(),
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption".into(),
        "1.2.840.113549.1.1.10" => "RSASSA-PSS".into(),
        ECDSA_SHA256 => "ecdsa-with-SHA256".into(),
        ECDSA_SHA384 => "ecdsa-with-SHA384".into(),
        other => other.to_owned(),
    }
}

/// Checks that `issuer`'s key is one we accept for any signature (also used for leaves).
pub(crate) fn check_key(cert: &Certificate) -> Result<(), String> {
    match cert.key_algorithm() {
        KeyAlgorithm::Rsa { bits } if (2048..=8192).contains(bits) => Ok(()),
        KeyAlgorithm::Rsa { bits } => Err(format!("RSA {bits} bits (2048 to 8192 required)")),
        KeyAlgorithm::Ec { curve } if curve == P256 || curve == P384 => Ok(()),
        other => Err(format!("{other} (RSA or EC P-256/P-384 required)")),
    }
}

/// Verifies `signature` over `tbs` by `issuer` with the algorithm `oid`.
pub(crate) fn verify(
    tbs: &[u8],
    oid: &str,
    signature_value: &[u8],
    issuer: &Certificate,
) -> Result<(), SignedError> {
    check_key(issuer).map_err(SignedError::Key)?;
    let alg: &'static dyn VerificationAlgorithm = match (oid, issuer.key_algorithm()) {
        (SHA256_RSA, KeyAlgorithm::Rsa { .. }) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (SHA384_RSA, KeyAlgorithm::Rsa { .. }) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (SHA512_RSA, KeyAlgorithm::Rsa { .. }) => &signature::RSA_PKCS1_2048_8192_SHA512,
        (ECDSA_SHA256, KeyAlgorithm::Ec { curve }) if curve == P256 => {
            &signature::ECDSA_P256_SHA256_ASN1
        }
        (ECDSA_SHA256, KeyAlgorithm::Ec { .. }) => &signature::ECDSA_P384_SHA256_ASN1,
        (ECDSA_SHA384, KeyAlgorithm::Ec { curve }) if curve == P256 => {
            &signature::ECDSA_P256_SHA384_ASN1
        }
        (ECDSA_SHA384, KeyAlgorithm::Ec { .. }) => &signature::ECDSA_P384_SHA384_ASN1,
        (SHA256_RSA | SHA384_RSA | SHA512_RSA | ECDSA_SHA256 | ECDSA_SHA384, key) => {
            return Err(SignedError::Key(format!(
                "{} cannot be verified with an {key} key",
                algorithm_name(oid)
            )));
        }
        (other, _) => return Err(SignedError::Algorithm(algorithm_name(other))),
    };
    UnparsedPublicKey::new(alg, issuer.public_key_der())
        .verify(tbs, signature_value)
        .map_err(|_| SignedError::Invalid)
}
