//! The admin listener: `GET /metrics` (Prometheus text format), `GET /healthz` (the process
//! answers) and `GET /readyz` (every readiness check passes; 503 with the failing checks
//! otherwise). It runs on `sdkgw-http`'s bounded server with small limits: it serves
//! scrapers and probes, not clients.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use sdkgw_http::server::plain_response;
use sdkgw_http::{ConnectionInfo, Handler, OutBody, RequestBody, ServerSettings};
use time::OffsetDateTime;

use super::{Health, Metrics};

/// Content type of the Prometheus text exposition format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Limits of the admin listener.
pub fn settings() -> ServerSettings {
    ServerSettings {
        max_connections: 16,
        overload_connections: 4,
        retry_after: Duration::from_secs(5),
        handshake_timeout: Duration::from_secs(5),
        header_read_timeout: Duration::from_secs(10),
        body_idle_timeout: Duration::from_secs(5),
        max_body_bytes: 0,
        max_header_bytes: 16 * 1024,
        shutdown_grace: Duration::from_secs(2),
    }
}

/// Answers the admin endpoints.
#[derive(Debug, Clone)]
pub struct AdminHandler {
    metrics: Metrics,
    health: Health,
}

impl AdminHandler {
    pub fn new(metrics: Metrics, health: Health) -> Self {
        Self { metrics, health }
    }

    /// The answer to `method path` at `now` (transport-independent; the listener calls it).
    pub async fn answer(&self, method: &Method, path: &str) -> Response<OutBody> {
        if method != Method::GET && method != Method::HEAD {
            let mut r = plain_response(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        match path {
            "/metrics" => {
                let metrics = self.metrics.clone();
                // Sampling reads the store; keep it off the async workers.
                let text =
                    tokio::task::spawn_blocking(move || metrics.render(OffsetDateTime::now_utc()))
                        .await
                        .unwrap_or_default();
                text_response(StatusCode::OK, METRICS_CONTENT_TYPE, text)
            }
            "/healthz" => text_response(StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into()),
            "/readyz" => {
                let health = self.health.clone();
                let readiness =
                    tokio::task::spawn_blocking(move || health.ready(OffsetDateTime::now_utc()))
                        .await
                        .ok();
                let mut body = String::new();
                for c in readiness.iter().flat_map(|r| &r.checks) {
                    match &c.result {
                        Ok(()) => body.push_str(&format!("ok   {}\n", c.name)),
                        Err(why) => body.push_str(&format!("fail {}: {why}\n", c.name)),
                    }
                }
                let status = if readiness.is_some_and(|r| r.ready) {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                text_response(status, "text/plain; charset=utf-8", body)
            }
            _ => plain_response(StatusCode::NOT_FOUND, "not found\n"),
        }
    }
}

fn text_response(
    status: StatusCode,
    content_type: &'static str,
    text: String,
) -> Response<OutBody> {
    let mut r = Response::new(OutBody::full(text));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

impl Handler for AdminHandler {
    async fn handle(
        &self,
        request: Request<RequestBody>,
        _connection: Arc<ConnectionInfo>,
    ) -> Response<OutBody> {
        self.answer(request.method(), request.uri().path()).await
    }
}
