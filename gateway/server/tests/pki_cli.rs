//! Acceptance of `sdkgw pki init` and `sdkgw quickstart`, checked by `openssl` as the
//! independent judge: every leaf verifies against its chain, the CRL lists the revoked
//! certificate, the expired one is expired, the foreign one does not chain to the AP root, and
//! `sdkgw config check` accepts every generated configuration.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use common::{manifest, openssl, p, run, shared_pki};

#[test]
fn pki_init_tree_verifies_with_openssl_and_every_config_passes_check() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("p");
    let out_s = out.to_str().unwrap();
    let (code, stdout, stderr) = run(&[
        "pki",
        "init",
        "--out",
        out_s,
        "--org",
        "0203:orga.test",
        "--org",
        "0203:orgb.test",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("AP0001-DEV") && stdout.contains("AP0002-DEV"),
        "{stdout}"
    );
    let m = manifest(&out);
    let ca = &m["ca"];
    let verify = |root: &str, int: &str, leaf: &str, extra: &[&str]| {
        let mut args = vec!["verify", "-CAfile", root, "-untrusted", int];
        args.extend_from_slice(extra);
        args.push(leaf);
        openssl(&args)
    };
    let (ap_root, ap_int) = (p(&out, &ca["ap_root"]), p(&out, &ca["ap_intermediate"]));
    let (tls_root, tls_int) = (p(&out, &ca["tls_root"]), p(&out, &ca["tls_intermediate"]));
    let (o2o_root, o2o_int) = (p(&out, &ca["o2o_root"]), p(&out, &ca["o2o_intermediate"]));
    let crl = p(&out, &m["negative"]["crl"]);
    assert_eq!(m["negative"]["crl"], m["crls"]["ap_intermediate"]);
    // Every CA's CRL is signed by that CA (openssl checks the signature with -CAfile).
    let crls = &m["crls"];
    for name in [
        "ap_root",
        "ap_intermediate",
        "smp_ca",
        "tls_root",
        "tls_intermediate",
        "o2o_root",
        "o2o_intermediate",
    ] {
        let (ok, text) = openssl(&[
            "crl",
            "-in",
            &p(&out, &crls[name]),
            "-CAfile",
            &p(&out, &ca[name]),
            "-noout",
        ]);
        assert!(ok && text.contains("verify OK"), "{name}: {text}");
    }
    // -crl_check_all: the leaf and the intermediate are checked against their issuers' CRLs.
    let crl_files: std::collections::BTreeMap<&str, [String; 2]> = [
        (
            "ap",
            [p(&out, &crls["ap_root"]), p(&out, &crls["ap_intermediate"])],
        ),
        (
            "tls",
            [
                p(&out, &crls["tls_root"]),
                p(&out, &crls["tls_intermediate"]),
            ],
        ),
        (
            "o2o",
            [
                p(&out, &crls["o2o_root"]),
                p(&out, &crls["o2o_intermediate"]),
            ],
        ),
    ]
    .into_iter()
    .collect();
    let crl_all = |role: &str| -> Vec<&str> {
        let [root, int] = &crl_files[role];
        vec![
            "-crl_check_all",
            "-CRLfile",
            root.as_str(),
            "-CRLfile",
            int.as_str(),
        ]
    };
    let orgs = m["organisations"].as_array().unwrap();
    assert_eq!(orgs.len(), 2);
    for org in orgs {
        let ap = p(&out, &org["ap"]["cert"]);
        let (ok, text) = verify(&ap_root, &ap_int, &ap, &crl_all("ap"));
        assert!(ok, "AP {ap}: {text}");
        for (kind, purpose) in [("tls_server", "sslserver"), ("tls_client", "sslclient")] {
            let leaf = p(&out, &org[kind]["cert"]);
            let (ok, text) = verify(
                &tls_root,
                &tls_int,
                &leaf,
                &["-purpose", purpose, "-verify_ip", "127.0.0.1"],
            );
            assert!(ok, "{kind} {leaf}: {text}");
        }
        for kind in ["o2o_signing", "o2o_encryption"] {
            let leaf = p(&out, &org[kind]["cert"]);
            let (ok, text) = verify(&o2o_root, &o2o_int, &leaf, &crl_all("o2o"));
            assert!(ok, "{kind} {leaf}: {text}");
            let (_, subject) = openssl(&["x509", "-in", &leaf, "-noout", "-subject"]);
            let participant = org["participant"].as_str().unwrap();
            assert!(
                subject.contains(&format!("serialNumber = {participant}")),
                "{subject}"
            );
        }
        // The TLS client certificate must not pass as an AP certificate and vice versa.
        let client = p(&out, &org["tls_client"]["cert"]);
        assert!(
            !verify(&ap_root, &ap_int, &client, &[]).0,
            "TLS cert chains to the AP root"
        );
        // Every private key matches its certificate (openssl compares the moduli).
        for kind in [
            "ap",
            "tls_server",
            "tls_client",
            "o2o_signing",
            "o2o_encryption",
        ] {
            let (_, cert_mod) = openssl(&[
                "x509",
                "-in",
                &p(&out, &org[kind]["cert"]),
                "-noout",
                "-modulus",
            ]);
            let (_, key_mod) = openssl(&[
                "rsa",
                "-in",
                &p(&out, &org[kind]["key"]),
                "-noout",
                "-modulus",
            ]);
            assert_eq!(cert_mod, key_mod, "{kind}");
            let (_, text) = openssl(&[
                "x509",
                "-in",
                &p(&out, &org[kind]["cert"]),
                "-noout",
                "-text",
            ]);
            assert!(text.contains("Public-Key: (3072 bit)"), "{kind}");
        }
        // The generated configuration passes `sdkgw config check`.
        let config = p(&out, &org["config"]);
        let (code, stdout, stderr) = run(&["config", "check", &config]);
        assert_eq!(code, 0, "{config}:\n{stdout}{stderr}");
        assert!(!stdout.contains("warning"), "{stdout}");
    }
    let smp = p(&out, &m["smp_signer"]["cert"]);
    let smp_crl = p(&out, &crls["smp_ca"]);
    let (ok, text) = openssl(&[
        "verify",
        "-crl_check",
        "-CRLfile",
        &smp_crl,
        "-CAfile",
        &p(&out, &ca["smp_ca"]),
        &smp,
    ]);
    assert!(ok, "{text}");
    let smp_tls = p(&out, &m["smp_tls"]["cert"]);
    let (ok, text) = verify(
        &tls_root,
        &tls_int,
        &smp_tls,
        &["-purpose", "sslserver", "-verify_ip", "127.0.0.1"],
    );
    assert!(ok, "{text}");

    let neg = &m["negative"];
    let revoked = p(&out, &neg["revoked_ap"]["cert"]);
    let (ok, text) = verify(
        &ap_root,
        &ap_int,
        &revoked,
        &["-crl_check", "-CRLfile", &crl],
    );
    assert!(!ok && text.contains("certificate revoked"), "{text}");
    let (_, serial) = openssl(&["x509", "-in", &revoked, "-noout", "-serial"]);
    let serial = serial.trim().trim_start_matches("serial=").to_owned();
    let (ok, crl_text) = openssl(&["crl", "-in", &crl, "-noout", "-text"]);
    assert!(ok, "{crl_text}");
    assert!(
        crl_text.contains(&format!("Serial Number: {serial}")),
        "{serial} not in\n{crl_text}"
    );
    let (_, crl_issuer) = openssl(&["crl", "-in", &crl, "-noout", "-issuer"]);
    assert!(
        crl_issuer.contains("Accesspunkt CA-SDK-DEV"),
        "{crl_issuer}"
    );

    let expired = p(&out, &neg["expired_ap"]["cert"]);
    let (ok, text) = verify(&ap_root, &ap_int, &expired, &[]);
    assert!(!ok && text.contains("certificate has expired"), "{text}");
    assert!(!openssl(&["x509", "-in", &expired, "-noout", "-checkend", "0"]).0);

    let foreign = p(&out, &neg["foreign_ap"]["cert"]);
    let (ok, text) = verify(&ap_root, &ap_int, &foreign, &[]);
    assert!(
        !ok && text.contains("unable to get local issuer certificate"),
        "{text}"
    );
    let foreign_ca = p(&out, &ca["foreign_ap_ca"]);
    assert!(
        openssl(&["verify", "-CAfile", &foreign_ca, &foreign]).0,
        "it does chain to its own CA"
    );
}

#[test]
fn pki_init_refuses_an_existing_pki_without_force_and_a_foreign_directory() {
    let pki = shared_pki();
    let (code, _, err) = run(&["pki", "init", "--out", pki.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("--force"), "{err}");

    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("thesis.txt"), "do not delete").unwrap();
    let (code, _, err) = run(&[
        "pki",
        "init",
        "--out",
        tmp.path().to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("refusing"), "{err}");
    assert!(tmp.path().join("thesis.txt").is_file());
}

#[test]
fn pki_init_rejects_a_malformed_participant_id_before_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("p");
    let (code, _, err) = run(&[
        "pki",
        "init",
        "--out",
        out.to_str().unwrap(),
        "--org",
        "orga.test",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("0203:"), "{err}");
    assert!(!out.exists());
}

#[test]
fn seeded_pki_has_ports_and_serials_of_its_seed() {
    let pki = shared_pki();
    let m = manifest(&pki);
    // seed 1: port block base 20010 (20000 + 1 % 3000 * 10), organisation 1 at +10.
    assert_eq!(
        m["organisations"][0]["as4_url"],
        "https://127.0.0.1:20020/as4"
    );
    assert_eq!(m["organisations"][1]["api_url"], "http://127.0.0.1:20031/");
}

#[test]
fn version_names_the_binary_and_its_version() {
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), format!("sdkgw {}", env!("CARGO_PKG_VERSION")));
}
