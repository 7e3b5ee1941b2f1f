//! XML-Enc interoperability with independent engines, through `../shared/tools/run xenc.py`:
//! libxmlsec1 (the `xmlsec` Python binding and, where it supports the algorithm, the `xmlsec1`
//! 1.2 CLI) and a pure-Python engine on `cryptography`. For every supported algorithm pair, on
//! DIGG's XHE example: what we encrypt they decrypt (all engines agreeing, C14N-identical to
//! the original), and what xenc.py encrypts we decrypt.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support_crypto;

use std::path::{Path, PathBuf};
use std::process::Command;

use sdkgw_xml_security::c14n::{Algorithm, NodeSet, canonicalize_to_vec};
use sdkgw_xml_security::crypto::{AlgorithmPolicy, DataEncryption, KeyTransport};
use sdkgw_xml_security::xenc::{
    EncryptOptions, RecipientKey, XencError, decrypt_document, encrypt_element,
};
use sdkgw_xml_security::xml::{Document, ElementRef, ParseOptions};
use support_crypto::{TestKey, other_rsa2048, rsa3072, scratch, shared_dir};

const PAIRS: &[(&str, &str)] = &[
    ("aes256-cbc", "rsa-oaep-mgf1p"),
    ("aes128-cbc", "rsa-oaep-mgf1p"),
    ("aes128-gcm", "rsa-oaep-mgf1p"),
    ("aes256-gcm", "rsa-oaep-mgf1p"),
    ("aes256-cbc", "rsa-oaep"),
    ("aes128-cbc", "rsa-oaep"),
    ("aes128-gcm", "rsa-oaep"),
    ("aes256-gcm", "rsa-oaep"),
];

fn example() -> Option<PathBuf> {
    Some(shared_dir()?.join("sdk-reference/xhe/examples/XHE-tm-base.xml"))
}

fn tool(args: &[&str]) -> std::process::Output {
    let run = shared_dir().unwrap().join("tools/run");
    Command::new(run)
        .args(args)
        .output()
        .expect("cannot start ../shared/tools/run")
}

fn parse_file(path: &Path) -> Document {
    Document::parse(std::fs::read(path).unwrap(), &ParseOptions::default()).unwrap()
}

fn payload(doc: &Document) -> ElementRef<'_> {
    doc.elements()
        .find(|e| {
            e.local_name() == "Message"
                && e.parent()
                    .is_some_and(|p| p.local_name() == "PayloadContent")
        })
        .unwrap()
}

fn c14n_of_payload(doc: &Document) -> Vec<u8> {
    canonicalize_to_vec(
        doc,
        &NodeSet::subtree(payload(doc).node_id()),
        &Algorithm::c14n10(),
    )
    .unwrap()
}

fn own(k: &TestKey) -> RecipientKey<'_> {
    RecipientKey {
        key: &k.dk,
        cert: Some(&k.cert),
    }
}

#[test]
fn our_encryptions_decrypt_in_libxmlsec1_and_the_pure_engine() {
    let Some(original) = example() else { return };
    let doc = parse_file(&original);
    let k = rsa3072();
    let dir = scratch("xenc-ours");
    for (alg, kt) in PAIRS {
        let opts = EncryptOptions {
            data: DataEncryption::from_short_name(alg).unwrap(),
            key_transport: KeyTransport::from_short_name(kt).unwrap(),
            content_only: false,
            id: None,
        };
        let enc = encrypt_element(&doc, payload(&doc), &k.cert, &opts).unwrap();
        let file = dir.join(format!("{alg}-{kt}.enc.xml"));
        std::fs::write(&file, enc).unwrap();
        let out = dir.join(format!("{alg}-{kt}.dec.xml"));
        let res = tool(&[
            "xenc.py",
            "decrypt",
            file.to_str().unwrap(),
            "--key",
            k.key_pem.to_str().unwrap(),
            "--cert",
            k.cert_pem.to_str().unwrap(),
            "--engine",
            "all",
            "--expect",
            original.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        let stdout = String::from_utf8_lossy(&res.stdout);
        assert!(
            res.status.success(),
            "{alg}/{kt}: xenc.py decrypt failed\n{stdout}\n{}",
            String::from_utf8_lossy(&res.stderr)
        );
        assert!(stdout.starts_with("PASS"), "{stdout}");
        if *kt == "rsa-oaep-mgf1p" {
            // xmlsec1 1.2 took part (it lacks only xmlenc11 rsa-oaep).
            assert!(
                stdout.contains("xmlsec1"),
                "{alg}/{kt}: xmlsec1 engine did not run:\n{stdout}"
            );
        }
    }
}

#[test]
fn xmlsec1_cli_decrypts_our_xhe_profile_encryption() {
    let Some(original) = example() else { return };
    let doc = parse_file(&original);
    let k = rsa3072();
    let dir = scratch("xenc-xmlsec1");
    let enc = encrypt_element(&doc, payload(&doc), &k.cert, &EncryptOptions::xhe()).unwrap();
    let file = dir.join("xhe.enc.xml");
    let out = dir.join("xhe.dec.xml");
    std::fs::write(&file, enc).unwrap();
    let res = Command::new("xmlsec1")
        .args([
            "--decrypt",
            "--privkey-pem",
            k.key_pem.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            file.to_str().unwrap(),
        ])
        .output()
        .expect("xmlsec1 is installed by .ci/test");
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert_eq!(c14n_of_payload(&parse_file(&out)), c14n_of_payload(&doc));
}

#[test]
fn xenc_py_encryptions_decrypt_in_ours() {
    let Some(original) = example() else { return };
    let doc = parse_file(&original);
    let expected = c14n_of_payload(&doc);
    let k = rsa3072();
    let dir = scratch("xenc-theirs");
    for (alg, kt) in PAIRS {
        let file = dir.join(format!("{alg}-{kt}.enc.xml"));
        let res = tool(&[
            "xenc.py",
            "encrypt",
            original.to_str().unwrap(),
            "--cert",
            k.cert_pem.to_str().unwrap(),
            "--alg",
            alg,
            "--kt",
            kt,
            "--out",
            file.to_str().unwrap(),
        ]);
        assert!(
            res.status.success(),
            "{alg}/{kt}: {}",
            String::from_utf8_lossy(&res.stdout)
        );
        let enc = parse_file(&file);
        let out = decrypt_document(
            &enc,
            &[own(k)],
            &AlgorithmPolicy::modern(),
            &ParseOptions::default(),
        )
        .unwrap_or_else(|e| {
            panic!(
                "{alg}/{kt}: {e} ({:?})",
                match &e {
                    XencError::Decryption(d) => d.log_reason(),
                    _ => "",
                }
            )
        });
        assert_eq!(out.items[0].data.short_name(), *alg);
        assert_eq!(c14n_of_payload(&out.document), expected, "{alg}/{kt}");
    }
}

#[test]
fn xenc_py_encryption_for_another_recipient_fails_uniformly_in_ours() {
    let Some(original) = example() else { return };
    let dir = scratch("xenc-theirs-other");
    let file = dir.join("other.enc.xml");
    let res = tool(&[
        "xenc.py",
        "encrypt",
        original.to_str().unwrap(),
        "--cert",
        other_rsa2048().cert_pem.to_str().unwrap(),
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stdout)
    );
    let enc = parse_file(&file);
    let err = decrypt_document(
        &enc,
        &[own(rsa3072())],
        &AlgorithmPolicy::xhe(),
        &ParseOptions::default(),
    )
    .unwrap_err();
    match err {
        XencError::Decryption(e) => assert_eq!(e.to_string(), "decryption failed"),
        other => panic!("expected the uniform failure, got {other}"),
    }
}
