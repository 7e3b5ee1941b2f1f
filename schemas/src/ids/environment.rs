//! Environments, federations and transport models.
//!
//! The environment is the gateway's own setting (which DIGG environment it is connected to);
//! the federation id is what travels in the XHE (`FEDERATIONID`). QA and PROD share one
//! federation id, so environment separation relies on PKI and SML, never on this value.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::excerpt;
use crate::codelists::codelists;

/// The DIGG environment a gateway runs in.
///
/// `dev` is ours, not DIGG's: a local federation of dev gateways with a dev PKI. It behaves like
/// OPEN-TEST (federation `…:federation:test`, both transport models, AP-name rules as warnings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Environment {
    /// DIGG's open test environment (federation "Open").
    OpenTest,
    /// SDK QA: production-like qualification and platform approval.
    Qa,
    /// SDK production.
    Prod,
    /// Local development (our own, see the type docs).
    Dev,
}

impl Environment {
    /// Every environment, in a stable order.
    pub const ALL: [Environment; 4] = [
        Environment::OpenTest,
        Environment::Qa,
        Environment::Prod,
        Environment::Dev,
    ];

    /// The configuration name (`open-test`, `qa`, `prod`, `dev`).
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::OpenTest => "open-test",
            Environment::Qa => "qa",
            Environment::Prod => "prod",
            Environment::Dev => "dev",
        }
    }

    /// The federation whose id this environment's XHE envelopes carry.
    pub fn federation(self) -> FederationId {
        codelists().environment(self).federation
    }

    /// Whether DIGG's rules for this environment are enforced strictly (QA and PROD): rule
    /// violations that are warnings in test environments are errors here.
    pub fn is_strict(self) -> bool {
        codelists().environment(self).strict
    }

    /// Whether messages of this transport model may be exchanged here (`tm-base` is OPEN-TEST
    /// only; SDK QA and PROD use `tm-base-ext-sigenc` exclusively).
    pub fn allows(self, model: TransportModel) -> bool {
        codelists()
            .environment(self)
            .transport_models
            .contains(&model)
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown environment name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown environment {given:?}: expected one of open-test, qa, prod, dev")]
pub struct EnvironmentError {
    /// What was given (shortened if long).
    pub given: String,
}

impl FromStr for Environment {
    type Err = EnvironmentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Environment::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| EnvironmentError { given: excerpt(s) })
    }
}

/// A federation, as named by the XHE `FEDERATIONID` business-scope criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FederationId {
    /// `urn:fdc:digg.se:edelivery:federation:sdk` — SDK QA and SDK production.
    Sdk,
    /// `urn:fdc:digg.se:edelivery:federation:test` — DIGG's open test federation.
    Test,
}

impl FederationId {
    /// Every federation id, in a stable order.
    pub const ALL: [FederationId; 2] = [FederationId::Sdk, FederationId::Test];

    /// The exact code-list value.
    pub fn as_str(self) -> &'static str {
        codelists().federation_id(self)
    }
}

impl fmt::Display for FederationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value that is not one of the federation ids of the code list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown federation id {given:?}: expected urn:fdc:digg.se:edelivery:federation:sdk \
     or urn:fdc:digg.se:edelivery:federation:test"
)]
pub struct FederationIdError {
    /// What was given (shortened if long).
    pub given: String,
}

impl FromStr for FederationId {
    type Err = FederationIdError;

    /// Exact, case-sensitive match against the code list (as DIGG's schematron compares).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FederationId::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| FederationIdError { given: excerpt(s) })
    }
}

string_serde!(FederationId);

/// A transport model (code list C3.2.3 §1.1): which end-to-end protection the participants
/// apply. It appears as the suffix `::tm-<code>` of every document id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TransportModel {
    /// `base` ("Bas"): no end-to-end signature or encryption. OPEN-TEST only.
    #[serde(rename = "base")]
    Base,
    /// `base-ext-sigenc` ("Utökad Bas"): XHE signed and payload encrypted organisation to
    /// organisation. The only model of SDK QA and PROD.
    #[serde(rename = "base-ext-sigenc")]
    ExtSigenc,
}

impl TransportModel {
    /// Both models.
    pub const ALL: [TransportModel; 2] = [TransportModel::Base, TransportModel::ExtSigenc];

    /// The code-list code (`base`, `base-ext-sigenc`).
    pub fn code(self) -> &'static str {
        match self {
            TransportModel::Base => "base",
            TransportModel::ExtSigenc => "base-ext-sigenc",
        }
    }

    /// The document-id suffix without the `::` separator (`tm-base`, `tm-base-ext-sigenc`).
    pub fn document_suffix(self) -> &'static str {
        match self {
            TransportModel::Base => "tm-base",
            TransportModel::ExtSigenc => "tm-base-ext-sigenc",
        }
    }

    /// Whether the payload must be encrypted and the envelope signed.
    pub fn requires_signature_and_encryption(self) -> bool {
        self == TransportModel::ExtSigenc
    }
}

impl fmt::Display for TransportModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A value that is not a transport-model code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown transport model {given:?}: expected base or base-ext-sigenc")]
pub struct TransportModelError {
    /// What was given (shortened if long).
    pub given: String,
}

impl FromStr for TransportModel {
    type Err = TransportModelError;

    /// The code (`base`, `base-ext-sigenc`) or the document-id suffix (`tm-base`, …).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TransportModel::ALL
            .into_iter()
            .find(|m| m.code() == s || m.document_suffix() == s)
            .ok_or_else(|| TransportModelError { given: excerpt(s) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments_map_to_their_federation() {
        assert_eq!(Environment::OpenTest.federation(), FederationId::Test);
        assert_eq!(Environment::Qa.federation(), FederationId::Sdk);
        assert_eq!(Environment::Prod.federation(), FederationId::Sdk);
        assert_eq!(Environment::Dev.federation(), FederationId::Test);
        assert_eq!(
            Environment::Prod.federation().to_string(),
            "urn:fdc:digg.se:edelivery:federation:sdk"
        );
        assert_eq!(
            Environment::OpenTest.federation().as_str(),
            "urn:fdc:digg.se:edelivery:federation:test"
        );
    }

    #[test]
    fn tm_base_is_allowed_only_in_test_environments() {
        assert!(Environment::OpenTest.allows(TransportModel::Base));
        assert!(Environment::Dev.allows(TransportModel::Base));
        assert!(!Environment::Qa.allows(TransportModel::Base));
        assert!(!Environment::Prod.allows(TransportModel::Base));
        for env in Environment::ALL {
            assert!(env.allows(TransportModel::ExtSigenc), "{env}");
        }
    }

    #[test]
    fn only_qa_and_prod_are_strict() {
        let strict: Vec<_> = Environment::ALL
            .into_iter()
            .filter(|e| e.is_strict())
            .collect();
        assert_eq!(strict, [Environment::Qa, Environment::Prod]);
    }

    #[test]
    fn environment_names_round_trip_and_ignore_case() {
        for env in Environment::ALL {
            assert_eq!(env.to_string().parse::<Environment>().unwrap(), env);
        }
        assert_eq!(
            "OPEN-TEST".parse::<Environment>().unwrap(),
            Environment::OpenTest
        );
        let err = "staging".parse::<Environment>().unwrap_err();
        assert!(
            err.to_string().contains("open-test, qa, prod, dev"),
            "{err}"
        );
    }

    #[test]
    fn environment_serde_uses_config_names() {
        assert_eq!(
            serde_json::to_string(&Environment::OpenTest).unwrap(),
            "\"open-test\""
        );
        let env: Environment = serde_json::from_str("\"qa\"").unwrap();
        assert_eq!(env, Environment::Qa);
    }

    #[test]
    fn federation_id_parses_exact_code_list_values_only() {
        assert_eq!(
            "urn:fdc:digg.se:edelivery:federation:sdk"
                .parse::<FederationId>()
                .unwrap(),
            FederationId::Sdk
        );
        assert!(
            "urn:fdc:digg.se:edelivery:federation:qa"
                .parse::<FederationId>()
                .is_err()
        );
        assert!(
            "URN:FDC:DIGG.SE:EDELIVERY:FEDERATION:SDK"
                .parse::<FederationId>()
                .is_err()
        );
        assert_eq!(
            serde_json::to_string(&FederationId::Test).unwrap(),
            "\"urn:fdc:digg.se:edelivery:federation:test\""
        );
    }

    #[test]
    fn transport_model_suffixes() {
        assert_eq!(TransportModel::Base.document_suffix(), "tm-base");
        assert_eq!(
            TransportModel::ExtSigenc.document_suffix(),
            "tm-base-ext-sigenc"
        );
        assert_eq!(TransportModel::ExtSigenc.to_string(), "base-ext-sigenc");
        assert!(TransportModel::ExtSigenc.requires_signature_and_encryption());
        assert!(!TransportModel::Base.requires_signature_and_encryption());
        assert_eq!(
            "base-ext-sigenc".parse::<TransportModel>().unwrap(),
            TransportModel::ExtSigenc
        );
        assert_eq!(
            "tm-base".parse::<TransportModel>().unwrap(),
            TransportModel::Base
        );
        assert!("ext-sigenc".parse::<TransportModel>().is_err());
    }
}
