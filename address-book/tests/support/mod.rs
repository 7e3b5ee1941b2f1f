//! Shared test material: the development PKI (generated once into `target/` and reused by
//! every test binary), extra certificates issued at test time under its CAs (revoked and
//! expired SMP signers and O2O certificates, a foreign SMP root, a second AP intermediate),
//! trust stores built from them, and a fake SMP served over HTTPS on 127.0.0.1.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType, IsCa, Issuer,
    KeyIdMethod, KeyPair, KeyUsagePurpose as Ku, RevocationReason, RevokedCertParams, SerialNumber,
};
use sdkgw_address_book::fake::{self, FakeSmp, RunningSmp, Signer};
use sdkgw_address_book::locator::SmpLocator;
use sdkgw_address_book::smp::{HttpsTransport, SmpClient, TransportSettings};
use sdkgw_address_book::smp_url::SmpBaseUrl;
use sdkgw_address_book::trust::{RoleTrust, Trust};
use sdkgw_certs::devpki::{self, Manifest};
use sdkgw_certs::{Certificate, PrivateKey, load_certificates, load_private_key};
use sdkgw_schemas::{DocumentId, Environment, ParticipantId, TransportModel, codelists};
use sdkgw_xml_security::x509::{
    As4Ap, Crl, O2o, RevocationChecker, RevocationPolicy, Smp, TrustStore,
};
use time::{Duration, OffsetDateTime};

pub const ORGS: [&str; 3] = ["0203:orga.test", "0203:orgb.test", "0203:orgc.test"];

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn participant(i: usize) -> ParticipantId {
    ORGS[i].parse().unwrap()
}

/// The SDK message document type (Utökad Bas).
pub fn message_doc() -> DocumentId {
    codelists()
        .sdk_message_document(TransportModel::ExtSigenc)
        .clone()
}

/// The Meddelandekvittens document type (Utökad Bas).
pub fn receipt_doc() -> DocumentId {
    codelists()
        .receipt_document(TransportModel::ExtSigenc)
        .clone()
}

/// A certificate and key issued at test time.
pub struct Issued {
    pub cert: Certificate,
    pub key: Arc<PrivateKey>,
}

impl Issued {
    pub fn signer(&self) -> Signer {
        Signer {
            certificate: self.cert.clone(),
            key: self.key.clone(),
        }
    }
}

/// The development PKI plus the extra material.
pub struct Pki {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// SMP signer issued by the dev SMP CA and listed in `smp_crl`.
    pub revoked_smp_signer: Issued,
    /// SMP signer issued by the dev SMP CA, expired yesterday.
    pub expired_smp_signer: Issued,
    /// Root of another environment's SMP CA, and a signer under it.
    pub foreign_smp_root: Certificate,
    pub foreign_smp_signer: Issued,
    /// CRL of the dev SMP CA listing `revoked_smp_signer` (DER).
    pub smp_crl: Vec<u8>,
    /// O2O encryption certificates under the dev O2O intermediate.
    pub o2o_revoked: Issued,
    pub o2o_expired: Issued,
    /// Issued an hour ago: newer than the PKI's (issued a day ago), for rotation.
    pub o2o_newer: Issued,
    /// O2O certificate from a CA that is not an O2O anchor.
    pub o2o_foreign: Issued,
    /// CRL of the dev O2O intermediate listing `o2o_revoked` (DER).
    pub o2o_crl: Vec<u8>,
    /// A second intermediate of the dev AP root (not the pinned one), and an AP certificate
    /// it issued.
    pub ap_other_ca: Certificate,
    pub ap_other_intermediate: Issued,
    /// AP certificate under the pinned intermediate with CN `foo`.
    pub ap_cn_foo: Issued,
}

pub fn cert(dir: &Path, rel: &str) -> Certificate {
    load_certificates(&dir.join(rel), None).unwrap().remove(0)
}

pub fn key(dir: &Path, rel: &str) -> PrivateKey {
    load_private_key(&dir.join(rel), None).unwrap()
}

impl Pki {
    pub fn cert(&self, rel: &str) -> Certificate {
        cert(&self.dir, rel)
    }

    pub fn org_ap(&self, i: usize) -> Issued {
        let org = &self.manifest.organisations[i];
        Issued {
            cert: self.cert(&org.ap.cert),
            key: Arc::new(key(&self.dir, &org.ap.key)),
        }
    }

    pub fn org_o2o_encryption(&self, i: usize) -> Certificate {
        self.cert(&self.manifest.organisations[i].o2o_encryption.cert)
    }

    pub fn org_o2o_signing(&self, i: usize) -> Certificate {
        self.cert(&self.manifest.organisations[i].o2o_signing.cert)
    }

    pub fn crls(&self, paths: &[&str]) -> Vec<Crl> {
        paths
            .iter()
            .flat_map(|p| Crl::parse_any(&std::fs::read(self.dir.join(p)).unwrap()).unwrap())
            .collect()
    }
}

/// The shared development PKI (3 organisations), made once for all test binaries.
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = dev_pki_dir();
        let manifest = devpki::read_manifest(&dir).unwrap();
        match load_extra(&dir, &manifest) {
            Some(pki) => pki,
            None => {
                let pki = extra(dir, manifest);
                save_extra(&pki);
                pki
            }
        }
    })
}

/// The extra material's files in the dev PKI directory (`extra/`, DER), written once and
/// reused by every test process (RSA key generation dominates a test otherwise).
const EXTRA: &str = "extra";
const ISSUED: [&str; 9] = [
    "revoked_smp_signer",
    "expired_smp_signer",
    "foreign_smp_signer",
    "o2o_revoked",
    "o2o_expired",
    "o2o_newer",
    "o2o_foreign",
    "ap_other_intermediate",
    "ap_cn_foo",
];

fn issued_of<'a>(pki: &'a Pki, name: &str) -> &'a Issued {
    match name {
        "revoked_smp_signer" => &pki.revoked_smp_signer,
        "expired_smp_signer" => &pki.expired_smp_signer,
        "foreign_smp_signer" => &pki.foreign_smp_signer,
        "o2o_revoked" => &pki.o2o_revoked,
        "o2o_expired" => &pki.o2o_expired,
        "o2o_newer" => &pki.o2o_newer,
        "o2o_foreign" => &pki.o2o_foreign,
        "ap_other_intermediate" => &pki.ap_other_intermediate,
        _ => &pki.ap_cn_foo,
    }
}

fn save_extra(pki: &Pki) {
    let tmp = tempfile::tempdir_in(&pki.dir).unwrap();
    let put = |name: &str, bytes: &[u8]| std::fs::write(tmp.path().join(name), bytes).unwrap();
    for name in ISSUED {
        let i = issued_of(pki, name);
        put(&format!("{name}.cert.der"), i.cert.der());
        put(&format!("{name}.key.der"), i.key.pkcs8_der());
    }
    put("foreign_smp_root.cert.der", pki.foreign_smp_root.der());
    put("ap_other_ca.cert.der", pki.ap_other_ca.der());
    put("smp.crl.der", &pki.smp_crl);
    put("o2o.crl.der", &pki.o2o_crl);
    let tmp = tmp.keep();
    // Another process may have saved first; either copy is fine.
    if std::fs::rename(&tmp, pki.dir.join(EXTRA)).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
}

fn load_extra(dir: &Path, manifest: &Manifest) -> Option<Pki> {
    let base = dir.join(EXTRA);
    let read = |name: &str| std::fs::read(base.join(name)).ok();
    let cert = |name: &str| Certificate::from_der(&read(&format!("{name}.cert.der"))?).ok();
    let issued = |name: &str| {
        Some(Issued {
            cert: cert(name)?,
            key: Arc::new(PrivateKey::from_pkcs8_der(&read(&format!("{name}.key.der"))?).ok()?),
        })
    };
    let crl_fresh = |der: &[u8]| {
        Crl::from_der(der)
            .ok()?
            .next_update()
            .filter(|n| *n > OffsetDateTime::now_utc() + Duration::days(7))
            .map(|_| ())
    };
    let smp_crl = read("smp.crl.der")?;
    let o2o_crl = read("o2o.crl.der")?;
    crl_fresh(&smp_crl)?;
    crl_fresh(&o2o_crl)?;
    Some(Pki {
        dir: dir.to_path_buf(),
        manifest: manifest.clone(),
        revoked_smp_signer: issued("revoked_smp_signer")?,
        expired_smp_signer: issued("expired_smp_signer")?,
        foreign_smp_root: cert("foreign_smp_root")?,
        foreign_smp_signer: issued("foreign_smp_signer")?,
        smp_crl,
        o2o_revoked: issued("o2o_revoked")?,
        o2o_expired: issued("o2o_expired")?,
        o2o_newer: issued("o2o_newer")?,
        o2o_foreign: issued("o2o_foreign")?,
        o2o_crl,
        ap_other_ca: cert("ap_other_ca")?,
        ap_other_intermediate: issued("ap_other_intermediate")?,
        ap_cn_foo: issued("ap_cn_foo")?,
    })
}

/// Generates the dev PKI into `target/address-book-test-pki` unless a complete, current one
/// is there. Generation goes to a temporary sibling that is renamed into place, so parallel
/// test binaries never see half a PKI.
fn dev_pki_dir() -> PathBuf {
    let target = workspace_root().join("target");
    let dir = target.join("address-book-test-pki");
    let usable = |d: &Path| {
        devpki::read_manifest(d).is_ok_and(|m| {
            let ap = cert(d, &m.organisations[0].ap.cert);
            ap.not_after() > OffsetDateTime::now_utc() + Duration::days(30)
        })
    };
    if usable(&dir) {
        return dir;
    }
    let tmp = tempfile::tempdir_in(&target).unwrap();
    let options = devpki::Options {
        participants: ORGS.iter().map(|s| (*s).to_owned()).collect(),
        seed: Some(6),
        force: false,
    };
    devpki::generate(tmp.path(), &options, &|_| String::new()).unwrap();
    let tmp = tmp.keep();
    if usable(&dir) {
        let _ = std::fs::remove_dir_all(&tmp);
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::rename(&tmp, &dir).is_err() {
        // Another binary won the race; use its PKI.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    assert!(usable(&dir), "dev PKI at {} is not usable", dir.display());
    dir
}

fn rsa_key() -> (KeyPair, PrivateKey) {
    let rsa = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let der = rsa.as_der().unwrap().as_ref().to_vec();
    (
        KeyPair::try_from(der.as_slice()).unwrap(),
        PrivateKey::from_pkcs8_der(&der).unwrap(),
    )
}

pub fn ca_issuer(dir: &Path, cert_rel: &str, key_rel: &str) -> Issuer<'static, KeyPair> {
    let cert_pem = std::fs::read_to_string(dir.join(cert_rel)).unwrap();
    let key_pem = std::fs::read_to_string(dir.join(key_rel)).unwrap();
    let key = KeyPair::from_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256).unwrap();
    Issuer::from_ca_cert_pem(&cert_pem, key).unwrap()
}

fn params(
    cn: &str,
    serial: u64,
    from: OffsetDateTime,
    to: OffsetDateTime,
    ku: Vec<Ku>,
) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CountryName, "SE");
    p.distinguished_name
        .push(DnType::OrganizationName, "SDK address-book tests");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.serial_number = Some(SerialNumber::from(serial));
    p.not_before = from;
    p.not_after = to;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = ku;
    p.use_authority_key_identifier_extension = true;
    p
}

fn leaf(issuer: &Issuer<'_, KeyPair>, p: CertificateParams) -> Issued {
    let (pair, key) = rsa_key();
    let cert = p.signed_by(&pair, issuer).unwrap();
    Issued {
        cert: Certificate::from_der(cert.der()).unwrap(),
        key: Arc::new(key),
    }
}

fn ca(
    cn: &str,
    serial: u64,
    parent: Option<&Issuer<'_, KeyPair>>,
) -> (Certificate, Issuer<'static, KeyPair>) {
    let now = OffsetDateTime::now_utc();
    let mut p = params(
        cn,
        serial,
        now - Duration::days(10),
        now + Duration::days(3650),
        vec![Ku::KeyCertSign, Ku::CrlSign],
    );
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let (pair, _) = rsa_key();
    let cert = match parent {
        Some(parent) => p.signed_by(&pair, parent).unwrap(),
        None => p.self_signed(&pair).unwrap(),
    };
    (
        Certificate::from_der(cert.der()).unwrap(),
        Issuer::new(p, pair),
    )
}

fn crl(issuer: &Issuer<'_, KeyPair>, revoked: &[&Certificate]) -> Vec<u8> {
    let now = OffsetDateTime::now_utc();
    crl_with(
        issuer,
        revoked,
        now - Duration::hours(1),
        now + Duration::days(30),
    )
}

/// A CRL (DER) of `issuer` listing `revoked`, with the given dates.
pub fn crl_with(
    issuer: &Issuer<'_, KeyPair>,
    revoked: &[&Certificate],
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Vec<u8> {
    let now = OffsetDateTime::now_utc();
    CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: SerialNumber::from(7_u64),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|c| RevokedCertParams {
                serial_number: SerialNumber::from_slice(c.serial()),
                revocation_time: now - Duration::minutes(30),
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(issuer)
    .unwrap()
    .der()
    .to_vec()
}

fn extra(dir: PathBuf, manifest: Manifest) -> Pki {
    let now = OffsetDateTime::now_utc();
    let (valid_from, valid_to) = (now - Duration::days(1), now + Duration::days(365));
    let sign_ku = vec![Ku::DigitalSignature, Ku::ContentCommitment];
    let enc_ku = vec![Ku::KeyEncipherment, Ku::DataEncipherment];
    let smp_ca = ca_issuer(&dir, &manifest.ca.smp_ca, &key_rel(&manifest.ca.smp_ca));
    let revoked_smp_signer = leaf(
        &smp_ca,
        params(
            "SMP-DEV revoked signer",
            101,
            valid_from,
            valid_to,
            sign_ku.clone(),
        ),
    );
    let expired_smp_signer = leaf(
        &smp_ca,
        params(
            "SMP-DEV expired signer",
            102,
            now - Duration::days(400),
            now - Duration::days(1),
            sign_ku.clone(),
        ),
    );
    let smp_crl = crl(&smp_ca, &[&revoked_smp_signer.cert]);
    let (foreign_smp_root, foreign_issuer) = ca("Rot CA eDelivery SMP-QA (test)", 103, None);
    let foreign_smp_signer = leaf(
        &foreign_issuer,
        params(
            "SMP-QA signer (test)",
            104,
            valid_from,
            valid_to,
            sign_ku.clone(),
        ),
    );

    let o2o_int = ca_issuer(
        &dir,
        &manifest.ca.o2o_intermediate,
        &key_rel(&manifest.ca.o2o_intermediate),
    );
    let o2o =
        |cn: &str, serial, from, to| leaf(&o2o_int, params(cn, serial, from, to, enc_ku.clone()));
    let o2o_revoked = o2o("orga.test revoked", 201, valid_from, valid_to);
    let o2o_expired = o2o(
        "orga.test expired",
        202,
        now - Duration::days(400),
        now - Duration::days(1),
    );
    let o2o_newer = o2o("orga.test rotated", 203, now - Duration::hours(1), valid_to);
    let o2o_crl = crl(&o2o_int, &[&o2o_revoked.cert]);
    let (_, stranger) = ca("Not an O2O CA", 204, None);
    let o2o_foreign = leaf(
        &stranger,
        params(
            "orga.test foreign",
            205,
            valid_from,
            valid_to,
            enc_ku.clone(),
        ),
    );

    let ap_root = ca_issuer(&dir, &manifest.ca.ap_root, &key_rel(&manifest.ca.ap_root));
    let (ap_other_ca, other_int) = ca("Accesspunkt CA-OTHER-DEV", 301, Some(&ap_root));
    let ap_ku = vec![Ku::DigitalSignature, Ku::KeyEncipherment];
    let ap_other_intermediate = leaf(
        &other_int,
        params("AP0009-DEV", 302, valid_from, valid_to, ap_ku.clone()),
    );
    let ap_int = ca_issuer(
        &dir,
        &manifest.ca.ap_intermediate,
        &key_rel(&manifest.ca.ap_intermediate),
    );
    let ap_cn_foo = leaf(&ap_int, params("foo", 303, valid_from, valid_to, ap_ku));
    Pki {
        dir,
        manifest,
        revoked_smp_signer,
        expired_smp_signer,
        foreign_smp_root,
        foreign_smp_signer,
        smp_crl,
        o2o_revoked,
        o2o_expired,
        o2o_newer,
        o2o_foreign,
        o2o_crl,
        ap_other_ca,
        ap_other_intermediate,
        ap_cn_foo,
    }
}

/// `ca/x.pem` → `ca/x.key`.
pub fn key_rel(cert_rel: &str) -> String {
    cert_rel.replace(".pem", ".key")
}

/// Trust of the development environment: the dev SMP CA (with the test SMP CRL), the dev AP
/// root with its intermediate pinned (the foreign AP CA registered as another environment),
/// the dev O2O root and intermediate (with the test O2O CRL). Fail closed everywhere.
pub fn trust_in(environment: Environment) -> Arc<Trust> {
    trust_with(environment, Vec::new())
}

/// [`trust_in`] with more intermediates known to the AP store (used to build paths only).
pub fn trust_with(environment: Environment, ap_intermediates: Vec<Certificate>) -> Arc<Trust> {
    trust_custom(environment, ap_intermediates, None, None)
}

/// Full control: `ap_crls` / `smp_crls` replace the default CRLs of those roles.
pub fn trust_custom(
    environment: Environment,
    ap_intermediates: Vec<Certificate>,
    ap_crls: Option<Vec<Crl>>,
    smp_crls: Option<Vec<Crl>>,
) -> Arc<Trust> {
    let pki = pki();
    let m = &pki.manifest;
    let checker = |crls: Vec<Crl>| {
        let c = RevocationChecker::new(RevocationPolicy::default());
        c.add_crls(crls);
        c
    };
    let smp = TrustStore::<Smp>::new("DEV", vec![pki.cert(&m.ca.smp_ca)])
        .unwrap()
        .with_foreign("QA", vec![pki.foreign_smp_root.clone()]);
    let ap = TrustStore::<As4Ap>::pinned(
        "DEV",
        vec![pki.cert(&m.ca.ap_root)],
        vec![pki.cert(&m.ca.ap_intermediate)],
    )
    .unwrap()
    .with_intermediates(ap_intermediates)
    .with_foreign("OTHER", vec![pki.cert(&m.ca.foreign_ap_ca)]);
    let o2o = TrustStore::<O2o>::new("DEV", vec![pki.cert(&m.ca.o2o_root)])
        .unwrap()
        .with_intermediates(vec![pki.cert(&m.ca.o2o_intermediate)]);
    Arc::new(Trust {
        environment,
        smp: RoleTrust::new(
            smp,
            checker(smp_crls.unwrap_or_else(|| Crl::parse_any(&pki.smp_crl).unwrap())),
        ),
        ap: RoleTrust::new(
            ap,
            checker(
                ap_crls.unwrap_or_else(|| pki.crls(&[&m.crls.ap_root, &m.crls.ap_intermediate])),
            ),
        ),
        o2o: RoleTrust::new(o2o, {
            let c = checker(pki.crls(&[&m.crls.o2o_root]));
            c.add_crls(Crl::parse_any(&pki.o2o_crl).unwrap());
            c
        }),
    })
}

pub fn trust() -> Arc<Trust> {
    trust_in(Environment::Dev)
}

/// rustls client config trusting the dev PKI's TLS root (the fake SMP's certificate).
pub fn client_tls() -> Arc<rustls::ClientConfig> {
    let pki = pki();
    let root = pki.cert(&pki.manifest.ca.tls_root);
    sdkgw_http::tls::client_config(&sdkgw_http::ClientTlsSettings {
        identity: None,
        server_trust: sdkgw_http::TrustAnchors::new(&[root]).unwrap(),
        hostname: sdkgw_http::HostnameVerification::Verify,
    })
    .unwrap()
}

/// The fake SMP for the dev PKI's organisations.
pub fn fake_smp() -> FakeSmp {
    fake::from_dev_pki(&pki().dir, &fake::DevPkiOptions::default()).unwrap()
}

/// Serves `smp` on 127.0.0.1 (random port) with the dev PKI's SMP TLS pair.
pub async fn serve(smp: &FakeSmp) -> RunningSmp {
    let tls = fake::tls_identity_from_dev_pki(&pki().dir).unwrap();
    smp.serve("127.0.0.1:0".parse().unwrap(), tls)
        .await
        .unwrap()
}

pub fn transport_settings() -> TransportSettings {
    let mut s = TransportSettings::new(client_tls());
    s.connect_timeout = std::time::Duration::from_secs(2);
    s.request_timeout = std::time::Duration::from_secs(3);
    s
}

/// A client for the SMP at `url` (static locator), validating with `trust`.
pub fn client_with(url: &str, trust: Arc<Trust>, settings: &TransportSettings) -> SmpClient {
    let locator = SmpLocator::Static(SmpBaseUrl::parse(url).unwrap());
    SmpClient::new(
        locator,
        Arc::new(HttpsTransport::new(settings)),
        trust,
        sdkgw_address_book::smp::verify::DEFAULT_MAX_BYTES,
    )
}

pub fn client(url: &str) -> SmpClient {
    client_with(url, trust(), &transport_settings())
}
