//! `sdkgw audit search|verify`: read the JSON-lines audit log (`<data_dir>/audit/`).
//!
//! Both read the files directly, so they work while the gateway runs (its shipper moves new
//! events from the store's journal into the files within a fraction of a second). When no
//! gateway runs, pending journal events are shipped first, so nothing recorded is missing.
//!
//! Exit codes: 0 success (search: also when nothing matched); 1 `verify` found a broken chain
//! or damaged lines, or the log cannot be read; 2 input error.

use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use sdkgw_server::audit::{self, Filter, LogSettings, SearchResult, Writer};
use sdkgw_store::admin::AdminClient;
use sdkgw_store::{SledStore, StoreConfig};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::store_common::StoreArgs;
use super::{EXIT_INPUT, OutputFormat, print_json};

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Search audit events (AS4 events with DIGG's AP-3.4.1 fields, API calls, transitions,
    /// operator actions, notifications). All given filters must match.
    Search(SearchArgs),
    /// Check the hash chain and order of every line of the log (tamper evidence).
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Events at or after T: RFC 3339 (`2026-12-01T08:00:00Z`), a date (`2026-12-01`, UTC
    /// midnight) or an age (`90m`, `24h`, `7d` ago).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    since: Option<OffsetDateTime>,
    /// Events before T (same forms as --since).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    until: Option<OffsetDateTime>,
    /// A message key, XHE id, AS4 MessageId, ConversationId or API messageId: the events
    /// naming it and every event of that message.
    #[arg(long, value_name = "ID")]
    message: Option<String>,
    /// A mailbox (`0203:org.se/function` or the function address alone).
    #[arg(long, value_name = "FA")]
    mailbox: Option<String>,
    /// An organisation (`0203:…`): its events only (an extract for that participant).
    #[arg(long, value_name = "ID")]
    participant: Option<String>,
    /// An event kind (action) or its prefix: `as4.inbound`, `api`, `message.transition`,
    /// `notify`, `mailbox`.
    #[arg(long, value_name = "KIND")]
    event: Option<String>,
    /// At most N events (0 = all).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    limit: usize,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    store: StoreArgs,
}

/// `T` of `--since/--until`.
fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(s, &date_format) {
        return Ok(d.midnight().assume_utc());
    }
    let (number, unit) = s.split_at(s.trim_end_matches(char::is_alphabetic).len());
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{s:?}: expected RFC 3339, YYYY-MM-DD or an age like 24h or 7d"))?;
    let age = match unit {
        "s" => time::Duration::seconds(n),
        "m" => time::Duration::minutes(n),
        "h" => time::Duration::hours(n),
        "d" => time::Duration::days(n),
        _ => return Err(format!("{s:?}: age units are s, m, h, d")),
    };
    Ok(OffsetDateTime::now_utc() - age)
}

pub(crate) fn run(cmd: AuditCommand) -> ExitCode {
    match cmd {
        AuditCommand::Search(args) => search(&args),
        AuditCommand::Verify(args) => verify(&args),
    }
}

fn log_settings(store: &StoreConfig) -> LogSettings {
    let mut s = LogSettings::new(&store.data_dir);
    s.retention = store.retention.audit;
    s
}

/// Without a running gateway: ship what the journal still holds (best effort).
fn ship_if_idle(store: &StoreConfig, settings: &LogSettings) {
    let dir = &store.data_dir;
    if !dir.join("FORMAT").is_file() || matches!(AdminClient::connect(dir), Ok(Some(_))) {
        return;
    }
    let shipped = SledStore::open(store.clone())
        .map_err(|e| e.to_string())
        .and_then(|s| {
            let (mut w, repairs) = Writer::open(settings.clone()).map_err(|e| e.to_string())?;
            for r in repairs {
                eprintln!(
                    "sdkgw: audit: cut a torn tail of {} ({} bytes, saved to {}): {}",
                    r.file.display(),
                    r.cut_bytes,
                    r.saved_to.display(),
                    r.reason
                );
            }
            audit::ship_pending(&s, &mut w).map_err(|e| e.to_string())
        });
    if let Err(e) = shipped {
        eprintln!("sdkgw: audit: pending journal events not shipped ({e}); showing the files");
    }
}

fn search(args: &SearchArgs) -> ExitCode {
    let store = match args.store.store_config() {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let (Some(s), Some(u)) = (args.since, args.until)
        && s >= u
    {
        eprintln!("sdkgw: --since must be before --until");
        return ExitCode::from(EXIT_INPUT);
    }
    let settings = log_settings(&store);
    ship_if_idle(&store, &settings);
    let filter = Filter {
        since: args.since,
        until: args.until,
        message: args.message.clone(),
        mailbox: args.mailbox.clone(),
        participant: args.participant.clone(),
        event: args.event.clone(),
        limit: args.limit,
    };
    let result = match audit::search(&settings.dir, &filter) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sdkgw: {e}");
            return ExitCode::FAILURE;
        }
    };
    report_problems(&result);
    match args.store.output {
        OutputFormat::Json => print_json(&result),
        OutputFormat::Table => print_table(&result),
    }
    ExitCode::SUCCESS
}

fn report_problems(r: &SearchResult) {
    for p in &r.problems {
        eprintln!(
            "sdkgw: audit: skipped {}:{}: {}",
            p.file.display(),
            p.line,
            p.reason
        );
    }
    if r.incomplete_tail {
        eprintln!("sdkgw: audit: skipped an unfinished last line (being written, or torn)");
    }
    if r.truncated {
        eprintln!("sdkgw: audit: more events match; raise --limit or narrow the filters");
    }
}

/// Detail fields shown in the table (all of them are in `--output json`).
const SHOWN: &[&str] = &[
    "mailbox",
    "client",
    "outcome",
    "status",
    "as4_message_id",
    "xhe_id",
    "message_id",
    "sender_participant",
    "recipient_participant",
    "sending_ap",
    "receiving_ap",
    "error_code",
    "from",
    "to",
    "channel",
];

fn print_table(r: &SearchResult) {
    println!(
        "{:<8} {:<30} {:<28} {:<18} {:<36} DETAIL",
        "SEQ", "TIME", "EVENT", "ACTOR", "MESSAGE"
    );
    for e in &r.events {
        let at = e.at.format(&Rfc3339).unwrap_or_default();
        let message = e.message.map(|k| k.to_string()).unwrap_or_default();
        let detail: Vec<String> = SHOWN
            .iter()
            .filter_map(|k| {
                e.detail.get(*k).map(|v| match v.as_str() {
                    Some(s) => format!("{k}={s}"),
                    None => format!("{k}={v}"),
                })
            })
            .collect();
        println!(
            "{:<8} {:<30} {:<28} {:<18} {:<36} {}",
            e.seq,
            at,
            e.action,
            e.actor,
            message,
            detail.join(" ")
        );
    }
    println!("{} event(s)", r.events.len());
}

fn verify(args: &VerifyArgs) -> ExitCode {
    let store = match args.store.store_config() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let settings = log_settings(&store);
    ship_if_idle(&store, &settings);
    let report = match audit::verify(Path::new(&settings.dir)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sdkgw: {e}");
            return ExitCode::FAILURE;
        }
    };
    match args.store.output {
        OutputFormat::Json => print_json(&report),
        OutputFormat::Table => {
            let range = match (report.first_seq, report.last_seq) {
                (Some(a), Some(b)) => format!("seq {a}..={b}"),
                _ => "empty".into(),
            };
            println!(
                "{} file(s), {} event(s), {range}",
                report.files, report.events
            );
            for p in &report.problems {
                println!("BROKEN {}:{}: {}", p.file.display(), p.line, p.reason);
            }
            if report.problems.is_empty() {
                println!("hash chain intact");
            }
        }
    }
    if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
