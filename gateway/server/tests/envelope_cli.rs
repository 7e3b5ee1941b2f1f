//! `sdkgw envelope seal|open|validate` and `sdkgw receipt create|validate`, end to end with
//! the development PKI: exit codes (0 accepted, 1 refused, 2 input, 3 SIG, 4 SV, 5 BV), the
//! JSON result, the receipt written with --receipt-out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{manifest, p, run, shared_pki};
use serde_json::Value;

struct Orgs {
    dir: PathBuf,
    m: Value,
}

impl Orgs {
    fn new() -> Self {
        let dir = shared_pki();
        let m = manifest(&dir);
        Orgs { dir, m }
    }
    fn file(&self, org: usize, pair: &str, part: &str) -> String {
        p(&self.dir, &self.m["organisations"][org][pair][part])
    }
    fn ca(&self, name: &str) -> String {
        p(&self.dir, &self.m["ca"][name])
    }
    fn crl(&self, name: &str) -> String {
        p(&self.dir, &self.m["crls"][name])
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("envelope-cli")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

/// `envelope seal` from organisation 0 to 1 with extra arguments.
fn seal(o: &Orgs, out: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args: Vec<String> = [
        "envelope",
        "seal",
        "--from",
        "0203:orga.test",
        "--to",
        "0203:orgb.test",
        "--to-function",
        "box-b",
        "--from-function",
        "box-a",
        "--env",
        "dev",
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    args.extend([
        "--sign-key".into(),
        o.file(0, "o2o_signing", "key"),
        "--sign-cert".into(),
        o.file(0, "o2o_signing", "cert"),
    ]);
    args.extend([
        "--recipient-cert".into(),
        o.file(1, "o2o_encryption", "cert"),
    ]);
    args.extend(extra.iter().map(|x| x.to_string()));
    args.push(s(out));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&refs)
}

/// `envelope open` as organisation 1 with the given signer certificate.
fn open(o: &Orgs, input: &Path, signer_cert: &str, extra: &[&str]) -> (i32, Value, String) {
    let mut args: Vec<String> = vec![
        "envelope".into(),
        "open".into(),
        s(input),
        "--env".into(),
        "dev".into(),
    ];
    args.extend(["--key".into(), o.file(1, "o2o_encryption", "key")]);
    args.extend([
        "--trust".into(),
        o.ca("o2o_root"),
        "--trust".into(),
        o.ca("o2o_intermediate"),
    ]);
    args.extend([
        "--crl".into(),
        o.crl("o2o_root"),
        "--crl".into(),
        o.crl("o2o_intermediate"),
    ]);
    args.extend(["--signer-cert".into(), signer_cert.to_owned()]);
    args.extend([
        "--sign-key".into(),
        o.file(1, "o2o_signing", "key"),
        "--sign-cert".into(),
        o.file(1, "o2o_signing", "cert"),
    ]);
    args.extend(extra.iter().map(|x| x.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = run(&refs);
    let json =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{err}"));
    (code, json, err)
}

#[test]
fn seal_open_validate_and_receipt_round_trip() {
    let o = Orgs::new();
    let dir = scratch("round-trip");
    let note = dir.join("note.pdf");
    std::fs::write(&note, b"%PDF-1.4 note").unwrap();
    let sealed = dir.join("sealed.xml");
    let (code, out, err) = seal(
        &o,
        &sealed,
        &["--subject", "Hej", "--text", "Text", "--attach", &s(&note)],
    );
    assert_eq!(code, 0, "{out}{err}");
    let receipt = dir.join("receipt.xml");
    let (code, json, err) = open(
        &o,
        &sealed,
        &o.file(0, "o2o_signing", "cert"),
        &["--receipt-out", &s(&receipt)],
    );
    assert_eq!(code, 0, "{json}{err}");
    assert_eq!(json["outcome"], "accepted");
    assert_eq!(json["message"]["header"]["label"], "Hej");
    assert_eq!(json["attachments"][0]["content_type"], "application/pdf");
    assert!(
        json["signer"]["subject"]
            .as_str()
            .unwrap()
            .contains("orga.test")
    );
    let (code, out, _) = run(&["envelope", "validate", &s(&sealed), "--env", "dev"]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = run(&["receipt", "validate", &s(&receipt), "--for", &s(&sealed)]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("receipt: conformant"), "{out}");
    // A receipt is never answered with a receipt.
    let (code, _, err) = run(&[
        "receipt",
        "create",
        "--for",
        &s(&receipt),
        "--code",
        "ACCEPTED",
        "--sign-key",
        &o.file(1, "o2o_signing", "key"),
        "--sign-cert",
        &o.file(1, "o2o_signing", "cert"),
        &s(&dir.join("r2.xml")),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("never answered"), "{err}");
}

#[test]
fn open_exit_codes_name_the_rejection_reason() {
    let o = Orgs::new();
    let dir = scratch("exit-codes");
    let sealed = dir.join("sealed.xml");
    assert_eq!(seal(&o, &sealed, &["--subject", "s", "--text", "t"]).0, 0);
    // The signer is not FromParty's CertPub certificate: SIG.
    let receipt = dir.join("sig-receipt.xml");
    let (code, json, _) = open(
        &o,
        &sealed,
        &o.file(1, "o2o_signing", "cert"),
        &["--receipt-out", &s(&receipt)],
    );
    assert_eq!(code, 3, "{json}");
    assert_eq!(json["reason"], "SIG");
    assert_eq!(
        json["receipt"]["lines"][0]["status_reason"],
        "Sender signature not validated"
    );
    assert!(std::fs::read_to_string(&receipt).unwrap().contains(">SIG<"));
    // An envelope-level problem (no served participant): refused, no receipt written.
    let none = dir.join("none.xml");
    let (code, json, err) = open(
        &o,
        &sealed,
        &o.file(0, "o2o_signing", "cert"),
        &[
            "--participant",
            "0203:other.test",
            "--receipt-out",
            &s(&none),
        ],
    );
    assert_eq!(code, 1, "{json}");
    assert_eq!(json["outcome"], "refused");
    assert!(!none.exists() && err.contains("no receipt"));
    // Missing trust anchors: input error.
    let (code, _, _) = run(&[
        "envelope",
        "open",
        &s(&sealed),
        "--key",
        &o.file(1, "o2o_encryption", "key"),
    ]);
    assert_eq!(code, 2);
}

#[test]
fn digg_test_messages_give_sv_and_bv_exit_codes() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let o = Orgs::new();
    let dir = scratch("digg");
    for (name, expected) in [("min.xml", 0), ("TF2.4.1.xml", 4), ("TF2.4.2.xml", 5)] {
        let message = shared.join("sdk-reference/sdk-message/testdata").join(name);
        let sealed = dir.join(name);
        let mut args: Vec<String> = [
            "envelope",
            "seal",
            "--from",
            "0203:test.sender.inera.se",
            "--to",
            "0203:test.recipient.inera.se",
            "--to-function",
            "test.function",
            "--env",
            "dev",
            "--allow-invalid",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect();
        args.extend([
            "--sign-key".into(),
            o.file(0, "o2o_signing", "key"),
            "--sign-cert".into(),
            o.file(0, "o2o_signing", "cert"),
        ]);
        args.extend([
            "--recipient-cert".into(),
            o.file(1, "o2o_encryption", "cert"),
            "--message".into(),
            s(&message),
            s(&sealed),
        ]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = run(&refs);
        assert_eq!(code, 0, "{name}: {out}{err}");
        let (code, json, _) = open(&o, &sealed, &o.file(0, "o2o_signing", "cert"), &[]);
        assert_eq!(code, expected, "{name}: {json}");
    }
    // Without --allow-invalid an invalid message is not sealed.
    let refs = [
        "envelope",
        "seal",
        "--from",
        "0203:test.sender.inera.se",
        "--to",
        "0203:test.recipient.inera.se",
        "--to-function",
        "test.function",
        "--sign-key",
        &o.file(0, "o2o_signing", "key"),
        "--sign-cert",
        &o.file(0, "o2o_signing", "cert"),
        "--recipient-cert",
        &o.file(1, "o2o_encryption", "cert"),
        "--message",
    ];
    let tf = s(&shared.join("sdk-reference/sdk-message/testdata/TF2.4.1.xml"));
    let out = s(&dir.join("refused.xml"));
    let mut args = refs.to_vec();
    args.extend([tf.as_str(), out.as_str()]);
    let (code, _, err) = run(&args);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("XSD-MSG"), "{err}");
}

#[test]
fn receipt_create_validates_its_arguments_and_writes_a_conformant_receipt() {
    let o = Orgs::new();
    let dir = scratch("receipt-create");
    let sealed = dir.join("sealed.xml");
    assert_eq!(seal(&o, &sealed, &["--subject", "s", "--text", "t"]).0, 0);
    let key = o.file(1, "o2o_signing", "key");
    let cert = o.file(1, "o2o_signing", "cert");
    let out = s(&dir.join("rejected.xml"));
    let (code, stdout, err) = run(&[
        "receipt",
        "create",
        "--for",
        &s(&sealed),
        "--code",
        "REJECTED",
        "--reason",
        "BV",
        "--text",
        "GW-MSG-8: unknown mailbox",
        "--detail",
        "not-found",
        "--sign-key",
        &key,
        "--sign-cert",
        &cert,
        &out,
    ]);
    assert_eq!(code, 0, "{stdout}{err}");
    let (code, stdout, _) = run(&[
        "receipt",
        "validate",
        &out,
        "--for",
        &s(&sealed),
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{stdout}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains(">not-found<") && text.contains(">BV<") && text.contains("ds:Signature"));
    let (code, _, _) = run(&[
        "receipt",
        "create",
        "--for",
        &s(&sealed),
        "--code",
        "ACCEPTED",
        "--reason",
        "SV",
        "--text",
        "x",
        "--sign-key",
        &key,
        "--sign-cert",
        &cert,
        &out,
    ]);
    assert_eq!(code, 2);
    let (code, _, _) = run(&[
        "receipt",
        "create",
        "--for",
        &s(&sealed),
        "--code",
        "REJECTED",
        "--sign-key",
        &key,
        "--sign-cert",
        &cert,
        &out,
    ]);
    assert_eq!(code, 2);
    let (code, _, _) = run(&[
        "receipt",
        "create",
        "--for",
        &s(&sealed),
        "--code",
        "ACCEPTED",
        &out,
    ]);
    assert_eq!(code, 2, "sigenc receipts are signed");
    let (code, stdout, _) = run(&["receipt", "validate", &s(&sealed)]);
    assert_eq!(code, 1, "{stdout}");
}

#[test]
fn validate_reports_rule_ids_and_fails_on_findings() {
    let o = Orgs::new();
    let dir = scratch("validate");
    let sealed = dir.join("sealed.xml");
    assert_eq!(seal(&o, &sealed, &["--subject", "s", "--text", "t"]).0, 0);
    let text = std::fs::read_to_string(&sealed).unwrap();
    let bad = dir.join("bad.xml");
    std::fs::write(
        &bad,
        text.replacen("urn:fdc:digg.se:edelivery:xhe:1", "urn:x", 1),
    )
    .unwrap();
    let (code, out, _) = run(&["envelope", "validate", &s(&bad)]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("R3-XHE at /x:XHE/xhb:CustomizationID"),
        "{out}"
    );
    let (code, out, _) = run(&["envelope", "validate", &s(&bad), "--output", "json"]);
    assert_eq!(code, 1);
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json[0]["findings"][0]["rule"], "R3-XHE");
}

#[test]
fn help_documents_the_exit_codes() {
    let (code, out, _) = run(&["envelope", "open", "--help"]);
    assert_eq!(code, 0);
    for needle in ["3 REJECTED/SIG", "4 REJECTED/SV", "5 REJECTED/BV"] {
        assert!(out.contains(needle), "{needle} missing from:\n{out}");
    }
}

#[test]
fn digg_examples_pass_validate() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let r = shared.join("sdk-reference");
    let f1 = s(&r.join("xhe/examples/XHE-tm-base.xml"));
    let (code, out, _) = run(&["envelope", "validate", &f1, "--env", "open-test"]);
    assert_eq!(code, 0, "{out}");
    for entry in std::fs::read_dir(r.join("receipt/examples")).unwrap() {
        let path = s(&entry.unwrap().path());
        let (code, out, _) = run(&["receipt", "validate", &path]);
        assert_eq!(code, 0, "{path}: {out}");
    }
    // The non-XML example uses a document and process id outside DIGG's code lists: our
    // code-list rule reports them, DIGG's rules do not.
    let f2 = s(&r.join("xhe/examples/XHE-NonXML-tm-base.xml"));
    let (code, out, _) = run(&["envelope", "validate", &f2]);
    assert_eq!(code, 1);
    assert!(out.contains("GW-XHE-4") && !out.contains("R1-XHE"), "{out}");
}
