//! OCSP wire format (RFC 6960): our requests and the checks on responses, against responses
//! built in the test (good / revoked / unknown / delegated responder / bad signature / stale /
//! nonce) and against OpenSSL's `openssl ocsp` responder as an independent implementation
//! (addressing digest §4.5, §6.3 REV-01/REV-02).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support_ocsp;
mod support_pki;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose as Eku, IsCa, KeyPair,
    KeyUsagePurpose as Ku, SerialNumber,
};
use sdkgw_certs::Certificate;
use sdkgw_xml_security::x509::{
    FetchError, MessagePurpose, O2o, OcspCertStatus, OcspClient, OcspError, OcspRequest,
    OcspResponse, PathError, RevocationChecker, RevocationOutcome, RevocationPolicy,
    RevocationScope, StatusSource, TrustStore,
};
use support_ocsp::{Answer, Status};
use support_pki::{Ca, LeafOpts, leaf, now, root, rsa256};
use time::Duration;

struct Pki {
    ca: Ca,
    other_ca: Ca,
    leaf: Certificate,
    responder: Certificate,
    responder_key: KeyPair,
    responder_without_eku: Certificate,
    foreign_responder: Certificate,
}

fn responder_cert(ca: &Ca, cn: &str, serial: u64, ekus: Vec<Eku>, key: &KeyPair) -> Certificate {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.serial_number = Some(SerialNumber::from(serial));
    p.not_before = now() - Duration::days(1);
    p.not_after = now() + Duration::days(30);
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![Ku::DigitalSignature];
    p.extended_key_usages = ekus;
    Certificate::from_der(p.signed_by(key, &ca.issuer).unwrap().der()).unwrap()
}

fn pki() -> &'static Pki {
    static PKI: std::sync::OnceLock<Pki> = std::sync::OnceLock::new();
    PKI.get_or_init(|| {
        let ca = root("TEST Function CA v1", rsa256());
        let other_ca = root("Another CA", rsa256());
        let opts = LeafOpts {
            ocsp_url: Some("http://ocsp.test/".into()),
            ..Default::default()
        };
        let leaf = leaf("at.e2e.example.se", 0x8123, &ca, opts);
        let responder_key = support_pki::p256();
        let responder = responder_cert(
            &ca,
            "OCSP responder",
            90,
            vec![Eku::OcspSigning],
            &responder_key,
        );
        let responder_without_eku = responder_cert(
            &ca,
            "Not a responder",
            91,
            vec![Eku::ClientAuth],
            &responder_key,
        );
        let foreign_responder = responder_cert(
            &other_ca,
            "OCSP responder",
            92,
            vec![Eku::OcspSigning],
            &responder_key,
        );
        Pki {
            ca,
            other_ca,
            leaf,
            responder,
            responder_key,
            responder_without_eku,
            foreign_responder,
        }
    })
}

fn ca_key(ca: &Ca) -> &KeyPair {
    ca.issuer.key()
}

fn check(req: &OcspRequest, bytes: &[u8]) -> Result<OcspResponse, OcspError> {
    req.check_response(bytes, &pki().ca.cert, now())
}

#[test]
fn good_revoked_and_unknown_answers_signed_by_the_issuer_are_read() {
    let p = pki();
    let req = OcspRequest::new(&p.leaf, &p.ca.cert, true).unwrap();
    let mut a = Answer::good(&p.ca.cert, ca_key(&p.ca));
    let r = check(&req, &support_ocsp::response(req.der(), &a)).unwrap();
    assert_eq!(r.status, OcspCertStatus::Good);
    assert_eq!(
        r.this_update.unix_timestamp(),
        a.this_update.unix_timestamp()
    );
    assert_eq!(
        r.next_update.map(|t| t.unix_timestamp()),
        a.next_update.map(|t| t.unix_timestamp())
    );
    let revoked_at = now() - Duration::days(2);
    a.status = Status::Revoked(revoked_at);
    a.by_key = true;
    match check(&req, &support_ocsp::response(req.der(), &a))
        .unwrap()
        .status
    {
        OcspCertStatus::Revoked {
            revoked_at: t,
            reason,
        } => {
            assert_eq!(t.unix_timestamp(), revoked_at.unix_timestamp());
            assert_eq!(reason, Some("keyCompromise"));
        }
        other => panic!("expected revoked, got {other:?}"),
    }
    a.status = Status::Unknown;
    a.next_update = None;
    let r = check(&req, &support_ocsp::response(req.der(), &a)).unwrap();
    assert_eq!((r.status, r.next_update), (OcspCertStatus::Unknown, None));
}

#[test]
fn delegated_responder_needs_ocsp_signing_and_the_same_issuer() {
    let p = pki();
    let req = OcspRequest::new(&p.leaf, &p.ca.cert, false).unwrap();
    let mut a = Answer::good(&p.responder, &p.responder_key);
    a.certs = vec![p.responder.clone()];
    assert_eq!(
        check(&req, &support_ocsp::response(req.der(), &a))
            .unwrap()
            .status,
        OcspCertStatus::Good
    );
    a.by_key = true;
    assert!(check(&req, &support_ocsp::response(req.der(), &a)).is_ok());

    for (signer, why) in [
        (&p.responder_without_eku, "id-kp-OCSPSigning"),
        (&p.foreign_responder, "not issued by"),
    ] {
        let mut a = Answer::good(signer, &p.responder_key);
        a.certs = vec![signer.clone()];
        match check(&req, &support_ocsp::response(req.der(), &a)) {
            Err(OcspError::UnauthorizedSigner(m)) => assert!(m.contains(why), "{m}"),
            other => panic!("expected UnauthorizedSigner, got {other:?}"),
        }
    }
    // A responder certificate that is not in the response cannot be found.
    let a = Answer::good(&p.responder, &p.responder_key);
    assert!(matches!(
        check(&req, &support_ocsp::response(req.der(), &a)),
        Err(OcspError::UnauthorizedSigner(_))
    ));
}

#[test]
fn response_signed_with_another_key_is_refused() {
    let p = pki();
    let req = OcspRequest::new(&p.leaf, &p.ca.cert, false).unwrap();
    // Names the issuer but is signed by another CA's key.
    let a = Answer::good(&p.ca.cert, ca_key(&p.other_ca));
    assert!(matches!(
        check(&req, &support_ocsp::response(req.der(), &a)),
        Err(OcspError::BadSignature(_))
    ));
    // A byte of the signed data changed after signing.
    let a = Answer::good(&p.ca.cert, ca_key(&p.ca));
    let mut bytes = support_ocsp::response(req.der(), &a);
    let at = bytes.len() - 300;
    bytes[at] ^= 0x01;
    assert!(check(&req, &bytes).is_err());
}

#[test]
fn answer_for_another_certificate_or_with_a_foreign_nonce_is_refused() {
    let p = pki();
    let req = OcspRequest::new(&p.leaf, &p.ca.cert, true).unwrap();
    let mut a = Answer::good(&p.ca.cert, ca_key(&p.ca));
    a.serial_override = Some(vec![0x7e, 0x57]);
    assert_eq!(
        check(&req, &support_ocsp::response(req.der(), &a)),
        Err(OcspError::NoMatchingResponse)
    );
    let mut a = Answer::good(&p.ca.cert, ca_key(&p.ca));
    a.nonce_override = Some(vec![0x04, 0x02, 1, 2]);
    assert_eq!(
        check(&req, &support_ocsp::response(req.der(), &a)),
        Err(OcspError::NonceMismatch)
    );
    // Pre-signed answers carry no nonce: accepted.
    a.nonce_override = None;
    a.echo_nonce = false;
    assert!(check(&req, &support_ocsp::response(req.der(), &a)).is_ok());
}

#[test]
fn error_statuses_garbage_and_every_truncation_are_errors_without_panic() {
    let p = pki();
    let req = OcspRequest::new(&p.leaf, &p.ca.cert, true).unwrap();
    assert_eq!(
        check(&req, &support_ocsp::error_response(3)),
        Err(OcspError::Status("tryLater"))
    );
    assert_eq!(
        check(&req, &support_ocsp::error_response(6)),
        Err(OcspError::Status("unauthorized"))
    );
    assert!(check(&req, b"<html>not ocsp</html>").is_err());
    assert!(check(&req, &[]).is_err());
    let good = support_ocsp::response(req.der(), &Answer::good(&p.ca.cert, ca_key(&p.ca)));
    for n in 0..good.len() {
        assert!(check(&req, &good[..n]).is_err(), "prefix {n}");
    }
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(check(&req, &trailing).is_err());
}

/// An in-process responder behind the `OcspClient` trait: builds each answer from the request.
type Respond = Box<dyn Fn(&OcspRequest) -> Vec<u8> + Send + Sync>;
struct LocalResponder(Respond);

impl OcspClient for LocalResponder {
    fn query(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        _url: &str,
    ) -> Result<OcspResponse, FetchError> {
        let req = OcspRequest::new(cert, issuer, true).map_err(|e| FetchError(e.to_string()))?;
        req.check_response(&(self.0)(&req), issuer, now())
            .map_err(|e| FetchError(e.to_string()))
    }
}

fn validate_with(
    answer: impl Fn(&OcspRequest) -> Vec<u8> + Send + Sync + 'static,
) -> Result<RevocationOutcome, PathError> {
    let p = pki();
    let rc = RevocationChecker::new(RevocationPolicy {
        scope: RevocationScope::LeafOnly,
        ..Default::default()
    })
    .with_ocsp(Arc::new(LocalResponder(Box::new(answer))));
    let store = TrustStore::<O2o>::new("TEST", vec![p.ca.cert.clone()]).unwrap();
    store
        .validate(&p.leaf, &[], MessagePurpose::Signature, now(), &rc)
        .map(|path| path.revocation()[0].clone())
}

#[test]
fn checker_accepts_good_refuses_revoked_and_fails_closed_on_stale_or_bad_answers() {
    let p = pki();
    let outcome = validate_with(|req| {
        support_ocsp::response(req.der(), &Answer::good(&p.ca.cert, ca_key(&p.ca)))
    })
    .unwrap();
    assert!(matches!(
        outcome,
        RevocationOutcome::Good(StatusSource::Ocsp { .. })
    ));
    let revoked = validate_with(|req| {
        let mut a = Answer::good(&p.ca.cert, ca_key(&p.ca));
        a.status = Status::Revoked(now() - Duration::hours(1));
        support_ocsp::response(req.der(), &a)
    });
    assert!(
        matches!(revoked, Err(PathError::Revoked { .. })),
        "{revoked:?}"
    );
    // REV-02 for OCSP: nextUpdate passed, no CRL → fail closed.
    let stale = validate_with(|req| {
        let mut a = Answer::good(&p.ca.cert, ca_key(&p.ca));
        a.this_update = now() - Duration::days(2);
        a.next_update = Some(now() - Duration::days(1));
        support_ocsp::response(req.der(), &a)
    });
    match stale {
        Err(PathError::RevocationUnknown { reason, .. }) => {
            assert!(reason.contains("not current"), "{reason}")
        }
        other => panic!("expected RevocationUnknown, got {other:?}"),
    }
    let forged = validate_with(|req| {
        support_ocsp::response(req.der(), &Answer::good(&p.ca.cert, ca_key(&p.other_ca)))
    });
    match forged {
        Err(PathError::RevocationUnknown { reason, .. }) => {
            assert!(reason.contains("does not verify"), "{reason}")
        }
        other => panic!("expected RevocationUnknown, got {other:?}"),
    }
    let unknown = validate_with(|req| {
        let mut a = Answer::good(&p.ca.cert, ca_key(&p.ca));
        a.status = Status::Unknown;
        support_ocsp::response(req.der(), &a)
    });
    assert!(matches!(unknown, Err(PathError::RevocationUnknown { .. })));
}

// ---- OpenSSL as the independent implementation ----

fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian package openssl) must be installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `index.txt` lines (tab-separated: status, expiry, revocation, serial, file, subject).
fn index_line(cert: &Certificate, revoked: bool) -> String {
    let revocation = if revoked {
        "250101000000Z,keyCompromise"
    } else {
        ""
    };
    format!(
        "{}\t491231235959Z\t{revocation}\t{}\tunknown\t/CN=x\n",
        if revoked { "R" } else { "V" },
        cert.serial_hex().to_uppercase()
    )
}

#[test]
fn openssl_reads_our_request_and_we_read_openssl_responses() {
    let p = pki();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ca.pem"), p.ca.cert.to_pem()).unwrap();
    std::fs::write(d.join("ca.key"), ca_key(&p.ca).serialize_pem()).unwrap();
    std::fs::write(d.join("rsp.pem"), p.responder.to_pem()).unwrap();
    std::fs::write(d.join("rsp.key"), p.responder_key.serialize_pem()).unwrap();
    let req = OcspRequest::new(&p.leaf, &p.ca.cert, true).unwrap();
    std::fs::write(d.join("req.der"), req.der()).unwrap();
    let text = openssl(d, &["ocsp", "-reqin", "req.der", "-req_text", "-noverify"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Hash Algorithm: sha1"), "{text}");
    assert!(
        text.contains(&format!(
            "Serial Number: {}",
            p.leaf.serial_hex().to_uppercase()
        )),
        "{text}"
    );
    assert!(text.contains("OCSP Nonce"), "{text}");

    for (index, signer, key, expected) in [
        (index_line(&p.leaf, false), "ca.pem", "ca.key", "good"),
        (index_line(&p.leaf, true), "rsp.pem", "rsp.key", "revoked"),
        (String::new(), "ca.pem", "ca.key", "unknown"),
    ] {
        std::fs::write(d.join("index.txt"), index).unwrap();
        openssl(
            d,
            &[
                "ocsp",
                "-index",
                "index.txt",
                "-CA",
                "ca.pem",
                "-rsigner",
                signer,
                "-rkey",
                key,
                "-reqin",
                "req.der",
                "-respout",
                "resp.der",
                "-nmin",
                "10",
            ],
        );
        let resp = std::fs::read(d.join("resp.der")).unwrap();
        let r = req.check_response(&resp, &p.ca.cert, now()).unwrap();
        let got = match r.status {
            OcspCertStatus::Good => "good",
            OcspCertStatus::Revoked { reason, .. } => {
                assert_eq!(reason, Some("keyCompromise"));
                "revoked"
            }
            OcspCertStatus::Unknown => "unknown",
        };
        assert_eq!(got, expected, "signed by {signer}");
        assert!(r.next_update.is_some_and(|n| n > now()));
    }
}
