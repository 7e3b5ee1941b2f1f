//! `sdkgw addressbook …` against `sdkgw dev smp-server` with the development PKI and its
//! generated configuration: lookups (usable, revoked AP certificate, not registered, SMP
//! down), the durable cache, import/list/search, refresh and stats; exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{manifest, output, sdkgw, shared_pki};

/// The fake SMP child process; killed (by its handle) when dropped.
struct Smp {
    child: Child,
    url: String,
}

impl Drop for Smp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_smp(pki: &Path, extra: &[&str]) -> Smp {
    let mut child = sdkgw()
        .args(["dev", "smp-server", "--pki"])
        .arg(pki)
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("sdkgw runs");
    let mut first = String::new();
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    stdout.read_line(&mut first).unwrap();
    // Keep reading the request log so the server never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned();
    Smp { child, url }
}

/// `sdkgw addressbook ARGS --config <orga.test config>`, with the data directory in `data` and
/// the SMP at `url` (trusted through the PKI's TLS root).
fn addressbook(pki: &Path, data: &Path, url: &str, args: &[&str]) -> (i32, String, String) {
    let config = pki.join("orgs/orga.test/sdkgw.toml");
    let mut cmd: Command = sdkgw();
    cmd.arg("addressbook")
        .args(args)
        .arg("--config")
        .arg(config)
        .env("SDKGW_DATA_DIR", data)
        .env("SDKGW_ADDRESS_BOOK__URL", url)
        .env(
            "SDKGW_ADDRESS_BOOK__HTTP__TLS_ANCHORS",
            pki.join("ca/tls-root.pem"),
        );
    output(&mut cmd)
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn lookups_cache_directory_and_stats_work_against_the_dev_smp() {
    let pki = shared_pki();
    let data = tempfile::tempdir().unwrap();
    let smp = start_smp(&pki, &["--revoked-ap", "0203:orgb.test"]);
    let ab = |args: &[&str]| addressbook(&pki, data.path(), &smp.url, args);

    let (code, out, err) = ab(&["lookup", "0203:orga.test", "--output", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v = json(&out);
    let route = &v["result"]["Ok"]["route"]["Ok"];
    assert_eq!(route["ap_party_id"], "AP0001-DEV");
    let org = &manifest(&pki)["organisations"][0];
    let ap = sdkgw_certs::load_certificates(&pki.join(org["ap"]["cert"].as_str().unwrap()), None)
        .unwrap()
        .remove(0);
    assert_eq!(route["ap_certificate"]["sha256"], ap.fingerprint_hex());
    assert_eq!(route["endpoint_url"], org["as4_url"]);
    assert_eq!(v["result"]["Ok"]["served_from"], "smp");

    let (code, out, _) = ab(&["lookup", "0203:orga.test"]);
    assert_eq!(code, 0);
    assert!(out.contains("fresh (from store)"), "{out}");
    assert!(
        out.contains("O2O encryption") && out.contains("sha256"),
        "{out}"
    );

    let (code, out, _) = ab(&["lookup", "0203:orgb.test", "--output", "json"]);
    assert_eq!(code, 1, "a revoked AP certificate gives no usable route");
    assert_eq!(
        json(&out)["result"]["Ok"]["route"]["Err"]["error"],
        "recipient-cert-revoked"
    );
    let (code, out, _) = ab(&["lookup", "0203:nobody.test", "--output", "json"]);
    assert_eq!(code, 1);
    assert_eq!(json(&out)["result"]["Err"]["error"], "not-registered");
    let (code, _, err) = ab(&["lookup", "not-an-id"]);
    assert_eq!(code, 2, "{err}");

    let csv = data.path().join("export.csv");
    std::fs::write(
        &csv,
        "organisation_id,organisation_name,function_id,function_name,keywords\n\
         0203:orga.test,Org A,orga-inbox,Inkorg,post\n\
         0203:sundbyberg.se,Sundbybergs stad,SE2120000258-reg,Registrator,kommun\n",
    )
    .unwrap();
    let (code, out, err) = ab(&["import", csv.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("imported 2 organisations"), "{out}");
    let (code, out, _) = ab(&["list", "--search", "kommun"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("0203:sundbyberg.se") && !out.contains("0203:orga.test"),
        "{out}"
    );
    let (code, out, _) = ab(&["list", "--output", "json"]);
    assert_eq!(code, 0);
    let rows = json(&out);
    let orga = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "0203:orga.test")
        .unwrap();
    assert!(orga["directory"].is_object() && orga["smp"].is_object() && orga["local"].is_object());

    let empty = data.path().join("empty.csv");
    std::fs::write(&empty, "organisation_id,organisation_name\n").unwrap();
    let (code, _, err) = ab(&["import", empty.to_str().unwrap()]);
    assert_eq!(code, 1, "an empty import is refused: {err}");
    assert!(err.contains("--force"), "{err}");

    let (code, out, _) = ab(&["stats", "--output", "json"]);
    assert_eq!(code, 0);
    let s = json(&out);
    assert_eq!(
        (s["entries"].as_u64(), s["routable"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(s["directory_organisations"], 2);

    let (code, out, _) = ab(&["refresh"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 entries refreshed"), "{out}");

    drop(smp);
    let url_of_a_stopped_smp = {
        let running = start_smp(&pki, &[]);
        running.url.clone()
    };
    let (code, out, _) = addressbook(
        &pki,
        data.path(),
        &url_of_a_stopped_smp,
        &["lookup", "0203:orga.test", "--fresh"],
    );
    assert_eq!(code, 1);
    assert!(out.contains("try again later"), "{out}");
}
