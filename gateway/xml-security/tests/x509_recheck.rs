//! CRL rechecks: with `with_crl_recheck`, a CRL the CA published before the cached one's
//! nextUpdate reaches the checker after the interval; without it the cached CRL is used until
//! nextUpdate; the fetcher's "last good copy" note reaches the reason of an unknown status.

#![allow(clippy::unwrap_used)]

mod support_pki;

use std::sync::{Arc, Mutex};

use sdkgw_certs::Certificate;
use sdkgw_xml_security::x509::{
    CrlFetcher, FetchError, FetchedCrl, MessagePurpose, O2o, PathError, RevocationChecker,
    RevocationPolicy, RevocationScope, TrustStore, ValidPath,
};
use support_pki::{Ca, LeafOpts, crl_der, leaf, now, root, rsa256};
use time::{Duration, OffsetDateTime};

/// Serves whatever the test puts in, counting calls.
struct Scripted {
    answer: Mutex<FetchedCrl>,
    calls: Mutex<usize>,
}

impl CrlFetcher for Scripted {
    fn fetch(&self, _: &str) -> Result<Vec<u8>, FetchError> {
        unreachable!("the checker asks with the issuer")
    }
    fn fetch_for(&self, _: &str, _: &Certificate) -> Result<FetchedCrl, FetchError> {
        *self.calls.lock().unwrap() += 1;
        Ok(self.answer.lock().unwrap().clone())
    }
}

struct Setup {
    ca: Ca,
    cert: Certificate,
    fetcher: Arc<Scripted>,
    store: TrustStore<O2o>,
}

impl Setup {
    /// A CA, a leaf with a CDP, and a fetcher serving a CRL of `ca` issued `issued_ago` with
    /// nextUpdate `next_in` from now, listing nothing.
    fn new(issued_ago: Duration, next_in: Duration, note: Option<&str>) -> Self {
        let ca = root("TEST Function CA v1", rsa256());
        let opts = LeafOpts {
            crl_url: Some("http://crl.test/ca.crl".into()),
            ..Default::default()
        };
        let cert = leaf("org.example.se", 7, &ca, opts);
        let bytes = crl_der(&ca, &[], now(), now() - issued_ago, now() + next_in);
        let fetcher = Arc::new(Scripted {
            answer: Mutex::new(FetchedCrl {
                bytes,
                note: note.map(str::to_owned),
            }),
            calls: Mutex::new(0),
        });
        let store = TrustStore::<O2o>::new("TEST", vec![ca.cert.clone()]).unwrap();
        Setup {
            ca,
            cert,
            fetcher,
            store,
        }
    }

    fn checker(&self) -> RevocationChecker {
        RevocationChecker::new(RevocationPolicy {
            scope: RevocationScope::LeafOnly,
            ..Default::default()
        })
        .with_fetcher(self.fetcher.clone())
    }

    fn validate(
        &self,
        at: OffsetDateTime,
        rc: &RevocationChecker,
    ) -> Result<ValidPath<O2o>, PathError> {
        self.store
            .validate(&self.cert, &[], MessagePurpose::Signature, at, rc)
    }

    fn calls(&self) -> usize {
        *self.fetcher.calls.lock().unwrap()
    }
}

#[test]
fn newer_crl_is_picked_up_after_the_recheck_interval() {
    let s = Setup::new(Duration::hours(2), Duration::days(7), None);
    let rc = s.checker().with_crl_recheck(Duration::minutes(10));
    s.validate(now(), &rc).unwrap();
    s.validate(now() + Duration::minutes(5), &rc).unwrap();
    assert_eq!(s.calls(), 1, "within the interval: cache");
    s.validate(now() + Duration::minutes(11), &rc).unwrap();
    assert_eq!(s.calls(), 2, "after the interval: asked again");
    // The CA publishes a CRL listing the certificate, long before the old nextUpdate.
    s.fetcher.answer.lock().unwrap().bytes = crl_der(
        &s.ca,
        &[&s.cert],
        now() - Duration::days(1),
        now() - Duration::hours(1),
        now() + Duration::days(7),
    );
    s.validate(now() + Duration::minutes(15), &rc).unwrap(); // 4 minutes since the last ask
    let err = s.validate(now() + Duration::minutes(25), &rc).unwrap_err();
    assert!(matches!(err, PathError::Revoked { .. }), "{err}");
}

#[test]
fn without_recheck_a_current_crl_is_used_until_next_update() {
    let s = Setup::new(Duration::hours(1), Duration::days(1), None);
    let rc = s.checker();
    for minutes in [0, 30, 600] {
        s.validate(now() + Duration::minutes(minutes), &rc).unwrap();
    }
    assert_eq!(s.calls(), 1);
}

#[test]
fn fetcher_note_about_a_stale_copy_reaches_the_unknown_reason() {
    let note = "connection refused; using the last good copy";
    let s = Setup::new(Duration::days(3), -Duration::days(1), Some(note));
    match s.validate(now(), &s.checker()) {
        Err(PathError::RevocationUnknown { reason, .. }) => {
            assert!(reason.contains("connection refused"), "{reason}");
            assert!(reason.contains("not current"), "{reason}");
        }
        other => panic!("expected RevocationUnknown, got {other:?}"),
    }
}
