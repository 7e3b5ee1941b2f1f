//! Stage 4 of the inbound pipeline (B1.3.3 row 13, H-39): a message whose sending access point
//! is not one the address book lists for FromParty is REJECTED / BV `security` — before its
//! signature is looked at and without decrypting it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sdkgw_envelope::Stage;
use sdkgw_envelope::message::{MessagePolicy, NewMessage, SdkMessage};
use sdkgw_envelope::open::{self, Opened, Refusal, SENDING_AP_NOT_LISTED, SendingAp};
use sdkgw_envelope::seal::{self, SealOptions};
use sdkgw_envelope::xhe::Xhe;
use sdkgw_schemas::codelists::{DetailCode, ReasonCode};
use sdkgw_schemas::{FederationId, TransportModel};
use support::{Org, Receiver, pki};
use time::OffsetDateTime;

fn sealed(from: &Org, to: &Org, model: TransportModel) -> Vec<u8> {
    let m = SdkMessage::new(NewMessage {
        message_id: uuid::Uuid::new_v4(),
        created: OffsetDateTime::now_utc(),
        from: from.participant.clone(),
        from_function: Some("sender-box".parse().unwrap()),
        to: to.participant.clone(),
        to_function: "recipient-box".parse().unwrap(),
        subject: "Från fel AP".to_owned(),
        text: Some("Hej!".to_owned()),
        files: vec![],
        confidential: false,
    });
    let header = Xhe::for_message(
        m.header.message_id.clone(),
        OffsetDateTime::now_utc(),
        from.participant.clone(),
        to.participant.clone(),
        Some(m.recipient_function().parse().unwrap()),
        FederationId::Test,
        model,
    );
    let sigenc = model.requires_signature_and_encryption();
    seal::seal_message(
        m.to_xml().unwrap().as_bytes(),
        &header,
        sigenc.then_some(&to.enc_cert),
        sigenc.then(|| from.signer()),
        SealOptions::default(),
    )
    .unwrap()
    .bytes
}

fn not_listed() -> MessagePolicy<'static> {
    MessagePolicy {
        sending_ap: SendingAp::NotListed("sent by AP x, listed: AP y"),
        ..MessagePolicy::default()
    }
}

fn rejected(o: Result<Opened, Refusal>) -> Box<open::Rejected> {
    match o {
        Ok(Opened::Rejected(r)) => r,
        other => panic!("expected REJECTED, got {other:?}"),
    }
}

fn assert_row_13(r: &open::Rejected) {
    assert_eq!(r.stage, Stage::Business);
    let lines = &r.receipt.receipt.lines;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].reason, ReasonCode::Bv);
    assert_eq!(lines[0].detail(), Some(DetailCode::Security));
    assert_eq!(lines[0].line_id, "NA");
    assert_eq!(lines[0].status_reason, SENDING_AP_NOT_LISTED);
    assert!(r.receipt.envelope.is_some(), "the receipt is signed");
    assert!(
        r.log_reason().contains("sent by AP x"),
        "{}",
        r.log_reason()
    );
}

#[test]
fn message_from_an_access_point_not_listed_for_the_sender_is_rejected_bv_security_undecrypted() {
    let p = pki();
    let rx = Receiver::new(p, &p.b);
    let r = rejected(open::open(
        sealed(&p.a, &p.b, TransportModel::ExtSigenc),
        &rx.config(Some(&p.a.sign_cert), not_listed()),
    ));
    assert_row_13(&r);
    assert_eq!(rx.keys.asked.get(), 0, "the payload was decrypted");
}

#[test]
fn the_sending_access_point_is_checked_before_the_signature() {
    let p = pki();
    let rx = Receiver::new(p, &p.b);
    // B's certificate as A's CertPub certificate: the signature check alone would say SIG.
    let r = rejected(open::open(
        sealed(&p.a, &p.b, TransportModel::ExtSigenc),
        &rx.config(Some(&p.b.sign_cert), not_listed()),
    ));
    assert_row_13(&r);
}

#[test]
fn unsigned_model_is_checked_too() {
    let p = pki();
    let rx = Receiver::new(p, &p.b);
    let r = rejected(open::open(
        sealed(&p.a, &p.b, TransportModel::Base),
        &rx.config(None, not_listed()),
    ));
    assert_row_13(&r);
}

#[test]
fn without_an_objection_the_same_message_is_accepted() {
    let p = pki();
    let rx = Receiver::new(p, &p.b);
    let o = open::open(
        sealed(&p.a, &p.b, TransportModel::ExtSigenc),
        &rx.config(Some(&p.a.sign_cert), MessagePolicy::default()),
    );
    assert!(matches!(o, Ok(Opened::Accepted(_))), "{o:?}");
}
