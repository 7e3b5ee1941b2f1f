//! `sdkgw serve` and `sdkgw as4 send|inspect` with the development PKI and its generated
//! configurations: organisation B's gateway runs as a child process (its AS4 listener on the
//! configured port, mutual TLS), organisation A sends to it by hand (`as4 send`) and through a
//! gateway started in-process whose delivery worker finds B through the dev SMP (address book
//! route → AS4 with receipt). SIGTERM stops `serve` cleanly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{output, sdkgw, shared_pki};
use sdkgw_store::MessageState;

struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The dev SMP; returns it and its URL.
fn start_smp(pki: &Path) -> (Proc, String) {
    let mut child = sdkgw()
        .args(["dev", "smp-server", "--pki"])
        .arg(pki)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap()
        .to_owned();
    (Proc { child }, url)
}

/// Environment for an organisation's configuration: its data dir and the dev SMP.
fn env(cmd: &mut Command, pki: &Path, data: &Path, smp: &str) {
    cmd.env("SDKGW_DATA_DIR", data)
        .env("SDKGW_ADDRESS_BOOK__URL", smp)
        .env(
            "SDKGW_ADDRESS_BOOK__HTTP__TLS_ANCHORS",
            pki.join("ca/tls-root.pem"),
        )
        // Mailbox API and admin listeners on free ports (tests run in parallel).
        .env("SDKGW_LISTENERS__API__BIND", "127.0.0.2:0")
        .env("SDKGW_LISTENERS__ADMIN__BIND", "127.0.0.3:0");
}

fn config(pki: &Path, org: &str) -> PathBuf {
    pki.join(format!("orgs/{org}/sdkgw.toml"))
}

/// `sdkgw serve` for `org`; returns when it says it is serving.
fn start_serve(
    pki: &Path,
    org: &str,
    data: &Path,
    smp: &str,
    bind: Option<&str>,
) -> (Proc, String) {
    let mut cmd = sdkgw();
    cmd.arg("serve").arg("--config").arg(config(pki, org));
    env(&mut cmd, pki, data, smp);
    if let Some(b) = bind {
        cmd.env("SDKGW_LISTENERS__AS4__BIND", b);
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve exited before serving"
        );
        if line.contains("serving AS4 on") {
            break;
        }
    }
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap()
        .trim_end_matches(';')
        .to_owned();
    (Proc { child }, url)
}

fn xhe(dir: &Path, from: &str, to: &str) -> PathBuf {
    let id = uuid::Uuid::new_v4();
    let text = format!(
        r#"<x:XHE xmlns="http://docs.oasis-open.org/bdxr/ns/XHE/1/BasicComponents" xmlns:xha="http://docs.oasis-open.org/bdxr/ns/XHE/1/AggregateComponents" xmlns:x="http://docs.oasis-open.org/bdxr/ns/XHE/1/ExchangeHeaderEnvelope"><XHEVersionID>1.0</XHEVersionID><CustomizationID>urn:fdc:digg.se:edelivery:xhe:1</CustomizationID><xha:Header><ID>{id}</ID><CreationDateTime>2026-01-30T17:52:58.1Z</CreationDateTime><xha:BusinessScope>
<xha:BusinessScopeCriterion><BusinessScopeCriterionTypeCode>DOCUMENTID</BusinessScopeCriterionTypeCode><BusinessScopeCriterionValue>urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc</BusinessScopeCriterionValue></xha:BusinessScopeCriterion>
<xha:BusinessScopeCriterion><BusinessScopeCriterionTypeCode>DOCUMENTID_SCHEME</BusinessScopeCriterionTypeCode><BusinessScopeCriterionValue>busdox-docid-qns</BusinessScopeCriterionValue></xha:BusinessScopeCriterion>
<xha:BusinessScopeCriterion><BusinessScopeCriterionTypeCode>PROCESSID</BusinessScopeCriterionTypeCode><BusinessScopeCriterionValue>bdx:noprocess</BusinessScopeCriterionValue></xha:BusinessScopeCriterion>
<xha:BusinessScopeCriterion><BusinessScopeCriterionTypeCode>PROCESSID_SCHEME</BusinessScopeCriterionTypeCode><BusinessScopeCriterionValue>urn:fdc:digg.se:edelivery:process</BusinessScopeCriterionValue></xha:BusinessScopeCriterion>
<xha:BusinessScopeCriterion><BusinessScopeCriterionTypeCode>FEDERATIONID</BusinessScopeCriterionTypeCode><BusinessScopeCriterionValue>urn:fdc:digg.se:edelivery:federation:test</BusinessScopeCriterionValue></xha:BusinessScopeCriterion>
</xha:BusinessScope><xha:FromParty><xha:PartyIdentification><ID schemeID="iso6523-actorid-upis">{from}</ID></xha:PartyIdentification></xha:FromParty><xha:ToParty><xha:PartyIdentification><ID schemeID="iso6523-actorid-upis">{to}</ID></xha:PartyIdentification></xha:ToParty></xha:Header><xha:Payloads><xha:Payload><ContentTypeCode>application/xml</ContentTypeCode><InstanceEncryptionIndicator>true</InstanceEncryptionIndicator><xha:PayloadContent><x:Encrypted xmlns:x="urn:x">AAAA</x:Encrypted></xha:PayloadContent></xha:Payload></xha:Payloads></x:XHE>"#
    );
    let p = dir.join(format!("{id}.xml"));
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn serve_receives_as4_send_and_inspect_reads_the_receipt() {
    let pki = shared_pki();
    let (_smp, smp) = start_smp(&pki);
    let data_b = tempfile::tempdir().unwrap();
    // Any free port: `as4 send` is told the URL.
    let (mut serve_b, url_b) =
        start_serve(&pki, "orgb.test", data_b.path(), &smp, Some("127.0.0.1:0"));
    assert!(url_b.ends_with("/as4"), "{url_b}");
    let work = tempfile::tempdir().unwrap();
    let data_a = tempfile::tempdir().unwrap();
    let message = xhe(work.path(), "0203:orga.test", "0203:orgb.test");
    let mut cmd = sdkgw();
    cmd.args(["as4", "send", "--config"])
        .arg(config(&pki, "orga.test"))
        .args([
            "--to-url",
            &url_b.replace("127.0.0.1", "localhost"),
            "--to-cert",
        ])
        .arg(pki.join("orgs/orgb.test/ap.pem"))
        .arg("--xhe")
        .arg(&message)
        .args(["--output", "json"]);
    env(&mut cmd, &pki, data_a.path(), &smp);
    let (code, out, err) = output(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    let sent: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(sent["outcome"], "delivered");
    assert_eq!(sent["to_ap"], "AP0002-DEV");
    // The receipt printed by `send` inspects clean offline, its signer valid for the env.
    let receipt = work.path().join("receipt.xml");
    std::fs::write(&receipt, sent["signal"].as_str().unwrap()).unwrap();
    let mut cmd = sdkgw();
    cmd.args(["as4", "inspect"])
        .arg(&receipt)
        .arg("--config")
        .arg(config(&pki, "orga.test"));
    env(&mut cmd, &pki, data_a.path(), &smp);
    let (code, out, err) = output(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("[ok] signal signature verifies"), "{out}");
    assert!(
        out.contains("[ok] signer certificate is valid for this environment"),
        "{out}"
    );
    // A message for a participant B does not serve: refused, exit 1, the signal printed.
    let unknown = xhe(work.path(), "0203:orga.test", "0203:unknown.test");
    let mut cmd = sdkgw();
    cmd.args(["as4", "send", "--config"])
        .arg(config(&pki, "orga.test"))
        .args([
            "--to-url",
            &url_b.replace("127.0.0.1", "localhost"),
            "--to-cert",
        ])
        .arg(pki.join("orgs/orgb.test/ap.pem"))
        .arg("--xhe")
        .arg(&unknown);
    env(&mut cmd, &pki, data_a.path(), &smp);
    let (code, out, _) = output(&mut cmd);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("rejected") && out.contains("NOT_SERVICED"),
        "{out}"
    );
    // An XHE from a participant A does not serve: refused before any connection.
    let foreign = xhe(work.path(), "0203:orgb.test", "0203:orga.test");
    let mut cmd = sdkgw();
    cmd.args(["as4", "send", "--config"])
        .arg(config(&pki, "orga.test"))
        .args(["--to-url", &url_b, "--to-cert"])
        .arg(pki.join("orgs/orgb.test/ap.pem"))
        .arg("--xhe")
        .arg(&foreign);
    env(&mut cmd, &pki, data_a.path(), &smp);
    let (code, out, err) = output(&mut cmd);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("originalSender 0203:orgb.test is not a participant this gateway serves"),
        "{err}"
    );
    // SIGTERM: a clean stop.
    let pid = serve_b.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = wait_exit(&mut serve_b.child, Duration::from_secs(60));
    assert_eq!(status, Some(0));
    // B's store has the one message in `received`, readable with the CLI.
    let (code, out, err) = common::run(&[
        "queue",
        "list",
        "--data-dir",
        data_b.path().to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    // The inbound pipeline may already have opened it: this test XHE is not sealed, so it is
    // quarantined (no receipt) — either way it is stored once.
    assert!(
        out.contains("\"received\"") || out.contains("quarantined (no receipt)"),
        "{out}"
    );
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<i32> {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_message_is_delivered_through_the_address_book_by_the_gateway_worker() {
    let pki = shared_pki();
    let (_smp, smp) = start_smp(&pki);
    let data_b = tempfile::tempdir().unwrap();
    // The configured port: the dev SMP publishes it as B's endpoint.
    let (_serve_b, _url_b) = start_serve(&pki, "orgb.test", data_b.path(), &smp, None);
    let data_a = tempfile::tempdir().unwrap();
    let vars = vec![
        (
            "SDKGW_DATA_DIR".to_owned(),
            data_a.path().to_str().unwrap().to_owned(),
        ),
        ("SDKGW_ADDRESS_BOOK__URL".to_owned(), smp.clone()),
        (
            "SDKGW_ADDRESS_BOOK__HTTP__TLS_ANCHORS".to_owned(),
            pki.join("ca/tls-root.pem").to_str().unwrap().to_owned(),
        ),
        // A's own listener on a free port (B's is the configured one, which the SMP publishes).
        (
            "SDKGW_LISTENERS__AS4__BIND".to_owned(),
            "127.0.0.1:0".to_owned(),
        ),
        (
            "SDKGW_LISTENERS__API__BIND".to_owned(),
            "127.0.0.2:0".to_owned(),
        ),
        (
            "SDKGW_LISTENERS__ADMIN__BIND".to_owned(),
            "127.0.0.3:0".to_owned(),
        ),
    ];
    let loaded = sdkgw_server::config::load_with_env(&config(&pki, "orga.test"), vars);
    let cfg = loaded
        .config
        .unwrap_or_else(|| panic!("{:?}", loaded.findings));
    let gateway = sdkgw_server::serve::Gateway::start(cfg).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let message = xhe(work.path(), "0203:orga.test", "0203:orgb.test");
    let store = gateway.shared.store.clone();
    let spool = gateway.shared.spool_dir.clone();
    let key = tokio::task::spawn_blocking(move || {
        sdkgw_as4::msh::submit(
            store.as_ref(),
            &message,
            None,
            "urn:fdc:digg.se:edelivery:federation:test",
            &["0203:orga.test"],
            &spool,
            time::OffsetDateTime::now_utc(),
        )
    })
    .await
    .unwrap()
    .unwrap();
    gateway.delivery.notify();
    let mut state = MessageState::Scheduled;
    for _ in 0..200 {
        state = gateway
            .shared
            .store
            .get_message(&key)
            .unwrap()
            .unwrap()
            .state;
        if state != MessageState::Scheduled && state != MessageState::Sending {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rec = gateway.shared.store.get_message(&key).unwrap().unwrap();
    assert_eq!(state, MessageState::Delivered, "{:?}", rec.last_error);
    assert!(rec.evidence.iter().any(|e| e.kind == "as4-receipt"));
    gateway.stop().await;
    // B (another process) stored it: find it by its AS4 MessageId through B's admin socket.
    let as4_id = rec.correlation.as4_message_id.clone().unwrap();
    let (code, out, err) = common::run(&[
        "message",
        "show",
        &as4_id,
        "--data-dir",
        data_b.path().to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("\"received\""), "{out}");
}
