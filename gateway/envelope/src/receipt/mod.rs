//! The Meddelandekvittens (C3.2.4): a UBL 2.1 ApplicationResponse in DIGG's profile. The
//! typed model, the profile check ([`check`]: the reduced XSD natively, R1–R9, GW-APP-1..4)
//! and the writer ([`Receipt::to_xml`]).

use sdkgw_schemas::codelists::{DetailCode, ReasonCode, ResponseCode};
use sdkgw_schemas::{ParticipantId, ReceiptRule, codelists};
use sdkgw_xml_security::xml::{ElementRef, is_xml_space};
use serde::Serialize;
use time::{OffsetDateTime, UtcOffset};

use crate::datatypes::{collapse, is_date, parse_time};
use crate::finding::{Report, excerpt};
use crate::ns::{AR, CAC, CBC, DS, XENC};
use crate::path::{attribute_xpath, child_xpath, xpath};
use crate::structure::{Sequence, check_sequence, check_simple, many, one, optional};
use crate::xml_out::{InvalidCharacter, XmlOut};

/// A Meddelandekvittens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// `cbc:ID`: the receipt's own id (we write a UUID).
    pub id: String,
    /// `cbc:IssueDate` (`xs:date`), as written.
    pub issue_date: String,
    /// `cbc:IssueTime` (`xs:time` with a time zone), as written.
    pub issue_time: String,
    /// `SenderParty/EndpointID`: the participant issuing the receipt (original ToParty).
    pub sender: ParticipantId,
    /// `ReceiverParty/EndpointID`: the original sender (original FromParty).
    pub receiver: ParticipantId,
    /// `DocumentResponse/Response/ResponseCode`.
    #[serde(serialize_with = "as_code")]
    pub response: ResponseCode,
    /// `DocumentResponse/DocumentReference/ID`: the answered XHE's `Header/ID`.
    pub document_reference: String,
    /// `LineResponse`s: none when ACCEPTED, at least one when REJECTED.
    pub lines: Vec<LineResponse>,
}

/// One `LineResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineResponse {
    /// `LineReference/LineID`: XPath of the offending node, or `NA`.
    pub line_id: String,
    /// `Response/ResponseCode`: SV, BV or SIG.
    #[serde(serialize_with = "as_code")]
    pub reason: ReasonCode,
    /// `Status/StatusReasonCode`: a B1.3.3 detail word in our receipts (others may write
    /// rule ids such as `RegelID-123`).
    pub status_reason_code: Option<String>,
    /// `Status/StatusReason`.
    pub status_reason: String,
}

fn as_code<S: serde::Serializer, T: std::fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl LineResponse {
    /// A line with a detail word.
    pub fn new(
        line_id: impl Into<String>,
        reason: ReasonCode,
        detail: DetailCode,
        text: impl Into<String>,
    ) -> Self {
        LineResponse {
            line_id: line_id.into(),
            reason,
            status_reason_code: Some(detail.code().to_owned()),
            status_reason: text.into(),
        }
    }

    /// The detail word, when it is one of B1.3.3's.
    pub fn detail(&self) -> Option<DetailCode> {
        self.status_reason_code.as_deref()?.parse().ok()
    }
}

impl Receipt {
    /// A receipt with a fresh UUID, issued at `at` (written in UTC).
    pub fn new(
        sender: ParticipantId,
        receiver: ParticipantId,
        document_reference: impl Into<String>,
        lines: Vec<LineResponse>,
        at: OffsetDateTime,
    ) -> Receipt {
        let utc = at.to_offset(UtcOffset::UTC);
        let response = if lines.is_empty() {
            ResponseCode::Accepted
        } else {
            ResponseCode::Rejected
        };
        Receipt {
            id: uuid::Uuid::new_v4().hyphenated().to_string(),
            issue_date: format!(
                "{:04}-{:02}-{:02}",
                utc.year(),
                u8::from(utc.month()),
                utc.day()
            ),
            issue_time: format!("{:02}:{:02}:{:02}Z", utc.hour(), utc.minute(), utc.second()),
            sender,
            receiver,
            response,
            document_reference: document_reference.into(),
            lines,
        }
    }

    /// The receipt as a standalone `ApplicationResponse` element (no XML declaration).
    pub fn to_xml(&self) -> Result<String, InvalidCharacter> {
        let codes = codelists().receipt();
        let mut out = XmlOut::fragment(0);
        out.start(
            "ApplicationResponse",
            &[("xmlns", AR), ("xmlns:cac", CAC), ("xmlns:cbc", CBC)],
        )?;
        out.leaf("cbc:CustomizationID", &[], &codes.customization_id)?;
        out.leaf("cbc:ProfileID", &[], &codes.profile_id)?;
        out.leaf("cbc:ID", &[], &self.id)?;
        out.leaf("cbc:IssueDate", &[], &self.issue_date)?;
        out.leaf("cbc:IssueTime", &[], &self.issue_time)?;
        for (party, id) in [
            ("cac:SenderParty", &self.sender),
            ("cac:ReceiverParty", &self.receiver),
        ] {
            out.start(party, &[])?;
            out.leaf("cbc:EndpointID", &[("schemeID", id.scheme())], id.value())?;
            out.end(party);
        }
        out.start("cac:DocumentResponse", &[])?;
        out.start("cac:Response", &[])?;
        out.leaf("cbc:ResponseCode", &[], self.response.code())?;
        out.end("cac:Response");
        out.start("cac:DocumentReference", &[])?;
        out.leaf("cbc:ID", &[], &self.document_reference)?;
        out.end("cac:DocumentReference");
        for line in &self.lines {
            out.start("cac:LineResponse", &[])?;
            out.start("cac:LineReference", &[])?;
            out.leaf("cbc:LineID", &[], &line.line_id)?;
            out.end("cac:LineReference");
            out.start("cac:Response", &[])?;
            out.leaf("cbc:ResponseCode", &[], line.reason.code())?;
            out.start("cac:Status", &[])?;
            out.optional_leaf("cbc:StatusReasonCode", line.status_reason_code.as_deref())?;
            out.leaf("cbc:StatusReason", &[], &line.status_reason)?;
            out.end("cac:Status");
            out.end("cac:Response");
            out.end("cac:LineResponse");
        }
        out.end("cac:DocumentResponse");
        out.end("ApplicationResponse");
        Ok(out.into_fragment())
    }
}

const ROOT_SEQ: Sequence = Sequence {
    particles: &[
        one(CBC, "CustomizationID"),
        one(CBC, "ProfileID"),
        one(CBC, "ID"),
        one(CBC, "IssueDate"),
        one(CBC, "IssueTime"),
        one(CAC, "SenderParty"),
        one(CAC, "ReceiverParty"),
        one(CAC, "DocumentResponse"),
    ],
    any_other: None,
};
const PARTY_SEQ: Sequence = Sequence {
    particles: &[one(CBC, "EndpointID")],
    any_other: None,
};
const DOC_RESPONSE_SEQ: Sequence = Sequence {
    particles: &[
        one(CAC, "Response"),
        one(CAC, "DocumentReference"),
        many(CAC, "LineResponse", 0),
    ],
    any_other: None,
};
const RESPONSE_SEQ: Sequence = Sequence {
    particles: &[one(CBC, "ResponseCode"), optional(CAC, "Status")],
    any_other: None,
};
const REFERENCE_SEQ: Sequence = Sequence {
    particles: &[one(CBC, "ID")],
    any_other: None,
};
const LINE_SEQ: Sequence = Sequence {
    particles: &[one(CAC, "LineReference"), one(CAC, "Response")],
    any_other: None,
};
const LINE_REF_SEQ: Sequence = Sequence {
    particles: &[one(CBC, "LineID")],
    any_other: None,
};
const STATUS_SEQ: Sequence = Sequence {
    particles: &[optional(CBC, "StatusReasonCode"), one(CBC, "StatusReason")],
    any_other: None,
};

/// Elements of the profile (R1-APP allows nothing else).
const PROFILE_ELEMENTS: &[(&str, &str)] = &[
    (AR, "ApplicationResponse"),
    (CBC, "CustomizationID"),
    (CBC, "ProfileID"),
    (CBC, "ID"),
    (CBC, "IssueDate"),
    (CBC, "IssueTime"),
    (CAC, "SenderParty"),
    (CAC, "ReceiverParty"),
    (CBC, "EndpointID"),
    (CAC, "DocumentResponse"),
    (CAC, "Response"),
    (CBC, "ResponseCode"),
    (CAC, "Status"),
    (CBC, "StatusReasonCode"),
    (CBC, "StatusReason"),
    (CAC, "DocumentReference"),
    (CAC, "LineResponse"),
    (CAC, "LineReference"),
    (CBC, "LineID"),
];

/// Identifier-typed elements: the reduced XSD gives them an optional `schemeID`.
const IDENTIFIER_ELEMENTS: &[&str] =
    &["CustomizationID", "ProfileID", "ID", "EndpointID", "LineID"];

/// What checking a receipt knows.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReceiptContext<'a> {
    /// The `Header/ID` of the XHE being answered (GW-APP-4), when known.
    pub answers: Option<&'a str>,
}

/// The result of checking a receipt.
#[derive(Debug, Clone)]
pub struct ReceiptCheck {
    /// Every finding.
    pub report: Report,
    /// The typed receipt, when the receipt is conformant.
    pub receipt: Option<Receipt>,
}

/// Checks an `ApplicationResponse` element against DIGG's receipt profile.
pub fn check(root: ElementRef<'_>, ctx: &ReceiptContext<'_>) -> ReceiptCheck {
    let mut report = Report::default();
    if !root.is(Some(AR), "ApplicationResponse") {
        report.add(
            ReceiptRule::Xsd,
            xpath(root),
            &format!(
                "the root element is {}, expected ApplicationResponse",
                root.qname()
            ),
        );
        return ReceiptCheck {
            report,
            receipt: None,
        };
    }
    let found = walk(root, &mut report);
    check_profile_shape(root, &mut report);
    check_rules(root, &found, ctx, &mut report);
    let receipt = if report.is_conformant() {
        typed(&found)
    } else {
        None
    };
    ReceiptCheck { report, receipt }
}

/// Elements the walk found.
#[derive(Default)]
struct Found<'a> {
    customization: Option<ElementRef<'a>>,
    profile: Option<ElementRef<'a>>,
    id: Option<ElementRef<'a>>,
    issue_date: Option<ElementRef<'a>>,
    issue_time: Option<ElementRef<'a>>,
    endpoints: [Option<ElementRef<'a>>; 2],
    response_code: Option<ElementRef<'a>>,
    reference: Option<ElementRef<'a>>,
    lines: Vec<FoundLine<'a>>,
}

struct FoundLine<'a> {
    line_id: Option<ElementRef<'a>>,
    code: Option<ElementRef<'a>>,
    reason_code: Option<ElementRef<'a>>,
    reason: Option<ElementRef<'a>>,
}

fn sequence<'a>(
    e: ElementRef<'a>,
    seq: &Sequence,
    report: &mut Report,
) -> crate::structure::Matched<'a> {
    let m = check_sequence(e, seq);
    for (path, what) in &m.errors {
        report.add(ReceiptRule::Xsd, path.clone(), what);
    }
    m
}

fn leaf<'a>(e: Option<ElementRef<'a>>, report: &mut Report) -> Option<ElementRef<'a>> {
    if let Some((path, what)) = e.and_then(check_simple) {
        report.add(ReceiptRule::Xsd, path, &what);
    }
    e
}

fn walk<'a>(root: ElementRef<'a>, report: &mut Report) -> Found<'a> {
    let mut f = Found::default();
    let m = sequence(root, &ROOT_SEQ, report);
    f.customization = leaf(m.first(0), report);
    f.profile = leaf(m.first(1), report);
    f.id = leaf(m.first(2), report);
    f.issue_date = leaf(m.first(3), report);
    f.issue_time = leaf(m.first(4), report);
    for (i, slot) in [5, 6].into_iter().enumerate() {
        if let Some(party) = m.first(slot) {
            let pm = sequence(party, &PARTY_SEQ, report);
            f.endpoints[i] = leaf(pm.first(0), report);
        }
    }
    if let Some(dr) = m.first(7) {
        let dm = sequence(dr, &DOC_RESPONSE_SEQ, report);
        if let Some(resp) = dm.first(0) {
            let rm = sequence(resp, &RESPONSE_SEQ, report);
            f.response_code = leaf(rm.first(0), report);
            if let Some(status) = rm.first(1) {
                sequence(status, &STATUS_SEQ, report);
            }
        }
        if let Some(reference) = dm.first(1) {
            f.reference = leaf(sequence(reference, &REFERENCE_SEQ, report).first(0), report);
        }
        for line in dm.slot(2) {
            f.lines.push(walk_line(*line, report));
        }
    }
    if let Some(d) = f.issue_date
        && !is_date(&d.text())
    {
        report.add(
            ReceiptRule::Xsd,
            xpath(d),
            &format!("{} is not an xs:date", excerpt(&d.text())),
        );
    }
    if let Some(t) = f.issue_time
        && parse_time(&t.text()).is_none()
    {
        report.add(
            ReceiptRule::Xsd,
            xpath(t),
            &format!("{} is not an xs:time", excerpt(&t.text())),
        );
    }
    f
}

fn walk_line<'a>(line: ElementRef<'a>, report: &mut Report) -> FoundLine<'a> {
    let lm = sequence(line, &LINE_SEQ, report);
    let mut found = FoundLine {
        line_id: None,
        code: None,
        reason_code: None,
        reason: None,
    };
    if let Some(lr) = lm.first(0) {
        found.line_id = leaf(sequence(lr, &LINE_REF_SEQ, report).first(0), report);
    }
    if let Some(resp) = lm.first(1) {
        let rm = sequence(resp, &RESPONSE_SEQ, report);
        found.code = leaf(rm.first(0), report);
        if let Some(status) = rm.first(1) {
            let sm = sequence(status, &STATUS_SEQ, report);
            found.reason_code = leaf(sm.first(0), report);
            found.reason = leaf(sm.first(1), report);
        }
    }
    found
}

/// R1 (elements and attributes outside the profile) and R2 (empty elements and attributes).
fn check_profile_shape(root: ElementRef<'_>, report: &mut Report) {
    for e in root.descendants() {
        if matches!(e.namespace(), Some(DS | XENC)) {
            continue;
        }
        let known = PROFILE_ELEMENTS
            .iter()
            .any(|(ns, local)| e.is(Some(ns), local));
        if !known {
            report.add(
                ReceiptRule::R1,
                xpath(e),
                &format!("element {} is not part of the profile", e.qname()),
            );
        }
        let is_endpoint = e.is(Some(CBC), "EndpointID");
        let identifier =
            e.namespace() == Some(CBC) && IDENTIFIER_ELEMENTS.contains(&e.local_name());
        for a in e.attributes() {
            let path = attribute_xpath(e, a.qname());
            let scheme = a.namespace().is_none() && a.local_name() == "schemeID";
            if !(scheme && identifier) {
                report.add(
                    ReceiptRule::Xsd,
                    path.clone(),
                    &format!("attribute {} is not allowed", a.qname()),
                );
            }
            if !(scheme && is_endpoint) {
                report.add(
                    ReceiptRule::R1,
                    path.clone(),
                    &format!("attribute {} is not part of the profile", a.qname()),
                );
            }
            if a.value().trim_matches(is_xml_space).is_empty() {
                report.add(
                    ReceiptRule::R2,
                    path,
                    &format!("attribute {} is empty", a.qname()),
                );
            }
        }
        if e.child_elements().next().is_none() && e.text().trim_matches(is_xml_space).is_empty() {
            report.add(
                ReceiptRule::R2,
                xpath(e),
                &format!("element {} is empty", e.qname()),
            );
        }
    }
}

fn value(e: Option<ElementRef<'_>>) -> Option<String> {
    e.map(|e| collapse(&e.text()).to_owned())
}

fn check_rules(root: ElementRef<'_>, f: &Found<'_>, ctx: &ReceiptContext<'_>, report: &mut Report) {
    let codes = codelists().receipt();
    let customization = value(root.child(Some(CBC), "CustomizationID"));
    if customization.as_deref() != Some(&codes.customization_id) {
        report.add(
            ReceiptRule::R3,
            child_xpath(root, CBC, "CustomizationID"),
            &found_text(customization.as_deref()),
        );
    }
    let profile = value(root.child(Some(CBC), "ProfileID"));
    if profile.as_deref() != Some(&codes.profile_id) {
        report.add(
            ReceiptRule::R4,
            child_xpath(root, CBC, "ProfileID"),
            &found_text(profile.as_deref()),
        );
    }
    let response = value(f.response_code);
    if let Some(code) = f.response_code
        && response
            .as_deref()
            .and_then(|r| r.parse::<ResponseCode>().ok())
            .is_none()
    {
        report.add(
            ReceiptRule::R5,
            xpath(code),
            &found_text(response.as_deref()),
        );
    }
    for line in &f.lines {
        if let Some(code) = line.code {
            let v = value(Some(code));
            if v.as_deref()
                .and_then(|r| r.parse::<ReasonCode>().ok())
                .is_none()
            {
                report.add(ReceiptRule::R6, xpath(code), &found_text(v.as_deref()));
            }
        }
    }
    let line_count = root
        .descendants()
        .filter(|e| e.is(Some(CAC), "LineResponse"))
        .count();
    let doc_response = root.child(Some(CAC), "DocumentResponse");
    let doc_response_path = doc_response.map_or_else(|| xpath(root), xpath);
    match response
        .as_deref()
        .and_then(|r| r.parse::<ResponseCode>().ok())
    {
        Some(ResponseCode::Accepted) if line_count > 0 => {
            report.add(
                ReceiptRule::R7,
                doc_response_path,
                &format!("{line_count} LineResponse elements"),
            );
        }
        Some(ResponseCode::Rejected) if line_count == 0 => {
            report.add(ReceiptRule::R8, doc_response_path, "no LineResponse");
        }
        _ => {}
    }
    check_cardinalities(root, report);
    check_gateway_rules(f, ctx, report);
}

fn found_text(v: Option<&str>) -> String {
    match v {
        Some(v) => format!("found {}", excerpt(v)),
        None => "missing".to_owned(),
    }
}

/// R9-APP as DIGG's schematron words it.
fn check_cardinalities(root: ElementRef<'_>, report: &mut Report) {
    fn need(report: &mut Report, e: ElementRef<'_>, ns: &str, local: &str, exactly_one: bool) {
        let n = e.children_named(Some(ns), local).count();
        if (exactly_one && n != 1) || n == 0 {
            report.add(
                ReceiptRule::R9,
                child_xpath(e, ns, local),
                &format!("{n} present"),
            );
        }
    }
    need(report, root, CBC, "CustomizationID", false);
    need(report, root, CBC, "ProfileID", false);
    need(report, root, CBC, "IssueTime", false);
    need(report, root, CAC, "DocumentResponse", true);
    for party in ["SenderParty", "ReceiverParty"] {
        for p in root.children_named(Some(CAC), party) {
            need(report, p, CBC, "EndpointID", true);
            if let Some(ep) = p.child(Some(CBC), "EndpointID")
                && ep.attribute(None, "schemeID").is_none()
            {
                report.add(ReceiptRule::R9, xpath(ep), "no @schemeID");
            }
        }
    }
    for dr in root.children_named(Some(CAC), "DocumentResponse") {
        need(report, dr, CAC, "DocumentReference", true);
        for r in dr.children_named(Some(CAC), "Response") {
            need(report, r, CBC, "ResponseCode", true);
        }
        for line in dr.children_named(Some(CAC), "LineResponse") {
            need(report, line, CAC, "Response", true);
            for r in line.children_named(Some(CAC), "Response") {
                need(report, r, CBC, "ResponseCode", true);
                need(report, r, CAC, "Status", true);
                for s in r.children_named(Some(CAC), "Status") {
                    need(report, s, CBC, "StatusReason", true);
                }
            }
        }
    }
}

fn check_gateway_rules(f: &Found<'_>, ctx: &ReceiptContext<'_>, report: &mut Report) {
    for ep in f.endpoints.iter().flatten() {
        let scheme = ep.attribute(None, "schemeID").map(collapse);
        if scheme.is_some_and(|s| s != ParticipantId::SCHEME) {
            report.add(
                ReceiptRule::EndpointIdScheme,
                attribute_xpath(*ep, "schemeID"),
                &found_text(scheme),
            );
        }
        let v = collapse(&ep.text()).to_owned();
        if !v.is_empty()
            && let Err(e) = ParticipantId::parse(&v)
        {
            report.add(ReceiptRule::EndpointIdScheme, xpath(*ep), &e.to_string());
        }
    }
    if let Some(t) = f.issue_time
        && parse_time(&t.text()) == Some(false)
    {
        report.add(ReceiptRule::IssueTimeZone, xpath(t), "no time zone");
    }
    for line in &f.lines {
        if let Some(id) = line.line_id {
            let v = collapse(&id.text()).to_owned();
            if !v.is_empty() && v != "NA" && !v.starts_with('/') {
                report.add(
                    ReceiptRule::LineIdXpathOrNa,
                    xpath(id),
                    &format!("found {}", excerpt(&v)),
                );
            }
        }
    }
    if let (Some(expected), Some(reference)) = (ctx.answers, f.reference) {
        let v = collapse(&reference.text()).to_owned();
        if v != expected {
            report.add(
                ReceiptRule::DocumentReferenceIsXheId,
                xpath(reference),
                &format!(
                    "found {}, the envelope's Header/ID is {}",
                    excerpt(&v),
                    excerpt(expected)
                ),
            );
        }
    }
}

fn typed(f: &Found<'_>) -> Option<Receipt> {
    let lines = f
        .lines
        .iter()
        .map(|l| {
            Some(LineResponse {
                line_id: value(l.line_id)?,
                reason: value(l.code)?.parse().ok()?,
                status_reason_code: value(l.reason_code),
                status_reason: l.reason?.text(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Receipt {
        id: value(f.id)?,
        issue_date: value(f.issue_date)?,
        issue_time: value(f.issue_time)?,
        sender: ParticipantId::parse(&value(f.endpoints[0])?).ok()?,
        receiver: ParticipantId::parse(&value(f.endpoints[1])?).ok()?,
        response: value(f.response_code)?.parse().ok()?,
        document_reference: value(f.reference)?,
        lines,
    })
}
