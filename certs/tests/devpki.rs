//! The development PKI as a library: what it writes, with which names, key usages and file
//! modes. (The `openssl verify` acceptance of the same tree runs through the `sdkgw` binary in
//! `gateway/server/tests/pki_cli.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::path::Path;

use sdkgw_certs::devpki::{self, Manifest, Options, OrgConfigInput};
use sdkgw_certs::{CrlInfo, KeyAlgorithm, load_certificates, load_key_pair};

fn render(input: &OrgConfigInput<'_>) -> String {
    format!(
        "# {} {} {}\n",
        input.entry.participant, input.as4_bind, input.root_from_config
    )
}

/// Generates a two-organisation PKI (RSA 3072: seconds, so one test checks all of it).
fn generate(dir: &Path) -> Manifest {
    let options = Options {
        participants: vec!["0203:orga.test".into(), "0203:orgb.test".into()],
        seed: Some(42),
        force: false,
    };
    devpki::generate(dir, &options, &render).unwrap()
}

#[test]
fn generated_pki_mirrors_digg_with_described_files_usages_modes_and_negative_material() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let m = generate(&dir);
    manifest_on_disk_equals_returned_manifest_and_every_file_exists(&dir, &m);
    organisations_get_ap_party_ids_in_order_and_o2o_subjects_carry_the_participant(&dir, &m);
    hierarchy_mirrors_digg_names_and_issuers(&dir, &m);
    negative_material_is_expired_and_revoked_as_described(&dir, &m);
    #[cfg(unix)]
    every_key_file_is_owner_only_and_certificates_are_not(&dir, &m);
    rerun_refuses_without_force_and_force_replaces(&dir, &m);
}

fn cert(dir: &Path, rel: &str) -> sdkgw_certs::Certificate {
    load_certificates(&dir.join(rel), None).unwrap().remove(0)
}

fn manifest_on_disk_equals_returned_manifest_and_every_file_exists(
    dir: &Path,
    manifest: &Manifest,
) {
    assert_eq!(&devpki::read_manifest(dir).unwrap(), manifest);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let mut paths = Vec::new();
    collect_strings(&json, &mut paths);
    for p in paths
        .iter()
        .filter(|p| !p.starts_with("http") && !p.starts_with("0203:") && !p.starts_with("AP"))
    {
        assert!(dir.join(p).is_file(), "{p} listed but missing");
    }
    let org = &json["organisations"][0];
    for key in [
        "participant",
        "ap_party_id",
        "config",
        "as4_url",
        "api_url",
        "admin_url",
    ] {
        assert!(org[key].is_string(), "{key}");
    }
    for key in [
        "ap",
        "tls_server",
        "tls_client",
        "o2o_signing",
        "o2o_encryption",
    ] {
        assert!(
            org[key]["cert"].is_string() && org[key]["key"].is_string(),
            "{key}"
        );
    }
    for key in [
        "ap_root",
        "ap_intermediate",
        "smp_ca",
        "tls_root",
        "tls_intermediate",
        "o2o_root",
        "o2o_intermediate",
        "foreign_ap_ca",
    ] {
        assert!(json["ca"][key].is_string(), "ca.{key}");
    }
    for key in ["expired_ap", "revoked_ap", "foreign_ap"] {
        assert!(json["negative"][key]["cert"].is_string(), "negative.{key}");
    }
    assert!(json["negative"]["crl"].is_string());
}

fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

fn organisations_get_ap_party_ids_in_order_and_o2o_subjects_carry_the_participant(
    dir: &Path,
    m: &Manifest,
) {
    assert_eq!(m.organisations[0].ap_party_id, "AP0001-DEV");
    assert_eq!(m.organisations[1].ap_party_id, "AP0002-DEV");
    for org in &m.organisations {
        let ap =
            load_key_pair(&dir.join(&org.ap.cert), Some(&dir.join(&org.ap.key)), None).unwrap();
        assert_eq!(
            ap.certificate().common_name(),
            Some(org.ap_party_id.as_str())
        );
        assert_eq!(
            ap.certificate().key_algorithm(),
            &KeyAlgorithm::Rsa { bits: 3072 }
        );
        let ku = ap.certificate().key_usage().unwrap();
        assert!(ku.digital_signature && ku.key_encipherment);
        let sign = cert(dir, &org.o2o_signing.cert);
        let enc = cert(dir, &org.o2o_encryption.cert);
        for c in [&sign, &enc] {
            assert_eq!(c.subject_serial_number(), Some(org.participant.as_str()));
            assert_eq!(
                Some(c.common_name().unwrap()),
                org.participant.strip_prefix("0203:")
            );
        }
        assert!(
            sign.key_usage().unwrap().digital_signature
                && !sign.key_usage().unwrap().key_encipherment
        );
        assert!(
            enc.key_usage().unwrap().key_encipherment
                && !enc.key_usage().unwrap().digital_signature
        );
        let server = cert(dir, &org.tls_server.cert);
        assert_eq!(
            server.subject_alt_names(),
            ["DNS:localhost", "IP:127.0.0.1"]
        );
        assert_eq!(
            server.extended_key_usage().unwrap(),
            [sdkgw_certs::eku::SERVER_AUTH]
        );
        let client = cert(dir, &org.tls_client.cert);
        assert_eq!(
            client.extended_key_usage().unwrap(),
            [sdkgw_certs::eku::CLIENT_AUTH]
        );
        assert!(org.as4_url.starts_with("https://127.0.0.1:"));
        let config = std::fs::read_to_string(dir.join(&org.config)).unwrap();
        assert!(
            config.contains(&org.participant) && config.contains("../.."),
            "{config}"
        );
    }
    assert_ne!(m.organisations[0].as4_url, m.organisations[1].as4_url);
}

fn hierarchy_mirrors_digg_names_and_issuers(dir: &Path, m: &Manifest) {
    let root = cert(dir, &m.ca.ap_root);
    let int = cert(dir, &m.ca.ap_intermediate);
    assert!(root.is_self_issued() && root.is_ca());
    assert_eq!(int.issuer_der(), root.subject_der());
    assert_eq!(int.basic_constraints().unwrap().path_len, Some(0));
    let ap = cert(dir, &m.organisations[0].ap.cert);
    assert_eq!(ap.issuer_der(), int.subject_der());
    assert_eq!(ap.authority_key_id(), int.subject_key_id());
    let smp = cert(dir, &m.smp_signer.cert);
    assert_eq!(smp.issuer_der(), cert(dir, &m.ca.smp_ca).subject_der());
    let foreign = cert(dir, &m.negative.foreign_ap.cert);
    assert_eq!(
        foreign.common_name(),
        Some("AP0001-DEV"),
        "claims org 1's AP id"
    );
    assert_eq!(
        foreign.issuer_der(),
        cert(dir, &m.ca.foreign_ap_ca).subject_der()
    );
    assert_ne!(foreign.issuer_der(), int.subject_der());
}

fn negative_material_is_expired_and_revoked_as_described(dir: &Path, m: &Manifest) {
    let now = time::OffsetDateTime::now_utc();
    assert!(cert(dir, &m.negative.expired_ap.cert).not_after() < now);
    let revoked = cert(dir, &m.negative.revoked_ap.cert);
    assert!(revoked.is_valid_at(now));
    let crl = CrlInfo::from_file(&dir.join(&m.negative.crl)).unwrap();
    assert_eq!(crl.revoked_serials, [revoked.serial_hex()]);
    assert_eq!(
        crl.issuer_der,
        cert(dir, &m.ca.ap_intermediate).subject_der()
    );
    assert!(crl.next_update.unwrap() > now);
}

#[cfg(unix)]
fn every_key_file_is_owner_only_and_certificates_are_not(dir: &Path, m: &Manifest) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |rel: &str| {
        std::fs::metadata(dir.join(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o077
    };
    let org = &m.organisations[1];
    for pair in [
        &org.ap,
        &org.tls_server,
        &org.tls_client,
        &org.o2o_signing,
        &org.o2o_encryption,
        &m.negative.revoked_ap,
        &m.smp_signer,
    ] {
        assert_eq!(mode(&pair.key), 0, "{}", pair.key);
    }
    assert_eq!(mode(&m.ca.ap_root.replace(".pem", ".key")), 0);
    assert_ne!(mode(&org.ap.cert) & 0o044, 0, "certificates stay readable");
}

fn rerun_refuses_without_force_and_force_replaces(dir: &Path, m: &Manifest) {
    let one = Options {
        participants: vec!["0203:orga.test".into()],
        seed: Some(42),
        force: false,
    };
    let err = devpki::generate(dir, &one, &render)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--force"), "{err}");
    assert_eq!(
        &devpki::read_manifest(dir).unwrap(),
        m,
        "refusal leaves the PKI untouched"
    );
    let bad = Options {
        participants: vec!["orga.test".into()],
        force: true,
        ..one.clone()
    };
    assert!(devpki::generate(dir, &bad, &render).is_err());
    assert!(
        dir.join("manifest.json").is_file(),
        "a bad argument clears nothing"
    );
    let replaced = devpki::generate(dir, &Options { force: true, ..one }, &render).unwrap();
    assert_eq!(replaced.organisations.len(), 1);
    assert!(
        !dir.join("orgs/orgb.test").exists(),
        "--force removes the old tree"
    );
    // Same seed, same file name: same serial; the key (and so the certificate) is new.
    let old_root = m.ca.ap_root.clone();
    let new_root = cert(dir, &replaced.ca.ap_root);
    assert_eq!(new_root.serial_hex().len(), 32);
    assert_eq!(old_root, replaced.ca.ap_root);
}

#[test]
fn refuses_a_non_empty_directory_that_is_not_a_dev_pki() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("important.txt"), "keep me").unwrap();
    let options = Options {
        participants: vec!["0203:orga.test".into()],
        seed: None,
        force: true,
    };
    let err = devpki::generate(tmp.path(), &options, &render)
        .unwrap_err()
        .to_string();
    assert!(err.contains("refusing"), "{err}");
    assert!(tmp.path().join("important.txt").is_file());
}
