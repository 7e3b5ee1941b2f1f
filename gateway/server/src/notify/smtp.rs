//! A small SMTP submission client (RFC 5321): EHLO, STARTTLS through rustls (required or
//! opportunistic), AUTH PLAIN/LOGIN, one message to a few recipients. Enough to hand a
//! notification to an organisation's mail relay (an Outlook group, a TOPdesk intake); not a
//! general mail library.
//!
//! Safety: replies are bounded (line length, line count); after `STARTTLS` nothing the server
//! sent before the handshake is accepted (command injection); credentials are only sent over
//! TLS; addresses and header values are checked for CR/LF before they reach the wire.

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use zeroize::Zeroizing;

/// Longest reply line accepted (RFC 5321: 512; generous).
const MAX_LINE: usize = 2048;
/// Most lines of one (multi-line) reply.
const MAX_REPLY_LINES: usize = 64;

/// When TLS is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// STARTTLS is required: refuse a server that does not offer it (default).
    Starttls,
    /// STARTTLS when the server offers it, plain text otherwise (no AUTH then).
    Opportunistic,
    /// Never (a relay on the same host / a lab); AUTH is refused.
    Off,
}

/// Credentials for AUTH PLAIN / LOGIN.
#[derive(Clone)]
pub struct SmtpAuth {
    pub username: String,
    pub password: Zeroizing<String>,
}

impl std::fmt::Debug for SmtpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpAuth")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// How to reach the relay.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// Verifies the relay's certificate (host name checked against `host`).
    pub tls_config: Arc<rustls::ClientConfig>,
    /// Envelope and header sender.
    pub from: String,
    /// Our name in EHLO.
    pub helo: String,
    pub auth: Option<SmtpAuth>,
    /// Per step (connect, each reply).
    pub timeout: Duration,
}

/// Why a message was not handed over.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("SMTP connection to {0}: {1}")]
    Io(String, std::io::Error),
    #[error("SMTP server timed out ({0:?})")]
    Timeout(Duration),
    #[error("SMTP server answered {code} to {step}: {text}")]
    Rejected {
        step: &'static str,
        code: u16,
        text: String,
    },
    #[error("SMTP protocol error: {0}")]
    Protocol(String),
    #[error("SMTP server does not offer STARTTLS, which [notifications.smtp] tls requires")]
    NoStarttls,
    #[error("SMTP TLS: {0}")]
    Tls(String),
    #[error("invalid SMTP input: {0}")]
    Invalid(String),
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

struct Conn {
    stream: Box<dyn Stream>,
    buf: Vec<u8>,
    timeout: Duration,
    tls: bool,
}

struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Conn {
    async fn line(&mut self) -> Result<String, SmtpError> {
        loop {
            if let Some(p) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..p + 2).take(p).collect();
                return String::from_utf8(line)
                    .map_err(|_| SmtpError::Protocol("reply is not UTF-8".into()));
            }
            if self.buf.len() > MAX_LINE {
                return Err(SmtpError::Protocol("reply line too long".into()));
            }
            let mut chunk = [0u8; 1024];
            let timeout = self.timeout;
            let n = tokio::time::timeout(timeout, self.stream.read(&mut chunk))
                .await
                .map_err(|_| SmtpError::Timeout(timeout))?
                .map_err(|e| SmtpError::Io("relay".into(), e))?;
            if n == 0 {
                return Err(SmtpError::Protocol(
                    "connection closed by the server".into(),
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn reply(&mut self) -> Result<Reply, SmtpError> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await?;
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .ok_or_else(|| SmtpError::Protocol(format!("bad reply line {line:?}")))?;
            let more = line.as_bytes().get(3) == Some(&b'-');
            lines.push(line.get(4..).unwrap_or_default().to_owned());
            if !more {
                return Ok(Reply { code, lines });
            }
            if lines.len() >= MAX_REPLY_LINES {
                return Err(SmtpError::Protocol("reply has too many lines".into()));
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), SmtpError> {
        let f = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        tokio::time::timeout(self.timeout, f)
            .await
            .map_err(|_| SmtpError::Timeout(self.timeout))?
            .map_err(|e| SmtpError::Io("relay".into(), e))
    }

    /// Sends a command and expects a reply code in `ok`.
    async fn command(
        &mut self,
        step: &'static str,
        line: &str,
        ok: &[u16],
    ) -> Result<Reply, SmtpError> {
        self.send(format!("{line}\r\n").as_bytes()).await?;
        let r = self.reply().await?;
        if ok.contains(&r.code) {
            Ok(r)
        } else {
            Err(SmtpError::Rejected {
                step,
                code: r.code,
                text: r.lines.join(" "),
            })
        }
    }
}

fn no_crlf(what: &str, v: &str) -> Result<(), SmtpError> {
    if v.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(SmtpError::Invalid(format!("{what} contains CR, LF or NUL")));
    }
    Ok(())
}

fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Dot-stuffs and terminates message data (lines end in CRLF).
fn data_block(message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 8);
    for line in message.split("\r\n") {
        if line.starts_with('.') {
            out.push(b'.');
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Hands `message` (RFC 5322 text with CRLF line ends) to the relay for `to`.
pub async fn send_mail(
    settings: &SmtpSettings,
    to: &[String],
    message: &str,
) -> Result<(), SmtpError> {
    no_crlf("from", &settings.from)?;
    no_crlf("helo", &settings.helo)?;
    for r in to {
        no_crlf("recipient", r)?;
    }
    if to.is_empty() {
        return Err(SmtpError::Invalid("no recipients".into()));
    }
    let addr = format!("{}:{}", settings.host, settings.port);
    let tcp = tokio::time::timeout(settings.timeout, TcpStream::connect(&addr))
        .await
        .map_err(|_| SmtpError::Timeout(settings.timeout))?
        .map_err(|e| SmtpError::Io(addr.clone(), e))?;
    let mut c = Conn {
        stream: Box::new(tcp),
        buf: Vec::new(),
        timeout: settings.timeout,
        tls: false,
    };
    let greeting = c.reply().await?;
    if greeting.code != 220 {
        return Err(SmtpError::Rejected {
            step: "greeting",
            code: greeting.code,
            text: greeting.lines.join(" "),
        });
    }
    let ehlo = format!("EHLO {}", settings.helo);
    let mut caps = c.command("EHLO", &ehlo, &[250]).await?.lines;
    let offers = |caps: &[String], what: &str| {
        caps.iter().any(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case(what))
        })
    };
    let starttls = offers(&caps, "STARTTLS");
    match (settings.tls, starttls) {
        (SmtpTls::Starttls, false) => return Err(SmtpError::NoStarttls),
        (SmtpTls::Starttls | SmtpTls::Opportunistic, true) => {
            c.command("STARTTLS", "STARTTLS", &[220]).await?;
            if !c.buf.is_empty() {
                return Err(SmtpError::Protocol(
                    "server sent data before the TLS handshake (possible injection)".into(),
                ));
            }
            c = upgrade(c, settings).await?;
            caps = c.command("EHLO", &ehlo, &[250]).await?.lines;
        }
        _ => {}
    }
    if let Some(auth) = &settings.auth {
        if !c.tls {
            return Err(SmtpError::Tls(
                "refusing to send credentials without TLS".into(),
            ));
        }
        authenticate(&mut c, &caps, auth).await?;
    }
    c.command(
        "MAIL FROM",
        &format!("MAIL FROM:<{}>", settings.from),
        &[250],
    )
    .await?;
    for r in to {
        c.command("RCPT TO", &format!("RCPT TO:<{r}>"), &[250, 251])
            .await?;
    }
    c.command("DATA", "DATA", &[354]).await?;
    c.send(&data_block(message)).await?;
    let r = c.reply().await?;
    if r.code != 250 {
        return Err(SmtpError::Rejected {
            step: "message data",
            code: r.code,
            text: r.lines.join(" "),
        });
    }
    // The message is accepted; a failing QUIT changes nothing.
    let _ = c.command("QUIT", "QUIT", &[221]).await;
    Ok(())
}

async fn upgrade(c: Conn, settings: &SmtpSettings) -> Result<Conn, SmtpError> {
    let name = ServerName::try_from(settings.host.clone())
        .map_err(|e| SmtpError::Tls(format!("{}: {e}", settings.host)))?;
    let connector = tokio_rustls::TlsConnector::from(settings.tls_config.clone());
    let timeout = c.timeout;
    let tls = tokio::time::timeout(timeout, connector.connect(name, c.stream))
        .await
        .map_err(|_| SmtpError::Timeout(timeout))?
        .map_err(|e| SmtpError::Tls(e.to_string()))?;
    Ok(Conn {
        stream: Box::new(tls),
        buf: Vec::new(),
        timeout: c.timeout,
        tls: true,
    })
}

async fn authenticate(c: &mut Conn, caps: &[String], auth: &SmtpAuth) -> Result<(), SmtpError> {
    let mechanisms: Vec<String> = caps
        .iter()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words
                .next()
                .filter(|w| w.eq_ignore_ascii_case("AUTH"))
                .map(|_| {
                    words
                        .map(str::to_ascii_uppercase)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
        })
        .collect();
    let offered = |m: &str| mechanisms.iter().any(|l| l.split(' ').any(|w| w == m));
    if offered("PLAIN") {
        let token = Zeroizing::new(format!("\0{}\0{}", auth.username, auth.password.as_str()));
        let line = Zeroizing::new(format!("AUTH PLAIN {}", b64(token.as_bytes())));
        c.command("AUTH PLAIN", &line, &[235]).await?;
    } else if offered("LOGIN") {
        c.command("AUTH LOGIN", "AUTH LOGIN", &[334]).await?;
        c.command("AUTH LOGIN", &b64(auth.username.as_bytes()), &[334])
            .await?;
        let pw = Zeroizing::new(b64(auth.password.as_bytes()));
        c.command("AUTH LOGIN", &pw, &[235]).await?;
    } else {
        return Err(SmtpError::Protocol(
            "server offers neither AUTH PLAIN nor AUTH LOGIN".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_dot_stuffed_and_terminated() {
        let d = data_block("Subject: x\r\n\r\n.hidden\r\nok");
        assert_eq!(d, b"Subject: x\r\n\r\n..hidden\r\nok\r\n.\r\n");
    }

    #[test]
    fn header_injection_is_refused() {
        assert!(no_crlf("recipient", "a@b.se\r\nRCPT TO:<c@d.se>").is_err());
        assert!(no_crlf("recipient", "a@b.se").is_ok());
    }
}
