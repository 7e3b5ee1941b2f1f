//! XML-DSig interoperability with libxmlsec1 (`xmlsec1` CLI) and `dsig.py` (xmlsec1 +
//! signxml): our signatures verify there, theirs verify here, for enveloped XHE-style
//! signatures (`ds:` prefix and default namespace) and WS-Security-like exclusive-C14N
//! signatures with several id references.
#![allow(clippy::unwrap_used)]

mod support_xml;

use std::path::Path;
use std::process::Command;

use sdkgw_xml_security::c14n::Algorithm;
use sdkgw_xml_security::dsig::{
    DigestMethod, EmbeddedCertificate, Expected, KeyInfoTemplate, Placement, ReferenceTemplate,
    SignatureMethod, SignatureTemplate, Transform, Verifier, VerifyPolicy, sign, sign_enveloped,
};
use sdkgw_xml_security::xml::{Document, ParseOptions, WSU_NS};
use support_xml::{leaf, pki, run, scratch, shared_dir, tool, trust_files, xmlsec1_verify};

fn xhe_example(shared: &Path) -> Vec<u8> {
    std::fs::read(shared.join("sdk-reference/xhe/examples/XHE-tm-base.xml")).unwrap()
}

fn verify_ours(bytes: &[u8]) -> Result<Vec<String>, String> {
    let doc =
        Document::parse(bytes.to_vec(), &ParseOptions::default()).map_err(|e| e.to_string())?;
    let policy = VerifyPolicy::default();
    let verified = Verifier::new(&policy, &EmbeddedCertificate)
        .verify_enveloped(&doc)
        .map_err(|e| e.reason())?;
    Ok(verified.describe(&doc))
}

#[test]
fn our_enveloped_signature_verifies_in_xmlsec1_and_both_dsig_py_engines_with_profile() {
    let Some(shared) = shared_dir() else { return };
    let pki = pki(&shared);
    let orga = leaf(&pki, "o2o-ca/orga");
    let input = xhe_example(&shared);
    let signed = sign_enveloped(
        input.clone(),
        &orga.key,
        &orga.cert,
        &ParseOptions::default(),
    )
    .unwrap();

    // Bytes outside the Signature are unchanged: the input is a prefix + suffix of the output.
    let end_tag = input.windows(2).rposition(|w| w == b"</").unwrap();
    assert_eq!(&signed[..end_tag], &input[..end_tag]);
    assert_eq!(
        &signed[signed.len() - (input.len() - end_tag)..],
        &input[end_tag..]
    );

    let dir = scratch("dsig-ours-enveloped");
    let file = dir.join("signed.xml");
    std::fs::write(&file, &signed).unwrap();
    let [root, ca] = trust_files(&pki, "o2o-ca");
    let (ok, out) = xmlsec1_verify(&file, &[&root, &ca], &[]);
    assert!(ok, "xmlsec1 refused our signature: {out}");
    let trust = pki.join("trust-o2o.pem");
    let out = tool(
        &shared,
        &[
            "dsig.py",
            "verify",
            "--profile",
            "--trust",
            trust.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dsig.py refused our signature: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("PASS"), "{text}");
    assert_eq!(
        verify_ours(&signed).unwrap(),
        ["URI=\"\": the whole document except this ds:Signature element"]
    );
}

#[test]
fn dsig_py_signatures_verify_in_ours_with_ds_prefix_default_namespace_and_c14n_transform() {
    let Some(shared) = shared_dir() else { return };
    let pki = pki(&shared);
    let orga = leaf(&pki, "o2o-ca/orga");
    let dir = scratch("dsig-theirs-enveloped");
    let source = shared.join("sdk-reference/xhe/examples/XHE-tm-base.xml");
    let variants: [&[&str]; 3] = [
        &["--prefix", "ds"],
        &["--prefix", "none"],
        &["--prefix", "none", "--c14n-transform"],
    ];
    for (i, extra) in variants.iter().enumerate() {
        let out_file = dir.join(format!("signed{i}.xml"));
        let mut args = vec![
            "dsig.py",
            "sign",
            source.to_str().unwrap(),
            "--key",
            orga.key_pem.to_str().unwrap(),
            "--cert",
            orga.cert_pem.to_str().unwrap(),
            "--out",
            out_file.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = tool(&shared, &args);
        assert!(
            out.status.success(),
            "dsig.py sign {extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let signed = std::fs::read(&out_file).unwrap();
        let covered = verify_ours(&signed).unwrap_or_else(|e| panic!("{extra:?}: {e}"));
        assert_eq!(covered.len(), 1);
    }
}

#[test]
fn xmlsec1_signed_templates_verify_in_ours_including_exclusive_c14n_with_prefix_list() {
    let Some(shared) = shared_dir() else { return };
    let pki = pki(&shared);
    let ap = leaf(&pki, "ap-ca/ap0001");
    let dir = scratch("dsig-xmlsec1-templates");
    // A WS-Security-like message: two id references, exclusive C14N (one with a PrefixList),
    // Signature inside the header, default-namespace Body content.
    let template = format!(
        r##"<S:Envelope xmlns:S="http://www.w3.org/2003/05/soap-envelope" xmlns:wsu="{WSU_NS}" xmlns:eb="urn:eb">
  <S:Header>
    <eb:Messaging wsu:Id="msg"><eb:UserMessage><eb:MessageId>m1@x</eb:MessageId></eb:UserMessage></eb:Messaging>
    <wsse:Security xmlns:wsse="urn:wsse">
      <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
        <ds:SignedInfo>
          <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"><ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="S"/></ds:CanonicalizationMethod>
          <ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
          <ds:Reference URI="#msg"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>
            <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>
          <ds:Reference URI="#body"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"><ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="S eb"/></ds:Transform></ds:Transforms>
            <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>
        </ds:SignedInfo>
        <ds:SignatureValue/>
        <ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo>
      </ds:Signature>
    </wsse:Security>
  </S:Header>
  <S:Body wsu:Id="body"><p xmlns="urn:payload" a="1">text &amp; more</p></S:Body>
</S:Envelope>"##
    );
    let tpl = dir.join("template.xml");
    std::fs::write(&tpl, template).unwrap();
    let signed_file = dir.join("signed.xml");
    let (ok, out) = run(Command::new("xmlsec1")
        .args(["--sign", "--privkey-pem"])
        .arg(format!(
            "{},{}",
            ap.key_pem.display(),
            ap.cert_pem.display()
        ))
        .args([
            "--id-attr:Id",
            "urn:eb:Messaging",
            "--id-attr:Id",
            "http://www.w3.org/2003/05/soap-envelope:Body",
            "--output",
        ])
        .arg(&signed_file)
        .arg(&tpl));
    assert!(ok, "xmlsec1 --sign: {out}");

    let doc = Document::parse(
        std::fs::read(&signed_file).unwrap(),
        &ParseOptions::default(),
    )
    .unwrap();
    let header = doc
        .root()
        .required_child(Some("http://www.w3.org/2003/05/soap-envelope"), "Header")
        .unwrap();
    let body = doc
        .root()
        .required_child(Some("http://www.w3.org/2003/05/soap-envelope"), "Body")
        .unwrap();
    let messaging = header.required_child(Some("urn:eb"), "Messaging").unwrap();
    let signature = header
        .required_child(Some("urn:wsse"), "Security")
        .unwrap()
        .required_child(Some("http://www.w3.org/2000/09/xmldsig#"), "Signature")
        .unwrap();
    let policy = VerifyPolicy::as4();
    let verified = Verifier::new(&policy, &EmbeddedCertificate)
        .verify(&doc, signature.node_id())
        .unwrap();
    verified
        .require_references(
            &doc,
            &[
                Expected::Element(body.node_id()),
                Expected::Element(messaging.node_id()),
            ],
        )
        .unwrap();
    assert!(verified.covers(&doc, messaging.node_id()).unwrap());
    assert!(!verified.covers(&doc, header.node_id()).unwrap());
    assert!(
        verified
            .require_references(&doc, &[Expected::Element(body.node_id())])
            .is_err(),
        "an extra reference must be refused"
    );
}

#[test]
fn our_exclusive_c14n_id_reference_signatures_verify_in_xmlsec1() {
    let Some(shared) = shared_dir() else { return };
    let pki = pki(&shared);
    let ap = leaf(&pki, "ap-ca/ap0001");
    let dir = scratch("dsig-ours-wss");
    let message = format!(
        r##"<?xml version="1.0" encoding="UTF-8"?>
<S:Envelope xmlns:S="http://www.w3.org/2003/05/soap-envelope" xmlns:wsu="{WSU_NS}" xmlns:eb="urn:eb">
  <S:Header>
    <eb:Messaging wsu:Id="msg"><eb:UserMessage><eb:MessageId>m1@x</eb:MessageId></eb:UserMessage></eb:Messaging>
    <wsse:Security xmlns:wsse="urn:wsse"><wsu:Timestamp wsu:Id="ts"><wsu:Created>2026-12-02T00:00:00Z</wsu:Created></wsu:Timestamp></wsse:Security>
  </S:Header>
  <S:Body wsu:Id="body"><p xmlns="urn:payload">x</p></S:Body>
</S:Envelope>"##
    );
    let options = ParseOptions::default();
    let doc = Document::parse(message.into_bytes(), &options).unwrap();
    let security = doc
        .root()
        .required_child(Some("http://www.w3.org/2003/05/soap-envelope"), "Header")
        .unwrap()
        .required_child(Some("urn:wsse"), "Security")
        .unwrap();
    let exc = Transform::C14n(Algorithm::exclusive(&[]));
    let reference = |uri: &str, t: Transform| ReferenceTemplate {
        uri: uri.into(),
        transforms: vec![t],
        digest: DigestMethod::Sha256,
    };
    let [root, ca] = trust_files(&pki, "ap-ca");
    for (i, prefix) in [Some("ds".to_owned()), None].into_iter().enumerate() {
        let template = SignatureTemplate {
            c14n: Algorithm::exclusive(&["S"]),
            method: SignatureMethod::RsaSha256,
            references: vec![
                reference("#msg", exc.clone()),
                reference(
                    "#body",
                    Transform::C14n(Algorithm::exclusive(&["S", "#default"])),
                ),
                reference("#ts", exc.clone()),
            ],
            key_info: KeyInfoTemplate::X509Certificate(ap.cert.clone()),
            prefix,
            id: Some("sig".into()),
            placement: Placement::LastChildOf(security.node_id()),
        };
        let signed = sign(&doc, &template, &ap.key, None, &options).unwrap();
        let file = dir.join(format!("signed{i}.xml"));
        std::fs::write(&file, &signed.bytes).unwrap();
        let (ok, out) = xmlsec1_verify(
            &file,
            &[&root, &ca],
            &[
                "--id-attr:Id",
                "urn:eb:Messaging",
                "--id-attr:Id",
                "http://www.w3.org/2003/05/soap-envelope:Body",
                "--id-attr:Id",
                &format!("{WSU_NS}:Timestamp"),
            ],
        );
        assert!(
            ok,
            "xmlsec1 refused our WS-Security-like signature {i}: {out}"
        );
        assert_eq!(signed.references.len(), 3);
    }
}

#[test]
fn signatures_under_inherited_xml_attributes_and_namespaces_verify_in_xmlsec1() {
    let Some(shared) = shared_dir() else { return };
    let pki = pki(&shared);
    let orga = leaf(&pki, "o2o-ca/orga");
    let dir = scratch("dsig-xml-attrs");
    let [root, ca] = trust_files(&pki, "o2o-ca");
    // Inclusive C14N of SignedInfo shows xml:lang/xml:space of the root (re-parse path) and
    // every namespace in scope, including a default namespace (fragment path).
    let inputs = [
        "<r xml:lang=\"sv\" xml:space=\"preserve\" xmlns:p=\"urn:p\"><p:a>x</p:a></r>",
        "<r xmlns=\"urn:d\" xmlns:p=\"urn:p\"><p:a>x</p:a><b/></r>",
        "<r xmlns=\"urn:d\"><e/></r>",
    ];
    for (i, input) in inputs.iter().enumerate() {
        let mut signed = sign_enveloped(
            input.as_bytes().to_vec(),
            &orga.key,
            &orga.cert,
            &ParseOptions::default(),
        )
        .unwrap();
        let file = dir.join(format!("signed{i}.xml"));
        std::fs::write(&file, &signed).unwrap();
        let (ok, out) = xmlsec1_verify(&file, &[&root, &ca], &[]);
        assert!(ok, "xmlsec1 refused {input}: {out}");
        verify_ours(&signed).unwrap();
        // And a self-closing root gets its Signature too.
        if i == 2 {
            let doc = Document::parse(b"<r xmlns=\"urn:d\"/>".to_vec(), &ParseOptions::default())
                .unwrap();
            let template = SignatureTemplate::enveloped(&doc, orga.cert.clone());
            signed = sign(&doc, &template, &orga.key, None, &ParseOptions::default())
                .unwrap()
                .bytes;
            assert!(signed.starts_with(b"<r xmlns=\"urn:d\"><ds:Signature"));
            let file = dir.join("selfclosing.xml");
            std::fs::write(&file, &signed).unwrap();
            let (ok, out) = xmlsec1_verify(&file, &[&root, &ca], &[]);
            assert!(ok, "xmlsec1 refused the self-closing case: {out}");
        }
    }
}
