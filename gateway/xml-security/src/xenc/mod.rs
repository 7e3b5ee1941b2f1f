//! W3C XML Encryption 1.0/1.1 of elements and element content.
//!
//! * [`encrypt_element`]: replaces an element (or, with `content_only`, its content) by an
//!   `xenc:EncryptedData` whose `ds:KeyInfo` embeds the `xenc:EncryptedKey` with the
//!   recipient certificate — the XHE layout of envelope digest §2.4 (aes256-cbc +
//!   rsa-oaep-mgf1p with [`EncryptOptions::xhe`]; any algorithm of [`crate::crypto`]).
//! * [`encrypted_key_xml`] / [`encrypted_data_xml`] / [`encrypt_element_detached`]: the
//!   WS-Security layout, a detached EncryptedKey with a ReferenceList.
//! * [`decrypt_document`]: decrypts every EncryptedData, selecting our key by the
//!   EncryptedKey's certificate (rollover), checking algorithms against an
//!   [`AlgorithmPolicy`](crate::crypto::AlgorithmPolicy) first, parsing decrypted content in
//!   the namespace context of its parent. Every failure is one uniform error.
//! * [`decrypt_element`]: the same for one EncryptedData, returning the plaintext bytes
//!   unparsed (the envelope layer judges the payload itself).
//! * [`read_encrypted_data`] / [`read_encrypted_key`]: the parsed structures, for callers
//!   that decrypt external ciphertext (AS4 attachments) themselves.
//!
//! `InstanceEncryptionIndicator` and the rule "decrypt only after the signature verified"
//! belong to the envelope layer.

mod decrypt;
mod encrypt;
mod error;
mod model;

pub use decrypt::{Decrypted, DecryptedItem, RecipientKey, decrypt_document, decrypt_element};
pub use encrypt::{
    EncryptOptions, RecipientInfo, encrypt_element, encrypt_element_detached, encrypted_data_xml,
    encrypted_key_xml,
};
pub use error::XencError;
pub use model::{
    CipherSource, EncryptedData, EncryptedKey, EncryptedType, TYPE_CONTENT, TYPE_ELEMENT,
};

use crate::xml::ElementRef;

/// `http://www.w3.org/2001/04/xmlenc#`
pub const XENC_NS: &str = "http://www.w3.org/2001/04/xmlenc#";
/// `http://www.w3.org/2009/xmlenc11#`
pub const XENC11_NS: &str = "http://www.w3.org/2009/xmlenc11#";
/// `http://www.w3.org/2000/09/xmldsig#`
pub const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// Reads an `xenc:EncryptedData` element (no decryption).
pub fn read_encrypted_data(e: ElementRef<'_>) -> Result<EncryptedData, XencError> {
    Ok(EncryptedData::read(e)?)
}

/// Reads an `xenc:EncryptedKey` element (no decryption).
pub fn read_encrypted_key(e: ElementRef<'_>) -> Result<EncryptedKey, XencError> {
    Ok(EncryptedKey::read(e)?)
}
