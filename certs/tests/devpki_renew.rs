//! Renewing one certificate of a development PKI (for rehearsing and testing rollovers): the
//! successor has the same CA, subject and usages as the original, a new key and serial, and
//! lives next to it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::path::Path;

use sdkgw_certs::devpki::{self, Options, OrgConfigInput, Renewal};
use sdkgw_certs::{Certificate, load_certificates, load_key_pair};

fn render(_: &OrgConfigInput<'_>) -> String {
    String::new()
}

fn cert(dir: &Path, rel: &str) -> Certificate {
    load_certificates(&dir.join(rel), None).unwrap().remove(0)
}

#[test]
fn a_renewed_certificate_keeps_ca_subject_and_usages_with_a_new_key_and_serial_and_bad_requests_are_refused()
 {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let options = Options {
        participants: vec!["0203:orga.test".into()],
        seed: None,
        force: false,
    };
    let m = devpki::generate(&dir, &options, &render).unwrap();
    let org = &m.organisations[0];
    for (i, (which, old, ca)) in [
        (Renewal::Ap, &org.ap, &m.ca.ap_intermediate),
        (
            Renewal::O2oEncryption,
            &org.o2o_encryption,
            &m.ca.o2o_intermediate,
        ),
        (Renewal::TlsServer, &org.tls_server, &m.ca.tls_intermediate),
    ]
    .into_iter()
    .enumerate()
    {
        let new = devpki::renew(&dir, &org.participant, which, &format!("renewed-{i}")).unwrap();
        let (before, after, issuer) =
            (cert(&dir, &old.cert), cert(&dir, &new.cert), cert(&dir, ca));
        assert_eq!(after.subject_der(), before.subject_der(), "{which:?}");
        assert_eq!(after.issuer_der(), issuer.subject_der(), "{which:?}");
        assert_eq!(
            after.authority_key_id(),
            issuer.subject_key_id(),
            "{which:?}"
        );
        assert_eq!(after.key_usage(), before.key_usage(), "{which:?}");
        assert_eq!(
            after.extended_key_usage(),
            before.extended_key_usage(),
            "{which:?}"
        );
        assert_eq!(
            after.subject_alt_names(),
            before.subject_alt_names(),
            "{which:?}"
        );
        assert_ne!(after.serial_hex(), before.serial_hex());
        assert_ne!(after.public_key_der(), before.public_key_der());
        assert!(after.is_valid_at(time::OffsetDateTime::now_utc()));
        // The key file belongs to the new certificate and is owner-only.
        load_key_pair(&dir.join(&new.cert), Some(&dir.join(&new.key)), None).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(&new.key))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0);
        }
        // Same directory as the original; the manifest still names the original.
        assert_eq!(Path::new(&new.cert).parent(), Path::new(&old.cert).parent());
    }
    assert_eq!(devpki::read_manifest(&dir).unwrap(), m);
    // Refusals (one PKI per test binary: RSA 3072 generation takes seconds).
    let err = devpki::renew(&dir, "0203:other.test", Renewal::Ap, "x").unwrap_err();
    assert!(err.to_string().contains("not an organisation"), "{err}");
    let err = devpki::renew(&dir, &org.participant, Renewal::Ap, "../ap").unwrap_err();
    assert!(err.to_string().contains("plain file name"), "{err}");
    // An existing file is never overwritten.
    let err = devpki::renew(&dir, &org.participant, Renewal::Ap, "renewed-0").unwrap_err();
    assert!(err.to_string().contains("exists"), "{err}");
}
