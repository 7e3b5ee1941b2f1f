//! Revocation configuration as the running gateway loads it (`config::runtime::load_trust`):
//! per role `crl_fetch` / `ocsp` / `crl_grace` / `revocation = fail-closed|fail-open` make the
//! role's checker fetch from the sources the certificates name (through one
//! `sdkgw_http::fetch::RevocationFetcher`, last good CRL kept in `<data_dir>/revocation`), a
//! revoked certificate is refused through a fetched CRL or an OCSP answer, `foreign_anchors`
//! turn another environment's certificate into "wrong environment" (TF-03 / AP-03), and
//! `config check` names certificates whose revocation status no source gives.
//!
//! The sources are local HTTP servers scripted by the test (`support_fetch`); the extra O2O CA
//! and its certificates, CRLs and OCSP answers are made here with rcgen.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;
#[path = "../../http/tests/support_fetch/mod.rs"]
mod support_fetch;
#[path = "../../xml-security/tests/support_ocsp/mod.rs"]
mod support_ocsp;
#[path = "../../xml-security/tests/support_pki/mod.rs"]
mod support_pki;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{CertificateParams, CrlDistributionPoint, DnType, KeyUsagePurpose, SerialNumber};
use sdkgw_certs::{Certificate, load_certificates};
use sdkgw_server::config::{self, Severity, runtime};
use sdkgw_xml_security::x509::{
    MessagePurpose, O2o, OnUnknown, PathError, RevocationOutcome, StatusSource, ValidPath,
};
use support_fetch::{Reply, TestServer};
use support_ocsp::{Answer, Status};
use support_pki::{Ca, LeafOpts, crl_der, leaf, now, p256, root};
use time::{Duration, OffsetDateTime};

// ---- configurations ----

/// The generated configuration of organisation A, edited by `edit`, written next to the
/// original (so its relative paths resolve) with its own data directory (`data/`), hence its
/// own revocation fetcher.
fn config_with(pki: &Path, edit: impl FnOnce(String) -> String) -> (tempfile::TempDir, PathBuf) {
    let text = std::fs::read_to_string(pki.join("orgs/orga.test/sdkgw.toml")).unwrap();
    let dir = tempfile::tempdir_in(pki.join("orgs/orga.test")).unwrap();
    let file = dir.path().join("sdkgw.toml");
    let moved: String = text
        .replace("\"../../", "\"../../../")
        .lines()
        .map(|l| match l.split_once(" = \"") {
            // the organisation's own key files sit beside the original
            Some((k @ ("cert" | "key"), v)) => format!("{k} = \"../{v}\n"),
            _ => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&file, edit(moved)).unwrap();
    (dir, file)
}

/// `lines` added at the top of the table `[header]`.
fn in_table(text: &str, header: &str, lines: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if line == header {
            out.push_str(lines);
            out.push('\n');
        }
    }
    out
}

/// The generated config with `root` first among `[trust.o2o]`'s anchors, `intermediate`
/// first among its intermediates, and `extra` lines in that table.
fn edit_o2o(text: String, root: &Path, intermediate: Option<&Path>, extra: &str) -> String {
    let mut out = String::new();
    let mut in_o2o = false;
    for line in text.lines() {
        if line.starts_with('[') {
            in_o2o = line == "[trust.o2o]";
        }
        let mut line = line.to_owned();
        if in_o2o && line.starts_with("anchors = [") {
            line = line.replacen('[', &format!("[\"{}\", ", root.display()), 1);
        }
        if let (true, true, Some(i)) = (in_o2o, line.starts_with("intermediates = ["), intermediate)
        {
            line = line.replacen('[', &format!("[\"{}\", ", i.display()), 1);
        }
        out.push_str(&line);
        out.push('\n');
    }
    in_table(&out, "[trust.o2o]", extra)
}

fn load(file: &Path) -> runtime::Trust {
    let loaded = config::load(file);
    let config = loaded.ok().expect("the configuration reads");
    runtime::load_trust(config).unwrap()
}

// ---- an extra O2O CA outside the dev PKI ----

struct Extra {
    ca: Ca,
    /// Its certificate as a file, for `trust.o2o.anchors`.
    file: PathBuf,
    _dir: tempfile::TempDir,
}

fn extra_ca() -> Extra {
    let dir = tempfile::tempdir().unwrap();
    let ca = root("Extra O2O Root", p256());
    let file = dir.path().join("extra-root.pem");
    std::fs::write(&file, ca.cert.to_pem()).unwrap();
    Extra {
        ca,
        file,
        _dir: dir,
    }
}

/// A leaf of the extra CA naming `crl` as distribution point and `ocsp` as responder.
fn leaf_of(extra: &Extra, serial: u64, crl: Option<String>, ocsp: Option<String>) -> Certificate {
    let opts = LeafOpts {
        crl_url: crl,
        ocsp_url: ocsp,
        ..Default::default()
    };
    leaf("org.example.se", serial, &extra.ca, opts)
}

/// A CRL of the extra CA revoking `revoked`, issued `this_update`, next update `next_update`.
fn crl_at(
    extra: &Extra,
    revoked: &[&Certificate],
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Reply {
    Reply::Ok(crl_der(
        &extra.ca,
        revoked,
        this_update - Duration::hours(1),
        this_update,
        next_update,
    ))
}

fn fresh_crl(extra: &Extra, revoked: &[&Certificate]) -> Reply {
    crl_at(
        extra,
        revoked,
        now() - Duration::hours(1),
        now() + Duration::hours(6),
    )
}

/// An OCSP responder signed by the extra CA answering `status` for whatever is asked.
fn ocsp_answer(extra: &Arc<Extra>, status: Status) -> Reply {
    let extra = Arc::clone(extra);
    Reply::Compute(Arc::new(move |req: &[u8]| {
        let mut a = Answer::good(&extra.ca.cert, extra.ca.issuer.key());
        a.status = status;
        support_ocsp::response(req, &a)
    }))
}

fn validate_o2o(trust: &runtime::Trust, cert: &Certificate) -> Result<ValidPath<O2o>, PathError> {
    trust.o2o.store.validate(
        cert,
        &[],
        MessagePurpose::Signature,
        now(),
        &trust.o2o.revocation,
    )
}

fn leaf_outcome(path: &ValidPath<O2o>) -> &RevocationOutcome {
    &path.revocation()[0]
}

fn kept_crls(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("data/revocation"))
        .map(|d| d.flatten().count())
        .unwrap_or(0)
}

// ---- tests ----

#[test]
fn every_role_gets_the_revocation_sources_grace_and_policy_it_is_configured_with() {
    let pki = common::shared_pki();
    // Defaults: CRL distribution points fetched, no OCSP, no grace, fail-closed — every role.
    let trust = load(&pki.join("orgs/orga.test/sdkgw.toml"));
    let roles = [
        ("as4", &trust.as4.revocation),
        ("smp", &trust.smp.revocation),
        ("tls", &trust.tls.revocation),
        ("o2o", &trust.o2o.revocation),
    ];
    for (name, r) in roles {
        assert!(r.has_fetcher(), "{name}: crl_fetch defaults to true");
        assert!(!r.has_ocsp(), "{name}: ocsp defaults to false");
        assert_eq!(r.policy().grace, Duration::ZERO, "{name}");
        assert_eq!(r.policy().on_unknown, OnUnknown::FailClosed, "{name}");
    }

    let (_dir, file) = config_with(&pki, |t| {
        let t = in_table(&t, "[trust.as4]", "crl_grace = \"3h\"\nocsp = true");
        let t = in_table(&t, "[trust.smp]", "revocation = \"fail-open\"");
        let t = in_table(&t, "[trust.tls]", "crl_fetch = false");
        in_table(&t, "[trust.o2o]", "ocsp = true\ncrl_fetch = false")
    });
    let trust = load(&file);
    let (as4, smp, tls, o2o) = (
        &trust.as4.revocation,
        &trust.smp.revocation,
        &trust.tls.revocation,
        &trust.o2o.revocation,
    );
    assert_eq!(as4.policy().grace, Duration::hours(3));
    assert!(as4.has_ocsp() && as4.has_fetcher());
    assert_eq!(smp.policy().on_unknown, OnUnknown::Accept);
    assert_eq!(smp.policy().grace, Duration::ZERO);
    assert!(!smp.has_ocsp() && smp.has_fetcher());
    assert!(!tls.has_fetcher() && !tls.has_ocsp());
    assert_eq!(tls.policy().on_unknown, OnUnknown::FailClosed);
    assert!(o2o.has_ocsp() && !o2o.has_fetcher());

    // Nothing fetched by any role: no fetcher at all.
    let (_dir, file) = config_with(&pki, |t| {
        ["[trust.as4]", "[trust.smp]", "[trust.tls]", "[trust.o2o]"]
            .iter()
            .fold(t, |t, h| in_table(&t, h, "crl_fetch = false"))
    });
    let trust = load(&file);
    assert!(!trust.as4.revocation.has_fetcher() && !trust.o2o.revocation.has_fetcher());
}

#[test]
fn revoked_certificate_is_refused_through_the_crl_its_distribution_point_serves() {
    let pki = common::shared_pki();
    let server = TestServer::start();
    let extra = extra_ca();
    let good = leaf_of(&extra, 70, Some(server.url("/root.crl")), None);
    let revoked = leaf_of(&extra, 71, Some(server.url("/root.crl")), None);
    server.set("/root.crl", fresh_crl(&extra, &[&revoked]));

    let (dir, file) = config_with(&pki, |t| edit_o2o(t, &extra.file, None, ""));
    let trust = load(&file);
    match validate_o2o(&trust, &revoked) {
        Err(PathError::Revoked { serial, .. }) => assert!(serial.contains("47"), "{serial}"),
        other => panic!("expected Revoked, got {other:?}"),
    }
    let path = validate_o2o(&trust, &good).unwrap();
    assert!(matches!(
        leaf_outcome(&path),
        RevocationOutcome::Good(StatusSource::Crl {
            stale_within_grace: false,
            ..
        })
    ));
    assert_eq!(
        server.hits("/root.crl"),
        1,
        "fetched once, then from memory"
    );
    assert_eq!(
        kept_crls(dir.path()),
        1,
        "the last good CRL is kept in <data_dir>/revocation"
    );
    // A second load_trust of the same gateway (same data directory) shares the fetcher.
    let again = load(&file);
    validate_o2o(&again, &good).unwrap();
    assert!(validate_o2o(&again, &revoked).is_err());
    assert_eq!(server.hits("/root.crl"), 1);

    // crl_fetch = false: nothing is fetched and the fail-closed default refuses both.
    let (_dir2, file) = config_with(&pki, |t| {
        edit_o2o(t, &extra.file, None, "crl_fetch = false")
    });
    let trust = load(&file);
    for cert in [&good, &revoked] {
        assert!(matches!(
            validate_o2o(&trust, cert),
            Err(PathError::RevocationUnknown { .. })
        ));
    }
    assert_eq!(server.hits("/root.crl"), 1);
}

#[test]
fn revoked_certificate_is_refused_through_ocsp_when_the_role_asks_ocsp() {
    let pki = common::shared_pki();
    let server = TestServer::start();
    let extra = Arc::new(extra_ca());
    server.set("/ocsp-good", ocsp_answer(&extra, Status::Good));
    server.set(
        "/ocsp-revoked",
        ocsp_answer(&extra, Status::Revoked(now() - Duration::hours(2))),
    );
    // The CRL would call both good: with ocsp = true the responder is asked first.
    server.set("/root.crl", fresh_crl(&extra, &[]));
    let crl = Some(server.url("/root.crl"));
    let good = leaf_of(&extra, 80, crl.clone(), Some(server.url("/ocsp-good")));
    let revoked = leaf_of(&extra, 81, crl, Some(server.url("/ocsp-revoked")));

    let (_dir, file) = config_with(&pki, |t| edit_o2o(t, &extra.file, None, "ocsp = true"));
    let trust = load(&file);
    assert!(matches!(
        validate_o2o(&trust, &revoked),
        Err(PathError::Revoked { .. })
    ));
    let path = validate_o2o(&trust, &good).unwrap();
    assert!(matches!(
        leaf_outcome(&path),
        RevocationOutcome::Good(StatusSource::Ocsp { .. })
    ));
    assert_eq!(server.hits("/ocsp-revoked"), 1);
    assert_eq!(server.hits("/ocsp-good"), 1);
    assert_eq!(server.hits("/root.crl"), 0, "OCSP answered, no CRL needed");

    // Without ocsp (the default) the responder is never asked: the CRL says good.
    let (_dir2, file) = config_with(&pki, |t| edit_o2o(t, &extra.file, None, ""));
    let trust = load(&file);
    validate_o2o(&trust, &revoked).unwrap();
    assert_eq!(server.hits("/ocsp-revoked"), 1);
    assert_eq!(server.hits("/root.crl"), 1);
}

#[test]
fn unreachable_source_is_refused_when_fail_closed_and_accepted_flagged_when_fail_open() {
    let pki = common::shared_pki();
    let extra = extra_ca();
    // A distribution point where nothing listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cert = leaf_of(&extra, 90, Some(format!("http://{closed}/root.crl")), None);

    let (_dir, file) = config_with(&pki, |t| edit_o2o(t, &extra.file, None, ""));
    match validate_o2o(&load(&file), &cert) {
        Err(PathError::RevocationUnknown { reason, .. }) => {
            assert!(reason.contains(&closed.to_string()), "{reason}")
        }
        other => panic!("expected RevocationUnknown (fail-closed default), got {other:?}"),
    }

    let (_dir2, file) = config_with(&pki, |t| {
        edit_o2o(t, &extra.file, None, "revocation = \"fail-open\"")
    });
    let path = validate_o2o(&load(&file), &cert).unwrap();
    assert!(
        matches!(
            leaf_outcome(&path),
            RevocationOutcome::UnknownAccepted { reason } if reason.contains(&closed.to_string())
        ),
        "{:?}",
        path.revocation()
    );
}

#[test]
fn crl_past_its_next_update_is_used_within_crl_grace_only() {
    let pki = common::shared_pki();
    let server = TestServer::start();
    let extra = extra_ca();
    let good = leaf_of(&extra, 100, Some(server.url("/late.crl")), None);
    let revoked = leaf_of(&extra, 101, Some(server.url("/late.crl")), None);
    // The CA is late: the distribution point still serves a CRL whose nextUpdate passed 1 h ago.
    server.set(
        "/late.crl",
        crl_at(
            &extra,
            &[&revoked],
            now() - Duration::hours(7),
            now() - Duration::hours(1),
        ),
    );

    for (grace, accepted) in [("0s", false), ("30m", false), ("2h", true)] {
        let (_dir, file) = config_with(&pki, |t| {
            edit_o2o(t, &extra.file, None, &format!("crl_grace = \"{grace}\""))
        });
        let trust = load(&file);
        let result = validate_o2o(&trust, &good);
        if accepted {
            let path = result.unwrap();
            assert!(
                matches!(
                    leaf_outcome(&path),
                    RevocationOutcome::Good(StatusSource::Crl {
                        stale_within_grace: true,
                        ..
                    })
                ),
                "grace {grace}: {:?}",
                path.revocation()
            );
            // A stale CRL still refuses what it lists.
            assert!(matches!(
                validate_o2o(&trust, &revoked),
                Err(PathError::Revoked { .. })
            ));
        } else {
            match result {
                Err(PathError::RevocationUnknown { reason, .. }) => {
                    assert!(reason.contains("not current"), "grace {grace}: {reason}")
                }
                other => panic!("grace {grace}: expected RevocationUnknown, got {other:?}"),
            }
        }
    }
}

#[test]
fn foreign_ap_ca_of_the_dev_config_makes_its_certificate_a_wrong_environment_refusal() {
    let pki = common::shared_pki();
    let m = common::manifest(&pki);
    let foreign = load_certificates(
        &pki.join(m["negative"]["foreign_ap"]["cert"].as_str().unwrap()),
        None,
    )
    .unwrap()
    .remove(0);
    let validate = |file: &Path| {
        let trust = load(file);
        trust.as4.store.validate(
            &foreign,
            &[],
            MessagePurpose::Signature,
            now(),
            &trust.as4.revocation,
        )
    };
    match validate(&pki.join("orgs/orga.test/sdkgw.toml")) {
        Err(PathError::WrongEnvironment {
            found, expected, ..
        }) => assert_eq!((found.as_str(), expected.as_str()), ("FOREIGN", "dev")),
        other => panic!("expected WrongEnvironment, got {other:?}"),
    }
    // Without the registration the same certificate is just of an unknown issuer.
    let (_dir, file) = config_with(&pki, |t| {
        t.lines()
            .filter(|l| !l.starts_with("foreign_anchors"))
            .map(|l| format!("{l}\n"))
            .collect()
    });
    assert!(matches!(
        validate(&file),
        Err(PathError::UnknownIssuer { .. })
    ));
}

#[test]
fn foreign_anchor_that_is_also_trusted_or_not_a_ca_is_a_configuration_error() {
    let pki = common::shared_pki();
    let m = common::manifest(&pki);
    let abs = |v: &serde_json::Value| pki.join(v.as_str().unwrap()).display().to_string();
    let ap_root = abs(&m["ca"]["ap_root"]);
    let leaf = abs(&m["organisations"][0]["ap"]["cert"]);
    let (_dir, file) = config_with(&pki, |t| {
        t.replace(
            "foreign_anchors = [",
            &format!("foreign_anchors = [\"{ap_root}\", \"{leaf}\", "),
        )
    });
    let loaded = config::check(&file, now());
    let errors: Vec<_> = loaded
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    let has = |path: &str, text: &str| {
        errors
            .iter()
            .any(|f| f.path == path && f.message.contains(text))
    };
    assert!(
        has(
            "trust.as4.foreign_anchors[0]",
            "is also trusted by trust.as4"
        ),
        "{errors:#?}"
    );
    assert!(
        has("trust.as4.foreign_anchors[1]", "is not a CA certificate"),
        "{errors:#?}"
    );
    assert!(runtime::load_trust(loaded.config.as_ref().unwrap()).is_err());
}

/// A CA certificate issued by `extra` that names `cdp` as its own distribution point.
fn issuing_ca_of(extra: &Extra, cn: &str, cdp: &str) -> rcgen::Certificate {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = now() - Duration::days(1);
    p.not_after = now() + Duration::days(30);
    p.serial_number = Some(SerialNumber::from(77u64));
    p.crl_distribution_points = vec![CrlDistributionPoint {
        uris: vec![cdp.to_owned()],
    }];
    p.signed_by(&p256(), &extra.ca.issuer).unwrap()
}

#[test]
fn config_check_names_a_certificate_without_a_reachable_revocation_source() {
    let pki = common::shared_pki();
    let tmp = tempfile::tempdir().unwrap();
    let extra = extra_ca();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let intermediate = issuing_ca_of(
        &extra,
        "Extra O2O Issuing CA",
        &format!("http://{closed}/root.crl"),
    );
    let intermediate_file = tmp.path().join("extra-issuing.pem");
    std::fs::write(&intermediate_file, intermediate.pem()).unwrap();
    let check = |extra_lines: &str| {
        let (_dir, file) = config_with(&pki, |t| {
            edit_o2o(t, &extra.file, Some(&intermediate_file), extra_lines)
        });
        config::check(&file, now())
    };

    let loaded = check("");
    let findings: Vec<_> = loaded.findings.iter().collect();
    let unreachable: Vec<_> = findings
        .iter()
        .filter(|f| f.message.contains("no reachable revocation source"))
        .collect();
    assert_eq!(unreachable.len(), 1, "{findings:#?}");
    let f = unreachable[0];
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.path.starts_with("trust.o2o.intermediates"), "{f:?}");
    assert!(f.message.contains("Extra O2O Issuing CA"), "{f:?}");
    assert!(f.message.contains("the gateway refuses it"), "{f:?}");
    assert!(!loaded.findings.has_errors(), "{findings:#?}");

    // With fail-open the warning says what the gateway does instead.
    let loaded = check("revocation = \"fail-open\"");
    assert!(
        loaded
            .findings
            .iter()
            .any(|f| f.path.starts_with("trust.o2o.intermediates")
                && f.message.contains("no reachable revocation source")
                && f.message.contains("the gateway accepts it")),
        "{:#?}",
        loaded.findings.iter().collect::<Vec<_>>()
    );
}
