//! Interoperability of SMP signatures with libxmlsec1 (addressing digest SIG-06, SIG-08):
//! what the fake SMP signs verifies in `xmlsec1` and `signxml` (through the shared
//! `dsig.py` tool) with the chain to the SMP CA and its CRL checked; what `xmlsec1` signs in
//! C14N 1.0, C14N 1.1 and exclusive C14N is accepted by our client; an `xmlsec1` rsa-sha1
//! signature is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use sdkgw_address_book::LookupError;
use sdkgw_address_book::fake::{self, Canned, SignatureStyle};
use sdkgw_xml_security::c14n::Algorithm;
use support::*;
use time::OffsetDateTime;

/// `../shared/tools`, or `None` (with a notice) when the shared directory is absent.
fn tools() -> Option<PathBuf> {
    let tools = workspace_root().join("../shared/tools");
    if tools.is_dir() {
        Some(tools)
    } else {
        eprintln!("NOTICE: ../shared/tools is absent; interop checks skipped");
        None
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The dev SMP CA and its CRL, as files for the tools.
fn trust_files() -> (PathBuf, PathBuf) {
    let pki = pki();
    let ca = pki.dir.join(&pki.manifest.ca.smp_ca);
    let crl = pki.dir.join(&pki.manifest.crls.smp_ca);
    (ca, crl)
}

#[test]
fn metadata_signed_by_the_fake_verifies_in_xmlsec1_and_signxml_with_the_smp_chain() {
    let Some(tools) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (ca, crl) = trust_files();
    for (name, style) in [
        ("c14n10.xml", SignatureStyle::default()),
        (
            "exc-c14n.xml",
            SignatureStyle {
                c14n: Algorithm::exclusive(&[]),
                prefix: None,
            },
        ),
    ] {
        let smp = fake_smp();
        smp.set_signature_style(style);
        let signed = smp
            .signed_metadata(&participant(0), &message_doc())
            .unwrap()
            .unwrap();
        let file = write(dir.path(), name, &signed);
        let out = Command::new(tools.join("run"))
            .args(["dsig.py", "verify"])
            .arg(&file)
            .arg("--trust")
            .arg(&ca)
            .arg("--crl")
            .arg(&crl)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.starts_with("PASS"),
            "{name}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!stdout.contains("chain NOT checked"), "{stdout}");
    }
}

const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";

/// A Signature template for `xmlsec1 --sign`, enveloped, `URI=""`.
fn template(c14n: &str, signature: &str, digest: &str) -> String {
    format!(
        "<ds:Signature xmlns:ds=\"{DSIG}\"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"{c14n}\"/>\
         <ds:SignatureMethod Algorithm=\"{signature}\"/><ds:Reference URI=\"\"><ds:Transforms>\
         <ds:Transform Algorithm=\"{DSIG}enveloped-signature\"/></ds:Transforms>\
         <ds:DigestMethod Algorithm=\"{digest}\"/><ds:DigestValue></ds:DigestValue></ds:Reference>\
         </ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data>\
         <ds:X509Certificate/></ds:X509Data></ds:KeyInfo></ds:Signature>"
    )
}

/// Organisation 1's metadata signed by `xmlsec1` with the dev SMP signer.
fn xmlsec1_signed(dir: &Path, name: &str, c14n: &str, signature: &str, digest: &str) -> Vec<u8> {
    let pki = pki();
    let smp = fake_smp();
    let p = smp.participant(&participant(0)).unwrap();
    let xml = fake::metadata_xml(&p, &message_doc()).replace(
        "</SignedServiceMetadata>",
        &format!(
            "{}</SignedServiceMetadata>",
            template(c14n, signature, digest)
        ),
    );
    let input = write(dir, &format!("{name}.template.xml"), xml.as_bytes());
    let output = dir.join(format!("{name}.xml"));
    let key = pki.dir.join(&pki.manifest.smp_signer.key);
    let cert = pki.dir.join(&pki.manifest.smp_signer.cert);
    let out = Command::new("xmlsec1")
        .arg("--sign")
        .arg("--privkey-pem")
        .arg(format!("{},{}", key.display(), cert.display()))
        .arg("--output")
        .arg(&output)
        .arg(&input)
        .output()
        .expect("xmlsec1 is installed (apt-get install -y xmlsec1)");
    assert!(
        out.status.success(),
        "xmlsec1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(output).unwrap()
}

#[tokio::test]
async fn xmlsec1_signatures_in_c14n_10_11_and_exclusive_c14n_are_accepted() {
    if tools().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rsa_sha256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
    let sha256 = "http://www.w3.org/2001/04/xmlenc#sha256";
    for (name, c14n) in [
        ("c14n10", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"),
        ("c14n11", "http://www.w3.org/2006/12/xml-c14n11"),
        ("exc-c14n", "http://www.w3.org/2001/10/xml-exc-c14n#"),
    ] {
        let signed = xmlsec1_signed(dir.path(), name, c14n, rsa_sha256, sha256);
        let smp = fake_smp();
        smp.set_canned(
            &participant(0),
            Some(&message_doc()),
            Some(Canned::ok(signed)),
        );
        let running = serve(&smp).await;
        let entry = client(running.url())
            .fetch(&participant(0), &message_doc(), OffsetDateTime::now_utc())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            entry.route().unwrap().endpoint_url,
            pki().manifest.organisations[0].as4_url,
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_xmlsec1_rsa_sha1_signature_is_refused() {
    if tools().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let signed = xmlsec1_signed(
        dir.path(),
        "sha1",
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        "http://www.w3.org/2000/09/xmldsig#sha1",
    );
    let smp = fake_smp();
    smp.set_canned(
        &participant(0),
        Some(&message_doc()),
        Some(Canned::ok(signed)),
    );
    let running = serve(&smp).await;
    let err = client(running.url())
        .fetch(&participant(0), &message_doc(), OffsetDateTime::now_utc())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LookupError::SignatureInvalid { reason } if reason.contains("algorithm")),
        "{err}"
    );
}
