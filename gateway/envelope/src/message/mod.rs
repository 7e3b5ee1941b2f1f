//! The SDK message (B1.3.3 1.5.2, MessageWithAttachments v3): the typed model, its
//! validation ([`validate`]: the XSD natively, then the MessageConstraints schematron and the
//! gateway's content rules) and its writer ([`SdkMessage::to_xml`]).
//!
//! Extensions (`xs:any namespace="##other"`) are kept as self-contained XML: the element as
//! it was written, with the namespace declarations it inherited added to its start tag, so it
//! can be written again anywhere.

mod business;
mod constraints;
mod schema;

pub use business::{
    DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_XHE_BYTES, EicarTestSignature, MalwareScanner,
    MessageHistory, MessagePolicy, NoHistory, Previous, ScanFailed, xml_size_bound,
};
pub(crate) use business::{check_size, cross_check, policy_check};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sdkgw_schemas::{FunctionAddress, ParticipantId};
use sdkgw_xml_security::xml::{Document, ElementRef, Limits, ParseOptions};
use serde::Serialize;
use time::OffsetDateTime;

use crate::datatypes::{format_utc_millis, parse_boolean, parse_datetime};
use crate::finding::Report;
use crate::ns::TNS;
use crate::structure::Matched;
use crate::xml_out::{InvalidCharacter, XmlOut};
use schema::{Type, at};

/// `messagePayload/message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SdkMessage {
    /// `messageHeader`.
    pub header: MessageHeader,
    /// `messageBody`.
    pub body: MessageBody,
    /// Extensions of `message`.
    pub extensions: Vec<Extension>,
}

/// `messageHeader`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageHeader {
    /// `creationDateTime`, as written (an `xs:dateTime`).
    pub creation_date_time: String,
    /// `messageId` (= the XHE `Header/ID`).
    pub message_id: String,
    /// `conversationId`.
    pub conversation_id: String,
    /// `refToMessageId`: the message this one answers.
    pub ref_to_message_id: Option<String>,
    /// `label`: the subject. Never echoed in receipts or logs.
    pub label: Option<String>,
    /// `confidentiality`: the sender's secrecy assessment.
    pub confidentiality: bool,
    /// `generatingSystem`.
    pub generating_system: Option<Ii>,
    /// `recipient`.
    pub recipient: Recipient,
    /// `sender`.
    pub sender: Sender,
    /// Extensions of `messageHeader`.
    pub extensions: Vec<Extension>,
}

/// An instance identifier (`IIType`: `root` + `extension`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ii {
    /// `root`: the identifier scheme.
    pub root: String,
    /// `extension`: the identifier.
    pub extension: String,
}

/// `recipient`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    /// `recipientID` (root `iso6523-actorid-upis`, extension = XHE ToParty).
    pub id: Ii,
    /// `label`: organisation name.
    pub label: Option<String>,
    /// `attention`: the function mailbox.
    pub attention: Attention,
    /// Extensions.
    pub extensions: Vec<Extension>,
}

/// `sender`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sender {
    /// `senderID` (extension = XHE FromParty).
    pub id: Ii,
    /// `label`: organisation name.
    pub label: Option<String>,
    /// `attention`: the sending function mailbox (optional in the XSD).
    pub attention: Option<Attention>,
    /// Extensions.
    pub extensions: Vec<Extension>,
}

/// `attention` (AttentionDataType).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attention {
    /// `person`: for reference only; addressing is to functions.
    pub persons: Vec<Person>,
    /// `subOrganization`: the function address.
    pub sub_organization: SubOrganization,
    /// `reference`: case or diary references.
    pub references: Vec<Reference>,
    /// Extensions.
    pub extensions: Vec<Extension>,
}

/// `person`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    /// `personId`.
    pub id: Option<Ii>,
    /// `label`.
    pub label: Option<String>,
    /// Extensions.
    pub extensions: Vec<Extension>,
}

/// `subOrganization`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubOrganization {
    /// `organizationId` (root `urn:riv:infrastructure:messaging:functionalAddress`).
    pub id: Ii,
    /// `label`.
    pub label: Option<String>,
    /// Extensions.
    pub extensions: Vec<Extension>,
}

/// `reference`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reference {
    /// `referenceId`.
    pub id: Ii,
    /// `label`.
    pub label: Option<String>,
    /// Extensions.
    pub extensions: Vec<Extension>,
}

/// `messageBody`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageBody {
    /// `documents` (at least one).
    pub documents: Vec<DigitalDocument>,
    /// Extensions.
    pub extensions: Vec<Extension>,
}

/// `documents` (DigitalDocumentType).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigitalDocument {
    /// `documentID`.
    pub document_id: String,
    /// `documentName`.
    pub document_name: Option<String>,
    /// `index`: presentation order, `1` first.
    pub index: Option<String>,
    /// `ContentFiles` (written before the texts, as the XSD orders them).
    pub files: Vec<ContentFile>,
    /// `ContentText`.
    pub texts: Vec<ContentText>,
    /// Extensions.
    pub extensions: Vec<Extension>,
}

/// `ContentFiles` (ContentAsBase64).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContentFile {
    /// `fileName`.
    pub file_name: String,
    /// `contentType`: a MIME type.
    pub content_type: String,
    /// `content`: the file, Base64 as written.
    #[serde(skip)]
    pub content: String,
    /// Extensions.
    pub extensions: Vec<Extension>,
}

impl ContentFile {
    /// A file from its bytes.
    pub fn new(
        file_name: impl Into<String>,
        content_type: impl Into<String>,
        bytes: &[u8],
    ) -> Self {
        ContentFile {
            file_name: file_name.into(),
            content_type: content_type.into(),
            content: STANDARD.encode(bytes),
            extensions: Vec::new(),
        }
    }

    /// How many bytes the Base64 content decodes to, without decoding it (whitespace
    /// ignored; exact for valid Base64, which a validated message has).
    pub fn decoded_len(&self) -> u64 {
        let mut chars = 0u64;
        let mut padding = 0u64;
        for b in self.content.bytes() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => {}
                b'=' => {
                    chars += 1;
                    padding += 1;
                }
                _ => chars += 1,
            }
        }
        (chars / 4 * 3).saturating_sub(padding.min(2))
    }

    /// The file's bytes (the content is valid Base64 in a validated message).
    pub fn decode(&self) -> Result<Vec<u8>, base64::DecodeError> {
        let compact: String = self
            .content
            .chars()
            .filter(|c| !matches!(c, ' ' | '\t' | '\r' | '\n'))
            .collect();
        STANDARD.decode(compact)
    }
}

/// `ContentText`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContentText {
    /// `characterSequence`: UTF-8 text, limited Markdown.
    pub character_sequence: String,
    /// Extensions.
    pub extensions: Vec<Extension>,
}

/// An extension element from another namespace, as self-contained XML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Extension {
    xml: String,
}

/// XML that cannot be an extension.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionError {
    /// Not one well-formed element.
    #[error("extension is not one well-formed XML element: {0}")]
    NotWellFormed(String),
    /// In the message's own namespace, or in none.
    #[error("an extension element must be in a namespace other than the message's")]
    WrongNamespace,
}

impl Extension {
    /// Checks that `xml` is one element in a foreign namespace.
    pub fn parse(xml: &str) -> Result<Self, ExtensionError> {
        let options = ParseOptions {
            limits: Limits::SMALL,
            ..ParseOptions::default()
        };
        let doc = Document::parse_slice(xml.as_bytes(), &options)
            .map_err(|e| ExtensionError::NotWellFormed(e.to_string()))?;
        match doc.root().namespace() {
            Some(ns) if ns != TNS => Ok(Extension {
                xml: xml.trim().to_owned(),
            }),
            _ => Err(ExtensionError::WrongNamespace),
        }
    }

    /// The element as XML.
    pub fn xml(&self) -> &str {
        &self.xml
    }

    /// The element `e` of a document whose bytes are `source`, with the inherited namespace
    /// declarations it visibly uses (element and attribute prefixes, as exclusive C14N
    /// decides) added.
    fn from_element(e: ElementRef<'_>, source: &[u8]) -> Extension {
        let span = e.span();
        let whole = String::from_utf8_lossy(source.get(span.whole()).unwrap_or_default());
        let name_end = 1 + e.qname().len();
        let own = e.namespace_declarations();
        let mut used: Vec<Option<&str>> = Vec::new();
        for d in e.descendants() {
            used.push(d.prefix());
            used.extend(d.attributes().filter_map(|a| a.prefix().map(Some)));
        }
        let mut decls = String::new();
        for d in e.in_scope_namespaces() {
            let declared_here = own.iter().any(|o| o.prefix == d.prefix);
            if declared_here || !used.contains(&d.prefix.as_deref()) {
                continue;
            }
            let uri = d
                .uri
                .replace('&', "&amp;")
                .replace('"', "&quot;")
                .replace('<', "&lt;");
            match d.prefix {
                Some(p) => decls.push_str(&format!(" xmlns:{p}=\"{uri}\"")),
                None => decls.push_str(&format!(" xmlns=\"{uri}\"")),
            }
        }
        let (head, tail) = whole.split_at(name_end.min(whole.len()));
        Extension {
            xml: format!("{head}{decls}{tail}"),
        }
    }
}

/// The result of validating a payload.
#[derive(Debug, Clone)]
pub struct MessageCheck {
    /// The findings: XSD-MSG only (schematron is not run after a schema failure), or the
    /// MessageConstraints and GW-MSG-1..3 findings.
    pub report: Report,
    /// The typed message, whenever the XSD check passed.
    pub message: Option<SdkMessage>,
}

/// Validates the payload whose root is `root` (`source`: the bytes `root`'s tree was parsed
/// from). Stage 9 (XSD), then stage 10 (schematron and the gateway's content rules).
pub fn validate(root: ElementRef<'_>, source: &[u8]) -> MessageCheck {
    let report = schema::check(root);
    if !report.is_empty() {
        return MessageCheck {
            report,
            message: None,
        };
    }
    let message = read_message(root, source);
    MessageCheck {
        report: constraints::check(root),
        message,
    }
}

/// Only stage 10 (MessageConstraints and GW-MSG-1..3), whatever the XSD says: for
/// diagnostics and for comparing with DIGG's schematron, which also runs on invalid input.
pub fn check_constraints(root: ElementRef<'_>) -> Report {
    constraints::check(root)
}

/// Validates a standalone SDK message document.
pub fn validate_document(doc: &Document) -> MessageCheck {
    validate(doc.root(), doc.bytes())
}

struct Reader<'s> {
    source: &'s [u8],
}

impl Reader<'_> {
    fn text(&self, m: &Matched<'_>, i: usize) -> Option<String> {
        m.first(i).map(|e| e.text())
    }

    fn extensions(&self, m: &Matched<'_>) -> Vec<Extension> {
        m.extensions
            .iter()
            .map(|e| Extension::from_element(*e, self.source))
            .collect()
    }

    fn ii(&self, e: ElementRef<'_>) -> Option<Ii> {
        let m = Type::Ii.children(e);
        Some(Ii {
            root: self.text(&m, 0)?,
            extension: self.text(&m, 1)?,
        })
    }

    fn ii_at(&self, m: &Matched<'_>, i: usize) -> Option<Option<Ii>> {
        match m.first(i) {
            Some(e) => Some(Some(self.ii(e)?)),
            None => Some(None),
        }
    }

    fn attention(&self, e: ElementRef<'_>) -> Option<Attention> {
        let m = Type::Attention.children(e);
        let persons = m
            .slot(0)
            .iter()
            .map(|p| self.person(*p))
            .collect::<Option<_>>()?;
        let references = m
            .slot(2)
            .iter()
            .map(|r| {
                let rm = Type::Reference.children(*r);
                Some(Reference {
                    id: self.ii(rm.first(0)?)?,
                    label: self.text(&rm, 1),
                    extensions: self.extensions(&rm),
                })
            })
            .collect::<Option<_>>()?;
        let so = m.first(1)?;
        let sm = Type::SubOrganization.children(so);
        Some(Attention {
            persons,
            sub_organization: SubOrganization {
                id: self.ii(sm.first(0)?)?,
                label: self.text(&sm, 1),
                extensions: self.extensions(&sm),
            },
            references,
            extensions: self.extensions(&m),
        })
    }

    fn person(&self, e: ElementRef<'_>) -> Option<Person> {
        let m = Type::Person.children(e);
        Some(Person {
            id: self.ii_at(&m, 0)?,
            label: self.text(&m, 1),
            extensions: self.extensions(&m),
        })
    }

    fn header(&self, e: ElementRef<'_>) -> Option<MessageHeader> {
        let m = Type::Header.children(e);
        let rm = Type::Recipient.children(m.first(at::HEADER_RECIPIENT)?);
        let sm = Type::Sender.children(m.first(at::HEADER_SENDER)?);
        let sender_attention = match sm.first(2) {
            Some(a) => Some(self.attention(a)?),
            None => None,
        };
        Some(MessageHeader {
            creation_date_time: self.text(&m, at::HEADER_CREATED)?,
            message_id: self.text(&m, at::HEADER_MESSAGE_ID)?,
            conversation_id: self.text(&m, at::HEADER_CONVERSATION)?,
            ref_to_message_id: self.text(&m, at::HEADER_REF),
            label: self.text(&m, at::HEADER_LABEL),
            confidentiality: parse_boolean(&self.text(&m, at::HEADER_CONFIDENTIALITY)?)?,
            generating_system: self.ii_at(&m, at::HEADER_GENERATING)?,
            recipient: Recipient {
                id: self.ii(rm.first(0)?)?,
                label: self.text(&rm, 1),
                attention: self.attention(rm.first(2)?)?,
                extensions: self.extensions(&rm),
            },
            sender: Sender {
                id: self.ii(sm.first(0)?)?,
                label: self.text(&sm, 1),
                attention: sender_attention,
                extensions: self.extensions(&sm),
            },
            extensions: self.extensions(&m),
        })
    }

    fn document(&self, e: ElementRef<'_>) -> Option<DigitalDocument> {
        let m = Type::Document.children(e);
        let files = m
            .slot(3)
            .iter()
            .map(|f| {
                let fm = Type::ContentFile.children(*f);
                Some(ContentFile {
                    file_name: self.text(&fm, 0)?,
                    content_type: self.text(&fm, 1)?,
                    content: self.text(&fm, 2)?,
                    extensions: self.extensions(&fm),
                })
            })
            .collect::<Option<_>>()?;
        let texts = m
            .slot(4)
            .iter()
            .map(|t| {
                let tm = Type::ContentText.children(*t);
                Some(ContentText {
                    character_sequence: self.text(&tm, 0)?,
                    extensions: self.extensions(&tm),
                })
            })
            .collect::<Option<_>>()?;
        Some(DigitalDocument {
            document_id: self.text(&m, 0)?,
            document_name: self.text(&m, 1),
            index: self.text(&m, 2),
            files,
            texts,
            extensions: self.extensions(&m),
        })
    }
}

/// Builds the model of a schema-valid payload.
fn read_message(root: ElementRef<'_>, source: &[u8]) -> Option<SdkMessage> {
    let r = Reader { source };
    let message = Type::Payload.children(root).first(0)?;
    let mm = Type::Message.children(message);
    let bm = Type::Body.children(mm.first(1)?);
    Some(SdkMessage {
        header: r.header(mm.first(0)?)?,
        body: MessageBody {
            documents: bm
                .slot(0)
                .iter()
                .map(|d| r.document(*d))
                .collect::<Option<_>>()?,
            extensions: r.extensions(&bm),
        },
        extensions: r.extensions(&mm),
    })
}

/// What a simple outbound message needs (the `sdkgw envelope seal --subject` case).
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// `messageId` (and conversationId of a new conversation).
    pub message_id: uuid::Uuid,
    /// `creationDateTime`.
    pub created: OffsetDateTime,
    /// Sender organisation.
    pub from: ParticipantId,
    /// Sender function mailbox, if any.
    pub from_function: Option<FunctionAddress>,
    /// Recipient organisation.
    pub to: ParticipantId,
    /// Recipient function mailbox.
    pub to_function: FunctionAddress,
    /// Subject (`label`).
    pub subject: String,
    /// Text of the one document, if any.
    pub text: Option<String>,
    /// Attachments.
    pub files: Vec<ContentFile>,
    /// `confidentiality`.
    pub confidential: bool,
}

fn participant_ii(p: &ParticipantId) -> Ii {
    Ii {
        root: ParticipantId::SCHEME.to_owned(),
        extension: p.value().to_owned(),
    }
}

fn function_attention(f: &FunctionAddress) -> Attention {
    Attention {
        persons: Vec::new(),
        sub_organization: SubOrganization {
            id: Ii {
                root: FunctionAddress::SCHEME.to_owned(),
                extension: f.as_str().to_owned(),
            },
            label: None,
            extensions: Vec::new(),
        },
        references: Vec::new(),
        extensions: Vec::new(),
    }
}

impl SdkMessage {
    /// A new message with one document (the text and the files).
    pub fn new(m: NewMessage) -> SdkMessage {
        let id = m.message_id.hyphenated().to_string();
        SdkMessage {
            header: MessageHeader {
                creation_date_time: format_utc_millis(m.created),
                message_id: id.clone(),
                conversation_id: id,
                ref_to_message_id: None,
                label: Some(m.subject),
                confidentiality: m.confidential,
                generating_system: None,
                recipient: Recipient {
                    id: participant_ii(&m.to),
                    label: None,
                    attention: function_attention(&m.to_function),
                    extensions: Vec::new(),
                },
                sender: Sender {
                    id: participant_ii(&m.from),
                    label: None,
                    attention: m.from_function.as_ref().map(function_attention),
                    extensions: Vec::new(),
                },
                extensions: Vec::new(),
            },
            body: MessageBody {
                documents: vec![DigitalDocument {
                    document_id: "1".to_owned(),
                    document_name: None,
                    index: Some("1".to_owned()),
                    files: m.files,
                    texts: m
                        .text
                        .into_iter()
                        .map(|t| ContentText {
                            character_sequence: t,
                            extensions: Vec::new(),
                        })
                        .collect(),
                    extensions: Vec::new(),
                }],
                extensions: Vec::new(),
            },
            extensions: Vec::new(),
        }
    }

    /// The message's content as DIGG's 30 MB limit measures it (lead decision, README
    /// "Message flow"): the decoded bytes of every file plus the UTF-8 bytes of every text
    /// body — what the mailbox API counts on submission (`[api] max_content_bytes`).
    pub fn content_bytes(&self) -> u64 {
        self.body
            .documents
            .iter()
            .map(|d| {
                let files: u64 = d.files.iter().map(ContentFile::decoded_len).sum();
                let texts: u64 = d
                    .texts
                    .iter()
                    .map(|t| t.character_sequence.len() as u64)
                    .sum();
                files + texts
            })
            .sum()
    }

    /// The recipient's function address (`recipient/attention/subOrganization`), as written.
    pub fn recipient_function(&self) -> &str {
        &self
            .header
            .recipient
            .attention
            .sub_organization
            .id
            .extension
    }

    /// The sender's function address, if the sender has an `attention`.
    pub fn sender_function(&self) -> Option<&str> {
        self.header
            .sender
            .attention
            .as_ref()
            .map(|a| a.sub_organization.id.extension.as_str())
    }

    /// `creationDateTime` as an instant, when it has a time zone.
    pub fn created(&self) -> Option<OffsetDateTime> {
        parse_datetime(&self.header.creation_date_time).and_then(|d| d.instant)
    }

    /// The `messagePayload` element (no XML declaration), declaring the `tns` prefix.
    pub fn to_xml(&self) -> Result<String, InvalidCharacter> {
        let mut out = XmlOut::fragment(0);
        out.start("tns:messagePayload", &[("xmlns:tns", TNS)])?;
        out.start("tns:message", &[])?;
        write_header(&mut out, &self.header)?;
        out.start("tns:messageBody", &[])?;
        for d in &self.body.documents {
            write_document(&mut out, d)?;
        }
        write_extensions(&mut out, &self.body.extensions);
        out.end("tns:messageBody");
        write_extensions(&mut out, &self.extensions);
        out.end("tns:message");
        out.end("tns:messagePayload");
        Ok(out.into_fragment())
    }
}

fn write_extensions(out: &mut XmlOut, extensions: &[Extension]) {
    for e in extensions {
        out.raw(e.xml());
    }
}

fn write_ii(out: &mut XmlOut, name: &str, ii: &Ii) -> Result<(), InvalidCharacter> {
    out.start(name, &[])?;
    out.leaf("tns:root", &[], &ii.root)?;
    out.leaf("tns:extension", &[], &ii.extension)?;
    out.end(name);
    Ok(())
}

fn write_attention(out: &mut XmlOut, a: &Attention) -> Result<(), InvalidCharacter> {
    out.start("tns:attention", &[])?;
    for p in &a.persons {
        out.start("tns:person", &[])?;
        if let Some(id) = &p.id {
            write_ii(out, "tns:personId", id)?;
        }
        out.optional_leaf("tns:label", p.label.as_deref())?;
        write_extensions(out, &p.extensions);
        out.end("tns:person");
    }
    let so = &a.sub_organization;
    out.start("tns:subOrganization", &[])?;
    write_ii(out, "tns:organizationId", &so.id)?;
    out.optional_leaf("tns:label", so.label.as_deref())?;
    write_extensions(out, &so.extensions);
    out.end("tns:subOrganization");
    for r in &a.references {
        out.start("tns:reference", &[])?;
        write_ii(out, "tns:referenceId", &r.id)?;
        out.optional_leaf("tns:label", r.label.as_deref())?;
        write_extensions(out, &r.extensions);
        out.end("tns:reference");
    }
    write_extensions(out, &a.extensions);
    out.end("tns:attention");
    Ok(())
}

fn write_header(out: &mut XmlOut, h: &MessageHeader) -> Result<(), InvalidCharacter> {
    out.start("tns:messageHeader", &[])?;
    out.leaf("tns:creationDateTime", &[], &h.creation_date_time)?;
    out.leaf("tns:messageId", &[], &h.message_id)?;
    out.leaf("tns:conversationId", &[], &h.conversation_id)?;
    out.optional_leaf("tns:refToMessageId", h.ref_to_message_id.as_deref())?;
    out.optional_leaf("tns:label", h.label.as_deref())?;
    out.leaf(
        "tns:confidentiality",
        &[],
        if h.confidentiality { "true" } else { "false" },
    )?;
    if let Some(g) = &h.generating_system {
        write_ii(out, "tns:generatingSystem", g)?;
    }
    out.start("tns:recipient", &[])?;
    write_ii(out, "tns:recipientID", &h.recipient.id)?;
    out.optional_leaf("tns:label", h.recipient.label.as_deref())?;
    write_attention(out, &h.recipient.attention)?;
    write_extensions(out, &h.recipient.extensions);
    out.end("tns:recipient");
    out.start("tns:sender", &[])?;
    write_ii(out, "tns:senderID", &h.sender.id)?;
    out.optional_leaf("tns:label", h.sender.label.as_deref())?;
    if let Some(a) = &h.sender.attention {
        write_attention(out, a)?;
    }
    write_extensions(out, &h.sender.extensions);
    out.end("tns:sender");
    write_extensions(out, &h.extensions);
    out.end("tns:messageHeader");
    Ok(())
}

fn write_document(out: &mut XmlOut, d: &DigitalDocument) -> Result<(), InvalidCharacter> {
    out.start("tns:documents", &[])?;
    out.leaf("tns:documentID", &[], &d.document_id)?;
    out.optional_leaf("tns:documentName", d.document_name.as_deref())?;
    out.optional_leaf("tns:index", d.index.as_deref())?;
    for f in &d.files {
        out.start("tns:ContentFiles", &[])?;
        out.leaf("tns:fileName", &[], &f.file_name)?;
        out.leaf("tns:contentType", &[], &f.content_type)?;
        out.leaf("tns:content", &[], &f.content)?;
        write_extensions(out, &f.extensions);
        out.end("tns:ContentFiles");
    }
    for t in &d.texts {
        out.start("tns:ContentText", &[])?;
        out.leaf("tns:characterSequence", &[], &t.character_sequence)?;
        write_extensions(out, &t.extensions);
        out.end("tns:ContentText");
    }
    write_extensions(out, &d.extensions);
    out.end("tns:documents");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoded_len_is_exact_for_every_padding_and_ignores_line_breaks() {
        for n in 0..20usize {
            let bytes: Vec<u8> = (0..n as u8).collect();
            let mut f = ContentFile::new("f", "application/pdf", &bytes);
            assert_eq!(f.decoded_len(), n as u64, "{n} bytes");
            f.content = f
                .content
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("\r\n ");
            assert_eq!(f.decoded_len(), n as u64, "{n} bytes, wrapped");
        }
    }
}
