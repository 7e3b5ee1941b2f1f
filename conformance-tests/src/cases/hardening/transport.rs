//! §4.7 MIME, HTTP, compression, size (H-47…H-54). The HTTP-level abuse goes over a raw TLS
//! connection (with the peer's client certificate), byte for byte.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::messages;

/// What came back on a raw connection.
#[derive(Debug)]
struct RawReply {
    status: Option<u16>,
    /// The connection was closed without any answer.
    closed: bool,
    head: String,
}

impl RawReply {
    fn summary(&self) -> String {
        match self.status {
            Some(s) => format!("HTTP {s}"),
            None if self.closed => "connection closed without an answer".into(),
            None => format!("no answer ({})", self.head),
        }
    }
}

/// Opens a TLS connection to the target's AS4 endpoint with the peer's client certificate.
async fn connect(
    ctx: &Ctx,
) -> Result<
    (
        tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
        String,
        String,
    ),
    String,
> {
    let uri: http::Uri = ctx
        .target
        .as4_url
        .parse()
        .map_err(|e: http::uri::InvalidUri| e.to_string())?;
    let host = uri.host().ok_or("no host in the AS4 URL")?.to_owned();
    let port = uri.port_u16().unwrap_or(443);
    let path = uri.path().to_owned();
    let identity = ctx
        .pki
        .tls_identity(&ctx.pki.peer().tls_client)
        .map_err(|e| e.to_string())?;
    let config = sdkgw_http::tls::client_config(&sdkgw_http::ClientTlsSettings {
        identity: Some(identity),
        server_trust: ctx.pki.tls_anchors().map_err(|e| e.to_string())?,
        hostname: sdkgw_http::HostnameVerification::Verify,
    })
    .map_err(|e| e.to_string())?;
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls_pki_types::ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    Ok((tls, host, path))
}

async fn read_reply(stream: &mut (impl AsyncReadExt + Unpin), limit: Duration) -> RawReply {
    let mut buf = vec![0u8; 16 * 1024];
    match tokio::time::timeout(limit, stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => RawReply {
            status: None,
            closed: true,
            head: String::new(),
        },
        Ok(Ok(n)) => {
            let head = String::from_utf8_lossy(&buf[..n]).into_owned();
            let status = head
                .strip_prefix("HTTP/1.1 ")
                .and_then(|r| r.get(..3))
                .and_then(|s| s.parse().ok());
            RawReply {
                status,
                closed: false,
                head: head.lines().next().unwrap_or("").to_owned(),
            }
        }
        Err(_) => RawReply {
            status: None,
            closed: false,
            head: format!("nothing within {} s", limit.as_secs()),
        },
    }
}

/// Writes `head` (with `{host}` and `{path}` filled in) and `body`, then reads the answer.
async fn raw(ctx: &Ctx, head: &str, body: &[u8], close_write: bool) -> Result<RawReply, String> {
    let (mut tls, host, path) = connect(ctx).await?;
    let head = head.replace("{host}", &host).replace("{path}", &path);
    tls.write_all(head.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(body).await.map_err(|e| e.to_string())?;
    if close_write {
        let _ = tls.shutdown().await;
    }
    tls.flush().await.map_err(|e| e.to_string())?;
    Ok(read_reply(&mut tls, Duration::from_secs(15)).await)
}

async fn h47(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let (env, m) = match conformant(&ctx) {
        Ok(x) => x,
        Err(e) => return Outcome::broken(e),
    };
    let (ct, body) = match m.multipart().await {
        Ok(x) => x,
        Err(e) => return Outcome::broken(e),
    };
    // 1. The stream is cut halfway (Content-Length promises the whole body).
    let head = format!(
        "POST {{path}} HTTP/1.1\r\nHost: {{host}}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    match raw(&ctx, &head, &body[..body.len() / 2], true).await {
        Ok(r) => {
            c.check(
                r.status.is_none_or(|s| s >= 400),
                "connection cut mid-body: no Receipt",
                r.summary(),
            );
        }
        Err(e) => c.broken(e),
    }
    no_leak(&ctx, &mut c, &m.message_id, &env.id, None).await;
    // 2. A complete HTTP body whose MIME stream ends before the closing boundary.
    let (env2, m2) = match conformant(&ctx) {
        Ok(x) => x,
        Err(e) => return Outcome::broken(e),
    };
    let (ct2, body2) = match m2.multipart().await {
        Ok(x) => x,
        Err(e) => return Outcome::broken(e),
    };
    let cut = &body2[..body2.len().saturating_sub(64)];
    let reply = ctx
        .peer
        .wire
        .post(
            &ctx.target.as4_url,
            &ct2,
            cut.to_vec(),
            &ctx.target.ap_certificate,
        )
        .await;
    c.check(
        reply.is_refusal(&["EBMS:0007", "EBMS:0101", "EBMS:0102", "EBMS:0103"], false)
            || reply
                .status
                .is_some_and(|s| s >= 400 && !reply.is_verified_receipt()),
        "MIME truncated before the closing boundary: EBMS:0007, no Receipt",
        reply.summary(),
    );
    no_leak(&ctx, &mut c, &m2.message_id, &env2.id, None).await;
    if let Some(gut) = &ctx.gut {
        let spool = &gut.gateway.shared.spool_dir;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let left = std::fs::read_dir(spool).map(|d| d.count()).unwrap_or(0);
        c.note(format!(
            "{left} file(s) in the spool directory afterwards (other traffic may be in flight)"
        ));
    }
    c.outcome()
}

async fn h48(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    refused_variant(
        &ctx,
        &mut c,
        "PartInfo names a Content-ID no part has",
        &["EBMS:0007"],
        |mut m| {
            if let Some(a) = m.attachments.first_mut() {
                a.0 = "nowhere".into();
            }
            Ok(m)
        },
    )
    .await;
    for (label, change) in [
        ("the start parameter points to no part", 0),
        ("Content-Type text/plain", 1),
        // Built at the byte level: the AS4 layer's MIME writer refuses duplicate Content-IDs.
        ("two parts with the same Content-ID", 2),
    ] {
        let built = conformant(&ctx);
        let (env, m) = match built {
            Ok(x) => x,
            Err(e) => {
                c.broken(e);
                continue;
            }
        };
        let (ct, body) = match m.multipart().await {
            Ok(x) => x,
            Err(e) => {
                c.broken(e);
                continue;
            }
        };
        let body = if change == 2 {
            let cid = m
                .attachments
                .first()
                .map(|a| a.0.clone())
                .unwrap_or_default();
            match duplicate_part(&body, &ct, &cid) {
                Ok(b) => b,
                Err(e) => {
                    c.broken(format!("{label}: {e}"));
                    continue;
                }
            }
        } else {
            body
        };
        let ct = if change == 2 {
            ct
        } else if change == 0 {
            match ct.find("start=\"") {
                Some(i) => format!(
                    "{}start=\"<nowhere@x>\"{}",
                    &ct[..i],
                    ct[i + 7..].find('"').map_or("", |j| &ct[i + 8 + j..])
                ),
                None => format!("{ct}; start=\"<nowhere@x>\""),
            }
        } else {
            "text/plain".to_owned()
        };
        let reply = ctx
            .peer
            .wire
            .post(&ctx.target.as4_url, &ct, body, &ctx.target.ap_certificate)
            .await;
        c.check(
            !reply.is_verified_receipt()
                && (reply.is_refusal(&["EBMS:0007", "EBMS:0009"], false)
                    || reply.status.is_some_and(|s| s == 415 || s == 400)),
            format!("{label}: EBMS:0007 (or 400/415), no Receipt"),
            reply.summary(),
        );
        no_leak(&ctx, &mut c, &m.message_id, &env.id, None).await;
    }
    c.outcome()
}

/// `body` with the MIME part whose Content-ID is `cid` repeated right after itself.
fn duplicate_part(body: &[u8], ct: &str, cid: &str) -> Result<Vec<u8>, String> {
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let boundary = ct
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'))
        .ok_or_else(|| format!("no boundary in {ct}"))?;
    let delimiter = format!("\r\n--{boundary}");
    let header = format!("Content-ID: <{cid}>");
    let at = find(body, header.as_bytes()).ok_or_else(|| format!("no part {header}"))?;
    let start = body[..at]
        .windows(delimiter.len())
        .rposition(|w| w == delimiter.as_bytes())
        .ok_or("no delimiter before the part")?;
    let end = at + find(&body[at..], delimiter.as_bytes()).ok_or("no delimiter after the part")?;
    let mut out = body[..end].to_vec();
    out.extend_from_slice(&body[start..end]);
    out.extend_from_slice(&body[end..]);
    Ok(out)
}

async fn payload_variant(ctx: &Ctx, c: &mut Checks, label: &str, payload: Vec<u8>, codes: &[&str]) {
    let built = valid_envelope(ctx, UB).and_then(|env| {
        let mut cr = craft(ctx, &env);
        cr.payload = Some(payload);
        build(ctx, &cr).map(|m| (env, m))
    });
    match built {
        Ok((env, m)) => check_refusal(ctx, c, label, Ok(m), &env.id, codes, false).await,
        Err(e) => c.broken(e),
    }
}

async fn h49(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    payload_variant(
        &ctx,
        &mut c,
        "CompressionType gzip on data that is not gzip",
        b"this is not gzip data at all".to_vec(),
        &["EBMS:0303"],
    )
    .await;
    payload_variant(
        &ctx,
        &mut c,
        "a corrupt gzip stream",
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03corrupt deflate data".to_vec(),
        &["EBMS:0303"],
    )
    .await;
    c.outcome()
}

async fn h50(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let env = match valid_envelope(&ctx, UB) {
        Ok(e) => e,
        Err(e) => return Outcome::broken(e),
    };
    // The XHE's start, then 1 GiB of spaces: about 1 MiB compressed.
    let text = String::from_utf8_lossy(&env.bytes).into_owned();
    let head = text
        .find("<xha:Payloads>")
        .map_or(text.clone(), |i| text[..i].to_owned());
    let bomb = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let chunk = vec![b' '; 1 << 20];
        enc.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
        for _ in 0..1024 {
            enc.write_all(&chunk).map_err(|e| e.to_string())?;
        }
        enc.finish().map_err(|e| e.to_string())
    })
    .await;
    let bomb = match bomb {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return Outcome::broken(e),
        Err(e) => return Outcome::broken(e),
    };
    c.note(format!("{} bytes of gzip expanding to 1 GiB", bomb.len()));
    let mut cr = craft(&ctx, &env);
    cr.payload = Some(bomb);
    let started = std::time::Instant::now();
    check_refusal(
        &ctx,
        &mut c,
        "gzip bomb",
        build(&ctx, &cr),
        &env.id,
        &["EBMS:0303"],
        false,
    )
    .await;
    c.note(format!(
        "refused after {} ms",
        started.elapsed().as_millis()
    ));
    still_serving(&ctx, &mut c).await;
    c.outcome()
}

async fn h51(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    for (label, change) in [
        ("CompressionType application/x-deflate", 0),
        ("the MimeType part property missing", 1),
    ] {
        let built = valid_envelope(&ctx, UB).and_then(|env| {
            let cr = craft(&ctx, &env).tweaked(move |um| {
                if let Some(p) = um.parts.first_mut() {
                    if change == 0 {
                        for prop in p
                            .properties
                            .iter_mut()
                            .filter(|x| x.name == "CompressionType")
                        {
                            prop.value = "application/x-deflate".into();
                        }
                    } else {
                        p.properties.retain(|x| x.name != "MimeType");
                    }
                }
            });
            build(&ctx, &cr).map(|m| (env, m))
        });
        match built {
            Ok((env, m)) => {
                check_refusal(
                    &ctx,
                    &mut c,
                    label,
                    Ok(m),
                    &env.id,
                    &["EBMS:0303", "EBMS:0004", "EBMS:0007", "EBMS:0010"],
                    false,
                )
                .await
            }
            Err(e) => c.broken(e),
        }
    }
    c.outcome()
}

/// One HTTP abuse variant: label, request head template, body, whether the connection may
/// simply be closed, and the check of the reply.
type AbuseVariant = (&'static str, String, Vec<u8>, bool, fn(&RawReply) -> bool);

async fn h52(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let (_, m) = match conformant(&ctx) {
        Ok(x) => x,
        Err(e) => return Outcome::broken(e),
    };
    let (ct, body) = match m.multipart().await {
        Ok(x) => x,
        Err(e) => return Outcome::broken(e),
    };
    let cases: Vec<AbuseVariant> = vec![
        (
            "GET on the AS4 endpoint",
            "GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".into(),
            vec![],
            false,
            |r| r.status == Some(405),
        ),
        (
            "POST to another path",
            format!(
                "POST /not-as4 HTTP/1.1\r\nHost: {{host}}\r\nContent-Type: {ct}\r\nContent-Length: 0\r\n\r\n"
            ),
            vec![],
            false,
            |r| r.status == Some(404),
        ),
        (
            "Content-Length and Transfer-Encoding together (request smuggling)",
            format!(
                "POST {{path}} HTTP/1.1\r\nHost: {{host}}\r\nContent-Type: {ct}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
            ),
            b"0\r\n\r\n".to_vec(),
            false,
            |r| r.status.is_none_or(|s| s >= 400),
        ),
        (
            "Content-Length larger than the body",
            format!(
                "POST {{path}} HTTP/1.1\r\nHost: {{host}}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n",
                body.len() + 1000
            ),
            body.clone(),
            true,
            |r| r.status.is_none_or(|s| s >= 400),
        ),
        (
            "1 MB of headers",
            format!(
                "POST {{path}} HTTP/1.1\r\nHost: {{host}}\r\nX-Big: {}\r\nContent-Length: 0\r\n\r\n",
                "a".repeat(1 << 20)
            ),
            vec![],
            false,
            |r| r.status.is_none_or(|s| s == 431 || s == 400 || s == 413),
        ),
    ];
    for (label, head, body, close, ok) in cases {
        match raw(&ctx, &head, &body, close).await {
            Ok(r) => {
                c.check(
                    ok(&r),
                    format!("{label}: refused with 4xx or the connection closed"),
                    r.summary(),
                );
            }
            // Writing 1 MB of headers may fail once the server has closed: a refusal too.
            Err(e) => {
                c.check(
                    true,
                    format!("{label}: refused with 4xx or the connection closed"),
                    format!("closed while writing: {e}"),
                );
            }
        }
    }
    // Slowloris: headers one byte every two seconds; the server must give up on us.
    let slow = async {
        let (mut tls, host, path) = connect(&ctx).await?;
        let head = format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nX-Slow: ");
        tls.write_all(head.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(45) {
            tokio::time::sleep(Duration::from_secs(2)).await;
            if tls.write_all(b"a").await.is_err() || tls.flush().await.is_err() {
                return Ok::<_, String>(Some(started.elapsed()));
            }
            let mut probe = [0u8; 64];
            if let Ok(Ok(0)) =
                tokio::time::timeout(Duration::from_millis(10), tls.read(&mut probe)).await
            {
                return Ok(Some(started.elapsed()));
            }
        }
        Ok(None)
    };
    let (slow, serving) = tokio::join!(slow, async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut s = Checks::new();
        still_serving(&ctx, &mut s).await;
        s
    });
    match slow {
        Ok(Some(after)) => {
            c.check(
                true,
                "slowloris: the server closes a connection that never finishes its headers",
                format!("after {} s", after.as_secs()),
            );
        }
        Ok(None) => {
            c.check(
                false,
                "slowloris: the server closes a connection that never finishes its headers",
                "still open after 45 s",
            );
        }
        Err(e) => c.broken(e),
    }
    let serving = serving.outcome();
    c.check(
        serving.verdict == crate::verdict::Verdict::Pass,
        "other clients are served meanwhile",
        serving.actual.join("; "),
    );
    c.outcome()
}

async fn h53(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    // A body announced far above the cap: refused before it is sent.
    let head = "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/related; boundary=x; type=\"application/soap+xml\"\r\nContent-Length: 3000000000\r\nExpect: 100-continue\r\n\r\n";
    match raw(&ctx, head, b"", false).await {
        Ok(r) => {
            c.check(
                r.status == Some(413) || r.closed,
                "a 3 GB Content-Length is refused early (413) without reading the body",
                r.summary(),
            );
        }
        Err(e) => c.broken(e),
    }
    // An SDK message above the message service's 30 MB.
    let id = new_id();
    let parties = peer_to_target(&ctx);
    let msg = messages::large(
        &parties,
        &id,
        time::OffsetDateTime::now_utc(),
        31 * 1024 * 1024,
    );
    let built = msg.to_xml().map_err(|e| e.to_string()).and_then(|x| {
        let h = ub_header(&ctx, &parties, &id);
        let enc = target_encryption(&ctx)?;
        messages::seal_mutated(&x, &h, Some(enc), Some(peer_signer(&ctx)), &|s| s)
    });
    mt_rejects(
        &ctx,
        &mut c,
        "an SDK message of 31 MiB of attachments",
        &id,
        built,
        "BV",
        "too-long",
    )
    .await;
    c.outcome()
}

async fn h54(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    refused_variant(
        &ctx,
        &mut c,
        "a SOAP 1.1 envelope",
        &["EBMS:0008", "EBMS:0009"],
        |m| {
            m.replace(
                "xmlns:S12=\"http://www.w3.org/2003/05/soap-envelope\"",
                "xmlns:S12=\"http://schemas.xmlsoap.org/soap/envelope/\"",
            )
        },
    )
    .await;
    refused_variant(
        &ctx,
        &mut c,
        "an unknown header block with mustUnderstand=true",
        &["EBMS:0009", "EBMS:0008", "EBMS:0101", "EBMS:0103"],
        |m| {
            m.replace(
                "<wsse:Security",
                "<x:Unknown xmlns:x=\"urn:x\" S12:mustUnderstand=\"true\"/><wsse:Security",
            )
        },
    )
    .await;
    c.outcome()
}

pub(super) fn cases() -> Vec<Case> {
    vec![
        case(
            "H-47",
            "Truncated MIME; a connection dropped mid-body",
            "[AS4] §4.2",
            "EBMS:0007 or a connection error; no Receipt; nothing stored",
            h47,
        ),
        case(
            "H-48",
            "PartInfo cid missing, duplicate Content-IDs, start pointing nowhere, wrong Content-Type",
            "[AS4] §2.2",
            "EBMS:0007",
            h48,
        ),
        case(
            "H-49",
            "gzip declared on non-gzip or corrupt data",
            "[AS4] §2.2",
            "EBMS:0303",
            h49,
        ),
        case(
            "H-50",
            "Gzip bomb (1 GiB expansion)",
            "[AS4] §2.2; T-LIM-03",
            "EBMS:0303 at the ratio limit; the gateway keeps serving",
            h50,
        ),
        case(
            "H-51",
            "Wrong compression declared; MimeType part property missing",
            "[AS4] §2.2",
            "EBMS:0303/0004",
            h51,
        ),
        case(
            "H-52",
            "HTTP abuse: GET, wrong path, CL+TE, short body, 1 MB headers, slowloris",
            "[AS4] §2.4; T-LIM-05",
            "4xx or closed; timeouts; others still served",
            h52,
        ),
        case(
            "H-53",
            "Oversized: 3 GB Content-Length; an SDK message over 30 MB",
            "[AS4] §2.8; B1.3.3 row 4",
            "413 early; REJECTED BV too-long",
            h53,
        ),
        case(
            "H-54",
            "SOAP 1.1 envelope; unknown mustUnderstand header",
            "[AS4] §2.1",
            "VersionMismatch / MustUnderstand (EBMS:0008/0009)",
            h54,
        ),
    ]
}
