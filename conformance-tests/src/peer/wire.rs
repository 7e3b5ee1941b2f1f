//! POSTing crafted messages and reading what the target answered: HTTP status, and the ebMS
//! signal in the body (a receipt, whose signature is verified against the target's AP
//! certificate, or errors with their codes).

use std::sync::Arc;

use http::{Request, header};
use sdkgw_as4::ebms::{Signal, read};
use sdkgw_as4::soap;
use sdkgw_as4::wss::seal::soap_parse_options;
use sdkgw_as4::wss::signal::verify_signal;
use sdkgw_certs::Certificate;
use sdkgw_http::{ClientSettings, HttpsClient, OutBody};
use sdkgw_xml_security::xml::Document;

/// One ebMS error of a signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorView {
    pub code: String,
    pub severity: String,
    pub detail: Option<String>,
}

/// What the signal in a reply says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalView {
    /// A receipt; `verified` is the result of checking its signature against the target's
    /// AP certificate.
    Receipt {
        ref_to: Option<String>,
        verified: Result<(), String>,
        nr_references: usize,
    },
    /// A receipt without non-repudiation information.
    PlainReceipt {
        ref_to: Option<String>,
    },
    Errors(Vec<ErrorView>),
    /// No readable signal.
    None(String),
}

/// The target's answer to one POST.
#[derive(Debug, Clone)]
pub struct WireReply {
    /// `None`: no HTTP answer (connection refused, TLS handshake refused, timeout).
    pub status: Option<u16>,
    /// Why there was no HTTP answer.
    pub transport_error: Option<String>,
    pub body: Vec<u8>,
    pub signal: SignalView,
}

impl WireReply {
    /// A signed receipt that verifies against the target's certificate.
    pub fn is_verified_receipt(&self) -> bool {
        matches!(
            &self.signal,
            SignalView::Receipt {
                verified: Ok(()),
                ..
            }
        )
    }

    /// The ebMS error codes of the reply (empty when it holds none).
    pub fn error_codes(&self) -> Vec<String> {
        match &self.signal {
            SignalView::Errors(e) => e.iter().map(|e| e.code.clone()).collect(),
            _ => Vec::new(),
        }
    }

    /// Whether the reply is one of the `codes` with severity failure, or — when
    /// `tls_refusal_ok` — a refused connection (TLS handshake) without any HTTP answer.
    pub fn is_refusal(&self, codes: &[&str], tls_refusal_ok: bool) -> bool {
        if self.status.is_none() {
            return tls_refusal_ok;
        }
        match &self.signal {
            SignalView::Errors(errors) => errors
                .iter()
                .any(|e| codes.contains(&e.code.as_str()) && e.severity == "failure"),
            _ => false,
        }
    }

    /// One line for the report.
    pub fn summary(&self) -> String {
        let Some(status) = self.status else {
            return format!(
                "no HTTP answer: {}",
                self.transport_error.as_deref().unwrap_or("?")
            );
        };
        let signal = match &self.signal {
            SignalView::Receipt {
                verified,
                nr_references,
                ..
            } => match verified {
                Ok(()) => {
                    format!("signed Receipt ({nr_references} NRR references), signature valid")
                }
                Err(e) => format!("Receipt whose signature does not verify: {e}"),
            },
            SignalView::PlainReceipt { .. } => "Receipt without NonRepudiationInformation".into(),
            SignalView::Errors(errors) => errors
                .iter()
                .map(|e| {
                    let detail = e
                        .detail
                        .as_deref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default();
                    format!("eb:Error {} severity {}{detail}", e.code, e.severity)
                })
                .collect::<Vec<_>>()
                .join(", "),
            SignalView::None(why) => format!("no ebMS signal: {why}"),
        };
        format!("HTTP {status}, {signal}")
    }
}

/// Reads the signal of a SOAP reply body; the receipt's signature is checked against
/// `target_ap`.
pub fn read_signal(body: &[u8], target_ap: &Certificate) -> SignalView {
    let opts = soap_parse_options();
    let doc = match Document::parse_slice(body, &opts) {
        Ok(d) => d,
        Err(e) => return SignalView::None(format!("body is not XML: {e}")),
    };
    let parts = match soap::locate(&doc) {
        Ok(p) => p,
        Err(e) => return SignalView::None(format!("not an AS4 SOAP envelope: {e}")),
    };
    let Some(messaging) = doc.element(parts.messaging) else {
        return SignalView::None("no eb:Messaging".into());
    };
    let m = match read::messaging(messaging) {
        Ok(m) => m,
        Err(e) => return SignalView::None(e.to_string()),
    };
    let Some(sm) = m.signal_messages.first() else {
        return SignalView::None("no eb:SignalMessage".into());
    };
    let ref_to = sm.info.ref_to_message_id.clone();
    match &sm.signal {
        Signal::Receipt(refs) => SignalView::Receipt {
            ref_to,
            verified: verify_signal(&doc, &parts, target_ap).map(|_| ()),
            nr_references: refs.len(),
        },
        Signal::PlainReceipt => SignalView::PlainReceipt { ref_to },
        Signal::Errors(errors) => SignalView::Errors(
            errors
                .iter()
                .map(|e| ErrorView {
                    code: e.error_code.clone(),
                    severity: e.severity.as_str().to_owned(),
                    detail: e.detail.clone(),
                })
                .collect(),
        ),
    }
}

/// An HTTPS client presenting one TLS client identity.
#[derive(Debug, Clone)]
pub struct WireClient {
    client: Arc<HttpsClient>,
}

impl WireClient {
    pub fn new(settings: ClientSettings) -> Self {
        WireClient {
            client: Arc::new(HttpsClient::new(settings)),
        }
    }

    /// POSTs `body` with `content_type` to `url` and reads the answer.
    pub async fn post(
        &self,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
        target_ap: &Certificate,
    ) -> WireReply {
        let request = match Request::post(url)
            .header(header::CONTENT_TYPE, content_type)
            .body(OutBody::full(body))
        {
            Ok(r) => r,
            Err(e) => return transport_failure(format!("request: {e}")),
        };
        self.send(request, target_ap).await
    }

    /// Sends any request (for the HTTP-level cases: other methods, headers).
    pub async fn send(&self, request: Request<OutBody>, target_ap: &Certificate) -> WireReply {
        match self.client.send(request).await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.into_body().to_vec();
                let signal = if body.is_empty() {
                    SignalView::None("empty body".into())
                } else {
                    read_signal(&body, target_ap)
                };
                WireReply {
                    status: Some(status),
                    transport_error: None,
                    body,
                    signal,
                }
            }
            Err(e) => transport_failure(format!("{:?}: {e}", e.kind())),
        }
    }
}

fn transport_failure(why: String) -> WireReply {
    WireReply {
        status: None,
        transport_error: Some(why),
        body: Vec::new(),
        signal: SignalView::None("no answer".into()),
    }
}
