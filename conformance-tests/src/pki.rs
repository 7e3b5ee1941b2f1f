//! The suite's PKI: a development PKI (`sdkgw_certs::devpki`) whose first organisation is the
//! peer the suite plays (TestAP-01, `0203:digg-qa01.example.se`) and whose second is the
//! gateway under test of the in-process mode. Its negative material plays the other test
//! access points: the revoked AP certificate (TestAP-03), the expired one (TestAP-02, the
//! announced F-04) and the AP certificate from another environment's CA (TestAP-05).
//!
//! Generated once into a directory and reused (RSA-3072 keys take seconds); a target of the
//! remote mode must trust this PKI's CAs (see the README).

use std::path::{Path, PathBuf};

use sdkgw_as4::msh::{ApIdentity, MessageTrust};
use sdkgw_certs::devpki::{self, Manifest, OrgEntry, Pair};
use sdkgw_certs::{Certificate, PrivateKey, load_certificates, load_key_pair};
use sdkgw_http::{TlsIdentity, TrustAnchors};
use sdkgw_schemas::Environment;
use sdkgw_xml_security::x509::{As4Ap, Crl, O2o, RevocationChecker, RevocationPolicy, TrustStore};

/// TestAP-01: the normal peer (sends, receives, answers with receipts).
pub const PEER: &str = "0203:digg-qa01.example.se";
/// The gateway under test of the in-process mode.
pub const GUT: &str = "0203:gut.example.se";
/// DIGG's Open Test receiver ([TM] TF-01), served by the same peer access point.
pub const OPEN_TEST_PEER: &str = "0203:digg-test1.example.se";
/// TestAP-02: listed by DIGG without a test; here the announced "expired receiver
/// certificate" case (F-04).
pub const EXPIRED_PEER: &str = "0203:digg-qa02.example.se";
/// TestAP-03: its SMP-published AP certificate is revoked (TF-02).
pub const REVOKED_PEER: &str = "0203:digg-qa03.example.se";
/// TestAP-04: its endpoint cannot be reached (TF-05).
pub const UNREACHABLE_PEER: &str = "0203:digg-qa04.example.se";
/// TestAP-05: sends with an AP certificate of another environment (TF-03).
pub const FOREIGN_PEER: &str = "0203:digg-qa05.example.se";
/// A participant whose AP certificate belongs to another federation's CA (F-03).
pub const OTHER_FEDERATION_PEER: &str = "0203:other-federation.example.se";
/// A participant registered without the SDK message document type (F-07).
pub const NO_MESSAGE_TYPE_PEER: &str = "0203:receipts-only.example.se";

/// SMP answers its metadata unsigned (H-32).
pub const SMP_UNSIGNED_PEER: &str = "0203:smp-unsigned.example.se";
/// SMP answers its metadata with a signature that does not verify (H-32).
pub const SMP_TAMPERED_PEER: &str = "0203:smp-tampered.example.se";
/// SMP answers its metadata signed by a certificate outside the SMP CA (H-32).
pub const SMP_ROGUE_SIGNER_PEER: &str = "0203:smp-rogue-signer.example.se";
/// Its SMP endpoint is `http://` (H-40).
pub const HTTP_ENDPOINT_PEER: &str = "0203:http-endpoint.example.se";
/// Its SMP endpoint has a transport profile other than DIGG's (H-40).
pub const WRONG_PROFILE_PEER: &str = "0203:wrong-profile.example.se";
/// Its CertPub encryption certificate is no valid O2O certificate (expired, AP CA) (H-33).
pub const BAD_O2O_PEER: &str = "0203:bad-o2o.example.se";
/// The peer under a second name whose SMP AP certificate changes during a retry (H-34).
pub const ROLLOVER_PEER: &str = "0203:rollover.example.se";

/// Every participant the suite's peer side publishes.
pub const PEER_PARTICIPANTS: [&str; 15] = [
    SMP_UNSIGNED_PEER,
    SMP_TAMPERED_PEER,
    SMP_ROGUE_SIGNER_PEER,
    HTTP_ENDPOINT_PEER,
    WRONG_PROFILE_PEER,
    BAD_O2O_PEER,
    ROLLOVER_PEER,
    PEER,
    OPEN_TEST_PEER,
    EXPIRED_PEER,
    REVOKED_PEER,
    UNREACHABLE_PEER,
    FOREIGN_PEER,
    OTHER_FEDERATION_PEER,
    NO_MESSAGE_TYPE_PEER,
];

/// Why the PKI cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("suite PKI in {dir}: {message}")]
pub struct PkiError {
    pub dir: String,
    pub message: String,
}

/// The PKI on disk and its manifest.
#[derive(Debug, Clone)]
pub struct SuitePki {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl SuitePki {
    /// Opens the PKI in `dir`, generating it first when the directory holds none.
    pub fn open_or_generate(dir: &Path) -> Result<SuitePki, PkiError> {
        let err = |message: String| PkiError {
            dir: dir.display().to_string(),
            message,
        };
        let manifest = match devpki::read_manifest(dir) {
            Ok(m) => m,
            Err(_) => {
                // Generate next to the final place, then move it there, so a concurrent run
                // never sees half a PKI.
                let tmp = dir.with_extension(format!("tmp-{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&tmp);
                devpki::generate(
                    &tmp,
                    &devpki::Options {
                        participants: vec![PEER.into(), GUT.into()],
                        seed: None,
                        force: false,
                    },
                    &sdkgw_server::config::dev::render,
                )
                .map_err(|e| err(e.to_string()))?;
                if let Some(parent) = dir.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| err(e.to_string()))?;
                }
                if std::fs::rename(&tmp, dir).is_err() {
                    let _ = std::fs::remove_dir_all(&tmp);
                }
                devpki::read_manifest(dir).map_err(|e| err(e.to_string()))?
            }
        };
        let pki = SuitePki {
            dir: dir.to_path_buf(),
            manifest,
        };
        if pki.manifest.organisations.len() < 2 || pki.manifest.organisations[0].participant != PEER
        {
            return Err(err(format!(
                "not the suite's PKI (its first organisation must be {PEER}); use another --pki directory"
            )));
        }
        Ok(pki)
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn err(&self, message: impl std::fmt::Display) -> PkiError {
        PkiError {
            dir: self.dir.display().to_string(),
            message: message.to_string(),
        }
    }

    /// The first certificate of a PEM file of the PKI.
    pub fn cert(&self, rel: &str) -> Result<Certificate, PkiError> {
        let mut certs = load_certificates(&self.path(rel), None).map_err(|e| self.err(e))?;
        if certs.is_empty() {
            return Err(self.err(format!("{rel}: no certificate")));
        }
        Ok(certs.remove(0))
    }

    /// A certificate and its key.
    pub fn pair(&self, pair: &Pair) -> Result<(Certificate, PrivateKey), PkiError> {
        let kp = load_key_pair(&self.path(&pair.cert), Some(&self.path(&pair.key)), None)
            .map_err(|e| self.err(e))?;
        let (key, chain) = kp.into_parts();
        let cert = chain
            .into_iter()
            .next()
            .ok_or_else(|| self.err(format!("{}: no certificate", pair.cert)))?;
        Ok((cert, key))
    }

    /// The peer organisation (TestAP-01).
    pub fn peer(&self) -> &OrgEntry {
        &self.manifest.organisations[0]
    }

    /// The in-process gateway under test.
    pub fn gut(&self) -> &OrgEntry {
        &self.manifest.organisations[1]
    }

    /// An AS4 identity from an AP pair (party id = its CN).
    pub fn identity(&self, pair: &Pair) -> Result<ApIdentity, PkiError> {
        let (cert, key) = self.pair(pair)?;
        ApIdentity::new(cert, std::sync::Arc::new(key), None).map_err(|e| self.err(e))
    }

    /// Every CRL of the PKI, parsed.
    fn crls(&self) -> Result<Vec<Crl>, PkiError> {
        let c = &self.manifest.crls;
        [
            &c.ap_root,
            &c.ap_intermediate,
            &c.smp_ca,
            &c.tls_root,
            &c.tls_intermediate,
            &c.o2o_root,
            &c.o2o_intermediate,
        ]
        .into_iter()
        .map(|rel| {
            let bytes = std::fs::read(self.path(rel)).map_err(|e| self.err(e))?;
            Crl::parse_any(&bytes).map_err(|e| self.err(format!("{rel}: {e}")))
        })
        .collect::<Result<Vec<Vec<Crl>>, _>>()
        .map(|v| v.into_iter().flatten().collect())
    }

    /// A fail-closed revocation checker with every CRL of the PKI.
    pub fn revocation(&self) -> Result<RevocationChecker, PkiError> {
        let checker = RevocationChecker::new(RevocationPolicy::default());
        checker.add_crls(self.crls()?);
        Ok(checker)
    }

    /// AS4 trust of the PKI's environment: the AP root, the AP intermediate pinned, the
    /// foreign CA named as another environment, every CRL.
    pub fn message_trust(&self) -> Result<MessageTrust, PkiError> {
        let ca = &self.manifest.ca;
        let store = TrustStore::<As4Ap>::pinned(
            Environment::Dev.as_str(),
            vec![self.cert(&ca.ap_root)?],
            vec![self.cert(&ca.ap_intermediate)?],
        )
        .map_err(|e| self.err(e))?
        .with_foreign("OTHER-ENVIRONMENT", vec![self.cert(&ca.foreign_ap_ca)?]);
        Ok(MessageTrust {
            store,
            revocation: self.revocation()?,
        })
    }

    /// O2O trust (participant signatures on XHE envelopes and receipts).
    pub fn o2o_trust(&self) -> Result<TrustStore<O2o>, PkiError> {
        let ca = &self.manifest.ca;
        TrustStore::<O2o>::new(Environment::Dev.as_str(), vec![self.cert(&ca.o2o_root)?])
            .map_err(|e| self.err(e))
            .and_then(|s| Ok(s.with_intermediates(vec![self.cert(&ca.o2o_intermediate)?])))
    }

    /// TLS trust: the TLS root with its CRLs.
    pub fn tls_anchors(&self) -> Result<TrustAnchors, PkiError> {
        let mut anchors = TrustAnchors::new(&[self.cert(&self.manifest.ca.tls_root)?])
            .map_err(|e| self.err(e))?;
        for rel in [
            &self.manifest.crls.tls_root,
            &self.manifest.crls.tls_intermediate,
        ] {
            let bytes = std::fs::read(self.path(rel)).map_err(|e| self.err(e))?;
            anchors = anchors
                .with_crl_file_content(&bytes)
                .map_err(|e| self.err(e))?;
        }
        Ok(anchors)
    }

    /// A TLS identity presenting the pair's certificate and the TLS intermediate.
    pub fn tls_identity(&self, pair: &Pair) -> Result<TlsIdentity, PkiError> {
        let (cert, key) = self.pair(pair)?;
        let intermediate = self.cert(&self.manifest.ca.tls_intermediate)?;
        TlsIdentity::new(&[cert, intermediate], &key).map_err(|e| self.err(e))
    }
}
