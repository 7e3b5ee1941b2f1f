//! The operations side of a running gateway, started by `sdkgw serve` after the store is open:
//! metrics and readiness, the audit shipper, the mailbox registry (and its operator socket),
//! the notification worker and the admin listener.
//!
//! ```ignore
//! let ops = metrics::operations::start(Inputs { config, store, address_book: Some(book),
//!     keys: &keys }, &mut tasks, stopping.clone()).await?;
//! ops.metrics.watch_listener("as4", as4_server.metrics());   // before serving it
//! let as4_ready = ops.health.expect_listener("as4");          // .bound() once bound
//! // pipelines: ops.notifier.message_filed(..), ops.registry.resolve(..), ops.metrics.message(..)
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use sdkgw_certs::{Certificate, load_certificates};
use sdkgw_http::tls::{client_config, server_config_without_client_auth};
use sdkgw_http::{
    ClientSettings, ClientTlsSettings, HostnameVerification, HttpsClient, Server, TlsIdentity,
    TrustAnchors,
};
use sdkgw_store::Store;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::admin::{AdminHandler, settings};
use super::{CertificateEntry, Health, Metrics};
use crate::audit::{LogSettings, Shipper};
use crate::config::runtime::Keys;
use crate::config::{Config, SYSTEM_CA_BUNDLE, SmtpTlsMode};
use crate::mailbox::{self, Registry};
use crate::notify::{Notifier, NotifySettings, SmtpAuth, SmtpSettings, SmtpTls};

/// What [`start`] needs.
#[derive(Debug)]
pub struct Inputs<'a> {
    pub config: &'a Config,
    pub store: Arc<dyn Store>,
    pub address_book: Option<sdkgw_address_book::AddressBook>,
    pub keys: &'a Keys,
}

/// Why the operations side cannot start.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error(transparent)]
    Mailbox(#[from] crate::mailbox::MailboxError),
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
    #[error("admin listener: {0}")]
    Listener(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The running operations side. Dropping it stops the shipper (after a last round) and the
/// mailbox socket; the tasks stop with the gateway's stop signal.
#[derive(Debug)]
pub struct Operations {
    pub metrics: Metrics,
    pub health: Health,
    pub registry: Arc<Registry>,
    pub notifier: Notifier,
    /// The bound admin listener.
    pub admin_addr: SocketAddr,
    shipper: Shipper,
    _mailbox_admin: mailbox::admin::AdminServer,
}

impl Operations {
    /// The audit shipper's counters.
    pub fn audit(&self) -> crate::audit::ShipReport {
        self.shipper.report()
    }
}

/// The configured certificates (leaf of every key) for expiry metrics and readiness.
pub fn certificates(keys: &Keys) -> Vec<CertificateEntry> {
    let entry = |role: String, c: &Certificate| CertificateEntry {
        role,
        certificate: c.clone(),
    };
    let mut out = vec![
        entry("ap".into(), keys.ap.certificate()),
        entry("tls_server".into(), keys.tls_server.certificate()),
        entry("tls_client".into(), keys.tls_client.certificate()),
    ];
    for (i, k) in keys.ap_previous.iter().enumerate() {
        out.push(entry(format!("ap_previous[{i}]"), k.certificate()));
    }
    for (i, k) in keys.o2o_signing.iter().enumerate() {
        out.push(entry(format!("o2o_signing[{i}]"), k.certificate()));
    }
    for (i, k) in keys.o2o_encryption.iter().enumerate() {
        out.push(entry(format!("o2o_encryption[{i}]"), k.certificate()));
    }
    out
}

/// A client TLS config trusting the CAs in `files` (default: the system bundle); certificates
/// that cannot serve as anchors are skipped, an error only when none is usable.
fn client_tls(files: &[PathBuf], key: &str) -> Result<Arc<rustls::ClientConfig>, OpsError> {
    let default = [PathBuf::from(SYSTEM_CA_BUNDLE)];
    let files = if files.is_empty() {
        &default[..]
    } else {
        files
    };
    let mut usable = Vec::new();
    for f in files {
        let certs = load_certificates(f, None)
            .map_err(|e| OpsError::Config(format!("{key}: {}: {e}", f.display())))?;
        usable.extend(
            certs
                .into_iter()
                .filter(|c| TrustAnchors::new(std::slice::from_ref(c)).is_ok()),
        );
    }
    let trust = TrustAnchors::new(&usable)
        .map_err(|e| OpsError::Config(format!("{key}: no usable CA certificate ({e})")))?;
    client_config(&ClientTlsSettings {
        identity: None,
        server_trust: trust,
        hostname: HostnameVerification::Verify,
    })
    .map_err(|e| OpsError::Config(format!("{key}: {e}")))
}

/// The notification settings of `config`.
pub fn notify_settings(config: &Config) -> Result<NotifySettings, OpsError> {
    let n = &config.notifications;
    let tls = client_tls(&n.webhook_tls_anchors, "notifications.webhook.tls_anchors")?;
    let mut http = ClientSettings::new(tls);
    http.connect_timeout = n.webhook_timeout;
    http.request_timeout = n.webhook_timeout;
    http.max_response_bytes = 64 * 1024;
    let smtp = match &n.smtp {
        None => None,
        Some(s) => {
            let auth = match (&s.username, &s.password) {
                (Some(user), Some(pw)) => Some(SmtpAuth {
                    username: user.clone(),
                    password: pw.resolve().map_err(|e| {
                        OpsError::Config(format!("notifications.smtp password: {e}"))
                    })?,
                }),
                _ => None,
            };
            Some(SmtpSettings {
                host: s.host.clone(),
                port: s.port,
                tls: match s.tls {
                    SmtpTlsMode::Starttls => SmtpTls::Starttls,
                    SmtpTlsMode::Opportunistic => SmtpTls::Opportunistic,
                    SmtpTlsMode::Off => SmtpTls::Off,
                },
                tls_config: client_tls(&s.tls_anchors, "notifications.smtp.tls_anchors")?,
                from: s.from.clone(),
                helo: s.helo.clone(),
                auth,
                timeout: s.timeout,
            })
        }
    };
    Ok(NotifySettings {
        max_attempts: n.max_attempts,
        initial_delay: n.initial_delay,
        max_delay: n.max_delay,
        webhook: HttpsClient::new(http),
        smtp,
    })
}

/// The audit log settings of `config`.
pub fn log_settings(config: &Config) -> LogSettings {
    let mut s = LogSettings::new(&config.data_dir);
    s.rotate_bytes = config.audit.rotate_bytes;
    s.rotate_every = config.audit.rotate_every;
    s.retention = config.store.retention.audit;
    s
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Starts everything (see the module docs). `stopping` turns `true` when the gateway stops.
pub async fn start(
    inputs: Inputs<'_>,
    tasks: &mut JoinSet<()>,
    stopping: watch::Receiver<bool>,
) -> Result<Operations, OpsError> {
    let Inputs {
        config,
        store,
        address_book,
        keys,
    } = inputs;
    let metrics = Metrics::new();
    let health = Health::default();
    metrics.watch_store(store.clone());
    health.require_store(store.clone());
    if let Some(book) = address_book {
        metrics.watch_address_book(book);
    }
    metrics.watch_certificates(certificates(keys));
    {
        let m = metrics.clone();
        health.require_certificates(move || m.certificates());
    }

    let (shipper, _repairs) = {
        let (store, s, interval) = (
            store.clone(),
            log_settings(config),
            config.audit.ship_interval,
        );
        tokio::task::spawn_blocking(move || Shipper::start(store, s, interval))
            .await
            .map_err(|e| OpsError::Config(e.to_string()))??
    };
    metrics.watch_audit(&shipper);
    {
        let m = metrics.clone();
        shipper.set_observer(Arc::new(move |events| m.observe_audit(events)));
    }
    {
        let report = shipper.reporter();
        health.add("audit log", move |_| match report().last_error {
            None => Ok(()),
            Some(e) => Err(e),
        });
    }

    let (registry, reconciled) = {
        let (store, config) = (store.clone(), config.clone());
        tokio::task::spawn_blocking(move || {
            Registry::open(store, &config, OffsetDateTime::now_utc())
        })
        .await
        .map_err(|e| OpsError::Config(e.to_string()))??
    };
    if reconciled != mailbox::Reconciled::default() {
        tracing::info!(?reconciled, "mailbox registry follows the configuration");
    }
    let registry = Arc::new(registry);
    let mailbox_admin = mailbox::admin::AdminServer::start(registry.clone(), &config.data_dir)?;

    let notifier = Notifier::new(
        store.clone(),
        registry.clone(),
        notify_settings(config)?,
        Some(metrics.clone()),
    )?;
    tasks.spawn(notifier.clone().run(stopped(stopping.clone())));

    let admin_ready = health.expect_listener("admin");
    metrics.watch_health(health.clone());
    let bind = config.listeners.admin.bind;
    let server = if config.admin.tls {
        let identity = TlsIdentity::new(keys.tls_server.chain(), keys.tls_server.key())
            .map_err(|e| OpsError::Listener(format!("keys.tls.server: {e}")))?;
        let tls = server_config_without_client_auth(&identity)
            .map_err(|e| OpsError::Listener(e.to_string()))?;
        Server::bind(bind, tls, settings()).await
    } else {
        Server::bind_plain(bind, settings()).await
    }
    .map_err(|e| OpsError::Listener(e.to_string()))?;
    let admin_addr = server.local_addr()?;
    metrics.watch_listener("admin", server.metrics());
    let handler = Arc::new(AdminHandler::new(metrics.clone(), health.clone()));
    admin_ready.bound();
    {
        let flag = admin_ready.clone();
        let stop = stopped(stopping);
        tasks.spawn(async move {
            server.serve(handler, stop).await;
            flag.stopped();
        });
    }
    tracing::info!(%admin_addr, tls = config.admin.tls, "admin listener ready (/metrics, /healthz, /readyz)");
    Ok(Operations {
        metrics,
        health,
        registry,
        notifier,
        admin_addr,
        shipper,
        _mailbox_admin: mailbox_admin,
    })
}
