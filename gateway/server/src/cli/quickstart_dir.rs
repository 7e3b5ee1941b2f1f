//! The quickstart's working directory (default `target/quickstart`): claimed with a marker
//! file, locked while a quickstart runs, its `pki/` reused and its `run/` replaced at every
//! start. A directory holding anything the quickstart did not make is never touched.
//!
//! ```text
//! DIR/.sdkgw-quickstart   marker: this directory belongs to sdkgw quickstart
//! DIR/.lock               held (flock) while a quickstart runs; holds its pid
//! DIR/pki/                the development PKI (reused; --fresh recreates it)
//! DIR/run/                this run: configurations, data directories, logs, summary.json
//! ```

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;

const MARKER: &str = ".sdkgw-quickstart";
const LOCK: &str = ".lock";

/// The claimed, locked working directory. The lock is released when this is dropped (or the
/// process ends, however it ends).
#[derive(Debug)]
pub(super) struct Workdir {
    root: PathBuf,
    _lock: File,
}

impl Workdir {
    /// Claims `dir`: creates it, or adopts it when it holds only what a quickstart made
    /// (the marker, or just a development PKI in `pki/` from an earlier version), and takes
    /// the lock. Fails when another quickstart holds the lock or the directory is foreign.
    pub(super) fn claim(dir: &Path) -> Result<Workdir, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let root = dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        if !root.join(MARKER).is_file() {
            let foreign = foreign_entries(&root)?;
            if !foreign.is_empty() {
                return Err(format!(
                    "{} already holds files sdkgw quickstart did not make ({}); refusing to \
                     touch them: choose another --dir, or remove that directory",
                    root.display(),
                    foreign.join(", ")
                ));
            }
            std::fs::write(
                root.join(MARKER),
                "This directory belongs to `sdkgw quickstart` (development PKI, demo gateways' \
                 data and logs).\nIt is reset by the next quickstart; delete it whenever you like.\n",
            )
            .map_err(|e| format!("{}: {e}", root.display()))?;
        }
        let lock = lock(&root)?;
        Ok(Workdir { root, _lock: lock })
    }

    pub(super) fn root(&self) -> &Path {
        &self.root
    }

    /// Where the development PKI lives.
    pub(super) fn pki(&self) -> PathBuf {
        self.root.join("pki")
    }

    /// An empty `run/` directory: what the previous run left there is removed.
    pub(super) fn fresh_run(&self) -> Result<PathBuf, String> {
        let run = self.root.join("run");
        remove_if_present(&run)?;
        std::fs::create_dir_all(&run)
            .map_err(|e| format!("cannot create {}: {e}", run.display()))?;
        Ok(run)
    }
}

/// Entries of a directory without the marker that a quickstart would not have made: anything
/// but a `pki/` holding a development PKI.
fn foreign_entries(root: &Path) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let mut foreign = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", root.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let earlier_pki =
            name == "pki" && entry.path().join(sdkgw_certs::devpki::MANIFEST).is_file();
        if !earlier_pki {
            foreign.push(name);
        }
    }
    foreign.sort();
    Ok(foreign)
}

fn lock(root: &Path) -> Result<File, String> {
    let path = root.join(LOCK);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if let Err(e) = rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
        if e == rustix::io::Errno::WOULDBLOCK {
            let pid = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(format!(
                "another sdkgw quickstart (pid {}) is running with {}: stop it first (Ctrl-C \
                 in its terminal), or give this one another --dir",
                pid.trim(),
                root.display()
            ));
        }
        return Err(format!("cannot lock {}: {e}", path.display()));
    }
    file.set_len(0)
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(file)
}

/// Removes `dir` and everything in it, if it exists.
pub(super) fn remove_if_present(dir: &Path) -> Result<(), String> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn claims_an_empty_directory_and_marks_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("qs");
        let w = Workdir::claim(&dir).unwrap();
        assert!(dir.join(MARKER).is_file());
        let run = w.fresh_run().unwrap();
        std::fs::write(run.join("left-over"), "x").unwrap();
        let again = w.fresh_run().unwrap();
        assert!(!again.join("left-over").exists(), "run/ is reset");
    }

    #[test]
    fn refuses_a_directory_with_foreign_files() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
        let err = Workdir::claim(tmp.path()).unwrap_err();
        assert!(
            err.contains("notes.txt") && err.contains("refusing"),
            "{err}"
        );
        assert!(tmp.path().join("notes.txt").is_file());
        assert!(!tmp.path().join(MARKER).exists());
    }

    #[test]
    fn adopts_a_pki_left_by_an_earlier_quickstart() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("pki")).unwrap();
        std::fs::write(tmp.path().join("pki/manifest.json"), "{}").unwrap();
        Workdir::claim(tmp.path()).unwrap();
        assert!(tmp.path().join(MARKER).is_file());
    }

    #[test]
    fn a_second_claim_while_the_first_holds_the_lock_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let first = Workdir::claim(tmp.path()).unwrap();
        let err = Workdir::claim(tmp.path()).unwrap_err();
        assert!(err.contains("another sdkgw quickstart"), "{err}");
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(first);
        Workdir::claim(tmp.path()).unwrap();
    }
}
