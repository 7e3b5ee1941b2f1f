//! The admin listener of the operations side, started as `sdkgw serve` starts it, with the
//! development PKI's configuration: `/metrics` families and values move, `/readyz` follows
//! its checks, `/healthz` answers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sdkgw_server::config::runtime;
use sdkgw_server::metrics::operations::{self, Inputs};
use sdkgw_server::metrics::{CertificateEntry, Direction, Flow, LatencyStage, Signal};
use sdkgw_store::{AuditEvent, NewMessage, SledStore, Store};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::task::JoinSet;

async fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The value of the sample whose line starts with `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn wait_for(addr: SocketAddr, series: &str, at_least: f64) -> String {
    for _ in 0..200 {
        let (_, text) = http(addr, "GET", "/metrics").await;
        if sample(&text, series).is_some_and(|v| v >= at_least) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{series} never reached {at_least}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_and_readiness_follows_store_listeners_keys_and_certificates() {
    let pki = common::shared_pki();
    let manifest = common::manifest(&pki);
    let file = pki.join(manifest["organisations"][0]["config"].as_str().unwrap());
    let mut config = sdkgw_server::config::load(&file).config.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    config.data_dir = tmp.path().join("data");
    config.store.data_dir = config.data_dir.clone();
    config.listeners.admin.bind = "127.0.0.1:0".parse().unwrap();
    let keys = runtime::load_keys(&config).unwrap();
    let store: Arc<dyn Store> = Arc::new(SledStore::open(config.store.clone()).unwrap());
    let (stop, stopping) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let ops = operations::start(
        Inputs {
            config: &config,
            store: store.clone(),
            address_book: None,
            keys: &keys,
        },
        &mut tasks,
        stopping,
    )
    .await
    .unwrap();
    let addr = ops.admin_addr;

    assert_eq!(http(addr, "GET", "/healthz").await, (200, "ok\n".into()));
    let (status, body) = http(addr, "GET", "/readyz").await;
    assert_eq!(status, 200, "{body}");
    for check in [
        "ok   store",
        "ok   keys",
        "ok   audit log",
        "ok   listener admin",
    ] {
        assert!(body.contains(check), "{body}");
    }
    assert_eq!(http(addr, "POST", "/metrics").await.0, 405);
    assert_eq!(http(addr, "GET", "/nothing").await.0, 404);

    // Before: certificate expiry from the configured key material, zero queues.
    let (_, text) = http(addr, "GET", "/metrics").await;
    let ap_expiry = text
        .lines()
        .find(|l| l.starts_with("sdkgw_certificate_expiry_seconds{role=\"ap\""))
        .expect("AP certificate expiry exported");
    let seconds: f64 = ap_expiry.rsplit(' ').next().unwrap().parse().unwrap();
    let expected = (keys.ap.certificate().not_after() - OffsetDateTime::now_utc()).whole_seconds();
    assert!(
        (seconds - expected as f64).abs() < 120.0,
        "{ap_expiry} vs {expected}"
    );
    for role in [
        "tls_server",
        "tls_client",
        "o2o_signing[0]",
        "o2o_encryption[0]",
    ] {
        assert!(text.contains(&format!("role=\"{role}\"")), "{role}");
    }
    assert_eq!(
        sample(
            &text,
            "sdkgw_messages{direction=\"inbound\",state=\"received\"}"
        ),
        Some(0.0)
    );
    assert_eq!(sample(&text, "sdkgw_queue_due_messages"), Some(0.0));
    assert!(text.contains("# TYPE sdkgw_delivery_latency_seconds histogram"));
    assert_eq!(sample(&text, "sdkgw_ready"), Some(1.0));
    assert_eq!(
        sample(&text, "sdkgw_readiness_check{check=\"keys\"}"),
        Some(1.0)
    );
    assert!(text.contains("sdkgw_build_info{version=\""));

    // Recorded values move.
    let m = &ops.metrics;
    m.message(Direction::Inbound, "filed");
    m.message(Direction::Inbound, "filed");
    m.as4_signal(Flow::Sent, Signal::Receipt, None);
    m.as4_signal(Flow::Received, Signal::Error, Some("EBMS:0004"));
    m.receipt(Flow::Received, "REJECTED");
    m.delivery_latency(LatencyStage::As4Receipt, Duration::from_millis(800));
    m.delivery_latency(LatencyStage::Meddelandekvittens, Duration::from_secs(40));
    // Store gauges move.
    let now = OffsetDateTime::now_utc();
    store
        .create_message(NewMessage::new(
            sdkgw_store::Direction::Inbound,
            now,
            "test",
        ))
        .unwrap();
    let text = wait_for(
        addr,
        "sdkgw_messages{direction=\"inbound\",state=\"received\"}",
        1.0,
    )
    .await;
    let expect = [
        (
            "sdkgw_messages_total{direction=\"inbound\",outcome=\"filed\"}",
            2.0,
        ),
        (
            "sdkgw_as4_signals_total{code=\"receipt\",direction=\"sent\",signal=\"receipt\"}",
            1.0,
        ),
        (
            "sdkgw_as4_signals_total{code=\"EBMS:0004\",direction=\"received\",signal=\"error\"}",
            1.0,
        ),
        (
            "sdkgw_receipts_total{code=\"REJECTED\",direction=\"received\"}",
            1.0,
        ),
        (
            "sdkgw_delivery_latency_seconds_count{stage=\"as4_receipt\"}",
            1.0,
        ),
        (
            "sdkgw_delivery_latency_seconds_bucket{stage=\"as4_receipt\",le=\"1\"}",
            1.0,
        ),
        (
            "sdkgw_delivery_latency_seconds_bucket{stage=\"meddelandekvittens\",le=\"30\"}",
            0.0,
        ),
        (
            "sdkgw_delivery_latency_seconds_bucket{stage=\"meddelandekvittens\",le=\"60\"}",
            1.0,
        ),
    ];
    for (series, value) in expect {
        assert_eq!(sample(&text, series), Some(value), "{series}\n{text}");
    }
    // The audit shipper's counter follows the journal.
    for i in 0..5 {
        store
            .append_audit(AuditEvent::new(now, "test", "test.event").with("i", i))
            .unwrap();
    }
    wait_for(addr, "sdkgw_audit_events_shipped_total", 7.0).await;

    // TLS handshake failures of a watched listener, by reason.
    let identity =
        sdkgw_http::TlsIdentity::new(keys.tls_server.chain(), keys.tls_server.key()).unwrap();
    let tls = sdkgw_http::tls::server_config_without_client_auth(&identity).unwrap();
    let server = sdkgw_http::Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        tls,
        sdkgw_http::ServerSettings::default(),
    )
    .await
    .unwrap();
    let as4_addr = server.local_addr().unwrap();
    m.watch_listener("as4", server.metrics());
    let as4_ready = ops.health.expect_listener("as4");
    let (status, body) = http(addr, "GET", "/readyz").await;
    assert_eq!(status, 503);
    assert!(body.contains("fail listener as4: not bound yet"), "{body}");
    as4_ready.bound();
    let (stop_as4, as4_stopped) = tokio::sync::oneshot::channel::<()>();
    let as4 = tokio::spawn(server.serve(Arc::new(NoHandler), async {
        let _ = as4_stopped.await;
    }));
    let mut tcp = tokio::net::TcpStream::connect(as4_addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut sink = Vec::new();
    let _ = tcp.read_to_end(&mut sink).await;
    let text = wait_for(
        addr,
        "sdkgw_tls_handshake_failures_total{listener=\"as4\",reason=\"protocol_violation\"}",
        1.0,
    )
    .await;
    assert_eq!(
        sample(&text, "sdkgw_connections_accepted_total{listener=\"as4\"}"),
        Some(1.0)
    );
    assert_eq!(http(addr, "GET", "/readyz").await.0, 200);

    // An expired configured certificate makes the gateway not ready.
    let expired = sdkgw_certs::load_certificates(
        &pki.join(manifest["negative"]["expired_ap"]["cert"].as_str().unwrap()),
        None,
    )
    .unwrap();
    m.watch_certificates(vec![CertificateEntry {
        role: "ap".into(),
        certificate: expired[0].clone(),
    }]);
    let (status, body) = http(addr, "GET", "/readyz").await;
    assert_eq!(status, 503);
    assert!(body.contains("fail keys: ap expired at"), "{body}");
    let (_, text) = http(addr, "GET", "/metrics").await;
    assert_eq!(sample(&text, "sdkgw_ready"), Some(0.0));
    assert_eq!(
        sample(&text, "sdkgw_readiness_check{check=\"keys\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "sdkgw_readiness_check{check=\"store\"}"),
        Some(1.0)
    );
    let ap_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("sdkgw_certificate_expiry_seconds{role=\"ap\""))
        .collect();
    assert_eq!(ap_lines.len(), 1, "{ap_lines:?}");
    let line = ap_lines[0];
    assert!(line.rsplit(' ').next().unwrap().starts_with('-'), "{line}");

    stop_as4.send(()).unwrap();
    as4.await.unwrap();
    stop.send(true).unwrap();
    while tasks.join_next().await.is_some() {}
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "admin listener stopped"
    );
    drop(ops);
}

struct NoHandler;

impl sdkgw_http::Handler for NoHandler {
    async fn handle(
        &self,
        _request: http::Request<sdkgw_http::RequestBody>,
        _connection: Arc<sdkgw_http::ConnectionInfo>,
    ) -> http::Response<sdkgw_http::OutBody> {
        http::Response::new(sdkgw_http::OutBody::empty())
    }
}
