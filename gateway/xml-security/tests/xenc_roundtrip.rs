//! XML-Enc behaviour: round trips for every algorithm pair (byte-exact restoration), content
//! encryption, namespace context, key selection on rollover, the detached WS-Security layout,
//! and the negative corpus — every decryption failure is the same error.

#![allow(clippy::unwrap_used)]

mod support_crypto;

use sdkgw_xml_security::crypto::{
    AlgorithmError, AlgorithmPolicy, ContentKey, DataEncryption, DigestMethod, KeyTransport,
    KeyTransportMethod, MaskGeneration,
};
use sdkgw_xml_security::xenc::{
    EncryptOptions, EncryptedType, RecipientInfo, RecipientKey, TYPE_ELEMENT, XencError,
    decrypt_document, decrypt_element, encrypt_element, encrypt_element_detached,
    encrypted_data_xml, encrypted_key_xml,
};
use sdkgw_xml_security::xml::{Document, Edit, ParseOptions, apply_edits};
use support_crypto::{other_rsa2048, rsa3072};

const XHE_LIKE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<x:XHE xmlns:x="urn:x" xmlns:xha="urn:xha" xmlns:ns6="urn:payload">
  <xha:Payload>
    <InstanceEncryptionIndicator xmlns="urn:b">false</InstanceEncryptionIndicator>
    <xha:PayloadContent>
      <ns6:Message Id="m1"><ns6:label>Kallelse till möte &amp; annat</ns6:label><ns6:body a="1"/></ns6:Message>
    </xha:PayloadContent>
  </xha:Payload>
</x:XHE>
"#;

fn parse(bytes: &[u8]) -> Document {
    Document::parse(bytes.to_vec(), &ParseOptions::default()).unwrap()
}

fn message(doc: &Document) -> sdkgw_xml_security::xml::ElementRef<'_> {
    doc.elements()
        .find(|e| e.local_name() == "Message")
        .unwrap()
}

fn all_pairs() -> Vec<(DataEncryption, KeyTransport)> {
    let mut kts = vec![KeyTransport::RSA_OAEP_MGF1P, KeyTransport::RSA_OAEP_SHA256];
    for (d, m) in [
        (DigestMethod::Sha1, MaskGeneration::Mgf1Sha1),
        (DigestMethod::Sha384, MaskGeneration::Mgf1Sha384),
        (DigestMethod::Sha512, MaskGeneration::Mgf1Sha512),
    ] {
        kts.push(KeyTransport::new(KeyTransportMethod::RsaOaep, d, m).unwrap());
    }
    DataEncryption::ALL
        .iter()
        .flat_map(|d| kts.iter().map(move |k| (*d, *k)))
        .collect()
}

fn encrypt(doc: &Document, data: DataEncryption, kt: KeyTransport) -> Vec<u8> {
    let opts = EncryptOptions {
        data,
        key_transport: kt,
        content_only: false,
        id: None,
    };
    encrypt_element(doc, message(doc), &rsa3072().cert, &opts).unwrap()
}

fn decrypt(bytes: &[u8], keys: &[RecipientKey<'_>]) -> Result<Vec<u8>, XencError> {
    decrypt_document(
        &parse(bytes),
        keys,
        &AlgorithmPolicy::modern(),
        &ParseOptions::default(),
    )
    .map(|d| d.document.bytes().to_vec())
}

fn own_key() -> RecipientKey<'static> {
    RecipientKey {
        key: &rsa3072().dk,
        cert: Some(&rsa3072().cert),
    }
}

#[test]
fn every_algorithm_pair_round_trips_to_the_original_bytes() {
    let doc = parse(XHE_LIKE.as_bytes());
    for (data, kt) in all_pairs() {
        let enc = encrypt(&doc, data, kt);
        let text = String::from_utf8(enc.clone()).unwrap();
        assert!(!text.contains("Kallelse"), "{data}/{kt}: plaintext leaked");
        assert!(text.contains(data.uri()) && text.contains(kt.method().uri()));
        assert!(
            text.contains(&rsa3072().cert.to_base64()),
            "recipient certificate embedded"
        );
        // Everything outside the encrypted element is byte-identical.
        assert!(text.starts_with(&XHE_LIKE[..XHE_LIKE.find("<ns6:Message").unwrap()]));
        let back = decrypt(&enc, &[own_key()]).unwrap();
        assert_eq!(back, XHE_LIKE.as_bytes(), "{data}/{kt}");
    }
}

#[test]
fn decryption_reports_what_was_decrypted() {
    let doc = parse(XHE_LIKE.as_bytes());
    let enc = encrypt(
        &doc,
        DataEncryption::Aes256Cbc,
        KeyTransport::RSA_OAEP_MGF1P,
    );
    let out = decrypt_document(
        &parse(&enc),
        &[own_key()],
        &AlgorithmPolicy::xhe(),
        &ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(out.items.len(), 1);
    assert_eq!(out.items[0].kind, EncryptedType::Element);
    assert_eq!(out.items[0].data, DataEncryption::Aes256Cbc);
    assert_eq!(out.items[0].recipient.as_ref(), Some(&rsa3072().cert));
}

#[test]
fn content_encryption_keeps_the_element_and_round_trips() {
    let doc = parse(XHE_LIKE.as_bytes());
    let opts = EncryptOptions {
        content_only: true,
        ..EncryptOptions::xhe()
    };
    let enc = encrypt_element(&doc, message(&doc), &rsa3072().cert, &opts).unwrap();
    let encrypted = parse(&enc);
    let msg = message(&encrypted);
    assert!(
        msg.child_elements()
            .all(|c| c.local_name() == "EncryptedData")
    );
    assert!(String::from_utf8_lossy(&enc).contains("xmlenc#Content"));
    assert_eq!(decrypt(&enc, &[own_key()]).unwrap(), XHE_LIKE.as_bytes());
}

#[test]
fn decrypted_element_inherits_namespaces_declared_above_it() {
    // `ns6` is declared on the root only, as in the DIGG example; the plaintext is just the
    // element's bytes, which parse only in the parent's namespace context.
    let doc = parse(XHE_LIKE.as_bytes());
    let enc = encrypt(
        &doc,
        DataEncryption::Aes128Gcm,
        KeyTransport::RSA_OAEP_SHA256,
    );
    let out = decrypt_document(
        &parse(&enc),
        &[own_key()],
        &AlgorithmPolicy::modern(),
        &ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(message(&out.document).namespace(), Some("urn:payload"));
}

#[test]
fn rollover_selects_the_key_named_by_the_encrypted_key_certificate() {
    let doc = parse(XHE_LIKE.as_bytes());
    let enc = encrypt(
        &doc,
        DataEncryption::Aes256Cbc,
        KeyTransport::RSA_OAEP_MGF1P,
    );
    let old = RecipientKey {
        key: &other_rsa2048().dk,
        cert: Some(&other_rsa2048().cert),
    };
    assert_eq!(
        decrypt(&enc, &[old, own_key()]).unwrap(),
        XHE_LIKE.as_bytes()
    );
    // Matching also works by public key when our certificate is not configured.
    let bare = RecipientKey {
        key: &rsa3072().dk,
        cert: None,
    };
    assert_eq!(decrypt(&enc, &[old, bare]).unwrap(), XHE_LIKE.as_bytes());
    // Encrypted for someone else: no key of ours matches → the uniform failure.
    match decrypt(&enc, &[old]) {
        Err(XencError::Decryption(e)) => {
            assert_eq!(e.log_reason(), "no private key matches the EncryptedKey")
        }
        other => panic!("expected a decryption failure, got {other:?}"),
    }
}

#[test]
fn detached_encrypted_key_with_reference_list_decrypts() {
    let doc = parse(XHE_LIKE.as_bytes());
    let key = ContentKey::generate(DataEncryption::Aes128Gcm).unwrap();
    let with_data =
        parse(&encrypt_element_detached(&doc, message(&doc), &key, "ED-1", false).unwrap());
    let ek = encrypted_key_xml(
        &key,
        KeyTransport::RSA_OAEP_SHA256,
        &rsa3072().cert,
        RecipientInfo::Certificate(&rsa3072().cert),
        Some("EK-1"),
        &["ED-1"],
    )
    .unwrap();
    let payload = with_data
        .elements()
        .find(|e| e.local_name() == "Payload")
        .unwrap();
    let full = apply_edits(
        with_data.bytes(),
        vec![Edit::insert_before(payload, ek.as_bytes())],
    )
    .unwrap();
    let out = decrypt_document(
        &parse(&full),
        &[own_key()],
        &AlgorithmPolicy::as4(),
        &ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(message(&out.document).attribute(None, "Id"), Some("m1"));
    // With no recipient information at all each key is tried.
    let anonymous = encrypted_key_xml(
        &key,
        KeyTransport::RSA_OAEP_SHA256,
        &rsa3072().cert,
        RecipientInfo::None,
        None,
        &["ED-1"],
    )
    .unwrap();
    let full = apply_edits(
        with_data.bytes(),
        vec![Edit::insert_before(payload, anonymous.as_bytes())],
    )
    .unwrap();
    let other = RecipientKey {
        key: &other_rsa2048().dk,
        cert: None,
    };
    assert!(decrypt(&full, &[other, own_key()]).is_ok());
}

/// Replaces the first CipherValue (the wrapped key) or the last (the data) with `f(bytes)`.
fn tamper(enc: &[u8], which_last: bool, f: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let text = String::from_utf8(enc.to_vec()).unwrap();
    let open = "<xenc:CipherValue>";
    let at = if which_last {
        text.rfind(open)
    } else {
        text.find(open)
    }
    .unwrap()
        + open.len();
    let end = at + text[at..].find('<').unwrap();
    let mut raw = b64.decode(&text[at..end]).unwrap();
    f(&mut raw);
    format!("{}{}{}", &text[..at], b64.encode(raw), &text[end..]).into_bytes()
}

#[test]
fn negative_corpus_fails_with_one_uniform_error() {
    let doc = parse(XHE_LIKE.as_bytes());
    let cbc = encrypt(
        &doc,
        DataEncryption::Aes256Cbc,
        KeyTransport::RSA_OAEP_MGF1P,
    );
    let gcm = encrypt(
        &doc,
        DataEncryption::Aes128Gcm,
        KeyTransport::RSA_OAEP_SHA256,
    );
    // A valid encryption of bytes that are not XML.
    let key = ContentKey::generate(DataEncryption::Aes256Cbc).unwrap();
    let ek = encrypted_key_xml(
        &key,
        KeyTransport::RSA_OAEP_MGF1P,
        &rsa3072().cert,
        RecipientInfo::Certificate(&rsa3072().cert),
        None,
        &[],
    )
    .unwrap();
    let junk = encrypted_data_xml(&key, b"<not-closed>", TYPE_ELEMENT, None, Some(&ek)).unwrap();
    let junk_doc = format!("<root>{junk}</root>").into_bytes();
    let cases: Vec<(&str, Vec<u8>, Vec<RecipientKey<'_>>)> = vec![
        (
            "wrong decryption key",
            cbc.clone(),
            vec![RecipientKey {
                key: &other_rsa2048().dk,
                cert: None,
            }],
        ),
        (
            "tampered wrapped key",
            tamper(&cbc, false, |k| k[5] ^= 1),
            vec![own_key()],
        ),
        (
            "truncated wrapped key",
            tamper(&cbc, false, |k| k.truncate(100)),
            vec![own_key()],
        ),
        (
            "truncated ciphertext",
            tamper(&cbc, true, |c| c.truncate(c.len() - 16)),
            vec![own_key()],
        ),
        (
            "misaligned ciphertext",
            tamper(&cbc, true, |c| c.truncate(c.len() - 3)),
            vec![own_key()],
        ),
        (
            "bad padding",
            tamper(&cbc, true, |c| {
                let n = c.len();
                c[n - 17] ^= 0x40;
            }),
            vec![own_key()],
        ),
        (
            "tampered GCM tag",
            tamper(&gcm, true, |c| {
                let n = c.len();
                c[n - 1] ^= 1;
            }),
            vec![own_key()],
        ),
        (
            "tampered GCM ciphertext",
            tamper(&gcm, true, |c| c[20] ^= 1),
            vec![own_key()],
        ),
        (
            "truncated GCM",
            tamper(&gcm, true, |c| c.truncate(20)),
            vec![own_key()],
        ),
        ("plaintext is not XML", junk_doc, vec![own_key()]),
        (
            "broken base64",
            String::from_utf8(cbc.clone())
                .unwrap()
                .replacen("<xenc:CipherValue>", "<xenc:CipherValue>!!", 2)
                .into_bytes(),
            vec![own_key()],
        ),
    ];
    let mut reasons = Vec::new();
    for (name, bytes, keys) in cases {
        match decrypt(&bytes, &keys) {
            Err(XencError::Decryption(e)) => {
                assert_eq!(e.to_string(), "decryption failed", "{name}");
                assert_eq!(
                    format!("{:?}", XencError::Decryption(e.clone())),
                    "Decryption(DecryptionFailed)",
                    "{name}"
                );
                reasons.push(e.log_reason());
            }
            other => panic!("{name}: expected the uniform failure, got {other:?}"),
        }
    }
    // The log keeps the real causes apart even though callers cannot tell them apart.
    assert!(reasons.contains(&"RSA-OAEP key unwrap failed"));
    assert!(reasons.contains(&"decrypted plaintext is not acceptable XML"));
}

#[test]
fn disallowed_and_refused_algorithms_are_policy_errors_before_any_decryption() {
    let doc = parse(XHE_LIKE.as_bytes());
    let cbc = encrypt(
        &doc,
        DataEncryption::Aes128Cbc,
        KeyTransport::RSA_OAEP_MGF1P,
    );
    let err = decrypt_document(
        &parse(&cbc),
        &[own_key()],
        &AlgorithmPolicy::as4(),
        &ParseOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, XencError::Algorithm(AlgorithmError::NotAllowed { .. })),
        "{err}"
    );
    let rsa15 = String::from_utf8(cbc).unwrap().replace(
        "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
        "http://www.w3.org/2001/04/xmlenc#rsa-1_5",
    );
    let err = decrypt(rsa15.as_bytes(), &[own_key()]).unwrap_err();
    assert!(
        matches!(err, XencError::Algorithm(AlgorithmError::Refused { .. })),
        "{err}"
    );
    let unknown = rsa15.replace(
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
        "urn:unknown-cipher",
    );
    let err = decrypt(unknown.as_bytes(), &[own_key()]).unwrap_err();
    assert!(
        matches!(err, XencError::Algorithm(AlgorithmError::Unknown { .. })),
        "{err}"
    );
}

#[test]
fn document_without_encrypted_data_is_reported() {
    assert!(matches!(
        decrypt(XHE_LIKE.as_bytes(), &[own_key()]),
        Err(XencError::NothingEncrypted)
    ));
}

#[test]
fn decrypt_element_returns_the_plaintext_unparsed() {
    let doc = parse(XHE_LIKE.as_bytes());
    let original = &XHE_LIKE.as_bytes()[message(&doc).span().whole()];
    let enc = parse(&encrypt(
        &doc,
        DataEncryption::Aes256Cbc,
        KeyTransport::RSA_OAEP_MGF1P,
    ));
    let ed = enc
        .elements()
        .find(|e| e.local_name() == "EncryptedData")
        .unwrap();
    let (plain, item) = decrypt_element(&enc, ed, &[own_key()], &AlgorithmPolicy::xhe()).unwrap();
    assert_eq!(plain.as_slice(), original);
    assert_eq!(item.kind, EncryptedType::Element);
    // A well-encrypted but corrupt payload is returned as is: the caller judges it.
    let key = ContentKey::generate(DataEncryption::Aes256Cbc).unwrap();
    let ek = encrypted_key_xml(
        &key,
        KeyTransport::RSA_OAEP_MGF1P,
        &rsa3072().cert,
        RecipientInfo::Certificate(&rsa3072().cert),
        None,
        &[],
    )
    .unwrap();
    let junk = parse(
        format!(
            "<r>{}</r>",
            encrypted_data_xml(&key, b"<broken", TYPE_ELEMENT, None, Some(&ek)).unwrap()
        )
        .as_bytes(),
    );
    let ed = junk
        .elements()
        .find(|e| e.local_name() == "EncryptedData")
        .unwrap();
    let (plain, _) = decrypt_element(&junk, ed, &[own_key()], &AlgorithmPolicy::xhe()).unwrap();
    assert_eq!(plain.as_slice(), b"<broken");
    // Wrong key: the uniform failure.
    let other = RecipientKey {
        key: &other_rsa2048().dk,
        cert: None,
    };
    let ed = enc
        .elements()
        .find(|e| e.local_name() == "EncryptedData")
        .unwrap();
    assert!(matches!(
        decrypt_element(&enc, ed, &[other], &AlgorithmPolicy::xhe()),
        Err(XencError::Decryption(_))
    ));
}

#[test]
fn long_cipher_values_with_line_breaks_decode_and_inner_padding_fails() {
    let big = format!(
        "<root xmlns:p=\"urn:p\"><p:big>{}</p:big></root>",
        "<p:item n=\"1\">some payload text</p:item>".repeat(600)
    );
    let doc = parse(big.as_bytes());
    let target = doc.elements().find(|e| e.local_name() == "big").unwrap();
    let enc = String::from_utf8(
        encrypt_element(&doc, target, &rsa3072().cert, &EncryptOptions::xhe()).unwrap(),
    )
    .unwrap();
    // Wrap every CipherValue at 64 columns, as xmlsec1 1.2 writes them.
    let wrapped = wrap_cipher_values(&enc, |b64| {
        b64.as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    });
    assert!(
        wrapped.len() > enc.len() + 300,
        "the data CipherValue spans many lines"
    );
    assert_eq!(
        decrypt(wrapped.as_bytes(), &[own_key()]).unwrap(),
        big.as_bytes()
    );
    // '=' inside the text (not only at the end) is not base64.
    let padded_inside = wrap_cipher_values(&enc, |b64| {
        format!(
            "{}={}",
            &b64[..8000.min(b64.len() / 2)],
            &b64[8000.min(b64.len() / 2)..]
        )
    });
    assert!(matches!(
        decrypt(padded_inside.as_bytes(), &[own_key()]),
        Err(XencError::Decryption(_))
    ));
}

fn wrap_cipher_values(xml: &str, f: impl Fn(&str) -> String) -> String {
    let open = "<xenc:CipherValue>";
    let mut out = String::new();
    let mut rest = xml;
    while let Some(i) = rest.find(open) {
        let start = i + open.len();
        let end = start + rest[start..].find('<').unwrap();
        out.push_str(&rest[..start]);
        out.push_str(&f(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}
