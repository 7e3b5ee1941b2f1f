//! The XHE profile check on DIGG's examples and on mutations of an envelope we write
//! (digest §6.3 X-P1, X-P2, X-N1..X-N12).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sdkgw_envelope::xhe::{self, PayloadXml, TransportIssue, Xhe, XheContext};
use sdkgw_schemas::{Environment, FederationId, TransportModel};
use sdkgw_xml_security::xml::{Document, ParseOptions};
use time::macros::datetime;

const PAYLOAD: &str = r#"<o:doc xmlns:o="urn:example:other"><o:v>1</o:v></o:doc>"#;

fn header(model: TransportModel) -> Xhe {
    let mut h = Xhe::for_message(
        "3a94b4ed-a6d7-41e2-945d-b3fa91e8a6e9",
        datetime!(2026-12-02 10:00:00.123 UTC),
        "0203:orga.test".parse().unwrap(),
        "0203:orgb.test".parse().unwrap(),
        Some("mailbox-1".parse().unwrap()),
        FederationId::Test,
        model,
    );
    h.payload.encrypted = false;
    h
}

/// A conformant tm-base envelope with a plaintext payload.
fn base_xml() -> String {
    header(TransportModel::Base)
        .to_xml(PayloadXml::Element(PAYLOAD))
        .unwrap()
}

fn check_with(xml: &str, env: Option<Environment>) -> xhe::EnvelopeCheck {
    let doc = Document::parse_slice(xml.as_bytes(), &ParseOptions::default()).unwrap();
    xhe::check(&doc, &XheContext { environment: env })
}

fn rules(xml: &str) -> Vec<&'static str> {
    check_with(xml, None).report.rule_ids()
}

fn replaced(from: &str, to: &str) -> String {
    let xml = base_xml();
    assert!(xml.contains(from), "{from} not in\n{xml}");
    xml.replacen(from, to, 1)
}

#[test]
fn written_envelope_is_conformant_and_reads_back() {
    let xml = base_xml();
    let checked = check_with(&xml, Some(Environment::OpenTest));
    assert!(checked.is_conformant(), "{}", checked.report);
    let read = checked.header.unwrap();
    assert_eq!(read, header(TransportModel::Base));
    assert!(checked.payload_content.is_some());
}

#[test]
fn criteria_in_any_order_pass() {
    let xml = base_xml();
    let start = xml.find("<xha:BusinessScopeCriterion>").unwrap();
    let end =
        xml.rfind("</xha:BusinessScopeCriterion>").unwrap() + "</xha:BusinessScopeCriterion>".len();
    let block = &xml[start..end];
    let mut items: Vec<&str> = block
        .split_inclusive("</xha:BusinessScopeCriterion>")
        .collect();
    items.reverse();
    let reordered = xml.replace(block, &items.concat());
    assert_ne!(reordered, xml);
    assert!(check_with(&reordered, None).is_conformant());
}

#[test]
fn forbidden_elements_are_r1() {
    let profile = replaced(
        "<xha:Header>",
        "<xhb:ProfileID>p</xhb:ProfileID>\n  <xha:Header>",
    );
    assert_eq!(rules(&profile), ["R1-XHE"]);
    let uuid = replaced(
        "<xhb:CreationDateTime>",
        "<xhb:UUID>3a94b4ed-a6d7-41e2-945d-b3fa91e8a6e9</xhb:UUID><xhb:CreationDateTime>",
    );
    assert_eq!(rules(&uuid), ["R1-XHE"]);
    let payload_id = replaced(
        "<xhb:DocumentTypeCode>",
        "<xhb:ID>p1</xhb:ID><xhb:DocumentTypeCode>",
    );
    assert_eq!(rules(&payload_id), ["R1-XHE"]);
    let attribute = replaced("<xha:Header>", "<xha:Header Id=\"h\">");
    assert_eq!(rules(&attribute), ["R1-XHE"]);
    let scheme_name = replaced("schemeID=", "schemeName=\"x\" schemeID=");
    assert_eq!(rules(&scheme_name), ["R1-XHE"]);
}

#[test]
fn empty_elements_and_attributes_are_r2() {
    let blank = replaced(
        "<xhb:HandlingServiceID>mailbox-1</xhb:HandlingServiceID>",
        "<xhb:HandlingServiceID> </xhb:HandlingServiceID>",
    );
    assert_eq!(rules(&blank), ["R2-XHE"]);
    let scheme = replaced(
        "<xhb:ID schemeID=\"iso6523-actorid-upis\">0203:orgb.test",
        "<xhb:ID schemeID=\"\">0203:orgb.test",
    );
    assert_eq!(rules(&scheme), ["R11-XHE", "R2-XHE"]);
}

#[test]
fn customization_and_version_values() {
    assert_eq!(
        rules(&replaced("urn:fdc:digg.se:edelivery:xhe:1", "urn:x")),
        ["R3-XHE"]
    );
    assert_eq!(
        rules(&replaced("<xhb:XHEVersionID>1.0", "<xhb:XHEVersionID>1.1")),
        ["R9-XHE"]
    );
}

#[test]
fn each_missing_criterion_has_its_rule() {
    let xml = base_xml();
    for (code, rule) in [
        ("DOCUMENTID", "R4-XHE"),
        ("DOCUMENTID_SCHEME", "R5-XHE"),
        ("PROCESSID", "R6-XHE"),
        ("PROCESSID_SCHEME", "R7-XHE"),
        ("FEDERATIONID", "R8-XHE"),
    ] {
        let marker = format!(
            "<xhb:BusinessScopeCriterionTypeCode>{code}</xhb:BusinessScopeCriterionTypeCode>"
        );
        let at = xml.find(&marker).unwrap();
        let start = xml[..at].rfind("<xha:BusinessScopeCriterion>").unwrap();
        let end = at
            + xml[at..].find("</xha:BusinessScopeCriterion>").unwrap()
            + "</xha:BusinessScopeCriterion>".len();
        let without = format!("{}{}", &xml[..start], &xml[end..]);
        let found = rules(&without);
        assert!(found.contains(&rule), "{code}: {found:?}");
        assert!(
            found.contains(&"R14-XHE"),
            "4 criteria is a cardinality error: {found:?}"
        );
    }
}

#[test]
fn duplicate_or_sixth_criterion_is_r14_and_gw3() {
    let dup = replaced(
        "<xha:BusinessScopeCriterion>",
        "<xha:BusinessScopeCriterion><xhb:BusinessScopeCriterionTypeCode>DOCUMENTID</xhb:BusinessScopeCriterionTypeCode><xhb:BusinessScopeCriterionValue>x</xhb:BusinessScopeCriterionValue></xha:BusinessScopeCriterion><xha:BusinessScopeCriterion>",
    );
    let found = rules(&dup);
    assert!(
        found.contains(&"R14-XHE") && found.contains(&"GW-XHE-3"),
        "{found:?}"
    );
    let unknown = replaced(
        "<xha:BusinessScopeCriterion>",
        "<xha:BusinessScopeCriterion><xhb:BusinessScopeCriterionTypeCode>COLOUR</xhb:BusinessScopeCriterionTypeCode><xhb:BusinessScopeCriterionValue>x</xhb:BusinessScopeCriterionValue></xha:BusinessScopeCriterion><xha:BusinessScopeCriterion>",
    );
    assert_eq!(rules(&unknown), ["GW-XHE-3", "R14-XHE"]);
}

#[test]
fn from_party_scheme_is_r10_and_to_party_scheme_is_r11() {
    let from = replaced(
        "schemeID=\"iso6523-actorid-upis\">0203:orga.test",
        "schemeID=\"wrong\">0203:orga.test",
    );
    assert_eq!(rules(&from), ["R10-XHE"]);
    // DIGG's compiled schematron misses this one (its R11 context is FromParty).
    let to = replaced(
        "schemeID=\"iso6523-actorid-upis\">0203:orgb.test",
        "schemeID=\"wrong\">0203:orgb.test",
    );
    assert_eq!(rules(&to), ["R11-XHE"]);
}

#[test]
fn indicator_and_content_must_agree() {
    let claims_encrypted = replaced(
        "<xhb:InstanceEncryptionIndicator>false",
        "<xhb:InstanceEncryptionIndicator>true",
    );
    assert_eq!(rules(&claims_encrypted), ["GW-XHE-6", "R12-XHE"]);
    let hides_encryption = replaced(
        PAYLOAD,
        r#"<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"><xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData>"#,
    );
    assert_eq!(rules(&hides_encryption), ["R13-XHE"]);
}

#[test]
fn cardinalities_are_r14() {
    let xml = base_xml();
    let p_start = xml.find("<xha:Payload>").unwrap();
    let p_end = xml.find("</xha:Payload>").unwrap() + "</xha:Payload>".len();
    let two_payloads = format!("{}{}{}", &xml[..p_end], &xml[p_start..p_end], &xml[p_end..]);
    assert_eq!(rules(&two_payloads), ["R14-XHE"]);
    let t_start = xml.find("<xha:ToParty>").unwrap();
    let t_end = xml.find("</xha:ToParty>").unwrap() + "</xha:ToParty>".len();
    let two_to = format!("{}{}{}", &xml[..t_end], &xml[t_start..t_end], &xml[t_end..]);
    assert_eq!(rules(&two_to), ["R14-XHE"]);
    let no_type = xml.replacen(
        "<xhb:DocumentTypeCode>Q{urn:riv:infrastructure:messaging:MessageWithAttachments:3}messagePayload</xhb:DocumentTypeCode>",
        "",
        1,
    );
    assert_ne!(no_type, xml);
    assert_eq!(rules(&no_type), ["R14-XHE"]);
}

#[test]
fn schema_errors_are_xsd() {
    let xml = base_xml();
    let no_indicator = xml.replacen(
        "<xhb:InstanceEncryptionIndicator>false</xhb:InstanceEncryptionIndicator>",
        "",
        1,
    );
    assert_eq!(rules(&no_indicator), ["XSD-XHE"]);
    let swapped = xml.replacen(
        "<xhb:XHEVersionID>1.0</xhb:XHEVersionID>\n  <xhb:CustomizationID>urn:fdc:digg.se:edelivery:xhe:1</xhb:CustomizationID>",
        "<xhb:CustomizationID>urn:fdc:digg.se:edelivery:xhe:1</xhb:CustomizationID>\n  <xhb:XHEVersionID>1.0</xhb:XHEVersionID>",
        1,
    );
    assert_ne!(swapped, xml);
    assert!(rules(&swapped).contains(&"XSD-XHE"));
    assert_eq!(
        rules(&replaced("2026-12-02T10:00:00.123Z", "yesterday")),
        ["XSD-XHE"]
    );
    assert_eq!(
        rules(&replaced(
            "<xhb:InstanceEncryptionIndicator>false",
            "<xhb:InstanceEncryptionIndicator>no"
        )),
        ["XSD-XHE"]
    );
    let unknown = replaced(
        "<xha:Payloads>",
        "<xhb:Colour>red</xhb:Colour><xha:Payloads>",
    );
    assert_eq!(rules(&unknown), ["XSD-XHE"]);
    let wrong_root =
        "<x:Other xmlns:x=\"http://docs.oasis-open.org/bdxr/ns/XHE/1/ExchangeHeaderEnvelope\"/>";
    assert_eq!(rules(wrong_root), ["XSD-XHE"]);
}

#[test]
fn gateway_rules_catch_what_the_schematron_misses() {
    assert_eq!(
        rules(&replaced(
            "<xhb:ID>3a94b4ed-a6d7-41e2-945d-b3fa91e8a6e9",
            "<xhb:ID>not-a-uuid"
        )),
        ["GW-XHE-1"]
    );
    assert_eq!(
        rules(&replaced(
            "2026-12-02T10:00:00.123Z",
            "2026-12-02T10:00:00.123"
        )),
        ["GW-XHE-2"]
    );
    assert_eq!(
        rules(&replaced(
            "urn:fdc:digg.se:edelivery:federation:test",
            "urn:fdc:digg.se:edelivery:federation:other"
        )),
        ["GW-XHE-4"]
    );
    assert_eq!(
        rules(&replaced("bdx:noprocess", "urn:abc:example")),
        ["GW-XHE-4"]
    );
    assert_eq!(
        rules(&replaced(
            "messagePayload##3.0::tm-base",
            "messagePayload##9.9::tm-base"
        )),
        ["GW-XHE-4"]
    );
    assert_eq!(
        rules(&replaced("0203:orgb.test", "0088:1234")),
        ["GW-XHE-7"]
    );
    assert_eq!(rules(&replaced(">mailbox-1<", ">mail box<")), ["GW-XHE-8"]);
}

#[test]
fn federation_must_be_that_of_the_environment() {
    let xml = base_xml();
    assert!(check_with(&xml, Some(Environment::OpenTest)).is_conformant());
    let prod = check_with(&xml, Some(Environment::Prod));
    // Wrong federation, and tm-base is not used in production.
    assert_eq!(prod.report.rule_ids(), ["GW-XHE-5", "GW-XHE-6"]);
    assert_eq!(prod.transport_issue, Some(TransportIssue::NotAllowedHere));
}

#[test]
fn sigenc_without_signature_or_encryption_is_a_signature_rejection() {
    let mut h = header(TransportModel::ExtSigenc);
    h.payload.encrypted = false;
    let xml = h.to_xml(PayloadXml::Element(PAYLOAD)).unwrap();
    let checked = check_with(&xml, None);
    assert_eq!(checked.report.rule_ids(), ["GW-XHE-6"]);
    assert_eq!(
        checked.transport_issue,
        Some(TransportIssue::MissingSignature)
    );
    assert!(checked.only_transport_issue());
    assert!(checked.transport_issue.unwrap().is_signature_rejection());
    let signed_base = base_xml().replacen(
        "</x:XHE>",
        "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo/></ds:Signature></x:XHE>",
        1,
    );
    let checked = check_with(&signed_base, None);
    assert_eq!(
        checked.transport_issue,
        Some(TransportIssue::ProtectedUnderBase)
    );
    assert!(!checked.transport_issue.unwrap().is_signature_rejection());
}

#[test]
fn digg_examples_pass_the_digg_rules() {
    let Some(shared) = support::shared_dir() else {
        return;
    };
    let f1 = std::fs::read(support::reference(&shared, "xhe/examples/XHE-tm-base.xml")).unwrap();
    let checked = check_with(
        std::str::from_utf8(&f1).unwrap(),
        Some(Environment::OpenTest),
    );
    assert!(checked.is_conformant(), "{}", checked.report);
    let h = checked.header.unwrap();
    assert_eq!(h.from.value(), "0203:myndigheta.org");
    assert_eq!(h.transport_model, TransportModel::Base);
    assert_eq!(h.payload.handling_service.unwrap().as_str(), "ABC");
    // F2 uses a document id and process id outside the code lists: only our own code-list
    // rule (GW-XHE-4) objects, never a DIGG rule.
    let f2 = std::fs::read(support::reference(
        &shared,
        "xhe/examples/XHE-NonXML-tm-base.xml",
    ))
    .unwrap();
    let checked = check_with(std::str::from_utf8(&f2).unwrap(), None);
    assert!(
        checked.report.findings().iter().all(|f| !f.rule.is_digg()),
        "{}",
        checked.report
    );
    assert_eq!(checked.report.rule_ids(), ["GW-XHE-4"]);
    assert_eq!(checked.report.len(), 2, "{}", checked.report);
}

#[test]
fn written_envelope_passes_digg_xsd_and_schematron() {
    let Some(shared) = support::shared_dir() else {
        return;
    };
    let dir = support::scratch("xhe-writer");
    let path = dir.join("base.xml");
    std::fs::write(&path, base_xml()).unwrap();
    let p = path.to_str().unwrap();
    support::tool_passes(&shared, &["xsd.py", "xhe", p]);
    support::tool_passes(&shared, &["schematron.py", "xhe", p]);
}
