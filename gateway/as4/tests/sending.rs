//! The sending MSH: receiver certificate checked before any request (TF-02, T16, T17),
//! reception-awareness retries with the same MessageId and payload digests (T26), exhaustion
//! → `EBMS:0301` (TF-05, T27), error signals final in both forms (T28), invalid receipts
//! `EBMS:0302` (T29), an untrusted server certificate (T34), and the AP-3.4.1 outbound audit
//! fields (T38).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::fake::{self, Answer, ReceiptKind};
use common::{ORG_A, ORG_B, XheSpec, node, pki};
use sdkgw_as4::ebms::Leg;
use sdkgw_as4::msh::{
    AttemptOutcome, DeliveryWorker, RetryPolicy, Route, StaticRoutes, prepare, submit,
};
use sdkgw_schemas::{Environment, ParticipantId};
use sdkgw_store::{MessageKey, MessageState};
use time::OffsetDateTime;

fn fed() -> &'static str {
    Environment::Dev.federation().as_str()
}

fn quick_policy(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        initial_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
        multiplier: 2.0,
    }
}

fn worker(a: &common::Node, route: Route, policy: RetryPolicy) -> DeliveryWorker {
    let routes = StaticRoutes::new(vec![(ORG_B.parse::<ParticipantId>().unwrap(), route)]);
    DeliveryWorker::new(
        a.store.clone(),
        a.sender.clone(),
        Arc::new(routes),
        policy,
        a.spool.clone(),
    )
}

fn queue(a: &common::Node) -> MessageKey {
    let xhe = XheSpec::message(ORG_A, ORG_B).write(&a.spool);
    submit(
        a.store.as_ref(),
        &xhe,
        Some(Leg::Message),
        fed(),
        &[ORG_A],
        &a.spool,
        OffsetDateTime::now_utc(),
    )
    .unwrap()
}

/// Runs attempts until the record leaves `scheduled`.
async fn drive(w: &DeliveryWorker, key: MessageKey) -> MessageState {
    for _ in 0..50 {
        match w.deliver(key).await.unwrap() {
            Some(MessageState::Scheduled) | None => {
                tokio::time::sleep(Duration::from_millis(30)).await
            }
            Some(final_state) => return final_state,
        }
    }
    panic!("no final state");
}

/// A TCP listener that counts connections and closes them at once.
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            drop(s);
        }
    });
    (port, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_expired_or_foreign_receiver_certificate_means_no_request_tf02() {
    let a = node(0).await;
    let p = pki();
    let (port, connections) = counting_listener().await;
    for (pair, why) in [
        (&p.manifest.negative.revoked_ap, "revoked"),
        (&p.manifest.negative.expired_ap, "expired"),
        (&p.manifest.negative.foreign_ap, "FOREIGN"),
    ] {
        let route = Route {
            endpoint: format!("https://localhost:{port}/as4"),
            certificate: p.pair(pair).0,
        };
        let xhe = XheSpec::message(ORG_A, ORG_B).write(&a.spool);
        let (out, _p) = prepare(&xhe, None, fed(), &a.spool, OffsetDateTime::now_utc()).unwrap();
        let attempt = a.sender.attempt(&out, &route).await;
        let AttemptOutcome::Fail(f) = &attempt.outcome else {
            panic!("{:?}", attempt.outcome)
        };
        assert!(!f.contacted);
        assert!(f.reason.contains(why), "{}", f.reason);
        assert!(attempt.envelope.is_none(), "nothing was built or sent");
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "no connection was opened"
    );
    // Through the worker the record fails at once, with the cause, after one attempt.
    let key = queue(&a);
    let route = Route {
        endpoint: format!("https://localhost:{port}/as4"),
        certificate: p.pair(&p.manifest.negative.revoked_ap).0,
    };
    let w = worker(&a, route, quick_policy(5));
    assert_eq!(drive(&w, key).await, MessageState::Failed);
    let rec = a.store.get_message(&key).unwrap().unwrap();
    assert!(rec.last_error.unwrap().contains("revoked"));
    assert_eq!(rec.attempts, 1);
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_dropping_the_connection_is_retried_t26() {
    let a = node(0).await;
    let (port, connections) = counting_listener().await;
    let route = Route {
        endpoint: format!("https://localhost:{port}/as4"),
        certificate: pki().identity(1).certificate,
    };
    let (out, _p) = common::prepared(&a, &XheSpec::message(ORG_A, ORG_B));
    let attempt = a.sender.attempt(&out, &route).await;
    let AttemptOutcome::Retry(f) = &attempt.outcome else {
        panic!("{:?}", attempt.outcome)
    };
    assert_eq!(f.code, Some("EBMS:0005"));
    assert!(f.contacted);
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_receiver_is_retried_then_missing_receipt_tf05() {
    let a = node(0).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let route = Route {
        endpoint: format!("https://localhost:{port}/as4"),
        certificate: pki().identity(1).certificate,
    };
    let key = queue(&a);
    let w = worker(&a, route, quick_policy(3));
    assert_eq!(drive(&w, key).await, MessageState::DeadLettered);
    let rec = a.store.get_message(&key).unwrap().unwrap();
    assert_eq!(rec.attempts, 3);
    let err = rec.last_error.unwrap();
    assert!(err.starts_with("EBMS:0301 MissingReceipt"), "{err}");
    let audit = a.store.audit(0, 1000).unwrap();
    let actions: Vec<&str> = audit
        .iter()
        .filter(|e| e.action.starts_with("as4.outbound"))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "as4.outbound.retry",
            "as4.outbound.retry",
            "as4.outbound.exhausted"
        ]
    );
    let last = audit
        .iter()
        .rev()
        .find(|e| e.action == "as4.outbound.exhausted")
        .unwrap();
    assert_eq!(last.detail["error_code"], "EBMS:0301");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_after_503_carry_the_same_message_id_and_payload_digest() {
    let a = node(0).await;
    let peer = fake::start(
        1,
        vec![Answer::Status(503), Answer::Status(502)],
        Answer::Receipt(ReceiptKind::Valid),
    )
    .await;
    let route = Route {
        endpoint: peer.url(),
        certificate: pki().identity(1).certificate,
    };
    let key = queue(&a);
    let w = worker(&a, route, quick_policy(5));
    assert_eq!(drive(&w, key).await, MessageState::Delivered);
    let seen = peer.seen();
    assert_eq!(seen.len(), 3);
    let cid = |s: &fake::Seen| {
        s.references
            .iter()
            .find(|r| r.0 == "cid:message")
            .cloned()
            .unwrap()
    };
    assert!(seen.iter().all(|s| s.message_id == seen[0].message_id));
    assert!(
        seen.iter().all(|s| cid(s) == cid(&seen[0])),
        "payload digest identical on every retry"
    );
    let rec = a.store.get_message(&key).unwrap().unwrap();
    assert_eq!(rec.attempts, 3);
    assert_eq!(
        rec.correlation.as4_message_id.as_deref(),
        Some(seen[0].message_id.as_str())
    );
    assert!(rec.evidence.iter().any(|e| e.kind == "as4-receipt"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_signal_is_final_in_plain_and_soap_fault_form() {
    let a = node(0).await;
    for fault in [false, true] {
        let peer = fake::start(1, vec![], Answer::Error { fault }).await;
        let route = Route {
            endpoint: peer.url(),
            certificate: pki().identity(1).certificate,
        };
        let key = queue(&a);
        let w = worker(&a, route, quick_policy(5));
        assert_eq!(drive(&w, key).await, MessageState::Failed);
        let rec = a.store.get_message(&key).unwrap().unwrap();
        assert_eq!(
            rec.attempts, 1,
            "no retry after an error of severity failure"
        );
        let err = rec.last_error.unwrap();
        assert!(
            err.contains("EBMS:0004") && err.contains("NOT_SERVICED"),
            "{err}"
        );
        assert!(rec.evidence.iter().any(|e| e.kind == "as4-error-signal"));
        assert_eq!(peer.seen().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_receiver_refusal_is_final_without_retry() {
    let (a, b) = (node(0).await, node(1).await);
    // B does not serve this recipient: EBMS:0004 NOT_SERVICED.
    let (out, _p) = common::prepared(&a, &XheSpec::message(ORG_A, "0203:unknown.test"));
    let attempt = a.sender.attempt(&out, &b.route()).await;
    let AttemptOutcome::Rejected {
        errors,
        fault,
        http_status,
        ..
    } = &attempt.outcome
    else {
        panic!("{:?}", attempt.outcome)
    };
    assert_eq!(errors[0].error_code, "EBMS:0004");
    assert_eq!(errors[0].detail.as_deref(), Some("NOT_SERVICED"));
    assert!(fault.is_some());
    assert_eq!(*http_status, 500);
    assert!(attempt.outcome.is_final());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_receipts_are_not_success_t29() {
    let a = node(0).await;
    // Control: the fake's correct receipt is accepted.
    let ok = fake::start(1, vec![], Answer::Receipt(ReceiptKind::Valid)).await;
    let (out, _p) = common::prepared(&a, &XheSpec::message(ORG_A, ORG_B));
    let route = |url: String| Route {
        endpoint: url,
        certificate: pki().identity(1).certificate,
    };
    let attempt = a.sender.attempt(&out, &route(ok.url())).await;
    assert!(
        matches!(attempt.outcome, AttemptOutcome::Delivered(_)),
        "{:?}",
        attempt.outcome
    );
    for (kind, why) in [
        (ReceiptKind::WrongRefToMessageId, "RefToMessageId"),
        (ReceiptKind::AlteredDigest, "NonRepudiationInformation"),
        (ReceiptKind::OtherSigner, "SMP certificate"),
        (ReceiptKind::Plain, "without NonRepudiationInformation"),
    ] {
        let bad = fake::start(1, vec![], Answer::Receipt(kind)).await;
        let attempt = a.sender.attempt(&out, &route(bad.url())).await;
        let AttemptOutcome::Retry(f) = &attempt.outcome else {
            panic!("{kind:?}: {:?}", attempt.outcome)
        };
        assert_eq!(f.code, Some("EBMS:0302"), "{kind:?}");
        assert!(f.reason.contains(why), "{kind:?}: {}", f.reason);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_with_untrusted_tls_certificate_is_not_sent_to_t34() {
    let a = node(0).await;
    let p = pki();
    // B's listener presents its AP certificate as TLS server certificate: not a TLS-CA cert.
    let b = common::node_with(
        1,
        common::NodeOptions {
            tls_server: Some(p.org(1).ap.clone()),
            ..Default::default()
        },
    )
    .await;
    let (out, _p) = common::prepared(&a, &XheSpec::message(ORG_A, ORG_B));
    let attempt = a.sender.attempt(&out, &b.route()).await;
    match &attempt.outcome {
        AttemptOutcome::Fail(f) | AttemptOutcome::Retry(f) => {
            assert_eq!(f.code, Some("EBMS:0005"));
            assert!(f.reason.contains("TLS"), "{}", f.reason);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        b.store
            .list_messages(&Default::default())
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_audit_has_the_ap_3_4_1_fields_t38() {
    let (a, b) = (node(0).await, node(1).await);
    let key = queue(&a);
    let w = worker(&a, b.route(), quick_policy(3));
    assert_eq!(drive(&w, key).await, MessageState::Delivered);
    let audit = a.store.audit(0, 1000).unwrap();
    let ev = audit
        .iter()
        .find(|e| e.action == "as4.outbound.delivered")
        .unwrap();
    assert_eq!(ev.message, Some(key));
    common::assert_fields(
        ev,
        &[
            "receiving_ap",
            "receiving_ap_certificate",
            "receipt_signature",
            "sent_at",
            "sender_participant",
            "recipient_participant",
            "as4_message_id",
            "as4_conversation_id",
        ],
    );
    assert_eq!(ev.detail["receiving_ap"], "AP0002-DEV");
    // The reception event is written in the record's own transaction, before the receipt
    // went out: it is there the moment the sender holds the receipt (no waiting).
    let ev = &b
        .store
        .audit(0, 10_000)
        .unwrap()
        .into_iter()
        .find(|e| e.action == "as4.inbound.accepted")
        .expect("written with the record");
    let record = b.store.get_message(ev.message.as_ref().unwrap()).unwrap();
    assert!(record.is_some(), "linked to the inbound record");
    common::assert_fields(
        ev,
        &[
            "sending_ap",
            "sending_ap_certificate",
            "sending_ap_signature",
            "received_at",
            "sender_participant",
            "recipient_participant",
            "as4_message_id",
            "as4_conversation_id",
        ],
    );
    assert_eq!(ev.detail["sending_ap"], "AP0001-DEV");
    assert_eq!(ev.detail["sender_participant"], ORG_A);
}
