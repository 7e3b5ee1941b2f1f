//! Shared test helpers: the workspace root, DIGG's reference files in `../shared` (tests that
//! need them print a notice and return when it is absent), the independent tools, and a
//! development PKI generated once per test binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (two levels above this crate).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `../shared` next to the workspace, if present.
pub(crate) fn shared_dir() -> Option<PathBuf> {
    let dir = workspace_root().join("../shared");
    if dir.join("sdk-reference").is_dir() {
        Some(dir.canonicalize().unwrap())
    } else {
        eprintln!(
            "notice: ../shared is absent; skipping the checks that need DIGG's reference files"
        );
        None
    }
}

/// A file of DIGG's reference set.
pub(crate) fn reference(shared: &Path, rel: &str) -> PathBuf {
    shared.join("sdk-reference").join(rel)
}

/// A scratch directory under `target/`, emptied first.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = workspace_root().join("target/test-envelope").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `../shared/tools/run ARGS` from the workspace root.
pub(crate) fn tool(shared: &Path, args: &[&str]) -> Output {
    Command::new(shared.join("tools/run"))
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("cannot start ../shared/tools/run")
}

/// Runs a tool and requires it to pass.
pub(crate) fn tool_passes(shared: &Path, args: &[&str]) -> String {
    let out = tool(shared, args);
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "tool {args:?} failed:\n{text}");
    text
}

/// Runs a tool and requires it to fail; returns its output.
pub(crate) fn tool_fails(shared: &Path, args: &[&str]) -> String {
    let out = tool(shared, args);
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "tool {args:?} unexpectedly passed:\n{text}"
    );
    text
}

mod pki;

use std::sync::OnceLock;

#[allow(unused_imports, reason = "not every test binary uses every helper")]
pub(crate) use pki::{Org, Pki, Receiver, SpyKeys};

/// The shared development PKI of the envelope tests.
pub(crate) fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| pki::load(workspace_root().join("target/test-envelope-pki/dev")))
}
