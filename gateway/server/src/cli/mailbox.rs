//! `sdkgw mailbox add|list|show|set|remove`: the function-mailbox registry and each mailbox's
//! notification settings (`sdkgw_server::mailbox` explains the rules: mailboxes declared in
//! the configuration are managed there, others here).
//!
//! Works while the gateway runs (through `<data_dir>/mailbox.sock`) and when it does not (the
//! CLI opens the store, after making the registry follow the configuration).
//!
//! Exit codes: 0 success; 1 the registry failed; 2 refused or input error (unknown mailbox,
//! declared in the configuration, unknown participant, bad URL or address).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand, ValueEnum};
use sdkgw_schemas::{FunctionAddress, ParticipantId};
use sdkgw_server::mailbox::admin::{self, Failure, Request, Response};
use sdkgw_server::mailbox::{Event, Mailbox, NotificationChange, Registry, Source};
use sdkgw_store::SledStore;
use time::OffsetDateTime;

use super::store_common::actor;
use super::{EXIT_INPUT, OutputFormat, print_json};

#[derive(Debug, Subcommand)]
pub(crate) enum MailboxCommand {
    /// Add a function mailbox (not one the configuration declares).
    Add(AddArgs),
    /// List the mailboxes.
    List(ReadArgs),
    /// Show one mailbox with its notification settings.
    Show(ShowArgs),
    /// Change a mailbox's notification settings.
    Set(SetArgs),
    /// Remove a mailbox added with `add` (its messages stay in the store).
    Remove(ShowArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ReadArgs {
    /// The gateway configuration (data_dir, participants, declared mailboxes).
    #[arg(long, env = "SDKGW_CONFIG", value_name = "CFG")]
    config: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The function address.
    address: String,
    #[command(flatten)]
    common: ReadArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EventArg {
    NewMessage,
    DeliveryFailed,
}

#[derive(Debug, Args)]
pub(crate) struct Notify {
    /// Webhook URL (https://); a secret is generated and shown once unless given.
    #[arg(long, value_name = "URL")]
    webhook_url: Option<String>,
    /// Remove the webhook.
    #[arg(long, conflicts_with = "webhook_url")]
    no_webhook: bool,
    /// Read the webhook's HMAC secret from this file (at least 16 bytes) instead.
    #[arg(long, value_name = "FILE")]
    webhook_secret_file: Option<PathBuf>,
    /// Generate a new webhook secret (shown once).
    #[arg(long)]
    rotate_secret: bool,
    /// E-mail recipient; repeatable. Replaces the current list.
    #[arg(long, value_name = "ADDR")]
    email: Vec<String>,
    /// Remove every e-mail recipient.
    #[arg(long, conflicts_with = "email")]
    no_email: bool,
    /// Which events are notified (comma-separated); default both.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "EVENTS")]
    notify_on: Vec<EventArg>,
}

#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// The organisation (a configured participant, `0203:…`).
    participant: String,
    /// The function address (as in DIGG's address book).
    address: String,
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    notify: Notify,
    #[command(flatten)]
    common: ReadArgs,
}

#[derive(Debug, Args)]
pub(crate) struct SetArgs {
    /// The function address.
    address: String,
    #[command(flatten)]
    notify: Notify,
    #[command(flatten)]
    common: ReadArgs,
}

fn input_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("sdkgw: {message}");
    ExitCode::from(EXIT_INPUT)
}

fn change(n: &Notify) -> Result<NotificationChange, ExitCode> {
    let secret = match &n.webhook_secret_file {
        None => None,
        Some(f) => Some(
            std::fs::read_to_string(f)
                .map(|s| s.trim_end().to_owned())
                .map_err(|e| input_error(format!("{}: {e}", f.display())))?,
        ),
    };
    Ok(NotificationChange {
        webhook_url: match (&n.webhook_url, n.no_webhook) {
            (Some(u), _) => Some(Some(u.clone())),
            (None, true) => Some(None),
            (None, false) => None,
        },
        webhook_secret: secret,
        rotate_secret: n.rotate_secret,
        email: if n.no_email {
            Some(Vec::new())
        } else if n.email.is_empty() {
            None
        } else {
            Some(n.email.clone())
        },
        events: (!n.notify_on.is_empty()).then(|| {
            n.notify_on
                .iter()
                .map(|e| match e {
                    EventArg::NewMessage => Event::NewMessage,
                    EventArg::DeliveryFailed => Event::DeliveryFailed,
                })
                .collect()
        }),
    })
}

fn address(s: &str) -> Result<FunctionAddress, ExitCode> {
    FunctionAddress::parse(s).map_err(input_error)
}

pub(crate) fn run(cmd: MailboxCommand) -> ExitCode {
    let user = actor();
    let (common, request, reveal) = match &cmd {
        MailboxCommand::List(a) => (a, Ok(Request::List), false),
        MailboxCommand::Show(a) => (
            &a.common,
            address(&a.address).map(|address| Request::Show { address }),
            false,
        ),
        MailboxCommand::Remove(a) => (
            &a.common,
            address(&a.address).map(|address| Request::Remove {
                address,
                actor: user,
            }),
            false,
        ),
        MailboxCommand::Add(a) => {
            let req = (|| {
                Ok(Request::Add {
                    address: address(&a.address)?,
                    participant: a
                        .participant
                        .parse::<ParticipantId>()
                        .map_err(input_error)?,
                    name: a.name.clone(),
                    notifications: change(&a.notify)?,
                    actor: user,
                })
            })();
            let reveal = a.notify.webhook_url.is_some() && a.notify.webhook_secret_file.is_none();
            (&a.common, req, reveal)
        }
        MailboxCommand::Set(a) => {
            let req = (|| {
                Ok(Request::Set {
                    address: address(&a.address)?,
                    notifications: change(&a.notify)?,
                    actor: user,
                })
            })();
            let reveal = (a.notify.webhook_url.is_some() || a.notify.rotate_secret)
                && a.notify.webhook_secret_file.is_none();
            (&a.common, req, reveal)
        }
    };
    let request = match request {
        Ok(r) => r,
        Err(code) => return code,
    };
    match call(&common.config, request) {
        Ok(response) => {
            print(&response, common.output, reveal);
            ExitCode::SUCCESS
        }
        Err(f) if f.input => input_error(f.message),
        Err(f) => {
            eprintln!("sdkgw: {}", f.message);
            ExitCode::FAILURE
        }
    }
}

/// Through the running gateway, or with the store opened here.
fn call(config_file: &std::path::Path, request: Request) -> Result<Response, Failure> {
    let fail = |input: bool, message: String| Failure { input, message };
    let loaded = sdkgw_server::config::load(config_file);
    let Some(config) = loaded.config else {
        let errors: Vec<String> = loaded.findings.errors().map(|f| f.to_string()).collect();
        return Err(fail(
            true,
            format!("{}: {}", config_file.display(), errors.join("; ")),
        ));
    };
    if let Some(r) = admin::call(&config.data_dir, &request)? {
        return Ok(r);
    }
    let store = SledStore::open(config.store.clone()).map_err(|e| fail(false, e.to_string()))?;
    let now = OffsetDateTime::now_utc();
    let (registry, _) = Registry::open(Arc::new(store), &config, now).map_err(Failure::from)?;
    admin::execute(&registry, request, now).map_err(Failure::from)
}

fn print(response: &Response, output: OutputFormat, reveal: bool) {
    let list: Vec<&Mailbox> = match response {
        Response::List(l) => l.iter().collect(),
        Response::Mailbox(m) => vec![m.as_ref()],
    };
    if reveal && let Some(w) = list.first().and_then(|m| m.notifications.webhook.as_ref()) {
        eprintln!(
            "sdkgw: webhook secret (shown only now; the receiver verifies X-Sdkgw-Signature with it):\n{}",
            w.secret
        );
    }
    match output {
        OutputFormat::Json => {
            let views: Vec<serde_json::Value> = list.iter().map(|m| view(m)).collect();
            match response {
                Response::List(_) => print_json(&views),
                Response::Mailbox(_) => print_json(&views[0]),
            }
        }
        OutputFormat::Table => {
            println!(
                "{:<28} {:<28} {:<9} {:<28} NOTIFY",
                "ADDRESS", "PARTICIPANT", "SOURCE", "NAME"
            );
            for m in &list {
                println!(
                    "{:<28} {:<28} {:<9} {:<28} {}",
                    m.address,
                    m.participant,
                    source(m.source),
                    m.name.as_deref().unwrap_or("-"),
                    channels(m)
                );
            }
        }
    }
}

fn source(s: Source) -> &'static str {
    match s {
        Source::Config => "config",
        Source::Operator => "operator",
    }
}

fn channels(m: &Mailbox) -> String {
    let n = &m.notifications;
    let mut parts = Vec::new();
    if let Some(w) = &n.webhook {
        parts.push(format!("webhook {} ({})", w.url, w.secret_fingerprint()));
    }
    if !n.email.is_empty() {
        parts.push(format!("email {}", n.email.join(",")));
    }
    if parts.is_empty() {
        return "-".into();
    }
    let events: Vec<&str> = n.events.iter().map(|e| e.as_str()).collect();
    format!("{} on {}", parts.join("; "), events.join(","))
}

/// A mailbox as shown: the webhook secret only as a fingerprint.
fn view(m: &Mailbox) -> serde_json::Value {
    let n = &m.notifications;
    serde_json::json!({
        "address": m.address.as_str(),
        "participant": m.participant.value(),
        "name": m.name,
        "source": source(m.source),
        "created_at": m.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "created_by": m.created_by,
        "notifications": {
            "webhook": n.webhook.as_ref().map(|w| serde_json::json!({
                "url": w.url, "secret": w.secret_fingerprint(),
            })),
            "email": n.email,
            "events": n.events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        },
    })
}
