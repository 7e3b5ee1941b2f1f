//! CLI output into a closed pipe (`sdkgw queue stats | head -3` where the reader has gone):
//! the command ends quietly with exit code 0 — no panic, no "Broken pipe" message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;

use common::{output, sdkgw, shared_pki};
use sdkgw_store::{SledStore, StoreConfig};

/// The write end of a pipe whose read end is already closed: every write fails with EPIPE.
fn closed_pipe() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer
}

#[test]
fn commands_printing_into_a_closed_pipe_end_quietly_with_exit_0() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // A gateway's (stopped) data directory, so `queue stats` has something to print.
    drop(SledStore::open(StoreConfig::at(&data)).unwrap());
    let pki = shared_pki();
    let cert = pki.join("orgs/orga.test/ap.pem");
    let cases: [Vec<&str>; 4] = [
        vec!["config", "example"],
        vec!["queue", "stats", "--data-dir", data.to_str().unwrap()],
        vec![
            "queue",
            "stats",
            "--output",
            "json",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        vec!["certs", "inspect", cert.to_str().unwrap()],
    ];
    for args in cases {
        // The same command into a working pipe prints something (so the closed pipe is hit).
        let (code, out, err) = output(sdkgw().args(&args));
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(!out.is_empty(), "{args:?} printed nothing");

        let (code, _, err) = output(
            sdkgw()
                .args(&args)
                .stdout(Stdio::from(closed_pipe()))
                .stderr(Stdio::piped()),
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
        assert_eq!(code, 0, "{args:?}: {err}");
    }
}
