//! Interop with the independent tools in `../shared/tools` and DIGG's test data:
//! - DIGG's `min.xml` → ACCEPTED, `TF2.4.1.xml` → REJECTED/SV, `TF2.4.2.xml` → REJECTED/BV,
//!   when sealed by us and opened;
//! - our sealed XHE passes DIGG's XSD and schematron, verifies in xmlsec1 and signxml
//!   (`dsig.py verify --profile`, with the O2O chain and CRLs), and its payload decrypts in
//!   xmlsec1 and two other engines (`xenc.py decrypt`) to a valid SDK message;
//! - our signed receipt envelope passes the XHE and receipt XSDs and schematrons and verifies;
//! - an envelope encrypted by `xenc.py` (libxmlsec1) and signed by `dsig.py` (xmlsec1) opens.
//!
//! Every test returns early with a notice when `../shared` is absent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use sdkgw_envelope::Stage;
use sdkgw_envelope::open::Opened;
use sdkgw_envelope::seal::{self, SealOptions, Signer};
use sdkgw_envelope::xhe::{PayloadXml, Xhe};
use sdkgw_schemas::codelists::{DetailCode, ReasonCode};
use sdkgw_schemas::{FederationId, TransportModel};
use support::{Receiver, pki, tool_passes};
use time::OffsetDateTime;

const SENDER: &str = "0203:test.sender.inera.se";
const RECIPIENT: &str = "0203:test.recipient.inera.se";

/// The envelope header for one of DIGG's test messages (their parties and function).
fn header_for(message_id: &str) -> Xhe {
    Xhe::for_message(
        message_id,
        OffsetDateTime::now_utc(),
        SENDER.parse().unwrap(),
        RECIPIENT.parse().unwrap(),
        Some("test.function".parse().unwrap()),
        FederationId::Test,
        TransportModel::ExtSigenc,
    )
}

fn message_id(xml: &str) -> String {
    let start = xml.find("messageId>").unwrap() + "messageId>".len();
    xml[start..start + xml[start..].find('<').unwrap()].to_owned()
}

/// Seals a DIGG test message from organisation A's keys to organisation B's certificate.
fn seal_digg(xml: &str, allow_invalid: bool) -> Vec<u8> {
    let p = pki();
    let signer = Signer {
        key: &p.a.sign_key,
        cert: &p.a.sign_cert,
    };
    seal::seal_message(
        xml.as_bytes(),
        &header_for(&message_id(xml)),
        Some(&p.b.enc_cert),
        Some(signer),
        SealOptions { allow_invalid },
    )
    .unwrap()
    .bytes
}

/// Opens as organisation B serving DIGG's recipient participant.
fn open_as_b(bytes: Vec<u8>) -> Opened {
    let p = pki();
    let mut rx = Receiver::new(p, &p.b);
    rx.served = vec![RECIPIENT.parse().unwrap()];
    rx.open(bytes, Some(&p.a.sign_cert)).unwrap()
}

fn read(shared: &Path, rel: &str) -> String {
    std::fs::read_to_string(support::reference(shared, rel)).unwrap()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn dsig_verify_args<'a>(file: &'a str, trust: &'a [String]) -> Vec<&'a str> {
    let mut args = vec!["dsig.py", "verify", "--profile"];
    for t in trust {
        args.extend(["--trust", t.as_str()]);
    }
    args.push(file);
    args
}

fn o2o_trust_args() -> Vec<String> {
    let p = pki();
    vec![
        path_str(&p.o2o_root_path).to_owned(),
        path_str(&p.o2o_intermediate_path).to_owned(),
    ]
}

#[test]
fn digg_min_message_sealed_by_us_is_accepted() {
    let Some(shared) = support::shared_dir() else {
        return;
    };
    match open_as_b(seal_digg(
        &read(&shared, "sdk-message/testdata/min.xml"),
        false,
    )) {
        Opened::Accepted(m) => {
            assert_eq!(m.message().header.label.as_deref(), Some("Printerpapper"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn digg_tf_2_4_1_is_rejected_sv_and_tf_2_4_2_bv() {
    let Some(shared) = support::shared_dir() else {
        return;
    };
    let tf241 = read(&shared, "sdk-message/testdata/TF2.4.1.xml");
    assert!(
        seal::seal_message(
            tf241.as_bytes(),
            &header_for(&message_id(&tf241)),
            None,
            None,
            SealOptions::default()
        )
        .is_err(),
        "invalid messages are sealed only on request"
    );
    for (name, reason, detail, stage) in [
        (
            "TF2.4.1.xml",
            ReasonCode::Sv,
            DetailCode::Structure,
            Stage::Schema,
        ),
        (
            "TF2.4.2.xml",
            ReasonCode::Bv,
            DetailCode::Invariant,
            Stage::Rules,
        ),
    ] {
        let xml = read(&shared, &format!("sdk-message/testdata/{name}"));
        match open_as_b(seal_digg(&xml, true)) {
            Opened::Rejected(r) => {
                assert_eq!(r.stage, stage, "{name}");
                let lines = &r.receipt.receipt.lines;
                assert_eq!(lines.len(), 1, "{name}: {lines:?}");
                assert_eq!(
                    (lines[0].reason, lines[0].detail()),
                    (reason, Some(detail)),
                    "{name}"
                );
                assert!(
                    lines[0]
                        .line_id
                        .starts_with("/tns:messagePayload/tns:message/tns:messageHeader/"),
                    "{name}"
                );
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn our_sealed_envelope_passes_digg_schemas_xmlsec1_verify_and_decrypt() {
    let Some(shared) = support::shared_dir() else {
        return;
    };
    let p = pki();
    let dir = support::scratch("interop-sealed");
    let sealed = dir.join("sealed.xml");
    std::fs::write(
        &sealed,
        seal_digg(&read(&shared, "sdk-message/testdata/min.xml"), false),
    )
    .unwrap();
    let sealed = path_str(&sealed);
    tool_passes(&shared, &["xsd.py", "xhe", sealed]);
    tool_passes(&shared, &["schematron.py", "xhe", sealed]);
    let trust = o2o_trust_args();
    let mut args = dsig_verify_args(sealed, &trust);
    let crls: Vec<String> = p.crl_paths.iter().map(|c| path_str(c).to_owned()).collect();
    for c in &crls {
        args.splice(3..3, ["--crl", c.as_str()]);
    }
    let out = tool_passes(&shared, &args);
    assert!(
        out.contains("xmlsec1 OK") && out.contains("chain OK") && out.contains("profile OK"),
        "{out}"
    );
    let decrypted = dir.join("decrypted.xml");
    let out = tool_passes(
        &shared,
        &[
            "xenc.py",
            "decrypt",
            sealed,
            "--key",
            path_str(&p.b.enc_key_path),
            "--out",
            path_str(&decrypted),
        ],
    );
    assert!(
        out.contains("xmlsec1 OK") && out.contains("identical plaintext"),
        "{out}"
    );
    let decrypted = path_str(&decrypted);
    tool_passes(&shared, &["xsd.py", "sdkmsg", "--unwrap", decrypted]);
    tool_passes(&shared, &["schematron.py", "sdkmsg", "--unwrap", decrypted]);
    // With organisation A's key the payload does not decrypt.
    support::tool_fails(
        &shared,
        &[
            "xenc.py",
            "decrypt",
            sealed,
            "--key",
            path_str(&p.a.enc_key_path),
            "--out",
            path_str(&dir.join("wrong.xml")),
        ],
    );
}

#[test]
fn our_signed_receipt_envelope_passes_digg_schemas_and_verifies() {
    let Some(shared) = support::shared_dir() else {
        return;
    };
    let p = pki();
    let dir = support::scratch("interop-receipt");
    let Opened::Accepted(m) = open_as_b(seal_digg(
        &read(&shared, "sdk-message/testdata/min.xml"),
        false,
    )) else {
        panic!()
    };
    let accepted = m
        .acceptance(
            Some(Signer {
                key: &p.b.sign_key,
                cert: &p.b.sign_cert,
            }),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    let tf242 = read(&shared, "sdk-message/testdata/TF2.4.2.xml");
    let Opened::Rejected(r) = open_as_b(seal_digg(&tf242, true)) else {
        panic!()
    };
    let mut files = Vec::new();
    for (name, bytes) in [
        ("accepted", accepted.envelope.unwrap()),
        ("rejected", r.receipt.envelope.clone().unwrap()),
    ] {
        let f = dir.join(format!("{name}.xml"));
        std::fs::write(&f, bytes).unwrap();
        files.push(path_str(&f).to_owned());
    }
    let trust = o2o_trust_args();
    for f in &files {
        tool_passes(&shared, &["xsd.py", "xhe", f]);
        tool_passes(&shared, &["schematron.py", "xhe", f]);
        tool_passes(&shared, &["xsd.py", "receipt", "--unwrap", f]);
        tool_passes(&shared, &["schematron.py", "receipt", "--unwrap", f]);
        tool_passes(&shared, &dsig_verify_args(f, &trust));
    }
}

#[test]
fn envelope_encrypted_by_libxmlsec_and_signed_by_xmlsec1_opens() {
    let Some(shared) = support::shared_dir() else {
        return;
    };
    let p = pki();
    let dir = support::scratch("interop-reverse");
    let min = read(&shared, "sdk-message/testdata/min.xml");
    let payload = min
        .trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .trim();
    let mut header = header_for(&message_id(&min));
    header.payload.encrypted = false;
    let plain = dir.join("plain.xml");
    std::fs::write(&plain, header.to_xml(PayloadXml::Element(payload)).unwrap()).unwrap();
    let encrypted = dir.join("encrypted.xml");
    tool_passes(
        &shared,
        &[
            "xenc.py",
            "encrypt",
            path_str(&plain),
            "--cert",
            path_str(&p.b.enc_cert_path),
            "--out",
            path_str(&encrypted),
        ],
    );
    let signed = dir.join("signed.xml");
    tool_passes(
        &shared,
        &[
            "dsig.py",
            "sign",
            path_str(&encrypted),
            "--key",
            path_str(&p.a.sign_key_path),
            "--cert",
            path_str(&p.a.sign_cert_path),
            "--out",
            path_str(&signed),
        ],
    );
    match open_as_b(std::fs::read(&signed).unwrap()) {
        Opened::Accepted(m) => assert_eq!(m.message().header.message_id, message_id(&min)),
        other => panic!("{other:?}"),
    }
    // Unprefixed (default-namespace) signature from the tools: accepted too.
    let signed_default = dir.join("signed-default.xml");
    tool_passes(
        &shared,
        &[
            "dsig.py",
            "sign",
            path_str(&encrypted),
            "--key",
            path_str(&p.a.sign_key_path),
            "--cert",
            path_str(&p.a.sign_cert_path),
            "--prefix",
            "none",
            "--c14n-transform",
            "--out",
            path_str(&signed_default),
        ],
    );
    assert!(matches!(
        open_as_b(std::fs::read(&signed_default).unwrap()),
        Opened::Accepted(_)
    ));
}

/// Opens as organisation B with the O2O trust of the tools' PKI (`pki.sh`), whose CA has
/// revoked `org-revoked`.
fn open_with_tools_pki(
    bytes: Vec<u8>,
    tools_pki: &Path,
    signer_cert: &sdkgw_certs::Certificate,
) -> Opened {
    use sdkgw_xml_security::x509::{Crl, O2o, RevocationChecker, RevocationPolicy, TrustStore};
    let p = pki();
    let certs = |f: &str| sdkgw_certs::load_certificates(&tools_pki.join(f), None).unwrap();
    let mut rx = Receiver::new(p, &p.b);
    rx.served.clear();
    rx.store = TrustStore::<O2o>::new("TEST", certs("root-ca/ca.cert.pem"))
        .unwrap()
        .with_intermediates(certs("o2o-ca/ca.cert.pem"));
    rx.revocation = RevocationChecker::new(RevocationPolicy::default());
    let crls = std::fs::read(tools_pki.join("all-crls.pem")).unwrap();
    rx.revocation.add_crls(Crl::parse_any(&crls).unwrap());
    rx.open(bytes, Some(signer_cert)).unwrap()
}

#[test]
fn revoked_signer_certificate_is_sig() {
    let Some(shared) = support::shared_dir() else {
        return;
    };
    let p = pki();
    let tools_pki = support::workspace_root().join("target/test-envelope-pki/tools");
    tool_passes(&shared, &["pki.sh", path_str(&tools_pki)]);
    let min = read(&shared, "sdk-message/testdata/min.xml");
    for (name, accepted) in [("orga", true), ("org-revoked", false)] {
        let kp = sdkgw_certs::load_key_pair(
            &tools_pki.join(format!("o2o-ca/{name}.cert.pem")),
            Some(&tools_pki.join(format!("o2o-ca/{name}.key.pem"))),
            None,
        )
        .unwrap();
        let signer = Signer {
            key: kp.key(),
            cert: kp.certificate(),
        };
        let sealed = seal::seal_message(
            min.as_bytes(),
            &header_for(&message_id(&min)),
            Some(&p.b.enc_cert),
            Some(signer),
            SealOptions::default(),
        )
        .unwrap()
        .bytes;
        match open_with_tools_pki(sealed, &tools_pki, kp.certificate()) {
            Opened::Accepted(_) if accepted => {}
            Opened::Rejected(r) if !accepted => {
                assert_eq!(r.receipt.receipt.lines[0].reason, ReasonCode::Sig);
                assert!(r.log_reason().contains("revoked"), "{}", r.log_reason());
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}
