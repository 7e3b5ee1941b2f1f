//! The address-book cache against the fake SMP: the CA-* cases of the addressing digest §6.3
//! (TTL, single-flight, stale-while-revalidate, stale-if-error, max staleness, negative
//! caching, invalidation, restart during an outage), re-validation on expiry and revocation,
//! the CertPub refetch rules CP-07..09, BDXL discovery through the fake DNS, and the metrics.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod support;

use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    CertificateRevocationListParams, Issuer, KeyIdMethod, KeyPair, RevocationReason,
    RevokedCertParams, SerialNumber,
};
use sdkgw_address_book::bdxl::SmlZone;
use sdkgw_address_book::cache::{ManualWallClock, WallClock};
use sdkgw_address_book::fake::FakeSmp;
use sdkgw_address_book::locator::SmpLocator;
use sdkgw_address_book::resolver::{CachePolicy as DnsPolicy, CachingResolver, SystemClock};
use sdkgw_address_book::smp::{HttpsTransport, SmpClient};
use sdkgw_address_book::{
    AddressBook, CachePolicy, Freshness, LookupError, ServedFrom, SignerCheck,
};
use sdkgw_store::{SledStore, Store, StoreConfig};
use sdkgw_xml_security::x509::Crl;
use support::*;
use time::OffsetDateTime;

fn policy() -> CachePolicy {
    CachePolicy::default()
}

struct Setup {
    smp: FakeSmp,
    running: sdkgw_address_book::fake::RunningSmp,
    clock: Arc<ManualWallClock>,
    book: AddressBook,
}

async fn setup_with(policy: CachePolicy, store: Option<Arc<dyn sdkgw_store::Keyspace>>) -> Setup {
    let smp = fake_smp();
    let running = serve(&smp).await;
    let clock = Arc::new(ManualWallClock::at(OffsetDateTime::now_utc()));
    let book = AddressBook::new(client(running.url()), policy, store, clock.clone());
    Setup {
        smp,
        running,
        clock,
        book,
    }
}

async fn setup() -> Setup {
    setup_with(policy(), None).await
}

fn minutes(m: i64) -> time::Duration {
    time::Duration::minutes(m)
}

/// Waits (bounded) until the fake has seen `n` requests.
async fn requests_reach(smp: &FakeSmp, n: usize) {
    for _ in 0..500 {
        if smp.request_count() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "the fake SMP saw {} requests, expected {n}",
        smp.request_count()
    );
}

#[tokio::test]
async fn ca_01_two_lookups_within_the_ttl_make_one_request() {
    let s = setup().await;
    let first = s
        .book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap();
    assert_eq!(first.served_from, ServedFrom::Smp);
    s.clock.advance(minutes(14));
    let second = s
        .book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap();
    assert_eq!(
        (second.freshness, second.served_from),
        (Freshness::Fresh, ServedFrom::Memory)
    );
    assert_eq!(second.age, minutes(14));
    assert_eq!(s.smp.request_count(), 1);
    let m = s.book.metrics();
    assert_eq!(
        (m.lookups, m.misses, m.hits, m.upstream_fetches),
        (2, 1, 1, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_02_a_hundred_concurrent_misses_make_one_request() {
    let s = setup().await;
    s.smp.set_delay(Duration::from_millis(300));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let book = s.book.clone();
            tokio::spawn(async move { book.route(&participant(0), &message_doc()).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(s.smp.request_count(), 1, "single-flight");
    assert_eq!(s.book.metrics().misses, 100);
}

#[tokio::test]
async fn ca_03_a_stale_entry_is_served_once_while_it_is_refreshed_in_the_background() {
    let s = setup().await;
    s.book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap();
    s.clock.advance(minutes(15) + time::Duration::seconds(10));
    let stale = s
        .book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap();
    assert_eq!(stale.freshness, Freshness::Revalidating);
    requests_reach(&s.smp, 2).await;
    // The refreshed entry replaces the stale one (wait for the background task to store it).
    for _ in 0..500 {
        let next = s
            .book
            .lookup(&participant(0), &message_doc())
            .await
            .unwrap();
        if next.freshness == Freshness::Fresh {
            assert_eq!(next.age, time::Duration::ZERO);
            assert_eq!(s.smp.request_count(), 2);
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the background refresh never replaced the stale entry");
}

#[tokio::test]
async fn ca_04_when_the_smp_is_down_a_stale_entry_younger_than_max_stale_is_served_flagged() {
    let s = setup().await;
    s.book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap();
    s.smp.set_failure(Some(503));
    // Fresh: answered without asking the SMP at all.
    s.clock.advance(minutes(10));
    let fresh = s
        .book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap();
    assert_eq!(fresh.freshness, Freshness::Fresh);
    assert_eq!(s.smp.request_count(), 1);
    s.clock.advance(minutes(60 * 23));
    let stale = s
        .book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap();
    assert!(
        matches!(&stale.freshness, Freshness::StaleIfError { reason } if reason.contains("503")),
        "{:?}",
        stale.freshness
    );
    assert!(stale.route().is_ok(), "AP certificate still valid");
    let m = s.book.metrics();
    assert_eq!((m.stale_serves, m.refresh_failures), (1, 1));
}

#[tokio::test]
async fn ca_05_past_max_stale_the_smp_error_is_returned() {
    let s = setup().await;
    s.book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap();
    s.smp.set_failure(Some(503));
    s.clock.advance(minutes(60 * 24 + 1));
    let err = s
        .book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
}

#[tokio::test]
async fn ca_05_a_cached_ap_certificate_that_expired_is_never_served_as_usable() {
    let long = CachePolicy {
        max_stale: Duration::from_secs(10 * 365 * 86400),
        ..policy()
    };
    let s = setup_with(long, None).await;
    let first = s
        .book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap();
    let expiry = first.route().unwrap().ap_certificate.not_after();
    s.running.shutdown().await;
    s.clock.set(expiry + time::Duration::seconds(1));
    let later = s
        .book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap();
    assert!(later.is_stale());
    let err = later.route().unwrap_err();
    assert!(
        matches!(&err, LookupError::RecipientCertInvalid { detail, .. } if detail.contains("expired")),
        "{err}"
    );
    assert!(s.book.route(&participant(0), &message_doc()).await.is_err());
}

#[tokio::test]
async fn a_revocation_published_after_the_fetch_is_noticed_at_the_next_revalidation() {
    let s = setup().await;
    s.book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap();
    // The AP intermediate publishes a new CRL listing organisation 1's AP certificate.
    let pki = pki();
    let m = &pki.manifest;
    let key_pem =
        std::fs::read_to_string(pki.dir.join(m.ca.ap_intermediate.replace(".pem", ".key")))
            .unwrap();
    let cert_pem = std::fs::read_to_string(pki.dir.join(&m.ca.ap_intermediate)).unwrap();
    let issuer = Issuer::from_ca_cert_pem(
        &cert_pem,
        KeyPair::from_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256).unwrap(),
    )
    .unwrap();
    let now = s.clock.now();
    let crl = CertificateRevocationListParams {
        this_update: now,
        next_update: now + time::Duration::days(7),
        crl_number: SerialNumber::from(u64::MAX),
        issuing_distribution_point: None,
        revoked_certs: vec![RevokedCertParams {
            serial_number: SerialNumber::from_slice(pki.org_ap(0).cert.serial()),
            revocation_time: now,
            reason_code: Some(RevocationReason::KeyCompromise),
            invalidity_date: None,
        }],
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&issuer)
    .unwrap();
    s.book
        .client()
        .trust()
        .ap
        .revocation
        .add_crls([Crl::from_der(crl.der()).unwrap()]);
    // Still fresh, but the re-validation interval (5 min) has passed.
    s.clock.advance(minutes(6));
    let answer = s
        .book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap();
    let err = answer.route().unwrap_err();
    assert!(
        matches!(err, LookupError::RecipientCertRevoked { .. }),
        "{err}"
    );
    assert_eq!(
        s.smp.request_count(),
        2,
        "losing the route forces one refetch"
    );
    assert!(s.book.metrics().revalidations >= 1);
}

#[tokio::test]
async fn ca_06_not_registered_is_cached_for_the_negative_ttl() {
    let s = setup().await;
    let newcomer = participant(2);
    let saved = s.smp.participant(&newcomer).unwrap();
    s.smp.remove_participant(&newcomer);
    let err = s.book.lookup(&newcomer, &message_doc()).await.unwrap_err();
    assert!(matches!(err, LookupError::NotRegistered { .. }), "{err}");
    let asked = s.smp.request_count();
    s.smp.add_participant(saved);
    s.clock.advance(minutes(4));
    let err = s.book.lookup(&newcomer, &message_doc()).await.unwrap_err();
    assert!(matches!(err, LookupError::NotRegistered { .. }), "{err}");
    assert_eq!(
        s.smp.request_count(),
        asked,
        "answered from the negative cache"
    );
    assert_eq!(s.book.metrics().negative_hits, 1);
    s.clock.advance(minutes(2));
    assert!(s.book.route(&newcomer, &message_doc()).await.is_ok());
}

#[tokio::test]
async fn a_participant_deregistered_upstream_replaces_its_cached_entry() {
    let s = setup().await;
    s.book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap();
    s.smp.remove_participant(&participant(0));
    s.book.invalidate(&participant(0), &message_doc());
    let err = s
        .book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap_err();
    assert!(matches!(err, LookupError::NotRegistered { .. }), "{err}");
    assert!(s.book.entries().is_empty());
}

#[tokio::test]
async fn ca_07_invalidation_forces_one_refetch_and_stale_if_error_still_applies() {
    let s = setup().await;
    s.book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap();
    s.book.invalidate(&participant(0), &message_doc());
    let again = s
        .book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap();
    assert_eq!(again.served_from, ServedFrom::Smp);
    assert_eq!(s.smp.request_count(), 2);
    let third = s
        .book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap();
    assert_eq!(third.served_from, ServedFrom::Memory);
    assert_eq!(
        s.smp.request_count(),
        2,
        "the refetched entry is fresh again"
    );
    s.smp.set_failure(Some(500));
    s.book.invalidate(&participant(0), &message_doc());
    let stale = s
        .book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap();
    assert!(matches!(stale.freshness, Freshness::StaleIfError { .. }));
    assert_eq!(s.book.metrics().invalidations, 2);
}

fn open_store(dir: &std::path::Path) -> (SledStore, Arc<dyn sdkgw_store::Keyspace>) {
    let store = SledStore::open(StoreConfig::at(dir)).unwrap();
    let keyspace = store.keyspace(sdkgw_address_book::cache::KEYSPACE).unwrap();
    (store, keyspace)
}

#[tokio::test]
async fn ca_08_after_a_restart_during_an_smp_outage_the_persisted_entry_is_served_within_max_stale()
{
    let dir = tempfile::tempdir().unwrap();
    let start = OffsetDateTime::now_utc();
    let url = {
        let (store, keyspace) = open_store(dir.path());
        let s = setup_with(policy(), Some(keyspace)).await;
        s.clock.set(start);
        s.book
            .lookup(&participant(0), &message_doc())
            .await
            .unwrap();
        let url = s.running.url().to_owned();
        s.running.shutdown().await;
        drop(s.book);
        drop(store);
        url
    };
    let (_store, keyspace) = open_store(dir.path());
    let clock = Arc::new(ManualWallClock::at(start + minutes(60 * 3)));
    let book = AddressBook::new(client(&url), policy(), Some(keyspace), clock.clone());
    let answer = book.lookup(&participant(0), &message_doc()).await.unwrap();
    assert_eq!(answer.served_from, ServedFrom::Store);
    assert!(matches!(answer.freshness, Freshness::StaleIfError { .. }));
    assert_eq!(
        answer.route().unwrap().endpoint_url,
        pki().manifest.organisations[0].as4_url
    );
    assert_eq!(book.metrics().durable_reads, 1);
    clock.advance(minutes(60 * 22));
    assert!(book.lookup(&participant(0), &message_doc()).await.is_err());
}

#[tokio::test]
async fn entries_in_use_are_refreshed_ahead_of_expiry_and_idle_ones_are_not() {
    let s = setup().await;
    s.book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap();
    s.book
        .lookup(&participant(1), &message_doc())
        .await
        .unwrap();
    s.clock.advance(minutes(13) + time::Duration::seconds(1));
    assert_eq!(s.book.refresh_due().await.refreshed, 2);
    assert_eq!(s.smp.request_count(), 4);
    // Organisation 1 keeps being used, organisation 2 is not looked up for more than an hour.
    for _ in 0..5 {
        s.clock.advance(minutes(13) + time::Duration::seconds(1));
        s.book
            .lookup(&participant(0), &message_doc())
            .await
            .unwrap();
        s.book.refresh_due().await;
    }
    let log = s.smp.requests();
    let count = |org: &str| log.iter().filter(|r| r.path.contains(org)).count();
    assert_eq!(count("orga.test"), 7);
    assert!(
        count("orgb.test") < 7,
        "idle entry refreshed {} times",
        count("orgb.test")
    );
    let fresh = s
        .book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap();
    assert_eq!(fresh.freshness, Freshness::Fresh);
}

#[tokio::test]
async fn cp_07_08_an_unknown_signer_is_refetched_once_rotation_is_accepted() {
    let s = setup().await;
    let old = pki().org_o2o_signing(0);
    let check = |cert| {
        let book = s.book.clone();
        async move {
            book.check_signer(&participant(0), &receipt_doc(), Some(&message_doc()), &cert)
                .await
                .unwrap()
        }
    };
    assert_eq!(check(old.clone()).await, SignerCheck::Published);
    assert_eq!(s.smp.request_count(), 1);
    let stranger = pki().org_o2o_signing(1);
    assert_eq!(check(stranger.clone()).await, SignerCheck::NotPublished);
    assert_eq!(
        s.smp.request_count(),
        2,
        "exactly one refetch before rejecting"
    );
    // The sender rotates its signing certificate.
    s.smp
        .update_participant(&participant(0), |p| p.o2o_signing = vec![stranger.clone()]);
    assert_eq!(check(stranger).await, SignerCheck::Published);
    assert_eq!(check(old).await, SignerCheck::NotPublished);
}

#[tokio::test]
async fn cp_09_signing_certificates_fall_back_to_the_message_document_type() {
    let s = setup().await;
    s.smp.update_participant(&participant(0), |p| {
        p.documents.retain(|d| d != &receipt_doc())
    });
    let certs = s
        .book
        .signing_certificates(&participant(0), &receipt_doc(), Some(&message_doc()))
        .await
        .unwrap();
    assert_eq!(certs, [pki().org_o2o_signing(0)]);
    let err = s
        .book
        .signing_certificates(&participant(0), &receipt_doc(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, LookupError::DocTypeNotSupported { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn memory_is_bounded_and_evicted_entries_come_back_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, keyspace) = open_store(dir.path());
    let small = CachePolicy {
        memory_entries: 1,
        ..policy()
    };
    let s = setup_with(small, Some(keyspace)).await;
    s.book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap();
    s.book
        .lookup(&participant(1), &message_doc())
        .await
        .unwrap();
    let back = s
        .book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap();
    assert_eq!(back.served_from, ServedFrom::Store);
    assert_eq!(s.smp.request_count(), 2);
    assert_eq!(s.book.entries().len(), 2);
}

#[tokio::test]
async fn bdxl_discovery_through_the_fake_dns_finds_the_fake_smp() {
    let smp = fake_smp();
    let running = serve(&smp).await;
    let zone = SmlZone::parse("sdk.test").unwrap();
    let resolver = Arc::new(CachingResolver::new(
        smp.resolver(&zone, running.url()),
        Arc::new(SystemClock),
        DnsPolicy::default(),
    ));
    let locator = SmpLocator::Bdxl { zone, resolver };
    let client = SmpClient::new(
        locator,
        Arc::new(HttpsTransport::new(&transport_settings())),
        trust(),
        sdkgw_address_book::smp::verify::DEFAULT_MAX_BYTES,
    );
    let book = AddressBook::new(
        client,
        policy(),
        None,
        Arc::new(sdkgw_address_book::cache::SystemWallClock),
    );
    let answer = book.lookup(&participant(1), &message_doc()).await.unwrap();
    assert!(answer.entry.provenance.located_by.starts_with("BDXL NAPTR"));
    let stranger = "0203:nobody.test".parse().unwrap();
    let err = book.lookup(&stranger, &message_doc()).await.unwrap_err();
    assert!(matches!(err, LookupError::NotRegistered { .. }), "{err}");
    assert_eq!(smp.request_count(), 1, "NXDOMAIN needs no SMP request");
}

#[tokio::test]
async fn stored_entries_reference_certificates_stored_once_and_damaged_ones_are_refetched() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, keyspace) = open_store(dir.path());
    let s = setup_with(policy(), Some(keyspace.clone())).await;
    for doc in [message_doc(), receipt_doc()] {
        s.book.lookup(&participant(0), &doc).await.unwrap();
    }
    let certs = keyspace.scan_prefix(b"c\0", 100).unwrap();
    assert_eq!(certs.len(), 3, "AP, O2O signing, O2O encryption, once each");
    let entries = keyspace.scan_prefix(b"e\0", 100).unwrap();
    assert_eq!(entries.len(), 2);
    assert!(
        entries
            .iter()
            .all(|(_, v)| v.len() < 4096 && v.windows(7).any(|w| w == b"sha256:")),
        "entries hold references, not certificates"
    );
    // A certificate record lost or damaged: the entry is not used, the SMP is asked again.
    let (k, _) = &certs[0];
    keyspace.put(k, b"not a certificate").unwrap();
    let fresh_book = AddressBook::new(
        client(s.running.url()),
        policy(),
        Some(keyspace.clone()),
        s.clock.clone(),
    );
    let before = s.smp.request_count();
    let answer = fresh_book
        .lookup(&participant(0), &message_doc())
        .await
        .unwrap();
    assert_eq!(answer.served_from, ServedFrom::Smp);
    assert_eq!(s.smp.request_count(), before + 1);
    assert_eq!(fresh_book.metrics().store_errors, 1);
    // The refetch stored the certificate again: a later reader uses the store.
    let third = AddressBook::new(
        client(s.running.url()),
        policy(),
        Some(keyspace),
        s.clock.clone(),
    );
    let answer = third.lookup(&participant(0), &message_doc()).await.unwrap();
    assert_eq!(answer.served_from, ServedFrom::Store);
}
