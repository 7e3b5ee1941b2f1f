//! Trust roles and the key purposes each allows.
//!
//! A trust store is typed by its role ([`As4Ap`], [`Smp`], [`Tls`], [`O2o`]), so a store of
//! one role can never be passed where another is expected, and a validated path remembers the
//! role it was validated for. Each role has its own purpose type: message-level roles verify
//! signatures or encrypt keys, TLS authenticates servers or clients.
//!
//! Key-usage rules (addressing digest §4.4, RFC 5280 §4.2.1.3/§4.2.1.12): when keyUsage is
//! present it must allow the purpose — `digitalSignature` (or `nonRepudiation`) for signature
//! verification, `keyEncipherment` for key transport. Message roles ignore extendedKeyUsage
//! (SITHS function certificates carry TLS EKUs yet sign XHE envelopes); the TLS role requires
//! `serverAuth`/`clientAuth` (or anyExtendedKeyUsage) when EKU is present.

use std::fmt;

use sdkgw_certs::{Certificate, eku};

mod sealed {
    pub trait Sealed {}
}

/// A trust role. Sealed: the four roles below are all there are.
pub trait TrustRole: sealed::Sealed + fmt::Debug + Copy + Send + Sync + 'static {
    /// Name used in errors and reports.
    const NAME: &'static str;
    /// Whether the leaf's direct issuer must be a pinned issuing CA (DIGG AP: `Accesspunkt
    /// CA-<FED>-<ENV>`, not merely any CA under the root).
    const REQUIRES_PINNED_ISSUER: bool;
    /// What a certificate of this role may be used for.
    type Purpose: Purpose;
}

/// A key purpose, checked against the leaf's keyUsage/extendedKeyUsage.
pub trait Purpose: fmt::Debug + Copy + Send + Sync + 'static {
    fn name(self) -> &'static str;
    /// `Err(detail)` when the certificate's extensions forbid this purpose.
    fn check(self, cert: &Certificate) -> Result<(), String>;
}

/// AS4 message level: access point certificates (WS-Security signature and encryption).
#[derive(Debug, Clone, Copy)]
pub struct As4Ap;
/// SMP/CertPub metadata signing certificates.
#[derive(Debug, Clone, Copy)]
pub struct Smp;
/// TLS server and client certificates (SITHS function CA).
#[derive(Debug, Clone, Copy)]
pub struct Tls;
/// Participant (organisation-to-organisation) certificates: XHE signature and payload encryption.
#[derive(Debug, Clone, Copy)]
pub struct O2o;

impl sealed::Sealed for As4Ap {}
impl sealed::Sealed for Smp {}
impl sealed::Sealed for Tls {}
impl sealed::Sealed for O2o {}

impl TrustRole for As4Ap {
    const NAME: &'static str = "AS4 access point";
    const REQUIRES_PINNED_ISSUER: bool = true;
    type Purpose = MessagePurpose;
}
impl TrustRole for Smp {
    const NAME: &'static str = "SMP";
    const REQUIRES_PINNED_ISSUER: bool = false;
    type Purpose = SmpPurpose;
}
impl TrustRole for Tls {
    const NAME: &'static str = "TLS";
    const REQUIRES_PINNED_ISSUER: bool = false;
    type Purpose = TlsPurpose;
}
impl TrustRole for O2o {
    const NAME: &'static str = "O2O participant";
    const REQUIRES_PINNED_ISSUER: bool = false;
    type Purpose = MessagePurpose;
}

/// Purposes of message-level certificates (AP, O2O).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessagePurpose {
    /// Verifying an XML signature made with the certificate's key.
    Signature,
    /// Encrypting (wrapping) a content key for the certificate's holder.
    KeyTransport,
}

/// The one purpose of SMP certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmpPurpose {
    /// Verifying the signature on SignedServiceMetadata.
    Signature,
}

/// TLS purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsPurpose {
    Server,
    Client,
}

impl Purpose for MessagePurpose {
    fn name(self) -> &'static str {
        match self {
            MessagePurpose::Signature => "signature verification",
            MessagePurpose::KeyTransport => "key transport",
        }
    }
    fn check(self, cert: &Certificate) -> Result<(), String> {
        match self {
            MessagePurpose::Signature => require_signature_ku(cert),
            MessagePurpose::KeyTransport => match cert.key_usage() {
                Some(ku) if !ku.key_encipherment => Err(format!(
                    "keyUsage is {} (keyEncipherment required)",
                    ku.names().join(", ")
                )),
                _ => Ok(()),
            },
        }
    }
}

impl Purpose for SmpPurpose {
    fn name(self) -> &'static str {
        "metadata signature verification"
    }
    fn check(self, cert: &Certificate) -> Result<(), String> {
        require_signature_ku(cert)
    }
}

impl Purpose for TlsPurpose {
    fn name(self) -> &'static str {
        match self {
            TlsPurpose::Server => "TLS server authentication",
            TlsPurpose::Client => "TLS client authentication",
        }
    }
    fn check(self, cert: &Certificate) -> Result<(), String> {
        if let Some(ku) = cert.key_usage()
            && !ku.digital_signature
            && !ku.key_encipherment
        {
            return Err(format!(
                "keyUsage is {} (digitalSignature or keyEncipherment required)",
                ku.names().join(", ")
            ));
        }
        let wanted = match self {
            TlsPurpose::Server => eku::SERVER_AUTH,
            TlsPurpose::Client => eku::CLIENT_AUTH,
        };
        match cert.extended_key_usage() {
            Some(ekus) if !ekus.iter().any(|e| e == wanted || e == eku::ANY) => Err(format!(
                "extendedKeyUsage is {} ({wanted} required)",
                ekus.join(", ")
            )),
            _ => Ok(()),
        }
    }
}

fn require_signature_ku(cert: &Certificate) -> Result<(), String> {
    match cert.key_usage() {
        Some(ku) if !ku.digital_signature && !ku.non_repudiation => Err(format!(
            "keyUsage is {} (digitalSignature required)",
            ku.names().join(", ")
        )),
        _ => Ok(()),
    }
}
