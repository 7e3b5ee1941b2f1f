//! The HTTP revocation fetcher (CRLs from distribution points, OCSP) against local servers on
//! 127.0.0.1 whose CRLs and OCSP answers are generated in the test, and against OpenSSL's
//! `openssl ocsp` responder (addressing digest §4.5, §6.3 REV-01..REV-03).
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code

mod support_fetch;
#[path = "../../xml-security/tests/support_ocsp/mod.rs"]
mod support_ocsp;
#[path = "../../xml-security/tests/support_pki/mod.rs"]
mod support_pki;

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration as StdDuration;

use sdkgw_certs::Certificate;
use sdkgw_http::fetch::{FetchSettings, RevocationFetcher};
use sdkgw_http::tls::{self, ClientTlsSettings, HostnameVerification, TrustAnchors};
use sdkgw_xml_security::x509::{
    MessagePurpose, O2o, PathError, RevocationChecker, RevocationOutcome, RevocationPolicy,
    RevocationScope, StatusSource, TrustStore, ValidPath,
};
use support_fetch::{Reply, Respond, TestServer};
use support_ocsp::{Answer, Status};
use support_pki::{Ca, LeafOpts, crl_der, leaf, root, rsa256};
use time::{Duration, OffsetDateTime};

// ---- fixtures ----

/// A clock the test moves.
#[derive(Clone, Default)]
struct TestClock(Arc<AtomicI64>);

impl TestClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + Duration::seconds(self.0.load(Ordering::SeqCst))
    }
    fn advance(&self, by: Duration) {
        self.0.fetch_add(by.whole_seconds(), Ordering::SeqCst);
    }
}

struct Pki {
    ca: Ca,
    /// Same name as `ca`, another key: CRLs it signs are forgeries.
    impostor: Ca,
}

fn pki() -> &'static Pki {
    static PKI: std::sync::OnceLock<Pki> = std::sync::OnceLock::new();
    PKI.get_or_init(|| Pki {
        ca: root("TEST Function CA v1", rsa256()),
        impostor: root("TEST Function CA v1", rsa256()),
    })
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    tls::client_config(&ClientTlsSettings {
        identity: None,
        server_trust: TrustAnchors::new(&[pki().ca.cert.clone()]).unwrap(),
        hostname: HostnameVerification::Verify,
    })
    .unwrap()
}

fn settings(clock: &TestClock, cache_dir: Option<&Path>) -> FetchSettings {
    let mut s = FetchSettings::new(tls_config());
    s.connect_timeout = StdDuration::from_secs(2);
    s.request_timeout = StdDuration::from_secs(4);
    s.tick = StdDuration::from_secs(3600); // background rounds only when a test asks
    s.min_refetch = StdDuration::ZERO;
    s.cache_dir = cache_dir.map(Path::to_path_buf);
    let c = clock.clone();
    s.clock = Arc::new(move || c.now());
    s
}

fn crl_of(ca: &Ca, revoked: &[&Certificate], clock: &TestClock, next_in: Duration) -> Vec<u8> {
    let now = clock.now();
    crl_der(
        ca,
        revoked,
        now - Duration::days(1),
        now - Duration::minutes(10),
        now + next_in,
    )
}

fn leaf_with(crl_url: Option<String>, ocsp_url: Option<String>, serial: u64) -> Certificate {
    let opts = LeafOpts {
        crl_url,
        ocsp_url,
        ..Default::default()
    };
    leaf("org.example.se", serial, &pki().ca, opts)
}

fn checker(fetcher: &Arc<RevocationFetcher>, grace: Duration) -> RevocationChecker {
    RevocationChecker::new(RevocationPolicy {
        scope: RevocationScope::LeafOnly,
        grace,
        ..Default::default()
    })
    .with_fetcher(fetcher.clone())
}

fn validate(
    cert: &Certificate,
    rc: &RevocationChecker,
    at: OffsetDateTime,
) -> Result<ValidPath<O2o>, PathError> {
    TrustStore::<O2o>::new("TEST", vec![pki().ca.cert.clone()])
        .unwrap()
        .validate(cert, &[], MessagePurpose::Signature, at, rc)
}

fn unknown_reason(r: Result<ValidPath<O2o>, PathError>) -> String {
    match r {
        Err(PathError::RevocationUnknown { reason, .. }) => reason,
        other => panic!("expected RevocationUnknown, got {other:?}"),
    }
}

fn crl_source(r: &ValidPath<O2o>) -> (bool, OffsetDateTime) {
    match &r.revocation()[0] {
        RevocationOutcome::Good(StatusSource::Crl {
            stale_within_grace,
            this_update,
            ..
        }) => (*stale_within_grace, *this_update),
        other => panic!("expected a CRL answer, got {other:?}"),
    }
}

// ---- CRLs ----

#[test]
fn fetches_over_http_then_answers_from_memory_until_next_update() {
    let server = TestServer::start();
    let clock = TestClock::default();
    server.set(
        "/ca.crl",
        Reply::Ok(crl_of(&pki().ca, &[], &clock, Duration::hours(1))),
    );
    let cert = leaf_with(Some(server.url("/ca.crl")), None, 10);
    let fetcher = RevocationFetcher::start(settings(&clock, None)).unwrap();
    for _ in 0..3 {
        // A new checker each time: only the fetcher's memory can spare the download.
        validate(&cert, &checker(&fetcher, Duration::ZERO), clock.now()).unwrap();
    }
    assert_eq!(server.hits("/ca.crl"), 1);
    assert_eq!(fetcher.metrics().crl_fetches, 1);
    // Past nextUpdate the source is asked again and its newer CRL used.
    clock.advance(Duration::hours(2));
    server.set(
        "/ca.crl",
        Reply::Ok(crl_of(&pki().ca, &[], &clock, Duration::hours(1))),
    );
    let path = validate(&cert, &checker(&fetcher, Duration::ZERO), clock.now()).unwrap();
    assert_eq!(server.hits("/ca.crl"), 2);
    assert!(!crl_source(&path).0);
}

#[test]
fn revoked_listing_is_reported_and_pem_crls_are_read() {
    let server = TestServer::start();
    let clock = TestClock::default();
    let cert = leaf_with(Some(server.url("/ca.crl")), None, 11);
    let der = crl_of(&pki().ca, &[&cert], &clock, Duration::hours(1));
    let pem = pem::encode(&pem::Pem::new("X509 CRL", der));
    server.set("/ca.crl", Reply::Ok(pem.into_bytes()));
    let fetcher = RevocationFetcher::start(settings(&clock, None)).unwrap();
    let err = validate(&cert, &checker(&fetcher, Duration::ZERO), clock.now()).unwrap_err();
    assert!(matches!(err, PathError::Revoked { .. }), "{err}");
}

#[test]
fn background_refresh_fetches_in_use_crls_ahead_of_next_update() {
    let server = TestServer::start();
    let clock = TestClock::default();
    // nextUpdate in 30 minutes: inside the default one-hour refresh_ahead window.
    server.set(
        "/ca.crl",
        Reply::Ok(crl_of(&pki().ca, &[], &clock, Duration::minutes(30))),
    );
    let cert = leaf_with(Some(server.url("/ca.crl")), None, 12);
    let fetcher = RevocationFetcher::start(settings(&clock, None)).unwrap();
    let rc = checker(&fetcher, Duration::ZERO).with_crl_recheck(Duration::minutes(5));
    validate(&cert, &rc, clock.now()).unwrap();
    assert_eq!(server.hits("/ca.crl"), 1);
    // The CA has published a CRL listing the certificate; the background round gets it
    // before the old one expires, and the checker's recheck picks it up from memory.
    clock.advance(Duration::minutes(1));
    server.set(
        "/ca.crl",
        Reply::Ok(crl_of(&pki().ca, &[&cert], &clock, Duration::hours(6))),
    );
    fetcher.refresh_now();
    assert_eq!(server.hits("/ca.crl"), 2);
    clock.advance(Duration::minutes(5));
    let err = validate(&cert, &rc, clock.now()).unwrap_err();
    assert!(matches!(err, PathError::Revoked { .. }), "{err}");
    assert_eq!(
        server.hits("/ca.crl"),
        2,
        "the recheck was answered from memory"
    );
    // Not due any more (refreshed, nextUpdate far): a round fetches nothing.
    fetcher.refresh_now();
    assert_eq!(server.hits("/ca.crl"), 2);
}

#[test]
fn the_background_thread_refreshes_on_its_own() {
    let server = TestServer::start();
    let clock = TestClock::default();
    server.set(
        "/ca.crl",
        Reply::Ok(crl_of(&pki().ca, &[], &clock, Duration::minutes(30))),
    );
    let cert = leaf_with(Some(server.url("/ca.crl")), None, 13);
    let mut s = settings(&clock, None);
    s.tick = StdDuration::from_millis(50);
    let fetcher = RevocationFetcher::start(s).unwrap();
    validate(&cert, &checker(&fetcher, Duration::ZERO), clock.now()).unwrap();
    // Bounded wait for the ticker (not a timing assertion: it only has to happen).
    for _ in 0..200 {
        if server.hits("/ca.crl") >= 2 {
            break;
        }
        std::thread::sleep(StdDuration::from_millis(50));
    }
    assert!(server.hits("/ca.crl") >= 2);
}

#[test]
fn crl_signed_by_the_wrong_key_is_ignored_and_never_replaces_the_good_copy() {
    let server = TestServer::start();
    let clock = TestClock::default();
    let dir = tempfile::tempdir().unwrap();
    let cert = leaf_with(Some(server.url("/ca.crl")), None, 14);
    // REV-03 from the start: status unknown, failure counted.
    server.set(
        "/ca.crl",
        Reply::Ok(crl_of(&pki().impostor, &[], &clock, Duration::hours(1))),
    );
    let fetcher = RevocationFetcher::start(settings(&clock, Some(dir.path()))).unwrap();
    let reason = unknown_reason(validate(
        &cert,
        &checker(&fetcher, Duration::ZERO),
        clock.now(),
    ));
    assert!(reason.contains("does not verify"), "{reason}");
    assert_eq!(fetcher.metrics().crl_failures, 1);
    drop(fetcher);
    // A good CRL, then a newer forgery that would revoke the certificate.
    let fetcher = RevocationFetcher::start(settings(&clock, Some(dir.path()))).unwrap();
    server.set(
        "/ca.crl",
        Reply::Ok(crl_of(&pki().ca, &[], &clock, Duration::minutes(30))),
    );
    validate(&cert, &checker(&fetcher, Duration::ZERO), clock.now()).unwrap();
    clock.advance(Duration::minutes(1));
    server.set(
        "/ca.crl",
        Reply::Ok(crl_of(
            &pki().impostor,
            &[&cert],
            &clock,
            Duration::hours(5),
        )),
    );
    fetcher.refresh_now();
    let sources = fetcher.crl_sources();
    eprintln!(
        "{sources:?} {:?} hits {}",
        fetcher.metrics(),
        server.hits("/ca.crl")
    );
    assert!(
        sources[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("does not verify"),
        "{sources:?}"
    );
    let rc = checker(&fetcher, Duration::ZERO).with_crl_recheck(Duration::ZERO);
    validate(&cert, &rc, clock.now()).unwrap();
    drop(fetcher);
    // The kept copy is the good one: a restart with the source down still validates.
    server.set("/ca.crl", Reply::Close);
    let fetcher = RevocationFetcher::start(settings(&clock, Some(dir.path()))).unwrap();
    validate(&cert, &checker(&fetcher, Duration::ZERO), clock.now()).unwrap();
}

#[test]
fn restart_during_an_outage_uses_the_kept_crl_within_nextupdate_and_grace_then_fails_closed() {
    let server = TestServer::start();
    let clock = TestClock::default();
    let dir = tempfile::tempdir().unwrap();
    let cert = leaf_with(Some(server.url("/ca.crl")), None, 15);
    server.set(
        "/ca.crl",
        Reply::Ok(crl_of(&pki().ca, &[], &clock, Duration::hours(1))),
    );
    let fetcher = RevocationFetcher::start(settings(&clock, Some(dir.path()))).unwrap();
    let (_, issued) =
        crl_source(&validate(&cert, &checker(&fetcher, Duration::ZERO), clock.now()).unwrap());
    drop(fetcher);
    server.set("/ca.crl", Reply::Close);
    let restart = || RevocationFetcher::start(settings(&clock, Some(dir.path()))).unwrap();

    // Fresh kept copy: good without the source.
    let path = validate(&cert, &checker(&restart(), Duration::ZERO), clock.now()).unwrap();
    assert_eq!(crl_source(&path), (false, issued));

    // Past nextUpdate (by 1 h): REV-02 with grace 0 → fail closed, naming the outage.
    clock.advance(Duration::hours(2));
    let fetcher = restart();
    let reason = unknown_reason(validate(
        &cert,
        &checker(&fetcher, Duration::ZERO),
        clock.now(),
    ));
    assert!(reason.contains("last good copy"), "{reason}");
    assert!(fetcher.metrics().crl_failures >= 1);
    // … within a 2 h grace → accepted, flagged stale.
    let path = validate(&cert, &checker(&fetcher, Duration::hours(2)), clock.now()).unwrap();
    assert_eq!(crl_source(&path), (true, issued));
    assert!(fetcher.metrics().crl_stale_served >= 1);

    // Past nextUpdate + grace → fail closed again.
    clock.advance(Duration::hours(2));
    let fetcher = restart();
    unknown_reason(validate(
        &cert,
        &checker(&fetcher, Duration::hours(2)),
        clock.now(),
    ));
}

#[test]
fn failed_source_is_not_asked_again_before_the_retry_time() {
    let server = TestServer::start();
    let clock = TestClock::default();
    server.set("/ca.crl", Reply::Status(503));
    let cert = leaf_with(Some(server.url("/ca.crl")), None, 16);
    let fetcher = RevocationFetcher::start(settings(&clock, None)).unwrap();
    for _ in 0..3 {
        let reason = unknown_reason(validate(
            &cert,
            &checker(&fetcher, Duration::ZERO),
            clock.now(),
        ));
        assert!(reason.contains("503"), "{reason}");
    }
    assert_eq!(server.hits("/ca.crl"), 1, "backoff");
    clock.advance(Duration::minutes(2));
    server.set(
        "/ca.crl",
        Reply::Ok(crl_of(&pki().ca, &[], &clock, Duration::hours(1))),
    );
    validate(&cert, &checker(&fetcher, Duration::ZERO), clock.now()).unwrap();
    assert_eq!(server.hits("/ca.crl"), 2);
}

#[test]
fn oversized_garbage_and_redirected_answers_are_failures_not_panics() {
    let server = TestServer::start();
    let clock = TestClock::default();
    server.set("/big.crl", Reply::Ok(vec![0x30; 200_000]));
    server.set(
        "/garbage.crl",
        Reply::Ok(b"<html>maintenance</html>".to_vec()),
    );
    server.set(
        "/moved.crl",
        Reply::Redirect("http://other.invalid/ca.crl".into()),
    );
    server.set("/local.crl", Reply::Redirect("/ca.crl".into()));
    server.set(
        "/ca.crl",
        Reply::Ok(crl_of(&pki().ca, &[], &clock, Duration::hours(1))),
    );
    let mut s = settings(&clock, None);
    s.max_crl_bytes = 100_000;
    let fetcher = RevocationFetcher::start(s).unwrap();
    for (path, expected) in [
        ("/big.crl", "exceeds 100000 bytes"),
        ("/garbage.crl", "unusable CRL"),
        ("/moved.crl", "not followed"),
    ] {
        let cert = leaf_with(Some(server.url(path)), None, 17);
        let reason = unknown_reason(validate(
            &cert,
            &checker(&fetcher, Duration::ZERO),
            clock.now(),
        ));
        assert!(reason.contains(expected), "{path}: {reason}");
    }
    assert_eq!(fetcher.metrics().crl_failures, 3);
    // A redirect on the same host is followed.
    let cert = leaf_with(Some(server.url("/local.crl")), None, 18);
    validate(&cert, &checker(&fetcher, Duration::ZERO), clock.now()).unwrap();
    assert_eq!(server.hits("/ca.crl"), 1);
}

// ---- OCSP ----

fn ocsp_fetcher(clock: &TestClock) -> Arc<RevocationFetcher> {
    RevocationFetcher::start(settings(clock, None)).unwrap()
}

fn ocsp_checker(fetcher: &Arc<RevocationFetcher>) -> RevocationChecker {
    checker(fetcher, Duration::ZERO).with_ocsp(fetcher.clone())
}

/// A responder answering every request with `answer(request)`.
fn respond(server: &TestServer, answer: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static) {
    server.set("/ocsp", Reply::Compute(Arc::new(answer)));
}

fn signed_by_ca(
    status: Status,
    this_update: OffsetDateTime,
    next: Option<OffsetDateTime>,
) -> impl Fn(&[u8]) -> Vec<u8> {
    move |req: &[u8]| {
        let p = pki();
        let mut a = Answer::good(&p.ca.cert, p.ca.issuer.key());
        a.status = status;
        a.this_update = this_update;
        a.next_update = next;
        support_ocsp::response(req, &a)
    }
}

#[test]
fn ocsp_good_is_cached_revoked_is_refused_unknown_stale_and_forged_fail_closed() {
    let server = TestServer::start();
    let clock = TestClock::default();
    let now = clock.now();
    let cert = leaf_with(None, Some(server.url("/ocsp")), 20);

    respond(
        &server,
        signed_by_ca(
            Status::Good,
            now - Duration::minutes(1),
            Some(now + Duration::hours(4)),
        ),
    );
    let fetcher = ocsp_fetcher(&clock);
    for _ in 0..3 {
        let path = validate(&cert, &ocsp_checker(&fetcher), clock.now()).unwrap();
        assert!(matches!(
            &path.revocation()[0],
            RevocationOutcome::Good(StatusSource::Ocsp { .. })
        ));
    }
    assert_eq!(server.hits("/ocsp"), 1, "answered from memory");
    assert_eq!(fetcher.metrics().ocsp_queries, 1);

    let cases: [(Respond, &str); 4] = [
        (
            Arc::new(signed_by_ca(
                Status::Unknown,
                now,
                Some(now + Duration::hours(1)),
            )),
            "status unknown",
        ),
        (
            Arc::new(signed_by_ca(
                Status::Good,
                now - Duration::days(2),
                Some(now - Duration::days(1)),
            )),
            "not current",
        ),
        (
            Arc::new(|req: &[u8]| {
                let p = pki();
                support_ocsp::response(req, &Answer::good(&p.ca.cert, p.impostor.issuer.key()))
            }),
            "does not verify",
        ),
        (
            Arc::new(|_: &[u8]| support_ocsp::error_response(3)),
            "tryLater",
        ),
    ];
    for (answer, expected) in cases {
        server.set("/ocsp", Reply::Compute(answer));
        let reason = unknown_reason(validate(
            &cert,
            &ocsp_checker(&ocsp_fetcher(&clock)),
            clock.now(),
        ));
        assert!(reason.contains(expected), "{expected}: {reason}");
    }
    respond(
        &server,
        signed_by_ca(
            Status::Revoked(now - Duration::hours(3)),
            now,
            Some(now + Duration::hours(1)),
        ),
    );
    let err = validate(&cert, &ocsp_checker(&ocsp_fetcher(&clock)), clock.now()).unwrap_err();
    assert!(matches!(err, PathError::Revoked { .. }), "{err}");
}

#[test]
fn ocsp_down_falls_back_to_the_crl_without_waiting_again() {
    // REV-01, third case: responder down + fresh CRL good → good.
    let server = TestServer::start();
    let clock = TestClock::default();
    server.set("/ocsp", Reply::Close);
    server.set(
        "/ca.crl",
        Reply::Ok(crl_of(&pki().ca, &[], &clock, Duration::hours(1))),
    );
    let cert = leaf_with(Some(server.url("/ca.crl")), Some(server.url("/ocsp")), 21);
    let fetcher = ocsp_fetcher(&clock);
    for _ in 0..3 {
        let path = validate(&cert, &ocsp_checker(&fetcher), clock.now()).unwrap();
        assert!(matches!(
            &path.revocation()[0],
            RevocationOutcome::Good(StatusSource::Crl { .. })
        ));
    }
    assert_eq!(
        server.hits("/ocsp"),
        1,
        "the responder is in backoff after its failure"
    );
    assert_eq!(fetcher.metrics().ocsp_failures, 1);
}

// ---- OpenSSL's responder as the independent implementation ----

/// `openssl ocsp` serving `index.txt` on `port`, killed on drop.
struct OpensslResponder(std::process::Child);

impl Drop for OpensslResponder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn queries_openssl_ocsp_responder_for_good_revoked_and_unknown() {
    let p = pki();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");
    let good = leaf_with(None, Some(url.clone()), 30);
    let revoked = leaf_with(None, Some(url.clone()), 31);
    let unlisted = leaf_with(None, Some(url.clone()), 32);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ca.pem"), p.ca.cert.to_pem()).unwrap();
    std::fs::write(d.join("ca.key"), p.ca.issuer.key().serialize_pem()).unwrap();
    let line = |c: &Certificate, status: &str, when: &str| {
        format!(
            "{status}\t491231235959Z\t{when}\t{}\tunknown\t/CN=x\n",
            c.serial_hex().to_uppercase()
        )
    };
    let index = line(&good, "V", "") + &line(&revoked, "R", "250101000000Z,keyCompromise");
    std::fs::write(d.join("index.txt"), index).unwrap();
    let mut child = std::process::Command::new("openssl")
        .args([
            "ocsp",
            "-index",
            "index.txt",
            "-CA",
            "ca.pem",
            "-rsigner",
            "ca.pem",
            "-rkey",
            "ca.key",
        ])
        .args(["-port", &port.to_string(), "-nmin", "10"])
        .current_dir(d)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openssl (Debian package openssl) must be installed");
    // Ready once it says so (a probing connect would stall its one-at-a-time server).
    let stderr = child.stderr.take().unwrap();
    let _responder = OpensslResponder(child);
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    assert!(
        lines
            .by_ref()
            .take(20)
            .flatten()
            .any(|l| l.contains("waiting for OCSP client connections")),
        "openssl ocsp did not start"
    );
    std::thread::spawn(move || lines.for_each(drop)); // keep its stderr drained
    let clock = TestClock::default();
    let fetcher = ocsp_fetcher(&clock);
    let rc = ocsp_checker(&fetcher);
    let path = validate(&good, &rc, clock.now()).unwrap();
    assert!(matches!(
        &path.revocation()[0],
        RevocationOutcome::Good(StatusSource::Ocsp { .. })
    ));
    match validate(&revoked, &rc, clock.now()) {
        Err(PathError::Revoked { reason, .. }) => {
            assert_eq!(reason.as_deref(), Some("keyCompromise"))
        }
        other => panic!("expected revoked, got {other:?}"),
    }
    let reason = unknown_reason(validate(&unlisted, &rc, clock.now()));
    assert!(reason.contains("status unknown"), "{reason}");
    assert_eq!(fetcher.metrics().ocsp_queries, 3);
}
