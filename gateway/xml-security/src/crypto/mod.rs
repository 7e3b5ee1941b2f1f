//! The cryptographic primitives of XML-DSig and XML-Enc, behind algorithm enums.
//!
//! * [`algorithm`]: every algorithm URI we know as an enum; unknown URIs are
//!   [`AlgorithmError`]s (`EBMS:0103` in AS4). [`AlgorithmPolicy`] says which known ones a
//!   profile (AS4, XHE) allows.
//! * [`DigestMethod::digest`] / [`DigestMethod::hasher`]: SHA-1/2 digests.
//! * [`SignatureMethod::sign`] / [`SignatureMethod::verify`]: RSA PKCS#1 v1.5 (signing SHA-2
//!   only).
//! * [`KeyTransport::wrap`] / [`KeyTransport::unwrap`]: RSA-OAEP (`rsa-oaep-mgf1p`, xmlenc11
//!   `rsa-oaep` with matching digest/MGF1 pairs).
//! * [`ContentKey::encrypt`] / [`ContentKey::decrypt`]: AES-CBC and AES-GCM in XML-Enc layout;
//!   [`gcm_stream`]: AES-GCM over `Read`/`Write` for attachments of any size.
//!
//! Every decryption failure is the single [`DecryptionFailed`] error (no padding or RSA
//! oracle). Everything is aws-lc-rs (streaming GCM reaches aws-lc's GHASH through GMAC).

pub mod algorithm;
mod cipher;
mod digest;
mod error;
pub mod gcm_stream;
mod ghash;
mod key_transport;
mod policy;
mod signature;

pub use algorithm::{
    AlgorithmError, DataEncryption, DigestMethod, KeyTransport, KeyTransportMethod, MaskGeneration,
    SignatureMethod,
};
pub use cipher::{ContentKey, EncryptError};
pub use digest::Hasher;
pub use error::DecryptionFailed;
pub(crate) use error::FailureReason;
pub use key_transport::{DecryptionKey, WrapError};
pub use policy::AlgorithmPolicy;
pub use signature::SignatureError;
