//! The hostile corpus (issue 5 §6, test-cases digest §4.1–4.3): each envelope is rejected
//! with the right code, signature failures never reach the decryptor, and parser attacks are
//! refused before anything else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sdkgw_certs::Certificate;
use sdkgw_envelope::Stage;
use sdkgw_envelope::message::{MessagePolicy, NewMessage, SdkMessage};
use sdkgw_envelope::open::{Opened, Refusal};
use sdkgw_envelope::seal::{self, SealOptions};
use sdkgw_envelope::xhe::Xhe;
use sdkgw_schemas::codelists::{DetailCode, ReasonCode};
use sdkgw_schemas::{FederationId, TransportModel};
use support::{Org, Receiver, pki};
use time::OffsetDateTime;

/// Organisation B receiving from A, serving any participant.
fn receiver() -> Receiver<'static> {
    let p = pki();
    let mut rx = Receiver::new(p, &p.b);
    rx.served.clear();
    rx
}

fn open_as_b(rx: &Receiver<'_>, bytes: Vec<u8>) -> Result<Opened, Refusal> {
    rx.open(bytes, Some(&pki().a.sign_cert))
}

fn message() -> SdkMessage {
    let p = pki();
    SdkMessage::new(NewMessage {
        message_id: uuid::Uuid::new_v4(),
        created: OffsetDateTime::now_utc(),
        from: p.a.participant.clone(),
        from_function: None,
        to: p.b.participant.clone(),
        to_function: "box".parse().unwrap(),
        subject: "s".into(),
        text: Some("t".into()),
        files: vec![],
        confidential: true,
    })
}

fn sealed_with(
    m: &SdkMessage,
    federation: FederationId,
    signer: &Org,
    recipient: &Certificate,
) -> String {
    let p = pki();
    let header = Xhe::for_message(
        m.header.message_id.clone(),
        OffsetDateTime::now_utc(),
        p.a.participant.clone(),
        p.b.participant.clone(),
        Some("box".parse().unwrap()),
        federation,
        TransportModel::ExtSigenc,
    );
    let sig = signer.signer();
    let bytes = seal::seal_message(
        m.to_xml().unwrap().as_bytes(),
        &header,
        Some(recipient),
        Some(sig),
        SealOptions::default(),
    )
    .unwrap()
    .bytes;
    String::from_utf8(bytes).unwrap()
}

fn sealed() -> String {
    let p = pki();
    sealed_with(&message(), FederationId::Test, &p.a, &p.b.enc_cert)
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let a = s.find(start).unwrap();
    let b = a + s[a..].find(end).unwrap() + end.len();
    &s[a..b]
}

/// Requires REJECTED/SIG/security with the decryptor never asked for a key.
fn assert_sig(name: &str, bytes: String) {
    let rx = receiver();
    match open_as_b(&rx, bytes.into_bytes()) {
        Ok(Opened::Rejected(r)) => {
            assert_eq!(r.stage, Stage::Signature, "{name}");
            let line = &r.receipt.receipt.lines[0];
            assert_eq!(
                (line.reason, line.detail()),
                (ReasonCode::Sig, Some(DetailCode::Security)),
                "{name}"
            );
        }
        other => panic!("{name}: expected REJECTED/SIG, got {other:?}"),
    }
    assert_eq!(
        rx.keys.asked.get(),
        0,
        "{name}: decryption must not be attempted"
    );
}

fn assert_no_receipt(name: &str, bytes: Vec<u8>, expected: fn(&Refusal) -> bool) {
    let rx = receiver();
    match open_as_b(&rx, bytes) {
        Err(e) if expected(&e) => {}
        other => panic!("{name}: expected a refusal, got {other:?}"),
    }
    assert_eq!(rx.keys.asked.get(), 0, "{name}");
}

#[test]
fn unmodified_envelope_is_accepted() {
    let rx = receiver();
    assert!(matches!(
        open_as_b(&rx, sealed().into_bytes()),
        Ok(Opened::Accepted(_))
    ));
}

#[test]
fn signature_wrapping_a_signed_copy_inside_a_forged_envelope_is_sig() {
    let p = pki();
    let original = sealed();
    let inner = original.trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    // A forged envelope (unsigned, plaintext) carrying the whole signed envelope as payload,
    // hoping the verifier checks the inner signature while the application reads the outer.
    let m = message();
    let header = Xhe::for_message(
        m.header.message_id.clone(),
        OffsetDateTime::now_utc(),
        p.a.participant.clone(),
        p.b.participant.clone(),
        Some("box".parse().unwrap()),
        FederationId::Test,
        TransportModel::ExtSigenc,
    );
    let mut header = header;
    header.payload.encrypted = false;
    let forged = header
        .to_xml(sdkgw_envelope::xhe::PayloadXml::Element(inner))
        .unwrap();
    assert_sig("wrapped copy", forged);
}

#[test]
fn payload_swapped_after_signing_is_sig() {
    let one = sealed();
    let other = sealed();
    let ed = "<xenc:EncryptedData";
    let swapped = one.replacen(
        between(&one, ed, "</xenc:EncryptedData>"),
        between(&other, ed, "</xenc:EncryptedData>"),
        1,
    );
    assert_sig("swapped payload", swapped);
}

#[test]
fn flipped_bytes_in_header_ciphertext_or_signature_value_are_sig() {
    let s = sealed();
    let id_start = s.find("<xhb:ID>").unwrap() + 8;
    let mut flipped = s.clone().into_bytes();
    flipped[id_start] = if flipped[id_start] == b'a' {
        b'b'
    } else {
        b'a'
    };
    assert_sig("header id", String::from_utf8(flipped).unwrap());
    for element in ["<xenc:CipherValue>", "<ds:SignatureValue>"] {
        let pos = s.rfind(element).unwrap() + element.len() + 10;
        let mut b = s.clone().into_bytes();
        b[pos] = if b[pos] == b'A' { b'B' } else { b'A' };
        assert_sig(element, String::from_utf8(b).unwrap());
    }
}

#[test]
fn a_second_signature_is_sig() {
    let s = sealed();
    let signature = between(&s, "<ds:Signature", "</ds:Signature>").to_owned();
    let twice = s.replacen("</x:XHE>", &format!("{signature}</x:XHE>"), 1);
    assert_sig("second signature", twice);
    let before = s.replacen("</xha:Payloads>", &format!("</xha:Payloads>{signature}"), 1);
    assert_sig("second signature first", before);
}

#[test]
fn unsigned_or_unencrypted_envelope_under_sigenc_is_sig() {
    let s = sealed();
    let unsigned = s.replacen(between(&s, "<ds:Signature", "</ds:Signature>"), "", 1);
    assert_sig("unsigned", unsigned);
    // Signed but not encrypted (B1.3.3 row 14): DIGG's xhe_unencrypted case.
    let p = pki();
    let m = message();
    let mut header = Xhe::for_message(
        m.header.message_id.clone(),
        OffsetDateTime::now_utc(),
        p.a.participant.clone(),
        p.b.participant.clone(),
        Some("box".parse().unwrap()),
        FederationId::Test,
        TransportModel::ExtSigenc,
    );
    header.payload.encrypted = false;
    let plain = header
        .to_xml(sdkgw_envelope::xhe::PayloadXml::Element(
            &m.to_xml().unwrap(),
        ))
        .unwrap();
    let signed = sdkgw_xml_security::dsig::sign_enveloped(
        plain.into_bytes(),
        &p.a.sign_key,
        &p.a.sign_cert,
        &Default::default(),
    )
    .unwrap();
    let rx = receiver();
    match open_as_b(&rx, signed) {
        Ok(Opened::Rejected(r)) => {
            let line = &r.receipt.receipt.lines[0];
            assert_eq!(
                (line.reason, line.detail()),
                (ReasonCode::Sig, Some(DetailCode::Security))
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(rx.keys.asked.get(), 0);
}

#[test]
fn wrong_encryption_certificate_is_undecryptable_without_receipt() {
    let p = pki();
    let s = sealed_with(&message(), FederationId::Test, &p.a, &p.a.enc_cert);
    let rx = receiver();
    match open_as_b(&rx, s.into_bytes()) {
        Err(Refusal::Undecryptable(_)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(rx.keys.asked.get(), 1);
}

#[test]
fn foreign_federation_id_gets_no_receipt() {
    let p = pki();
    let s = sealed_with(&message(), FederationId::Sdk, &p.a, &p.b.enc_cert);
    assert_no_receipt(
        "sdk federation in dev",
        s.into_bytes(),
        |e| matches!(e, Refusal::Envelope(r) if r.rule_ids() == ["GW-XHE-5"]),
    );
}

#[test]
fn huge_base64_is_refused_at_the_parser_limit() {
    let s = sealed();
    let cipher = between(&s, "<xenc:CipherValue>", "</xenc:CipherValue>");
    let cipher = cipher
        .rsplit_once("<xenc:CipherValue>")
        .map_or(cipher, |(_, c)| c);
    let huge = format!("{}</xenc:CipherValue>", "QUJD".repeat(17 << 20));
    let bytes = s.replacen(cipher, &huge, 1).into_bytes();
    // The XHE limit is the AS4 message limit (150 MiB by default); 64 MiB here.
    let limit = 64 << 20;
    assert!(bytes.len() > limit);
    let rx = receiver();
    let policy = MessagePolicy {
        max_xhe_bytes: limit,
        ..MessagePolicy::default()
    };
    let cfg = rx.config(Some(&pki().a.sign_cert), policy);
    match sdkgw_envelope::open::open(bytes, &cfg) {
        Err(Refusal::Malformed(_)) => {}
        other => panic!("huge base64: expected a parser-limit refusal, got {other:?}"),
    }
    assert_eq!(rx.keys.asked.get(), 0);
}

#[test]
fn deep_nesting_and_dtds_are_refused_by_the_parser() {
    let s = sealed();
    let deep = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
    let nested = s.replacen("<xha:Header>", &format!("<xha:Header>{deep}"), 1);
    assert_no_receipt("deep nesting", nested.into_bytes(), |e| {
        matches!(e, Refusal::Malformed(_))
    });
    let xxe = s.replacen(
        "<x:XHE",
        "<!DOCTYPE x:XHE [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x:XHE",
        1,
    );
    assert_no_receipt("external entity", xxe.into_bytes(), |e| {
        matches!(e, Refusal::Malformed(_))
    });
    let bomb = s.replacen(
        "<x:XHE",
        "<!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]><x:XHE",
        1,
    );
    assert_no_receipt("entity expansion", bomb.into_bytes(), |e| {
        matches!(e, Refusal::Malformed(_))
    });
}

#[test]
fn forged_data_hidden_next_to_signed_data_is_an_envelope_error() {
    let s = sealed();
    let forged = s.replacen(
        "<xha:ToParty>",
        "<xha:ToParty><xha:PartyIdentification><xhb:ID schemeID=\"iso6523-actorid-upis\">0203:evil.test</xhb:ID></xha:PartyIdentification></xha:ToParty><xha:ToParty>",
        1,
    );
    assert_no_receipt(
        "second ToParty",
        forged.into_bytes(),
        |e| matches!(e, Refusal::Envelope(r) if r.has(sdkgw_schemas::XheRule::R14)),
    );
}
