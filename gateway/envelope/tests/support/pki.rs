//! The development PKI of the envelope tests and benchmark: two organisations, generated once
//! and shared by every test process (RSA-3072 generation is slow).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use sdkgw_certs::{Certificate, PrivateKey};
use sdkgw_schemas::ParticipantId;
use sdkgw_xml_security::x509::{Crl, O2o, RevocationChecker, RevocationPolicy, TrustStore};

/// One organisation of the development PKI.
pub(crate) struct Org {
    pub(crate) participant: ParticipantId,
    pub(crate) sign_key: PrivateKey,
    pub(crate) sign_cert: Certificate,
    pub(crate) enc_key: PrivateKey,
    pub(crate) enc_cert: Certificate,
    pub(crate) sign_cert_path: PathBuf,
    pub(crate) sign_key_path: PathBuf,
    pub(crate) enc_cert_path: PathBuf,
    pub(crate) enc_key_path: PathBuf,
    /// The AP certificate and key: a valid certificate of another role.
    pub(crate) ap_key: PrivateKey,
    pub(crate) ap_cert: Certificate,
}

/// The development PKI with two organisations (`0203:orga.test`, `0203:orgb.test`).
pub(crate) struct Pki {
    pub(crate) dir: PathBuf,
    pub(crate) a: Org,
    pub(crate) b: Org,
    pub(crate) o2o_root: Certificate,
    pub(crate) o2o_intermediate: Certificate,
    pub(crate) o2o_root_path: PathBuf,
    pub(crate) o2o_intermediate_path: PathBuf,
    pub(crate) crl_paths: Vec<PathBuf>,
}

impl Pki {
    /// The O2O trust store of the development environment.
    pub(crate) fn store(&self) -> TrustStore<O2o> {
        TrustStore::<O2o>::new("DEV", vec![self.o2o_root.clone()])
            .unwrap()
            .with_intermediates(vec![self.o2o_intermediate.clone()])
    }

    /// Fail-closed revocation with the development CRLs.
    pub(crate) fn revocation(&self) -> RevocationChecker {
        let rc = RevocationChecker::new(RevocationPolicy::default());
        for p in &self.crl_paths {
            rc.add_crls(Crl::parse_any(&std::fs::read(p).unwrap()).unwrap());
        }
        rc
    }
}

fn load_org(dir: &Path, entry: &sdkgw_certs::devpki::OrgEntry) -> Org {
    let pair = |p: &sdkgw_certs::devpki::Pair| {
        let kp =
            sdkgw_certs::load_key_pair(&dir.join(&p.cert), Some(&dir.join(&p.key)), None).unwrap();
        (
            PrivateKey::from_pkcs8_der(kp.key().pkcs8_der()).unwrap(),
            kp.certificate().clone(),
        )
    };
    let (sign_key, sign_cert) = pair(&entry.o2o_signing);
    let (enc_key, enc_cert) = pair(&entry.o2o_encryption);
    let (ap_key, ap_cert) = pair(&entry.ap);
    Org {
        participant: entry.participant.parse().unwrap(),
        sign_key,
        sign_cert,
        enc_key,
        enc_cert,
        sign_cert_path: dir.join(&entry.o2o_signing.cert),
        sign_key_path: dir.join(&entry.o2o_signing.key),
        enc_cert_path: dir.join(&entry.o2o_encryption.cert),
        enc_key_path: dir.join(&entry.o2o_encryption.key),
        ap_key,
        ap_cert,
    }
}

/// A manifest younger than a week is reused (test processes share it; RSA-3072 generation
/// is slow); otherwise a new PKI is generated under a lock file.
fn ensure_dev_pki(dir: &Path) -> sdkgw_certs::devpki::Manifest {
    let fresh = |d: &Path| {
        let m = std::fs::metadata(d.join("manifest.json")).ok()?;
        let age = m.modified().ok()?.elapsed().ok()?;
        (age.as_secs() < 7 * 24 * 3600)
            .then(|| sdkgw_certs::devpki::read_manifest(d).ok())
            .flatten()
    };
    if let Some(m) = fresh(dir) {
        return m;
    }
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    let lock = dir.with_extension("lock");
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
        {
            Ok(_) => break,
            Err(_) => {
                std::thread::sleep(std::time::Duration::from_millis(200));
                if let Some(m) = fresh(dir) {
                    return m;
                }
                // A lock older than two minutes belongs to a killed run.
                let stale = std::fs::metadata(&lock)
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|a| a.as_secs() > 120);
                if stale {
                    let _ = std::fs::remove_file(&lock);
                }
            }
        }
    }
    let options = sdkgw_certs::devpki::Options {
        participants: vec!["0203:orga.test".into(), "0203:orgb.test".into()],
        seed: Some(5),
        force: true,
    };
    let result = sdkgw_certs::devpki::generate(dir, &options, &|_| String::new());
    let _ = std::fs::remove_file(&lock);
    result.unwrap()
}

/// Loads (generating it first when missing or older than a week) the PKI in `dir`.
pub(crate) fn load(dir: PathBuf) -> Pki {
    let m = ensure_dev_pki(&dir);
    let cert = |rel: &str| {
        sdkgw_certs::load_certificates(&dir.join(rel), None)
            .unwrap()
            .remove(0)
    };
    Pki {
        a: load_org(&dir, &m.organisations[0]),
        b: load_org(&dir, &m.organisations[1]),
        o2o_root: cert(&m.ca.o2o_root),
        o2o_intermediate: cert(&m.ca.o2o_intermediate),
        o2o_root_path: dir.join(&m.ca.o2o_root),
        o2o_intermediate_path: dir.join(&m.ca.o2o_intermediate),
        crl_paths: vec![
            dir.join(&m.crls.o2o_root),
            dir.join(&m.crls.o2o_intermediate),
        ],
        dir,
    }
}

use std::cell::Cell;

use sdkgw_envelope::message::MessagePolicy;
use sdkgw_envelope::open::{
    self, DecryptionKeys, KeyRing, OpenConfig, Opened, Refusal, SignerTrust,
};
use sdkgw_envelope::seal::Signer;
use sdkgw_envelope::xhe::XheContext;
use sdkgw_schemas::Environment;
use sdkgw_xml_security::xenc::RecipientKey;

impl Org {
    /// The organisation's signing pair.
    pub(crate) fn signer(&self) -> Signer<'_> {
        Signer {
            key: &self.sign_key,
            cert: &self.sign_cert,
        }
    }
}

/// A spy over the receiver's keys: counts how often the pipeline asks for them.
pub(crate) struct SpyKeys {
    pub(crate) inner: DecryptionKeys,
    pub(crate) asked: Cell<usize>,
}

impl SpyKeys {
    pub(crate) fn new(key: &PrivateKey, cert: &Certificate) -> Self {
        SpyKeys {
            inner: DecryptionKeys::new(&[(key, cert)]).unwrap(),
            asked: Cell::new(0),
        }
    }
}

impl KeyRing for SpyKeys {
    fn recipient_keys(&self) -> Vec<RecipientKey<'_>> {
        self.asked.set(self.asked.get() + 1);
        self.inner.recipient_keys()
    }
}

/// What a receiving organisation has: O2O trust, its keys, the participants it serves
/// (empty: any), and its signing pair for receipts.
pub(crate) struct Receiver<'o> {
    pub(crate) org: &'o Org,
    pub(crate) store: TrustStore<O2o>,
    pub(crate) revocation: RevocationChecker,
    pub(crate) keys: SpyKeys,
    pub(crate) served: Vec<ParticipantId>,
}

impl<'o> Receiver<'o> {
    /// `org` receiving in the development environment, serving its own participant id.
    pub(crate) fn new(pki: &Pki, org: &'o Org) -> Self {
        Receiver {
            org,
            store: pki.store(),
            revocation: pki.revocation(),
            keys: SpyKeys::new(&org.enc_key, &org.enc_cert),
            served: vec![org.participant.clone()],
        }
    }

    /// The open configuration with `certpub` as FromParty's CertPub signing certificate.
    pub(crate) fn config<'a>(
        &'a self,
        certpub: Option<&'a Certificate>,
        policy: MessagePolicy<'a>,
    ) -> OpenConfig<'a> {
        OpenConfig {
            context: XheContext {
                environment: Some(Environment::Dev),
            },
            serves: (!self.served.is_empty()).then_some(self.served.as_slice()),
            trust: SignerTrust {
                certpub,
                store: &self.store,
                revocation: &self.revocation,
            },
            keys: &self.keys,
            policy,
            receipt_signer: Some(self.org.signer()),
            at: time::OffsetDateTime::now_utc(),
        }
    }

    /// Opens with the default message policy.
    pub(crate) fn open(
        &self,
        bytes: Vec<u8>,
        certpub: Option<&Certificate>,
    ) -> Result<Opened, Refusal> {
        open::open(bytes, &self.config(certpub, MessagePolicy::default()))
    }
}
