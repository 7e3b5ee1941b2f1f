//! Key material for sdk-gateway.
//!
//! What it does: loads private keys and certificates from PEM, DER and PKCS#12 (including the
//! legacy RC2/3DES encryptions of DIGG's truststores), with passwords from a file or an
//! environment variable only ([`PasswordSource`]); describes certificates for operators
//! ([`CertificateReport`]); and generates the development PKI that mirrors DIGG's hierarchy
//! ([`devpki`]).
//!
//! What it does not: decide whether a certificate is trusted for a role (path validation and
//! revocation live in `sdkgw-xml-security`), or read configuration files.
#![forbid(unsafe_code)]

mod certificate;
mod crl;
pub mod devpki;
mod error;
mod inspect;
mod key;
mod load;
mod password;
mod pem_file;

pub use certificate::{BasicConstraints, Certificate, KeyAlgorithm, KeyUsage, eku};
pub use crl::CrlInfo;
pub use error::CertError;
pub use inspect::{CertificateReport, eku_name, rfc3339};
pub use key::PrivateKey;
pub use load::{
    FileFormat, KeyMaterial, KeyPairWithChain, decode, load_certificates, load_file, load_key_pair,
    load_private_key,
};
pub use password::PasswordSource;
pub use pem_file::{certificates_from_pem, private_key_from_pem};
