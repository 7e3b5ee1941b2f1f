//! The AS4 part of the running gateway: the MSH built from the configuration, the listener
//! (`[listeners.as4]`, mutual TLS with `keys.tls.server` and `trust.tls`) and the delivery
//! worker (`[retry]`, TLS client `keys.tls.client`, routes from the address book).
//!
//! Everything built from key material and trust ([`As4Material`]) can be replaced while the
//! MSH runs ([`Msh::replace`], used by `crate::reload`): AP identity (with previous AP keys),
//! AS4 trust and CRLs, the listener's TLS config, the sender's TLS client config.

use std::sync::Arc;
use std::time::Duration;

use sdkgw_address_book::{AddressBook, ErrorKind};
use sdkgw_as4::compress::GzipLimits;
use sdkgw_as4::msh::route::RouteFuture;
use sdkgw_as4::msh::{
    ApIdentity, As4Handler, DeliveryWorker, InboundHandoff, InboundSettings, LiveKeys,
    MessageTrust, MshKeys, OutboundSettings, Receiver, RetryPolicy, Route, RouteError,
    RouteResolver, Sender, Served,
};
use sdkgw_certs::KeyPairWithChain;
use sdkgw_http::tls::ReloadableServerConfig;
use sdkgw_http::{
    ClientSettings, ClientTlsSettings, Server, ServerSettings, TlsIdentity, TrustAnchors,
};
use sdkgw_schemas::{DocumentId, ParticipantId};
use sdkgw_xml_security::x509::As4Ap;
use tokio::task::JoinSet;

use super::{ServeError, Shared};
use crate::config::runtime::RoleTrust;
use crate::config::{Config, Limits};

/// Routes from the address book (SMP `Endpoint` + validated AP certificate).
#[derive(Debug, Clone)]
pub struct AddressBookRoutes(pub AddressBook);

impl RouteResolver for AddressBookRoutes {
    fn resolve<'a>(
        &'a self,
        recipient: &'a ParticipantId,
        document: &'a DocumentId,
    ) -> RouteFuture<'a> {
        Box::pin(async move {
            match self.0.route(recipient, document).await {
                Ok(r) => Ok(Route {
                    endpoint: r.endpoint_url,
                    certificate: r.ap_certificate,
                }),
                Err(e) if e.kind() == ErrorKind::Transient => {
                    Err(RouteError::Unavailable(e.to_string()))
                }
                Err(e) => Err(RouteError::NotRegistered {
                    participant: recipient.to_string(),
                    document: document.to_string(),
                    reason: e.to_string(),
                }),
            }
        })
    }
}

/// What the AS4 side is built from, rebuilt on a reload.
#[derive(Debug)]
pub(crate) struct As4Material {
    pub(crate) keys: MshKeys,
    /// The listener's mutual-TLS config (`keys.tls.server`, `trust.tls` with its CRLs).
    pub(crate) server_tls: Arc<rustls::ServerConfig>,
    /// The sender's TLS client (`keys.tls.client`, `trust.tls`, `[as4] peer_hostname_check`).
    pub(crate) client: ClientSettings,
}

impl As4Material {
    /// Builds the material from loaded keys and trust; errors name the configuration key.
    pub(crate) fn build(
        c: &Config,
        ap: KeyPairWithChain,
        ap_previous: Vec<KeyPairWithChain>,
        tls: (&KeyPairWithChain, &KeyPairWithChain),
        as4: RoleTrust<As4Ap>,
        tls_trust: &TrustAnchors,
    ) -> Result<Self, ServeError> {
        let identity = identity(ap, ap_previous, c)?;
        let (tls_server, tls_client) = tls;
        let server_identity = tls_identity(tls_server, c, "keys.tls.server")?;
        let server_tls = sdkgw_http::tls::mtls_server_config(&server_identity, tls_trust)
            .map_err(|e| ServeError::Config(format!("keys.tls.server / trust.tls: {e}")))?;
        let client_tls = sdkgw_http::tls::client_config(&ClientTlsSettings {
            identity: Some(tls_identity(tls_client, c, "keys.tls.client")?),
            server_trust: tls_trust.clone(),
            hostname: c.as4.peer_hostname_check,
        })
        .map_err(|e| ServeError::Config(format!("keys.tls.client / trust.tls: {e}")))?;
        Ok(As4Material {
            keys: MshKeys {
                identity: Arc::new(identity),
                trust: Arc::new(MessageTrust {
                    store: as4.store,
                    revocation: as4.revocation,
                }),
            },
            server_tls,
            client: ClientSettings::new(client_tls),
        })
    }
}

/// The MSH of one gateway. Its receiver and sender share one [`LiveKeys`].
#[derive(Debug)]
pub(crate) struct Msh {
    keys: Arc<LiveKeys>,
    server_tls: Arc<ReloadableServerConfig>,
    sender: Arc<Sender>,
}

fn as4_err(e: impl std::fmt::Display) -> ServeError {
    ServeError::As4(e.to_string())
}

impl Msh {
    pub(super) fn new(c: &Config, m: As4Material, spool_dir: std::path::PathBuf) -> Self {
        let keys = LiveKeys::new(m.keys.identity, m.keys.trust);
        let mut settings = OutboundSettings::new(spool_dir);
        settings.timestamp_ttl = c.as4.timestamp_ttl;
        let sender = Arc::new(Sender::with_keys(Arc::clone(&keys), m.client, settings));
        Msh {
            keys,
            server_tls: ReloadableServerConfig::new(m.server_tls),
            sender,
        }
    }

    /// Makes `m` current: messages and delivery attempts that start from now on use it,
    /// new TLS connections get its configs; those in progress finish with the old ones.
    pub(crate) fn replace(&self, m: As4Material) {
        self.keys.replace(m.keys);
        self.server_tls.replace(m.server_tls);
        self.sender.replace_client(m.client);
    }

    /// Binds `[listeners.as4]` and serves AS4 until the gateway stops; accepted messages go
    /// to `handoff` (the inbound pipeline).
    pub(super) async fn start_listener(
        &self,
        shared: &Arc<Shared>,
        tasks: &mut JoinSet<()>,
        handoff: Arc<dyn InboundHandoff>,
        ops: &crate::metrics::operations::Operations,
    ) -> Result<std::net::SocketAddr, ServeError> {
        let c = &shared.config;
        let participants: Vec<ParticipantId> =
            c.participants.iter().map(|p| p.id.clone()).collect();
        let receiver = Arc::new(Receiver::with_keys(
            Arc::clone(&self.keys),
            Served::new(participants, c.environment.name),
            inbound_settings(c, shared.spool_dir.clone()),
            Arc::clone(&shared.store),
            handoff,
        ));
        let server = Server::bind_reloadable(
            c.listeners.as4.bind,
            Arc::clone(&self.server_tls),
            server_settings(&c.limits),
        )
        .await
        .map_err(as4_err)?;
        let addr = server.local_addr()?;
        ops.metrics.watch_listener("as4", server.metrics());
        let ready = ops.health.expect_listener("as4");
        ready.bound();
        let handler = Arc::new(As4Handler::new(receiver, &c.listeners.as4.path));
        let stopped = shared.stopped();
        tasks.spawn(async move {
            server.serve(handler, stopped).await;
            ready.stopped();
        });
        Ok(addr)
    }

    /// The delivery worker (routes from the address book); the pipeline's delivery driver
    /// runs it (`DeliveryWorker::deliver` per due message).
    pub(super) fn delivery_worker(
        &self,
        shared: &Arc<Shared>,
    ) -> Result<Arc<DeliveryWorker>, ServeError> {
        let c = &shared.config;
        let sender = Arc::clone(&self.sender);
        let routes = Arc::new(AddressBookRoutes(shared.address_book.book.clone()));
        let worker = Arc::new(DeliveryWorker::new(
            Arc::clone(&shared.store),
            sender,
            routes,
            retry_policy(c),
            shared.spool_dir.clone(),
        ));
        Ok(worker)
    }
}

/// A TLS identity presenting the whole chain: the certificates of the key file, then the
/// `trust.tls.intermediates` that issued them (peers trust only the roots).
fn tls_identity(
    pair: &sdkgw_certs::KeyPairWithChain,
    c: &Config,
    what: &str,
) -> Result<TlsIdentity, ServeError> {
    let mut chain = pair.chain().to_vec();
    let mut intermediates = Vec::new();
    for path in &c.trust.tls.intermediates {
        match sdkgw_certs::load_certificates(path, c.trust.tls.password.as_ref()) {
            Ok(certs) => intermediates.extend(certs),
            Err(e) => {
                return Err(ServeError::Config(format!(
                    "trust.tls.intermediates {}: {e}",
                    path.display()
                )));
            }
        }
    }
    while let Some(last) = chain.last() {
        let next = intermediates
            .iter()
            .find(|i| i.subject_der() == last.issuer_der() && !chain.contains(i))
            .cloned();
        match next {
            Some(i) if chain.len() < 8 => chain.push(i),
            _ => break,
        }
    }
    TlsIdentity::new(&chain, pair.key()).map_err(|e| ServeError::Config(format!("{what}: {e}")))
}

/// Our AP identity from `keys.ap`, its CN checked against `ap.party_id`, with the
/// `keys.ap.previous` keys for decryption.
pub(crate) fn identity(
    pair: KeyPairWithChain,
    previous: Vec<KeyPairWithChain>,
    c: &Config,
) -> Result<ApIdentity, ServeError> {
    let leaf = |pair: KeyPairWithChain, what: &str| {
        let (key, chain) = pair.into_parts();
        let cert = chain
            .into_iter()
            .next()
            .ok_or_else(|| ServeError::Config(format!("{what}: no certificate")))?;
        Ok::<_, ServeError>((cert, Arc::new(key)))
    };
    let (cert, key) = leaf(pair, "keys.ap")?;
    let previous = previous
        .into_iter()
        .enumerate()
        .map(|(i, p)| leaf(p, &format!("keys.ap.previous[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    ApIdentity::new(cert, key, Some(c.ap.party_id.as_str()))
        .and_then(|id| id.with_previous(previous))
        .map_err(|e| ServeError::Config(format!("keys.ap: {e}")))
}

fn inbound_settings(c: &Config, spool_dir: std::path::PathBuf) -> InboundSettings {
    let mut s = InboundSettings::new(spool_dir, c.environment.federation_id.as_str());
    s.clock_skew = c.as4.clock_skew;
    s.dedup_window = c.as4.duplicate_window;
    s.mime.max_total_bytes = c.limits.max_message_bytes;
    s.mime.max_part_bytes = c.limits.max_message_bytes;
    s.gzip = GzipLimits {
        max_ratio: c.limits.max_decompression_ratio,
        ..GzipLimits::default()
    };
    s
}

fn server_settings(l: &Limits) -> ServerSettings {
    ServerSettings {
        max_connections: usize::try_from(l.max_connections).unwrap_or(256),
        max_body_bytes: l.max_message_bytes.min(sdkgw_http::server::MAX_BODY_LIMIT),
        // Large messages over slow links: a 150 MiB body at 1 MiB/s.
        body_idle_timeout: Duration::from_secs(120),
        ..ServerSettings::default()
    }
}

fn retry_policy(c: &Config) -> RetryPolicy {
    RetryPolicy {
        max_attempts: u32::try_from(c.retry.max_attempts).unwrap_or(u32::MAX),
        initial_delay: c.retry.initial_delay,
        max_delay: c.retry.max_delay,
        multiplier: c.retry.multiplier,
    }
}

/// The sender of `config` on its own (for `sdkgw as4 send`): our AP identity, AS4 trust, TLS
/// client identity and TLS trust, exactly as the running gateway builds them.
pub fn configured_sender(
    config: &Config,
    spool_dir: std::path::PathBuf,
) -> Result<Arc<Sender>, ServeError> {
    let keys = crate::config::runtime::load_keys(config).map_err(|f| ServeError::findings(&f))?;
    let trust = crate::config::runtime::load_trust(config).map_err(|f| ServeError::findings(&f))?;
    let tls_trust = super::tls_anchors(config, &trust.tls.store)?;
    let material = As4Material::build(
        config,
        keys.ap,
        keys.ap_previous,
        (&keys.tls_server, &keys.tls_client),
        trust.as4,
        &tls_trust,
    )?;
    Ok(Msh::new(config, material, spool_dir).sender)
}
