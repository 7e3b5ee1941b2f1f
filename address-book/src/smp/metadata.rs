//! The content of a verified SignedServiceMetadata (addressing digest §1.6), read only from
//! the verified tree, and which endpoints qualify (process `bdx:noprocess`, an accepted
//! transport profile, an https address; the activation window is checked at use).

use sdkgw_certs::Certificate;
use sdkgw_schemas::{DocumentId, ParticipantId, ProcessId, codelists};
use sdkgw_xml_security::xml::ElementRef;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::verify::{VerifiedMetadata, malformed, smp_ns};
use super::xsd_date_time;
use crate::certpub::{self, PublishedCertificate};
use crate::error::LookupError;

/// Longest free text kept from an endpoint (descriptions, contact URLs).
const MAX_TEXT: usize = 512;
/// Longest accepted EndpointURI.
const MAX_URL: usize = 2048;

/// One `Endpoint` of a `Process`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `@transportProfile`.
    pub transport_profile: String,
    /// `EndpointURI`: where AS4 messages are POSTed.
    pub address: String,
    /// `Certificate`: the recipient AP certificate (AS4 encryption, receipt signature, CN =
    /// AS4 `To/PartyId`).
    #[serde(with = "crate::serde_cert")]
    pub certificate: Certificate,
    /// `ServiceActivationDate`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub activation: Option<OffsetDateTime>,
    /// `ServiceExpirationDate`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub expiration: Option<OffsetDateTime>,
    /// `ServiceDescription` (shortened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `TechnicalContactUrl` (shortened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub technical_contact: Option<String>,
}

/// One `Process` and its endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// `ProcessIdentifier` with its scheme.
    pub id: ProcessId,
    /// Endpoints that could be read, in document order.
    pub endpoints: Vec<Endpoint>,
}

/// What a verified SignedServiceMetadata says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceMetadata {
    /// `ParticipantIdentifier` (equal to the one asked for).
    pub participant: ParticipantId,
    /// `DocumentIdentifier` (equal to the one asked for).
    pub document: DocumentId,
    /// The processes.
    pub processes: Vec<Process>,
    /// CertPub certificates.
    pub certpub: Vec<PublishedCertificate>,
    /// Skipped processes, endpoints and certificates, and tolerated oddities.
    pub notes: Vec<String>,
}

impl ServiceMetadata {
    /// Reads the verified document and checks that it answers the question asked (SMP-05,
    /// SMP-06). A `Redirect` is refused (DIGG's SMP does not redirect, SMP-07).
    pub fn read(
        verified: &VerifiedMetadata,
        participant: &ParticipantId,
        document: &DocumentId,
    ) -> Result<Self, LookupError> {
        let ns = Some(smp_ns());
        let sm = verified.service_metadata()?;
        if let Some(redirect) = sm.optional_child(ns, "Redirect").map_err(malformed)? {
            return Err(LookupError::UnsupportedRedirect {
                target: shorten(redirect.attribute(None, "href").unwrap_or_default()),
            });
        }
        let si = sm
            .required_child(ns, "ServiceInformation")
            .map_err(malformed)?;
        let found_participant = read_participant(si)?;
        if &found_participant != participant {
            return Err(LookupError::MetadataMismatch {
                field: "ParticipantIdentifier".into(),
                expected: participant.to_string(),
                found: found_participant.to_string(),
            });
        }
        let found_document = read_document(si)?;
        if &found_document != document {
            return Err(LookupError::MetadataMismatch {
                field: "DocumentIdentifier".into(),
                expected: document.to_string(),
                found: found_document.to_string(),
            });
        }
        let mut notes = Vec::new();
        let processes = read_processes(si, &mut notes)?;
        let extensions = certpub::read_extensions(si);
        notes.extend(extensions.notes);
        Ok(Self {
            participant: found_participant,
            document: found_document,
            processes,
            certpub: extensions.certificates,
            notes,
        })
    }

    /// The endpoints that may be used at some time: in the DIGG process, with an accepted
    /// transport profile and an https address, in document order; and why every other
    /// published endpoint is not (the activation window is checked at use, [`in_window`]).
    pub fn candidates(&self) -> (Vec<Endpoint>, Vec<String>) {
        let lists = codelists();
        let mut usable = Vec::new();
        let mut reasons = Vec::new();
        for process in &self.processes {
            if &process.id != lists.process() {
                reasons.push(format!("process {} is not {}", process.id, lists.process()));
                continue;
            }
            for e in &process.endpoints {
                match static_problem(e) {
                    None => usable.push(e.clone()),
                    Some(why) => reasons.push(format!("endpoint {}: {why}", shorten(&e.address))),
                }
            }
        }
        if self.processes.is_empty() {
            reasons.push("no process is published".into());
        }
        reasons.extend(
            self.notes
                .iter()
                .filter(|n| n.starts_with("endpoint") || n.starts_with("process"))
                .cloned(),
        );
        (usable, reasons)
    }
}

/// Why an endpoint cannot be used at `at` because of its activation window.
pub fn in_window(e: &Endpoint, at: OffsetDateTime) -> Result<(), String> {
    if let Some(a) = e.activation.filter(|a| at < *a) {
        return Err(format!(
            "endpoint {}: not active before {a}",
            shorten(&e.address)
        ));
    }
    if let Some(x) = e.expiration.filter(|x| at >= *x) {
        return Err(format!("endpoint {}: expired at {x}", shorten(&e.address)));
    }
    Ok(())
}

fn static_problem(e: &Endpoint) -> Option<String> {
    if !codelists().is_accepted_transport_profile(&e.transport_profile) {
        return Some(format!(
            "transport profile {:?} is not accepted",
            e.transport_profile
        ));
    }
    match e.address.parse::<http::Uri>() {
        Ok(u) if u.scheme_str() == Some("https") && u.host().is_some_and(|h| !h.is_empty()) => None,
        _ => Some("EndpointURI is not an absolute https URL".into()),
    }
}

fn read_participant(si: ElementRef<'_>) -> Result<ParticipantId, LookupError> {
    let el = si
        .required_child(Some(smp_ns()), "ParticipantIdentifier")
        .map_err(malformed)?;
    let scheme = el.attribute(None, "scheme").unwrap_or_default().trim();
    let value = el.trimmed_text();
    if !scheme.eq_ignore_ascii_case(ParticipantId::SCHEME) {
        return Err(LookupError::MetadataMismatch {
            field: "ParticipantIdentifier".into(),
            expected: format!("scheme {}", ParticipantId::SCHEME),
            found: format!("scheme {}", shorten(scheme)),
        });
    }
    value.parse().map_err(|e| LookupError::Malformed {
        reason: format!("ParticipantIdentifier: {e}"),
    })
}

fn read_document(si: ElementRef<'_>) -> Result<DocumentId, LookupError> {
    let el = si
        .required_child(Some(smp_ns()), "DocumentIdentifier")
        .map_err(malformed)?;
    let scheme = el.attribute(None, "scheme").unwrap_or_default().trim();
    DocumentId::from_parts(scheme, &el.trimmed_text()).map_err(|e| LookupError::Malformed {
        reason: format!("DocumentIdentifier: {e}"),
    })
}

fn read_processes(
    si: ElementRef<'_>,
    notes: &mut Vec<String>,
) -> Result<Vec<Process>, LookupError> {
    let ns = Some(smp_ns());
    let list = si.required_child(ns, "ProcessList").map_err(malformed)?;
    let mut processes = Vec::new();
    for (i, p) in list.children_named(ns, "Process").enumerate() {
        let Some(id) = p.child(ns, "ProcessIdentifier") else {
            notes.push(format!("process {}: no ProcessIdentifier", i + 1));
            continue;
        };
        let scheme = id.attribute(None, "scheme").unwrap_or_default().trim();
        let id = match ProcessId::from_parts(scheme, &id.trimmed_text()) {
            Ok(id) => id,
            Err(e) => {
                notes.push(format!("process {}: {e}", i + 1));
                continue;
            }
        };
        let mut endpoints = Vec::new();
        if let Some(list) = p.child(ns, "ServiceEndpointList") {
            for (j, e) in list.children_named(ns, "Endpoint").enumerate() {
                match read_endpoint(e) {
                    Ok(e) => endpoints.push(e),
                    Err(why) => notes.push(format!("endpoint {} of process {id}: {why}", j + 1)),
                }
            }
        }
        processes.push(Process { id, endpoints });
    }
    Ok(processes)
}

fn read_endpoint(e: ElementRef<'_>) -> Result<Endpoint, String> {
    let ns = Some(smp_ns());
    let text = |local: &str| -> Result<Option<String>, String> {
        Ok(e.optional_child(ns, local)
            .map_err(|err| err.to_string())?
            .map(|c| c.trimmed_text()))
    };
    let date = |local: &str| -> Result<Option<OffsetDateTime>, String> {
        text(local)?
            .map(|t| xsd_date_time(&t).map_err(|err| format!("{local}: {err}")))
            .transpose()
    };
    let transport_profile = e
        .attribute(None, "transportProfile")
        .ok_or("no transportProfile")?
        .trim()
        .to_owned();
    let address = text("EndpointURI")?.ok_or("no EndpointURI")?;
    if address.len() > MAX_URL {
        return Err(format!("EndpointURI is longer than {MAX_URL} bytes"));
    }
    let certificate = text("Certificate")?.ok_or("no Certificate")?;
    let certificate =
        Certificate::from_base64(&certificate).map_err(|err| format!("Certificate: {err}"))?;
    Ok(Endpoint {
        transport_profile: shorten(&transport_profile),
        address,
        certificate,
        activation: date("ServiceActivationDate")?,
        expiration: date("ServiceExpirationDate")?,
        description: text("ServiceDescription")?.map(|t| shorten(&t)),
        technical_contact: text("TechnicalContactUrl")?.map(|t| shorten(&t)),
    })
}

/// Bounds text copied from a peer document into errors and the cache.
pub(crate) fn shorten(s: &str) -> String {
    if s.chars().count() <= MAX_TEXT {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX_TEXT).collect();
        out.push('…');
        out
    }
}
