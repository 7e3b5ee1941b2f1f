//! `sdkgw as4 send|inspect`: one AS4 exchange by hand, and offline inspection of a captured
//! message.

use std::path::PathBuf;
use std::process::ExitCode;

use sdkgw_as4::ebms::Leg;
use sdkgw_as4::inspect::{Inputs, Level, inspect};
use sdkgw_as4::msh::{AttemptOutcome, MessageTrust, Route, check_served, prepare};
use sdkgw_certs::{PasswordSource, load_certificates, load_private_key};
use sdkgw_server::config::{Config, runtime};
use sdkgw_server::serve::configured_sender;
use time::OffsetDateTime;

use super::{EXIT_INPUT, OutputFormat, print_json};

/// AS4: send a message by hand, inspect captured messages.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum As4Command {
    /// Send one XHE to an access point (one attempt) and print the signal received and its
    /// verification. Exit 0 when a valid receipt came back, 1 otherwise.
    Send(SendArgs),
    /// Parse, decrypt and verify a captured AS4 message offline and print its headers and the
    /// security findings. Exit 1 when a finding is an error.
    Inspect(InspectArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct SendArgs {
    /// Our gateway configuration (AP key, TLS client key, trust stores).
    #[arg(long, env = "SDKGW_CONFIG", value_name = "CFG")]
    config: PathBuf,
    /// The receiving AP's endpoint (SMP `EndpointURI`).
    #[arg(long, value_name = "URL")]
    to_url: String,
    /// The receiving AP's certificate (SMP `Endpoint/Certificate`; PEM or DER).
    #[arg(long, value_name = "CERT")]
    to_cert: PathBuf,
    /// The XHE envelope to send (sealed by C1; sent byte-identical).
    #[arg(long, value_name = "FILE")]
    xhe: PathBuf,
    /// The XHE is a Meddelandekvittens (receipt leg); default the SDK message leg.
    #[arg(long)]
    receipt_leg: bool,
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub(crate) struct InspectArgs {
    /// The capture: `Content-Type: …`, an empty line, the HTTP body (or a bare MIME body or
    /// SOAP envelope).
    file: PathBuf,
    /// Our AP private key (PEM, DER or PKCS#12) to decrypt the attachments with.
    #[arg(long, value_name = "K")]
    key: Option<PathBuf>,
    /// Name of the environment variable holding the key file's password.
    #[arg(long, value_name = "VAR")]
    key_password_env: Option<String>,
    /// A file holding the key file's password.
    #[arg(long, value_name = "FILE")]
    key_password_file: Option<PathBuf>,
    /// A gateway configuration whose AS4 trust store validates the signer's certificate.
    #[arg(long, value_name = "CFG")]
    config: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

pub(crate) fn run(cmd: As4Command) -> ExitCode {
    match cmd {
        As4Command::Send(a) => send(a),
        As4Command::Inspect(a) => run_inspect(a),
    }
}

fn load_config(path: &std::path::Path) -> Result<Config, ExitCode> {
    let loaded = sdkgw_server::config::load(path);
    loaded.config.ok_or_else(|| {
        for f in loaded.findings.errors() {
            eprintln!("sdkgw: {}: {f}", path.display());
        }
        ExitCode::from(EXIT_INPUT)
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("sdkgw: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        })
}

fn input_error(what: impl std::fmt::Display) -> ExitCode {
    eprintln!("sdkgw: {what}");
    ExitCode::from(EXIT_INPUT)
}

fn send(a: SendArgs) -> ExitCode {
    match send_inner(a) {
        Ok(code) | Err(code) => code,
    }
}

fn send_inner(a: SendArgs) -> Result<ExitCode, ExitCode> {
    let config = load_config(&a.config)?;
    let certificate = load_certificates(&a.to_cert, None)
        .map_err(|e| input_error(format!("{}: {e}", a.to_cert.display())))?
        .into_iter()
        .next()
        .ok_or_else(|| input_error(format!("{}: no certificate", a.to_cert.display())))?;
    let spool = tempfile::tempdir().map_err(|e| input_error(format!("temp dir: {e}")))?;
    let sender = configured_sender(&config, spool.path().to_path_buf()).map_err(input_error)?;
    let leg = if a.receipt_leg {
        Leg::Receipt
    } else {
        Leg::Message
    };
    let federation = config.environment.federation_id.as_str();
    let (out, _payload) = prepare(
        &a.xhe,
        Some(leg),
        federation,
        spool.path(),
        OffsetDateTime::now_utc(),
    )
    .map_err(|e| input_error(format!("{}: {e}", a.xhe.display())))?;
    let served: Vec<&str> = config.participants.iter().map(|p| p.id.value()).collect();
    check_served(&out.original_sender, &served)
        .map_err(|e| input_error(format!("{}: {e}", a.xhe.display())))?;
    let route = Route {
        endpoint: a.to_url.clone(),
        certificate,
    };
    let attempt = runtime()?.block_on(sender.attempt(&out, &route));
    let (outcome, signal, detail, ok) = describe(&attempt.outcome);
    if a.output == OutputFormat::Json {
        print_json(&serde_json::json!({
            "message_id": out.message_id,
            "conversation_id": out.xhe_id,
            "action": out.action,
            "to_ap": attempt.to_ap,
            "endpoint": a.to_url,
            "outcome": outcome,
            "detail": detail,
            "signal": signal,
        }));
    } else {
        println!("MessageId:      {}", out.message_id);
        println!("ConversationId: {}", out.xhe_id);
        println!("Action:         {}", out.action);
        println!(
            "To AP:          {}",
            attempt.to_ap.as_deref().unwrap_or("-")
        );
        println!("Endpoint:       {}", a.to_url);
        println!("Outcome:        {outcome}");
        for d in &detail {
            println!("  {d}");
        }
        if let Some(s) = &signal {
            println!("Signal received:\n{s}");
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `(outcome, signal XML, verification lines, delivered?)`.
fn describe(o: &AttemptOutcome) -> (&'static str, Option<String>, Vec<String>, bool) {
    match o {
        AttemptOutcome::Delivered(d) => (
            "delivered",
            Some(String::from_utf8_lossy(&d.receipt).into_owned()),
            vec![
                format!("receipt {} verified:", d.receipt_message_id),
                "signed by the receiving AP's certificate (--to-cert) over eb:Messaging and Body"
                    .into(),
                "RefToMessageId is our MessageId".into(),
                "NonRepudiationInformation echoes every reference we signed".into(),
            ],
            true,
        ),
        AttemptOutcome::Rejected {
            errors,
            fault,
            signal,
            http_status,
        } => {
            let mut lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            lines.push(format!("HTTP {http_status}"));
            if let Some(f) = fault {
                lines.push(format!("SOAP Fault {}: {}", f.code, f.reason));
            }
            lines.push("severity failure: final, not retried".into());
            (
                "rejected",
                Some(String::from_utf8_lossy(signal).into_owned()),
                lines,
                false,
            )
        }
        AttemptOutcome::Retry(f) => (
            "no usable answer (would be retried)",
            None,
            vec![format!("{}: {}", f.code.unwrap_or("-"), f.reason)],
            false,
        ),
        AttemptOutcome::Fail(f) => (
            if f.contacted { "failed" } else { "not sent" },
            None,
            vec![format!("{}: {}", f.code.unwrap_or("local"), f.reason)],
            false,
        ),
    }
}

fn run_inspect(a: InspectArgs) -> ExitCode {
    match inspect_inner(a) {
        Ok(code) | Err(code) => code,
    }
}

fn inspect_inner(a: InspectArgs) -> Result<ExitCode, ExitCode> {
    let raw =
        std::fs::read(&a.file).map_err(|e| input_error(format!("{}: {e}", a.file.display())))?;
    let password = match (&a.key_password_env, &a.key_password_file) {
        (Some(v), _) => Some(PasswordSource::Env(v.clone())),
        (None, Some(f)) => Some(PasswordSource::File(f.clone())),
        (None, None) => None,
    };
    let key = a
        .key
        .as_ref()
        .map(|k| {
            load_private_key(k, password.as_ref())
                .map_err(|e| input_error(format!("{}: {e}", k.display())))
        })
        .transpose()?;
    let trust = match &a.config {
        Some(c) => {
            let config = load_config(c)?;
            let t = runtime::load_trust(&config).map_err(|f| {
                for e in f.errors() {
                    eprintln!("sdkgw: {}: {e}", c.display());
                }
                ExitCode::from(EXIT_INPUT)
            })?;
            Some(MessageTrust {
                store: t.as4.store,
                revocation: t.as4.revocation,
            })
        }
        None => None,
    };
    let spool = tempfile::tempdir().map_err(|e| input_error(format!("temp dir: {e}")))?;
    let inputs = Inputs {
        key: key.as_ref(),
        trust: trust.as_ref(),
    };
    let report = runtime()?.block_on(inspect(
        &raw,
        &inputs,
        spool.path(),
        OffsetDateTime::now_utc(),
    ));
    if a.output == OutputFormat::Json {
        print_json(&report);
    } else {
        println!("Content-Type: {}", report.content_type);
        for (cid, ct, len) in &report.parts {
            println!("Part <{cid}> {ct}, {len} bytes");
        }
        println!("\nebMS header:");
        report.header.iter().for_each(|h| println!("  {h}"));
        println!("\nSecurity header:");
        report.security.iter().for_each(|s| println!("  {s}"));
        for t in &report.tokens {
            println!(
                "  Token {}: {} (issuer {}, serial {}, until {})",
                t.id.as_deref().unwrap_or("-"),
                t.subject,
                t.issuer,
                t.serial,
                t.not_after
            );
        }
        println!("\nFindings:");
        for f in &report.findings {
            let tag = match f.level {
                Level::Ok => "ok",
                Level::Info => "info",
                Level::Warning => "WARNING",
                Level::Error => "ERROR",
            };
            println!("  [{tag}] {}", f.text);
        }
    }
    Ok(if report.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
