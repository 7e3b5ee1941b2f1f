//! Two in-process MSHs over real mutual TLS on 127.0.0.1: both directions, both legs,
//! receipts with NonRepudiationInformation, durable storage before the receipt, duplicates,
//! the AP-3.4.1 audit fields, concurrency (AS4 digest §7.2 T01–T04, T06, T25, T38, T40).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ORG_A, ORG_B, XheSpec, content, evidence, node};
use sdkgw_as4::ebms::Leg;
use sdkgw_as4::msh::handoff::{RECEIPT_EVIDENCE, USER_MESSAGE_EVIDENCE, XHE_CONTENT};
use sdkgw_as4::msh::{AttemptOutcome, prepare};
use sdkgw_schemas::Environment;
use sdkgw_store::{ListFilter, MessageState};
use sdkgw_xml_security::xml::Document;
use time::OffsetDateTime;

fn fed() -> &'static str {
    Environment::Dev.federation().as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_is_stored_durably_then_acknowledged_with_a_verified_receipt() {
    let (a, b) = (node(0).await, node(1).await);
    let spec = XheSpec::message(ORG_A, ORG_B);
    let xhe = spec.write(&a.spool);
    let (out, _payload) = prepare(
        &xhe,
        Some(Leg::Message),
        fed(),
        &a.spool,
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let attempt = a.sender.attempt(&out, &b.route()).await;
    let AttemptOutcome::Delivered(d) = &attempt.outcome else {
        panic!("not delivered: {:?}", attempt.outcome);
    };
    // The receiver stored exactly one record, in `received`, before answering.
    let records = b.store.list_messages(&ListFilter::default()).unwrap();
    assert_eq!(records.len(), 1);
    let rec = b.store.get_message(&records[0].key).unwrap().unwrap();
    assert_eq!(rec.state, MessageState::Received);
    assert_eq!(
        rec.correlation.as4_message_id.as_deref(),
        Some(out.message_id.as_str())
    );
    assert_eq!(rec.correlation.xhe_id.as_deref(), Some(spec.id.as_str()));
    assert_eq!(rec.sender.as_deref(), Some(ORG_A));
    assert_eq!(rec.recipient.as_deref(), Some(ORG_B));
    // XHE delivered byte-identical; the receipt we got is the one stored with the record.
    assert_eq!(
        content(b.store.as_ref(), &rec.key, XHE_CONTENT),
        spec.bytes()
    );
    assert_eq!(
        evidence(b.store.as_ref(), &rec.key, RECEIPT_EVIDENCE),
        d.receipt
    );
    let header = evidence(b.store.as_ref(), &rec.key, USER_MESSAGE_EVIDENCE);
    assert_eq!(Some(header), attempt.envelope);
    let handed = b.handoffs.0.lock().unwrap().clone();
    assert_eq!(handed.len(), 1);
    assert_eq!(handed[0].key, rec.key);
    assert_eq!(handed[0].leg, Leg::Message);
    assert_eq!(handed[0].from_ap, "AP0001-DEV");
}

async fn deliver(
    from: &common::Node,
    to: &common::Node,
    spec: &XheSpec,
    leg: Leg,
) -> (sdkgw_as4::msh::Outgoing, sdkgw_as4::msh::Attempt) {
    let xhe = spec.write(&from.spool);
    let (out, payload) = prepare(
        &xhe,
        Some(leg),
        fed(),
        &from.spool,
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let attempt = from.sender.attempt(&out, &to.route()).await;
    std::mem::forget(payload); // keep the payload file for the test's lifetime
    (out, attempt)
}

fn delivered(a: &sdkgw_as4::msh::Attempt) -> &sdkgw_as4::msh::outbound::Delivered {
    match &a.outcome {
        AttemptOutcome::Delivered(d) => d,
        other => panic!("not delivered: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_directions_and_both_legs_are_delivered() {
    let (a, b) = (node(0).await, node(1).await);
    let cases = [
        (&a, &b, XheSpec::message(ORG_A, ORG_B), Leg::Message),
        (&b, &a, XheSpec::receipt(ORG_B, ORG_A), Leg::Receipt),
        (&b, &a, XheSpec::message(ORG_B, ORG_A), Leg::Message),
        (&a, &b, XheSpec::receipt(ORG_A, ORG_B), Leg::Receipt),
    ];
    for (from, to, spec, leg) in cases {
        let (out, attempt) = deliver(from, to, &spec, leg).await;
        delivered(&attempt);
        let keys = to
            .store
            .find_by_id(sdkgw_store::IdKind::As4MessageId, &out.message_id)
            .unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(
            content(to.store.as_ref(), &keys[0], XHE_CONTENT),
            spec.bytes()
        );
        let handed = to.handoffs.0.lock().unwrap().clone();
        let h = handed.iter().find(|h| h.key == keys[0]).unwrap();
        assert_eq!(h.leg, leg);
        assert_eq!(h.xhe_id, spec.id);
    }
    assert_eq!(a.handoffs.0.lock().unwrap().len(), 2);
    assert_eq!(b.handoffs.0.lock().unwrap().len(), 2);
}

/// The text of the first element `local` in `ns` (test helper over the hardened tree).
fn find<'d>(
    doc: &'d Document,
    ns: &str,
    local: &str,
) -> Vec<sdkgw_xml_security::xml::ElementRef<'d>> {
    doc.elements().filter(|e| e.is(Some(ns), local)).collect()
}

const EB: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/";
const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
const WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_message_carries_exactly_the_profile_values_and_algorithms() {
    let (a, b) = (node(0).await, node(1).await);
    let spec = XheSpec::message(ORG_A, ORG_B);
    let (out, attempt) = deliver(&a, &b, &spec, Leg::Message).await;
    delivered(&attempt);
    let env = attempt.envelope.clone().unwrap();
    let doc = Document::parse(env, &Default::default()).unwrap();
    let text = |local: &str| find(&doc, EB, local).first().unwrap().trimmed_text();
    let attr = |e: &sdkgw_xml_security::xml::ElementRef<'_>, n: &str| {
        e.attribute(None, n).unwrap().to_owned()
    };
    // §3 header values (T04).
    let um = find(&doc, EB, "UserMessage")[0];
    assert_eq!(
        attr(&um, "mpc"),
        "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/defaultMPC"
    );
    let party_ids = find(&doc, EB, "PartyId");
    assert_eq!(party_ids.len(), 2);
    for (p, want) in party_ids.iter().zip(["AP0001-DEV", "AP0002-DEV"]) {
        assert_eq!(p.trimmed_text(), want);
        assert_eq!(
            attr(p, "type"),
            "urn:fdc:digg.se:edelivery:transportprofile:as4:partytype:ap"
        );
    }
    let roles: Vec<String> = find(&doc, EB, "Role")
        .iter()
        .map(|r| r.trimmed_text())
        .collect();
    assert_eq!(
        roles,
        [
            "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/initiator",
            "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/responder",
        ]
    );
    let service = find(&doc, EB, "Service")[0];
    assert_eq!(service.trimmed_text(), "bdx:noprocess");
    assert_eq!(attr(&service, "type"), "urn:fdc:digg.se:edelivery:process");
    assert_eq!(
        text("Action"),
        "busdox-docid-qns::urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc"
    );
    assert_eq!(
        text("ConversationId"),
        spec.id,
        "ConversationId = XHE id (TP-2.7.a)"
    );
    assert_eq!(text("MessageId"), out.message_id);
    let props: Vec<(String, String, Option<String>)> = find(&doc, EB, "Property")
        .iter()
        .map(|p| {
            (
                attr(p, "name"),
                p.trimmed_text(),
                p.attribute(None, "type").map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        props,
        vec![
            (
                "originalSender".into(),
                ORG_A.into(),
                Some("iso6523-actorid-upis".into())
            ),
            (
                "finalRecipient".into(),
                ORG_B.into(),
                Some("iso6523-actorid-upis".into())
            ),
            ("MimeType".into(), "text/xml".into(), None),
            ("CompressionType".into(), "application/gzip".into(), None),
        ]
    );
    assert_eq!(attr(&find(&doc, EB, "PartInfo")[0], "href"), "cid:message");
    // Algorithms (T06): only the profile's.
    let algs = |local: &str, ns: &str| -> Vec<String> {
        find(&doc, ns, local)
            .iter()
            .map(|e| attr(e, "Algorithm"))
            .collect()
    };
    assert_eq!(
        algs("SignatureMethod", DS),
        ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
    );
    assert_eq!(
        algs("CanonicalizationMethod", DS),
        ["http://www.w3.org/2001/10/xml-exc-c14n#"]
    );
    assert!(
        algs("DigestMethod", DS)
            .iter()
            .all(|d| d == "http://www.w3.org/2001/04/xmlenc#sha256")
    );
    let methods = algs("EncryptionMethod", XENC);
    assert!(
        methods.contains(&"http://www.w3.org/2009/xmlenc11#rsa-oaep".to_owned()),
        "{methods:?}"
    );
    assert!(methods.contains(&"http://www.w3.org/2009/xmlenc11#aes128-gcm".to_owned()));
    assert_eq!(
        algs("MGF", "http://www.w3.org/2009/xmlenc11#"),
        ["http://www.w3.org/2009/xmlenc11#mgf1sha256"]
    );
    let ed = find(&doc, XENC, "EncryptedData")[0];
    assert_eq!(
        attr(&ed, "Type"),
        "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Only"
    );
    assert_eq!(
        attr(&find(&doc, XENC, "CipherReference")[0], "URI"),
        "cid:message"
    );
    let bsts = find(&doc, WSSE, "BinarySecurityToken");
    assert_eq!(bsts.len(), 2, "sender and recipient tokens (BST policy)");
    assert!(
        bsts.iter()
            .all(|b| attr(b, "ValueType").ends_with("#X509v3"))
    );
    // The header is signed, not encrypted; the references cover Messaging, Body, Timestamp
    // and the attachment.
    assert_eq!(find(&doc, EB, "Messaging").len(), 1);
    let uris: Vec<String> = find(&doc, DS, "Reference")
        .iter()
        .map(|r| attr(r, "URI"))
        .collect();
    assert_eq!(uris.len(), 4, "{uris:?}");
    assert!(uris.contains(&"cid:message".to_owned()));
    let transforms = algs("Transform", DS);
    assert!(transforms.contains(&"http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Signature-Transform".to_owned()));
    // Security header order (Strict layout): Timestamp, BSTs, EncryptedKey, EncryptedData, Signature.
    let security = find(&doc, WSSE, "Security")[0];
    let order: Vec<&str> = security.child_elements().map(|c| c.local_name()).collect();
    assert_eq!(
        order,
        [
            "Timestamp",
            "BinarySecurityToken",
            "BinarySecurityToken",
            "EncryptedKey",
            "EncryptedData",
            "Signature"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_is_acknowledged_again_and_delivered_once() {
    let (a, b) = (node(0).await, node(1).await);
    let spec = XheSpec::message(ORG_A, ORG_B);
    let xhe = spec.write(&a.spool);
    let (out, _p) = prepare(&xhe, None, fed(), &a.spool, OffsetDateTime::now_utc()).unwrap();
    let first = a.sender.attempt(&out, &b.route()).await;
    let second = a.sender.attempt(&out, &b.route()).await;
    let (d1, d2) = (delivered(&first), delivered(&second));
    assert_ne!(
        d1.receipt_message_id, d2.receipt_message_id,
        "each transmission gets its receipt"
    );
    assert_eq!(
        first.references.iter().find(|r| r.0 == "cid:message"),
        second.references.iter().find(|r| r.0 == "cid:message"),
        "same payload digest on the retry"
    );
    assert_eq!(
        b.store.list_messages(&ListFilter::default()).unwrap().len(),
        1
    );
    assert_eq!(b.handoffs.0.lock().unwrap().len(), 1, "delivered once");
    common::audit_event(b.store.as_ref(), "as4.inbound.duplicate").await;
    // The same MessageId with other content is refused, the original kept (H-43).
    let other = XheSpec::message(ORG_A, ORG_B).write(&a.spool);
    let (mut forged, _p2) =
        prepare(&other, None, fed(), &a.spool, OffsetDateTime::now_utc()).unwrap();
    forged.message_id = out.message_id.clone();
    let third = a.sender.attempt(&forged, &b.route()).await;
    match &third.outcome {
        AttemptOutcome::Rejected { errors, .. } => assert_eq!(errors[0].error_code, "EBMS:0003"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        b.store.list_messages(&ListFilter::default()).unwrap().len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_messages_each_way_are_all_delivered_once() {
    let (a, b) = (
        std::sync::Arc::new(node(0).await),
        std::sync::Arc::new(node(1).await),
    );
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let (from, to) = if i % 2 == 0 {
            (a.clone(), b.clone())
        } else {
            (b.clone(), a.clone())
        };
        tasks.spawn(async move {
            let spec = if i % 2 == 0 {
                XheSpec::message(ORG_A, ORG_B)
            } else {
                XheSpec::message(ORG_B, ORG_A)
            };
            let (_, attempt) = deliver(&from, &to, &spec, Leg::Message).await;
            matches!(attempt.outcome, AttemptOutcome::Delivered(_))
        });
    }
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        ok += usize::from(r.unwrap());
    }
    assert_eq!(ok, 100);
    for n in [&a, &b] {
        assert_eq!(
            n.store.list_messages(&ListFilter::default()).unwrap().len(),
            50
        );
        assert_eq!(n.handoffs.0.lock().unwrap().len(), 50);
    }
}
