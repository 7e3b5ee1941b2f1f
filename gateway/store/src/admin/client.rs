//! The CLI side: talk to a running gateway's socket, or open the directory directly.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::{Line, Request, Response, SOCKET_NAME, execute};
use crate::api::Progress;
use crate::config::StoreConfig;
use crate::error::StoreError;
use crate::sled_backend::{SledStore, read_format};

/// A connection target: the admin socket of a running gateway.
#[derive(Debug, Clone)]
pub struct AdminClient {
    path: PathBuf,
}

impl AdminClient {
    /// `Some` when a gateway answers on `<data_dir>/admin.sock`; `None` when there is no
    /// socket or nobody listens on it (a stale file after a crash).
    pub fn connect(data_dir: &Path) -> Result<Option<Self>, StoreError> {
        let path = data_dir.join(SOCKET_NAME);
        match UnixStream::connect(&path) {
            Ok(_) => Ok(Some(Self { path })),
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
                Ok(None)
            }
            Err(e) => Err(StoreError::io("connect to", &path, e)),
        }
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends one request and waits for its answer, passing progress lines on.
    pub fn call(
        &self,
        request: &Request,
        progress: &mut dyn Progress,
    ) -> Result<Response, StoreError> {
        let err = |message: String| StoreError::Admin {
            path: self.path.clone(),
            message,
        };
        let mut conn = UnixStream::connect(&self.path)
            .map_err(|e| StoreError::io("connect to", &self.path, e))?;
        let mut line = serde_json::to_vec(request).map_err(|e| err(e.to_string()))?;
        line.push(b'\n');
        conn.write_all(&line)
            .map_err(|e| StoreError::io("write to", &self.path, e))?;
        for answer in BufReader::new(conn).lines() {
            let answer = answer.map_err(|e| StoreError::io("read from", &self.path, e))?;
            match serde_json::from_str::<Line>(&answer)
                .map_err(|e| err(format!("bad answer: {e}")))?
            {
                Line::Progress { phase, done, total } => progress.report(&phase, done, total),
                Line::Ok(resp) => return Ok(resp),
                Line::Error { code, message } => return Err(StoreError::Remote { code, message }),
            }
        }
        Err(err(
            "the gateway closed the connection without an answer".into()
        ))
    }
}

/// How an operator command reaches the store.
#[derive(Debug)]
pub enum Access {
    /// Through the running gateway.
    Remote(AdminClient),
    /// The CLI opened the data directory itself (no gateway runs).
    Local(SledStore),
}

impl Access {
    /// Uses the socket when a gateway answers there, opens the directory otherwise. Refuses a
    /// directory that does not hold a store (it never creates one).
    pub fn open(config: StoreConfig) -> Result<Self, StoreError> {
        let dir = config.data_dir.clone();
        if let Some(client) = AdminClient::connect(&dir)? {
            return Ok(Self::Remote(client));
        }
        if read_format(&dir)?.is_none() {
            return Err(StoreError::NotAStore {
                path: dir,
                reason: "no FORMAT file (wrong --data-dir?)".into(),
            });
        }
        SledStore::open(config).map(Self::Local)
    }

    /// Runs a request wherever the store is.
    pub fn call(
        &self,
        request: &Request,
        progress: &mut dyn Progress,
    ) -> Result<Response, StoreError> {
        match self {
            Self::Remote(client) => client.call(request, progress),
            Self::Local(store) => execute(store, request, OffsetDateTime::now_utc(), progress),
        }
    }

    /// Whether a running gateway serves the request.
    pub fn is_remote(&self) -> bool {
        matches!(self, Self::Remote(_))
    }
}
