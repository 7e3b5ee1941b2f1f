//! Replacing a listener's TLS material while it serves: established connections finish with
//! what they were accepted with, new connections get the replacement (certificate, client
//! trust, session cache).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod support;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, ServerName};
use sdkgw_http::tls::{
    self, ReloadableCertificate, ReloadableServerConfig, client_config,
    server_config_without_client_auth,
};
use sdkgw_http::{ClientTlsSettings, HostnameVerification, ServerSettings, TrustAnchors};
use support::{Issued, client, get, pki, start, start_reloadable, tls_trust};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A keep-alive HTTP/1.1 connection over TLS, and the server certificate it was accepted with.
struct OpenConnection {
    sender: SendRequest<Empty<Bytes>>,
    server_leaf: CertificateDer<'static>,
}

/// Connects without the name check (the two server certificates name different hosts), so
/// the test sees which certificate the listener served.
async fn connect(addr: std::net::SocketAddr, identity: &Issued) -> Result<OpenConnection, String> {
    connect_as(addr, Some(identity)).await
}

async fn connect_anonymous(addr: std::net::SocketAddr) -> OpenConnection {
    connect_as(addr, None).await.unwrap()
}

async fn connect_as(
    addr: std::net::SocketAddr,
    identity: Option<&Issued>,
) -> Result<OpenConnection, String> {
    let config = client_config(&ClientTlsSettings {
        identity: identity.map(Issued::identity),
        server_trust: tls_trust(),
        hostname: HostnameVerification::SkipNameCheck,
    })
    .unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let server_leaf = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(OpenConnection {
        sender,
        server_leaf,
    })
}

impl OpenConnection {
    async fn get(&mut self, path: &str) -> Result<String, String> {
        let request = Request::get(path)
            .header("host", "localhost")
            .body(Empty::new())
            .unwrap();
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&body.to_bytes()).into_owned())
    }
}

fn der(issued: &Issued) -> CertificateDer<'static> {
    CertificateDer::from(issued.cert.der().to_vec())
}

#[tokio::test]
async fn a_replaced_config_serves_new_connections_while_open_ones_finish_with_the_old() {
    let p = pki();
    let old = tls::mtls_server_config(&p.server.identity(), &tls_trust()).unwrap();
    let live = ReloadableServerConfig::new(old);
    let server = start_reloadable(live.clone(), ServerSettings::default()).await;

    let mut open = connect(server.addr, &p.client).await.unwrap();
    assert_eq!(open.server_leaf, der(&p.server));
    // A request in flight while the config is replaced.
    let mut in_flight = connect(server.addr, &p.client).await.unwrap();
    let slow = tokio::spawn(async move { in_flight.get("/sleep/300").await });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;

    let new = tls::mtls_server_config(&p.server_other_name.identity(), &tls_trust()).unwrap();
    live.replace(new);

    assert_eq!(slow.await.unwrap().unwrap(), "slept");
    // The kept-alive connection still works, on the certificate it was accepted with.
    assert_eq!(open.get("/whoami").await.unwrap(), "AP0001-DEV chain=1");
    assert_eq!(open.server_leaf, der(&p.server));
    // A new connection gets the new certificate.
    let mut fresh = connect(server.addr, &p.client).await.unwrap();
    assert_eq!(fresh.server_leaf, der(&p.server_other_name));
    assert_eq!(fresh.get("/whoami").await.unwrap(), "AP0001-DEV chain=1");
}

#[tokio::test]
async fn replaced_client_trust_refuses_new_handshakes_and_resumption_of_old_sessions() {
    let p = pki();
    let live = ReloadableServerConfig::new(
        tls::mtls_server_config(&p.server.identity(), &tls_trust()).unwrap(),
    );
    let server = start_reloadable(live.clone(), ServerSettings::default()).await;
    // One client config for every request, so it would resume its TLS session if it could.
    let https = client(Some(&p.client));
    let first = https.send(get(&server.url("/whoami"))).await.unwrap();
    assert_eq!(first.body().as_ref(), b"AP0001-DEV chain=1");
    let second = https.send(get(&server.url("/whoami"))).await.unwrap();
    assert_eq!(second.body().as_ref(), b"AP0001-DEV chain=1 resumed");
    let mut open = connect(server.addr, &p.client).await.unwrap();

    // The client's CA is no longer trusted.
    let other = TrustAnchors::new(std::slice::from_ref(&p.other_ca)).unwrap();
    live.replace(tls::mtls_server_config(&p.server.identity(), &other).unwrap());

    let refused = https.send(get(&server.url("/whoami"))).await;
    assert!(
        refused.is_err(),
        "old session resumed after a trust change: {refused:?}"
    );
    // The connection verified before the change keeps working until it closes.
    assert_eq!(open.get("/whoami").await.unwrap(), "AP0001-DEV chain=1");
    // A client of the newly trusted CA gets in.
    let now_trusted = client(Some(&p.client_untrusted))
        .send(get(&server.url("/whoami")))
        .await
        .unwrap();
    assert_eq!(now_trusted.body().as_ref(), b"AP0001-DEV chain=1");
}

#[tokio::test]
async fn a_reloadable_certificate_swaps_only_the_served_identity() {
    let p = pki();
    let base = server_config_without_client_auth(&p.server.identity()).unwrap();
    let (config, handle) = ReloadableCertificate::install(&base, &p.server.identity()).unwrap();
    let server = start(config, ServerSettings::default()).await;
    let before = connect(server.addr, &p.client).await.unwrap();
    assert_eq!(before.server_leaf, der(&p.server));
    assert_eq!(handle.leaf_der().unwrap(), p.server.cert.der());

    handle.replace(&p.server_other_name.identity()).unwrap();

    let after = connect(server.addr, &p.client).await.unwrap();
    assert_eq!(after.server_leaf, der(&p.server_other_name));
    assert_eq!(handle.leaf_der().unwrap(), p.server_other_name.cert.der());
    // The base config's settings stay: no client certificate is asked for.
    let mut anonymous = connect_anonymous(server.addr).await;
    assert_eq!(anonymous.get("/whoami").await.unwrap(), "anonymous chain=0");
}
