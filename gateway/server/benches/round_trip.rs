//! The whole round trip between two local gateways (issue 8 §9): mailbox API submission at A
//! → seal (O2O sign + encrypt) → AS4 over mutual TLS → B stores, answers with the AS4
//! Receipt, opens (verify, decrypt, validate), files, signs its Meddelandekvittens → AS4 back
//! → A verifies it and settles the message ACCEPTED. Both gateways, the fake SMP and the
//! load generator share this process and its two cores.
//!
//! 1. **Throughput**: `SDKGW_BENCH_MESSAGES` (default 300) submissions as fast as the API
//!    takes them (503 → retried); messages/s = count / (last ACCEPTED − first submission).
//! 2. **Latency at half load**: `SDKGW_BENCH_HALF` (default 150) submissions at half the
//!    measured rate, evenly spaced; latency = ACCEPTED at A − start of the POST; p50/p99.
//! 3. **The crypto-bound limit** of the same run: the RSA-3072 operations one round trip
//!    needs, timed on both cores in this run — with `openssl speed -seconds 3 -multi 2
//!    rsa3072` and with aws-lc-rs (the library the gateway uses) signing/verifying on two
//!    threads; the limit is `1 / (private/sign_rate + public/verify_rate)`.
//!    *Private-key operations* (9): A signs the XHE (O2O) and the AS4 message (AP), unwraps
//!    the receipt leg's AS4 key and signs the AS4 Receipt for it; B unwraps the AS4 key,
//!    signs the AS4 Receipt, unwraps the O2O key, signs the Meddelandekvittens XHE (O2O) and
//!    its AS4 message; plus 2 per full TLS handshake (server and client CertificateVerify;
//!    resumed sessions sign nothing), counted on both AS4 listeners.
//!    *Public-key operations* (21, an upper bound): 3 key wraps (A: O2O key for B, AS4 key
//!    for B's AP; B: AS4 key for A's AP), 6 signature verifications (B: A's AS4 message and
//!    XHE; A: B's AS4 Receipt, AS4 message and Meddelandekvittens XHE; B: A's AS4 Receipt)
//!    and 2 certificate-signature checks (leaf, issuing CA) for each of the 6 signers' chains;
//!    plus 6 per full TLS handshake (both chains and CertificateVerify).
//!
//! `cargo bench -p sdkgw-server --bench round_trip`. Messages carry a 10 KiB PDF.
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark binary

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
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

const PRIVATE_OPS_PER_ROUND_TRIP: f64 = 9.0;
const PUBLIC_OPS_PER_ROUND_TRIP: f64 = 21.0;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `openssl speed -seconds 3 -multi 2 -mr rsa3072`: (sign/s, verify/s) on both cores.
fn openssl_rsa3072_per_second() -> (f64, f64) {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "3", "-multi", "2", "-mr", "rsa3072"])
        .output()
        .expect("openssl is installed");
    let text = String::from_utf8_lossy(&out.stdout);
    // Machine-readable total line: +F2:<n>:3072:<sign/s>:<verify/s>
    text.lines()
        .rev()
        .filter(|l| l.starts_with("+F2:"))
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.get(3)?.parse().ok()?, f.get(4)?.parse().ok()?))
        })
        .expect("openssl speed printed a +F2 line")
}

/// aws-lc-rs RSA-3072 PKCS#1 SHA-256 sign/s and verify/s, one key, two threads for ~2 s each.
fn aws_lc_rsa3072_per_second(key: &sdkgw_certs::PrivateKey) -> (f64, f64) {
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
    let rate = |op: &(dyn Fn() + Sync)| {
        let run = Duration::from_secs(2);
        let started = Instant::now();
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
        count as f64 / started.elapsed().as_secs_f64()
    };
    let signs = rate(&|| {
        let mut out = vec![0u8; pair.public_modulus_len()];
        pair.sign(
            &signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            &msg,
            &mut out,
        )
        .unwrap();
    });
    let verifies = rate(&|| public.verify(&msg, &sig).unwrap());
    (signs, verifies)
}

struct Org {
    gateway: Gateway,
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

async fn start(pki: &Path, smp: &fake::FakeSmp, smp_url: &str, name: &str, data: &Path) -> Org {
    let cfg = config(pki, name, data, smp_url);
    let id = cfg.participants[0].id.clone();
    let gateway = Gateway::start(cfg).await.unwrap();
    let url = format!("https://127.0.0.1:{}/as4", gateway.as4_addr.port());
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

/// Waits until every id is ACCEPTED; returns the times.
async fn settle(a: &Gateway, ids: &[(String, OffsetDateTime)]) -> Vec<OffsetDateTime> {
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut report = Instant::now() + Duration::from_secs(10);
    loop {
        let done: Vec<_> = ids.iter().map(|(id, _)| accepted_at(a, id)).collect();
        if done.iter().all(Option::is_some) {
            return done.into_iter().flatten().collect();
        }
        assert!(Instant::now() < deadline, "messages did not settle");
        if Instant::now() >= report {
            report += Duration::from_secs(10);
            eprintln!("  waiting: {}", states(a, ids));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn handshakes(g: &Gateway) -> f64 {
    let text = g.ops.metrics.render(OffsetDateTime::now_utc());
    text.lines()
        .filter(|l| l.starts_with("sdkgw_tls_handshakes_total") && l.contains("as4"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
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
    eprintln!("openssl speed rsa3072 and aws-lc-rs RSA-3072 (both cores) …");
    let (ossl_sign, ossl_verify) = openssl_rsa3072_per_second();
    let manifest = sdkgw_certs::devpki::read_manifest(&pki).unwrap();
    let rsa_key =
        sdkgw_certs::load_private_key(&pki.join(&manifest.organisations[0].ap.key), None).unwrap();
    let (awslc_sign, awslc_verify) = aws_lc_rsa3072_per_second(&rsa_key);

    let smp = fake::from_dev_pki(&pki, &DevPkiOptions::default()).unwrap();
    let running = smp
        .serve(
            "127.0.0.1:0".parse().unwrap(),
            fake::tls_identity_from_dev_pki(&pki).unwrap(),
        )
        .await
        .unwrap();
    let (da, db) = (work.path().join("a"), work.path().join("b"));
    let a = start(&pki, &smp, running.url(), "orga.test", &da).await;
    let b = start(&pki, &smp, running.url(), "orgb.test", &db).await;

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
        base: format!("https://{}/v1", a.gateway.api.listener.addr),
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
    let hs0 = handshakes(&a.gateway) + handshakes(&b.gateway);

    // 1. Throughput: everything at once (8 submitters), until the last is ACCEPTED.
    eprintln!("throughput: {messages} messages …");
    let started = Instant::now();
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
    let wall = started.elapsed();
    let rate = ids.len() as f64 / seconds(last - first);
    let full_handshakes = handshakes(&a.gateway) + handshakes(&b.gateway) - hs0;
    let per_message = full_handshakes / ids.len() as f64;
    let private = PRIVATE_OPS_PER_ROUND_TRIP + 2.0 * per_message;
    let public = PUBLIC_OPS_PER_ROUND_TRIP + 6.0 * per_message;
    let bound = |sign: f64, verify: f64| 1.0 / (private / sign + public / verify);
    let (limit_ossl, limit_awslc) = (
        bound(ossl_sign, ossl_verify),
        bound(awslc_sign, awslc_verify),
    );

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
        "  throughput: {} messages in {:.2} s = {rate:.1} messages/s (wall {:.1} s incl. submission)",
        ids.len(),
        seconds(last - first),
        wall.as_secs_f64()
    );
    println!(
        "  RSA-3072 operations per round trip: {private:.2} private, {public:.2} public \
         ({full_handshakes} full TLS handshakes over {} messages included)",
        ids.len()
    );
    println!(
        "  crypto-bound limit (openssl speed rsa3072 -multi 2: {ossl_sign:.0} sign/s, {ossl_verify:.0} verify/s): \
         {limit_ossl:.1} messages/s; measured = {:.0} % of it",
        100.0 * rate / limit_ossl
    );
    println!(
        "  crypto-bound limit (aws-lc-rs, 2 threads: {awslc_sign:.0} sign/s, {awslc_verify:.0} verify/s): \
         {limit_awslc:.1} messages/s; measured = {:.0} % of it",
        100.0 * rate / limit_awslc
    );
    println!(
        "  latency at {target:.1} messages/s ({half} messages): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&latency, 0.50),
        percentile(&latency, 0.99),
        latency.last().copied().unwrap_or(0.0)
    );
    a.gateway.stop().await;
    b.gateway.stop().await;
    running.shutdown().await;
}
