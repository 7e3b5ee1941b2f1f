//! The WS-Security hooks: KeyInfo resolved by the caller (SecurityTokenReference →
//! BinarySecurityToken) and SwA attachment references digested over the attachment's bytes.
#![allow(clippy::unwrap_used)]

mod support_xml;

use std::collections::HashMap;
use std::io::Read;

use sdkgw_certs::Certificate;
use sdkgw_xml_security::c14n::Algorithm;
use sdkgw_xml_security::dsig::{
    AttachmentResolver, Coverage, DigestMethod, Expected, InvalidReason, KeyInfoTemplate,
    KeyResolver, Placement, PolicyViolation, ReferenceTemplate, SignatureMethod, SignatureTemplate,
    Transform, VerificationKey, Verifier, VerifyError, VerifyPolicy, sign,
};
use sdkgw_xml_security::xml::{Document, ElementRef, ParseOptions, WSU_NS};
use support_xml::{leaf, pki, shared_dir};

const SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";
const WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";

/// What the AS4 layer would do: KeyInfo/SecurityTokenReference/Reference/@URI names a
/// BinarySecurityToken by wsu:Id in the same tree.
struct BstResolver;

impl KeyResolver for BstResolver {
    fn resolve(
        &self,
        doc: &Document,
        key_info: Option<ElementRef<'_>>,
    ) -> Result<VerificationKey, InvalidReason> {
        let bad = |m: &str| InvalidReason::Key(m.to_owned());
        let str_el = key_info
            .ok_or_else(|| bad("no KeyInfo"))?
            .required_child(Some(WSSE), "SecurityTokenReference")
            .map_err(|e| bad(&e.to_string()))?;
        let uri = str_el
            .required_child(Some(WSSE), "Reference")
            .and_then(|r| r.required_attribute(None, "URI"))
            .map_err(|e| bad(&e.to_string()))?;
        let id = uri
            .strip_prefix('#')
            .ok_or_else(|| bad("not a local reference"))?;
        let bst = doc
            .element_by_id(id)
            .map_err(|e| bad(&e.to_string()))?
            .filter(|e| e.is(Some(WSSE), "BinarySecurityToken"))
            .ok_or_else(|| bad("no BinarySecurityToken"))?;
        let cert =
            Certificate::from_base64(&bst.trimmed_text()).map_err(|e| bad(&e.to_string()))?;
        Ok(VerificationKey::from_certificate(cert))
    }
}

struct Attachments(HashMap<String, Vec<u8>>);

impl AttachmentResolver for Attachments {
    fn open(&self, uri: &str) -> Result<Box<dyn Read + '_>, String> {
        let bytes = self.0.get(uri).ok_or_else(|| format!("no part {uri}"))?;
        Ok(Box::new(bytes.as_slice()))
    }
}

fn message(cert: &Certificate) -> String {
    format!(
        r##"<S:Envelope xmlns:S="{SOAP}" xmlns:wsu="{WSU_NS}" xmlns:wsse="{WSSE}" xmlns:eb="urn:eb"><S:Header><eb:Messaging wsu:Id="msg"><eb:PartInfo href="cid:message"/></eb:Messaging><wsse:Security><wsse:BinarySecurityToken wsu:Id="bst" ValueType="x509v3">{}</wsse:BinarySecurityToken></wsse:Security></S:Header><S:Body wsu:Id="body"/></S:Envelope>"##,
        cert.to_base64()
    )
}

fn signed(cert: &Certificate, key: &sdkgw_certs::PrivateKey, attachments: &Attachments) -> Vec<u8> {
    let options = ParseOptions::default();
    let doc = Document::parse(message(cert).into_bytes(), &options).unwrap();
    let security = doc
        .root()
        .required_child(Some(SOAP), "Header")
        .unwrap()
        .required_child(Some(WSSE), "Security")
        .unwrap();
    let exc = || vec![Transform::C14n(Algorithm::exclusive(&[]))];
    let reference = |uri: &str, transforms| ReferenceTemplate {
        uri: uri.into(),
        transforms,
        digest: DigestMethod::Sha256,
    };
    let template = SignatureTemplate {
        c14n: Algorithm::exclusive(&[]),
        method: SignatureMethod::RsaSha256,
        references: vec![
            reference("#msg", exc()),
            reference("#body", exc()),
            reference("cid:message", vec![Transform::AttachmentContent]),
        ],
        key_info: KeyInfoTemplate::Xml(r##"<wsse:SecurityTokenReference><wsse:Reference URI="#bst"/></wsse:SecurityTokenReference>"##.into()),
        prefix: Some("ds".into()),
        id: None,
        placement: Placement::LastChildOf(security.node_id()),
    };
    sign(&doc, &template, key, Some(attachments), &options)
        .unwrap()
        .bytes
}

fn verify(bytes: &[u8], attachments: &Attachments) -> Result<(), VerifyError> {
    let doc = Document::parse(bytes.to_vec(), &ParseOptions::default()).unwrap();
    let header = doc.root().required_child(Some(SOAP), "Header").unwrap();
    let messaging = header.required_child(Some("urn:eb"), "Messaging").unwrap();
    let body = doc.root().required_child(Some(SOAP), "Body").unwrap();
    let signature = header
        .required_child(Some(WSSE), "Security")
        .unwrap()
        .required_child(Some("http://www.w3.org/2000/09/xmldsig#"), "Signature")
        .unwrap();
    let policy = VerifyPolicy::as4();
    let verified = Verifier::new(&policy, &BstResolver)
        .with_attachments(attachments)
        .verify(&doc, signature.node_id())?;
    verified.require_references(
        &doc,
        &[
            Expected::Element(messaging.node_id()),
            Expected::Element(body.node_id()),
            Expected::Attachment("cid:message"),
        ],
    )?;
    assert!(verified.references().iter().any(|r| r.coverage
        == Coverage::Attachment {
            uri: "cid:message".into()
        }));
    Ok(())
}

#[test]
fn binary_security_token_key_and_attachment_references_sign_and_verify() {
    let Some(shared) = shared_dir() else { return };
    let ap = leaf(&pki(&shared), "ap-ca/ap0001");
    let parts = Attachments(HashMap::from([(
        "cid:message".to_owned(),
        b"\x1f\x8b compressed bytes".to_vec(),
    )]));
    let bytes = signed(&ap.cert, &ap.key, &parts);
    verify(&bytes, &parts).unwrap();
}

#[test]
fn a_changed_or_missing_attachment_is_refused() {
    let Some(shared) = shared_dir() else { return };
    let ap = leaf(&pki(&shared), "ap-ca/ap0001");
    let parts = Attachments(HashMap::from([(
        "cid:message".to_owned(),
        b"original".to_vec(),
    )]));
    let bytes = signed(&ap.cert, &ap.key, &parts);
    let swapped = Attachments(HashMap::from([(
        "cid:message".to_owned(),
        b"swapped".to_vec(),
    )]));
    assert!(matches!(
        verify(&bytes, &swapped),
        Err(VerifyError::Invalid(InvalidReason::Digest(_)))
    ));
    let none = Attachments(HashMap::new());
    assert!(matches!(
        verify(&bytes, &none),
        Err(VerifyError::Invalid(InvalidReason::Attachment { .. }))
    ));
}

#[test]
fn a_token_from_another_key_is_refused() {
    let Some(shared) = shared_dir() else { return };
    let pki = pki(&shared);
    let ap1 = leaf(&pki, "ap-ca/ap0001");
    let ap2 = leaf(&pki, "ap-ca/ap0002");
    let parts = Attachments(HashMap::from([("cid:message".to_owned(), b"x".to_vec())]));
    let bytes = signed(&ap1.cert, &ap1.key, &parts);
    let text =
        String::from_utf8(bytes)
            .unwrap()
            .replacen(&ap1.cert.to_base64(), &ap2.cert.to_base64(), 1);
    assert!(matches!(
        verify(text.as_bytes(), &parts),
        Err(VerifyError::Invalid(InvalidReason::SignatureValue))
    ));
}

#[test]
fn attachments_are_refused_by_policies_that_do_not_allow_them() {
    let Some(shared) = shared_dir() else { return };
    let ap = leaf(&pki(&shared), "ap-ca/ap0001");
    let parts = Attachments(HashMap::from([("cid:message".to_owned(), b"x".to_vec())]));
    let bytes = signed(&ap.cert, &ap.key, &parts);
    let doc = Document::parse(bytes, &ParseOptions::default()).unwrap();
    let sig = doc
        .elements()
        .find(|e| e.local_name() == "Signature")
        .unwrap()
        .node_id();
    let policy = VerifyPolicy {
        algorithms: sdkgw_xml_security::crypto::AlgorithmPolicy::as4(),
        ..VerifyPolicy::default()
    };
    let result = Verifier::new(&policy, &BstResolver)
        .with_attachments(&parts)
        .verify(&doc, sig);
    assert!(matches!(result, Err(VerifyError::Policy(_))), "{result:?}");
}

#[test]
fn coverage_is_only_answered_for_the_tree_that_was_verified() {
    let Some(shared) = shared_dir() else { return };
    let ap = leaf(&pki(&shared), "ap-ca/ap0001");
    let parts = Attachments(HashMap::from([("cid:message".to_owned(), b"x".to_vec())]));
    let bytes = signed(&ap.cert, &ap.key, &parts);
    let verified_doc = Document::parse(bytes.clone(), &ParseOptions::default()).unwrap();
    let other_parse = Document::parse(bytes, &ParseOptions::default()).unwrap();
    let sig = verified_doc
        .elements()
        .find(|e| e.local_name() == "Signature")
        .unwrap()
        .node_id();
    let policy = VerifyPolicy::as4();
    let verified = Verifier::new(&policy, &BstResolver)
        .with_attachments(&parts)
        .verify(&verified_doc, sig)
        .unwrap();
    let root = other_parse.root().node_id();
    assert!(matches!(
        verified.covers(&other_parse, root),
        Err(VerifyError::Policy(PolicyViolation::OtherDocument))
    ));
    assert!(verified.require_references(&other_parse, &[]).is_err());
}
