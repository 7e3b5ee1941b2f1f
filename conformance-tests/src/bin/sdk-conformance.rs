//! `sdk-conformance`: runs the suite and writes the reports.
//!
//! ```text
//! sdk-conformance [--report-dir DIR] [--pki DIR] [--only ID]... [--list]          (in-process)
//! sdk-conformance --target CONFIG.toml [--report-dir DIR] [--pki DIR] [--only ID]...   (remote)
//! ```
//!
//! Exit status: 0 when no case failed, 1 when one did, 2 when the run could not be set up.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use sdkgw_conformance::catalog::{self, CaseResult};
use sdkgw_conformance::harness::{Ctx, Options};
use sdkgw_conformance::verdict::Verdict;
use sdkgw_conformance::{cases, report};

/// DIGG's SDK qualification cases, the announced cases, the SDK test data and the hardening
/// corpus, against the in-process gateway or any AP.
#[derive(Debug, Parser)]
#[command(name = "sdk-conformance", version)]
struct Args {
    /// Configuration of a remote target (any AP URL; see the README). Without it, the suite
    /// runs against an in-process gateway.
    #[arg(long, value_name = "CONFIG")]
    target: Option<PathBuf>,
    /// Where the Markdown and JUnit reports go.
    #[arg(long, value_name = "DIR", default_value = "target/conformance")]
    report_dir: PathBuf,
    /// The suite's PKI (generated there on first use; a remote target must trust its CAs).
    #[arg(long, value_name = "DIR", default_value = "target/conformance-pki")]
    pki: PathBuf,
    /// DIGG's reference material (for the SDK test data files); default: ../shared next
    /// to the workspace.
    #[arg(long, value_name = "DIR")]
    shared: Option<PathBuf>,
    /// Run only these cases (ids, or prefixes ending in `*`); repeatable.
    #[arg(long, value_name = "ID")]
    only: Vec<String>,
    /// Seconds to wait for an asynchronous answer (a Meddelandekvittens).
    #[arg(long, default_value_t = 20)]
    wait: u64,
    /// Messages sent at once in F-01/F-02.
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// Seconds before a case is abandoned as failed.
    #[arg(long, default_value_t = 600)]
    case_timeout: u64,
    /// List the cases and exit.
    #[arg(long)]
    list: bool,
}

fn default_shared() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    p.is_dir().then_some(p)
}

fn print_progress(r: &CaseResult) {
    let reason = r
        .verdict()
        .reason()
        .map(|s| format!(" — {s}"))
        .unwrap_or_default();
    let failed = if *r.verdict() == Verdict::Fail {
        r.outcome
            .actual
            .iter()
            .filter(|l| l.starts_with("FAILED"))
            .map(|l| format!("\n      {l}"))
            .collect::<String>()
    } else {
        String::new()
    };
    println!(
        "  {:<10} {:<18} {:>6.1}s  {}{reason}{failed}",
        r.id,
        r.verdict().label(),
        r.duration.as_secs_f64(),
        r.title
    );
}

fn main() -> ExitCode {
    let args = Args::parse();
    let all: Vec<_> = cases::all()
        .into_iter()
        .filter(|c| catalog::selected(&c.id, &args.only))
        .collect();
    if args.list {
        for c in &all {
            println!("{:<10} {:<10} {}", c.id, c.group.suite_name(), c.title);
        }
        return ExitCode::SUCCESS;
    }
    if all.is_empty() {
        eprintln!("sdk-conformance: no case matches --only {:?}", args.only);
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sdk-conformance: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(run(args, all))
}

async fn run(args: Args, cases: Vec<catalog::Case>) -> ExitCode {
    let options = Options {
        answer_wait: Duration::from_secs(args.wait),
        concurrency: args.concurrency,
        shared_dir: args.shared.clone().or_else(default_shared),
        ..Options::default()
    };
    let started = time::OffsetDateTime::now_utc();
    println!("sdk-conformance: setting up ({} cases)", cases.len());
    let ctx = match &args.target {
        Some(config) => Ctx::remote(config, &args.pki, options).await,
        None => Ctx::in_process(&args.pki, options).await,
    };
    let ctx = match ctx {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("sdk-conformance: setup failed: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "sdk-conformance: {} — target {} ({})",
        ctx.mode.label(),
        ctx.target.description,
        ctx.target.as4_url
    );
    let results = catalog::run(
        Arc::clone(&ctx),
        cases,
        Duration::from_secs(args.case_timeout),
        &print_progress,
    )
    .await;
    let run = catalog::RunReport {
        mode: ctx.mode.label(),
        target: ctx.target.description.clone(),
        target_url: ctx.target.as4_url.clone(),
        started,
        finished: time::OffsetDateTime::now_utc(),
        results,
        notes: vec![
            format!(
                "suite PKI: {} (peer {} as {}, fake SMP {})",
                ctx.pki.dir.display(),
                ctx.peer.participant().value(),
                ctx.peer.identity.party_id,
                ctx.smp.url
            ),
            format!("sdk-conformance {}", env!("CARGO_PKG_VERSION")),
        ],
    };
    let failed = run.summary().fail;
    println!("{}", run.summary_line());
    match report::write(&run, &args.report_dir) {
        Ok((md, xml)) => println!(
            "sdk-conformance: reports {} and {}",
            md.display(),
            xml.display()
        ),
        Err(e) => {
            eprintln!(
                "sdk-conformance: cannot write the reports to {}: {e}",
                args.report_dir.display()
            );
            return ExitCode::from(2);
        }
    }
    if let Ok(ctx) = Arc::try_unwrap(ctx) {
        ctx.shutdown().await;
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
