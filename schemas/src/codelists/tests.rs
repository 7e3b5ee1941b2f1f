use super::*;

fn lists() -> &'static CodeLists {
    codelists()
}

#[test]
fn embedded_code_lists_load_without_error() {
    CodeLists::embedded().unwrap();
}

#[test]
fn sdk_message_document_ids_are_the_code_list_values() {
    assert_eq!(
        lists()
            .sdk_message_document(TransportModel::ExtSigenc)
            .value(),
        "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc"
    );
    assert_eq!(
        lists().sdk_message_document(TransportModel::Base).value(),
        "urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base"
    );
}

#[test]
fn receipt_document_ids_are_the_code_list_values() {
    assert_eq!(
        lists().receipt_document(TransportModel::ExtSigenc).value(),
        "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2::ApplicationResponse##fdc:digg.se:edelivery:messagetype:response:1::2.1::tm-base-ext-sigenc"
    );
    assert_eq!(
        lists().receipt_document(TransportModel::Base).qualified(),
        "busdox-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2::ApplicationResponse##fdc:digg.se:edelivery:messagetype:response:1::2.1::tm-base"
    );
}

#[test]
fn classifies_the_four_document_ids_and_nothing_else() {
    for kind in [MessageType::SdkMessage, MessageType::Receipt] {
        for model in TransportModel::ALL {
            let id = lists().message_type(kind).document(model);
            assert_eq!(lists().classify_document(id), Some((kind, model)));
        }
    }
    let old = DocumentId::parse(
        "urn:riv:infrastructure:messaging:messagewithattachments:2::message::2.0::tm-base-ext-sigenc",
    )
    .unwrap();
    assert_eq!(lists().classify_document(&old), None);
    let wrong_case = DocumentId::parse(
        &lists()
            .sdk_message_document(TransportModel::ExtSigenc)
            .value()
            .to_lowercase(),
    )
    .unwrap();
    assert_eq!(lists().classify_document(&wrong_case), None);
}

#[test]
fn payload_roots_and_envelope_constants() {
    let msg = lists().message_type(MessageType::SdkMessage);
    assert_eq!(
        msg.payload_root,
        "Q{urn:riv:infrastructure:messaging:MessageWithAttachments:3}messagePayload"
    );
    assert_eq!(msg.content_type, "application/xml");
    assert_eq!(
        lists().message_type(MessageType::Receipt).payload_root,
        "Q{urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2}ApplicationResponse"
    );
    assert_eq!(
        lists().xhe().customization_id,
        "urn:fdc:digg.se:edelivery:xhe:1"
    );
    assert_eq!(lists().xhe().version_id, "1.0");
    assert_eq!(
        lists().receipt().customization_id,
        "urn:fdc:digg.se:edelivery:messagetype:response:1"
    );
    assert_eq!(lists().receipt().profile_id, "bdx:noprocess");
    assert_eq!(lists().process().value(), "bdx:noprocess");
    assert_eq!(
        lists().process().scheme(),
        "urn:fdc:digg.se:edelivery:process"
    );
}

#[test]
fn scope_criteria_codes_parse_back() {
    let codes: Vec<_> = ScopeCriterion::ALL.iter().map(|c| c.code()).collect();
    assert_eq!(
        codes,
        [
            "DOCUMENTID",
            "DOCUMENTID_SCHEME",
            "PROCESSID",
            "PROCESSID_SCHEME",
            "FEDERATIONID"
        ]
    );
    for c in ScopeCriterion::ALL {
        assert_eq!(c.code().parse::<ScopeCriterion>().unwrap(), *c);
    }
    // The spec's own TypeCode list misspells it; that is not a valid code.
    let err = "DOCUMENT_SCHEME".parse::<ScopeCriterion>().unwrap_err();
    assert!(err.to_string().contains("DOCUMENTID_SCHEME"), "{err}");
}

#[test]
fn transport_profiles_are_a_list_with_v1_0_accepted() {
    assert!(lists().is_accepted_transport_profile("digg-transport-as4-v1_0"));
    assert!(!lists().is_accepted_transport_profile("digg-transport-as4-v1_2"));
    assert!(!lists().is_accepted_transport_profile("peppol-transport-as4-v2_0"));
    let ids: Vec<_> = lists()
        .transport_profiles()
        .iter()
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(ids, ["digg-transport-as4-v1_0", "digg-transport-as4-v1_2"]);
}

#[test]
fn as4_codes() {
    let as4 = lists().as4();
    assert_eq!(
        as4.party_type,
        "urn:fdc:digg.se:edelivery:transportprofile:as4:partytype:ap"
    );
    assert_eq!(
        as4.mep,
        "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/oneWay"
    );
    assert_eq!(
        as4.mep_binding,
        "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/push"
    );
    assert!(
        as4.initiator_role.ends_with("/initiator") && as4.responder_role.ends_with("/responder")
    );
    assert!(as4.mpc.ends_with("/defaultMPC"));
    assert_eq!(as4.participant_property_type, ParticipantId::SCHEME);
}

#[test]
fn certpub_and_smp_codes() {
    let cp = lists().certpub();
    assert_eq!(
        cp.extension_id,
        "urn:fdc:digg.se:edelivery:xml-extension:smp-certpub:1.0"
    );
    assert_eq!(cp.mime_code, "application/base64");
    assert_eq!(
        CertPubCertType::Signing.code(),
        "urn:fdc:digg.se:edelivery:certpub:signing-cert"
    );
    assert_eq!(
        CertPubCertType::from_type_code("\n  urn:fdc:digg.se:edelivery:certpub:encryption-cert  ")
            .unwrap(),
        CertPubCertType::Encryption
    );
    assert!(CertPubCertType::from_type_code("urn:other").is_err());
    assert_eq!(lists().naptr_service(), "Meta:SMP");
    assert_eq!(
        lists().smp_namespace(),
        "http://docs.oasis-open.org/bdxr/ns/SMP/2016/05"
    );
}

#[test]
fn receipt_codes_round_trip() {
    assert_eq!(ResponseCode::Accepted.to_string(), "ACCEPTED");
    assert_eq!(
        "REJECTED".parse::<ResponseCode>().unwrap(),
        ResponseCode::Rejected
    );
    let reasons: Vec<_> = ReasonCode::ALL.iter().map(|r| r.code()).collect();
    assert_eq!(reasons, ["SV", "BV", "SIG"]);
    assert!("sv".parse::<ReasonCode>().is_err());
    assert!(lists().reason_meaning(ReasonCode::Sig).contains("signed"));
    for d in DetailCode::ALL {
        assert_eq!(d.code().parse::<DetailCode>().unwrap(), *d);
        assert_eq!(
            d.code(),
            d.code().to_lowercase(),
            "detail codes are lower case"
        );
    }
    assert_eq!(DetailCode::NotFound.code(), "not-found");
}

#[test]
fn every_rejection_case_has_its_b133_codes() {
    use DetailCode as D;
    use ReasonCode as R;
    use RejectionCase as C;
    let expected = [
        (C::Structure, R::Sv, D::Structure),
        (C::Malware, R::Bv, D::Forbidden),
        (C::TooLarge, R::Bv, D::TooLong),
        (C::RuleViolation, R::Bv, D::Invariant),
        (C::DuplicateMessageId, R::Bv, D::Duplicate),
        (C::UnsupportedAttachment, R::Bv, D::NotSupported),
        (C::FunctionAddressNotFound, R::Bv, D::NotFound),
        (C::ReplyToRejected, R::Bv, D::NotSupported),
        (C::SenderSignatureMismatch, R::Sig, D::Security),
        (C::SenderNotConfigured, R::Bv, D::Security),
        (C::NotEncrypted, R::Sig, D::Security),
        (C::HandlingServiceUnknown, R::Bv, D::NotFound),
        (C::RecipientMismatch, R::Bv, D::Security),
        (C::HandlingServiceMismatch, R::Bv, D::Security),
        (C::SenderIdUnknown, R::Bv, D::Invariant),
    ];
    assert_eq!(expected.len(), RejectionCase::ALL.len());
    for (case, reason, detail) in expected {
        let r = lists().rejection(case);
        assert_eq!((r.reason, r.detail), (reason, detail), "{case:?}");
    }
    assert_eq!(
        lists()
            .rejection(C::SenderSignatureMismatch)
            .text
            .as_deref(),
        Some("Sender signature not validated")
    );
    assert_eq!(lists().rejection(C::Structure).row, "2");
}

#[test]
fn icds_and_schemes_agree_with_the_identifier_types() {
    assert!(lists().icd(Icd::EDelivery).unwrap().used_in_sdk);
    assert!(!lists().icd(Icd::OrgNumber).unwrap().used_in_sdk);
    assert!(lists().icd(Icd::Gln).unwrap().name.contains("13 digits"));
}

#[test]
fn loader_rejects_unknown_keys_and_inconsistent_data() {
    let broken = FILES[2]
        .1
        .replace("version-id = \"1.0\"", "version-id = \"1.0\"\nextra = 1");
    assert!(matches!(
        parse::<DocumentsFile>(("documents.toml", &broken)),
        Err(CodeListError::Syntax { .. })
    ));
    let wrong_suffix = FILES[2].1.replacen("3.0::tm-base\"", "3.0::tm-bas\"", 1);
    let docs: DocumentsFile = parse(("documents.toml", &wrong_suffix)).unwrap();
    let err = docs.messages.sdk_message.resolve().unwrap_err();
    assert!(err.to_string().contains("tm-bas"), "{err}");
    let receipts: ReceiptsFile = parse((
        "receipts.toml",
        &FILES[5].1.replacen("reason = \"SV\"", "reason = \"XV\"", 1),
    ))
    .unwrap();
    let err = resolve_rejections(&receipts).unwrap_err();
    assert!(err.to_string().contains("XV"), "{err}");
    let no_profile = [TransportProfile {
        id: "x".into(),
        accepted: false,
    }];
    assert!(check_transport_profiles(&no_profile).is_err());
}
