//! The `sdkgw` command tree. Each command group lives in its own module and exposes
//! `run(args) -> ExitCode`; this module only parses and dispatches.
//!
//! Exit codes shared by all commands: 0 success, 1 the checked thing is invalid / the operation
//! failed, 2 usage or input error (unreadable file, bad argument).
//!
//! Output: `println!` and `print!` in this module and every command module are the two macros
//! below, not std's: they write through [`write_stdout`], which ends the command quietly with
//! exit code 0 when stdout is a closed pipe (`sdkgw queue stats | head -3`, like ripgrep)
//! instead of panicking, and with exit code 1 and a message on any other write error.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

// Defined before the `mod` lines, so they shadow std's macros in every command module.
macro_rules! println {
    () => {
        $crate::cli::write_stdout(::std::format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(::std::format_args!("{}\n", ::std::format_args!($($arg)*)))
    };
}

macro_rules! print {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(::std::format_args!($($arg)*))
    };
}

mod addressbook;
mod as4;
mod audit;
mod certs;
mod client;
mod config;
mod dev;
mod envelope;
mod mailbox;
mod pki;
mod quickstart;
mod quickstart_api;
mod quickstart_dir;
mod quickstart_procs;
mod receipt;
mod reload;
mod serve;
mod store;
mod store_common;
mod store_message;
mod store_queue;
mod xml;
mod xml_enc;

/// sdk-gateway: an access point and message service for DIGG's SDK federation.
#[derive(Debug, Parser)]
#[command(name = "sdkgw", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway: AS4 listener, delivery worker, operator sockets (until SIGINT/SIGTERM).
    Serve(serve::Args),
    /// AS4: send one message by hand, inspect captured messages offline.
    #[command(subcommand)]
    As4(as4::As4Command),
    /// The demo: two gateways on loopback, one message with an attachment and its receipt.
    Quickstart(quickstart::Args),
    /// Check or print configuration files.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Inspect certificates and key files.
    #[command(subcommand)]
    Certs(certs::CertsCommand),
    /// Development PKI.
    #[command(subcommand)]
    Pki(pki::PkiCommand),
    /// Sign, verify, encrypt and decrypt XML (XHE/SMP signatures, XML-Enc).
    #[command(subcommand)]
    Xml(xml::XmlCommand),
    /// Message queues: stats, listings, retry, dead letters.
    #[command(subcommand)]
    Queue(store_queue::QueueCommand),
    /// One message: metadata, history, evidence, correlation ids.
    #[command(subcommand)]
    Message(store_message::MessageCommand),
    /// The data directory: check, backup, restore, gc.
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// The address book: SMP lookups, the directory of organisations, cache statistics.
    #[command(subcommand, name = "addressbook")]
    AddressBook(addressbook::AddressBookCommand),
    /// Local stand-ins for federation services (fake SMP) for development and the demo.
    #[command(subcommand)]
    Dev(dev::DevCommand),
    /// XHE envelopes with SDK messages: seal, open, validate.
    #[command(subcommand)]
    Envelope(envelope::EnvelopeCommand),
    /// Meddelandekvittens (receipts): create, validate.
    #[command(subcommand)]
    Receipt(receipt::ReceiptCommand),
    /// The audit log: search it, verify its hash chain.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Mailbox API clients: add, list, revoke, grant (works while the gateway runs).
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Function mailboxes and their notifications (webhook, e-mail).
    #[command(subcommand)]
    Mailbox(mailbox::MailboxCommand),
    /// Reload keys, trust stores and CRLs of the running gateway (like SIGHUP, with a report).
    Reload(reload::Args),
}

/// `--output` of read commands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Aligned text for people.
    #[default]
    Table,
    /// One JSON document for scripts.
    Json,
}

/// Exit code 2: usage or input error.
pub(crate) const EXIT_INPUT: u8 = 2;

/// Writes to stdout for `println!`/`print!`. A reader that went away (EPIPE) ends the process
/// quietly with exit code 0: there is nobody left to tell. Any other error (disk full behind a
/// redirection) ends it with a message and exit code 1.
pub(crate) fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("sdkgw: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// Prints a JSON document to stdout.
pub(crate) fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("sdkgw: cannot encode JSON output: {e}"),
    }
}

pub(crate) fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::As4(cmd) => as4::run(cmd),
        Command::Quickstart(args) => quickstart::run(args),
        Command::Config(cmd) => config::run(cmd),
        Command::Certs(cmd) => certs::run(cmd),
        Command::Pki(cmd) => pki::run(cmd),
        Command::Xml(cmd) => xml::run(cmd),
        Command::Queue(cmd) => store_queue::run(cmd),
        Command::Message(cmd) => store_message::run(cmd),
        Command::Store(cmd) => store::run(cmd),
        Command::AddressBook(cmd) => addressbook::run(cmd),
        Command::Dev(cmd) => dev::run(cmd),
        Command::Envelope(cmd) => envelope::run(cmd),
        Command::Receipt(cmd) => receipt::run(cmd),
        Command::Audit(cmd) => audit::run(cmd),
        Command::Client(cmd) => client::run(cmd),
        Command::Mailbox(cmd) => mailbox::run(cmd),
        Command::Reload(args) => reload::run(args),
    }
}
