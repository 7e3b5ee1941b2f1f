//! Helpers for the CLI tests: run the built `sdkgw`, find `../shared`, and share one generated
//! development PKI between the test processes of a build (RSA 3072 generation takes seconds).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // not every test uses every helper

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `sdkgw` binary of this build.
pub(crate) fn sdkgw() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sdkgw"))
}

/// Runs `sdkgw ARGS` and returns (exit code, stdout, stderr).
pub(crate) fn run(args: &[&str]) -> (i32, String, String) {
    output(sdkgw().args(args))
}

pub(crate) fn output(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("sdkgw runs");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// `../shared` next to the workspace, if present (always in CI).
pub(crate) fn shared_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    if dir.is_dir() {
        Some(dir.canonicalize().unwrap())
    } else {
        eprintln!("notice: {} absent, test skipped", dir.display());
        None
    }
}

/// A development PKI made by `sdkgw pki init` (default organisations orga.test, orgb.test,
/// seed 1), generated once per build of the binary and shared read-only by all tests. Tests that
/// need to change files copy them first.
pub(crate) fn shared_pki() -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sdkgw-cli-tests");
    std::fs::create_dir_all(&root).unwrap();
    let exe = std::fs::metadata(env!("CARGO_BIN_EXE_sdkgw")).unwrap();
    let stamp = exe
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = root.join(format!("pki-{stamp}"));
    if dir.join("manifest.json").is_file() {
        return dir;
    }
    // Generate beside it and rename into place: concurrent test processes may both generate,
    // the first rename wins and the others use its result.
    let tmp = root.join(format!("tmp-{stamp}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let (code, out, err) = run(&["pki", "init", "--out", tmp.to_str().unwrap(), "--seed", "1"]);
    assert_eq!(code, 0, "pki init failed: {out}{err}");
    if std::fs::rename(&tmp, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    assert!(dir.join("manifest.json").is_file());
    dir
}

/// The parsed manifest of a PKI directory.
pub(crate) fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

/// `dir/rel` as a string.
pub(crate) fn p(dir: &Path, rel: &serde_json::Value) -> String {
    dir.join(rel.as_str().unwrap()).to_str().unwrap().to_owned()
}

/// `openssl ARGS`: (success, combined output).
pub(crate) fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl must be installed (.ci/test installs it)");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
