//! `sdkgw message show ID`: one message's metadata, state history, evidence and ids.

use std::process::ExitCode;

use clap::Subcommand;
use sdkgw_store::MessageRecord;
use sdkgw_store::admin::{Request, Response};

use super::store_common::{StoreArgs, call, opt, table, when};
use super::{OutputFormat, print_json};

#[derive(Debug, Subcommand)]
pub(crate) enum MessageCommand {
    /// Metadata, state history, content, evidence and correlation ids of one message.
    Show {
        /// Message key, XHE id, AS4 MessageId, ConversationId or receipt id.
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub(crate) fn run(cmd: MessageCommand) -> ExitCode {
    match cmd {
        MessageCommand::Show { id, store } => act(&store, &Request::Show { id }),
    }
}

/// Runs a request that answers with one message and prints it.
pub(crate) fn act(store: &StoreArgs, request: &Request) -> ExitCode {
    let record = match call(store, request, "message") {
        Ok(Response::Message(r)) => r,
        Ok(_) => return ExitCode::FAILURE,
        Err(code) => return code,
    };
    match store.output {
        OutputFormat::Json => print_json(&record),
        OutputFormat::Table => println!("{}", render(&record)),
    }
    ExitCode::SUCCESS
}

fn render(r: &MessageRecord) -> String {
    let c = &r.correlation;
    let mut out = vec![
        format!("key:              {}", r.key),
        format!("direction:        {}", r.direction),
        format!(
            "state:            {} since {}",
            r.state,
            when(Some(r.state_since))
        ),
        format!("mailbox:          {}", opt(&r.mailbox)),
        format!("sender:           {}", opt(&r.sender)),
        format!("recipient:        {}", opt(&r.recipient)),
        format!("document type:    {}", opt(&r.document_type)),
        format!("created:          {}", when(Some(r.created_at))),
        format!("XHE id:           {}", opt(&c.xhe_id)),
        format!("AS4 MessageId:    {}", opt(&c.as4_message_id)),
        format!("ConversationId:   {}", opt(&c.conversation_id)),
        format!("receipt id:       {}", opt(&c.receipt_id)),
        format!("attempts:         {}", r.attempts),
        format!("next attempt:     {}", when(r.next_attempt_at)),
        format!("last error:       {}", opt(&r.last_error)),
        format!("content deleted:  {}", when(r.content_deleted_at)),
        String::new(),
        "history:".into(),
    ];
    let history: Vec<Vec<String>> = r
        .history
        .iter()
        .map(|h| {
            vec![
                when(Some(h.at)),
                h.from.map_or_else(|| "-".into(), |f| f.to_string()),
                h.to.to_string(),
                h.actor.clone(),
                opt(&h.note),
            ]
        })
        .collect();
    out.push(table(&["AT", "FROM", "TO", "ACTOR", "NOTE"], &history));
    out.push(String::new());
    out.push("content and evidence:".into());
    let blobs: Vec<Vec<String>> = r
        .content
        .iter()
        .map(|a| ("content", a.role.clone(), "-".to_owned(), &a.blob))
        .chain(
            r.evidence
                .iter()
                .map(|e| ("evidence", e.kind.clone(), when(Some(e.at)), &e.blob)),
        )
        .map(|(what, name, at, b)| {
            vec![
                what.into(),
                name,
                at,
                b.len.to_string(),
                b.sha256.clone(),
                b.id.hex(),
            ]
        })
        .collect();
    out.push(table(
        &["WHAT", "ROLE/KIND", "AT", "BYTES", "SHA-256", "BLOB"],
        &blobs,
    ));
    out.join("\n")
}
