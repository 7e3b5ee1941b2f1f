//! AP key rollover on a running MSH: the receiver's keys are replaced through `LiveKeys`
//! (what `sdkgw reload` does); the renewed key signs, and a message encrypted for the
//! previous AP certificate (a peer whose SMP cache still holds it) is still decrypted, its
//! receipt signed with the key that peer knows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{ORG_A, ORG_B, XheSpec, node, pki, prepared};
use sdkgw_as4::msh::{ApIdentity, AttemptOutcome, MshKeys, Route};
use sdkgw_certs::{Certificate, PrivateKey, devpki};

/// A successor of organisation `i`'s AP certificate (new key and serial, same CA and
/// subject). Each test process issues its own, so parallel test processes never share files.
fn renewed_ap(i: usize) -> (Certificate, PrivateKey) {
    let pki = pki();
    let name = format!("ap-renewed-{}", std::process::id());
    let pair = devpki::renew(
        &pki.root,
        &pki.org(i).participant,
        devpki::Renewal::Ap,
        &name,
    )
    .unwrap();
    pki.pair(&pair)
}

/// Replaces `receiver`'s identity with `current` (+ `previous` for decryption), trust unchanged.
fn rotate(node: &common::Node, current: (Certificate, PrivateKey), previous: Option<&ApIdentity>) {
    let mut identity = ApIdentity::new(current.0, Arc::new(current.1), None).unwrap();
    if let Some(p) = previous {
        identity = identity
            .with_previous([(p.certificate.clone(), Arc::clone(&p.key))])
            .unwrap();
    }
    let live = node.receiver.keys();
    let trust = Arc::clone(&live.current().trust);
    live.replace(MshKeys {
        identity: Arc::new(identity),
        trust,
    });
}

fn route_for(node: &common::Node, certificate: &Certificate) -> Route {
    Route {
        endpoint: node.url(),
        certificate: certificate.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_encrypted_for_the_previous_ap_certificate_is_decrypted_after_rollover() {
    let (a, b) = (node(0).await, node(1).await);
    let old = b.identity.clone();
    let new = renewed_ap(1);
    let new_cert = new.0.clone();
    assert_ne!(
        new_cert, old.certificate,
        "the renewal is a new certificate"
    );
    rotate(&b, new, Some(&old));

    // A's SMP cache still holds B's old certificate.
    let spec = XheSpec::message(ORG_A, ORG_B);
    let (out, _payload) = prepared(&a, &spec);
    let attempt = a
        .sender
        .attempt(&out, &route_for(&b, &old.certificate))
        .await;
    let AttemptOutcome::Delivered(d) = &attempt.outcome else {
        panic!("old certificate: not delivered: {:?}", attempt.outcome);
    };
    // The sender verified the receipt against the certificate it encrypted for (the old one).
    assert!(!d.receipt.is_empty());

    // A peer that fetched the renewed certificate is served too, by the current key.
    let spec = XheSpec::message(ORG_A, ORG_B);
    let (out, _payload2) = prepared(&a, &spec);
    let attempt = a.sender.attempt(&out, &route_for(&b, &new_cert)).await;
    assert!(
        matches!(attempt.outcome, AttemptOutcome::Delivered(_)),
        "new certificate: {:?}",
        attempt.outcome
    );
    assert_eq!(b.handoffs.0.lock().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_previous_key_a_message_for_the_old_certificate_is_refused() {
    let (a, b) = (node(0).await, node(1).await);
    let old = b.identity.clone();
    rotate(&b, renewed_ap(1), None);

    let spec = XheSpec::message(ORG_A, ORG_B);
    let (out, _payload) = prepared(&a, &spec);
    let attempt = a
        .sender
        .attempt(&out, &route_for(&b, &old.certificate))
        .await;
    match &attempt.outcome {
        AttemptOutcome::Rejected { errors, .. } => {
            assert!(
                errors.iter().any(|e| e.error_code == "EBMS:0102"),
                "errors: {errors:?}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(b.handoffs.0.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_rollover_the_sender_signs_with_the_renewed_key() {
    let (a, b) = (node(0).await, node(1).await);
    let old_a = a.identity.clone();
    let new = renewed_ap(0);
    let new_cert = new.0.clone();
    let mut identity = ApIdentity::new(new.0, Arc::new(new.1), None).unwrap();
    identity = identity
        .with_previous([(old_a.certificate.clone(), Arc::clone(&old_a.key))])
        .unwrap();
    let live = a.sender.keys();
    let trust = Arc::clone(&live.current().trust);
    live.replace(MshKeys {
        identity: Arc::new(identity),
        trust,
    });
    assert_eq!(a.sender.identity().certificate, new_cert);

    let spec = XheSpec::message(ORG_A, ORG_B);
    let (out, _payload) = prepared(&a, &spec);
    let attempt = a.sender.attempt(&out, &b.route()).await;
    assert!(
        matches!(attempt.outcome, AttemptOutcome::Delivered(_)),
        "{:?}",
        attempt.outcome
    );
    // The signature B verified was made with A's renewed certificate (its BST).
    let envelope = String::from_utf8(attempt.envelope.unwrap()).unwrap();
    let bst = base64_der(&new_cert);
    assert!(envelope.contains(&bst), "the renewed certificate signs");
    assert!(!envelope.contains(&base64_der(&old_a.certificate)));
}

fn base64_der(c: &Certificate) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(c.der())
}
