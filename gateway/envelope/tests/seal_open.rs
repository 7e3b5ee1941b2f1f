//! Seal and open between the two organisations of the development PKI, every receipt path of
//! the inbound pipeline (digest §5, §6.3), and the hostile corpus.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Mutex;

use sdkgw_certs::Certificate;
use sdkgw_envelope::Stage;
use sdkgw_envelope::message::{
    ContentFile, EicarTestSignature, MessageHistory, MessagePolicy, NewMessage, Previous,
    SdkMessage,
};
use sdkgw_envelope::open::{self, DecryptionKeys, Opened, Refusal};
use sdkgw_envelope::receipt::{self, ReceiptContext};
use sdkgw_envelope::seal::{self, SealOptions, Signer};
use sdkgw_envelope::xhe::{self, Xhe, XheContext};
use sdkgw_schemas::codelists::{DetailCode, MessageType, ReasonCode, ResponseCode};
use sdkgw_schemas::{Environment, FederationId, FunctionAddress, TransportModel};
use sdkgw_xml_security::xml::{Document, ParseOptions};
use support::{Org, Receiver, SpyKeys, pki};
use time::OffsetDateTime;

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn new_message(from: &Org, to: &Org, files: Vec<ContentFile>) -> SdkMessage {
    SdkMessage::new(NewMessage {
        message_id: uuid::Uuid::new_v4(),
        created: now(),
        from: from.participant.clone(),
        from_function: Some("sender-box".parse().unwrap()),
        to: to.participant.clone(),
        to_function: "recipient-box".parse().unwrap(),
        subject: "Ämne".to_owned(),
        text: Some("Hej!".to_owned()),
        files,
        confidential: false,
    })
}

fn header_for(m: &SdkMessage, from: &Org, to: &Org) -> Xhe {
    Xhe::for_message(
        m.header.message_id.clone(),
        now(),
        from.participant.clone(),
        to.participant.clone(),
        Some(m.recipient_function().parse().unwrap()),
        FederationId::Test,
        TransportModel::ExtSigenc,
    )
}

/// Seals `m` from `from` to `to` (encrypting for `to`'s encryption certificate).
fn seal_between(m: &SdkMessage, from: &Org, to: &Org) -> Vec<u8> {
    let xml = m.to_xml().unwrap();
    seal::seal_message(
        xml.as_bytes(),
        &header_for(m, from, to),
        Some(&to.enc_cert),
        Some(from.signer()),
        SealOptions::default(),
    )
    .unwrap()
    .bytes
}

fn accepted(o: Result<Opened, Refusal>) -> Box<open::OpenedMessage> {
    match o {
        Ok(Opened::Accepted(m)) => m,
        other => panic!("expected ACCEPTED, got {other:?}"),
    }
}

fn rejected(o: Result<Opened, Refusal>) -> Box<open::Rejected> {
    match o {
        Ok(Opened::Rejected(r)) => r,
        other => panic!("expected REJECTED, got {other:?}"),
    }
}

/// The rejection's reason and detail codes (every line has the same reason).
fn codes(r: &open::Rejected) -> (ReasonCode, Vec<DetailCode>) {
    let lines = &r.receipt.receipt.lines;
    assert!(!lines.is_empty());
    let reason = lines[0].reason;
    assert!(lines.iter().all(|l| l.reason == reason));
    (reason, lines.iter().map(|l| l.detail().unwrap()).collect())
}

/// Checks a receipt envelope as its recipient would: profile, signature by `issuer`,
/// receipt profile with DocumentReference = `answers`.
fn check_receipt_envelope(bytes: &[u8], issuer: &Org, original: &Xhe) -> receipt::Receipt {
    let doc = Document::parse_slice(bytes, &ParseOptions::default()).unwrap();
    let checked = xhe::check(
        &doc,
        &XheContext {
            environment: Some(Environment::Dev),
        },
    );
    assert!(checked.is_conformant(), "{}", checked.report);
    let h = checked.header.unwrap();
    assert_eq!(h.message_type, MessageType::Receipt);
    assert_eq!(h.transport_model, original.transport_model);
    assert_eq!(
        (h.from.clone(), h.to.clone()),
        (original.to.clone(), original.from.clone())
    );
    assert!(!h.payload.encrypted);
    assert_ne!(h.id, original.id);
    assert!(!String::from_utf8_lossy(bytes).contains("EncryptedData"));
    let v = sdkgw_xml_security::dsig::Verifier::new(
        &sdkgw_xml_security::dsig::VerifyPolicy::xhe(),
        &sdkgw_xml_security::dsig::EmbeddedCertificate,
    )
    .verify_enveloped(&doc)
    .unwrap();
    assert_eq!(v.key().certificate(), &issuer.sign_cert);
    let content = doc
        .root()
        .descendants()
        .find(|e| e.is(Some(sdkgw_envelope::ns::XHA), "PayloadContent"))
        .unwrap();
    let ar = content.child_elements().next().unwrap();
    let rc = receipt::check(
        ar,
        &ReceiptContext {
            answers: Some(&original.id),
        },
    );
    assert!(rc.report.is_empty(), "{}", rc.report);
    rc.receipt.unwrap()
}

#[test]
fn round_trip_a_to_b_is_accepted_with_a_signed_receipt() {
    let p = pki();
    let m = new_message(
        &p.a,
        &p.b,
        vec![ContentFile::new(
            "a.pdf",
            "application/pdf",
            b"%PDF-1.7 binary \x00\xff",
        )],
    );
    let sealed = seal_between(&m, &p.a, &p.b);
    let text = String::from_utf8_lossy(&sealed).into_owned();
    assert!(text.contains("xmlenc#aes256-cbc") && text.contains("rsa-oaep-mgf1p"));
    assert!(!text.contains("Ämne"), "the payload travels encrypted");
    let rx = Receiver::new(p, &p.b);
    let opened = accepted(rx.open(sealed, Some(&p.a.sign_cert)));
    assert_eq!(opened.message(), &m);
    assert_eq!(opened.header().from, p.a.participant);
    assert_eq!(opened.signer(), Some(&p.a.sign_cert));
    assert_eq!(rx.keys.asked.get(), 1);
    let receipt = opened.acceptance(Some(p.b.signer()), now()).unwrap();
    assert_eq!(receipt.receipt.response, ResponseCode::Accepted);
    let read = check_receipt_envelope(receipt.envelope.as_ref().unwrap(), &p.b, opened.header());
    assert_eq!(read.document_reference, opened.header().id);
    assert_eq!(read.sender, p.b.participant);
    assert_eq!(read.receiver, p.a.participant);
    assert!(read.lines.is_empty());
    // The receipt goes back to A, who reads it as an inbound receipt and never answers it.
    let ra = Receiver::new(p, &p.a);
    match ra
        .open(receipt.envelope.unwrap(), Some(&p.b.sign_cert))
        .unwrap()
    {
        Opened::Receipt(r) => {
            assert_eq!(r.receipt.document_reference, opened.header().id);
            assert_eq!(r.signer.as_ref(), Some(&p.b.sign_cert));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ra.keys.asked.get(), 0, "a receipt is never decrypted");
}

#[test]
fn round_trip_b_to_a_and_receipt_routes_to_the_sender_mailbox() {
    let p = pki();
    let m = new_message(&p.b, &p.a, vec![]);
    let rx = Receiver::new(p, &p.a);
    let opened = accepted(rx.open(seal_between(&m, &p.b, &p.a), Some(&p.b.sign_cert)));
    let receipt = opened.acceptance(Some(p.a.signer()), now()).unwrap();
    let doc = Document::parse(receipt.envelope.unwrap(), &ParseOptions::default()).unwrap();
    let h = xhe::check(&doc, &XheContext::default()).header.unwrap();
    assert_eq!(h.payload.handling_service.unwrap().as_str(), "sender-box");
}

#[test]
fn signature_failures_are_sig_and_never_decrypt() {
    let p = pki();
    let m = new_message(&p.a, &p.b, vec![]);
    let sealed = seal_between(&m, &p.a, &p.b);
    let cases: Vec<(&str, Vec<u8>, Option<&Certificate>)> = vec![
        // The signer is valid, but not FromParty's CertPub certificate (B1.3.3 row 12).
        ("certpub mismatch", sealed.clone(), Some(&p.b.sign_cert)),
        // One byte of FromParty changed after signing.
        (
            "tampered header",
            String::from_utf8(sealed.clone())
                .unwrap()
                .replacen("0203:orga.test", "0203:orgx.test", 1)
                .into_bytes(),
            Some(&p.a.sign_cert),
        ),
    ];
    for (name, bytes, certpub) in cases {
        let rx = Receiver::new(p, &p.b);
        let r = rejected(rx.open(bytes, certpub));
        assert_eq!(r.stage, Stage::Signature, "{name}");
        assert_eq!(
            codes(&r),
            (ReasonCode::Sig, vec![DetailCode::Security]),
            "{name}"
        );
        assert_eq!(r.receipt.receipt.lines[0].line_id, "NA");
        assert_eq!(
            r.receipt.receipt.lines[0].status_reason,
            "Sender signature not validated"
        );
        assert_eq!(
            rx.keys.asked.get(),
            0,
            "{name}: the decryptor must not be invoked"
        );
        check_receipt_envelope(r.receipt.envelope.as_ref().unwrap(), &p.b, &r.header);
    }
}

#[test]
fn signer_outside_the_o2o_issuers_or_expired_is_sig() {
    let p = pki();
    let m = new_message(&p.a, &p.b, vec![]);
    // Signed with A's AP certificate: valid, but issued for another role by another CA.
    let xml = m.to_xml().unwrap();
    let ap_signer = Signer {
        key: &p.a.ap_key,
        cert: &p.a.ap_cert,
    };
    let sealed = seal::seal_message(
        xml.as_bytes(),
        &header_for(&m, &p.a, &p.b),
        Some(&p.b.enc_cert),
        Some(ap_signer),
        SealOptions::default(),
    )
    .unwrap()
    .bytes;
    let rx = Receiver::new(p, &p.b);
    let r = rejected(rx.open(sealed, None));
    assert_eq!(codes(&r).0, ReasonCode::Sig);
    assert!(
        r.log_reason().contains("signer certificate"),
        "{}",
        r.log_reason()
    );
    // Three years on, A's certificate has expired.
    let sealed = seal_between(&m, &p.a, &p.b);
    let mut cfg = rx.config(Some(&p.a.sign_cert), MessagePolicy::default());
    cfg.at = now() + time::Duration::days(3 * 365);
    let r = rejected(open::open(sealed, &cfg));
    assert_eq!(codes(&r).0, ReasonCode::Sig);
    assert_eq!(rx.keys.asked.get(), 0);
}

#[test]
fn undecryptable_payloads_get_no_receipt_and_one_uniform_error() {
    let p = pki();
    let m = new_message(&p.a, &p.b, vec![]);
    // Encrypted for A's own certificate instead of B's, then signed by A: the signature is
    // fine, but B holds no matching key.
    let xml = m.to_xml().unwrap();
    let wrong_cert = seal::seal_message(
        xml.as_bytes(),
        &header_for(&m, &p.a, &p.b),
        Some(&p.a.enc_cert),
        Some(p.a.signer()),
        SealOptions::default(),
    )
    .unwrap()
    .bytes;
    // The right certificate but B's receiver configured with A's key under B's certificate.
    let rx = Receiver::new(p, &p.b);
    let e1 = rx.open(wrong_cert, Some(&p.a.sign_cert)).unwrap_err();
    let swapped = Receiver {
        keys: SpyKeys::new(&p.a.enc_key, &p.b.enc_cert),
        ..Receiver::new(p, &p.b)
    };
    let e2 = swapped
        .open(seal_between(&m, &p.a, &p.b), Some(&p.a.sign_cert))
        .unwrap_err();
    for e in [&e1, &e2] {
        assert!(matches!(e, Refusal::Undecryptable(_)), "{e:?}");
        assert_eq!(e.to_string(), "the payload could not be decrypted");
    }
    assert_ne!(e1.log_reason(), "", "the log keeps the cause");
}

#[test]
fn message_rule_failures_are_sv_and_bv_with_the_b133_detail_codes() {
    let p = pki();
    let rx = Receiver::new(p, &p.b);
    let base = new_message(&p.a, &p.b, vec![]);
    let seal_invalid = |m_xml: String, header: &Xhe| {
        seal::seal_message(
            m_xml.as_bytes(),
            header,
            Some(&p.b.enc_cert),
            Some(p.a.signer()),
            SealOptions {
                allow_invalid: true,
            },
        )
        .unwrap()
        .bytes
    };
    let header = header_for(&base, &p.a, &p.b);
    let xml = base.to_xml().unwrap();
    // Schema error: SV structure, LineID is the XPath of the node.
    let r = rejected(rx.open(
        seal_invalid(
            xml.replacen("<tns:confidentiality>false", "<tns:confidentiality>nej", 1),
            &header,
        ),
        Some(&p.a.sign_cert),
    ));
    assert_eq!(
        (r.stage, codes(&r)),
        (Stage::Schema, (ReasonCode::Sv, vec![DetailCode::Structure]))
    );
    assert_eq!(
        r.receipt.receipt.lines[0].line_id,
        "/tns:messagePayload/tns:message/tns:messageHeader/tns:confidentiality"
    );
    // Schematron: BV invariant.
    let r = rejected(rx.open(
        seal_invalid(
            xml.replacen("<tns:index>1</tns:index>", "<tns:index> </tns:index>", 1),
            &header,
        ),
        Some(&p.a.sign_cert),
    ));
    assert_eq!(
        (r.stage, codes(&r)),
        (Stage::Rules, (ReasonCode::Bv, vec![DetailCode::Invariant]))
    );
    // Cross-checks with the envelope.
    let mut other_to = header.clone();
    other_to.to = "0203:orgb.test".parse().unwrap();
    let wrong_recipient = xml.replacen(">0203:orgb.test<", ">0203:orgc.test<", 1);
    let r = rejected(rx.open(seal_invalid(wrong_recipient, &header), Some(&p.a.sign_cert)));
    assert_eq!(codes(&r), (ReasonCode::Bv, vec![DetailCode::Security]));
    let wrong_sender = xml.replacen(">0203:orga.test<", ">0203:orgc.test<", 1);
    let r = rejected(rx.open(seal_invalid(wrong_sender, &header), Some(&p.a.sign_cert)));
    assert_eq!(codes(&r), (ReasonCode::Bv, vec![DetailCode::Invariant]));
    assert_eq!(
        r.receipt.receipt.lines[0].status_reason,
        "Wrong or unknown sender-id"
    );
    let mut other_handling = header.clone();
    other_handling.payload.handling_service = Some("other-box".parse().unwrap());
    let r = rejected(rx.open(
        seal_invalid(xml.clone(), &other_handling),
        Some(&p.a.sign_cert),
    ));
    assert_eq!(codes(&r), (ReasonCode::Bv, vec![DetailCode::Security]));
    let mut other_id = header.clone();
    other_id.id = uuid::Uuid::new_v4().to_string();
    let r = rejected(rx.open(seal_invalid(xml.clone(), &other_id), Some(&p.a.sign_cert)));
    assert_eq!(codes(&r), (ReasonCode::Bv, vec![DetailCode::Invariant]));
    // The receipt of a rejection after decryption goes to the sender's mailbox.
    let doc = Document::parse(
        r.receipt.envelope.clone().unwrap(),
        &ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(
        xhe::check(&doc, &XheContext::default())
            .header
            .unwrap()
            .payload
            .handling_service
            .unwrap()
            .as_str(),
        "sender-box"
    );
}

#[test]
fn receiver_policy_failures() {
    let p = pki();
    let rx = Receiver::new(p, &p.b);
    let served: Vec<FunctionAddress> = vec!["another-box".parse().unwrap()];
    let pdf_only: Vec<String> = vec![];
    let eicar = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    let with_png = new_message(
        &p.a,
        &p.b,
        vec![
            ContentFile::new("p.png", "image/png", b"png"),
            ContentFile::new("ok.pdf", "application/pdf", b"%PDF"),
        ],
    );
    let with_virus = new_message(
        &p.a,
        &p.b,
        vec![ContentFile::new("v.pdf", "application/pdf", eicar)],
    );
    let plain = new_message(&p.a, &p.b, vec![]);
    let cases: Vec<(SdkMessage, MessagePolicy<'_>, DetailCode)> = vec![
        (
            plain.clone(),
            MessagePolicy {
                functions: Some(&served),
                ..MessagePolicy::default()
            },
            DetailCode::NotFound,
        ),
        (
            plain.clone(),
            MessagePolicy {
                // The content is the text "Hej!": 4 bytes.
                max_message_bytes: 3,
                ..MessagePolicy::default()
            },
            DetailCode::TooLong,
        ),
        (
            with_png.clone(),
            MessagePolicy {
                attachment_types: Some(&pdf_only),
                ..MessagePolicy::default()
            },
            DetailCode::NotSupported,
        ),
        (
            with_virus,
            MessagePolicy {
                scanner: Some(&EicarTestSignature),
                ..MessagePolicy::default()
            },
            DetailCode::Forbidden,
        ),
    ];
    for (m, policy, detail) in cases {
        let r = rejected(open::open(
            seal_between(&m, &p.a, &p.b),
            &rx.config(Some(&p.a.sign_cert), policy),
        ));
        assert_eq!(codes(&r), (ReasonCode::Bv, vec![detail]));
    }
    // PDF is always accepted; other types when listed.
    let listed: Vec<String> = vec!["IMAGE/PNG".into()];
    let policy = MessagePolicy {
        attachment_types: Some(&listed),
        ..MessagePolicy::default()
    };
    accepted(open::open(
        seal_between(&with_png, &p.a, &p.b),
        &rx.config(Some(&p.a.sign_cert), policy),
    ));
}

/// An in-memory history of received envelopes.
#[derive(Default)]
struct Seen(Mutex<Vec<(String, Previous)>>);

impl MessageHistory for Seen {
    fn previous(&self, id: &str) -> Option<Previous> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, p)| p.clone())
    }
}

#[test]
fn duplicates_redeliveries_and_replies() {
    let p = pki();
    let rx = Receiver::new(p, &p.b);
    let seen = Seen::default();
    let policy = MessagePolicy {
        history: &seen,
        ..MessagePolicy::default()
    };
    let m = new_message(&p.a, &p.b, vec![]);
    let sealed = seal_between(&m, &p.a, &p.b);
    let first = accepted(open::open(
        sealed.clone(),
        &rx.config(Some(&p.a.sign_cert), policy),
    ));
    let receipt = first
        .acceptance(Some(p.b.signer()), now())
        .unwrap()
        .envelope
        .unwrap();
    seen.0.lock().unwrap().push((
        m.header.message_id.clone(),
        Previous {
            envelope_sha256: *first.sha256(),
            rejected: false,
            receipt: Some(receipt.clone()),
        },
    ));
    // The same bytes again (lost AS4 acknowledgement): the stored receipt, not `duplicate`.
    match open::open(sealed, &rx.config(Some(&p.a.sign_cert), policy)).unwrap() {
        Opened::Redelivered(prev) => assert_eq!(prev.receipt.unwrap(), receipt),
        other => panic!("{other:?}"),
    }
    // Same messageId, other content (sealed again: new IV, new timestamps): BV duplicate.
    let again = seal_between(&m, &p.a, &p.b);
    let r = rejected(open::open(again, &rx.config(Some(&p.a.sign_cert), policy)));
    assert_eq!(codes(&r), (ReasonCode::Bv, vec![DetailCode::Duplicate]));
    // A reply to an unknown message is accepted; to a rejected one, BV not-supported.
    let mut reply = new_message(&p.a, &p.b, vec![]);
    reply.header.ref_to_message_id = Some(uuid::Uuid::new_v4().to_string());
    accepted(open::open(
        seal_between(&reply, &p.a, &p.b),
        &rx.config(Some(&p.a.sign_cert), policy),
    ));
    let rejected_id = uuid::Uuid::new_v4().to_string();
    seen.0.lock().unwrap().push((
        rejected_id.clone(),
        Previous {
            envelope_sha256: [0; 32],
            rejected: true,
            receipt: None,
        },
    ));
    let mut reply = new_message(&p.a, &p.b, vec![]);
    reply.header.ref_to_message_id = Some(rejected_id);
    let r = rejected(open::open(
        seal_between(&reply, &p.a, &p.b),
        &rx.config(Some(&p.a.sign_cert), policy),
    ));
    assert_eq!(codes(&r), (ReasonCode::Bv, vec![DetailCode::NotSupported]));
}

#[test]
fn envelopes_not_for_us_or_outside_the_profile_get_no_receipt() {
    let p = pki();
    let m = new_message(&p.a, &p.b, vec![]);
    let sealed = seal_between(&m, &p.a, &p.b);
    // B opens nothing for A's participant.
    let rx_a = Receiver::new(p, &p.a);
    assert!(matches!(
        rx_a.open(sealed.clone(), None),
        Err(Refusal::NotServed(_))
    ));
    // Production expects the SDK federation; this is the test federation.
    let rx = Receiver::new(p, &p.b);
    let mut cfg = rx.config(Some(&p.a.sign_cert), MessagePolicy::default());
    cfg.context.environment = Some(Environment::Prod);
    match open::open(sealed, &cfg) {
        Err(Refusal::Envelope(report)) => assert!(
            report.has(sdkgw_schemas::XheRule::FederationOfEnvironment),
            "{report}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(rx.keys.asked.get(), 0);
}

#[test]
fn creation_time_more_than_a_day_ahead_is_an_envelope_error_but_clock_skew_is_not() {
    let p = pki();
    let m = new_message(&p.a, &p.b, vec![]);
    let sealed_at = |created: OffsetDateTime| {
        let mut header = header_for(&m, &p.a, &p.b);
        header.created = created;
        seal::seal_message(
            m.to_xml().unwrap().as_bytes(),
            &header,
            Some(&p.b.enc_cert),
            Some(p.a.signer()),
            SealOptions::default(),
        )
        .unwrap()
        .bytes
    };
    let rx = Receiver::new(p, &p.b);
    let cfg = rx.config(Some(&p.a.sign_cert), MessagePolicy::default());
    match open::open(sealed_at(cfg.at + time::Duration::days(2)), &cfg) {
        Err(Refusal::Envelope(report)) => assert!(
            report.has(sdkgw_schemas::XheRule::CreationDateTimeNotFuture),
            "{report}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(rx.keys.asked.get(), 0, "refused before decryption");
    accepted(open::open(
        sealed_at(cfg.at + time::Duration::hours(2)),
        &cfg,
    ));
}

#[test]
fn tm_base_round_trip_is_plain_and_unsigned() {
    let p = pki();
    let m = new_message(&p.a, &p.b, vec![]);
    let mut header = header_for(&m, &p.a, &p.b);
    header.transport_model = TransportModel::Base;
    header.document = sdkgw_schemas::codelists()
        .sdk_message_document(TransportModel::Base)
        .clone();
    let xml = m.to_xml().unwrap();
    let sealed = seal::seal_message(xml.as_bytes(), &header, None, None, SealOptions::default())
        .unwrap()
        .bytes;
    let text = String::from_utf8_lossy(&sealed).into_owned();
    assert!(!text.contains("Signature") && !text.contains("EncryptedData"));
    let rx = Receiver::new(p, &p.b);
    let opened = accepted(rx.open(sealed, None));
    assert_eq!(opened.message(), &m);
    assert_eq!(rx.keys.asked.get(), 0, "nothing to decrypt");
    let receipt = opened.acceptance(None, now()).unwrap();
    let env = String::from_utf8(receipt.envelope.unwrap()).unwrap();
    assert!(env.contains("::tm-base<") && !env.contains("Signature"));
}

/// An envelope from A to B whose encrypted payload is `plaintext`, whatever it is.
fn sealed_with_plaintext(plaintext: &[u8]) -> Vec<u8> {
    use sdkgw_xml_security::crypto::{ContentKey, DataEncryption, KeyTransport};
    use sdkgw_xml_security::xenc::{self, RecipientInfo, TYPE_ELEMENT};
    let p = pki();
    let m = new_message(&p.a, &p.b, vec![]);
    let key = ContentKey::generate(DataEncryption::Aes256Cbc).unwrap();
    let ek = xenc::encrypted_key_xml(
        &key,
        KeyTransport::RSA_OAEP_MGF1P,
        &p.b.enc_cert,
        RecipientInfo::Certificate(&p.b.enc_cert),
        None,
        &[],
    )
    .unwrap();
    let ed = xenc::encrypted_data_xml(&key, plaintext, TYPE_ELEMENT, None, Some(&ek)).unwrap();
    let xml = header_for(&m, &p.a, &p.b)
        .to_xml(xhe::PayloadXml::Element(&ed))
        .unwrap();
    sdkgw_xml_security::dsig::sign_enveloped(
        xml.into_bytes(),
        &p.a.sign_key,
        &p.a.sign_cert,
        &ParseOptions::default(),
    )
    .unwrap()
}

#[test]
fn corrupt_payload_of_a_verified_sender_is_sv_structure_with_line_na() {
    let p = pki();
    let tns = "urn:riv:infrastructure:messaging:MessageWithAttachments:3";
    let truncated = format!("<tns:messagePayload xmlns:tns=\"{tns}\"><tns:message>");
    let two = format!(
        "<tns:messagePayload xmlns:tns=\"{tns}\"/><tns:messagePayload xmlns:tns=\"{tns}\"/>"
    );
    let cases: [(&str, &[u8]); 5] = [
        ("empty file (TF2.4.8, max.xml)", b""),
        ("not well-formed", truncated.as_bytes()),
        ("not XML at all", b"%PDF-1.4 \x00\xff binary"),
        ("another root", b"<other xmlns=\"urn:x\"/>"),
        ("two elements", two.as_bytes()),
    ];
    for (name, plaintext) in cases {
        let rx = Receiver::new(p, &p.b);
        let r = rejected(rx.open(sealed_with_plaintext(plaintext), Some(&p.a.sign_cert)));
        assert_eq!(r.stage, Stage::Payload, "{name}");
        assert_eq!(
            codes(&r),
            (ReasonCode::Sv, vec![DetailCode::Structure]),
            "{name}"
        );
        assert_eq!(r.receipt.receipt.lines[0].line_id, "NA", "{name}");
        assert!(
            r.report.has(sdkgw_schemas::MessageRule::PayloadWellFormed),
            "{name}"
        );
        assert_eq!(rx.keys.asked.get(), 1);
    }
}

#[test]
fn the_key_matching_the_encrypted_key_certificate_is_chosen_among_several() {
    let p = pki();
    let m = new_message(&p.a, &p.b, vec![]);
    for order in [
        [(&p.a.enc_key, &p.a.enc_cert), (&p.b.enc_key, &p.b.enc_cert)],
        [(&p.b.enc_key, &p.b.enc_cert), (&p.a.enc_key, &p.a.enc_cert)],
    ] {
        let rx = Receiver {
            keys: SpyKeys {
                inner: DecryptionKeys::new(&order).unwrap(),
                asked: std::cell::Cell::new(0),
            },
            ..Receiver::new(p, &p.b)
        };
        accepted(rx.open(seal_between(&m, &p.a, &p.b), Some(&p.a.sign_cert)));
    }
    // A key known only by itself (no certificate) is matched by its public key.
    let rx = Receiver {
        keys: SpyKeys {
            inner: DecryptionKeys::with_optional_certificates(&[
                (&p.a.enc_key, None),
                (&p.b.enc_key, None),
            ])
            .unwrap(),
            asked: std::cell::Cell::new(0),
        },
        ..Receiver::new(p, &p.b)
    };
    accepted(rx.open(seal_between(&m, &p.a, &p.b), Some(&p.a.sign_cert)));
}

#[test]
fn an_inbound_receipt_with_a_bad_signature_is_refused_and_never_answered() {
    let p = pki();
    let m = new_message(&p.a, &p.b, vec![]);
    let opened =
        accepted(Receiver::new(p, &p.b).open(seal_between(&m, &p.a, &p.b), Some(&p.a.sign_cert)));
    let receipt = String::from_utf8(
        opened
            .acceptance(Some(p.b.signer()), now())
            .unwrap()
            .envelope
            .unwrap(),
    )
    .unwrap();
    let ra = Receiver::new(p, &p.a);
    // Tampered after signing, or signed by someone other than B's CertPub certificate.
    let tampered = receipt.replacen(">ACCEPTED<", ">REJECTED<", 1);
    for (bytes, certpub) in [
        (tampered, &p.b.sign_cert),
        (receipt.clone(), &p.a.sign_cert),
    ] {
        match ra.open(bytes.into_bytes(), Some(certpub)) {
            Err(Refusal::BadReceipt(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ra.keys.asked.get(), 0);
}

#[test]
fn size_limit_counts_decoded_content_at_the_boundary_not_the_xml() {
    let p = pki();
    let rx = Receiver::new(p, &p.b);
    // "Hej!" (4 bytes) + a 3000-byte file (4000 Base64 characters in the XML).
    let m = new_message(
        &p.a,
        &p.b,
        vec![ContentFile::new("a.pdf", "application/pdf", &[b'x'; 3000])],
    );
    assert_eq!(m.content_bytes(), 3004);
    let sealed = seal_between(&m, &p.a, &p.b);
    let at_limit = MessagePolicy {
        max_message_bytes: 3004,
        ..MessagePolicy::default()
    };
    accepted(open::open(
        sealed.clone(),
        &rx.config(Some(&p.a.sign_cert), at_limit),
    ));
    let over = MessagePolicy {
        max_message_bytes: 3003,
        ..MessagePolicy::default()
    };
    let r = rejected(open::open(sealed, &rx.config(Some(&p.a.sign_cert), over)));
    assert_eq!(codes(&r), (ReasonCode::Bv, vec![DetailCode::TooLong]));
    assert!(
        r.report
            .to_string()
            .contains("content (decoded files and text) 3004 bytes")
    );
}

#[test]
fn decrypted_xml_far_beyond_any_content_within_the_limit_is_refused_before_parsing() {
    let p = pki();
    let rx = Receiver::new(p, &p.b);
    let m = new_message(
        &p.a,
        &p.b,
        vec![ContentFile::new(
            "a.pdf",
            "application/pdf",
            &[b'x'; 900_000],
        )],
    );
    let bound = sdkgw_envelope::message::xml_size_bound(1000);
    assert!(m.to_xml().unwrap().len() > bound);
    let policy = MessagePolicy {
        max_message_bytes: 1000,
        ..MessagePolicy::default()
    };
    let r = rejected(open::open(
        seal_between(&m, &p.a, &p.b),
        &rx.config(Some(&p.a.sign_cert), policy),
    ));
    assert_eq!(codes(&r), (ReasonCode::Bv, vec![DetailCode::TooLong]));
    assert!(
        r.report.to_string().contains("decrypted message XML"),
        "{}",
        r.report
    );
}

#[test]
fn the_xhe_parser_limit_is_the_policys_max_xhe_bytes() {
    let p = pki();
    let rx = Receiver::new(p, &p.b);
    let m = new_message(
        &p.a,
        &p.b,
        vec![ContentFile::new("a.pdf", "application/pdf", &[b'x'; 3000])],
    );
    let sealed = seal_between(&m, &p.a, &p.b);
    // Content 3004 bytes over a limit of 3003: answered BV too-long when the XHE is read.
    let policy = |max_xhe_bytes| MessagePolicy {
        max_message_bytes: 3003,
        max_xhe_bytes,
        ..MessagePolicy::default()
    };
    let one_below = rx.config(Some(&p.a.sign_cert), policy(sealed.len() - 1));
    match open::open(sealed.clone(), &one_below) {
        Err(Refusal::Malformed(e)) => assert!(e.to_string().contains("limit"), "{e}"),
        other => panic!("expected a parser-limit refusal, got {other:?}"),
    }
    let exactly = rx.config(Some(&p.a.sign_cert), policy(sealed.len()));
    let r = rejected(open::open(sealed, &exactly));
    assert_eq!(codes(&r), (ReasonCode::Bv, vec![DetailCode::TooLong]));
}

/// TF-08: DIGG sends a 70 MiB XHE; above the XML parser's own 64 MiB default it must still be
/// answered (BV too-long under the 30 MiB content rule), never refused without a receipt.
#[test]
fn an_xhe_above_the_default_parser_limit_is_answered_bv_too_long() {
    let p = pki();
    let rx = Receiver::new(p, &p.b);
    let file = vec![b'x'; 39 << 20];
    let m = new_message(
        &p.a,
        &p.b,
        vec![ContentFile::new("big.pdf", "application/pdf", &file)],
    );
    drop(file);
    let sealed = seal_between(&m, &p.a, &p.b);
    drop(m);
    let default_parser_limit = sdkgw_xml_security::xml::Limits::default().max_bytes;
    assert!(sealed.len() > default_parser_limit, "{}", sealed.len());
    let r = rejected(open::open(
        sealed,
        &rx.config(Some(&p.a.sign_cert), MessagePolicy::default()),
    ));
    assert_eq!(codes(&r), (ReasonCode::Bv, vec![DetailCode::TooLong]));
    assert!(
        r.report
            .to_string()
            .contains("content (decoded files and text)"),
        "{}",
        r.report
    );
    assert!(r.receipt.envelope.is_some(), "the rejection is sent signed");
}
