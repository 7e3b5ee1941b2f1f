//! The CLI side of the socket.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{AdminError, Request, Response, SOCKET_NAME};

/// A running gateway's address-book socket.
#[derive(Debug, Clone)]
pub struct AdminClient {
    path: PathBuf,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Line {
    Ok(Response),
    Error(AdminError),
}

impl AdminClient {
    /// `Some` when a gateway answers on `<data_dir>/address-book.sock`.
    pub fn connect(data_dir: &Path) -> Result<Option<Self>, AdminError> {
        let path = data_dir.join(SOCKET_NAME);
        match UnixStream::connect(&path) {
            Ok(_) => Ok(Some(Self { path })),
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
                Ok(None)
            }
            Err(e) => Err(AdminError::new(
                "io",
                format!("connect to {}: {e}", path.display()),
            )),
        }
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends one request and waits for the answer (at most `timeout`).
    pub fn call(&self, request: &Request, timeout: Duration) -> Result<Response, AdminError> {
        let io = |what: &str, e: std::io::Error| {
            AdminError::new("io", format!("{what} {}: {e}", self.path.display()))
        };
        let mut conn = UnixStream::connect(&self.path).map_err(|e| io("connect to", e))?;
        conn.set_read_timeout(Some(timeout))
            .map_err(|e| io("configure", e))?;
        let mut line =
            serde_json::to_vec(request).map_err(|e| AdminError::new("invalid", e.to_string()))?;
        line.push(b'\n');
        conn.write_all(&line).map_err(|e| io("write to", e))?;
        let mut answer = String::new();
        BufReader::new(conn)
            .read_line(&mut answer)
            .map_err(|e| io("read from", e))?;
        match serde_json::from_str::<Line>(&answer) {
            Ok(Line::Ok(r)) => Ok(r),
            Ok(Line::Error(e)) => Err(e),
            Err(e) => Err(AdminError::new(
                "remote",
                format!("bad answer from {}: {e}", self.path.display()),
            )),
        }
    }
}
