//! Trust stores, one per role and environment.

use std::marker::PhantomData;

use sdkgw_certs::Certificate;

use super::role::{As4Ap, TrustRole};

/// Why a trust store cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("the {role} trust store for {environment} has no trust anchors")]
    NoAnchors {
        role: &'static str,
        environment: String,
    },
    #[error("trust anchor {subject} is not a CA certificate (basicConstraints CA:TRUE)")]
    AnchorNotCa { subject: String },
    #[error("the {role} role requires a pinned issuing CA; use TrustStore::pinned")]
    PinRequired { role: &'static str },
    #[error("pinned issuing CA {subject} is not a CA certificate")]
    PinnedNotCa { subject: String },
}

/// The anchors (and, for AS4, the pinned issuing CAs) one role trusts in one environment.
///
/// Anchors may be roots or intermediates: O2O issuers whose roots are not distributed (EFOS)
/// are configured as partial-chain anchors. The role is part of the type, so stores of
/// different roles cannot be confused.
#[derive(Debug, Clone)]
pub struct TrustStore<R: TrustRole> {
    environment: String,
    anchors: Vec<Certificate>,
    pinned: Vec<Certificate>,
    intermediates: Vec<Certificate>,
    foreign: Vec<(String, Certificate)>,
    role: PhantomData<R>,
}

impl<R: TrustRole> TrustStore<R> {
    /// A store trusting `anchors` for environment `environment` (a label such as `QA`).
    /// Not available for roles that require a pinned issuer ([`As4Ap`]).
    pub fn new(
        environment: impl Into<String>,
        anchors: Vec<Certificate>,
    ) -> Result<Self, StoreError> {
        if R::REQUIRES_PINNED_ISSUER {
            return Err(StoreError::PinRequired { role: R::NAME });
        }
        Self::build(environment.into(), anchors, Vec::new())
    }

    fn build(
        environment: String,
        anchors: Vec<Certificate>,
        pinned: Vec<Certificate>,
    ) -> Result<Self, StoreError> {
        if anchors.is_empty() {
            return Err(StoreError::NoAnchors {
                role: R::NAME,
                environment,
            });
        }
        if let Some(a) = anchors.iter().find(|a| !a.is_ca()) {
            return Err(StoreError::AnchorNotCa {
                subject: a.subject().to_owned(),
            });
        }
        if let Some(p) = pinned.iter().find(|p| !p.is_ca()) {
            return Err(StoreError::PinnedNotCa {
                subject: p.subject().to_owned(),
            });
        }
        Ok(TrustStore {
            environment,
            anchors,
            pinned,
            intermediates: Vec::new(),
            foreign: Vec::new(),
            role: PhantomData,
        })
    }

    /// Adds intermediate CAs that may be used to build paths (not trusted by themselves).
    pub fn with_intermediates(mut self, intermediates: Vec<Certificate>) -> Self {
        self.intermediates.extend(intermediates);
        self
    }

    /// Registers CAs of *other* environments. They are never trusted; they only let a
    /// rejection say "wrong environment" instead of "unknown issuer".
    pub fn with_foreign(mut self, environment: impl Into<String>, cas: Vec<Certificate>) -> Self {
        let env = environment.into();
        self.foreign
            .extend(cas.into_iter().map(|c| (env.clone(), c)));
        self
    }

    pub fn environment(&self) -> &str {
        &self.environment
    }
    pub fn anchors(&self) -> &[Certificate] {
        &self.anchors
    }
    /// The pinned issuing CAs (empty for roles without pinning).
    pub fn pinned_issuers(&self) -> &[Certificate] {
        &self.pinned
    }
    pub fn role_name(&self) -> &'static str {
        R::NAME
    }

    pub(crate) fn intermediates(&self) -> &[Certificate] {
        &self.intermediates
    }

    pub(crate) fn is_anchor(&self, cert: &Certificate) -> bool {
        self.anchors.iter().any(|a| a == cert)
    }

    pub(crate) fn foreign_environment_of(&self, issuer_der: &[u8]) -> Option<&str> {
        self.foreign
            .iter()
            .find(|(_, c)| c.subject_der() == issuer_der)
            .map(|(env, _)| env.as_str())
    }
}

impl TrustStore<As4Ap> {
    /// The AS4 access-point store: `anchors` (DIGG's `Rot CA eDelivery Accesspunkt-<ENV>`)
    /// and the pinned issuing CA(s) (`Accesspunkt CA-<FED>-<ENV>`) that must have issued every
    /// accepted AP certificate directly (TP-2.10: same federation = same intermediate).
    pub fn pinned(
        environment: impl Into<String>,
        anchors: Vec<Certificate>,
        issuing_cas: Vec<Certificate>,
    ) -> Result<Self, StoreError> {
        if issuing_cas.is_empty() {
            return Err(StoreError::PinRequired { role: As4Ap::NAME });
        }
        Self::build(environment.into(), anchors, issuing_cas)
    }
}
