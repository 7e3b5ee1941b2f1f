//! Key generation and certificate issuance for the development PKI.

use std::path::Path;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType, DnValue,
    ExtendedKeyUsagePurpose as Eku, IsCa, Issuer, KeyPair, KeyUsagePurpose as Ku, RevocationReason,
    RevokedCertParams, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::layout::{CaPaths, CrlPaths, Manifest, NegativePaths, OrgEntry, Pair, Plan, write_file};
use crate::error::CertError;

/// Organisation name in every subject, so nobody mistakes these for real certificates.
const ORG: &str = "SDK Dev PKI";

fn gen_err(what: &str) -> impl Fn(rcgen::Error) -> CertError + '_ {
    move |e| CertError::Generate(format!("{what}: {e}"))
}

/// A generated key: rcgen's signing handle and the PKCS#8 DER written to the key file.
struct Key {
    pair: KeyPair,
    pkcs8: Zeroizing<Vec<u8>>,
}

fn new_key() -> Result<Key, CertError> {
    let rsa = RsaKeyPair::generate(KeySize::Rsa3072)
        .map_err(|_| CertError::Generate("RSA 3072 key generation failed".into()))?;
    let pkcs8 = Zeroizing::new(
        rsa.as_der()
            .map_err(|_| CertError::Generate("cannot encode the RSA key".into()))?
            .as_ref()
            .to_vec(),
    );
    let pair = KeyPair::try_from(pkcs8.as_slice()).map_err(gen_err("RSA key"))?;
    Ok(Key { pair, pkcs8 })
}

/// Generates `n` keys on all cores (RSA 3072 generation dominates the run time).
fn new_keys(n: usize) -> Result<Vec<Key>, CertError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .min(n.max(1));
    let per_thread = n.div_ceil(threads);
    let results: Vec<Result<Vec<Key>, CertError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let count = per_thread.min(n.saturating_sub(t * per_thread));
                s.spawn(move || (0..count).map(|_| new_key()).collect())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(CertError::Generate("key thread panicked".into())))
            })
            .collect()
    });
    let mut keys = Vec::with_capacity(n);
    for r in results {
        keys.extend(r?);
    }
    Ok(keys)
}

/// What a certificate is for; decides its extensions.
#[derive(Clone, Copy)]
enum Profile {
    Root,
    Intermediate,
    /// AS4 signing and encryption (DIGG uses one AP certificate for both).
    Ap,
    SmpSigner,
    TlsServer,
    TlsClient,
    O2oSigning,
    O2oEncryption,
}

struct Subject<'a> {
    cn: &'a str,
    org: &'a str,
    /// The subject serialNumber attribute (2.5.4.5), where participant ids go.
    serial_number: Option<&'a str>,
}

impl<'a> Subject<'a> {
    fn new(cn: &'a str) -> Self {
        Subject {
            cn,
            org: ORG,
            serial_number: None,
        }
    }
}

struct Validity {
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

impl Validity {
    fn from_now(now: OffsetDateTime, back_days: i64, forward_days: i64) -> Self {
        Validity {
            not_before: now - Duration::days(back_days),
            not_after: now + Duration::days(forward_days),
        }
    }
}

fn params(
    subject: &Subject<'_>,
    profile: Profile,
    serial: Vec<u8>,
    validity: &Validity,
) -> Result<CertificateParams, CertError> {
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CountryName, "SE");
    p.distinguished_name
        .push(DnType::OrganizationName, subject.org);
    if let Some(sn) = subject.serial_number {
        let value = rcgen::string::PrintableString::try_from(sn)
            .map_err(|e| CertError::Generate(format!("serialNumber {sn:?}: {e}")))?;
        p.distinguished_name.push(
            DnType::CustomDnType(vec![2, 5, 4, 5]),
            DnValue::PrintableString(value),
        );
    }
    p.distinguished_name.push(DnType::CommonName, subject.cn);
    p.serial_number = Some(SerialNumber::from_slice(&serial));
    p.not_before = validity.not_before;
    p.not_after = validity.not_after;
    p.use_authority_key_identifier_extension = !matches!(profile, Profile::Root);
    let loopback = || -> Result<Vec<SanType>, CertError> {
        Ok(vec![
            SanType::DnsName("localhost".try_into().map_err(gen_err("SAN"))?),
            SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
        ])
    };
    let (is_ca, key_usages, ekus, sans) = match profile {
        Profile::Root => (
            IsCa::Ca(BasicConstraints::Unconstrained),
            vec![Ku::KeyCertSign, Ku::CrlSign],
            vec![],
            vec![],
        ),
        Profile::Intermediate => (
            IsCa::Ca(BasicConstraints::Constrained(0)),
            vec![Ku::KeyCertSign, Ku::CrlSign],
            vec![],
            vec![],
        ),
        Profile::Ap => (
            IsCa::ExplicitNoCa,
            vec![
                Ku::DigitalSignature,
                Ku::ContentCommitment,
                Ku::KeyEncipherment,
                Ku::DataEncipherment,
            ],
            vec![],
            vec![],
        ),
        Profile::SmpSigner => (
            IsCa::ExplicitNoCa,
            vec![Ku::DigitalSignature, Ku::ContentCommitment],
            vec![],
            vec![],
        ),
        Profile::TlsServer => (
            IsCa::ExplicitNoCa,
            vec![Ku::DigitalSignature, Ku::KeyEncipherment],
            vec![Eku::ServerAuth],
            loopback()?,
        ),
        Profile::TlsClient => (
            IsCa::ExplicitNoCa,
            vec![Ku::DigitalSignature, Ku::KeyEncipherment],
            vec![Eku::ClientAuth],
            loopback()?,
        ),
        Profile::O2oSigning => (
            IsCa::ExplicitNoCa,
            vec![Ku::DigitalSignature, Ku::ContentCommitment],
            vec![],
            vec![],
        ),
        Profile::O2oEncryption => (
            IsCa::ExplicitNoCa,
            vec![Ku::KeyEncipherment, Ku::DataEncipherment],
            vec![],
            vec![],
        ),
    };
    p.is_ca = is_ca;
    p.key_usages = key_usages;
    p.extended_key_usages = ekus;
    p.subject_alt_names = sans;
    Ok(p)
}

/// A CA: its key and parameters (to issue with) and where its certificate was written.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
}

/// Writes the certificate (PEM) and key (PKCS#8 PEM, mode 0600) under `out`.
fn write_pair(out: &Path, pair: &Pair, cert_pem: &str, key: &Key) -> Result<(), CertError> {
    write_file(&out.join(&pair.cert), cert_pem.as_bytes(), false)?;
    let key_pem = Zeroizing::new(pem::encode(&pem::Pem::new(
        "PRIVATE KEY",
        key.pkcs8.to_vec(),
    )));
    write_file(&out.join(&pair.key), key_pem.as_bytes(), true)
}

fn pair(dir: &str, name: &str) -> Pair {
    Pair {
        cert: format!("{dir}/{name}.pem"),
        key: format!("{dir}/{name}.key"),
    }
}

/// The state while issuing: output directory, plan, keys still to use.
struct Issuing<'a> {
    out: &'a Path,
    plan: &'a Plan,
    keys: std::vec::IntoIter<Key>,
}

impl Issuing<'_> {
    fn take_key(&mut self) -> Result<Key, CertError> {
        self.keys
            .next()
            .ok_or_else(|| CertError::Generate("internal: too few keys generated".into()))
    }

    fn root(&mut self, name: &str, cn: &str, v: &Validity) -> Result<(Ca, Pair), CertError> {
        let key = self.take_key()?;
        let p = params(&Subject::new(cn), Profile::Root, self.plan.serial(name), v)?;
        let cert = p.self_signed(&key.pair).map_err(gen_err(cn))?;
        let files = pair("ca", name);
        write_pair(self.out, &files, &cert.pem(), &key)?;
        Ok((
            Ca {
                issuer: Issuer::new(p, key.pair),
            },
            files,
        ))
    }

    fn intermediate(
        &mut self,
        parent: &Ca,
        name: &str,
        cn: &str,
        v: &Validity,
    ) -> Result<(Ca, Pair), CertError> {
        let key = self.take_key()?;
        let p = params(
            &Subject::new(cn),
            Profile::Intermediate,
            self.plan.serial(name),
            v,
        )?;
        let cert = p
            .signed_by(&key.pair, &parent.issuer)
            .map_err(gen_err(cn))?;
        let files = pair("ca", name);
        write_pair(self.out, &files, &cert.pem(), &key)?;
        Ok((
            Ca {
                issuer: Issuer::new(p, key.pair),
            },
            files,
        ))
    }

    /// Issues a leaf into `files`; returns its serial.
    fn leaf(
        &mut self,
        issuer: &Ca,
        files: &Pair,
        subject: &Subject<'_>,
        profile: Profile,
        v: &Validity,
    ) -> Result<Vec<u8>, CertError> {
        let key = self.take_key()?;
        let serial = self.plan.serial(&files.cert);
        let p = params(subject, profile, serial.clone(), v)?;
        let cert = p
            .signed_by(&key.pair, &issuer.issuer)
            .map_err(gen_err(subject.cn))?;
        write_pair(self.out, files, &cert.pem(), &key)?;
        Ok(serial)
    }
}

/// Keys needed: 7 CAs, the SMP signer and TLS pair, the foreign CA and 3 negative leaves, 5 per
/// organisation.
const FIXED_KEYS: usize = 13;
const KEYS_PER_ORG: usize = 5;

pub(super) fn issue_all(out: &Path, plan: &Plan) -> Result<Manifest, CertError> {
    let keys = new_keys(FIXED_KEYS + KEYS_PER_ORG * plan.orgs.len())?;
    let mut is = Issuing {
        out,
        plan,
        keys: keys.into_iter(),
    };
    let now = OffsetDateTime::now_utc();
    let ca_validity = Validity::from_now(now, 3 * 365, 20 * 365);
    let leaf_validity = Validity::from_now(now, 1, 2 * 365);

    let (ap_root, ap_root_files) =
        is.root("ap-root", "Rot CA eDelivery Accesspunkt-DEV", &ca_validity)?;
    let (ap_int, ap_int_files) = is.intermediate(
        &ap_root,
        "ap-intermediate",
        "Accesspunkt CA-SDK-DEV",
        &ca_validity,
    )?;
    let (smp_ca, smp_ca_files) = is.root("smp-ca", "Rot CA eDelivery SMP-DEV", &ca_validity)?;
    let smp_signer = pair("smp", "signer");
    is.leaf(
        &smp_ca,
        &smp_signer,
        &Subject::new("SMP-DEV signer"),
        Profile::SmpSigner,
        &leaf_validity,
    )?;
    let (tls_root, tls_root_files) = is.root("tls-root", "SDK Dev TLS Root CA", &ca_validity)?;
    let (tls_int, tls_int_files) = is.intermediate(
        &tls_root,
        "tls-intermediate",
        "SDK Dev TLS Function CA",
        &ca_validity,
    )?;
    let (o2o_root, o2o_root_files) = is.root("o2o-root", "SDK Dev O2O Root CA", &ca_validity)?;
    let (o2o_int, o2o_int_files) = is.intermediate(
        &o2o_root,
        "o2o-intermediate",
        "SDK Dev O2O Function CA",
        &ca_validity,
    )?;
    let smp_tls = pair("smp", "tls-server");
    let smp_tls_subject = Subject {
        cn: "localhost",
        org: "SDK Dev PKI local SMP",
        serial_number: None,
    };
    is.leaf(
        &tls_int,
        &smp_tls,
        &smp_tls_subject,
        Profile::TlsServer,
        &leaf_validity,
    )?;

    let mut organisations = Vec::new();
    for (org, ports) in plan.orgs.iter().zip(&plan.ports) {
        let dir = format!("orgs/{}", org.slug);
        let org_name = format!("{ORG} organisation {}", org.slug);
        let ap = pair(&dir, "ap");
        let ap_subject = Subject {
            cn: &org.ap_party_id,
            org: &org_name,
            serial_number: None,
        };
        is.leaf(&ap_int, &ap, &ap_subject, Profile::Ap, &leaf_validity)?;
        let tls_server = pair(&dir, "tls-server");
        let server_subject = Subject {
            cn: "localhost",
            org: &org_name,
            serial_number: None,
        };
        is.leaf(
            &tls_int,
            &tls_server,
            &server_subject,
            Profile::TlsServer,
            &leaf_validity,
        )?;
        let tls_client = pair(&dir, "tls-client");
        is.leaf(
            &tls_int,
            &tls_client,
            &ap_subject,
            Profile::TlsClient,
            &leaf_validity,
        )?;
        let o2o_subject = Subject {
            cn: &org.slug,
            org: &org_name,
            serial_number: Some(&org.participant),
        };
        let o2o_signing = pair(&dir, "o2o-signing");
        is.leaf(
            &o2o_int,
            &o2o_signing,
            &o2o_subject,
            Profile::O2oSigning,
            &leaf_validity,
        )?;
        let o2o_encryption = pair(&dir, "o2o-encryption");
        is.leaf(
            &o2o_int,
            &o2o_encryption,
            &o2o_subject,
            Profile::O2oEncryption,
            &leaf_validity,
        )?;
        organisations.push(OrgEntry {
            participant: org.participant.clone(),
            ap_party_id: org.ap_party_id.clone(),
            config: format!("{dir}/sdkgw.toml"),
            as4_url: format!("https://{}/as4", ports.as4),
            api_url: format!("http://{}/", ports.api),
            admin_url: format!("http://{}/", ports.admin),
            ap,
            tls_server,
            tls_client,
            o2o_signing,
            o2o_encryption,
        });
    }

    let negative = issue_negative(&mut is, &ap_int, now)?;
    let (foreign_files, foreign_ap) = negative_foreign(&mut is, &ca_validity, &leaf_validity)?;
    let crl =
        |ca: &Ca, name: &str, revoked: &[Vec<u8>]| write_crl(out, ca, name, revoked, plan, now);
    // Every CA publishes a CRL, so revocation checking of whole chains has its sources; only
    // the AP intermediate's lists anything.
    let crls = CrlPaths {
        ap_root: crl(&ap_root, "ap-root", &[])?,
        ap_intermediate: crl(
            &ap_int,
            "ap-intermediate",
            std::slice::from_ref(&negative.revoked_serial),
        )?,
        smp_ca: crl(&smp_ca, "smp-ca", &[])?,
        tls_root: crl(&tls_root, "tls-root", &[])?,
        tls_intermediate: crl(&tls_int, "tls-intermediate", &[])?,
        o2o_root: crl(&o2o_root, "o2o-root", &[])?,
        o2o_intermediate: crl(&o2o_int, "o2o-intermediate", &[])?,
    };
    Ok(Manifest {
        organisations,
        ca: CaPaths {
            ap_root: ap_root_files.cert,
            ap_intermediate: ap_int_files.cert,
            smp_ca: smp_ca_files.cert,
            tls_root: tls_root_files.cert,
            tls_intermediate: tls_int_files.cert,
            o2o_root: o2o_root_files.cert,
            o2o_intermediate: o2o_int_files.cert,
            foreign_ap_ca: foreign_files.cert,
        },
        smp_signer,
        smp_tls,
        negative: NegativePaths {
            expired_ap: negative.expired,
            revoked_ap: negative.revoked,
            foreign_ap,
            crl: crls.ap_intermediate.clone(),
        },
        crls,
    })
}

struct Negative {
    expired: Pair,
    revoked: Pair,
    revoked_serial: Vec<u8>,
}

fn issue_negative(
    is: &mut Issuing<'_>,
    ap_int: &Ca,
    now: OffsetDateTime,
) -> Result<Negative, CertError> {
    let expired = pair("negative", "expired-ap");
    let past = Validity {
        not_before: now - Duration::days(400),
        not_after: now - Duration::days(35),
    };
    is.leaf(
        ap_int,
        &expired,
        &Subject::new("AP0098-DEV"),
        Profile::Ap,
        &past,
    )?;
    let revoked = pair("negative", "revoked-ap");
    let valid = Validity::from_now(now, 1, 2 * 365);
    let revoked_serial = is.leaf(
        ap_int,
        &revoked,
        &Subject::new("AP0099-DEV"),
        Profile::Ap,
        &valid,
    )?;
    Ok(Negative {
        expired,
        revoked,
        revoked_serial,
    })
}

/// An AP CA of another environment and a certificate from it that claims organisation 1's AP
/// party id: only the issuer tells it apart.
fn negative_foreign(
    is: &mut Issuing<'_>,
    ca_validity: &Validity,
    leaf_validity: &Validity,
) -> Result<(Pair, Pair), CertError> {
    let key = is.take_key()?;
    let cn = "Rot CA eDelivery Accesspunkt-FOREIGN";
    let subject = Subject {
        cn,
        org: "SDK Dev PKI foreign environment",
        serial_number: None,
    };
    let p = params(
        &subject,
        Profile::Root,
        is.plan.serial("foreign-ap-ca"),
        ca_validity,
    )?;
    let cert = p.self_signed(&key.pair).map_err(gen_err(cn))?;
    let ca_files = pair("negative", "foreign-ap-ca");
    write_pair(is.out, &ca_files, &cert.pem(), &key)?;
    let foreign = Ca {
        issuer: Issuer::new(p, key.pair),
    };
    let leaf_files = pair("negative", "foreign-ap");
    let party = is
        .plan
        .orgs
        .first()
        .map_or("AP0001-DEV", |o| o.ap_party_id.as_str())
        .to_owned();
    let leaf_subject = Subject {
        cn: &party,
        org: "SDK Dev PKI foreign environment",
        serial_number: None,
    };
    is.leaf(
        &foreign,
        &leaf_files,
        &leaf_subject,
        Profile::Ap,
        leaf_validity,
    )?;
    Ok((ca_files, leaf_files))
}

/// Writes `crl/<name>.crl.pem`, signed by `issuer`, listing `revoked` serials.
fn write_crl(
    out: &Path,
    issuer: &Ca,
    name: &str,
    revoked: &[Vec<u8>],
    plan: &Plan,
    now: OffsetDateTime,
) -> Result<String, CertError> {
    let params = CertificateRevocationListParams {
        this_update: now - Duration::hours(1),
        next_update: now + Duration::days(365),
        crl_number: SerialNumber::from_slice(&plan.serial(&format!("{name}-crl"))[..4]),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|serial| RevokedCertParams {
                serial_number: SerialNumber::from_slice(serial),
                revocation_time: now - Duration::minutes(30),
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    };
    let crl = params.signed_by(&issuer.issuer).map_err(gen_err("CRL"))?;
    let path = format!("crl/{name}.crl.pem");
    let pem = crl.pem().map_err(gen_err("CRL"))?;
    write_file(&out.join(&path), pem.as_bytes(), false)?;
    Ok(path)
}

/// Which certificate of an organisation [`renew`] replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    Ap,
    TlsServer,
    TlsClient,
    O2oSigning,
    O2oEncryption,
}

/// Issues a successor of `org`'s `which` certificate: same CA, subject and profile, a new
/// RSA 3072 key and serial, valid from a day ago for two years; written as
/// `<org dir>/<name>.pem` + `.key` (0600) under `out`. For rehearsing and testing rollovers.
pub(super) fn renew(
    out: &Path,
    manifest: &Manifest,
    org: &OrgEntry,
    which: Renewal,
    name: &str,
) -> Result<Pair, CertError> {
    let (current, ca_cert, profile) = match which {
        Renewal::Ap => (&org.ap, &manifest.ca.ap_intermediate, Profile::Ap),
        Renewal::TlsServer => (
            &org.tls_server,
            &manifest.ca.tls_intermediate,
            Profile::TlsServer,
        ),
        Renewal::TlsClient => (
            &org.tls_client,
            &manifest.ca.tls_intermediate,
            Profile::TlsClient,
        ),
        Renewal::O2oSigning => (
            &org.o2o_signing,
            &manifest.ca.o2o_intermediate,
            Profile::O2oSigning,
        ),
        Renewal::O2oEncryption => (
            &org.o2o_encryption,
            &manifest.ca.o2o_intermediate,
            Profile::O2oEncryption,
        ),
    };
    let first = |rel: &str| -> Result<crate::Certificate, CertError> {
        crate::load_certificates(&out.join(rel), None)?
            .into_iter()
            .next()
            .ok_or_else(|| CertError::Generate(format!("{rel}: no certificate")))
    };
    let old = first(&current.cert)?;
    let ca = first(ca_cert)?;
    let ca_key_file = out.join(ca_cert.replace(".pem", ".key"));
    let ca_key_pem = std::fs::read_to_string(&ca_key_file).map_err(|source| CertError::Io {
        path: ca_key_file.display().to_string(),
        source,
    })?;
    let ca_key = KeyPair::from_pem_and_sign_algo(&ca_key_pem, &rcgen::PKCS_RSA_SHA256)
        .map_err(gen_err("CA key"))?;
    // The issuer's DN and key identifier are all signing takes from its parameters; they are
    // rebuilt exactly as `issue_all` built them.
    let ca_cn = ca.common_name().unwrap_or_default().to_owned();
    let issuer_params = params(
        &Subject::new(&ca_cn),
        Profile::Intermediate,
        vec![1],
        &Validity::from_now(OffsetDateTime::now_utc(), 0, 1),
    )?;
    let issuer = Ca {
        issuer: Issuer::new(issuer_params, ca_key),
    };
    let dir = Path::new(&current.cert)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let slug = Path::new(&dir)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let org_name = format!("{ORG} organisation {slug}");
    let cn = old.common_name().unwrap_or_default().to_owned();
    let subject = Subject {
        cn: &cn,
        org: &org_name,
        serial_number: old.subject_serial_number(),
    };
    let mut serial = [0u8; 16];
    aws_lc_rs::rand::fill(&mut serial)
        .map_err(|_| CertError::Generate("no random serial".into()))?;
    serial[0] &= 0x7f;
    let key = new_key()?;
    let p = params(
        &subject,
        profile,
        serial.to_vec(),
        &Validity::from_now(OffsetDateTime::now_utc(), 1, 2 * 365),
    )?;
    let cert = p
        .signed_by(&key.pair, &issuer.issuer)
        .map_err(gen_err(&cn))?;
    let files = pair(&dir, name);
    write_pair(out, &files, &cert.pem(), &key)?;
    Ok(files)
}
