//! The ebMS3 header as data: what `eb:Messaging` carries for a UserMessage or a
//! SignalMessage. Plain values, no I/O; [`super::write`] serialises, [`super::read`] parses.

use time::OffsetDateTime;

use super::error::EbmsError;

/// `eb:MessageInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    pub timestamp: OffsetDateTime,
    pub message_id: String,
    pub ref_to_message_id: Option<String>,
}

/// `eb:From` / `eb:To`: in this profile exactly one `PartyId` with a `type`, and a `Role`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub party_id: String,
    pub party_type: Option<String>,
    pub role: String,
}

/// `eb:Property` (message or part property).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub name: String,
    pub value: String,
    pub property_type: Option<String>,
}

impl Property {
    pub fn new(name: &str, value: &str) -> Self {
        Property {
            name: name.to_owned(),
            value: value.to_owned(),
            property_type: None,
        }
    }
    pub fn typed(name: &str, value: &str, property_type: &str) -> Self {
        Property {
            property_type: Some(property_type.to_owned()),
            ..Self::new(name, value)
        }
    }
}

/// `eb:PartInfo` with its `PartProperties`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    /// `href` (`cid:message`); `None` would mean a payload in the SOAP Body.
    pub href: Option<String>,
    pub properties: Vec<Property>,
}

impl PartInfo {
    /// The part property `name`, if present once.
    pub fn property(&self, name: &str) -> Option<&str> {
        find_property(&self.properties, name)
    }
    /// The MIME Content-ID this part refers to (`cid:message` → `message`).
    pub fn content_id(&self) -> Option<String> {
        self.href.as_deref().and_then(cid_to_content_id)
    }
}

/// `eb:CollaborationInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollaborationInfo {
    pub agreement_ref: Option<String>,
    pub service: String,
    pub service_type: Option<String>,
    pub action: String,
    pub conversation_id: String,
}

/// `eb:UserMessage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMessage {
    pub mpc: Option<String>,
    pub info: MessageInfo,
    pub from: Party,
    pub to: Party,
    pub collaboration: CollaborationInfo,
    pub properties: Vec<Property>,
    pub parts: Vec<PartInfo>,
}

impl UserMessage {
    /// The message property `name`, if present once.
    pub fn property(&self, name: &str) -> Option<&str> {
        find_property(&self.properties, name)
    }
    /// The full property (with its type), if present once.
    pub fn property_entry(&self, name: &str) -> Option<&Property> {
        let mut it = self.properties.iter().filter(|p| p.name == name);
        let first = it.next();
        if it.next().is_some() { None } else { first }
    }
}

/// One `ebbp:MessagePartNRInformation/ds:Reference` of a receipt: what the receiver says it
/// verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NrReference {
    pub uri: String,
    /// `Transform/@Algorithm` values, in order, with the exclusive c14n `PrefixList` if any.
    pub transforms: Vec<(String, Option<String>)>,
    pub digest_method: String,
    pub digest_value: Vec<u8>,
}

/// What a `SignalMessage` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// `eb:Receipt` with `ebbp:NonRepudiationInformation`.
    Receipt(Vec<NrReference>),
    /// A receipt without NonRepudiationInformation (reception awareness only): never
    /// accepted by us as proof, but recognised to report it precisely.
    PlainReceipt,
    /// One or more `eb:Error`s.
    Errors(Vec<EbmsError>),
}

/// `eb:SignalMessage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalMessage {
    pub info: MessageInfo,
    pub signal: Signal,
}

fn find_property<'a>(props: &'a [Property], name: &str) -> Option<&'a str> {
    let mut it = props.iter().filter(|p| p.name == name);
    let first = it.next();
    if it.next().is_some() {
        return None;
    }
    first.map(|p| p.value.as_str())
}

/// Characters escaped in `cid:` URLs (RFC 2392: the addr-spec, URL-encoded).
const CID: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'#');

/// The `cid:` URL of a Content-ID (without brackets).
pub fn cid_url(content_id: &str) -> String {
    format!(
        "cid:{}",
        percent_encoding::utf8_percent_encode(content_id, CID)
    )
}

/// `cid:` URL (RFC 2392, percent-encoded) to the bare Content-ID.
pub fn cid_to_content_id(href: &str) -> Option<String> {
    let rest = href.strip_prefix("cid:")?;
    let decoded = percent_encoding::percent_decode_str(rest)
        .decode_utf8()
        .ok()?
        .into_owned();
    (!decoded.is_empty()).then_some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cid_urls_are_decoded() {
        assert_eq!(cid_to_content_id("cid:message").as_deref(), Some("message"));
        assert_eq!(cid_to_content_id("cid:a%40b").as_deref(), Some("a@b"));
        assert_eq!(cid_to_content_id("cid:"), None);
        assert_eq!(cid_to_content_id("http://x"), None);
        assert_eq!(cid_url("a b@c"), "cid:a%20b@c");
        assert_eq!(
            cid_to_content_id(&cid_url("a b@c")).as_deref(),
            Some("a b@c")
        );
    }

    #[test]
    fn repeated_properties_are_not_picked() {
        let props = vec![Property::new("a", "1"), Property::new("a", "2")];
        assert_eq!(find_property(&props, "a"), None);
        assert_eq!(find_property(&props[..1], "a"), Some("1"));
    }
}
