//! `sdkgw quickstart` end to end with the debug binary (issue 9 item 1): two gateways as child
//! processes, a message with an attachment from A's mailbox API filed in B's function mailbox
//! (fetched through B's API), the ACCEPTED Meddelandekvittens back at A; re-running reuses the
//! PKI and replaces the run; a foreign directory is refused; the gateways never outlive the
//! quickstart (stopped after a normal end and on SIGINT, killed with it on SIGKILL).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{output, sdkgw, shared_pki};
use serde_json::Value;

/// A fresh working directory below the target dir (the quickstart claims it).
fn workdir(name: &str) -> tempfile::TempDir {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("quickstart-tests");
    std::fs::create_dir_all(&base).unwrap();
    tempfile::Builder::new()
        .prefix(name)
        .tempdir_in(base)
        .unwrap()
}

/// `dir/pki` = a copy of the shared development PKI (same organisations), so the quickstart
/// reuses it instead of generating RSA keys again.
fn with_shared_pki(dir: &Path) {
    copy_dir(&shared_pki(), &dir.join("pki"));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap(); // keeps the keys' 0600
        }
    }
}

fn quickstart(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    output(
        sdkgw()
            .args([
                "quickstart",
                "--dir",
                dir.to_str().unwrap(),
                "--timeout",
                "120",
            ])
            .args(extra),
    )
}

fn summary(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("run/summary.json")).unwrap()).unwrap()
}

fn gateway_pids(summary: &Value) -> Vec<i32> {
    summary["organisations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["pid"].as_i64().unwrap() as i32)
        .collect()
}

/// Whether `pid` is a live process (a zombie waiting for a reaper counts as gone).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

fn wait_gone(pids: &[i32], limit: Duration) -> Vec<i32> {
    let start = Instant::now();
    loop {
        let left: Vec<i32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        if left.is_empty() || start.elapsed() > limit {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn quickstart_delivers_the_attachment_to_b_and_shows_accepted_at_a_and_reruns_safely() {
    let tmp = workdir("full");
    let dir = tmp.path().join("qs");
    let (code, out, err) = quickstart(&dir, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    for line in [
        "[1/10] development PKI",
        "pass sdkgw config check",
        "[5/10] start gateways A and B (sdkgw serve)",
        "201 Created: messageId",
        "messageStatus NEW, in orgb.test-inbox from 0203:orga.test",
        "attachment: bilaga.pdf (application/pdf",
        "identical to the one sent",
        "messageStatus ACCEPTED",
        "sdkgw queue list --config",
        "recipient-accepted",
        "filed",
        "sdkgw_receipts_total{code=\"ACCEPTED\",direction=\"received\"} 1",
        "Where to look",
        "A_TOKEN=ey",
        "curl --cacert",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    let s = summary(&dir);
    let id = s["message"]["id"].as_str().unwrap();
    assert_eq!(id.len(), 36, "{s}");
    assert!(out.contains(id));
    assert_eq!(s["ok"], true, "{s}");
    assert_eq!(s["delivered"]["status"], "NEW");
    assert_eq!(s["delivered"]["attachment_matches"], true);
    assert_eq!(s["sender_status"]["status"], "ACCEPTED");
    let codes: Vec<&str> = s["sender_status"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    for code in ["ACKNOWLEDGE", "WAITING_FOR_RECEIPT", "ACCEPTED"] {
        assert!(codes.contains(&code), "{codes:?}");
    }
    assert_eq!(s["organisations"][1]["mailbox"], "orgb.test-inbox");
    // The attachment as sent is in the run directory; the gateways are gone.
    let pdf = std::fs::read(dir.join("run/bilaga.pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF-1.4"));
    assert_eq!(s["message"]["attachment"]["bytes"], pdf.len());
    let pids = gateway_pids(&s);
    assert_eq!(pids.len(), 2);
    assert!(
        wait_gone(&pids, Duration::from_secs(1)).is_empty(),
        "{pids:?} still run"
    );

    // Again: the PKI is reused, the run replaced (a new message, new ports).
    let (code, out2, err) = quickstart(&dir, &[]);
    assert_eq!(code, 0, "{out2}\n{err}");
    assert!(out2.contains("reusing the development PKI"), "{out2}");
    let s2 = summary(&dir);
    assert_eq!(s2["sender_status"]["status"], "ACCEPTED");
    assert_ne!(s2["message"]["id"], s["message"]["id"]);
    assert!(!out2.contains(id), "the previous run's message is gone");

    // A directory with someone else's files is not touched.
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let (code, out, err) = quickstart(&foreign, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("refusing to touch them"), "{err}");
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1);
}

/// Starts `sdkgw quickstart --keep-running` on `dir` and waits until the demo is done; its
/// stdout goes to `DIR.out`.
fn keep_running(dir: &Path) -> (Child, PathBuf) {
    let log = dir.with_extension("out");
    let child = Command::new(env!("CARGO_BIN_EXE_sdkgw"))
        .args(["quickstart", "--keep-running", "--timeout", "120", "--dir"])
        .arg(dir)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("Everything keeps running")
    {
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "the demo did not finish:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (child, log)
}

fn signal(child: &Child, sig: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_child(child);
    rustix::process::kill_process(pid, sig).unwrap();
}

#[test]
fn keep_running_stays_up_until_sigint_then_stops_both_gateways() {
    let tmp = workdir("sigint");
    let dir = tmp.path().join("qs");
    with_shared_pki(&dir);
    let (mut child, log) = keep_running(&dir);
    let pids = gateway_pids(&summary(&dir));
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        pids.iter().all(|p| alive(*p)),
        "still up while kept running"
    );
    assert!(child.try_wait().unwrap().is_none());
    // Operator commands work against the running gateways.
    let config = dir.join("run/orgb.test/sdkgw.toml");
    let (code, out, err) = output(sdkgw().args(["queue", "list", "--config"]).arg(&config));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("filed"), "{out}");

    signal(&child, rustix::process::Signal::INT);
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{status}\n{text}");
    assert!(text.contains("SIGINT: stopping"), "{text}");
    assert!(
        text.contains("gateway A (pid") && text.contains("stopped"),
        "{text}"
    );
    assert!(wait_gone(&pids, Duration::from_secs(1)).is_empty());
}

#[test]
fn gateways_die_with_a_quickstart_killed_by_sigkill() {
    let tmp = workdir("sigkill");
    let dir = tmp.path().join("qs");
    with_shared_pki(&dir);
    let (mut child, _) = keep_running(&dir);
    let pids = gateway_pids(&summary(&dir));
    assert!(pids.iter().all(|p| alive(*p)));
    child.kill().unwrap();
    child.wait().unwrap();
    let left = wait_gone(&pids, Duration::from_secs(20));
    assert!(left.is_empty(), "gateways {left:?} outlived the quickstart");
    // The lock went with the process: the directory is usable again at once.
    let (code, out, err) = quickstart(&dir, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
}
