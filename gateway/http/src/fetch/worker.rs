//! The fetch thread: a current-thread tokio runtime that runs the callers' requests and the
//! periodic refresh rounds, one HTTP exchange per job, and reports into [`Shared`].

use std::sync::{Arc, mpsc};

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use sdkgw_xml_security::x509::OcspRequest;
use std::sync::atomic::Ordering;

use super::state::{Key, Shared};
use crate::body::OutBody;
use crate::client::{ClientSettings, HttpsClient, RedirectPolicy};

/// Work for the fetch thread.
#[derive(Debug)]
pub(crate) enum Command {
    Crl(String),
    Ocsp(Key),
    /// Run a refresh round now; signal when it is done.
    Refresh(mpsc::Sender<()>),
}

pub(crate) fn spawn(
    shared: Arc<Shared>,
    commands: tokio::sync::mpsc::UnboundedReceiver<Command>,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("sdkgw-revocation".into())
        .spawn(move || runtime.block_on(run(shared, commands)))?;
    Ok(())
}

fn client(shared: &Shared, max_bytes: u64) -> HttpsClient {
    let s = &shared.settings;
    let mut settings = ClientSettings::new(Arc::clone(&s.tls));
    settings.connect_timeout = s.connect_timeout;
    settings.request_timeout = s.request_timeout;
    settings.max_response_bytes = max_bytes;
    settings.redirects = RedirectPolicy::SameHost { max: 3 };
    settings.allow_plain_http = true;
    HttpsClient::new(settings)
}

struct Clients {
    crl: HttpsClient,
    ocsp: HttpsClient,
}

/// Until every handle to the fetcher is gone (the command channel closes).
async fn run(shared: Arc<Shared>, mut commands: tokio::sync::mpsc::UnboundedReceiver<Command>) {
    let clients = Arc::new(Clients {
        crl: client(&shared, shared.settings.max_crl_bytes),
        ocsp: client(&shared, shared.settings.max_ocsp_bytes),
    });
    let period = shared.settings.tick;
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                None => break,
                Some(Command::Crl(url)) => {
                    tokio::spawn(job(Arc::clone(&shared), Arc::clone(&clients), Key::Crl(url)));
                }
                Some(Command::Ocsp(key)) => {
                    tokio::spawn(job(Arc::clone(&shared), Arc::clone(&clients), key));
                }
                Some(Command::Refresh(done)) => {
                    let (s, c) = (Arc::clone(&shared), Arc::clone(&clients));
                    tokio::spawn(async move {
                        refresh_round(s, c).await;
                        let _ = done.send(());
                    });
                }
            },
            _ = tick.tick() => {
                tokio::spawn(refresh_round(Arc::clone(&shared), Arc::clone(&clients)));
            }
        }
    }
}

async fn refresh_round(shared: Arc<Shared>, clients: Arc<Clients>) {
    let jobs: Vec<_> = shared
        .due_jobs()
        .into_iter()
        .map(|key| tokio::spawn(job(Arc::clone(&shared), Arc::clone(&clients), key)))
        .collect();
    for j in jobs {
        let _ = j.await;
    }
}

/// One fetch; always wakes the waiters of `key`.
async fn job(shared: Arc<Shared>, clients: Arc<Clients>, key: Key) {
    match &key {
        Key::Crl(url) => fetch_crl(&shared, &clients.crl, url).await,
        Key::Ocsp(url, _) => query_ocsp(&shared, &clients.ocsp, &key, url).await,
    }
    shared.finish(&key);
}

async fn fetch_crl(shared: &Shared, client: &HttpsClient, url: &str) {
    shared.counters.crl_fetches.fetch_add(1, Ordering::Relaxed);
    let request = Request::builder()
        .method(Method::GET)
        .uri(url)
        .header(
            header::ACCEPT,
            "application/pkix-crl, application/x-pkcs7-crl, */*",
        )
        .body(OutBody::empty());
    match exchange(client, request).await {
        Ok(body) => shared.crl_downloaded(url, body.to_vec()),
        Err(e) => shared.crl_failed(url, e),
    }
}

async fn query_ocsp(shared: &Shared, client: &HttpsClient, key: &Key, url: &str) {
    let Some((cert, issuer)) = shared.ocsp_subject(key) else {
        return;
    };
    shared.counters.ocsp_queries.fetch_add(1, Ordering::Relaxed);
    let request = match OcspRequest::new(&cert, &issuer, shared.settings.ocsp_nonce) {
        Ok(r) => r,
        Err(e) => return shared.ocsp_failed(key, e.to_string()),
    };
    let http = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header(header::CONTENT_TYPE, "application/ocsp-request")
        .header(header::ACCEPT, "application/ocsp-response")
        .body(OutBody::full(Bytes::copy_from_slice(request.der())));
    let checked = exchange(client, http).await.and_then(|body| {
        request
            .check_response(&body, &issuer, shared.now())
            .map_err(|e| e.to_string())
    });
    match checked {
        Ok(response) => shared.ocsp_answered(key, response),
        Err(e) => shared.ocsp_failed(key, e),
    }
}

/// The body of a 200 answer, or why there is none.
async fn exchange(
    client: &HttpsClient,
    request: Result<Request<OutBody>, http::Error>,
) -> Result<Bytes, String> {
    let request = request.map_err(|e| format!("bad URL: {e}"))?;
    let response = client.send(request).await.map_err(|e| e.to_string())?;
    if response.status() != StatusCode::OK {
        return Err(format!("server answered {}", response.status()));
    }
    Ok(response.into_body())
}
