//! What the running gateway loads from a checked configuration: its keys, and per role an
//! `sdkgw-xml-security` trust store with a revocation checker that applies the configured
//! policy (`trust.<role>.revocation`, `crl_grace`), holds the configured CRLs, fetches CRLs
//! and asks OCSP responders named in the certificates (`crl_fetch`, `ocsp`) through one
//! [`RevocationFetcher`] per data directory (its last good CRLs kept in
//! `<data_dir>/revocation`), and knows the other environments' CAs (`foreign_anchors`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use sdkgw_certs::{Certificate, KeyPairWithChain, load_certificates, load_key_pair};
use sdkgw_http::fetch::{self, FetchSettings, RevocationFetcher};
use sdkgw_http::tls::{ClientTlsSettings, HostnameVerification, TrustAnchors};
use sdkgw_xml_security::x509::{
    As4Ap, Crl, O2o, OnUnknown, RevocationChecker, RevocationPolicy as X509Policy, Smp, StoreError,
    Tls, TrustRole, TrustStore as X509Store,
};

use super::check::{LoadedStore, check_permissions, check_store, describe, foreign_label};
use super::report::{Finding, Findings};
use super::trust::RevocationFetch;
use super::{Config, KeyRef, RevocationPolicy, TrustStore};

/// One role's trust: the path validator and its revocation checker.
#[derive(Debug)]
pub struct RoleTrust<R: TrustRole> {
    pub store: X509Store<R>,
    pub revocation: RevocationChecker,
}

/// The four trust stores of a configuration.
#[derive(Debug)]
pub struct Trust {
    pub as4: RoleTrust<As4Ap>,
    pub smp: RoleTrust<Smp>,
    pub tls: RoleTrust<Tls>,
    pub o2o: RoleTrust<O2o>,
}

/// Our keys, each checked to belong to its certificate.
#[derive(Debug)]
pub struct Keys {
    pub ap: KeyPairWithChain,
    /// `keys.ap.previous`: decrypt messages still encrypted for them (rollover).
    pub ap_previous: Vec<KeyPairWithChain>,
    /// The first signs.
    pub o2o_signing: Vec<KeyPairWithChain>,
    /// The first is published; all are tried for decryption.
    pub o2o_encryption: Vec<KeyPairWithChain>,
    pub tls_server: KeyPairWithChain,
    pub tls_client: KeyPairWithChain,
}

/// Loads the trust stores of `config`. Errors are findings with key paths, as `config check`
/// reports them.
pub fn load_trust(config: &Config) -> Result<Trust, Findings> {
    let mut f = Findings::default();
    let label = config.environment.name.as_str();
    let t = &config.trust;
    let cache_dir = config.data_dir.join("revocation");
    let sources = Sources::for_config(config, Some(&cache_dir), &mut f);
    let as4 = role(&t.as4, label, &sources, &mut f);
    let smp = role(&t.smp, label, &sources, &mut f);
    let tls = role(&t.tls, label, &sources, &mut f);
    let o2o = role(&t.o2o, label, &sources, &mut f);
    match (as4, smp, tls, o2o) {
        (Some(as4), Some(smp), Some(tls), Some(o2o)) if !f.has_errors() => {
            Ok(Trust { as4, smp, tls, o2o })
        }
        _ => Err(f),
    }
}

/// One role with the configured revocation policy. Only errors stop the gateway; expiry
/// warnings are for `config check` and metrics.
fn role<R: Build>(
    store: &TrustStore,
    label: &str,
    sources: &Sources,
    f: &mut Findings,
) -> Option<RoleTrust<R>> {
    let mut local = Findings::default();
    let loaded = check_store(store, None, time::OffsetDateTime::now_utc(), &mut local);
    local.errors().for_each(|e| f.push(e.clone()));
    let on_unknown = match store.revocation {
        RevocationPolicy::FailClosed => OnUnknown::FailClosed,
        RevocationPolicy::FailOpen => OnUnknown::Accept,
    };
    role_trust(store, &loaded, label, on_unknown, sources, f)
}

/// The fetched revocation sources the roles' checkers may use.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sources {
    /// None when no role fetches CRLs or asks OCSP.
    pub(crate) fetcher: Option<Arc<RevocationFetcher>>,
    /// How often a still-current fetched CRL is asked for again (`trust.fetch.refresh`).
    pub(crate) recheck: std::time::Duration,
}

/// Fetchers of this process by cache directory: every `load_trust` of one gateway shares one
/// (one thread, one memory, one set of files). None for `config check` (no directory).
static FETCHERS: Mutex<Vec<(PathBuf, Weak<RevocationFetcher>)>> = Mutex::new(Vec::new());

impl Sources {
    /// The fetcher for `config` (shared per `cache_dir`), if any role needs one.
    pub(crate) fn for_config(config: &Config, cache_dir: Option<&Path>, f: &mut Findings) -> Self {
        let t = &config.trust;
        let needed = [&t.as4, &t.smp, &t.tls, &t.o2o]
            .iter()
            .any(|s| s.crl_fetch || s.ocsp);
        let recheck = t.fetch.refresh;
        if !needed {
            return Sources {
                fetcher: None,
                recheck,
            };
        }
        let mut shared = FETCHERS.lock().unwrap_or_else(PoisonError::into_inner);
        shared.retain(|(_, w)| w.strong_count() > 0);
        let existing = cache_dir.and_then(|dir| {
            shared
                .iter()
                .find(|(d, _)| d == dir)
                .and_then(|(_, w)| w.upgrade())
        });
        let fetcher = existing.or_else(|| {
            let started = RevocationFetcher::start(fetch_settings(&t.fetch, cache_dir, f)?);
            match started {
                Ok(fetcher) => {
                    if let Some(dir) = cache_dir {
                        shared.push((dir.to_owned(), Arc::downgrade(&fetcher)));
                    }
                    Some(fetcher)
                }
                Err(e) => {
                    f.push(Finding::error("trust.fetch", e.to_string()));
                    None
                }
            }
        });
        Sources { fetcher, recheck }
    }
}

fn fetch_settings(
    c: &RevocationFetch,
    cache_dir: Option<&Path>,
    f: &mut Findings,
) -> Option<FetchSettings> {
    let mut s = FetchSettings::new(fetch_tls(&c.tls_anchors, f)?);
    s.connect_timeout = c.connect_timeout;
    s.request_timeout = c.request_timeout;
    s.max_crl_bytes = c.max_crl_bytes;
    s.refresh_interval = c.refresh;
    s.refresh_ahead = c.refresh;
    s.cache_dir = cache_dir.map(Path::to_path_buf);
    Some(s)
}

/// TLS trust for `https://` sources; without a usable CA file they fail (warning), `http://`
/// sources still work.
fn fetch_tls(files: &[PathBuf], f: &mut Findings) -> Option<Arc<rustls::ClientConfig>> {
    let cas: Vec<Certificate> = files
        .iter()
        .filter_map(|p| load_certificates(p, None).ok())
        .flatten()
        .collect();
    let config = TrustAnchors::new(&cas).and_then(|server_trust| {
        sdkgw_http::tls::client_config(&ClientTlsSettings {
            identity: None,
            server_trust,
            hostname: HostnameVerification::Verify,
        })
    });
    let e = match config {
        Ok(c) => return Some(c),
        Err(e) => e,
    };
    f.push(Finding::warning(
        "trust.fetch.tls_anchors",
        format!("no usable CA certificate ({e}): https:// CRL and OCSP sources cannot be fetched"),
    ));
    match fetch::trust_nothing() {
        Ok(c) => Some(c),
        Err(e) => {
            f.push(Finding::error("trust.fetch", e.to_string()));
            None
        }
    }
}

/// How each role's `sdkgw-xml-security` store is made from the loaded files.
pub(crate) trait Build: TrustRole {
    fn build(label: &str, loaded: &LoadedStore) -> Result<X509Store<Self>, StoreError>;
}

impl Build for As4Ap {
    fn build(label: &str, loaded: &LoadedStore) -> Result<X509Store<Self>, StoreError> {
        let pinned = loaded.issuing_ca.iter().cloned().collect();
        X509Store::<As4Ap>::pinned(label, loaded.anchors.clone(), pinned)
    }
}

macro_rules! unpinned {
    ($($role:ty),*) => {$(
        impl Build for $role {
            fn build(label: &str, loaded: &LoadedStore) -> Result<X509Store<Self>, StoreError> {
                X509Store::<$role>::new(label, loaded.anchors.clone())
            }
        }
    )*};
}
unpinned!(Smp, Tls, O2o);

/// One role's trust from its loaded files, with a revocation checker holding its CRLs. None
/// (with a finding, unless the anchors were unreadable and so already reported) when the store
/// cannot be built.
pub(crate) fn role_trust<R: Build>(
    store: &TrustStore,
    loaded: &LoadedStore,
    label: &str,
    on_unknown: OnUnknown,
    sources: &Sources,
    f: &mut Findings,
) -> Option<RoleTrust<R>> {
    if loaded.anchors.is_empty() {
        return None;
    }
    let revocation = checker(store, on_unknown, sources);
    for (i, crl) in loaded.crls.iter().enumerate() {
        match Crl::from_der(&crl.der) {
            Ok(c) => revocation.add_crls([c]),
            Err(e) => f.push(Finding::error(
                &format!("{}.crls[{i}]", store.path),
                e.to_string(),
            )),
        }
    }
    match R::build(label, loaded) {
        Ok(s) => Some(RoleTrust {
            store: with_foreign(
                s.with_intermediates(loaded.intermediates.clone()),
                loaded,
                label,
            ),
            revocation,
        }),
        Err(StoreError::PinRequired { .. }) => None, // issuing_ca unreadable: reported already
        Err(e) => {
            f.push(Finding::error(
                &format!("{}.anchors", store.path),
                e.to_string(),
            ));
            None
        }
    }
}

/// The role's revocation checker: policy, grace and the sources it may fetch.
fn checker(store: &TrustStore, on_unknown: OnUnknown, sources: &Sources) -> RevocationChecker {
    let grace = time::Duration::try_from(store.crl_grace).unwrap_or(time::Duration::MAX);
    let mut checker = RevocationChecker::new(X509Policy {
        on_unknown,
        grace,
        ..X509Policy::default()
    });
    if let Some(fetcher) = &sources.fetcher {
        if store.crl_fetch {
            let recheck = time::Duration::try_from(sources.recheck).unwrap_or(time::Duration::MAX);
            checker = checker
                .with_fetcher(fetcher.clone())
                .with_crl_recheck(recheck);
        }
        if store.ocsp {
            checker = checker.with_ocsp(fetcher.clone());
        }
    }
    checker
}

/// Registers the role's `foreign_anchors`, each under the environment its name gives.
fn with_foreign<R: TrustRole>(
    mut store: X509Store<R>,
    loaded: &LoadedStore,
    label: &str,
) -> X509Store<R> {
    for ca in &loaded.foreign {
        let cn = ca.common_name().unwrap_or(ca.subject());
        store = store.with_foreign(foreign_label(cn, label), vec![ca.clone()]);
    }
    store
}

/// Loads every key of `config`. A private key file readable by group or others is refused
/// (security-operations T-CFG-01), as `config check` reports it.
pub fn load_keys(config: &Config) -> Result<Keys, Findings> {
    let mut f = Findings::default();
    let k = &config.keys;
    let mut one = |r: &KeyRef| {
        let (file, field) = match &r.key {
            Some(key) => (key, "key"),
            None => (&r.cert, "cert"),
        };
        let before = f.len();
        check_permissions(file, &format!("{}.{field}", r.path), &mut f);
        match load_key_pair(&r.cert, r.key.as_deref(), r.password.as_ref()) {
            Ok(pair) if f.len() == before => Some(pair),
            Ok(_) => None,
            Err(e) => {
                f.push(Finding::error(&r.path, describe(&e)));
                None
            }
        }
    };
    let ap = one(&k.ap);
    let ap_previous: Vec<_> = k.ap_previous.iter().map(&mut one).collect();
    let o2o_signing: Vec<_> = k.o2o_signing.iter().map(&mut one).collect();
    let o2o_encryption: Vec<_> = k.o2o_encryption.iter().map(&mut one).collect();
    let tls_server = one(&k.tls_server);
    let tls_client = one(&k.tls_client);
    let all = |v: Vec<Option<KeyPairWithChain>>| v.into_iter().collect::<Option<Vec<_>>>();
    match (
        ap,
        all(ap_previous),
        all(o2o_signing),
        all(o2o_encryption),
        tls_server,
        tls_client,
    ) {
        (
            Some(ap),
            Some(ap_previous),
            Some(o2o_signing),
            Some(o2o_encryption),
            Some(tls_server),
            Some(tls_client),
        ) => Ok(Keys {
            ap,
            ap_previous,
            o2o_signing,
            o2o_encryption,
            tls_server,
            tls_client,
        }),
        _ => Err(f),
    }
}
