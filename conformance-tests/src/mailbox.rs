//! The target's message service as a mailbox user sees it: DIGG's MT–MK API (`POST
//! {base}/sdk/messages`, `GET {base}/sdk/messages/{id}`, `GET {base}/sdk/messages?...`) with an
//! OAuth2 client-credentials token. The suite uses it to make the target *send* (TF-01,
//! TF-02, TF-05, F-02 …) and to see what reached a mailbox and which status a sent message
//! has. In-process, a client is registered in the gateway's client registry.

use base64::Engine as _;
use http::Request;
use sdkgw_http::{
    ClientSettings, ClientTlsSettings, HostnameVerification, HttpsClient, OutBody, TrustAnchors,
};
use sdkgw_schemas::{FunctionAddress, ParticipantId};
use serde_json::{Value, json};

/// The scopes the suite's client needs.
pub const SCOPES: [&str; 4] = [
    "urn:sdk.api:sendMessages",
    "urn:sdk.api:getMessage",
    "urn:sdk.api:getMessageByFilter",
    "urn:sdk.api:deleteMessage",
];

/// A logged-in mailbox client of the target.
pub struct MailboxApi {
    client: HttpsClient,
    /// `https://host:port{base_path}`.
    pub base: String,
    token: String,
    /// The sending organisation and its function mailbox.
    pub sender: ParticipantId,
    pub mailbox: FunctionAddress,
}

impl std::fmt::Debug for MailboxApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailboxApi")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// An attachment: file name, content type, bytes.
pub type File = (String, String, Vec<u8>);

fn client(trust: TrustAnchors) -> Result<HttpsClient, String> {
    let tls = sdkgw_http::tls::client_config(&ClientTlsSettings {
        identity: None,
        server_trust: trust,
        hostname: HostnameVerification::Verify,
    })
    .map_err(|e| e.to_string())?;
    let mut s = ClientSettings::new(tls);
    s.max_response_bytes = 512 << 20;
    Ok(HttpsClient::new(s))
}

impl MailboxApi {
    /// Logs in at `token_url` with client credentials (HTTP Basic).
    pub async fn login(
        base: String,
        token_url: &str,
        trust: TrustAnchors,
        client_id: &str,
        secret: &str,
        sender: ParticipantId,
        mailbox: FunctionAddress,
    ) -> Result<MailboxApi, String> {
        let client = client(trust)?;
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
        let request = Request::post(token_url)
            .header("authorization", format!("Basic {basic}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(OutBody::full(b"grant_type=client_credentials".to_vec()))
            .map_err(|e| e.to_string())?;
        let resp = client.send(request).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body: Value = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
        let token = body["access_token"]
            .as_str()
            .filter(|_| status == 200)
            .ok_or_else(|| format!("token endpoint {token_url} answered {status}: {body}"))?
            .to_owned();
        Ok(MailboxApi {
            client,
            base,
            token,
            sender,
            mailbox,
        })
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), String> {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token));
        let body = match body {
            Some(v) => {
                b = b.header("content-type", "application/json");
                OutBody::full(serde_json::to_vec(&v).map_err(|e| e.to_string())?)
            }
            None => OutBody::empty(),
        };
        let resp = self
            .client
            .send(b.body(body).map_err(|e| e.to_string())?)
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        Ok((
            status,
            serde_json::from_slice(resp.body()).unwrap_or(Value::Null),
        ))
    }

    /// Sends a message to `to` / `to_box`; returns its `messageId`.
    pub async fn send(
        &self,
        to: &ParticipantId,
        to_box: &FunctionAddress,
        label: &str,
        files: &[File],
    ) -> Result<String, String> {
        self.post_message(&self.sender, &self.mailbox, to, to_box, label, files)
            .await
    }

    /// Sends as another organisation and mailbox than the client's (must be refused).
    pub async fn send_as(
        &self,
        sender: &ParticipantId,
        sender_box: &FunctionAddress,
        to: &ParticipantId,
        to_box: &FunctionAddress,
        label: &str,
    ) -> Result<String, String> {
        self.post_message(sender, sender_box, to, to_box, label, &[])
            .await
    }

    async fn post_message(
        &self,
        sender: &ParticipantId,
        sender_box: &FunctionAddress,
        to: &ParticipantId,
        to_box: &FunctionAddress,
        label: &str,
        files: &[File],
    ) -> Result<String, String> {
        let fa = FunctionAddress::SCHEME;
        let mut doc = json!({"documentId": "1", "index": "1", "contentTextBody": ["Meddelande från sdk-conformance"]});
        if !files.is_empty() {
            doc["contentFiles"] = Value::Array(
                files
                    .iter()
                    .map(|(name, ct, bytes)| {
                        json!({
                            "fileName": name,
                            "contentType": ct,
                            "content": base64::engine::general_purpose::STANDARD.encode(bytes),
                        })
                    })
                    .collect(),
            );
        }
        let body = json!({"data": {"type": "messages", "attributes": {
            "confidentiality": true,
            "label": label,
            "sender": sender.value(),
            "recipient": to.value(),
            "senderAttention": {"subOrganization": {"root": fa, "extension": sender_box.as_str()}},
            "recipientAttention": {"subOrganization": {"root": fa, "extension": to_box.as_str()}},
            "digitalDocument": [doc]
        }}});
        // 503 is back-pressure (T-LIM-06: retryable, nothing lost): retry a few times.
        let mut tries = 0;
        let (status, v) = loop {
            let (status, v) = self
                .request("POST", "/sdk/messages", Some(body.clone()))
                .await?;
            tries += 1;
            if status != 503 || tries >= 20 {
                break (status, v);
            }
            tokio::time::sleep(std::time::Duration::from_millis(250 * tries.min(8))).await;
        };
        if status != 201 {
            return Err(format!("POST /sdk/messages answered {status}: {v}"));
        }
        v["data"]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("201 without data.id: {v}"))
    }

    /// `method {base}{path}` without a body: the status, the headers and the raw body (file
    /// downloads, other clients' calls in H-63/H-66).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
    ) -> Result<(u16, http::HeaderMap, Vec<u8>), String> {
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token))
            .body(OutBody::empty())
            .map_err(|e| e.to_string())?;
        let resp = self.client.send(request).await.map_err(|e| e.to_string())?;
        Ok((
            resp.status().as_u16(),
            resp.headers().clone(),
            resp.body().to_vec(),
        ))
    }

    /// `GET /sdk/messages/{id}`: the status code and the document.
    pub async fn get(&self, id: &str) -> Result<(u16, Value), String> {
        self.request("GET", &format!("/sdk/messages/{id}"), None)
            .await
    }

    /// The `messageStatus` of `id`, `None` when the API does not show it.
    pub async fn status(&self, id: &str) -> Option<String> {
        let (code, v) = self.get(id).await.ok()?;
        (code == 200).then(|| {
            v["data"]["attributes"]["messageStatus"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
    }

    /// Waits until `id` has one of `finals` as its status (or `limit`); the last status seen.
    pub async fn wait_status(
        &self,
        id: &str,
        finals: &[&str],
        limit: std::time::Duration,
    ) -> Option<String> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut last = None;
        loop {
            last = self.status(id).await.or(last);
            let done = last.as_deref().is_some_and(|s| finals.contains(&s));
            if done || tokio::time::Instant::now() >= deadline {
                return last;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}
