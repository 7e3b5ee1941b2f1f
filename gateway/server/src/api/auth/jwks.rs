//! The external issuer's signing keys: its JWKS document, fetched over HTTPS with the
//! sdkgw-http client (server certificate checked against the configured anchors, 10 s
//! timeout, 1 MiB cap), cached for `jwks_ttl`, and fetched again when a token names an
//! unknown `kid` — at most once every 30 s, so bogus `kid`s cannot make us hammer the issuer.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sdkgw_certs::load_certificates;
use sdkgw_http::{
    ClientSettings, ClientTlsSettings, HostnameVerification, HttpsClient, OutBody, TrustAnchors,
};
use serde_json::Value;

use super::External;
use super::jwt::{NamedKey, PublicKey};

const MIN_REFETCH: Duration = Duration::from_secs(30);
const MAX_JWKS_BYTES: u64 = 1 << 20;

#[derive(Debug)]
struct Cached {
    keys: Vec<NamedKey>,
    fetched: Instant,
}

/// Cached JWKS of one issuer.
pub struct JwksCache {
    url: String,
    ttl: Duration,
    client: HttpsClient,
    cached: Mutex<Option<Cached>>,
    last_attempt: Mutex<Option<Instant>>,
    fetch: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    pub fn new(e: &External) -> Result<Self, String> {
        if !e.jwks_url.starts_with("https://") {
            return Err(format!(
                "api.jwks_url {:?} must be an https:// URL",
                e.jwks_url
            ));
        }
        let mut anchors = Vec::new();
        for f in &e.tls_anchors {
            anchors.extend(
                load_certificates(f, None)
                    .map_err(|err| format!("api.jwks_tls_anchors {}: {err}", f.display()))?,
            );
        }
        let trust =
            TrustAnchors::new(&anchors).map_err(|err| format!("api.jwks_tls_anchors: {err}"))?;
        let tls = sdkgw_http::tls::client_config(&ClientTlsSettings {
            identity: None,
            server_trust: trust,
            hostname: HostnameVerification::Verify,
        })
        .map_err(|err| err.to_string())?;
        let mut settings = ClientSettings::new(tls);
        settings.connect_timeout = Duration::from_secs(5);
        settings.request_timeout = Duration::from_secs(10);
        settings.max_response_bytes = MAX_JWKS_BYTES;
        Ok(Self {
            url: e.jwks_url.clone(),
            ttl: e.jwks_ttl,
            client: HttpsClient::new(settings),
            cached: Mutex::new(None),
            last_attempt: Mutex::new(None),
            fetch: tokio::sync::Mutex::new(()),
        })
    }

    /// The keys to verify a token with this `kid`.
    pub async fn keys_for(&self, kid: Option<&str>) -> Result<Vec<NamedKey>, String> {
        let usable = |c: &Cached| {
            c.fetched.elapsed() < self.ttl
                && kid.is_none_or(|k| c.keys.iter().any(|n| n.kid.as_deref() == Some(k)))
        };
        if let Some(c) = self
            .cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            && usable(c)
        {
            return Ok(c.keys.clone());
        }
        let _one_fetch = self.fetch.lock().await;
        if let Some(c) = self
            .cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            && usable(c)
        {
            return Ok(c.keys.clone());
        }
        let recently = self
            .last_attempt
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| t.elapsed() < MIN_REFETCH);
        let have_fresh = self
            .cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|c| c.fetched.elapsed() < self.ttl);
        if recently && have_fresh {
            // An unknown kid again: answer from what we have (the token will fail).
            return Ok(self.current());
        }
        *self.last_attempt.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        match self.download().await {
            Ok(keys) => {
                *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some(Cached {
                    keys: keys.clone(),
                    fetched: Instant::now(),
                });
                Ok(keys)
            }
            // Keep using keys we have if the issuer is briefly unreachable.
            Err(e) if !self.current().is_empty() => {
                tracing::warn!(url = %self.url, error = %e, "JWKS refresh failed; using cached keys");
                Ok(self.current())
            }
            Err(e) => Err(e),
        }
    }

    fn current(&self) -> Vec<NamedKey> {
        self.cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|c| c.keys.clone())
            .unwrap_or_default()
    }

    async fn download(&self) -> Result<Vec<NamedKey>, String> {
        let request = http::Request::get(&self.url)
            .header(http::header::ACCEPT, "application/json")
            .body(OutBody::empty())
            .map_err(|e| e.to_string())?;
        let response = self
            .client
            .send(request)
            .await
            .map_err(|e| format!("JWKS {}: {e}", self.url))?;
        if !response.status().is_success() {
            return Err(format!("JWKS {}: HTTP {}", self.url, response.status()));
        }
        parse_jwks(response.body())
    }
}

/// The RS256/ES256 signing keys of a JWKS document (others are skipped).
pub fn parse_jwks(body: &[u8]) -> Result<Vec<NamedKey>, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| format!("JWKS is not JSON: {e}"))?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("JWKS has no keys array")?;
    Ok(keys
        .iter()
        .filter_map(Value::as_object)
        .filter(|k| {
            k.get("use")
                .and_then(Value::as_str)
                .is_none_or(|u| u == "sig")
        })
        .filter_map(|k| {
            let key = PublicKey::from_jwk(k).ok()?;
            if let Some(alg) = k.get("alg").and_then(Value::as_str)
                && alg != key.alg().as_str()
            {
                return None;
            }
            Some(NamedKey {
                kid: k.get("kid").and_then(Value::as_str).map(str::to_owned),
                key,
            })
        })
        .collect())
}
