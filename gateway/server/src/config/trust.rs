//! `[trust]`: the trust anchors per role, kept strictly apart. A certificate that chains to the
//! TLS anchors is worthless for AS4 and the other way round (DESIGN.md §4).
//!
//! Revocation sources per role: configured CRL files (`crls`), the CRL distribution points
//! named in the certificates (`crl_fetch`, on by default), OCSP responders named in them
//! (`ocsp`, off by default), and how long a CRL past its nextUpdate may still be used when no
//! fresh one can be had (`crl_grace`, 0 by default). `[trust.fetch]` says how those sources
//! are fetched (shared by all roles). `foreign_anchors` lists other environments' CAs, never
//! trusted, so a certificate from them is refused as "wrong environment" (TF-03).

use std::path::PathBuf;
use std::time::Duration;

use sdkgw_certs::PasswordSource;

use super::keys::read_password;
use super::reader::{Table, parse_duration};

/// The roles that have a trust store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustRole {
    /// AS4 message level: DIGG's AP CA of this environment (with the pinned issuing CA).
    As4,
    /// SMP / CertPub response signatures: DIGG's SMP CA of this environment.
    Smp,
    /// Transport: the CA of peer TLS certificates (SITHS function CA).
    Tls,
    /// O2O (end-to-end) participant certificate issuers.
    O2o,
}

impl TrustRole {
    pub fn key(self) -> &'static str {
        match self {
            TrustRole::As4 => "as4",
            TrustRole::Smp => "smp",
            TrustRole::Tls => "tls",
            TrustRole::O2o => "o2o",
        }
    }
}

/// What to do when revocation status cannot be determined (CRL/OCSP unreachable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationPolicy {
    /// Refuse the certificate (the default for peers).
    FailClosed,
    /// Accept it and raise a warning.
    FailOpen,
}

/// One role's trust store.
#[derive(Debug, Clone)]
pub struct TrustStore {
    pub role: TrustRole,
    /// `trust.<role>`, for messages.
    pub path: String,
    /// `anchors`: files (PEM bundles, DER, PKCS#12 truststores) with the trusted roots.
    pub anchors: Vec<PathBuf>,
    /// `intermediates`: CA certificates that may appear between a leaf and an anchor.
    pub intermediates: Vec<PathBuf>,
    /// `crls`: CRL files (PEM or DER) of the CAs of this role.
    pub crls: Vec<PathBuf>,
    /// For PKCS#12 truststores among the files.
    pub password: Option<PasswordSource>,
    /// `revocation`: `fail-closed` (default) or `fail-open`.
    pub revocation: RevocationPolicy,
    /// AS4 only, `issuing_ca`: the AP issuing CA of this environment and federation. Peer AP
    /// certificates must be issued by exactly this CA, not just chain to the root.
    pub issuing_ca: Option<PathBuf>,
    /// `crl_fetch` (default true): fetch CRLs from the certificates' distribution points.
    pub crl_fetch: bool,
    /// `ocsp` (default false): ask the OCSP responders named in the certificates first.
    pub ocsp: bool,
    /// `crl_grace` (default `0s`): how long past nextUpdate a CRL is still used when no fresh
    /// one can be fetched.
    pub crl_grace: Duration,
    /// `foreign_anchors`: CA certificates of *other* environments (root and issuing CA),
    /// never trusted: a certificate they issued is refused as from the wrong environment.
    pub foreign_anchors: Vec<PathBuf>,
}

/// `[trust.fetch]`: how CRL distribution points and OCSP responders are fetched (all roles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationFetch {
    /// `connect_timeout` (default `5s`).
    pub connect_timeout: Duration,
    /// `request_timeout` (default `15s`).
    pub request_timeout: Duration,
    /// `max_crl_bytes` (default 32 MiB).
    pub max_crl_bytes: u64,
    /// `refresh` (default `1h`): CRLs and OCSP answers in use are fetched again this often
    /// (and from this long before their nextUpdate), in the background.
    pub refresh: Duration,
    /// `tls_anchors`: CAs of `https://` distribution points' servers (default: the system CA
    /// bundle). Not a trust store of any role.
    pub tls_anchors: Vec<PathBuf>,
}

impl Default for RevocationFetch {
    fn default() -> Self {
        RevocationFetch {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            max_crl_bytes: 32 << 20,
            refresh: Duration::from_secs(3600),
            tls_anchors: vec![PathBuf::from(super::SYSTEM_CA_BUNDLE)],
        }
    }
}

impl RevocationFetch {
    fn read(t: Option<&Table<'_>>) -> Self {
        let d = Self::default();
        let Some(t) = t else {
            return d;
        };
        let anchors = t.path_list("tls_anchors");
        RevocationFetch {
            connect_timeout: t.duration_or("connect_timeout", d.connect_timeout),
            request_timeout: t.duration_or("request_timeout", d.request_timeout),
            max_crl_bytes: t.u64_or("max_crl_bytes", d.max_crl_bytes),
            refresh: t.duration_or("refresh", d.refresh),
            tls_anchors: if anchors.is_empty() {
                d.tls_anchors
            } else {
                anchors
            },
        }
    }
}

/// An optional boolean (`"true"`/`"false"` from the environment).
fn bool_or(t: &Table<'_>, key: &'static str, default: bool) -> bool {
    match t.opt_raw(key) {
        None => default,
        Some(toml::Value::Boolean(b)) => b,
        Some(other) => {
            t.ctx().error(
                &t.key_path(key),
                format!("expected true or false, found {}", other.type_str()),
            );
            default
        }
    }
}

/// `[trust]`
#[derive(Debug, Clone)]
pub struct Trust {
    pub as4: TrustStore,
    pub smp: TrustStore,
    pub tls: TrustStore,
    pub o2o: TrustStore,
    /// `[trust.fetch]`
    pub fetch: RevocationFetch,
}

impl Trust {
    pub(crate) fn read(t: &Table<'_>, all: &mut Vec<TrustStore>) -> Option<Self> {
        let mut one = |role: TrustRole| {
            let store = match role {
                TrustRole::As4 => t.table("as4"),
                TrustRole::Smp => t.table("smp"),
                TrustRole::Tls => t.table("tls"),
                TrustRole::O2o => t.table("o2o"),
            }
            .and_then(|s| TrustStore::read(&s, role));
            all.extend(store.clone());
            store
        };
        let (as4, smp, tls, o2o) = (
            one(TrustRole::As4),
            one(TrustRole::Smp),
            one(TrustRole::Tls),
            one(TrustRole::O2o),
        );
        Some(Trust {
            as4: as4?,
            smp: smp?,
            tls: tls?,
            o2o: o2o?,
            fetch: RevocationFetch::read(t.opt_table("fetch").as_ref()),
        })
    }

    pub fn store(&self, role: TrustRole) -> &TrustStore {
        match role {
            TrustRole::As4 => &self.as4,
            TrustRole::Smp => &self.smp,
            TrustRole::Tls => &self.tls,
            TrustRole::O2o => &self.o2o,
        }
    }
}

impl TrustStore {
    fn read(t: &Table<'_>, role: TrustRole) -> Option<Self> {
        let anchors = t.path_list("anchors");
        if anchors.is_empty() {
            t.ctx().error(
                &t.key_path("anchors"),
                "missing: at least one trust anchor file",
            );
        }
        let issuing_ca = if role == TrustRole::As4 {
            t.path("issuing_ca")
        } else {
            None
        };
        let revocation = t.opt_parsed("revocation", |s| match s {
            "fail-closed" => Ok(RevocationPolicy::FailClosed),
            "fail-open" => Ok(RevocationPolicy::FailOpen),
            _ => Err(format!("{s:?}: expected fail-closed or fail-open")),
        });
        let store = TrustStore {
            role,
            path: t.here().to_owned(),
            intermediates: t.path_list("intermediates"),
            crls: t.path_list("crls"),
            password: read_password(t)?,
            revocation: revocation.unwrap_or(RevocationPolicy::FailClosed),
            issuing_ca,
            crl_fetch: bool_or(t, "crl_fetch", true),
            ocsp: bool_or(t, "ocsp", false),
            crl_grace: t
                .opt_parsed("crl_grace", parse_duration)
                .unwrap_or(Duration::ZERO),
            foreign_anchors: t.path_list("foreign_anchors"),
            anchors,
        };
        let complete =
            !store.anchors.is_empty() && (role != TrustRole::As4 || store.issuing_ca.is_some());
        complete.then_some(store)
    }
}
