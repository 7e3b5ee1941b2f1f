//! Where a message goes: the receiving AP's endpoint and certificate. The address book (SMP
//! lookup, CertPub) implements [`RouteResolver`]; until it is wired in, [`StaticRoutes`] is a
//! fixed table (issue 7 allows it).

use std::future::Future;
use std::pin::Pin;

use sdkgw_certs::Certificate;
use sdkgw_schemas::{DocumentId, ParticipantId};

/// The SMP data an AS4 send needs (OASIS SMP `Endpoint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `EndpointURI` (https).
    pub endpoint: String,
    /// The receiving AP's certificate (`Endpoint/Certificate`): encryption key, expected
    /// receipt signer, and its CN is `To/PartyId`.
    pub certificate: Certificate,
}

/// Why no route is available.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The recipient or the document type is not registered (final: notify C1).
    #[error("no endpoint for {participant} / {document}: {reason}")]
    NotRegistered {
        participant: String,
        document: String,
        reason: String,
    },
    /// The address book is unreachable now (retry).
    #[error("address book unavailable: {0}")]
    Unavailable(String),
}

/// A boxed future (the trait is used as `dyn`).
pub type RouteFuture<'a> = Pin<Box<dyn Future<Output = Result<Route, RouteError>> + Send + 'a>>;

/// Resolves the receiving AP of a participant for a document type. Called before every
/// attempt, so a retry uses fresh metadata (certificate rollover, digest H-34).
pub trait RouteResolver: Send + Sync + std::fmt::Debug {
    fn resolve<'a>(
        &'a self,
        recipient: &'a ParticipantId,
        document: &'a DocumentId,
    ) -> RouteFuture<'a>;
}

/// A fixed table: one route per participant, for every document type.
#[derive(Debug, Clone, Default)]
pub struct StaticRoutes {
    routes: Vec<(ParticipantId, Route)>,
}

impl StaticRoutes {
    pub fn new(routes: Vec<(ParticipantId, Route)>) -> Self {
        StaticRoutes { routes }
    }
}

impl RouteResolver for StaticRoutes {
    fn resolve<'a>(
        &'a self,
        recipient: &'a ParticipantId,
        document: &'a DocumentId,
    ) -> RouteFuture<'a> {
        let found = self
            .routes
            .iter()
            .find(|(p, _)| p == recipient)
            .map(|(_, r)| r.clone())
            .ok_or_else(|| RouteError::NotRegistered {
                participant: recipient.to_string(),
                document: document.to_string(),
                reason: "not in the static route table".into(),
            });
        Box::pin(async move { found })
    }
}
