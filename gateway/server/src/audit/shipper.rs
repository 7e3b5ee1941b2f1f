//! Moves events from the store's journal into the JSON-lines files, in the background.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sdkgw_store::{AuditEvent, Store};
use time::OffsetDateTime;

use super::writer::{Repair, Writer};
use super::{AuditError, LogSettings};

/// Events read from the journal per step.
const BATCH: usize = 1000;
/// How often expired files are looked for.
const EXPIRE_EVERY: Duration = Duration::from_secs(3600);

/// Ships every event the journal holds after the log's last one, then removes from the
/// journal what the files now hold (durably: [`Writer::append`] returns after fdatasync).
/// Events shipped before a crash but not yet removed are removed here too. Returns how many
/// events were written.
pub fn ship_pending(store: &dyn Store, writer: &mut Writer) -> Result<u64, AuditError> {
    ship_observed(store, writer, &|_| {})
}

/// Sees every batch of events right after it was written to the files (the metrics follow
/// the audit trail this way: every AS4 signal is an audit event).
pub type Observer = Arc<dyn Fn(&[AuditEvent]) + Send + Sync>;

fn ship_observed(
    store: &dyn Store,
    writer: &mut Writer,
    observe: &dyn Fn(&[AuditEvent]),
) -> Result<u64, AuditError> {
    let mut total = 0u64;
    loop {
        let batch = store.audit(writer.last_seq().saturating_add(1), BATCH)?;
        if !batch.is_empty() {
            total += writer.append(&batch)? as u64;
            observe(&batch);
        }
        store.trim_audit(writer.last_seq().min(api_index_floor(store)?))?;
        if batch.len() < BATCH {
            return Ok(total);
        }
    }
}

/// The newest seq the mailbox API's index has read (it follows the journal to list filed
/// messages): events after it stay in the journal until the index has seen them. No index
/// (no API in this process's store) sets no floor.
fn api_index_floor(store: &dyn Store) -> Result<u64, AuditError> {
    let space = store.keyspace(crate::api::index::KEYSPACE)?;
    Ok(space
        .get(b"p")?
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map_or(u64::MAX, |next| u64::from_be_bytes(next).saturating_sub(1)))
}

/// The shipper's counters, for `/metrics` and `/readyz`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShipReport {
    /// Events written to the files since start.
    pub shipped: u64,
    /// Seq of the newest event in the files.
    pub last_seq: u64,
    /// Failed shipping rounds since start.
    pub errors: u64,
    /// The last failure, cleared by the next successful round.
    pub last_error: Option<String>,
    /// Files removed by retention since start.
    pub expired_files: u64,
}

struct Shared {
    report: Mutex<ShipReport>,
    observer: Mutex<Option<Observer>>,
    stop: Mutex<bool>,
    wake: Condvar,
}

/// The background shipper of the process that holds the store. Dropping it (or
/// [`Shipper::shutdown`]) ships what is pending and stops.
pub struct Shipper {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    dir: PathBuf,
}

impl std::fmt::Debug for Shipper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shipper")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shipper {
    /// Opens the log (repairing a torn tail, which is recorded as an `audit.repair` event),
    /// ships what is pending, then keeps shipping every `interval` and applies retention
    /// hourly. Fails if the log cannot be opened or the first round fails, so a gateway does
    /// not start without a working audit log.
    pub fn start(
        store: Arc<dyn Store>,
        settings: LogSettings,
        interval: Duration,
    ) -> Result<(Self, Vec<Repair>), AuditError> {
        let dir = settings.dir.clone();
        let (mut writer, repairs) = Writer::open(settings)?;
        let now = OffsetDateTime::now_utc();
        for r in &repairs {
            store.append_audit(
                AuditEvent::new(now, "audit-log", "audit.repair")
                    .with("file", r.file.display().to_string())
                    .with("kept_bytes", r.kept_bytes)
                    .with("cut_bytes", r.cut_bytes)
                    .with("saved_to", r.saved_to.display().to_string())
                    .with("reason", r.reason.as_str()),
            )?;
        }
        let shipped = ship_pending(&*store, &mut writer)?;
        let expired = writer.expire(now)?.len() as u64;
        let shared = Arc::new(Shared {
            report: Mutex::new(ShipReport {
                shipped,
                last_seq: writer.last_seq(),
                errors: 0,
                last_error: None,
                expired_files: expired,
            }),
            observer: Mutex::new(None),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("sdkgw-audit".into())
                .spawn(move || run(&*store, writer, &shared, interval))
                .map_err(|e| AuditError::io("start the shipper for", &dir, e))?
        };
        Ok((
            Self {
                shared,
                thread: Some(thread),
                dir,
            },
            repairs,
        ))
    }

    /// Shows every event shipped from now on to `observer`.
    pub fn set_observer(&self, observer: Observer) {
        *lock(&self.shared.observer) = Some(observer);
    }

    /// The counters.
    pub fn report(&self) -> ShipReport {
        lock(&self.shared.report).clone()
    }

    /// A handle that reads the counters (for `/metrics` and `/readyz`), valid after the
    /// shipper stopped too.
    pub fn reporter(&self) -> impl Fn() -> ShipReport + Send + Sync + 'static {
        let shared = self.shared.clone();
        move || lock(&shared.report).clone()
    }

    /// Ships what is pending, then stops.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        *lock(&self.shared.stop) = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Shipper {
    fn drop(&mut self) {
        self.stop_now();
    }
}

fn run(store: &dyn Store, mut writer: Writer, shared: &Shared, interval: Duration) {
    let mut last_expiry = Instant::now();
    loop {
        let stopping = {
            let stop = lock(&shared.stop);
            let (stop, _) = shared
                .wake
                .wait_timeout_while(stop, interval, |s| !*s)
                .unwrap_or_else(PoisonError::into_inner);
            *stop
        };
        let observer = lock(&shared.observer).clone();
        let observe = |batch: &[AuditEvent]| {
            if let Some(o) = &observer {
                o(batch);
            }
        };
        let round = ship_observed(store, &mut writer, &observe).and_then(|n| {
            let expired = if last_expiry.elapsed() >= EXPIRE_EVERY {
                last_expiry = Instant::now();
                writer.expire(OffsetDateTime::now_utc())?.len() as u64
            } else {
                0
            };
            Ok((n, expired))
        });
        {
            let mut r = lock(&shared.report);
            match round {
                Ok((n, expired)) => {
                    r.shipped += n;
                    r.expired_files += expired;
                    r.last_error = None;
                }
                Err(e) => {
                    tracing::error!(error = %e, "audit log: shipping failed; events stay in the journal");
                    r.errors += 1;
                    r.last_error = Some(e.to_string());
                }
            }
            r.last_seq = writer.last_seq();
        }
        if stopping {
            return;
        }
    }
}
