//! A fake SMP for tests, the quickstart demo and `sdkgw dev smp-server`: serves ServiceGroups
//! and SignedServiceMetadata (signed with a given SMP signer, by default the development
//! PKI's) for a set of participants, over HTTPS.
//!
//! Switches: per participant any AP certificate (the dev PKI's expired, revoked and
//! foreign-environment ones), O2O certificates, published document types, endpoint window
//! and transport profile; for the whole server a failure status, a delay (slow mode),
//! canned answers per participant/document (malformed, oversized, unsigned, tampered),
//! another signer or signature style. Every request is logged (path exactly as received),
//! so tests assert URL encoding and request counts.

mod devpki;
mod document;
mod server;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use sdkgw_certs::{Certificate, PrivateKey};
use sdkgw_schemas::{DocumentId, ParticipantId, ProcessId};
use sdkgw_xml_security::c14n::Algorithm;
use time::OffsetDateTime;

pub use devpki::{DevPkiOptions, dev_documents, from_dev_pki, tls_identity_from_dev_pki};
pub use document::{ContentEncoding, metadata_xml, service_group_xml, sign_metadata};
pub use server::RunningSmp;

use crate::bdxl::{SmlZone, participant_dns_name};
use crate::resolver::{MemoryResolver, NaptrAnswer};

/// Why the fake cannot start or sign.
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    /// Reading the development PKI failed.
    #[error("development PKI: {0}")]
    Pki(String),
    /// Signing failed.
    #[error("signing fake SMP metadata: {0}")]
    Sign(String),
    /// The listener could not start.
    #[error("fake SMP listener: {0}")]
    Listen(String),
}

/// One participant as the fake publishes it.
#[derive(Debug, Clone)]
pub struct FakeParticipant {
    /// The participant.
    pub participant: ParticipantId,
    /// `EndpointURI`.
    pub endpoint_url: String,
    /// `@transportProfile`.
    pub transport_profile: String,
    /// `ProcessIdentifier`.
    pub process: ProcessId,
    /// `Endpoint/Certificate`.
    pub ap_certificate: Certificate,
    /// `ServiceActivationDate`.
    pub activation: Option<OffsetDateTime>,
    /// `ServiceExpirationDate`.
    pub expiration: Option<OffsetDateTime>,
    /// CertPub signing certificates.
    pub o2o_signing: Vec<Certificate>,
    /// CertPub encryption certificates.
    pub o2o_encryption: Vec<Certificate>,
    /// How CertPub certificates are written.
    pub certpub_encoding: ContentEncoding,
    /// Document types with metadata (others answer 404).
    pub documents: Vec<DocumentId>,
}

/// The SMP signing key and certificate.
#[derive(Debug, Clone)]
pub struct Signer {
    /// Certificate placed in `KeyInfo`.
    pub certificate: Certificate,
    /// Its key.
    pub key: Arc<PrivateKey>,
}

/// How signatures are made.
#[derive(Debug, Clone)]
pub struct SignatureStyle {
    /// SignedInfo canonicalization (C14N 1.0 by default; exclusive C14N also interoperates).
    pub c14n: Algorithm,
    /// Prefix of the Signature elements (`Some("ds")`) or the default namespace.
    pub prefix: Option<String>,
}

impl Default for SignatureStyle {
    fn default() -> Self {
        Self {
            c14n: Algorithm::c14n10(),
            prefix: Some("ds".into()),
        }
    }
}

/// A canned answer.
#[derive(Debug, Clone)]
pub struct Canned {
    /// Status code.
    pub status: u16,
    /// Body.
    pub body: Bytes,
    /// A `Location` header (for redirects).
    pub location: Option<String>,
}

impl Canned {
    /// A 200 answer with this body.
    pub fn ok(body: impl Into<Bytes>) -> Self {
        Self {
            status: 200,
            body: body.into(),
            location: None,
        }
    }
}

/// One request as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// Method.
    pub method: String,
    /// Path and query exactly as received (still percent-encoded).
    pub path: String,
    /// Status answered.
    pub status: u16,
}

#[derive(Debug)]
struct State {
    participants: BTreeMap<ParticipantId, FakeParticipant>,
    signer: Signer,
    style: SignatureStyle,
    failure: Option<u16>,
    delay: Duration,
    canned: HashMap<(ParticipantId, Option<DocumentId>), Canned>,
    log: Vec<LoggedRequest>,
    /// Signed documents, made once per state (a real SMP serves pre-signed documents).
    signed: HashMap<(ParticipantId, DocumentId), Bytes>,
}

/// The fake SMP's data and switches; cheap to clone (shared state). Start serving with
/// [`FakeSmp::serve`].
#[derive(Debug, Clone)]
pub struct FakeSmp {
    state: Arc<Mutex<State>>,
}

/// Most requests kept in the log (older ones are dropped).
const MAX_LOG: usize = 100_000;

impl FakeSmp {
    /// An empty fake signing with `signer`.
    pub fn new(signer: Signer) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                participants: BTreeMap::new(),
                signer,
                style: SignatureStyle::default(),
                failure: None,
                delay: Duration::ZERO,
                canned: HashMap::new(),
                log: Vec::new(),
                signed: HashMap::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes state and forgets pre-signed documents.
    fn change(&self, f: impl FnOnce(&mut State)) {
        let mut s = self.lock();
        f(&mut s);
        s.signed.clear();
    }

    /// Adds or replaces a participant.
    pub fn add_participant(&self, p: FakeParticipant) {
        self.change(|s| {
            s.participants.insert(p.participant.clone(), p);
        });
    }

    /// Changes a participant (no-op when unknown).
    pub fn update_participant(&self, id: &ParticipantId, f: impl FnOnce(&mut FakeParticipant)) {
        self.change(|s| {
            if let Some(p) = s.participants.get_mut(id) {
                f(p);
            }
        });
    }

    /// Removes a participant (its URLs answer 404 from now on).
    pub fn remove_participant(&self, id: &ParticipantId) {
        self.change(|s| {
            s.participants.remove(id);
        });
    }

    /// A copy of a participant's data.
    pub fn participant(&self, id: &ParticipantId) -> Option<FakeParticipant> {
        self.lock().participants.get(id).cloned()
    }

    /// Every participant id.
    pub fn participants(&self) -> Vec<ParticipantId> {
        self.lock().participants.keys().cloned().collect()
    }

    /// Signs with another certificate and key from now on.
    pub fn set_signer(&self, signer: Signer) {
        self.change(|s| s.signer = signer);
    }

    /// Signs in another style from now on.
    pub fn set_signature_style(&self, style: SignatureStyle) {
        self.change(|s| s.style = style);
    }

    /// Answers every request with this status (`None`: normal operation).
    pub fn set_failure(&self, status: Option<u16>) {
        self.lock().failure = status;
    }

    /// Waits this long before answering (slow mode).
    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// Answers the ServiceGroup (`document` = `None`) or metadata URL of a participant with a
    /// canned answer (`None` removes it).
    pub fn set_canned(
        &self,
        participant: &ParticipantId,
        document: Option<&DocumentId>,
        answer: Option<Canned>,
    ) {
        let key = (participant.clone(), document.cloned());
        let mut s = self.lock();
        match answer {
            Some(a) => s.canned.insert(key, a),
            None => s.canned.remove(&key),
        };
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    /// How many requests were received.
    pub fn request_count(&self) -> usize {
        self.lock().log.len()
    }

    /// Forgets the request log.
    pub fn clear_log(&self) {
        self.lock().log.clear();
    }

    /// The signed metadata the fake serves for `participant` and `document`, if published.
    pub fn signed_metadata(
        &self,
        participant: &ParticipantId,
        document: &DocumentId,
    ) -> Result<Option<Bytes>, FakeError> {
        let mut s = self.lock();
        let key = (participant.clone(), document.clone());
        if let Some(b) = s.signed.get(&key) {
            return Ok(Some(b.clone()));
        }
        let Some(p) = s.participants.get(participant) else {
            return Ok(None);
        };
        if !p.documents.contains(document) {
            return Ok(None);
        }
        let xml = metadata_xml(p, document);
        let signed = Bytes::from(sign_metadata(xml.into_bytes(), &s.signer, &s.style)?);
        s.signed.insert(key, signed.clone());
        Ok(Some(signed))
    }

    /// A fake DNS for BDXL: every participant's name in `zone` answers a U-NAPTR record
    /// pointing at `smp_url`, with a TTL of one hour.
    pub fn resolver(&self, zone: &SmlZone, smp_url: &str) -> MemoryResolver {
        let resolver = MemoryResolver::new();
        for p in self.participants() {
            resolver.set(
                &participant_dns_name(&p, zone),
                Ok(NaptrAnswer::for_smp(smp_url, Duration::from_secs(3600))),
            );
        }
        resolver
    }
}
