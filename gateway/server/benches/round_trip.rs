//! The whole round trip between two local gateways (issue 8 §9): mailbox API submission at A
//! → seal (O2O sign + encrypt) → AS4 over mutual TLS → B stores, answers with the AS4
//! Receipt, opens (verify, decrypt, validate), files, signs its Meddelandekvittens → AS4 back
//! → A verifies it and settles the message ACCEPTED. Both gateways, the fake SMP and the
//! load generator share this process and its two cores.
//!
//! 1. **Throughput**: `SDKGW_BENCH_MESSAGES` (default 300) submissions by 8 concurrent
//!    clients as fast as the API takes them (503 → retried); messages/s = count / (last
//!    ACCEPTED − first submission), and messages per CPU-second of the whole process.
//! 2. **Latency at half load**: `SDKGW_BENCH_HALF` (default 150) submissions at half the
//!    measured rate, evenly spaced; latency = ACCEPTED at A − start of the POST; p50/p99.
//! 3. **The crypto-bound limit** of the same run: the RSA-3072 operations one round trip
//!    needs, timed in this run, before the gateways start — with `openssl speed -seconds 3
//!    -multi 2 rsa3072` (per second of wall time on both cores, as loaded as they are) and
//!    without `-multi` (per second of user CPU time), and with aws-lc-rs (the library the
//!    gateway uses) signing/verifying on two threads (per wall second and per process CPU
//!    second); the limit is `1 / (private/sign_rate + public/verify_rate)`. The wall-clock
//!    ratio moves with whatever else runs on the machine, the CPU-second ratio hardly: it is
//!    the share of the round trip's CPU that RSA takes.
//!    *Private-key operations* (9): A signs the XHE (O2O) and the AS4 message (AP), unwraps
//!    the receipt leg's AS4 key and signs the AS4 Receipt for it; B unwraps the AS4 key,
//!    signs the AS4 Receipt, unwraps the O2O key, signs the Meddelandekvittens XHE (O2O) and
//!    its AS4 message; plus 2 per full AS4 TLS handshake (server and client
//!    CertificateVerify) and 1 per full API TLS handshake (server only); resumed sessions
//!    sign nothing.
//!    *Public-key operations* (21, an upper bound): 3 key wraps (A: O2O key for B, AS4 key
//!    for B's AP; B: AS4 key for A's AP), 6 signature verifications (B: A's AS4 message and
//!    XHE; A: B's AS4 Receipt, AS4 message and Meddelandekvittens XHE; B: A's AS4 Receipt)
//!    and 2 certificate-signature checks (leaf, issuing CA) for each of the 6 signers' chains;
//!    plus 6 per full AS4 TLS handshake (both chains and CertificateVerify) and 3 per full API
//!    one.
//!    *Full handshakes* are counted by TCP relays in front of both AS4 listeners (the SMP
//!    publishes the relays' addresses) and the API listener, which read every connection's
//!    ServerHello: a TLS 1.3 ServerHello with the `pre_shared_key` extension resumed a
//!    session; anything else (also TLS 1.2) counts as full. The listeners' own handshake
//!    counters are printed next to the relays' counts as a check.
//!
//! `cargo bench -p sdkgw-server --bench round_trip`. Messages carry a 10 KiB PDF.
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark binary

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use http::Request;
use sdkgw_address_book::fake::{self, DevPkiOptions};
use sdkgw_certs::{Certificate, load_certificates};
use sdkgw_http::{
    ClientSettings, ClientTlsSettings, HostnameVerification, HttpsClient, OutBody, TrustAnchors,
};
use sdkgw_server::serve::Gateway;
use sdkgw_store::{Direction, IdKind, MessageState};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const PRIVATE_OPS_PER_ROUND_TRIP: f64 = 9.0;
const PUBLIC_OPS_PER_ROUND_TRIP: f64 = 21.0;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// RSA-3072 operations per second: private-key (sign) and public-key (verify).
#[derive(Debug, Clone, Copy)]
struct Rates {
    sign: f64,
    verify: f64,
}

impl Rates {
    /// Round trips per second if RSA were all the work: `1 / (private/sign + public/verify)`.
    fn limit(self, private: f64, public: f64) -> f64 {
        1.0 / (private / self.sign + public / self.verify)
    }
}

/// CPU seconds (user + system, all threads) this process used so far, from `/proc/self/stat`
/// (in USER_HZ = 100 ticks, the unit Linux uses there).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after_name = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = after_name.split(' ').collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// `openssl speed -seconds 3 -mr rsa3072`, with `-multi 2` the sum of two processes per
/// second of wall time (both cores, as loaded as they are now); without it, one process per
/// second of its user CPU time.
fn openssl_rsa3072(multi: bool) -> Rates {
    let mut args = vec!["speed", "-seconds", "3", "-mr"];
    if multi {
        args.extend(["-multi", "2"]);
    }
    args.push("rsa3072");
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed");
    let text = String::from_utf8_lossy(&out.stdout);
    // Machine-readable total line: +F2:<n>:3072:<sign/s>:<verify/s>
    text.lines()
        .rev()
        .filter(|l| l.starts_with("+F2:"))
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(Rates {
                sign: f.get(3)?.parse().ok()?,
                verify: f.get(4)?.parse().ok()?,
            })
        })
        .expect("openssl speed printed a +F2 line")
}

/// aws-lc-rs RSA-3072 PKCS#1 SHA-256 signatures and verifications with one key on two
/// threads for ~2 s each: (per second of wall time, per CPU second). Nothing else runs in
/// the process yet.
fn aws_lc_rsa3072(key: &sdkgw_certs::PrivateKey) -> (Rates, Rates) {
    use aws_lc_rs::signature::{self, KeyPair as _};
    let pair = key.rsa();
    let msg = [0x5au8; 32];
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut sig = vec![0u8; pair.public_modulus_len()];
    pair.sign(&signature::RSA_PKCS1_SHA256, &rng, &msg, &mut sig)
        .unwrap();
    let public = signature::UnparsedPublicKey::new(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        pair.public_key().as_ref().to_vec(),
    );
    // (per wall second, per CPU second)
    let rate = |op: &(dyn Fn() + Sync)| {
        let run = Duration::from_secs(2);
        let (started, cpu) = (Instant::now(), cpu_seconds());
        let count: u64 = std::thread::scope(|s| {
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        let mut n = 0u64;
                        while started.elapsed() < run {
                            op();
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).sum()
        });
        let count = count as f64;
        (
            count / started.elapsed().as_secs_f64(),
            count / (cpu_seconds() - cpu),
        )
    };
    let signs = rate(&|| {
        let mut out = vec![0u8; pair.public_modulus_len()];
        pair.sign(&signature::RSA_PKCS1_SHA256, &rng, &msg, &mut out)
            .unwrap();
    });
    let verifies = rate(&|| public.verify(&msg, &sig).unwrap());
    (
        Rates {
            sign: signs.0,
            verify: verifies.0,
        },
        Rates {
            sign: signs.1,
            verify: verifies.1,
        },
    )
}

/// TLS handshakes the relays saw, by kind.
#[derive(Default)]
struct Handshakes {
    full: AtomicU64,
    resumed: AtomicU64,
}

impl Handshakes {
    fn counts(&self) -> (u64, u64) {
        (
            self.full.load(Ordering::Relaxed),
            self.resumed.load(Ordering::Relaxed),
        )
    }

    fn since(&self, (full, resumed): (u64, u64)) -> (u64, u64) {
        let (f, r) = self.counts();
        (f - full, r - resumed)
    }
}

/// What the first record a server sent says about the handshake.
#[derive(Debug, PartialEq, Eq)]
enum Hello {
    Full,
    Resumed,
    /// The record is not complete yet.
    Incomplete,
}

/// Reads the ServerHello record at the start of `bytes`: a resumed session when it is TLS 1.3
/// (`supported_versions` 0x0304) and carries `pre_shared_key` (RFC 8446 §4.2.11); anything
/// else (also TLS 1.2, a HelloRetryRequest or not a ServerHello) counts as full.
fn server_hello(bytes: &[u8]) -> Hello {
    const SUPPORTED_VERSIONS: u16 = 0x002b;
    const PRE_SHARED_KEY: u16 = 0x0029;
    const HRR_RANDOM_START: [u8; 4] = [0xcf, 0x21, 0xad, 0x74];
    let be16 = |b: &[u8], at: usize| Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]));
    let Some(len) = be16(bytes, 3) else {
        return Hello::Incomplete;
    };
    let Some(record) = bytes.get(5..5 + usize::from(len)) else {
        return Hello::Incomplete;
    };
    // Handshake record holding a ServerHello: type, 3-byte length, version, random,
    // session id, cipher suite, compression, extensions.
    let extensions = || -> Option<Vec<(u16, &[u8])>> {
        if bytes[0] != 22 || *record.first()? != 2 || record.get(6..10)? == HRR_RANDOM_START {
            return None;
        }
        let session_id = usize::from(*record.get(38)?);
        let at = 39 + session_id + 3;
        let mut rest = record.get(at + 2..at + 2 + usize::from(be16(record, at)?))?;
        let mut found = Vec::new();
        while !rest.is_empty() {
            let l = usize::from(be16(rest, 2)?);
            found.push((be16(rest, 0)?, rest.get(4..4 + l)?));
            rest = rest.get(4 + l..)?;
        }
        Some(found)
    };
    let Some(found) = extensions() else {
        return Hello::Full;
    };
    let tls13 = found
        .iter()
        .any(|(t, v)| *t == SUPPORTED_VERSIONS && *v == [3, 4]);
    if tls13 && found.iter().any(|(t, _)| *t == PRE_SHARED_KEY) {
        Hello::Resumed
    } else {
        Hello::Full
    }
}

/// A TCP relay from a new port on 127.0.0.1 to `target` that classifies each connection's
/// handshake (the bytes pass unchanged).
async fn relay(target: SocketAddr, seen: Arc<Handshakes>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                if let Ok(server) = TcpStream::connect(target).await {
                    let _ = pipe(client, server, &seen).await;
                }
            });
        }
    });
    addr
}

async fn pipe(client: TcpStream, server: TcpStream, seen: &Handshakes) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async {
        tokio::io::copy(&mut cr, &mut sw).await?;
        sw.shutdown().await
    };
    let down = async {
        let mut first = Vec::with_capacity(4096);
        loop {
            match server_hello(&first) {
                Hello::Incomplete => {
                    if sr.read_buf(&mut first).await? == 0 {
                        break;
                    }
                }
                Hello::Full => {
                    seen.full.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Hello::Resumed => {
                    seen.resumed.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        cw.write_all(&first).await?;
        tokio::io::copy(&mut sr, &mut cw).await?;
        cw.shutdown().await
    };
    tokio::try_join!(up, down).map(|_| ())
}

struct Org {
    gateway: Gateway,
}

/// Handshakes a listener completed (`sdkgw_tls_handshakes_total`, full or resumed): a check
/// that its relay saw every connection.
fn listener_handshakes(g: &Gateway, listener: &str) -> u64 {
    let text = g.ops.metrics.render(OffsetDateTime::now_utc());
    let label = format!("listener=\"{listener}\"");
    text.lines()
        .filter(|l| l.starts_with("sdkgw_tls_handshakes_total") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn config(pki: &Path, name: &str, data: &Path, smp: &str) -> sdkgw_server::config::Config {
    let vars = [
        ("SDKGW_DATA_DIR", data.to_str().unwrap().to_owned()),
        ("SDKGW_ADDRESS_BOOK__URL", smp.to_owned()),
        (
            "SDKGW_ADDRESS_BOOK__HTTP__TLS_ANCHORS",
            pki.join("ca/tls-root.pem").to_str().unwrap().to_owned(),
        ),
        ("SDKGW_LISTENERS__AS4__BIND", "127.0.0.1:0".to_owned()),
        ("SDKGW_LISTENERS__API__BIND", "127.0.0.2:0".to_owned()),
        ("SDKGW_LISTENERS__ADMIN__BIND", "127.0.0.3:0".to_owned()),
        // A bench client may have many POSTs in flight.
        ("SDKGW_API__MAX_CONCURRENT_SENDS", "16".to_owned()),
        ("SDKGW_API__RATE_LIMIT", "0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v));
    let file = pki.join(format!("orgs/{name}/sdkgw.toml"));
    let loaded = sdkgw_server::config::load_with_env(&file, vars);
    loaded
        .config
        .unwrap_or_else(|| panic!("{:?}", loaded.findings))
}

fn directory() -> Vec<sdkgw_address_book::directory::Organisation> {
    ["orga.test", "orgb.test"]
        .iter()
        .map(|o| {
            serde_json::from_value(json!({
                "id": format!("0203:{o}"),
                "name": o,
                "functions": [{"id": format!("{o}-inbox"), "name": "inbox"}],
            }))
            .unwrap()
        })
        .collect()
}

/// Starts one gateway; the SMP publishes a relay in front of its AS4 listener.
async fn start(
    pki: &Path,
    smp: &fake::FakeSmp,
    smp_url: &str,
    name: &str,
    data: &Path,
    seen: &Arc<Handshakes>,
) -> Org {
    let cfg = config(pki, name, data, smp_url);
    let id = cfg.participants[0].id.clone();
    let gateway = Gateway::start(cfg).await.unwrap();
    let relayed = relay(gateway.as4_addr, Arc::clone(seen)).await;
    let url = format!("https://127.0.0.1:{}/as4", relayed.port());
    smp.update_participant(&id, |p| p.endpoint_url = url);
    gateway
        .shared
        .address_book
        .directory
        .import(
            directory(),
            "bench",
            OffsetDateTime::now_utc(),
            Default::default(),
        )
        .unwrap();
    Org { gateway }
}

struct Api {
    http: HttpsClient,
    base: String,
    token: String,
}

impl Api {
    async fn post(&self, path: &str, headers: &[(&str, String)], body: Vec<u8>) -> (u16, Value) {
        let mut b = Request::builder()
            .method("POST")
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            b = b.header(*k, v.as_str());
        }
        match self.http.send(b.body(OutBody::full(body)).unwrap()).await {
            Ok(r) => {
                let s = r.status().as_u16();
                (
                    s,
                    serde_json::from_slice(&r.into_body()).unwrap_or(Value::Null),
                )
            }
            Err(_) => (0, Value::Null),
        }
    }

    /// Submits one message (retrying 503s); returns its id and when the POST started.
    async fn submit(&self, body: &[u8]) -> (String, OffsetDateTime) {
        loop {
            let started = OffsetDateTime::now_utc();
            let headers = [
                ("authorization", format!("Bearer {}", self.token)),
                ("content-type", "application/json".to_owned()),
            ];
            let (status, v) = self.post("/sdk/messages", &headers, body.to_vec()).await;
            if status == 201 {
                return (v["data"]["id"].as_str().unwrap().to_owned(), started);
            }
            assert!(matches!(status, 0 | 429 | 503), "POST {status}: {v}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn message_body(pdf: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&json!({"data": {"type": "messages", "attributes": {
        "confidentiality": true,
        "label": "Benchmark",
        "sender": "0203:orga.test",
        "recipient": "0203:orgb.test",
        "senderAttention": {"subOrganization": {"root": "urn:riv:infrastructure:messaging:functionalAddress", "extension": "orga.test-inbox"}},
        "recipientAttention": {"subOrganization": {"root": "urn:riv:infrastructure:messaging:functionalAddress", "extension": "orgb.test-inbox"}},
        "digitalDocument": [{"documentId": "1", "index": "1", "contentTextBody": ["Hej!"],
            "contentFiles": [{"fileName": "a.pdf", "contentType": "application/pdf",
                "content": base64::engine::general_purpose::STANDARD.encode(pdf)}]}]
    }}}))
    .unwrap()
}

/// When A settled `id` ACCEPTED (`None` while it has not, or it failed: a panic).
fn accepted_at(a: &Gateway, id: &str) -> Option<OffsetDateTime> {
    let store = &a.shared.store;
    let r = store
        .find_by_id(IdKind::XheId, id)
        .unwrap()
        .into_iter()
        .filter_map(|k| store.get_message(&k).unwrap())
        .find(|r| r.direction == Direction::Outbound)?;
    assert!(
        !matches!(
            r.state,
            MessageState::Failed | MessageState::RecipientRejected | MessageState::DeadLettered
        ),
        "{id} failed: {:?}",
        r.last_error
    );
    r.history
        .iter()
        .find(|h| h.to == MessageState::RecipientAccepted)
        .map(|h| h.at)
}

/// How many of `ids` are in each state at A (progress while waiting).
fn states(a: &Gateway, ids: &[(String, OffsetDateTime)]) -> String {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for (id, _) in ids {
        let store = &a.shared.store;
        let state = store
            .find_by_id(IdKind::XheId, id)
            .unwrap()
            .into_iter()
            .filter_map(|k| store.get_message(&k).unwrap())
            .find(|r| r.direction == Direction::Outbound)
            .map_or("unknown".to_owned(), |r| format!("{:?}", r.state));
        *counts.entry(state).or_default() += 1;
    }
    format!("{counts:?}")
}

/// Waits until every id is ACCEPTED (only the pending ones are looked up again); returns the
/// times. Panics, with the states, when 60 s pass without progress.
async fn settle(a: &Gateway, ids: &[(String, OffsetDateTime)]) -> Vec<OffsetDateTime> {
    let mut done: Vec<Option<OffsetDateTime>> = vec![None; ids.len()];
    let mut progress = Instant::now();
    let mut report = Instant::now() + Duration::from_secs(10);
    loop {
        for (slot, (id, _)) in done.iter_mut().zip(ids).filter(|(d, _)| d.is_none()) {
            *slot = accepted_at(a, id);
            if slot.is_some() {
                progress = Instant::now();
            }
        }
        if done.iter().all(Option::is_some) {
            return done.into_iter().flatten().collect();
        }
        assert!(
            progress.elapsed() < Duration::from_secs(60),
            "no message settled for 60 s: {}",
            states(a, ids)
        );
        if Instant::now() >= report {
            report += Duration::from_secs(10);
            eprintln!("  waiting: {}", states(a, ids));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn seconds(d: time::Duration) -> f64 {
    d.as_seconds_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let messages = env_usize("SDKGW_BENCH_MESSAGES", 300);
    let half = env_usize("SDKGW_BENCH_HALF", 150);
    let work = tempfile::tempdir().unwrap();
    let pki = work.path().join("pki");
    eprintln!("development PKI …");
    sdkgw_certs::devpki::generate(
        &pki,
        &sdkgw_certs::devpki::Options {
            participants: vec!["0203:orga.test".into(), "0203:orgb.test".into()],
            seed: Some(1),
            force: false,
        },
        &sdkgw_server::config::dev::render,
    )
    .unwrap();
    eprintln!("openssl speed rsa3072 (-multi 2 and one process) and aws-lc-rs RSA-3072 …");
    let ossl_wall = openssl_rsa3072(true);
    let ossl_cpu = openssl_rsa3072(false);
    let manifest = sdkgw_certs::devpki::read_manifest(&pki).unwrap();
    let rsa_key =
        sdkgw_certs::load_private_key(&pki.join(&manifest.organisations[0].ap.key), None).unwrap();
    let (awslc_wall, awslc_cpu) = aws_lc_rsa3072(&rsa_key);

    let smp = fake::from_dev_pki(&pki, &DevPkiOptions::default()).unwrap();
    let running = smp
        .serve(
            "127.0.0.1:0".parse().unwrap(),
            fake::tls_identity_from_dev_pki(&pki).unwrap(),
        )
        .await
        .unwrap();
    let (da, db) = (work.path().join("a"), work.path().join("b"));
    let (as4_seen, api_seen) = (Arc::default(), Arc::default());
    let a = start(&pki, &smp, running.url(), "orga.test", &da, &as4_seen).await;
    let b = start(&pki, &smp, running.url(), "orgb.test", &db, &as4_seen).await;
    let api_relay = relay(a.gateway.api.listener.addr, Arc::clone(&api_seen)).await;

    let clients = a.gateway.api.api.clients().unwrap();
    let (_, secret) = clients
        .add(
            sdkgw_server::api::auth::NewClient {
                id: "bench".into(),
                scopes: vec!["urn:sdk.api:sendMessages".into()],
                grants: vec!["orga.test-inbox".into()],
                secret: true,
                iterations: Some(1000),
                ..Default::default()
            },
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    let mut roots: Vec<Certificate> =
        load_certificates(&pki.join("ca/tls-root.pem"), None).unwrap();
    roots.extend(load_certificates(&pki.join("ca/tls-intermediate.pem"), None).unwrap());
    let tls = sdkgw_http::tls::client_config(&ClientTlsSettings {
        identity: None,
        server_trust: TrustAnchors::new(&roots).unwrap(),
        hostname: HostnameVerification::SkipNameCheck,
    })
    .unwrap();
    let mut api = Api {
        http: HttpsClient::new(ClientSettings::new(tls)),
        base: format!("https://{api_relay}/v1"),
        token: String::new(),
    };
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("bench:{}", secret.unwrap()));
    let (status, v) = api
        .post(
            "/oauth/token",
            &[
                ("authorization", format!("Basic {basic}")),
                ("content-type", "application/x-www-form-urlencoded".into()),
            ],
            b"grant_type=client_credentials".to_vec(),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    api.token = v["access_token"].as_str().unwrap().to_owned();
    let api = Arc::new(api);
    let body = Arc::new(message_body(&b"%PDF-1.4 benchmark\n".repeat(540)));

    // Warm up: caches, TLS sessions.
    let mut warm = Vec::new();
    for _ in 0..10 {
        warm.push(api.submit(&body).await);
    }
    settle(&a.gateway, &warm).await;
    let (as4_0, api_0) = (as4_seen.counts(), api_seen.counts());

    // 1. Throughput: everything at once (8 submitters), until the last is ACCEPTED.
    eprintln!("throughput: {messages} messages …");
    let (started, cpu0) = (Instant::now(), cpu_seconds());
    let mut tasks = Vec::new();
    for w in 0..8 {
        let (api, body) = (api.clone(), body.clone());
        let share = messages / 8 + usize::from(w < messages % 8);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..share {
                ids.push(api.submit(&body).await);
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.unwrap());
    }
    let first = ids.iter().map(|(_, t)| *t).min().unwrap();
    let done = settle(&a.gateway, &ids).await;
    let last = done.iter().max().copied().unwrap();
    let (wall, cpu) = (started.elapsed(), cpu_seconds() - cpu0);
    let n = ids.len() as f64;
    let rate = n / seconds(last - first);
    let per_cpu = n / cpu;
    // Full handshakes: AS4 mutual TLS signs twice and checks two chains and two
    // CertificateVerify (6 public); the API's server-authenticated TLS signs once (3 public).
    let ((as4_full, as4_resumed), (api_full, api_resumed)) =
        (as4_seen.since(as4_0), api_seen.since(api_0));
    let private = PRIVATE_OPS_PER_ROUND_TRIP + (2.0 * as4_full as f64 + api_full as f64) / n;
    let public = PUBLIC_OPS_PER_ROUND_TRIP + (6.0 * as4_full as f64 + 3.0 * api_full as f64) / n;
    let limit = |r: Rates| r.limit(private, public);

    // 2. Latency at half the measured rate.
    let target = rate / 2.0;
    eprintln!("latency at {target:.1} messages/s: {half} messages …");
    let gap = Duration::from_secs_f64(1.0 / target);
    let mut tasks = Vec::new();
    let t0 = Instant::now();
    for i in 0..half {
        let due = t0 + gap * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let (api, body) = (api.clone(), body.clone());
        tasks.push(tokio::spawn(async move { api.submit(&body).await }));
    }
    let mut sent = Vec::new();
    for t in tasks {
        sent.push(t.await.unwrap());
    }
    let done = settle(&a.gateway, &sent).await;
    let mut latency: Vec<f64> = sent
        .iter()
        .zip(&done)
        .map(|((_, start), end)| seconds(*end - *start) * 1000.0)
        .collect();
    latency.sort_by(f64::total_cmp);

    println!(
        "round trip API → AS4 → Meddelandekvittens, two gateways in one process, 2 cores, 10 KiB attachment"
    );
    println!(
        "  throughput: {n} messages in {:.2} s = {rate:.1} messages/s (wall {:.1} s incl. \
         submission); the process used {cpu:.2} CPU-s = {per_cpu:.1} messages per CPU-second \
         ({:.2} of the 2 cores busy)",
        seconds(last - first),
        wall.as_secs_f64(),
        cpu / wall.as_secs_f64()
    );
    println!(
        "  RSA-3072 operations per round trip: {private:.2} private, {public:.2} public (full \
         TLS handshakes included: AS4 {as4_full}, {as4_resumed} resumed; API {api_full}, \
         {api_resumed} resumed)"
    );
    println!("  crypto-bound limit, wall clock (same run, the cores as loaded as they are):");
    for (what, r) in [
        ("openssl speed rsa3072 -multi 2", ossl_wall),
        ("aws-lc-rs, 2 threads", awslc_wall),
    ] {
        println!(
            "    {what}: {:.0} sign/s, {:.0} verify/s → {:.1} messages/s; measured {rate:.1} = {:.0} % of it",
            r.sign,
            r.verify,
            limit(r),
            100.0 * rate / limit(r)
        );
    }
    println!(
        "  crypto-bound limit per CPU-second (independent of other load; ×2 for two idle cores):"
    );
    for (what, r) in [
        ("openssl speed rsa3072, one process, user time", ossl_cpu),
        ("aws-lc-rs, 2 threads, process CPU time", awslc_cpu),
    ] {
        println!(
            "    {what}: {:.0} sign/s, {:.0} verify/s → {:.1} messages per CPU-s; measured {per_cpu:.1} = {:.0} % of it",
            r.sign,
            r.verify,
            limit(r),
            100.0 * per_cpu / limit(r)
        );
    }
    println!(
        "  latency at {target:.1} messages/s ({half} messages): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&latency, 0.50),
        percentile(&latency, 0.99),
        latency.last().copied().unwrap_or(0.0)
    );
    let (full, resumed) = as4_seen.counts();
    let counted = listener_handshakes(&a.gateway, "as4") + listener_handshakes(&b.gateway, "as4");
    let (api_full, api_resumed) = api_seen.counts();
    let api_counted = listener_handshakes(&a.gateway, "api");
    println!(
        "  TLS handshakes in the whole run: the relays saw AS4 {full} full + {resumed} resumed \
         (the AS4 listeners completed {counted}), API {api_full} full + {api_resumed} resumed \
         (the API listener completed {api_counted})"
    );
    a.gateway.stop().await;
    b.gateway.stop().await;
    running.shutdown().await;
}
