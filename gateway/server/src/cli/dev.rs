//! `sdkgw dev ...`: local stand-ins for federation services, for development and the demo.
//!
//! `sdkgw dev smp-server --pki DIR [--listen ADDR]` serves signed SMP metadata (with CertPub)
//! for every organisation of the development PKI over HTTPS, signed by the PKI's SMP signer,
//! until Ctrl-C, printing each request. Switches make it publish the PKI's expired, revoked or
//! foreign-environment AP certificate for some organisations, leave document types out,
//! answer slowly, or fail every request.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use sdkgw_address_book::fake::{self, DevPkiOptions};
use sdkgw_schemas::{DocumentId, ParticipantId};

use super::EXIT_INPUT;
use sdkgw_server::config::{self, AddressBookSource};

#[derive(Debug, Subcommand)]
pub(crate) enum DevCommand {
    /// Serve a fake SMP for the development PKI's organisations (signed metadata over HTTPS).
    SmpServer(SmpServerArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SmpServerArgs {
    /// The development PKI directory (`sdkgw pki init`).
    #[arg(long, value_name = "DIR")]
    pki: PathBuf,
    /// Address to listen on (default: the one in the PKI's configurations' address_book.url).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Publish the PKI's expired AP certificate for this participant (repeatable).
    #[arg(long, value_name = "PARTICIPANT")]
    expired_ap: Vec<ParticipantId>,
    /// Publish the PKI's revoked AP certificate for this participant (repeatable).
    #[arg(long, value_name = "PARTICIPANT")]
    revoked_ap: Vec<ParticipantId>,
    /// Publish the AP certificate of another environment for this participant (repeatable).
    #[arg(long, value_name = "PARTICIPANT")]
    foreign_ap: Vec<ParticipantId>,
    /// Leave a document type out: PARTICIPANT=DOCUMENT-ID (repeatable; answers 404).
    #[arg(long, value_name = "P=DT", value_parser = parse_missing)]
    missing_document: Vec<(ParticipantId, DocumentId)>,
    /// Wait this long before every answer (e.g. 500ms, 3s).
    #[arg(long, value_name = "DURATION", value_parser = parse_delay)]
    delay: Option<Duration>,
    /// Answer every request with this HTTP status (e.g. 503).
    #[arg(long, value_name = "STATUS")]
    fail_status: Option<u16>,
}

fn parse_missing(s: &str) -> Result<(ParticipantId, DocumentId), String> {
    let (p, d) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected PARTICIPANT=DOCUMENT-ID"))?;
    Ok((
        p.parse().map_err(|e| format!("{p:?}: {e}"))?,
        DocumentId::parse(d).map_err(|e| format!("{d:?}: {e}"))?,
    ))
}

fn parse_delay(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected e.g. 500ms or 3s"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        _ => Err(format!("{s:?}: the unit must be ms or s")),
    }
}

pub(crate) fn run(cmd: DevCommand) -> ExitCode {
    match cmd {
        DevCommand::SmpServer(args) => smp_server(args),
    }
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("sdkgw: {message}");
    ExitCode::from(EXIT_INPUT)
}

/// The SMP address the development PKI's configurations expect.
fn configured_listen(pki: &std::path::Path) -> Result<SocketAddr, String> {
    let manifest = sdkgw_certs::devpki::read_manifest(pki).map_err(|e| e.to_string())?;
    let org = manifest
        .organisations
        .first()
        .ok_or("the development PKI has no organisation")?;
    let file = pki.join(&org.config);
    let loaded = config::load(&file);
    let Some(AddressBookSource::Smp { url }) = loaded.ok().map(|c| &c.address_book) else {
        return Err(format!(
            "{} has no [address_book] source = \"smp\"; give --listen",
            file.display()
        ));
    };
    let authority = url
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    authority
        .parse()
        .map_err(|_| format!("address_book.url {url:?} is not host:port on an IP; give --listen"))
}

fn smp_server(a: SmpServerArgs) -> ExitCode {
    let listen = match a.listen.map_or_else(|| configured_listen(&a.pki), Ok) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let options = DevPkiOptions {
        expired_ap: a.expired_ap,
        revoked_ap: a.revoked_ap,
        foreign_ap: a.foreign_ap,
        missing_documents: a.missing_document,
    };
    let smp = match fake::from_dev_pki(&a.pki, &options) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    smp.set_delay(a.delay.unwrap_or_default());
    smp.set_failure(a.fail_status);
    let tls = match fake::tls_identity_from_dev_pki(&a.pki) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    runtime.block_on(async move {
        let running = match smp.serve(listen, tls).await {
            Ok(r) => r,
            Err(e) => return fail(e),
        };
        println!(
            "fake SMP for {} organisations on {} (Ctrl-C stops)",
            smp.participants().len(),
            running.url()
        );
        for p in smp.participants() {
            println!("  {p}");
        }
        let mut printed = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = tick.tick() => {
                    let log = smp.requests();
                    let mut stdout = std::io::stdout().lock();
                    for r in log.iter().skip(printed) {
                        // A closed stdout (the reader went away) must not stop the server.
                        let _ = writeln!(stdout, "{} {} -> {}", r.method, r.path, r.status);
                    }
                    let _ = stdout.flush();
                    printed = log.len();
                }
            }
        }
        running.shutdown().await;
        ExitCode::SUCCESS
    })
}
