//! The access point under test, as the suite sees it from outside: where its AS4 endpoint is,
//! which AP certificate it signs and decrypts with, which participant and function mailbox it
//! serves, and its O2O certificates (CertPub) for the Utökad Bas cases.

use sdkgw_certs::Certificate;
use sdkgw_schemas::{Environment, FederationId, FunctionAddress, ParticipantId};

/// The gateway (or other implementation) under test.
#[derive(Debug, Clone)]
pub struct Target {
    /// For the report: what was tested.
    pub description: String,
    /// The AS4 endpoint (`https://…`).
    pub as4_url: String,
    /// Its AP certificate (as its SMP entry publishes it).
    pub ap_certificate: Certificate,
    /// The participant it serves that the suite addresses.
    pub participant: ParticipantId,
    /// A function mailbox of that participant (XHE `HandlingServiceID`).
    pub function_address: FunctionAddress,
    /// CertPub encryption certificate of the participant (Utökad Bas sealing).
    pub o2o_encryption: Option<Certificate>,
    /// CertPub signing certificate of the participant (its receipts are verified against it).
    pub o2o_signing: Option<Certificate>,
    /// The environment the target runs in (decides the FEDERATIONID and which transport
    /// models apply).
    pub environment: Environment,
}

impl Target {
    /// The target's AS4 PartyId: the CN of its AP certificate.
    pub fn party_id(&self) -> String {
        self.ap_certificate
            .common_name()
            .unwrap_or_default()
            .to_owned()
    }

    /// The FEDERATIONID its envelopes carry.
    pub fn federation(&self) -> FederationId {
        self.environment.federation()
    }
}
