//! The message service handler: the logic that drives the wire formats.
//!
//! * [`inbound::Receiver`] + [`http::As4Handler`]: receive (AS4 digest §4.2), persist, receipt.
//! * [`outbound::Sender`]: one delivery attempt (§4.1) with receipt verification;
//!   [`outbound::prepare`] fixes MessageId and compressed payload for all retries.
//! * [`delivery`]: the store-backed delivery worker (due queue, retries, exhaustion →
//!   `EBMS:0301`) and [`delivery::submit`], which queues an XHE for sending.
//! * [`route`]: where to send ([`route::RouteResolver`], implemented by the address book).
//! * [`handoff`]: what the inbound pipeline receives.
//! * [`audit`]: the AP-3.4.1 event fields.

pub mod audit;
pub mod config;
pub mod delivery;
pub mod handoff;
pub mod http;
pub mod inbound;
pub mod outbound;
pub mod retry;
pub mod route;
pub mod xhe;

pub use config::{
    ApIdentity, IdentityError, InboundSettings, LiveKeys, MessageTrust, MshKeys, PreviousKey,
    Served,
};
pub use delivery::{DeliveryWorker, SubmitError, check_served, submit};
pub use handoff::{InboundHandoff, InboundMessage, StoreOnly};
pub use http::As4Handler;
pub use inbound::{PeerInfo, Receiver, Reply};
pub use outbound::{Attempt, AttemptOutcome, OutboundSettings, Outgoing, Sender, prepare};
pub use retry::RetryPolicy;
pub use route::{Route, RouteError, RouteResolver, StaticRoutes};
