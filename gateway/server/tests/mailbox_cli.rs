//! `sdkgw mailbox …` and `sdkgw audit search` as an operator uses them: the registry follows
//! the configuration (one truth), refuses conflicting changes, works with and without a
//! running gateway, and every change is in the audit log.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sdkgw_server::mailbox::Registry;
use sdkgw_store::{SledStore, Store, StoreConfig};
use time::OffsetDateTime;

fn write_config(dir: &Path, mailboxes: &str) -> String {
    let text = format!(
        r#"
data_dir = "data"
[environment]
name = "dev"
[ap]
party_id = "AP0001-DEV"
[[participants]]
id = "0203:kommun.example.se"
mailboxes = [{mailboxes}]
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
    let file = dir.join("sdkgw.toml");
    std::fs::write(&file, text).unwrap();
    file.to_str().unwrap().to_owned()
}

const TWO: &str =
    r#"{ address = "registrator", name = "Registratorn" }, { address = "socialtjanst" }"#;

fn sdkgw(args: &[&str]) -> (i32, String, String) {
    common::run(args)
}

fn list(cfg: &str) -> serde_json::Value {
    let (code, out, err) = sdkgw(&["mailbox", "list", "--config", cfg, "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn addresses(v: &serde_json::Value) -> Vec<(String, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["address"].as_str().unwrap().to_owned(),
                m["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_registry_follows_the_configuration_and_refuses_conflicting_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), TWO);
    let v = list(&cfg);
    assert_eq!(
        addresses(&v),
        [
            ("registrator".into(), "config".into()),
            ("socialtjanst".into(), "config".into())
        ]
    );
    assert_eq!(v[0]["name"], "Registratorn");

    // Add an operator mailbox with a webhook (secret shown once) and e-mail.
    let (code, out, err) = sdkgw(&[
        "mailbox",
        "add",
        "0203:kommun.example.se",
        "kundtjanst",
        "--name",
        "Kundtjänst",
        "--webhook-url",
        "https://hooks.kommun.example.se/sdk",
        "--email",
        "kundtjanst@kommun.example.se",
        "--config",
        &cfg,
    ]);
    assert_eq!(code, 0, "{err}");
    let secret = err.lines().last().unwrap().to_owned();
    assert_eq!(secret.len(), 44, "{err}");
    assert!(!out.contains(&secret), "the table shows a fingerprint only");
    let (_, shown, _) = sdkgw(&[
        "mailbox",
        "show",
        "kundtjanst",
        "--config",
        &cfg,
        "--output",
        "json",
    ]);
    assert!(!shown.contains(&secret));
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert!(
        shown["notifications"]["webhook"]["secret"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(
        shown["notifications"]["email"][0],
        "kundtjanst@kommun.example.se"
    );
    assert_eq!(shown["source"], "operator");

    // Conflicts with the configuration are refused, naming the key to edit.
    let (code, _, err) = sdkgw(&[
        "mailbox",
        "add",
        "0203:kommun.example.se",
        "registrator",
        "--config",
        &cfg,
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("declared in") && err.contains("participants[0].mailboxes[0]"),
        "{err}"
    );
    let (code, _, err) = sdkgw(&["mailbox", "remove", "socialtjanst", "--config", &cfg]);
    assert_eq!(code, 2);
    assert!(err.contains("participants[0].mailboxes[1]"), "{err}");
    let (code, _, err) = sdkgw(&[
        "mailbox",
        "add",
        "0203:annan.example.se",
        "x",
        "--config",
        &cfg,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("not a participant of this gateway"), "{err}");
    let (code, _, err) = sdkgw(&[
        "mailbox",
        "add",
        "0203:kommun.example.se",
        "kundtjanst",
        "--config",
        &cfg,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("exists already"), "{err}");
    let (code, _, err) = sdkgw(&[
        "mailbox",
        "set",
        "registrator",
        "--webhook-url",
        "http://plain.example.se/",
        "--config",
        &cfg,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("https://"), "{err}");
    let (code, _, err) = sdkgw(&[
        "mailbox",
        "set",
        "registrator",
        "--email",
        "a@b.se\r\nRCPT TO:<x@y.se>",
        "--config",
        &cfg,
    ]);
    assert_eq!(code, 2, "{err}");

    // Declared mailboxes get notification settings too.
    let (code, _, err) = sdkgw(&[
        "mailbox",
        "set",
        "registrator",
        "--email",
        "reg@kommun.example.se",
        "--notify-on",
        "new-message",
        "--config",
        &cfg,
    ]);
    assert_eq!(code, 0, "{err}");

    // The file changes: socialtjanst is no longer declared, kundtjanst now is.
    let cfg = write_config(
        tmp.path(),
        r#"{ address = "registrator", name = "Registratorn" }, { address = "kundtjanst" }"#,
    );
    let v = list(&cfg);
    assert_eq!(
        addresses(&v),
        [
            ("kundtjanst".into(), "config".into()),
            ("registrator".into(), "config".into())
        ]
    );
    // Adopted with its settings kept; registrator's settings kept too.
    assert_eq!(
        v[0]["notifications"]["email"][0],
        "kundtjanst@kommun.example.se"
    );
    assert_eq!(
        v[1]["notifications"]["events"],
        serde_json::json!(["new-message"])
    );
    // Now kundtjanst is managed by the file.
    let (code, _, _) = sdkgw(&["mailbox", "remove", "kundtjanst", "--config", &cfg]);
    assert_eq!(code, 2);

    // Every change is in the audit log.
    let (code, out, err) = sdkgw(&[
        "audit", "search", "--config", &cfg, "--event", "mailbox", "--output", "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let found: serde_json::Value = serde_json::from_str(&out).unwrap();
    let actions: Vec<(String, String)> = found["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["detail"]["mailbox"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("mailbox.added", "registrator"),
        ("mailbox.added", "kundtjanst"),
        ("mailbox.notifications", "registrator"),
        ("mailbox.removed", "socialtjanst"),
        ("mailbox.updated", "kundtjanst"),
    ] {
        assert!(
            actions.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} in {actions:?}"
        );
    }
    assert!(!out.contains(&secret), "secrets never reach the audit log");
    let (code, out, _) = sdkgw(&["audit", "verify", "--config", &cfg]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("hash chain intact"), "{out}");
}

#[test]
fn mailbox_and_audit_commands_work_while_the_gateway_holds_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), TWO);
    let config = sdkgw_server::config::load(Path::new(&cfg)).config.unwrap();
    // The "gateway": holds the store (sled lock), serves the registry socket, ships audit.
    let store: Arc<dyn Store> =
        Arc::new(SledStore::open(StoreConfig::at(&config.data_dir)).unwrap());
    let (registry, _) = Registry::open(store.clone(), &config, OffsetDateTime::now_utc()).unwrap();
    let registry = Arc::new(registry);
    let _socket =
        sdkgw_server::mailbox::admin::AdminServer::start(registry.clone(), &config.data_dir)
            .unwrap();
    let mut settings = sdkgw_server::audit::LogSettings::new(&config.data_dir);
    settings.retention = config.store.retention.audit;
    let (shipper, _) =
        sdkgw_server::audit::Shipper::start(store.clone(), settings, Duration::from_millis(20))
            .unwrap();

    let (code, _, err) = sdkgw(&[
        "mailbox",
        "add",
        "0203:kommun.example.se",
        "ekonomi",
        "--email",
        "ekonomi@kommun.example.se",
        "--config",
        &cfg,
    ]);
    assert_eq!(code, 0, "{err}");
    // The running gateway sees it at once.
    let m = registry
        .get(&sdkgw_schemas::FunctionAddress::parse("ekonomi").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(m.notifications.email, ["ekonomi@kommun.example.se"]);
    let v = list(&cfg);
    assert_eq!(v.as_array().unwrap().len(), 3);

    // The audit log is readable while the gateway writes it.
    let mut found = String::new();
    for _ in 0..100 {
        let (code, out, err) =
            sdkgw(&["audit", "search", "--config", &cfg, "--mailbox", "ekonomi"]);
        assert_eq!(code, 0, "{err}");
        if out.contains("mailbox.added") {
            found = out;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(found.contains("operator:"), "{found}");
    assert!(found.contains("1 event(s)"), "{found}");
    shipper.shutdown();
}
