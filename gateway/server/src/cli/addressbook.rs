//! `sdkgw addressbook ...`: look recipients up, list and search the directory, import it,
//! refresh cached SMP answers, show cache statistics.
//!
//! Every command takes `--config CFG` (the data directory comes from it). When a gateway runs
//! on that data directory it answers on `<data_dir>/address-book.sock` and the command uses
//! its cache; otherwise the command opens the store itself.
//!
//! Exit codes: 0 success (for `lookup`: a usable route); 1 the lookup gave no usable route,
//! an import was refused, a refresh failed; 2 usage or input error (bad id, unreadable or
//! invalid file or configuration, store in use).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use sdkgw_address_book::admin::{
    AdminClient, CertView, EntryView, LookupReport, Request, Response, StatsReport, execute,
};
use sdkgw_address_book::directory::{self, ImportFormat, Listing};
use sdkgw_certs::rfc3339;
use sdkgw_schemas::{DocumentId, ParticipantId, TransportModel, codelists};
use sdkgw_store::SledStore;

use super::store_common::table;
use super::{EXIT_INPUT, OutputFormat, print_json};
use sdkgw_server::addressbook;
use sdkgw_server::config::{self, Config};

#[derive(Debug, Subcommand)]
pub(crate) enum AddressBookCommand {
    /// Look a participant up: endpoint, AP party id, AP and O2O certificates, cache age, source.
    Lookup(LookupArgs),
    /// List and search organisations and function addresses (imported directory, SMP cache,
    /// the organisations this gateway serves).
    List(ListArgs),
    /// Replace the imported directory with an export (JSON or CSV; formats in the README).
    Import(ImportArgs),
    /// Fetch cached entries from the SMP again (one, one participant's, or all).
    Refresh(RefreshArgs),
    /// Cache counters and contents, and the imported directory.
    Stats(Common),
}

#[derive(Debug, Args)]
pub(crate) struct Common {
    /// The gateway configuration (its data_dir holds the cache).
    #[arg(long, env = "SDKGW_CONFIG", value_name = "CFG")]
    config: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

#[derive(Debug, Args)]
pub(crate) struct LookupArgs {
    /// Participant id, e.g. 0203:sundbyberg.se.
    participant: String,
    /// Document type: a busdox-docid-qns id, or message, receipt, message-base, receipt-base.
    #[arg(long, value_name = "DT", default_value = "message")]
    document_type: String,
    /// Ask the SMP now instead of using the cache.
    #[arg(long)]
    fresh: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only rows where any id, name, description, category or keyword contains TEXT.
    #[arg(long, value_name = "TEXT")]
    search: Option<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The export file (.json or .csv).
    file: PathBuf,
    /// The file format (default: by extension, else by content).
    #[arg(long, value_parser = ["json", "csv"])]
    format: Option<String>,
    /// Accept an empty import, or one that removes more than half of the organisations.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
pub(crate) struct RefreshArgs {
    /// Only this participant (default: every cached entry).
    participant: Option<String>,
    /// Only this document type (with a participant).
    #[arg(long, value_name = "DT")]
    document_type: Option<String>,
    #[command(flatten)]
    common: Common,
}

pub(crate) fn run(cmd: AddressBookCommand) -> ExitCode {
    let result = match cmd {
        AddressBookCommand::Lookup(a) => lookup(a),
        AddressBookCommand::List(a) => list(a),
        AddressBookCommand::Import(a) => import(a),
        AddressBookCommand::Refresh(a) => refresh(a),
        AddressBookCommand::Stats(c) => stats(c),
    };
    result.unwrap_or_else(|code| code)
}

fn input_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("sdkgw: {message}");
    ExitCode::from(EXIT_INPUT)
}

fn parse_participant(s: &str) -> Result<ParticipantId, ExitCode> {
    s.parse()
        .map_err(|e| input_error(format!("participant {s:?}: {e}")))
}

fn parse_document(s: &str) -> Result<DocumentId, ExitCode> {
    let lists = codelists();
    let shortcut = match s {
        "message" => Some(lists.sdk_message_document(TransportModel::ExtSigenc)),
        "receipt" => Some(lists.receipt_document(TransportModel::ExtSigenc)),
        "message-base" => Some(lists.sdk_message_document(TransportModel::Base)),
        "receipt-base" => Some(lists.receipt_document(TransportModel::Base)),
        _ => None,
    };
    match shortcut {
        Some(d) => Ok(d.clone()),
        None => DocumentId::parse(s).map_err(|e| input_error(format!("document type {s:?}: {e}"))),
    }
}

fn load_config(path: &Path) -> Result<Config, ExitCode> {
    let loaded = config::load(path);
    match loaded.ok() {
        Some(c) => Ok(c.clone()),
        None => {
            for f in loaded.findings.errors() {
                eprintln!("sdkgw: {}: {f}", path.display());
            }
            Err(ExitCode::from(EXIT_INPUT))
        }
    }
}

/// Runs `request` through the running gateway's socket, or against the store directly.
fn call(config: &Config, request: Request) -> Result<Response, ExitCode> {
    let remote = AdminClient::connect(&config.data_dir).map_err(input_error)?;
    if let Some(client) = remote {
        return client
            .call(&request, Duration::from_secs(120))
            .map_err(|e| admin_failure(&e));
    }
    let store = SledStore::open(config.store.clone()).map_err(|e| {
        input_error(format!(
            "cannot open the data directory {} ({e}); if a gateway runs there, it does not \
             serve {}",
            config.data_dir.display(),
            sdkgw_address_book::admin::SOCKET_NAME
        ))
    })?;
    let services = addressbook::services(config, &store, false).map_err(input_error)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(input_error)?;
    runtime
        .block_on(execute(&services, request))
        .map_err(|e| admin_failure(&e))
}

/// A refused request (e.g. an import removing too much) is a failure; anything else about
/// reaching the address book is an input/environment error.
fn admin_failure(e: &sdkgw_address_book::admin::AdminError) -> ExitCode {
    eprintln!("sdkgw: {e}");
    if e.code == "invalid" {
        ExitCode::FAILURE
    } else {
        ExitCode::from(EXIT_INPUT)
    }
}

fn unexpected() -> ExitCode {
    eprintln!("sdkgw: unexpected answer from the address book");
    ExitCode::FAILURE
}

fn lookup(a: LookupArgs) -> Result<ExitCode, ExitCode> {
    let participant = parse_participant(&a.participant)?;
    let document = parse_document(&a.document_type)?;
    let config = load_config(&a.common.config)?;
    let request = Request::Lookup {
        participant,
        document,
        fresh: a.fresh,
    };
    let Response::Lookup(report) = call(&config, request)? else {
        return Err(unexpected());
    };
    match a.common.output {
        OutputFormat::Json => print_json(&report),
        OutputFormat::Table => print_lookup(&report),
    }
    let usable = report.result.as_ref().is_ok_and(|e| e.route.is_ok());
    Ok(if usable {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn cert_line(c: &CertView) -> String {
    format!(
        "{}\n{:17}issuer {}\n{:17}valid {} .. {}, serial {}\n{:17}sha256 {}",
        c.subject,
        "",
        c.issuer,
        "",
        rfc3339(c.not_before),
        rfc3339(c.not_after),
        c.serial,
        "",
        c.sha256
    )
}

fn print_lookup(r: &LookupReport) {
    let row = |k: &str, v: &str| println!("{k:16} {v}");
    row("participant", r.participant.value());
    row("document type", &r.document.qualified());
    let e: &EntryView = match &r.result {
        Ok(e) => e,
        Err(err) => {
            row("result", &format!("{} ({})", err, err.label()));
            return;
        }
    };
    let stale = e
        .stale_reason
        .as_ref()
        .map(|s| format!("; refresh failed: {s}"))
        .unwrap_or_default();
    row(
        "answer",
        &format!(
            "{} (from {}), fetched {}, age {} s{stale}",
            e.freshness,
            e.served_from,
            rfc3339(e.fetched_at),
            e.age_seconds
        ),
    );
    row(
        "source",
        &format!("{} ({})", e.provenance.url, e.provenance.located_by),
    );
    row(
        "signed by",
        &format!(
            "{} (sha256 {})",
            e.provenance.signer, e.provenance.signer_fingerprint
        ),
    );
    match &e.route {
        Ok(route) => {
            row(
                "endpoint",
                &format!("{} ({})", route.endpoint_url, route.transport_profile),
            );
            row("AP party id", &route.ap_party_id);
            if let Some(w) = &route.ap_warning {
                row("AP warning", w);
            }
            row("AP certificate", &cert_line(&route.ap_certificate));
        }
        Err(err) => row("route", &format!("NONE: {err}")),
    }
    match &e.encryption {
        Ok(c) => row("O2O encryption", &cert_line(c)),
        Err(err) => row("O2O encryption", &format!("NONE: {err}")),
    }
    match &e.signing {
        Ok(certs) => {
            for c in certs {
                row("O2O signing", &cert_line(c));
            }
        }
        Err(err) => row("O2O signing", &format!("NONE: {err}")),
    }
    for n in &e.notes {
        row("note", n);
    }
}

fn list(a: ListArgs) -> Result<ExitCode, ExitCode> {
    let config = load_config(&a.common.config)?;
    let request = Request::List {
        search: a.search,
        local: addressbook::local_organisations(&config),
    };
    let Response::List(rows) = call(&config, request)? else {
        return Err(unexpected());
    };
    match a.common.output {
        OutputFormat::Json => print_json(&rows),
        OutputFormat::Table => print_list(&rows),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_list(rows: &[Listing]) {
    let mut out = Vec::new();
    for r in rows {
        let name = r
            .directory
            .as_ref()
            .map(|o| o.name.clone())
            .unwrap_or_default();
        let functions: Vec<String> = match (&r.directory, &r.local) {
            (Some(o), _) => o
                .functions
                .iter()
                .map(|f| format!("{} ({})", f.id, f.name))
                .collect(),
            (None, Some(l)) => l
                .mailboxes
                .iter()
                .map(|(a, n)| match n {
                    Some(n) => format!("{a} ({n})"),
                    None => a.clone(),
                })
                .collect(),
            (None, None) => Vec::new(),
        };
        let smp = r
            .smp
            .as_ref()
            .map(|s| {
                format!(
                    "{} doc types{}",
                    s.documents.len(),
                    s.ap_party_id
                        .as_ref()
                        .map(|a| format!(", {a}"))
                        .unwrap_or_default()
                )
            })
            .unwrap_or_else(|| "-".into());
        let sources: Vec<&str> = [
            r.directory.as_ref().map(|_| "directory"),
            r.smp.as_ref().map(|_| "smp"),
            r.local.as_ref().map(|_| "local"),
        ]
        .into_iter()
        .flatten()
        .collect();
        out.push(vec![
            r.id.to_string(),
            name,
            functions.join(", "),
            smp,
            sources.join("+"),
        ]);
    }
    println!(
        "{}",
        table(
            &["PARTICIPANT", "NAME", "FUNCTION ADDRESSES", "SMP", "SOURCE"],
            &out
        )
    );
    println!("{} organisations", rows.len());
}

fn import(a: ImportArgs) -> Result<ExitCode, ExitCode> {
    let config = load_config(&a.common.config)?;
    let bytes = std::fs::read(&a.file)
        .map_err(|e| input_error(format!("cannot read {}: {e}", a.file.display())))?;
    let name = a.file.display().to_string();
    let format = match a.format.as_deref() {
        Some("json") => ImportFormat::Json,
        Some(_) => ImportFormat::Csv,
        None => ImportFormat::detect(&name, &bytes),
    };
    let organisations = directory::format::parse(&bytes, format)
        .map_err(|e| input_error(format!("{name}: {e}")))?;
    let request = Request::Import {
        organisations,
        source: name,
        force: a.force,
    };
    let Response::Import(report) = call(&config, request)? else {
        return Err(unexpected());
    };
    match a.common.output {
        OutputFormat::Json => print_json(&report),
        OutputFormat::Table => println!(
            "imported {} organisations with {} function addresses (generation {}): {} added, \
             {} removed, {} changed",
            report.organisations,
            report.functions,
            report.generation,
            report.added,
            report.removed,
            report.changed
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn refresh(a: RefreshArgs) -> Result<ExitCode, ExitCode> {
    let participant = a
        .participant
        .as_deref()
        .map(parse_participant)
        .transpose()?;
    let document = a.document_type.as_deref().map(parse_document).transpose()?;
    if document.is_some() && participant.is_none() {
        return Err(input_error("--document-type needs a participant"));
    }
    let config = load_config(&a.common.config)?;
    let Response::Refresh(outcomes) = call(
        &config,
        Request::Refresh {
            participant,
            document,
        },
    )?
    else {
        return Err(unexpected());
    };
    match a.common.output {
        OutputFormat::Json => print_json(&outcomes),
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = outcomes
                .iter()
                .map(|o| {
                    vec![
                        o.participant.to_string(),
                        o.document.to_string(),
                        o.error
                            .as_ref()
                            .map_or_else(|| "ok".into(), |e| format!("FAILED: {e}")),
                    ]
                })
                .collect();
            println!(
                "{}",
                table(&["PARTICIPANT", "DOCUMENT TYPE", "RESULT"], &rows)
            );
            println!("{} entries refreshed", rows.len());
        }
    }
    Ok(if outcomes.iter().all(|o| o.error.is_none()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn stats(c: Common) -> Result<ExitCode, ExitCode> {
    let config = load_config(&c.config)?;
    let Response::Stats(s) = call(&config, Request::Stats)? else {
        return Err(unexpected());
    };
    match c.output {
        OutputFormat::Json => print_json(&s),
        OutputFormat::Table => print_stats(&s),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_stats(s: &StatsReport) {
    let row = |k: &str, v: String| println!("{k:24} {v}");
    row(
        "counters from",
        if s.from_running_gateway {
            "the running gateway (since it started)".into()
        } else {
            "this command only (no gateway answers on the socket)".into()
        },
    );
    let m = &s.metrics;
    for (name, _, value) in m.samples() {
        let short = name
            .trim_start_matches("sdkgw_address_book_")
            .trim_end_matches("_total");
        row(short, value.to_string());
    }
    row("cached entries", s.entries.to_string());
    row("  fresh (< ttl)", s.fresh.to_string());
    row("  with a usable route", s.routable.to_string());
    row(
        "  oldest",
        s.oldest_age_seconds
            .map_or_else(|| "-".into(), |a| format!("{a} s")),
    );
    let p = &s.policy;
    row(
        "policy",
        format!(
            "ttl {:?}, stale-while-revalidate {:?}, max stale {:?}, negative ttl {:?}",
            p.ttl, p.stale_while_revalidate, p.max_stale, p.negative_ttl
        ),
    );
    row(
        "directory",
        match s.directory_imported_at {
            Some(at) => format!(
                "{} organisations, {} function addresses, generation {}, from {} at {}",
                s.directory_organisations,
                s.directory_functions,
                s.directory_generation,
                s.directory_source,
                rfc3339(at)
            ),
            None => "never imported (sdkgw addressbook import FILE)".into(),
        },
    );
}
