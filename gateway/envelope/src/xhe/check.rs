//! The XHE profile check: the XSD structure (natively), DIGG's R1–R14 (R11 on ToParty) and
//! the gateway's GW-XHE rules, in one walk over the tree. It never descends into
//! `PayloadContent` (the payload is checked by its own validator) and does not check the
//! inside of `ds:Signature` (signature verification does).

use sdkgw_schemas::codelists::{MessageType, ScopeCriterion};
use sdkgw_schemas::{
    DocumentId, Environment, FederationId, FunctionAddress, ParticipantId, ProcessId,
    TransportModel, XheRule, codelists,
};
use sdkgw_xml_security::xml::{Document, ElementRef, is_xml_space};

use crate::datatypes::{collapse, is_uuid, parse_boolean, parse_datetime};
use crate::finding::{Report, excerpt};
use crate::ns::{DS, EXT, XENC, XHA, XHB, XHE, XSI};
use crate::path::{attribute_xpath, child_xpath, xpath};
use crate::structure::{
    Sequence, check_mixed_sequence, check_sequence, check_simple, many, one, optional,
};

const XHE_SEQ: Sequence = Sequence {
    particles: &[
        optional(EXT, "XHEExtensions"),
        one(XHB, "XHEVersionID"),
        optional(XHB, "CustomizationID"),
        optional(XHB, "ProfileID"),
        optional(XHB, "ProfileExecutionID"),
        one(XHA, "Header"),
        optional(XHA, "Payloads"),
        many(DS, "Signature", 0),
    ],
    any_other: None,
};
const HEADER_SEQ: Sequence = Sequence {
    particles: &[
        one(XHB, "ID"),
        optional(XHB, "UUID"),
        one(XHB, "CreationDateTime"),
        optional(XHA, "BusinessScope"),
        optional(XHA, "FromParty"),
        many(XHA, "ToParty", 1),
    ],
    any_other: None,
};
const SCOPE_SEQ: Sequence = Sequence {
    particles: &[
        many(XHA, "BusinessScopeCriterion", 0),
        many(XHA, "ExternalReference", 0),
    ],
    any_other: None,
};
const CRITERION_SEQ: Sequence = Sequence {
    particles: &[
        one(XHB, "BusinessScopeCriterionTypeCode"),
        one(XHB, "BusinessScopeCriterionValue"),
    ],
    any_other: None,
};
const PARTY_SEQ: Sequence = Sequence {
    particles: &[many(XHA, "PartyIdentification", 1)],
    any_other: None,
};
const PARTY_ID_SEQ: Sequence = Sequence {
    particles: &[one(XHB, "ID")],
    any_other: None,
};
const PAYLOADS_SEQ: Sequence = Sequence {
    particles: &[many(XHA, "Payload", 1)],
    any_other: None,
};
/// Indexes into `PAYLOAD_SEQ` of the elements the profile uses.
const P_DOCUMENT_TYPE: usize = 2;
const P_CONTENT_TYPE: usize = 3;
const P_HANDLING: usize = 7;
const P_INDICATOR: usize = 10;
const P_CONTENT: usize = 17;
const PAYLOAD_SEQ: Sequence = Sequence {
    particles: &[
        optional(XHB, "ID"),
        many(XHB, "Description", 0),
        optional(XHB, "DocumentTypeCode"),
        optional(XHB, "ContentTypeCode"),
        optional(XHB, "CustomizationID"),
        optional(XHB, "ProfileID"),
        optional(XHB, "ProfileExecutionID"),
        optional(XHB, "HandlingServiceID"),
        optional(XHB, "ValidationTypeCode"),
        optional(XHB, "ValidationVersionID"),
        one(XHB, "InstanceEncryptionIndicator"),
        optional(XHB, "InstanceEncryptionMethod"),
        optional(XHB, "InstanceHashValue"),
        optional(XHA, "InstanceDecryptionInformationExternalReference"),
        optional(XHA, "InstanceDecryptionKeyExternalReference"),
        many(XHA, "RelevantExternalReference", 0),
        optional(XHA, "PayloadExternalReference"),
        optional(XHA, "PayloadContent"),
    ],
    any_other: None,
};
/// `PAYLOAD_SEQ` positions the profile forbids (R1).
const PAYLOAD_FORBIDDEN: [usize; 13] = [0, 1, 4, 5, 6, 8, 9, 11, 12, 13, 14, 15, 16];
/// `XHE_SEQ` positions the profile forbids (R1).
const XHE_FORBIDDEN: [usize; 3] = [0, 3, 4];
const PAYLOAD_CONTENT_SEQ: Sequence = Sequence {
    particles: &[],
    any_other: Some(XHA),
};

/// What the checking environment knows.
#[derive(Debug, Clone, Copy, Default)]
pub struct XheContext {
    /// The environment this gateway runs in: enables GW-XHE-5 (FEDERATIONID) and the
    /// "transport model allowed here" part of GW-XHE-6. `None` checks only the code lists.
    pub environment: Option<Environment>,
}

/// Why the transport model (GW-XHE-6) is not kept. The first three are answered with a
/// REJECTED/SIG receipt in the open pipeline (stage 5); the others are envelope errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportIssue {
    /// `tm-base-ext-sigenc` without a `ds:Signature`.
    MissingSignature,
    /// `tm-base-ext-sigenc` with more than one `ds:Signature`.
    SeveralSignatures(usize),
    /// An SDK message under `tm-base-ext-sigenc` that is not encrypted (B1.3.3 row 14).
    NotEncrypted,
    /// A receipt that is encrypted (receipts are signed only).
    EncryptedReceipt,
    /// A signature or encryption under `tm-base`.
    ProtectedUnderBase,
    /// The transport model is not used in this environment.
    NotAllowedHere,
}

impl TransportIssue {
    /// Whether B1.3.3 answers it with REJECTED / SIG / `security`.
    pub fn is_signature_rejection(self) -> bool {
        matches!(
            self,
            TransportIssue::MissingSignature
                | TransportIssue::SeveralSignatures(_)
                | TransportIssue::NotEncrypted
        )
    }
}

/// The values the walk collected, for the rules and the model.
#[derive(Default)]
pub(crate) struct Collected<'a> {
    pub(crate) version: Option<ElementRef<'a>>,
    pub(crate) customization: Option<ElementRef<'a>>,
    pub(crate) header: Option<ElementRef<'a>>,
    pub(crate) id: Option<ElementRef<'a>>,
    pub(crate) created: Option<ElementRef<'a>>,
    pub(crate) scope: Option<ElementRef<'a>>,
    pub(crate) criteria: Vec<(
        ElementRef<'a>,
        Option<ElementRef<'a>>,
        Option<ElementRef<'a>>,
    )>,
    pub(crate) from_parties: Vec<ElementRef<'a>>,
    pub(crate) to_parties: Vec<ElementRef<'a>>,
    pub(crate) from_ids: Vec<ElementRef<'a>>,
    pub(crate) to_ids: Vec<ElementRef<'a>>,
    pub(crate) payloads_el: Option<ElementRef<'a>>,
    pub(crate) payloads: Vec<PayloadElements<'a>>,
    pub(crate) signatures: usize,
}

/// The profile elements of one `Payload`.
pub(crate) struct PayloadElements<'a> {
    pub(crate) element: ElementRef<'a>,
    pub(crate) document_type: Option<ElementRef<'a>>,
    pub(crate) content_type: Option<ElementRef<'a>>,
    pub(crate) handling: Option<ElementRef<'a>>,
    pub(crate) indicator: Option<ElementRef<'a>>,
    pub(crate) content: Option<ElementRef<'a>>,
}

/// The result of a check.
pub(crate) struct Checked<'a> {
    pub(crate) report: Report,
    pub(crate) found: Collected<'a>,
    pub(crate) transport: Option<TransportIssue>,
}

/// Checks `doc` as a DIGG XHE envelope.
pub(crate) fn check<'a>(doc: &'a Document, ctx: &XheContext) -> Checked<'a> {
    let mut report = Report::default();
    let mut found = Collected::default();
    let root = doc.root();
    if !root.is(Some(XHE), "XHE") {
        report.add(
            XheRule::Xsd,
            xpath(root),
            &format!("the root element is {}, expected x:XHE", root.qname()),
        );
        return Checked {
            report,
            found,
            transport: None,
        };
    }
    walk_structure(root, &mut found, &mut report);
    check_attributes_and_empty(root, &mut report);
    check_rules(&found, &mut report);
    let transport = check_gateway_rules(&found, ctx, &mut report);
    Checked {
        report,
        found,
        transport,
    }
}

fn xsd_errors(report: &mut Report, errors: Vec<(String, String)>) {
    for (path, what) in errors {
        report.add(XheRule::Xsd, path, &what);
    }
}

fn leaf<'a>(e: Option<ElementRef<'a>>, report: &mut Report) -> Option<ElementRef<'a>> {
    if let Some((path, what)) = e.and_then(check_simple) {
        report.add(XheRule::Xsd, path, &what);
    }
    e
}

fn forbidden(report: &mut Report, elements: &[ElementRef<'_>]) {
    for e in elements {
        report.add(
            XheRule::R1,
            xpath(*e),
            &format!("element {} is not part of the profile", e.qname()),
        );
    }
}

fn walk_structure<'a>(root: ElementRef<'a>, found: &mut Collected<'a>, report: &mut Report) {
    let top = check_sequence(root, &XHE_SEQ);
    xsd_errors(report, top.errors.clone());
    for i in XHE_FORBIDDEN {
        forbidden(report, top.slot(i));
    }
    found.version = leaf(top.first(1), report);
    found.customization = leaf(top.first(2), report);
    found.signatures = top.slot(7).len();
    if found.customization.is_none() {
        report.add(
            XheRule::R14,
            child_xpath(root, XHB, "CustomizationID"),
            "missing",
        );
    }
    if let Some(header) = top.first(5) {
        walk_header(header, found, report);
    }
    found.payloads_el = top.first(6);
    match top.first(6) {
        Some(payloads) => walk_payloads(payloads, found, report),
        None => report.add(XheRule::R14, child_xpath(root, XHA, "Payloads"), "missing"),
    }
}

fn walk_header<'a>(header: ElementRef<'a>, found: &mut Collected<'a>, report: &mut Report) {
    found.header = Some(header);
    let h = check_sequence(header, &HEADER_SEQ);
    xsd_errors(report, h.errors.clone());
    forbidden(report, h.slot(1));
    found.id = leaf(h.first(0), report);
    found.created = leaf(h.first(2), report);
    if let Some(created) = found.created
        && parse_datetime(&created.text()).is_none()
    {
        report.add(
            XheRule::Xsd,
            xpath(created),
            &format!("{} is not an xs:dateTime", excerpt(&created.text())),
        );
    }
    match h.first(3) {
        Some(scope) => walk_scope(scope, found, report),
        None => report.add(
            XheRule::R14,
            child_xpath(header, XHA, "BusinessScope"),
            "missing",
        ),
    }
    found.from_parties = h.slot(4).to_vec();
    found.to_parties = h.slot(5).to_vec();
    if found.from_parties.is_empty() {
        report.add(
            XheRule::R14,
            child_xpath(header, XHA, "FromParty"),
            "missing",
        );
    }
    if found.to_parties.len() > 1 {
        report.add(
            XheRule::R14,
            xpath(found.to_parties[1]),
            &format!("{} ToParty elements, expected one", found.to_parties.len()),
        );
    }
    for party in found.from_parties.clone() {
        let ids = walk_party(party, report);
        found.from_ids.extend(ids);
    }
    for party in found.to_parties.clone() {
        let ids = walk_party(party, report);
        found.to_ids.extend(ids);
    }
}

fn walk_scope<'a>(scope: ElementRef<'a>, found: &mut Collected<'a>, report: &mut Report) {
    found.scope = Some(scope);
    let s = check_sequence(scope, &SCOPE_SEQ);
    xsd_errors(report, s.errors.clone());
    forbidden(report, s.slot(1));
    for criterion in s.slot(0) {
        let c = check_sequence(*criterion, &CRITERION_SEQ);
        xsd_errors(report, c.errors.clone());
        let code = leaf(c.first(0), report);
        let value = leaf(c.first(1), report);
        found.criteria.push((*criterion, code, value));
    }
    let count = found.criteria.len();
    if count != 5 {
        report.add(
            XheRule::R14,
            xpath(scope),
            &format!("{count} BusinessScopeCriterion elements, expected 5"),
        );
    }
}

/// Checks a FromParty/ToParty and returns its `PartyIdentification/ID` elements.
fn walk_party<'a>(party: ElementRef<'a>, report: &mut Report) -> Vec<ElementRef<'a>> {
    let p = check_sequence(party, &PARTY_SEQ);
    xsd_errors(report, p.errors.clone());
    let idents = p.slot(0);
    if idents.len() > 1 {
        report.add(
            XheRule::R14,
            xpath(idents[1]),
            &format!(
                "{} PartyIdentification elements, expected one",
                idents.len()
            ),
        );
    }
    let mut ids = Vec::new();
    for ident in idents {
        let i = check_sequence(*ident, &PARTY_ID_SEQ);
        xsd_errors(report, i.errors.clone());
        if let Some(id) = leaf(i.first(0), report) {
            ids.push(id);
        }
    }
    ids
}

fn walk_payloads<'a>(payloads: ElementRef<'a>, found: &mut Collected<'a>, report: &mut Report) {
    let ps = check_sequence(payloads, &PAYLOADS_SEQ);
    xsd_errors(report, ps.errors.clone());
    let list = ps.slot(0);
    if list.len() > 1 {
        report.add(
            XheRule::R14,
            xpath(list[1]),
            &format!("{} Payload elements, expected one", list.len()),
        );
    }
    for payload in list {
        let p = check_sequence(*payload, &PAYLOAD_SEQ);
        xsd_errors(report, p.errors.clone());
        for i in PAYLOAD_FORBIDDEN {
            forbidden(report, p.slot(i));
        }
        let elements = PayloadElements {
            element: *payload,
            document_type: leaf(p.first(P_DOCUMENT_TYPE), report),
            content_type: leaf(p.first(P_CONTENT_TYPE), report),
            handling: leaf(p.first(P_HANDLING), report),
            indicator: leaf(p.first(P_INDICATOR), report),
            content: p.first(P_CONTENT),
        };
        for (el, name) in [
            (elements.document_type, "DocumentTypeCode"),
            (elements.content_type, "ContentTypeCode"),
        ] {
            if el.is_none() {
                report.add(XheRule::R14, child_xpath(*payload, XHB, name), "missing");
            }
        }
        if let Some(ind) = elements.indicator
            && parse_boolean(&ind.text()).is_none()
        {
            report.add(
                XheRule::Xsd,
                xpath(ind),
                &format!("{} is not an xs:boolean", excerpt(&ind.text())),
            );
        }
        match elements.content {
            Some(content) => {
                let c = check_mixed_sequence(content, &PAYLOAD_CONTENT_SEQ);
                xsd_errors(report, c.errors);
                if c.extensions.len() > 1 {
                    report.add(
                        XheRule::Xsd,
                        xpath(c.extensions[1]),
                        "PayloadContent may hold at most one element",
                    );
                }
            }
            None => report.add(
                XheRule::R14,
                child_xpath(*payload, XHA, "PayloadContent"),
                "missing",
            ),
        }
        found.payloads.push(elements);
    }
}

/// R1 on attributes and R2 on elements and attributes, outside `PayloadContent`; elements of
/// the `ds`/`xenc` namespaces (and their attributes, e.g. `URI=""`) are exempt.
fn check_attributes_and_empty(root: ElementRef<'_>, report: &mut Report) {
    let mut stack = vec![root];
    while let Some(e) = stack.pop() {
        let in_security_ns = matches!(e.namespace(), Some(DS | XENC));
        if !in_security_ns {
            check_element_attributes(e, root, report);
            let no_children = e.child_elements().next().is_none();
            if no_children && e.text().trim_matches(is_xml_space).is_empty() {
                report.add(
                    XheRule::R2,
                    xpath(e),
                    &format!("element {} is empty", e.qname()),
                );
            }
        }
        if !e.is(Some(XHA), "PayloadContent") {
            let mut children: Vec<ElementRef<'_>> = e.child_elements().collect();
            children.reverse();
            stack.extend(children);
        }
    }
}

fn check_element_attributes(e: ElementRef<'_>, root: ElementRef<'_>, report: &mut Report) {
    let is_party_id = e.is(Some(XHB), "ID")
        && e.parent()
            .is_some_and(|p| p.is(Some(XHA), "PartyIdentification"));
    for attr in e.attributes() {
        let allowed = (e == root && attr.namespace() == Some(XSI))
            || (is_party_id && attr.namespace().is_none() && attr.local_name() == "schemeID");
        let path = attribute_xpath(e, attr.qname());
        if !allowed {
            report.add(
                XheRule::R1,
                path.clone(),
                &format!("attribute {} is not part of the profile", attr.qname()),
            );
        }
        if attr.value().trim_matches(is_xml_space).is_empty() {
            report.add(
                XheRule::R2,
                path,
                &format!("attribute {} is empty", attr.qname()),
            );
        }
    }
}

fn text_of(e: Option<ElementRef<'_>>) -> Option<String> {
    e.map(|e| collapse(&e.text()).to_owned())
}

fn check_rules(found: &Collected<'_>, report: &mut Report) {
    let codes = codelists();
    if let Some(c) = found.customization {
        let value = collapse(&c.text()).to_owned();
        if value != codes.xhe().customization_id {
            report.add(XheRule::R3, xpath(c), &format!("found {}", excerpt(&value)));
        }
    }
    if let Some(v) = found.version {
        let value = collapse(&v.text()).to_owned();
        if value != codes.xhe().version_id {
            report.add(XheRule::R9, xpath(v), &format!("found {}", excerpt(&value)));
        }
    }
    if let Some(scope) = found.scope {
        for (criterion, rule) in [
            (ScopeCriterion::DocumentId, XheRule::R4),
            (ScopeCriterion::DocumentIdScheme, XheRule::R5),
            (ScopeCriterion::ProcessId, XheRule::R6),
            (ScopeCriterion::ProcessIdScheme, XheRule::R7),
            (ScopeCriterion::FederationId, XheRule::R8),
        ] {
            if criterion_elements(found, criterion).is_empty() {
                report.add(rule, xpath(scope), "missing");
            }
        }
    }
    for (ids, rule) in [
        (&found.from_ids, XheRule::R10),
        (&found.to_ids, XheRule::R11),
    ] {
        for id in ids {
            let scheme = id.attribute(None, "schemeID").map(collapse);
            if scheme != Some(ParticipantId::SCHEME) {
                let detail = match scheme {
                    Some(s) => format!("found {}", excerpt(s)),
                    None => "no schemeID".to_owned(),
                };
                report.add(rule, xpath(*id), &detail);
            }
        }
    }
    for p in &found.payloads {
        let encrypted = p.indicator.and_then(|i| parse_boolean(&i.text()));
        let has_encrypted_data = p
            .content
            .is_some_and(|c| c.child(Some(XENC), "EncryptedData").is_some());
        let path = p.content.map_or_else(|| xpath(p.element), xpath);
        match encrypted {
            Some(true) if !has_encrypted_data => {
                report.add(XheRule::R12, path, "no xenc:EncryptedData");
            }
            Some(false) if has_encrypted_data => {
                report.add(XheRule::R13, path, "xenc:EncryptedData present");
            }
            _ => {}
        }
    }
}

/// The value elements of the criteria with type code `criterion`.
fn criterion_elements<'a>(
    found: &Collected<'a>,
    criterion: ScopeCriterion,
) -> Vec<Option<ElementRef<'a>>> {
    let code = codelists().scope_criterion(criterion);
    found
        .criteria
        .iter()
        .filter(|(_, c, _)| text_of(*c).as_deref() == Some(code))
        .map(|(_, _, v)| *v)
        .collect()
}

/// The value of the criterion `criterion` when it occurs exactly once.
pub(crate) fn criterion_value(found: &Collected<'_>, criterion: ScopeCriterion) -> Option<String> {
    match criterion_elements(found, criterion).as_slice() {
        [Some(v)] => Some(collapse(&v.text()).to_owned()),
        _ => None,
    }
}

fn check_gateway_rules(
    found: &Collected<'_>,
    ctx: &XheContext,
    report: &mut Report,
) -> Option<TransportIssue> {
    if let Some(id) = found.id {
        let value = collapse(&id.text()).to_owned();
        if !value.is_empty() && !is_uuid(&value) {
            report.add(
                XheRule::HeaderIdUuid,
                xpath(id),
                &format!("found {}", excerpt(&value)),
            );
        }
    }
    if let Some(created) = found.created
        && let Some(d) = parse_datetime(&created.text())
    {
        if !d.has_timezone {
            report.add(
                XheRule::CreationDateTimeZone,
                xpath(created),
                "no time zone",
            );
        } else if d.instant.is_none() {
            report.add(
                XheRule::CreationDateTimeZone,
                xpath(created),
                "year outside 1-9999",
            );
        }
    }
    check_criteria_once(found, report);
    let document = check_code_list_values(found, report);
    check_federation(found, ctx, report);
    check_party_ids(found, report);
    check_handling_service(found, report);
    document.and_then(|d| check_transport_model(found, d, ctx, report))
}

fn check_criteria_once(found: &Collected<'_>, report: &mut Report) {
    for (criterion, code_el, _) in &found.criteria {
        let code = text_of(*code_el).unwrap_or_default();
        match code.parse::<ScopeCriterion>() {
            Ok(c) if criterion_elements(found, c).len() > 1 => report.add(
                XheRule::CriteriaExactlyOnce,
                xpath(*criterion),
                &format!("{code} occurs more than once"),
            ),
            Ok(_) => {}
            Err(_) => report.add(
                XheRule::CriteriaExactlyOnce,
                xpath(*criterion),
                &format!("unknown type code {}", excerpt(&code)),
            ),
        }
    }
}

/// GW-XHE-4; returns the document id's message type and transport model when known.
fn check_code_list_values(
    found: &Collected<'_>,
    report: &mut Report,
) -> Option<(MessageType, TransportModel)> {
    let codes = codelists();
    let mut bad = |criterion: ScopeCriterion, value: &str, expected: &str| {
        let el = criterion_elements(found, criterion)
            .into_iter()
            .flatten()
            .next();
        let path = el.map_or_else(|| found.scope.map(xpath).unwrap_or_default(), xpath);
        report.add(
            XheRule::CriterionCodeListValues,
            path,
            &format!(
                "{} is {}; expected {expected}",
                codes.scope_criterion(criterion),
                excerpt(value)
            ),
        );
    };
    let document = criterion_value(found, ScopeCriterion::DocumentId);
    let classified = document
        .as_deref()
        .and_then(|d| DocumentId::parse(d).ok())
        .and_then(|d| codes.classify_document(&d));
    if let (Some(value), None) = (&document, classified) {
        bad(
            ScopeCriterion::DocumentId,
            value,
            "a registered SDK message or receipt document id",
        );
    }
    if let Some(v) = criterion_value(found, ScopeCriterion::DocumentIdScheme)
        && v != DocumentId::SCHEME
    {
        bad(ScopeCriterion::DocumentIdScheme, &v, DocumentId::SCHEME);
    }
    if let Some(v) = criterion_value(found, ScopeCriterion::ProcessIdScheme)
        && !v.eq_ignore_ascii_case(ProcessId::SCHEME)
    {
        bad(ScopeCriterion::ProcessIdScheme, &v, ProcessId::SCHEME);
    }
    if let Some(v) = criterion_value(found, ScopeCriterion::ProcessId)
        && ProcessId::from_parts(ProcessId::SCHEME, &v).ok().as_ref() != Some(codes.process())
    {
        bad(ScopeCriterion::ProcessId, &v, codes.process().value());
    }
    if let Some(v) = criterion_value(found, ScopeCriterion::FederationId)
        && v.parse::<FederationId>().is_err()
    {
        bad(
            ScopeCriterion::FederationId,
            &v,
            "a federation id of the code list",
        );
    }
    classified
}

fn check_federation(found: &Collected<'_>, ctx: &XheContext, report: &mut Report) {
    let (Some(env), Some(value)) = (
        ctx.environment,
        criterion_value(found, ScopeCriterion::FederationId),
    ) else {
        return;
    };
    let Ok(federation) = value.parse::<FederationId>() else {
        return;
    };
    if federation != env.federation() {
        let path = criterion_elements(found, ScopeCriterion::FederationId)
            .into_iter()
            .flatten()
            .next()
            .map(xpath)
            .unwrap_or_default();
        report.add(
            XheRule::FederationOfEnvironment,
            path,
            &format!(
                "{federation} is not the federation of {env} ({})",
                env.federation()
            ),
        );
    }
}

fn check_party_ids(found: &Collected<'_>, report: &mut Report) {
    for id in found.from_ids.iter().chain(&found.to_ids) {
        let value = collapse(&id.text()).to_owned();
        if value.is_empty() {
            continue;
        }
        if let Err(e) = ParticipantId::parse(&value) {
            report.add(XheRule::PartyIdsAreParticipants, xpath(*id), &e.to_string());
        }
    }
}

fn check_handling_service(found: &Collected<'_>, report: &mut Report) {
    for p in &found.payloads {
        if let Some(h) = p.handling {
            let value = collapse(&h.text()).to_owned();
            if !value.is_empty()
                && let Err(e) = FunctionAddress::parse(&value)
            {
                report.add(
                    XheRule::HandlingServiceIsFunctionAddress,
                    xpath(h),
                    &e.to_string(),
                );
            }
        }
    }
}

fn check_transport_model(
    found: &Collected<'_>,
    (kind, model): (MessageType, TransportModel),
    ctx: &XheContext,
    report: &mut Report,
) -> Option<TransportIssue> {
    let encrypted = found
        .payloads
        .first()
        .and_then(|p| p.indicator)
        .and_then(|i| parse_boolean(&i.text()))
        .unwrap_or(false);
    let issue = if ctx.environment.is_some_and(|env| !env.allows(model)) {
        Some(TransportIssue::NotAllowedHere)
    } else {
        match model {
            TransportModel::ExtSigenc => match found.signatures {
                0 => Some(TransportIssue::MissingSignature),
                1 if kind == MessageType::SdkMessage && !encrypted => {
                    Some(TransportIssue::NotEncrypted)
                }
                1 if kind == MessageType::Receipt && encrypted => {
                    Some(TransportIssue::EncryptedReceipt)
                }
                1 => None,
                n => Some(TransportIssue::SeveralSignatures(n)),
            },
            TransportModel::Base => {
                (found.signatures > 0 || encrypted).then_some(TransportIssue::ProtectedUnderBase)
            }
        }
    }?;
    let detail = match issue {
        TransportIssue::MissingSignature => {
            format!("{model} requires a ds:Signature; there is none")
        }
        TransportIssue::SeveralSignatures(n) => {
            format!("{model} requires exactly one ds:Signature; there are {n}")
        }
        TransportIssue::NotEncrypted => {
            format!("{model} requires an encrypted SDK message; the payload is not encrypted")
        }
        TransportIssue::EncryptedReceipt => "receipts are signed, never encrypted".to_owned(),
        TransportIssue::ProtectedUnderBase => format!("{model} forbids signatures and encryption"),
        TransportIssue::NotAllowedHere => format!("{model} is not used in this environment"),
    };
    let root = found.header.and_then(|h| h.parent());
    report.add(
        XheRule::TransportModelConsistent,
        root.map(xpath).unwrap_or_else(|| "/x:XHE".to_owned()),
        &detail,
    );
    Some(issue)
}
