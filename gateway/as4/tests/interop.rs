//! Independent checks of our WS-Security output (CONTRIBUTING: interop is proven against an
//! independent implementation): `xmlsec1` (libxmlsec1) verifies the signatures of our
//! receipts and of a UserMessage sealed by `wss::seal`, with the `wsu:Id`s of eb:Messaging,
//! Body and Timestamp registered as ids; `openssl dgst` recomputes the SwA attachment digest,
//! which xmlsec1 cannot resolve (`cid:` references).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use common::{ORG_A, ORG_B, XheSpec, node, pki};
use sdkgw_as4::msh::AttemptOutcome;
use sdkgw_as4::wss::seal::{SealRequest, Signer, seal};
use time::OffsetDateTime;

const EB: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/";
const S12: &str = "http://www.w3.org/2003/05/soap-envelope";
const WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";

fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("version").output().is_ok();
    if !found {
        eprintln!("{tool} not installed; skipping (apt-get install -y xmlsec1)");
    }
    found
}

/// `xmlsec1 --verify` of `envelope` with the signer's certificate; returns its output.
fn xmlsec1_verify(envelope: &[u8], cert_pem: &str, dir: &Path) -> (bool, String) {
    let file = dir.join(format!("env-{}.xml", uuid::Uuid::new_v4()));
    std::fs::write(&file, envelope).unwrap();
    let cert = dir.join("signer.pem");
    std::fs::write(&cert, cert_pem).unwrap();
    let out = Command::new("xmlsec1")
        .arg("--verify")
        .arg("--pubkey-cert-pem")
        .arg(&cert)
        .args(["--id-attr:Id", &format!("{EB}:Messaging")])
        .args(["--id-attr:Id", &format!("{S12}:Body")])
        .args(["--id-attr:Id", &format!("{WSU}:Timestamp")])
        .arg(&file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xmlsec1_verifies_our_receipt_signature_and_refuses_a_tampered_one() {
    if !have("xmlsec1") {
        return;
    }
    let (a, b) = (node(0).await, node(1).await);
    let (out, _p) = common::prepared(&a, &XheSpec::message(ORG_A, ORG_B));
    let attempt = a.sender.attempt(&out, &b.route()).await;
    let AttemptOutcome::Delivered(d) = &attempt.outcome else {
        panic!("{:?}", attempt.outcome)
    };
    let pem = b.identity.certificate.to_pem();
    let (ok, text) = xmlsec1_verify(&d.receipt, &pem, &a.spool);
    assert!(ok, "xmlsec1 refused our receipt: {text}");
    assert!(text.contains("OK"), "{text}");
    assert!(
        text.contains("References (ok/all): 3/3"),
        "all three references checked: {text}"
    );
    let tampered = String::from_utf8(d.receipt.clone()).unwrap().replacen(
        "<eb:RefToMessageId>",
        "<eb:RefToMessageId>x",
        1,
    );
    let (ok, text) = xmlsec1_verify(tampered.as_bytes(), &pem, &a.spool);
    assert!(!ok, "xmlsec1 accepted a tampered receipt: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xmlsec1_verifies_a_sealed_user_message_and_openssl_recomputes_the_attachment_digest() {
    if !have("xmlsec1") {
        return;
    }
    let p = pki();
    let dir = tempfile::tempdir().unwrap();
    let signer = p.identity(0);
    let recipient = p.identity(1).certificate;
    // 1. Without attachments every reference is in the envelope, so xmlsec1 checks all of it.
    let messaging = "<eb:Messaging S12:mustUnderstand=\"true\" wsu:Id=\"_m\"><eb:UserMessage><eb:MessageInfo><eb:Timestamp>2026-01-01T00:00:00.000Z</eb:Timestamp><eb:MessageId>x@y</eb:MessageId></eb:MessageInfo></eb:UserMessage></eb:Messaging>";
    let now = OffsetDateTime::now_utc();
    let sealed = seal(&SealRequest {
        messaging_xml: messaging,
        messaging_id: "_m",
        signer: Signer {
            certificate: &signer.certificate,
            key: &signer.key,
        },
        recipient: &recipient,
        attachments: &[],
        created: now,
        expires: None,
        spool_dir: dir.path(),
    })
    .unwrap();
    let (ok, text) = xmlsec1_verify(&sealed.envelope, &signer.certificate.to_pem(), dir.path());
    assert!(ok, "xmlsec1 refused our WS-Security signature: {text}");
    assert!(text.contains("References (ok/all): 3/3"), "{text}");
    // 2. With the payload attachment: openssl's SHA-256 of the compressed payload is the
    //    DigestValue of the cid:message reference (Attachment-Content-Signature-Transform
    //    digests the raw part content).
    let a = node(0).await;
    let b = node(1).await;
    let (out, _p) = common::prepared(&a, &XheSpec::message(ORG_A, ORG_B));
    let attempt = a.sender.attempt(&out, &b.route()).await;
    assert!(matches!(attempt.outcome, AttemptOutcome::Delivered(_)));
    let ours = attempt
        .references
        .iter()
        .find(|r| r.0 == "cid:message")
        .unwrap()
        .1
        .clone();
    let dgst = Command::new("openssl")
        .args(["dgst", "-sha256", "-binary"])
        .arg(&out.payload)
        .output()
        .unwrap();
    assert!(dgst.status.success());
    assert_eq!(dgst.stdout, ours);
    let env = String::from_utf8(attempt.envelope.clone().unwrap()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&ours);
    assert!(env.contains(&format!("<ds:DigestValue>{b64}</ds:DigestValue>")));
}
