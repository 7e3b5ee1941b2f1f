//! `[api]`: the mailbox API (`sdkgw_server::api`). Every key is optional; the listener's
//! address is `[listeners.api] bind`, its certificate `keys.tls.server`.

use std::time::Duration;

use crate::api::ApiSettings;
use crate::api::auth::{AuthMode, External, MAX_TOKEN_LIFETIME};
use crate::api::message_json::StatusOnCreate;

use super::reader::Table;

/// Reads `[api]` (absent: defaults).
pub(crate) fn read(t: Option<&Table<'_>>) -> Option<ApiSettings> {
    let d = ApiSettings::default();
    let Some(t) = t else { return Some(d) };
    let err = |key: &str, message: &str| t.ctx().error(&t.key_path(key), message);
    let base_path = t.opt_str("base_path").unwrap_or(d.base_path.clone());
    if !base_path.starts_with('/')
        || base_path.ends_with('/')
        || base_path.contains(['?', '#', ' '])
    {
        err(
            "base_path",
            "must start with / and not end with / (e.g. /v1 or /sdk-api/v1)",
        );
    }
    let public_url = t.opt_parsed("public_url", |s| {
        if s.starts_with("https://") && !s.trim_end_matches('/').contains(['?', '#']) {
            Ok(s.trim_end_matches('/').to_owned())
        } else {
            Err(format!(
                "{s:?}: an https:// origin such as https://gateway.example"
            ))
        }
    });
    let lifetime = t.duration_or(
        "token_lifetime",
        Duration::from_secs(d.auth.token_lifetime as u64),
    );
    if lifetime.as_secs() == 0 || lifetime.as_secs() > MAX_TOKEN_LIFETIME as u64 {
        err(
            "token_lifetime",
            "must be between 1s and 30m (MT–MK: tokens live at most 30 minutes)",
        );
    }
    let mode = match t.opt_str("auth").as_deref() {
        None | Some("token") => Some(AuthMode::Token),
        Some("mtls") => Some(AuthMode::Mtls),
        Some("external") => {
            let issuer = t.str("external_issuer");
            let jwks_url = t.parsed("jwks_url", |s| {
                if s.starts_with("https://") {
                    Ok(s.to_owned())
                } else {
                    Err(format!("{s:?}: the JWKS is fetched over https:// only"))
                }
            });
            let anchors = t.path_list("jwks_tls_anchors");
            let jwks_ttl = t.duration_or("jwks_cache", Duration::from_secs(600));
            match (issuer, jwks_url) {
                (Some(issuer), Some(jwks_url)) => Some(AuthMode::External(External {
                    issuer,
                    jwks_url,
                    tls_anchors: if anchors.is_empty() {
                        vec![super::SYSTEM_CA_BUNDLE.into()]
                    } else {
                        anchors
                    },
                    jwks_ttl,
                })),
                _ => None,
            }
        }
        Some(other) => {
            err(
                "auth",
                &format!("{other:?}: expected token, external or mtls"),
            );
            None
        }
    };
    let mtls_client_ca = t.path_list("mtls_client_ca");
    if matches!(mode, Some(AuthMode::Mtls)) && mtls_client_ca.is_empty() {
        err(
            "mtls_client_ca",
            "required with auth = \"mtls\": the CAs of the clients' certificates",
        );
    }
    let empty_list_404 = match t.opt_str("empty_list").as_deref() {
        None | Some("200") => false,
        Some("404") => true,
        Some(_) => {
            err("empty_list", "expected \"200\" (data: []) or \"404\"");
            false
        }
    };
    let delete_non_final_status = match t.u64_or("delete_non_final", 409) {
        409 => http::StatusCode::CONFLICT,
        400 => http::StatusCode::BAD_REQUEST,
        _ => {
            err("delete_non_final", "expected 409 or 400");
            http::StatusCode::CONFLICT
        }
    };
    let meta_version = t.opt_str("meta_version").unwrap_or(d.meta_version.clone());
    if meta_version != "1.0.0" && meta_version != "sdk api 1.0.0" {
        err("meta_version", "expected \"1.0.0\" or \"sdk api 1.0.0\"");
    }
    let status_on_create = match t.opt_str("message_status_on_create").as_deref() {
        None | Some("reject") => StatusOnCreate::Reject,
        Some("ignore") => StatusOnCreate::Ignore,
        Some(_) => {
            err("message_status_on_create", "expected reject or ignore");
            StatusOnCreate::Reject
        }
    };
    let idempotency_hours = t.u64_or("idempotency_hours", 24);
    if idempotency_hours < 24 {
        err("idempotency_hours", "must be at least 24");
    }
    let max_body_bytes = t.u64_or("max_body_bytes", d.max_body_bytes);
    let max_content_bytes = t.u64_or("max_content_bytes", d.max_content_bytes);
    if max_content_bytes == 0 || max_body_bytes < max_content_bytes {
        err("max_body_bytes", "must be at least max_content_bytes (> 0)");
    }
    let usize_or = |key: &'static str, default: usize| {
        usize::try_from(t.u64_or(key, default as u64)).unwrap_or(default)
    };
    let rate_limit = t.f64_or("rate_limit", d.rate_limit);
    let rate_burst = t.f64_or("rate_burst", d.rate_burst);
    if rate_limit < 0.0 || (rate_limit > 0.0 && rate_burst < 1.0) {
        err("rate_limit", "must be ≥ 0 (0 = off), with rate_burst ≥ 1");
    }
    let secret_iterations =
        u32::try_from(t.u64_or("secret_iterations", u64::from(d.secret_iterations))).unwrap_or(0);
    if secret_iterations < 100_000 {
        err(
            "secret_iterations",
            "must be at least 100000 (PBKDF2-HMAC-SHA256)",
        );
    }
    Some(ApiSettings {
        base_path,
        public_url,
        auth: crate::api::auth::AuthSettings {
            mode: mode?,
            issuer: t.opt_str("issuer").unwrap_or(d.auth.issuer.clone()),
            audience: t.opt_str("audience").unwrap_or(d.auth.audience.clone()),
            token_lifetime: i64::try_from(lifetime.as_secs()).unwrap_or(MAX_TOKEN_LIFETIME),
            auth_id_claim: t
                .opt_str("auth_id_claim")
                .unwrap_or(d.auth.auth_id_claim.clone()),
        },
        mtls_client_ca,
        max_body_bytes,
        max_content_bytes,
        max_list: usize_or("max_list", d.max_list).max(1),
        empty_list_404,
        delete_non_final_status,
        meta_version,
        status_on_create,
        idempotency_ttl: Duration::from_secs(idempotency_hours.saturating_mul(3600)),
        tombstone_days: i64::try_from(t.u64_or("tombstone_days", 7)).unwrap_or(7),
        max_concurrent_sends: usize_or("max_concurrent_sends", d.max_concurrent_sends).max(1),
        rate_limit,
        rate_burst,
        secret_iterations,
        long_poll_max: t
            .duration_or("long_poll_max", d.long_poll_max)
            .min(d.long_poll_max),
        content_retention: None,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{EXAMPLE, from_toml};
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> super::super::Loaded {
        let vars = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        from_toml(text, Path::new("/etc/sdkgw/sdkgw.toml"), vars)
    }

    #[test]
    fn the_example_documents_the_api_defaults() {
        let loaded = load(EXAMPLE, &[]);
        let config = loaded.ok().expect("example parses");
        let (a, d) = (&config.api, ApiSettings::default());
        assert_eq!(a.base_path, d.base_path);
        assert_eq!(a.auth.mode, AuthMode::Token);
        assert_eq!(a.auth.token_lifetime, d.auth.token_lifetime);
        assert_eq!(a.auth.auth_id_claim, d.auth.auth_id_claim);
        assert_eq!(a.max_body_bytes, d.max_body_bytes);
        assert_eq!(a.max_content_bytes, d.max_content_bytes);
        assert_eq!(a.secret_iterations, d.secret_iterations);
        assert_eq!(a.idempotency_ttl, d.idempotency_ttl);
        assert!(a.content_retention.is_some(), "from store.retention");
    }

    #[test]
    fn values_are_read_overridable_and_checked() {
        let text = EXAMPLE.replace("base_path = \"/v1\"", "base_path = \"/sdk-api/v1\"");
        let loaded = load(&text, &[("SDKGW_API__TOKEN_LIFETIME", "5m")]);
        let a = loaded.ok().expect("valid").api.clone();
        assert_eq!(a.base_path, "/sdk-api/v1");
        assert_eq!(a.auth.token_lifetime, 300);
        let bad = EXAMPLE
            .replace("token_lifetime = \"15m\"", "token_lifetime = \"31m\"")
            .replace("auth = \"token\"", "auth = \"external\"")
            .replace("idempotency_hours = 24", "idempotency_hours = 1")
            .replace("base_path = \"/v1\"", "base_path = \"v1/\"")
            .replace("delete_non_final = 409", "delete_non_final = 500");
        let found: Vec<String> = load(&bad, &[])
            .findings
            .iter()
            .map(|f| f.to_string())
            .collect();
        for expected in [
            "api.token_lifetime: must be between 1s and 30m",
            "api.external_issuer",
            "api.jwks_url",
            "api.idempotency_hours: must be at least 24",
            "api.base_path: must start with /",
            "api.delete_non_final: expected 409 or 400",
        ] {
            assert!(
                found.iter().any(|f| f.contains(expected)),
                "{expected}: {found:?}"
            );
        }
    }
}
