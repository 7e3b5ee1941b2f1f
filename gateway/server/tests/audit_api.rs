//! Every mailbox-API call lands in the audit trail (client, operation, mailbox, message id,
//! status, outcome) and is found by `sdkgw audit search` — refusals (401/403/404) too, and
//! never the credentials.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod api_common;
mod common;

use api_common::*;
use http::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_calls_and_refusals_are_audited_and_found_by_audit_search() {
    let gw = start().await;
    let secret = gw.add_client(
        "sakra",
        &["urn:sdk.api:sendMessages", "urn:sdk.api:getMessage"],
        &[IN1],
    );
    let token = gw.token("sakra", &secret, None).await;
    let created = gw
        .post_json("/sdk/messages", &token, &create_body("Hej"))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.json()["data"]["attributes"]["messageId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        gw.get(&format!("/sdk/messages/{id}"), &token).await.status,
        StatusCode::OK
    );
    // No scope for listing: 403. Bad token: 401. Unknown id: 404.
    assert_eq!(
        gw.get("/sdk/messages", &token).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        gw.get("/sdk/messages", "not-a-token").await.status,
        StatusCode::UNAUTHORIZED
    );
    let unknown = "3f2b8e1c-0000-4000-8000-00000000dead";
    assert_eq!(
        gw.get(&format!("/sdk/messages/{unknown}"), &token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Ship the trail into the files (what the running gateway's shipper does) and search.
    let data = gw.dir.path().join("data");
    let (mut writer, _) =
        sdkgw_server::audit::Writer::open(sdkgw_server::audit::LogSettings::new(&data)).unwrap();
    sdkgw_server::audit::ship_pending(gw.store.as_ref(), &mut writer).unwrap();
    let search = |args: &[&str]| -> serde_json::Value {
        let mut all = vec![
            "audit",
            "search",
            "--data-dir",
            data.to_str().unwrap(),
            "--output",
            "json",
        ];
        all.extend_from_slice(args);
        let (code, out, err) = common::run(&all);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    let api = search(&["--event", "api"]);
    let calls: Vec<(String, u64, String)> = api["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["detail"]["status"].as_u64().unwrap(),
                e["detail"]["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("api.token", 200, "ok"),
        ("api.messages.create", 201, "ok"),
        ("api.messages.get", 200, "ok"),
        ("api.messages.list", 403, "denied"),
        ("api.messages.list", 401, "denied"),
        ("api.messages.get", 404, "rejected"),
    ];
    assert_eq!(
        calls,
        expected
            .iter()
            .map(|(a, s, o)| ((*a).to_owned(), *s, (*o).to_owned()))
            .collect::<Vec<_>>()
    );
    let events = api["events"].as_array().unwrap();
    assert_eq!(events[1]["detail"]["client"], "sakra");
    assert_eq!(events[1]["detail"]["mailbox"], IN1);
    assert_eq!(events[2]["detail"]["message_id"], id.as_str());
    assert_eq!(events[2]["detail"]["mailbox"], IN1);
    assert_eq!(
        events[3]["detail"]["reason"],
        "scope urn:sdk.api:getMessageByFilter missing"
    );
    assert_eq!(events[4]["actor"], "anonymous");
    assert_eq!(events[4]["detail"]["reason"], "invalid token");
    assert!(events.iter().all(|e| e["detail"]["request_id"].is_string()));
    let text = api.to_string();
    assert!(
        !text.contains(&secret) && !text.contains(&token),
        "no credentials in the trail"
    );

    // By message id: the API calls and the record's own events; by mailbox too.
    let by_id = search(&["--message", &id]);
    let actions: Vec<&str> = by_id["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"api.messages.get"), "{actions:?}");
    assert!(actions.contains(&"message.create"), "{actions:?}");
    let by_mailbox = search(&["--mailbox", IN1, "--event", "api"]);
    assert_eq!(by_mailbox["events"].as_array().unwrap().len(), 2);
}
