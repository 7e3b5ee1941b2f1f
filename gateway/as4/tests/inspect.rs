//! `sdkgw as4 inspect` works offline on captured messages: with the receiving AP's key it
//! decrypts and verifies; without it it reports what it could not check; tampering is an error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::fake::{self, Answer, ReceiptKind};
use common::{ORG_A, ORG_B, XheSpec, node, pki};
use sdkgw_as4::inspect::{Inputs, Level, capture, inspect};
use sdkgw_as4::msh::{AttemptOutcome, Route};
use time::OffsetDateTime;

fn texts(r: &sdkgw_as4::inspect::Report, level: Level) -> Vec<String> {
    r.findings
        .iter()
        .filter(|f| f.level == level)
        .map(|f| f.text.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_message_is_decrypted_and_verified_with_the_receivers_key() {
    let a = node(0).await;
    let peer = fake::start(1, vec![], Answer::Receipt(ReceiptKind::Valid)).await;
    let (out, _p) = common::prepared(&a, &XheSpec::message(ORG_A, ORG_B));
    let route = Route {
        endpoint: peer.url(),
        certificate: pki().identity(1).certificate,
    };
    let attempt = a.sender.attempt(&out, &route).await;
    let AttemptOutcome::Delivered(receipt) = &attempt.outcome else {
        panic!("{:?}", attempt.outcome)
    };
    let seen = peer.seen().remove(0);
    let mut raw = Vec::new();
    capture(&mut raw, &seen.content_type, &seen.body).unwrap();
    let (_, key) = pki().pair(&pki().org(1).ap);
    let trust = pki().message_trust();
    let now = OffsetDateTime::now_utc();
    let dir = tempfile::tempdir().unwrap();

    let report = inspect(
        &raw,
        &Inputs {
            key: Some(&key),
            trust: Some(&trust),
        },
        dir.path(),
        now,
    )
    .await;
    assert!(!report.has_errors(), "{:#?}", report.findings);
    let ok = texts(&report, Level::Ok).join("\n");
    assert!(ok.contains("cid:message decrypted"), "{ok}");
    assert!(ok.contains("signature verifies"), "{ok}");
    assert!(ok.contains("valid for this environment"), "{ok}");
    assert!(report.header.iter().any(|h| h.contains(&out.message_id)));
    assert!(report.security.iter().any(|s| s.contains("aes128-gcm")));
    assert_eq!(report.tokens.len(), 2);

    let without_key = inspect(&raw, &Inputs::default(), dir.path(), now).await;
    assert!(!without_key.has_errors());
    assert!(
        texts(&without_key, Level::Info)
            .iter()
            .any(|t| t.contains("no --key"))
    );

    let at = raw
        .windows(19)
        .position(|w| w == b"<eb:ConversationId>")
        .unwrap()
        + 19;
    let mut tampered = raw.clone();
    tampered[at] ^= 0x01;
    let bad = inspect(
        &tampered,
        &Inputs {
            key: Some(&key),
            trust: None,
        },
        dir.path(),
        now,
    )
    .await;
    assert!(
        texts(&bad, Level::Error)
            .iter()
            .any(|t| t.contains("EBMS:0101")),
        "{:#?}",
        bad.findings
    );

    // A receipt (bare SOAP) is inspected too.
    let r = inspect(
        &receipt.receipt,
        &Inputs {
            key: None,
            trust: Some(&trust),
        },
        dir.path(),
        now,
    )
    .await;
    assert!(!r.has_errors(), "{:#?}", r.findings);
    assert!(
        texts(&r, Level::Ok)
            .iter()
            .any(|t| t.contains("signal signature verifies"))
    );
}
