//! `sdkgw serve`: the running gateway, assembled from a checked [`Config`].
//!
//! [`Gateway::start`] opens the store (re-queues deliveries that were in flight, serves the
//! operator socket, runs retention), builds the address book (with its operator socket and
//! refresher), the message pipelines (`crate::pipeline`), the AS4 listener behind mutual TLS
//! (handing accepted messages to the inbound pipeline) and the AS4 delivery worker, driven by
//! the pipeline's delivery driver. Everything that runs is a task on one [`JoinSet`] that
//! stops when [`Gateway::stop`] is called; a later listener or pipeline is one more
//! `start_…` function that takes the [`Shared`] resources and spawns onto the set.

pub(crate) mod as4;
mod pipeline;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sdkgw_address_book::admin::Services;
use sdkgw_as4::msh::DeliveryWorker;
use sdkgw_http::TrustAnchors;
use sdkgw_store::admin::{AdminServer, PeriodicGc};
use sdkgw_store::{SledStore, Store};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{Config, Findings, runtime};

pub use as4::{AddressBookRoutes, configured_sender};

/// Why the gateway cannot start. Messages say what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("store: {0}")]
    Store(#[from] sdkgw_store::StoreError),
    #[error("address book: {0}")]
    AddressBook(String),
    #[error("AS4: {0}")]
    As4(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl ServeError {
    fn findings(f: &Findings) -> Self {
        let lines: Vec<String> = f.errors().map(|e| e.to_string()).collect();
        ServeError::Config(lines.join("; "))
    }
}

/// What every part of the gateway shares.
#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub address_book: Services,
    /// Where messages are spooled while processed (`<data_dir>/spool`).
    pub spool_dir: PathBuf,
    /// Becomes `true` when the gateway stops.
    pub stopping: watch::Receiver<bool>,
}

impl Shared {
    /// A future that completes when the gateway stops (for `serve(.., shutdown)` APIs).
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.stopping.clone();
        async move {
            while !*rx.borrow() {
                if rx.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A running gateway.
#[derive(Debug)]
pub struct Gateway {
    pub shared: Arc<Shared>,
    /// The bound AS4 listener.
    pub as4_addr: SocketAddr,
    /// The AS4 delivery worker (driven by the pipeline's delivery driver).
    pub delivery: Arc<DeliveryWorker>,
    /// The message pipelines (`wake_outbound()` after an API submission, `wake_delivery()`
    /// after queueing an XHE).
    pub pipeline: crate::pipeline::Pipeline,
    /// The mailbox API (`[listeners.api]`; `api.listener.addr` is the bound address).
    pub api: crate::api::runtime::ApiRuntime,
    /// Metrics, health, audit shipping, mailbox registry, notifications, admin listener.
    pub ops: crate::metrics::operations::Operations,
    /// Live reload of keys, trust and CRLs (`SIGHUP`, `sdkgw reload` on `reload.sock`).
    pub reloader: Arc<crate::reload::Reloader>,
    _reload_socket: crate::reload::socket::ReloadSocket,
    tasks: JoinSet<()>,
    stop: watch::Sender<bool>,
    store_admin: Option<AdminServer>,
    _gc: PeriodicGc,
    _address_book_admin: sdkgw_address_book::admin::AdminServer,
}

impl Gateway {
    /// Starts every part of the gateway of `config`.
    pub async fn start(config: Config) -> Result<Gateway, ServeError> {
        let spool_dir = config.data_dir.join("spool");
        std::fs::create_dir_all(&spool_dir)?;
        clean_spool(&spool_dir);
        let store_config = config.store.clone();
        let store = tokio::task::spawn_blocking(move || SledStore::open(store_config))
            .await
            .map_err(|e| ServeError::Config(e.to_string()))??;
        let store: Arc<dyn Store> = Arc::new(store);
        let requeued = store.requeue_in_flight(OffsetDateTime::now_utc())?;
        if requeued > 0 {
            tracing::info!(
                requeued,
                "deliveries in flight at the last stop are due again"
            );
        }
        let store_admin = AdminServer::start(Arc::clone(&store))?;
        let gc = PeriodicGc::start(Arc::clone(&store), Duration::from_secs(3600))?;
        let address_book = crate::addressbook::services(&config, store.as_ref(), true)
            .map_err(|e| ServeError::AddressBook(e.to_string()))?;
        let ab_admin =
            sdkgw_address_book::admin::AdminServer::start(address_book.clone(), &config.data_dir)
                .await
                .map_err(|e| ServeError::AddressBook(e.to_string()))?;
        let (stop, stopping) = watch::channel(false);
        let shared = Arc::new(Shared {
            config,
            store,
            address_book,
            spool_dir,
            stopping,
        });
        let mut tasks = JoinSet::new();
        let refresher = shared
            .address_book
            .book
            .spawn_refresher(Duration::from_secs(30));
        let stopped = shared.stopped();
        tasks.spawn(async move {
            stopped.await;
            refresher.abort();
        });
        let mut keys = runtime::load_keys(&shared.config).map_err(|f| ServeError::findings(&f))?;
        let trust = runtime::load_trust(&shared.config).map_err(|f| ServeError::findings(&f))?;
        let tls_trust = tls_anchors(&shared.config, &trust.tls.store)?;
        let ops = crate::metrics::operations::start(
            crate::metrics::operations::Inputs {
                config: &shared.config,
                store: Arc::clone(&shared.store),
                address_book: Some(shared.address_book.book.clone()),
                keys: &keys,
            },
            &mut tasks,
            shared.stopping.clone(),
        )
        .await
        .map_err(|e| ServeError::Config(format!("operations: {e}")))?;
        let api = crate::api::runtime::start_api(
            &shared.config,
            Arc::clone(&shared.store),
            shared.address_book.directory.clone(),
            &keys.tls_server,
            Some(ops.registry.clone() as Arc<dyn crate::api::MailboxSource>),
        )
        .await
        .map_err(|e| ServeError::Config(format!("mailbox API: {e}")))?;
        ops.metrics
            .watch_listener("api", api.listener.metrics.clone());
        ops.health.expect_listener("api").bound();
        let pipeline = pipeline::build(
            &shared,
            std::mem::take(&mut keys.o2o_signing),
            &keys.o2o_encryption,
            trust.o2o,
            pipeline::hooks(&ops, &api),
        )?;
        let summary = crate::reload::summary_of(&shared.config, &keys);
        let material = as4::As4Material::build(
            &shared.config,
            keys.ap,
            keys.ap_previous,
            (&keys.tls_server, &keys.tls_client),
            trust.as4,
            &tls_trust,
        )?;
        let msh = Arc::new(as4::Msh::new(
            &shared.config,
            material,
            shared.spool_dir.clone(),
        ));
        let as4_addr = msh
            .start_listener(&shared, &mut tasks, pipeline.handoff(), &ops)
            .await?;
        let delivery = msh.delivery_worker(&shared)?;
        pipeline.start(Arc::clone(&delivery), &mut tasks);
        let reloader = Arc::new(crate::reload::Reloader::new(
            shared.config.clone(),
            summary,
            crate::reload::Targets {
                msh,
                pipeline: pipeline.clone(),
                api_certificate: Arc::clone(&api.certificate),
                address_book: shared.address_book.book.clone(),
                metrics: ops.metrics.clone(),
            },
            Arc::clone(&shared.store),
        ));
        let reload_socket = crate::reload::socket::ReloadSocket::start(
            Arc::clone(&reloader),
            &shared.config.data_dir,
        )?;
        #[cfg(unix)]
        crate::reload::on_sighup(Arc::clone(&reloader), &mut tasks, shared.stopped())?;
        tracing::info!(%as4_addr, path = %shared.config.listeners.as4.path, "AS4 listener ready");
        Ok(Gateway {
            shared,
            as4_addr,
            delivery,
            pipeline,
            api,
            ops,
            reloader,
            _reload_socket: reload_socket,
            tasks,
            stop,
            store_admin: Some(store_admin),
            _gc: gc,
            _address_book_admin: ab_admin,
        })
    }

    /// Stops accepting, lets in-flight work finish (within the listeners' grace), then returns.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        if let Some(admin) = self.store_admin.take() {
            tokio::task::spawn_blocking(move || admin.shutdown())
                .await
                .ok();
        }
    }
}

/// Temp files of a previous run (a crash while receiving) are not referenced by anything.
fn clean_spool(dir: &std::path::Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The TLS trust of the AS4 listener and client: `trust.tls` anchors and CRLs, as
/// `sdkgw-http` needs them.
pub(crate) fn tls_anchors(
    config: &Config,
    store: &sdkgw_xml_security::x509::TrustStore<sdkgw_xml_security::x509::Tls>,
) -> Result<TrustAnchors, ServeError> {
    let mut anchors = TrustAnchors::new(store.anchors())
        .map_err(|e| ServeError::Config(format!("trust.tls.anchors: {e}")))?;
    for (i, crl) in config.trust.tls.crls.iter().enumerate() {
        let bytes = std::fs::read(crl).map_err(|e| {
            ServeError::Config(format!("trust.tls.crls[{i}] {}: {e}", crl.display()))
        })?;
        anchors = anchors
            .with_crl_file_content(&bytes)
            .map_err(|e| ServeError::Config(format!("trust.tls.crls[{i}]: {e}")))?;
    }
    Ok(anchors)
}
