//! Path validation on DIGG's real CA certificates from `../shared/sdk-reference/certificates`
//! (addressing digest §4.2, §6.3 TS-01/AP-03): the issuing CAs validate against their own
//! environment's root and are rejected by the others.

#![allow(clippy::unwrap_used, clippy::cloned_ref_to_slice_refs)]

mod support_crypto;

use std::path::{Path, PathBuf};

use sdkgw_certs::Certificate;
use sdkgw_xml_security::x509::{As4Ap, O2o, PathError, RevocationChecker, Smp, TrustStore};
use time::macros::datetime;

/// A fixed instant inside every CA's validity (the AP issuing CAs expire in 2032).
const AT: time::OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

fn certs_dir() -> Option<PathBuf> {
    support_crypto::shared_dir().map(|s| s.join("sdk-reference/certificates"))
}

fn load(path: &Path) -> Certificate {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if bytes.starts_with(b"-----") {
        sdkgw_certs::certificates_from_pem(&bytes)
            .unwrap()
            .remove(0)
    } else {
        Certificate::from_der(&bytes).unwrap()
    }
}

struct Env {
    name: &'static str,
    ap_root: Certificate,
    ap_issuing: Certificate,
    smp_root: Certificate,
}

fn envs(dir: &Path) -> Vec<Env> {
    let ap = |env: &str, file: &str| load(&dir.join(env).join("CAs").join(ap_dir(env)).join(file));
    let smp =
        |env: &str, file: &str| load(&dir.join(env).join("CAs/Certifikatskedja SMP").join(file));
    vec![
        Env {
            name: "OPEN-TEST",
            ap_root: ap(
                "Certifikatkedjor OpenTest",
                "Rot CA eDelivery Accesspunkt-TEST.cer",
            ),
            ap_issuing: ap("Certifikatkedjor OpenTest", "Accesspunkt CA-OPEN-TEST.cer"),
            smp_root: smp("Certifikatkedjor OpenTest", "Rot CA eDelivery SMP-TEST.cer"),
        },
        Env {
            name: "QA",
            ap_root: ap(
                "Certifikatskedjor SDK QA",
                "Rot CA eDelivery Accesspunkt - QA.cer",
            ),
            ap_issuing: ap("Certifikatskedjor SDK QA", "Accesspunkt CA-SDK-QA.cer"),
            smp_root: smp("Certifikatskedjor SDK QA", "Rot CA eDelivery SMP-QA.cer"),
        },
        Env {
            name: "PROD",
            ap_root: ap(
                "Certifikatskedjor SDK Produktion",
                "Rot CA eDelivery Accesspunkt-PROD.cer",
            ),
            ap_issuing: ap(
                "Certifikatskedjor SDK Produktion",
                "Accesspunkt CA-SDK-PROD.cer",
            ),
            smp_root: smp(
                "Certifikatskedjor SDK Produktion",
                "Rot CA eDelivery SMP-PROD.cer",
            ),
        },
    ]
}

fn ap_dir(_env: &str) -> &'static str {
    "Certifikatskedja Accesspunkt"
}

fn ap_store(e: &Env) -> TrustStore<As4Ap> {
    TrustStore::pinned(e.name, vec![e.ap_root.clone()], vec![e.ap_issuing.clone()]).unwrap()
}

#[test]
fn digg_anchor_fingerprints_match_the_published_pins() {
    let Some(dir) = certs_dir() else { return };
    let expected = [
        (
            "OPEN-TEST",
            "7D59ABDF8E9BB610C2D166AC794A7607661D6075D9969198B5DF8EA60778DCE0",
            "FD8E5F0864E0A8CCAF7B2F3A53858411E63C3D9DFF044893E73BEF593EE94EFB",
            "8149724C8683D7D0B28A906BE41EB2E01B28ADFBFFC23DD6A6DD3E535E1D0B52",
        ),
        (
            "QA",
            "DB5B25488CBD041FAC9B2F35E4B96259BBB2C09AA460139EFBD84BA9AC49CE98",
            "E00C280409AECF513F0C2986625C71CB305D5B1B9B8899BBFAC8E6D0142D6D40",
            "A908F5EEC6FEAAA09DC2E1429C84F26B7AE687E2D01D572A7717F5BE9F776608",
        ),
        (
            "PROD",
            "F0761A63779A07313A939435DCD11250B7C692464A55A68E5E2F454BF0702B48",
            "E005631C678A2303A15409B1BE93B54316023892DD68886063977E8AEA65CF51",
            "562B274703EA29CE2D3AA284124148BF89118B1F11B49874D1AD5196B9A3EE2C",
        ),
    ];
    for (e, (name, root, issuing, smp)) in envs(&dir).iter().zip(expected) {
        assert_eq!(e.name, name);
        assert_eq!(e.ap_root.fingerprint_hex(), root, "{name} AP root");
        assert_eq!(
            e.ap_issuing.fingerprint_hex(),
            issuing,
            "{name} AP issuing CA"
        );
        assert_eq!(e.smp_root.fingerprint_hex(), smp, "{name} SMP root");
    }
}

#[test]
fn each_environment_issuing_ca_validates_against_its_own_root_only() {
    let Some(dir) = certs_dir() else { return };
    let envs = envs(&dir);
    let rc = RevocationChecker::disabled();
    for own in &envs {
        let path = ap_store(own)
            .validate_ca(&own.ap_issuing, &[], AT, &rc)
            .unwrap();
        assert_eq!(path.anchor(), &own.ap_root, "{}", own.name);
        for other in envs.iter().filter(|o| o.name != own.name) {
            let store = TrustStore::<As4Ap>::pinned(
                other.name,
                vec![other.ap_root.clone()],
                vec![other.ap_issuing.clone()],
            )
            .unwrap()
            .with_foreign(own.name, vec![own.ap_root.clone(), own.ap_issuing.clone()]);
            match store.validate_ca(&own.ap_issuing, &[], AT, &rc) {
                Err(PathError::WrongEnvironment {
                    found, expected, ..
                }) => {
                    assert_eq!((found.as_str(), expected.as_str()), (own.name, other.name));
                }
                other_result => panic!("{} CA in {} store: {other_result:?}", own.name, other.name),
            }
        }
    }
}

#[test]
fn environment_anchor_sets_are_disjoint() {
    let Some(dir) = certs_dir() else { return };
    let envs = envs(&dir);
    for (i, a) in envs.iter().enumerate() {
        for b in &envs[i + 1..] {
            for x in [&a.ap_root, &a.ap_issuing, &a.smp_root] {
                for y in [&b.ap_root, &b.ap_issuing, &b.smp_root] {
                    assert_ne!(x, y, "{} and {} share a CA", a.name, b.name);
                }
            }
        }
    }
    // The SMP root is a store of its own role; an AP CA is not an SMP anchor.
    let e = &envs[0];
    let smp = TrustStore::<Smp>::new(e.name, vec![e.smp_root.clone()]).unwrap();
    assert!(
        smp.validate_ca(&e.ap_issuing, &[], AT, &RevocationChecker::disabled())
            .is_err()
    );
}

#[test]
fn siths_function_ca_validates_against_siths_root_sha512_in_test_and_prod() {
    let Some(dir) = certs_dir() else { return };
    let rc = RevocationChecker::disabled();
    let test_o2o = dir.join("Certifikatkedjor OpenTest/CAs/Certifikatskedjor O2O");
    let prod_o2o = dir.join("Certifikatskedjor SDK Produktion/CAs/Certifikatskedjor O2O");
    let test_root = load(&test_o2o.join("testsithseidrootcav2.cer"));
    let test_func = load(&test_o2o.join("testsithseidfunctioncav1.cer"));
    let prod_root = load(&prod_o2o.join("sithseidrootcav2.cer"));
    let prod_func = load(&prod_o2o.join("sithseidfunctioncav1.cer"));
    assert_eq!(
        test_func.signature_algorithm(),
        "1.2.840.113549.1.1.13",
        "sha512WithRSAEncryption"
    );
    assert_eq!(test_func.basic_constraints().unwrap().path_len, Some(0));

    let test_store = TrustStore::<O2o>::new("OPEN-TEST", vec![test_root.clone()]).unwrap();
    let path = test_store.validate_ca(&test_func, &[], AT, &rc).unwrap();
    assert_eq!(path.chain(), [test_func.clone(), test_root.clone()]);
    let prod_store = TrustStore::<O2o>::new("PROD", vec![prod_root.clone()]).unwrap();
    prod_store.validate_ca(&prod_func, &[], AT, &rc).unwrap();
    // Crossed: TEST function CA under the PROD root and vice versa.
    assert!(matches!(
        prod_store.validate_ca(&test_func, &[], AT, &rc),
        Err(PathError::UnknownIssuer { .. })
    ));
    assert!(matches!(
        test_store.validate_ca(&prod_func, &[], AT, &rc),
        Err(PathError::UnknownIssuer { .. })
    ));
}

#[test]
fn every_digg_o2o_issuer_is_usable_as_an_anchor() {
    let Some(dir) = certs_dir() else { return };
    for env in [
        "Certifikatkedjor OpenTest",
        "Certifikatskedjor SDK QA",
        "Certifikatskedjor SDK Produktion",
    ] {
        let o2o = dir.join(env).join("CAs/Certifikatskedjor O2O");
        let mut anchors: Vec<Certificate> = std::fs::read_dir(&o2o)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "cer" || x == "crt"))
            .map(|p| load(&p))
            .collect();
        anchors.sort_by(|a, b| a.subject().cmp(b.subject()));
        assert_eq!(anchors.len(), 4, "{env}");
        // EFOS intermediates (root absent) and self-signed ExpiTrust roots are CAs, so a
        // partial-chain O2O store accepts them all.
        TrustStore::<O2o>::new(env, anchors).unwrap();
    }
}
