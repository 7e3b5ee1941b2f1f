//! The negative corpus: every tampered, wrapped, ambiguous or downgraded signature is refused,
//! with the right class of error (policy vs. invalid) and a Display that does not tell which
//! cryptographic step failed. Where it matters, xmlsec1 is shown to refuse the same input, so
//! the corpus is really bad and not just bad for us.
#![allow(clippy::unwrap_used)]

mod support_xml;

use std::path::Path;
use std::process::Command;

use sdkgw_xml_security::c14n::Algorithm;
use sdkgw_xml_security::dsig::{
    DigestMethod, EmbeddedCertificate, Expected, InvalidReason, KeyInfoTemplate, Placement,
    PolicyViolation, ReferenceTemplate, SignatureMethod, SignatureTemplate, Transform,
    VerifiedSignature, Verifier, VerifyError, VerifyPolicy, sign, sign_enveloped,
};
use sdkgw_xml_security::xml::{Document, ParseOptions, WSU_NS};
use support_xml::{Leaf, leaf, pki, run, scratch, shared_dir, xmlsec1_verify};

fn parse(bytes: &[u8]) -> Document {
    Document::parse(bytes.to_vec(), &ParseOptions::default()).unwrap()
}

fn verify_enveloped(bytes: &[u8], policy: &VerifyPolicy) -> Result<VerifiedSignature, VerifyError> {
    Verifier::new(policy, &EmbeddedCertificate).verify_enveloped(&parse(bytes))
}

fn replace_once(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(text.contains(from), "{from:?} not in document");
    text.replacen(from, to, 1).into_bytes()
}

struct Fixture {
    dir: std::path::PathBuf,
    orga: Leaf,
    orgb: Leaf,
    signed: Vec<u8>,
}

fn fixture(name: &str) -> Option<Fixture> {
    let shared = shared_dir()?;
    let pki = pki(&shared);
    let orga = leaf(&pki, "o2o-ca/orga");
    let orgb = leaf(&pki, "o2o-ca/orgb");
    let xhe = std::fs::read(shared.join("sdk-reference/xhe/examples/XHE-tm-base.xml")).unwrap();
    let signed = sign_enveloped(xhe, &orga.key, &orga.cert, &ParseOptions::default()).unwrap();
    Some(Fixture {
        dir: scratch(name),
        orga,
        orgb,
        signed,
    })
}

fn assert_invalid(
    result: Result<VerifiedSignature, VerifyError>,
    want: fn(&InvalidReason) -> bool,
) {
    match result {
        Err(e @ VerifyError::Invalid(_)) => {
            assert_eq!(
                e.to_string(),
                "signature is not valid",
                "Display must not name the failing step"
            );
            let VerifyError::Invalid(reason) = &e else {
                unreachable!()
            };
            assert!(want(reason), "unexpected reason {reason:?}");
        }
        other => panic!("expected an invalid signature, got {other:?}"),
    }
}

fn assert_policy(
    result: Result<VerifiedSignature, VerifyError>,
    want: fn(&PolicyViolation) -> bool,
) {
    match result {
        Err(VerifyError::Policy(p)) => assert!(want(&p), "unexpected violation {p:?}"),
        other => panic!("expected a policy violation, got {other:?}"),
    }
}

fn xmlsec1_refuses(dir: &Path, name: &str, bytes: &[u8]) {
    let file = dir.join(name);
    std::fs::write(&file, bytes).unwrap();
    let (ok, out) = xmlsec1_verify(&file, &[], &[]);
    assert!(!ok, "xmlsec1 accepted {name}: {out}");
}

#[test]
fn the_untampered_fixture_verifies() {
    let Some(f) = fixture("neg-baseline") else {
        return;
    };
    assert!(verify_enveloped(&f.signed, &VerifyPolicy::default()).is_ok());
}

#[test]
fn tampered_content_fails_its_digest() {
    let Some(f) = fixture("neg-digest") else {
        return;
    };
    let tampered =
        String::from_utf8(replace_once(&f.signed, "<ID>862693f7", "<ID>962693f7")).unwrap();
    assert_invalid(
        verify_enveloped(tampered.as_bytes(), &VerifyPolicy::default()),
        |r| matches!(r, InvalidReason::Digest(_)),
    );
    xmlsec1_refuses(&f.dir, "digest.xml", tampered.as_bytes());
}

#[test]
fn tampered_signed_info_fails_the_signature_value() {
    let Some(f) = fixture("neg-signedinfo") else {
        return;
    };
    let text = String::from_utf8(f.signed.clone()).unwrap();
    let start = text.find("<ds:DigestValue>").unwrap() + "<ds:DigestValue>".len();
    let mut bytes = text.into_bytes();
    bytes[start] = if bytes[start] == b'A' { b'B' } else { b'A' };
    assert_invalid(verify_enveloped(&bytes, &VerifyPolicy::default()), |r| {
        matches!(r, InvalidReason::SignatureValue)
    });
    xmlsec1_refuses(&f.dir, "signedinfo.xml", &bytes);
}

#[test]
fn a_different_or_missing_certificate_is_refused() {
    let Some(f) = fixture("neg-cert") else { return };
    let wrong = replace_once(
        &f.signed,
        &f.orga.cert.to_base64(),
        &f.orgb.cert.to_base64(),
    );
    assert_invalid(verify_enveloped(&wrong, &VerifyPolicy::default()), |r| {
        matches!(r, InvalidReason::SignatureValue)
    });
    xmlsec1_refuses(&f.dir, "wrong-cert.xml", &wrong);

    let text = String::from_utf8(f.signed.clone()).unwrap();
    let (a, b) = (
        text.find("<ds:KeyInfo>").unwrap(),
        text.find("</ds:KeyInfo>").unwrap(),
    );
    let missing = format!("{}{}", &text[..a], &text[b + "</ds:KeyInfo>".len()..]);
    assert_invalid(
        verify_enveloped(missing.as_bytes(), &VerifyPolicy::default()),
        |r| matches!(r, InvalidReason::Key(_)),
    );
    let garbage = replace_once(&f.signed, &f.orga.cert.to_base64()[..40], "AAAA");
    assert_invalid(verify_enveloped(&garbage, &VerifyPolicy::default()), |r| {
        matches!(r, InvalidReason::Key(_) | InvalidReason::Base64(_))
    });
}

#[test]
fn a_second_signature_or_a_misplaced_one_is_refused() {
    let Some(f) = fixture("neg-second") else {
        return;
    };
    let text = String::from_utf8(f.signed.clone()).unwrap();
    let (a, b) = (
        text.find("<ds:Signature").unwrap(),
        text.find("</ds:Signature>").unwrap(),
    );
    let signature = &text[a..b + "</ds:Signature>".len()];
    let twice = format!("{}{signature}{}", &text[..a], &text[a..]);
    assert_policy(
        verify_enveloped(twice.as_bytes(), &VerifyPolicy::default()),
        |p| matches!(p, PolicyViolation::Placement(_)),
    );
    // The signed document wrapped into a new root: the Signature is no longer the root's child.
    let root = &text[text.find("<x:XHE").unwrap()..];
    let wrapped = format!("<Wrapper><Forged/>{root}</Wrapper>");
    assert_policy(
        verify_enveloped(wrapped.as_bytes(), &VerifyPolicy::default()),
        |p| matches!(p, PolicyViolation::Placement(_)),
    );
    let none = format!("{}{}", &text[..a], &text[b + "</ds:Signature>".len()..]);
    assert_policy(
        verify_enveloped(none.as_bytes(), &VerifyPolicy::default()),
        |p| matches!(p, PolicyViolation::Placement(_)),
    );
}

const SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";

fn soap_message(extra_header: &str) -> String {
    format!(
        r##"<S:Envelope xmlns:S="{SOAP}" xmlns:wsu="{WSU_NS}" xmlns:eb="urn:eb"><S:Header><eb:Messaging wsu:Id="msg"><eb:To>AP0002</eb:To></eb:Messaging>{extra_header}<wsse:Security xmlns:wsse="urn:wsse"/></S:Header><S:Body wsu:Id="body"><p xmlns="urn:p">payload</p></S:Body></S:Envelope>"##
    )
}

fn sign_soap(f: &Fixture, message: &str, refs: &[&str]) -> Vec<u8> {
    let options = ParseOptions::default();
    let doc = Document::parse(message.as_bytes().to_vec(), &options).unwrap();
    let security = doc
        .root()
        .required_child(Some(SOAP), "Header")
        .unwrap()
        .required_child(Some("urn:wsse"), "Security")
        .unwrap();
    let template = SignatureTemplate {
        c14n: Algorithm::exclusive(&[]),
        method: SignatureMethod::RsaSha256,
        references: refs
            .iter()
            .map(|uri| ReferenceTemplate {
                uri: (*uri).into(),
                transforms: vec![Transform::C14n(Algorithm::exclusive(&[]))],
                digest: DigestMethod::Sha256,
            })
            .collect(),
        key_info: KeyInfoTemplate::X509Certificate(f.orga.cert.clone()),
        prefix: Some("ds".into()),
        id: None,
        placement: Placement::LastChildOf(security.node_id()),
    };
    sign(&doc, &template, &f.orga.key, None, &options)
        .unwrap()
        .bytes
}

/// Verifies the one Signature in wsse:Security and requires it to cover exactly the
/// structural eb:Messaging and S:Body.
fn verify_soap(bytes: &[u8]) -> Result<(), VerifyError> {
    let doc = parse(bytes);
    let header = doc.root().required_child(Some(SOAP), "Header").unwrap();
    let messaging = header.required_child(Some("urn:eb"), "Messaging").unwrap();
    let body = doc.root().required_child(Some(SOAP), "Body").unwrap();
    let signature = header
        .required_child(Some("urn:wsse"), "Security")
        .unwrap()
        .required_child(Some("http://www.w3.org/2000/09/xmldsig#"), "Signature")
        .unwrap();
    let policy = VerifyPolicy::as4();
    let verified =
        Verifier::new(&policy, &EmbeddedCertificate).verify(&doc, signature.node_id())?;
    verified.require_references(
        &doc,
        &[
            Expected::Element(messaging.node_id()),
            Expected::Element(body.node_id()),
        ],
    )
}

#[test]
fn ws_security_signature_over_messaging_and_body_verifies() {
    let Some(f) = fixture("neg-wss-ok") else {
        return;
    };
    let signed = sign_soap(&f, &soap_message(""), &["#msg", "#body"]);
    verify_soap(&signed).unwrap();
}

#[test]
fn a_moved_signed_element_with_a_forged_replacement_is_refused() {
    let Some(f) = fixture("neg-wrapping") else {
        return;
    };
    let signed = String::from_utf8(sign_soap(&f, &soap_message(""), &["#msg", "#body"])).unwrap();
    // XSW: the signed Messaging moves into a wrapper header; a forged one (other recipient, no
    // id) takes its place. The digest of #msg still matches, but it is not the Messaging that
    // would be processed.
    let original = signed
        [signed.find("<eb:Messaging").unwrap()..signed.find("</eb:Messaging>").unwrap() + 15]
        .to_owned();
    let forged = "<eb:Messaging><eb:To>EVIL</eb:To></eb:Messaging>";
    let wrapped = signed.replacen(
        &original,
        &format!("{forged}<Wrapper xmlns=\"urn:w\">{original}</Wrapper>"),
        1,
    );
    match verify_soap(wrapped.as_bytes()) {
        Err(VerifyError::Policy(PolicyViolation::References(_))) => {}
        other => panic!("wrapping not detected: {other:?}"),
    }
    // The same with the forged copy carrying the same id: duplicate ids.
    let forged_id = "<eb:Messaging wsu:Id=\"msg\"><eb:To>EVIL</eb:To></eb:Messaging>";
    let duplicated = signed.replacen(
        &original,
        &format!("{forged_id}<Wrapper xmlns=\"urn:w\">{original}</Wrapper>"),
        1,
    );
    match verify_soap(duplicated.as_bytes()) {
        Err(VerifyError::Policy(PolicyViolation::DuplicateIds(ids))) => assert_eq!(ids, ["msg"]),
        other => panic!("duplicate id not detected: {other:?}"),
    }
}

#[test]
fn missing_or_extra_references_are_refused() {
    let Some(f) = fixture("neg-refs") else { return };
    let only_body = sign_soap(&f, &soap_message(""), &["#body"]);
    assert!(matches!(
        verify_soap(&only_body),
        Err(VerifyError::Policy(PolicyViolation::References(_)))
    ));
    let extra = sign_soap(
        &f,
        &soap_message("<eb:Other wsu:Id=\"o\"/>"),
        &["#msg", "#body", "#o"],
    );
    assert!(matches!(
        verify_soap(&extra),
        Err(VerifyError::Policy(PolicyViolation::References(_)))
    ));
}

#[test]
fn duplicate_ids_anywhere_in_the_document_are_refused() {
    let Some(f) = fixture("neg-dup") else { return };
    let signed = String::from_utf8(sign_soap(&f, &soap_message(""), &["#msg", "#body"])).unwrap();
    let dup = signed.replacen(
        "<wsse:Security",
        "<x:Unrelated xmlns:x=\"urn:x\" Id=\"body\"/><wsse:Security",
        1,
    );
    match verify_soap(dup.as_bytes()) {
        Err(VerifyError::Policy(PolicyViolation::DuplicateIds(_))) => {}
        other => panic!("{other:?}"),
    }
}

/// Signs a template with xmlsec1 (any algorithms it supports) and returns the result.
fn xmlsec1_sign(f: &Fixture, name: &str, template: &str) -> Vec<u8> {
    let tpl = f.dir.join(format!("{name}.tpl.xml"));
    let out = f.dir.join(format!("{name}.xml"));
    std::fs::write(&tpl, template).unwrap();
    let (ok, text) = run(Command::new("xmlsec1")
        .args(["--sign", "--privkey-pem"])
        .arg(format!(
            "{},{}",
            f.orga.key_pem.display(),
            f.orga.cert_pem.display()
        ))
        .arg("--output")
        .arg(&out)
        .arg(&tpl));
    assert!(ok, "xmlsec1 --sign {name}: {text}");
    std::fs::read(out).unwrap()
}

fn enveloped_template(
    signature_method: &str,
    digest_method: &str,
    transforms: &str,
    extra: &str,
) -> String {
    format!(
        r#"<doc><a>data</a><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/><ds:SignatureMethod Algorithm="{signature_method}"/><ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>{transforms}</ds:Transforms><ds:DigestMethod Algorithm="{digest_method}"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo>{extra}</ds:Signature></doc>"#
    )
}

const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

#[test]
fn sha1_signatures_are_refused_unless_the_policy_allows_them() {
    let Some(f) = fixture("neg-sha1") else { return };
    let rsa_sha1 = xmlsec1_sign(
        &f,
        "rsa-sha1",
        &enveloped_template(RSA_SHA1, SHA256, "", ""),
    );
    assert_policy(verify_enveloped(&rsa_sha1, &VerifyPolicy::default()), |p| {
        matches!(p, PolicyViolation::Algorithm(_))
    });
    verify_enveloped(&rsa_sha1, &VerifyPolicy::default().allowing_sha1()).unwrap();

    let sha1_digest = xmlsec1_sign(
        &f,
        "sha1-digest",
        &enveloped_template(RSA_SHA256, SHA1, "", ""),
    );
    assert_policy(
        verify_enveloped(&sha1_digest, &VerifyPolicy::default()),
        |p| matches!(p, PolicyViolation::Algorithm(_)),
    );
    verify_enveloped(&sha1_digest, &VerifyPolicy::default().allowing_sha1()).unwrap();
}

#[test]
fn xmlsec1_signatures_with_sha2_variants_verify() {
    let Some(f) = fixture("pos-sha2") else { return };
    for (sm, dm) in [
        (
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
            "http://www.w3.org/2001/04/xmldsig-more#sha384",
        ),
        (
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
            "http://www.w3.org/2001/04/xmlenc#sha512",
        ),
    ] {
        let signed = xmlsec1_sign(&f, "sha2", &enveloped_template(sm, dm, "", ""));
        verify_enveloped(&signed, &VerifyPolicy::default()).unwrap();
    }
}

#[test]
fn forbidden_transforms_objects_and_uris_are_refused_before_any_crypto() {
    let Some(f) = fixture("neg-shape") else {
        return;
    };
    let xpath = r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform>"#;
    let signed = xmlsec1_sign(
        &f,
        "xpath",
        &enveloped_template(RSA_SHA256, SHA256, xpath, ""),
    );
    assert_policy(verify_enveloped(&signed, &VerifyPolicy::default()), |p| {
        matches!(p, PolicyViolation::Transform(_))
    });

    let object = r#"<ds:Object Id="obj"><x>hidden</x></ds:Object>"#;
    let signed = xmlsec1_sign(
        &f,
        "object",
        &enveloped_template(RSA_SHA256, SHA256, "", object),
    );
    assert_policy(verify_enveloped(&signed, &VerifyPolicy::default()), |p| {
        matches!(p, PolicyViolation::Shape(_))
    });

    let good = xmlsec1_sign(&f, "uri", &enveloped_template(RSA_SHA256, SHA256, "", ""));
    let remote = replace_once(&good, "URI=\"\"", "URI=\"http://attacker.example/x\"");
    let doc = parse(&remote);
    let sig = doc
        .elements()
        .find(|e| e.local_name() == "Signature")
        .unwrap()
        .node_id();
    let policy = VerifyPolicy::default();
    assert!(matches!(
        Verifier::new(&policy, &EmbeddedCertificate).verify(&doc, sig),
        Err(VerifyError::Policy(PolicyViolation::ReferenceUri(_)))
    ));
    let hmac = replace_once(
        &good,
        RSA_SHA256,
        "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
    );
    assert_policy(verify_enveloped(&hmac, &VerifyPolicy::default()), |p| {
        matches!(p, PolicyViolation::Algorithm(_))
    });
    let attachment = replace_once(&good, "URI=\"\"", "URI=\"cid:part\"");
    let doc = parse(&attachment);
    let sig = doc
        .elements()
        .find(|e| e.local_name() == "Signature")
        .unwrap()
        .node_id();
    assert!(matches!(
        Verifier::new(&policy, &EmbeddedCertificate).verify(&doc, sig),
        Err(VerifyError::Policy(PolicyViolation::ReferenceUri(_)))
    ));
}
