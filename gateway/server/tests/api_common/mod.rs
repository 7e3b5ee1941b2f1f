//! Shared fixtures of the mailbox API tests: a store in a temp dir, the API on 127.0.0.1 with
//! a throw-away TLS certificate (RSA-2048 via rcgen, made once per test binary), registered
//! clients, tokens from the real token endpoint, and a stand-in for the inbound pipeline that
//! files messages the way it does (record `filed`, content role `sdk-message`).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)] // test support

use std::io::Write as _;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use http::{Request, StatusCode};
use sdkgw_certs::{Certificate, PrivateKey};
use sdkgw_envelope::message::{ContentFile, NewMessage as NewSdkMessage, SdkMessage};
use sdkgw_http::{
    ClientSettings, ClientTlsSettings, HostnameVerification, HttpsClient, OutBody, ServerSettings,
    TlsIdentity, TrustAnchors,
};
use sdkgw_schemas::{FunctionAddress, ParticipantId};
use sdkgw_server::api::{self, Api, ApiSettings, RecipientDirectory, RunningApi};
use sdkgw_store::{
    Direction, MessageKey, MessageState, NewMessage, SledStore, Store, StoreConfig, Update,
};
use serde_json::{Value, json};
use time::OffsetDateTime;

pub const ORG_A: &str = "0203:orga.test";
pub const ORG_B: &str = "0203:orgb.test";
pub const IN1: &str = "sdk:in1:0203:orga.test";
pub const IN2: &str = "sdk:in2:0203:orga.test";
pub const REMOTE: &str = "sdk:inkorg:0203:orgb.test";

pub struct Tls {
    pub cert: Certificate,
    pub key: PrivateKey,
}

pub fn tls() -> &'static Tls {
    static TLS: OnceLock<Tls> = OnceLock::new();
    TLS.get_or_init(|| {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        let cert = params.self_signed(&key).unwrap();
        Tls {
            cert: Certificate::from_der(cert.der()).unwrap(),
            key: PrivateKey::from_pkcs8_der(&key.serialize_der()).unwrap(),
        }
    })
}

/// The address book stand-in: org B's inbox and org A's own mailboxes exist.
#[derive(Debug)]
pub struct Book;

impl RecipientDirectory for Book {
    fn check(&self, org: &ParticipantId, mailbox: &FunctionAddress) -> Result<(), String> {
        let known = [(ORG_B, REMOTE), (ORG_A, IN1), (ORG_A, IN2)];
        if known
            .iter()
            .any(|(o, m)| *o == org.value() && *m == mailbox.as_str())
        {
            Ok(())
        } else {
            Err(format!(
                "{org} has no function address {}",
                mailbox.as_str()
            ))
        }
    }
}

pub struct Gateway {
    pub dir: tempfile::TempDir,
    pub store: Arc<dyn Store>,
    pub api: Arc<Api>,
    pub running: Option<RunningApi>,
    pub client: HttpsClient,
    pub base: String,
}

pub fn mailboxes() -> Vec<(FunctionAddress, ParticipantId)> {
    [IN1, IN2]
        .iter()
        .map(|m| {
            (
                FunctionAddress::parse(m).unwrap(),
                ParticipantId::parse(ORG_A).unwrap(),
            )
        })
        .collect()
}

pub fn settings() -> ApiSettings {
    ApiSettings {
        rate_limit: 0.0,
        ..ApiSettings::default()
    }
}

pub async fn start() -> Gateway {
    start_with(settings()).await
}

pub async fn start_with(settings: ApiSettings) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SledStore::open(StoreConfig::at(dir.path().join("data"))).unwrap());
    start_on(dir, store, settings).await
}

pub async fn start_on(
    dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    settings: ApiSettings,
) -> Gateway {
    let base = settings.base_path.clone();
    let api = Arc::new(Api::new(settings, store.clone(), mailboxes(), Arc::new(Book)).unwrap());
    let identity = TlsIdentity::new(std::slice::from_ref(&tls().cert), &tls().key).unwrap();
    let config = api::tls_config(&identity, api.settings()).unwrap();
    let running = api::start(
        api.clone(),
        "127.0.0.1:0".parse().unwrap(),
        config,
        ServerSettings::default(),
    )
    .await
    .unwrap();
    Gateway {
        dir,
        store,
        api,
        client: client(),
        base: format!("https://localhost:{}{base}", running.addr.port()),
        running: Some(running),
    }
}

pub fn client() -> HttpsClient {
    let tls = sdkgw_http::tls::client_config(&ClientTlsSettings {
        identity: None,
        server_trust: TrustAnchors::new(std::slice::from_ref(&tls().cert)).unwrap(),
        hostname: HostnameVerification::Verify,
    })
    .unwrap();
    let mut s = ClientSettings::new(tls);
    s.max_response_bytes = 256 << 20;
    HttpsClient::new(s)
}

pub const ALL_SCOPES: [&str; 4] = [
    "urn:sdk.api:sendMessages",
    "urn:sdk.api:getMessage",
    "urn:sdk.api:getMessageByFilter",
    "urn:sdk.api:deleteMessage",
];

pub struct Reply {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: bytes::Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Gateway {
    /// Registers a client with a secret; returns the secret.
    pub fn add_client(&self, id: &str, scopes: &[&str], grants: &[&str]) -> String {
        let (_, secret) = self
            .api
            .clients()
            .unwrap()
            .add(
                sdkgw_server::api::auth::NewClient {
                    id: id.to_owned(),
                    scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                    grants: grants.iter().map(|s| (*s).to_owned()).collect(),
                    secret: true,
                    iterations: Some(1000),
                    ..Default::default()
                },
                OffsetDateTime::now_utc(),
            )
            .unwrap();
        secret.unwrap()
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let url = if path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut b = Request::builder().method(method).uri(url);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let body = body.map(OutBody::full).unwrap_or_else(OutBody::empty);
        let resp = self.client.send(b.body(body).unwrap()).await.unwrap();
        let (parts, body) = resp.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.request("GET", path, Some(token), &[], None).await
    }

    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.request(
            "POST",
            path,
            Some(token),
            &[("content-type", "application/json")],
            Some(serde_json::to_vec(body).unwrap()),
        )
        .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.request("DELETE", path, Some(token), &[], None).await
    }

    /// A token from the token endpoint (client_secret_basic).
    pub async fn token(&self, id: &str, secret: &str, scope: Option<&str>) -> String {
        let r = self.token_request(id, secret, scope).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn token_request(&self, id: &str, secret: &str, scope: Option<&str>) -> Reply {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        let mut form = "grant_type=client_credentials".to_owned();
        if let Some(s) = scope {
            form.push_str(&format!(
                "&scope={}",
                s.replace(' ', "+").replace(':', "%3A")
            ));
        }
        self.request(
            "POST",
            "/oauth/token",
            None,
            &[
                ("authorization", &format!("Basic {basic}")),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            Some(form.into_bytes()),
        )
        .await
    }

    /// A client with every scope and the given grants, and a token for it.
    pub async fn client_token(&self, id: &str, grants: &[&str]) -> String {
        let secret = self.add_client(id, &ALL_SCOPES, grants);
        self.token(id, &secret, None).await
    }

    /// Files an inbound message in `mailbox` as the inbound pipeline does; returns its id.
    pub fn file_inbound(
        &self,
        mailbox: &str,
        text: &str,
        files: Vec<ContentFile>,
    ) -> (String, MessageKey) {
        let id = uuid::Uuid::new_v4();
        let m = SdkMessage::new(NewSdkMessage {
            message_id: id,
            created: OffsetDateTime::now_utc(),
            from: ParticipantId::parse(ORG_B).unwrap(),
            from_function: Some(FunctionAddress::parse(REMOTE).unwrap()),
            to: ParticipantId::parse(ORG_A).unwrap(),
            to_function: FunctionAddress::parse(mailbox).unwrap(),
            subject: format!("inbound to {mailbox}"),
            text: Some(text.to_owned()),
            files,
            confidential: true,
        });
        let key = self.store_inbound(mailbox, &m);
        (id.to_string(), key)
    }

    pub fn store_inbound(&self, mailbox: &str, m: &SdkMessage) -> MessageKey {
        let xml = m.to_xml().unwrap();
        let now = OffsetDateTime::now_utc();
        let mut w = self.store.blob_writer().unwrap();
        w.write_all(xml.as_bytes()).unwrap();
        let blob = w.finish().unwrap();
        let mut new = NewMessage::new(Direction::Inbound, now, "test-inbound");
        new.mailbox = Some(mailbox.to_owned());
        new.correlation.xhe_id = Some(m.header.message_id.clone());
        new.content.push(("sdk-message".to_owned(), blob));
        let key = match self.store.create_message(new).unwrap() {
            sdkgw_store::Created::New(r) => r.key,
            sdkgw_store::Created::Duplicate { .. } => panic!("duplicate"),
        };
        for s in [MessageState::Verified, MessageState::Filed] {
            self.store
                .update(&key, Update::to(s, now, "test-inbound"))
                .unwrap();
        }
        key
    }

    /// Moves an outbound record along the store's state machine, as the pipeline would.
    pub fn advance(&self, message_id: &str, states: &[MessageState]) {
        let key = self
            .store
            .find_by_id(sdkgw_store::IdKind::XheId, message_id)
            .unwrap()
            .into_iter()
            .find(|k| self.store.get_message(k).unwrap().unwrap().direction == Direction::Outbound)
            .unwrap();
        for s in states {
            self.store
                .update(
                    &key,
                    Update::to(*s, OffsetDateTime::now_utc(), "test-pipeline"),
                )
                .unwrap();
        }
    }
}

/// A minimal valid create body from IN1 to org B's inbox.
pub fn create_body(label: &str) -> Value {
    json!({"data": {"type": "messages", "attributes": {
        "confidentiality": false,
        "label": label,
        "sender": ORG_A,
        "recipient": ORG_B,
        "senderAttention": {"subOrganization": {"root": "urn:riv:infrastructure:messaging:functionalAddress", "extension": IN1}},
        "recipientAttention": {"subOrganization": {"root": "urn:riv:infrastructure:messaging:functionalAddress", "extension": REMOTE}},
        "digitalDocument": [{"documentId": "1", "index": "1", "contentTextBody": ["Hej!"]}]
    }}})
}

pub fn pdf_file(bytes: &[u8]) -> ContentFile {
    ContentFile::new("a.pdf", "application/pdf", bytes)
}
