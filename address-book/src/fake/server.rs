//! Serving the fake over HTTPS with `sdkgw-http`'s bounded hyper server.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode, header};
use percent_encoding::percent_decode_str;
use sdkgw_http::{ConnectionInfo, Handler, OutBody, RequestBody, Server, ServerSettings};
use sdkgw_schemas::{DocumentId, ParticipantId};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::document::service_group_xml;
use super::{Canned, FakeError, FakeSmp, LoggedRequest, MAX_LOG};
use crate::smp_url::SmpBaseUrl;

/// A serving fake SMP. Dropping it stops the server.
#[derive(Debug)]
pub struct RunningSmp {
    addr: SocketAddr,
    url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningSmp {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL (`https://127.0.0.1:port/`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops accepting and waits for the server task (connections are closed: "SMP down").
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSmp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl FakeSmp {
    /// Serves on `addr` (port 0 picks one) with TLS `tls` until the returned handle is
    /// shut down or dropped.
    pub async fn serve(
        &self,
        addr: SocketAddr,
        tls: Arc<rustls::ServerConfig>,
    ) -> Result<RunningSmp, FakeError> {
        let settings = ServerSettings {
            max_body_bytes: 64 * 1024,
            shutdown_grace: std::time::Duration::from_millis(200),
            ..ServerSettings::default()
        };
        let server = Server::bind(addr, tls, settings)
            .await
            .map_err(|e| FakeError::Listen(e.to_string()))?;
        let addr = server
            .local_addr()
            .map_err(|e| FakeError::Listen(e.to_string()))?;
        let host = if addr.ip().is_loopback() {
            addr.ip().to_string()
        } else {
            "localhost".into()
        };
        let url = format!("https://{host}:{}/", addr.port());
        let base = SmpBaseUrl::parse(&url).map_err(|e| FakeError::Listen(e.to_string()))?;
        let handler = Arc::new(FakeHandler {
            smp: self.clone(),
            base,
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .serve(handler, async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(RunningSmp {
            addr,
            url,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

struct FakeHandler {
    smp: FakeSmp,
    base: SmpBaseUrl,
}

/// What a request path names.
enum Target {
    Group(ParticipantId),
    Metadata(ParticipantId, DocumentId),
}

fn decode(segment: &str) -> Option<String> {
    percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

fn target(path: &str) -> Option<Target> {
    let rest = path.strip_prefix('/')?;
    let (participant, document) = match rest.split_once("/services/") {
        Some((p, d)) => (p, Some(d)),
        None => (rest, None),
    };
    let participant: ParticipantId = decode(participant)?.parse().ok()?;
    match document {
        None => Some(Target::Group(participant)),
        Some(d) => {
            let document = DocumentId::parse(&decode(d)?).ok()?;
            Some(Target::Metadata(participant, document))
        }
    }
}

impl FakeHandler {
    fn answer(&self, method: &Method, path: &str) -> Canned {
        let plain = |status: u16, body: &'static [u8]| Canned {
            status,
            body: bytes::Bytes::from_static(body),
            location: None,
        };
        if method != Method::GET {
            return plain(405, b"method not allowed\n");
        }
        let Some(target) = target(path) else {
            return plain(400, b"not an SMP path\n");
        };
        let (participant, document) = match &target {
            Target::Group(p) => (p, None),
            Target::Metadata(p, d) => (p, Some(d)),
        };
        {
            let s = self.smp.lock();
            if let Some(status) = s.failure {
                return plain(status, b"fake SMP failure mode\n");
            }
            if let Some(c) = s.canned.get(&(participant.clone(), document.cloned())) {
                return c.clone();
            }
        }
        match target {
            Target::Group(p) => match self.smp.participant(&p) {
                Some(fp) => Canned::ok(service_group_xml(&fp, &self.base)),
                None => plain(404, b"not found\n"),
            },
            Target::Metadata(p, d) => match self.smp.signed_metadata(&p, &d) {
                Ok(Some(bytes)) => Canned::ok(bytes),
                Ok(None) => plain(404, b"not found\n"),
                Err(e) => Canned {
                    status: 500,
                    body: e.to_string().into(),
                    location: None,
                },
            },
        }
    }
}

impl Handler for FakeHandler {
    fn handle(
        &self,
        request: Request<RequestBody>,
        _connection: Arc<ConnectionInfo>,
    ) -> impl Future<Output = Response<OutBody>> + Send {
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let method = request.method().clone();
        let delay = self.smp.lock().delay;
        let answer = self.answer(&method, &path);
        let status = answer.status;
        {
            let mut s = self.smp.lock();
            if s.log.len() >= MAX_LOG {
                s.log.remove(0);
            }
            s.log.push(LoggedRequest {
                method: method.to_string(),
                path,
                status,
            });
        }
        async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = Response::new(OutBody::full(answer.body));
            *response.status_mut() = status;
            if let Some(location) = answer
                .location
                .and_then(|l| http::HeaderValue::from_str(&l).ok())
            {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/xml"),
            );
            response
        }
    }
}
