//! Shared test fixtures: a throw-away TLS PKI generated at test time (RSA-2048 with rcgen, once
//! per test binary) and a server running on 127.0.0.1 with a routing test handler.
#![allow(clippy::expect_used, clippy::unwrap_used, dead_code, unreachable_pub)] // test support

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SerialNumber,
};
use sdkgw_certs::{Certificate, PrivateKey};
use sdkgw_http::{
    BodyError, ClientSettings, ClientTlsSettings, ConnectionInfo, Handler, HostnameVerification,
    HttpsClient, OutBody, RequestBody, Server, ServerMetrics, ServerSettings, TlsIdentity,
    TrustAnchors,
};
use time::OffsetDateTime;
use tokio::sync::oneshot;

/// A leaf (or CA) certificate with its key.
pub struct Issued {
    pub cert: Certificate,
    pub key: PrivateKey,
}

impl Issued {
    pub fn identity(&self) -> TlsIdentity {
        TlsIdentity::new(std::slice::from_ref(&self.cert), &self.key).expect("identity")
    }
}

pub struct Pki {
    pub tls_ca: Certificate,
    pub other_ca: Certificate,
    pub server: Issued,
    pub server_other_name: Issued,
    pub client: Issued,
    pub client_untrusted: Issued,
    pub client_expired: Issued,
    pub client_revoked: Issued,
    pub crl_der: Vec<u8>,
    pub crl_pem: String,
}

struct Ca {
    params: CertificateParams,
    key: KeyPair,
    cert: Certificate,
}

fn rsa_key() -> KeyPair {
    KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key generation")
}

fn ca(cn: &str) -> Ca {
    let key = rsa_key();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).unwrap();
    let cert = Certificate::from_der(cert.der()).unwrap();
    Ca { params, key, cert }
}

struct LeafSpec<'a> {
    cn: &'a str,
    sans: &'a [&'a str],
    eku: ExtendedKeyUsagePurpose,
    serial: u64,
    not_after_days: i64,
}

fn leaf(ca: &Ca, spec: LeafSpec<'_>) -> Issued {
    let key = rsa_key();
    let sans: Vec<String> = spec.sans.iter().map(|s| (*s).to_owned()).collect();
    let mut params = CertificateParams::new(sans).unwrap();
    params.distinguished_name.push(DnType::CommonName, spec.cn);
    params.extended_key_usages = vec![spec.eku];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.serial_number = Some(SerialNumber::from(spec.serial));
    let now = OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(30);
    params.not_after = now + time::Duration::days(spec.not_after_days);
    let issuer = Issuer::from_params(&ca.params, &ca.key);
    let cert = params.signed_by(&key, &issuer).unwrap();
    Issued {
        cert: Certificate::from_der(cert.der()).unwrap(),
        key: PrivateKey::from_pkcs8_der(&key.serialize_der()).unwrap(),
    }
}

fn client_leaf(ca: &Ca, cn: &str, serial: u64, not_after_days: i64) -> Issued {
    leaf(
        ca,
        LeafSpec {
            cn,
            sans: &[],
            eku: ExtendedKeyUsagePurpose::ClientAuth,
            serial,
            not_after_days,
        },
    )
}

/// The PKI, generated once per test binary.
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let tls = ca("Test TLS Function CA");
        let other = ca("Some Other CA");
        let server = leaf(
            &tls,
            LeafSpec {
                cn: "localhost",
                sans: &["localhost", "127.0.0.1"],
                eku: ExtendedKeyUsagePurpose::ServerAuth,
                serial: 10,
                not_after_days: 30,
            },
        );
        let server_other_name = leaf(
            &tls,
            LeafSpec {
                cn: "as4.example",
                sans: &["as4.example"],
                eku: ExtendedKeyUsagePurpose::ServerAuth,
                serial: 11,
                not_after_days: 30,
            },
        );
        let client = client_leaf(&tls, "AP0001-DEV", 20, 30);
        let client_expired = client_leaf(&tls, "AP0002-DEV", 21, -1);
        let client_revoked = client_leaf(&tls, "AP0003-DEV", 22, 30);
        let client_untrusted = client_leaf(&other, "AP0001-DEV", 23, 30);
        let now = OffsetDateTime::now_utc();
        let crl = CertificateRevocationListParams {
            this_update: now - time::Duration::hours(1),
            next_update: now + time::Duration::days(7),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: vec![RevokedCertParams {
                serial_number: SerialNumber::from(22u64),
                revocation_time: now - time::Duration::hours(1),
                reason_code: None,
                invalidity_date: None,
            }],
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&Issuer::from_params(&tls.params, &tls.key))
        .unwrap();
        Pki {
            tls_ca: tls.cert.clone(),
            other_ca: other.cert.clone(),
            server,
            server_other_name,
            client,
            client_untrusted,
            client_expired,
            client_revoked,
            crl_der: crl.der().to_vec(),
            crl_pem: crl.pem().unwrap(),
        }
    })
}

pub fn tls_trust() -> TrustAnchors {
    TrustAnchors::new(std::slice::from_ref(&pki().tls_ca)).unwrap()
}

/// What the handler saw, for assertions.
#[derive(Default)]
pub struct Observed {
    pub body_errors: Mutex<Vec<BodyError>>,
    pub peer_cns: Mutex<Vec<String>>,
}

/// Routes: `/whoami`, `/count`, `/big/N`, `/sleep/MS`, `/redirect-same`, `/redirect-other`.
pub struct TestHandler {
    pub observed: Arc<Observed>,
}

impl Handler for TestHandler {
    async fn handle(
        &self,
        request: Request<RequestBody>,
        connection: Arc<ConnectionInfo>,
    ) -> Response<OutBody> {
        let path = request.uri().path().to_owned();
        let text = |status: StatusCode, body: String| {
            Response::builder()
                .status(status)
                .body(OutBody::full(body))
                .unwrap()
        };
        if path == "/whoami" {
            let chain = connection.peer_chain().unwrap();
            let cn = chain
                .first()
                .and_then(|c| c.common_name().map(str::to_owned))
                .unwrap_or_else(|| "anonymous".into());
            self.observed.peer_cns.lock().unwrap().push(cn.clone());
            let resumed = if connection.resumed { " resumed" } else { "" };
            return text(
                StatusCode::OK,
                format!("{cn} chain={}{resumed}", chain.len()),
            );
        }
        if path == "/count" {
            let mut body = request.into_body();
            let mut n = 0u64;
            loop {
                match body.chunk().await {
                    Ok(Some(c)) => n += c.len() as u64,
                    Ok(None) => return text(StatusCode::OK, n.to_string()),
                    Err(e) => {
                        let status = match e {
                            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                            BodyError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
                            BodyError::Transport(_) => StatusCode::BAD_REQUEST,
                        };
                        self.observed.body_errors.lock().unwrap().push(e);
                        return text(status, n.to_string());
                    }
                }
            }
        }
        if let Some(n) = path.strip_prefix("/big/") {
            let n: usize = n.parse().unwrap();
            return Response::new(OutBody::full(Bytes::from(vec![b'x'; n])));
        }
        if let Some(ms) = path.strip_prefix("/sleep/") {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
            return text(StatusCode::OK, "slept".into());
        }
        if path == "/redirect-same" {
            return Response::builder()
                .status(StatusCode::FOUND)
                .header("location", "/whoami")
                .body(OutBody::empty())
                .unwrap();
        }
        if path == "/redirect-other" {
            return Response::builder()
                .status(StatusCode::FOUND)
                .header("location", "https://other.example/whoami")
                .body(OutBody::empty())
                .unwrap();
        }
        text(StatusCode::NOT_FOUND, String::new())
    }
}

pub struct Running {
    pub addr: SocketAddr,
    pub metrics: Arc<ServerMetrics>,
    pub observed: Arc<Observed>,
    stop: Option<oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// Triggers graceful shutdown.
    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// Waits (bounded) until the server's counters satisfy `pred`.
    pub async fn wait_for_metrics(&self, pred: impl Fn(&sdkgw_http::MetricsSnapshot) -> bool) {
        for _ in 0..500 {
            if pred(&self.metrics.snapshot()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("metrics never matched: {:?}", self.metrics.snapshot());
    }
}

pub async fn start(tls: Arc<rustls::ServerConfig>, settings: ServerSettings) -> Running {
    start_reloadable(sdkgw_http::tls::ReloadableServerConfig::new(tls), settings).await
}

/// A server whose TLS config the test replaces while it runs.
pub async fn start_reloadable(
    tls: Arc<sdkgw_http::tls::ReloadableServerConfig>,
    settings: ServerSettings,
) -> Running {
    let server = Server::bind_reloadable("127.0.0.1:0".parse().unwrap(), tls, settings)
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let metrics = server.metrics();
    let observed = Arc::new(Observed::default());
    let handler = Arc::new(TestHandler {
        observed: observed.clone(),
    });
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(handler, async {
        let _ = rx.await;
    }));
    Running {
        addr,
        metrics,
        observed,
        stop: Some(tx),
        task,
    }
}

pub async fn start_mtls(settings: ServerSettings) -> Running {
    let tls = sdkgw_http::tls::mtls_server_config(&pki().server.identity(), &tls_trust()).unwrap();
    start(tls, settings).await
}

pub fn client_settings(identity: Option<&Issued>) -> ClientSettings {
    let tls = sdkgw_http::tls::client_config(&ClientTlsSettings {
        identity: identity.map(Issued::identity),
        server_trust: tls_trust(),
        hostname: HostnameVerification::Verify,
    })
    .unwrap();
    ClientSettings::new(tls)
}

pub fn client(identity: Option<&Issued>) -> HttpsClient {
    HttpsClient::new(client_settings(identity))
}

pub fn get(url: &str) -> Request<OutBody> {
    Request::get(url).body(OutBody::empty()).unwrap()
}
