//! HTTP plumbing: routes under the base path, authentication and scope checks, rate limits,
//! bounded bodies, `X-Request-ID`, and turning [`Reply`]s into responses. The listener runs on
//! `sdkgw-http` (its own TLS socket, optionally requiring client certificates).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use sdkgw_http::{
    BodyError, ConnectionInfo, Handler, OutBody, RequestBody, Server, ServerSettings,
};
use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::oneshot;

use super::auth::{AuthError, AuthMode, Scope};
use super::problem::{self, Problem};
use super::service::{Api, AuditNote, Ctx, Reply};

/// Largest token request body.
const MAX_FORM_BYTES: u64 = 16 * 1024;
/// Longest long-poll wait of the change feed.
const MAX_WAIT_SECONDS: u64 = 30;

/// The listener's handler.
#[derive(Debug, Clone)]
pub struct ApiHandler {
    api: Arc<Api>,
}

impl ApiHandler {
    pub fn new(api: Arc<Api>) -> Self {
        Self { api }
    }
}

enum Route<'a> {
    Token,
    Jwks,
    OpenApi,
    Messages,
    Message(&'a str),
    Ack(&'a str),
    File(&'a str, &'a str, &'a str),
    Changes,
}

fn route(path: &str) -> Option<Route<'_>> {
    let segs: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    Some(match segs.as_slice() {
        ["oauth", "token"] => Route::Token,
        ["oauth", "jwks.json"] => Route::Jwks,
        ["openapi.json"] => Route::OpenApi,
        ["sdk", "messages"] => Route::Messages,
        ["sdk", "messages", id] if !id.is_empty() => Route::Message(id),
        ["sdk", "ext", "messages", id, "ack"] => Route::Ack(id),
        ["sdk", "ext", "messages", id, "documents", doc, "files", n] => Route::File(id, doc, n),
        ["sdk", "ext", "changes"] => Route::Changes,
        _ => return None,
    })
}

impl Handler for ApiHandler {
    async fn handle(
        &self,
        request: Request<RequestBody>,
        connection: Arc<ConnectionInfo>,
    ) -> Response<OutBody> {
        let request_id = request_id(request.headers());
        let mut call = Call::default();
        let mut response = self
            .dispatch(request, &connection, &request_id, &mut call)
            .await;
        self.audit(&call, &request_id, response.status()).await;
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("x-request-id", v);
        }
        response.headers_mut().insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
        response
    }
}

/// What the router learns about a call, for its audit event.
#[derive(Debug, Default)]
struct Call {
    /// `None`: not audited (OpenAPI document, JWKS).
    operation: Option<&'static str>,
    client: Option<String>,
    message_id: Option<String>,
    reason: Option<String>,
    note: AuditNote,
}

/// A short reason for a refused authentication (never the token or secret itself).
fn auth_reason(e: &AuthError) -> &'static str {
    match e {
        AuthError::Missing => "no credentials",
        AuthError::Token(_) => "invalid token",
        AuthError::Client => "client unknown or revoked",
        AuthError::Unavailable(_) => "issuer keys unavailable",
    }
}

fn operation(route: &Route<'_>, method: &Method) -> Option<&'static str> {
    Some(match (route, method) {
        (Route::Jwks | Route::OpenApi, _) => return None,
        (Route::Token, _) => "token",
        (Route::Messages, &Method::POST) => "messages.create",
        (Route::Messages, _) => "messages.list",
        (Route::Message(_), &Method::DELETE) => "messages.delete",
        (Route::Message(_), _) => "messages.get",
        (Route::Ack(_), _) => "messages.ack",
        (Route::File(..), _) => "messages.file",
        (Route::Changes, _) => "changes",
    })
}

impl ApiHandler {
    /// Every call (but the public documents) goes into the audit trail: client, operation,
    /// mailbox, message id, HTTP status and outcome (`audit::api_call`), before the answer.
    async fn audit(&self, call: &Call, request_id: &str, status: StatusCode) {
        let Some(operation) = call.operation else {
            return;
        };
        let mailbox = call.note.noted_mailbox();
        let event = crate::audit::api_call(&crate::audit::ApiCall {
            at: OffsetDateTime::now_utc(),
            client: call.client.as_deref().unwrap_or(""),
            operation,
            mailbox: mailbox.as_deref(),
            message_id: call.message_id.as_deref(),
            status: status.as_u16(),
            reason: call.reason.as_deref(),
            request_id: Some(request_id),
        });
        let api = self.api.clone();
        let _ = tokio::task::spawn_blocking(move || api.record_call(event)).await;
    }

    async fn dispatch(
        &self,
        request: Request<RequestBody>,
        connection: &ConnectionInfo,
        request_id: &str,
        call: &mut Call,
    ) -> Response<OutBody> {
        let now = OffsetDateTime::now_utc();
        let base = self.api.settings().base_path.clone();
        let full_path = request.uri().path().to_owned();
        let Some(path) = full_path
            .strip_prefix(base.as_str())
            .filter(|p| p.starts_with('/'))
        else {
            return problem_response(Problem::new(
                StatusCode::NOT_FOUND,
                problem::NOT_FOUND,
                "no such resource",
            ));
        };
        let path = path.to_owned();
        let Some(route) = route(&path) else {
            return problem_response(Problem::new(
                StatusCode::NOT_FOUND,
                problem::NOT_FOUND,
                "no such resource",
            ));
        };
        let method = request.method().clone();
        call.operation = operation(&route, &method);
        if let Route::Message(id) | Route::Ack(id) | Route::File(id, ..) = &route {
            call.message_id = Some((*id).chars().take(256).collect());
        }
        let (scope, allowed): (Option<Scope>, &[Method]) = match (&route, &method) {
            (Route::Token, &Method::POST) => (None, &[]),
            (Route::Jwks | Route::OpenApi, &Method::GET) => (None, &[]),
            (Route::Messages, &Method::POST) => (Some(Scope::Send), &[]),
            (Route::Messages, &Method::GET) => (Some(Scope::GetByFilter), &[]),
            (Route::Message(_), &Method::GET) => (Some(Scope::GetMessage), &[]),
            (Route::Message(_), &Method::DELETE) => (Some(Scope::Delete), &[]),
            (Route::Ack(_), &Method::POST) => (Some(Scope::GetMessage), &[]),
            (Route::File(..), &Method::GET) => (Some(Scope::GetMessage), &[]),
            (Route::Changes, &Method::GET) => (Some(Scope::GetByFilter), &[]),
            (Route::Token | Route::Ack(_), _) => (None, &[Method::POST]),
            (Route::Jwks | Route::OpenApi | Route::File(..) | Route::Changes, _) => {
                (None, &[Method::GET])
            }
            (Route::Messages, _) => (None, &[Method::GET, Method::POST]),
            (Route::Message(_), _) => (None, &[Method::GET, Method::DELETE]),
        };
        if !allowed.is_empty() {
            let mut r = problem_response(Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                problem::METHOD_NOT_ALLOWED,
                "method not allowed here",
            ));
            let list: Vec<&str> = allowed.iter().map(Method::as_str).collect();
            if let Ok(v) = HeaderValue::from_str(&list.join(", ")) {
                r.headers_mut().insert(http::header::ALLOW, v);
            }
            return r;
        }
        let base_url = self.base_url(request.headers());
        let Some(scope) = scope else {
            return match route {
                Route::Token => {
                    self.token(request, &format!("{base_url}/oauth/token"), now)
                        .await
                }
                Route::Jwks => json_response(StatusCode::OK, &self.api.auth.public_jwks(), &[]),
                _ => Response::builder()
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(OutBody::full(super::OPENAPI_JSON))
                    .unwrap_or_else(|_| Response::new(OutBody::empty())),
            };
        };
        let principal = match self
            .api
            .auth
            .authenticate(request.headers(), connection, now)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                call.reason = Some(auth_reason(&e).into());
                return self.auth_failed(e, request_id);
            }
        };
        call.client = Some(principal.client_id.clone());
        if !principal.has(scope) {
            call.reason = Some(format!("scope {} missing", scope.name()));
            tracing::info!(target: "sdkgw::api::audit", client = %principal.client_id, request_id, scope = scope.name(), outcome = 403, "scope missing");
            return problem_response(Problem::forbidden(format!(
                "the token lacks scope {}",
                scope.name()
            )));
        }
        if let Some(after) = self.api.rate_limited(&principal.client_id) {
            let mut p = Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                problem::TOO_MANY_REQUESTS,
                "rate limit exceeded; retry later",
            );
            p.retry_after = Some(after);
            return problem_response(p);
        }
        let ctx = Ctx {
            principal,
            now,
            base_url,
            request_id: request_id.to_owned(),
            audit: call.note.clone(),
        };
        let query = request.uri().query().map(str::to_owned);
        let api = self.api.clone();
        let reply = match route {
            Route::Messages if method == Method::POST => return self.send(request, ctx).await,
            Route::Messages => blocking(move || api.list(&ctx, query.as_deref())).await,
            Route::Message(id) if method == Method::GET => {
                let id = id.to_owned();
                blocking(move || api.get(&ctx, &id, query.as_deref())).await
            }
            Route::Message(id) => {
                let id = id.to_owned();
                blocking(move || api.delete(&ctx, &id)).await
            }
            Route::Ack(id) => {
                let id = id.to_owned();
                blocking(move || api.ack(&ctx, &id)).await
            }
            Route::File(id, doc, n) => {
                let (id, doc, n) = (id.to_owned(), decode_segment(doc), n.to_owned());
                let range = request
                    .headers()
                    .get(http::header::RANGE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                blocking(move || api.file(&ctx, &id, &doc, &n, range.as_deref())).await
            }
            Route::Changes => changes(api, ctx, query.as_deref()).await,
            Route::Token | Route::Jwks | Route::OpenApi => Reply::Problem(Problem::internal()),
        };
        reply_response(reply)
    }

    fn auth_failed(&self, e: AuthError, request_id: &str) -> Response<OutBody> {
        tracing::info!(target: "sdkgw::api::audit", request_id, reason = %e, outcome = 401, "authentication failed");
        let p = match e {
            AuthError::Unavailable(reason) => {
                tracing::warn!(reason, "mailbox API: authentication backend unavailable");
                Problem::unavailable("the token issuer's keys are unavailable; retry later", 5)
            }
            AuthError::Missing if self.api.settings().auth.mode == AuthMode::Mtls => {
                Problem::unauthorized("a registered TLS client certificate is required")
            }
            AuthError::Missing => Problem::unauthorized("a bearer token is required"),
            _ => Problem::unauthorized("the credentials are not valid"),
        };
        let mut r = problem_response(p);
        if r.status() == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"sdk-api\""),
            );
        }
        r
    }

    fn base_url(&self, headers: &http::HeaderMap) -> String {
        let s = self.api.settings();
        let origin = s.public_url.clone().unwrap_or_else(|| {
            let host = headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| {
                    !h.is_empty()
                        && h.len() <= 255
                        && h.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
                })
                .unwrap_or("localhost");
            format!("https://{host}")
        });
        format!("{}{}", origin.trim_end_matches('/'), s.base_path)
    }

    async fn token(
        &self,
        request: Request<RequestBody>,
        endpoint: &str,
        now: OffsetDateTime,
    ) -> Response<OutBody> {
        let (parts, body) = request.into_parts();
        let body = match body.collect_bounded(MAX_FORM_BYTES).await {
            Ok(b) => b,
            Err(e) => return body_error(&e),
        };
        let api = self.api.clone();
        let endpoint = endpoint.to_owned();
        let headers = parts.headers;
        let (status, json) =
            tokio::task::spawn_blocking(move || api.auth.token(&headers, &body, &endpoint, now))
                .await
                .unwrap_or((
                    StatusCode::INTERNAL_SERVER_ERROR,
                    serde_json::json!({"error": "server_error"}),
                ));
        json_response(status, &json, &[("pragma", "no-cache".into())])
    }

    async fn send(&self, request: Request<RequestBody>, ctx: Ctx) -> Response<OutBody> {
        let max = self.api.settings().max_body_bytes;
        let declared = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max) {
            return problem_response(Problem::too_large(format!(
                "the body is larger than {max} bytes"
            )));
        }
        let Some(slot) = self.api.send_slot() else {
            return problem_response(Problem::unavailable(
                "the gateway is busy with other submissions; retry",
                1,
            ));
        };
        let (parts, body) = request.into_parts();
        let body: Bytes = match body.collect_bounded(max).await {
            Ok(b) => b,
            Err(e) => return body_error(&e),
        };
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (content_type, key) = (header("content-type"), header("idempotency-key"));
        let api = self.api.clone();
        let reply = blocking(move || {
            let _slot = slot;
            api.send(&ctx, content_type.as_deref(), key.as_deref(), &body)
        })
        .await;
        reply_response(reply)
    }
}

/// `GET {base}/sdk/ext/changes?after=<seq>&wait=<s>&limit=<n>`.
async fn changes(api: Arc<Api>, ctx: Ctx, query: Option<&str>) -> Reply {
    let q = match super::query::Query::parse(query) {
        Ok(q) => q,
        Err(e) => return Problem::invalid("query", e, ctx.now).into(),
    };
    let num = |k: &str, max: u64| -> Result<Option<u64>, Problem> {
        match q.get(k) {
            None => Ok(None),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= max)
                .map(Some)
                .ok_or_else(|| Problem::invalid(k, format!("must be a number 0..={max}"), ctx.now)),
        }
    };
    let (after, wait, limit) = match (
        num("after", u64::MAX),
        num("wait", MAX_WAIT_SECONDS),
        num("limit", 1000),
    ) {
        (Ok(a), Ok(w), Ok(l)) => (a, w.unwrap_or(0), l.unwrap_or(100).max(1) as usize),
        (Err(p), _, _) | (_, Err(p), _) | (_, _, Err(p)) => return p.into(),
    };
    let wait = Duration::from_secs(wait).min(api.settings().long_poll_max);
    let deadline = tokio::time::Instant::now() + wait;
    let mut cursor = after;
    loop {
        let notified = api.changes.notified();
        let (a, c) = (api.clone(), ctx.clone());
        let pass = tokio::task::spawn_blocking(move || a.changes_once(&c, cursor, limit)).await;
        let (rows, last) = match pass {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "change feed: store failure");
                return Problem::unavailable("the message store is unavailable; retry later", 5)
                    .into();
            }
            Err(_) => return Problem::internal().into(),
        };
        cursor = last;
        if !rows.is_empty() || tokio::time::Instant::now() >= deadline {
            let mut meta = serde_json::Map::new();
            meta.insert("version".into(), api.settings().meta_version.clone().into());
            if let Some(l) = cursor {
                meta.insert("last".into(), l.into());
            }
            return Reply::Json {
                status: StatusCode::OK,
                body: serde_json::json!({"meta": meta, "data": rows}),
                headers: Vec::new(),
            };
        }
        let _ = tokio::time::timeout_at(
            deadline.min(tokio::time::Instant::now() + Duration::from_millis(200)),
            notified,
        )
        .await;
    }
}

async fn blocking(f: impl FnOnce() -> Reply + Send + 'static) -> Reply {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "mailbox API: handler panicked");
        Reply::Problem(Problem::internal())
    })
}

fn decode_segment(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn request_id(headers: &http::HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

fn body_error(e: &BodyError) -> Response<OutBody> {
    match e {
        BodyError::TooLarge { .. } => {
            problem_response(Problem::too_large("the body is larger than allowed"))
        }
        BodyError::Timeout(_) => problem_response(Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            problem::BAD_REQUEST,
            "the body arrived too slowly",
        )),
        BodyError::Transport(_) => problem_response(Problem::bad_request(
            "the body could not be read",
            Vec::new(),
        )),
    }
}

fn json_response(
    status: StatusCode,
    body: &Value,
    headers: &[(&'static str, String)],
) -> Response<OutBody> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut b = Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json");
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    b.body(OutBody::full(bytes))
        .unwrap_or_else(|_| Response::new(OutBody::empty()))
}

fn problem_response(p: Problem) -> Response<OutBody> {
    let status = p.http_status();
    let retry = p.retry_after;
    let body = serde_json::to_value(&p).unwrap_or(Value::Null);
    let headers: Vec<(&'static str, String)> = retry
        .map(|r| ("retry-after", r.to_string()))
        .into_iter()
        .collect();
    json_response(status, &body, &headers)
}

fn reply_response(reply: Reply) -> Response<OutBody> {
    match reply {
        Reply::Json {
            status,
            body,
            headers,
        } => json_response(status, &body, &headers),
        Reply::Problem(p) => problem_response(p),
        Reply::Empty(status) => Response::builder()
            .status(status)
            .body(OutBody::empty())
            .unwrap_or_else(|_| Response::new(OutBody::empty())),
        Reply::Bytes {
            status,
            content_type,
            body,
            headers,
        } => {
            let mut b = Response::builder()
                .status(status)
                .header(http::header::CONTENT_TYPE, content_type)
                .header(http::header::CONTENT_LENGTH, body.len());
            for (k, v) in headers {
                b = b.header(k, v);
            }
            b.body(OutBody::full(body))
                .unwrap_or_else(|_| Response::new(OutBody::empty()))
        }
    }
}

/// The API listener's TLS configuration: server certificate, plus client-certificate
/// verification against `mtls_client_ca` in mtls mode.
pub fn tls_config(
    identity: &sdkgw_http::TlsIdentity,
    settings: &super::ApiSettings,
) -> Result<Arc<rustls::ServerConfig>, String> {
    if settings.auth.mode == AuthMode::Mtls {
        let mut cas = Vec::new();
        for f in &settings.mtls_client_ca {
            cas.extend(
                sdkgw_certs::load_certificates(f, None)
                    .map_err(|e| format!("api.mtls_client_ca {}: {e}", f.display()))?,
            );
        }
        let anchors = sdkgw_http::TrustAnchors::new(&cas)
            .map_err(|e| format!("api.mtls_client_ca: {e}"))?
            .with_revocation_policy(sdkgw_http::tls::RevocationPolicy {
                end_entity_only: true,
                allow_unknown_status: true,
                enforce_crl_expiry: false,
            });
        sdkgw_http::tls::mtls_server_config(identity, &anchors).map_err(|e| e.to_string())
    } else {
        sdkgw_http::tls::server_config_without_client_auth(identity).map_err(|e| e.to_string())
    }
}

/// A running API listener (drop or [`RunningApi::stop`] ends it).
#[derive(Debug)]
pub struct RunningApi {
    pub addr: SocketAddr,
    /// The listener's connection and TLS counters (for `/metrics`).
    pub metrics: Arc<sdkgw_http::ServerMetrics>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    indexer: tokio::task::JoinHandle<()>,
}

impl RunningApi {
    /// Stops accepting and waits for requests in flight (the listener's shutdown grace).
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        self.indexer.abort();
    }
}

impl Drop for RunningApi {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.indexer.abort();
    }
}

/// Binds the API listener and serves it; also starts the indexer (files inbound messages
/// into the mailbox index every second, sweeps expired keys and tombstones hourly).
pub async fn start(
    api: Arc<Api>,
    addr: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    mut settings: ServerSettings,
) -> Result<RunningApi, String> {
    settings.max_body_bytes = settings.max_body_bytes.max(api.settings().max_body_bytes);
    let server = Server::bind(addr, tls, settings)
        .await
        .map_err(|e| e.to_string())?;
    let addr = server.local_addr().map_err(|e| e.to_string())?;
    let metrics = server.metrics();
    let (tx, rx) = oneshot::channel::<()>();
    let handler = Arc::new(ApiHandler::new(api.clone()));
    let task = tokio::spawn(server.serve(handler, async {
        let _ = rx.await;
    }));
    let indexer = tokio::spawn(async move {
        let mut ticks = 0u64;
        loop {
            let a = api.clone();
            let sweep = ticks.is_multiple_of(3600);
            let _ = tokio::task::spawn_blocking(move || {
                match a.index.catch_up() {
                    Ok(n) if n > 0 => a.notify_changes(),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "mailbox API indexer"),
                }
                if sweep
                    && let Err(e) = a
                        .index
                        .sweep(OffsetDateTime::now_utc(), a.settings().tombstone_days)
                {
                    tracing::warn!(error = %e, "mailbox API sweep");
                }
            })
            .await;
            ticks += 1;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    Ok(RunningApi {
        addr,
        metrics,
        stop: Some(tx),
        task: Some(task),
        indexer,
    })
}
