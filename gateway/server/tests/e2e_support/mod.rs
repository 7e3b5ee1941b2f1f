//! Two gateways end to end, in-process: the development PKI (organisations A = orga.test and
//! B = orgb.test), the address-book engineer's fake SMP on 127.0.0.1 publishing both, and for
//! each organisation `sdkgw_server::serve::Gateway` (AS4 over mutual TLS on a free port, the
//! pipelines) plus its mailbox API on a free port with a registered client.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)] // test support

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use http::Request;
use sdkgw_address_book::fake::{self, DevPkiOptions, FakeSmp, RunningSmp};
use sdkgw_certs::{Certificate, load_certificates};
use sdkgw_http::{
    ClientSettings, ClientTlsSettings, HostnameVerification, HttpsClient, OutBody, TrustAnchors,
};
use sdkgw_schemas::ParticipantId;
use sdkgw_server::api::Api;
use sdkgw_server::serve::Gateway;
use sdkgw_store::{Direction, IdKind, MessageRecord, MessageState};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::common::shared_pki;

pub const A: &str = "0203:orga.test";
pub const B: &str = "0203:orgb.test";
pub const A_BOX: &str = "orga.test-inbox";
pub const B_BOX: &str = "orgb.test-inbox";

/// The fake SMP of the development PKI, serving HTTPS on a free port.
pub struct Smp {
    pub fake: FakeSmp,
    pub running: RunningSmp,
}

impl Smp {
    /// The organisation's O2O signing certificate of the dev PKI.
    pub fn signing_cert(pki: &Path, org: &str) -> Certificate {
        load_certificates(&org_dir(pki, org).join("o2o-signing.pem"), None)
            .unwrap()
            .remove(0)
    }
}

pub async fn start_smp(pki: &Path) -> Smp {
    let fake = fake::from_dev_pki(pki, &DevPkiOptions::default()).unwrap();
    let tls = fake::tls_identity_from_dev_pki(pki).unwrap();
    let running = fake
        .serve("127.0.0.1:0".parse().unwrap(), tls)
        .await
        .unwrap();
    Smp { fake, running }
}

/// The national directory both gateways know: each organisation's inbox, and a function
/// address of B that B's gateway does not serve (a stale directory entry).
pub const STALE_BOX: &str = "orgb.test-closed";
/// In the directory, unknown to SMP.
pub const NOBODY: &str = "0203:nobody.test";

pub fn directory() -> Vec<sdkgw_address_book::directory::Organisation> {
    let org = |id: &str, boxes: &[&str]| {
        serde_json::from_value(json!({
            "id": id,
            "name": id,
            "functions": boxes.iter().map(|b| json!({"id": b, "name": b})).collect::<Vec<_>>(),
        }))
        .unwrap()
    };
    vec![
        org(A, &[A_BOX]),
        org(B, &[B_BOX, STALE_BOX]),
        org(NOBODY, &["nobody-inbox"]),
    ]
}

/// One organisation's running gateway, its API and a client token for its mailbox.
pub struct Org {
    pub id: ParticipantId,
    pub mailbox: String,
    pub gateway: Option<Gateway>,
    pub api: Arc<Api>,
    pub client: HttpsClient,
    pub base: String,
    pub token: String,
    pub data: PathBuf,
}

fn org_dir(pki: &Path, name: &str) -> PathBuf {
    pki.join("orgs").join(name)
}

/// The configuration of `name` with a data dir, the SMP, free AS4 port, fast retries.
pub fn config(
    pki: &Path,
    name: &str,
    data: &Path,
    smp_url: &str,
    extra: &[(&str, &str)],
) -> sdkgw_server::config::Config {
    let vars = vec![
        ("SDKGW_DATA_DIR", data.to_str().unwrap().to_owned()),
        ("SDKGW_ADDRESS_BOOK__URL", smp_url.to_owned()),
        (
            "SDKGW_ADDRESS_BOOK__HTTP__TLS_ANCHORS",
            pki.join("ca/tls-root.pem").to_str().unwrap().to_owned(),
        ),
        ("SDKGW_LISTENERS__AS4__BIND", "127.0.0.1:0".to_owned()),
        ("SDKGW_LISTENERS__API__BIND", "127.0.0.2:0".to_owned()),
        ("SDKGW_LISTENERS__ADMIN__BIND", "127.0.0.3:0".to_owned()),
        ("SDKGW_RETRY__INITIAL_DELAY", "1s".to_owned()),
        ("SDKGW_RETRY__MAX_DELAY", "2s".to_owned()),
        ("SDKGW_RETRY__MAX_ATTEMPTS", "5".to_owned()),
    ];
    let vars = vars.into_iter().map(|(k, v)| (k.to_owned(), v)).chain(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let loaded = sdkgw_server::config::load_with_env(&org_dir(pki, name).join("sdkgw.toml"), vars);
    loaded
        .config
        .unwrap_or_else(|| panic!("{:?}", loaded.findings))
}

pub fn api_client(pki: &Path) -> HttpsClient {
    // The API presents the key file's chain (the leaf only in the dev PKI): trust the
    // intermediate that issued it.
    let mut root: Vec<Certificate> = load_certificates(&pki.join("ca/tls-root.pem"), None).unwrap();
    root.extend(load_certificates(&pki.join("ca/tls-intermediate.pem"), None).unwrap());
    let tls = sdkgw_http::tls::client_config(&ClientTlsSettings {
        identity: None,
        server_trust: TrustAnchors::new(&root).unwrap(),
        // The API listens on 127.0.0.2 (each listener needs its own socket); the dev TLS
        // certificate names 127.0.0.1 and localhost.
        hostname: HostnameVerification::SkipNameCheck,
    })
    .unwrap();
    let mut s = ClientSettings::new(tls);
    s.max_response_bytes = 256 << 20;
    HttpsClient::new(s)
}

/// Starts organisation `name` (`orga.test` / `orgb.test`) on `data`, publishing its AS4
/// endpoint in the fake SMP.
pub async fn start_org(pki: &Path, smp: &Smp, name: &str, data: &Path) -> Org {
    start_org_with(pki, smp, name, data, &[]).await
}

/// [`start_org`] with more configuration overrides (`SDKGW_…` variables).
pub async fn start_org_with(
    pki: &Path,
    smp: &Smp,
    name: &str,
    data: &Path,
    extra: &[(&str, &str)],
) -> Org {
    let cfg = config(pki, name, data, smp.running.url(), extra);
    let id = cfg.participants[0].id.clone();
    let mailbox = cfg.participants[0].mailboxes[0].address.to_string();
    let gateway = Gateway::start(cfg).await.unwrap();
    smp.fake.update_participant(&id, |p| {
        p.endpoint_url = format!("https://127.0.0.1:{}/as4", gateway.as4_addr.port());
    });
    gateway
        .shared
        .address_book
        .directory
        .import(
            directory(),
            "test",
            OffsetDateTime::now_utc(),
            Default::default(),
        )
        .unwrap();
    let api = Arc::clone(&gateway.api.api);
    let base = format!(
        "https://{}{}",
        gateway.api.listener.addr,
        api.settings().base_path
    );
    let mut org = Org {
        id,
        mailbox,
        gateway: Some(gateway),
        api,
        client: api_client(pki),
        base,
        token: String::new(),
        data: data.to_path_buf(),
    };
    org.token = org.new_token().await;
    org
}

pub const SCOPES: [&str; 4] = [
    "urn:sdk.api:sendMessages",
    "urn:sdk.api:getMessage",
    "urn:sdk.api:getMessageByFilter",
    "urn:sdk.api:deleteMessage",
];

impl Org {
    pub fn gateway(&self) -> &Gateway {
        self.gateway.as_ref().unwrap()
    }

    pub fn store(&self) -> &Arc<dyn sdkgw_store::Store> {
        &self.gateway().shared.store
    }

    async fn new_token(&self) -> String {
        let clients = self.api.clients().unwrap();
        let id = format!("mk-{}", uuid::Uuid::new_v4());
        let (_, secret) = clients
            .add(
                sdkgw_server::api::auth::NewClient {
                    id: id.clone(),
                    scopes: SCOPES.iter().map(|s| (*s).to_owned()).collect(),
                    grants: vec![self.mailbox.clone()],
                    secret: true,
                    iterations: Some(1000),
                    ..Default::default()
                },
                OffsetDateTime::now_utc(),
            )
            .unwrap();
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{}", secret.unwrap()));
        let (status, body) = self
            .request(
                "POST",
                "/oauth/token",
                &[
                    ("authorization", format!("Basic {basic}")),
                    (
                        "content-type",
                        "application/x-www-form-urlencoded".to_owned(),
                    ),
                ],
                Some(b"grant_type=client_credentials".to_vec()),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> (u16, Value) {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            b = b.header(*k, v.as_str());
        }
        let body = body.map(OutBody::full).unwrap_or_else(OutBody::empty);
        let resp = self.client.send(b.body(body).unwrap()).await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.into_body();
        let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (status, v)
    }

    fn auth(&self) -> Vec<(&'static str, String)> {
        vec![("authorization", format!("Bearer {}", self.token))]
    }

    /// POSTs a message to `to` / `to_box`; returns its messageId.
    pub async fn send(&self, to: &str, to_box: &str, label: &str, file: Option<&[u8]>) -> String {
        let (status, v) = self.post_message(to, to_box, label, file).await;
        assert_eq!(status, 201, "{v}");
        self.gateway().pipeline.wake_outbound();
        v["data"]["id"].as_str().unwrap().to_owned()
    }

    /// POSTs a message to `to` / `to_box`: (status, body).
    pub async fn post_message(
        &self,
        to: &str,
        to_box: &str,
        label: &str,
        file: Option<&[u8]>,
    ) -> (u16, Value) {
        let file = file.map(|bytes| ("bilaga.pdf", "application/pdf", bytes));
        self.post_file(to, to_box, label, file).await
    }

    /// POSTs a message with an attachment `(fileName, contentType, bytes)`: (status, body).
    pub async fn post_file(
        &self,
        to: &str,
        to_box: &str,
        label: &str,
        file: Option<(&str, &str, &[u8])>,
    ) -> (u16, Value) {
        let files: Vec<_> = file.into_iter().collect();
        self.post_files(to, to_box, label, &files).await
    }

    /// POST /sdk/messages with these attachments (name, content type, bytes) in one
    /// document: (status, body).
    pub async fn post_files(
        &self,
        to: &str,
        to_box: &str,
        label: &str,
        files: &[(&str, &str, &[u8])],
    ) -> (u16, Value) {
        let mut doc = json!({"documentId": "1", "index": "1", "contentTextBody": ["Hej!"]});
        if !files.is_empty() {
            let files: Vec<Value> = files
                .iter()
                .map(|(name, content_type, bytes)| {
                    json!({
                        "fileName": name,
                        "contentType": content_type,
                        "content": base64::engine::general_purpose::STANDARD.encode(bytes),
                    })
                })
                .collect();
            doc["contentFiles"] = Value::Array(files);
        }
        let body = json!({"data": {"type": "messages", "attributes": {
            "confidentiality": true,
            "label": label,
            "sender": self.id.value(),
            "recipient": to,
            "senderAttention": {"subOrganization": {"root": "urn:riv:infrastructure:messaging:functionalAddress", "extension": self.mailbox}},
            "recipientAttention": {"subOrganization": {"root": "urn:riv:infrastructure:messaging:functionalAddress", "extension": to_box}},
            "digitalDocument": [doc]
        }}});
        let mut headers = self.auth();
        headers.push(("content-type", "application/json".to_owned()));
        self.request(
            "POST",
            "/sdk/messages",
            &headers,
            Some(serde_json::to_vec(&body).unwrap()),
        )
        .await
    }

    /// GET /sdk/messages/{id}: (status, body).
    pub async fn get(&self, id: &str) -> (u16, Value) {
        self.request("GET", &format!("/sdk/messages/{id}"), &self.auth(), None)
            .await
    }

    /// The messageStatus the API shows for `id` (outbound or inbound).
    pub async fn status(&self, id: &str) -> Option<String> {
        let (code, v) = self.get(id).await;
        (code == 200).then(|| {
            v["data"]["attributes"]["messageStatus"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
    }

    /// The record of `direction` with XHE id `id`.
    pub fn record(&self, id: &str, direction: Direction) -> Option<MessageRecord> {
        let store = self.store();
        store
            .find_by_id(IdKind::XheId, id)
            .unwrap()
            .into_iter()
            .filter_map(|k| store.get_message(&k).unwrap())
            .find(|r| r.direction == direction)
    }

    /// Asks for an e-mail notification of every event of the org's mailbox (no SMTP relay is
    /// configured, so they wait in the notification queue where the test can count them).
    pub fn notify_by_email(&self) {
        let ops = &self.gateway().ops;
        ops.registry
            .set_notifications(
                &sdkgw_schemas::FunctionAddress::parse(&self.mailbox).unwrap(),
                sdkgw_server::mailbox::NotificationChange {
                    email: Some(vec!["registrator@example.se".to_owned()]),
                    ..Default::default()
                },
                "test",
                OffsetDateTime::now_utc(),
            )
            .unwrap();
    }

    /// Notifications queued and not yet sent.
    pub fn pending_notifications(&self) -> u64 {
        self.gateway().ops.notifier.pending().unwrap()
    }

    /// Inbound records with XHE id `id`.
    pub fn inbound(&self, id: &str) -> Vec<MessageRecord> {
        let store = self.store();
        store
            .find_by_id(IdKind::XheId, id)
            .unwrap()
            .into_iter()
            .filter_map(|k| store.get_message(&k).unwrap())
            .filter(|r| r.direction == Direction::Inbound)
            .collect()
    }

    pub async fn stop(&mut self) {
        if let Some(g) = self.gateway.take() {
            g.stop().await;
        }
    }
}

/// Polls `f` every 100 ms until it returns `Some`, for at most `limit`.
pub async fn wait_for<T>(limit: Duration, mut f: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the API shows `id` with a status in `finals`; returns the last status seen.
pub async fn wait_status(org: &Org, id: &str, finals: &[&str], limit: Duration) -> String {
    let mut last = String::new();
    let found = wait_for(limit, async || {
        last = org.status(id).await.unwrap_or_default();
        finals.contains(&last.as_str()).then(|| last.clone())
    })
    .await;
    found.unwrap_or(last)
}

/// The development PKI shared by the test binaries.
pub fn pki() -> PathBuf {
    shared_pki()
}

/// An outbound record's final store state, waiting up to `limit`.
pub async fn wait_state(
    org: &Org,
    id: &str,
    states: &[MessageState],
    limit: Duration,
) -> MessageRecord {
    let mut last = None;
    wait_for(limit, async || {
        let r = org.record(id, Direction::Outbound)?;
        let done = states.contains(&r.state);
        last = Some(r.clone());
        done.then_some(r)
    })
    .await
    .or(last)
    .expect("no outbound record")
}
