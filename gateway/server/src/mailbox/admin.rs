//! `sdkgw mailbox …` while the gateway runs: the gateway serves registry requests on
//! `<data_dir>/mailbox.sock` (mode 0600), like the store's `admin.sock`. Without a running
//! gateway the CLI opens the store and runs the same [`execute`].
//!
//! Protocol: one JSON [`Request`] line; one answer line, `{"ok":…}` or
//! `{"error":{"input":bool,"message":…}}`.

use std::fs;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use sdkgw_schemas::{FunctionAddress, ParticipantId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Mailbox, MailboxError, NotificationChange, Registry};

/// File name of the socket inside the data directory.
pub const SOCKET_NAME: &str = "mailbox.sock";
const MAX_REQUEST: u64 = 64 * 1024;
const MAX_CONNECTIONS: usize = 8;
const TIMEOUT: Duration = Duration::from_secs(30);

/// A registry request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    List,
    Show {
        address: FunctionAddress,
    },
    Add {
        address: FunctionAddress,
        participant: ParticipantId,
        name: Option<String>,
        notifications: NotificationChange,
        actor: String,
    },
    Remove {
        address: FunctionAddress,
        actor: String,
    },
    Set {
        address: FunctionAddress,
        notifications: NotificationChange,
        actor: String,
    },
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum Response {
    List(Vec<Mailbox>),
    Mailbox(Box<Mailbox>),
}

/// A failed request as the CLI sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// The request was refused (exit 2), rather than the registry failing (1).
    pub input: bool,
    pub message: String,
}

impl From<MailboxError> for Failure {
    fn from(e: MailboxError) -> Self {
        Self {
            input: e.is_input_error(),
            message: e.to_string(),
        }
    }
}

/// Runs one request.
pub fn execute(
    registry: &Registry,
    request: Request,
    now: OffsetDateTime,
) -> Result<Response, MailboxError> {
    Ok(match request {
        Request::List => Response::List(registry.list()?),
        Request::Show { address } => Response::Mailbox(Box::new(
            registry
                .get(&address)?
                .ok_or_else(|| MailboxError::NotFound(address.to_string()))?,
        )),
        Request::Add {
            address,
            participant,
            name,
            notifications,
            actor,
        } => Response::Mailbox(Box::new(registry.add(
            address,
            participant,
            name,
            notifications,
            &actor,
            now,
        )?)),
        Request::Remove { address, actor } => {
            Response::Mailbox(Box::new(registry.remove(&address, &actor, now)?))
        }
        Request::Set {
            address,
            notifications,
            actor,
        } => Response::Mailbox(Box::new(registry.set_notifications(
            &address,
            notifications,
            &actor,
            now,
        )?)),
    })
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Line {
    Ok(Response),
    Error(Failure),
}

/// Serves the registry on `<data_dir>/mailbox.sock` until dropped.
#[derive(Debug)]
pub struct AdminServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl AdminServer {
    /// Binds the socket (mode 0600); a stale socket file nobody answers on is replaced.
    pub fn start(registry: Arc<Registry>, data_dir: &Path) -> std::io::Result<Self> {
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
                .name("sdkgw-mailbox-admin".into())
                .spawn(move || accept_loop(&listener, &registry, &stop))?
        };
        Ok(Self {
            path,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = fs::remove_file(&self.path);
    }
}

fn accept_loop(listener: &UnixListener, registry: &Arc<Registry>, stop: &AtomicBool) {
    let active = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut conn) = conn else { continue };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            let _ = send(
                &mut conn,
                &Line::Error(Failure {
                    input: false,
                    message: "too many operator connections; try again".into(),
                }),
            );
            continue;
        }
        let (registry, counter) = (registry.clone(), active.clone());
        let spawned = std::thread::Builder::new()
            .name("sdkgw-mailbox-conn".into())
            .spawn(move || {
                serve(conn, &registry);
                counter.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn send(conn: &mut UnixStream, line: &Line) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(line).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    conn.write_all(&bytes)
}

fn read_line(conn: &UnixStream) -> Result<String, Failure> {
    let mut line = String::new();
    let invalid = |message: String| Failure {
        input: true,
        message,
    };
    BufReader::new(conn.take(MAX_REQUEST))
        .read_line(&mut line)
        .map_err(|e| invalid(format!("cannot read: {e}")))?;
    if !line.ends_with('\n') {
        return Err(invalid(format!(
            "one JSON line of at most {MAX_REQUEST} bytes expected"
        )));
    }
    Ok(line)
}

fn serve(mut conn: UnixStream, registry: &Registry) {
    let _ = conn.set_read_timeout(Some(TIMEOUT));
    let result = read_line(&conn).and_then(|line| {
        let request: Request = serde_json::from_str(&line).map_err(|e| Failure {
            input: true,
            message: format!("bad request: {e}"),
        })?;
        execute(registry, request, OffsetDateTime::now_utc()).map_err(Failure::from)
    });
    let line = match result {
        Ok(r) => Line::Ok(r),
        Err(f) => Line::Error(f),
    };
    let _ = send(&mut conn, &line);
}

/// Sends a request to the gateway serving `data_dir`; `Ok(None)` when none answers.
pub fn call(data_dir: &Path, request: &Request) -> Result<Option<Response>, Failure> {
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
    let _ = conn.set_read_timeout(Some(TIMEOUT));
    let mut bytes = serde_json::to_vec(request).map_err(|e| failure(e.to_string()))?;
    bytes.push(b'\n');
    conn.write_all(&bytes)
        .map_err(|e| failure(format!("write to {}: {e}", path.display())))?;
    let mut answer = String::new();
    BufReader::new(conn.take(16 << 20))
        .read_line(&mut answer)
        .map_err(|e| failure(format!("read from {}: {e}", path.display())))?;
    match serde_json::from_str::<Line>(&answer) {
        Ok(Line::Ok(r)) => Ok(Some(r)),
        Ok(Line::Error(f)) => Err(f),
        Err(e) => Err(failure(format!("bad answer from the gateway: {e}"))),
    }
}
