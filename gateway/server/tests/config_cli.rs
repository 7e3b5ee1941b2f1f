//! `sdkgw config check` / `config example` through the built binary: a broken configuration
//! lists all its errors with key paths, environment variables override keys, key material
//! failures (wrong password, mismatched key, unreadable or world-readable files) are clear
//! messages with a non-zero exit and no panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use std::path::{Path, PathBuf};

use common::{manifest, output, run, sdkgw, shared_dir, shared_pki};

/// Organisation A's generated configuration with every path made absolute, as a TOML table to
/// modify; the PKI itself stays untouched.
fn base_config() -> (PathBuf, toml::Table) {
    let pki = shared_pki();
    let org_dir = pki.join("orgs/orga.test");
    let text = std::fs::read_to_string(org_dir.join("sdkgw.toml")).unwrap();
    let mut table: toml::Table = text.parse().unwrap();
    absolutize(&mut table, &org_dir);
    (pki, table)
}

fn absolutize(t: &mut toml::Table, base: &Path) {
    const PATH_KEYS: [&str; 8] = [
        "cert",
        "key",
        "anchors",
        "intermediates",
        "crls",
        "issuing_ca",
        "foreign_anchors",
        "data_dir",
    ];
    for (k, v) in t.iter_mut() {
        match v {
            toml::Value::String(s) if PATH_KEYS.contains(&k.as_str()) => {
                *s = base.join(&*s).to_str().unwrap().to_owned()
            }
            toml::Value::Array(items) if PATH_KEYS.contains(&k.as_str()) => {
                for item in items {
                    if let toml::Value::String(s) = item {
                        *s = base.join(&*s).to_str().unwrap().to_owned();
                    }
                }
            }
            toml::Value::Table(inner) => absolutize(inner, base),
            _ => {}
        }
    }
}

/// Writes `table` to a config file in a fresh directory.
fn write(table: &toml::Table) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sdkgw.toml");
    std::fs::write(&file, toml::to_string(table).unwrap()).unwrap();
    (dir, file)
}

fn check(file: &Path) -> (i32, String, String) {
    run(&["config", "check", file.to_str().unwrap()])
}

fn set(t: &mut toml::Table, path: &str, value: toml::Value) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().unwrap();
    let mut cur = t;
    for part in parts {
        cur = cur
            .entry(part)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .unwrap();
    }
    cur.insert(last.to_owned(), value);
}

fn s(v: &str) -> toml::Value {
    toml::Value::String(v.to_owned())
}

#[test]
fn generated_config_with_absolute_paths_is_accepted() {
    let (_, table) = base_config();
    let (_dir, file) = write(&table);
    let (code, out, err) = check(&file);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(": ok (AP0001-DEV, 0203:orga.test, environment dev"),
        "{out}"
    );
}

#[test]
fn broken_config_lists_every_error_with_its_key_path_and_exits_1() {
    let (pki, mut t) = base_config();
    let org = pki.join("orgs/orga.test");
    set(&mut t, "environment.name", s("staging"));
    set(
        &mut t,
        "participants",
        toml::Value::Array(vec![toml::Value::Table(
            [("id".to_owned(), s("orga.test"))].into_iter().collect(),
        )]),
    );
    set(
        &mut t,
        "keys.o2o.signing.cert",
        s("/nonexistent/o2o-signing.pem"),
    );
    set(
        &mut t,
        "keys.ap.key",
        s(org.join("tls-client.key").to_str().unwrap()),
    );
    set(
        &mut t,
        "keys.tls.server.cert",
        s(org.join("tls-client.pem").to_str().unwrap()),
    );
    set(
        &mut t,
        "keys.tls.server.key",
        s(org.join("tls-client.key").to_str().unwrap()),
    );
    set(&mut t, "listeners.api.bind", s("not-an-address"));
    let as4_bind = t["listeners"]["as4"]["bind"].clone();
    set(&mut t, "listeners.admin.bind", as4_bind);
    set(&mut t, "limits.max_fish", toml::Value::Integer(3));
    set(&mut t, "retry.multiplier", toml::Value::Float(50.0));
    set(&mut t, "retry.initial_delay", s("30"));
    set(&mut t, "address_book.source", s("carrier-pigeon"));
    let ap_root = t["trust"]["as4"]["anchors"].clone();
    set(&mut t, "trust.tls.anchors", ap_root);
    let (_dir, file) = write(&t);
    let (code, out, err) = check(&file);
    assert_eq!(code, 1, "{out}{err}");
    let expected = [
        "error: environment.name: unknown environment \"staging\"",
        "error: participants[0].id:",
        "error: keys.o2o.signing.cert: file not found: /nonexistent/o2o-signing.pem",
        "error: keys.ap.key: the private key in",
        "error: keys.tls.server.cert: extended key usage lacks serverAuth",
        "error: listeners.api.bind: \"not-an-address\" is not an address:port",
        "error: listeners.admin.bind:",
        "error: limits.max_fish: unknown key",
        "error: retry.multiplier: must be between 1.0 and 10.0",
        "error: retry.initial_delay: \"30\" is not a duration",
        "error: address_book.source: \"carrier-pigeon\": expected sml, smp or file",
        "error: trust.tls.anchors: Rot CA eDelivery Accesspunkt-DEV is also a trust.as4 anchor",
    ];
    for e in expected {
        assert!(out.contains(e), "missing {e:?} in:\n{out}");
    }
    // Consequences are reported too (e.g. the TLS intermediate no longer chains to the
    // replaced TLS anchors); the summary counts every error line.
    let error_lines = out.lines().filter(|l| l.starts_with("error: ")).count();
    assert!(error_lines >= expected.len(), "{out}");
    assert!(
        out.lines()
            .last()
            .unwrap()
            .contains(&format!("{error_lines} errors")),
        "{out}"
    );

    // The same findings as JSON, for scripts.
    let (code, json, _) = run(&[
        "config",
        "check",
        file.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"], error_lines);
    let paths: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"keys.o2o.signing.cert") && paths.contains(&"limits.max_fish"),
        "{paths:?}"
    );
}

#[test]
fn environment_variables_override_keys_and_are_named_in_findings() {
    let (_, mut t) = base_config();
    // A key missing from the file is supplied by the environment.
    let ap_cert = t["keys"]["ap"]["cert"].as_str().unwrap().to_owned();
    t["keys"]["ap"].as_table_mut().unwrap().remove("cert");
    let (_dir, file) = write(&t);
    let (code, out, _) = check(&file);
    assert_eq!(code, 1);
    assert!(out.contains("error: keys.ap.cert: missing"), "{out}");
    let (code, out, err) = output(
        sdkgw()
            .args(["config", "check", file.to_str().unwrap()])
            .env("SDKGW_KEYS__AP__CERT", &ap_cert),
    );
    assert_eq!(code, 0, "{out}{err}");

    // A bad value from the environment names its variable; lists and numbers are parsed.
    let (code, out, _) = output(
        sdkgw()
            .args(["config", "check", file.to_str().unwrap()])
            .env("SDKGW_KEYS__AP__CERT", &ap_cert)
            .env("SDKGW_LISTENERS__AS4__BIND", "nowhere")
            .env("SDKGW_KEYS__O2O__SIGNING__CERT", "/nonexistent/sign.pem")
            .env("SDKGW_RETRY__MAX_ATTEMPTS", "zero")
            .env(
                "SDKGW_TRUST__SMP__ANCHORS",
                "/nonexistent/a.pem, /nonexistent/b.pem",
            ),
    );
    assert_eq!(code, 1, "{out}");
    for e in [
        "error: listeners.as4.bind: \"nowhere\" is not an address:port (e.g. 127.0.0.1:8443) (value from SDKGW_LISTENERS__AS4__BIND)",
        "error: keys.o2o.signing.cert: file not found: /nonexistent/sign.pem",
        "error: retry.max_attempts: expected a non-negative integer, found \"zero\" (value from SDKGW_RETRY__MAX_ATTEMPTS)",
        "error: trust.smp.anchors[0]: file not found: /nonexistent/a.pem",
        "error: trust.smp.anchors[1]: file not found: /nonexistent/b.pem",
    ] {
        assert!(out.contains(e), "missing {e:?} in:\n{out}");
    }
}

#[test]
fn wrong_pkcs12_password_is_an_error_and_the_right_one_from_a_variable_works() {
    let (pki, mut t) = base_config();
    let dir = tempfile::tempdir().unwrap();
    let p12 = dir.path().join("ap.p12");
    let org = pki.join("orgs/orga.test");
    let (ok, text) = common::openssl(&[
        "pkcs12",
        "-export",
        "-legacy",
        "-passout",
        "pass:right-one",
        "-in",
        org.join("ap.pem").to_str().unwrap(),
        "-inkey",
        org.join("ap.key").to_str().unwrap(),
        "-out",
        p12.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p12, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let ap = t["keys"]["ap"].as_table_mut().unwrap();
    ap.clear();
    ap.insert("cert".into(), s(p12.to_str().unwrap()));
    ap.insert("password_env".into(), s("SDKGW_TEST_AP_PASSWORD"));
    let (_d, file) = write(&t);
    let args = ["config", "check", file.to_str().unwrap()];
    let (code, out, _) = output(
        sdkgw()
            .args(args)
            .env("SDKGW_TEST_AP_PASSWORD", "wrong-one"),
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("error: keys.ap: wrong password for PKCS#12 file"),
        "{out}"
    );
    assert!(!out.contains("wrong-one"), "the password is never printed");
    let (code, out, _) = output(sdkgw().args(args).env_remove("SDKGW_TEST_AP_PASSWORD"));
    assert_eq!(code, 1);
    assert!(out.contains("SDKGW_TEST_AP_PASSWORD is not set"), "{out}");
    let (code, out, err) = output(
        sdkgw()
            .args(args)
            .env("SDKGW_TEST_AP_PASSWORD", "right-one"),
    );
    assert_eq!(code, 0, "{out}{err}");
}

#[cfg(unix)]
#[test]
fn private_key_readable_by_others_is_an_error() {
    use std::os::unix::fs::PermissionsExt;
    let (_, mut t) = base_config();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("o2o-encryption.key");
    std::fs::copy(
        t["keys"]["o2o"]["encryption"]["key"].as_str().unwrap(),
        &key,
    )
    .unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    set(&mut t, "keys.o2o.encryption.key", s(key.to_str().unwrap()));
    let (_d, file) = write(&t);
    let (code, out, _) = check(&file);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("error: keys.o2o.encryption.key:") && out.contains("chmod 600"),
        "{out}"
    );
}

#[test]
fn expired_certificate_is_an_error_and_one_expiring_within_30_days_a_warning() {
    let (pki, mut t) = base_config();
    let m = manifest(&pki);
    let expired = pki.join(m["negative"]["expired_ap"]["cert"].as_str().unwrap());
    let expired_key = pki.join(m["negative"]["expired_ap"]["key"].as_str().unwrap());
    set(&mut t, "keys.ap.cert", s(expired.to_str().unwrap()));
    set(&mut t, "keys.ap.key", s(expired_key.to_str().unwrap()));
    set(&mut t, "ap.party_id", s("AP0098-DEV"));
    let (_d, file) = write(&t);
    let (code, out, _) = check(&file);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("error: keys.ap.cert: AP0098-DEV expired on"),
        "{out}"
    );

    // A certificate for org A's AP key, issued by openssl for 10 days.
    let dir = tempfile::tempdir().unwrap();
    let org = pki.join("orgs/orga.test");
    let (csr, short) = (dir.path().join("ap.csr"), dir.path().join("ap-short.pem"));
    let ext = dir.path().join("ext.cnf");
    std::fs::write(
        &ext,
        "keyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=critical,CA:FALSE\n",
    )
    .unwrap();
    let org_key = org.join("ap.key");
    let (ok, text) = common::openssl(&[
        "req",
        "-new",
        "-key",
        org_key.to_str().unwrap(),
        "-subj",
        "/CN=AP0001-DEV",
        "-out",
        csr.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let (ok, text) = common::openssl(&[
        "x509",
        "-req",
        "-in",
        csr.to_str().unwrap(),
        "-days",
        "10",
        "-CA",
        pki.join("ca/ap-intermediate.pem").to_str().unwrap(),
        "-CAkey",
        pki.join("ca/ap-intermediate.key").to_str().unwrap(),
        "-extfile",
        ext.to_str().unwrap(),
        "-out",
        short.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    set(&mut t, "keys.ap.cert", s(short.to_str().unwrap()));
    set(&mut t, "keys.ap.key", s(org_key.to_str().unwrap()));
    set(&mut t, "ap.party_id", s("AP0001-DEV"));
    let (_d2, file) = write(&t);
    let (code, out, _) = check(&file);
    assert_eq!(code, 0, "a warning is not an error: {out}");
    assert!(
        out.contains("warning: keys.ap.cert: AP0001-DEV expires in 9 days"),
        "{out}"
    );
}

#[test]
fn ap_certificate_must_carry_our_party_id() {
    let (_, mut t) = base_config();
    set(&mut t, "ap.party_id", s("AP0002-DEV"));
    let (_d, file) = write(&t);
    let (code, out, _) = check(&file);
    assert_eq!(code, 1);
    assert!(
        out.contains("error: keys.ap.cert: CN \"AP0001-DEV\" is not ap.party_id \"AP0002-DEV\""),
        "{out}"
    );
}

#[test]
fn production_config_refuses_test_and_dev_trust_anchors() {
    let Some(shared) = shared_dir() else { return };
    let (_, mut t) = base_config();
    let qa = shared.join("sdk-reference/certificates/Certifikatskedjor SDK QA/CAs");
    set(&mut t, "environment.name", s("prod"));
    set(
        &mut t,
        "trust.smp.anchors",
        toml::Value::Array(vec![s(qa
            .join("Certifikatskedja SMP/Rot CA eDelivery SMP-QA.cer")
            .to_str()
            .unwrap())]),
    );
    set(
        &mut t,
        "trust.tls.anchors",
        toml::Value::Array(vec![s(qa
            .join("Certifikatskedja mTLS/testsithseidrootcav2.cer")
            .to_str()
            .unwrap())]),
    );
    let (_d, file) = write(&t);
    let (code, out, _) = check(&file);
    assert_eq!(code, 1);
    for e in [
        "error: trust.smp.anchors[0]: Rot CA eDelivery SMP-QA belongs to the qa environment, not prod",
        "error: trust.tls.anchors[0]: TEST SITHS e-id Root CA v2 belongs to the test/QA environment, not prod",
        "error: trust.as4.anchors[0]: Rot CA eDelivery Accesspunkt-DEV belongs to the dev environment, not prod",
        "error: keys.ap.cert:",
    ] {
        assert!(out.contains(e), "missing {e:?} in:\n{out}");
    }
}

#[test]
fn production_config_refuses_digg_qa_o2o_test_cas_efos_sat_expitrust_test_and_test_siths() {
    let Some(shared) = shared_dir() else { return };
    let (_, mut t) = base_config();
    let o2o = shared
        .join("sdk-reference/certificates/Certifikatskedjor SDK QA/CAs/Certifikatskedjor O2O");
    let list = |items: &[&str]| {
        toml::Value::Array(
            items
                .iter()
                .map(|i| s(o2o.join(i).to_str().unwrap()))
                .collect(),
        )
    };
    set(&mut t, "environment.name", s("prod"));
    set(
        &mut t,
        "trust.o2o.anchors",
        list(&[
            "testsithseidrootcav2.cer",
            "SwedishPublicSectorFunctionCAv3SAT.crt",
            "ExpiTrust-Test-CA-v8.cer",
        ]),
    );
    set(
        &mut t,
        "trust.o2o.intermediates",
        list(&["testsithseidfunctioncav1.cer"]),
    );
    let (_d, file) = write(&t);
    let (code, out, _) = check(&file);
    assert_eq!(code, 1, "{out}");
    for e in [
        "error: trust.o2o.anchors[0]: TEST SITHS e-id Root CA v2 belongs to the test/QA environment, not prod: trust stores must not mix environments",
        "error: trust.o2o.anchors[1]: Swedish Public Sector Function CA v3 SAT belongs to the test/QA environment, not prod",
        "error: trust.o2o.anchors[2]: ExpiTrust Test CA v8 belongs to the test/QA environment, not prod",
        "error: trust.o2o.intermediates[0]: TEST SITHS e-id Function CA v1 belongs to the test/QA environment, not prod",
    ] {
        assert!(out.contains(e), "missing {e:?} in:\n{out}");
    }
}

#[test]
fn example_is_printed_and_is_a_complete_configuration() {
    let (code, out, _) = run(&["config", "example"]);
    assert_eq!(code, 0);
    assert_eq!(out, sdkgw_server::config::EXAMPLE);
    let loaded =
        sdkgw_server::config::from_toml(&out, Path::new("/etc/sdkgw/sdkgw.toml"), Vec::new());
    let findings: Vec<String> = loaded.findings.iter().map(|f| f.to_string()).collect();
    assert!(findings.is_empty(), "{findings:#?}");
    let c = loaded.config.unwrap();
    assert_eq!(c.keys.ap.cert, Path::new("/etc/sdkgw/keys/ap.p12"));
    assert_eq!(c.trust.o2o.anchors.len(), 3);
}

#[test]
fn unreadable_config_exits_2_and_invalid_toml_exits_1_with_its_line() {
    let (code, _, err) = run(&["config", "check", "/nonexistent/sdkgw.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/sdkgw.toml"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[environment]\nname = \"dev\"\n[ap\n").unwrap();
    let (code, out, _) = check(&file);
    assert_eq!(code, 1);
    assert!(
        out.contains("is not valid TOML") && out.contains("line 3"),
        "{out}"
    );
}

#[test]
fn certificates_that_do_not_chain_to_their_roles_anchors_are_errors() {
    let (pki, base) = base_config();
    let m = manifest(&pki);
    let abs = |v: &serde_json::Value| pki.join(v.as_str().unwrap()).to_str().unwrap().to_owned();
    let neg = &m["negative"];

    // Revoked AP certificate, listed in the configured CRL of the AP intermediate.
    let mut t = base.clone();
    set(&mut t, "keys.ap.cert", s(&abs(&neg["revoked_ap"]["cert"])));
    set(&mut t, "keys.ap.key", s(&abs(&neg["revoked_ap"]["key"])));
    set(&mut t, "ap.party_id", s("AP0099-DEV"));
    let (_d1, file) = write(&t);
    let (code, out, _) = check(&file);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("error: keys.ap.cert: chain: certificate") && out.contains("was revoked"),
        "{out}"
    );

    // The foreign-environment AP certificate carries our CN but not our issuer; the dev
    // config lists that CA in trust.as4.foreign_anchors, so it is named "wrong environment"
    // (TF-03), and without that registration it is of an unknown issuer.
    let mut t = base.clone();
    set(&mut t, "keys.ap.cert", s(&abs(&neg["foreign_ap"]["cert"])));
    set(&mut t, "keys.ap.key", s(&abs(&neg["foreign_ap"]["key"])));
    let (_d2, file) = write(&t);
    let (code, out, _) = check(&file);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("error: keys.ap.cert: chain: ")
            && out.contains("CN=Rot CA eDelivery Accesspunkt-FOREIGN, a CA of environment FOREIGN, but this trust store is for environment dev"),
        "{out}"
    );
    t["trust"]["as4"]
        .as_table_mut()
        .unwrap()
        .remove("foreign_anchors");
    let (_d2b, file) = write(&t);
    let (code, out, _) = check(&file);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("error: keys.ap.cert: chain: issuer") && out.contains("Accesspunkt-FOREIGN"),
        "{out}"
    );

    // A certificate valid in one role is worthless in another: the AP certificate as TLS
    // client, and the TLS function CA as the pinned AS4 issuing CA.
    let mut t = base.clone();
    let ap = m["organisations"][0]["ap"].clone();
    set(&mut t, "keys.tls.client.cert", s(&abs(&ap["cert"])));
    set(&mut t, "keys.tls.client.key", s(&abs(&ap["key"])));
    set(
        &mut t,
        "trust.as4.issuing_ca",
        s(&abs(&m["ca"]["tls_intermediate"])),
    );
    let (_d3, file) = write(&t);
    let (code, out, _) = check(&file);
    assert_eq!(code, 1, "{out}");
    for e in [
        "error: keys.tls.client.cert: chain: issuer C=SE, O=SDK Dev PKI, CN=Accesspunkt CA-SDK-DEV of",
        "error: trust.as4.issuing_ca: chain: issuer C=SE, O=SDK Dev PKI, CN=SDK Dev TLS Root CA",
        "error: keys.ap.cert: chain:",
    ] {
        assert!(out.contains(e), "missing {e:?} in:\n{out}");
    }
}

#[test]
fn digg_qa_truststores_and_ca_files_are_accepted_as_qa_trust_stores() {
    let Some(shared) = shared_dir() else { return };
    let (_, mut t) = base_config();
    let qa = shared.join("sdk-reference/certificates/Certifikatskedjor SDK QA");
    let f = |rel: &str| s(qa.join(rel).to_str().unwrap());
    set(&mut t, "environment.name", s("qa"));
    let mut as4 = toml::Table::new();
    as4.insert(
        "anchors".into(),
        toml::Value::Array(vec![f("Truststores/as4-sdk-qa-truststore.p12")]),
    );
    as4.insert("password_env".into(), s("SDKGW_TEST_DIGG_P12"));
    as4.insert(
        "issuing_ca".into(),
        f("CAs/Certifikatskedja Accesspunkt/Accesspunkt CA-SDK-QA.cer"),
    );
    set(&mut t, "trust.as4", toml::Value::Table(as4));
    let mut smp = toml::Table::new();
    smp.insert(
        "anchors".into(),
        toml::Value::Array(vec![f(
            "CAs/Certifikatskedja SMP/Rot CA eDelivery SMP-QA.cer",
        )]),
    );
    set(&mut t, "trust.smp", toml::Value::Table(smp));
    let mut tls = toml::Table::new();
    tls.insert(
        "anchors".into(),
        toml::Value::Array(vec![f(
            "CAs/Certifikatskedja mTLS/testsithseidrootcav2.cer",
        )]),
    );
    tls.insert(
        "intermediates".into(),
        toml::Value::Array(vec![f(
            "CAs/Certifikatskedja mTLS/testsithseidfunctioncav1.cer",
        )]),
    );
    set(&mut t, "trust.tls", toml::Value::Table(tls.clone()));
    let mut o2o = tls;
    o2o.insert(
        "anchors".into(),
        toml::Value::Array(vec![
            f("CAs/Certifikatskedjor O2O/testsithseidrootcav2.cer"),
            f("CAs/Certifikatskedjor O2O/SwedishPublicSectorFunctionCAv3SAT.crt"),
            f("CAs/Certifikatskedjor O2O/ExpiTrust-Test-CA-v8.cer"),
        ]),
    );
    set(&mut t, "trust.o2o", toml::Value::Table(o2o));
    let (_d, file) = write(&t);
    let (code, out, _) = output(
        sdkgw()
            .args(["config", "check", file.to_str().unwrap()])
            .env("SDKGW_TEST_DIGG_P12", "p@ssword"),
    );
    // Our dev keys do not chain to DIGG's CAs (errors on keys.*), but every trust store of
    // DIGG's QA material loads, is of the qa environment and the pinned CA chains to its root.
    assert_eq!(code, 1);
    let trust_errors: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("error: trust."))
        .collect();
    assert!(trust_errors.is_empty(), "{trust_errors:#?}\n{out}");
    assert!(out.contains("error: keys.ap.cert: chain:"), "{out}");
}

#[test]
fn digg_production_ca_files_are_accepted_as_prod_trust_stores() {
    let Some(shared) = shared_dir() else { return };
    let (_, mut t) = base_config();
    let prod = shared.join("sdk-reference/certificates/Certifikatskedjor SDK Produktion/CAs");
    let f = |rel: &str| s(prod.join(rel).to_str().unwrap());
    let list = |items: &[&str]| toml::Value::Array(items.iter().map(|i| f(i)).collect());
    set(&mut t, "environment.name", s("prod"));
    let mut as4 = toml::Table::new();
    as4.insert(
        "anchors".into(),
        list(&["Certifikatskedja Accesspunkt/Rot CA eDelivery Accesspunkt-PROD.cer"]),
    );
    as4.insert(
        "issuing_ca".into(),
        f("Certifikatskedja Accesspunkt/Accesspunkt CA-SDK-PROD.cer"),
    );
    set(&mut t, "trust.as4", toml::Value::Table(as4));
    let mut smp = toml::Table::new();
    smp.insert(
        "anchors".into(),
        list(&["Certifikatskedja SMP/Rot CA eDelivery SMP-PROD.cer"]),
    );
    set(&mut t, "trust.smp", toml::Value::Table(smp));
    let mut tls = toml::Table::new();
    tls.insert(
        "anchors".into(),
        list(&["Certifikatskedja mTLS/sithseidrootcav2.cer"]),
    );
    tls.insert(
        "intermediates".into(),
        list(&["Certifikatskedja mTLS/sithseidfunctioncav1.cer"]),
    );
    set(&mut t, "trust.tls", toml::Value::Table(tls));
    let mut o2o = toml::Table::new();
    o2o.insert(
        "anchors".into(),
        list(&[
            "Certifikatskedjor O2O/sithseidrootcav2.cer",
            "Certifikatskedjor O2O/SwedishPublicSectorFunctionCAv3.crt",
            "Certifikatskedjor O2O/ExpiTrust-EID-CA-v4 (1).cer",
        ]),
    );
    o2o.insert(
        "intermediates".into(),
        list(&["Certifikatskedjor O2O/sithseidfunctioncav1.cer"]),
    );
    set(&mut t, "trust.o2o", toml::Value::Table(o2o));
    let (_d, file) = write(&t);
    let (code, out, _) = check(&file);
    assert_eq!(code, 1, "our dev keys do not belong in prod: {out}");
    let trust_errors: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("error: trust."))
        .collect();
    assert!(trust_errors.is_empty(), "{trust_errors:#?}\n{out}");
}
