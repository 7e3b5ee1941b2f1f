//! `sdkgw config check FILE`, `sdkgw config example`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use sdkgw_server::config::{self, Findings, Loaded};

use super::{EXIT_INPUT, OutputFormat, print_json};

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Check a configuration file and everything it refers to.
    ///
    /// Reports every problem at once with its key path (`keys.o2o.signing.cert: file not
    /// found: …`): syntax and types, files, key/certificate pairs, key usage per role, chains to
    /// the configured anchors, environment separation, and certificates expiring within 30 days
    /// (warnings). `SDKGW_…` environment variables override keys as `sdkgw config example`
    /// explains. Exit code 0 when there is no error (warnings allowed), 1 on any error, 2 if the
    /// file cannot be read.
    Check {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Print a fully commented example configuration.
    Example,
}

pub(crate) fn run(cmd: ConfigCommand) -> ExitCode {
    match cmd {
        ConfigCommand::Check { file, output } => check(&file, output),
        ConfigCommand::Example => {
            print!("{}", config::EXAMPLE);
            ExitCode::SUCCESS
        }
    }
}

fn check(file: &std::path::Path, output: OutputFormat) -> ExitCode {
    if let Err(e) = std::fs::metadata(file) {
        eprintln!("sdkgw: cannot read {}: {e}", file.display());
        return ExitCode::from(EXIT_INPUT);
    }
    let loaded = config::check(file, time::OffsetDateTime::now_utc());
    match output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "file": file.display().to_string(),
            "valid": !loaded.findings.has_errors(),
            "errors": loaded.findings.errors().count(),
            "warnings": loaded.findings.warnings().count(),
            "findings": loaded.findings,
        })),
        OutputFormat::Table => print_table(file, &loaded),
    }
    if loaded.findings.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn print_table(file: &std::path::Path, loaded: &Loaded) {
    for f in loaded.findings.iter() {
        println!("{f}");
    }
    println!("{}", summary(file, &loaded.findings, loaded.ok()));
}

/// `FILE: ok (…)` or `FILE: 3 errors, 1 warning`.
pub(crate) fn summary(
    file: &std::path::Path,
    findings: &Findings,
    config: Option<&config::Config>,
) -> String {
    let (e, w) = (findings.errors().count(), findings.warnings().count());
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match config {
        Some(c) if e == 0 => format!(
            "{}: ok ({}, {}, environment {}, {}{})",
            file.display(),
            c.ap.party_id,
            c.participants
                .iter()
                .map(|p| p.id.to_string())
                .collect::<Vec<_>>()
                .join(" "),
            c.environment.name,
            plural(
                1 + c.keys.o2o_signing.len() + c.keys.o2o_encryption.len() + 2,
                "key"
            ),
            if w > 0 {
                format!(", {}", plural(w, "warning"))
            } else {
                String::new()
            },
        ),
        _ => format!(
            "{}: {}, {}",
            file.display(),
            plural(e, "error"),
            plural(w, "warning")
        ),
    }
}
