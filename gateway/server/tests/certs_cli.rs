//! `sdkgw certs inspect` on every certificate file DIGG publishes (`../shared`, present in CI)
//! and on the development PKI.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use std::path::{Path, PathBuf};

use common::{output, run, sdkgw, shared_dir, shared_pki};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if matches!(
            path.extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("p12" | "cer" | "crt")
        ) {
            out.push(path);
        }
    }
}

fn inspect_json(file: &Path) -> serde_json::Value {
    let (code, out, err) = output(
        sdkgw()
            .args([
                "certs",
                "inspect",
                file.to_str().unwrap(),
                "--password-env",
                "DIGG_P12_PASSWORD",
                "--output",
                "json",
            ])
            .env("DIGG_P12_PASSWORD", "p@ssword"),
    );
    assert_eq!(code, 0, "{}: {err}", file.display());
    serde_json::from_str(&out).unwrap()
}

#[test]
fn inspects_every_digg_p12_cer_and_crt_and_fingerprints_match_the_digest() {
    let Some(shared) = shared_dir() else { return };
    let mut all = Vec::new();
    files(&shared.join("sdk-reference/certificates"), &mut all);
    assert!(
        all.iter()
            .filter(|p| p.extension().unwrap() == "p12")
            .count()
            == 6,
        "{all:?}"
    );
    let mut by_cn = std::collections::BTreeMap::new();
    for file in &all {
        let v = inspect_json(file);
        let certs = v["certificates"].as_array().unwrap();
        assert!(!certs.is_empty(), "{}", file.display());
        for c in certs {
            for key in [
                "subject",
                "issuer",
                "serial",
                "not_before",
                "not_after",
                "key",
                "sha256_fingerprint",
            ] {
                assert!(
                    c[key].as_str().is_some_and(|s| !s.is_empty()),
                    "{key} of {}",
                    file.display()
                );
            }
            assert!(
                c["key_usage"].is_array()
                    && c["extended_key_usage"].is_array()
                    && c["subject_alt_names"].is_array()
            );
            let subject = c["subject"].as_str().unwrap().to_owned();
            by_cn.insert(
                subject,
                c["sha256_fingerprint"].as_str().unwrap().to_owned(),
            );
        }
    }
    let fp = |cn: &str| {
        by_cn
            .iter()
            .find(|(s, _)| s.contains(&format!("CN={cn}")))
            .map(|(_, f)| f.as_str())
            .unwrap_or_else(|| panic!("{cn} not found"))
    };
    // addressing digest §4.2
    assert_eq!(
        fp("Accesspunkt CA-SDK-PROD"),
        "E005631C678A2303A15409B1BE93B54316023892DD68886063977E8AEA65CF51"
    );
    assert_eq!(
        fp("Rot CA eDelivery SMP-TEST"),
        "8149724C8683D7D0B28A906BE41EB2E01B28ADFBFFC23DD6A6DD3E535E1D0B52"
    );
    assert_eq!(
        fp("Rot CA eDelivery Accesspunkt - QA"),
        "DB5B25488CBD041FAC9B2F35E4B96259BBB2C09AA460139EFBD84BA9AC49CE98"
    );
    assert_eq!(
        fp("TEST SITHS e-id Function CA v1"),
        "9205BCE83ECD2C466E69DFB94545BA19DEFCA809BBBFE436A753FA58E669A55E"
    );
    assert_eq!(
        fp("Swedish Public Sector Function CA v3 SAT"),
        "5E22EE888439A2AC889BAC1E27EF595EC0A41B984ABA1200C90140FF343354EB"
    );
}

#[test]
fn table_output_shows_every_field_of_a_digg_truststore() {
    let Some(shared) = shared_dir() else { return };
    let file = shared.join(
        "sdk-reference/certificates/Certifikatskedjor SDK QA/Truststores/as4-sdk-qa-truststore.p12",
    );
    let (code, out, err) = output(
        sdkgw()
            .args([
                "certs",
                "inspect",
                file.to_str().unwrap(),
                "--password-env",
                "DIGG_P12_PASSWORD",
            ])
            .env("DIGG_P12_PASSWORD", "p@ssword"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("PKCS#12, 3 certificates, no private key"),
        "{out}"
    );
    for label in [
        "subject",
        "issuer",
        "serial",
        "valid",
        "key ",
        "key usage",
        "ext. key usage",
        "SAN",
        "SHA-256",
    ] {
        assert!(out.contains(label), "{label} in {out}");
    }
    assert!(
        out.contains("keyCertSign, cRLSign") && out.contains("RSA 3072"),
        "{out}"
    );
    assert!(
        out.contains("E00C280409AECF513F0C2986625C71CB305D5B1B9B8899BBFAC8E6D0142D6D40"),
        "{out}"
    );
}

#[test]
fn wrong_or_missing_password_is_an_input_error_without_the_password() {
    let Some(shared) = shared_dir() else { return };
    let file = shared.join("sdk-reference/certificates/Certifikatkedjor OpenTest/Truststores/mtls-opentest-truststore.p12");
    let f = file.to_str().unwrap();
    let (code, out, err) = output(
        sdkgw()
            .args(["certs", "inspect", f, "--password-env", "P"])
            .env("P", "hunter2"),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("wrong password for PKCS#12 file")
            && !err.contains("hunter2")
            && out.is_empty(),
        "{err}"
    );
    let (code, _, err) = run(&["certs", "inspect", f]);
    assert_eq!(code, 2);
    assert!(err.contains("a password is needed"), "{err}");
    let pw = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(pw.path(), "p@ssword\n").unwrap();
    let (code, out, _) = run(&[
        "certs",
        "inspect",
        f,
        "--password-file",
        pw.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("TEST SITHS e-id Root CA v2"), "{out}");
}

#[test]
fn passwords_are_not_accepted_on_the_command_line() {
    let (code, _, err) = run(&["certs", "inspect", "x.p12", "--password", "secret"]);
    assert_eq!(code, 2);
    assert!(err.contains("unexpected argument"), "{err}");
}

#[test]
fn inspects_a_dev_pki_key_file_and_certificate() {
    let pki = shared_pki();
    let cert = pki.join("orgs/orgb.test/tls-server.pem");
    let (code, out, _) = run(&["certs", "inspect", cert.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        out.contains("DNS:localhost, IP:127.0.0.1") && out.contains("serverAuth"),
        "{out}"
    );
    let key = pki.join("orgs/orgb.test/tls-server.key");
    let (code, out, _) = run(&["certs", "inspect", key.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        out.contains("0 certificates, private key RSA 3072"),
        "{out}"
    );
    let (code, _, err) = run(&["certs", "inspect", "/nonexistent.pem"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent.pem"), "{err}");
}
