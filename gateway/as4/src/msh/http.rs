//! The AS4 endpoint on the `sdkgw-http` server: `POST <path>` only, the body streamed into
//! the [`Receiver`], its [`Reply`] mapped to HTTP.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use sdkgw_http::{ConnectionInfo, Handler, OutBody, RequestBody};

use super::inbound::{PeerInfo, Receiver, Reply};
use crate::soap::SOAP12_CONTENT_TYPE;

/// `Retry-After` on a 503 caused by a local failure.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// After a refusal the peer may still be writing its request. Most AS4 clients write the
/// whole body before they read the answer, so closing at once shows them a reset connection
/// instead of our ebMS error: a bounded rest is read and discarded first.
const LINGER_BYTES: u64 = 32 * 1024 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(5);

/// Reads and discards at most [`LINGER_BYTES`] of what is left of `body`, for at most
/// [`LINGER_TIME`]; errors end it (the connection is closed after the answer anyway).
async fn linger<R: tokio::io::AsyncRead + Unpin>(body: &mut R) {
    use tokio::io::AsyncReadExt as _;
    let mut rest = body.take(LINGER_BYTES);
    let _ = tokio::time::timeout(
        LINGER_TIME,
        tokio::io::copy(&mut rest, &mut tokio::io::sink()),
    )
    .await;
}

/// The HTTP handler of the AS4 listener.
#[derive(Debug)]
pub struct As4Handler {
    receiver: Arc<Receiver>,
    path: String,
}

impl As4Handler {
    pub fn new(receiver: Arc<Receiver>, path: &str) -> Self {
        As4Handler {
            receiver,
            path: path.to_owned(),
        }
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<OutBody> {
    sdkgw_http::server::plain_response(status, text)
}

fn soap(status: StatusCode, envelope: Vec<u8>) -> Response<OutBody> {
    let mut r = Response::new(OutBody::full(envelope));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SOAP12_CONTENT_TYPE),
    );
    r
}

impl Handler for As4Handler {
    async fn handle(
        &self,
        request: Request<RequestBody>,
        connection: Arc<ConnectionInfo>,
    ) -> Response<OutBody> {
        if request.uri().path() != self.path {
            return plain(StatusCode::NOT_FOUND, "not found\n");
        }
        if request.method() != Method::POST {
            let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "AS4 messages are POSTed\n");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return r;
        }
        let Some(content_type) = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
        else {
            return plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type is required\n",
            );
        };
        let peer = PeerInfo {
            remote_addr: Some(connection.remote_addr),
            tls_subject: connection
                .peer_chain()
                .ok()
                .and_then(|c| c.first().map(|c| c.subject().to_owned())),
        };
        let mut body = request.into_body().into_reader();
        let reply = self.receiver.receive(&content_type, &mut body, peer).await;
        if !matches!(reply, Reply::Receipt { .. }) {
            linger(&mut body).await;
        }
        match reply {
            Reply::Receipt { envelope, .. } => soap(StatusCode::OK, envelope),
            Reply::Error { envelope, .. } => soap(StatusCode::INTERNAL_SERVER_ERROR, envelope),
            Reply::TooLarge { envelope } => soap(StatusCode::PAYLOAD_TOO_LARGE, envelope),
            Reply::Unavailable { .. } => {
                let mut r = plain(StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable\n");
                if let Ok(v) = HeaderValue::from_str(&RETRY_AFTER.as_secs().to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                r
            }
            Reply::Aborted { .. } => plain(StatusCode::BAD_REQUEST, "request body incomplete\n"),
        }
    }
}
