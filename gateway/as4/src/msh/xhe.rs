//! The few XHE header fields the AP checks against the AS4 header (TP-2.5, AP-3.1.6): the
//! envelope id, FromParty, ToParty and the five business scope criteria.
//!
//! The XHE may be 2 GiB, so it is never parsed whole here: [`PrefixCapture`] keeps the first
//! bytes while the payload streams to storage, a pull parser finds where `Header` ends, and
//! only `<root>…</Header></root>` is parsed with the hardened tree. This is one small
//! function to swap for the envelope layer's header parser once it is published.

use std::io::{self, Write};

use quick_xml::events::Event;
use sdkgw_xml_security::xml::{Document, ElementRef, Limits, ParseOptions};

/// `x:` — the XHE document namespace.
pub const XHE_NS: &str = "http://docs.oasis-open.org/bdxr/ns/XHE/1/ExchangeHeaderEnvelope";
const XHA_NS: &str = "http://docs.oasis-open.org/bdxr/ns/XHE/1/AggregateComponents";
const XHB_NS: &str = "http://docs.oasis-open.org/bdxr/ns/XHE/1/BasicComponents";

/// How much of an XHE is kept to find its header.
pub const HEADER_PREFIX_LIMIT: usize = 1 << 20;

/// The header fields the transport layer reads.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct XheHeader {
    /// `Header/ID`.
    pub id: String,
    /// `FromParty/PartyIdentification/ID` and its `schemeID`.
    pub from: (Option<String>, String),
    /// `ToParty/PartyIdentification/ID` and its `schemeID`.
    pub to: (Option<String>, String),
    /// `(BusinessScopeCriterionTypeCode, BusinessScopeCriterionValue)` in document order.
    pub scope: Vec<(String, String)>,
}

impl XheHeader {
    /// The value of the criterion `code` (`DOCUMENTID`, …) if it occurs exactly once.
    pub fn criterion(&self, code: &str) -> Option<&str> {
        let mut it = self.scope.iter().filter(|(c, _)| c == code);
        let first = it.next();
        if it.next().is_some() {
            return None;
        }
        first.map(|(_, v)| v.as_str())
    }
}

/// Why the header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("XHE header: {0}")]
pub struct XheHeaderError(pub String);

/// Reads the header from the first bytes of an XHE document.
pub fn read_header(prefix: &[u8]) -> Result<XheHeader, XheHeaderError> {
    let (root_qname, header_end) = header_end(prefix)?;
    let mut doc_bytes = prefix[..header_end].to_vec();
    doc_bytes.extend_from_slice(format!("</{root_qname}>").as_bytes());
    let opts = ParseOptions {
        limits: Limits::SMALL,
        ..ParseOptions::default()
    };
    let doc = Document::parse(doc_bytes, &opts).map_err(|e| XheHeaderError(e.to_string()))?;
    let err = |e: sdkgw_xml_security::xml::StructureError| XheHeaderError(e.to_string());
    let root = doc.root().expect(Some(XHE_NS), "XHE").map_err(err)?;
    let header = root.required_child(Some(XHA_NS), "Header").map_err(err)?;
    let id = leaf(header.required_child(Some(XHB_NS), "ID").map_err(err)?)?;
    let party = |name: &str| -> Result<(Option<String>, String), XheHeaderError> {
        let p = header.required_child(Some(XHA_NS), name).map_err(err)?;
        let ident = p
            .required_child(Some(XHA_NS), "PartyIdentification")
            .map_err(err)?;
        let id = ident.required_child(Some(XHB_NS), "ID").map_err(err)?;
        Ok((id.attribute(None, "schemeID").map(str::to_owned), leaf(id)?))
    };
    let mut scope = Vec::new();
    if let Some(bs) = header
        .optional_child(Some(XHA_NS), "BusinessScope")
        .map_err(err)?
    {
        for c in bs.children_named(Some(XHA_NS), "BusinessScopeCriterion") {
            let code = leaf(
                c.required_child(Some(XHB_NS), "BusinessScopeCriterionTypeCode")
                    .map_err(err)?,
            )?;
            let value = leaf(
                c.required_child(Some(XHB_NS), "BusinessScopeCriterionValue")
                    .map_err(err)?,
            )?;
            scope.push((code, value));
        }
    }
    Ok(XheHeader {
        id,
        from: party("FromParty")?,
        to: party("ToParty")?,
        scope,
    })
}

fn leaf(e: ElementRef<'_>) -> Result<String, XheHeaderError> {
    if e.child_elements().next().is_some() {
        return Err(XheHeaderError(format!(
            "{} has child elements",
            e.display_name()
        )));
    }
    Ok(e.trimmed_text())
}

/// The root element's qualified name and the offset just after the `Header` end tag (the
/// `Header` child of the root).
fn header_end(prefix: &[u8]) -> Result<(String, usize), XheHeaderError> {
    let mut reader = quick_xml::Reader::from_reader(prefix);
    let mut depth = 0usize;
    let mut root = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                depth += 1;
                if depth == 1 {
                    root = Some(String::from_utf8_lossy(e.name().as_ref()).into_owned());
                }
            }
            Ok(Event::End(e)) => {
                if depth == 2 && e.local_name().as_ref() == b"Header" {
                    let end = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
                    let root = root.ok_or_else(|| XheHeaderError("no root element".into()))?;
                    return Ok((root, end.min(prefix.len())));
                }
                depth = depth.saturating_sub(1);
            }
            Ok(Event::DocType(_)) => {
                return Err(XheHeaderError("a DOCTYPE is not allowed".into()));
            }
            Ok(Event::Eof) => {
                return Err(XheHeaderError(format!(
                    "no complete Header within the first {} bytes",
                    prefix.len()
                )));
            }
            Ok(_) => {}
            Err(e) => return Err(XheHeaderError(format!("not well-formed: {e}"))),
        }
    }
}

/// A `Write` that passes everything through and keeps the first `limit` bytes.
#[derive(Debug)]
pub struct PrefixCapture<W> {
    inner: W,
    prefix: Vec<u8>,
    limit: usize,
}

impl<W: Write> PrefixCapture<W> {
    pub fn new(inner: W, limit: usize) -> Self {
        PrefixCapture {
            inner,
            prefix: Vec::new(),
            limit,
        }
    }
    /// The writer and the captured prefix.
    pub fn into_parts(self) -> (W, Vec<u8>) {
        (self.inner, self.prefix)
    }
}

impl<W: Write> Write for PrefixCapture<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let room = self.limit.saturating_sub(self.prefix.len());
        self.prefix.extend_from_slice(&buf[..n.min(room)]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Vec<u8> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/sdk-reference/xhe/examples/XHE-tm-base.xml"
        );
        std::fs::read(path).unwrap_or_default()
    }

    #[test]
    fn reads_the_header_of_digg_example_from_a_prefix() {
        let xhe = example();
        if xhe.is_empty() {
            eprintln!("../shared not present; skipping");
            return;
        }
        let h = read_header(&xhe).unwrap();
        assert_eq!(h.id, "862693f7-53d4-4d96-b35c-470055710092");
        assert_eq!(
            h.from,
            (
                Some("iso6523-actorid-upis".into()),
                "0203:myndighetA.org".into()
            )
        );
        assert_eq!(h.to.1, "0203:myndighetB.org");
        assert_eq!(h.criterion("PROCESSID"), Some("bdx:noprocess"));
        assert_eq!(h.criterion("DOCUMENTID_SCHEME"), Some("busdox-docid-qns"));
        assert_eq!(
            h.criterion("FEDERATIONID"),
            Some("urn:fdc:digg.se:edelivery:federation:test")
        );
        // Only a prefix is needed: cut the document right after the header.
        let cut = xhe.windows(12).position(|w| w == b"</xha:Header").unwrap() + 13;
        assert_eq!(read_header(&xhe[..cut]).unwrap(), h);
        assert!(read_header(&xhe[..cut - 5]).is_err());
    }

    #[test]
    fn hostile_or_foreign_documents_are_errors() {
        assert!(read_header(b"<!DOCTYPE x [<!ENTITY a 'b'>]><x/>").is_err());
        assert!(
            read_header(b"<a><Header></Header></a>").is_err(),
            "not an XHE"
        );
        assert!(read_header(b"not xml at all").is_err());
    }

    #[test]
    fn prefix_capture_keeps_only_the_limit() {
        let mut c = PrefixCapture::new(Vec::new(), 4);
        c.write_all(b"abcdefgh").unwrap();
        let (all, prefix) = c.into_parts();
        assert_eq!(all, b"abcdefgh");
        assert_eq!(prefix, b"abcd");
    }
}
