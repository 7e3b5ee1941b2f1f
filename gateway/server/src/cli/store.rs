//! `sdkgw store ...`: check, backup, restore, gc of the data directory.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use sdkgw_store::CheckReport;
use sdkgw_store::admin::{AdminClient, Request, Response};

use super::store_common::{StderrProgress, StoreArgs, call, fail, table, when};
use super::{EXIT_INPUT, OutputFormat, print_json};

#[derive(Debug, Subcommand)]
pub(crate) enum StoreCommand {
    /// Verify records, blob hashes and indexes; list orphan files. Exit 1 on damage.
    Check {
        /// Fix what is safe: rebuild missing index entries, drop stale ones, remove orphan
        /// blobs and temp files older than the orphan grace period. Never touches content.
        #[arg(long)]
        repair: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Consistent online snapshot into an empty or new directory (the gateway keeps running).
    Backup {
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Copy a backup into an empty or new --data-dir (the gateway must not run on it).
    Restore {
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Apply the retention policy now (content, metadata, audit, de-dup, orphans).
    Gc(StoreArgs),
}

pub(crate) fn run(cmd: StoreCommand) -> ExitCode {
    match cmd {
        StoreCommand::Check { repair, store } => check(&store, repair),
        StoreCommand::Backup { to, store } => backup(&store, to),
        StoreCommand::Restore { from, store } => restore(&store, &from),
        StoreCommand::Gc(store) => match call(&store, &Request::Gc, "gc") {
            Ok(Response::Gc(r)) => {
                match store.output {
                    OutputFormat::Json => print_json(&r),
                    OutputFormat::Table => {
                        println!(
                            "content deleted:    {} messages, {} bytes",
                            r.content_deleted, r.content_bytes_deleted
                        );
                        println!("records deleted:    {}", r.records_deleted);
                        println!("audit deleted:      {}", r.audit_deleted);
                        println!("de-dup expired:     {}", r.dedup_expired);
                        println!("orphans deleted:    {}", r.orphans_deleted);
                    }
                }
                ExitCode::SUCCESS
            }
            Ok(_) => ExitCode::FAILURE,
            Err(code) => code,
        },
    }
}

fn check(store: &StoreArgs, repair: bool) -> ExitCode {
    let report = match call(store, &Request::Check { repair }, "check") {
        Ok(Response::Check(r)) => r,
        Ok(_) => return ExitCode::FAILURE,
        Err(code) => return code,
    };
    match store.output {
        OutputFormat::Json => print_json(&report),
        OutputFormat::Table => print_check(&report),
    }
    if damaged(&report) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Damage: lost or corrupt data, or index problems left unrepaired.
fn damaged(r: &CheckReport) -> bool {
    r.errors().next().is_some()
        || r.findings
            .iter()
            .any(|f| !f.repaired && matches!(f.kind.as_str(), "missing-index" | "stale-index"))
}

fn print_check(r: &CheckReport) {
    println!(
        "{} records, {} blobs ({} bytes) verified, {} index entries",
        r.records, r.blobs_verified, r.blob_bytes_verified, r.index_entries
    );
    if r.findings.is_empty() {
        println!("no findings");
        return;
    }
    let rows: Vec<Vec<String>> = r
        .findings
        .iter()
        .map(|f| {
            vec![
                f.kind.clone(),
                if f.repaired { "yes" } else { "no" }.into(),
                f.subject.clone(),
                f.detail.clone(),
            ]
        })
        .collect();
    println!(
        "{}",
        table(&["FINDING", "REPAIRED", "SUBJECT", "DETAIL"], &rows)
    );
}

fn absolute(p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        return p;
    }
    std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
}

fn backup(store: &StoreArgs, to: PathBuf) -> ExitCode {
    let request = Request::Backup { to: absolute(to) };
    let report = match call(store, &request, "backup") {
        Ok(Response::Backup(r)) => r,
        Ok(_) => return ExitCode::FAILURE,
        Err(code) => return code,
    };
    match store.output {
        OutputFormat::Json => print_json(&report),
        OutputFormat::Table => {
            println!(
                "backup in {}: snapshot at {}",
                report.path.display(),
                when(Some(report.snapshot_at))
            );
            println!(
                "{} records, {} entries, {} blob files ({} bytes)",
                report.records, report.entries, report.blob_files, report.blob_bytes
            );
            println!(
                "{} changes caught up; writers paused {} µs",
                report.changes_caught_up, report.pause_micros
            );
        }
    }
    ExitCode::SUCCESS
}

fn restore(store: &StoreArgs, from: &std::path::Path) -> ExitCode {
    let config = match store.store_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let data_dir = config.data_dir.clone();
    match AdminClient::connect(&data_dir) {
        Ok(Some(_)) => {
            eprintln!(
                "sdkgw: a gateway is running on {}; stop it before restoring into it",
                data_dir.display()
            );
            return ExitCode::from(EXIT_INPUT);
        }
        Ok(None) => {}
        Err(e) => return fail(&e),
    }
    let mut progress = StderrProgress::new("restore");
    let result = sdkgw_store::restore(from, config, &mut progress);
    drop(progress);
    let report = match result {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    match store.output {
        OutputFormat::Json => print_json(&report),
        OutputFormat::Table => {
            println!(
                "restored {} files ({} bytes) into {}",
                report.files,
                report.bytes,
                data_dir.display()
            );
            println!(
                "check: {} records, {} blobs verified, no damage",
                report.check.records, report.check.blobs_verified
            );
        }
    }
    ExitCode::SUCCESS
}
