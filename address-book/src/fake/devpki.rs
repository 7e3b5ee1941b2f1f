//! The fake SMP populated from a development PKI (`sdkgw pki init`): every organisation of
//! the manifest with its AP and O2O certificates, signed by the manifest's SMP signer.

use std::path::Path;
use std::sync::Arc;

use sdkgw_certs::devpki::{Manifest, read_manifest};
use sdkgw_certs::{Certificate, PrivateKey, load_certificates, load_private_key};
use sdkgw_http::TlsIdentity;
use sdkgw_schemas::{DocumentId, ParticipantId, TransportModel, codelists};

use super::{ContentEncoding, FakeError, FakeParticipant, FakeSmp, Signer};

/// Switches applied when populating from the development PKI.
#[derive(Debug, Clone, Default)]
pub struct DevPkiOptions {
    /// Publish the PKI's expired AP certificate for these participants.
    pub expired_ap: Vec<ParticipantId>,
    /// Publish the PKI's revoked AP certificate (listed in the AP CRL).
    pub revoked_ap: Vec<ParticipantId>,
    /// Publish the PKI's AP certificate from another environment's CA.
    pub foreign_ap: Vec<ParticipantId>,
    /// Leave these document types out for these participants (404: not supported).
    pub missing_documents: Vec<(ParticipantId, DocumentId)>,
}

fn pki_err(e: impl std::fmt::Display) -> FakeError {
    FakeError::Pki(e.to_string())
}

fn cert(dir: &Path, rel: &str) -> Result<Certificate, FakeError> {
    let mut certs = load_certificates(&dir.join(rel), None).map_err(pki_err)?;
    Ok(certs.remove(0))
}

fn key(dir: &Path, rel: &str) -> Result<PrivateKey, FakeError> {
    load_private_key(&dir.join(rel), None).map_err(pki_err)
}

/// The document types every organisation of the development federation publishes: the
/// SDK message and the Meddelandekvittens, in both transport models.
pub fn dev_documents() -> Vec<DocumentId> {
    let lists = codelists();
    [TransportModel::ExtSigenc, TransportModel::Base]
        .into_iter()
        .flat_map(|m| {
            [
                lists.sdk_message_document(m).clone(),
                lists.receipt_document(m).clone(),
            ]
        })
        .collect()
}

/// A fake SMP for the organisations of the development PKI in `dir`.
pub fn from_dev_pki(dir: &Path, options: &DevPkiOptions) -> Result<FakeSmp, FakeError> {
    let manifest = read_manifest(dir).map_err(pki_err)?;
    let signer = Signer {
        certificate: cert(dir, &manifest.smp_signer.cert)?,
        key: Arc::new(key(dir, &manifest.smp_signer.key)?),
    };
    let smp = FakeSmp::new(signer);
    let negative = &manifest.negative;
    for org in &manifest.organisations {
        let participant: ParticipantId = org.participant.parse().map_err(pki_err)?;
        let ap_file = if options.expired_ap.contains(&participant) {
            &negative.expired_ap.cert
        } else if options.revoked_ap.contains(&participant) {
            &negative.revoked_ap.cert
        } else if options.foreign_ap.contains(&participant) {
            &negative.foreign_ap.cert
        } else {
            &org.ap.cert
        };
        let documents = dev_documents()
            .into_iter()
            .filter(|d| {
                !options
                    .missing_documents
                    .iter()
                    .any(|(p, m)| p == &participant && m == d)
            })
            .collect();
        smp.add_participant(FakeParticipant {
            participant,
            endpoint_url: org.as4_url.clone(),
            transport_profile: accepted_profile(),
            process: codelists().process().clone(),
            ap_certificate: cert(dir, ap_file)?,
            activation: None,
            expiration: None,
            o2o_signing: vec![cert(dir, &org.o2o_signing.cert)?],
            o2o_encryption: vec![cert(dir, &org.o2o_encryption.cert)?],
            certpub_encoding: ContentEncoding::Base64Der,
            documents,
        });
    }
    Ok(smp)
}

/// The transport profile DIGG's SMP publishes (the first accepted one of the code list).
pub(crate) fn accepted_profile() -> String {
    codelists()
        .transport_profiles()
        .iter()
        .find(|p| p.accepted)
        .map(|p| p.id.clone())
        .unwrap_or_default()
}

/// The TLS server configuration for the local SMP: the development PKI's `smp_tls` pair
/// (localhost, 127.0.0.1) with the TLS intermediate, trusted through the PKI's TLS root.
pub fn tls_identity_from_dev_pki(dir: &Path) -> Result<Arc<rustls::ServerConfig>, FakeError> {
    let manifest: Manifest = read_manifest(dir).map_err(pki_err)?;
    let chain = vec![
        cert(dir, &manifest.smp_tls.cert)?,
        cert(dir, &manifest.ca.tls_intermediate)?,
    ];
    let identity = TlsIdentity::new(&chain, &key(dir, &manifest.smp_tls.key)?).map_err(pki_err)?;
    sdkgw_http::tls::server_config_without_client_auth(&identity).map_err(pki_err)
}
