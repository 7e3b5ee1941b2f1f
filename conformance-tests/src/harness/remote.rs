//! Mode `remote`: any access point from a configuration file. The suite plays the peer with
//! its own PKI (TestAP-01 normal, TestAP-02 expired, TestAP-03 revoked, TestAP-04
//! unreachable, TestAP-05 other-environment sender) and serves the fake SMP the target's
//! address book must use. What the target must trust is in the README ("Conformance suite").
//!
//! ```toml
//! [target]
//! description = "our QA gateway"           # optional, for the report
//! as4_url = "https://localhost:8443/as4"
//! ap_certificate = "target-ap.pem"         # PEM, as its SMP entry publishes it
//! participant = "0203:example.se"
//! function_address = "example.se-inbox"    # XHE HandlingServiceID the target serves
//! o2o_encryption = "target-o2o-enc.pem"    # optional: CertPub encryption certificate
//! o2o_signing = "target-o2o-sign.pem"      # optional: CertPub signing certificate
//! environment = "dev"                      # dev | open-test | qa | prod
//!
//! [peer]
//! bind = "127.0.0.1:9443"                  # the peer AP's AS4 listener
//! public_host = "localhost"                # its TLS certificate names localhost, 127.0.0.1
//!
//! [smp]
//! bind = "127.0.0.1:9444"                  # the fake SMP (https://127.0.0.1:9444/)
//! ```
//!
//! Relative paths are relative to the configuration file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::{Ctx, Mode, Options, SetupError, serr, smp};
use crate::peer::{Peer, PeerSettings};
use crate::pki::SuitePki;
use crate::target::Target;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    target: TargetSection,
    #[serde(default)]
    peer: PeerSection,
    #[serde(default)]
    smp: SmpSection,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetSection {
    description: Option<String>,
    as4_url: String,
    ap_certificate: PathBuf,
    participant: String,
    function_address: String,
    o2o_encryption: Option<PathBuf>,
    o2o_signing: Option<PathBuf>,
    #[serde(default = "default_environment")]
    environment: String,
}

fn default_environment() -> String {
    "dev".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeerSection {
    #[serde(default = "default_peer_bind")]
    bind: SocketAddr,
    #[serde(default = "default_host")]
    public_host: String,
    public_port: Option<u16>,
}

impl Default for PeerSection {
    fn default() -> Self {
        PeerSection {
            bind: default_peer_bind(),
            public_host: default_host(),
            public_port: None,
        }
    }
}

fn default_peer_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9443))
}

fn default_smp_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9444))
}

fn default_host() -> String {
    "localhost".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SmpSection {
    #[serde(default = "default_smp_bind")]
    bind: SocketAddr,
}

impl Default for SmpSection {
    fn default() -> Self {
        SmpSection {
            bind: default_smp_bind(),
        }
    }
}

fn certificate(base: &Path, rel: &Path, key: &str) -> Result<sdkgw_certs::Certificate, SetupError> {
    let path = base.join(rel);
    let mut certs = sdkgw_certs::load_certificates(&path, None)
        .map_err(|e| SetupError(format!("target.{key} {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(SetupError(format!(
            "target.{key} {}: no certificate",
            path.display()
        )));
    }
    Ok(certs.remove(0))
}

impl Ctx {
    /// Mode `remote`: reads `config`, starts the peer and the fake SMP on the configured
    /// addresses with the suite PKI in `pki_dir`.
    pub async fn remote(
        config: &Path,
        pki_dir: &Path,
        options: Options,
    ) -> Result<Ctx, SetupError> {
        let text = std::fs::read_to_string(config)
            .map_err(|e| SetupError(format!("{}: {e}", config.display())))?;
        let file: File =
            toml::from_str(&text).map_err(|e| SetupError(format!("{}: {e}", config.display())))?;
        let base = config.parent().unwrap_or(Path::new(".")).to_path_buf();
        let t = &file.target;
        let environment: sdkgw_schemas::Environment = t
            .environment
            .parse()
            .map_err(|e| SetupError(format!("target.environment: {e}")))?;
        let target = Target {
            description: t
                .description
                .clone()
                .unwrap_or_else(|| format!("access point at {}", t.as4_url)),
            as4_url: t.as4_url.clone(),
            ap_certificate: certificate(&base, &t.ap_certificate, "ap_certificate")?,
            participant: t
                .participant
                .parse()
                .map_err(|e| SetupError(format!("target.participant: {e}")))?,
            function_address: sdkgw_schemas::FunctionAddress::parse(&t.function_address)
                .map_err(|e| SetupError(format!("target.function_address: {e}")))?,
            o2o_encryption: t
                .o2o_encryption
                .as_deref()
                .map(|p| certificate(&base, p, "o2o_encryption"))
                .transpose()?,
            o2o_signing: t
                .o2o_signing
                .as_deref()
                .map(|p| certificate(&base, p, "o2o_signing"))
                .transpose()?,
            environment,
        };
        let dir = pki_dir.to_path_buf();
        let pki = tokio::task::spawn_blocking(move || SuitePki::open_or_generate(&dir))
            .await
            .map_err(serr)?
            .map_err(serr)?;
        let pki = Arc::new(pki);
        let peer = Peer::start(
            Arc::clone(&pki),
            &PeerSettings {
                bind: file.peer.bind,
                public_host: file.peer.public_host.clone(),
                public_port: file.peer.public_port,
                environment,
            },
        )
        .await
        .map_err(serr)?;
        let traps = smp::traps(file.peer.bind.ip(), &file.peer.public_host)
            .await
            .map_err(serr)?;
        let smp = smp::start(&pki, &peer, &traps, file.smp.bind)
            .await
            .map_err(serr)?;
        peer.set_target(target.clone());
        let extra = super::extra(&pki, &peer).await?;
        Ok(Ctx {
            extra,
            mode: Mode::Remote {
                config: config.to_path_buf(),
            },
            pki,
            target,
            peer,
            traps,
            smp,
            gut: None,
            mailbox: None,
            options,
            work: tempfile::Builder::new()
                .prefix("sdk-conformance-")
                .tempdir()
                .map_err(serr)?,
        })
    }
}
