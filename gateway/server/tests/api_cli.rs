//! `sdkgw client add|list|revoke|grant`, on a stopped gateway's data directory and through a
//! running gateway's `api-clients.sock` (the store is locked by the gateway then).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_common;

use std::process::Command;
use std::sync::Arc;

use api_common::*;
use http::StatusCode;
use sdkgw_server::api::admin::AdminServer;
use sdkgw_store::{SledStore, Store, StoreConfig};

fn sdkgw(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sdkgw"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn secret_of(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .expect("secret printed")
        .to_owned()
}

#[test]
fn clients_are_managed_offline_and_secrets_are_shown_once_and_stored_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let (code, out, err) = sdkgw(&["client", "add", "mk1", "--grant", IN1, "--data-dir", d]);
    assert_eq!(code, 0, "{err}");
    let secret = secret_of(&out);
    assert!(secret.len() >= 40);
    let (code, _, err) = sdkgw(&["client", "add", "mk1", "--grant", IN1, "--data-dir", d]);
    assert_eq!(code, 1, "duplicate id: {err}");
    let (code, _, _) = sdkgw(&["client", "add", "mk2", "--grant", "a b", "--data-dir", d]);
    assert_eq!(code, 1, "invalid grant");
    let (code, out, _) = sdkgw(&["client", "grant", "mk1", "--grant", IN2, "--data-dir", d]);
    assert_eq!(code, 0);
    assert!(out.contains(IN2));
    let (code, out, _) = sdkgw(&["client", "list", "--output", "json", "--data-dir", d]);
    assert_eq!(code, 0);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list[0]["id"], "mk1");
    assert_eq!(list[0]["grants"], serde_json::json!([IN1, IN2]));
    assert!(
        !out.contains(&secret) && !out.contains("pbkdf2"),
        "no secret or hash listed"
    );
    let (code, out, _) = sdkgw(&["client", "revoke", "mk1", "--data-dir", d]);
    assert_eq!(code, 0);
    assert!(out.contains("revoked"));
    let (code, _, _) = sdkgw(&["client", "revoke", "nobody", "--data-dir", d]);
    assert_eq!(code, 1);
    // The store holds a salted PBKDF2 hash, never the secret.
    let store = SledStore::open(StoreConfig::at(&data)).unwrap();
    let raw = store
        .keyspace("api.clients")
        .unwrap()
        .get(b"mk1")
        .unwrap()
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    assert!(text.contains("pbkdf2-sha256$600000$") && !text.contains(&secret));
}

#[tokio::test]
async fn clients_are_managed_through_the_running_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store: Arc<dyn Store> = Arc::new(SledStore::open(StoreConfig::at(&data)).unwrap());
    let gw = start_on(dir, store, settings()).await;
    let _admin = AdminServer::start(gw.api.clients().unwrap(), &data)
        .await
        .unwrap();
    let d = data.to_str().unwrap().to_owned();
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            sdkgw(&refs)
        })
    };
    let args = |a: &[&str]| {
        a.iter()
            .map(|s| (*s).to_owned())
            .chain(["--data-dir".to_owned(), d.clone()])
            .collect::<Vec<_>>()
    };
    let (code, out, err) = run(args(&["client", "add", "live", "--grant", IN1]))
        .await
        .unwrap();
    assert_eq!(code, 0, "{err}");
    let token = gw.token("live", &secret_of(&out), None).await;
    assert_eq!(gw.get("/sdk/messages", &token).await.status, StatusCode::OK);
    let (code, _, err) = run(args(&["client", "revoke", "live"])).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        gw.get("/sdk/messages", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
}
