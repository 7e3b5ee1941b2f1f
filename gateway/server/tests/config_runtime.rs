//! `config::runtime`: the keys and trust stores a running gateway loads from a generated
//! configuration, with the configured (fail-closed) revocation policy and CRLs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use sdkgw_certs::load_certificates;
use sdkgw_server::config::{self, runtime};
use sdkgw_xml_security::x509::{MessagePurpose, PathError, TlsPurpose};

#[test]
fn generated_config_loads_keys_and_fail_closed_trust_that_accepts_the_peer_and_rejects_negatives() {
    let pki = common::shared_pki();
    let m = common::manifest(&pki);
    let loaded = config::load(&pki.join("orgs/orga.test/sdkgw.toml"));
    let cfg = loaded.ok().expect("generated config reads");
    let keys = runtime::load_keys(cfg).unwrap();
    assert_eq!(keys.ap.certificate().common_name(), Some("AP0001-DEV"));
    assert_eq!(keys.o2o_encryption.len(), 1);
    let trust = runtime::load_trust(cfg).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let cert = |v: &serde_json::Value| {
        load_certificates(&pki.join(v.as_str().unwrap()), None)
            .unwrap()
            .remove(0)
    };

    // Organisation B's AP certificate passes AS4 validation, revocation checked against the
    // configured CRLs of the whole chain (fail-closed would refuse a missing one).
    let peer = cert(&m["organisations"][1]["ap"]["cert"]);
    let path = trust
        .as4
        .store
        .validate(
            &peer,
            &[],
            MessagePurpose::Signature,
            now,
            &trust.as4.revocation,
        )
        .unwrap();
    assert_eq!(
        path.anchor().common_name(),
        Some("Rot CA eDelivery Accesspunkt-DEV")
    );
    let b_tls = cert(&m["organisations"][1]["tls_client"]["cert"]);
    trust
        .tls
        .store
        .validate(&b_tls, &[], TlsPurpose::Client, now, &trust.tls.revocation)
        .unwrap();
    let b_o2o = cert(&m["organisations"][1]["o2o_encryption"]["cert"]);
    trust
        .o2o
        .store
        .validate(
            &b_o2o,
            &[],
            MessagePurpose::KeyTransport,
            now,
            &trust.o2o.revocation,
        )
        .unwrap();
    let signer = cert(&m["smp_signer"]["cert"]);
    trust
        .smp
        .store
        .validate(
            &signer,
            &[],
            sdkgw_xml_security::x509::SmpPurpose::Signature,
            now,
            &trust.smp.revocation,
        )
        .unwrap();

    let revoked = cert(&m["negative"]["revoked_ap"]["cert"]);
    let err = trust
        .as4
        .store
        .validate(
            &revoked,
            &[],
            MessagePurpose::Signature,
            now,
            &trust.as4.revocation,
        )
        .unwrap_err();
    assert!(matches!(err, PathError::Revoked { .. }), "{err}");
    let foreign = cert(&m["negative"]["foreign_ap"]["cert"]);
    assert!(
        trust
            .as4
            .store
            .validate(
                &foreign,
                &[],
                MessagePurpose::Signature,
                now,
                &trust.as4.revocation
            )
            .is_err()
    );
    // Role separation: B's TLS client certificate is no AP certificate.
    assert!(
        trust
            .as4
            .store
            .validate(
                &b_tls,
                &[],
                MessagePurpose::Signature,
                now,
                &trust.as4.revocation
            )
            .is_err()
    );
}

#[test]
fn without_crls_the_default_fail_closed_policy_refuses_unknown_status() {
    let pki = common::shared_pki();
    let text = std::fs::read_to_string(pki.join("orgs/orga.test/sdkgw.toml")).unwrap();
    let stripped: String = text
        .lines()
        .filter(|l| !l.starts_with("crls = "))
        .map(|l| format!("{l}\n"))
        .collect();
    // Same directory, so the relative paths still resolve.
    let dir = tempfile::tempdir_in(pki.join("orgs/orga.test")).unwrap();
    let file = dir.path().join("no-crls.toml");
    std::fs::write(&file, stripped.replace("\"../../", "\"../../../")).unwrap();
    let loaded = config::load(&file);
    let cfg = loaded.ok().expect("reads");
    let trust = runtime::load_trust(cfg).unwrap();
    let m = common::manifest(&pki);
    let peer = load_certificates(
        &pki.join(m["organisations"][1]["ap"]["cert"].as_str().unwrap()),
        None,
    )
    .unwrap()
    .remove(0);
    let now = time::OffsetDateTime::now_utc();
    let err = trust
        .as4
        .store
        .validate(
            &peer,
            &[],
            MessagePurpose::Signature,
            now,
            &trust.as4.revocation,
        )
        .unwrap_err();
    assert!(matches!(err, PathError::RevocationUnknown { .. }), "{err}");
}

#[cfg(unix)]
#[test]
fn a_group_readable_private_key_is_refused_at_load() {
    use std::os::unix::fs::PermissionsExt;
    let pki = common::shared_pki();
    let org = pki.join("orgs/orga.test");
    let dir = tempfile::tempdir_in(&org).unwrap();
    for name in [
        "ap",
        "tls-server",
        "tls-client",
        "o2o-signing",
        "o2o-encryption",
    ] {
        for ext in ["pem", "key"] {
            std::fs::copy(
                org.join(format!("{name}.{ext}")),
                dir.path().join(format!("{name}.{ext}")),
            )
            .unwrap();
        }
    }
    std::fs::set_permissions(
        dir.path().join("o2o-signing.key"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let text = std::fs::read_to_string(org.join("sdkgw.toml"))
        .unwrap()
        .replace("\"../../", "\"../../../");
    let file = dir.path().join("sdkgw.toml");
    std::fs::write(&file, text).unwrap();
    let loaded = config::load(&file);
    let err = runtime::load_keys(loaded.ok().expect("reads")).unwrap_err();
    let messages: Vec<String> = err.iter().map(|f| f.to_string()).collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].starts_with("error: keys.o2o.signing.key:")
            && messages[0].contains("chmod 600"),
        "{messages:?}"
    );
}
