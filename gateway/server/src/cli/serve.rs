//! `sdkgw serve --config CFG`: runs the gateway until SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use sdkgw_server::serve::Gateway;

use super::EXIT_INPUT;

/// Run the gateway: AS4 listener, delivery worker, store and address book operator sockets.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The gateway configuration.
    #[arg(long, env = "SDKGW_CONFIG", value_name = "CFG")]
    config: PathBuf,
}

/// JSON log lines on stderr; `SDKGW_LOG` sets the filter (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SDKGW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub(crate) fn run(args: Args) -> ExitCode {
    let loaded = sdkgw_server::config::load(&args.config);
    let Some(config) = loaded.config else {
        for f in loaded.findings.errors() {
            eprintln!("sdkgw: {}: {f}", args.config.display());
        }
        return ExitCode::from(EXIT_INPUT);
    };
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sdkgw: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let path = config.listeners.as4.path.clone();
        let data_dir = config.data_dir.clone();
        let gateway = match Gateway::start(config).await {
            Ok(g) => g,
            Err(e) => {
                eprintln!("sdkgw: cannot start: {e}");
                return ExitCode::FAILURE;
            }
        };
        eprintln!(
            "sdkgw: serving AS4 on https://{}{path}; mailbox API on https://{}{}; admin on {}; \
             operator sockets in {}",
            gateway.as4_addr,
            gateway.api.listener.addr,
            gateway.api.api.settings().base_path,
            gateway.ops.admin_addr,
            data_dir.display()
        );
        wait_for_signal().await;
        eprintln!("sdkgw: stopping (in-flight requests may finish)");
        gateway.stop().await;
        ExitCode::SUCCESS
    })
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
