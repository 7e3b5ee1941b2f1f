//! The SMP client against the fake SMP over HTTPS, with the development PKI: the offline
//! cases SMP-*, SIG-*, AP-*, CP-* and EN-* of the addressing digest §6.3.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod support;

use std::time::Duration;

use bytes::Bytes;
use sdkgw_address_book::LookupError;
use sdkgw_address_book::ServiceEntry;
use sdkgw_address_book::fake::{self, Canned, ContentEncoding, DevPkiOptions, FakeSmp};
use sdkgw_address_book::smp::verify::DEFAULT_MAX_BYTES;
use sdkgw_address_book::smp_url::SmpBaseUrl;
use sdkgw_schemas::{Environment, ParticipantId, ProcessId, codelists};
use sdkgw_xml_security::xml::Document;
use support::*;
use time::OffsetDateTime;

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

async fn fetch(smp: &FakeSmp, i: usize) -> Result<ServiceEntry, LookupError> {
    let running = serve(smp).await;
    client(running.url())
        .fetch(&participant(i), &message_doc(), now())
        .await
}

fn signed(smp: &FakeSmp, i: usize, doc: &sdkgw_schemas::DocumentId) -> String {
    String::from_utf8(
        smp.signed_metadata(&participant(i), doc)
            .unwrap()
            .unwrap()
            .to_vec(),
    )
    .unwrap()
}

fn canned(smp: &FakeSmp, i: usize, body: impl Into<Bytes>) {
    smp.set_canned(
        &participant(i),
        Some(&message_doc()),
        Some(Canned::ok(body)),
    );
}

#[tokio::test]
async fn smp_01_signed_metadata_yields_endpoint_ap_certificate_and_certpub_certificates() {
    let pki = pki();
    let smp = fake_smp();
    let running = serve(&smp).await;
    let entry = client(running.url())
        .fetch(&participant(0), &message_doc(), now())
        .await
        .unwrap();
    let route = entry.route().unwrap();
    let org = &pki.manifest.organisations[0];
    assert_eq!(route.endpoint_url, org.as4_url);
    assert_eq!(route.transport_profile, "digg-transport-as4-v1_0");
    assert_eq!(route.ap_certificate, pki.cert(&org.ap.cert));
    assert_eq!(route.ap_party_id.as_str(), "AP0001-DEV");
    assert_eq!(
        entry.encryption_certificate().unwrap(),
        &pki.org_o2o_encryption(0)
    );
    assert_eq!(
        entry.signing_certificates().unwrap(),
        [pki.org_o2o_signing(0)]
    );
    assert_eq!(
        entry.provenance.signer,
        pki.cert(&pki.manifest.smp_signer.cert).subject()
    );
    // EN-02: the SDK message id with ## travels as %23%23; '.' stays.
    let log = smp.requests();
    assert_eq!(
        log.len(),
        1,
        "one direct GET, no ServiceGroup first: {log:?}"
    );
    assert_eq!(
        log[0].path,
        "/iso6523-actorid-upis%3A%3A0203%3Aorga.test/services/busdox-docid-qns%3A%3Aurn%3Ariv%3A\
         infrastructure%3Amessaging%3AMessageWithAttachments%3A3%3A%3AmessagePayload%23%233.0%3A%3A\
         tm-base-ext-sigenc"
    );
}

#[tokio::test]
async fn smp_02_an_endpoint_with_another_transport_profile_is_no_matching_endpoint() {
    let smp = fake_smp();
    smp.update_participant(&participant(0), |p| {
        p.transport_profile = "peppol-transport-as4-v2_0".into()
    });
    let entry = fetch(&smp, 0).await.unwrap();
    let err = entry.route().unwrap_err();
    assert!(
        matches!(&err, LookupError::NoMatchingEndpoint { reasons, .. }
            if reasons.iter().any(|r| r.contains("peppol-transport-as4-v2_0"))),
        "{err}"
    );
    // The O2O certificates of the same signed answer are still usable.
    assert!(entry.encryption_certificate().is_ok());
}

#[tokio::test]
async fn smp_03_another_process_is_no_matching_endpoint() {
    let smp = fake_smp();
    smp.update_participant(&participant(0), |p| {
        p.process = ProcessId::from_parts("urn:fdc:digg.se:edelivery:process", "bdx:other").unwrap()
    });
    let err = fetch(&smp, 0).await.unwrap().route().unwrap_err();
    assert!(
        matches!(err, LookupError::NoMatchingEndpoint { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn smp_04_endpoints_outside_their_activation_window_are_skipped() {
    for (activation, expiration) in [
        (Some(now() + time::Duration::days(1)), None),
        (None, Some(now() - time::Duration::hours(1))),
    ] {
        let smp = fake_smp();
        smp.update_participant(&participant(0), |p| {
            p.activation = activation;
            p.expiration = expiration;
        });
        let entry = fetch(&smp, 0).await.unwrap();
        let err = entry.route().unwrap_err();
        assert!(
            matches!(err, LookupError::NoMatchingEndpoint { .. }),
            "{err}"
        );
        if let Some(a) = activation {
            // Validation must run again when the endpoint becomes active.
            assert!(entry.validation.valid_until <= a);
        }
    }
    // Inside the window: usable.
    let smp = fake_smp();
    smp.update_participant(&participant(0), |p| {
        p.activation = Some(now() - time::Duration::days(1));
        p.expiration = Some(now() + time::Duration::days(1));
    });
    assert!(fetch(&smp, 0).await.unwrap().route().is_ok());
}

#[tokio::test]
async fn smp_05_metadata_of_another_participant_is_a_mismatch() {
    let smp = fake_smp();
    let other = signed(&smp, 1, &message_doc());
    canned(&smp, 0, other);
    let err = fetch(&smp, 0).await.unwrap_err();
    assert!(
        matches!(&err, LookupError::MetadataMismatch { field, .. } if field == "ParticipantIdentifier"),
        "{err}"
    );
}

#[tokio::test]
async fn smp_06_metadata_of_another_document_type_is_a_mismatch() {
    let smp = fake_smp();
    let base = codelists()
        .sdk_message_document(sdkgw_schemas::TransportModel::Base)
        .clone();
    let other = signed(&smp, 0, &base);
    canned(&smp, 0, other);
    let err = fetch(&smp, 0).await.unwrap_err();
    assert!(
        matches!(&err, LookupError::MetadataMismatch { field, .. } if field == "DocumentIdentifier"),
        "{err}"
    );
}

#[tokio::test]
async fn smp_07_a_signed_redirect_and_a_cross_host_http_redirect_are_refused() {
    let smp = fake_smp();
    let redirect = format!(
        "<SignedServiceMetadata xmlns=\"{}\"><ServiceMetadata><Redirect href=\"https://smp.evil.example/\">\
         <CertificateUID>x</CertificateUID></Redirect></ServiceMetadata></SignedServiceMetadata>",
        codelists().smp_namespace()
    );
    let signer = fake::Signer {
        certificate: pki().cert(&pki().manifest.smp_signer.cert),
        key: std::sync::Arc::new(key(&pki().dir, &pki().manifest.smp_signer.key)),
    };
    let signed = fake::sign_metadata(redirect.into_bytes(), &signer, &Default::default()).unwrap();
    canned(&smp, 0, signed);
    let err = fetch(&smp, 0).await.unwrap_err();
    assert!(
        matches!(&err, LookupError::UnsupportedRedirect { target } if target == "https://smp.evil.example/"),
        "{err}"
    );

    let smp = fake_smp();
    let running = serve(&smp).await;
    // An HTTP redirect to another host is not followed.
    let http_redirect = Canned {
        status: 302,
        body: Bytes::new(),
        location: Some("https://smp.evil.example/elsewhere".into()),
    };
    smp.set_canned(&participant(0), Some(&message_doc()), Some(http_redirect));
    let err = client(running.url())
        .fetch(&participant(0), &message_doc(), now())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LookupError::UnsupportedRedirect { target } if target.contains("evil")),
        "{err}"
    );
    assert_eq!(
        smp.request_count(),
        1,
        "the redirect target was never asked"
    );
}

#[tokio::test]
async fn smp_08_unknown_participant_is_not_registered_and_missing_document_type_is_not_supported() {
    let options = DevPkiOptions {
        missing_documents: vec![(participant(1), message_doc())],
        ..DevPkiOptions::default()
    };
    let smp = fake::from_dev_pki(&pki().dir, &options).unwrap();
    let running = serve(&smp).await;
    let c = client(running.url());
    let stranger: ParticipantId = "0203:nobody.test".parse().unwrap();
    let err = c.fetch(&stranger, &message_doc(), now()).await.unwrap_err();
    assert!(matches!(err, LookupError::NotRegistered { .. }), "{err}");
    let err = c
        .fetch(&participant(1), &message_doc(), now())
        .await
        .unwrap_err();
    assert!(
        matches!(err, LookupError::DocTypeNotSupported { .. }),
        "{err}"
    );
    // The receipt document type of the same participant is still there.
    assert!(
        c.fetch(&participant(1), &receipt_doc(), now())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn smp_09_server_errors_slowness_and_refused_connections_are_transient() {
    let smp = fake_smp();
    let running = serve(&smp).await;
    let c = client(running.url());
    smp.set_failure(Some(500));
    let err = c
        .fetch(&participant(0), &message_doc(), now())
        .await
        .unwrap_err();
    assert!(
        err.is_transient() && err.to_string().contains("500"),
        "{err}"
    );
    smp.set_failure(None);
    let mut quick = transport_settings();
    quick.request_timeout = Duration::from_millis(300);
    smp.set_delay(Duration::from_secs(8));
    let err = client_with(running.url(), trust(), &quick)
        .fetch(&participant(0), &message_doc(), now())
        .await
        .unwrap_err();
    assert!(
        err.is_transient() && err.to_string().contains("timed out"),
        "{err}"
    );
    let url = running.url().to_owned();
    running.shutdown().await;
    let err = client(&url)
        .fetch(&participant(0), &message_doc(), now())
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
}

#[tokio::test]
async fn smp_10_service_group_hrefs_are_read_not_followed() {
    let smp = fake_smp();
    let running = serve(&smp).await;
    let group = format!(
        "<ServiceGroup xmlns=\"{}\"><ParticipantIdentifier scheme=\"iso6523-actorid-upis\">0203:orga.test</ParticipantIdentifier>\
         <ServiceMetadataReferenceCollection><ServiceMetadataReference href=\"https://smp.evil.example/iso6523-actorid-upis%3A%3A0203%3Aorga.test/services/{}\"/>\
         </ServiceMetadataReferenceCollection></ServiceGroup>",
        codelists().smp_namespace(),
        sdkgw_address_book::smp_url::encode_segment(&message_doc().qualified()),
    );
    smp.set_canned(&participant(0), None, Some(Canned::ok(group)));
    let c = client(running.url());
    let (sg, _) = c.service_group(&participant(0)).await.unwrap();
    assert_eq!(sg.documents, [message_doc()]);
    assert!(
        sg.notes.iter().any(|n| n.contains("another host")),
        "{:?}",
        sg.notes
    );
    c.fetch(&participant(0), &message_doc(), now())
        .await
        .unwrap();
    assert!(
        smp.requests()
            .iter()
            .all(|r| r.path.starts_with("/iso6523-actorid-upis"))
    );
    // The unsigned ServiceGroup lists every published document type.
    smp.set_canned(&participant(0), None, None);
    let (sg, _) = c.service_group(&participant(0)).await.unwrap();
    assert_eq!(sg.documents, fake::dev_documents());
}

#[tokio::test]
async fn sig_01_metadata_changed_after_signing_is_signature_invalid() {
    let pki = pki();
    let smp = fake_smp();
    let original = signed(&smp, 0, &message_doc());
    let as4_url = &pki.manifest.organisations[0].as4_url;
    assert!(original.contains(as4_url.as_str()));
    canned(
        &smp,
        0,
        original.replace(as4_url.as_str(), "https://attacker.example/as4"),
    );
    let err = fetch(&smp, 0).await.unwrap_err();
    assert!(matches!(err, LookupError::SignatureInvalid { .. }), "{err}");
}

#[tokio::test]
async fn sig_02_unsigned_metadata_is_rejected() {
    let smp = fake_smp();
    let p = smp.participant(&participant(0)).unwrap();
    canned(&smp, 0, fake::metadata_xml(&p, &message_doc()));
    let err = fetch(&smp, 0).await.unwrap_err();
    assert!(matches!(err, LookupError::SignatureInvalid { .. }), "{err}");
}

#[tokio::test]
async fn sig_03_05_signers_other_than_a_valid_smp_certificate_of_this_environment_are_untrusted() {
    let pki = pki();
    let cases = [
        ("AP leaf", pki.org_ap(0).signer(), "not a trusted CA"),
        (
            "QA SMP root",
            pki.foreign_smp_signer.signer(),
            "environment QA",
        ),
        ("expired", pki.expired_smp_signer.signer(), "expired"),
        ("revoked", pki.revoked_smp_signer.signer(), "revoked"),
    ];
    for (what, signer, expected) in cases {
        let smp = fake_smp();
        smp.set_signer(signer);
        let err = fetch(&smp, 0).await.unwrap_err();
        assert!(
            matches!(&err, LookupError::UntrustedSigner { reason } if reason.contains(expected)),
            "{what}: {err}"
        );
    }
}

#[tokio::test]
async fn sig_06_sha1_signature_algorithms_are_refused_before_any_cryptography() {
    let smp = fake_smp();
    let doc =
        signed(&smp, 0, &message_doc()).replace("xmldsig-more#rsa-sha256", "xmldsig#rsa-sha1");
    canned(&smp, 0, doc);
    let err = fetch(&smp, 0).await.unwrap_err();
    assert!(
        matches!(&err, LookupError::SignatureInvalid { reason } if reason.contains("algorithm")),
        "{err}"
    );
}

#[tokio::test]
async fn sig_07_wrapped_metadata_is_rejected_by_the_structure_check() {
    let smp = fake_smp();
    let original = signed(&smp, 0, &message_doc());
    let start = original.find("<ServiceMetadata>").unwrap();
    let end = original.find("</ServiceMetadata>").unwrap() + "</ServiceMetadata>".len();
    let genuine = &original[start..end];
    let evil = genuine.replace(
        &pki().manifest.organisations[0].as4_url,
        "https://attacker.example/as4",
    );
    // (a) an extra, unsigned ServiceMetadata before the signed one
    let extra = format!("{}{evil}{}", &original[..start], &original[start..]);
    // (b) the signed one moved into a wrapper after the Signature, an evil one in its place
    let sig_end = original.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let moved = format!(
        "{}{evil}{}<Wrapper>{genuine}</Wrapper>{}",
        &original[..start],
        &original[end..sig_end],
        &original[sig_end..]
    );
    for (what, doc) in [("extra", extra), ("moved", moved)] {
        let smp = fake_smp();
        canned(&smp, 0, doc);
        let err = fetch(&smp, 0).await.unwrap_err();
        assert!(
            matches!(&err, LookupError::SignatureInvalid { reason } if reason.starts_with("structure")),
            "{what}: {err}"
        );
    }
}

#[tokio::test]
async fn sig_09_a_reference_by_id_instead_of_the_whole_document_is_refused() {
    let pki = pki();
    let smp = fake_smp();
    let p = smp.participant(&participant(0)).unwrap();
    let xml = fake::metadata_xml(&p, &message_doc())
        .replace("<ServiceMetadata>", "<ServiceMetadata Id=\"sm\">");
    let opts = sdkgw_address_book::smp::verify::parse_options(DEFAULT_MAX_BYTES);
    let doc = Document::parse(xml.into_bytes(), &opts).unwrap();
    let signer_cert = pki.cert(&pki.manifest.smp_signer.cert);
    let mut template = sdkgw_xml_security::dsig::SignatureTemplate::enveloped(&doc, signer_cert);
    template.references[0].uri = "#sm".into();
    let key = key(&pki.dir, &pki.manifest.smp_signer.key);
    let bytes = sdkgw_xml_security::dsig::sign(&doc, &template, &key, None, &opts)
        .unwrap()
        .bytes;
    canned(&smp, 0, bytes);
    let err = fetch(&smp, 0).await.unwrap_err();
    assert!(matches!(err, LookupError::SignatureInvalid { .. }), "{err}");
    // An XPath transform is refused by policy, before any digest is computed.
    let smp = fake_smp();
    let enveloped = "Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>";
    let with_xpath = signed(&smp, 0, &message_doc()).replacen(
        enveloped,
        &format!(
            "{enveloped}<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\">\
             <ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform>"
        ),
        1,
    );
    assert!(with_xpath.contains("REC-xpath"));
    canned(&smp, 0, with_xpath);
    let err = fetch(&smp, 0).await.unwrap_err();
    assert!(
        matches!(&err, LookupError::SignatureInvalid { reason } if reason.contains("transform")),
        "{err}"
    );
}

#[tokio::test]
async fn sig_10_dtds_oversized_and_malformed_answers_are_malformed() {
    let smp = fake_smp();
    let with_dtd = signed(&smp, 0, &message_doc()).replacen(
        "<SignedServiceMetadata",
        "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><SignedServiceMetadata",
        1,
    );
    let huge = format!(
        "<SignedServiceMetadata xmlns=\"{}\">{}</SignedServiceMetadata>",
        codelists().smp_namespace(),
        " ".repeat(10 << 20)
    );
    let cases: [(&str, Bytes, &str); 4] = [
        ("DTD", with_dtd.into(), "DTD"),
        ("10 MB", huge.into(), "larger than"),
        ("garbage", Bytes::from_static(b"\x00\x01 not xml"), ""),
        (
            "ServiceGroup at a metadata URL",
            Bytes::from(format!(
                "<ServiceGroup xmlns=\"{}\"/>",
                codelists().smp_namespace()
            )),
            "expected SignedServiceMetadata",
        ),
    ];
    for (what, body, expected) in cases {
        let smp = fake_smp();
        canned(&smp, 0, body);
        let err = fetch(&smp, 0).await.unwrap_err();
        assert!(
            matches!(&err, LookupError::Malformed { reason } if reason.contains(expected)),
            "{what}: {err}"
        );
    }
}

#[tokio::test]
async fn ap_02_04_revoked_foreign_and_expired_ap_certificates_refuse_the_route() {
    type Expect = fn(&LookupError) -> bool;
    let cases: [(DevPkiOptions, Expect); 3] = [
        (
            DevPkiOptions {
                revoked_ap: vec![participant(0)],
                ..Default::default()
            },
            |e| matches!(e, LookupError::RecipientCertRevoked { .. }),
        ),
        (
            DevPkiOptions {
                foreign_ap: vec![participant(0)],
                ..Default::default()
            },
            |e| matches!(e, LookupError::WrongEnvironment { .. }),
        ),
        (
            DevPkiOptions {
                expired_ap: vec![participant(0)],
                ..Default::default()
            },
            |e| matches!(e, LookupError::RecipientCertInvalid { detail, .. } if detail.contains("expired")),
        ),
    ];
    for (options, expect) in cases {
        let smp = fake::from_dev_pki(&pki().dir, &options).unwrap();
        let entry = fetch(&smp, 0).await.unwrap();
        let err = entry.route().unwrap_err();
        assert!(expect(&err), "{options:?}: {err}");
    }
}

#[tokio::test]
async fn ap_05_an_ap_certificate_from_another_intermediate_under_the_same_root_is_refused() {
    let pki = pki();
    let smp = fake_smp();
    smp.update_participant(&participant(0), |p| {
        p.ap_certificate = pki.ap_other_intermediate.cert.clone()
    });
    let running = serve(&smp).await;
    // Only the leaf is published: its issuer is unknown.
    let err = client(running.url())
        .fetch(&participant(0), &message_doc(), now())
        .await
        .unwrap()
        .route()
        .unwrap_err();
    assert!(
        matches!(err, LookupError::RecipientCertInvalid { .. }),
        "{err}"
    );
    // Even with that intermediate known, so that the chain reaches the trusted root, the
    // issuing CA is pinned.
    let knows_it = trust_with(Environment::Dev, vec![pki.ap_other_ca.clone()]);
    let err = client_with(running.url(), knows_it, &transport_settings())
        .fetch(&participant(0), &message_doc(), now())
        .await
        .unwrap()
        .route()
        .unwrap_err();
    assert!(
        matches!(&err, LookupError::RecipientCertInvalid { detail, .. } if detail.contains("pinned")),
        "{err}"
    );
}

#[tokio::test]
async fn ap_06_a_cn_that_is_no_ap_party_id_warns_in_dev_and_is_refused_in_qa() {
    let smp = fake_smp();
    smp.update_participant(&participant(0), |p| {
        p.ap_certificate = pki().ap_cn_foo.cert.clone()
    });
    let running = serve(&smp).await;
    let dev = client(running.url())
        .fetch(&participant(0), &message_doc(), now())
        .await
        .unwrap();
    let route = dev.route().unwrap();
    assert_eq!(route.ap_party_id.as_str(), "foo");
    assert!(route.ap_warning.is_some());
    let qa = client_with(
        running.url(),
        trust_in(Environment::Qa),
        &transport_settings(),
    )
    .fetch(&participant(0), &message_doc(), now())
    .await
    .unwrap();
    assert!(matches!(
        qa.route().unwrap_err(),
        LookupError::RecipientCertInvalid { .. }
    ));
}

#[tokio::test]
async fn cp_02_pem_and_base64_of_pem_content_is_read() {
    for encoding in [ContentEncoding::Pem, ContentEncoding::Base64OfPem] {
        let smp = fake_smp();
        smp.update_participant(&participant(0), |p| p.certpub_encoding = encoding);
        let entry = fetch(&smp, 0).await.unwrap();
        assert_eq!(
            entry.encryption_certificate().unwrap(),
            &pki().org_o2o_encryption(0)
        );
        assert_eq!(
            entry.signing_certificates().unwrap(),
            [pki().org_o2o_signing(0)]
        );
    }
}

#[tokio::test]
async fn cp_03_only_a_signing_certificate_means_no_encryption_certificate() {
    let smp = fake_smp();
    smp.update_participant(&participant(0), |p| p.o2o_encryption.clear());
    let entry = fetch(&smp, 0).await.unwrap();
    let err = entry.encryption_certificate().unwrap_err();
    assert!(matches!(err, LookupError::NoEncryptionCert { .. }), "{err}");
    assert!(entry.signing_certificates().is_ok());
}

#[tokio::test]
async fn cp_05_of_several_encryption_certificates_the_newest_valid_one_is_chosen() {
    let pki = pki();
    let smp = fake_smp();
    smp.update_participant(&participant(0), |p| {
        p.o2o_encryption = vec![
            pki.o2o_expired.cert.clone(),
            pki.org_o2o_encryption(0),
            pki.o2o_newer.cert.clone(),
            pki.o2o_revoked.cert.clone(),
        ]
    });
    let entry = fetch(&smp, 0).await.unwrap();
    assert_eq!(entry.encryption_certificate().unwrap(), &pki.o2o_newer.cert);
    assert_eq!(
        entry.validation.rejected_o2o.len(),
        2,
        "{:?}",
        entry.validation.rejected_o2o
    );
}

#[tokio::test]
async fn cp_06_revoked_and_foreign_o2o_certificates_are_rejected() {
    let pki = pki();
    for (cert, expected) in [
        (&pki.o2o_revoked.cert, "revoked"),
        (&pki.o2o_foreign.cert, "not a trusted CA"),
        (&pki.o2o_expired.cert, "expired"),
    ] {
        let smp = fake_smp();
        smp.update_participant(&participant(0), |p| p.o2o_encryption = vec![cert.clone()]);
        let entry = fetch(&smp, 0).await.unwrap();
        let err = entry.encryption_certificate().unwrap_err();
        assert!(
            matches!(&err, LookupError::O2oCertRejected { detail, .. } if detail.contains(expected)),
            "{err}"
        );
    }
}

#[tokio::test]
async fn en_01_service_group_path_is_encoded_exactly() {
    let smp = fake_smp();
    let running = serve(&smp).await;
    let sundbyberg: ParticipantId = "0203:Sundbyberg.SE".parse().unwrap();
    let _ = client(running.url()).service_group(&sundbyberg).await;
    assert_eq!(
        smp.requests()[0].path,
        "/iso6523-actorid-upis%3A%3A0203%3Asundbyberg.se"
    );
    let base = SmpBaseUrl::parse("https://smp.example.se/prefix/").unwrap();
    assert_eq!(
        base.service_group_url(&sundbyberg),
        "https://smp.example.se/prefix/iso6523-actorid-upis%3A%3A0203%3Asundbyberg.se"
    );
}

#[tokio::test]
async fn revalidation_notices_a_certificate_expiring_after_the_fetch() {
    let smp = fake_smp();
    let mut entry = fetch(&smp, 0).await.unwrap();
    let ap_expiry = entry.route().unwrap().ap_certificate.not_after();
    assert!(entry.validation.valid_until <= ap_expiry);
    let later = ap_expiry + time::Duration::seconds(1);
    assert!(entry.needs_validation(later, time::Duration::days(3650)));
    entry.revalidate(&trust(), later);
    assert!(
        entry.route().is_err(),
        "an expired AP certificate is never usable"
    );
}
