//! Parses `eb:Messaging` from the hardened XML tree. Elements are found by name under their
//! parent (a repeated single-valued element is an error, never "the first one"); values are
//! trimmed text. Shape problems are [`HeaderError`]s, which map to `EBMS:0009`.

use base64::Engine as _;
use sdkgw_xml_security::xml::{ElementRef, StructureError};

use super::error::{EbmsError, Severity};
use super::model::{
    CollaborationInfo, MessageInfo, NrReference, PartInfo, Party, Property, Signal, SignalMessage,
    UserMessage,
};
use super::{EBBP_NS, EBMS_NS};
use crate::text::parse_xsd_datetime;

const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";

/// Why an `eb:Messaging` header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ebMS header: {0}")]
pub struct HeaderError(pub String);

impl From<StructureError> for HeaderError {
    fn from(e: StructureError) -> Self {
        HeaderError(e.to_string())
    }
}

/// Everything one `eb:Messaging` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Messaging {
    pub user_messages: Vec<UserMessage>,
    pub signal_messages: Vec<SignalMessage>,
}

/// Reads an `eb:Messaging` element.
pub fn messaging(e: ElementRef<'_>) -> Result<Messaging, HeaderError> {
    let e = e.expect(Some(EBMS_NS), "Messaging")?;
    let mut out = Messaging {
        user_messages: Vec::new(),
        signal_messages: Vec::new(),
    };
    for child in e.child_elements() {
        match (child.namespace(), child.local_name()) {
            (Some(EBMS_NS), "UserMessage") => out.user_messages.push(user_message(child)?),
            (Some(EBMS_NS), "SignalMessage") => out.signal_messages.push(signal_message(child)?),
            _ => {
                return Err(HeaderError(format!(
                    "unexpected element {} in eb:Messaging",
                    child.display_name()
                )));
            }
        }
    }
    if out.user_messages.is_empty() && out.signal_messages.is_empty() {
        return Err(HeaderError("eb:Messaging is empty".into()));
    }
    Ok(out)
}

fn eb<'a>(parent: ElementRef<'a>, local: &str) -> Result<ElementRef<'a>, HeaderError> {
    Ok(parent.required_child(Some(EBMS_NS), local)?)
}

fn eb_opt<'a>(parent: ElementRef<'a>, local: &str) -> Result<Option<ElementRef<'a>>, HeaderError> {
    Ok(parent.optional_child(Some(EBMS_NS), local)?)
}

/// Trimmed text of a leaf element; empty is an error.
fn value(e: ElementRef<'_>) -> Result<String, HeaderError> {
    if e.child_elements().next().is_some() {
        return Err(HeaderError(format!(
            "{} has child elements",
            e.display_name()
        )));
    }
    let v = e.trimmed_text();
    if v.is_empty() {
        return Err(HeaderError(format!("{} is empty", e.display_name())));
    }
    Ok(v)
}

fn attr(e: ElementRef<'_>, name: &str) -> Option<String> {
    e.attribute(None, name).map(|v| v.trim().to_owned())
}

fn message_info(e: ElementRef<'_>) -> Result<MessageInfo, HeaderError> {
    let info = eb(e, "MessageInfo")?;
    let ts = value(eb(info, "Timestamp")?)?;
    let timestamp = parse_xsd_datetime(&ts)
        .ok_or_else(|| HeaderError(format!("eb:Timestamp {ts:?} is not an xsd:dateTime")))?;
    Ok(MessageInfo {
        timestamp,
        message_id: value(eb(info, "MessageId")?)?,
        ref_to_message_id: eb_opt(info, "RefToMessageId")?.map(value).transpose()?,
    })
}

fn party(e: ElementRef<'_>, which: &str) -> Result<Party, HeaderError> {
    let p = eb(e, which)?;
    let ids: Vec<_> = p.children_named(Some(EBMS_NS), "PartyId").collect();
    let [id] = ids.as_slice() else {
        return Err(HeaderError(format!(
            "eb:{which} has {} PartyId elements; this profile uses exactly one",
            ids.len()
        )));
    };
    Ok(Party {
        party_id: value(*id)?,
        party_type: attr(*id, "type"),
        role: value(eb(p, "Role")?)?,
    })
}

fn property(e: ElementRef<'_>) -> Result<Property, HeaderError> {
    let name = attr(e, "name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| HeaderError("eb:Property without name".into()))?;
    if e.child_elements().next().is_some() {
        return Err(HeaderError(format!("property {name} has child elements")));
    }
    Ok(Property {
        value: e.trimmed_text(),
        property_type: attr(e, "type"),
        name,
    })
}

fn properties(parent: Option<ElementRef<'_>>) -> Result<Vec<Property>, HeaderError> {
    parent
        .map(|p| {
            p.children_named(Some(EBMS_NS), "Property")
                .map(property)
                .collect()
        })
        .unwrap_or(Ok(Vec::new()))
}

fn user_message(e: ElementRef<'_>) -> Result<UserMessage, HeaderError> {
    let party_info = eb(e, "PartyInfo")?;
    let collab = eb(e, "CollaborationInfo")?;
    let service = eb(collab, "Service")?;
    let parts = match eb_opt(e, "PayloadInfo")? {
        Some(pi) => pi
            .children_named(Some(EBMS_NS), "PartInfo")
            .map(|p| {
                Ok(PartInfo {
                    href: attr(p, "href"),
                    properties: properties(eb_opt(p, "PartProperties")?)?,
                })
            })
            .collect::<Result<_, HeaderError>>()?,
        None => Vec::new(),
    };
    Ok(UserMessage {
        mpc: attr(e, "mpc"),
        info: message_info(e)?,
        from: party(party_info, "From")?,
        to: party(party_info, "To")?,
        collaboration: CollaborationInfo {
            agreement_ref: eb_opt(collab, "AgreementRef")?.map(value).transpose()?,
            service: value(service)?,
            service_type: attr(service, "type"),
            action: value(eb(collab, "Action")?)?,
            conversation_id: value(eb(collab, "ConversationId")?)?,
        },
        properties: properties(eb_opt(e, "MessageProperties")?)?,
        parts,
    })
}

fn signal_message(e: ElementRef<'_>) -> Result<SignalMessage, HeaderError> {
    let info = message_info(e)?;
    let receipt = eb_opt(e, "Receipt")?;
    let errors: Vec<_> = e.children_named(Some(EBMS_NS), "Error").collect();
    let signal = match (receipt, errors.is_empty()) {
        (Some(r), true) => receipt_signal(r)?,
        (None, false) => Signal::Errors(errors.into_iter().map(error).collect()),
        (Some(_), false) => {
            return Err(HeaderError(
                "a SignalMessage with both Receipt and Error".into(),
            ));
        }
        (None, true) => {
            return Err(HeaderError(
                "a SignalMessage without Receipt or Error (PullRequest is not used)".into(),
            ));
        }
    };
    Ok(SignalMessage { info, signal })
}

fn receipt_signal(r: ElementRef<'_>) -> Result<Signal, HeaderError> {
    let Some(nri) = r.optional_child(Some(EBBP_NS), "NonRepudiationInformation")? else {
        return Ok(Signal::PlainReceipt);
    };
    let mut refs = Vec::new();
    for part in nri.children_named(Some(EBBP_NS), "MessagePartNRInformation") {
        let reference = part.required_child(Some(DS_NS), "Reference")?;
        refs.push(nr_reference(reference)?);
    }
    if refs.is_empty() {
        return Err(HeaderError(
            "NonRepudiationInformation without MessagePartNRInformation".into(),
        ));
    }
    Ok(Signal::Receipt(refs))
}

fn nr_reference(r: ElementRef<'_>) -> Result<NrReference, HeaderError> {
    let uri = r
        .attribute(None, "URI")
        .ok_or_else(|| HeaderError("ds:Reference without URI".into()))?
        .to_owned();
    let mut transforms = Vec::new();
    if let Some(ts) = r.optional_child(Some(DS_NS), "Transforms")? {
        for t in ts.children_named(Some(DS_NS), "Transform") {
            let alg = t
                .attribute(None, "Algorithm")
                .ok_or_else(|| HeaderError("ds:Transform without Algorithm".into()))?;
            let prefixes = t
                .optional_child(Some(EXC_C14N), "InclusiveNamespaces")?
                .and_then(|i| i.attribute(None, "PrefixList").map(str::to_owned));
            transforms.push((alg.to_owned(), prefixes));
        }
    }
    let dm = r.required_child(Some(DS_NS), "DigestMethod")?;
    let dv = r.required_child(Some(DS_NS), "DigestValue")?;
    let b64: String = dv.text().chars().filter(|c| !c.is_whitespace()).collect();
    let digest_value = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| HeaderError("ds:DigestValue is not base64".into()))?;
    Ok(NrReference {
        uri,
        transforms,
        digest_method: dm
            .attribute(None, "Algorithm")
            .ok_or_else(|| HeaderError("ds:DigestMethod without Algorithm".into()))?
            .to_owned(),
        digest_value,
    })
}

fn error(e: ElementRef<'_>) -> EbmsError {
    let text = |local: &str| {
        e.child(Some(EBMS_NS), local)
            .map(|c| c.trimmed_text())
            .filter(|t| !t.is_empty())
    };
    EbmsError {
        error_code: attr(e, "errorCode").unwrap_or_default(),
        severity: attr(e, "severity").map_or(Severity::Failure, |s| Severity::from_attr(&s)),
        category: attr(e, "category"),
        origin: attr(e, "origin"),
        short_description: attr(e, "shortDescription"),
        ref_to_message_in_error: attr(e, "refToMessageInError"),
        description: text("Description"),
        detail: text("ErrorDetail"),
    }
}
