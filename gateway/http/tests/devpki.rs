//! The development PKI's TLS material (`sdkgw pki`, certs::devpki) works for our mutual-TLS
//! listener and client: what `quickstart` and the two-organisation demo rely on.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code

mod support;

use std::path::Path;
use std::sync::Arc;

use sdkgw_certs::devpki::{self, Manifest, Options, Pair};
use sdkgw_http::tls::{self, ClientTlsSettings};
use sdkgw_http::{
    ClientSettings, HostnameVerification, HttpsClient, ServerSettings, TlsIdentity, TrustAnchors,
};

fn identity(dir: &Path, pair: &Pair) -> TlsIdentity {
    let loaded =
        sdkgw_certs::load_key_pair(&dir.join(&pair.cert), Some(&dir.join(&pair.key)), None)
            .unwrap();
    let (key, mut chain) = loaded.into_parts();
    if chain.len() == 1 {
        // The leaf file holds the leaf only: send the TLS intermediate with it.
        chain.extend(
            sdkgw_certs::load_certificates(&dir.join(&manifest(dir).ca.tls_intermediate), None)
                .unwrap(),
        );
    }
    TlsIdentity::new(&chain, &key).unwrap()
}

fn manifest(dir: &Path) -> Manifest {
    devpki::read_manifest(dir).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_pki_tls_certificates_authenticate_both_ends() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        participants: vec!["0203:orga.test".into()],
        seed: None,
        force: false,
    };
    let render = |_: &devpki::OrgConfigInput<'_>| String::new();
    let manifest = tokio::task::spawn_blocking({
        let path = dir.path().to_owned();
        move || devpki::generate(&path, &options, &render).unwrap()
    })
    .await
    .unwrap();
    let org = &manifest.organisations[0];
    let root =
        sdkgw_certs::load_certificates(&dir.path().join(&manifest.ca.tls_root), None).unwrap();
    // The dev PKI publishes a CRL per CA, so the default fail-closed, whole-chain revocation
    // policy has a source for every certificate.
    let mut trust = TrustAnchors::new(&root).unwrap();
    for crl in [&manifest.crls.tls_root, &manifest.crls.tls_intermediate] {
        trust = trust
            .with_crl_file_content(&std::fs::read(dir.path().join(crl)).unwrap())
            .unwrap();
    }

    let server_config =
        tls::mtls_server_config(&identity(dir.path(), &org.tls_server), &trust).unwrap();
    let server = support::start(server_config, ServerSettings::default()).await;
    let client_config = tls::client_config(&ClientTlsSettings {
        identity: Some(identity(dir.path(), &org.tls_client)),
        server_trust: trust,
        hostname: HostnameVerification::Verify,
    })
    .unwrap();
    let client = HttpsClient::new(ClientSettings::new(Arc::clone(&client_config)));
    let response = client
        .send(support::get(&server.url("/whoami")))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = String::from_utf8(response.body().to_vec()).unwrap();
    assert!(
        text.ends_with("chain=2"),
        "leaf and TLS intermediate expected: {text}"
    );
}
