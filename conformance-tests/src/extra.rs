//! Certificates the development PKI does not have, made at run time for the trust cases
//! (RSA 2048, never written to disk): an AP certificate that is self-signed with a valid CN
//! (TF-03 variant, H-30), one issued by the AP intermediate but not valid yet (H-26), one
//! issued by it without the digitalSignature key usage (H-30), and a self-signed TLS client
//! certificate (H-65).

use rcgen::{
    CertificateParams, DistinguishedName, DnType, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_RSA_SHA256, RsaKeySize,
};
use sdkgw_certs::{Certificate, PrivateKey, private_key_from_pem};
use sdkgw_http::TlsIdentity;
use time::{Duration, OffsetDateTime};

use crate::pki::SuitePki;

/// A certificate and its key (kept as PEM: a key is loaded for each use).
#[derive(Clone)]
pub struct Pair {
    pub cert: Certificate,
    key_pem: String,
}

impl std::fmt::Debug for Pair {
    // The key stays out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pair")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

impl Pair {
    pub fn key(&self) -> Result<PrivateKey, String> {
        private_key_from_pem(self.key_pem.as_bytes()).map_err(err)
    }
}

/// The extra material.
pub struct Extra {
    pub self_signed_ap: Pair,
    pub not_yet_valid_ap: Pair,
    pub wrong_key_usage_ap: Pair,
    pub untrusted_tls_client: TlsIdentity,
}

impl std::fmt::Debug for Extra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extra").finish_non_exhaustive()
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn key() -> Result<KeyPair, String> {
    KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).map_err(err)
}

fn params(cn: &str, from: OffsetDateTime, to: OffsetDateTime) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "sdk-conformance (not trusted)");
    p.distinguished_name = dn;
    p.not_before = from;
    p.not_after = to;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p
}

fn pair(cert_der: &[u8], key: &KeyPair) -> Result<Pair, String> {
    Ok(Pair {
        cert: Certificate::from_der(cert_der).map_err(err)?,
        key_pem: key.serialize_pem(),
    })
}

/// Makes the extra certificates; `cn` is the CN the AP ones claim (the peer's).
pub fn generate(pki: &SuitePki, cn: &str) -> Result<Extra, String> {
    let now = OffsetDateTime::now_utc();
    let ca = &pki.manifest.ca;
    let ca_pem = std::fs::read_to_string(pki.path(&ca.ap_intermediate)).map_err(err)?;
    let ca_key_pem = std::fs::read_to_string(pki.path(&ca.ap_intermediate.replace(".pem", ".key")))
        .map_err(err)?;
    let issuer = Issuer::from_ca_cert_pem(
        &ca_pem,
        KeyPair::from_pem_and_sign_algo(&ca_key_pem, &PKCS_RSA_SHA256).map_err(err)?,
    )
    .map_err(err)?;

    let k1 = key()?;
    let self_signed = params(cn, now - Duration::days(1), now + Duration::days(30))
        .self_signed(&k1)
        .map_err(err)?;
    let k2 = key()?;
    let not_yet = params(cn, now + Duration::days(10), now + Duration::days(40))
        .signed_by(&k2, &issuer)
        .map_err(err)?;
    let k3 = key()?;
    let mut wrong_ku = params(cn, now - Duration::days(1), now + Duration::days(30));
    wrong_ku.key_usages = vec![KeyUsagePurpose::CrlSign];
    let wrong_ku = wrong_ku.signed_by(&k3, &issuer).map_err(err)?;
    let k4 = key()?;
    let mut tls = params(
        "localhost",
        now - Duration::days(1),
        now + Duration::days(30),
    );
    tls.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let tls = tls.self_signed(&k4).map_err(err)?;
    let tls_pair = pair(tls.der(), &k4)?;
    Ok(Extra {
        self_signed_ap: pair(self_signed.der(), &k1)?,
        not_yet_valid_ap: pair(not_yet.der(), &k2)?,
        wrong_key_usage_ap: pair(wrong_ku.der(), &k3)?,
        untrusted_tls_client: TlsIdentity::new(
            std::slice::from_ref(&tls_pair.cert),
            &tls_pair.key()?,
        )
        .map_err(err)?,
    })
}
