//! Attachment content policy on receive and on send (MT–MK §2.8, §3; hardening H-61, H-62),
//! two gateways end to end: B scans attachments with an external command (`[pipeline]
//! malware_scan_command`, a shell script standing in for the engine) and takes only the
//! default attachment types. A lets everything through on send, so that B's receive side is
//! what is tested; B's own API must refuse the same content on submission.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod e2e_support;

use std::path::Path;
use std::time::Duration;

use e2e_support::{A, A_BOX, B, B_BOX, Org, pki, start_org_with, start_smp, wait_for};
use sdkgw_store::{Direction, MessageKey, MessageState};

const LIMIT: Duration = Duration::from_secs(60);

const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// A scanner script in `dir`: exit 1 when stdin holds the EICAR string; while the file
/// `dir/engine-down` exists it counts the call in `dir/calls` and fails (exit 2).
fn scanner(dir: &Path) -> String {
    let script = dir.join("scan.sh");
    let body = format!(
        "#!/bin/sh\nd='{}'\nif [ -e \"$d/engine-down\" ]; then echo x >>\"$d/calls\"; cat >/dev/null; exit 2; fi\nif grep -qF 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE'; then exit 1; fi\nexit 0\n",
        dir.display()
    );
    std::fs::write(&script, body).unwrap();
    format!("/bin/sh,{}", script.display())
}

/// A, sending anything (no scanner, a permissive allow-list), and B, scanning with the
/// default allow-list.
async fn orgs(
    pki: &Path,
    smp: &e2e_support::Smp,
    da: &Path,
    db: &Path,
    scan_dir: &Path,
) -> (Org, Org) {
    let permissive = [(
        "SDKGW_PIPELINE__ATTACHMENT_TYPES",
        "application/pdf,application/x-msdownload",
    )];
    let a = start_org_with(pki, smp, "orga.test", da, &permissive).await;
    let command = scanner(scan_dir);
    let scanning = [("SDKGW_PIPELINE__MALWARE_SCAN_COMMAND", command.as_str())];
    let b = start_org_with(pki, smp, "orgb.test", db, &scanning).await;
    (a, b)
}

/// The malware incidents in `org`'s audit trail: (direction, message).
fn malware_incidents(org: &Org) -> Vec<(String, Option<MessageKey>)> {
    let events = org.store().audit(0, usize::MAX).unwrap();
    events
        .into_iter()
        .filter(|e| e.action == "security.malware_found")
        .map(|e| {
            let direction = e.detail.get("direction").and_then(|d| d.as_str());
            (direction.unwrap_or_default().to_owned(), e.message)
        })
        .collect()
}

/// Sends `file` from A to B and waits for B's decision on it.
async fn b_decides(a: &Org, b: &Org, label: &str, file: (&str, &str, &[u8])) -> (String, String) {
    let (code, v) = a.post_file(B, B_BOX, label, Some(file)).await;
    assert_eq!(code, 201, "{v}");
    a.gateway().pipeline.wake_outbound();
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    let decided = wait_for(LIMIT, async || {
        let r = b.inbound(&id).into_iter().next()?;
        (r.state != MessageState::Received).then_some(r)
    })
    .await;
    let Some(r) = decided else {
        panic!("B did not decide on {label}: {:?}", b.inbound(&id));
    };
    assert_eq!(r.state, MessageState::Rejected, "{label}: {r:?}");
    assert!(
        r.mailbox.is_none(),
        "{label}: a rejected message is filed nowhere"
    );
    assert!(
        r.evidence.iter().any(|e| e.kind == "meddelandekvittens"),
        "{label}: the REJECTED receipt is stored to be sent: {r:?}"
    );
    let (code, _) = b.get(&id).await;
    assert_eq!(code, 404, "{label}: not in B's mailbox");
    (id, r.last_error.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malware_and_unsupported_types_are_rejected_on_receive_and_refused_on_send() {
    let pki = pki();
    let smp = start_smp(&pki).await;
    let (da, db, scan) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (mut a, mut b) = orgs(&pki, &smp, da.path(), db.path(), scan.path()).await;

    let mut infected = b"%PDF-1.4 ".to_vec();
    infected.extend_from_slice(EICAR);
    let (id, error) = b_decides(&a, &b, "EICAR", ("eicar.pdf", "application/pdf", &infected)).await;
    assert!(
        error.starts_with("REJECTED") && error.contains("BV forbidden"),
        "{error}"
    );
    // A security incident in B's audit trail, for that message (counted by the metrics).
    let eicar_key = b.inbound(&id)[0].key;
    let inbound = ("inbound".to_owned(), Some(eicar_key));
    assert_eq!(malware_incidents(&b), std::slice::from_ref(&inbound));
    let exe = (
        "setup.exe",
        "application/x-msdownload",
        &b"MZ\x90\x00 not a document"[..],
    );
    let (exe_id, error) = b_decides(&a, &b, "x-msdownload", exe).await;
    assert!(
        error.starts_with("REJECTED") && error.contains("BV not-supported"),
        "{error}"
    );
    // The rejections reach A as MESSAGE_EXCHANGE_ERROR with the receipt's codes.
    for (id, code) in [(&id, "BV forbidden"), (&exe_id, "BV not-supported")] {
        let finals = ["ACCEPTED", "MESSAGE_EXCHANGE_ERROR"];
        let status = e2e_support::wait_status(&a, id, &finals, LIMIT).await;
        assert_eq!(status, "MESSAGE_EXCHANGE_ERROR");
        let out = a.record(id, Direction::Outbound).unwrap();
        let error = out.last_error.unwrap_or_default();
        assert!(error.contains(code), "{error}");
    }

    // B's API refuses both on submission (400, the field named), and still takes a clean PDF.
    let (code, v) = b
        .post_file(
            A,
            A_BOX,
            "EICAR out",
            Some(("eicar.pdf", "application/pdf", &infected)),
        )
        .await;
    assert_eq!(code, 400, "{v}");
    let text = v.to_string();
    assert!(
        text.contains("malware") && text.contains("contentFiles/0/content"),
        "{text}"
    );
    // The unsupported type was no incident; the submission is one.
    assert_eq!(
        malware_incidents(&b),
        [inbound, ("outbound".to_owned(), None)]
    );
    let (code, v) = b.post_file(A, A_BOX, "exe out", Some(exe)).await;
    assert_eq!(code, 400, "{v}");
    let text = v.to_string();
    assert!(
        text.contains("not accepted") && text.contains("contentFiles/0/contentType"),
        "{text}"
    );
    // Every refused file of a submission is named, one issue each; the clean one is not.
    let clean = ("brev.pdf", "application/pdf", &b"%PDF-1.4 clean"[..]);
    let infected_file = ("eicar.pdf", "application/pdf", &infected[..]);
    let (code, v) = b
        .post_files(A, A_BOX, "three out", &[clean, infected_file, exe])
        .await;
    assert_eq!(code, 400, "{v}");
    let at = |i: usize| {
        v["eventIssues"][i]["in"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(v["eventIssues"].as_array().map(Vec::len), Some(2), "{v}");
    assert!(at(0).ends_with("contentFiles/1/content"), "{v}");
    assert!(at(1).ends_with("contentFiles/2/contentType"), "{v}");
    assert_eq!(malware_incidents(&b).len(), 3, "one more outbound incident");
    let (code, v) = b
        .post_file(
            A,
            A_BOX,
            "clean out",
            Some(("brev.pdf", "application/pdf", b"%PDF-1.4 clean")),
        )
        .await;
    assert_eq!(code, 201, "{v}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_scanner_holds_the_message_back_until_a_scan_succeeds() {
    let pki = pki();
    let smp = start_smp(&pki).await;
    let (da, db, scan) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (mut a, mut b) = orgs(&pki, &smp, da.path(), db.path(), scan.path()).await;
    let down = scan.path().join("engine-down");
    std::fs::write(&down, b"").unwrap();

    // The API does not take what it cannot scan.
    let pdf = ("brev.pdf", "application/pdf", &b"%PDF-1.4 a letter"[..]);
    let (code, v) = b.post_file(A, A_BOX, "unscanned out", Some(pdf)).await;
    assert_eq!(code, 503, "{v}");

    let (code, v) = a.post_file(B, B_BOX, "unscanned in", Some(pdf)).await;
    assert_eq!(code, 201, "{v}");
    a.gateway().pipeline.wake_outbound();
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    let calls = scan.path().join("calls");
    let count = || {
        std::fs::read_to_string(&calls)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    let tried = wait_for(LIMIT, async || (count() >= 2).then_some(())).await;
    assert!(
        tried.is_some(),
        "the scan was not retried: {} call(s)",
        count()
    );
    // Neither accepted nor rejected while the engine is down.
    let r = b.inbound(&id).into_iter().next().unwrap();
    assert_eq!(r.state, MessageState::Received, "{r:?}");

    std::fs::remove_file(&down).unwrap();
    let filed = wait_for(LIMIT, async || {
        let r = b.inbound(&id).into_iter().next()?;
        (r.state == MessageState::Filed).then_some(r)
    })
    .await;
    assert!(filed.is_some(), "{:?}", b.inbound(&id));
    a.stop().await;
    b.stop().await;
}
