//! Meddelandekvittens model and profile check (digest §6.3 R-P1..R-P3, R-N1..R-N4): DIGG's
//! five examples, receipts we write (checked by DIGG's XSD and schematron through the shared
//! tools), and mutations for every rule.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sdkgw_envelope::receipt::{self, LineResponse, Receipt, ReceiptContext};
use sdkgw_schemas::codelists::{DetailCode, ReasonCode, ResponseCode};
use sdkgw_xml_security::xml::{Document, ParseOptions};
use time::macros::datetime;

const XHE_ID: &str = "3a94b4ed-a6d7-41e2-945d-b3fa91e8a6e9";

fn accepted() -> Receipt {
    Receipt::new(
        "0203:orgb.test".parse().unwrap(),
        "0203:orga.test".parse().unwrap(),
        XHE_ID,
        vec![],
        datetime!(2026-12-02 10:00:00 +01:00),
    )
}

fn rejected(n: usize) -> Receipt {
    let lines = (0..n)
        .map(|i| {
            LineResponse::new(
                format!("/tns:messagePayload/tns:message/tns:messageHeader/tns:x[{i}]"),
                ReasonCode::Sv,
                DetailCode::Structure,
                format!("XSD-MSG: error {i}"),
            )
        })
        .collect();
    Receipt::new(
        "0203:orgb.test".parse().unwrap(),
        "0203:orga.test".parse().unwrap(),
        XHE_ID,
        lines,
        datetime!(2026-12-02 10:00:00 UTC),
    )
}

fn check(xml: &str) -> receipt::ReceiptCheck {
    let doc = Document::parse_slice(xml.as_bytes(), &ParseOptions::default()).unwrap();
    receipt::check(
        doc.root(),
        &ReceiptContext {
            answers: Some(XHE_ID),
        },
    )
}

fn rules(xml: &str) -> Vec<&'static str> {
    check(xml).report.rule_ids()
}

#[test]
fn accepted_receipt_has_the_profile_values_and_reads_back() {
    let r = accepted();
    assert_eq!(r.response, ResponseCode::Accepted);
    assert_eq!(r.issue_date, "2026-12-02");
    assert_eq!(r.issue_time, "09:00:00Z");
    let xml = r.to_xml().unwrap();
    assert!(!xml.contains("UBLVersionID") && !xml.contains("LineResponse"));
    let checked = check(&xml);
    assert!(checked.report.is_empty(), "{}", checked.report);
    assert_eq!(checked.receipt.unwrap(), r);
}

#[test]
fn rejected_receipt_has_one_line_per_finding() {
    let r = rejected(3);
    assert_eq!(r.response, ResponseCode::Rejected);
    let checked = check(&r.to_xml().unwrap());
    assert!(checked.report.is_empty(), "{}", checked.report);
    let read = checked.receipt.unwrap();
    assert_eq!(read.lines.len(), 3);
    assert!(
        read.lines
            .iter()
            .all(|l| l.reason == ReasonCode::Sv && l.detail() == Some(DetailCode::Structure))
    );
}

fn replaced(r: &Receipt, from: &str, to: &str) -> String {
    let xml = r.to_xml().unwrap();
    assert!(xml.contains(from), "{from} not in {xml}");
    xml.replacen(from, to, 1)
}

#[test]
fn response_and_line_codes() {
    let line = "<cac:LineResponse><cac:LineReference><cbc:LineID>NA</cbc:LineID></cac:LineReference><cac:Response><cbc:ResponseCode>BV</cbc:ResponseCode><cac:Status><cbc:StatusReason>x</cbc:StatusReason></cac:Status></cac:Response></cac:LineResponse>";
    let with_line = replaced(
        &accepted(),
        "</cac:DocumentResponse>",
        &format!("{line}</cac:DocumentResponse>"),
    );
    assert_eq!(rules(&with_line), ["R7-APP"]);
    let rejected_without_lines = replaced(&accepted(), ">ACCEPTED<", ">REJECTED<");
    assert_eq!(rules(&rejected_without_lines), ["R8-APP"]);
    assert_eq!(
        rules(&replaced(&accepted(), ">ACCEPTED<", ">OK<")),
        ["R5-APP"]
    );
    assert_eq!(rules(&replaced(&rejected(1), ">SV<", ">XV<")), ["R6-APP"]);
    assert_eq!(
        rules(&replaced(&accepted(), "response:1<", "response:2<")),
        ["R3-APP"]
    );
    assert_eq!(
        rules(&replaced(&accepted(), ">bdx:noprocess<", ">other<")),
        ["R4-APP"]
    );
}

#[test]
fn forbidden_and_empty_elements() {
    let ubl = replaced(
        &accepted(),
        "<cbc:CustomizationID>",
        "<cbc:UBLVersionID>2.1</cbc:UBLVersionID><cbc:CustomizationID>",
    );
    assert_eq!(rules(&ubl), ["R1-APP", "XSD-APP"]);
    let note = replaced(
        &accepted(),
        "<cac:SenderParty>",
        "<cbc:Note>n</cbc:Note><cac:SenderParty>",
    );
    assert_eq!(rules(&note), ["R1-APP", "XSD-APP"]);
    let empty = replaced(&rejected(1), ">XSD-MSG: error 0<", "> <");
    assert_eq!(rules(&empty), ["R2-APP"]);
    let list_id = replaced(
        &accepted(),
        "<cbc:ResponseCode>",
        "<cbc:ResponseCode listID=\"x\">",
    );
    assert_eq!(rules(&list_id), ["R1-APP", "XSD-APP"]);
}

#[test]
fn cardinalities_and_gateway_rules() {
    let no_scheme = replaced(&accepted(), " schemeID=\"iso6523-actorid-upis\"", "");
    assert_eq!(rules(&no_scheme), ["R9-APP"]);
    let gln = replaced(
        &accepted(),
        "schemeID=\"iso6523-actorid-upis\"",
        "schemeID=\"0088\"",
    );
    assert_eq!(rules(&gln), ["GW-APP-1"]);
    let xml = rejected(1).to_xml().unwrap();
    let (a, b) = (
        xml.find("<cac:Status>").unwrap(),
        xml.find("</cac:Status>").unwrap() + 13,
    );
    let no_status = format!("{}{}", &xml[..a], &xml[b..]);
    assert_eq!(rules(&no_status), ["R9-APP"]);
    assert_eq!(
        rules(&replaced(&accepted(), ">09:00:00Z<", ">12:00:00<")),
        ["GW-APP-2"]
    );
    assert_eq!(
        rules(&replaced(
            &accepted(),
            ">09:00:00Z<",
            ">2021-03-24T17:22:10+01:00<"
        )),
        ["XSD-APP"]
    );
    assert_eq!(
        rules(&replaced(
            &rejected(1),
            "<cbc:LineID>/tns",
            "<cbc:LineID>tns"
        )),
        ["GW-APP-3"]
    );
    assert_eq!(
        rules(&replaced(&accepted(), XHE_ID, "KVT-99")),
        ["GW-APP-4"]
    );
    let two_references = replaced(
        &accepted(),
        "</cac:DocumentReference>",
        "</cac:DocumentReference><cac:DocumentReference><cbc:ID>x</cbc:ID></cac:DocumentReference>",
    );
    assert_eq!(rules(&two_references), ["R9-APP", "XSD-APP"]);
}

#[test]
fn digg_receipt_examples_pass() {
    let Some(shared) = support::shared_dir() else {
        return;
    };
    let dir = support::reference(&shared, "receipt/examples");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert_eq!(names.len(), 5);
    for path in names {
        let doc = Document::parse(std::fs::read(&path).unwrap(), &ParseOptions::default()).unwrap();
        let checked = receipt::check(doc.root(), &ReceiptContext::default());
        assert!(
            checked.report.is_empty(),
            "{}: {}",
            path.display(),
            checked.report
        );
        let r = checked.receipt.unwrap();
        assert_eq!(r.sender.value(), "0203:myndigheta.org");
        assert_eq!(r.response == ResponseCode::Accepted, r.lines.is_empty());
    }
}

#[test]
fn written_receipts_pass_digg_xsd_and_schematron() {
    let Some(shared) = support::shared_dir() else {
        return;
    };
    let dir = support::scratch("receipt-writer");
    let mut paths = Vec::new();
    for (name, r) in [("accepted", accepted()), ("rejected", rejected(2))] {
        let p = dir.join(format!("{name}.xml"));
        std::fs::write(
            &p,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}\n",
                r.to_xml().unwrap()
            ),
        )
        .unwrap();
        paths.push(p.to_str().unwrap().to_owned());
    }
    let mut args = vec!["xsd.py", "receipt"];
    args.extend(paths.iter().map(String::as_str));
    support::tool_passes(&shared, &args);
    args[0] = "schematron.py";
    support::tool_passes(&shared, &args);
}
