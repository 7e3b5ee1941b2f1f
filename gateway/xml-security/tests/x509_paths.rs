//! Path validation per role on an rcgen PKI generated at test time (addressing digest §6.3
//! AP-*, REV-*; test-cases §4.4 H-26..H-30).

#![allow(clippy::unwrap_used, clippy::cloned_ref_to_slice_refs)]

mod support_pki;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{ExtendedKeyUsagePurpose as Eku, KeyUsagePurpose as Ku};
use sdkgw_certs::Certificate;
use sdkgw_xml_security::x509::{
    As4Ap, CrlFetcher, FetchError, MessagePurpose, O2o, OcspCertStatus, OcspClient, OcspResponse,
    OnUnknown, PathError, RevocationChecker, RevocationOutcome, RevocationPolicy, RevocationScope,
    StatusSource, StoreError, Tls, TlsPurpose, TrustStore,
};
use support_pki::{
    CaOpts, LeafOpts, crl, fresh_crl, intermediate, leaf, now, p256, p384, root, rsa, rsa256,
};
use time::Duration;

/// DIGG-shaped AP hierarchy: root → pinned issuing CA → leaves; plus a second issuing CA
/// under the same root and a foreign environment.
struct ApPki {
    root: support_pki::Ca,
    issuing: support_pki::Ca,
    other_issuing: support_pki::Ca,
    foreign_root: support_pki::Ca,
    foreign_issuing: support_pki::Ca,
}

fn ap_pki() -> ApPki {
    let root = root("Rot CA eDelivery Accesspunkt-TEST", rsa256());
    let issuing = intermediate(
        "Accesspunkt CA-OPEN-TEST",
        2,
        rsa(&rcgen::PKCS_RSA_SHA512),
        &root,
        CaOpts::default(),
    );
    let other_issuing = intermediate("Accesspunkt CA-OTHER", 3, p256(), &root, CaOpts::default());
    let foreign_root = root_named("Rot CA eDelivery Accesspunkt - QA");
    let foreign_issuing = intermediate(
        "Accesspunkt CA-SDK-QA",
        2,
        p256(),
        &foreign_root,
        CaOpts::default(),
    );
    ApPki {
        root,
        issuing,
        other_issuing,
        foreign_root,
        foreign_issuing,
    }
}

fn root_named(cn: &str) -> support_pki::Ca {
    root(cn, p256())
}

fn ap_store(pki: &ApPki) -> TrustStore<As4Ap> {
    TrustStore::pinned(
        "OPEN-TEST",
        vec![pki.root.cert.clone()],
        vec![pki.issuing.cert.clone()],
    )
    .unwrap()
    .with_foreign(
        "QA",
        vec![
            pki.foreign_root.cert.clone(),
            pki.foreign_issuing.cert.clone(),
        ],
    )
}

fn crls(pki: &ApPki, revoked_leaves: &[&Certificate]) -> RevocationChecker {
    let rc = RevocationChecker::new(RevocationPolicy::default());
    rc.add_crls([
        fresh_crl(&pki.issuing, revoked_leaves),
        fresh_crl(&pki.root, &[]),
    ]);
    rc
}

#[test]
fn accepts_ap_certificate_from_pinned_issuing_ca_and_reports_its_cn() {
    let pki = ap_pki();
    let ap = leaf("AP0001-OPEN-TEST", 10, &pki.issuing, LeafOpts::default());
    let path = ap_store(&pki)
        .validate(&ap, &[], MessagePurpose::Signature, now(), &crls(&pki, &[]))
        .unwrap();
    assert_eq!(path.leaf().common_name(), Some("AP0001-OPEN-TEST"));
    assert_eq!(path.chain().len(), 3);
    assert_eq!(path.anchor(), &pki.root.cert);
    assert_eq!(
        path.revocation().len(),
        2,
        "leaf and issuing CA are checked"
    );
    assert!(
        path.revocation()
            .iter()
            .all(|o| matches!(o, RevocationOutcome::Good(StatusSource::Crl { .. })))
    );
}

#[test]
fn ap_store_cannot_be_built_without_a_pin() {
    let pki = ap_pki();
    assert!(matches!(
        TrustStore::<As4Ap>::new("OPEN-TEST", vec![pki.root.cert.clone()]),
        Err(StoreError::PinRequired { .. })
    ));
    assert!(matches!(
        TrustStore::<As4Ap>::pinned("OPEN-TEST", vec![pki.root.cert.clone()], vec![]),
        Err(StoreError::PinRequired { .. })
    ));
    let leafish = leaf("not a CA", 11, &pki.root, LeafOpts::default());
    assert!(matches!(
        TrustStore::<O2o>::new("OPEN-TEST", vec![leafish]),
        Err(StoreError::AnchorNotCa { .. })
    ));
}

#[test]
fn rejects_ap_certificate_from_another_issuing_ca_under_the_same_root() {
    let pki = ap_pki();
    let ap = leaf("AP0005-OTHER", 12, &pki.other_issuing, LeafOpts::default());
    // Even when the peer presents its (root-signed) intermediate, the pin refuses it.
    let err = ap_store(&pki)
        .validate(
            &ap,
            &[pki.other_issuing.cert.clone()],
            MessagePurpose::Signature,
            now(),
            &crls(&pki, &[]),
        )
        .unwrap_err();
    assert!(matches!(err, PathError::IssuerNotPinned { .. }), "{err}");
}

#[test]
fn rejects_ap_certificate_from_another_environment_naming_it() {
    let pki = ap_pki();
    let qa = leaf(
        "AP0001-SDK-QA",
        13,
        &pki.foreign_issuing,
        LeafOpts::default(),
    );
    let err = ap_store(&pki)
        .validate(
            &qa,
            &[pki.foreign_issuing.cert.clone()],
            MessagePurpose::Signature,
            now(),
            &crls(&pki, &[]),
        )
        .unwrap_err();
    match err {
        PathError::WrongEnvironment {
            found, expected, ..
        } => {
            assert_eq!((found.as_str(), expected.as_str()), ("QA", "OPEN-TEST"));
        }
        other => panic!("expected WrongEnvironment, got {other}"),
    }
    // Without the foreign CAs registered it is still refused, as an unknown issuer.
    let bare = TrustStore::pinned(
        "OPEN-TEST",
        vec![pki.root.cert.clone()],
        vec![pki.issuing.cert.clone()],
    )
    .unwrap();
    let err = bare
        .validate(&qa, &[], MessagePurpose::Signature, now(), &crls(&pki, &[]))
        .unwrap_err();
    assert!(matches!(err, PathError::UnknownIssuer { .. }), "{err}");
}

#[test]
fn rejects_expired_and_not_yet_valid_certificates_at_the_given_instant() {
    let pki = ap_pki();
    let store = ap_store(&pki);
    let rc = RevocationChecker::disabled();
    let old = leaf(
        "AP0003-OPEN-TEST",
        14,
        &pki.issuing,
        LeafOpts {
            not_before: Some(now() - Duration::days(20)),
            not_after: Some(now() - Duration::days(1)),
            ..Default::default()
        },
    );
    let err = store
        .validate(&old, &[], MessagePurpose::Signature, now(), &rc)
        .unwrap_err();
    assert!(matches!(err, PathError::Expired { .. }), "{err}");
    // "As of" a date inside its validity it is fine (old vectors).
    store
        .validate(
            &old,
            &[],
            MessagePurpose::Signature,
            now() - Duration::days(5),
            &rc,
        )
        .unwrap();
    let future = leaf(
        "AP0009-OPEN-TEST",
        15,
        &pki.issuing,
        LeafOpts {
            not_before: Some(now() + Duration::days(2)),
            ..Default::default()
        },
    );
    let err = store
        .validate(&future, &[], MessagePurpose::Signature, now(), &rc)
        .unwrap_err();
    assert!(matches!(err, PathError::NotYetValid { .. }), "{err}");
}

#[test]
fn rejects_path_through_an_expired_intermediate() {
    let root = root("Root", rsa256());
    let opts = CaOpts {
        not_before: Some(now() - Duration::days(60)),
        not_after: Some(now() - Duration::days(1)),
        ..Default::default()
    };
    let inter = intermediate("Expired CA", 2, p256(), &root, opts);
    let o2o = leaf("org.test", 3, &inter, LeafOpts::default());
    let store = TrustStore::<O2o>::new("TEST", vec![root.cert.clone()]).unwrap();
    let err = store
        .validate(
            &o2o,
            &[inter.cert.clone()],
            MessagePurpose::Signature,
            now(),
            &RevocationChecker::disabled(),
        )
        .unwrap_err();
    match err {
        PathError::Expired { subject, .. } => assert!(subject.contains("Expired CA")),
        other => panic!("expected Expired, got {other}"),
    }
}

#[test]
fn rejects_revoked_leaf_and_revoked_intermediate() {
    let pki = ap_pki();
    let ap = leaf("AP0004-OPEN-TEST", 16, &pki.issuing, LeafOpts::default());
    let err = ap_store(&pki)
        .validate(
            &ap,
            &[],
            MessagePurpose::Signature,
            now(),
            &crls(&pki, &[&ap]),
        )
        .unwrap_err();
    match &err {
        PathError::Revoked { serial, reason, .. } => {
            assert_eq!(serial, &ap.serial_hex());
            assert_eq!(reason.as_deref(), Some("keyCompromise"));
        }
        other => panic!("expected Revoked, got {other}"),
    }
    assert!(err.is_revocation());
    // The issuing CA revoked by the root's CRL.
    let rc = RevocationChecker::new(RevocationPolicy::default());
    rc.add_crls([
        fresh_crl(&pki.issuing, &[]),
        fresh_crl(&pki.root, &[&pki.issuing.cert]),
    ]);
    let err = ap_store(&pki)
        .validate(&ap, &[], MessagePurpose::Signature, now(), &rc)
        .unwrap_err();
    assert!(
        matches!(&err, PathError::Revoked { subject, .. } if subject.contains("Accesspunkt CA-OPEN-TEST")),
        "{err}"
    );
    // Leaf-only scope does not look at the intermediate.
    let leaf_only = RevocationChecker::new(RevocationPolicy {
        scope: RevocationScope::LeafOnly,
        ..Default::default()
    });
    leaf_only.add_crls([fresh_crl(&pki.issuing, &[])]);
    ap_store(&pki)
        .validate(&ap, &[], MessagePurpose::Signature, now(), &leaf_only)
        .unwrap();
}

#[test]
fn revocation_after_the_validation_instant_does_not_count() {
    let pki = ap_pki();
    let ap = leaf("AP0004-OPEN-TEST", 17, &pki.issuing, LeafOpts::default());
    let rc = RevocationChecker::new(RevocationPolicy {
        scope: RevocationScope::LeafOnly,
        ..Default::default()
    });
    rc.add_crls([crl(
        &pki.issuing,
        &[&ap],
        now() - Duration::hours(2),
        now() - Duration::hours(1),
        now() + Duration::days(1),
    )]);
    ap_store(&pki)
        .validate(
            &ap,
            &[],
            MessagePurpose::Signature,
            now() - Duration::hours(3),
            &rc,
        )
        .unwrap();
    assert!(
        ap_store(&pki)
            .validate(&ap, &[], MessagePurpose::Signature, now(), &rc)
            .is_err()
    );
}

#[test]
fn stale_crl_fails_closed_by_default_and_is_used_within_grace() {
    let pki = ap_pki();
    let ap = leaf("AP0001-OPEN-TEST", 18, &pki.issuing, LeafOpts::default());
    let stale = || {
        crl(
            &pki.issuing,
            &[],
            now() - Duration::days(3),
            now() - Duration::days(2),
            now() - Duration::hours(2),
        )
    };
    let leaf_only = RevocationPolicy {
        scope: RevocationScope::LeafOnly,
        ..Default::default()
    };
    // REV-02: past nextUpdate, grace 0 → unknown → fail closed.
    let rc = RevocationChecker::new(leaf_only);
    rc.add_crls([stale()]);
    let err = ap_store(&pki)
        .validate(&ap, &[], MessagePurpose::Signature, now(), &rc)
        .unwrap_err();
    assert!(matches!(err, PathError::RevocationUnknown { .. }), "{err}");
    // With a grace of a day the stale CRL is used, and the outcome says so.
    let rc = RevocationChecker::new(RevocationPolicy {
        grace: Duration::days(1),
        ..leaf_only
    });
    rc.add_crls([stale()]);
    let path = ap_store(&pki)
        .validate(&ap, &[], MessagePurpose::Signature, now(), &rc)
        .unwrap();
    assert!(matches!(
        &path.revocation()[0],
        RevocationOutcome::Good(StatusSource::Crl {
            stale_within_grace: true,
            ..
        })
    ));
    // Soft-fail is an explicit choice.
    let rc = RevocationChecker::new(RevocationPolicy {
        on_unknown: OnUnknown::Accept,
        ..leaf_only
    });
    let path = ap_store(&pki)
        .validate(&ap, &[], MessagePurpose::Signature, now(), &rc)
        .unwrap();
    assert!(matches!(
        &path.revocation()[0],
        RevocationOutcome::UnknownAccepted { .. }
    ));
}

#[test]
fn crl_signed_by_the_wrong_key_is_ignored_so_status_is_unknown() {
    let pki = ap_pki();
    let ap = leaf("AP0001-OPEN-TEST", 19, &pki.issuing, LeafOpts::default());
    // Same issuer name, different key (REV-03).
    let impostor = intermediate(
        "Accesspunkt CA-OPEN-TEST",
        2,
        p256(),
        &pki.root,
        CaOpts::default(),
    );
    let rc = RevocationChecker::new(RevocationPolicy {
        scope: RevocationScope::LeafOnly,
        ..Default::default()
    });
    rc.add_crls([fresh_crl(&impostor, &[])]);
    let err = ap_store(&pki)
        .validate(&ap, &[], MessagePurpose::Signature, now(), &rc)
        .unwrap_err();
    match err {
        PathError::RevocationUnknown { reason, .. } => {
            assert!(reason.contains("does not verify"), "{reason}")
        }
        other => panic!("expected RevocationUnknown, got {other}"),
    }
}

/// A CRL fetcher serving fixed bytes and counting calls.
struct FakeFetcher {
    der: std::sync::Mutex<Vec<u8>>,
    calls: AtomicUsize,
}
impl CrlFetcher for FakeFetcher {
    fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        assert_eq!(url, "http://127.0.0.1:8099/ap-ca.crl");
        let der = self.der.lock().unwrap().clone();
        if der.is_empty() {
            Err(FetchError("connection refused".into()))
        } else {
            Ok(der)
        }
    }
}

#[test]
fn fetched_crl_is_cached_until_next_update() {
    let pki = ap_pki();
    let opts = LeafOpts {
        crl_url: Some("http://127.0.0.1:8099/ap-ca.crl".into()),
        ..Default::default()
    };
    let ap = leaf("AP0001-OPEN-TEST", 20, &pki.issuing, opts);
    let der = rcgen::CertificateRevocationListParams {
        this_update: now() - Duration::hours(1),
        next_update: now() + Duration::hours(1),
        crl_number: rcgen::SerialNumber::from(7u64),
        issuing_distribution_point: None,
        revoked_certs: vec![],
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    }
    .signed_by(&pki.issuing.issuer)
    .unwrap()
    .der()
    .to_vec();
    let fetcher = Arc::new(FakeFetcher {
        der: std::sync::Mutex::new(der),
        calls: AtomicUsize::new(0),
    });
    let rc = RevocationChecker::new(RevocationPolicy {
        scope: RevocationScope::LeafOnly,
        ..Default::default()
    })
    .with_fetcher(fetcher.clone());
    let store = ap_store(&pki);
    store
        .validate(&ap, &[], MessagePurpose::Signature, now(), &rc)
        .unwrap();
    store
        .validate(
            &ap,
            &[],
            MessagePurpose::Signature,
            now() + Duration::minutes(30),
            &rc,
        )
        .unwrap();
    assert_eq!(
        fetcher.calls.load(Ordering::SeqCst),
        1,
        "second validation used the cache"
    );
    // Past nextUpdate the checker fetches again; the source is now down → fail closed.
    fetcher.der.lock().unwrap().clear();
    let err = store
        .validate(
            &ap,
            &[],
            MessagePurpose::Signature,
            now() + Duration::hours(2),
            &rc,
        )
        .unwrap_err();
    assert_eq!(fetcher.calls.load(Ordering::SeqCst), 2);
    match err {
        PathError::RevocationUnknown { reason, .. } => {
            assert!(reason.contains("connection refused"), "{reason}")
        }
        other => panic!("expected RevocationUnknown, got {other}"),
    }
}

/// An OCSP responder fake with a fixed answer (or outage).
struct FakeOcsp(Option<OcspResponse>);
impl OcspClient for FakeOcsp {
    fn query(
        &self,
        _: &Certificate,
        _: &Certificate,
        url: &str,
    ) -> Result<OcspResponse, FetchError> {
        assert_eq!(url, "http://ocsp.test");
        self.0
            .clone()
            .ok_or_else(|| FetchError("responder down".into()))
    }
}

#[test]
fn ocsp_good_revoked_unknown_stale_and_down_with_crl_fallback() {
    let pki = ap_pki();
    let opts = LeafOpts {
        ocsp_url: Some("http://ocsp.test".into()),
        ..Default::default()
    };
    let ap = leaf("AP0001-OPEN-TEST", 21, &pki.issuing, opts);
    assert_eq!(ap.ocsp_urls(), ["http://ocsp.test"]);
    let store = ap_store(&pki);
    let policy = RevocationPolicy {
        scope: RevocationScope::LeafOnly,
        ..Default::default()
    };
    let answer = |status, this_update| OcspResponse {
        status,
        this_update,
        next_update: Some(this_update + Duration::hours(4)),
    };
    let check = |ocsp: Option<OcspResponse>, with_crl: bool| {
        let rc = RevocationChecker::new(policy).with_ocsp(Arc::new(FakeOcsp(ocsp)));
        if with_crl {
            rc.add_crls([fresh_crl(&pki.issuing, &[])]);
        }
        store.validate(&ap, &[], MessagePurpose::Signature, now(), &rc)
    };
    // REV-01: good; revoked; down + fresh CRL good.
    let path = check(
        Some(answer(OcspCertStatus::Good, now() - Duration::minutes(1))),
        false,
    )
    .unwrap();
    assert!(matches!(
        &path.revocation()[0],
        RevocationOutcome::Good(StatusSource::Ocsp { .. })
    ));
    let revoked = OcspCertStatus::Revoked {
        revoked_at: now() - Duration::days(1),
        reason: Some("keyCompromise"),
    };
    assert!(matches!(
        check(Some(answer(revoked, now())), true),
        Err(PathError::Revoked { .. })
    ));
    let path = check(None, true).unwrap();
    assert!(matches!(
        &path.revocation()[0],
        RevocationOutcome::Good(StatusSource::Crl { .. })
    ));
    // H-29: "unknown" and replayed (stale) responses are never good.
    assert!(matches!(
        check(Some(answer(OcspCertStatus::Unknown, now())), false),
        Err(PathError::RevocationUnknown { .. })
    ));
    let replayed = answer(OcspCertStatus::Good, now() - Duration::days(3));
    assert!(matches!(
        check(Some(replayed), false),
        Err(PathError::RevocationUnknown { .. })
    ));
    // H-28: OCSP down and no usable CRL → fail closed.
    assert!(matches!(
        check(None, false),
        Err(PathError::RevocationUnknown { .. })
    ));
}

#[test]
fn key_usage_must_allow_the_purpose() {
    let pki = ap_pki();
    let store = ap_store(&pki);
    let rc = RevocationChecker::disabled();
    let enc_only = leaf(
        "AP0001-OPEN-TEST",
        22,
        &pki.issuing,
        LeafOpts {
            key_usages: vec![Ku::KeyEncipherment],
            ..Default::default()
        },
    );
    let err = store
        .validate(&enc_only, &[], MessagePurpose::Signature, now(), &rc)
        .unwrap_err();
    assert!(matches!(err, PathError::UsageNotAllowed { .. }), "{err}");
    store
        .validate(&enc_only, &[], MessagePurpose::KeyTransport, now(), &rc)
        .unwrap();
    let sign_only = leaf(
        "AP0002-OPEN-TEST",
        23,
        &pki.issuing,
        LeafOpts {
            key_usages: vec![Ku::DigitalSignature],
            ..Default::default()
        },
    );
    assert!(matches!(
        store.validate(&sign_only, &[], MessagePurpose::KeyTransport, now(), &rc),
        Err(PathError::UsageNotAllowed { .. })
    ));
    // No keyUsage extension: every purpose is allowed (RFC 5280).
    let no_ku = leaf(
        "AP0003-OPEN-TEST",
        24,
        &pki.issuing,
        LeafOpts {
            key_usages: vec![],
            ..Default::default()
        },
    );
    store
        .validate(&no_ku, &[], MessagePurpose::KeyTransport, now(), &rc)
        .unwrap();
}

#[test]
fn tls_role_checks_extended_key_usage() {
    let root = root("SDK Test TLS Root", p384());
    let ca = intermediate(
        "SDK Test TLS CA",
        2,
        p256(),
        &root,
        CaOpts {
            path_len: Some(0),
            ..Default::default()
        },
    );
    let store = TrustStore::<Tls>::new("TEST", vec![root.cert.clone()]).unwrap();
    let rc = RevocationChecker::disabled();
    let client = leaf(
        "AP0001-TEST",
        3,
        &ca,
        LeafOpts {
            ekus: vec![Eku::ClientAuth],
            ..Default::default()
        },
    );
    store
        .validate(&client, &[ca.cert.clone()], TlsPurpose::Client, now(), &rc)
        .unwrap();
    let err = store
        .validate(&client, &[ca.cert.clone()], TlsPurpose::Server, now(), &rc)
        .unwrap_err();
    assert!(matches!(err, PathError::UsageNotAllowed { .. }), "{err}");
}

#[test]
fn ecdsa_p256_and_p384_chains_validate() {
    let root = root("EC Root", p384());
    let ca = intermediate("EC CA", 2, p256(), &root, CaOpts::default());
    let leaf = leaf("ec.test", 3, &ca, LeafOpts::default());
    let store = TrustStore::<O2o>::new("TEST", vec![root.cert.clone()]).unwrap();
    let path = store
        .validate(
            &leaf,
            &[ca.cert.clone()],
            MessagePurpose::Signature,
            now(),
            &RevocationChecker::disabled(),
        )
        .unwrap();
    assert_eq!(path.chain().len(), 3);
}

#[test]
fn intermediate_can_be_a_partial_chain_anchor() {
    // EFOS: the issuing CA is trusted directly because its root is not distributed.
    let root = root("Swedish Public Sector Internal Root CA SAT v1", rsa256());
    let ca = intermediate(
        "Swedish Public Sector Function CA v3 SAT",
        2,
        p256(),
        &root,
        CaOpts::default(),
    );
    let org = leaf("org.test", 3, &ca, LeafOpts::default());
    let store = TrustStore::<O2o>::new("TEST", vec![ca.cert.clone()]).unwrap();
    let path = store
        .validate(
            &org,
            &[],
            MessagePurpose::Signature,
            now(),
            &RevocationChecker::disabled(),
        )
        .unwrap();
    assert_eq!(path.chain(), [org, ca.cert]);
}

#[test]
fn chain_defects_are_rejected() {
    let root = root("Root", rsa256());
    let store = TrustStore::<O2o>::new("TEST", vec![root.cert.clone()]).unwrap();
    let rc = RevocationChecker::disabled();
    let validate = |leaf: &Certificate, presented: &[Certificate]| {
        store
            .validate(leaf, presented, MessagePurpose::Signature, now(), &rc)
            .unwrap_err()
    };
    // Missing intermediate.
    let ca = intermediate("CA", 2, p256(), &root, CaOpts::default());
    let org = leaf("org.test", 3, &ca, LeafOpts::default());
    assert!(matches!(
        validate(&org, &[]),
        PathError::UnknownIssuer { .. }
    ));
    // Intermediate with CA:FALSE.
    let not_ca = intermediate(
        "Not a CA",
        4,
        p256(),
        &root,
        CaOpts {
            is_ca: false,
            ..Default::default()
        },
    );
    let org = leaf("org.test", 5, &not_ca, LeafOpts::default());
    assert!(matches!(
        validate(&org, &[not_ca.cert.clone()]),
        PathError::NotCa { .. }
    ));
    // Intermediate without keyCertSign.
    let no_sign = intermediate(
        "CRL only",
        6,
        p256(),
        &root,
        CaOpts {
            key_usages: vec![Ku::CrlSign],
            ..Default::default()
        },
    );
    let org = leaf("org.test", 7, &no_sign, LeafOpts::default());
    assert!(matches!(
        validate(&org, &[no_sign.cert.clone()]),
        PathError::CaKeyUsage { .. }
    ));
    // pathLen 0 on the first CA, with a second CA below it.
    let top = intermediate(
        "Top CA",
        8,
        p256(),
        &root,
        CaOpts {
            path_len: Some(0),
            ..Default::default()
        },
    );
    let sub = intermediate("Sub CA", 9, p256(), &top, CaOpts::default());
    let org = leaf("org.test", 10, &sub, LeafOpts::default());
    let err = validate(&org, &[sub.cert.clone(), top.cert.clone()]);
    assert!(
        matches!(&err, PathError::PathLenExceeded { subject } if subject.contains("Top CA")),
        "{err}"
    );
    // Unknown critical extension on the leaf.
    let org = leaf(
        "org.test",
        11,
        &ca,
        LeafOpts {
            critical_unknown_extension: true,
            ..Default::default()
        },
    );
    assert!(matches!(
        validate(&org, &[ca.cert.clone()]),
        PathError::UnknownCriticalExtension { .. }
    ));
    // A CA certificate presented as the end entity.
    assert!(matches!(
        validate(&ca.cert, &[]),
        PathError::CaAsLeaf { .. }
    ));
    // A signature by another key under the same issuer name: with an authorityKeyIdentifier
    // the impostor is not even a candidate; without one its signature fails.
    let twin = intermediate("CA", 2, p256(), &root, CaOpts::default());
    let org = leaf("org.test", 12, &twin, LeafOpts::default());
    assert!(matches!(
        validate(&org, &[ca.cert.clone()]),
        PathError::UnknownIssuer { .. }
    ));
    let org = leaf(
        "org.test",
        13,
        &twin,
        LeafOpts {
            authority_key_id: false,
            ..Default::default()
        },
    );
    assert!(matches!(
        validate(&org, &[ca.cert.clone()]),
        PathError::BadSignature { .. }
    ));
}

#[test]
fn chain_building_backtracks_over_a_wrong_candidate() {
    // Two intermediates with the same name; only the second signed the leaf.
    let root = root("Root", rsa256());
    let old = intermediate("Issuing CA", 2, p256(), &root, CaOpts::default());
    let new = intermediate("Issuing CA", 3, p256(), &root, CaOpts::default());
    let org = leaf("org.test", 4, &new, LeafOpts::default());
    let store = TrustStore::<O2o>::new("TEST", vec![root.cert.clone()]).unwrap();
    let path = store
        .validate(
            &org,
            &[old.cert.clone(), new.cert.clone()],
            MessagePurpose::Signature,
            now(),
            &RevocationChecker::disabled(),
        )
        .unwrap();
    assert_eq!(path.chain()[1], new.cert);
}

#[test]
fn pinned_issuing_ca_itself_validates_to_the_root() {
    let pki = ap_pki();
    let store = ap_store(&pki);
    let path = store
        .validate_ca(
            &pki.issuing.cert,
            &[],
            now(),
            &RevocationChecker::disabled(),
        )
        .unwrap();
    assert_eq!(path.chain().len(), 2);
    let err = store
        .validate_ca(
            &pki.foreign_issuing.cert,
            &[],
            now(),
            &RevocationChecker::disabled(),
        )
        .unwrap_err();
    assert!(matches!(err, PathError::WrongEnvironment { .. }), "{err}");
}
