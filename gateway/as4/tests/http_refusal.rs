//! A refused request whose body the peer is still writing: the AS4 endpoint reads a bounded
//! rest before it answers, so a client that writes its whole body first (most AS4 clients
//! do) sees the ebMS error instead of a reset connection (hardening H-04, H-53).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{client_settings, node, pki};
use http::Request;
use sdkgw_http::{HttpsClient, OutBody};

/// A multipart body whose root part is `root_bytes` long.
fn oversized(root_bytes: usize) -> (String, Vec<u8>) {
    let boundary = "refused-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Type: application/soap+xml; charset=UTF-8\r\nContent-ID: <root>\r\n\r\n"
    )
    .into_bytes();
    body.resize(body.len() + root_bytes, b'x');
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let ct = format!(
        "multipart/related; type=\"application/soap+xml\"; boundary=\"{boundary}\"; start=\"<root>\""
    );
    (ct, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_root_part_is_answered_with_the_ebms_error_not_a_reset() {
    let b = node(1).await;
    let client = HttpsClient::new(client_settings(pki(), 0));
    // 24 MiB: far past the 4 MiB root-part limit and any socket buffer.
    let (ct, body) = oversized(24 * 1024 * 1024);
    for attempt in 0..3 {
        let request = Request::post(b.url())
            .header(http::header::CONTENT_TYPE, &ct)
            .body(OutBody::full(body.clone()))
            .unwrap();
        let response = client
            .send(request)
            .await
            .unwrap_or_else(|e| panic!("attempt {attempt}: no answer: {e}"));
        assert_eq!(response.status(), 500, "attempt {attempt}");
        let text = String::from_utf8_lossy(response.body());
        assert!(text.contains("EBMS:0007"), "attempt {attempt}: {text}");
    }
    assert!(
        b.store
            .list_messages(&Default::default())
            .unwrap()
            .is_empty()
    );
}
