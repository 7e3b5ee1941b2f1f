//! Cross-check of path validation against `openssl verify` on the shared test PKI
//! (`../shared/tools/pki.sh target/test-pki`: AP, TLS and O2O CAs under one root, expired and
//! revoked leaves, CRLs for every CA). For every case our verdict and openssl's agree.

#![allow(clippy::unwrap_used, clippy::cloned_ref_to_slice_refs)]

mod support_crypto;

use std::path::{Path, PathBuf};
use std::process::Command;

use sdkgw_certs::Certificate;
use sdkgw_xml_security::x509::{
    As4Ap, Crl, MessagePurpose, O2o, PathError, RevocationChecker, RevocationPolicy, Tls,
    TlsPurpose, TrustStore,
};
use support_crypto::{openssl, scratch, workspace_root};
use time::OffsetDateTime;

/// The shared test PKI, generated on first use (pki.sh locks against parallel runs).
fn pki() -> Option<PathBuf> {
    let tools = support_crypto::shared_dir()?.join("tools/pki.sh");
    let dir = workspace_root().join("target/test-pki");
    let out = Command::new(&tools).arg(&dir).output().unwrap();
    assert!(
        out.status.success(),
        "pki.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(dir)
}

fn cert(path: &Path) -> Certificate {
    sdkgw_certs::certificates_from_pem(&std::fs::read(path).unwrap())
        .unwrap()
        .remove(0)
}

fn checker(pki: &Path) -> RevocationChecker {
    let rc = RevocationChecker::new(RevocationPolicy::default());
    rc.add_crls(Crl::parse_any(&std::fs::read(pki.join("all-crls.pem")).unwrap()).unwrap());
    rc
}

/// `openssl verify` with the same anchors, intermediates, CRLs and purpose.
fn openssl_accepts(pki: &Path, ca: &str, leaf: &Path, purpose: &str, extra: &[&str]) -> bool {
    let root = pki.join("root-ca/ca.cert.pem");
    let inter = pki.join(ca).join("ca.cert.pem");
    let crls = pki.join("all-crls.pem");
    let mut args = vec![
        "verify",
        "-crl_check_all",
        "-CAfile",
        root.to_str().unwrap(),
        "-untrusted",
        inter.to_str().unwrap(),
        "-CRLfile",
        crls.to_str().unwrap(),
        "-purpose",
        purpose,
    ];
    args.extend_from_slice(extra);
    args.push(leaf.to_str().unwrap());
    Command::new("openssl")
        .args(&args)
        .output()
        .unwrap()
        .status
        .success()
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[test]
fn ap_verdicts_agree_with_openssl_verify() {
    let Some(pki) = pki() else { return };
    let store = TrustStore::<As4Ap>::pinned(
        "TEST",
        vec![cert(&pki.join("root-ca/ca.cert.pem"))],
        vec![cert(&pki.join("ap-ca/ca.cert.pem"))],
    )
    .unwrap();
    let rc = checker(&pki);
    for (name, expect_ok) in [
        ("ap0001", true),
        ("ap0002", true),
        ("ap-expired", false),
        ("ap-revoked", false),
    ] {
        let path = pki.join(format!("ap-ca/{name}.cert.pem"));
        let ours = store.validate(&cert(&path), &[], MessagePurpose::Signature, now(), &rc);
        let theirs = openssl_accepts(&pki, "ap-ca", &path, "any", &[]);
        assert_eq!(ours.is_ok(), expect_ok, "{name}: {ours:?}");
        assert_eq!(theirs, expect_ok, "{name}: openssl verify disagrees");
        match (name, ours) {
            ("ap-expired", Err(e)) => assert!(matches!(e, PathError::Expired { .. }), "{e}"),
            ("ap-revoked", Err(e)) => assert!(matches!(e, PathError::Revoked { .. }), "{e}"),
            ("ap0001", Ok(p)) => assert_eq!(p.leaf().common_name(), Some("AP0001-TEST")),
            _ => {}
        }
    }
}

#[test]
fn o2o_verdicts_agree_with_openssl_verify() {
    let Some(pki) = pki() else { return };
    let store =
        TrustStore::<O2o>::new("TEST", vec![cert(&pki.join("root-ca/ca.cert.pem"))]).unwrap();
    let inter = [cert(&pki.join("o2o-ca/ca.cert.pem"))];
    let rc = checker(&pki);
    for (name, expect_ok) in [
        ("orga", true),
        ("orgb", true),
        ("org-expired", false),
        ("org-revoked", false),
    ] {
        let path = pki.join(format!("o2o-ca/{name}.cert.pem"));
        for purpose in [MessagePurpose::Signature, MessagePurpose::KeyTransport] {
            let ours = store.validate(&cert(&path), &inter, purpose, now(), &rc);
            assert_eq!(ours.is_ok(), expect_ok, "{name}: {ours:?}");
        }
        assert_eq!(
            openssl_accepts(&pki, "o2o-ca", &path, "any", &[]),
            expect_ok,
            "{name}"
        );
    }
}

#[test]
fn tls_purposes_agree_with_openssl_verify() {
    let Some(pki) = pki() else { return };
    let store =
        TrustStore::<Tls>::new("TEST", vec![cert(&pki.join("root-ca/ca.cert.pem"))]).unwrap();
    let inter = [cert(&pki.join("tls-ca/ca.cert.pem"))];
    let rc = checker(&pki);
    for (name, purpose, ossl, expect_ok) in [
        ("tls-server", TlsPurpose::Server, "sslserver", true),
        ("tls-client1", TlsPurpose::Client, "sslclient", true),
        ("tls-client1", TlsPurpose::Server, "sslserver", false),
        ("tls-server", TlsPurpose::Client, "sslclient", false),
    ] {
        let path = pki.join(format!("tls-ca/{name}.cert.pem"));
        let ours = store.validate(&cert(&path), &inter, purpose, now(), &rc);
        assert_eq!(ours.is_ok(), expect_ok, "{name} {purpose:?}: {ours:?}");
        assert_eq!(
            openssl_accepts(&pki, "tls-ca", &path, ossl, &[]),
            expect_ok,
            "{name} {ossl}"
        );
        if let Err(e) = ours {
            assert!(matches!(e, PathError::UsageNotAllowed { .. }), "{e}");
        }
    }
}

#[test]
fn certificate_of_one_role_is_worthless_in_another() {
    let Some(pki) = pki() else { return };
    // O2O store anchored at the O2O CA only (partial chain): an AP certificate is unknown.
    let o2o = TrustStore::<O2o>::new("TEST", vec![cert(&pki.join("o2o-ca/ca.cert.pem"))]).unwrap();
    let ap = pki.join("ap-ca/ap0001.cert.pem");
    let err = o2o
        .validate(
            &cert(&ap),
            &[],
            MessagePurpose::Signature,
            now(),
            &checker(&pki),
        )
        .unwrap_err();
    assert!(matches!(err, PathError::UnknownIssuer { .. }), "{err}");
    let o2o_ca = pki.join("o2o-ca/ca.cert.pem");
    let out = Command::new("openssl")
        .args([
            "verify",
            "-partial_chain",
            "-CAfile",
            o2o_ca.to_str().unwrap(),
            ap.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "openssl agrees");
}

#[test]
fn rsa_1024_leaf_is_rejected_like_openssl_at_auth_level_2() {
    let Some(pki) = pki() else { return };
    let dir = scratch("rsa1024");
    let p = |f: &str| dir.join(f).to_str().unwrap().to_owned();
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "rsa:1024",
        "-nodes",
        "-keyout",
        &p("k.pem"),
        "-subj",
        "/CN=weak.test",
        "-out",
        &p("r.csr"),
    ]);
    let ca = pki.join("o2o-ca");
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("r.csr"),
        "-CA",
        ca.join("ca.cert.pem").to_str().unwrap(),
        "-CAkey",
        ca.join("ca.key.pem").to_str().unwrap(),
        "-set_serial",
        "4242",
        "-days",
        "30",
        "-out",
        &p("c.pem"),
    ]);
    let store =
        TrustStore::<O2o>::new("TEST", vec![cert(&pki.join("root-ca/ca.cert.pem"))]).unwrap();
    let err = store
        .validate(
            &cert(Path::new(&p("c.pem"))),
            &[cert(&ca.join("ca.cert.pem"))],
            MessagePurpose::Signature,
            now(),
            &checker(&pki),
        )
        .unwrap_err();
    assert!(matches!(err, PathError::WeakKey { .. }), "{err}");
    assert!(!openssl_accepts(
        &pki,
        "o2o-ca",
        Path::new(&p("c.pem")),
        "any",
        &["-auth_level", "2"]
    ));
}
