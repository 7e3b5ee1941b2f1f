//! `sdkgw reload` while the gateway runs: the gateway serves reload requests on
//! `<data_dir>/reload.sock` (mode 0600, in the 0700 data directory), like the store's
//! `admin.sock` and the other operator sockets. Only the gateway process reloads: it holds the
//! passwords (`password_env`) and the listeners.
//!
//! Protocol: one JSON [`Request`] line; one answer line, `{"ok":<ReloadReport>}` or
//! `{"error":{"input":bool,"message":…}}`. Requests are handled one after the other (reloads
//! are serialized anyway).

use std::fs;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ReloadReport, Reloader};

/// File name of the socket inside the data directory.
pub const SOCKET_NAME: &str = "reload.sock";
const MAX_REQUEST: u64 = 16 * 1024;
/// A slow client holds up the next one at most this long.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A reload checks chains and may fetch CRLs: the CLI waits this long for the answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

/// A reload request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    Reload {
        /// Who asked (audit), e.g. `cli:alice`.
        actor: String,
        /// The configuration file the caller means (absolute); refused when it is not the
        /// one the gateway runs with.
        config: Option<PathBuf>,
    },
}

/// A request that could not be run (as opposed to a reload that was refused: that is a
/// [`ReloadReport`] with `applied: false`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// The request was wrong (exit 2), rather than the gateway failing (1).
    pub input: bool,
    pub message: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Line {
    Ok(Box<ReloadReport>),
    Error(Failure),
}

/// Runs one request.
pub fn execute(reloader: &Reloader, request: Request) -> Result<ReloadReport, Failure> {
    let Request::Reload { actor, config } = request;
    if let Some(asked) = config {
        let same = |a: &Path, b: &Path| match (fs::canonicalize(a), fs::canonicalize(b)) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        };
        if !same(&asked, reloader.config_file()) {
            return Err(Failure {
                input: true,
                message: format!(
                    "the gateway serving this data directory runs {}, not {}",
                    reloader.config_file().display(),
                    asked.display()
                ),
            });
        }
    }
    Ok(reloader.reload(&actor))
}

/// Serves reloads on `<data_dir>/reload.sock` until dropped.
#[derive(Debug)]
pub struct ReloadSocket {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ReloadSocket {
    /// Binds the socket (mode 0600); a stale socket file nobody answers on is replaced.
    pub fn start(reloader: Arc<Reloader>, data_dir: &Path) -> std::io::Result<Self> {
        let path = data_dir.join(SOCKET_NAME);
        if path.exists() {
            if UnixStream::connect(&path).is_ok() {
                return Err(std::io::Error::new(
                    ErrorKind::AddrInUse,
                    format!("another process serves {}", path.display()),
                ));
            }
            fs::remove_file(&path)?;
        }
        let listener = UnixListener::bind(&path)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("sdkgw-reload".into())
                .spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        if let Ok(conn) = conn {
                            serve(conn, &reloader);
                        }
                    }
                })?
        };
        Ok(Self {
            path,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for ReloadSocket {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = fs::remove_file(&self.path);
    }
}

fn serve(mut conn: UnixStream, reloader: &Reloader) {
    let _ = conn.set_read_timeout(Some(READ_TIMEOUT));
    let mut line = String::new();
    let input = |message: String| Failure {
        input: true,
        message,
    };
    let read = BufReader::new((&conn).take(MAX_REQUEST))
        .read_line(&mut line)
        .map_err(|e| input(format!("cannot read the request: {e}")));
    let result = read.and_then(|_| {
        if !line.ends_with('\n') {
            return Err(input(format!(
                "one JSON line of at most {MAX_REQUEST} bytes expected"
            )));
        }
        let request: Request =
            serde_json::from_str(&line).map_err(|e| input(format!("bad request: {e}")))?;
        execute(reloader, request)
    });
    let answer = match result {
        Ok(r) => Line::Ok(Box::new(r)),
        Err(f) => Line::Error(f),
    };
    if let Ok(mut bytes) = serde_json::to_vec(&answer) {
        bytes.push(b'\n');
        let _ = conn.write_all(&bytes);
    }
}

/// Asks the gateway serving `data_dir` to reload; `Ok(None)` when none answers.
pub fn call(data_dir: &Path, request: &Request) -> Result<Option<ReloadReport>, Failure> {
    let path = data_dir.join(SOCKET_NAME);
    let failure = |message: String| Failure {
        input: false,
        message,
    };
    let mut conn = match UnixStream::connect(&path) {
        Ok(c) => c,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
            return Ok(None);
        }
        Err(e) => return Err(failure(format!("connect to {}: {e}", path.display()))),
    };
    let _ = conn.set_read_timeout(Some(ANSWER_TIMEOUT));
    let mut bytes = serde_json::to_vec(request).map_err(|e| failure(e.to_string()))?;
    bytes.push(b'\n');
    conn.write_all(&bytes)
        .map_err(|e| failure(format!("write to {}: {e}", path.display())))?;
    let mut answer = String::new();
    BufReader::new(conn.take(16 << 20))
        .read_line(&mut answer)
        .map_err(|e| failure(format!("read from {}: {e}", path.display())))?;
    match serde_json::from_str::<Line>(&answer) {
        Ok(Line::Ok(r)) => Ok(Some(*r)),
        Ok(Line::Error(f)) => Err(f),
        Err(e) => Err(failure(format!("bad answer from the gateway: {e}"))),
    }
}
