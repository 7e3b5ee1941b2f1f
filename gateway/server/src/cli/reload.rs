//! `sdkgw reload --config CFG`: asks the running gateway of CFG (through
//! `<data_dir>/reload.sock`) to re-read its keys, trust stores and CRLs. Same effect as
//! `kill -HUP <pid>`, but the caller sees the report: what changed, what was refused and why,
//! what needs a restart.
//!
//! Exit codes: 0 applied, 1 refused (the gateway keeps its previous material) or no gateway
//! answers, 2 input error.

use std::path::PathBuf;
use std::process::ExitCode;

use sdkgw_server::reload::ReloadReport;
use sdkgw_server::reload::socket::{self, Request};

use super::{EXIT_INPUT, OutputFormat, print_json};

/// Reload keys, trust stores and CRLs of the running gateway without a restart.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The configuration the gateway runs with (its data_dir locates the gateway).
    #[arg(long, env = "SDKGW_CONFIG", value_name = "CFG")]
    config: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

pub(crate) fn run(args: Args) -> ExitCode {
    let loaded = sdkgw_server::config::load(&args.config);
    let Some(config) = loaded.config else {
        for f in loaded.findings.errors() {
            eprintln!("sdkgw: {}: {f}", args.config.display());
        }
        return ExitCode::from(EXIT_INPUT);
    };
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    let request = Request::Reload {
        actor,
        config: Some(std::path::absolute(&args.config).unwrap_or(args.config.clone())),
    };
    match socket::call(&config.data_dir, &request) {
        Ok(Some(report)) => {
            show(&report, args.output);
            if report.applied {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Ok(None) => {
            eprintln!(
                "sdkgw: no gateway answers on {} (is `sdkgw serve --config {}` running?)",
                config.data_dir.join(socket::SOCKET_NAME).display(),
                args.config.display()
            );
            ExitCode::FAILURE
        }
        Err(f) => {
            eprintln!("sdkgw: reload: {f}");
            if f.input {
                ExitCode::from(EXIT_INPUT)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn show(r: &ReloadReport, output: OutputFormat) {
    if output == OutputFormat::Json {
        print_json(r);
        return;
    }
    if r.applied {
        println!(
            "reloaded {} (generation {})",
            r.config_file.display(),
            r.generation
        );
    } else {
        println!(
            "reload refused: nothing changed, the gateway keeps its current material ({})",
            r.config_file.display()
        );
    }
    for f in &r.findings {
        println!("  {f}");
    }
    for c in &r.changed {
        println!("  changed {}: {} -> {}", c.key, c.from, c.to);
    }
    if r.applied && r.changed.is_empty() {
        println!("  no key, trust store or CRL changed");
    }
    for n in &r.restart_needed {
        println!("  needs a restart: {n}");
    }
}
