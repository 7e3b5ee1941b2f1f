//! A small PKI generated with rcgen at test time: CAs, leaves with chosen extensions and
//! validity, and CRLs. RSA-2048 for CAs (exercising sha256/sha512WithRSA), ECDSA where speed
//! matters.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint,
    CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevocationReason, RevokedCertParams, RsaKeySize, SerialNumber,
    SignatureAlgorithm,
};
use sdkgw_certs::Certificate;
use sdkgw_xml_security::x509::Crl;
use time::{Duration, OffsetDateTime};

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

pub fn rsa(alg: &'static SignatureAlgorithm) -> KeyPair {
    KeyPair::generate_rsa_for(alg, RsaKeySize::_2048).unwrap()
}
pub fn rsa256() -> KeyPair {
    rsa(&rcgen::PKCS_RSA_SHA256)
}
pub fn p256() -> KeyPair {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
}
pub fn p384() -> KeyPair {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap()
}

/// A CA: its certificate and the rcgen issuer handle.
pub struct Ca {
    pub cert: Certificate,
    pub issuer: Issuer<'static, KeyPair>,
}

fn base(cn: &str, serial: u64) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name
        .push(DnType::OrganizationName, "SDK Test");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.serial_number = Some(SerialNumber::from(serial));
    p.not_before = now() - Duration::days(30);
    p.not_after = now() + Duration::days(365);
    p.key_identifier_method = KeyIdMethod::Sha256;
    p
}

/// Options for a CA certificate.
#[derive(Clone)]
pub struct CaOpts {
    pub path_len: Option<u8>,
    pub is_ca: bool,
    pub key_usages: Vec<KeyUsagePurpose>,
    pub not_before: Option<OffsetDateTime>,
    pub not_after: Option<OffsetDateTime>,
}

impl Default for CaOpts {
    fn default() -> Self {
        CaOpts {
            path_len: None,
            is_ca: true,
            key_usages: vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign],
            not_before: None,
            not_after: None,
        }
    }
}

fn ca_params(cn: &str, serial: u64, opts: &CaOpts) -> CertificateParams {
    let mut p = base(cn, serial);
    p.is_ca = if opts.is_ca {
        IsCa::Ca(match opts.path_len {
            Some(n) => BasicConstraints::Constrained(n),
            None => BasicConstraints::Unconstrained,
        })
    } else {
        IsCa::ExplicitNoCa
    };
    p.key_usages = opts.key_usages.clone();
    if let Some(t) = opts.not_before {
        p.not_before = t;
    }
    if let Some(t) = opts.not_after {
        p.not_after = t;
    }
    p
}

pub fn root(cn: &str, key: KeyPair) -> Ca {
    let p = ca_params(cn, 1, &CaOpts::default());
    let cert = p.self_signed(&key).unwrap();
    Ca {
        cert: Certificate::from_der(cert.der()).unwrap(),
        issuer: Issuer::new(p, key),
    }
}

pub fn intermediate(cn: &str, serial: u64, key: KeyPair, parent: &Ca, opts: CaOpts) -> Ca {
    let p = ca_params(cn, serial, &opts);
    let cert = p.signed_by(&key, &parent.issuer).unwrap();
    Ca {
        cert: Certificate::from_der(cert.der()).unwrap(),
        issuer: Issuer::new(p, key),
    }
}

/// Options for an end-entity certificate.
#[derive(Clone)]
pub struct LeafOpts {
    pub key_usages: Vec<KeyUsagePurpose>,
    pub ekus: Vec<ExtendedKeyUsagePurpose>,
    pub not_before: Option<OffsetDateTime>,
    pub not_after: Option<OffsetDateTime>,
    pub crl_url: Option<String>,
    pub ocsp_url: Option<String>,
    pub critical_unknown_extension: bool,
    pub authority_key_id: bool,
}

impl Default for LeafOpts {
    fn default() -> Self {
        LeafOpts {
            key_usages: vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ],
            ekus: Vec::new(),
            not_before: None,
            not_after: None,
            crl_url: None,
            ocsp_url: None,
            critical_unknown_extension: false,
            authority_key_id: true,
        }
    }
}

/// AuthorityInfoAccess with one OCSP URI, DER-encoded by hand (rcgen has no AIA support).
fn aia_ocsp(url: &str) -> CustomExtension {
    let mut location = vec![0x86, url.len() as u8];
    location.extend_from_slice(url.as_bytes());
    let method = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
    let mut desc = vec![0x30, (method.len() + location.len()) as u8];
    desc.extend_from_slice(&method);
    desc.extend_from_slice(&location);
    let mut seq = vec![0x30, desc.len() as u8];
    seq.extend_from_slice(&desc);
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], seq)
}

pub fn leaf(cn: &str, serial: u64, parent: &Ca, opts: LeafOpts) -> Certificate {
    let mut p = base(cn, serial);
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = opts.key_usages;
    p.extended_key_usages = opts.ekus;
    p.use_authority_key_identifier_extension = opts.authority_key_id;
    if let Some(t) = opts.not_before {
        p.not_before = t;
    }
    if let Some(t) = opts.not_after {
        p.not_after = t;
    }
    if let Some(url) = opts.crl_url {
        p.crl_distribution_points = vec![CrlDistributionPoint { uris: vec![url] }];
    }
    if let Some(url) = opts.ocsp_url {
        p.custom_extensions.push(aia_ocsp(&url));
    }
    if opts.critical_unknown_extension {
        let mut ext =
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 99999, 1], vec![0x05, 0x00]);
        ext.set_criticality(true);
        p.custom_extensions.push(ext);
    }
    let cert = p.signed_by(&p256(), &parent.issuer).unwrap();
    Certificate::from_der(cert.der()).unwrap()
}

/// A CRL by `ca` revoking `revoked` (at `revoked_at`), valid `this_update..next_update`.
pub fn crl(
    ca: &Ca,
    revoked: &[&Certificate],
    revoked_at: OffsetDateTime,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Crl {
    Crl::from_der(&crl_der(ca, revoked, revoked_at, this_update, next_update)).unwrap()
}

/// The DER of [`crl`].
pub fn crl_der(
    ca: &Ca,
    revoked: &[&Certificate],
    revoked_at: OffsetDateTime,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Vec<u8> {
    let params = CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|c| RevokedCertParams {
                serial_number: SerialNumber::from_slice(c.serial()),
                revocation_time: revoked_at,
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    };
    params.signed_by(&ca.issuer).unwrap().der().to_vec()
}

/// A current CRL (issued an hour ago, next update in a day).
pub fn fresh_crl(ca: &Ca, revoked: &[&Certificate]) -> Crl {
    crl(
        ca,
        revoked,
        now() - Duration::days(1),
        now() - Duration::hours(1),
        now() + Duration::days(1),
    )
}
