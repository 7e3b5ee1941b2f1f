//! Authentication and authorisation of the mailbox API (MT–MK §2.2, §4.1; DESIGN §4).
//!
//! Three modes, one per listener (`[api] auth`):
//!
//! * `token` (default): OAuth2 client credentials at the gateway's own token endpoint
//!   (`POST {base}/oauth/token`). Clients authenticate with their secret (`client_secret_basic`
//!   or `client_secret_post`) or a signed JWT assertion (`private_key_jwt`, RFC 7523: RS256 or
//!   ES256, `iss` = `sub` = client id, `aud` = the token endpoint URL or the issuer, `jti` never
//!   reused, lifetime ≤ 5 min). Tokens are ES256 JWTs, ≤ 30 min, no refresh tokens; the
//!   client must still be active on every call, and its current scopes and grants apply.
//! * `external`: bearer JWTs of an external issuer (Keycloak, …), verified with its JWKS
//!   (fetched over HTTPS, cached, refetched on an unknown `kid` at most every 30 s): `iss`,
//!   `aud`, `exp`, lifetime ≤ 30 min, RS256/ES256. Scopes from `scope`/`scp`, grants from the
//!   configured `auth_id` claim, the client from `azp` (or `client_id`, `sub`).
//! * `mtls`: the listener requires a TLS client certificate from the configured CAs; its
//!   SHA-256 fingerprint names a registered client, whose scopes and grants apply.
//!
//! Every call checks the operation's scope and the mailbox. Missing or invalid credentials
//! → 401 with `WWW-Authenticate: Bearer`; valid credentials without the scope → 403; a message
//! outside the caller's mailboxes → 404 (existence is never revealed).

pub mod clients;
pub mod grants;
pub mod jwks;
pub mod jwt;
pub mod scopes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};
use time::OffsetDateTime;

pub use clients::{ClientRecord, Clients, NewClient};
pub use grants::Pattern;
pub use scopes::Scope;

use jwt::{ClaimRules, JwtError, NamedKey, SigningKey};

/// Longest accepted access-token lifetime (MT–MK §2.2): 30 minutes.
pub const MAX_TOKEN_LIFETIME: i64 = 30 * 60;
/// Longest accepted client-assertion lifetime.
const MAX_ASSERTION_LIFETIME: i64 = 5 * 60;
/// Clock skew tolerated on `exp`/`nbf`/`iat`.
const LEEWAY: i64 = 30;

/// How callers authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMode {
    Token,
    External(External),
    Mtls,
}

/// An external issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    pub issuer: String,
    pub jwks_url: String,
    /// CA files the JWKS server's certificate must chain to.
    pub tls_anchors: Vec<std::path::PathBuf>,
    /// How long fetched keys are used before they are fetched again.
    pub jwks_ttl: std::time::Duration,
}

/// What authentication needs to know.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub mode: AuthMode,
    /// Our issuer (`iss` of our tokens).
    pub issuer: String,
    /// The audience tokens must name (ours and the external issuer's).
    pub audience: String,
    /// Lifetime of our tokens in seconds (≤ 1800).
    pub token_lifetime: i64,
    /// Claim carrying `auth_id` values, e.g. `urn:sdk.digg.se:auth_id`.
    pub auth_id_claim: String,
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Client id (`azp`).
    pub client_id: String,
    pub scopes: Vec<Scope>,
    /// The `auth_id` values as given.
    pub auth_ids: Vec<String>,
    pub grants: Vec<Pattern>,
}

impl Principal {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
    /// Whether a grant covers the mailbox.
    pub fn may_use(&self, mailbox: &str) -> bool {
        self.grants.iter().any(|g| g.matches(mailbox))
    }
}

/// Why a call is not authenticated (the reason goes to the log, not to the caller).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no credentials")]
    Missing,
    #[error("invalid token: {0}")]
    Token(#[from] JwtError),
    #[error("client unknown or revoked")]
    Client,
    #[error("{0}")]
    Unavailable(String),
}

/// Authenticates calls and runs the token endpoint.
pub struct Authenticator {
    settings: AuthSettings,
    signing: SigningKey,
    clients: Clients,
    jwks: Option<jwks::JwksCache>,
    /// `jti`s of client assertions seen, until their `exp`.
    seen_assertions: Mutex<HashMap<String, i64>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("mode", &self.settings.mode)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    pub fn new(settings: AuthSettings, clients: Clients) -> Result<Self, String> {
        if settings.token_lifetime <= 0 || settings.token_lifetime > MAX_TOKEN_LIFETIME {
            return Err(format!(
                "token lifetime must be 1..={MAX_TOKEN_LIFETIME} seconds"
            ));
        }
        let jwks = match &settings.mode {
            AuthMode::External(e) => Some(jwks::JwksCache::new(e)?),
            _ => None,
        };
        Ok(Self {
            settings,
            signing: SigningKey::generate()?,
            clients,
            jwks,
            seen_assertions: Mutex::new(HashMap::new()),
        })
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// The public key of our tokens (for `{base}/oauth/jwks.json`).
    pub fn public_jwks(&self) -> Value {
        let k = self.signing.public();
        let mut jwk = k.key.to_jwk();
        jwk.insert("kid".into(), self.signing.kid().into());
        jwk.insert("use".into(), "sig".into());
        serde_json::json!({ "keys": [jwk] })
    }

    /// Authenticates one API call.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: &sdkgw_http::ConnectionInfo,
        now: OffsetDateTime,
    ) -> Result<Principal, AuthError> {
        match &self.settings.mode {
            AuthMode::Mtls => self.by_certificate(peer),
            AuthMode::Token => {
                let token = bearer(headers).ok_or(AuthError::Missing)?;
                let claims = jwt::decode(token)?.verify(&[self.signing.public()])?;
                check_claims(&claims, &self.settings.issuer, &self.settings.audience, now)?;
                let client_id = claims
                    .get("azp")
                    .and_then(Value::as_str)
                    .ok_or(JwtError::Claim("azp", "missing".into()))?;
                let client = self.active_client(client_id)?;
                let token_scopes = scopes::from_claims(&claims);
                let current: Vec<Scope> = client
                    .scopes
                    .iter()
                    .filter_map(|s| Scope::parse(s))
                    .collect();
                Ok(Principal {
                    client_id: client.id.clone(),
                    scopes: token_scopes
                        .into_iter()
                        .filter(|s| current.contains(s))
                        .collect(),
                    grants: grants::parse_all(client.grants.iter().map(String::as_str)),
                    auth_ids: client.grants.clone(),
                })
            }
            AuthMode::External(e) => {
                let token = bearer(headers).ok_or(AuthError::Missing)?;
                let unverified = jwt::decode(token)?;
                let keys = self
                    .jwks
                    .as_ref()
                    .ok_or_else(|| AuthError::Unavailable("no JWKS".into()))?
                    .keys_for(unverified.kid.as_deref())
                    .await
                    .map_err(AuthError::Unavailable)?;
                let claims = unverified.verify(&keys)?;
                check_claims(&claims, &e.issuer, &self.settings.audience, now)?;
                let client_id = ["azp", "client_id", "clientId", "sub"]
                    .iter()
                    .find_map(|c| claims.get(*c).and_then(Value::as_str))
                    .unwrap_or("unknown")
                    .to_owned();
                let auth_ids = auth_ids(&claims, &self.settings.auth_id_claim);
                Ok(Principal {
                    client_id,
                    scopes: scopes::from_claims(&claims),
                    grants: grants::parse_all(auth_ids.iter().map(String::as_str)),
                    auth_ids,
                })
            }
        }
    }

    fn active_client(&self, id: &str) -> Result<ClientRecord, AuthError> {
        self.clients
            .active(id)
            .map_err(|e| AuthError::Unavailable(e.to_string()))?
            .ok_or(AuthError::Client)
    }

    fn by_certificate(&self, peer: &sdkgw_http::ConnectionInfo) -> Result<Principal, AuthError> {
        let leaf = peer.peer_certificates.first().ok_or(AuthError::Missing)?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, leaf.as_ref());
        let fingerprint: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let clients = self
            .clients
            .list()
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        let client = clients
            .into_iter()
            .find(|c| c.is_active() && c.certificates.contains(&fingerprint))
            .ok_or(AuthError::Client)?;
        Ok(Principal {
            client_id: client.id.clone(),
            scopes: client
                .scopes
                .iter()
                .filter_map(|s| Scope::parse(s))
                .collect(),
            grants: grants::parse_all(client.grants.iter().map(String::as_str)),
            auth_ids: client.grants,
        })
    }

    /// `POST {base}/oauth/token` (RFC 6749 §4.4 + RFC 7523 client assertions). `endpoint` is
    /// the token endpoint's absolute URL (an accepted assertion audience).
    pub fn token(
        &self,
        headers: &HeaderMap,
        form: &[u8],
        endpoint: &str,
        now: OffsetDateTime,
    ) -> (StatusCode, Value) {
        match self.issue(headers, form, endpoint, now) {
            Ok(v) => (StatusCode::OK, v),
            Err((status, error, description)) => (
                status,
                serde_json::json!({"error": error, "error_description": description}),
            ),
        }
    }

    fn issue(
        &self,
        headers: &HeaderMap,
        form: &[u8],
        endpoint: &str,
        now: OffsetDateTime,
    ) -> Result<Value, (StatusCode, &'static str, String)> {
        let bad = |e: &'static str, d: &str| (StatusCode::BAD_REQUEST, e, d.to_owned());
        let invalid_client = || {
            (
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed".to_owned(),
            )
        };
        if self.settings.mode != AuthMode::Token {
            return Err(bad(
                "unsupported_grant_type",
                "this gateway does not issue tokens (auth mode is not token)",
            ));
        }
        let params =
            parse_form(form).ok_or_else(|| bad("invalid_request", "malformed form body"))?;
        let get = |k: &str| params.get(k).map(String::as_str);
        match get("grant_type") {
            Some("client_credentials") => {}
            Some(_) => {
                return Err(bad(
                    "unsupported_grant_type",
                    "only client_credentials is supported (no refresh tokens)",
                ));
            }
            None => return Err(bad("invalid_request", "grant_type missing")),
        }
        let client = match (basic_credentials(headers), get("client_assertion")) {
            (Some((id, secret)), None) => self.by_secret(&id, &secret),
            (None, Some(assertion)) => {
                if get("client_assertion_type")
                    != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                {
                    return Err(bad("invalid_request", "wrong client_assertion_type"));
                }
                self.by_assertion(assertion, get("client_id"), endpoint, now)
            }
            (None, None) => match (get("client_id"), get("client_secret")) {
                (Some(id), Some(secret)) => self.by_secret(id, secret),
                _ => return Err(invalid_client()),
            },
            (Some(_), Some(_)) => {
                return Err(bad(
                    "invalid_request",
                    "use one client authentication method",
                ));
            }
        }
        .ok_or_else(invalid_client)?;
        let allowed: Vec<&str> = client.scopes.iter().map(String::as_str).collect();
        let granted: Vec<&str> = match get("scope") {
            None => allowed.clone(),
            Some(requested) => {
                let req: Vec<&str> = requested.split_ascii_whitespace().collect();
                if let Some(s) = req.iter().find(|s| !allowed.contains(s)) {
                    return Err(bad(
                        "invalid_scope",
                        &format!("scope {s:?} is not granted to this client"),
                    ));
                }
                req
            }
        };
        let iat = now.unix_timestamp();
        let exp = iat + self.settings.token_lifetime;
        let mut claims = Map::new();
        claims.insert("iss".into(), self.settings.issuer.clone().into());
        claims.insert("sub".into(), client.id.clone().into());
        claims.insert("azp".into(), client.id.clone().into());
        claims.insert("aud".into(), self.settings.audience.clone().into());
        claims.insert("iat".into(), iat.into());
        claims.insert("exp".into(), exp.into());
        claims.insert("jti".into(), uuid::Uuid::new_v4().to_string().into());
        claims.insert("scope".into(), granted.join(" ").into());
        claims.insert(
            self.settings.auth_id_claim.clone(),
            Value::Array(client.grants.iter().map(|g| g.clone().into()).collect()),
        );
        let token = self
            .signing
            .sign(&claims)
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, "server_error", e))?;
        tracing::info!(target: "sdkgw::api::audit", client = %client.id, "token issued");
        Ok(serde_json::json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.settings.token_lifetime,
            "scope": granted.join(" "),
        }))
    }

    fn by_secret(&self, id: &str, secret: &str) -> Option<ClientRecord> {
        let client = self.clients.active(id).ok()??;
        let hash = client.secret_hash.as_deref()?;
        clients::verify_secret(secret, hash).then_some(client)
    }

    fn by_assertion(
        &self,
        assertion: &str,
        client_id: Option<&str>,
        endpoint: &str,
        now: OffsetDateTime,
    ) -> Option<ClientRecord> {
        let unverified = jwt::decode(assertion).ok()?;
        let iss = unverified
            .claims
            .get("iss")
            .and_then(Value::as_str)?
            .to_owned();
        if client_id.is_some_and(|c| c != iss)
            || unverified.claims.get("sub").and_then(Value::as_str) != Some(iss.as_str())
        {
            return None;
        }
        let client = self.clients.active(&iss).ok()??;
        let keys: Vec<NamedKey> = client.assertion_keys();
        let claims = unverified.verify(&keys).ok()?;
        let n = now.unix_timestamp();
        let aud_ok = [endpoint, self.settings.issuer.as_str()].iter().any(|aud| {
            jwt::check_claims(
                &claims,
                &ClaimRules {
                    issuer: &iss,
                    audience: aud,
                    max_lifetime: MAX_ASSERTION_LIFETIME,
                    leeway: LEEWAY,
                    now: n,
                },
            )
            .is_ok()
        });
        if !aud_ok {
            return None;
        }
        let jti = claims.get("jti").and_then(Value::as_str)?;
        let exp = claims.get("exp").and_then(Value::as_i64)?;
        let mut seen = self
            .seen_assertions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        seen.retain(|_, e| *e + LEEWAY > n);
        let key = format!("{iss}\u{0}{jti}");
        if seen.contains_key(&key) {
            return None;
        }
        seen.insert(key, exp);
        Some(client)
    }
}

fn check_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    audience: &str,
    now: OffsetDateTime,
) -> Result<(), JwtError> {
    jwt::check_claims(
        claims,
        &ClaimRules {
            issuer,
            audience,
            max_lifetime: MAX_TOKEN_LIFETIME,
            leeway: LEEWAY,
            now: now.unix_timestamp(),
        },
    )
}

/// The `auth_id` values from the configured claim (a string array or one string).
fn auth_ids(claims: &Map<String, Value>, claim: &str) -> Vec<String> {
    match claims.get(claim) {
        Some(Value::Array(v)) => v
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

/// `application/x-www-form-urlencoded` into a map (duplicate keys refused, RFC 6749 §3.2).
fn parse_form(body: &[u8]) -> Option<HashMap<String, String>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut out = HashMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8()
                .ok()
                .map(|c| c.into_owned())
        };
        if out.insert(dec(k)?, dec(v)?).is_some() {
            return None;
        }
    }
    Some(out)
}

/// Shared handle.
pub type SharedAuthenticator = Arc<Authenticator>;
