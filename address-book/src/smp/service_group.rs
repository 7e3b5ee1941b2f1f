//! The ServiceGroup (addressing digest §1.5): unsigned, so it is only a capability list.
//! Its `href`s are never followed (SMP-10): document types are read from them and the
//! signed metadata is always fetched from the SMP the locator named.

use percent_encoding::percent_decode_str;
use sdkgw_schemas::{DocumentId, ParticipantId};
use sdkgw_xml_security::xml::Document;

use super::metadata::shorten;
use super::verify::{malformed, parse_options, smp_ns};
use crate::error::LookupError;
use crate::smp_url::SmpBaseUrl;

/// What a ServiceGroup lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceGroup {
    /// `ParticipantIdentifier` (equal to the one asked for).
    pub participant: ParticipantId,
    /// Document types of the `ServiceMetadataReference`s that could be read.
    pub documents: Vec<DocumentId>,
    /// References that were not usable, and references naming another host than the SMP.
    pub notes: Vec<String>,
}

impl ServiceGroup {
    /// Parses a ServiceGroup answer of `base` for `participant`.
    pub fn parse(
        bytes: Vec<u8>,
        participant: &ParticipantId,
        base: &SmpBaseUrl,
        max_bytes: usize,
    ) -> Result<Self, LookupError> {
        let ns = Some(smp_ns());
        let doc = Document::parse(bytes, &parse_options(max_bytes)).map_err(malformed)?;
        let root = doc.root().expect(ns, "ServiceGroup").map_err(malformed)?;
        let id = root
            .required_child(ns, "ParticipantIdentifier")
            .map_err(malformed)?;
        let found: ParticipantId =
            id.trimmed_text()
                .parse()
                .map_err(|e| LookupError::Malformed {
                    reason: format!("ParticipantIdentifier: {e}"),
                })?;
        if &found != participant {
            return Err(LookupError::MetadataMismatch {
                field: "ParticipantIdentifier".into(),
                expected: participant.to_string(),
                found: found.to_string(),
            });
        }
        let mut documents = Vec::new();
        let mut notes = Vec::new();
        if let Some(collection) = root
            .optional_child(ns, "ServiceMetadataReferenceCollection")
            .map_err(malformed)?
        {
            for reference in collection.children_named(ns, "ServiceMetadataReference") {
                let href = reference.attribute(None, "href").unwrap_or_default();
                match document_of(href) {
                    Ok(d) if !documents.contains(&d) => documents.push(d),
                    Ok(_) => {}
                    Err(why) => notes.push(format!("reference {}: {why}", shorten(href))),
                }
                if !same_host(href, base) {
                    notes.push(format!(
                        "reference {} names another host than the SMP (not followed)",
                        shorten(href)
                    ));
                }
            }
        }
        Ok(Self {
            participant: found,
            documents,
            notes,
        })
    }
}

/// The document id in the last `/services/` segment of an href, percent-decoded.
fn document_of(href: &str) -> Result<DocumentId, String> {
    let (_, segment) = href
        .rsplit_once("/services/")
        .ok_or("no /services/ segment")?;
    let decoded = percent_decode_str(segment)
        .decode_utf8()
        .map_err(|_| "not UTF-8 after percent-decoding".to_owned())?;
    DocumentId::parse(&decoded).map_err(|e| e.to_string())
}

fn same_host(href: &str, base: &SmpBaseUrl) -> bool {
    href.parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(|h| h.eq_ignore_ascii_case(base.host())))
        .unwrap_or(false)
}
