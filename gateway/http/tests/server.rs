//! Server limits and back-pressure, client timeouts, caps and error classes
//! (security-operations.md §3.5 T-LIM-01, -02, -05, -06; test-cases.md H-52, H-53).
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code

mod support;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Request;
use sdkgw_http::{
    BodyError, ClientError, ErrorKind, HttpsClient, OutBody, RedirectPolicy, ServerSettings,
};
use support::{client, client_settings, get, pki, start_mtls};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};

const MIB: u64 = 1024 * 1024;

/// `len` bytes made up on the fly: a large body that never exists in memory.
struct Generated {
    left: u64,
}

impl AsyncRead for Generated {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = (buf.remaining() as u64).min(self.left) as usize;
        buf.put_slice(&vec![0xa5; n]);
        self.left -= n as u64;
        Poll::Ready(Ok(()))
    }
}

fn post_generated(url: &str, len: u64, declare_length: bool) -> Request<OutBody> {
    let body = OutBody::reader(Generated { left: len }, declare_length.then_some(len));
    Request::post(url).body(body).unwrap()
}

/// Peak resident memory of this test process (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

fn long_client() -> HttpsClient {
    let mut settings = client_settings(Some(&pki().client));
    settings.request_timeout = Duration::from_secs(300);
    HttpsClient::new(settings)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mb_body_streams_through_without_being_buffered() {
    let server = start_mtls(ServerSettings {
        max_body_bytes: 256 * MIB,
        ..ServerSettings::default()
    })
    .await;
    let before = peak_rss();
    let response = long_client()
        .send(post_generated(&server.url("/count"), 200 * MIB, false))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.body().as_ref(), (200 * MIB).to_string().as_bytes());
    let grown = peak_rss().saturating_sub(before);
    // Client and server share this process; both must stay far below the body size.
    assert!(
        grown < 64 * MIB,
        "peak RSS grew by {} MiB for a 200 MiB body",
        grown / MIB
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_over_the_limit_is_cut_off_while_streaming() {
    let server = start_mtls(ServerSettings {
        max_body_bytes: 100 * MIB,
        ..ServerSettings::default()
    })
    .await;
    let before = peak_rss();
    // The server answers 413 and closes mid-upload; the client sees the 413 or a broken pipe.
    let result = long_client()
        .send(post_generated(&server.url("/count"), 200 * MIB, false))
        .await;
    if let Ok(response) = &result {
        assert_eq!(response.status(), 413);
    }
    let errors = server.observed.body_errors.lock().unwrap();
    assert!(
        matches!(errors.as_slice(), [BodyError::TooLarge { limit }] if *limit == 100 * MIB),
        "{errors:?}"
    );
    let grown = peak_rss().saturating_sub(before);
    assert!(grown < 64 * MIB, "peak RSS grew by {} MiB", grown / MIB);
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_the_handler_runs() {
    let server = start_mtls(ServerSettings {
        max_body_bytes: MIB,
        ..ServerSettings::default()
    })
    .await;
    let response = client(Some(&pki().client))
        .send(post_generated(&server.url("/count"), 2 * MIB, true))
        .await;
    if let Ok(response) = &response {
        assert_eq!(response.status(), 413);
    }
    server
        .wait_for_metrics(|m| m.requests_rejected_body_too_large == 1)
        .await;
    assert!(
        server.observed.body_errors.lock().unwrap().is_empty(),
        "handler must not run"
    );
}

#[test]
fn body_limits_above_2_gib_are_refused() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let tls =
            sdkgw_http::tls::server_config_without_client_auth(&pki().server.identity()).unwrap();
        let settings = ServerSettings {
            max_body_bytes: 2 * 1024 * MIB + 1,
            ..ServerSettings::default()
        };
        let err = sdkgw_http::Server::bind("127.0.0.1:0".parse().unwrap(), tls, settings)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("exceeds the maximum"), "{err}");
    });
}

/// Opens a TLS connection as our client and keeps it (it holds a server slot).
async fn hold_connection(
    addr: std::net::SocketAddr,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let tls = client_settings(Some(&pki().client)).tls;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .unwrap()
}

#[tokio::test]
async fn over_capacity_clients_get_503_with_retry_after_and_beyond_that_are_dropped() {
    let settings = ServerSettings {
        max_connections: 1,
        overload_connections: 1,
        retry_after: Duration::from_secs(7),
        ..ServerSettings::default()
    };
    let server = start_mtls(settings).await;
    let _held = hold_connection(server.addr).await;
    server
        .wait_for_metrics(|m| m.handshakes_completed == 1)
        .await;

    let response = client(Some(&pki().client))
        .send(get(&server.url("/whoami")))
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "7");
    let err = sdkgw_http::client::error_for_status(response).unwrap_err();
    assert!(err.is_transient());

    // Fill the overload budget too: the next connection is closed without a handshake.
    let _held_overload = hold_connection(server.addr).await;
    let err = client(Some(&pki().client))
        .send(get(&server.url("/whoami")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Connect | ErrorKind::Tls | ErrorKind::Protocol
        ),
        "{err:?}"
    );
    assert!(err.is_transient(), "{err:?}");
    let snap = server.metrics.snapshot();
    assert_eq!(snap.connections_rejected_overload, 2);
    assert_eq!(snap.connections_dropped_overload, 1);
    assert!(server.observed.peer_cns.lock().unwrap().is_empty());
}

#[tokio::test]
async fn slots_are_released_when_connections_close() {
    let settings = ServerSettings {
        max_connections: 1,
        overload_connections: 0,
        ..ServerSettings::default()
    };
    let server = start_mtls(settings).await;
    for _ in 0..3 {
        let response = client(Some(&pki().client))
            .send(get(&server.url("/whoami")))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        server.wait_for_metrics(|m| m.connections_active == 0).await;
    }
}

#[tokio::test]
async fn stalled_request_headers_are_timed_out() {
    let settings = ServerSettings {
        header_read_timeout: Duration::from_millis(200),
        ..ServerSettings::default()
    };
    let server = start_mtls(settings).await;
    let mut conn = hold_connection(server.addr).await;
    conn.write_all(b"POST /count HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    // The server gives up on the head and closes; read_to_end returns once it has.
    let _ = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut rest))
        .await
        .expect("server closed");
    server.wait_for_metrics(|m| m.connections_active == 0).await;
}

#[tokio::test]
async fn stalled_request_bodies_are_timed_out() {
    let settings = ServerSettings {
        body_idle_timeout: Duration::from_millis(200),
        ..ServerSettings::default()
    };
    let server = start_mtls(settings).await;
    let mut conn = hold_connection(server.addr).await;
    conn.write_all(
        b"POST /count HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n0123456789",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer))
        .await
        .expect("server answered");
    assert!(
        answer.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let errors = server.observed.body_errors.lock().unwrap();
    assert!(
        matches!(errors.as_slice(), [BodyError::Timeout(_)]),
        "{errors:?}"
    );
}

#[tokio::test]
async fn oversized_request_heads_get_431() {
    let server = start_mtls(ServerSettings {
        max_header_bytes: 16 * 1024,
        ..ServerSettings::default()
    })
    .await;
    let mut conn = hold_connection(server.addr).await;
    let big = format!(
        "GET /whoami HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let _ = conn.write_all(big.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer)).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 431"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests_and_stops_accepting() {
    let mut server = start_mtls(ServerSettings::default()).await;
    let url = server.url("/sleep/300");
    let in_flight = tokio::spawn(async move { client(Some(&pki().client)).send(get(&url)).await });
    server
        .wait_for_metrics(|m| m.handshakes_completed == 1)
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await; // let the request reach the handler
    server.stop();
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.body().as_ref(), b"slept");
    tokio::time::timeout(Duration::from_secs(10), &mut server.task)
        .await
        .expect("server stopped")
        .unwrap();
    let err = client(Some(&pki().client))
        .send(get(&server.url("/whoami")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err:?}");
}

#[tokio::test]
async fn client_classifies_refused_connections_as_transient_connect_errors() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = client(Some(&pki().client))
        .send(get(&format!("https://localhost:{port}/")))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Connect { .. }), "{err:?}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn client_times_out_a_server_that_never_finishes_the_handshake() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(socket);
    });
    let mut settings = client_settings(Some(&pki().client));
    settings.connect_timeout = Duration::from_millis(200);
    let err = HttpsClient::new(settings)
        .send(get(&format!("https://localhost:{port}/")))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::ConnectTimeout { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Connect);
    assert!(err.is_transient());
    silent.abort();
}

#[tokio::test]
async fn client_enforces_the_overall_deadline() {
    let server = start_mtls(ServerSettings::default()).await;
    let mut settings = client_settings(Some(&pki().client));
    settings.request_timeout = Duration::from_millis(200);
    let err = HttpsClient::new(settings)
        .send(get(&server.url("/sleep/5000")))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Timeout(_)), "{err:?}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn client_caps_the_response_size() {
    let server = start_mtls(ServerSettings::default()).await;
    let mut settings = client_settings(Some(&pki().client));
    settings.max_response_bytes = MIB;
    let client = HttpsClient::new(settings);
    let err = client
        .send(get(&server.url(&format!("/big/{}", 2 * MIB))))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::ResponseTooLarge { limit } if limit == MIB),
        "{err:?}"
    );
    assert!(!err.is_transient());
    let ok = client
        .send(get(&server.url(&format!("/big/{MIB}"))))
        .await
        .unwrap();
    assert_eq!(ok.body().len() as u64, MIB);
}

#[tokio::test]
async fn redirects_are_returned_by_default_and_followed_only_on_the_same_host_when_asked() {
    let server = start_mtls(ServerSettings::default()).await;
    let response = client(Some(&pki().client))
        .send(get(&server.url("/redirect-same")))
        .await
        .unwrap();
    assert_eq!(response.status(), 302);

    let mut settings = client_settings(Some(&pki().client));
    settings.redirects = RedirectPolicy::SameHost { max: 2 };
    let following = HttpsClient::new(settings);
    let response = following
        .send(get(&server.url("/redirect-same")))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.body().starts_with(b"AP0001-DEV"));

    let err = following
        .send(get(&server.url("/redirect-other")))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Redirect { .. }), "{err:?}");
    let streamed = post_generated(&server.url("/redirect-same"), 10, true);
    let err = following.send(streamed).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Redirect { reason, .. } if reason.contains("replayed")),
        "{err:?}"
    );
}

#[tokio::test]
async fn client_streams_a_request_body_from_a_file() {
    let server = start_mtls(ServerSettings::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("message.mime");
    std::fs::write(&path, vec![7u8; 3 * 1024 * 1024 + 17]).unwrap();
    let body = OutBody::file(&path).await.unwrap();
    let request = Request::post(server.url("/count")).body(body).unwrap();
    let response = client(Some(&pki().client)).send(request).await.unwrap();
    assert_eq!(
        response.body().as_ref(),
        (3 * 1024 * 1024 + 17).to_string().as_bytes()
    );
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_header_timeout() {
    let settings = ServerSettings {
        header_read_timeout: Duration::from_millis(200),
        ..ServerSettings::default()
    };
    let server = start_mtls(settings).await;
    let mut conn = hold_connection(server.addr).await;
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut rest))
        .await
        .expect("server closed the idle connection");
    server.wait_for_metrics(|m| m.connections_active == 0).await;
}

/// Sends raw bytes on an authenticated connection and returns the server's whole answer.
async fn raw_exchange(server: &support::Running, request: &[u8]) -> String {
    let mut conn = hold_connection(server.addr).await;
    conn.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn malformed_framing_gets_400_and_the_server_keeps_serving() {
    let server = start_mtls(ServerSettings::default()).await;
    for request in [
        &b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
            [..],
        b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
    ] {
        let answer = raw_exchange(&server, request).await;
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
            "{}: {answer}",
            String::from_utf8_lossy(request)
        );
    }
    let ok = client(Some(&pki().client))
        .send(get(&server.url("/whoami")))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn content_length_with_transfer_encoding_cannot_smuggle_a_second_request() {
    // RFC 9112 §6.3: Transfer-Encoding wins and the connection is closed after the response,
    // so bytes a front end might have framed differently never become another request.
    let server = start_mtls(ServerSettings::default()).await;
    let answer = raw_exchange(
        &server,
        b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /whoami HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(
        server.observed.peer_cns.lock().unwrap().is_empty(),
        "smuggled request ran"
    );
}

#[tokio::test]
async fn a_body_shorter_than_its_content_length_is_a_transport_error() {
    let server = start_mtls(ServerSettings::default()).await;
    let mut conn = hold_connection(server.addr).await;
    conn.write_all(b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-this")
        .await
        .unwrap();
    conn.shutdown().await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer)).await;
    for _ in 0..500 {
        if !server.observed.body_errors.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let errors = server.observed.body_errors.lock().unwrap();
    assert!(
        matches!(errors.as_slice(), [BodyError::Transport(_)]),
        "{errors:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uploads_either_complete_or_are_told_to_retry() {
    let settings = ServerSettings {
        max_connections: 8,
        overload_connections: 64,
        ..ServerSettings::default()
    };
    let server = start_mtls(settings).await;
    let url = server.url("/count");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let url = url.clone();
        tasks.spawn(async move { long_client().send(post_generated(&url, MIB, true)).await });
    }
    let (mut done, mut retry) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Ok(r) if r.status() == 200 => {
                assert_eq!(r.body().as_ref(), MIB.to_string().as_bytes());
                done += 1;
            }
            Ok(r) => {
                assert_eq!(r.status(), 503);
                retry += 1;
            }
            // The 503 may race our upload: the server closes without reading the body.
            Err(e) => {
                assert!(e.is_transient(), "{e:?}");
                retry += 1;
            }
        }
    }
    assert_eq!(done + retry, 40);
    assert!(
        done >= 8,
        "at least the slots' worth must complete: {done} done, {retry} retry"
    );
    let snap = server.metrics.snapshot();
    assert_eq!(snap.connections_dropped_overload, 0, "{snap:?}");
}

#[tokio::test]
async fn a_plain_listener_serves_http_with_the_same_limits_and_no_tls() {
    use std::sync::Arc;
    let settings = ServerSettings {
        max_body_bytes: 16,
        ..ServerSettings::default()
    };
    let server = sdkgw_http::Server::bind_plain("127.0.0.1:0".parse().unwrap(), settings)
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let handler = Arc::new(support::TestHandler {
        observed: Arc::default(),
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(handler, async {
        let _ = stopped.await;
    }));
    let exchange = |request: &'static [u8]| async move {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(request).await.unwrap();
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await.unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    };
    let answer = exchange(b"GET /big/5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("xxxxx"), "{answer}");
    let answer = exchange(
        b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // A TLS client gets no handshake from a plain listener.
    let err = client(Some(&pki().client))
        .send(get(&format!("https://127.0.0.1:{}/whoami", addr.port())))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err:?}");
    stop.send(()).unwrap();
    task.await.unwrap();
}
