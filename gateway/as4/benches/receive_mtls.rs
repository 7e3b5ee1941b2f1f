//! The AS4 receive wire path end to end on 127.0.0.1: our HTTPS client streams a large
//! AS4-shaped MIME message over mutual TLS (development PKI, RSA-3072) to an `sdkgw-http`
//! server whose handler runs the streaming MIME reader and bounded gunzip into a file. Sender
//! and receiver share this process, so the peak RSS printed bounds both sides together.
//!
//! `cargo bench -p sdkgw-as4 --bench receive_mtls` (1 GiB on the wire; `SDKGW_BENCH_MIB=256`
//! for a shorter run). Generating the development PKI first takes a few seconds.
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark binary

mod common;

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Received, cpu_seconds, gzip_member, mib, peak_rss_mib};
use http::{Request, Response, header};
use sdkgw_as4::mime::{Framing, MimeLimits, MultipartReader};
use sdkgw_certs::devpki::{self, Options, Pair};
use sdkgw_http::tls::{self, ClientTlsSettings};
use sdkgw_http::{
    ClientSettings, ConnectionInfo, Handler, HostnameVerification, HttpsClient, OutBody,
    RequestBody, Server, ServerSettings, TlsIdentity, TrustAnchors,
};

struct Receiver {
    spool: PathBuf,
    received: Mutex<Option<Received>>,
}

impl Handler for Receiver {
    async fn handle(
        &self,
        request: Request<RequestBody>,
        _: Arc<ConnectionInfo>,
    ) -> Response<OutBody> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let Framing::Multipart { boundary, .. } =
            Framing::from_content_type(&content_type).unwrap()
        else {
            panic!("expected multipart/related");
        };
        let body = request.into_body().into_reader();
        let mut reader = MultipartReader::new(body, &boundary, MimeLimits::default()).unwrap();
        // Synchronous file writes inside the handler keep the bench simple; the AS4 handler
        // moves this work off the runtime threads.
        let file = std::fs::File::create(self.spool.join("payload.xml")).unwrap();
        let received =
            common::receive(&mut reader, BufWriter::with_capacity(256 * 1024, file)).await;
        *self.received.lock().unwrap() = Some(received);
        Response::new(OutBody::full("received"))
    }
}

fn identity(dir: &Path, pair: &Pair, intermediate: &Path) -> TlsIdentity {
    let (key, mut chain) =
        sdkgw_certs::load_key_pair(&dir.join(&pair.cert), Some(&dir.join(&pair.key)), None)
            .unwrap()
            .into_parts();
    if chain.len() == 1 {
        chain.extend(sdkgw_certs::load_certificates(intermediate, None).unwrap());
    }
    TlsIdentity::new(&chain, &key).unwrap()
}

fn main() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let pki = dir.path().join("pki");
    let options = Options {
        participants: vec!["0203:bench.test".into()],
        seed: None,
        force: false,
    };
    let manifest = devpki::generate(&pki, &options, &|_: &devpki::OrgConfigInput<'_>| {
        String::new()
    })
    .unwrap();
    let org = &manifest.organisations[0];
    let intermediate = pki.join(&manifest.ca.tls_intermediate);
    let trust = TrustAnchors::new(
        &sdkgw_certs::load_certificates(&pki.join(&manifest.ca.tls_root), None).unwrap(),
    )
    .unwrap();
    let server_tls =
        tls::mtls_server_config(&identity(&pki, &org.tls_server, &intermediate), &trust).unwrap();
    let client_tls = tls::client_config(&ClientTlsSettings {
        identity: Some(identity(&pki, &org.tls_client, &intermediate)),
        server_trust: trust,
        hostname: HostnameVerification::Verify,
    })
    .unwrap();

    let member = gzip_member();
    let writer = common::as4_message(&member, common::wire_mib());
    let wire_total = writer.encoded_len();
    let rss_before = peak_rss_mib();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let receiver = Arc::new(Receiver {
        spool: dir.path().to_owned(),
        received: Mutex::new(None),
    });
    let (started, cpu_started, status) = runtime.block_on(async {
        let settings = ServerSettings {
            max_body_bytes: sdkgw_http::server::MAX_BODY_LIMIT,
            ..ServerSettings::default()
        };
        let server = Server::bind("127.0.0.1:0".parse().unwrap(), server_tls, settings)
            .await
            .unwrap();
        let url = format!(
            "https://localhost:{}/as4",
            server.local_addr().unwrap().port()
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(receiver.clone(), async {
            let _ = stopped.await;
        }));
        let mut client_settings = ClientSettings::new(client_tls);
        client_settings.request_timeout = Duration::from_secs(3600);
        let client = HttpsClient::new(client_settings);
        let request = Request::post(url)
            .header(header::CONTENT_TYPE, writer.content_type())
            .body(OutBody::reader(writer.into_reader(), Some(wire_total)))
            .unwrap();
        let started = Instant::now();
        let cpu_started = cpu_seconds();
        let response = client.send(request).await.unwrap();
        let _ = stop.send(());
        serving.await.unwrap();
        (started, cpu_started, response.status())
    });
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_started;
    assert_eq!(status, 200);
    let received = receiver.received.lock().unwrap().take().unwrap();
    assert_eq!(received.parts, 2);
    let out = received.decompressed;
    assert_eq!(
        std::fs::metadata(dir.path().join("payload.xml"))
            .unwrap()
            .len(),
        out
    );
    println!(
        "receive_mtls: wire {:.0} MiB over mutual TLS -> {:.0} MiB decompressed file",
        mib(wire_total),
        mib(out)
    );
    println!(
        "receive_mtls: {secs:.2} s, {:.0} MiB/s wire; CPU {cpu:.2} s (both sides) = {:.0} MiB wire per CPU-second",
        mib(wire_total) / secs,
        mib(wire_total) / cpu
    );
    println!(
        "receive_mtls: peak RSS {:.1} MiB for sender + receiver (before the transfer: {rss_before:.1} MiB)",
        peak_rss_mib()
    );
}
