//! The three trust roles the address book validates certificates for, kept apart by type
//! (`sdkgw_xml_security::x509`): the SMP signer ([`Smp`]), the recipient's AP certificate
//! ([`As4Ap`], issuing CA pinned) and the CertPub O2O certificates ([`O2o`]). Each role has
//! its own revocation checker; none of this code builds paths itself.

use std::fmt;
use std::sync::Arc;

use sdkgw_certs::Certificate;
use sdkgw_schemas::{ApPartyId, Environment, Severity};
use sdkgw_xml_security::x509::{
    As4Ap, MessagePurpose, O2o, PathError, RevocationChecker, Smp, SmpPurpose, TrustRole,
    TrustStore, ValidPath,
};
use time::OffsetDateTime;

use crate::error::LookupError;

/// One role's trust store and its revocation checker.
pub struct RoleTrust<R: TrustRole> {
    /// Anchors (and for AS4 the pinned issuing CA) of this environment.
    pub store: TrustStore<R>,
    /// Revocation sources and policy for this role.
    pub revocation: Arc<RevocationChecker>,
}

impl<R: TrustRole> RoleTrust<R> {
    /// A role trust from its store and checker.
    pub fn new(store: TrustStore<R>, revocation: RevocationChecker) -> Self {
        Self {
            store,
            revocation: Arc::new(revocation),
        }
    }

    fn validate(
        &self,
        leaf: &Certificate,
        purpose: R::Purpose,
        at: OffsetDateTime,
    ) -> Result<ValidPath<R>, PathError> {
        self.store
            .validate(leaf, &[], purpose, at, &self.revocation)
    }
}

impl<R: TrustRole> fmt::Debug for RoleTrust<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoleTrust")
            .field("role", &self.store.role_name())
            .field("environment", &self.store.environment())
            .field("anchors", &self.store.anchors().len())
            .finish_non_exhaustive()
    }
}

/// Everything the address book trusts, for one environment.
#[derive(Debug)]
pub struct Trust {
    /// The environment (AP party id naming rules depend on it).
    pub environment: Environment,
    /// SMP metadata signers (`Rot CA eDelivery SMP-<ENV>`).
    pub smp: RoleTrust<Smp>,
    /// Recipient AP certificates (`Accesspunkt CA-<FED>-<ENV>` pinned).
    pub ap: RoleTrust<As4Ap>,
    /// CertPub O2O certificates (participant certificate issuers).
    pub o2o: RoleTrust<O2o>,
}

/// An AP certificate that validated: its path's earliest expiry and the AP party id.
#[derive(Debug, Clone)]
pub(crate) struct AcceptedAp {
    pub(crate) party_id: ApPartyId,
    /// A naming-rule finding that is only a warning in this environment.
    pub(crate) warning: Option<String>,
    pub(crate) valid_until: OffsetDateTime,
}

impl Trust {
    /// Validates the SMP signing certificate (§1.7 step 7).
    pub(crate) fn check_smp_signer(
        &self,
        signer: &Certificate,
        at: OffsetDateTime,
    ) -> Result<(), LookupError> {
        self.smp
            .validate(signer, SmpPurpose::Signature, at)
            .map(drop)
            .map_err(|e| LookupError::UntrustedSigner {
                reason: e.to_string(),
            })
    }

    /// Validates a recipient AP certificate: chain to the pinned issuing CA, validity,
    /// revocation, usable for signature verification and key transport (DIGG uses one AP
    /// certificate for both), and a CN that is an AP party id of this environment.
    pub(crate) fn check_ap(
        &self,
        cert: &Certificate,
        at: OffsetDateTime,
    ) -> Result<AcceptedAp, LookupError> {
        let mut valid_until = cert.not_after();
        for purpose in [MessagePurpose::KeyTransport, MessagePurpose::Signature] {
            let path = self
                .ap
                .validate(cert, purpose, at)
                .map_err(|e| ap_error(cert, &e))?;
            valid_until = valid_until.min(path_expiry(path.chain()));
        }
        let invalid = |detail: String| LookupError::RecipientCertInvalid {
            subject: cert.subject().to_owned(),
            detail,
        };
        let cn = cert
            .common_name()
            .ok_or_else(|| invalid("no CN (the CN is the AS4 party id)".into()))?;
        let party_id = ApPartyId::parse(cn).map_err(|e| invalid(e.to_string()))?;
        let warning = match party_id.check(self.environment) {
            Some(f) if f.severity == Severity::Error => return Err(invalid(f.to_string())),
            Some(f) => Some(f.to_string()),
            None => None,
        };
        Ok(AcceptedAp {
            party_id,
            warning,
            valid_until,
        })
    }

    /// Validates a CertPub certificate for `purpose`; returns its path's earliest expiry.
    pub(crate) fn check_o2o(
        &self,
        cert: &Certificate,
        purpose: MessagePurpose,
        at: OffsetDateTime,
    ) -> Result<OffsetDateTime, PathError> {
        let path = self.o2o.validate(cert, purpose, at)?;
        Ok(path_expiry(path.chain()))
    }
}

/// The earliest notAfter of a path (an intermediate may expire before the leaf).
fn path_expiry(chain: &[Certificate]) -> OffsetDateTime {
    chain
        .iter()
        .map(Certificate::not_after)
        .min()
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn ap_error(cert: &Certificate, e: &PathError) -> LookupError {
    let subject = cert.subject().to_owned();
    let detail = e.to_string();
    match e {
        PathError::Revoked { .. } => LookupError::RecipientCertRevoked { subject, detail },
        PathError::WrongEnvironment { .. } => LookupError::WrongEnvironment { subject, detail },
        _ => LookupError::RecipientCertInvalid { subject, detail },
    }
}
