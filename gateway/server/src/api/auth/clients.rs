//! The mailbox API's OAuth clients, kept in the store (keyspace [`KEYSPACE`], durable like
//! every store write): id, scopes, `auth_id` grants, and how the client authenticates —
//! a secret (stored only as PBKDF2-HMAC-SHA256 with a per-secret salt), public keys for
//! `private_key_jwt` assertions, and/or TLS client certificate fingerprints for mTLS mode.
//! Secrets are generated here, shown once by the CLI and never stored in clear.

use std::num::NonZeroU32;
use std::sync::Arc;

use aws_lc_rs::{constant_time, pbkdf2, rand};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use sdkgw_store::{Keyspace, Store, StoreError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::jwt::PublicKey;
use super::scopes::Scope;

/// Keyspace of the client registry.
pub const KEYSPACE: &str = "api.clients";

/// PBKDF2 iterations for new secrets (OWASP 2023 for PBKDF2-HMAC-SHA256).
pub const DEFAULT_ITERATIONS: u32 = 600_000;

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Scopes the client may be given (`urn:sdk.api:…`).
    pub scopes: Vec<String>,
    /// `auth_id` values: mailbox patterns (see [`super::grants`]).
    pub grants: Vec<String>,
    /// `pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_hash: Option<String>,
    /// Public keys (JWK) accepted for `private_key_jwt` client assertions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jwt_keys: Vec<serde_json::Map<String, serde_json::Value>>,
    /// SHA-256 fingerprints (lowercase hex) of TLS client certificates (mTLS mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl ClientRecord {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }

    /// The client's public keys for assertions.
    pub fn assertion_keys(&self) -> Vec<super::jwt::NamedKey> {
        self.jwt_keys
            .iter()
            .filter_map(|jwk| {
                let key = PublicKey::from_jwk(jwk).ok()?;
                let kid = jwk.get("kid").and_then(|v| v.as_str()).map(str::to_owned);
                Some(super::jwt::NamedKey { kid, key })
            })
            .collect()
    }

    /// The listing view: everything but the hash.
    pub fn public_view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "scopes": self.scopes,
            "grants": self.grants,
            "secret": self.secret_hash.is_some(),
            "jwt_keys": self.jwt_keys.len(),
            "certificates": self.certificates,
            "created_at": super::super::datetime::format_utc(self.created_at),
            "revoked_at": self.revoked_at.map(super::super::datetime::format_utc),
        })
    }
}

/// Errors of the registry.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("client {0:?} already exists")]
    Exists(String),
    #[error("no client {0:?}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What `sdkgw client add` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewClient {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub scopes: Vec<String>,
    pub grants: Vec<String>,
    /// Generate a secret (returned once).
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub jwt_keys: Vec<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub certificates: Vec<String>,
    /// PBKDF2 iterations (default [`DEFAULT_ITERATIONS`]; tests use fewer).
    #[serde(default)]
    pub iterations: Option<u32>,
}

/// The client registry over a store keyspace.
#[derive(Debug, Clone)]
pub struct Clients {
    space: Arc<dyn Keyspace>,
}

impl Clients {
    pub fn open(store: &dyn Store) -> Result<Self, StoreError> {
        Ok(Self {
            space: store.keyspace(KEYSPACE)?,
        })
    }

    pub fn get(&self, id: &str) -> Result<Option<ClientRecord>, ClientError> {
        let Some(bytes) = self.space.get(id.as_bytes())? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ClientError::Invalid(format!("stored client {id:?} unreadable: {e}")))
    }

    /// An active client.
    pub fn active(&self, id: &str) -> Result<Option<ClientRecord>, ClientError> {
        Ok(self.get(id)?.filter(ClientRecord::is_active))
    }

    pub fn list(&self) -> Result<Vec<ClientRecord>, ClientError> {
        self.space
            .scan_prefix(b"", usize::MAX)?
            .into_iter()
            .map(|(_, v)| {
                serde_json::from_slice(&v)
                    .map_err(|e| ClientError::Invalid(format!("stored client unreadable: {e}")))
            })
            .collect()
    }

    /// Registers a client; returns it and the generated secret (if asked for).
    pub fn add(
        &self,
        new: NewClient,
        at: OffsetDateTime,
    ) -> Result<(ClientRecord, Option<String>), ClientError> {
        check_id(&new.id)?;
        for s in &new.scopes {
            Scope::parse(s).ok_or_else(|| {
                ClientError::Invalid(format!(
                    "unknown scope {s:?}; scopes are {}",
                    Scope::names().join(", ")
                ))
            })?;
        }
        for g in &new.grants {
            super::grants::Pattern::parse(g).map_err(ClientError::Invalid)?;
        }
        for k in &new.jwt_keys {
            PublicKey::from_jwk(k).map_err(ClientError::Invalid)?;
        }
        for c in &new.certificates {
            if c.len() != 64 || !c.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ClientError::Invalid(format!(
                    "certificate fingerprint {c:?} is not 64 hex digits (SHA-256)"
                )));
            }
        }
        if !new.secret && new.jwt_keys.is_empty() && new.certificates.is_empty() {
            return Err(ClientError::Invalid(
                "a client needs a secret, a JWT key or a certificate".into(),
            ));
        }
        if self.get(&new.id)?.is_some() {
            return Err(ClientError::Exists(new.id));
        }
        let secret = if new.secret {
            Some(generate_secret()?)
        } else {
            None
        };
        let iterations = new.iterations.unwrap_or(DEFAULT_ITERATIONS);
        let record = ClientRecord {
            id: new.id,
            name: new.name,
            scopes: new.scopes,
            grants: new.grants,
            secret_hash: secret
                .as_deref()
                .map(|s| hash_secret(s, iterations))
                .transpose()?,
            jwt_keys: new.jwt_keys,
            certificates: new
                .certificates
                .iter()
                .map(|c| c.to_ascii_lowercase())
                .collect(),
            created_at: at,
            revoked_at: None,
        };
        self.put(&record)?;
        Ok((record, secret))
    }

    /// Marks the client revoked: its tokens stop working at once (checked on every call).
    pub fn revoke(&self, id: &str, at: OffsetDateTime) -> Result<ClientRecord, ClientError> {
        let mut r = self
            .get(id)?
            .ok_or_else(|| ClientError::NotFound(id.to_owned()))?;
        if r.revoked_at.is_none() {
            r.revoked_at = Some(at);
            self.put(&r)?;
        }
        Ok(r)
    }

    /// Adds grants and/or scopes (`remove` takes them away instead).
    pub fn grant(
        &self,
        id: &str,
        grants: &[String],
        scopes: &[String],
        remove: bool,
    ) -> Result<ClientRecord, ClientError> {
        let mut r = self
            .get(id)?
            .ok_or_else(|| ClientError::NotFound(id.to_owned()))?;
        for g in grants {
            super::grants::Pattern::parse(g).map_err(ClientError::Invalid)?;
        }
        for s in scopes {
            Scope::parse(s).ok_or_else(|| ClientError::Invalid(format!("unknown scope {s:?}")))?;
        }
        let apply = |list: &mut Vec<String>, items: &[String]| {
            for i in items {
                if remove {
                    list.retain(|x| x != i);
                } else if !list.contains(i) {
                    list.push(i.clone());
                }
            }
        };
        apply(&mut r.grants, grants);
        apply(&mut r.scopes, scopes);
        self.put(&r)?;
        Ok(r)
    }

    fn put(&self, r: &ClientRecord) -> Result<(), ClientError> {
        let bytes = serde_json::to_vec(r).map_err(|e| ClientError::Invalid(e.to_string()))?;
        self.space.put(r.id.as_bytes(), &bytes)?;
        Ok(())
    }
}

fn check_id(id: &str) -> Result<(), ClientError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ClientError::Invalid(format!(
            "client id {id:?} must be 1..128 characters of A-Z a-z 0-9 . - _ : @"
        )))
    }
}

fn generate_secret() -> Result<String, ClientError> {
    let mut b = [0u8; 32];
    rand::fill(&mut b).map_err(|_| ClientError::Invalid("random generator failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(b))
}

/// `pbkdf2-sha256$<iterations>$<salt>$<hash>` (base64 without padding).
pub fn hash_secret(secret: &str, iterations: u32) -> Result<String, ClientError> {
    let iterations = NonZeroU32::new(iterations)
        .ok_or_else(|| ClientError::Invalid("iterations must be > 0".into()))?;
    let mut salt = [0u8; 16];
    rand::fill(&mut salt).map_err(|_| ClientError::Invalid("random generator failed".into()))?;
    let mut out = [0u8; 32];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        secret.as_bytes(),
        &mut out,
    );
    Ok(format!(
        "pbkdf2-sha256${iterations}${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(out)
    ))
}

/// Checks `secret` against a stored hash in constant time.
pub fn verify_secret(secret: &str, stored: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some("pbkdf2-sha256"), Some(iter), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let (Some(iter), Ok(salt), Ok(hash)) = (
        iter.parse::<u32>().ok().and_then(NonZeroU32::new),
        STANDARD_NO_PAD.decode(salt),
        STANDARD_NO_PAD.decode(hash),
    ) else {
        return false;
    };
    if secret.len() > 1024 {
        return false;
    }
    let mut out = vec![0u8; hash.len()];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iter,
        &salt,
        secret.as_bytes(),
        &mut out,
    );
    constant_time::verify_slices_are_equal(&out, &hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_hash_verifies_only_the_same_secret_and_salts_differ() {
        let a = hash_secret("s3cret", 1000).unwrap();
        let b = hash_secret("s3cret", 1000).unwrap();
        assert_ne!(a, b, "per-secret salt");
        assert!(verify_secret("s3cret", &a));
        assert!(!verify_secret("s3cret!", &a));
        assert!(!verify_secret("s3cret", "plain"));
        assert!(!a.contains("s3cret"));
    }
}
