//! Client management while the gateway runs. sled locks the data directory, so — as for the
//! store's and the address book's operator commands — the running gateway serves
//! `sdkgw client …` on a Unix socket, `<data_dir>/api-clients.sock` (mode 0600); the CLI uses
//! it when a gateway answers there and opens the store itself otherwise. Both run [`execute`].
//!
//! Protocol: one JSON [`ClientRequest`] line; one answer line, `{"ok":…}` or `{"error":"…"}`.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::oneshot;

use super::auth::{Clients, NewClient};

/// File name of the socket inside the data directory.
pub const SOCKET_NAME: &str = "api-clients.sock";
const MAX_REQUEST: u64 = 1 << 20;

/// An operator request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum ClientRequest {
    Add {
        client: NewClient,
        actor: String,
    },
    List,
    Revoke {
        id: String,
        actor: String,
    },
    Grant {
        id: String,
        grants: Vec<String>,
        scopes: Vec<String>,
        remove: bool,
        actor: String,
    },
}

/// Runs one request on the registry. Answers: `add` → the client and its secret (once);
/// `list` → the clients without hashes; `revoke`/`grant` → the client.
pub fn execute(
    clients: &Clients,
    request: ClientRequest,
    now: OffsetDateTime,
) -> Result<Value, String> {
    let e = |e: super::auth::clients::ClientError| e.to_string();
    match request {
        ClientRequest::Add { client, actor } => {
            let (record, secret) = clients.add(client, now).map_err(e)?;
            tracing::info!(target: "sdkgw::api::audit", actor, client = %record.id, "API client added");
            Ok(json!({"client": record.public_view(), "secret": secret}))
        }
        ClientRequest::List => {
            let list = clients.list().map_err(e)?;
            Ok(Value::Array(list.iter().map(|c| c.public_view()).collect()))
        }
        ClientRequest::Revoke { id, actor } => {
            let record = clients.revoke(&id, now).map_err(e)?;
            tracing::info!(target: "sdkgw::api::audit", actor, client = %id, "API client revoked");
            Ok(record.public_view())
        }
        ClientRequest::Grant {
            id,
            grants,
            scopes,
            remove,
            actor,
        } => {
            let record = clients.grant(&id, &grants, &scopes, remove).map_err(e)?;
            tracing::info!(target: "sdkgw::api::audit", actor, client = %id, remove, "API client grants changed");
            Ok(record.public_view())
        }
    }
}

/// Sends `request` to a running gateway; `None` when none answers on the socket.
pub fn call(data_dir: &Path, request: &ClientRequest) -> Option<Result<Value, String>> {
    let path = data_dir.join(SOCKET_NAME);
    let mut conn = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(c) => c,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
            return None;
        }
        Err(e) => return Some(Err(format!("connect to {}: {e}", path.display()))),
    };
    let mut run = || -> Result<Value, String> {
        conn.set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| e.to_string())?;
        let mut line = serde_json::to_vec(request).map_err(|e| e.to_string())?;
        line.push(b'\n');
        conn.write_all(&line)
            .map_err(|e| format!("write to {}: {e}", path.display()))?;
        let mut answer = String::new();
        BufReader::new(&conn)
            .read_line(&mut answer)
            .map_err(|e| format!("read from {}: {e}", path.display()))?;
        let v: Value = serde_json::from_str(&answer).map_err(|e| format!("bad answer: {e}"))?;
        match (v.get("ok"), v.get("error")) {
            (Some(ok), _) => Ok(ok.clone()),
            (_, Some(err)) => Err(err.as_str().unwrap_or("error").to_owned()),
            _ => Err("bad answer".into()),
        }
    };
    Some(run())
}

/// Serves the socket until dropped.
#[derive(Debug)]
pub struct AdminServer {
    path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
}

impl AdminServer {
    /// Binds `<data_dir>/api-clients.sock` (0600). A stale socket is replaced; a live one is an
    /// error (another gateway uses this data directory).
    pub async fn start(clients: Clients, data_dir: &Path) -> Result<Self, String> {
        let path = data_dir.join(SOCKET_NAME);
        if path.exists() {
            if UnixStream::connect(&path).await.is_ok() {
                return Err(format!("another process already serves {}", path.display()));
            }
            std::fs::remove_file(&path)
                .map_err(|e| format!("remove stale {}: {e}", path.display()))?;
        }
        let listener =
            UnixListener::bind(&path).map_err(|e| format!("bind {}: {e}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("chmod {}: {e}", path.display()))?;
        let (stop, mut stopped) = oneshot::channel();
        let clients = Arc::new(clients);
        tokio::spawn(async move {
            loop {
                let conn = tokio::select! {
                    _ = &mut stopped => return,
                    c = listener.accept() => match c {
                        Ok((c, _)) => c,
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let clients = clients.clone();
                tokio::spawn(serve(conn, clients));
            }
        });
        Ok(Self {
            path,
            stop: Some(stop),
        })
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn serve(mut conn: UnixStream, clients: Arc<Clients>) {
    let mut line = Vec::new();
    let read = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::io::BufReader::new((&mut conn).take(MAX_REQUEST)).read_until(b'\n', &mut line),
    )
    .await;
    let answer = match (read, serde_json::from_slice::<ClientRequest>(&line)) {
        (Ok(Ok(_)), Ok(req)) => {
            let c = clients.clone();
            tokio::task::spawn_blocking(move || execute(&c, req, OffsetDateTime::now_utc()))
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
        }
        (_, Err(e)) => Err(format!("bad request: {e}")),
        _ => Err("no request within 60 s".into()),
    };
    let v = match answer {
        Ok(ok) => json!({"ok": ok}),
        Err(e) => json!({"error": e}),
    };
    let mut bytes = serde_json::to_vec(&v).unwrap_or_default();
    bytes.push(b'\n');
    let _ = conn.write_all(&bytes).await;
}
