//! Serialises `eb:Messaging` headers. The prefixes `S12`, `eb`, `wsu`, `ebbp` and `ds` are
//! declared on the SOAP envelope ([`crate::soap::ENVELOPE_OPEN`]); the output is a fragment
//! to place inside `S12:Header`.

use std::fmt::Write as _;

use base64::Engine as _;

use super::error::EbmsError;
use super::model::{
    CollaborationInfo, MessageInfo, NrReference, PartInfo, Party, Property, Signal, SignalMessage,
    UserMessage,
};
use crate::text::{esc_attr, esc_text, xsd_datetime};

const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";

/// `eb:Messaging` with one `eb:UserMessage`, carrying `wsu:Id="{id}"` (the signature
/// references it) and `S12:mustUnderstand="true"`.
pub fn user_message_header(um: &UserMessage, id: &str) -> String {
    let mut s = messaging_open(Some(id));
    s.push_str("<eb:UserMessage");
    if let Some(mpc) = &um.mpc {
        let _ = write!(s, " mpc=\"{}\"", esc_attr(mpc));
    }
    s.push('>');
    message_info(&mut s, &um.info);
    s.push_str("<eb:PartyInfo>");
    party(&mut s, "From", &um.from);
    party(&mut s, "To", &um.to);
    s.push_str("</eb:PartyInfo>");
    collaboration(&mut s, &um.collaboration);
    if !um.properties.is_empty() {
        s.push_str("<eb:MessageProperties>");
        um.properties.iter().for_each(|p| property(&mut s, p));
        s.push_str("</eb:MessageProperties>");
    }
    if !um.parts.is_empty() {
        s.push_str("<eb:PayloadInfo>");
        um.parts.iter().for_each(|p| part_info(&mut s, p));
        s.push_str("</eb:PayloadInfo>");
    }
    s.push_str("</eb:UserMessage></eb:Messaging>");
    s
}

/// `eb:Messaging` with one `eb:SignalMessage`; `id` is the `wsu:Id` (signed receipts).
pub fn signal_message_header(sm: &SignalMessage, id: Option<&str>) -> String {
    let mut s = messaging_open(id);
    s.push_str("<eb:SignalMessage>");
    message_info(&mut s, &sm.info);
    match &sm.signal {
        Signal::Receipt(refs) => {
            s.push_str("<eb:Receipt><ebbp:NonRepudiationInformation>");
            refs.iter().for_each(|r| nr_reference(&mut s, r));
            s.push_str("</ebbp:NonRepudiationInformation></eb:Receipt>");
        }
        Signal::PlainReceipt => s.push_str("<eb:Receipt/>"),
        Signal::Errors(errors) => errors.iter().for_each(|e| error(&mut s, e)),
    }
    s.push_str("</eb:SignalMessage></eb:Messaging>");
    s
}

fn messaging_open(id: Option<&str>) -> String {
    let mut s = String::with_capacity(2048);
    s.push_str("<eb:Messaging S12:mustUnderstand=\"true\"");
    if let Some(id) = id {
        let _ = write!(s, " wsu:Id=\"{}\"", esc_attr(id));
    }
    s.push('>');
    s
}

fn message_info(s: &mut String, info: &MessageInfo) {
    let _ = write!(
        s,
        "<eb:MessageInfo><eb:Timestamp>{}</eb:Timestamp><eb:MessageId>{}</eb:MessageId>",
        xsd_datetime(info.timestamp),
        esc_text(&info.message_id)
    );
    if let Some(r) = &info.ref_to_message_id {
        let _ = write!(s, "<eb:RefToMessageId>{}</eb:RefToMessageId>", esc_text(r));
    }
    s.push_str("</eb:MessageInfo>");
}

fn party(s: &mut String, element: &str, p: &Party) {
    let _ = write!(s, "<eb:{element}><eb:PartyId");
    if let Some(t) = &p.party_type {
        let _ = write!(s, " type=\"{}\"", esc_attr(t));
    }
    let _ = write!(
        s,
        ">{}</eb:PartyId><eb:Role>{}</eb:Role></eb:{element}>",
        esc_text(&p.party_id),
        esc_text(&p.role)
    );
}

fn collaboration(s: &mut String, c: &CollaborationInfo) {
    s.push_str("<eb:CollaborationInfo>");
    if let Some(a) = &c.agreement_ref {
        let _ = write!(s, "<eb:AgreementRef>{}</eb:AgreementRef>", esc_text(a));
    }
    s.push_str("<eb:Service");
    if let Some(t) = &c.service_type {
        let _ = write!(s, " type=\"{}\"", esc_attr(t));
    }
    let _ = write!(
        s,
        ">{}</eb:Service><eb:Action>{}</eb:Action><eb:ConversationId>{}</eb:ConversationId>",
        esc_text(&c.service),
        esc_text(&c.action),
        esc_text(&c.conversation_id)
    );
    s.push_str("</eb:CollaborationInfo>");
}

fn property(s: &mut String, p: &Property) {
    let _ = write!(s, "<eb:Property name=\"{}\"", esc_attr(&p.name));
    if let Some(t) = &p.property_type {
        let _ = write!(s, " type=\"{}\"", esc_attr(t));
    }
    let _ = write!(s, ">{}</eb:Property>", esc_text(&p.value));
}

fn part_info(s: &mut String, p: &PartInfo) {
    s.push_str("<eb:PartInfo");
    if let Some(h) = &p.href {
        let _ = write!(s, " href=\"{}\"", esc_attr(h));
    }
    s.push('>');
    if !p.properties.is_empty() {
        s.push_str("<eb:PartProperties>");
        p.properties.iter().for_each(|pp| property(s, pp));
        s.push_str("</eb:PartProperties>");
    }
    s.push_str("</eb:PartInfo>");
}

fn nr_reference(s: &mut String, r: &NrReference) {
    let _ = write!(
        s,
        "<ebbp:MessagePartNRInformation><ds:Reference URI=\"{}\">",
        esc_attr(&r.uri)
    );
    if !r.transforms.is_empty() {
        s.push_str("<ds:Transforms>");
        for (alg, prefixes) in &r.transforms {
            match prefixes {
                Some(list) => {
                    let _ = write!(
                        s,
                        "<ds:Transform Algorithm=\"{}\"><ec:InclusiveNamespaces \
                         xmlns:ec=\"{EXC_C14N}\" PrefixList=\"{}\"/></ds:Transform>",
                        esc_attr(alg),
                        esc_attr(list)
                    );
                }
                None => {
                    let _ = write!(s, "<ds:Transform Algorithm=\"{}\"/>", esc_attr(alg));
                }
            }
        }
        s.push_str("</ds:Transforms>");
    }
    let _ = write!(
        s,
        "<ds:DigestMethod Algorithm=\"{}\"/><ds:DigestValue>{}</ds:DigestValue></ds:Reference>\
         </ebbp:MessagePartNRInformation>",
        esc_attr(&r.digest_method),
        base64::engine::general_purpose::STANDARD.encode(&r.digest_value)
    );
}

fn error(s: &mut String, e: &EbmsError) {
    s.push_str("<eb:Error");
    // Attributes in the order of the ebMS3 schema.
    let attrs = [
        ("category", e.category.as_deref()),
        ("errorCode", Some(e.error_code.as_str())),
        ("origin", e.origin.as_deref()),
        ("refToMessageInError", e.ref_to_message_in_error.as_deref()),
        ("severity", Some(e.severity.as_str())),
        ("shortDescription", e.short_description.as_deref()),
    ];
    for (name, value) in attrs {
        if let Some(v) = value {
            let _ = write!(s, " {name}=\"{}\"", esc_attr(v));
        }
    }
    if e.description.is_none() && e.detail.is_none() {
        s.push_str("/>");
        return;
    }
    s.push('>');
    if let Some(d) = &e.description {
        let _ = write!(
            s,
            "<eb:Description xml:lang=\"en\">{}</eb:Description>",
            esc_text(d)
        );
    }
    if let Some(d) = &e.detail {
        let _ = write!(s, "<eb:ErrorDetail>{}</eb:ErrorDetail>", esc_text(d));
    }
    s.push_str("</eb:Error>");
}
