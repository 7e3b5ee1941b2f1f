//! Fetching and classifying SMP answers.
//!
//! [`SmpClient::fetch`] locates the participant's SMP ([`SmpLocator`]), GETs the
//! SignedServiceMetadata directly (no need to read the ServiceGroup first when the document
//! type is known), and on 404 asks the ServiceGroup whether the participant exists at all
//! (`NotRegistered` vs `DocTypeNotSupported`, SMP-08). 200 answers are verified, read and
//! validated off the async threads (RSA, path validation, a CRL fetcher may block).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use sdkgw_http::{ClientError, ClientSettings, HttpsClient, OutBody, RedirectPolicy};
use sdkgw_schemas::{DocumentId, ParticipantId};
use time::OffsetDateTime;

use super::metadata::ServiceMetadata;
use super::service_group::ServiceGroup;
use super::verify::{DEFAULT_MAX_BYTES, verify_signed_metadata};
use crate::bdxl::DiscoveryError;
use crate::entry::{Provenance, Published, ServiceEntry, validate};
use crate::error::LookupError;
use crate::locator::{SmpLocation, SmpLocator};
use crate::resolver::BoxFuture;
use crate::trust::Trust;

/// An HTTP answer, as the SMP client needs it.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// `Location`, for 3xx.
    pub location: Option<String>,
    /// Body (bounded by the transport).
    pub body: Bytes,
}

/// GETs SMP URLs. Errors are already classified ([`LookupError::Transient`],
/// [`LookupError::BadSmpAddress`], [`LookupError::Malformed`] for oversized answers,
/// [`LookupError::UnsupportedRedirect`]).
pub trait SmpTransport: Send + Sync + fmt::Debug {
    /// GETs `url`.
    fn get<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<HttpAnswer, LookupError>>;
}

/// Settings of the HTTPS transport.
#[derive(Debug, Clone)]
pub struct TransportSettings {
    /// rustls client config trusting the SMP's TLS server certificate issuers.
    pub tls: Arc<rustls::ClientConfig>,
    /// TCP connect + TLS handshake.
    pub connect_timeout: Duration,
    /// The whole exchange (SMP SLA: 99 % within 2 s; digest proposes ≤ 10 s).
    pub request_timeout: Duration,
    /// Largest answer accepted.
    pub max_response_bytes: usize,
}

impl TransportSettings {
    /// Defaults: 5 s connect, 10 s overall, 2 MiB.
    pub fn new(tls: Arc<rustls::ClientConfig>) -> Self {
        Self {
            tls,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_response_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// SMP over HTTPS through `sdkgw-http`: timeouts, a size cap, same-host redirects only.
#[derive(Debug, Clone)]
pub struct HttpsTransport {
    client: HttpsClient,
}

impl HttpsTransport {
    /// A transport with these settings.
    pub fn new(settings: &TransportSettings) -> Self {
        let mut client = ClientSettings::new(settings.tls.clone());
        client.connect_timeout = settings.connect_timeout;
        client.request_timeout = settings.request_timeout;
        client.max_response_bytes = settings.max_response_bytes as u64;
        client.redirects = RedirectPolicy::SameHost { max: 1 };
        Self {
            client: HttpsClient::new(client),
        }
    }
}

impl SmpTransport for HttpsTransport {
    fn get<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<HttpAnswer, LookupError>> {
        Box::pin(async move {
            let request = Request::builder()
                .method(Method::GET)
                .uri(url)
                .header(header::ACCEPT, "application/xml, text/xml")
                .body(OutBody::empty())
                .map_err(|e| LookupError::BadSmpAddress {
                    url: url.to_owned(),
                    reason: e.to_string(),
                })?;
            let response = self
                .client
                .send(request)
                .await
                .map_err(|e| classify(url, e))?;
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok(HttpAnswer {
                status: response.status().as_u16(),
                location,
                body: response.into_body(),
            })
        })
    }
}

fn classify(url: &str, e: ClientError) -> LookupError {
    match e {
        ClientError::InvalidUrl { reason, .. } => LookupError::BadSmpAddress {
            url: url.to_owned(),
            reason: reason.to_owned(),
        },
        ClientError::ResponseTooLarge { limit } => LookupError::Malformed {
            reason: format!("SMP answer is larger than {limit} bytes"),
        },
        ClientError::Redirect { location, .. } => {
            LookupError::UnsupportedRedirect { target: location }
        }
        other => LookupError::Transient {
            reason: format!("SMP {url}: {other}"),
        },
    }
}

/// Locates, fetches, verifies and validates.
#[derive(Debug, Clone)]
pub struct SmpClient {
    locator: SmpLocator,
    transport: Arc<dyn SmpTransport>,
    trust: Arc<Trust>,
    max_bytes: usize,
}

impl SmpClient {
    /// A client; `max_bytes` bounds the XML parser (the transport bounds the download).
    pub fn new(
        locator: SmpLocator,
        transport: Arc<dyn SmpTransport>,
        trust: Arc<Trust>,
        max_bytes: usize,
    ) -> Self {
        Self {
            locator,
            transport,
            trust,
            max_bytes,
        }
    }

    /// The trust the client validates with.
    pub fn trust(&self) -> &Arc<Trust> {
        &self.trust
    }

    /// Fetches and validates the metadata of `participant` for `document` at `at`.
    pub async fn fetch(
        &self,
        participant: &ParticipantId,
        document: &DocumentId,
        at: OffsetDateTime,
    ) -> Result<ServiceEntry, LookupError> {
        let location = self.locate(participant).await?;
        let url = location.base.service_metadata_url(participant, document);
        let answer = self.transport.get(&url).await?;
        match status_class(answer.status) {
            Class::Ok => {}
            Class::NotFound => {
                return Err(self.not_found(participant, document, &location).await);
            }
            other => return Err(other.into_error(&url, &answer)),
        }
        let trust = self.trust.clone();
        let (p, d, max) = (participant.clone(), document.clone(), self.max_bytes);
        let located_by = location.source.to_string();
        tokio::task::spawn_blocking(move || {
            let verified = verify_signed_metadata(answer.body.to_vec(), &trust, at, max)?;
            let meta = ServiceMetadata::read(&verified, &p, &d)?;
            let published = Published::from_metadata(&meta);
            let validation = validate(&p, &d, &published, &trust, at);
            let signer = verified.signer();
            Ok(ServiceEntry {
                participant: p,
                document: d,
                fetched_at: at,
                provenance: Provenance {
                    url,
                    located_by,
                    signer: signer.subject().to_owned(),
                    signer_fingerprint: signer.fingerprint_hex(),
                },
                published,
                validation,
            })
        })
        .await
        .map_err(|e| LookupError::Transient {
            reason: format!("verification task failed: {e}"),
        })?
    }

    /// The participant's ServiceGroup (unsigned: a capability list for people, never used
    /// for routing) and where the SMP was found.
    pub async fn service_group(
        &self,
        participant: &ParticipantId,
    ) -> Result<(ServiceGroup, SmpLocation), LookupError> {
        let location = self.locate(participant).await?;
        let url = location.base.service_group_url(participant);
        let answer = self.transport.get(&url).await?;
        match status_class(answer.status) {
            Class::Ok => {}
            Class::NotFound => {
                return Err(LookupError::NotRegistered {
                    participant: participant.clone(),
                    detail: format!("ServiceGroup {url} answered {}", answer.status),
                });
            }
            other => return Err(other.into_error(&url, &answer)),
        }
        let group = ServiceGroup::parse(
            answer.body.to_vec(),
            participant,
            &location.base,
            self.max_bytes,
        )?;
        Ok((group, location))
    }

    async fn locate(&self, participant: &ParticipantId) -> Result<SmpLocation, LookupError> {
        self.locator
            .locate(participant)
            .await
            .map_err(|e| discovery_error(participant, e))
    }

    /// After a metadata 404: a ServiceGroup 404 means the participant is not registered,
    /// a ServiceGroup answer means it does not take this document type.
    async fn not_found(
        &self,
        participant: &ParticipantId,
        document: &DocumentId,
        location: &SmpLocation,
    ) -> LookupError {
        let url = location.base.service_group_url(participant);
        match self.transport.get(&url).await {
            Ok(a) if status_class(a.status) == Class::Ok => LookupError::DocTypeNotSupported {
                participant: participant.clone(),
                document: document.clone(),
            },
            Ok(a) if status_class(a.status) == Class::NotFound => LookupError::NotRegistered {
                participant: participant.clone(),
                detail: format!("ServiceGroup {url} answered {}", a.status),
            },
            Ok(a) => status_class(a.status).into_error(&url, &a),
            Err(e) => e,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Ok,
    NotFound,
    Redirect,
    Other,
}

fn status_class(status: u16) -> Class {
    match StatusCode::from_u16(status) {
        Ok(s) if s == StatusCode::OK => Class::Ok,
        Ok(s) if s == StatusCode::NOT_FOUND || s == StatusCode::GONE => Class::NotFound,
        Ok(s) if s.is_redirection() => Class::Redirect,
        _ => Class::Other,
    }
}

impl Class {
    /// Redirects are refused; any other unexpected status (5xx, 429, 403, …) is treated as
    /// transient: the SMP is misbehaving, not answering about the participant.
    fn into_error(self, url: &str, answer: &HttpAnswer) -> LookupError {
        match self {
            Class::Redirect => LookupError::UnsupportedRedirect {
                target: answer.location.clone().unwrap_or_default(),
            },
            _ => LookupError::Transient {
                reason: format!("SMP {url} answered {}", answer.status),
            },
        }
    }
}

fn discovery_error(participant: &ParticipantId, e: DiscoveryError) -> LookupError {
    let detail = e.to_string();
    match e {
        DiscoveryError::NotRegistered { .. } => LookupError::NotRegistered {
            participant: participant.clone(),
            detail,
        },
        DiscoveryError::NoSmp { .. } => LookupError::NoSmp {
            participant: participant.clone(),
            detail,
        },
        _ => LookupError::Transient { reason: detail },
    }
}
