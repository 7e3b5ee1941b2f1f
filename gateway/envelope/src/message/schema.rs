//! The MessageWithAttachments 3.0 XSD, checked natively: element order and cardinality, the
//! `xs:any namespace="##other" processContents="lax"` extension points, element-only
//! content, no attributes, and the simple types the schema uses (`xs:dateTime`,
//! `xs:boolean`, `maxLength 256`).

use sdkgw_schemas::MessageRule;
use sdkgw_xml_security::xml::ElementRef;

use crate::datatypes::{parse_boolean, parse_datetime};
use crate::finding::{Report, excerpt};
use crate::ns::{TNS, XSI};
use crate::path::{attribute_xpath, xpath};
use crate::structure::{Matched, Sequence, check_sequence, check_simple, many, one, optional};

/// Where each complex type's children are in its sequence, for the model reader.
pub(crate) mod at {
    pub(crate) const HEADER_CREATED: usize = 0;
    pub(crate) const HEADER_MESSAGE_ID: usize = 1;
    pub(crate) const HEADER_CONVERSATION: usize = 2;
    pub(crate) const HEADER_REF: usize = 3;
    pub(crate) const HEADER_LABEL: usize = 4;
    pub(crate) const HEADER_CONFIDENTIALITY: usize = 5;
    pub(crate) const HEADER_GENERATING: usize = 6;
    pub(crate) const HEADER_RECIPIENT: usize = 7;
    pub(crate) const HEADER_SENDER: usize = 8;
}

/// The complex types of the schema (and the simple content of their leaves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    Payload,
    Message,
    Header,
    Ii,
    Recipient,
    Sender,
    Attention,
    Person,
    SubOrganization,
    Reference,
    Body,
    Document,
    ContentFile,
    ContentText,
}

/// Content of a child element: a complex type or a simple type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    Complex(Type),
    String,
    Label,
    DateTime,
    Boolean,
}

const fn seq(particles: &'static [crate::structure::Particle], any: bool) -> Sequence {
    Sequence {
        particles,
        any_other: if any { Some(TNS) } else { None },
    }
}

use Content::{Boolean, Complex, DateTime, Label, String};

const PAYLOAD_MODEL: (Sequence, &[Content]) = (
    seq(&[one(TNS, "message")], false),
    &[Complex(Type::Message)],
);
const MESSAGE_MODEL: (Sequence, &[Content]) = (
    seq(&[one(TNS, "messageHeader"), one(TNS, "messageBody")], true),
    &[Complex(Type::Header), Complex(Type::Body)],
);
const HEADER_MODEL: (Sequence, &[Content]) = (
    seq(
        &[
            one(TNS, "creationDateTime"),
            one(TNS, "messageId"),
            one(TNS, "conversationId"),
            optional(TNS, "refToMessageId"),
            optional(TNS, "label"),
            one(TNS, "confidentiality"),
            optional(TNS, "generatingSystem"),
            one(TNS, "recipient"),
            one(TNS, "sender"),
        ],
        true,
    ),
    &[
        DateTime,
        String,
        String,
        String,
        String,
        Boolean,
        Complex(Type::Ii),
        Complex(Type::Recipient),
        Complex(Type::Sender),
    ],
);
const II_MODEL: (Sequence, &[Content]) = (
    seq(&[one(TNS, "root"), one(TNS, "extension")], false),
    &[String, String],
);
const RECIPIENT_MODEL: (Sequence, &[Content]) = (
    seq(
        &[
            one(TNS, "recipientID"),
            optional(TNS, "label"),
            one(TNS, "attention"),
        ],
        true,
    ),
    &[Complex(Type::Ii), Label, Complex(Type::Attention)],
);
const SENDER_MODEL: (Sequence, &[Content]) = (
    seq(
        &[
            one(TNS, "senderID"),
            optional(TNS, "label"),
            optional(TNS, "attention"),
        ],
        true,
    ),
    &[Complex(Type::Ii), Label, Complex(Type::Attention)],
);
const ATTENTION_MODEL: (Sequence, &[Content]) = (
    seq(
        &[
            many(TNS, "person", 0),
            one(TNS, "subOrganization"),
            many(TNS, "reference", 0),
        ],
        true,
    ),
    &[
        Complex(Type::Person),
        Complex(Type::SubOrganization),
        Complex(Type::Reference),
    ],
);
const PERSON_MODEL: (Sequence, &[Content]) = (
    seq(&[optional(TNS, "personId"), optional(TNS, "label")], true),
    &[Complex(Type::Ii), Label],
);
const SUB_ORGANIZATION_MODEL: (Sequence, &[Content]) = (
    seq(&[one(TNS, "organizationId"), optional(TNS, "label")], true),
    &[Complex(Type::Ii), Label],
);
const REFERENCE_MODEL: (Sequence, &[Content]) = (
    seq(&[one(TNS, "referenceId"), optional(TNS, "label")], true),
    &[Complex(Type::Ii), Label],
);
const BODY_MODEL: (Sequence, &[Content]) = (
    seq(&[many(TNS, "documents", 1)], true),
    &[Complex(Type::Document)],
);
const DOCUMENT_MODEL: (Sequence, &[Content]) = (
    seq(
        &[
            one(TNS, "documentID"),
            optional(TNS, "documentName"),
            optional(TNS, "index"),
            many(TNS, "ContentFiles", 0),
            many(TNS, "ContentText", 0),
        ],
        true,
    ),
    &[
        String,
        String,
        String,
        Complex(Type::ContentFile),
        Complex(Type::ContentText),
    ],
);
const CONTENT_FILE_MODEL: (Sequence, &[Content]) = (
    seq(
        &[
            one(TNS, "fileName"),
            one(TNS, "contentType"),
            one(TNS, "content"),
        ],
        true,
    ),
    &[String, String, String],
);
const CONTENT_TEXT_MODEL: (Sequence, &[Content]) =
    (seq(&[one(TNS, "characterSequence")], true), &[String]);

impl Type {
    /// The type's sequence and the content of each particle (same order).
    fn model(self) -> (Sequence, &'static [Content]) {
        match self {
            Type::Payload => PAYLOAD_MODEL,
            Type::Message => MESSAGE_MODEL,
            Type::Header => HEADER_MODEL,
            Type::Ii => II_MODEL,
            Type::Recipient => RECIPIENT_MODEL,
            Type::Sender => SENDER_MODEL,
            Type::Attention => ATTENTION_MODEL,
            Type::Person => PERSON_MODEL,
            Type::SubOrganization => SUB_ORGANIZATION_MODEL,
            Type::Reference => REFERENCE_MODEL,
            Type::Body => BODY_MODEL,
            Type::Document => DOCUMENT_MODEL,
            Type::ContentFile => CONTENT_FILE_MODEL,
            Type::ContentText => CONTENT_TEXT_MODEL,
        }
    }

    /// Matches `e`'s children against this type (no findings; for the model reader, which
    /// runs only on schema-valid messages).
    pub(crate) fn children<'a>(self, e: ElementRef<'a>) -> Matched<'a> {
        check_sequence(e, &self.model().0)
    }
}

/// Checks a decrypted payload root against the schema.
pub(crate) fn check(root: ElementRef<'_>) -> Report {
    let mut report = Report::default();
    if !root.is(Some(TNS), "messagePayload") {
        report.add(
            MessageRule::Xsd,
            xpath(root),
            &format!(
                "the root element is {{{}}}{}, expected tns:messagePayload",
                root.namespace().unwrap_or_default(),
                root.local_name()
            ),
        );
        return report;
    }
    check_complex(root, Type::Payload, &mut report);
    report
}

fn check_attributes(e: ElementRef<'_>, report: &mut Report) {
    for attr in e.attributes() {
        let schema_hint = attr.namespace() == Some(XSI)
            && matches!(
                attr.local_name(),
                "schemaLocation" | "noNamespaceSchemaLocation"
            );
        if !schema_hint {
            report.add(
                MessageRule::Xsd,
                attribute_xpath(e, attr.qname()),
                &format!("attribute {} is not allowed", attr.qname()),
            );
        }
    }
}

fn check_complex(e: ElementRef<'_>, ty: Type, report: &mut Report) {
    check_attributes(e, report);
    let (sequence, contents) = ty.model();
    let m = check_sequence(e, &sequence);
    for (path, what) in &m.errors {
        report.add(MessageRule::Xsd, path.clone(), what);
    }
    for (i, content) in contents.iter().enumerate() {
        for child in m.slot(i) {
            match content {
                Content::Complex(t) => check_complex(*child, *t, report),
                simple => check_leaf(*child, *simple, report),
            }
        }
    }
    for ext in &m.extensions {
        check_lax(*ext, report);
    }
}

fn check_leaf(e: ElementRef<'_>, content: Content, report: &mut Report) {
    check_attributes(e, report);
    if let Some((path, what)) = check_simple(e) {
        report.add(MessageRule::Xsd, path, &what);
        return;
    }
    let text = e.text();
    match content {
        Content::DateTime if parse_datetime(&text).is_none() => report.add(
            MessageRule::Xsd,
            xpath(e),
            &format!("{} is not a valid xs:dateTime", excerpt(&text)),
        ),
        Content::Boolean if parse_boolean(&text).is_none() => report.add(
            MessageRule::Xsd,
            xpath(e),
            &format!("{} is not a valid xs:boolean", excerpt(&text)),
        ),
        Content::Label if text.chars().count() > 256 => report.add(
            MessageRule::Xsd,
            xpath(e),
            &format!(
                "value has {} characters, more than maxLength 256 (value not shown)",
                text.chars().count()
            ),
        ),
        _ => {}
    }
}

/// Lax processing of an extension element: only elements with a global declaration are
/// validated, and the schema declares one, `messagePayload`.
fn check_lax(ext: ElementRef<'_>, report: &mut Report) {
    for nested in ext.descendants().skip(1) {
        if nested.is(Some(TNS), "messagePayload")
            && !nested
                .ancestors()
                .any(|a| a != ext && a.is(Some(TNS), "messagePayload") && ext.contains(a))
        {
            check_complex(nested, Type::Payload, report);
        }
    }
}
