//! `sdkgw queue ...`: queue statistics, listings, retry and dead letters.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use sdkgw_store::admin::{Request, Response};
use sdkgw_store::{Direction, ListFilter, MessageState, MessageSummary, QueueStats};

use super::store_common::{StoreArgs, actor, call, opt, parse_since, table, when};
use super::{OutputFormat, print_json};

#[derive(Debug, Subcommand)]
pub(crate) enum QueueCommand {
    /// Messages per state, due queue, dead letters.
    Stats(StoreArgs),
    /// List messages (oldest first).
    List(ListArgs),
    /// Make a scheduled message due now, or schedule a failed / dead-lettered one again.
    Retry {
        /// Message key, XHE id, AS4 MessageId, ConversationId or receipt id.
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Dead letters: messages whose retries are exhausted.
    #[command(subcommand)]
    DeadLetter(DeadLetterCommand),
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only this state (e.g. scheduled, dead-lettered, filed).
    #[arg(long, value_parser = parse_state)]
    state: Option<MessageState>,
    /// Only this function mailbox (funktionsadress).
    #[arg(long, value_name = "FA")]
    mailbox: Option<String>,
    /// Only inbound or outbound.
    #[arg(long, value_parser = parse_direction)]
    direction: Option<Direction>,
    /// Only messages that entered their state (or were created) at or after T: RFC 3339 or a
    /// duration ago (2h, 3d).
    #[arg(long, value_name = "T", value_parser = parse_since)]
    since: Option<time::OffsetDateTime>,
    /// At most this many rows.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DeadLetterCommand {
    /// List dead letters.
    List {
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Schedule a dead letter for delivery again (due now).
    Requeue {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Give up on a dead letter: it becomes failed and its content is deleted (metadata,
    /// history and evidence stay).
    Purge {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn parse_state(s: &str) -> Result<MessageState, String> {
    s.parse()
        .map_err(|e: sdkgw_store::StoreError| e.to_string())
}

fn parse_direction(s: &str) -> Result<Direction, String> {
    match s {
        "inbound" => Ok(Direction::Inbound),
        "outbound" => Ok(Direction::Outbound),
        _ => Err("direction is inbound or outbound".into()),
    }
}

pub(crate) fn run(cmd: QueueCommand) -> ExitCode {
    match cmd {
        QueueCommand::Stats(store) => match call(&store, &Request::Stats, "stats") {
            Ok(Response::Stats(s)) => print_stats(&s, store.output),
            Ok(_) => ExitCode::FAILURE,
            Err(code) => code,
        },
        QueueCommand::List(args) => {
            let filter = ListFilter {
                state: args.state,
                mailbox: args.mailbox,
                direction: args.direction,
                since: args.since,
                limit: args.limit,
            };
            list(&args.store, &Request::List { filter })
        }
        QueueCommand::Retry { id, store } => {
            super::store_message::act(&store, &Request::Retry { id, actor: actor() })
        }
        QueueCommand::DeadLetter(DeadLetterCommand::List { limit, store }) => {
            list(&store, &Request::DeadLetterList { limit })
        }
        QueueCommand::DeadLetter(DeadLetterCommand::Requeue { id, store }) => {
            super::store_message::act(&store, &Request::Requeue { id, actor: actor() })
        }
        QueueCommand::DeadLetter(DeadLetterCommand::Purge { id, store }) => {
            super::store_message::act(&store, &Request::Purge { id, actor: actor() })
        }
    }
}

fn list(store: &StoreArgs, request: &Request) -> ExitCode {
    let rows = match call(store, request, "list") {
        Ok(Response::List(rows)) => rows,
        Ok(_) => return ExitCode::FAILURE,
        Err(code) => return code,
    };
    match store.output {
        OutputFormat::Json => print_json(&rows),
        OutputFormat::Table => println!("{}", summary_table(&rows)),
    }
    ExitCode::SUCCESS
}

fn summary_table(rows: &[MessageSummary]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.key.to_string(),
                r.direction.to_string(),
                r.state.to_string(),
                when(Some(r.state_since)),
                opt(&r.mailbox),
                opt(&r.xhe_id),
                r.attempts.to_string(),
                when(r.next_attempt_at),
                opt(&r.last_error),
            ]
        })
        .collect();
    let headers = [
        "KEY",
        "DIR",
        "STATE",
        "SINCE",
        "MAILBOX",
        "XHE-ID",
        "TRIES",
        "NEXT",
        "LAST-ERROR",
    ];
    format!("{}\n({} messages)", table(&headers, &cells), rows.len())
}

fn print_stats(s: &QueueStats, output: OutputFormat) -> ExitCode {
    match output {
        OutputFormat::Json => print_json(s),
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = s
                .by_state
                .iter()
                .map(|(st, n)| vec![st.direction().to_string(), st.to_string(), n.to_string()])
                .collect();
            println!("{}", table(&["DIR", "STATE", "COUNT"], &rows));
            println!();
            println!("due now:       {}", s.due_now);
            println!("oldest due:    {}", when(s.oldest_due));
            println!("dead letters:  {}", s.dead_letters);
            println!("de-dup keys:   {}", s.dedup_entries);
            println!("audit events:  {}", s.audit_entries);
        }
    }
    ExitCode::SUCCESS
}
