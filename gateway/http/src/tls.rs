//! rustls configurations per role, always with the aws-lc-rs provider and TLS 1.2/1.3 only.
//!
//! * [`mtls_server_config`]: a listener that demands a client certificate chaining to its own
//!   trust store (the AS4 listener: the SITHS function CA chain of this environment), with
//!   optional CRLs.
//! * [`server_config_without_client_auth`]: a listener whose callers authenticate otherwise
//!   (OAuth2 tokens on the mailbox API).
//! * [`client_config`]: an outbound client presenting our certificate (optional), verifying the
//!   server against a configured root set, hostname check on by default.
//!
//! Trust stores are never shared between roles: each config gets its own [`TrustAnchors`].
//!
//! Live replacement (key rotation, CRL refresh without a restart):
//!
//! * [`ReloadableServerConfig`]: a listener bound with
//!   [`Server::bind_reloadable`](crate::Server::bind_reloadable) takes the config current at
//!   each TLS accept; [`ReloadableServerConfig::replace`] swaps certificate, client verifier
//!   (trust, CRLs) and session cache at once for new connections, while established ones keep
//!   the config they were accepted with.
//! * [`ReloadableCertificate`]: only the certificate of an existing server config (listeners
//!   whose verifier never changes), through rustls' `ResolvesServerCert`.

use std::sync::{Arc, PoisonError, RwLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName,
    UnixTime,
};
use sdkgw_certs::{Certificate, PrivateKey};

/// The only protocol versions we speak (SAD CTR1: TLS 1.2 or 1.3).
static PROTOCOL_VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Errors building a TLS configuration (operator input, never peer data).
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// The certificate chain for our identity is empty.
    #[error("the TLS identity has no certificate")]
    EmptyChain,
    /// The private key does not belong to the first certificate of the chain.
    #[error("the TLS private key does not match certificate '{subject}'")]
    KeyMismatch {
        /// Subject of the leaf certificate.
        subject: String,
    },
    /// A trust store holds no usable CA certificate.
    #[error("the TLS trust store is empty")]
    EmptyTrustStore,
    /// A CA certificate could not be used as a trust anchor.
    #[error("CA certificate '{subject}' is not usable as a trust anchor: {source}")]
    BadTrustAnchor {
        /// Subject of the rejected CA certificate.
        subject: String,
        /// Why webpki refused it.
        source: rustls::Error,
    },
    /// CRL data that is neither DER nor PEM with `X509 CRL` blocks.
    #[error("unreadable CRL: {0}")]
    BadCrl(String),
    /// rustls refused the configuration (key type, CRL syntax, ...).
    #[error("rustls refused the configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built (e.g. a CRL does not parse).
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// Our own certificate chain (leaf first) and its private key.
#[derive(Clone)]
pub struct TlsIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivatePkcs8KeyDer<'static>>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("TlsIdentity")
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// Builds an identity from a chain (leaf first, intermediates after it) and the leaf's key.
    pub fn new(chain: &[Certificate], key: &PrivateKey) -> Result<Self, TlsConfigError> {
        let leaf = chain.first().ok_or(TlsConfigError::EmptyChain)?;
        if !key.matches(leaf) {
            return Err(TlsConfigError::KeyMismatch {
                subject: leaf.subject().to_owned(),
            });
        }
        Ok(Self {
            chain: chain
                .iter()
                .map(|c| CertificateDer::from(c.der().to_vec()))
                .collect(),
            key: Arc::new(PrivatePkcs8KeyDer::from(key.pkcs8_der().to_vec())),
        })
    }

    fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }
}

/// What to do about revocation when CRLs are configured (without CRLs nothing is checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationPolicy {
    /// Check only the end-entity certificate (default: the whole chain).
    pub end_entity_only: bool,
    /// Accept a certificate whose status no configured CRL covers (default: reject, fail-closed).
    pub allow_unknown_status: bool,
    /// Reject certificates when the covering CRL is past its nextUpdate (default: yes).
    pub enforce_crl_expiry: bool,
}

impl Default for RevocationPolicy {
    fn default() -> Self {
        Self {
            end_entity_only: false,
            allow_unknown_status: false,
            enforce_crl_expiry: true,
        }
    }
}

/// One role's trust store: CA certificates plus optional CRLs (DER).
///
/// Every certificate given is a trust anchor. To accept only certificates issued by one
/// intermediate (the SITHS *Function* CA rather than everything under the SITHS root), give that
/// intermediate alone: webpki then accepts exactly the chains that end in it.
#[derive(Debug, Clone)]
pub struct TrustAnchors {
    roots: Arc<RootCertStore>,
    crls: Vec<CertificateRevocationListDer<'static>>,
    revocation: RevocationPolicy,
}

impl TrustAnchors {
    /// Builds a trust store from CA certificates (roots and/or intermediates used as anchors).
    pub fn new(cas: &[Certificate]) -> Result<Self, TlsConfigError> {
        let mut roots = RootCertStore::empty();
        for ca in cas {
            roots
                .add(CertificateDer::from(ca.der().to_vec()))
                .map_err(|source| TlsConfigError::BadTrustAnchor {
                    subject: ca.subject().to_owned(),
                    source,
                })?;
        }
        if roots.is_empty() {
            return Err(TlsConfigError::EmptyTrustStore);
        }
        Ok(Self {
            roots: Arc::new(roots),
            crls: Vec::new(),
            revocation: RevocationPolicy::default(),
        })
    }

    /// Adds a DER-encoded CRL; checked when the verifier is built.
    #[must_use]
    pub fn with_crl_der(mut self, der: Vec<u8>) -> Self {
        self.crls.push(CertificateRevocationListDer::from(der));
        self
    }

    /// Adds the CRLs of a file's content: one DER CRL, or PEM with one or more
    /// `X509 CRL` blocks (as `sdkgw pki` writes them).
    pub fn with_crl_file_content(mut self, bytes: &[u8]) -> Result<Self, TlsConfigError> {
        if !bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            self.crls
                .push(CertificateRevocationListDer::from(bytes.to_vec()));
            return Ok(self);
        }
        let before = self.crls.len();
        for crl in CertificateRevocationListDer::pem_slice_iter(bytes) {
            self.crls
                .push(crl.map_err(|e| TlsConfigError::BadCrl(e.to_string()))?);
        }
        if self.crls.len() == before {
            return Err(TlsConfigError::BadCrl(
                "no X509 CRL block in the PEM data".into(),
            ));
        }
        Ok(self)
    }

    /// Sets the revocation policy used when CRLs are present.
    #[must_use]
    pub fn with_revocation_policy(mut self, policy: RevocationPolicy) -> Self {
        self.revocation = policy;
        self
    }
}

/// A server config that can be replaced while its listener runs: every TLS accept takes the
/// current one, so a replacement applies to new connections only (established ones finish
/// with the config they were accepted with). A replaced config brings its own session cache:
/// sessions of the old one cannot be resumed, so a peer is verified against the new trust.
#[derive(Debug)]
pub struct ReloadableServerConfig {
    current: RwLock<Arc<ServerConfig>>,
}

impl ReloadableServerConfig {
    /// Starts with `config`.
    pub fn new(config: Arc<ServerConfig>) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::new(config),
        })
    }

    /// The config new connections get now.
    pub fn current(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Makes `config` the one new connections get; returns the previous one.
    pub fn replace(&self, config: Arc<ServerConfig>) -> Arc<ServerConfig> {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *current, config)
    }
}

/// The certificate (and key) of a server config, replaceable while it serves: a rustls
/// `ResolvesServerCert` that hands every new handshake the current identity. For listeners
/// whose client verification never changes; see [`ReloadableServerConfig`] otherwise.
#[derive(Debug)]
pub struct ReloadableCertificate {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadableCertificate {
    /// A copy of `config` that serves `identity` through a reloadable resolver, and the
    /// handle that replaces the identity later.
    pub fn install(
        config: &ServerConfig,
        identity: &TlsIdentity,
    ) -> Result<(Arc<ServerConfig>, Arc<Self>), TlsConfigError> {
        let resolver = Arc::new(Self {
            current: RwLock::new(certified_key(identity)?),
        });
        let mut config = config.clone();
        config.cert_resolver = resolver.clone();
        Ok((Arc::new(config), resolver))
    }

    /// Serves `identity` from the next handshake on.
    pub fn replace(&self, identity: &TlsIdentity) -> Result<(), TlsConfigError> {
        let key = certified_key(identity)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = key;
        Ok(())
    }

    /// The leaf certificate served now (DER).
    pub fn leaf_der(&self) -> Option<Vec<u8>> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        current.cert.first().map(|c| c.as_ref().to_vec())
    }
}

impl ResolvesServerCert for ReloadableCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(PoisonError::into_inner),
        ))
    }
}

fn certified_key(identity: &TlsIdentity) -> Result<Arc<CertifiedKey>, TlsConfigError> {
    let key = CertifiedKey::from_der(identity.chain.clone(), identity.key_der(), &provider())?;
    Ok(Arc::new(key))
}

/// The provider every config uses: aws-lc-rs, its default (AEAD-only, ECDHE) suites.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

/// Server config that **requires** a client certificate chaining to `client_trust`.
pub fn mtls_server_config(
    identity: &TlsIdentity,
    client_trust: &TrustAnchors,
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let mut verifier =
        WebPkiClientVerifier::builder_with_provider(client_trust.roots.clone(), provider())
            .with_crls(client_trust.crls.iter().cloned());
    let policy = client_trust.revocation;
    if policy.end_entity_only {
        verifier = verifier.only_check_end_entity_revocation();
    }
    if policy.allow_unknown_status {
        verifier = verifier.allow_unknown_revocation_status();
    }
    if policy.enforce_crl_expiry {
        verifier = verifier.enforce_revocation_expiration();
    }
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)?
        .with_client_cert_verifier(verifier.build()?)
        .with_single_cert(identity.chain.clone(), identity.key_der())?;
    Ok(Arc::new(finish_server(config)))
}

/// Server config without client authentication (callers present tokens instead).
pub fn server_config_without_client_auth(
    identity: &TlsIdentity,
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)?
        .with_no_client_auth()
        .with_single_cert(identity.chain.clone(), identity.key_der())?;
    Ok(Arc::new(finish_server(config)))
}

fn finish_server(mut config: ServerConfig) -> ServerConfig {
    // We serve HTTP/1.1 only (AS4 over HTTP 1.1, TP 2.1).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// Whether the client checks that the server certificate names the host it connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostnameVerification {
    /// Check the server's SAN against the URL host (default; T-TLS-05).
    #[default]
    Verify,
    /// Accept a server certificate for any name as long as it chains to the roots and is
    /// valid. Only for environments that document it (DIGG's testbed sample disables it).
    SkipNameCheck,
}

/// Inputs for an outbound TLS client.
#[derive(Debug, Clone)]
pub struct ClientTlsSettings {
    /// Our client certificate for mutual TLS (`None`: no client authentication).
    pub identity: Option<TlsIdentity>,
    /// Roots the server must chain to.
    pub server_trust: TrustAnchors,
    /// Hostname check (default on).
    pub hostname: HostnameVerification,
}

/// Client config per [`ClientTlsSettings`].
pub fn client_config(settings: &ClientTlsSettings) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let trust = &settings.server_trust;
    let mut verifier = WebPkiServerVerifier::builder_with_provider(trust.roots.clone(), provider())
        .with_crls(trust.crls.iter().cloned());
    if trust.revocation.end_entity_only {
        verifier = verifier.only_check_end_entity_revocation();
    }
    if trust.revocation.allow_unknown_status {
        verifier = verifier.allow_unknown_revocation_status();
    }
    if trust.revocation.enforce_crl_expiry {
        verifier = verifier.enforce_revocation_expiration();
    }
    let webpki = verifier.build().map_err(|e| match e {
        rustls::client::VerifierBuilderError::NoRootAnchors => TlsConfigError::EmptyTrustStore,
        other => TlsConfigError::Rustls(rustls::Error::General(other.to_string())),
    })?;
    let verifier: Arc<dyn ServerCertVerifier> = match settings.hostname {
        HostnameVerification::Verify => webpki,
        HostnameVerification::SkipNameCheck => Arc::new(IgnoreHostname { inner: webpki }),
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &settings.identity {
        Some(id) => builder.with_client_auth_cert(id.chain.clone(), id.key_der())?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Full webpki verification except the name check: chain, validity, EKU, revocation still apply.
#[derive(Debug)]
struct IgnoreHostname {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for IgnoreHostname {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
