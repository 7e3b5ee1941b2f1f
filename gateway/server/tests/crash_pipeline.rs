//! kill -9 under load (issue 8 §8, CONTRIBUTING "Durability"): two real `sdkgw serve`
//! processes (organisations A and B of the development PKI, the fake SMP in this process),
//! submitters posting messages to A's mailbox API without pause, and SIGKILL — of B while it
//! has messages between AS4 reception and filing (`received`/`verified`), of A while it has
//! messages between sealing and the AS4 receipt (`sealed`/`scheduled`/`sending`) — twice
//! each, each process restarted on the same data directory. Then both are stopped and their
//! stores counted: every submission A acknowledged (HTTP 201) is ACCEPTED at A exactly once
//! and filed exactly once in B's mailbox, and nothing B filed is filed twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod e2e_support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use e2e_support::{A, A_BOX, B, B_BOX, api_client, pki, start_smp};
use http::Request;
use sdkgw_http::{HttpsClient, OutBody};
use sdkgw_store::admin::{AdminClient, Request as AdminRequest, Response as AdminResponse};
use sdkgw_store::{Direction, MessageState, NoProgress, SledStore, Store, StoreConfig};
use serde_json::{Value, json};

/// Messages acknowledged by A before the counting starts.
const MESSAGES: usize = 48;
const SUBMITTERS: usize = 3;

fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One organisation's `sdkgw serve` process and how to restart it.
struct Serve {
    name: &'static str,
    pki: PathBuf,
    data: PathBuf,
    smp: String,
    as4: u16,
    api: u16,
    child: Option<Child>,
    starts: u32,
}

impl Serve {
    fn env(&self, cmd: &mut Command) {
        cmd.env("SDKGW_DATA_DIR", &self.data)
            .env("SDKGW_ADDRESS_BOOK__URL", &self.smp)
            .env(
                "SDKGW_ADDRESS_BOOK__HTTP__TLS_ANCHORS",
                self.pki.join("ca/tls-root.pem"),
            )
            .env(
                "SDKGW_LISTENERS__AS4__BIND",
                format!("127.0.0.1:{}", self.as4),
            )
            .env(
                "SDKGW_LISTENERS__API__BIND",
                format!("127.0.0.2:{}", self.api),
            )
            .env("SDKGW_LISTENERS__ADMIN__BIND", "127.0.0.3:0")
            .env("SDKGW_RETRY__INITIAL_DELAY", "1s")
            .env("SDKGW_RETRY__MAX_DELAY", "2s")
            .env("SDKGW_RETRY__MAX_ATTEMPTS", "100")
            .env("SDKGW_LOG", "warn");
    }

    fn config(&self) -> PathBuf {
        self.pki.join(format!("orgs/{}/sdkgw.toml", self.name))
    }

    fn cli(&self, args: &[&str]) -> String {
        let mut cmd = common::sdkgw();
        cmd.args(args).arg("--config").arg(self.config());
        self.env(&mut cmd);
        let (code, out, err) = common::output(&mut cmd);
        assert_eq!(code, 0, "sdkgw {args:?}: {out}{err}");
        out
    }

    /// Starts `serve` and waits until it serves (its log goes to `data/serve-N.log`).
    fn start(&mut self) {
        self.starts += 1;
        let log = self.data.join(format!("serve-{}.log", self.starts));
        let mut cmd = common::sdkgw();
        cmd.arg("serve").arg("--config").arg(self.config());
        self.env(&mut cmd);
        let child = cmd
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("serving AS4 on") {
                return;
            }
            let exited = self.child.as_mut().unwrap().try_wait().unwrap();
            assert!(exited.is_none(), "{} exited at start: {text}", self.name);
            assert!(start.elapsed() < Duration::from_secs(60), "{text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, and wait for the process to be gone.
    fn kill_9(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM: a clean stop.
    fn stop(&mut self) {
        let mut child = self.child.take().unwrap();
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        child.wait().unwrap();
    }

    /// Records per state, through the running gateway's operator socket.
    fn states(&self) -> HashMap<MessageState, u64> {
        let Ok(Some(client)) = AdminClient::connect(&self.data) else {
            return HashMap::new();
        };
        match client.call(&AdminRequest::Stats, &mut NoProgress) {
            Ok(AdminResponse::Stats(s)) => s.by_state.into_iter().collect(),
            _ => HashMap::new(),
        }
    }

    fn count(&self, states: &[MessageState]) -> u64 {
        let s = self.states();
        states
            .iter()
            .map(|st| s.get(st).copied().unwrap_or(0))
            .sum()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The mailbox API of A as a client sees it.
struct Client {
    http: HttpsClient,
    base: String,
    basic: String,
    token: Mutex<String>,
}

impl Client {
    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Option<(u16, Value)> {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            b = b.header(*k, v.as_str());
        }
        let body = body.map(OutBody::full).unwrap_or_else(OutBody::empty);
        let resp = self.http.send(b.body(body).unwrap()).await.ok()?;
        let status = resp.status().as_u16();
        let v = serde_json::from_slice(&resp.into_body()).unwrap_or(Value::Null);
        Some((status, v))
    }

    async fn refresh_token(&self) -> bool {
        let r = self
            .send(
                "POST",
                "/oauth/token",
                &[
                    ("authorization", format!("Basic {}", self.basic)),
                    ("content-type", "application/x-www-form-urlencoded".into()),
                ],
                Some(b"grant_type=client_credentials".to_vec()),
            )
            .await;
        match r {
            Some((200, v)) => {
                *self.token.lock().unwrap() = v["access_token"].as_str().unwrap().to_owned();
                true
            }
            _ => false,
        }
    }

    /// One authorised call; a 401 (keys may change on restart) fetches a new token once.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Option<(u16, Value)> {
        for _ in 0..2 {
            let mut headers = vec![(
                "authorization",
                format!("Bearer {}", self.token.lock().unwrap()),
            )];
            if body.is_some() {
                headers.push(("content-type", "application/json".into()));
            }
            let bytes = body.as_ref().map(|b| serde_json::to_vec(b).unwrap());
            match self.send(method, path, &headers, bytes).await {
                Some((401, _)) => {
                    if !self.refresh_token().await {
                        return None;
                    }
                }
                other => return other,
            }
        }
        None
    }
}

fn message(n: usize) -> Value {
    json!({"data": {"type": "messages", "attributes": {
        "confidentiality": true,
        "label": format!("Crash test {n}"),
        "sender": A,
        "recipient": B,
        "senderAttention": {"subOrganization": {"root": "urn:riv:infrastructure:messaging:functionalAddress", "extension": A_BOX}},
        "recipientAttention": {"subOrganization": {"root": "urn:riv:infrastructure:messaging:functionalAddress", "extension": B_BOX}},
        "digitalDocument": [{"documentId": "1", "index": "1", "contentTextBody": [format!("message {n}")],
            "contentFiles": [{"fileName": "a.pdf", "contentType": "application/pdf",
                "content": base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.4\n".repeat(512))}]}]
    }}})
}

/// Waits (polling the operator socket) until `serve` holds records in `states`, then kills it.
fn kill_while(s: &mut Serve, states: &[MessageState], what: &str) -> u64 {
    let start = Instant::now();
    loop {
        let n = s.count(states);
        if n > 0 {
            s.kill_9();
            eprintln!("killed {} with {n} message(s) {what}", s.name);
            return n;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{} never had messages {what}",
            s.name
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn open_store(data: &Path) -> Arc<dyn Store> {
    Arc::new(SledStore::open(StoreConfig::at(data.to_path_buf())).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_delivery_and_during_filing_loses_nothing_and_duplicates_nothing() {
    let pki = pki();
    let smp = start_smp(&pki).await;
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let new = |name, data: &Path| Serve {
        name,
        pki: pki.clone(),
        data: data.to_path_buf(),
        smp: smp.running.url().to_owned(),
        as4: free_port("127.0.0.1"),
        api: free_port("127.0.0.2"),
        child: None,
        starts: 0,
    };
    let mut a = new("orga.test", dirs.0.path());
    let mut b = new("orgb.test", dirs.1.path());
    for s in [&a, &b] {
        let id: sdkgw_schemas::ParticipantId =
            if s.name == "orga.test" { A } else { B }.parse().unwrap();
        let url = format!("https://127.0.0.1:{}/as4", s.as4);
        smp.fake.update_participant(&id, |p| p.endpoint_url = url);
        let directory = s.data.join("directory.json");
        let orgs = e2e_support::directory();
        std::fs::write(
            &directory,
            serde_json::to_vec(
                &json!({"format": "sdkgw-address-book", "version": 1, "organisations": orgs}),
            )
            .unwrap(),
        )
        .unwrap();
        s.cli(&["addressbook", "import", directory.to_str().unwrap()]);
    }
    let added = a.cli(&[
        "client",
        "add",
        "crash-test",
        "--scope",
        "urn:sdk.api:sendMessages",
        "--scope",
        "urn:sdk.api:getMessage",
        "--grant",
        A_BOX,
        "--output",
        "json",
    ]);
    let secret = serde_json::from_str::<Value>(&added).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    a.start();
    b.start();
    let client = Arc::new(Client {
        http: api_client(&pki),
        base: format!("https://127.0.0.2:{}/v1", a.api),
        basic: base64::engine::general_purpose::STANDARD.encode(format!("crash-test:{secret}")),
        token: Mutex::new(String::new()),
    });
    assert!(client.refresh_token().await, "no token from A");

    // Submitters: post without pause; keep the ids A acknowledged with 201.
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut submitters = Vec::new();
    for _ in 0..SUBMITTERS {
        let (client, acked, counter) = (client.clone(), acked.clone(), counter.clone());
        submitters.push(tokio::spawn(async move {
            while acked.lock().unwrap().len() < MESSAGES {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                match client.call("POST", "/sdk/messages", Some(message(n))).await {
                    Some((201, v)) => acked
                        .lock()
                        .unwrap()
                        .push(v["data"]["id"].as_str().unwrap().to_owned()),
                    _ => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }));
    }

    // Two rounds: B killed while filing, A killed while delivering.
    let (a, b) = tokio::task::spawn_blocking(move || {
        use MessageState::*;
        let mut hits = Vec::new();
        for _ in 0..2 {
            hits.push(kill_while(
                &mut b,
                &[Received, Verified],
                "between AS4 receipt and filing",
            ));
            std::thread::sleep(Duration::from_millis(300));
            b.start();
            hits.push(kill_while(
                &mut a,
                &[Sealed, Scheduled, Sending],
                "between sealing and the AS4 receipt",
            ));
            std::thread::sleep(Duration::from_millis(300));
            a.start();
        }
        assert!(hits.iter().all(|n| *n > 0));
        (a, b)
    })
    .await
    .unwrap();
    let (mut a, mut b) = (a, b);
    for s in submitters {
        s.await.unwrap();
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();
    assert!(acked.len() >= MESSAGES);

    // Everything acknowledged settles: ACCEPTED at A.
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut open: Vec<String> = acked.clone();
    while !open.is_empty() && Instant::now() < deadline {
        let mut still = Vec::new();
        for id in open {
            let status = client
                .call("GET", &format!("/sdk/messages/{id}"), None)
                .await
                .and_then(|(c, v)| {
                    (c == 200).then(|| v["data"]["attributes"]["messageStatus"].clone())
                });
            if status.as_ref().and_then(Value::as_str) != Some("ACCEPTED") {
                still.push(id);
            }
        }
        open = still;
        if !open.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    assert!(
        open.is_empty(),
        "{} acknowledged messages not ACCEPTED: {open:?}",
        open.len()
    );
    a.stop();
    b.stop();

    // Count in the stores.
    let (sa, sb) = (open_store(&a.data), open_store(&b.data));
    let records = |s: &Arc<dyn Store>, dir: Direction| {
        let filter = sdkgw_store::ListFilter {
            direction: Some(dir),
            limit: 100_000,
            ..Default::default()
        };
        s.list_messages(&filter)
            .unwrap()
            .into_iter()
            .map(|m| s.get_message(&m.key).unwrap().unwrap())
            .collect::<Vec<_>>()
    };
    let sent: Vec<_> = records(&sa, Direction::Outbound)
        .into_iter()
        .filter(|r| r.mailbox.is_some())
        .collect();
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for r in &sent {
        *per_id
            .entry(r.correlation.xhe_id.clone().unwrap())
            .or_default() += 1;
    }
    for id in &acked {
        assert_eq!(
            per_id.get(id),
            Some(&1),
            "A holds {id} {:?} times",
            per_id.get(id)
        );
    }
    // Stored but never acknowledged (a POST cut by the kill) may exist; they settle too.
    for r in &sent {
        assert_eq!(r.state, MessageState::RecipientAccepted, "{r:?}");
    }
    let mut filed: HashMap<String, usize> = HashMap::new();
    for r in records(&sb, Direction::Inbound) {
        if r.state == MessageState::Filed && r.mailbox.is_some() {
            *filed
                .entry(r.correlation.xhe_id.clone().unwrap())
                .or_default() += 1;
        }
    }
    for id in per_id.keys() {
        assert_eq!(
            filed.get(id),
            Some(&1),
            "B filed {id} {:?} times",
            filed.get(id)
        );
    }
    assert_eq!(filed.len(), per_id.len(), "B filed messages A never sent");
    eprintln!(
        "{} acknowledged, {} stored at A, {} filed at B, {} inbound records at B",
        acked.len(),
        sent.len(),
        filed.len(),
        records(&sb, Direction::Inbound).len()
    );
}
