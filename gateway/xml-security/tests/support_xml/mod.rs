//! Shared helpers of the xml/c14n/dsig behaviour tests: workspace paths, the shared
//! validation tools (`xmlsec1`, the tools venv with lxml, `dsig.py`) and the test PKI made by
//! `../shared/tools/pki.sh` (so key material comes from an independent implementation).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sdkgw_certs::{Certificate, PrivateKey, certificates_from_pem, private_key_from_pem};

// Workspace paths are the crypto tests' helpers; reuse them rather than copy them.
#[path = "../support_crypto/mod.rs"]
mod support_crypto;
pub use support_crypto::{shared_dir, workspace_root};

/// A scratch directory under `target/` (unique per test name).
pub fn scratch(name: &str) -> PathBuf {
    let dir = workspace_root().join("target/test-xml-dsig").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `../shared/tools/run ARGS` (a tool through the venv, or pki.sh/setup.sh).
pub fn tool(shared: &Path, args: &[&str]) -> Output {
    Command::new(shared.join("tools/run"))
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("cannot start ../shared/tools/run")
}

/// The tools venv's Python (creating the venv through setup.sh when missing).
pub fn tools_python(shared: &Path) -> PathBuf {
    let venv = std::env::var_os("SDK_TOOLS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/sdk-tools-venv")
        });
    let python = venv.join("bin/python");
    if !python.exists() {
        let out = tool(shared, &["setup.sh"]);
        assert!(
            out.status.success(),
            "setup.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    python
}

/// Runs a command, returning (success, stdout+stderr).
pub fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The test PKI (`pki.sh target/test-pki`; kept when already complete, concurrent calls wait).
pub fn pki(shared: &Path) -> PathBuf {
    let dir = workspace_root().join("target/test-pki");
    let out = tool(shared, &["pki.sh", dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "pki.sh failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// A leaf of the test PKI: key, certificate and their paths.
pub struct Leaf {
    pub key: PrivateKey,
    pub cert: Certificate,
    pub key_pem: PathBuf,
    pub cert_pem: PathBuf,
}

/// The root and the issuing CA of a test-PKI role (`o2o-ca`, `ap-ca`, ...), as separate files.
pub fn trust_files(pki: &Path, ca: &str) -> [PathBuf; 2] {
    [
        pki.join("root-ca/ca.cert.pem"),
        pki.join(ca).join("ca.cert.pem"),
    ]
}

/// Loads leaf `name` (e.g. `orga`, `ap0001`) of the test PKI.
pub fn leaf(pki: &Path, name: &str) -> Leaf {
    let key_pem = pki.join(format!("{name}.key.pem"));
    let cert_pem = pki.join(format!("{name}.cert.pem"));
    let key = private_key_from_pem(&std::fs::read(&key_pem).unwrap()).unwrap();
    let cert = certificates_from_pem(&std::fs::read(&cert_pem).unwrap())
        .unwrap()
        .remove(0);
    Leaf {
        key,
        cert,
        key_pem,
        cert_pem,
    }
}

/// `xmlsec1 --verify` with the embedded certificate trusted as is (`--insecure`: integrity
/// only) or against `trust` CA certificates (one per file: xmlsec1 reads only the first
/// certificate of a PEM file); `extra` are more options (e.g. `--id-attr`).
pub fn xmlsec1_verify(file: &Path, trust: &[&Path], extra: &[&str]) -> (bool, String) {
    let mut cmd = Command::new("xmlsec1");
    cmd.arg("--verify").arg("--enabled-key-data").arg("x509");
    if trust.is_empty() {
        cmd.arg("--insecure");
    }
    for t in trust {
        cmd.arg("--trusted-pem").arg(t);
    }
    cmd.args(extra).arg(file);
    run(&mut cmd)
}
