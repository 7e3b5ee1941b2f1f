//! Key references peers may use (BSTPOL `MustSupportRefKeyIdentifier`,
//! `MustSupportRefIssuerSerial`, `MustSupportRefEmbeddedToken`; AS4 digest §4.2 step 6): the
//! EncryptedKey may name our certificate by BST reference, SubjectKeyIdentifier or
//! IssuerSerial; the signature's KeyInfo may name a BST of the header by SKI or IssuerSerial;
//! a receipt may name the receiver's SMP certificate by SKI without carrying a BST (Domibus
//! with the SKI policy).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use common::craft::{Craft, assert_refused, outcome};
use common::fake::{self, Answer, ReceiptKind};
use common::{ORG_A, ORG_B, XheSpec, node, pki};
use sdkgw_as4::msh::{AttemptOutcome, Route};
use sdkgw_certs::Certificate;

const RECIPIENT_STR: &str = "<wsse:Reference URI=\"#X509-recipient\" ValueType=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3\"/>";
const SIGNER_STR: &str = "<wsse:Reference URI=\"#X509-signer\" ValueType=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3\"/>";

fn ski(cert: &Certificate) -> String {
    format!(
        "<wsse:KeyIdentifier EncodingType=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary\" ValueType=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509SubjectKeyIdentifier\">{}</wsse:KeyIdentifier>",
        base64::engine::general_purpose::STANDARD.encode(cert.subject_key_id().unwrap())
    )
}

fn decimal(bytes: &[u8]) -> String {
    let mut digits = vec![0u8];
    for b in bytes {
        let mut carry = u32::from(*b);
        for d in digits.iter_mut() {
            let v = u32::from(*d) * 256 + carry;
            *d = (v % 10) as u8;
            carry = v / 10;
        }
        while carry > 0 {
            digits.push((carry % 10) as u8);
            carry /= 10;
        }
    }
    digits.iter().rev().map(|d| char::from(b'0' + d)).collect()
}

/// IssuerSerial with the issuer DN written in the other order, as another stack might.
fn issuer_serial(cert: &Certificate) -> String {
    let mut rdns: Vec<&str> = cert.issuer().split(", ").collect();
    rdns.reverse();
    format!(
        "<ds:X509Data><ds:X509IssuerSerial><ds:X509IssuerName>{}</ds:X509IssuerName><ds:X509SerialNumber>{}</ds:X509SerialNumber></ds:X509IssuerSerial></ds:X509Data>",
        rdns.join(","),
        decimal(cert.serial())
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_key_by_ski_or_issuer_serial_and_signer_by_ski_are_accepted() {
    let b = node(1).await;
    let signer = pki().identity(0);
    let ours = b.identity.certificate.clone();
    let m = Craft::new(&signer, &ours, XheSpec::message(ORG_A, ORG_B)).build(&b.spool);
    for (name, key_ref) in [("SKI", ski(&ours)), ("IssuerSerial", issuer_serial(&ours))] {
        let reply = m
            .clone()
            .replace(RECIPIENT_STR, &key_ref)
            .deliver(&b.receiver)
            .await;
        // A resend of the same MessageId with the same payload is acknowledged as well.
        assert_eq!(
            outcome(&reply).0,
            "receipt",
            "EncryptedKey by {name}: {:?}",
            outcome(&reply)
        );
    }
    let m2 = Craft::new(&signer, &ours, XheSpec::message(ORG_A, ORG_B)).build(&b.spool);
    let by_ski = m2.clone().replace(SIGNER_STR, &ski(&signer.certificate));
    assert_eq!(outcome(&by_ski.deliver(&b.receiver).await).0, "receipt");
    let m3 = Craft::new(&signer, &ours, XheSpec::message(ORG_A, ORG_B)).build(&b.spool);
    let by_is = m3.replace(SIGNER_STR, &issuer_serial(&signer.certificate));
    assert_eq!(outcome(&by_is.deliver(&b.receiver).await).0, "receipt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_references_to_other_certificates_are_refused() {
    let b = node(1).await;
    let signer = pki().identity(0);
    let ours = b.identity.certificate.clone();
    let m = Craft::new(&signer, &ours, XheSpec::message(ORG_A, ORG_B)).build(&b.spool);
    // The content key said to be for the sender's certificate, not ours.
    let other = m.clone().replace(RECIPIENT_STR, &ski(&signer.certificate));
    assert_refused(
        &other.deliver(&b.receiver).await,
        "EBMS:0102",
        "another certificate",
    );
    // A signer SKI that matches no token of the message.
    let nobody = m.replace(
        SIGNER_STR,
        &ski(&pki().cert(&pki().manifest.ca.ap_intermediate)),
    );
    assert_refused(
        &nobody.deliver(&b.receiver).await,
        "EBMS:0101",
        "no certificate matches",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_naming_the_smp_certificate_by_ski_without_bst_is_accepted() {
    let a = node(0).await;
    let peer = fake::start(1, vec![], Answer::Receipt(ReceiptKind::SkiWithoutBst)).await;
    let (out, _p) = common::prepared(&a, &XheSpec::message(ORG_A, ORG_B));
    let route = Route {
        endpoint: peer.url(),
        certificate: pki().identity(1).certificate,
    };
    let attempt = a.sender.attempt(&out, &route).await;
    assert!(
        matches!(attempt.outcome, AttemptOutcome::Delivered(_)),
        "{:?}",
        attempt.outcome
    );
}
