//! The mailbox API asks the mailbox registry on every call: a mailbox added with
//! `sdkgw mailbox add` is reachable at once, and a removed one is not — no restart, and no
//! second list of mailboxes that could disagree with the registry.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod api_common;

use std::path::Path;
use std::sync::Arc;

use api_common::*;
use http::StatusCode;
use sdkgw_schemas::{FunctionAddress, ParticipantId};
use sdkgw_server::api::{self, Api, MailboxSource};
use sdkgw_server::mailbox::{NotificationChange, Registry};
use sdkgw_store::{SledStore, Store, StoreConfig};
use time::OffsetDateTime;

const NEW: &str = "sdk:ekonomi:0203:orga.test";

fn config() -> sdkgw_server::config::Config {
    let text = format!(
        r#"
data_dir = "data"
[environment]
name = "dev"
[ap]
party_id = "AP0001-DEV"
[[participants]]
id = "{ORG_A}"
mailboxes = [{{ address = "{IN1}" }}]
[keys.ap]
cert = "ap.p12"
password_file = "/run/secrets/ap"
[keys.o2o.signing]
cert = "s.pem"
key = "s.key"
[keys.o2o.encryption]
cert = "e.pem"
key = "e.key"
[keys.tls.server]
cert = "t.pem"
key = "t.key"
[keys.tls.client]
cert = "c.pem"
key = "c.key"
[trust.as4]
anchors = ["ap-root.pem"]
issuing_ca = "ap-ca.pem"
[trust.smp]
anchors = ["smp.pem"]
[trust.tls]
anchors = ["tls.pem"]
[trust.o2o]
anchors = ["o2o.pem"]
[listeners.as4]
bind = "127.0.0.1:0"
[listeners.api]
bind = "127.0.0.1:1"
[listeners.admin]
bind = "127.0.0.1:2"
[address_book]
source = "smp"
url = "https://127.0.0.1:3/"
"#
    );
    sdkgw_server::config::from_toml(&text, Path::new("/etc/sdkgw/sdkgw.toml"), Vec::new())
        .config
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_added_or_removed_in_the_registry_is_what_the_api_serves_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SledStore::open(StoreConfig::at(dir.path().join("data"))).unwrap());
    let (registry, _) =
        Registry::open(store.clone(), &config(), OffsetDateTime::now_utc()).unwrap();
    let registry = Arc::new(registry);
    let api = Arc::new(
        Api::new(settings(), store.clone(), Vec::new(), Arc::new(Book))
            .unwrap()
            .with_mailboxes(registry.clone() as Arc<dyn MailboxSource>),
    );
    let identity =
        sdkgw_http::TlsIdentity::new(std::slice::from_ref(&tls().cert), &tls().key).unwrap();
    let running = api::start(
        api.clone(),
        "127.0.0.1:0".parse().unwrap(),
        api::tls_config(&identity, api.settings()).unwrap(),
        sdkgw_http::ServerSettings::default(),
    )
    .await
    .unwrap();
    let gw = Gateway {
        base: format!("https://localhost:{}/v1", running.addr.port()),
        dir,
        store,
        api,
        running: Some(running),
        client: client(),
    };
    let token = gw.client_token("mk", &["*"]).await;
    let (id, _) = gw.file_inbound(NEW, "till ekonomi", Vec::new());
    let path = format!("/sdk/messages/{id}");
    // Not a mailbox of this gateway yet: invisible.
    assert_eq!(gw.get(&path, &token).await.status, StatusCode::NOT_FOUND);
    registry
        .add(
            FunctionAddress::parse(NEW).unwrap(),
            ParticipantId::parse(ORG_A).unwrap(),
            None,
            NotificationChange::default(),
            "test",
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    let r = gw.get(&path, &token).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    registry
        .remove(
            &FunctionAddress::parse(NEW).unwrap(),
            "test",
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    assert_eq!(gw.get(&path, &token).await.status, StatusCode::NOT_FOUND);
}
