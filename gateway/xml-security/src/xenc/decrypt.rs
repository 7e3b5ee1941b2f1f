//! Decrypting every `EncryptedData` of a document.
//!
//! For each EncryptedData the content key comes from its embedded EncryptedKey, from an
//! EncryptedKey its KeyInfo points to (`URI="#id"`), or from a detached EncryptedKey whose
//! ReferenceList names it. The private key is chosen by matching the EncryptedKey's
//! certificate (or X509SKI) against the recipient keys, so several keys can be active during a
//! rollover; with no identifier each key is tried.
//!
//! Any failure after the algorithms are known is the one [`DecryptionFailed`]. When the RSA
//! unwrap fails, decryption continues with a random key and fails later, so the work done —
//! and the time taken — does not depend on where it failed.

use sdkgw_certs::Certificate;
use zeroize::Zeroizing;

use super::XENC_NS;
use super::error::XencError;
use super::model::{CipherSource, EncryptedData, EncryptedKey, EncryptedType, ReadError};
use crate::crypto::{
    AlgorithmPolicy, ContentKey, DataEncryption, DecryptionFailed, DecryptionKey, FailureReason,
};
use crate::xml::{Document, Edit, ElementRef, Fragment, ParseOptions, apply_edits};

/// One private key of ours (prepared once, see [`DecryptionKey`]), with its certificate when
/// known (to match EncryptedKeys; without it the key is matched by public key).
#[derive(Debug, Clone, Copy)]
pub struct RecipientKey<'a> {
    pub key: &'a DecryptionKey,
    pub cert: Option<&'a Certificate>,
}

/// What was decrypted.
#[derive(Debug, Clone)]
pub struct DecryptedItem {
    pub kind: EncryptedType,
    pub data: DataEncryption,
    pub key_transport: crate::crypto::KeyTransport,
    /// The certificate named in the EncryptedKey, if any.
    pub recipient: Option<Certificate>,
}

/// A document with its EncryptedData replaced by the plaintext.
#[derive(Debug)]
pub struct Decrypted {
    pub document: Document,
    pub items: Vec<DecryptedItem>,
}

fn failed(reason: FailureReason) -> XencError {
    XencError::Decryption(DecryptionFailed::new(reason))
}

impl From<ReadError> for XencError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Algorithm(a) => XencError::Algorithm(a),
            ReadError::Failed(d) => XencError::Decryption(d),
        }
    }
}

/// Decrypts every `xenc:EncryptedData` (with an inline CipherValue, of type `#Element` or
/// `#Content`) in `doc`, checking every algorithm against `policy` first. Returns the new
/// document, parsed again with `options`.
pub fn decrypt_document(
    doc: &Document,
    keys: &[RecipientKey<'_>],
    policy: &AlgorithmPolicy,
    options: &ParseOptions,
) -> Result<Decrypted, XencError> {
    let targets: Vec<ElementRef<'_>> = doc
        .elements()
        .filter(|e| e.is(Some(XENC_NS), "EncryptedData"))
        // Nested EncryptedData come back with their parent's plaintext; decrypt the outer one.
        .filter(|e| !e.ancestors().any(|a| a.is(Some(XENC_NS), "EncryptedData")))
        .collect();
    if targets.is_empty() {
        return Err(XencError::NothingEncrypted);
    }
    // Read everything and check algorithms before any private-key operation.
    let mut plans = Vec::with_capacity(targets.len());
    for element in targets {
        let data = EncryptedData::read(element)?;
        policy.check_data_encryption(data.algorithm)?;
        let ek = find_key(doc, &data)?;
        policy.check_key_transport(ek.key_transport)?;
        plans.push((element, data, ek));
    }
    let mut edits = Vec::with_capacity(plans.len());
    let mut items = Vec::with_capacity(plans.len());
    for (element, mut data, ek) in plans {
        let cipher = std::mem::replace(&mut data.cipher, CipherSource::Value(Vec::new()));
        let plaintext = decrypt_one(data.algorithm, cipher, &ek, keys)?;
        let replacement = checked_plaintext(element, &data, plaintext, options)?;
        edits.push(Edit::replace_element(element, replacement));
        items.push(DecryptedItem {
            kind: data.kind,
            data: data.algorithm,
            key_transport: ek.key_transport,
            recipient: ek.recipient,
        });
    }
    let bytes = apply_edits(doc.bytes(), edits)?;
    // The result must be a sound document again; anything else is the uniform failure.
    let document = Document::parse(bytes, options).map_err(|_| failed(FailureReason::Plaintext))?;
    Ok(Decrypted { document, items })
}

/// The EncryptedKey for `data`: embedded, referenced from KeyInfo, or naming it in a
/// ReferenceList.
fn find_key(doc: &Document, data: &EncryptedData) -> Result<EncryptedKey, XencError> {
    if let Some(k) = &data.embedded_key {
        return Ok(k.clone());
    }
    for id in &data.key_references {
        if let Ok(Some(e)) = doc.element_by_id(id)
            && e.is(Some(XENC_NS), "EncryptedKey")
        {
            return Ok(EncryptedKey::read(e)?);
        }
    }
    if let Some(id) = &data.id {
        for e in doc
            .elements()
            .filter(|e| e.is(Some(XENC_NS), "EncryptedKey"))
        {
            let ek = EncryptedKey::read(e)?;
            if ek.data_references.iter().any(|r| r == id) {
                return Ok(ek);
            }
        }
    }
    Err(failed(FailureReason::Structure))
}

/// The private keys to try for `ek`, best match first.
fn candidates<'k>(ek: &EncryptedKey, keys: &'k [RecipientKey<'k>]) -> Vec<&'k DecryptionKey> {
    if let Some(named) = &ek.recipient {
        return keys
            .iter()
            .filter(|k| k.cert == Some(named) || k.key.matches(named))
            .map(|k| k.key)
            .take(1)
            .collect();
    }
    if let Some(ski) = &ek.recipient_ski {
        return keys
            .iter()
            .filter(|k| k.cert.and_then(|c| c.subject_key_id()) == Some(ski.as_slice()))
            .map(|k| k.key)
            .take(1)
            .collect();
    }
    keys.iter().map(|k| k.key).collect()
}

fn decrypt_one(
    algorithm: DataEncryption,
    cipher: CipherSource,
    ek: &EncryptedKey,
    keys: &[RecipientKey<'_>],
) -> Result<Zeroizing<Vec<u8>>, XencError> {
    let CipherSource::Value(ciphertext) = cipher else {
        return Err(XencError::CipherReference);
    };
    let candidates = candidates(ek, keys);
    let label = ek.oaep_label.as_deref();
    let unwrapped = candidates.iter().find_map(|key| {
        ek.key_transport
            .unwrap_with(key, &ek.wrapped, algorithm, label)
            .ok()
    });
    match unwrapped {
        Some(key) => key.decrypt_owned(ciphertext).map_err(XencError::Decryption),
        None => {
            // Same work as a successful unwrap: decrypt with a random key, then fail.
            if let Ok(random) = ContentKey::generate(algorithm) {
                let _ = random.decrypt_owned(ciphertext);
            }
            Err(failed(if candidates.is_empty() {
                FailureReason::NoMatchingKey
            } else {
                FailureReason::KeyUnwrap
            }))
        }
    }
}

/// Decrypts the one `encrypted_data` element of `doc` and returns its plaintext bytes as they
/// are — neither parsed nor spliced — with what was decrypted. For callers that treat the
/// plaintext themselves (the envelope layer: a corrupt payload of an authenticated sender is
/// a receipt matter, not a decryption failure). Key lookup, policy checks, key selection and
/// the uniform failure are those of [`decrypt_document`].
pub fn decrypt_element(
    doc: &Document,
    encrypted_data: ElementRef<'_>,
    keys: &[RecipientKey<'_>],
    policy: &AlgorithmPolicy,
) -> Result<(Zeroizing<Vec<u8>>, DecryptedItem), XencError> {
    let mut data = EncryptedData::read(encrypted_data)?;
    policy.check_data_encryption(data.algorithm)?;
    let ek = find_key(doc, &data)?;
    policy.check_key_transport(ek.key_transport)?;
    let cipher = std::mem::replace(&mut data.cipher, CipherSource::Value(Vec::new()));
    let plaintext = decrypt_one(data.algorithm, cipher, &ek, keys)?;
    Ok((
        plaintext,
        DecryptedItem {
            kind: data.kind,
            data: data.algorithm,
            key_transport: ek.key_transport,
            recipient: ek.recipient,
        },
    ))
}

/// Checks that the plaintext parses where it will stand (namespaces of the EncryptedData's
/// parent in scope) and returns the replacement bytes.
fn checked_plaintext(
    element: ElementRef<'_>,
    data: &EncryptedData,
    mut plaintext: Zeroizing<Vec<u8>>,
    options: &ParseOptions,
) -> Result<Vec<u8>, XencError> {
    let context = element
        .parent()
        .map(|p| p.in_scope_namespaces())
        .unwrap_or_default();
    // The plaintext becomes part of the (unzeroized) document anyway; move it, do not copy.
    let bytes = std::mem::take(&mut *plaintext);
    let fragment =
        Fragment::parse(bytes, &context, options).map_err(|_| failed(FailureReason::Plaintext))?;
    match data.kind {
        EncryptedType::Element => {
            fragment
                .single_element()
                .map_err(|_| failed(FailureReason::Plaintext))?;
        }
        EncryptedType::Content => {}
        EncryptedType::Other => return Err(failed(FailureReason::Structure)),
    }
    Ok(fragment.bytes().to_vec())
}
