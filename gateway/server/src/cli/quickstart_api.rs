//! What the quickstart says to the gateways: the mailbox API over HTTPS (token, send, fetch)
//! as an internal message service would, and plain HTTP GETs of the admin listener
//! (`/metrics`). Also the demo message itself.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use http::Request;
use sdkgw_certs::Certificate;
use sdkgw_http::{ClientSettings, ClientTlsSettings, HostnameVerification, HttpsClient, OutBody};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// How the demo's messages address function mailboxes (DIGG's subOrganization root).
const FUNCTION_ADDRESS_ROOT: &str = "urn:riv:infrastructure:messaging:functionalAddress";

/// One gateway's mailbox API, at `base` (e.g. `https://127.0.0.1:4711/v1`).
#[derive(Debug)]
pub(super) struct ApiClient {
    http: HttpsClient,
    pub(super) base: String,
}

impl ApiClient {
    /// A client that trusts `trust` (the TLS root and the intermediate that issued the
    /// gateway's certificate: the dev PKI's server certificates come without their chain).
    pub(super) fn new(trust: &[Certificate], base: String) -> Result<ApiClient, String> {
        let anchors = sdkgw_http::TrustAnchors::new(trust).map_err(|e| e.to_string())?;
        let tls = sdkgw_http::tls::client_config(&ClientTlsSettings {
            identity: None,
            server_trust: anchors,
            hostname: HostnameVerification::Verify,
        })
        .map_err(|e| e.to_string())?;
        let mut settings = ClientSettings::new(tls);
        settings.max_response_bytes = 64 << 20;
        Ok(ApiClient {
            http: HttpsClient::new(settings),
            base,
        })
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Value), String> {
        let url = format!("{}{path}", self.base);
        let mut req = Request::builder().method(method).uri(&url);
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let req = req
            .body(body.map_or_else(OutBody::empty, OutBody::full))
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let resp = self
            .http
            .send(req)
            .await
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let status = resp.status().as_u16();
        let body = resp.into_body();
        let value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        Ok((status, value))
    }

    /// OAuth2 client credentials at the gateway's token endpoint; the access token.
    pub(super) async fn token(&self, client: &str, secret: &str) -> Result<String, String> {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client}:{secret}"));
        let (status, body) = self
            .call(
                "POST",
                "/oauth/token",
                &[
                    ("authorization", format!("Basic {basic}")),
                    (
                        "content-type",
                        "application/x-www-form-urlencoded".to_owned(),
                    ),
                ],
                Some(b"grant_type=client_credentials".to_vec()),
            )
            .await?;
        match body["access_token"].as_str() {
            Some(t) if status == 200 => Ok(t.to_owned()),
            _ => Err(format!("POST {}/oauth/token: {status} {body}", self.base)),
        }
    }

    /// `POST /sdk/messages`; the new message's id.
    pub(super) async fn send(&self, token: &str, message: &Value) -> Result<String, String> {
        let body = serde_json::to_vec(message).map_err(|e| e.to_string())?;
        let (status, v) = self
            .call(
                "POST",
                "/sdk/messages",
                &[
                    ("authorization", format!("Bearer {token}")),
                    ("content-type", "application/json".to_owned()),
                ],
                Some(body),
            )
            .await?;
        match v["data"]["id"].as_str() {
            Some(id) if status == 201 => Ok(id.to_owned()),
            _ => Err(format!("POST {}/sdk/messages: {status} {v}", self.base)),
        }
    }

    /// `GET /sdk/messages/{id}`: the message document, or `None` while it is not there (404).
    pub(super) async fn message(&self, token: &str, id: &str) -> Result<Option<Value>, String> {
        let (status, v) = self
            .call(
                "GET",
                &format!("/sdk/messages/{id}"),
                &[("authorization", format!("Bearer {token}"))],
                None,
            )
            .await?;
        match status {
            200 => Ok(Some(v)),
            404 => Ok(None),
            _ => Err(format!("GET {}/sdk/messages/{id}: {status} {v}", self.base)),
        }
    }
}

/// The `messageStatus` of a message document.
pub(super) fn status(message: &Value) -> &str {
    message["data"]["attributes"]["messageStatus"]
        .as_str()
        .unwrap_or("")
}

/// The message's `events` as (typeCode, dateTime, detail), oldest first.
pub(super) fn events(message: &Value) -> Vec<(String, String, String)> {
    let issues = message["data"]["attributes"]["events"]["eventIssues"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let mut out: Vec<_> = issues
        .iter()
        .map(|i| {
            (
                text(&i["typeCode"]),
                text(&i["dateTime"]),
                text(&i["detail"]),
            )
        })
        .collect();
    out.reverse();
    out
}

/// A plain-HTTP GET of the admin listener (`/metrics`, `/readyz`): (status, body).
pub(super) async fn plain_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await?;
        let mut raw = Vec::new();
        s.take(16 << 20).read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| format!("GET http://{addr}{path}: no answer within 10 s"))?
        .map_err(|e| format!("GET http://{addr}{path}: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("GET http://{addr}{path}: not an HTTP answer"))?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Ok((
        status,
        if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        },
    ))
}

/// The body of a `Transfer-Encoding: chunked` answer.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The demo's attachment: a one-page PDF saying where it comes from.
pub(super) fn attachment_pdf(from: &str, to: &str) -> Vec<u8> {
    let text = format!("Hej {to}! A PDF attachment from {from}, sent by sdkgw quickstart.");
    let stream = format!("BT /F1 14 Tf 60 780 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_owned(),
        format!(
            "<< /Length {} >>\nstream\n{stream}\nendstream",
            stream.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut pdf = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.push_str(&format!("{} 0 obj\n{o}\nendobj\n", i + 1));
    }
    let xref = pdf.len();
    pdf.push_str(&format!(
        "xref\n0 {}\n0000000000 65535 f \n",
        objects.len() + 1
    ));
    for o in offsets {
        pdf.push_str(&format!("{o:010} 00000 n \n"));
    }
    pdf.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    pdf.into_bytes()
}

/// What is needed to address one side of the demo message.
#[derive(Debug)]
pub(super) struct Party<'a> {
    pub(super) participant: &'a str,
    pub(super) mailbox: &'a str,
}

/// The MT–MK `POST /sdk/messages` body: a text and `file` as `bilaga.pdf`.
pub(super) fn message_body(from: &Party<'_>, to: &Party<'_>, file: &[u8]) -> Value {
    let attention = |mailbox: &str| json!({"subOrganization": {"root": FUNCTION_ADDRESS_ROOT, "extension": mailbox}});
    json!({"data": {"type": "messages", "attributes": {
        "confidentiality": true,
        "label": "Quickstart: hello from A to B",
        "sender": from.participant,
        "recipient": to.participant,
        "senderAttention": attention(from.mailbox),
        "recipientAttention": attention(to.mailbox),
        "digitalDocument": [{
            "documentId": "1",
            "index": "1",
            "contentTextBody": [format!(
                "Hej! This message went from {} to {} through two sdk-gateways: sealed (O2O \
                 signed and encrypted), delivered by AS4 over mutual TLS, opened and filed.",
                from.participant, to.participant
            )],
            "contentFiles": [{
                "fileName": "bilaga.pdf",
                "contentType": "application/pdf",
                "content": base64::engine::general_purpose::STANDARD.encode(file),
            }],
        }],
    }}})
}

/// The first attached file of a fetched message: (name, content type, decoded bytes).
pub(super) fn first_file(message: &Value) -> Option<(String, String, Vec<u8>)> {
    let f = &message["data"]["attributes"]["digitalDocument"][0]["contentFiles"][0];
    let content = base64::engine::general_purpose::STANDARD
        .decode(f["content"].as_str()?)
        .ok()?;
    Some((
        f["fileName"].as_str()?.to_owned(),
        f["contentType"].as_str().unwrap_or("").to_owned(),
        content,
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn attachment_is_a_pdf_whose_xref_points_at_its_objects() {
        let pdf = attachment_pdf("0203:orga.test", "0203:orgb.test");
        let text = String::from_utf8(pdf).unwrap();
        assert!(text.starts_with("%PDF-1.4\n") && text.ends_with("%%EOF\n"));
        let xref: usize = text
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(text[xref..].starts_with("xref\n"));
        for (i, line) in text[xref..].lines().skip(3).take(5).enumerate() {
            let at: usize = line[..10].parse().unwrap();
            assert!(
                text[at..].starts_with(&format!("{} 0 obj", i + 1)),
                "{line}"
            );
        }
    }

    #[test]
    fn dechunks_a_chunked_body() {
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
    }

    #[test]
    fn the_attached_file_comes_back_from_a_fetched_message() {
        let from = Party {
            participant: "0203:orga.test",
            mailbox: "orga.test-inbox",
        };
        let to = Party {
            participant: "0203:orgb.test",
            mailbox: "orgb.test-inbox",
        };
        let body = message_body(&from, &to, b"%PDF-1.4 x");
        let (name, kind, bytes) = first_file(&body).unwrap();
        assert_eq!(
            (name.as_str(), kind.as_str(), bytes.as_slice()),
            ("bilaga.pdf", "application/pdf", b"%PDF-1.4 x".as_slice())
        );
    }
}
