//! Retention in the running gateway: `gc` on a background thread at a fixed interval.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use time::OffsetDateTime;

use crate::api::{GcReport, NoProgress, Store};
use crate::error::StoreError;

/// Outcome of the last periodic run: the report, or the error's text.
pub type LastGc = Option<Result<GcReport, String>>;

/// Runs [`Store::gc`] every `interval` until dropped (the first run after one interval).
#[derive(Debug)]
pub struct PeriodicGc {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    last: Arc<Mutex<LastGc>>,
}

impl PeriodicGc {
    pub fn start(store: Arc<dyn Store>, interval: Duration) -> Result<Self, StoreError> {
        let (stop, stopped) = mpsc::channel::<()>();
        let last: Arc<Mutex<LastGc>> = Arc::new(Mutex::new(None));
        let shared = last.clone();
        let thread = std::thread::Builder::new()
            .name("sdkgw-store-gc".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    let result = store
                        .gc(OffsetDateTime::now_utc(), &mut NoProgress)
                        .map_err(|e| e.to_string());
                    *shared.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
                }
            })
            .map_err(|e| StoreError::Invalid(format!("cannot start the gc thread: {e}")))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
            last,
        })
    }

    /// The last run's outcome (for metrics and health checks).
    pub fn last(&self) -> LastGc {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for PeriodicGc {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
