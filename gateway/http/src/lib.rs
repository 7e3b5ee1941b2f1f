//! HTTP and TLS plumbing shared by the gateway's listeners and clients.
//!
//! What it does: builds rustls server and client configurations from our key material and a
//! per-listener trust store (TLS 1.2/1.3 only, mandatory client certificates where asked), runs
//! hyper servers with connection and body limits and back-pressure, and offers an HTTPS client
//! with timeouts, size limits and no cross-host redirects; fetches CRLs and OCSP answers for
//! revocation checking ([`fetch`]).
//!
//! What it does not: know AS4, SMP or the mailbox API; those layers bring their own handlers.
#![forbid(unsafe_code)]

pub mod body;
pub mod client;
pub mod fetch;
pub mod metrics;
pub mod server;
pub mod tls;

pub use body::{BodyError, BodyReader, OutBody, RequestBody};
pub use client::{ClientError, ClientSettings, ErrorKind, HttpsClient, RedirectPolicy};
pub use metrics::{HandshakeFailure, MetricsSnapshot, ServerMetrics};
pub use server::{ConnectionInfo, Handler, Server, ServerSettings};
pub use tls::{ClientTlsSettings, HostnameVerification, TlsConfigError, TlsIdentity, TrustAnchors};
