//! What an MSH is configured with: our AP identity, the AS4 message-level trust, whom we
//! serve, and the limits and clock tolerances of both directions.
//!
//! Identity and trust can be replaced while the MSH runs ([`LiveKeys`]): key rotation, a
//! renewed AP certificate (the previous keys stay for decryption), refreshed CRLs.

use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use sdkgw_certs::{Certificate, PrivateKey};
use sdkgw_schemas::{Environment, ParticipantId, TransportModel};
use sdkgw_xml_security::crypto::DecryptionKey;
use sdkgw_xml_security::x509::{As4Ap, RevocationChecker, TrustStore};

use crate::compress::GzipLimits;
use crate::ebms::Leg;
use crate::mime::MimeLimits;

/// Our access point: the party id (= CN of the AP certificate, TP-2.3.1.j) and its key.
#[derive(Debug, Clone)]
pub struct ApIdentity {
    pub party_id: String,
    pub certificate: Certificate,
    pub key: Arc<PrivateKey>,
    /// The key prepared for RSA-OAEP once (preparing it costs as much as one private-key
    /// operation).
    pub decryption: Arc<DecryptionKey>,
    /// Previous AP keys: after a renewal, peers whose SMP cache still holds the old
    /// certificate encrypt for it. They decrypt such messages and sign only the receipts
    /// answering them (the certificate that peer holds for us); everything else is signed
    /// with the current key.
    pub previous: Vec<PreviousKey>,
}

/// A previous AP certificate and its key (prepared for RSA-OAEP).
#[derive(Debug, Clone)]
pub struct PreviousKey {
    pub certificate: Certificate,
    pub key: Arc<PrivateKey>,
    pub decryption: Arc<DecryptionKey>,
}

/// Why an identity cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("the AP certificate {0} has no CN (the CN is the AP party id)")]
    NoCommonName(String),
    #[error("the AP private key does not belong to the certificate {0}")]
    KeyMismatch(String),
    #[error("the configured AP party id {configured:?} is not the certificate's CN {cn:?}")]
    PartyMismatch { configured: String, cn: String },
    #[error("the AP private key cannot decrypt RSA-OAEP: {0}")]
    Key(String),
}

impl ApIdentity {
    /// The identity of `certificate`/`key`; `party_id`, when configured, must equal the CN.
    pub fn new(
        certificate: Certificate,
        key: Arc<PrivateKey>,
        party_id: Option<&str>,
    ) -> Result<Self, IdentityError> {
        let cn = certificate
            .common_name()
            .ok_or_else(|| IdentityError::NoCommonName(certificate.subject().to_owned()))?
            .to_owned();
        if !key.matches(&certificate) {
            return Err(IdentityError::KeyMismatch(certificate.subject().to_owned()));
        }
        if let Some(p) = party_id
            && p != cn
        {
            return Err(IdentityError::PartyMismatch {
                configured: p.to_owned(),
                cn,
            });
        }
        let decryption = DecryptionKey::new(&key).map_err(|e| IdentityError::Key(e.to_string()))?;
        Ok(ApIdentity {
            party_id: cn,
            certificate,
            key,
            decryption: Arc::new(decryption),
            previous: Vec::new(),
        })
    }

    /// Adds previous AP keys (decryption only), each checked to belong to its certificate.
    pub fn with_previous(
        mut self,
        keys: impl IntoIterator<Item = (Certificate, Arc<PrivateKey>)>,
    ) -> Result<Self, IdentityError> {
        for (certificate, key) in keys {
            if !key.matches(&certificate) {
                return Err(IdentityError::KeyMismatch(certificate.subject().to_owned()));
            }
            let decryption =
                DecryptionKey::new(&key).map_err(|e| IdentityError::Key(e.to_string()))?;
            self.previous.push(PreviousKey {
                certificate,
                key,
                decryption: Arc::new(decryption),
            });
        }
        Ok(self)
    }
}

/// What an MSH signs, decrypts and validates with, replaced as a whole.
#[derive(Debug)]
pub struct MshKeys {
    pub identity: Arc<ApIdentity>,
    pub trust: Arc<MessageTrust>,
}

/// The current [`MshKeys`] of a receiver and sender. A message (or delivery attempt) in
/// progress finishes with the snapshot it started with; the next one sees a replacement.
#[derive(Debug)]
pub struct LiveKeys {
    current: RwLock<Arc<MshKeys>>,
}

impl LiveKeys {
    pub fn new(identity: Arc<ApIdentity>, trust: Arc<MessageTrust>) -> Arc<Self> {
        Arc::new(LiveKeys {
            current: RwLock::new(Arc::new(MshKeys { identity, trust })),
        })
    }

    /// The keys to use now.
    pub fn current(&self) -> Arc<MshKeys> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Makes `keys` current; returns the replaced ones.
    pub fn replace(&self, keys: MshKeys) -> Arc<MshKeys> {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *current, Arc::new(keys))
    }
}

/// AS4 message-level trust: this environment's AP CA (issuing CA pinned) and revocation.
#[derive(Debug)]
pub struct MessageTrust {
    pub store: TrustStore<As4Ap>,
    pub revocation: RevocationChecker,
}

/// The participants and document types this gateway accepts messages for.
#[derive(Debug, Clone)]
pub struct Served {
    participants: Vec<ParticipantId>,
    models: Vec<TransportModel>,
}

impl Served {
    /// `participants`, for both legs of every transport model `environment` allows.
    pub fn new(participants: Vec<ParticipantId>, environment: Environment) -> Self {
        Served {
            participants,
            models: TransportModel::ALL
                .into_iter()
                .filter(|m| environment.allows(*m))
                .collect(),
        }
    }
    pub fn participant(&self, p: &ParticipantId) -> bool {
        self.participants.contains(p)
    }
    /// Whether messages of `leg` under `model` are accepted (both legs are always served:
    /// each participant receives messages and Meddelandekvittens, TMB-3.2.b).
    pub fn document(&self, _leg: Leg, model: TransportModel) -> bool {
        self.models.contains(&model)
    }
    pub fn participants(&self) -> &[ParticipantId] {
        &self.participants
    }
}

/// Receiving side settings.
#[derive(Debug, Clone)]
pub struct InboundSettings {
    /// Tolerated clock difference for `wsu:Timestamp` (default 5 minutes).
    pub clock_skew: Duration,
    /// How long a MessageId is remembered for duplicate detection (default 10 days, as the
    /// retention of DIGG's Domibus P-Mode; must cover the peers' whole retry period).
    pub dedup_window: Duration,
    pub mime: MimeLimits,
    pub gzip: GzipLimits,
    /// Where attachments are spooled while a request is processed.
    pub spool_dir: PathBuf,
    /// This environment's XHE `FEDERATIONID`.
    pub federation_id: String,
}

impl InboundSettings {
    /// Defaults for `spool_dir` and `federation_id`.
    pub fn new(spool_dir: PathBuf, federation_id: &str) -> Self {
        InboundSettings {
            clock_skew: Duration::from_secs(300),
            dedup_window: Duration::from_secs(10 * 24 * 3600),
            mime: MimeLimits::default(),
            gzip: GzipLimits::default(),
            spool_dir,
            federation_id: federation_id.to_owned(),
        }
    }
}
