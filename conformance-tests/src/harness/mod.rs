//! What a run consists of: the suite PKI, the peer access point, the trap endpoints, the fake
//! SMP and the target — an in-process gateway (mode `in-process`) or any AP from a
//! configuration file (mode `remote`, [`remote`]).

pub mod gut;
pub mod remote;
pub mod smp;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sdkgw_schemas::{Environment, FunctionAddress, ParticipantId};

use crate::mailbox::MailboxApi;
use crate::peer::{Peer, PeerSettings};
use crate::pki::{GUT, SuitePki};
use crate::target::Target;
use gut::InProcessGut;
use smp::{Smp, Traps};

/// Tunables of a run.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long to wait for an asynchronous answer (a Meddelandekvittens, a delivery).
    pub answer_wait: Duration,
    /// Messages sent at once in F-01/F-02.
    pub concurrency: usize,
    /// XHE sizes of TF-08, in bytes.
    pub large_sizes: Vec<u64>,
    /// DIGG's reference material (`../shared` of the workspace), for the test data files.
    pub shared_dir: Option<PathBuf>,
    /// Where the in-process gateway's log (JSON lines) is written, for H-64.
    pub log_file: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            answer_wait: Duration::from_secs(20),
            concurrency: 50,
            large_sizes: vec![70 * 1024 * 1024, 100_000_000],
            shared_dir: None,
            log_file: None,
        }
    }
}

/// Which mode the run is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    InProcess,
    Remote { config: PathBuf },
}

impl Mode {
    pub fn label(&self) -> String {
        match self {
            Mode::InProcess => "in-process".into(),
            Mode::Remote { config } => format!("remote ({})", config.display()),
        }
    }
}

/// Everything a case may use.
pub struct Ctx {
    pub mode: Mode,
    pub pki: Arc<SuitePki>,
    pub target: Target,
    pub peer: Peer,
    pub traps: Traps,
    pub smp: Smp,
    /// The gateway under test, when it runs in this process (its store can be observed).
    pub gut: Option<InProcessGut>,
    /// The target's mailbox API (how the suite makes it send), when available.
    pub mailbox: Option<MailboxApi>,
    pub options: Options,
    /// Certificates made at run time for the trust cases.
    pub extra: crate::extra::Extra,
    /// Scratch space for crafted messages.
    pub work: tempfile::TempDir,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("mode", &self.mode)
            .field("target", &self.target.as4_url)
            .finish_non_exhaustive()
    }
}

/// Why a run cannot be set up.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

pub(crate) fn serr(e: impl std::fmt::Display) -> SetupError {
    SetupError(e.to_string())
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// The run's extra certificates (RSA key generation on a blocking thread).
pub(crate) async fn extra(
    pki: &Arc<SuitePki>,
    peer: &Peer,
) -> Result<crate::extra::Extra, SetupError> {
    let pki = Arc::clone(pki);
    let cn = peer.identity.party_id.clone();
    tokio::task::spawn_blocking(move || crate::extra::generate(&pki, &cn))
        .await
        .map_err(serr)?
        .map_err(serr)
}

impl Ctx {
    /// Mode `in-process`: the suite PKI in `pki_dir`, the peer, the fake SMP and the gateway
    /// under test (organisation 2 of the PKI), all on loopback.
    pub async fn in_process(
        pki_dir: &std::path::Path,
        options: Options,
    ) -> Result<Ctx, SetupError> {
        let dir = pki_dir.to_path_buf();
        let pki = tokio::task::spawn_blocking(move || SuitePki::open_or_generate(&dir))
            .await
            .map_err(serr)?
            .map_err(serr)?;
        let pki = Arc::new(pki);
        let environment = Environment::Dev;
        let peer = Peer::start(
            Arc::clone(&pki),
            &PeerSettings {
                bind: loopback(),
                public_host: "localhost".into(),
                public_port: None,
                environment,
            },
        )
        .await
        .map_err(serr)?;
        let traps = smp::traps(loopback().ip(), "localhost")
            .await
            .map_err(serr)?;
        let smp = smp::start(&pki, &peer, &traps, loopback())
            .await
            .map_err(serr)?;
        let gut = InProcessGut::start(&pki, &smp.url).await.map_err(serr)?;
        let gut_id: ParticipantId = GUT.parse().map_err(serr)?;
        let as4_url = gut.as4_url();
        let url = as4_url.clone();
        smp.fake
            .update_participant(&gut_id, |p| p.endpoint_url = url);
        let org = pki.gut();
        let target = Target {
            description: format!("in-process sdkgw gateway of {GUT} ({})", org.ap_party_id),
            as4_url,
            ap_certificate: pki.cert(&org.ap.cert).map_err(serr)?,
            participant: gut_id,
            function_address: gut.function.clone(),
            o2o_encryption: Some(pki.cert(&org.o2o_encryption.cert).map_err(serr)?),
            o2o_signing: Some(pki.cert(&org.o2o_signing.cert).map_err(serr)?),
            environment,
        };
        peer.set_target(target.clone());
        let directory: Vec<(ParticipantId, FunctionAddress)> = crate::pki::PEER_PARTICIPANTS
            .iter()
            .map(|p| p.parse().map(|p| (p, peer.function.clone())))
            .collect::<Result<_, _>>()
            .map_err(serr)?;
        gut.import_directory(&directory).map_err(serr)?;
        let mailbox = gut.mailbox_api(&pki).await.map_err(serr)?;
        let extra = extra(&pki, &peer).await?;
        Ok(Ctx {
            mode: Mode::InProcess,
            extra,
            mailbox: Some(mailbox),
            pki,
            target,
            peer,
            traps,
            smp,
            gut: Some(gut),
            options,
            work: tempfile::Builder::new()
                .prefix("sdk-conformance-")
                .tempdir()
                .map_err(serr)?,
        })
    }

    /// The peer's function mailbox (its messages' sender function).
    pub fn peer_function(&self) -> FunctionAddress {
        self.peer.function.clone()
    }

    /// Stops the in-process gateway.
    pub async fn shutdown(self) {
        if let Some(gut) = self.gut {
            gut.gateway.stop().await;
        }
    }
}
