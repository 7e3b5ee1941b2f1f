//! Revocation as the address book applies it (addressing digest REV-02, REV-03 and fail-closed
//! status): without a current, correctly signed CRL for a certificate's issuer, the AP
//! certificate gives no route and the SMP signer is not trusted. (OCSP, REV-01, belongs to
//! the x509 layer's checker and is not configured by the gateway yet.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sdkgw_address_book::{LookupError, ServiceEntry};
use sdkgw_schemas::Environment;
use sdkgw_xml_security::x509::Crl;
use support::*;
use time::{Duration, OffsetDateTime};

async fn fetch_with(
    trust: std::sync::Arc<sdkgw_address_book::trust::Trust>,
) -> Result<ServiceEntry, LookupError> {
    let smp = fake_smp();
    let running = serve(&smp).await;
    client_with(running.url(), trust, &transport_settings())
        .fetch(&participant(0), &message_doc(), OffsetDateTime::now_utc())
        .await
}

fn ap_root_crl() -> Vec<Crl> {
    let pki = pki();
    pki.crls(&[&pki.manifest.crls.ap_root])
}

fn unknown_status(e: &LookupError) -> bool {
    matches!(e, LookupError::RecipientCertInvalid { detail, .. } if detail.contains("revocation status"))
}

#[tokio::test]
async fn without_a_crl_of_its_issuer_an_ap_certificate_gives_no_route() {
    let trust = trust_custom(Environment::Dev, Vec::new(), Some(ap_root_crl()), None);
    let err = fetch_with(trust).await.unwrap().route().unwrap_err();
    assert!(unknown_status(&err), "{err}");
}

#[tokio::test]
async fn rev_02_a_crl_past_its_next_update_gives_no_status() {
    let pki = pki();
    let m = &pki.manifest;
    let issuer = ca_issuer(
        &pki.dir,
        &m.ca.ap_intermediate,
        &key_rel(&m.ca.ap_intermediate),
    );
    let now = OffsetDateTime::now_utc();
    let old = crl_with(
        &issuer,
        &[],
        now - Duration::days(10),
        now - Duration::days(1),
    );
    let mut crls = ap_root_crl();
    crls.push(Crl::from_der(&old).unwrap());
    let trust = trust_custom(Environment::Dev, Vec::new(), Some(crls), None);
    let err = fetch_with(trust).await.unwrap().route().unwrap_err();
    assert!(unknown_status(&err), "{err}");
}

#[tokio::test]
async fn rev_03_a_crl_signed_by_another_key_is_ignored() {
    let pki = pki();
    let m = &pki.manifest;
    // Same issuer name as the AP intermediate, another key; it even lists the AP certificate.
    let cert_pem = std::fs::read_to_string(pki.dir.join(&m.ca.ap_intermediate)).unwrap();
    let impostor = rcgen::Issuer::from_ca_cert_pem(
        &cert_pem,
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
    )
    .unwrap();
    let now = OffsetDateTime::now_utc();
    let forged = crl_with(
        &impostor,
        &[&pki.org_ap(0).cert],
        now - Duration::hours(1),
        now + Duration::days(1),
    );
    let mut crls = ap_root_crl();
    crls.push(Crl::from_der(&forged).unwrap());
    let trust = trust_custom(Environment::Dev, Vec::new(), Some(crls), None);
    let err = fetch_with(trust).await.unwrap().route().unwrap_err();
    assert!(
        unknown_status(&err),
        "not revoked, not good: unknown ({err})"
    );
}

#[tokio::test]
async fn an_smp_signer_of_unknown_revocation_status_is_untrusted() {
    let trust = trust_custom(Environment::Dev, Vec::new(), None, Some(Vec::new()));
    let err = fetch_with(trust).await.unwrap_err();
    assert!(
        matches!(&err, LookupError::UntrustedSigner { reason } if reason.contains("revocation status")),
        "{err}"
    );
}
