//! The gateway under test of the in-process mode: `sdkgw serve`'s runtime
//! (`sdkgw_server::serve::Gateway::start`) with the suite PKI's second organisation's
//! configuration, its address book pointed at the run's fake SMP, every listener on a free
//! loopback port and the retry schedule shortened. The suite only reads its store (records
//! and audit trail) to observe what happened inside; it never writes to it except to queue
//! an outbound message the way `sdkgw as4 send`'s library call does.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sdkgw_address_book::directory::{Function, ImportOptions, Organisation};
use sdkgw_schemas::{FunctionAddress, ParticipantId};
use sdkgw_server::config::{self, Config, Retry};
use sdkgw_server::serve::Gateway;
use sdkgw_store::{AuditEvent, IdKind, MessageKey, MessageRecord, MessageState, Store};
use time::OffsetDateTime;

use crate::mailbox::{MailboxApi, SCOPES};
use crate::pki::SuitePki;
use sdkgw_server::api::auth::NewClient;

/// The running in-process gateway.
pub struct InProcessGut {
    pub gateway: Gateway,
    pub function: FunctionAddress,
    pub data_dir: tempfile::TempDir,
}

impl std::fmt::Debug for InProcessGut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessGut")
            .field("as4", &self.gateway.as4_addr)
            .finish_non_exhaustive()
    }
}

/// The retry schedule of the in-process gateway: three attempts within about a second
/// (TF-05 observes the whole schedule instead of DIGG's 12 attempts over hours).
pub fn suite_retry() -> Retry {
    Retry {
        max_attempts: 3,
        initial_delay: Duration::from_millis(300),
        max_delay: Duration::from_secs(1),
        multiplier: 2.0,
    }
}

/// Trust for the mailbox API's TLS certificate. The API listener presents only the leaf of
/// `keys.tls.server` (not `trust.tls.intermediates`, unlike the AS4 listener), so the TLS
/// intermediate is trusted directly (reported in REQUESTS.md).
fn api_trust(pki: &SuitePki) -> Result<sdkgw_http::TrustAnchors, String> {
    let ca = &pki.manifest.ca;
    let root = pki.cert(&ca.tls_root).map_err(|e| e.to_string())?;
    let intermediate = pki.cert(&ca.tls_intermediate).map_err(|e| e.to_string())?;
    sdkgw_http::TrustAnchors::new(&[root, intermediate]).map_err(|e| e.to_string())
}

/// `127.0.0.1:<a port that is free now>`.
fn free_port() -> Result<String, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = l.local_addr().map_err(|e| e.to_string())?;
    Ok(addr.to_string())
}

/// The configuration of the gateway under test.
pub fn config(pki: &SuitePki, smp_url: &str, data_dir: &Path) -> Result<Config, String> {
    let file = pki.path(&pki.gut().config);
    // Each listener needs its own socket: the AS4 one takes any port, the others a port
    // that was free a moment ago.
    let vars = vec![
        ("SDKGW_DATA_DIR".to_owned(), data_dir.display().to_string()),
        ("SDKGW_ADDRESS_BOOK__URL".to_owned(), smp_url.to_owned()),
        (
            "SDKGW_LISTENERS__AS4__BIND".to_owned(),
            "127.0.0.1:0".to_owned(),
        ),
        ("SDKGW_LISTENERS__API__BIND".to_owned(), free_port()?),
        ("SDKGW_LISTENERS__ADMIN__BIND".to_owned(), free_port()?),
    ];
    let loaded = config::load_with_env(&file, vars);
    let mut cfg = loaded.config.ok_or_else(|| {
        let errors: Vec<String> = loaded.findings.errors().map(|f| f.to_string()).collect();
        format!("{}: {}", file.display(), errors.join("; "))
    })?;
    cfg.retry = suite_retry();
    // Attachments are scanned through the gateway's real path (`[pipeline]
    // malware_scan_command`: the attachment on the command's stdin, exit 1 = infected); only
    // the engine is a stand-in, a script that finds exactly the EICAR test string (H-61).
    let scan = data_dir.join("eicar-scan.sh");
    let script = r"#!/bin/sh
if grep -qF 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'; then exit 1; fi
exit 0
";
    std::fs::write(&scan, script).map_err(|e| format!("{}: {e}", scan.display()))?;
    cfg.pipeline.malware_scan_command = vec!["/bin/sh".into(), scan.display().to_string()];
    Ok(cfg)
}

impl InProcessGut {
    /// Starts the gateway.
    pub async fn start(pki: &SuitePki, smp_url: &str) -> Result<InProcessGut, String> {
        let data_dir = tempfile::Builder::new()
            .prefix("sdkgw-gut-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let cfg = config(pki, smp_url, data_dir.path())?;
        let function = cfg
            .participants
            .first()
            .and_then(|p| p.mailboxes.first())
            .map(|m| m.address.clone())
            .ok_or("the configuration declares no function mailbox")?;
        let gateway = Gateway::start(cfg).await.map_err(|e| e.to_string())?;
        Ok(InProcessGut {
            gateway,
            function,
            data_dir,
        })
    }

    /// A client of the gateway's mailbox API for its first function mailbox: registered in
    /// its client registry (every scope, a grant for that mailbox), logged in.
    pub async fn mailbox_api(&self, pki: &SuitePki) -> Result<MailboxApi, String> {
        self.mailbox_api_with(pki, vec![self.function.as_str().to_owned()])
            .await
    }

    /// A client with mailbox grants `grants` (H-66 registers one for another mailbox).
    pub async fn mailbox_api_with(
        &self,
        pki: &SuitePki,
        grants: Vec<String>,
    ) -> Result<MailboxApi, String> {
        let runtime = &self.gateway.api;
        let clients = runtime.api.clients()?;
        let id = format!("sdk-conformance-{}", uuid::Uuid::new_v4());
        let (_, secret) = clients
            .add(
                NewClient {
                    id: id.clone(),
                    name: Some("sdk-conformance".into()),
                    scopes: SCOPES.iter().map(|s| (*s).to_owned()).collect(),
                    grants,
                    secret: true,
                    jwt_keys: Vec::new(),
                    certificates: Vec::new(),
                    iterations: Some(1000),
                },
                OffsetDateTime::now_utc(),
            )
            .map_err(|e| e.to_string())?;
        let secret = secret.ok_or("the registry returned no secret")?;
        let base = format!(
            "https://localhost:{}{}",
            runtime.listener.addr.port(),
            runtime.api.settings().base_path
        );
        let participant = self
            .gateway
            .shared
            .config
            .participants
            .first()
            .map(|p| p.id.clone())
            .ok_or("no participant configured")?;
        MailboxApi::login(
            base.clone(),
            &format!("{base}/oauth/token"),
            api_trust(pki)?,
            &id,
            &secret,
            participant,
            self.function.clone(),
        )
        .await
    }

    /// Imports the suite's organisations into the gateway's recipient directory, as an
    /// operator does with `sdkgw addressbook import` (the mailbox API checks recipients
    /// against it).
    pub fn import_directory(
        &self,
        organisations: &[(ParticipantId, FunctionAddress)],
    ) -> Result<(), String> {
        let organisations = organisations
            .iter()
            .map(|(p, f)| Organisation {
                id: p.clone(),
                name: p.value().to_owned(),
                description: Some("sdk-conformance test participant".into()),
                identifiers: Vec::new(),
                functions: vec![Function {
                    id: f.clone(),
                    name: "Inkorg".into(),
                    description: None,
                    categories: Vec::new(),
                    keywords: Vec::new(),
                }],
            })
            .collect();
        self.gateway
            .shared
            .address_book
            .directory
            .import(
                organisations,
                "sdk-conformance",
                OffsetDateTime::now_utc(),
                ImportOptions { force: true },
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.gateway.shared.store
    }

    /// The AS4 URL (its TLS certificate names `localhost`).
    pub fn as4_url(&self) -> String {
        format!(
            "https://localhost:{}{}",
            self.gateway.as4_addr.port(),
            self.gateway.shared.config.listeners.as4.path
        )
    }

    /// Every record that carries `id` (of `kind`).
    pub fn records(&self, kind: IdKind, id: &str) -> Vec<MessageRecord> {
        let store = self.store();
        store
            .find_by_id(kind, id)
            .unwrap_or_default()
            .iter()
            .filter_map(|k| store.get_message(k).ok().flatten())
            .collect()
    }

    pub fn record(&self, key: &MessageKey) -> Option<MessageRecord> {
        self.store().get_message(key).ok().flatten()
    }

    /// Waits (polling) until a record with `id` satisfies `done`, up to `limit`; returns the
    /// records last seen.
    pub async fn wait_records(
        &self,
        kind: IdKind,
        id: &str,
        limit: Duration,
        done: impl Fn(&[MessageRecord]) -> bool,
    ) -> Vec<MessageRecord> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let recs = self.records(kind, id);
            if done(&recs) || tokio::time::Instant::now() >= deadline {
                return recs;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the record `key` reaches a state in `states`, up to `limit`.
    pub async fn wait_state(
        &self,
        key: &MessageKey,
        states: &[MessageState],
        limit: Duration,
    ) -> Option<MessageRecord> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let rec = self.record(key);
            let done = rec.as_ref().is_some_and(|r| states.contains(&r.state));
            if done || tokio::time::Instant::now() >= deadline {
                return rec;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The sequence number the next audit event will get.
    pub fn audit_mark(&self) -> u64 {
        self.all_audit_events().last().map_or(0, |e| e.seq + 1)
    }

    /// Audit events from `mark` on.
    pub fn audit_since(&self, mark: u64) -> Vec<AuditEvent> {
        let mut events = self.all_audit_events();
        events.retain(|e| e.seq >= mark);
        events
    }

    /// The audit trail as an operator sees it: the JSON-lines log the gateway's shipper
    /// writes, then the events of the store's journal not shipped yet (the shipper trims the
    /// journal, so reading only the journal would miss events).
    fn all_audit_events(&self) -> Vec<AuditEvent> {
        let settings = sdkgw_server::metrics::operations::log_settings(&self.gateway.shared.config);
        let mut events = sdkgw_server::audit::search(&settings.dir, &Default::default())
            .map(|r| r.events)
            .unwrap_or_default();
        let shipped = events.iter().map(|e| e.seq).max();
        let from = shipped.map_or(0, |s| s + 1);
        events.extend(self.store().audit(from, 100_000).unwrap_or_default());
        events.sort_by_key(|e| e.seq);
        events.dedup_by_key(|e| e.seq);
        events
    }

    /// Queues `xhe` for sending, as `sdkgw as4 send`'s library call does (the message
    /// service of the gateway under test produced it), and wakes the delivery worker.
    pub async fn submit(&self, xhe: &[u8]) -> Result<MessageKey, String> {
        let shared = &self.gateway.shared;
        let file = tempfile::NamedTempFile::new_in(&shared.spool_dir).map_err(|e| e.to_string())?;
        std::fs::write(file.path(), xhe).map_err(|e| e.to_string())?;
        let store = Arc::clone(&shared.store);
        let spool = shared.spool_dir.clone();
        let federation = shared.config.environment.federation_id.as_str().to_owned();
        let path = file.path().to_path_buf();
        let served: Vec<String> = (shared.config.participants.iter())
            .map(|p| p.id.value().to_owned())
            .collect();
        let key = tokio::task::spawn_blocking(move || {
            let served: Vec<&str> = served.iter().map(String::as_str).collect();
            sdkgw_as4::msh::submit(
                store.as_ref(),
                &path,
                None,
                &federation,
                &served,
                &spool,
                OffsetDateTime::now_utc(),
            )
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        self.gateway.delivery.notify();
        Ok(key)
    }
}
