//! `sdkgw xml sign` / `sdkgw xml verify` end to end, with the shared test PKI (pki.sh) and
//! the independent verifier dsig.py (xmlsec1 + signxml).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{output, run, shared_dir};

fn pki(shared: &Path) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-pki");
    let out = Command::new(shared.join("tools/pki.sh"))
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pki.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.canonicalize().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

struct Setup {
    pki: PathBuf,
    dir: tempfile::TempDir,
    xhe: PathBuf,
    shared: PathBuf,
}

fn setup() -> Option<Setup> {
    let shared = shared_dir()?;
    Some(Setup {
        pki: pki(&shared),
        dir: tempfile::tempdir().unwrap(),
        xhe: shared.join("sdk-reference/xhe/examples/XHE-tm-base.xml"),
        shared,
    })
}

impl Setup {
    fn sign(&self, leaf: &str, name: &str) -> PathBuf {
        let out = self.dir.path().join(name);
        let key = self.pki.join(format!("{leaf}.key.pem"));
        let cert = self.pki.join(format!("{leaf}.cert.pem"));
        let (code, stdout, stderr) = run(&[
            "xml",
            "sign",
            "--key",
            s(&key),
            "--cert",
            s(&cert),
            s(&self.xhe),
            s(&out),
        ]);
        assert_eq!(code, 0, "{stdout}{stderr}");
        out
    }

    fn verify_with_chain(&self, file: &Path, extra: &[&str]) -> (i32, String, String) {
        let root = self.pki.join("root-ca/ca.cert.pem");
        let o2o = self.pki.join("o2o-ca/ca.cert.pem");
        let crls = self.pki.join("all-crls.pem");
        let mut args = vec![
            "xml",
            "verify",
            s(file),
            "--trust",
            s(&root),
            "--trust",
            s(&o2o),
            "--crl",
            s(&crls),
        ];
        args.extend_from_slice(extra);
        run(&args)
    }
}

#[test]
fn signs_an_xhe_that_verifies_here_and_in_dsig_py_with_chain_and_crl() {
    let Some(t) = setup() else { return };
    let signed = t.sign("o2o-ca/orga", "signed.xml");
    let (code, out, err) = t.verify_with_chain(&signed, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("VALID"), "{out}");
    assert!(
        out.contains("serialNumber=0203:orga.test") || out.contains("orga.test"),
        "{out}"
    );
    assert!(
        out.contains("SDK Test O2O CA") && out.contains("SDK Test Root CA"),
        "{out}"
    );
    assert!(
        out.contains("covers:    URI=\"\": the whole document except this ds:Signature element"),
        "{out}"
    );

    let trust = t.pki.join("trust-o2o.pem");
    let crls = t.pki.join("all-crls.pem");
    let (ok, text) = common::output(Command::new(t.shared.join("tools/run")).args([
        "dsig.py",
        "verify",
        "--profile",
        "--trust",
        s(&trust),
        "--crl",
        s(&crls),
        s(&signed),
    ]))
    .map_ok();
    assert!(ok, "dsig.py: {text}");
}

#[test]
fn verify_no_chain_says_the_chain_was_not_checked_and_json_reports_coverage() {
    let Some(t) = setup() else { return };
    let signed = t.sign("o2o-ca/orga", "signed.xml");
    let (code, out, _) = run(&["xml", "verify", s(&signed), "--no-chain"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("chain:     NOT checked (--no-chain)"), "{out}");
    let (code, out, _) = run(&[
        "xml",
        "verify",
        s(&signed),
        "--no-chain",
        "--output",
        "json",
    ]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["chain"]["status"], "not checked");
    assert_eq!(json["covers"].as_array().unwrap().len(), 1);
}

#[test]
fn signs_with_a_pkcs12_key_and_keeps_every_byte_outside_the_signature() {
    let Some(t) = setup() else { return };
    let out = t.dir.path().join("p12.xml");
    let p12 = t.pki.join("o2o-ca/orga.p12");
    let (code, stdout, stderr) = output(
        common::sdkgw()
            .args([
                "xml",
                "sign",
                "--key",
                s(&p12),
                "--password-env",
                "SDKGW_TEST_P12",
                s(&t.xhe),
                s(&out),
            ])
            .env("SDKGW_TEST_P12", "test"),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let input = std::fs::read(&t.xhe).unwrap();
    let signed = std::fs::read(&out).unwrap();
    let end = input.windows(2).rposition(|w| w == b"</").unwrap();
    assert_eq!(&signed[..end], &input[..end]);
    assert_eq!(&signed[signed.len() - (input.len() - end)..], &input[end..]);
    let (code, o, _) = run(&["xml", "verify", s(&out), "--no-chain"]);
    assert_eq!(code, 0, "{o}");
}

#[test]
fn revoked_expired_and_foreign_ca_signers_fail_with_exit_code_1() {
    let Some(t) = setup() else { return };
    for (leaf, needle) in [
        ("o2o-ca/org-revoked", "revoked"),
        ("o2o-ca/org-expired", "expired"),
        ("ap-ca/ap0001", "not a trusted CA"),
    ] {
        let signed = t.sign(leaf, &format!("{}.xml", leaf.replace('/', "-")));
        let (code, out, err) = t.verify_with_chain(&signed, &[]);
        assert_eq!(code, 1, "{leaf}: {out}{err}");
        assert!(out.starts_with("INVALID"), "{leaf}: {out}");
        assert!(out.contains(needle), "{leaf}: expected {needle:?} in {out}");
        // Integrity alone is fine: these signatures are cryptographically valid.
        assert_eq!(
            run(&["xml", "verify", s(&signed), "--no-chain"]).0,
            0,
            "{leaf}"
        );
    }
    // --at moves the validation instant: before the test CAs existed nothing chains.
    let fresh = t.sign("o2o-ca/orga", "fresh.xml");
    let (code, out, err) = t.verify_with_chain(&fresh, &["--at", "2020-06-01T00:00:00Z"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("not valid before"), "{out}");
}

#[test]
fn tampered_documents_fail_and_bad_input_is_a_usage_error() {
    let Some(t) = setup() else { return };
    let signed = t.sign("o2o-ca/orga", "signed.xml");
    let text =
        std::fs::read_to_string(&signed)
            .unwrap()
            .replacen("<ID>862693f7", "<ID>962693f7", 1);
    let tampered = t.dir.path().join("tampered.xml");
    std::fs::write(&tampered, text).unwrap();
    let (code, out, _) = run(&["xml", "verify", s(&tampered), "--no-chain"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("INVALID") && out.contains("signature is not valid"),
        "{out}"
    );
    assert_eq!(
        run(&["xml", "verify", "/nonexistent.xml", "--no-chain"]).0,
        2
    );
    assert_eq!(
        run(&["xml", "verify", s(&signed)]).0,
        2,
        "no --trust and no --no-chain"
    );
    let (code, _, err) = run(&[
        "xml",
        "sign",
        "--key",
        "/nonexistent.pem",
        s(&t.xhe),
        s(&tampered),
    ]);
    assert_eq!(code, 2, "{err}");
    // Signing an already signed document is refused.
    let key = t.pki.join("o2o-ca/orga.key.pem");
    let cert = t.pki.join("o2o-ca/orga.cert.pem");
    let again = t.dir.path().join("again.xml");
    assert_eq!(
        run(&[
            "xml",
            "sign",
            "--key",
            s(&key),
            "--cert",
            s(&cert),
            s(&signed),
            s(&again)
        ])
        .0,
        2
    );
}

trait MapOk {
    fn map_ok(self) -> (bool, String);
}

impl MapOk for (i32, String, String) {
    fn map_ok(self) -> (bool, String) {
        (self.0 == 0, format!("{}{}", self.1, self.2))
    }
}
