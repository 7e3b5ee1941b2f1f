//! Mutual TLS on 127.0.0.1 with certificates generated at test time (security-operations.md
//! §3.1 T-TLS-01, -02, -03, -04, -05; as4-transport.md §7.2 T33, T34).
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code

mod support;

use sdkgw_http::tls::{self, RevocationPolicy};
use sdkgw_http::{
    ClientError, ClientTlsSettings, ErrorKind, HandshakeFailure, HostnameVerification, HttpsClient,
    ServerSettings, TrustAnchors,
};
use support::{client, get, pki, start, start_mtls, tls_trust};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn trusted_client_is_accepted_and_its_chain_reaches_the_handler() {
    let server = start_mtls(ServerSettings::default()).await;
    let response = client(Some(&pki().client))
        .send(get(&server.url("/whoami")))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.body().as_ref(), b"AP0001-DEV chain=1");
    let snap = server.metrics.snapshot();
    assert_eq!(snap.handshakes_completed, 1);
    assert!(
        snap.handshake_failures.iter().all(|(_, n)| *n == 0),
        "{snap:?}"
    );
}

#[tokio::test]
async fn resumed_sessions_still_carry_the_verified_client_chain() {
    let server = start_mtls(ServerSettings::default()).await;
    let client = client(Some(&pki().client));
    let first = client.send(get(&server.url("/whoami"))).await.unwrap();
    assert_eq!(first.body().as_ref(), b"AP0001-DEV chain=1");
    let second = client.send(get(&server.url("/whoami"))).await.unwrap();
    assert_eq!(second.body().as_ref(), b"AP0001-DEV chain=1 resumed");
}

async fn assert_rejected(identity: Option<&support::Issued>, reason: HandshakeFailure) {
    let server = start_mtls(ServerSettings::default()).await;
    let result = client(identity).send(get(&server.url("/whoami"))).await;
    let err = result.expect_err("the server must refuse the handshake");
    // With TLS 1.3 the client learns of the refusal from the server's alert after its own
    // handshake finished; it is still classified as TLS, not as a lost connection.
    assert!(
        matches!(
            &err,
            ClientError::Tls {
                source: rustls::Error::AlertReceived(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Tls);
    assert!(
        !err.is_transient(),
        "a refused certificate needs a configuration change"
    );
    server
        .wait_for_metrics(|m| m.handshake_failures_for(reason) == 1)
        .await;
    assert_eq!(server.metrics.snapshot().handshakes_completed, 0);
    assert!(
        server.observed.peer_cns.lock().unwrap().is_empty(),
        "handler must not run"
    );
}

#[tokio::test]
async fn client_without_certificate_is_rejected() {
    assert_rejected(None, HandshakeFailure::NoClientCertificate).await;
}

#[tokio::test]
async fn client_with_certificate_from_an_untrusted_ca_is_rejected() {
    assert_rejected(
        Some(&pki().client_untrusted),
        HandshakeFailure::UntrustedCertificate,
    )
    .await;
}

#[tokio::test]
async fn client_with_expired_certificate_is_rejected() {
    assert_rejected(
        Some(&pki().client_expired),
        HandshakeFailure::CertificateNotCurrentlyValid,
    )
    .await;
}

#[tokio::test]
async fn client_listed_in_the_crl_is_rejected_and_others_still_pass() {
    let trust = tls_trust()
        .with_crl_file_content(pki().crl_pem.as_bytes())
        .unwrap();
    let config = tls::mtls_server_config(&pki().server.identity(), &trust).unwrap();
    let server = start(config, ServerSettings::default()).await;
    let revoked = client(Some(&pki().client_revoked))
        .send(get(&server.url("/whoami")))
        .await;
    assert!(revoked.is_err());
    server
        .wait_for_metrics(|m| m.handshake_failures_for(HandshakeFailure::CertificateRevoked) == 1)
        .await;
    let ok = client(Some(&pki().client))
        .send(get(&server.url("/whoami")))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn unknown_revocation_status_fails_closed_unless_allowed() {
    // A CRL from the TLS CA cannot speak for certificates of another issuer: with the whole
    // chain checked and an unknown status denied, a CA chain without its own CRL fails.
    let trust = TrustAnchors::new(&[pki().tls_ca.clone(), pki().other_ca.clone()])
        .unwrap()
        .with_crl_der(pki().crl_der.clone());
    let config = tls::mtls_server_config(&pki().server.identity(), &trust).unwrap();
    let server = start(config, ServerSettings::default()).await;
    assert!(
        client(Some(&pki().client_untrusted))
            .send(get(&server.url("/whoami")))
            .await
            .is_err()
    );
    server
        .wait_for_metrics(|m| {
            m.handshake_failures_for(HandshakeFailure::RevocationStatusUnknown) == 1
        })
        .await;

    let lenient = trust.with_revocation_policy(RevocationPolicy {
        allow_unknown_status: true,
        ..RevocationPolicy::default()
    });
    let config = tls::mtls_server_config(&pki().server.identity(), &lenient).unwrap();
    let server = start(config, ServerSettings::default()).await;
    let ok = client(Some(&pki().client_untrusted))
        .send(get(&server.url("/whoami")))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

/// A TLS 1.1 ClientHello (legacy_version 0x0302, no supported_versions extension), as an old
/// client or a protocol scanner sends it.
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02];
    body.extend_from_slice(&[0x42; 32]); // random
    body.push(0); // session id
    // ECDHE-RSA-AES128-GCM-SHA256 (also a TLS 1.2 suite, so only the version is wrong), AES128-SHA
    body.extend_from_slice(&[0x00, 0x04, 0xc0, 0x2f, 0x00, 0x2f]);
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    // signature_algorithms (rsa_pkcs1_sha256): without it rustls refuses earlier, with
    // handshake_failure; with it the version is the only thing wrong.
    body.extend_from_slice(&[0x00, 0x08, 0x00, 0x0d, 0x00, 0x04, 0x00, 0x02, 0x04, 0x01]);
    let mut handshake = vec![0x01, 0x00];
    handshake.extend_from_slice(&(body.len() as u16).to_be_bytes());
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

#[tokio::test]
async fn tls_1_1_client_hello_is_refused_with_a_protocol_version_alert() {
    let server = start_mtls(ServerSettings::default()).await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(&tls11_client_hello()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    // An alert record: content type 21, then level fatal (2), description protocol_version (70).
    assert!(answer.len() >= 7, "expected an alert, got {answer:02x?}");
    assert_eq!(answer[0], 21, "{answer:02x?}");
    assert_eq!(&answer[5..7], &[2, 70], "{answer:02x?}");
    server
        .wait_for_metrics(|m| m.handshake_failures_for(HandshakeFailure::ProtocolVersion) == 1)
        .await;
}

#[tokio::test]
async fn listener_without_client_auth_serves_anonymous_clients() {
    let config = tls::server_config_without_client_auth(&pki().server.identity()).unwrap();
    let server = start(config, ServerSettings::default()).await;
    let response = client(None)
        .send(get(&server.url("/whoami")))
        .await
        .unwrap();
    assert_eq!(response.body().as_ref(), b"anonymous chain=0");
}

#[tokio::test]
async fn client_refuses_a_server_outside_its_roots() {
    let server = start_mtls(ServerSettings::default()).await;
    let config = tls::client_config(&ClientTlsSettings {
        identity: Some(pki().client.identity()),
        server_trust: TrustAnchors::new(std::slice::from_ref(&pki().other_ca)).unwrap(),
        hostname: HostnameVerification::Verify,
    })
    .unwrap();
    let err = HttpsClient::new(sdkgw_http::ClientSettings::new(config))
        .send(get(&server.url("/whoami")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ClientError::Tls {
                source: rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_transient());
    // The server sees our refusal as an alert.
    server
        .wait_for_metrics(|m| m.handshake_failures_for(HandshakeFailure::AlertReceived) == 1)
        .await;
}

#[tokio::test]
async fn hostname_is_verified_by_default_and_the_check_can_be_relaxed() {
    let config =
        tls::mtls_server_config(&pki().server_other_name.identity(), &tls_trust()).unwrap();
    let server = start(config, ServerSettings::default()).await;
    let err = client(Some(&pki().client))
        .send(get(&server.url("/whoami")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ClientError::Tls {
                source: rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName
                        | rustls::CertificateError::NotValidForNameContext { .. }
                ),
                ..
            }
        ),
        "{err:?}"
    );

    let relaxed = tls::client_config(&ClientTlsSettings {
        identity: Some(pki().client.identity()),
        server_trust: tls_trust(),
        hostname: HostnameVerification::SkipNameCheck,
    })
    .unwrap();
    let client = HttpsClient::new(sdkgw_http::ClientSettings::new(relaxed.clone()));
    let ok = client.send(get(&server.url("/whoami"))).await.unwrap();
    assert_eq!(ok.status(), 200);

    // Relaxing the name check does not relax the chain check.
    let other_server = start(
        tls::mtls_server_config(
            &support::Issued::identity(&pki().client_untrusted),
            &tls_trust(),
        )
        .unwrap(),
        ServerSettings::default(),
    )
    .await;
    let err = client
        .send(get(&other_server.url("/whoami")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err:?}");
}

#[test]
fn crl_files_are_read_as_der_or_pem_and_garbage_is_refused() {
    assert!(tls_trust().with_crl_file_content(&pki().crl_der).is_ok());
    assert!(
        tls_trust()
            .with_crl_file_content(pki().crl_pem.as_bytes())
            .is_ok()
    );
    let not_a_crl = pki().tls_ca.to_pem();
    assert!(matches!(
        tls_trust().with_crl_file_content(not_a_crl.as_bytes()),
        Err(sdkgw_http::TlsConfigError::BadCrl(_))
    ));
    // Undecodable DER is caught when the verifier is built.
    let junk = tls_trust().with_crl_file_content(b"\x30\x03junk").unwrap();
    assert!(tls::mtls_server_config(&pki().server.identity(), &junk).is_err());
}

#[test]
fn identity_refuses_a_key_that_does_not_match_the_certificate() {
    let err =
        sdkgw_http::TlsIdentity::new(std::slice::from_ref(&pki().client.cert), &pki().server.key)
            .unwrap_err();
    assert!(
        matches!(err, sdkgw_http::TlsConfigError::KeyMismatch { .. }),
        "{err}"
    );
    assert!(matches!(
        sdkgw_http::TlsIdentity::new(&[], &pki().server.key),
        Err(sdkgw_http::TlsConfigError::EmptyChain)
    ));
    assert!(matches!(
        TrustAnchors::new(&[]),
        Err(sdkgw_http::TlsConfigError::EmptyTrustStore)
    ));
}

/// `../shared/sdk-reference/certificates` (DIGG's published chains), if present.
fn digg_certificates_dir() -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/sdk-reference/certificates");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "notice: {} absent, DIGG mTLS chain test skipped",
            dir.display()
        );
        None
    }
}

#[test]
fn digg_siths_mtls_chains_of_every_environment_make_valid_tls_trust_stores() {
    let Some(dir) = digg_certificates_dir() else {
        return;
    };
    let mut environments = 0;
    for env in std::fs::read_dir(&dir).unwrap() {
        let cas = env.unwrap().path().join("CAs");
        let Some(mtls) = std::fs::read_dir(&cas)
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains("mTLS"))
            })
        else {
            continue;
        };
        let mut chain = Vec::new();
        for file in std::fs::read_dir(&mtls).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_some_and(|e| e == "cer" || e == "crt") {
                chain.extend(sdkgw_certs::load_certificates(&path, None).unwrap());
            }
        }
        assert!(
            chain.len() >= 2,
            "{}: root and function CA expected",
            mtls.display()
        );
        assert!(
            chain.iter().any(|c| c.subject().contains("Function CA")),
            "{}",
            mtls.display()
        );
        let trust = TrustAnchors::new(&chain).unwrap();
        tls::mtls_server_config(&pki().server.identity(), &trust).unwrap();
        environments += 1;
    }
    assert_eq!(environments, 3, "OpenTest, QA and Production chains");
}

#[tokio::test]
async fn plaintext_http_on_the_tls_port_is_refused() {
    let server = start_mtls(ServerSettings::default()).await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"POST /as4 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    assert!(
        !answer.starts_with(b"HTTP/"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    server
        .wait_for_metrics(|m| m.handshake_failures_for(HandshakeFailure::ProtocolViolation) == 1)
        .await;
    assert!(server.observed.peer_cns.lock().unwrap().is_empty());
}
