//! The operator commands `sdkgw queue|message|store` against a data directory: directly when
//! no gateway runs, and through the admin socket of a running store (in this test process,
//! which holds the directory's lock, so the CLI cannot open it itself).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use sdkgw_store::admin::AdminServer;
use sdkgw_store::{
    Correlation, Created, Direction, MessageKey, MessageState, NewMessage, SledStore, Store,
    StoreConfig, Update,
};
use time::OffsetDateTime;

fn sdkgw(args: &[&str], data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sdkgw"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("USER", "cli-test")
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// One dead-lettered and one scheduled outbound message.
fn populate(store: &dyn Store) -> (MessageKey, MessageKey) {
    let now = OffsetDateTime::now_utc();
    let mut keys = Vec::new();
    for (xhe, end) in [
        ("xhe-dead", MessageState::DeadLettered),
        ("xhe-queued", MessageState::Scheduled),
    ] {
        let mut w = store.blob_writer().unwrap();
        w.write_all(&vec![7u8; 120_000]).unwrap();
        let mut new = NewMessage::new(Direction::Outbound, now, "mailbox-api");
        new.mailbox = Some("fa-socialtjanst".into());
        new.correlation = Correlation {
            xhe_id: Some(xhe.into()),
            ..Correlation::default()
        };
        new.content.push(("payload".into(), w.finish().unwrap()));
        let Created::New(r) = store.create_message(new).unwrap() else {
            panic!()
        };
        let path: &[MessageState] = if end == MessageState::Scheduled {
            &[MessageState::Sealed, MessageState::Scheduled]
        } else {
            &[
                MessageState::Sealed,
                MessageState::Scheduled,
                MessageState::Sending,
                MessageState::DeadLettered,
            ]
        };
        for st in path {
            store
                .update(
                    &r.key,
                    Update::to(*st, now, "test").next_attempt(now + time::Duration::hours(1)),
                )
                .unwrap();
        }
        keys.push(r.key);
    }
    (keys[0], keys[1])
}

#[test]
fn operator_commands_work_on_a_stopped_gateways_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (dead, _queued) = populate(&SledStore::open(StoreConfig::at(&data)).unwrap());

    let stats = json(&sdkgw(&["queue", "stats", "--output", "json"], &data));
    let by_state = stats["by_state"].as_array().unwrap();
    assert!(
        by_state
            .iter()
            .any(|s| s[0] == "dead-lettered" && s[1] == 1),
        "{stats}"
    );

    let table = sdkgw(&["queue", "list", "--mailbox", "fa-socialtjanst"], &data);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.contains("KEY") && text.contains("xhe-dead") && text.contains("(2 messages)"),
        "{text}"
    );

    let list = json(&sdkgw(
        &[
            "queue",
            "list",
            "--state",
            "scheduled",
            "--since",
            "1h",
            "--output",
            "json",
        ],
        &data,
    ));
    assert_eq!(list.as_array().unwrap().len(), 1);

    let shown = json(&sdkgw(
        &["message", "show", "xhe-dead", "--output", "json"],
        &data,
    ));
    assert_eq!(shown["key"], dead.to_string());
    assert_eq!(shown["history"].as_array().unwrap().len(), 5);
    let text =
        String::from_utf8(sdkgw(&["message", "show", &dead.to_string()], &data).stdout).unwrap();
    assert!(
        text.contains("history:") && text.contains("dead-lettered"),
        "{text}"
    );

    let dl = json(&sdkgw(
        &["queue", "dead-letter", "list", "--output", "json"],
        &data,
    ));
    assert_eq!(dl.as_array().unwrap().len(), 1);
    let requeued = json(&sdkgw(
        &[
            "queue",
            "dead-letter",
            "requeue",
            "xhe-dead",
            "--output",
            "json",
        ],
        &data,
    ));
    assert_eq!(requeued["state"], "scheduled");
    assert_eq!(
        requeued["history"].as_array().unwrap().last().unwrap()["actor"],
        "operator:cli-test"
    );

    let retried = json(&sdkgw(
        &["queue", "retry", "xhe-queued", "--output", "json"],
        &data,
    ));
    assert_eq!(retried["state"], "scheduled");

    // A purge of a message that is not dead-lettered is an input error (exit 2).
    let out = sdkgw(&["queue", "dead-letter", "purge", "xhe-queued"], &data);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sdkgw(&["message", "show", "no-such-id"], &data);
    assert_eq!(out.status.code(), Some(2));

    let check = sdkgw(&["store", "check"], &data);
    assert!(check.status.success());
    assert!(String::from_utf8_lossy(&check.stdout).contains("no findings"));
    assert!(
        String::from_utf8_lossy(&check.stderr).contains("check: records and blobs"),
        "progress on stderr"
    );
    json(&sdkgw(&["store", "gc", "--output", "json"], &data));

    let backup = dir.path().join("backup");
    let b = json(&sdkgw(
        &[
            "store",
            "backup",
            "--to",
            backup.to_str().unwrap(),
            "--output",
            "json",
        ],
        &data,
    ));
    assert_eq!(b["records"], 2);
    let restored = dir.path().join("restored");
    let r = json(&sdkgw(
        &[
            "store",
            "restore",
            "--from",
            backup.to_str().unwrap(),
            "--output",
            "json",
        ],
        &restored,
    ));
    assert_eq!(r["check"]["records"], 2);
    let shown = json(&sdkgw(
        &["message", "show", "xhe-queued", "--output", "json"],
        &restored,
    ));
    assert_eq!(shown["state"], "scheduled");

    // Restoring over existing data is refused.
    let out = sdkgw(
        &["store", "restore", "--from", backup.to_str().unwrap()],
        &data,
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn operator_commands_use_the_running_gateways_socket() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(StoreConfig::at(dir.path())).unwrap());
    let (dead, _) = populate(store.as_ref());
    let _server = AdminServer::start(store.clone()).unwrap();

    let stats = json(&sdkgw(&["queue", "stats", "--output", "json"], dir.path()));
    assert_eq!(stats["dead_letters"], 1);
    let purged = json(&sdkgw(
        &[
            "queue",
            "dead-letter",
            "purge",
            &dead.to_string(),
            "--output",
            "json",
        ],
        dir.path(),
    ));
    assert_eq!(purged["state"], "failed");
    // The change happened in the running store.
    let r = store.get_message(&dead).unwrap().unwrap();
    assert_eq!(r.state, MessageState::Failed);
    assert!(r.content_deleted_at.is_some());

    let check = sdkgw(
        &["store", "check", "--repair", "--output", "json"],
        dir.path(),
    );
    assert!(json(&check)["findings"].as_array().unwrap().is_empty());
    let backup_dir = tempfile::tempdir().unwrap();
    let backup = backup_dir.path().join("snapshot");
    let b = json(&sdkgw(
        &[
            "store",
            "backup",
            "--to",
            backup.to_str().unwrap(),
            "--output",
            "json",
        ],
        dir.path(),
    ));
    assert_eq!(b["records"], 2);

    // Restore into the running gateway's directory is refused.
    let out = sdkgw(&["store", "restore", "--from", "/nonexistent"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gateway is running"));
}

/// Organisation A's generated configuration with `data_dir` (absolute) and a `[store]`
/// section of our own.
fn config_file(dir: &Path, data: &Path, store_section: &str) -> std::path::PathBuf {
    let pki = common::shared_pki();
    let text = std::fs::read_to_string(pki.join("orgs/orga.test/sdkgw.toml")).unwrap();
    let mut table: toml::Table = text.parse().unwrap();
    table.insert(
        "data_dir".into(),
        toml::Value::String(data.to_str().unwrap().into()),
    );
    let store: toml::Table = store_section.parse().unwrap();
    table.insert("store".into(), toml::Value::Table(store));
    let file = dir.join("sdkgw.toml");
    std::fs::write(&file, toml::to_string(&table).unwrap()).unwrap();
    file
}

#[test]
fn store_commands_use_data_dir_and_retention_of_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = {
        let store = SledStore::open(StoreConfig::at(&data)).unwrap();
        let at = OffsetDateTime::now_utc() - time::Duration::minutes(5);
        let mut w = store.blob_writer().unwrap();
        w.write_all(b"payload").unwrap();
        let mut new = NewMessage::new(Direction::Outbound, at, "mailbox-api");
        new.content.push(("payload".into(), w.finish().unwrap()));
        let Created::New(r) = store.create_message(new).unwrap() else {
            panic!()
        };
        store
            .update(&r.key, Update::to(MessageState::Failed, at, "test"))
            .unwrap();
        r.key
    };
    let cfg = config_file(
        dir.path(),
        &data,
        "[retention]\ncontent_after_final = \"1m\"\n",
    );
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sdkgw"))
            .args(args)
            .env_remove("SDKGW_DATA_DIR")
            .output()
            .unwrap()
    };
    // --data-dir: store defaults (content kept 10 days after the final state).
    let gc = json(&run(&[
        "store",
        "gc",
        "--data-dir",
        data.to_str().unwrap(),
        "--output",
        "json",
    ]));
    assert_eq!(gc["content_deleted"], 0);
    // --config: the configuration's [store.retention] (1 minute).
    let gc = json(&run(&[
        "store",
        "gc",
        "--config",
        cfg.to_str().unwrap(),
        "--output",
        "json",
    ]));
    assert_eq!(gc["content_deleted"], 1);
    let shown = json(&run(&[
        "message",
        "show",
        &key.to_string(),
        "--config",
        cfg.to_str().unwrap(),
        "--output",
        "json",
    ]));
    assert!(shown["content"].as_array().unwrap().is_empty());
    let out = run(&["queue", "stats"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "neither --config nor --data-dir"
    );
}
