//! Stage 4 of the inbound pipeline (B1.3.3 row 13, hardening H-39), two gateways end to end:
//! when the SMP lists another access point for the sender than the one that sent the message,
//! the receiver answers REJECTED / BV `security` and files nothing — also when the listed AP
//! certificate carries the sending AP's CN but belongs to another environment. (The usual
//! case, the sending AP listed, is `e2e_pipeline`'s first test.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod e2e_support;

use std::time::Duration;

use e2e_support::{A, B, B_BOX, pki, start_org, start_smp, wait_for};
use sdkgw_certs::load_certificates;
use sdkgw_schemas::ParticipantId;
use sdkgw_store::MessageState;

const LIMIT: Duration = Duration::from_secs(60);

/// B's record of `id` once rejected, with its REJECTED / BV `security` reason.
async fn rejected_at(b: &e2e_support::Org, id: &str) -> sdkgw_store::MessageRecord {
    let rejected = wait_for(LIMIT, async || {
        let r = b.inbound(id).into_iter().next()?;
        (r.state != MessageState::Received).then_some(r)
    })
    .await;
    let Some(r) = rejected else {
        panic!("B did not decide: {:?}", b.inbound(id));
    };
    assert_eq!(r.state, MessageState::Rejected, "{r:?}");
    let error = r.last_error.clone().unwrap_or_default();
    assert!(error.starts_with("REJECTED"), "{error}");
    assert!(
        error.contains("BV security at NA")
            && error.contains(
                "the sending access point is not the one the address book lists for the sender"
            ),
        "{error}"
    );
    assert!(
        r.evidence.iter().any(|e| e.kind == "meddelandekvittens"),
        "the REJECTED receipt is stored to be sent: {r:?}"
    );
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_from_an_access_point_the_smp_does_not_list_for_the_sender_is_rejected_bv_security()
{
    let pki = pki();
    let smp = start_smp(&pki).await;
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = start_org(&pki, &smp, "orga.test", da.path()).await;
    let mut b = start_org(&pki, &smp, "orgb.test", db.path()).await;
    // The SMP says A's participant is served by B's access point; A's AP sends anyway.
    let (a_id, b_id): (ParticipantId, ParticipantId) = (A.parse().unwrap(), B.parse().unwrap());
    let other_ap = smp.fake.participant(&b_id).unwrap().ap_certificate;
    smp.fake
        .update_participant(&a_id, |p| p.ap_certificate = other_ap.clone());
    let id = a.send(B, B_BOX, "From the wrong AP", None).await;

    let r = rejected_at(&b, &id).await;
    assert!(r.mailbox.is_none(), "a rejected message is filed nowhere");
    let (code, _) = b.get(&id).await;
    assert_eq!(code, 404);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ap_certificate_of_another_environment_with_the_senders_cn_is_not_the_sending_ap() {
    let pki = pki();
    let smp = start_smp(&pki).await;
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = start_org(&pki, &smp, "orga.test", da.path()).await;
    let mut b = start_org(&pki, &smp, "orgb.test", db.path()).await;
    // The SMP lists for A an AP certificate of another environment's CA that carries the CN
    // of A's AP (AP0001-DEV): by name it is A's AP, but it is not the AP that signed.
    let foreign = load_certificates(&pki.join("negative/foreign-ap.pem"), None)
        .unwrap()
        .remove(0);
    let a_id: ParticipantId = A.parse().unwrap();
    let published = smp.fake.participant(&a_id).unwrap().ap_certificate;
    assert_eq!(foreign.common_name(), published.common_name());
    smp.fake
        .update_participant(&a_id, |p| p.ap_certificate = foreign.clone());
    let id = a.send(B, B_BOX, "Named like the right AP", None).await;

    let r = rejected_at(&b, &id).await;
    assert!(r.mailbox.is_none(), "a rejected message is filed nowhere");
    a.stop().await;
    b.stop().await;
}
