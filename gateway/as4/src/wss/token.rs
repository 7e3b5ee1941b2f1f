//! Security tokens: writing the `wsse:BinarySecurityToken` and references to it, reading the
//! three key references the profile allows (direct reference to a BST, SubjectKeyIdentifier,
//! IssuerSerial — BSTPOL `MustSupportRef*`) and resolving them to a certificate of the
//! message or one the caller already knows (the SMP certificate of a receipt's signer).

use base64::Engine as _;
use sdkgw_certs::Certificate;
use sdkgw_xml_security::dsig::{InvalidReason, KeyResolver, VerificationKey};
use sdkgw_xml_security::xml::{Document, ElementRef, NodeId, WSU_NS, is_xml_space};
use time::OffsetDateTime;

use super::{BASE64_BINARY, WSSE_NS, X509_SKI, X509V3};
use crate::text::{esc_attr, xsd_datetime};

const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// `<wsse:BinarySecurityToken>` with an X.509 v3 certificate.
pub fn bst_xml(id: &str, cert: &Certificate) -> String {
    format!(
        "<wsse:BinarySecurityToken EncodingType=\"{BASE64_BINARY}\" ValueType=\"{X509V3}\" \
         wsu:Id=\"{}\">{}</wsse:BinarySecurityToken>",
        esc_attr(id),
        cert.to_base64()
    )
}

/// A `wsse:SecurityTokenReference` with a direct `wsse:Reference` to the BST `bst_id`.
pub fn bst_reference_xml(bst_id: &str) -> String {
    format!(
        "<wsse:SecurityTokenReference><wsse:Reference URI=\"#{}\" ValueType=\"{X509V3}\"/>\
         </wsse:SecurityTokenReference>",
        esc_attr(bst_id)
    )
}

/// `<wsu:Timestamp>` with `Created` and, when given, `Expires`.
pub fn timestamp_xml(id: &str, created: OffsetDateTime, expires: Option<OffsetDateTime>) -> String {
    let mut s = format!(
        "<wsu:Timestamp wsu:Id=\"{}\"><wsu:Created>{}</wsu:Created>",
        esc_attr(id),
        xsd_datetime(created)
    );
    if let Some(e) = expires {
        s.push_str(&format!("<wsu:Expires>{}</wsu:Expires>", xsd_datetime(e)));
    }
    s.push_str("</wsu:Timestamp>");
    s
}

/// How a `KeyInfo` names its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRef {
    /// `wsse:Reference URI="#id"` to a BinarySecurityToken.
    Direct(String),
    /// `wsse:KeyIdentifier` of type X509SubjectKeyIdentifier.
    SubjectKeyIdentifier(Vec<u8>),
    /// `ds:X509IssuerSerial`: issuer DN and serial (big-endian bytes).
    IssuerSerial { issuer: String, serial: Vec<u8> },
    /// `ds:X509Data/ds:X509Certificate` carried in the KeyInfo itself.
    Embedded(Certificate),
}

/// Reads a `ds:KeyInfo` (or the KeyInfo content of an EncryptedKey) into a [`TokenRef`].
/// Anything else (KeyValue, RetrievalMethod, several references) is refused.
pub fn read_key_info(key_info: ElementRef<'_>) -> Result<TokenRef, String> {
    let children: Vec<_> = key_info.child_elements().collect();
    let [child] = children.as_slice() else {
        return Err(format!(
            "KeyInfo has {} children, expected one",
            children.len()
        ));
    };
    if child.is(Some(WSSE_NS), "SecurityTokenReference") {
        return read_str(*child);
    }
    if child.is(Some(DS_NS), "X509Data") {
        return read_x509_data(*child);
    }
    Err(format!(
        "KeyInfo child {} is not accepted",
        child.display_name()
    ))
}

fn read_str(str_el: ElementRef<'_>) -> Result<TokenRef, String> {
    let children: Vec<_> = str_el.child_elements().collect();
    let [child] = children.as_slice() else {
        return Err(format!(
            "SecurityTokenReference has {} children, expected one",
            children.len()
        ));
    };
    if child.is(Some(WSSE_NS), "Reference") {
        let uri = child
            .attribute(None, "URI")
            .ok_or("wsse:Reference without URI")?;
        let id = uri
            .strip_prefix('#')
            .filter(|i| !i.is_empty())
            .ok_or_else(|| {
                format!("wsse:Reference URI {uri:?} is not a same-document reference")
            })?;
        if let Some(vt) = child.attribute(None, "ValueType")
            && vt != X509V3
        {
            return Err(format!("wsse:Reference ValueType {vt:?} is not X509v3"));
        }
        return Ok(TokenRef::Direct(id.to_owned()));
    }
    if child.is(Some(WSSE_NS), "KeyIdentifier") {
        let vt = child.attribute(None, "ValueType").unwrap_or_default();
        if vt != X509_SKI {
            return Err(format!(
                "KeyIdentifier ValueType {vt:?} is not X509SubjectKeyIdentifier"
            ));
        }
        if let Some(enc) = child.attribute(None, "EncodingType")
            && enc != BASE64_BINARY
        {
            return Err(format!(
                "KeyIdentifier EncodingType {enc:?} is not Base64Binary"
            ));
        }
        return Ok(TokenRef::SubjectKeyIdentifier(base64_text(*child)?));
    }
    if child.is(Some(DS_NS), "X509Data") {
        return read_x509_data(*child);
    }
    Err(format!(
        "SecurityTokenReference child {} is not accepted",
        child.display_name()
    ))
}

fn read_x509_data(data: ElementRef<'_>) -> Result<TokenRef, String> {
    let children: Vec<_> = data.child_elements().collect();
    let [child] = children.as_slice() else {
        return Err(format!(
            "X509Data has {} children, expected one",
            children.len()
        ));
    };
    if child.is(Some(DS_NS), "X509Certificate") {
        let der = base64_text(*child)?;
        let cert = Certificate::from_der(&der).map_err(|e| e.to_string())?;
        return Ok(TokenRef::Embedded(cert));
    }
    if child.is(Some(DS_NS), "X509IssuerSerial") {
        let issuer = child
            .child(Some(DS_NS), "X509IssuerName")
            .map(|e| e.trimmed_text())
            .ok_or("X509IssuerSerial without X509IssuerName")?;
        let serial = child
            .child(Some(DS_NS), "X509SerialNumber")
            .map(|e| e.trimmed_text())
            .ok_or("X509IssuerSerial without X509SerialNumber")?;
        let serial = decimal_to_bytes(&serial)
            .ok_or_else(|| format!("X509SerialNumber {serial:?} is not a decimal integer"))?;
        return Ok(TokenRef::IssuerSerial { issuer, serial });
    }
    if child.is(Some(DS_NS), "X509SKI") {
        return Ok(TokenRef::SubjectKeyIdentifier(base64_text(*child)?));
    }
    Err(format!(
        "X509Data child {} is not accepted",
        child.display_name()
    ))
}

fn base64_text(e: ElementRef<'_>) -> Result<Vec<u8>, String> {
    let text: String = e.text().chars().filter(|c| !is_xml_space(*c)).collect();
    base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map_err(|_| format!("{} is not base64", e.display_name()))
}

/// A decimal integer (≤ 80 digits) as big-endian bytes without leading zeros.
fn decimal_to_bytes(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || s.len() > 80 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut out: Vec<u8> = vec![0];
    for d in s.bytes().map(|b| b - b'0') {
        let mut carry = u16::from(d);
        for byte in out.iter_mut().rev() {
            let v = u16::from(*byte) * 10 + carry;
            *byte = (v & 0xff) as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            out.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    while out.len() > 1 && out[0] == 0 {
        out.remove(0);
    }
    Some(out)
}

/// A distinguished name as a sorted set of (attribute type, value), both normalised, so that
/// `CN=a, O=b` written by another stack matches our rendering of the same name.
fn normalized_dn(dn: &str) -> Vec<(String, String)> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in dn.chars() {
        if escaped {
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' || c == '+' || c == ';' {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    let mut out: Vec<(String, String)> = parts
        .iter()
        .filter_map(|p| p.split_once('='))
        .map(|(t, v)| (attribute_type(t.trim()), v.trim().to_lowercase()))
        .collect();
    out.sort();
    out
}

fn attribute_type(t: &str) -> String {
    let lower = t.to_ascii_lowercase();
    let canonical = match lower.as_str() {
        "2.5.4.3" => "cn",
        "2.5.4.6" => "c",
        "2.5.4.7" => "l",
        "2.5.4.8" | "s" => "st",
        "2.5.4.10" => "o",
        "2.5.4.11" => "ou",
        "2.5.4.5" => "serialnumber",
        "2.5.4.97" => "organizationidentifier",
        "e" | "email" | "1.2.840.113549.1.9.1" => "emailaddress",
        other => other,
    };
    canonical.to_owned()
}

/// Whether `cert` is the one `token` names (for `Direct`, the caller resolves the id).
pub fn matches(token: &TokenRef, cert: &Certificate) -> bool {
    match token {
        TokenRef::Direct(_) => false,
        TokenRef::Embedded(c) => c == cert,
        TokenRef::SubjectKeyIdentifier(ski) => cert.subject_key_id() == Some(ski.as_slice()),
        TokenRef::IssuerSerial { issuer, serial } => {
            cert.serial() == serial.as_slice()
                && normalized_dn(issuer) == normalized_dn(cert.issuer())
        }
    }
}

/// The certificates of every BinarySecurityToken directly inside `security`, with their ids.
/// Tokens of other types are skipped; a malformed X.509 token is an error.
pub fn binary_security_tokens(
    doc: &Document,
    security: NodeId,
) -> Result<Vec<(Option<String>, Certificate)>, String> {
    let Some(sec) = doc.element(security) else {
        return Ok(Vec::new());
    };
    sec.children_named(Some(WSSE_NS), "BinarySecurityToken")
        .filter(|b| b.attribute(None, "ValueType") == Some(X509V3))
        .map(|b| {
            let cert = bst_certificate(b)?;
            Ok((b.attribute(Some(WSU_NS), "Id").map(str::to_owned), cert))
        })
        .collect()
}

fn bst_certificate(bst: ElementRef<'_>) -> Result<Certificate, String> {
    if let Some(enc) = bst.attribute(None, "EncodingType")
        && enc != BASE64_BINARY
    {
        return Err(format!(
            "BinarySecurityToken EncodingType {enc:?} is not Base64Binary"
        ));
    }
    let der = base64_text(bst)?;
    Certificate::from_der(&der).map_err(|e| format!("BinarySecurityToken: {e}"))
}

/// Resolves token references against the BSTs of one `wsse:Security` header and certificates
/// the caller already knows. A direct reference must point at a BST inside that header.
#[derive(Debug, Clone)]
pub struct TokenResolver {
    security: NodeId,
    known: Vec<Certificate>,
}

impl TokenResolver {
    pub fn new(security: NodeId, known: Vec<Certificate>) -> Self {
        TokenResolver { security, known }
    }

    /// The certificate `token` names.
    pub fn certificate(&self, doc: &Document, token: &TokenRef) -> Result<Certificate, String> {
        if let TokenRef::Direct(id) = token {
            let target = doc
                .element_by_id(id)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no element has id {id:?}"))?;
            let in_header = target.parent().map(|p| p.node_id()) == Some(self.security);
            if !target.is(Some(WSSE_NS), "BinarySecurityToken") || !in_header {
                return Err(format!(
                    "reference #{id} is not a BinarySecurityToken of the Security header"
                ));
            }
            if target.attribute(None, "ValueType") != Some(X509V3) {
                return Err("BinarySecurityToken is not an X509v3 token".into());
            }
            return bst_certificate(target);
        }
        if let TokenRef::Embedded(cert) = token {
            return Ok(cert.clone());
        }
        let in_message = binary_security_tokens(doc, self.security)?;
        in_message
            .iter()
            .map(|(_, c)| c)
            .chain(self.known.iter())
            .find(|c| matches(token, c))
            .cloned()
            .ok_or_else(|| format!("no certificate matches {}", describe(token)))
    }

    /// The certificate named by `key_info` (a `ds:KeyInfo`).
    pub fn resolve_key_info(
        &self,
        doc: &Document,
        key_info: Option<ElementRef<'_>>,
    ) -> Result<Certificate, String> {
        let key_info = key_info.ok_or("no KeyInfo")?;
        let token = read_key_info(key_info)?;
        self.certificate(doc, &token)
    }
}

impl KeyResolver for TokenResolver {
    fn resolve(
        &self,
        doc: &Document,
        key_info: Option<ElementRef<'_>>,
    ) -> Result<VerificationKey, InvalidReason> {
        self.resolve_key_info(doc, key_info)
            .map(VerificationKey::from_certificate)
            .map_err(InvalidReason::Key)
    }
}

/// Short description of a reference, for logs.
pub fn describe(token: &TokenRef) -> String {
    match token {
        TokenRef::Direct(id) => format!("direct reference #{id}"),
        TokenRef::SubjectKeyIdentifier(ski) => format!(
            "SubjectKeyIdentifier {}",
            base64::engine::general_purpose::STANDARD.encode(ski)
        ),
        TokenRef::IssuerSerial { issuer, serial } => format!(
            "IssuerSerial {issuer} / {}",
            serial
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ),
        TokenRef::Embedded(c) => format!("embedded certificate {}", c.subject()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_serials_convert_to_big_endian_bytes() {
        assert_eq!(decimal_to_bytes("0"), Some(vec![0]));
        assert_eq!(decimal_to_bytes("255"), Some(vec![0xff]));
        assert_eq!(decimal_to_bytes("256"), Some(vec![1, 0]));
        assert_eq!(
            decimal_to_bytes("18446744073709551616"),
            Some(vec![1, 0, 0, 0, 0, 0, 0, 0, 0])
        );
        assert_eq!(decimal_to_bytes("12a"), None);
        assert_eq!(decimal_to_bytes(""), None);
    }

    #[test]
    fn distinguished_names_compare_by_content_not_form() {
        assert_eq!(
            normalized_dn("CN=Accesspunkt CA-SDK-QA, O=Myndigheten, C=SE"),
            normalized_dn("C=SE,O=myndigheten,2.5.4.3=Accesspunkt CA-SDK-QA")
        );
        assert_ne!(normalized_dn("CN=a, O=b"), normalized_dn("CN=a, O=c"));
        assert_eq!(
            normalized_dn(r"CN=a\, b, O=x"),
            normalized_dn(r"O=x,CN=a\, b")
        );
        assert_eq!(normalized_dn(r"CN=a\, b, O=x").len(), 2);
    }
}
