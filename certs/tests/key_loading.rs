//! Loading keys and certificates from every supported container, and the failures an operator
//! meets: wrong password, key of another certificate, unreadable file, wrong format. PKCS#12
//! files are made by `openssl` (an independent implementation), including the legacy
//! RC2-40/3DES encryption DIGG's files use.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::path::{Path, PathBuf};
use std::process::Command;

use sdkgw_certs::{
    CertError, FileFormat, PasswordSource, load_certificates, load_file, load_key_pair,
    load_private_key,
};

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    /// A self-signed RSA certificate and its key as PEM files `NAME.crt` / `NAME.key`.
    fn pem_pair(&self, name: &str) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        let (c, k) = (
            self.path(&format!("{name}.crt")),
            self.path(&format!("{name}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }
    fn password_file(&self, password: &str) -> PasswordSource {
        let p = self.path("password.txt");
        std::fs::write(&p, format!("{password}\n")).unwrap();
        PasswordSource::File(p)
    }
    /// `openssl pkcs12 -export` with extra args (encryption choice).
    fn p12(&self, cert: &Path, key: &Path, out: &str, args: &[&str]) -> PathBuf {
        let out = self.path(out);
        let status = Command::new("openssl")
            .args(["pkcs12", "-export", "-passout", "pass:s3cret", "-in"])
            .arg(cert)
            .arg("-inkey")
            .arg(key)
            .arg("-out")
            .arg(&out)
            .args(args)
            .status()
            .expect("openssl must be installed (.ci/test installs it)");
        assert!(status.success());
        out
    }
    fn der_of(&self, pem: &Path, kind: &str, out: &str) -> PathBuf {
        let out = self.path(out);
        let status = Command::new("openssl")
            .args([kind, "-outform", "DER", "-in"])
            .arg(pem)
            .arg("-out")
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        out
    }
}

#[test]
fn reads_pkcs12_with_legacy_rc2_and_3des_and_modern_aes_encryption() {
    let fx = Fixture::new();
    let (cert, key) = fx.pem_pair("AP0001-DEV");
    let pw = fx.password_file("s3cret");
    let legacy = fx.p12(&cert, &key, "legacy.p12", &["-legacy"]);
    let tdes = fx.p12(
        &cert,
        &key,
        "3des.p12",
        &["-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES"],
    );
    let aes = fx.p12(&cert, &key, "aes.p12", &[]);
    for file in [legacy, tdes, aes] {
        let pair = load_key_pair(&file, None, Some(&pw))
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(pair.certificate().common_name(), Some("AP0001-DEV"));
        assert!(pair.key().matches(pair.certificate()));
        assert_eq!(
            load_file(&file, Some(&pw)).unwrap().format,
            FileFormat::Pkcs12
        );
    }
}

#[test]
fn reads_der_certificates_and_der_keys() {
    let fx = Fixture::new();
    let (cert, key) = fx.pem_pair("der");
    let cert_der = fx.der_of(&cert, "x509", "c.der");
    let key_der = fx.der_of(&key, "pkey", "k.der");
    assert_eq!(load_file(&cert_der, None).unwrap().format, FileFormat::Der);
    let pair = load_key_pair(&cert_der, Some(&key_der), None).unwrap();
    assert_eq!(pair.certificate().common_name(), Some("der"));
    assert_eq!(load_certificates(&cert, None).unwrap().len(), 1);
}

#[test]
fn wrong_pkcs12_password_is_reported_as_such_for_each_encryption() {
    let fx = Fixture::new();
    let (cert, key) = fx.pem_pair("pw");
    let wrong = fx.password_file("wrong");
    for (name, args) in [("l.p12", vec!["-legacy"]), ("a.p12", vec![])] {
        let file = fx.p12(&cert, &key, name, &args);
        let err = load_key_pair(&file, None, Some(&wrong)).unwrap_err();
        assert!(
            matches!(err, CertError::WrongPassword { .. }),
            "{name}: {err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(name) && msg.contains("wrong password"),
            "{msg}"
        );
    }
}

#[test]
fn pkcs12_without_password_source_asks_for_a_file_or_variable() {
    let fx = Fixture::new();
    let (cert, key) = fx.pem_pair("nopw");
    let file = fx.p12(&cert, &key, "n.p12", &[]);
    let err = load_private_key(&file, None).unwrap_err();
    assert!(matches!(err, CertError::PasswordRequired { .. }), "{err}");
}

#[test]
fn key_of_another_certificate_is_a_mismatch_naming_both_files() {
    let fx = Fixture::new();
    let (cert_a, _) = fx.pem_pair("a");
    let (_, key_b) = fx.pem_pair("b");
    let err = load_key_pair(&cert_a, Some(&key_b), None).unwrap_err();
    assert!(matches!(err, CertError::KeyMismatch { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("a.crt") && msg.contains("b.key") && msg.contains("CN=a"),
        "{msg}"
    );
}

#[test]
fn unreadable_missing_and_wrong_format_files_give_clear_errors() {
    let fx = Fixture::new();
    let missing = fx.path("nope.pem");
    let err = load_file(&missing, None).unwrap_err();
    assert!(
        matches!(err, CertError::Io { .. }) && err.to_string().contains("nope.pem"),
        "{err}"
    );

    let dir_err = load_file(fx.dir.path(), None).unwrap_err();
    assert!(matches!(dir_err, CertError::Io { .. }), "{dir_err}");

    let text = fx.path("notes.txt");
    std::fs::write(&text, "just some text").unwrap();
    let err = load_file(&text, None).unwrap_err();
    assert!(
        matches!(err, CertError::Format(_)) && err.to_string().contains("notes.txt"),
        "{err}"
    );

    let (cert, _) = fx.pem_pair("nokey");
    let err = load_private_key(&cert, None).unwrap_err();
    assert!(err.to_string().contains("contains no private key"), "{err}");
    let (_, key) = fx.pem_pair("nocert");
    let err = load_certificates(&key, None).unwrap_err();
    assert!(err.to_string().contains("contains no certificate"), "{err}");
}

#[test]
fn truncated_pkcs12_is_a_decoding_error_not_a_panic() {
    let fx = Fixture::new();
    let (cert, key) = fx.pem_pair("trunc");
    let file = fx.p12(&cert, &key, "t.p12", &["-legacy"]);
    let bytes = std::fs::read(&file).unwrap();
    let pw = fx.password_file("s3cret");
    for cut in [8, bytes.len() / 2, bytes.len() - 1] {
        let short = fx.path("short.p12");
        std::fs::write(&short, &bytes[..cut]).unwrap();
        assert!(load_file(&short, Some(&pw)).is_err());
    }
}

#[test]
fn mutated_pem_der_and_pkcs12_bytes_never_panic() {
    let fx = Fixture::new();
    let (cert, key) = fx.pem_pair("fuzz");
    let p12 = fx.p12(&cert, &key, "f.p12", &["-legacy"]);
    let der = fx.der_of(&cert, "x509", "f.der");
    let pw = fx.password_file("s3cret");
    for file in [cert, key, der, p12] {
        let original = std::fs::read(&file).unwrap();
        // Flip one byte at a time across the file, plus truncations: every result is Ok or a
        // typed error, never a panic.
        for i in (0..original.len()).step_by(7) {
            let mut bytes = original.clone();
            bytes[i] ^= 0x5a;
            let _ = sdkgw_certs::decode(&bytes, "mutated", Some(&pw));
            let _ = sdkgw_certs::decode(&original[..i], "truncated", Some(&pw));
        }
    }
}
