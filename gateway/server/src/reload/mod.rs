//! Live reload of key material, trust stores and CRLs: `SIGHUP` to `sdkgw serve`, or
//! `sdkgw reload --config CFG` through `<data_dir>/reload.sock` ([`socket`]).
//!
//! A reload re-reads the gateway's configuration file, checks it exactly as `sdkgw config
//! check` does, loads every key and trust store as the gateway does at start, and only when
//! all of that succeeded swaps the new material in:
//!
//! * AS4: AP identity (current key + `keys.ap.previous` for decryption), AS4 trust and CRLs,
//!   the listener's mutual-TLS config (`keys.tls.server`, `trust.tls`, its CRLs, a fresh
//!   session cache) and the sender's TLS client (`keys.tls.client`, `trust.tls`,
//!   `[as4] peer_hostname_check`);
//! * the message pipelines' O2O keys (`keys.o2o.signing`, `keys.o2o.encryption`) and
//!   `trust.o2o` (the pipelines' own; messages being opened or sealed finish with the old);
//! * the mailbox API listener's certificate (`keys.tls.server`);
//! * the address book: the CRL files of `trust.smp`, `trust.as4`, `trust.o2o` (added to its
//!   checkers; a newer CRL supersedes the one it replaces);
//! * certificate-expiry metrics and readiness.
//!
//! Each swap is atomic for its component: a message being received, a delivery attempt or a
//! TLS connection in progress finishes with the material it started with; the next one uses the
//! new. A configuration with any error changes nothing and the report lists every finding.
//! What a reload cannot apply (listeners, data directory, the address book's trust anchors,
//! …) is reported as needing a restart. Every reload, applied or
//! refused, is an audit event (`config.reload`).

mod material;
pub mod socket;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use sdkgw_address_book::AddressBook;
use sdkgw_http::tls::ReloadableCertificate;
use sdkgw_store::{AuditEvent, Store};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use material::Material;
pub use material::Summary;

use crate::config::{self, Config, Finding};
use crate::metrics::Metrics;
use crate::serve::as4::Msh;

/// The audit action of every reload.
pub const AUDIT_ACTION: &str = "config.reload";

/// The result of one reload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReport {
    /// Whether the new material is in use (false: the old one still is).
    pub applied: bool,
    /// The configuration file that was read.
    pub config_file: PathBuf,
    /// Counts applied reloads since start (0 = the material the gateway started with).
    pub generation: u64,
    /// Everything `config check` found, plus what failed while loading.
    pub findings: Vec<Finding>,
    /// What changed (only when applied).
    pub changed: Vec<Change>,
    /// Changed settings a reload does not apply; they take effect at the next restart.
    pub restart_needed: Vec<String>,
}

/// One changed key or trust store: what was in use and what is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub key: String,
    pub from: String,
    pub to: String,
}

impl ReloadReport {
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == config::Severity::Error)
    }
}

/// What a reload swaps material into.
#[derive(Debug)]
pub(crate) struct Targets {
    pub(crate) msh: Arc<Msh>,
    pub(crate) pipeline: crate::pipeline::Pipeline,
    pub(crate) api_certificate: Arc<ReloadableCertificate>,
    pub(crate) address_book: AddressBook,
    pub(crate) metrics: Metrics,
}

/// What is in use now.
#[derive(Debug)]
struct State {
    config: Config,
    summary: Summary,
    generation: u64,
}

/// Reloads one running gateway's material (one reload at a time).
#[derive(Debug)]
pub struct Reloader {
    file: PathBuf,
    targets: Targets,
    store: Arc<dyn Store>,
    state: Mutex<State>,
}

impl Reloader {
    /// `config` and `summary` describe what the gateway started with.
    pub(crate) fn new(
        config: Config,
        summary: Summary,
        targets: Targets,
        store: Arc<dyn Store>,
    ) -> Self {
        Reloader {
            file: config.file.clone(),
            targets,
            store,
            state: Mutex::new(State {
                config,
                summary,
                generation: 0,
            }),
        }
    }

    /// The configuration file a reload reads.
    pub fn config_file(&self) -> &Path {
        &self.file
    }

    /// What is in use now, per key and trust store.
    pub fn summary(&self) -> Summary {
        self.lock().summary.clone()
    }

    /// Reloads with the process environment's `SDKGW_…` overrides and passwords.
    pub fn reload(&self, actor: &str) -> ReloadReport {
        self.reload_with_env(actor, std::env::vars())
    }

    /// Reloads with explicit environment variables (tests; the gateway uses [`Self::reload`]).
    /// Blocking: reads files, checks chains, prepares keys.
    pub fn reload_with_env(
        &self,
        actor: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> ReloadReport {
        let mut state = self.lock();
        let at = OffsetDateTime::now_utc();
        let loaded = config::check_with_env(&self.file, vars, at);
        let mut findings = loaded.findings;
        let built = match loaded.config {
            Some(c) if !findings.has_errors() => match Material::build(&c) {
                Ok(m) => Some((c, m)),
                Err(f) => {
                    findings.extend(f);
                    None
                }
            },
            _ => None,
        };
        let mut report = ReloadReport {
            applied: false,
            config_file: self.file.clone(),
            generation: state.generation,
            findings: findings.iter().cloned().collect(),
            changed: Vec::new(),
            restart_needed: Vec::new(),
        };
        if let Some((config, material)) = built {
            match self.apply(&mut state, config, material) {
                Ok((changed, restart_needed)) => {
                    report.applied = true;
                    report.generation = state.generation;
                    report.changed = changed;
                    report.restart_needed = restart_needed;
                }
                Err(f) => report.findings.push(f),
            }
        }
        self.audit(actor, &report, at);
        log(&report);
        report
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Swaps everything in; the first step is the only one that can fail, before anything
    /// changed.
    fn apply(
        &self,
        state: &mut State,
        config: Config,
        m: Material,
    ) -> Result<(Vec<Change>, Vec<String>), Finding> {
        let t = &self.targets;
        t.api_certificate
            .replace(&m.api_identity)
            .map_err(|e| Finding::error("keys.tls.server", e.to_string()))?;
        t.msh.replace(m.as4);
        t.pipeline.replace_o2o(m.o2o);
        let trust = t.address_book.client().trust();
        trust.smp.revocation.add_crls(m.address_book_crls.smp);
        trust.ap.revocation.add_crls(m.address_book_crls.ap);
        trust.o2o.revocation.add_crls(m.address_book_crls.o2o);
        t.metrics.watch_certificates(m.certificates);
        let changed = changes(&state.summary, &m.summary);
        let mut restart = not_reloaded(&state.config, &config);
        restart.extend(partly_reloaded(&changed));
        state.generation += 1;
        state.summary = m.summary;
        state.config = config;
        Ok((changed, restart))
    }

    fn audit(&self, actor: &str, r: &ReloadReport, at: OffsetDateTime) {
        let errors: Vec<String> = r.errors().map(ToString::to_string).collect();
        let event = AuditEvent::new(at, actor, AUDIT_ACTION)
            .with("outcome", if r.applied { "applied" } else { "refused" })
            .with("config_file", r.config_file.display().to_string())
            .with("generation", r.generation)
            .with(
                "changed",
                r.changed.iter().map(|c| c.key.clone()).collect::<Vec<_>>(),
            )
            .with("errors", errors)
            .with("restart_needed", r.restart_needed.clone());
        if let Err(e) = self.store.append_audit(event) {
            tracing::error!(error = %e, "cannot append the reload audit event");
        }
    }
}

fn log(r: &ReloadReport) {
    if r.applied {
        let changed: Vec<&str> = r.changed.iter().map(|c| c.key.as_str()).collect();
        tracing::info!(generation = r.generation, ?changed, restart_needed = ?r.restart_needed, "configuration reloaded");
    } else {
        let errors: Vec<String> = r.errors().map(ToString::to_string).collect();
        tracing::warn!(
            ?errors,
            "reload refused; the previous material stays in use"
        );
    }
}

/// Reloads on every `SIGHUP` until `stopped` resolves (the reload runs on a blocking thread;
/// its report goes to the log and the audit trail).
#[cfg(unix)]
pub(crate) fn on_sighup(
    reloader: Arc<Reloader>,
    tasks: &mut tokio::task::JoinSet<()>,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup())?;
    tasks.spawn(async move {
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                () = &mut stopped => return,
                got = hup.recv() => {
                    if got.is_none() {
                        return;
                    }
                    tracing::info!("SIGHUP: reloading keys, trust stores and CRLs");
                    let r = Arc::clone(&reloader);
                    let _ = tokio::task::spawn_blocking(move || r.reload("signal:SIGHUP")).await;
                }
            }
        }
    });
    Ok(())
}

/// What a gateway starting from `config` with `keys` uses, for later comparison.
pub(crate) fn summary_of(config: &Config, keys: &config::runtime::Keys) -> Summary {
    material::summarize(config, keys)
}

fn changes(old: &Summary, new: &Summary) -> Vec<Change> {
    new.iter()
        .filter_map(|(key, to)| {
            let from = old.get(key).cloned().unwrap_or_default();
            (&from != to).then(|| Change {
                key: key.clone(),
                from,
                to: to.clone(),
            })
        })
        .collect()
}

/// Changed material that only part of the gateway takes on a reload.
fn partly_reloaded(changed: &[Change]) -> Vec<String> {
    changed
        .iter()
        .filter_map(|c| {
            let why = match c.key.as_str() {
                "trust.smp.anchors" | "trust.as4.anchors" | "trust.o2o.anchors" => {
                    "the address book keeps the anchors it started with (AS4, the pipelines' O2O trust and all CRLs are reloaded)"
                }
                _ => return None,
            };
            Some(format!("{}: {why}", c.key))
        })
        .collect()
}

/// Settings a reload does not apply, compared section by section.
fn not_reloaded(old: &Config, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut differs = |name: &str, a: String, b: String| {
        if a != b {
            out.push(format!(
                "{name}: changed; a reload does not apply it (restart the gateway)"
            ));
        }
    };
    let d = |v: &dyn std::fmt::Debug| format!("{v:?}");
    differs("environment", d(&old.environment), d(&new.environment));
    differs("ap", d(&old.ap), d(&new.ap));
    differs("participants", d(&old.participants), d(&new.participants));
    differs("listeners", d(&old.listeners), d(&new.listeners));
    differs("data_dir", d(&old.data_dir), d(&new.data_dir));
    differs("address_book", d(&old.address_book), d(&new.address_book));
    differs(
        "address_book.cache/http",
        d(&old.address_book_policy),
        d(&new.address_book_policy),
    );
    differs("retry", d(&old.retry), d(&new.retry));
    differs("limits", d(&old.limits), d(&new.limits));
    let mut as4 = new.as4.clone();
    as4.peer_hostname_check = old.as4.peer_hostname_check;
    differs("as4", d(&old.as4), d(&as4));
    differs("store", d(&old.store), d(&new.store));
    differs("api", d(&old.api), d(&new.api));
    differs("admin", d(&old.admin), d(&new.admin));
    differs("audit", d(&old.audit), d(&new.audit));
    differs(
        "notifications",
        d(&old.notifications),
        d(&new.notifications),
    );
    // Sections not named above (added later): everything else compared as a whole.
    let mut rest = new.clone();
    rest.file.clone_from(&old.file);
    rest.environment = old.environment.clone();
    rest.ap = old.ap.clone();
    rest.participants.clone_from(&old.participants);
    rest.keys = old.keys.clone();
    rest.trust = old.trust.clone();
    rest.listeners = old.listeners.clone();
    rest.data_dir.clone_from(&old.data_dir);
    rest.address_book = old.address_book.clone();
    rest.address_book_policy = old.address_book_policy.clone();
    rest.retry = old.retry.clone();
    rest.limits = old.limits.clone();
    rest.as4 = old.as4.clone();
    rest.store = old.store.clone();
    rest.api = old.api.clone();
    rest.admin = old.admin.clone();
    rest.audit = old.audit.clone();
    rest.notifications = old.notifications.clone();
    if d(old) != d(&rest) {
        out.push(
            "other settings changed; a reload does not apply them (restart the gateway)".into(),
        );
    }
    out
}
