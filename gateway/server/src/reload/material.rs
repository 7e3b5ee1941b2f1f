//! What a reload builds from a checked configuration before anything is swapped: the AS4
//! material (AP identity with previous keys, AS4 trust, listener and client TLS configs), the
//! mailbox API's TLS identity, the CRLs for the address book, the certificates for expiry
//! metrics — and a summary of it, to tell what a reload changed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sdkgw_certs::{Certificate, KeyPairWithChain};
use sdkgw_http::TlsIdentity;
use sdkgw_xml_security::x509::Crl;

use crate::config::runtime::{Keys, load_keys, load_trust};
use crate::config::{Config, Finding, Findings, TrustStore};
use crate::metrics::CertificateEntry;
use crate::pipeline::O2oMaterial;
use crate::serve::as4::As4Material;

/// Everything a reload swaps in, built and validated up front.
#[derive(Debug)]
pub(crate) struct Material {
    pub(crate) as4: As4Material,
    /// O2O keys (`keys.o2o.*`) and `trust.o2o` for the message pipelines.
    pub(crate) o2o: O2oMaterial,
    /// `keys.tls.server` for the mailbox API listener.
    pub(crate) api_identity: TlsIdentity,
    /// CRLs of `trust.smp`, `trust.as4`, `trust.o2o` for the address book's checkers.
    pub(crate) address_book_crls: AddressBookCrls,
    /// Every configured certificate, for expiry metrics and readiness.
    pub(crate) certificates: Vec<CertificateEntry>,
    pub(crate) summary: Summary,
}

/// The CRL files of the roles the address book validates with.
#[derive(Debug, Default)]
pub(crate) struct AddressBookCrls {
    pub(crate) smp: Vec<Crl>,
    pub(crate) ap: Vec<Crl>,
    pub(crate) o2o: Vec<Crl>,
}

/// What is in use, per configuration key (`keys.ap` → `AP0001-DEV sha256:…`): two summaries
/// differ exactly where a reload changed something.
pub type Summary = BTreeMap<String, String>;

impl Material {
    /// Loads keys and trust of `config` (as the gateway does at start) and builds the material.
    /// Errors are findings with key paths.
    pub(crate) fn build(config: &Config) -> Result<Material, Findings> {
        let keys = load_keys(config)?;
        let trust = load_trust(config)?;
        let error = |e: crate::serve::ServeError| {
            let mut f = Findings::default();
            f.push(Finding::error("", e.to_string()));
            f
        };
        let tls_trust = crate::serve::tls_anchors(config, &trust.tls.store).map_err(error)?;
        let certificates = crate::metrics::operations::certificates(&keys);
        let summary = summarize(config, &keys);
        let api_identity = TlsIdentity::new(keys.tls_server.chain(), keys.tls_server.key())
            .map_err(|e| {
                let mut f = Findings::default();
                f.push(Finding::error("keys.tls.server", e.to_string()));
                f
            })?;
        let address_book_crls = AddressBookCrls {
            smp: crls(&config.trust.smp)?,
            ap: crls(&config.trust.as4)?,
            o2o: crls(&config.trust.o2o)?,
        };
        let Keys {
            ap,
            ap_previous,
            tls_server,
            tls_client,
            o2o_signing,
            o2o_encryption,
        } = keys;
        let o2o = O2oMaterial::build(o2o_signing.into_iter().next(), &o2o_encryption, trust.o2o)
            .map_err(|e| {
                let mut f = Findings::default();
                f.push(Finding::error("keys.o2o", e.to_string()));
                f
            })?;
        let as4 = As4Material::build(
            config,
            ap,
            ap_previous,
            (&tls_server, &tls_client),
            trust.as4,
            &tls_trust,
        )
        .map_err(error)?;
        Ok(Material {
            as4,
            o2o,
            api_identity,
            address_book_crls,
            certificates,
            summary,
        })
    }
}

/// The CRLs of one trust store's `crls` files.
fn crls(store: &TrustStore) -> Result<Vec<Crl>, Findings> {
    let mut out = Vec::new();
    let mut f = Findings::default();
    for (i, file) in store.crls.iter().enumerate() {
        let path = format!("{}.crls[{i}]", store.path);
        match std::fs::read(file)
            .map_err(|e| e.to_string())
            .and_then(|b| Crl::parse_any(&b).map_err(|e| e.to_string()))
        {
            Ok(c) => out.extend(c),
            Err(e) => f.push(Finding::error(&path, format!("{}: {e}", file.display()))),
        }
    }
    if f.has_errors() { Err(f) } else { Ok(out) }
}

/// One line per key and trust store: certificate names and fingerprints, file digests.
pub(crate) fn summarize(config: &Config, keys: &Keys) -> Summary {
    let mut s = Summary::new();
    let pair = |p: &KeyPairWithChain| describe(p.certificate());
    s.insert("keys.ap".into(), pair(&keys.ap));
    s.insert(
        "keys.ap.previous".into(),
        list(keys.ap_previous.iter().map(pair)),
    );
    s.insert(
        "keys.o2o.signing".into(),
        list(keys.o2o_signing.iter().map(pair)),
    );
    s.insert(
        "keys.o2o.encryption".into(),
        list(keys.o2o_encryption.iter().map(pair)),
    );
    s.insert("keys.tls.server".into(), pair(&keys.tls_server));
    s.insert("keys.tls.client".into(), pair(&keys.tls_client));
    for store in [
        &config.trust.as4,
        &config.trust.smp,
        &config.trust.tls,
        &config.trust.o2o,
    ] {
        let cas: Vec<&PathBuf> = store
            .anchors
            .iter()
            .chain(&store.intermediates)
            .chain(&store.issuing_ca)
            .collect();
        s.insert(format!("{}.anchors", store.path), files_digest(&cas));
        s.insert(
            format!("{}.crls", store.path),
            files_digest(&store.crls.iter().collect::<Vec<_>>()),
        );
    }
    s.insert(
        "as4.peer_hostname_check".into(),
        format!("{:?}", config.as4.peer_hostname_check),
    );
    s
}

/// `CN sha256:0123456789abcdef` (the first 16 hex digits of the SHA-256 fingerprint).
pub(crate) fn describe(c: &Certificate) -> String {
    let fp = c.fingerprint_hex().to_ascii_lowercase();
    let short = fp.get(..16).unwrap_or(&fp);
    format!("{} sha256:{short}", c.common_name().unwrap_or(c.subject()))
}

fn list(items: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = items.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// `N files sha256:…`: a digest over the files' names and contents, so a replaced or
/// refreshed file shows as a change.
fn files_digest(files: &[&PathBuf]) -> String {
    let mut files = files.to_vec();
    files.sort();
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for f in &files {
        ctx.update(f.as_os_str().as_encoded_bytes());
        ctx.update(&std::fs::read(f).unwrap_or_default());
    }
    let digest: String = ctx
        .finish()
        .as_ref()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{} files sha256:{digest}", files.len())
}
