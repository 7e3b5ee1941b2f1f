//! `sdkgw config check`: opens everything the configuration refers to and reports every
//! problem with its key path — files, key/cert pairs, key usage per role, chains to the role's
//! anchors, environment separation, expiry (warning within 30 days).

use std::collections::BTreeMap;
use std::path::Path;

use sdkgw_certs::{
    CertError, Certificate, CrlInfo, KeyPairWithChain, load_certificates, load_key_pair,
};
use sdkgw_xml_security::x509::{
    self, As4Ap, MessagePurpose, O2o, OnUnknown, PathError, RevocationOutcome, Smp, Tls,
    TlsPurpose, ValidPath,
};
use time::{Duration, OffsetDateTime};

use super::ids::Environment;
use super::keys::{KeyRef, KeyRole};
use super::report::{Finding, Findings};
use super::runtime::{RoleTrust, Sources, role_trust};
use super::trust::{TrustRole, TrustStore};
use super::{AddressBookSource, Loaded};

/// Certificates expiring sooner than this are reported as warnings.
pub(crate) const EXPIRY_WARNING: Duration = Duration::days(30);

/// The certificates of one trust store, as loaded.
#[derive(Debug, Default)]
pub(crate) struct LoadedStore {
    pub(crate) anchors: Vec<Certificate>,
    pub(crate) intermediates: Vec<Certificate>,
    pub(crate) issuing_ca: Option<Certificate>,
    pub(crate) crls: Vec<CrlInfo>,
    /// `foreign_anchors`: other environments' CAs (never trusted).
    pub(crate) foreign: Vec<Certificate>,
}

pub(super) fn run(loaded: &mut Loaded, at: OffsetDateTime) {
    let mut f = Findings::default();
    let env = loaded.environment.as_ref().map(|e| e.name);
    let mut stores = BTreeMap::new();
    for store in &loaded.trust_stores {
        stores.insert(store.role, check_store(store, env, at, &mut f));
    }
    check_separation(&loaded.trust_stores, &stores, &mut f);
    let label = env.map_or("(unknown environment)", |e| e.as_str());
    // The distribution points and responders the certificates name are really asked (no
    // cache directory: `config check` leaves the data directory alone).
    let sources = match &loaded.config {
        Some(config) => Sources::for_config(config, None, &mut f),
        None => Sources::default(),
    };
    let paths = PathStores::build(&loaded.trust_stores, &stores, label, &sources, at, &mut f);
    let party = loaded.ap.as_ref().map(|a| a.party_id.as_str().to_owned());
    for key in &loaded.key_refs {
        check_key(key, party.as_deref(), env, &paths, at, &mut f);
    }
    if let Some(config) = &loaded.config {
        check_data_dir(&config.data_dir, &mut f);
        if let Some(w) = config.as4.check(config.environment.name) {
            f.push(w);
        }
        if let Some(w) = config.pipeline.check(config.environment.name) {
            f.push(w);
        }
        if let AddressBookSource::File { path } = &config.address_book
            && !path.is_file()
        {
            f.push(Finding::error(
                "address_book.path",
                format!("file not found: {}", path.display()),
            ));
        }
    }
    loaded.findings.extend(f);
}

/// An operator-facing description of a loading error: "file not found: PATH" for the common case.
pub(crate) fn describe(e: &CertError) -> String {
    match e {
        CertError::Io { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
            format!("file not found: {path}")
        }
        other => other.to_string(),
    }
}

pub(crate) fn check_store(
    store: &TrustStore,
    env: Option<Environment>,
    at: OffsetDateTime,
    f: &mut Findings,
) -> LoadedStore {
    let mut out = LoadedStore::default();
    let pw = store.password.as_ref();
    let load_list = |key: &str, files: &[std::path::PathBuf], f: &mut Findings| {
        let mut certs = Vec::new();
        for (i, file) in files.iter().enumerate() {
            let path = format!("{}.{key}[{i}]", store.path);
            match load_certificates(file, pw) {
                Ok(c) => {
                    for cert in &c {
                        check_ca_cert(&path, cert, env, at, f);
                    }
                    certs.extend(c);
                }
                Err(e) => f.push(Finding::error(&path, describe(&e))),
            }
        }
        certs
    };
    out.anchors = load_list("anchors", &store.anchors, f);
    out.intermediates = load_list("intermediates", &store.intermediates, f);
    if let Some(file) = &store.issuing_ca {
        let path = format!("{}.issuing_ca", store.path);
        match load_certificates(file, pw) {
            Ok(certs) if certs.len() == 1 => {
                let ca = certs.into_iter().next();
                if let Some(ca) = &ca {
                    check_ca_cert(&path, ca, env, at, f);
                }
                out.issuing_ca = ca;
            }
            Ok(certs) => f.push(Finding::error(
                &path,
                format!(
                    "holds {} certificates: give exactly the one issuing CA to pin",
                    certs.len()
                ),
            )),
            Err(e) => f.push(Finding::error(&path, describe(&e))),
        }
    }
    out.foreign = load_foreign(store, &out, env, f);
    for (i, file) in store.crls.iter().enumerate() {
        let path = format!("{}.crls[{i}]", store.path);
        match CrlInfo::from_file(file) {
            Ok(crl) => {
                if crl.next_update.is_some_and(|n| n < at) {
                    f.push(Finding::warning(
                        &path,
                        format!("CRL of {} is past its nextUpdate", crl.issuer),
                    ));
                }
                out.crls.push(crl);
            }
            Err(e) => f.push(Finding::error(&path, describe(&e))),
        }
    }
    out
}

/// `foreign_anchors`: CA certificates, not also trusted, not named for this environment.
fn load_foreign(
    store: &TrustStore,
    loaded: &LoadedStore,
    env: Option<Environment>,
    f: &mut Findings,
) -> Vec<Certificate> {
    let mut out = Vec::new();
    for (i, file) in store.foreign_anchors.iter().enumerate() {
        let path = format!("{}.foreign_anchors[{i}]", store.path);
        let certs = match load_certificates(file, store.password.as_ref()) {
            Ok(c) => c,
            Err(e) => {
                f.push(Finding::error(&path, describe(&e)));
                continue;
            }
        };
        for cert in certs {
            let name = cert.common_name().unwrap_or(cert.subject()).to_owned();
            let trusted = loaded
                .anchors
                .iter()
                .chain(&loaded.intermediates)
                .chain(&loaded.issuing_ca)
                .any(|c| c.subject_der() == cert.subject_der());
            if !cert.is_ca() {
                f.push(Finding::error(
                    &path,
                    format!("{name} is not a CA certificate"),
                ));
            } else if trusted {
                f.push(Finding::error(
                    &path,
                    format!(
                        "{name} is also trusted by {}: a foreign CA must not be",
                        store.path
                    ),
                ));
            } else if env.is_some_and(|e| is_named_for(&name, e)) {
                f.push(Finding::warning(
                    &path,
                    format!(
                        "{name} is named for this environment ({})",
                        env.map_or("", |e| e.as_str())
                    ),
                ));
            } else {
                out.push(cert);
            }
        }
    }
    out
}

/// Whether a DIGG CA name carries `env`'s suffix (`…-QA`, `…CA-SDK-PROD`, `…CA-OPEN-TEST`).
fn is_named_for(cn: &str, env: Environment) -> bool {
    let suffix = match env {
        Environment::OpenTest => "TEST",
        Environment::Qa => "QA",
        Environment::Prod => "PROD",
        Environment::Dev => "DEV",
    };
    is_digg_ca(cn) && digg_suffix(cn).is_some_and(|s| s == suffix)
}

fn is_digg_ca(cn: &str) -> bool {
    cn.starts_with("Rot CA eDelivery") || cn.starts_with("Accesspunkt CA-")
}

/// The environment suffix of a DIGG-style CA name: `Rot CA eDelivery Accesspunkt - QA` → `QA`.
fn digg_suffix(cn: &str) -> Option<String> {
    let (_, suffix) = cn.rsplit_once('-')?;
    let suffix = suffix.trim();
    (!suffix.is_empty()).then(|| suffix.to_ascii_uppercase())
}

/// The environment a foreign CA belongs to, for "wrong environment" messages: what its DIGG
/// or SITHS name says, else "another environment than <label>".
pub(crate) fn foreign_label(cn: &str, label: &str) -> String {
    let env = label.parse::<Environment>().ok();
    if let Some(named) = env.and_then(|e| foreign_environment(cn, e)) {
        return named.to_owned();
    }
    match digg_suffix(cn).filter(|_| is_digg_ca(cn)) {
        Some(suffix) => suffix,
        None => format!("another environment than {label}"),
    }
}

/// A CA certificate in a trust store: must be a CA, valid, of this environment.
fn check_ca_cert(
    path: &str,
    cert: &Certificate,
    env: Option<Environment>,
    at: OffsetDateTime,
    f: &mut Findings,
) {
    let name = cert.common_name().unwrap_or(cert.subject());
    check_validity(path, name, cert, at, f);
    if let Some(env) = env
        && let Some(other) = foreign_environment(name, env)
    {
        f.push(Finding::error(
            path,
            format!("{name} belongs to the {other} environment, not {env}: trust stores must not mix environments"),
        ));
    }
}

/// The test CAs of the O2O and TLS issuers DIGG approves, by subject CN: they serve the
/// OPEN-TEST and QA federations only (addressing digest §4.2, rows "TEST+QA | mTLS/O2O" and
/// "TEST+QA | O2O"), so one in a `prod` trust store is an environment mismatch. A row matches a
/// CN that starts with `prefix` and, when `word` is given, has it as a whole word.
/// Their production counterparts (`SITHS e-id …`, `Swedish Public Sector Function CA v3`,
/// `ExpiTrust EID CA v4`) match no row.
const TEST_CAS: [TestCa; 3] = [
    // Inera: TEST SITHS e-id Root CA v2, TEST SITHS e-id Function CA v1
    TestCa {
        prefix: "TEST SITHS ",
        word: None,
    },
    // Försäkringskassan: Swedish Public Sector Function CA v3 SAT (issued by Swedish Public
    // Sector Internal Root CA SAT v1)
    TestCa {
        prefix: "Swedish Public Sector ",
        word: Some("SAT"),
    },
    // Expisoft: ExpiTrust Test CA v8
    TestCa {
        prefix: "ExpiTrust Test ",
        word: None,
    },
];

/// One row of [`TEST_CAS`].
#[derive(Debug, Clone, Copy)]
struct TestCa {
    prefix: &'static str,
    word: Option<&'static str>,
}

impl TestCa {
    fn matches(&self, cn: &str) -> bool {
        cn.starts_with(self.prefix)
            && self
                .word
                .is_none_or(|w| cn.split_whitespace().any(|part| part == w))
    }
}

/// The environment a DIGG or SITHS CA name says it belongs to, when that is not `env`.
/// DIGG names its eDelivery CAs per environment (addressing digest §4.2): `…-TEST` /
/// `…CA-OPEN-TEST`, `… - QA` / `…CA-SDK-QA`, `…-PROD` / `…CA-SDK-PROD`, our dev PKI `…-DEV`.
/// The O2O/TLS issuers' test CAs ([`TEST_CAS`]) serve OPEN-TEST and QA; `SITHS …` (without
/// `TEST`) is production.
fn foreign_environment(cn: &str, env: Environment) -> Option<&'static str> {
    if cn.starts_with("Rot CA eDelivery") || cn.starts_with("Accesspunkt CA-") {
        let compact = cn.replace(' ', "");
        let named = [
            ("-TEST", Environment::OpenTest),
            ("-QA", Environment::Qa),
            ("-PROD", Environment::Prod),
            ("-DEV", Environment::Dev),
        ]
        .into_iter()
        .find(|(suffix, _)| compact.ends_with(suffix))
        .map(|(_, e)| e)?;
        return (named != env).then_some(named.as_str());
    }
    if env == Environment::Prod && TEST_CAS.iter().any(|t| t.matches(cn)) {
        return Some("test/QA");
    }
    if cn.starts_with("SITHS") && env != Environment::Prod {
        return Some(Environment::Prod.as_str());
    }
    None
}

fn check_validity(
    path: &str,
    name: &str,
    cert: &Certificate,
    at: OffsetDateTime,
    f: &mut Findings,
) {
    let until = sdkgw_certs::rfc3339(cert.not_after());
    if at > cert.not_after() {
        f.push(Finding::error(path, format!("{name} expired on {until}")));
    } else if at < cert.not_before() {
        f.push(Finding::error(
            path,
            format!(
                "{name} is not valid before {}",
                sdkgw_certs::rfc3339(cert.not_before())
            ),
        ));
    } else if cert.not_after() - at < EXPIRY_WARNING {
        let days = (cert.not_after() - at).whole_days();
        f.push(Finding::warning(
            path,
            format!("{name} expires in {days} days ({until})"),
        ));
    }
}

/// AS4/SMP anchors (DIGG eDelivery CAs) must not also be trusted for TLS or O2O; TLS and O2O
/// may share (SITHS issues both).
fn check_separation(
    stores: &[TrustStore],
    loaded: &BTreeMap<TrustRole, LoadedStore>,
    f: &mut Findings,
) {
    let message_level = [TrustRole::As4, TrustRole::Smp];
    for store in stores.iter().filter(|s| !message_level.contains(&s.role)) {
        let Some(this) = loaded.get(&store.role) else {
            continue;
        };
        for cert in &this.anchors {
            for other in message_level {
                let shared = loaded
                    .get(&other)
                    .is_some_and(|o| o.anchors.iter().chain(&o.issuing_ca).any(|c| c == cert));
                if shared {
                    f.push(Finding::error(
                        &format!("{}.anchors", store.path),
                        format!(
                            "{} is also a trust.{} anchor: message-level and transport/O2O trust stores must be separate",
                            cert.common_name().unwrap_or(cert.subject()),
                            other.key()
                        ),
                    ));
                }
            }
        }
    }
}

fn check_key(
    key: &KeyRef,
    party_id: Option<&str>,
    env: Option<Environment>,
    paths: &PathStores,
    at: OffsetDateTime,
    f: &mut Findings,
) {
    let cert_path = format!("{}.cert", key.path);
    let key_path = format!("{}.key", key.path);
    check_permissions(
        key.key.as_deref().unwrap_or(&key.cert),
        if key.key.is_some() {
            &key_path
        } else {
            &cert_path
        },
        f,
    );
    let pair = match load_key_pair(&key.cert, key.key.as_deref(), key.password.as_ref()) {
        Ok(pair) => pair,
        Err(e) => {
            let path = match &e {
                CertError::Io { path, .. } if Path::new(path) == key.cert => &cert_path,
                CertError::Io { .. } | CertError::KeyMismatch { .. } => &key_path,
                CertError::WrongPassword { .. }
                | CertError::Password(_)
                | CertError::PasswordRequired { .. } => &key.path,
                _ if key.key.is_none() => &cert_path,
                _ => &key.path,
            };
            f.push(Finding::error(path, describe(&e)));
            return;
        }
    };
    let leaf = pair.certificate();
    let name = leaf.common_name().unwrap_or(leaf.subject()).to_owned();
    check_validity(&cert_path, &name, leaf, at, f);
    check_usage(&cert_path, key.role, leaf, f);
    if key.role == KeyRole::Ap {
        check_ap_identity(&cert_path, leaf, party_id, env, f);
    }
    // An expired or not yet valid certificate is already reported above.
    if leaf.is_valid_at(at) {
        match paths.validate(key.role, &pair, at) {
            Ok(unreachable) => {
                report_unreachable(&cert_path, &unreachable, paths.policy(key.role), f)
            }
            Err(e) => f.push(Finding::error(&cert_path, format!("chain: {e}"))),
        }
    }
}

/// Private keys must be readable by their owner only (security-operations T-CFG-01).
pub(crate) fn check_permissions(file: &Path, path: &str, f: &mut Findings) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(file) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                f.push(Finding::error(
                    path,
                    format!(
                        "{} holds a private key but is readable by group or others (mode {mode:o}): chmod 600 it",
                        file.display()
                    ),
                ));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (file, path, f);
}

/// Key usage per role (addressing digest §4.4): a KU extension, where present, must allow
/// what the role does; TLS certificates need the matching EKU when EKU is present.
fn check_usage(path: &str, role: KeyRole, cert: &Certificate, f: &mut Findings) {
    if cert.is_ca() {
        f.push(Finding::error(
            path,
            "is a CA certificate, not an end-entity certificate",
        ));
    }
    if let Some(ku) = cert.key_usage() {
        let (ok, need) = match role {
            KeyRole::Ap => (
                ku.digital_signature && ku.key_encipherment,
                "digitalSignature and keyEncipherment (AS4 signs and decrypts with the AP key)",
            ),
            KeyRole::O2oSigning => (
                ku.digital_signature || ku.non_repudiation,
                "digitalSignature",
            ),
            KeyRole::O2oEncryption => (ku.key_encipherment, "keyEncipherment"),
            KeyRole::TlsServer | KeyRole::TlsClient => (
                ku.digital_signature || ku.key_encipherment,
                "digitalSignature",
            ),
        };
        if !ok {
            f.push(Finding::error(
                path,
                format!("key usage {} lacks {need}", ku.names().join(", ")),
            ));
        }
    }
    let eku_needed = match role {
        KeyRole::TlsServer => Some(sdkgw_certs::eku::SERVER_AUTH),
        KeyRole::TlsClient => Some(sdkgw_certs::eku::CLIENT_AUTH),
        _ => None,
    };
    if let (Some(need), Some(ekus)) = (eku_needed, cert.extended_key_usage())
        && !ekus.iter().any(|e| e == need || e == sdkgw_certs::eku::ANY)
    {
        f.push(Finding::error(
            path,
            format!("extended key usage lacks {}", sdkgw_certs::eku_name(need)),
        ));
    }
    if matches!(
        role,
        KeyRole::Ap | KeyRole::O2oSigning | KeyRole::O2oEncryption
    ) && let sdkgw_certs::KeyAlgorithm::Rsa { bits } = cert.key_algorithm()
        && *bits < 3072
    {
        f.push(Finding::warning(
            path,
            format!("RSA {bits}: DIGG asks for 3072-bit keys"),
        ));
    }
}

/// Our AP certificate's CN is our AP party id, and fits the environment's naming rule.
fn check_ap_identity(
    path: &str,
    cert: &Certificate,
    party_id: Option<&str>,
    env: Option<Environment>,
    f: &mut Findings,
) {
    let cn = cert.common_name().unwrap_or_default();
    if let Some(party) = party_id
        && cn != party
    {
        f.push(Finding::error(
            path,
            format!("CN {cn:?} is not ap.party_id {party:?}: the AP certificate's CN is the AS4 party id"),
        ));
    }
    if let (Some(env), Ok(id)) = (env, sdkgw_schemas::ApPartyId::parse(cn))
        && let Some(finding) = id.check(env)
    {
        let message = finding.to_string();
        f.push(match finding.severity {
            sdkgw_schemas::Severity::Error => Finding::error(path, message),
            _ => Finding::warning(path, message),
        });
    }
}

/// The configured trust stores as `sdkgw-xml-security` path validators, one per role, each
/// with a revocation checker holding that role's configured CRLs. Offline, a certificate whose
/// status no configured CRL covers is accepted here (the running gateway fetches CRLs and
/// applies the configured policy); one a configured CRL lists is an error.
pub(crate) struct PathStores {
    as4: Option<RoleTrust<As4Ap>>,
    tls: Option<RoleTrust<Tls>>,
    o2o: Option<RoleTrust<O2o>>,
    policies: BTreeMap<TrustRole, super::RevocationPolicy>,
}

impl PathStores {
    fn build(
        configured: &[TrustStore],
        loaded: &BTreeMap<TrustRole, LoadedStore>,
        label: &str,
        sources: &Sources,
        at: OffsetDateTime,
        f: &mut Findings,
    ) -> Self {
        let mut out = PathStores {
            as4: None,
            tls: None,
            o2o: None,
            policies: configured.iter().map(|s| (s.role, s.revocation)).collect(),
        };
        for store in configured {
            let Some(l) = loaded.get(&store.role) else {
                continue;
            };
            let on_unknown = OnUnknown::Accept;
            match store.role {
                TrustRole::As4 => {
                    out.as4 = role_trust(store, l, label, on_unknown, sources, f);
                    out.as4
                        .iter()
                        .for_each(|t| validate_cas(t, store, l, at, f));
                }
                TrustRole::Smp => role_trust::<Smp>(store, l, label, on_unknown, sources, f)
                    .iter()
                    .for_each(|t| validate_cas(t, store, l, at, f)),
                TrustRole::Tls => {
                    out.tls = role_trust(store, l, label, on_unknown, sources, f);
                    out.tls
                        .iter()
                        .for_each(|t| validate_cas(t, store, l, at, f));
                }
                TrustRole::O2o => {
                    out.o2o = role_trust(store, l, label, on_unknown, sources, f);
                    out.o2o
                        .iter()
                        .for_each(|t| validate_cas(t, store, l, at, f));
                }
            }
        }
        out
    }

    /// The configured revocation policy of the store a key's certificate is validated in.
    fn policy(&self, role: KeyRole) -> Option<super::RevocationPolicy> {
        let store = match role {
            KeyRole::Ap => TrustRole::As4,
            KeyRole::O2oSigning | KeyRole::O2oEncryption => TrustRole::O2o,
            KeyRole::TlsServer | KeyRole::TlsClient => TrustRole::Tls,
        };
        self.policies.get(&store).copied()
    }

    /// Validates a key's certificate for what its role does with it; `Ok` with the certificates
    /// of the path whose revocation status no source could give. `Ok` also when the role's
    /// store could not be built (that is reported on the store).
    fn validate(
        &self,
        role: KeyRole,
        pair: &KeyPairWithChain,
        at: OffsetDateTime,
    ) -> Result<Vec<(String, String)>, PathError> {
        let leaf = pair.certificate();
        let presented = pair.chain().get(1..).unwrap_or_default();
        match role {
            KeyRole::Ap => self.as4.as_ref().map_or(Ok(Vec::new()), |t| {
                // DIGG uses the AP certificate for both AS4 signatures and key transport.
                t.store.validate(
                    leaf,
                    presented,
                    MessagePurpose::Signature,
                    at,
                    &t.revocation,
                )?;
                t.store
                    .validate(
                        leaf,
                        presented,
                        MessagePurpose::KeyTransport,
                        at,
                        &t.revocation,
                    )
                    .map(|p| unreachable_sources(&p))
            }),
            KeyRole::O2oSigning | KeyRole::O2oEncryption => {
                self.o2o.as_ref().map_or(Ok(Vec::new()), |t| {
                    let purpose = if role == KeyRole::O2oSigning {
                        MessagePurpose::Signature
                    } else {
                        MessagePurpose::KeyTransport
                    };
                    t.store
                        .validate(leaf, presented, purpose, at, &t.revocation)
                        .map(|p| unreachable_sources(&p))
                })
            }
            KeyRole::TlsServer | KeyRole::TlsClient => {
                self.tls.as_ref().map_or(Ok(Vec::new()), |t| {
                    let purpose = if role == KeyRole::TlsServer {
                        TlsPurpose::Server
                    } else {
                        TlsPurpose::Client
                    };
                    t.store
                        .validate(leaf, presented, purpose, at, &t.revocation)
                        .map(|p| unreachable_sources(&p))
                })
            }
        }
    }
}

/// The certificates of `path` whose revocation status no source could give, with why.
fn unreachable_sources<R: x509::TrustRole>(path: &ValidPath<R>) -> Vec<(String, String)> {
    path.chain()
        .iter()
        .zip(path.revocation())
        .filter_map(|(cert, outcome)| match outcome {
            RevocationOutcome::UnknownAccepted { reason } => {
                Some((cert.subject().to_owned(), reason.clone()))
            }
            _ => None,
        })
        .collect()
}

/// Reports certificates without a reachable revocation source (`store`'s policy decides what
/// the running gateway does with them).
fn report_unreachable(
    path: &str,
    unreachable: &[(String, String)],
    policy: Option<super::RevocationPolicy>,
    f: &mut Findings,
) {
    let consequence = match policy {
        Some(super::RevocationPolicy::FailOpen) => {
            "the gateway accepts it (revocation = fail-open)"
        }
        _ => "the gateway refuses it (revocation = fail-closed)",
    };
    for (subject, reason) in unreachable {
        f.push(Finding::warning(
            path,
            format!("no reachable revocation source for {subject}: {reason}; {consequence}"),
        ));
    }
}

/// The pinned issuing CA and the configured intermediates must chain to the anchors.
fn validate_cas<R: x509::TrustRole>(
    trust: &RoleTrust<R>,
    store: &TrustStore,
    loaded: &LoadedStore,
    at: OffsetDateTime,
    f: &mut Findings,
) {
    let mut cas: Vec<(String, &Certificate)> = loaded
        .issuing_ca
        .iter()
        .map(|c| (format!("{}.issuing_ca", store.path), c))
        .collect();
    cas.extend(
        loaded
            .intermediates
            .iter()
            .map(|c| (format!("{}.intermediates", store.path), c)),
    );
    for (path, ca) in cas {
        if !ca.is_valid_at(at) {
            continue;
        }
        match trust
            .store
            .validate_ca(ca, &loaded.intermediates, at, &trust.revocation)
        {
            Ok(p) => report_unreachable(&path, &unreachable_sources(&p), Some(store.revocation), f),
            Err(e) => f.push(Finding::error(&path, format!("chain: {e}"))),
        }
    }
}

fn check_data_dir(dir: &Path, f: &mut Findings) {
    if dir.is_dir() {
        return;
    }
    if dir.exists() {
        f.push(Finding::error(
            "data_dir",
            format!("{} is not a directory", dir.display()),
        ));
    } else if !dir
        .parent()
        .is_some_and(|p| p.as_os_str().is_empty() || p.is_dir())
    {
        f.push(Finding::error(
            "data_dir",
            format!("neither {} nor its parent directory exists", dir.display()),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn o2o_and_tls_test_cas_are_foreign_to_prod_only() {
        for cn in [
            "TEST SITHS e-id Root CA v2",
            "TEST SITHS e-id Function CA v1",
            "Swedish Public Sector Function CA v3 SAT",
            "Swedish Public Sector Internal Root CA SAT v1",
            "ExpiTrust Test CA v8",
        ] {
            assert_eq!(
                foreign_environment(cn, Environment::Prod),
                Some("test/QA"),
                "{cn}"
            );
            for env in [Environment::Qa, Environment::OpenTest] {
                assert_eq!(foreign_environment(cn, env), None, "{cn} in {env}");
            }
        }
    }

    #[test]
    fn production_o2o_cas_are_not_taken_for_test_cas() {
        for cn in [
            "SITHS e-id Root CA v2",
            "Swedish Public Sector Function CA v3",
            "Swedish Public Sector SATELLITE CA",
            "ExpiTrust EID CA v4",
        ] {
            assert_eq!(foreign_environment(cn, Environment::Prod), None, "{cn}");
        }
    }
}
