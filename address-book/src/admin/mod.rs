//! Operator access to the address book, while the gateway runs and while it does not.
//!
//! The store's data directory is locked by the process that opened it, so — as for
//! `sdkgw queue|message|store` (`sdkgw_store::admin`) — a running gateway serves address-book
//! requests on a Unix socket, `<data_dir>/address-book.sock` (mode 0600), with [`AdminServer`],
//! and `sdkgw addressbook …` uses it when a gateway answers there; otherwise the CLI opens the
//! store itself and runs the same [`execute`]. Lookups through the socket use (and warm) the
//! gateway's own cache.
//!
//! Protocol: one JSON [`Request`] line; one answer line, `{"ok":…}` or
//! `{"error":{"code":…,"message":…}}`.

mod client;
mod server;

use std::sync::Arc;

use sdkgw_certs::Certificate;
use sdkgw_schemas::{DocumentId, ParticipantId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use client::AdminClient;
pub use server::AdminServer;

use crate::cache::{AddressBook, CachePolicy, Freshness, Lookup, MetricsSnapshot, ServedFrom};
use crate::directory::{
    Directory, ImportOptions, ImportReport, Listing, LocalOrganisation, Organisation,
};
use crate::entry::{Provenance, Route};
use crate::error::LookupError;

/// File name of the socket inside the data directory.
pub const SOCKET_NAME: &str = "address-book.sock";

/// Largest request line (an import carries its organisations).
pub(crate) const MAX_REQUEST: u64 = 80 << 20;

/// An operator request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Look a participant up (through the cache, or from the SMP with `fresh`).
    Lookup {
        /// The participant.
        participant: ParticipantId,
        /// The document type.
        document: DocumentId,
        /// Bypass the cache.
        fresh: bool,
    },
    /// The directory listing (imported, SMP cache, `local`).
    List {
        /// Filter.
        search: Option<String>,
        /// The organisations the gateway serves (from the CLI's configuration).
        local: Vec<LocalOrganisation>,
    },
    /// Replace the imported directory.
    Import {
        /// The parsed file.
        organisations: Vec<Organisation>,
        /// File name, for the record.
        source: String,
        /// Accept empty or large-removal imports.
        force: bool,
    },
    /// Refetch cached entries: one, all of a participant, or all.
    Refresh {
        /// Only this participant.
        participant: Option<ParticipantId>,
        /// Only this document type (with `participant`).
        document: Option<DocumentId>,
    },
    /// Counters and contents.
    Stats,
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum Response {
    /// To `Lookup`.
    Lookup(Box<LookupReport>),
    /// To `List`.
    List(Vec<Listing>),
    /// To `Import`.
    Import(ImportReport),
    /// To `Refresh`.
    Refresh(Vec<RefreshOutcome>),
    /// To `Stats`.
    Stats(Box<StatsReport>),
}

/// A certificate as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertView {
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial (hex).
    pub serial: String,
    /// SHA-256 fingerprint (hex).
    pub sha256: String,
    /// Validity start.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// Validity end.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
}

impl CertView {
    /// The view of `c`.
    pub fn of(c: &Certificate) -> Self {
        Self {
            subject: c.subject().to_owned(),
            issuer: c.issuer().to_owned(),
            serial: c.serial_hex(),
            sha256: c.fingerprint_hex(),
            not_before: c.not_before(),
            not_after: c.not_after(),
        }
    }
}

/// The route as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteView {
    /// `EndpointURI`.
    pub endpoint_url: String,
    /// `@transportProfile`.
    pub transport_profile: String,
    /// AS4 `To/PartyId` (CN of the AP certificate).
    pub ap_party_id: String,
    /// Naming-rule warning.
    pub ap_warning: Option<String>,
    /// The AP certificate.
    pub ap_certificate: CertView,
}

impl RouteView {
    fn of(r: &Route) -> Self {
        Self {
            endpoint_url: r.endpoint_url.clone(),
            transport_profile: r.transport_profile.clone(),
            ap_party_id: r.ap_party_id.to_string(),
            ap_warning: r.ap_warning.clone(),
            ap_certificate: CertView::of(&r.ap_certificate),
        }
    }
}

/// A lookup answer as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryView {
    /// `fresh`, `revalidating`, `stale-if-error`.
    pub freshness: String,
    /// Why a stale entry is served.
    pub stale_reason: Option<String>,
    /// `memory`, `store`, `smp`.
    pub served_from: String,
    /// When the SMP answer was fetched.
    #[serde(with = "time::serde::rfc3339")]
    pub fetched_at: OffsetDateTime,
    /// Seconds since then.
    pub age_seconds: i64,
    /// Where it came from.
    pub provenance: Provenance,
    /// The route, or why there is none.
    pub route: Result<RouteView, LookupError>,
    /// The O2O encryption certificate, or why there is none.
    pub encryption: Result<CertView, LookupError>,
    /// The O2O signing certificates, or why there are none.
    pub signing: Result<Vec<CertView>, LookupError>,
    /// Why published endpoints or O2O certificates are not used, and other notes.
    pub notes: Vec<String>,
}

impl EntryView {
    /// The view of a lookup answer.
    pub fn of(l: &Lookup) -> Self {
        let e = &l.entry;
        let (freshness, stale_reason) = match &l.freshness {
            Freshness::Fresh => ("fresh", None),
            Freshness::Revalidating => ("revalidating", None),
            Freshness::StaleIfError { reason } => ("stale-if-error", Some(reason.clone())),
        };
        let mut notes = e.published.notes.clone();
        notes.extend(e.validation.rejected_o2o.iter().cloned());
        if e.route().is_err() {
            notes.extend(e.published.skipped.iter().cloned());
        }
        Self {
            freshness: freshness.into(),
            stale_reason,
            served_from: match l.served_from {
                ServedFrom::Memory => "memory",
                ServedFrom::Store => "store",
                ServedFrom::Smp => "smp",
            }
            .into(),
            fetched_at: e.fetched_at,
            age_seconds: l.age.whole_seconds(),
            provenance: e.provenance.clone(),
            route: e.route().map(RouteView::of),
            encryption: e.encryption_certificate().map(CertView::of),
            signing: e
                .signing_certificates()
                .map(|c| c.iter().map(CertView::of).collect()),
            notes,
        }
    }
}

/// The answer to a lookup request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupReport {
    /// The participant.
    pub participant: ParticipantId,
    /// The document type.
    pub document: DocumentId,
    /// The answer, or why there is none.
    pub result: Result<EntryView, LookupError>,
}

/// One refreshed entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshOutcome {
    /// The participant.
    pub participant: ParticipantId,
    /// The document type.
    pub document: DocumentId,
    /// `None` when the refresh worked, else why not.
    pub error: Option<LookupError>,
}

/// Counters, cache contents and the imported directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsReport {
    /// Since the process started (the CLI's own process when no gateway runs).
    pub metrics: MetricsSnapshot,
    /// Whether a running gateway answered (its counters) or the CLI opened the store.
    pub from_running_gateway: bool,
    /// Cached entries.
    pub entries: usize,
    /// Of those, younger than the TTL.
    pub fresh: usize,
    /// Of those, with a usable route now.
    pub routable: usize,
    /// The oldest entry's age in seconds.
    pub oldest_age_seconds: Option<i64>,
    /// The cache policy.
    pub policy: CachePolicy,
    /// Imported directory generation (0: never imported).
    pub directory_generation: u64,
    /// Imported from.
    pub directory_source: String,
    /// Imported at.
    #[serde(with = "time::serde::rfc3339::option")]
    pub directory_imported_at: Option<OffsetDateTime>,
    /// Organisations and function addresses in it.
    pub directory_organisations: usize,
    /// Function addresses in it.
    pub directory_functions: usize,
}

/// An error answer: a stable code and a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct AdminError {
    /// `invalid` (bad request / import refused), `io`, `remote`.
    pub code: String,
    /// What went wrong.
    pub message: String,
}

impl AdminError {
    pub(crate) fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// What the requests run against.
#[derive(Debug, Clone)]
pub struct Services {
    /// The cache.
    pub book: AddressBook,
    /// The imported directory.
    pub directory: Arc<Directory>,
    /// Whether this is the running gateway (for [`StatsReport::from_running_gateway`]).
    pub is_gateway: bool,
}

/// Runs one request.
pub async fn execute(services: &Services, request: Request) -> Result<Response, AdminError> {
    let book = &services.book;
    Ok(match request {
        Request::Lookup {
            participant,
            document,
            fresh,
        } => {
            let result = if fresh {
                book.lookup_fresh(&participant, &document).await
            } else {
                book.lookup(&participant, &document).await
            };
            Response::Lookup(Box::new(LookupReport {
                participant,
                document,
                result: result.as_ref().map(EntryView::of).map_err(Clone::clone),
            }))
        }
        Request::List { search, local } => Response::List(Listing::build(
            &services.directory.snapshot(),
            &book.entries(),
            &local,
            search.as_deref(),
        )),
        Request::Import {
            organisations,
            source,
            force,
        } => {
            let directory = services.directory.clone();
            let report = tokio::task::spawn_blocking(move || {
                directory.import(
                    organisations,
                    &source,
                    OffsetDateTime::now_utc(),
                    ImportOptions { force },
                )
            })
            .await
            .map_err(|e| AdminError::new("io", e.to_string()))?
            .map_err(|e| AdminError::new("invalid", e.to_string()))?;
            Response::Import(report)
        }
        Request::Refresh {
            participant,
            document,
        } => {
            let keys: Vec<(ParticipantId, DocumentId)> = match (participant, document) {
                (Some(p), Some(d)) => vec![(p, d)],
                (p, None) => book
                    .entries()
                    .iter()
                    .filter(|e| p.as_ref().is_none_or(|p| &e.participant == p))
                    .map(|e| (e.participant.clone(), e.document.clone()))
                    .collect(),
                (None, Some(_)) => {
                    return Err(AdminError::new(
                        "invalid",
                        "a document type needs a participant",
                    ));
                }
            };
            let mut outcomes = Vec::with_capacity(keys.len());
            for (p, d) in keys {
                let error = book.lookup_fresh(&p, &d).await.err();
                outcomes.push(RefreshOutcome {
                    participant: p,
                    document: d,
                    error,
                });
            }
            Response::Refresh(outcomes)
        }
        Request::Stats => Response::Stats(Box::new(stats(services))),
    })
}

fn stats(services: &Services) -> StatsReport {
    let book = &services.book;
    let entries = book.entries();
    let now = OffsetDateTime::now_utc();
    let ttl = time::Duration::try_from(book.policy().ttl).unwrap_or(time::Duration::MAX);
    let snapshot = services.directory.snapshot();
    StatsReport {
        metrics: book.metrics(),
        from_running_gateway: services.is_gateway,
        entries: entries.len(),
        fresh: entries.iter().filter(|e| now - e.fetched_at < ttl).count(),
        routable: entries.iter().filter(|e| e.route().is_ok()).count(),
        oldest_age_seconds: entries
            .iter()
            .map(|e| (now - e.fetched_at).whole_seconds())
            .max(),
        policy: book.policy().clone(),
        directory_generation: snapshot.generation,
        directory_source: snapshot.source.clone(),
        directory_imported_at: snapshot.imported_at,
        directory_organisations: snapshot.organisations.len(),
        directory_functions: snapshot
            .organisations
            .values()
            .map(|o| o.functions.len())
            .sum(),
    }
}
