//! `sdkgw xml encrypt|decrypt` end to end, cross-checked with `../shared/tools/run xenc.py`
//! (libxmlsec1 + a pure engine): our output decrypts there, theirs decrypts here; PKCS#12
//! keys; exit codes 1 (decryption failed, algorithm not allowed) and 2 (input errors).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf()
}

fn shared() -> Option<PathBuf> {
    let dir = root().join("../shared");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("notice: ../shared is absent; skipping");
        None
    }
}

/// The shared test PKI (`pki.sh` keeps an existing one and locks against parallel runs).
fn pki(shared: &Path) -> PathBuf {
    let dir = root().join("target/test-pki");
    let out = Command::new(shared.join("tools/pki.sh"))
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("o2o-ca")
}

fn scratch(name: &str) -> PathBuf {
    let dir = root().join("target/test-xml-enc-cli").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sdkgw(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sdkgw"))
        .args(args)
        .env("SDKGW_TEST_P12_PASSWORD", "test")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const PAYLOAD_NS: &str = "urn:riv:infrastructure:messaging:MessageWithAttachments:2";

#[test]
fn encrypted_by_sdkgw_decrypts_in_xenc_py_engines_for_every_pair() {
    let Some(shared) = shared() else { return };
    let ca = pki(&shared);
    let example = shared.join("sdk-reference/xhe/examples/XHE-tm-base.xml");
    let dir = scratch("ours");
    for (alg, kt) in [
        ("aes256-cbc", "rsa-oaep-mgf1p"),
        ("aes128-gcm", "rsa-oaep"),
        ("aes128-cbc", "rsa-oaep"),
        ("aes256-gcm", "rsa-oaep-mgf1p"),
    ] {
        let enc = dir.join(format!("{alg}-{kt}.xml"));
        let o = sdkgw(&[
            "xml",
            "encrypt",
            "--cert",
            ca.join("orga.cert.pem").to_str().unwrap(),
            "--element",
            "Message",
            "--ns",
            PAYLOAD_NS,
            "--alg",
            alg,
            "--key-transport",
            kt,
            example.to_str().unwrap(),
            enc.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let out = dir.join(format!("{alg}-{kt}.dec.xml"));
        let t = Command::new(shared.join("tools/run"))
            .args([
                "xenc.py",
                "decrypt",
                enc.to_str().unwrap(),
                "--key",
                ca.join("orga.key.pem").to_str().unwrap(),
                "--expect",
                example.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(t.status.success(), "{alg}/{kt}: {}", text(&t));
    }
}

#[test]
fn encrypted_by_xenc_py_decrypts_with_sdkgw_and_a_pkcs12_key() {
    let Some(shared) = shared() else { return };
    let ca = pki(&shared);
    let example = shared.join("sdk-reference/xhe/examples/XHE-tm-base.xml");
    let dir = scratch("theirs");
    let enc = dir.join("enc.xml");
    let t = Command::new(shared.join("tools/run"))
        .args([
            "xenc.py",
            "encrypt",
            example.to_str().unwrap(),
            "--cert",
            ca.join("orga.cert.pem").to_str().unwrap(),
            "--out",
            enc.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(t.status.success(), "{}", text(&t));
    let dec = dir.join("dec.xml");
    // Rollover: the other organisation's key first; the EncryptedKey's certificate picks orga.
    let o = sdkgw(&[
        "xml",
        "decrypt",
        "--key",
        ca.join("orgb.key.pem").to_str().unwrap(),
        "--key",
        ca.join("orga.p12").to_str().unwrap(),
        "--password-env",
        "SDKGW_TEST_P12_PASSWORD",
        enc.to_str().unwrap(),
        dec.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("CN=orga.test"), "{}", text(&o));
    let decrypted = std::fs::read_to_string(&dec).unwrap();
    assert!(decrypted.contains("Kallelse till möte"));
    assert!(!decrypted.contains("EncryptedData"));
}

#[test]
fn wrong_key_and_disallowed_algorithm_exit_1_and_input_errors_exit_2() {
    let Some(shared) = shared() else { return };
    let ca = pki(&shared);
    let example = shared.join("sdk-reference/xhe/examples/XHE-tm-base.xml");
    let dir = scratch("errors");
    let enc = dir.join("enc.xml");
    let o = sdkgw(&[
        "xml",
        "encrypt",
        "--cert",
        ca.join("orga.cert.pem").to_str().unwrap(),
        "--element",
        "Message",
        example.to_str().unwrap(),
        enc.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.join("out.xml");
    let wrong = sdkgw(&[
        "xml",
        "decrypt",
        "--key",
        ca.join("orgb.key.pem").to_str().unwrap(),
        enc.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert_eq!(wrong.status.code(), Some(1), "{}", text(&wrong));
    assert!(text(&wrong).contains("decryption failed"));
    let policy = sdkgw(&[
        "xml",
        "decrypt",
        "--key",
        ca.join("orga.key.pem").to_str().unwrap(),
        "--policy",
        "as4",
        enc.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert_eq!(policy.status.code(), Some(1), "{}", text(&policy));
    assert!(text(&policy).contains("not allowed by the AS4 policy"));
    let missing = sdkgw(&[
        "xml",
        "encrypt",
        "--cert",
        ca.join("orga.cert.pem").to_str().unwrap(),
        "--element",
        "Nope",
        example.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    let plain = sdkgw(&[
        "xml",
        "decrypt",
        "--key",
        ca.join("orga.key.pem").to_str().unwrap(),
        example.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert_eq!(plain.status.code(), Some(2), "{}", text(&plain));
    assert!(text(&plain).contains("no EncryptedData"));
}
