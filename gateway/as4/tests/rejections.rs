//! The receiving MSH refuses what it must, with the right ebMS error, stores nothing and
//! records the refusal (AS4 digest §4.2, §4.5; §7.2 T07–T15, T18–T20, T30–T32, T37; test-cases
//! §4.2 H-09–H-15, §4.3, §4.7, §4.8). Messages are crafted like a peer would build them, then
//! delivered in-process through the same `Receiver::receive` the HTTP handler calls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::craft::{Covered, Craft, assert_refused, gzip, outcome};
use common::{NodeOptions, ORG_A, ORG_B, XheSpec, node, node_with, pki};
use sdkgw_as4::msh::Reply;
use sdkgw_schemas::Environment;
use sdkgw_store::ListFilter;
use time::{Duration, OffsetDateTime};

/// A conformant message from organisation A's AP to B's.
fn from_a(b: &common::Node) -> Craft {
    Craft::new(
        &pki().identity(0),
        &b.identity.certificate,
        XheSpec::message(ORG_A, ORG_B),
    )
}

fn nothing_stored(b: &common::Node) {
    assert!(
        b.store
            .list_messages(&ListFilter::default())
            .unwrap()
            .is_empty()
    );
    assert!(b.handoffs.0.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformant_crafted_message_is_accepted() {
    // The control for every test below: the crafting itself is correct.
    let b = node(1).await;
    let reply = from_a(&b).build(&b.spool).deliver(&b.receiver).await;
    assert_eq!(outcome(&reply).0, "receipt", "{:?}", outcome(&reply));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cbc_rsa15_and_unencrypted_payloads_are_policy_noncompliance() {
    let b = node(1).await;
    let m = from_a(&b).build(&b.spool);
    let cbc = m.clone().replace(
        "xmlenc11#aes128-gcm\"/><ds:KeyInfo",
        "xmlenc#aes128-cbc\"/><ds:KeyInfo",
    );
    assert_refused(&cbc.deliver(&b.receiver).await, "EBMS:0103", "aes128-cbc");
    let rsa15 = m.clone().replace(
        "http://www.w3.org/2009/xmlenc11#rsa-oaep",
        "http://www.w3.org/2001/04/xmlenc#rsa-1_5",
    );
    assert_refused(&rsa15.deliver(&b.receiver).await, "EBMS:0103", "rsa-1_5");
    let mut plain = from_a(&b);
    plain.encrypt = false;
    assert_refused(
        &plain.build(&b.spool).deliver(&b.receiver).await,
        "EBMS:0103",
        "not encrypted",
    );
    nothing_stored(&b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_attachment_ciphertext_is_failed_decryption() {
    let b = node(1).await;
    let mut m = from_a(&b).build(&b.spool);
    let body = &mut m.attachments[0].1;
    let mid = body.len() / 2;
    body[mid] ^= 0x01;
    assert_refused(&m.deliver(&b.receiver).await, "EBMS:0102", "tag");
    // Encrypted for another AP's certificate: also a decryption failure.
    let mut other = from_a(&b);
    other.recipient = pki().identity(0).certificate;
    assert_refused(
        &other.build(&b.spool).deliver(&b.receiver).await,
        "EBMS:0102",
        "another certificate",
    );
    nothing_stored(&b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_messaging_header_is_failed_authentication() {
    let b = node(1).await;
    let m = from_a(&b).build(&b.spool);
    let spec_id = m.envelope.split("<eb:ConversationId>").nth(1).unwrap()[..36].to_owned();
    let forged = m.replace(
        &format!("<eb:ConversationId>{spec_id}"),
        "<eb:ConversationId>ffffffff-0000-4000-8000-000000000000",
    );
    assert_refused(&forged.deliver(&b.receiver).await, "EBMS:0101", "digest");
    nothing_stored(&b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_without_attachment_or_messaging_reference_is_policy_noncompliance() {
    let b = node(1).await;
    for (covered, missing) in [
        (
            Covered {
                attachment: false,
                ..Covered::default()
            },
            "cid:message is not signed",
        ),
        (
            Covered {
                messaging: false,
                ..Covered::default()
            },
            "Messaging is not signed",
        ),
        (
            Covered {
                body: false,
                ..Covered::default()
            },
            "Body is not signed",
        ),
        (
            Covered {
                timestamp: false,
                ..Covered::default()
            },
            "Timestamp is not signed",
        ),
    ] {
        let mut c = from_a(&b);
        c.covered = covered;
        assert_refused(
            &c.build(&b.spool).deliver(&b.receiver).await,
            "EBMS:0103",
            missing,
        );
    }
    nothing_stored(&b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_wrapping_variants_are_refused() {
    let b = node(1).await;
    let m = from_a(&b).build(&b.spool);
    // A second element with the signed Messaging's id.
    let dup = m.clone().replace(
        "<wsse:Security",
        "<x:W xmlns:x=\"urn:x\" wsu:Id=\"_messaging-1\"/><wsse:Security",
    );
    assert_refused(&dup.deliver(&b.receiver).await, "EBMS:0103", "duplicate");
    // The signed Messaging moved into a wrapper header, a forged one in its place.
    let start = m.envelope.find("<eb:Messaging").unwrap();
    let end = m.envelope.find("</eb:Messaging>").unwrap() + "</eb:Messaging>".len();
    let signed = &m.envelope[start..end];
    let forged_block = signed
        .replace(" wsu:Id=\"_messaging-1\"", "")
        .replace(ORG_B, "0203:attacker.test");
    let wrapped = format!("<x:Wrapper xmlns:x=\"urn:x\">{signed}</x:Wrapper>{forged_block}");
    let mut moved = m.clone();
    moved.envelope = format!("{}{}{}", &m.envelope[..start], wrapped, &m.envelope[end..]);
    let (code, _) = outcome(&moved.deliver(&b.receiver).await);
    assert!(code == "EBMS:0103" || code == "EBMS:0101", "{code}");
    nothing_stored(&b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_certificate_of_another_environment_is_refused_tf03() {
    let b = node(1).await;
    let p = pki();
    let (cert, key) = p.pair(&p.manifest.negative.foreign_ap);
    assert_eq!(cert.common_name(), Some("AP0001-DEV"), "same CN, other CA");
    let c = from_a(&b).signed_by(cert, key);
    assert_refused(
        &c.build(&b.spool).deliver(&b.receiver).await,
        "EBMS:0101",
        "FOREIGN",
    );
    nothing_stored(&b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_and_expired_sender_certificates_are_refused() {
    let b = node(1).await;
    let p = pki();
    for (pair, why) in [
        (&p.manifest.negative.revoked_ap, "revoked"),
        (&p.manifest.negative.expired_ap, "expired"),
    ] {
        let (cert, key) = p.pair(pair);
        let mut c = from_a(&b);
        c.from_ap = cert.common_name().unwrap().to_owned();
        let c = c.signed_by(cert, key);
        assert_refused(
            &c.build(&b.spool).deliver(&b.receiver).await,
            "EBMS:0101",
            why,
        );
    }
    nothing_stored(&b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_cn_must_be_the_from_party_id() {
    let b = node(1).await;
    let mut c = from_a(&b);
    c.from_ap = "AP0002-DEV".into();
    assert_refused(
        &c.build(&b.spool).deliver(&b.receiver).await,
        "EBMS:0101",
        "is not the From PartyId",
    );
    nothing_stored(&b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_for_another_ap_is_a_processing_mode_mismatch() {
    let b = node(1).await;
    let mut c = from_a(&b);
    c.to_ap = "AP0007-DEV".into();
    assert_refused(
        &c.build(&b.spool).deliver(&b.receiver).await,
        "EBMS:0010",
        "To/PartyId",
    );
    nothing_stored(&b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipient_not_served_gets_ebms_0004_not_serviced() {
    let b = node(1).await;
    let c = Craft::new(
        &pki().identity(0),
        &b.identity.certificate,
        XheSpec::message(ORG_A, "0203:unknown.test"),
    );
    let reply = c.build(&b.spool).deliver(&b.receiver).await;
    assert_refused(&reply, "EBMS:0004", "not served");
    let Reply::Error {
        error, envelope, ..
    } = &reply
    else {
        unreachable!()
    };
    assert_eq!(error.detail.as_deref(), Some("NOT_SERVICED"));
    assert_eq!(error.severity, sdkgw_as4::ebms::Severity::Failure);
    let text = String::from_utf8(envelope.clone()).unwrap();
    assert!(
        text.contains("<eb:ErrorDetail>NOT_SERVICED</eb:ErrorDetail>"),
        "{text}"
    );
    assert!(text.contains("errorCode=\"EBMS:0004\""));
    assert!(
        text.contains("<S12:Fault>"),
        "SOAP Fault form, as Domibus answers"
    );
    nothing_stored(&b);
    // The refusal is in the audit trail with the message id and reason (AP-3.2.1.a).
    let audit = b.store.audit(0, 100).unwrap();
    let ev = audit
        .iter()
        .find(|e| e.action == "as4.inbound.rejected")
        .unwrap();
    assert_eq!(ev.detail["error_code"], "EBMS:0004");
    assert_eq!(ev.detail["recipient_participant"], "0203:unknown.test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_type_not_served_in_this_environment_is_not_serviced() {
    let b = node_with(
        1,
        NodeOptions {
            served_env: Environment::Qa,
            ..NodeOptions::default()
        },
    )
    .await;
    let mut spec = XheSpec::message(ORG_A, ORG_B);
    spec.document = spec.document.replace("::tm-base-ext-sigenc", "::tm-base");
    let mut c = Craft::new(&pki().identity(0), &b.identity.certificate, spec);
    c.tweak = Some(Box::new(|um| {
        um.collaboration.action = um
            .collaboration
            .action
            .replace("::tm-base-ext-sigenc", "::tm-base");
    }));
    assert_refused(
        &c.build(&b.spool).deliver(&b.receiver).await,
        "EBMS:0004",
        "not served",
    );
    nothing_stored(&b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as4_and_xhe_header_disagreements_are_not_serviced() {
    let b = node(1).await;
    let fed_sdk = "urn:fdc:digg.se:edelivery:federation:sdk".to_owned();
    type Change = Box<dyn Fn(&mut XheSpec)>;
    let cases: Vec<(Change, &str)> = vec![
        (
            Box::new(|s: &mut XheSpec| s.to = "0203:other.test".into()),
            "ToParty",
        ),
        (
            Box::new(|s: &mut XheSpec| s.from = "0203:other.test".into()),
            "FromParty",
        ),
        (
            Box::new(|s: &mut XheSpec| {
                s.document = s.document.replace("messagePayload##3.0", "other##3.0")
            }),
            "DOCUMENTID",
        ),
        (
            Box::new(move |s: &mut XheSpec| s.federation = fed_sdk.clone()),
            "FEDERATIONID",
        ),
    ];
    for (change, what) in cases {
        let mut c = from_a(&b);
        let mut xhe = c.spec.clone();
        change(&mut xhe);
        // The AS4 header keeps the original values; only the XHE changes.
        c.payload = Some(gzip(&xhe.bytes()));
        assert_refused(
            &c.build(&b.spool).deliver(&b.receiver).await,
            "EBMS:0004",
            what,
        );
    }
    nothing_stored(&b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncompressed_payload_is_accepted_and_corrupt_gzip_is_decompression_failure() {
    let b = node(1).await;
    let mut plain = from_a(&b);
    plain.compressed = false;
    assert_eq!(
        outcome(&plain.build(&b.spool).deliver(&b.receiver).await).0,
        "receipt"
    );
    let mut corrupt = from_a(&b);
    corrupt.payload = Some(b"\x1f\x8b\x08\x00not really gzip at all".to_vec());
    assert_refused(
        &corrupt.build(&b.spool).deliver(&b.receiver).await,
        "EBMS:0303",
        "gzip",
    );
    let mut deflate = from_a(&b);
    deflate.tweak = Some(Box::new(|um| {
        um.parts[0].properties[1].value = "application/x-deflate".into();
    }));
    assert_refused(
        &deflate.build(&b.spool).deliver(&b.receiver).await,
        "EBMS:0303",
        "not supported",
    );
    assert_eq!(
        b.store.list_messages(&ListFilter::default()).unwrap().len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bomb_stops_at_the_ratio_limit() {
    let b = node(1).await;
    let spec = XheSpec::message(ORG_A, ORG_B);
    let mut head = spec.head().into_bytes();
    head.extend(std::iter::repeat_n(b' ', 300 * 1024 * 1024));
    let bomb = gzip(&head);
    assert!(bomb.len() < 2 * 1024 * 1024, "{}", bomb.len());
    let mut c = from_a(&b);
    c.payload = Some(bomb);
    assert_refused(
        &c.build(&b.spool).deliver(&b.receiver).await,
        "EBMS:0303",
        "ratio",
    );
    nothing_stored(&b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_soap_is_refused_with_unpackaging_errors() {
    let b = node(1).await;
    let m = from_a(&b).build(&b.spool);
    let soap11 = m.clone().replace(
        "xmlns:S12=\"http://www.w3.org/2003/05/soap-envelope\"",
        "xmlns:S12=\"http://schemas.xmlsoap.org/soap/envelope/\"",
    );
    assert_refused(&soap11.deliver(&b.receiver).await, "EBMS:0008", "SOAP 1.2");
    let renamed = m
        .clone()
        .replace("<eb:Messaging S12:mustUnderstand=\"true\"", "<eb:Messages")
        .replace("</eb:Messaging>", "</eb:Messages>");
    assert_refused(
        &renamed.deliver(&b.receiver).await,
        "EBMS:0009",
        "no eb:Messaging",
    );
    let must_understand = m
        .clone()
        .replace("<eb:Messaging ", "<eb:Messages ")
        .replace("</eb:Messaging>", "</eb:Messages>");
    assert_refused(
        &must_understand.deliver(&b.receiver).await,
        "EBMS:0009",
        "mustUnderstand",
    );
    let start = m.envelope.find("<eb:UserMessage").unwrap();
    let end = m.envelope.find("</eb:UserMessage>").unwrap() + "</eb:UserMessage>".len();
    let um = m.envelope[start..end].to_owned();
    let two = m.clone().replace(&um, &format!("{um}{um}"));
    assert_refused(
        &two.deliver(&b.receiver).await,
        "EBMS:0009",
        "2 UserMessages",
    );
    let dtd = m.clone().replace(
        "<S12:Envelope",
        "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><S12:Envelope",
    );
    assert_refused(&dtd.deliver(&b.receiver).await, "EBMS:0009", "DTD");
    nothing_stored(&b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mime_parts_must_match_part_info() {
    let b = node(1).await;
    let mut renamed = from_a(&b).build(&b.spool);
    renamed.attachments[0].0 = "other".into();
    assert_refused(
        &renamed.deliver(&b.receiver).await,
        "EBMS:0007",
        "no MIME part",
    );
    let mut extra = from_a(&b).build(&b.spool);
    extra
        .attachments
        .push(("extra".into(), b"unsigned".to_vec()));
    assert_refused(
        &extra.deliver(&b.receiver).await,
        "EBMS:0007",
        "not described",
    );
    nothing_stored(&b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamps_outside_the_skew_are_refused_and_absent_ones_tolerated() {
    let b = node(1).await;
    let now = OffsetDateTime::now_utc();
    let mut future = from_a(&b);
    future.timestamp = Some((now + Duration::minutes(10), None));
    assert_refused(
        &future.build(&b.spool).deliver(&b.receiver).await,
        "EBMS:0101",
        "future",
    );
    let mut expired = from_a(&b);
    expired.timestamp = Some((now - Duration::hours(1), Some(now - Duration::minutes(30))));
    assert_refused(
        &expired.build(&b.spool).deliver(&b.receiver).await,
        "EBMS:0101",
        "expired",
    );
    let mut within = from_a(&b);
    within.timestamp = Some((now + Duration::minutes(2), Some(now + Duration::minutes(7))));
    assert_eq!(
        outcome(&within.build(&b.spool).deliver(&b.receiver).await).0,
        "receipt"
    );
    let mut absent = from_a(&b);
    absent.timestamp = None;
    assert_eq!(
        outcome(&absent.build(&b.spool).deliver(&b.receiver).await).0,
        "receipt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weak_or_foreign_signature_algorithms_are_policy_noncompliance() {
    let b = node(1).await;
    let m = from_a(&b).build(&b.spool);
    let sha1 = m.clone().replace(
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    );
    assert_refused(&sha1.deliver(&b.receiver).await, "EBMS:0103", "rsa-sha1");
    let c14n = m.clone().replace(
        "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
        "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/>",
    );
    assert_refused(&c14n.deliver(&b.receiver).await, "EBMS:0103", "algorithm");
    let unsigned = {
        let start = m.envelope.find("<ds:Signature").unwrap();
        let end = m.envelope.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        let mut u = m.clone();
        u.envelope = format!("{}{}", &m.envelope[..start], &m.envelope[end..]);
        u
    };
    assert_refused(
        &unsigned.deliver(&b.receiver).await,
        "EBMS:0103",
        "no ds:Signature",
    );
    nothing_stored(&b);
}
