//! The XHE envelope (C3.2.2, DIGG's profile of OASIS XHE 1.0): the typed header, the profile
//! check ([`check`]) and the writer ([`Xhe::to_xml`]).
//!
//! The header is typed only after the check: [`EnvelopeCheck::header`] is `Some` when the
//! envelope breaks no rule other than the transport-model rule GW-XHE-6 (which the open
//! pipeline answers with a SIG receipt, so it needs the header to address the receipt).

mod check;

use sdkgw_schemas::codelists::{MessageType, ScopeCriterion};
use sdkgw_schemas::{
    DocumentId, FederationId, FunctionAddress, ParticipantId, ProcessId, TransportModel, XheRule,
    codelists,
};
use sdkgw_xml_security::xml::{Document, ElementRef, NodeId};
use serde::Serialize;
use time::OffsetDateTime;

pub use check::{TransportIssue, XheContext};

use crate::datatypes::{collapse, format_utc_millis, parse_boolean, parse_datetime};
use crate::finding::Report;
use crate::ns::{XHA, XHB, XHE};
use crate::xml_out::{InvalidCharacter, XmlOut};

/// The typed XHE header and payload description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Xhe {
    /// `Header/ID`: the message identity (a UUID; = the SDK message's `messageId`).
    pub id: String,
    /// `Header/CreationDateTime`.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// `DOCUMENTID` (with `DOCUMENTID_SCHEME`).
    pub document: DocumentId,
    /// Which message type the document id names.
    #[serde(skip)]
    pub message_type: MessageType,
    /// Which transport model the document id names.
    pub transport_model: TransportModel,
    /// `PROCESSID` (with `PROCESSID_SCHEME`).
    pub process: ProcessId,
    /// `FEDERATIONID`.
    pub federation: FederationId,
    /// `FromParty`: the original sender.
    pub from: ParticipantId,
    /// `ToParty`: the final recipient.
    pub to: ParticipantId,
    /// The one `Payload`, without its content.
    pub payload: PayloadInfo,
}

/// `Payload` apart from `PayloadContent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayloadInfo {
    /// `DocumentTypeCode`: the plaintext payload's root as `Q{ns}local`.
    pub document_type: String,
    /// `ContentTypeCode` (`application/xml`).
    pub content_type: String,
    /// `HandlingServiceID`: the recipient's function address, when given.
    pub handling_service: Option<FunctionAddress>,
    /// `InstanceEncryptionIndicator`.
    pub encrypted: bool,
}

/// What goes into `PayloadContent` when writing.
#[derive(Debug, Clone, Copy)]
pub enum PayloadXml<'a> {
    /// One serialised, self-contained element (it declares the namespaces it uses).
    Element(&'a str),
    /// Base64 text (a non-XML payload).
    Base64(&'a str),
}

/// The result of checking an envelope.
#[derive(Debug, Clone)]
pub struct EnvelopeCheck {
    /// Every finding.
    pub report: Report,
    /// The typed header, when no rule other than GW-XHE-6 is broken.
    pub header: Option<Xhe>,
    /// The GW-XHE-6 problem, if any.
    pub transport_issue: Option<TransportIssue>,
    /// The `PayloadContent` element.
    pub payload_content: Option<NodeId>,
}

impl EnvelopeCheck {
    /// Whether the envelope is fully conformant (the header is then `Some`).
    pub fn is_conformant(&self) -> bool {
        self.report.is_conformant()
    }

    /// Whether the only problem is the transport model (GW-XHE-6).
    pub fn only_transport_issue(&self) -> bool {
        self.header.is_some() && self.transport_issue.is_some()
    }
}

/// Checks `doc` against the DIGG XHE profile: XSD structure, R1–R14, GW-XHE-1..8.
pub fn check(doc: &Document, ctx: &XheContext) -> EnvelopeCheck {
    let checked = check::check(doc, ctx);
    let header_ok = checked
        .report
        .findings()
        .iter()
        .all(|f| !f.is_fatal() || f.rule == XheRule::TransportModelConsistent.into());
    let header = if header_ok {
        typed_header(&checked.found)
    } else {
        None
    };
    let payload_content = checked
        .found
        .payloads
        .first()
        .and_then(|p| p.content)
        .map(|c| c.node_id());
    EnvelopeCheck {
        report: checked.report,
        header,
        transport_issue: checked.transport,
        payload_content,
    }
}

fn text(e: Option<ElementRef<'_>>) -> Option<String> {
    e.map(|e| collapse(&e.text()).to_owned())
}

/// Builds the header from a walk that broke no rule (so every value is present and valid).
fn typed_header(found: &check::Collected<'_>) -> Option<Xhe> {
    let codes = codelists();
    let document =
        DocumentId::parse(&check::criterion_value(found, ScopeCriterion::DocumentId)?).ok()?;
    let (message_type, transport_model) = codes.classify_document(&document)?;
    let process = ProcessId::from_parts(
        &check::criterion_value(found, ScopeCriterion::ProcessIdScheme)?,
        &check::criterion_value(found, ScopeCriterion::ProcessId)?,
    )
    .ok()?;
    let payload = found.payloads.first()?;
    let handling_service = match text(payload.handling) {
        Some(h) => Some(FunctionAddress::parse(&h).ok()?),
        None => None,
    };
    Some(Xhe {
        id: text(found.id)?,
        created: parse_datetime(&found.created?.text())?.instant?,
        document,
        message_type,
        transport_model,
        process,
        federation: check::criterion_value(found, ScopeCriterion::FederationId)?
            .parse()
            .ok()?,
        from: ParticipantId::parse(&text(found.from_ids.first().copied())?).ok()?,
        to: ParticipantId::parse(&text(found.to_ids.first().copied())?).ok()?,
        payload: PayloadInfo {
            document_type: text(payload.document_type)?,
            content_type: text(payload.content_type)?,
            handling_service,
            encrypted: parse_boolean(&payload.indicator?.text())?,
        },
    })
}

impl Xhe {
    /// The header of a new SDK message envelope: the document id of `model`, `bdx:noprocess`,
    /// the payload described as a (to be encrypted under sigenc) `messagePayload`.
    pub fn for_message(
        id: impl Into<String>,
        created: OffsetDateTime,
        from: ParticipantId,
        to: ParticipantId,
        handling_service: Option<FunctionAddress>,
        federation: FederationId,
        model: TransportModel,
    ) -> Xhe {
        Self::new(
            MessageType::SdkMessage,
            id.into(),
            created,
            from,
            to,
            handling_service,
            federation,
            model,
        )
    }

    /// The header of the envelope of a receipt answering `original`: parties swapped, the
    /// receipt document id of the same transport model, the same federation, not encrypted.
    /// `handling_service` is the original sender's function address when known.
    pub fn for_receipt(
        original: &Xhe,
        id: impl Into<String>,
        created: OffsetDateTime,
        handling_service: Option<FunctionAddress>,
    ) -> Xhe {
        Self::new(
            MessageType::Receipt,
            id.into(),
            created,
            original.to.clone(),
            original.from.clone(),
            handling_service,
            original.federation,
            original.transport_model,
        )
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "private constructor behind two named ones"
    )]
    fn new(
        kind: MessageType,
        id: String,
        created: OffsetDateTime,
        from: ParticipantId,
        to: ParticipantId,
        handling_service: Option<FunctionAddress>,
        federation: FederationId,
        model: TransportModel,
    ) -> Xhe {
        let codes = codelists().message_type(kind);
        Xhe {
            id,
            created,
            document: codes.document(model).clone(),
            message_type: kind,
            transport_model: model,
            process: codelists().process().clone(),
            federation,
            from,
            to,
            payload: PayloadInfo {
                document_type: codes.payload_root.clone(),
                content_type: codes.content_type.clone(),
                handling_service,
                encrypted: kind == MessageType::SdkMessage
                    && model.requires_signature_and_encryption(),
            },
        }
    }

    /// The envelope as XML, with `content` inside `PayloadContent` and no signature.
    pub fn to_xml(&self, content: PayloadXml<'_>) -> Result<String, InvalidCharacter> {
        let codes = codelists();
        let mut out = XmlOut::document();
        out.start(
            "x:XHE",
            &[("xmlns:x", XHE), ("xmlns:xha", XHA), ("xmlns:xhb", XHB)],
        )?;
        out.leaf("xhb:XHEVersionID", &[], &codes.xhe().version_id)?;
        out.leaf("xhb:CustomizationID", &[], &codes.xhe().customization_id)?;
        out.start("xha:Header", &[])?;
        out.leaf("xhb:ID", &[], &self.id)?;
        out.leaf(
            "xhb:CreationDateTime",
            &[],
            &format_utc_millis(self.created),
        )?;
        out.start("xha:BusinessScope", &[])?;
        for (criterion, value) in [
            (ScopeCriterion::DocumentId, self.document.value()),
            (ScopeCriterion::DocumentIdScheme, self.document.scheme()),
            (ScopeCriterion::ProcessId, self.process.value()),
            (ScopeCriterion::ProcessIdScheme, self.process.scheme()),
            (ScopeCriterion::FederationId, self.federation.as_str()),
        ] {
            out.start("xha:BusinessScopeCriterion", &[])?;
            out.leaf(
                "xhb:BusinessScopeCriterionTypeCode",
                &[],
                codes.scope_criterion(criterion),
            )?;
            out.leaf("xhb:BusinessScopeCriterionValue", &[], value)?;
            out.end("xha:BusinessScopeCriterion");
        }
        out.end("xha:BusinessScope");
        for (party, id) in [("xha:FromParty", &self.from), ("xha:ToParty", &self.to)] {
            out.start(party, &[])?;
            out.start("xha:PartyIdentification", &[])?;
            out.leaf("xhb:ID", &[("schemeID", id.scheme())], id.value())?;
            out.end("xha:PartyIdentification");
            out.end(party);
        }
        out.end("xha:Header");
        out.start("xha:Payloads", &[])?;
        out.start("xha:Payload", &[])?;
        out.leaf("xhb:DocumentTypeCode", &[], &self.payload.document_type)?;
        out.leaf("xhb:ContentTypeCode", &[], &self.payload.content_type)?;
        out.optional_leaf(
            "xhb:HandlingServiceID",
            self.payload
                .handling_service
                .as_ref()
                .map(FunctionAddress::as_str),
        )?;
        out.leaf(
            "xhb:InstanceEncryptionIndicator",
            &[],
            if self.payload.encrypted {
                "true"
            } else {
                "false"
            },
        )?;
        match content {
            PayloadXml::Element(xml) => {
                out.start("xha:PayloadContent", &[])?;
                out.raw(xml);
                out.end("xha:PayloadContent");
            }
            PayloadXml::Base64(text) => out.leaf("xha:PayloadContent", &[], text)?,
        }
        out.end("xha:Payload");
        out.end("xha:Payloads");
        out.end("x:XHE");
        Ok(out.finish())
    }
}
