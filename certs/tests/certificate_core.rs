//! Parsing of certificates and keys made by an independent generator (rcgen).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use sdkgw_certs::{Certificate, PrivateKey, certificates_from_pem, private_key_from_pem};

fn rsa_cert() -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "AP0001-DEV");
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn parses_fields_of_a_generated_certificate_and_matches_its_key() {
    let (cert_pem, key_pem) = rsa_cert();
    let certs = certificates_from_pem(cert_pem.as_bytes()).unwrap();
    assert_eq!(certs.len(), 1);
    let cert = &certs[0];
    assert_eq!(cert.common_name(), Some("AP0001-DEV"));
    assert!(cert.is_self_issued());
    assert_eq!(cert.subject_alt_names(), ["DNS:localhost"]);
    assert!(cert.key_usage().unwrap().digital_signature);
    assert!(!cert.key_usage().unwrap().key_encipherment);
    let key = private_key_from_pem(key_pem.as_bytes()).unwrap();
    assert!(key.bits() >= 2048);
    assert!(key.matches(cert));
    let round = Certificate::from_base64(&cert.to_base64()).unwrap();
    assert_eq!(&round, cert);
    assert_eq!(cert.fingerprint_hex().len(), 64);
}

#[test]
fn rejects_trailing_garbage_and_non_certificates() {
    let (cert_pem, _) = rsa_cert();
    let cert = &certificates_from_pem(cert_pem.as_bytes()).unwrap()[0];
    let mut der = cert.der().to_vec();
    der.push(0);
    assert!(Certificate::from_der(&der).is_err());
    assert!(Certificate::from_der(b"hello").is_err());
    assert!(Certificate::from_base64("!!!").is_err());
}

#[test]
fn key_of_another_certificate_does_not_match() {
    let (cert_pem, _) = rsa_cert();
    let (_, other_key) = rsa_cert();
    let cert = &certificates_from_pem(cert_pem.as_bytes()).unwrap()[0];
    let key: PrivateKey = private_key_from_pem(other_key.as_bytes()).unwrap();
    assert!(!key.matches(cert));
    assert!(format!("{key:?}").starts_with("PrivateKey(RSA"));
}
