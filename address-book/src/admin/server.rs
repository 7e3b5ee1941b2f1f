//! The socket server a running gateway starts (one tokio task per connection).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, oneshot};

use super::{AdminError, MAX_REQUEST, Request, SOCKET_NAME, Services, execute};

const MAX_CONNECTIONS: usize = 8;
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves address-book operator requests on `<data_dir>/address-book.sock` until shut down
/// or dropped.
#[derive(Debug)]
pub struct AdminServer {
    path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
}

impl AdminServer {
    /// Binds the socket (mode 0600) in `data_dir` and serves in a tokio task. A leftover
    /// socket nobody answers on is replaced; a live one is an error (another gateway).
    pub async fn start(services: Services, data_dir: &Path) -> Result<Self, AdminError> {
        let path = data_dir.join(SOCKET_NAME);
        let io = |what: &str, e: std::io::Error| {
            AdminError::new("io", format!("{what} {}: {e}", path.display()))
        };
        if path.exists() {
            if UnixStream::connect(&path).await.is_ok() {
                return Err(AdminError::new(
                    "io",
                    format!("another process already serves {}", path.display()),
                ));
            }
            std::fs::remove_file(&path).map_err(|e| io("remove stale socket", e))?;
        }
        let listener = UnixListener::bind(&path).map_err(|e| io("bind", e))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io("set permissions of", e))?;
        let (stop, mut stopped) = oneshot::channel();
        let services = Arc::new(services);
        tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
            loop {
                let conn = tokio::select! {
                    _ = &mut stopped => return,
                    accepted = listener.accept() => match accepted {
                        Ok((conn, _)) => conn,
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    let mut conn = conn;
                    let busy = AdminError::new("busy", "too many operator connections; try again");
                    let _ = send(&mut conn, &Err(busy)).await;
                    continue;
                };
                let services = services.clone();
                tokio::spawn(async move {
                    serve(conn, &services).await;
                    drop(permit);
                });
            }
        });
        Ok(Self {
            path,
            stop: Some(stop),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn send(
    conn: &mut UnixStream,
    answer: &Result<super::Response, AdminError>,
) -> std::io::Result<()> {
    let line = match answer {
        Ok(r) => serde_json::json!({ "ok": r }),
        Err(e) => serde_json::json!({ "error": e }),
    };
    let mut bytes = serde_json::to_vec(&line).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    conn.write_all(&bytes).await
}

async fn serve(mut conn: UnixStream, services: &Services) {
    let request = tokio::time::timeout(READ_TIMEOUT, read_request(&mut conn)).await;
    let answer = match request {
        Ok(Ok(req)) => execute(services, req).await,
        Ok(Err(e)) => Err(e),
        Err(_) => Err(AdminError::new("invalid", "no request within 60 s")),
    };
    let _ = send(&mut conn, &answer).await;
}

async fn read_request(conn: &mut UnixStream) -> Result<Request, AdminError> {
    let mut line = Vec::new();
    BufReader::new(conn.take(MAX_REQUEST))
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| AdminError::new("invalid", format!("cannot read request: {e}")))?;
    if line.last() != Some(&b'\n') {
        return Err(AdminError::new(
            "invalid",
            format!("a request is one JSON line of at most {MAX_REQUEST} bytes"),
        ));
    }
    serde_json::from_slice(&line)
        .map_err(|e| AdminError::new("invalid", format!("bad request: {e}")))
}
