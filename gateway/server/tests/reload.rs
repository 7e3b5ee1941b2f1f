//! Live reload on a real `sdkgw serve` process (organisation B of the dev PKI): `SIGHUP` and
//! `sdkgw reload` swap the TLS certificate the AS4 listener serves to new connections without
//! a restart; a configuration with an error changes nothing and says why; a reload with a
//! renewed AP key plus `[[keys.ap.previous]]` is applied and reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{output, sdkgw, shared_pki};
use sdkgw_certs::devpki::{self, Renewal};

const ORG: &str = "0203:orgb.test";

struct Serve {
    child: Child,
    port: u16,
    config: PathBuf,
    data: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

fn org_dir(pki: &Path) -> PathBuf {
    pki.join("orgs/orgb.test")
}

/// A copy of B's configuration next to the original (relative paths keep working), unique
/// to this test process.
fn own_config(pki: &Path, tag: &str) -> PathBuf {
    let path = org_dir(pki).join(format!("reload-{tag}-{}.toml", std::process::id()));
    std::fs::copy(org_dir(pki).join("sdkgw.toml"), &path).unwrap();
    path
}

fn edit(config: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    assert!(text.contains(from), "{from:?} not in the config");
    std::fs::write(config, text.replacen(from, to, 1)).unwrap();
}

fn start(pki: &Path, config: PathBuf) -> Serve {
    let data = tempfile::tempdir().unwrap();
    let mut child = sdkgw()
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .env("SDKGW_DATA_DIR", data.path())
        // No SMP is needed: nothing is sent.
        .env("SDKGW_ADDRESS_BOOK__URL", "https://127.0.0.1:9/")
        .env(
            "SDKGW_ADDRESS_BOOK__HTTP__TLS_ANCHORS",
            pki.join("ca/tls-root.pem"),
        )
        .env("SDKGW_LISTENERS__AS4__BIND", "127.0.0.1:0")
        .env("SDKGW_LISTENERS__API__BIND", "127.0.0.2:0")
        .env("SDKGW_LISTENERS__ADMIN__BIND", "127.0.0.3:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve exited before serving"
        );
        if line.contains("serving AS4 on") {
            break;
        }
    }
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap();
    let port = url
        .trim_start_matches("https://")
        .split(['/', ';'])
        .next()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    Serve {
        child,
        port,
        config,
        data,
    }
}

/// SHA-256 fingerprint of the first certificate in a PEM file.
fn fingerprint_of_file(pem: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(pem)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The fingerprint of the certificate the AS4 listener serves to a new connection (mutual
/// TLS with B's own client certificate, which the TLS CA issued).
fn served_fingerprint(pki: &Path, port: u16) -> String {
    let dir = org_dir(pki);
    let script = format!(
        "openssl s_client -connect 127.0.0.1:{port} -cert {c} -key {k} </dev/null 2>/dev/null \
         | openssl x509 -noout -fingerprint -sha256",
        c = dir.join("tls-client.pem").display(),
        k = dir.join("tls-client.key").display(),
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Polls new connections until the served certificate is `want` (a signal is asynchronous).
fn wait_served(pki: &Path, serve: &mut Serve, want: &str) -> String {
    let start = Instant::now();
    loop {
        let got = served_fingerprint(pki, serve.port);
        if got == want || start.elapsed() > Duration::from_secs(60) {
            return got;
        }
        assert!(
            serve.child.try_wait().unwrap().is_none(),
            "serve exited after the signal"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn renew_tls_server(pki: &Path, tag: &str) -> (String, String) {
    let name = format!("tls-server-{tag}-{}", std::process::id());
    let pair = devpki::renew(pki, ORG, Renewal::TlsServer, &name).unwrap();
    let file = |p: &str| {
        Path::new(p)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    (file(&pair.cert), file(&pair.key))
}

fn reload(serve: &Serve) -> (i32, String, String) {
    output(
        sdkgw()
            .arg("reload")
            .arg("--config")
            .arg(&serve.config)
            .env("SDKGW_DATA_DIR", serve.data.path()),
    )
}

const TLS_SERVER: &str = "[keys.tls.server]\ncert = \"tls-server.pem\"\nkey = \"tls-server.key\"";

#[test]
fn sighup_swaps_the_served_tls_certificate_for_new_connections() {
    let pki = shared_pki();
    let config = own_config(&pki, "hup");
    let mut serve = start(&pki, config.clone());
    let old = fingerprint_of_file(&org_dir(&pki).join("tls-server.pem"));
    assert_eq!(served_fingerprint(&pki, serve.port), old);

    let (cert, key) = renew_tls_server(&pki, "hup");
    let new = fingerprint_of_file(&org_dir(&pki).join(&cert));
    assert_ne!(old, new);
    edit(
        &config,
        TLS_SERVER,
        &format!("[keys.tls.server]\ncert = \"{cert}\"\nkey = \"{key}\""),
    );
    let pid = serve.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(wait_served(&pki, &mut serve, &new), new);
    assert!(serve.child.try_wait().unwrap().is_none(), "still running");
    let _ = std::fs::remove_file(org_dir(&pki).join(&cert));
    let _ = std::fs::remove_file(org_dir(&pki).join(&key));
}

#[test]
fn invalid_reload_changes_nothing_and_says_why_then_a_valid_one_applies() {
    let pki = shared_pki();
    let config = own_config(&pki, "cli");
    let serve = start(&pki, config.clone());
    let old = fingerprint_of_file(&org_dir(&pki).join("tls-server.pem"));

    // A certificate file that does not exist: refused, nothing changes.
    edit(
        &config,
        TLS_SERVER,
        "[keys.tls.server]\ncert = \"missing-tls-server.pem\"\nkey = \"tls-server.key\"",
    );
    let (code, out, err) = reload(&serve);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("reload refused"), "{out}");
    assert!(out.contains("keys.tls.server"), "{out}");
    assert_eq!(served_fingerprint(&pki, serve.port), old);

    // A renewed TLS server certificate and a renewed AP key with the old one as previous.
    let (cert, key) = renew_tls_server(&pki, "cli");
    let new = fingerprint_of_file(&org_dir(&pki).join(&cert));
    edit(
        &config,
        "cert = \"missing-tls-server.pem\"",
        &format!("cert = \"{cert}\""),
    );
    edit(
        &config,
        "key = \"tls-server.key\"",
        &format!("key = \"{key}\""),
    );
    let ap_name = format!("ap-cli-{}", std::process::id());
    devpki::renew(&pki, ORG, Renewal::Ap, &ap_name).unwrap();
    edit(
        &config,
        "[keys.ap]\ncert = \"ap.pem\"\nkey = \"ap.key\"",
        &format!(
            "[keys.ap]\ncert = \"{ap_name}.pem\"\nkey = \"{ap_name}.key\"\n\
             [[keys.ap.previous]]\ncert = \"ap.pem\"\nkey = \"ap.key\""
        ),
    );
    // O2O encryption rollover: the renewed key first, the old one still listed.
    let o2o_name = format!("o2o-enc-cli-{}", std::process::id());
    devpki::renew(&pki, ORG, Renewal::O2oEncryption, &o2o_name).unwrap();
    edit(
        &config,
        "[keys.o2o.encryption]\ncert = \"o2o-encryption.pem\"\nkey = \"o2o-encryption.key\"",
        &format!(
            "[[keys.o2o.encryption]]\ncert = \"{o2o_name}.pem\"\nkey = \"{o2o_name}.key\"\n\
             [[keys.o2o.encryption]]\ncert = \"o2o-encryption.pem\"\nkey = \"o2o-encryption.key\""
        ),
    );
    let (code, out, err) = reload(&serve);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("reloaded"), "{out}");
    for key in [
        "keys.tls.server",
        "keys.ap:",
        "keys.ap.previous",
        "keys.o2o.encryption",
    ] {
        assert!(out.contains(&format!("changed {key}")), "{key}: {out}");
    }
    // All of it is applied live: nothing of it waits for a restart.
    assert!(!out.contains("needs a restart: keys."), "{out}");
    assert_eq!(served_fingerprint(&pki, serve.port), new);

    // Both reloads are in the audit trail (shipped to the log files within seconds).
    let start = Instant::now();
    let trail = loop {
        let (_, out, err) = output(
            sdkgw()
                .args(["audit", "search", "--event", "config.reload", "--data-dir"])
                .arg(serve.data.path())
                .args(["--output", "json"]),
        );
        if (out.contains("refused") && out.contains("applied"))
            || start.elapsed() > Duration::from_secs(60)
        {
            break format!("{out}{err}");
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        trail.contains("refused") && trail.contains("applied"),
        "{trail}"
    );
    for f in [
        cert,
        key,
        format!("{ap_name}.pem"),
        format!("{ap_name}.key"),
    ] {
        let _ = std::fs::remove_file(org_dir(&pki).join(f));
    }
}
