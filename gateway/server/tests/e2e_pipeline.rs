//! Two gateways end to end (issue 8 §1, §2, §8): organisation A's mailbox API submission is
//! sealed, delivered by AS4 over mutual TLS to organisation B, opened and filed in B's function
//! mailbox, and B's Meddelandekvittens comes back and settles the message at A — and the
//! REJECTED paths (unknown function address, a signature that is not the sender's CertPub
//! certificate) show at A as MESSAGE_EXCHANGE_ERROR with the receipt's line responses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod e2e_support;

use std::time::Duration;

use e2e_support::{A, A_BOX, B, B_BOX, pki, start_org, start_smp, wait_status};
use sdkgw_store::{Direction, MessageState};

const LIMIT: Duration = Duration::from_secs(60);

fn events(v: &serde_json::Value) -> String {
    v["data"]["attributes"]["events"].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_reaches_the_other_mailbox_and_its_accepted_receipt_settles_it_at_the_sender() {
    let pki = pki();
    let smp = start_smp(&pki).await;
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = start_org(&pki, &smp, "orga.test", da.path()).await;
    let mut b = start_org(&pki, &smp, "orgb.test", db.path()).await;
    let pdf = b"%PDF-1.4 the attachment\n%%EOF\n".repeat(100);
    let id = a.send(B, B_BOX, "End to end", Some(&pdf)).await;

    let status = wait_status(&a, &id, &["ACCEPTED", "MESSAGE_EXCHANGE_ERROR"], LIMIT).await;
    let out = a.record(&id, Direction::Outbound).unwrap();
    assert_eq!(status, "ACCEPTED", "{out:?}");
    assert_eq!(out.state, MessageState::RecipientAccepted);
    assert!(out.evidence.iter().any(|e| e.kind == "as4-receipt"));
    assert!(out.evidence.iter().any(|e| e.kind == "meddelandekvittens"));
    let (_, shown) = a.get(&id).await;
    let ev = events(&shown);
    for code in ["ACKNOWLEDGE", "WAITING_FOR_RECEIPT", "ACCEPTED"] {
        assert!(ev.contains(code), "{code} missing in {ev}");
    }

    // B filed it exactly once, in its function mailbox, with the attachment, shown as NEW.
    let inbound = b.inbound(&id);
    assert_eq!(inbound.len(), 1, "{inbound:?}");
    let filed = &inbound[0];
    assert_eq!(filed.state, MessageState::Filed);
    assert_eq!(filed.mailbox.as_deref(), Some(B_BOX));
    assert_eq!(filed.correlation.receipt_id, out.correlation.receipt_id);
    let (code, got) = b.get(&id).await;
    assert_eq!(code, 200, "{got}");
    assert_eq!(got["data"]["attributes"]["messageStatus"], "NEW");
    assert_eq!(got["data"]["attributes"]["sender"], A);
    let files = got["data"]["attributes"]["digitalDocument"][0]["contentFiles"].to_string();
    assert!(files.contains("bilaga.pdf"), "{got}");

    // B's receipt went out on the receipt leg and is finished there.
    let receipt_id = filed.correlation.receipt_id.clone().unwrap();
    let leg = b.record(&receipt_id, Direction::Outbound).unwrap();
    assert_eq!(leg.state, MessageState::RecipientAccepted, "{leg:?}");
    assert!(leg.mailbox.is_none());
    assert_eq!(
        leg.correlation.as4_message_id.as_deref(),
        Some(format!("receipt-{}@sdkgw", filed.key).as_str())
    );
    // A consumed it: never answered, never in a mailbox.
    let consumed = a.inbound(&receipt_id);
    assert_eq!(consumed.len(), 1);
    assert_eq!(consumed[0].state, MessageState::Deleted);
    assert!(consumed[0].mailbox.is_none());
    assert!(
        a.record(&receipt_id, Direction::Outbound).is_none(),
        "a receipt got a receipt"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_function_address_is_rejected_bv_not_found_and_shows_at_the_sender() {
    let pki = pki();
    let smp = start_smp(&pki).await;
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = start_org(&pki, &smp, "orga.test", da.path()).await;
    let mut b = start_org(&pki, &smp, "orgb.test", db.path()).await;
    let id = a.send(B, e2e_support::STALE_BOX, "Wrong box", None).await;

    let status = wait_status(&a, &id, &["ACCEPTED", "MESSAGE_EXCHANGE_ERROR"], LIMIT).await;
    assert_eq!(status, "MESSAGE_EXCHANGE_ERROR");
    let out = a.record(&id, Direction::Outbound).unwrap();
    assert_eq!(out.state, MessageState::RecipientRejected);
    let error = out.last_error.clone().unwrap();
    assert!(error.contains("BV not-found"), "{error}");
    let (_, shown) = a.get(&id).await;
    let ev = events(&shown);
    assert!(
        ev.contains("REJECTED") && ev.contains("BV not-found"),
        "{ev}"
    );

    // B: rejected, in no mailbox, its receipt stored as evidence.
    let inbound = b.inbound(&id);
    assert_eq!(inbound.len(), 1);
    assert_eq!(inbound[0].state, MessageState::Rejected);
    assert!(inbound[0].mailbox.is_none());
    assert!(
        inbound[0]
            .evidence
            .iter()
            .any(|e| e.kind == "meddelandekvittens")
    );
    let (code, _) = b.get(&id).await;
    assert_eq!(code, 404);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_that_is_not_the_senders_certpub_certificate_is_rejected_sig_after_one_refetch() {
    let pki = pki();
    let smp = start_smp(&pki).await;
    // The SMP publishes B's signing certificate for A: A's real signature cannot match.
    let wrong = e2e_support::Smp::signing_cert(&pki, "orgb.test");
    smp.fake
        .update_participant(&A.parse().unwrap(), |p| p.o2o_signing = vec![wrong]);
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = start_org(&pki, &smp, "orga.test", da.path()).await;
    let mut b = start_org(&pki, &smp, "orgb.test", db.path()).await;
    a.notify_by_email();
    let id = a.send(B, B_BOX, "Signed by someone else", None).await;

    let status = wait_status(&a, &id, &["ACCEPTED", "MESSAGE_EXCHANGE_ERROR"], LIMIT).await;
    assert_eq!(status, "MESSAGE_EXCHANGE_ERROR");
    let out = a.record(&id, Direction::Outbound).unwrap();
    assert_eq!(out.state, MessageState::RecipientRejected);
    let error = out.last_error.clone().unwrap();
    assert!(
        error.contains("SIG security at NA") && error.contains("Sender signature not validated"),
        "{error}"
    );
    let (_, shown) = a.get(&id).await;
    assert!(events(&shown).contains("SIG security"), "{shown}");
    // The sender's mailbox is told (the queue holds the notification; no relay in the test).
    assert!(a.pending_notifications() >= 1);
    // B asked the SMP twice for A's metadata: the lookup, and the one refetch on mismatch.
    let asked = smp
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.contains("orga.test") && r.path.contains("ApplicationResponse"))
        .count();
    assert!(asked >= 2, "{asked} lookups of A's receipt metadata");
    let inbound = b.inbound(&id);
    assert_eq!(inbound[0].state, MessageState::Rejected);
    assert!(
        inbound[0].mailbox.is_none(),
        "a rejected message is filed nowhere"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signer_rotated_since_the_cached_lookup_is_refetched_once_and_accepted() {
    let pki = pki();
    let smp = start_smp(&pki).await;
    let a_id: sdkgw_schemas::ParticipantId = A.parse().unwrap();
    let right = e2e_support::Smp::signing_cert(&pki, "orga.test");
    let wrong = e2e_support::Smp::signing_cert(&pki, "orgb.test");
    smp.fake
        .update_participant(&a_id, |p| p.o2o_signing = vec![wrong]);
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = start_org(&pki, &smp, "orga.test", da.path()).await;
    let mut b = start_org(&pki, &smp, "orgb.test", db.path()).await;
    // B caches A's old (here: wrong) certificate, then A "rotates" to its real one.
    let lists = sdkgw_schemas::codelists();
    let model = sdkgw_schemas::TransportModel::ExtSigenc;
    let cached = b
        .gateway()
        .shared
        .address_book
        .book
        .signing_certificates(
            &a_id,
            lists.receipt_document(model),
            Some(lists.sdk_message_document(model)),
        )
        .await
        .unwrap();
    assert_ne!(cached, vec![right.clone()]);
    smp.fake
        .update_participant(&a_id, |p| p.o2o_signing = vec![right]);

    let id = a.send(B, B_BOX, "After rotation", None).await;
    let status = wait_status(&a, &id, &["ACCEPTED", "MESSAGE_EXCHANGE_ERROR"], LIMIT).await;
    let out = a.record(&id, Direction::Outbound).unwrap();
    assert_eq!(status, "ACCEPTED", "{:?}", out.last_error);
    assert_eq!(b.inbound(&id)[0].state, MessageState::Filed);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_redelivery_resends_the_stored_receipt_and_files_nothing_twice() {
    let pki = pki();
    let smp = start_smp(&pki).await;
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = start_org(&pki, &smp, "orga.test", da.path()).await;
    let mut b = start_org(&pki, &smp, "orgb.test", db.path()).await;
    let id = a.send(B, B_BOX, "Twice", None).await;
    assert_eq!(
        wait_status(&a, &id, &["ACCEPTED", "MESSAGE_EXCHANGE_ERROR"], LIMIT).await,
        "ACCEPTED"
    );
    // A's AS4 layer sends the very same XHE again (a new AS4 MessageId: not an AS4 duplicate).
    let out = a.record(&id, Direction::Outbound).unwrap();
    let store = a.store().clone();
    let xhe = out.content("xhe").unwrap().clone();
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("again.xml");
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut store.open_blob(&xhe).unwrap(), &mut bytes).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    let spool = a.gateway().shared.spool_dir.clone();
    let again = tokio::task::spawn_blocking(move || {
        sdkgw_as4::msh::submit(
            store.as_ref(),
            &path,
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
    a.gateway().pipeline.wake_delivery();

    let receipt_id = out.correlation.receipt_id.clone().unwrap();
    let both = e2e_support::wait_for(LIMIT, async || {
        let legs: Vec<_> = b
            .store()
            .find_by_id(sdkgw_store::IdKind::XheId, &receipt_id)
            .unwrap()
            .into_iter()
            .filter_map(|k| b.store().get_message(&k).unwrap())
            .filter(|r| r.state == MessageState::RecipientAccepted)
            .collect();
        (legs.len() == 2).then_some(legs)
    })
    .await;
    assert!(
        both.is_some(),
        "the stored receipt was not sent a second time"
    );
    let inbound = b.inbound(&id);
    assert_eq!(inbound.len(), 2);
    let filed: Vec<_> = inbound
        .iter()
        .filter(|r| r.state == MessageState::Filed)
        .collect();
    assert_eq!(filed.len(), 1, "filed twice: {inbound:?}");
    let copy = inbound
        .iter()
        .find(|r| r.state == MessageState::Rejected)
        .unwrap();
    assert!(copy.mailbox.is_none());
    assert!(
        copy.history
            .iter()
            .any(|h| h.note.as_deref().is_some_and(|n| n.contains("re-delivery")))
    );
    assert_eq!(
        copy.correlation.receipt_id.as_deref(),
        Some(receipt_id.as_str())
    );
    // B's mailbox lists the message once.
    let (code, list) = b
        .request(
            "GET",
            "/sdk/messages",
            &[("authorization", format!("Bearer {}", b.token))],
            None,
        )
        .await;
    assert_eq!(code, 200, "{list}");
    let listed = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["id"] == id.as_str())
        .count();
    assert_eq!(listed, 1);
    // A received the same receipt twice and settled one message with it; nothing answered.
    let _ = again;
    assert!(a.record(&receipt_id, Direction::Outbound).is_none());
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipient_unknown_to_smp_fails_before_sending_and_notifies() {
    let pki = pki();
    let smp = start_smp(&pki).await;
    let da = tempfile::tempdir().unwrap();
    let mut a = start_org(&pki, &smp, "orga.test", da.path()).await;
    a.notify_by_email();
    let id = a
        .send(e2e_support::NOBODY, "nobody-inbox", "To nobody", None)
        .await;
    let status = wait_status(&a, &id, &["ACCEPTED", "MESSAGE_EXCHANGE_ERROR"], LIMIT).await;
    assert_eq!(status, "MESSAGE_EXCHANGE_ERROR");
    let out = a.record(&id, Direction::Outbound).unwrap();
    assert_eq!(out.state, MessageState::Failed);
    assert_eq!(out.attempts, 0, "nothing was sent");
    let error = out.last_error.unwrap();
    assert!(error.contains("cannot receive"), "{error}");
    assert!(a.pending_notifications() >= 1);
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smp_down_is_retried_per_policy_then_message_exchange_error() {
    let pki = pki();
    let smp = start_smp(&pki).await;
    let da = tempfile::tempdir().unwrap();
    let mut a = start_org(&pki, &smp, "orga.test", da.path()).await;
    a.notify_by_email();
    let e2e_support::Smp { running, .. } = smp;
    running.shutdown().await;
    let id = a.send(B, B_BOX, "SMP is down", None).await;
    // [retry] in the test config: 5 attempts, 1 s then 2 s apart.
    let status = wait_status(&a, &id, &["ACCEPTED", "MESSAGE_EXCHANGE_ERROR"], LIMIT).await;
    assert_eq!(status, "MESSAGE_EXCHANGE_ERROR");
    let out = a.record(&id, Direction::Outbound).unwrap();
    assert_eq!(out.state, MessageState::Failed);
    let error = out.last_error.unwrap();
    assert!(error.contains("unavailable for 5 attempts"), "{error}");
    let seconds = (out.state_since - out.created_at).whole_seconds();
    assert!(seconds >= 6, "gave up after {seconds}s, before the retries");
    assert!(a.pending_notifications() >= 1);
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_receiving_ap_certificate_is_refetched_after_the_refusal_and_the_retry_delivers() {
    let pki = pki();
    let smp = start_smp(&pki).await;
    let b_id: sdkgw_schemas::ParticipantId = B.parse().unwrap();
    let ap = |org: &str| {
        sdkgw_certs::load_certificates(&pki.join(format!("orgs/{org}/ap.pem")), None)
            .unwrap()
            .remove(0)
    };
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = start_org(&pki, &smp, "orga.test", da.path()).await;
    let mut b = start_org(&pki, &smp, "orgb.test", db.path()).await;
    // A caches an old AP certificate for B (here: A's own), then B's SMP entry is current.
    let (stale, current) = (ap("orga.test"), ap("orgb.test"));
    smp.fake
        .update_participant(&b_id, |p| p.ap_certificate = stale);
    let doc = sdkgw_schemas::codelists()
        .sdk_message_document(sdkgw_schemas::TransportModel::ExtSigenc)
        .clone();
    let book = a.gateway().shared.address_book.book.clone();
    let cached = book.route(&b_id, &doc).await.unwrap();
    assert_ne!(cached.ap_certificate, current);
    smp.fake
        .update_participant(&b_id, |p| p.ap_certificate = current);

    let id = a.send(B, B_BOX, "Rotated AP certificate", None).await;
    let status = wait_status(&a, &id, &["ACCEPTED", "MESSAGE_EXCHANGE_ERROR"], LIMIT).await;
    let out = a.record(&id, Direction::Outbound).unwrap();
    assert_eq!(status, "ACCEPTED", "{:?} {:?}", out.last_error, out.history);
    assert_eq!(out.attempts, 2, "{:?}", out.history);
    assert!(
        out.history.iter().any(|h| h
            .note
            .as_deref()
            .is_some_and(|n| n.contains("fresh SMP metadata"))),
        "{:?}",
        out.history
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_content_limit_is_the_receivers_too_long_limit_measured_on_decoded_content() {
    let pki = pki();
    let smp = start_smp(&pki).await;
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = start_org(&pki, &smp, "orga.test", da.path()).await;
    // B accepts at most 3004 bytes of content: "Hej!" (4) + a file of 3000 bytes fits.
    let limit = [("SDKGW_API__MAX_CONTENT_BYTES", "3004")];
    let mut b = e2e_support::start_org_with(&pki, &smp, "orgb.test", db.path(), &limit).await;
    let fits = a.send(B, B_BOX, "At the limit", Some(&[b'x'; 3000])).await;
    let over = a.send(B, B_BOX, "One byte over", Some(&[b'x'; 3001])).await;
    let finals = ["ACCEPTED", "MESSAGE_EXCHANGE_ERROR"];
    assert_eq!(wait_status(&a, &fits, &finals, LIMIT).await, "ACCEPTED");
    assert_eq!(
        wait_status(&a, &over, &finals, LIMIT).await,
        "MESSAGE_EXCHANGE_ERROR"
    );
    let error = a
        .record(&over, Direction::Outbound)
        .unwrap()
        .last_error
        .unwrap();
    assert!(error.contains("BV too-long"), "{error}");
    // B's own API refuses the same content on submission (413): the two never disagree.
    let (code, _) = b
        .post_message(A, A_BOX, "From B, one byte over", Some(&[b'x'; 3001]))
        .await;
    assert_eq!(code, 413);
    a.stop().await;
    b.stop().await;
}
