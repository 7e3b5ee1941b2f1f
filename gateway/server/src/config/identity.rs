//! `[environment]`, `[ap]` and `[[participants]]`: who this gateway is.

use super::ids::{self, ApPartyId, Environment, FederationId, FunctionAddress, ParticipantId};
use super::reader::Table;

/// `[environment]`
#[derive(Debug, Clone)]
pub struct EnvironmentSection {
    /// `name`: `open-test`, `qa`, `prod` or `dev`.
    pub name: Environment,
    /// `federation_id`; defaults to the environment's federation and must match it if given.
    pub federation_id: FederationId,
}

impl EnvironmentSection {
    pub(crate) fn read(t: &Table<'_>) -> Option<Self> {
        let name = t.parsed("name", ids::environment);
        let given = t.opt_parsed("federation_id", ids::federation);
        let name = name?;
        let expected = name.federation();
        match given {
            Some(f) if f != expected => {
                t.ctx().error(
                    &t.key_path("federation_id"),
                    format!("environment {name} belongs to federation {expected}, not {f}"),
                );
                None
            }
            _ => Some(EnvironmentSection {
                name,
                federation_id: expected,
            }),
        }
    }
}

/// `[ap]`
#[derive(Debug, Clone)]
pub struct ApSection {
    /// `party_id`: our AP party id, the CN of our AP certificate (`AP0001-SDK-QA`).
    pub party_id: ApPartyId,
}

impl ApSection {
    pub(crate) fn read(t: &Table<'_>) -> Option<Self> {
        Some(ApSection {
            party_id: t.parsed("party_id", ids::ap_party)?,
        })
    }
}

/// One `[[participants]]` entry: an organisation identifier we serve.
#[derive(Debug, Clone)]
pub struct Participant {
    /// `id`: `0203:<domain>`.
    pub id: ParticipantId,
    /// `mailboxes`: the function mailboxes (funktionsadresser) of this participant.
    pub mailboxes: Vec<Mailbox>,
}

/// A function mailbox.
#[derive(Debug, Clone)]
pub struct Mailbox {
    /// `address`: the function address as in DIGG's address book.
    pub address: FunctionAddress,
    /// `name`: display name (optional).
    pub name: Option<String>,
}

impl Participant {
    pub(crate) fn read_all(root: &Table<'_>) -> Option<Vec<Self>> {
        let tables = root.tables_required("participants");
        let mut ok = !tables.is_empty();
        let mut out = Vec::new();
        for t in &tables {
            let id = t.parsed("id", ids::participant);
            let mailboxes: Vec<Option<Mailbox>> = t
                .tables("mailboxes")
                .iter()
                .map(|m| {
                    let address = m.parsed("address", ids::function_address);
                    let name = m.opt_str("name");
                    Some(Mailbox {
                        address: address?,
                        name,
                    })
                })
                .collect();
            match (id, mailboxes.iter().all(Option::is_some)) {
                (Some(id), true) => {
                    if out.iter().any(|p: &Participant| p.id == id) {
                        t.ctx()
                            .error(&t.key_path("id"), format!("{id} is listed twice"));
                        ok = false;
                    }
                    out.push(Participant {
                        id,
                        mailboxes: mailboxes.into_iter().flatten().collect(),
                    })
                }
                _ => ok = false,
            }
        }
        ok.then_some(out)
    }
}
