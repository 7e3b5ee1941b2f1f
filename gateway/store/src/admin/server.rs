//! The admin socket server the gateway runs (one thread to accept, one per connection).

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use time::OffsetDateTime;

use super::{Line, Request, SOCKET_NAME, execute};
use crate::api::{Progress, Store};
use crate::error::StoreError;

const MAX_REQUEST: u64 = 64 * 1024;
const MAX_CONNECTIONS: usize = 16;
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves operator requests on `<data_dir>/admin.sock` until shut down or dropped.
#[derive(Debug)]
pub struct AdminServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    active: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl AdminServer {
    /// Binds the socket in the store's data directory (mode 0600) and starts serving.
    /// A leftover socket file that nobody answers on is replaced.
    pub fn start(store: Arc<dyn Store>) -> Result<Self, StoreError> {
        let path = store.data_dir().join(SOCKET_NAME);
        if path.exists() {
            if UnixStream::connect(&path).is_ok() {
                return Err(StoreError::Admin {
                    path,
                    message: "another process already serves this data directory".into(),
                });
            }
            fs::remove_file(&path).map_err(|e| StoreError::io("remove stale socket", &path, e))?;
        }
        let listener = UnixListener::bind(&path).map_err(|e| StoreError::io("bind", &path, e))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
            .map_err(|e| StoreError::io("set permissions of", &path, e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let active = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, active) = (stop.clone(), active.clone());
            std::thread::Builder::new()
                .name("sdkgw-admin".into())
                .spawn(move || accept_loop(&listener, &store, &stop, &active))
                .map_err(|e| StoreError::io("start admin thread for", &path, e))?
        };
        Ok(Self {
            path,
            stop,
            active,
            thread: Some(thread),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting, removes the socket file and waits until requests in progress have
    /// finished (so the store is no longer used by this server when it returns).
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = fs::remove_file(&self.path);
        while self.active.load(Ordering::SeqCst) > 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop_now();
        }
    }
}

fn accept_loop(
    listener: &UnixListener,
    store: &Arc<dyn Store>,
    stop: &AtomicBool,
    active: &Arc<AtomicUsize>,
) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut conn) = conn else { continue };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            let _ = send(
                &mut conn,
                &Line::Error {
                    code: "busy".into(),
                    message: "too many operator connections; try again".into(),
                },
            );
            continue;
        }
        let store = store.clone();
        let counter = active.clone();
        let spawned = std::thread::Builder::new()
            .name("sdkgw-admin-conn".into())
            .spawn(move || {
                serve(conn, store.as_ref());
                drop(store);
                counter.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            // No thread: the connection is dropped (the client sees EOF) and not counted.
            active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn send(conn: &mut UnixStream, line: &Line) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(line).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    conn.write_all(&bytes)
}

struct SocketProgress<'a> {
    conn: &'a mut UnixStream,
}

impl Progress for SocketProgress<'_> {
    fn report(&mut self, phase: &str, done: u64, total: Option<u64>) {
        // A client that went away does not stop the operation.
        let _ = send(
            self.conn,
            &Line::Progress {
                phase: phase.to_owned(),
                done,
                total,
            },
        );
    }
}

fn serve(mut conn: UnixStream, store: &dyn Store) {
    let _ = conn.set_read_timeout(Some(READ_TIMEOUT));
    let request = read_request(&conn);
    let result = request.and_then(|req| {
        let mut progress = SocketProgress { conn: &mut conn };
        execute(store, &req, OffsetDateTime::now_utc(), &mut progress)
    });
    let line = match result {
        Ok(resp) => Line::Ok(resp),
        Err(e) => Line::Error {
            code: e.code().into(),
            message: e.to_string(),
        },
    };
    let _ = send(&mut conn, &line);
}

fn read_request(conn: &UnixStream) -> Result<Request, StoreError> {
    let mut line = String::new();
    BufReader::new(conn.take(MAX_REQUEST))
        .read_line(&mut line)
        .map_err(|e| StoreError::Invalid(format!("cannot read request: {e}")))?;
    if !line.ends_with('\n') {
        return Err(StoreError::Invalid(format!(
            "request must be one JSON line of at most {MAX_REQUEST} bytes"
        )));
    }
    serde_json::from_str(&line).map_err(|e| StoreError::Invalid(format!("bad request: {e}")))
}
