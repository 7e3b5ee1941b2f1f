//! `[api] auth = "mtls"`: the listener requires a client certificate from `mtls_client_ca`;
//! its SHA-256 fingerprint names a registered client, whose scopes and grants apply.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_common;

use api_common::*;
use http::{Request, StatusCode};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use sdkgw_certs::{Certificate, PrivateKey};
use sdkgw_http::{
    ClientSettings, ClientTlsSettings, HostnameVerification, HttpsClient, OutBody, TlsIdentity,
    TrustAnchors,
};
use sdkgw_server::api::auth::{AuthMode, NewClient};
use time::OffsetDateTime;

struct Leaf {
    cert: Certificate,
    key: PrivateKey,
}

fn client_cert(ca: &CertificateParams, ca_key: &KeyPair, cn: &str) -> Leaf {
    let key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = p.signed_by(&key, &Issuer::from_params(ca, ca_key)).unwrap();
    Leaf {
        cert: Certificate::from_der(cert.der()).unwrap(),
        key: PrivateKey::from_pkcs8_der(&key.serialize_der()).unwrap(),
    }
}

fn https(identity: Option<&Leaf>) -> HttpsClient {
    let tls = sdkgw_http::tls::client_config(&ClientTlsSettings {
        identity: identity
            .map(|l| TlsIdentity::new(std::slice::from_ref(&l.cert), &l.key).unwrap()),
        server_trust: TrustAnchors::new(std::slice::from_ref(&tls().cert)).unwrap(),
        hostname: HostnameVerification::Verify,
    })
    .unwrap();
    HttpsClient::new(ClientSettings::new(tls))
}

#[tokio::test]
async fn registered_client_certificates_authenticate_and_others_do_not() {
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "API client CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let known = client_cert(&ca, &ca_key, "sakra-meddelanden");
    let stranger = client_cert(&ca, &ca_key, "someone");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("clients-ca.pem");
    std::fs::write(
        &ca_file,
        Certificate::from_der(ca_cert.der()).unwrap().to_pem(),
    )
    .unwrap();
    let mut s = settings();
    s.auth.mode = AuthMode::Mtls;
    s.mtls_client_ca = vec![ca_file];
    let gw = start_with(s).await;
    gw.api
        .clients()
        .unwrap()
        .add(
            NewClient {
                id: "sakra-meddelanden".into(),
                scopes: vec!["urn:sdk.api:getMessageByFilter".into()],
                grants: vec![IN1.into()],
                certificates: vec![known.cert.fingerprint_hex().to_ascii_lowercase()],
                ..Default::default()
            },
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    gw.file_inbound(IN1, "x", vec![]);
    let url = format!("{}/sdk/messages", gw.base);
    let get = |c: HttpsClient| {
        let url = url.clone();
        async move {
            c.send(Request::get(url).body(OutBody::empty()).unwrap())
                .await
        }
    };
    let ok = get(https(Some(&known))).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let body: serde_json::Value = serde_json::from_slice(ok.body()).unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    let unknown = get(https(Some(&stranger))).await.unwrap();
    assert_eq!(
        unknown.status(),
        StatusCode::UNAUTHORIZED,
        "valid chain, not registered"
    );
    assert!(
        get(https(None)).await.is_err(),
        "no certificate: the TLS handshake fails"
    );
    // Scope still applies: the client may list but not send.
    let r = https(Some(&known))
        .send(
            Request::post(url.clone())
                .header("content-type", "application/json")
                .body(OutBody::full(
                    serde_json::to_vec(&create_body("x")).unwrap(),
                ))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
