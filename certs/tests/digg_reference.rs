//! DIGG's published CA files and truststores (`../shared/sdk-reference/certificates`) load, and
//! their fingerprints are those of the addressing digest §4.2. Skipped with a notice when
//! `../shared` is absent (it is always present in CI).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::path::{Path, PathBuf};

use sdkgw_certs::{CertError, FileFormat, PasswordSource, load_file};

fn reference_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/sdk-reference/certificates");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "notice: {} absent, DIGG reference test skipped",
            dir.display()
        );
        None
    }
}

fn files_with_extension(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_with_extension(&path, exts, out);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| exts.contains(&e.to_ascii_lowercase().as_str()))
        {
            out.push(path);
        }
    }
    out.sort();
}

/// The password of DIGG's truststores, given through a file as an operator would.
fn digg_password() -> (tempfile::TempDir, PasswordSource) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("password");
    std::fs::write(&path, "p@ssword\n").unwrap();
    (dir, PasswordSource::File(path))
}

#[test]
fn every_digg_truststore_p12_opens_with_the_legacy_rc2_encryption() {
    let Some(dir) = reference_dir() else { return };
    let (_tmp, password) = digg_password();
    let mut files = Vec::new();
    files_with_extension(&dir, &["p12"], &mut files);
    assert_eq!(files.len(), 6, "DIGG ships six .p12 truststores: {files:?}");
    for file in &files {
        let material =
            load_file(file, Some(&password)).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(material.format, FileFormat::Pkcs12);
        assert!(
            material.key.is_none(),
            "{}: truststores hold no key",
            file.display()
        );
        assert!(!material.certificates.is_empty(), "{}", file.display());
        let name = file.file_name().unwrap().to_string_lossy();
        let cns: Vec<_> = material
            .certificates
            .iter()
            .filter_map(|c| c.common_name())
            .collect();
        // Contents as the digest §4.6 lists them (the readmes are wrong about mtls).
        let expected: &[&str] = if name.starts_with("as4-opentest") {
            &[
                "Rot CA eDelivery SMP-TEST",
                "Rot CA eDelivery Accesspunkt-TEST",
                "Accesspunkt CA-OPEN-TEST",
            ]
        } else if name.starts_with("as4-sdk-qa") {
            &[
                "Rot CA eDelivery SMP-QA",
                "Rot CA eDelivery Accesspunkt - QA",
                "Accesspunkt CA-SDK-QA",
            ]
        } else if name.starts_with("mtls-") {
            &[
                "TEST SITHS e-id Root CA v2",
                "TEST SITHS e-id Function CA v1",
            ]
        } else if name.starts_with("o2o-opentest") {
            &["Rot CA eDelivery SMP-TEST"]
        } else {
            &["Rot CA eDelivery SMP-QA"]
        };
        let mut got = cns.clone();
        got.sort_unstable();
        let mut want = expected.to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn wrong_password_on_a_digg_truststore_says_so() {
    let Some(dir) = reference_dir() else { return };
    let file = dir.join("Certifikatskedjor SDK QA/Truststores/as4-sdk-qa-truststore.p12");
    let tmp = tempfile::tempdir().unwrap();
    let pw = tmp.path().join("pw");
    std::fs::write(&pw, "not-the-password").unwrap();
    let err = load_file(&file, Some(&PasswordSource::File(pw))).unwrap_err();
    assert!(matches!(err, CertError::WrongPassword { .. }), "{err}");
    assert!(
        err.to_string().contains("as4-sdk-qa-truststore.p12"),
        "{err}"
    );
    assert!(!err.to_string().contains("not-the-password"));
}

#[test]
fn every_digg_cer_and_crt_parses_and_fingerprints_match_the_digest() {
    let Some(dir) = reference_dir() else { return };
    let mut files = Vec::new();
    files_with_extension(&dir, &["cer", "crt"], &mut files);
    assert!(files.len() >= 25, "{files:?}");
    let mut by_cn = std::collections::BTreeMap::new();
    for file in &files {
        let material = load_file(file, None).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(material.certificates.len(), 1, "{}", file.display());
        let cert = &material.certificates[0];
        by_cn.insert(
            cert.common_name().unwrap().to_owned(),
            cert.fingerprint_hex(),
        );
    }
    // From spec/addressing-smp-certpub-pki.md §4.2.
    let digest = [
        (
            "Rot CA eDelivery Accesspunkt-TEST",
            "7D59ABDF8E9BB610C2D166AC794A7607661D6075D9969198B5DF8EA60778DCE0",
        ),
        (
            "Accesspunkt CA-OPEN-TEST",
            "FD8E5F0864E0A8CCAF7B2F3A53858411E63C3D9DFF044893E73BEF593EE94EFB",
        ),
        (
            "Accesspunkt CA-SDK-QA",
            "E00C280409AECF513F0C2986625C71CB305D5B1B9B8899BBFAC8E6D0142D6D40",
        ),
        (
            "Rot CA eDelivery SMP-PROD",
            "562B274703EA29CE2D3AA284124148BF89118B1F11B49874D1AD5196B9A3EE2C",
        ),
        (
            "TEST SITHS e-id Root CA v2",
            "217EE0FAB01427C86988758E3A6B2297B18320D00E1FB7C75E52C41988755307",
        ),
        (
            "ExpiTrust EID CA v4",
            "05F82249EC8F1273EEDDD99DF30BBB698A55C2D6DFC52F0622241D1F5A237DC8",
        ),
    ];
    for (cn, fp) in digest {
        assert_eq!(by_cn.get(cn).map(String::as_str), Some(fp), "{cn}");
    }
}
