//! The development PKI: a throw-away hierarchy that mirrors DIGG's (addressing digest §4), for
//! two or more local organisations, plus the negative material tests need.
//!
//! ```text
//! ap-root ── ap-intermediate ─┬─ AP0001-DEV, AP0002-DEV, …  (one AP certificate per organisation)
//!                             ├─ expired AP certificate
//!                             ├─ revoked AP certificate  ── listed in the intermediate's CRL
//! smp-ca ── SMP signer
//! tls-root ── tls-intermediate ── per organisation: TLS server (localhost, 127.0.0.1), TLS client
//! o2o-root ── o2o-intermediate ── per organisation: O2O signing, O2O encryption
//! foreign-ap-ca ── foreign AP certificate (CN of organisation 1, other environment)
//! ```
//!
//! Every CA also publishes a CRL (`crl/<ca>.crl.pem`); a local SMP gets a signer and a TLS
//! server certificate (`smp/`).
//!
//! Keys are RSA 3072 from aws-lc-rs (`rsa::KeyPair::generate`), certificates and the CRL are made
//! with rcgen. aws-lc-rs draws keys from the operating system's random generator and cannot be
//! seeded, so keys, signatures and fingerprints differ on every run; `seed` fixes what can be
//! fixed: certificate serial numbers and the loopback ports of the generated configurations.
//!
//! [`generate`] writes everything below one directory with paths relative to it, described by
//! `manifest.json` ([`Manifest`]). The gateway configuration for each organisation is rendered by
//! the caller (the server crate owns the configuration format) through [`ConfigRenderer`].

mod issue;
mod layout;

use std::path::Path;

pub use issue::Renewal;
pub use layout::{CaPaths, CrlPaths, Manifest, NegativePaths, OrgEntry, Pair};

use crate::error::CertError;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Participant ids (`0203:orga.test`), one organisation each, in AP party id order.
    pub participants: Vec<String>,
    /// Fixes serial numbers and ports (see the module documentation).
    pub seed: Option<u64>,
    /// Replace an existing development PKI in the directory.
    pub force: bool,
}

/// What the configuration renderer gets for one organisation.
#[derive(Debug)]
pub struct OrgConfigInput<'a> {
    pub entry: &'a OrgEntry,
    pub manifest: &'a Manifest,
    /// Prefix that turns a manifest path (relative to the PKI directory) into one relative to
    /// the organisation's configuration file (`../..`).
    pub root_from_config: &'a str,
    pub as4_bind: std::net::SocketAddr,
    pub api_bind: std::net::SocketAddr,
    pub admin_bind: std::net::SocketAddr,
    /// The loopback `https://` URL where a local SMP for the development federation is
    /// expected (serving with `manifest.smp_tls`).
    pub smp_url: &'a str,
}

/// Renders the gateway configuration file of one organisation.
pub type ConfigRenderer<'r> = &'r dyn Fn(&OrgConfigInput<'_>) -> String;

/// The manifest file name inside the PKI directory; written last, so its presence means the
/// directory is complete.
pub const MANIFEST: &str = "manifest.json";

/// Generates the development PKI into `out` and returns its manifest.
///
/// Refuses a non-empty directory that holds no development PKI, and an existing one unless
/// `options.force`.
pub fn generate(
    out: &Path,
    options: &Options,
    render_config: ConfigRenderer<'_>,
) -> Result<Manifest, CertError> {
    if options.participants.is_empty() {
        return Err(CertError::Generate(
            "at least one organisation is needed".into(),
        ));
    }
    layout::check_participants(&options.participants)?;
    layout::prepare_dir(out, options.force)?;
    let plan = layout::Plan::new(options);
    let written = issue::issue_all(out, &plan)?;
    for (org, ports) in written.organisations.iter().zip(&plan.ports) {
        let input = OrgConfigInput {
            entry: org,
            manifest: &written,
            root_from_config: "../..",
            as4_bind: ports.as4,
            api_bind: ports.api,
            admin_bind: ports.admin,
            smp_url: &plan.smp_url,
        };
        layout::write_file(
            &out.join(&org.config),
            render_config(&input).as_bytes(),
            false,
        )?;
    }
    layout::write_file(
        &out.join(MANIFEST),
        serde_json::to_string_pretty(&written)
            .map_err(|e| CertError::Generate(format!("manifest: {e}")))?
            .as_bytes(),
        false,
    )?;
    Ok(written)
}

/// Issues a successor of one organisation's certificate in the development PKI at `dir` (same
/// CA, subject and profile; new key and serial) as `<organisation dir>/<name>.pem` + `.key`,
/// and returns its paths (relative to `dir`). The manifest is not changed: the new pair is
/// for rehearsing or testing a rollover (old and new certificate valid side by side). Existing
/// files are never overwritten.
pub fn renew(dir: &Path, participant: &str, which: Renewal, name: &str) -> Result<Pair, CertError> {
    let manifest = read_manifest(dir)?;
    let org = manifest
        .organisations
        .iter()
        .find(|o| o.participant == participant)
        .ok_or_else(|| {
            CertError::Generate(format!(
                "{participant} is not an organisation of {}",
                dir.display()
            ))
        })?;
    if name.is_empty() || name.contains(['/', '\\', '.']) {
        return Err(CertError::Generate(format!(
            "{name:?}: give a plain file name without extension"
        )));
    }
    issue::renew(dir, &manifest, org, which, name)
}

/// Reads the manifest of an existing development PKI.
pub fn read_manifest(dir: &Path) -> Result<Manifest, CertError> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|source| CertError::Io {
        path: path.display().to_string(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| {
        CertError::Generate(format!("{}: not a dev PKI manifest: {e}", path.display()))
    })
}
