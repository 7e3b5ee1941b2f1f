//! A scripted HTTP/1.1 server on 127.0.0.1 (std threads, independent of our own server code)
//! for the revocation fetch tests: per path a fixed body, a status, a dropped connection, a
//! redirect or a body computed from the request; requests counted per path. Also used by the
//! server crate's configuration tests (included by path).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

pub type Respond = Arc<dyn Fn(&[u8]) -> Vec<u8> + Send + Sync>;

#[derive(Clone)]
pub enum Reply {
    Ok(Vec<u8>),
    Status(u16),
    /// Close the connection without answering (source down).
    Close,
    Redirect(String),
    /// 200 with a body computed from the request body (OCSP).
    Compute(Respond),
}

#[derive(Default)]
struct Script {
    replies: HashMap<String, Reply>,
    hits: HashMap<String, usize>,
}

pub struct TestServer {
    pub addr: SocketAddr,
    script: Arc<Mutex<Script>>,
}

impl TestServer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Mutex::new(Script::default()));
        let s = Arc::clone(&script);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let s = Arc::clone(&s);
                std::thread::spawn(move || serve(stream, &s));
            }
        });
        TestServer { addr, script }
    }
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    pub fn set(&self, path: &str, reply: Reply) {
        self.script
            .lock()
            .unwrap()
            .replies
            .insert(path.into(), reply);
    }
    pub fn hits(&self, path: &str) -> usize {
        self.script
            .lock()
            .unwrap()
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

fn serve(mut stream: TcpStream, script: &Mutex<Script>) {
    stream
        .set_read_timeout(Some(StdDuration::from_secs(5)))
        .unwrap();
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let Ok(n) = stream.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    while data.len() < head_end + length {
        let Ok(n) = stream.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        data.extend_from_slice(&buf[..n]);
    }
    let body = &data[head_end..head_end + length];
    let reply = {
        let mut s = script.lock().unwrap();
        *s.hits.entry(path.clone()).or_default() += 1;
        s.replies.get(&path).cloned().unwrap_or(Reply::Status(404))
    };
    let (status, extra, body) = match reply {
        Reply::Ok(b) => (200, String::new(), b),
        Reply::Status(code) => (code, String::new(), Vec::new()),
        Reply::Close => return,
        Reply::Redirect(to) => (302, format!("Location: {to}\r\n"), Vec::new()),
        Reply::Compute(f) => (200, String::new(), f(body)),
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}
