//! The crypto primitives agree with OpenSSL (an independent implementation) in both
//! directions: RSA PKCS#1 v1.5 signatures (byte-identical, the scheme is deterministic),
//! RSA-OAEP key transport for every digest/MGF pair we support, and AES-CBC.

#![allow(clippy::unwrap_used)]

mod support_crypto;

use std::fs;

use sdkgw_xml_security::crypto::{
    ContentKey, DataEncryption, DigestMethod, KeyTransport, KeyTransportMethod, MaskGeneration,
    SignatureError, SignatureMethod,
};
use support_crypto::{hex, openssl, openssl_ok, other_rsa2048, rsa3072, scratch};

const MESSAGE: &[u8] =
    b"<ds:SignedInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">...</ds:SignedInfo>";

fn digest_name(m: SignatureMethod) -> &'static str {
    match m {
        SignatureMethod::RsaSha1 => "-sha1",
        SignatureMethod::RsaSha256 => "-sha256",
        SignatureMethod::RsaSha384 => "-sha384",
        SignatureMethod::RsaSha512 => "-sha512",
    }
}

#[test]
fn rsa_pkcs1_signatures_are_identical_to_openssl_and_verify_both_ways() {
    let k = rsa3072();
    let dir = scratch("sig");
    let msg = dir.join("msg");
    fs::write(&msg, MESSAGE).unwrap();
    for m in [
        SignatureMethod::RsaSha256,
        SignatureMethod::RsaSha384,
        SignatureMethod::RsaSha512,
    ] {
        let ours = m.sign(&k.key, MESSAGE).unwrap();
        let theirs = openssl(&[
            "dgst",
            digest_name(m),
            "-sign",
            k.key_pem.to_str().unwrap(),
            msg.to_str().unwrap(),
        ]);
        assert_eq!(
            hex(&ours),
            hex(&theirs),
            "{m}: PKCS#1 v1.5 is deterministic"
        );
        let sig = dir.join(format!("sig{}", digest_name(m)));
        fs::write(&sig, &ours).unwrap();
        assert!(openssl_ok(&[
            "dgst",
            digest_name(m),
            "-verify",
            k.pub_pem.to_str().unwrap(),
            "-signature",
            sig.to_str().unwrap(),
            msg.to_str().unwrap(),
        ]));
        m.verify(&k.cert, MESSAGE, &theirs).unwrap();
    }
}

#[test]
fn rsa_sha1_verifies_but_cannot_be_used_to_sign() {
    let k = rsa3072();
    let dir = scratch("sig1");
    let msg = dir.join("msg");
    fs::write(&msg, MESSAGE).unwrap();
    let theirs = openssl(&[
        "dgst",
        "-sha1",
        "-sign",
        k.key_pem.to_str().unwrap(),
        msg.to_str().unwrap(),
    ]);
    SignatureMethod::RsaSha1
        .verify(&k.cert, MESSAGE, &theirs)
        .unwrap();
    assert_eq!(
        SignatureMethod::RsaSha1.sign(&k.key, MESSAGE),
        Err(SignatureError::SigningUnsupported(SignatureMethod::RsaSha1))
    );
}

#[test]
fn signature_verification_rejects_tampering_wrong_key_and_wrong_digest() {
    let k = rsa3072();
    let sig = SignatureMethod::RsaSha256.sign(&k.key, MESSAGE).unwrap();
    let mut bad = sig.clone();
    bad[10] ^= 1;
    let invalid = Err(SignatureError::Invalid);
    assert_eq!(
        SignatureMethod::RsaSha256.verify(&k.cert, MESSAGE, &bad),
        invalid
    );
    assert_eq!(
        SignatureMethod::RsaSha256.verify(&k.cert, b"other", &sig),
        invalid
    );
    assert_eq!(
        SignatureMethod::RsaSha512.verify(&k.cert, MESSAGE, &sig),
        invalid
    );
    assert_eq!(
        SignatureMethod::RsaSha256.verify(&other_rsa2048().cert, MESSAGE, &sig),
        invalid
    );
    assert_eq!(
        SignatureMethod::RsaSha256.verify(&k.cert, MESSAGE, &[]),
        invalid
    );
}

fn oaep_pairs() -> Vec<(KeyTransport, &'static str)> {
    let xmlenc11 = |d, m| KeyTransport::new(KeyTransportMethod::RsaOaep, d, m).unwrap();
    vec![
        (KeyTransport::RSA_OAEP_MGF1P, "sha1"),
        (
            xmlenc11(DigestMethod::Sha1, MaskGeneration::Mgf1Sha1),
            "sha1",
        ),
        (KeyTransport::RSA_OAEP_SHA256, "sha256"),
        (
            xmlenc11(DigestMethod::Sha384, MaskGeneration::Mgf1Sha384),
            "sha384",
        ),
        (
            xmlenc11(DigestMethod::Sha512, MaskGeneration::Mgf1Sha512),
            "sha512",
        ),
    ]
}

/// `openssl pkeyutl OP -in INPUT` with OAEP padding, digest and MGF1 digest `md`.
fn pkeyutl_oaep(op: &[&str], input: &std::path::Path, md: &str) -> Vec<u8> {
    let md_opt = format!("rsa_oaep_md:{md}");
    let mgf_opt = format!("rsa_mgf1_md:{md}");
    let mut args = vec!["pkeyutl"];
    args.extend_from_slice(op);
    args.extend_from_slice(&[
        "-in",
        input.to_str().unwrap(),
        "-pkeyopt",
        "rsa_padding_mode:oaep",
    ]);
    args.extend_from_slice(&["-pkeyopt", &md_opt, "-pkeyopt", &mgf_opt]);
    openssl(&args)
}

#[test]
fn rsa_oaep_interoperates_with_openssl_for_every_supported_digest_pair() {
    let k = rsa3072();
    let dir = scratch("oaep");
    for (kt, md) in oaep_pairs() {
        let cek = ContentKey::generate(DataEncryption::Aes256Cbc).unwrap();
        // Ours → openssl.
        let wrapped = kt.wrap(&k.cert, &cek, None).unwrap();
        assert_eq!(wrapped.len(), 384, "as long as the 3072-bit modulus");
        let wrapped_path = dir.join(format!("wrapped-{md}"));
        fs::write(&wrapped_path, &wrapped).unwrap();
        let plain = pkeyutl_oaep(
            &["-decrypt", "-inkey", k.key_pem.to_str().unwrap()],
            &wrapped_path,
            md,
        );
        let unwrapped = kt
            .unwrap(&k.key, &wrapped, DataEncryption::Aes256Cbc, None)
            .unwrap();
        // openssl recovered the same 32 bytes we unwrap ourselves.
        assert_eq!(plain.len(), 32);
        let probe = unwrapped.encrypt(b"probe").unwrap();
        assert_eq!(
            ContentKey::from_bytes(DataEncryption::Aes256Cbc, &plain)
                .unwrap()
                .decrypt(&probe)
                .unwrap()
                .as_slice(),
            b"probe"
        );
        // openssl → ours.
        let raw = dir.join(format!("raw-{md}"));
        fs::write(&raw, [0x11u8; 16]).unwrap();
        let theirs = pkeyutl_oaep(
            &["-encrypt", "-pubin", "-inkey", k.pub_pem.to_str().unwrap()],
            &raw,
            md,
        );
        let key = kt
            .unwrap(&k.key, &theirs, DataEncryption::Aes128Gcm, None)
            .unwrap();
        let ct = ContentKey::from_bytes(DataEncryption::Aes128Gcm, &[0x11; 16])
            .unwrap()
            .encrypt(b"x")
            .unwrap();
        assert_eq!(key.decrypt(&ct).unwrap().as_slice(), b"x", "{kt}");
    }
}

#[test]
fn oaep_unwrap_failures_are_one_uniform_error() {
    let k = rsa3072();
    let cek = ContentKey::generate(DataEncryption::Aes128Gcm).unwrap();
    let wrapped = KeyTransport::RSA_OAEP_SHA256
        .wrap(&k.cert, &cek, None)
        .unwrap();
    let mut tampered = wrapped.clone();
    tampered[100] ^= 4;
    let failures = [
        // wrong private key (different modulus size: length check)
        KeyTransport::RSA_OAEP_SHA256.unwrap(
            &other_rsa2048().key,
            &wrapped,
            DataEncryption::Aes128Gcm,
            None,
        ),
        // tampered ciphertext
        KeyTransport::RSA_OAEP_SHA256.unwrap(&k.key, &tampered, DataEncryption::Aes128Gcm, None),
        // truncated
        KeyTransport::RSA_OAEP_SHA256.unwrap(
            &k.key,
            &wrapped[..383],
            DataEncryption::Aes128Gcm,
            None,
        ),
        // wrong OAEP digest
        KeyTransport::RSA_OAEP_MGF1P.unwrap(&k.key, &wrapped, DataEncryption::Aes128Gcm, None),
        // wrong label
        KeyTransport::RSA_OAEP_SHA256.unwrap(
            &k.key,
            &wrapped,
            DataEncryption::Aes128Gcm,
            Some(b"x"),
        ),
        // key of the wrong size for the data algorithm
        KeyTransport::RSA_OAEP_SHA256.unwrap(&k.key, &wrapped, DataEncryption::Aes256Gcm, None),
    ];
    for f in failures {
        let e = f.unwrap_err();
        assert_eq!(e.to_string(), "decryption failed");
        assert_eq!(format!("{e:?}"), "DecryptionFailed");
    }
}

#[test]
fn aes_cbc_interoperates_with_openssl_enc() {
    let dir = scratch("cbc");
    for (alg, name) in [
        (DataEncryption::Aes128Cbc, "-aes-128-cbc"),
        (DataEncryption::Aes256Cbc, "-aes-256-cbc"),
    ] {
        let key_bytes: Vec<u8> = (0..alg.key_len() as u8).collect();
        let key = ContentKey::from_bytes(alg, &key_bytes).unwrap();
        let plain = b"<tns:messagePayload>secret</tns:messagePayload>";
        // Ours → openssl (IV is our prefix; openssl checks PKCS#7 padding strictly).
        let ct = key.encrypt(plain).unwrap();
        let body = dir.join("ours.bin");
        fs::write(&body, &ct[16..]).unwrap();
        let out = openssl(&[
            "enc",
            "-d",
            name,
            "-K",
            &hex(&key_bytes),
            "-iv",
            &hex(&ct[..16]),
            "-in",
            body.to_str().unwrap(),
        ]);
        assert_eq!(out, plain);
        // openssl → ours.
        let src = dir.join("plain.bin");
        fs::write(&src, plain).unwrap();
        let iv = [0x42u8; 16];
        let theirs = openssl(&[
            "enc",
            name,
            "-K",
            &hex(&key_bytes),
            "-iv",
            &hex(&iv),
            "-in",
            src.to_str().unwrap(),
        ]);
        let mut data = iv.to_vec();
        data.extend(theirs);
        assert_eq!(key.decrypt(&data).unwrap().as_slice(), plain);
    }
}
