//! A cache entry: what a verified SMP answer published for one participant and document
//! type, and what of it is usable now — the AP endpoint with a validated AP certificate, the
//! O2O certificates that validate for the O2O role. Validation is repeated when a
//! certificate or window in use ends and periodically for revocation, so an entry whose
//! certificate expired or was revoked is never handed out as usable.

use sdkgw_certs::Certificate;
use sdkgw_schemas::codelists::CertPubCertType;
use sdkgw_schemas::{ApPartyId, DocumentId, ParticipantId};
use sdkgw_xml_security::x509::MessagePurpose;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::certpub::{PublishedCertificate, choose_encryption};
use crate::error::LookupError;
use crate::smp::metadata::{Endpoint, ServiceMetadata, in_window};
use crate::trust::Trust;

/// Where an entry came from (shown by `sdkgw addressbook lookup`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The SignedServiceMetadata URL fetched.
    pub url: String,
    /// How the SMP was found (`BDXL NAPTR <name>`, `static SMP URL`, …).
    pub located_by: String,
    /// Subject of the SMP signing certificate.
    pub signer: String,
    /// SHA-256 fingerprint of the SMP signing certificate (hex).
    pub signer_fingerprint: String,
}

/// What the verified metadata published, reduced to what the gateway can use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// Endpoints in the DIGG process with an accepted profile and https address.
    pub endpoints: Vec<Endpoint>,
    /// Why other endpoints and processes do not qualify.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    /// CertPub certificates.
    pub certpub: Vec<PublishedCertificate>,
    /// Other notes (CertPub oddities).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Published {
    /// Reduces verified metadata.
    pub fn from_metadata(meta: &ServiceMetadata) -> Self {
        let (endpoints, skipped) = meta.candidates();
        Self {
            endpoints,
            skipped,
            certpub: meta.certpub.clone(),
            notes: meta
                .notes
                .iter()
                .filter(|n| !(n.starts_with("endpoint") || n.starts_with("process")))
                .cloned()
                .collect(),
        }
    }
}

/// Where to send: the chosen endpoint and its validated AP certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The recipient.
    pub participant: ParticipantId,
    /// The document type.
    pub document: DocumentId,
    /// `EndpointURI`.
    pub endpoint_url: String,
    /// `@transportProfile`.
    pub transport_profile: String,
    /// The recipient AP certificate: encrypt the AS4 message to it, verify the receipt with it.
    #[serde(with = "crate::serde_cert")]
    pub ap_certificate: Certificate,
    /// The CN of the AP certificate: AS4 `To/PartyId`.
    pub ap_party_id: ApPartyId,
    /// A naming-rule warning about the CN (only in environments where it is not an error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ap_warning: Option<String>,
}

/// The usable parts of an entry at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    /// When this validation ran.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The route, or why there is none.
    pub route: Result<Route, LookupError>,
    /// The encryption certificate to use (rotation choice), or why there is none.
    #[serde(with = "result_cert")]
    pub encryption: Result<Certificate, LookupError>,
    /// Every usable signing certificate (inbound signatures may match any), or why none.
    #[serde(with = "result_certs")]
    pub signing: Result<Vec<Certificate>, LookupError>,
    /// Why published O2O certificates are not used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected_o2o: Vec<String>,
    /// When something in use ends (a certificate of a used path, an endpoint window, a
    /// CertPub window) or a not-yet-active endpoint starts: validation must run again then.
    #[serde(with = "time::serde::rfc3339")]
    pub valid_until: OffsetDateTime,
}

/// One cached SMP answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceEntry {
    /// The participant.
    pub participant: ParticipantId,
    /// The document type.
    pub document: DocumentId,
    /// When the signed answer was fetched.
    #[serde(with = "time::serde::rfc3339")]
    pub fetched_at: OffsetDateTime,
    /// Where it came from.
    pub provenance: Provenance,
    /// What it published.
    pub published: Published,
    /// What is usable (as of `validation.at`).
    pub validation: Validation,
}

impl ServiceEntry {
    /// The route, or why there is none.
    pub fn route(&self) -> Result<&Route, LookupError> {
        self.validation.route.as_ref().map_err(Clone::clone)
    }

    /// The O2O certificate to encrypt to (rotation: the valid one with the latest notBefore).
    pub fn encryption_certificate(&self) -> Result<&Certificate, LookupError> {
        self.validation.encryption.as_ref().map_err(Clone::clone)
    }

    /// The usable O2O signing certificates (a signature must match one of them).
    pub fn signing_certificates(&self) -> Result<&[Certificate], LookupError> {
        self.validation.signing.as_deref().map_err(Clone::clone)
    }

    /// Whether validation must run again at `at` (something in use ended, or the last
    /// validation is older than `every`, e.g. for revocation freshness).
    pub fn needs_validation(&self, at: OffsetDateTime, every: time::Duration) -> bool {
        at >= self.validation.valid_until || at - self.validation.at >= every
    }

    /// Runs validation again at `at` (new CRLs, expiry, windows).
    pub fn revalidate(&mut self, trust: &Trust, at: OffsetDateTime) {
        self.validation = validate(
            &self.participant,
            &self.document,
            &self.published,
            trust,
            at,
        );
    }
}

/// Validates what was published, at `at`.
pub fn validate(
    participant: &ParticipantId,
    document: &DocumentId,
    published: &Published,
    trust: &Trust,
    at: OffsetDateTime,
) -> Validation {
    let mut limits = Limits::new(at);
    let route = route(participant, document, published, trust, at, &mut limits);
    let mut rejected_o2o = Vec::new();
    let mut usable = |kind: CertPubCertType, purpose: MessagePurpose| {
        let mut certs = Vec::new();
        for p in published.certpub.iter().filter(|p| p.cert_type == kind) {
            limits.window(p.activation, p.expiration);
            if !p.in_window(at) {
                rejected_o2o.push(format!("{}: outside its published window", describe(p)));
                continue;
            }
            match trust.check_o2o(&p.certificate, purpose, at) {
                Ok(until) => certs.push((p.certificate.clone(), until, p.expiration)),
                Err(e) => rejected_o2o.push(format!("{}: {e}", describe(p))),
            }
        }
        certs
    };
    let encryption_candidates = usable(CertPubCertType::Encryption, MessagePurpose::KeyTransport);
    let signing_candidates = usable(CertPubCertType::Signing, MessagePurpose::Signature);
    let none_or_rejected = |kind: CertPubCertType| {
        let published_any = published.certpub.iter().any(|p| p.cert_type == kind);
        let detail = rejected_o2o
            .iter()
            .filter(|r| r.starts_with(kind_label(kind)))
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        match (kind, published_any) {
            (CertPubCertType::Encryption, false) => LookupError::NoEncryptionCert {
                participant: participant.clone(),
                detail: String::new(),
            },
            (CertPubCertType::Signing, false) => LookupError::NoSigningCert {
                participant: participant.clone(),
                detail: String::new(),
            },
            (cert_type, true) => LookupError::O2oCertRejected {
                participant: participant.clone(),
                cert_type: kind_label(cert_type).to_owned(),
                detail,
            },
        }
    };
    let encryption = match choose_encryption(encryption_candidates.iter().map(|(c, ..)| c)) {
        Some(chosen) => {
            for (c, until, window_end) in &encryption_candidates {
                if c == chosen {
                    limits.until(*until);
                    limits.window(None, *window_end);
                }
            }
            Ok(chosen.clone())
        }
        None => Err(none_or_rejected(CertPubCertType::Encryption)),
    };
    let signing = if signing_candidates.is_empty() {
        Err(none_or_rejected(CertPubCertType::Signing))
    } else {
        for (_, until, window_end) in &signing_candidates {
            limits.until(*until);
            limits.window(None, *window_end);
        }
        Ok(signing_candidates.into_iter().map(|(c, ..)| c).collect())
    };
    Validation {
        at,
        route,
        encryption,
        signing,
        rejected_o2o,
        valid_until: limits.valid_until,
    }
}

/// The first endpoint inside its window whose AP certificate validates; otherwise the
/// first candidate's certificate error, or why no endpoint qualifies.
fn route(
    participant: &ParticipantId,
    document: &DocumentId,
    published: &Published,
    trust: &Trust,
    at: OffsetDateTime,
    limits: &mut Limits,
) -> Result<Route, LookupError> {
    let mut reasons = published.skipped.clone();
    let mut first_cert_error = None;
    for e in &published.endpoints {
        limits.window(e.activation, e.expiration);
        if let Err(why) = in_window(e, at) {
            reasons.push(why);
            continue;
        }
        match trust.check_ap(&e.certificate, at) {
            Ok(accepted) => {
                limits.until(accepted.valid_until);
                return Ok(Route {
                    participant: participant.clone(),
                    document: document.clone(),
                    endpoint_url: e.address.clone(),
                    transport_profile: e.transport_profile.clone(),
                    ap_certificate: e.certificate.clone(),
                    ap_party_id: accepted.party_id,
                    ap_warning: accepted.warning,
                });
            }
            Err(err) => {
                reasons.push(err.to_string());
                first_cert_error.get_or_insert(err);
            }
        }
    }
    Err(
        first_cert_error.unwrap_or_else(|| LookupError::NoMatchingEndpoint {
            participant: participant.clone(),
            document: document.clone(),
            reasons,
        }),
    )
}

/// The earliest instant at which validation must run again.
struct Limits {
    at: OffsetDateTime,
    valid_until: OffsetDateTime,
}

impl Limits {
    fn new(at: OffsetDateTime) -> Self {
        Self {
            at,
            valid_until: OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT),
        }
    }

    fn until(&mut self, t: OffsetDateTime) {
        self.valid_until = self.valid_until.min(t);
    }

    /// A window boundary still ahead of `at` (activation to come, or expiry) ends validity.
    fn window(&mut self, start: Option<OffsetDateTime>, end: Option<OffsetDateTime>) {
        for t in [start, end].into_iter().flatten() {
            if t > self.at {
                self.until(t);
            }
        }
    }
}

fn kind_label(kind: CertPubCertType) -> &'static str {
    match kind {
        CertPubCertType::Signing => "signing",
        CertPubCertType::Encryption => "encryption",
    }
}

fn describe(p: &PublishedCertificate) -> String {
    format!(
        "{} certificate {} ({})",
        kind_label(p.cert_type),
        p.certificate.subject(),
        &p.certificate.fingerprint_hex()[..16]
    )
}

mod result_cert {
    use sdkgw_certs::Certificate;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::error::LookupError;

    #[derive(Serialize, Deserialize)]
    enum Repr {
        Ok(#[serde(with = "crate::serde_cert")] Certificate),
        Err(LookupError),
    }

    pub(super) fn serialize<S: Serializer>(
        r: &Result<Certificate, LookupError>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match r {
            Ok(c) => Repr::Ok(c.clone()),
            Err(e) => Repr::Err(e.clone()),
        }
        .serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Result<Certificate, LookupError>, D::Error> {
        Ok(match Repr::deserialize(d)? {
            Repr::Ok(c) => Ok(c),
            Repr::Err(e) => Err(e),
        })
    }
}

mod result_certs {
    use sdkgw_certs::Certificate;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::error::LookupError;

    #[derive(Serialize, Deserialize)]
    struct Cert(#[serde(with = "crate::serde_cert")] Certificate);

    #[derive(Serialize, Deserialize)]
    enum Repr {
        Ok(Vec<Cert>),
        Err(LookupError),
    }

    pub(super) fn serialize<S: Serializer>(
        r: &Result<Vec<Certificate>, LookupError>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match r {
            Ok(c) => Repr::Ok(c.iter().cloned().map(Cert).collect()),
            Err(e) => Repr::Err(e.clone()),
        }
        .serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Result<Vec<Certificate>, LookupError>, D::Error> {
        Ok(match Repr::deserialize(d)? {
            Repr::Ok(c) => Ok(c.into_iter().map(|Cert(c)| c).collect()),
            Repr::Err(e) => Err(e),
        })
    }
}
