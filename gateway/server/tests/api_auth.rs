//! Authentication and authorisation of the mailbox API (mailbox-api-mt-mk.md §5 A, T01–T13;
//! security-operations.md §3.7 T-ISO-01..03): 401 vs 403, the scope × mailbox matrix, token
//! endpoint rules, client assertions, external issuers via JWKS, revocation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_common;

use std::sync::Arc;

use api_common::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Response, StatusCode};
use sdkgw_http::{
    ConnectionInfo, Handler, OutBody, RequestBody, Server, ServerSettings, TlsIdentity,
};
use sdkgw_server::api::auth::jwt::SigningKey;
use sdkgw_server::api::auth::{AuthMode, External, NewClient};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

fn claims(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn every_operation_without_credentials_is_401_with_a_bearer_challenge() {
    // T01
    let gw = start().await;
    let id = "11111111-2222-4333-8444-555555555555";
    for (method, path) in [
        ("POST", "/sdk/messages".to_owned()),
        ("GET", "/sdk/messages".to_owned()),
        ("GET", format!("/sdk/messages/{id}")),
        ("DELETE", format!("/sdk/messages/{id}")),
        ("GET", "/sdk/ext/changes".to_owned()),
    ] {
        let r = gw.request(method, &path, None, &[], None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
        assert_eq!(r.json()["status"], 401);
        assert!(r.header("x-request-id").is_some());
        for bad in ["garbage", "a.b.c", "Basic Zm9vOmJhcg=="] {
            let r = gw
                .request(
                    method,
                    &path,
                    None,
                    &[("authorization", &format!("Bearer {bad}"))],
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        }
    }
}

#[tokio::test]
async fn tampered_unsigned_and_hmac_tokens_are_401() {
    // T02, T-ISO-03
    let gw = start().await;
    let t = gw.client_token("mk1", &[IN1]).await;
    assert_eq!(gw.get("/sdk/messages", &t).await.status, StatusCode::OK);
    let parts: Vec<&str> = t.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["azp"] = json!("someone-else");
    let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap());
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    let hs = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        parts[1],
        parts[2]
    );
    for token in [forged, none, hs] {
        assert_eq!(
            gw.get("/sdk/messages", &token).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn token_endpoint_issues_short_tokens_and_refuses_other_grants_and_bad_secrets() {
    // T04, §2.2
    let gw = start().await;
    let secret = gw.add_client("mk1", &ALL_SCOPES, &[IN1]);
    let r = gw.token_request("mk1", &secret, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let body = r.json();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().unwrap() <= 1800);
    assert!(body.get("refresh_token").is_none());
    let token = body["access_token"].as_str().unwrap();
    let p: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(p["exp"].as_i64().unwrap() - p["iat"].as_i64().unwrap() <= 1800);
    assert_eq!(p["urn:sdk.digg.se:auth_id"], json!([IN1]));
    assert_eq!(p["azp"], "mk1");
    let wrong = gw.token_request("mk1", "not-the-secret", None).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json()["error"], "invalid_client");
    let unknown = gw.token_request("nobody", &secret, None).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    for form in [
        "grant_type=refresh_token&refresh_token=x",
        "grant_type=password&username=a&password=b",
    ] {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("mk1:{secret}"));
        let r = gw
            .request(
                "POST",
                "/oauth/token",
                None,
                &[
                    ("authorization", &format!("Basic {basic}")),
                    ("content-type", "application/x-www-form-urlencoded"),
                ],
                Some(form.as_bytes().to_vec()),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.json()["error"], "unsupported_grant_type");
    }
    let scope = gw
        .token_request("mk1", &secret, Some("urn:sdk.api:other"))
        .await;
    assert_eq!(scope.status, StatusCode::BAD_REQUEST);
    assert_eq!(scope.json()["error"], "invalid_scope");
    // client_secret_post works too.
    let form = format!("grant_type=client_credentials&client_id=mk1&client_secret={secret}");
    let r = gw
        .request(
            "POST",
            "/oauth/token",
            None,
            &[("content-type", "application/x-www-form-urlencoded")],
            Some(form.into_bytes()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn each_operation_needs_its_scope_and_a_missing_scope_is_403() {
    // T05, T06
    let gw = start().await;
    let secret = gw.add_client(
        "mk1",
        &[
            ALL_SCOPES[0],
            ALL_SCOPES[1],
            ALL_SCOPES[2],
            ALL_SCOPES[3],
            "urn:sdk.api:sendMessage",
        ],
        &[IN1],
    );
    let (inbound, _) = gw.file_inbound(IN1, "x", vec![]);
    let ops: [(&str, &str, String); 4] = [
        ("urn:sdk.api:sendMessages", "POST", "/sdk/messages".into()),
        (
            "urn:sdk.api:getMessageByFilter",
            "GET",
            "/sdk/messages".into(),
        ),
        (
            "urn:sdk.api:getMessage",
            "GET",
            format!("/sdk/messages/{inbound}"),
        ),
        (
            "urn:sdk.api:deleteMessage",
            "DELETE",
            format!("/sdk/messages/{inbound}"),
        ),
    ];
    for (held, _, _) in &ops {
        let t = gw.token("mk1", &secret, Some(held)).await;
        for (needed, method, path) in &ops {
            if needed == held || *method == "DELETE" {
                continue;
            }
            let body = (*method == "POST").then(|| serde_json::to_vec(&create_body("s")).unwrap());
            let r = gw
                .request(
                    method,
                    path,
                    Some(&t),
                    &[("content-type", "application/json")],
                    body,
                )
                .await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{held} must not allow {method} {path}"
            );
            assert_eq!(r.json()["type"], "urn:problem-type:gw:forbidden");
        }
    }
    let send = gw
        .token("mk1", &secret, Some("urn:sdk.api:sendMessage"))
        .await;
    let r = gw
        .post_json("/sdk/messages", &send, &create_body("singular"))
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "sendMessage (DIGG's OpenAPI spelling) grants send"
    );
    let del = gw
        .token("mk1", &secret, Some("urn:sdk.api:deleteMessage"))
        .await;
    assert_eq!(
        gw.delete(&format!("/sdk/messages/{inbound}"), &del)
            .await
            .status,
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn a_client_never_sees_or_deletes_another_mailbox_and_cannot_tell_it_exists() {
    // T08, T09, T10, T-ISO-01/02
    let gw = start().await;
    let a = gw.client_token("mk-a", &[IN1]).await;
    let b = gw.client_token("mk-b", &[IN2]).await;
    let (b_id, b_key) = gw.file_inbound(IN2, "for b", vec![]);
    let (a_id, _) = gw.file_inbound(IN1, "for a", vec![]);
    let list = gw
        .get(
            &format!("/sdk/messages?filter[recipientAttention.subOrganization.extension]={IN2}"),
            &a,
        )
        .await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json()["data"], json!([]));
    let all = gw.get("/sdk/messages", &a).await.json();
    let ids: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a_id.as_str()]);
    let theirs = gw.get(&format!("/sdk/messages/{b_id}"), &a).await;
    let unknown = gw
        .get("/sdk/messages/11111111-2222-4333-8444-555555555555", &a)
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert_eq!(theirs.json(), unknown.json(), "same body as an unknown id");
    assert_eq!(
        gw.delete(&format!("/sdk/messages/{b_id}"), &a).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        gw.store.get_message(&b_key).unwrap().unwrap().state,
        sdkgw_store::MessageState::Filed
    );
    assert_eq!(
        gw.get(&format!("/sdk/messages/{b_id}"), &b).await.status,
        StatusCode::OK
    );
    let file = gw
        .get(&format!("/sdk/ext/messages/{b_id}/documents/1/files/1"), &a)
        .await;
    assert_eq!(file.status, StatusCode::NOT_FOUND);
    let ack = gw
        .request(
            "POST",
            &format!("/sdk/ext/messages/{b_id}/ack"),
            Some(&a),
            &[],
            None,
        )
        .await;
    assert_eq!(ack.status, StatusCode::NOT_FOUND);
    // After B deletes, A still gets a plain 404 (the tombstone is B's).
    assert_eq!(
        gw.delete(&format!("/sdk/messages/{b_id}"), &b).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        gw.get(&format!("/sdk/messages/{b_id}"), &a).await.json()["type"],
        "urn:problem-type:gw:notFound"
    );
    assert_eq!(
        gw.get(&format!("/sdk/messages/{b_id}"), &b).await.json()["type"],
        "urn:problem-type:gw:alreadyDeleted"
    );
}

#[tokio::test]
async fn wildcard_grants_reach_matching_mailboxes_only() {
    // T11
    let gw = start().await;
    let t = gw.client_token("mk-all", &["SDK:*:0203:ORGA.TEST"]).await;
    let other = gw.client_token("mk-none", &["*.blue.x"]).await;
    gw.file_inbound(IN1, "1", vec![]);
    gw.file_inbound(IN2, "2", vec![]);
    assert_eq!(
        gw.get("/sdk/messages", &t).await.json()["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        gw.get("/sdk/messages", &other).await.json()["data"],
        json!([])
    );
}

#[tokio::test]
async fn revoked_clients_and_removed_grants_take_effect_immediately() {
    let gw = start().await;
    let t = gw.client_token("mk1", &[IN1, IN2]).await;
    gw.file_inbound(IN2, "2", vec![]);
    assert_eq!(
        gw.get("/sdk/messages", &t).await.json()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    gw.api
        .clients()
        .unwrap()
        .grant("mk1", &[IN2.to_owned()], &[], true)
        .unwrap();
    assert_eq!(gw.get("/sdk/messages", &t).await.json()["data"], json!([]));
    gw.api
        .clients()
        .unwrap()
        .revoke("mk1", OffsetDateTime::now_utc())
        .unwrap();
    assert_eq!(
        gw.get("/sdk/messages", &t).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn private_key_jwt_assertions_authenticate_once_each() {
    let gw = start().await;
    let key = SigningKey::generate().unwrap();
    let mut jwk = key.public().key.to_jwk();
    jwk.insert("kid".into(), key.kid().into());
    gw.api
        .clients()
        .unwrap()
        .add(
            NewClient {
                id: "mk-jwt".into(),
                scopes: ALL_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
                grants: vec![IN1.into()],
                jwt_keys: vec![jwk],
                ..Default::default()
            },
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    let endpoint = format!("{}/oauth/token", gw.base);
    let assertion = |jti: &str, lifetime: i64| {
        key.sign(&claims(json!({"iss": "mk-jwt", "sub": "mk-jwt", "aud": endpoint, "jti": jti, "iat": now(), "exp": now() + lifetime})))
            .unwrap()
    };
    let post = |a: String| {
        let form = format!(
            "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={a}"
        );
        let gw = &gw;
        async move {
            gw.request(
                "POST",
                "/oauth/token",
                None,
                &[("content-type", "application/x-www-form-urlencoded")],
                Some(form.into_bytes()),
            )
            .await
        }
    };
    let ok = post(assertion("j1", 60)).await;
    assert_eq!(
        ok.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&ok.body)
    );
    let token = ok.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(gw.get("/sdk/messages", &token).await.status, StatusCode::OK);
    assert_eq!(
        post(assertion("j1", 60)).await.status,
        StatusCode::UNAUTHORIZED,
        "replayed jti"
    );
    assert_eq!(
        post(assertion("j2", 3600)).await.status,
        StatusCode::UNAUTHORIZED,
        "assertion lifetime > 5 min"
    );
    let other = SigningKey::generate().unwrap();
    let foreign = other
        .sign(&claims(json!({"iss": "mk-jwt", "sub": "mk-jwt", "aud": endpoint, "jti": "j3", "exp": now() + 60})))
        .unwrap();
    assert_eq!(
        post(foreign).await.status,
        StatusCode::UNAUTHORIZED,
        "signed by another key"
    );
    let parts: Vec<String> = assertion("j4", 60).split('.').map(str::to_owned).collect();
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        parts[1]
    );
    assert_eq!(
        post(unsigned).await.status,
        StatusCode::UNAUTHORIZED,
        "unsigned assertion"
    );
}

/// Serves a JWKS document over TLS.
struct JwksHandler(Vec<u8>);

impl Handler for JwksHandler {
    async fn handle(
        &self,
        _r: http::Request<RequestBody>,
        _c: Arc<ConnectionInfo>,
    ) -> Response<OutBody> {
        Response::new(OutBody::full(self.0.clone()))
    }
}

#[tokio::test]
async fn external_issuer_tokens_are_verified_with_its_jwks_and_all_claim_rules() {
    // T02, T03, T07 in external mode
    let key = SigningKey::generate().unwrap();
    let mut jwk = key.public().key.to_jwk();
    jwk.insert("kid".into(), key.kid().into());
    let jwks = serde_json::to_vec(&json!({"keys": [jwk]})).unwrap();
    let identity = TlsIdentity::new(std::slice::from_ref(&tls().cert), &tls().key).unwrap();
    let server = Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        sdkgw_http::tls::server_config_without_client_auth(&identity).unwrap(),
        ServerSettings::default(),
    )
    .await
    .unwrap();
    let port = server.local_addr().unwrap().port();
    tokio::spawn(server.serve(Arc::new(JwksHandler(jwks)), std::future::pending()));
    let dir = tempfile::tempdir().unwrap();
    let anchor = dir.path().join("ca.pem");
    std::fs::write(&anchor, tls().cert.to_pem()).unwrap();
    let mut s = settings();
    s.auth.auth_id_claim = "urn:sdk.inera.se:auth_id".into();
    s.auth.mode = AuthMode::External(External {
        issuer: "https://idp.test/realms/sdk".into(),
        jwks_url: format!("https://localhost:{port}/jwks"),
        tls_anchors: vec![anchor],
        jwks_ttl: std::time::Duration::from_secs(600),
    });
    let gw = start_with(s).await;
    gw.file_inbound(IN1, "x", vec![]);
    let token = |over: Value| {
        let mut c = claims(json!({
            "iss": "https://idp.test/realms/sdk", "aud": "sdkgw-api", "azp": "testclient01",
            "iat": now(), "exp": now() + 300,
            "scope": "urn:sdk.api:getMessageByFilter urn:sdk.api:1:0 offline_access",
            "urn:sdk.inera.se:auth_id": [IN1],
        }));
        for (k, v) in over.as_object().unwrap() {
            if v.is_null() {
                c.remove(k);
            } else {
                c.insert(k.clone(), v.clone());
            }
        }
        key.sign(&c).unwrap()
    };
    let ok = gw.get("/sdk/messages", &token(json!({}))).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.json()["data"].as_array().unwrap().len(), 1);
    let no_claim = gw
        .get(
            "/sdk/messages",
            &token(json!({"urn:sdk.inera.se:auth_id": null})),
        )
        .await;
    assert_eq!(no_claim.status, StatusCode::OK);
    assert_eq!(
        no_claim.json()["data"],
        json!([]),
        "no auth_id: no mailboxes"
    );
    let other_claim = gw
        .get(
            "/sdk/messages",
            &token(json!({"urn:sdk.inera.se:auth_id": null, "urn:sdk.digg.se:auth_id": [IN1]})),
        )
        .await;
    assert_eq!(
        other_claim.json()["data"],
        json!([]),
        "only the configured claim name counts"
    );
    for (what, bad) in [
        ("expired", json!({"iat": now() - 900, "exp": now() - 600})),
        ("wrong issuer", json!({"iss": "https://evil.test"})),
        ("wrong audience", json!({"aud": "other-api"})),
        ("lifetime over 30 min", json!({"exp": now() + 3600})),
        ("no exp", json!({"exp": null})),
    ] {
        assert_eq!(
            gw.get("/sdk/messages", &token(bad)).await.status,
            StatusCode::UNAUTHORIZED,
            "{what}"
        );
    }
    let stranger = SigningKey::generate().unwrap();
    let mut c = claims(
        json!({"iss": "https://idp.test/realms/sdk", "aud": "sdkgw-api", "exp": now() + 60, "scope": "urn:sdk.api:getMessageByFilter"}),
    );
    c.insert("azp".into(), "x".into());
    let unknown_kid = stranger.sign(&c).unwrap();
    assert_eq!(
        gw.get("/sdk/messages", &unknown_kid).await.status,
        StatusCode::UNAUTHORIZED,
        "unknown kid"
    );
    // The token endpoint does not issue tokens in external mode.
    let r = gw.token_request("x", "y", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
