//! Our additive extensions and the HTTP semantics DIGG omits (mailbox-api-mt-mk.md §4.3):
//! idempotency keys (T32, T33, durable), cursor paging (T69), the long-poll change feed (T79),
//! size limits (T26), hostile bodies, 429 and 503.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_common;

use std::collections::HashSet;
use std::sync::Arc;

use api_common::*;
use http::StatusCode;
use sdkgw_store::{MessageState, SledStore, Store, StoreConfig};
use serde_json::{Value, json};

fn outbound_count(gw: &Gateway) -> usize {
    gw.store
        .list_messages(&sdkgw_store::ListFilter {
            direction: Some(sdkgw_store::Direction::Outbound),
            limit: 100_000,
            ..Default::default()
        })
        .unwrap()
        .len()
}

#[tokio::test]
async fn same_message_id_and_body_give_the_same_201_and_a_different_body_409() {
    // T32
    let gw = start().await;
    let t = gw.client_token("mk1", &[IN1]).await;
    let mut b = create_body("idem");
    b["data"]["attributes"]["messageId"] = json!("0e5a1c52-7d1c-4b47-9f0e-3f3e2e0c9a11");
    let first = gw.post_json("/sdk/messages", &t, &b).await;
    let second = gw.post_json("/sdk/messages", &t, &b).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(second.status, StatusCode::CREATED);
    assert_eq!(first.header("location"), second.header("location"));
    assert_eq!(outbound_count(&gw), 1, "one message, one AS4 send");
    b["data"]["attributes"]["label"] = json!("changed");
    let third = gw.post_json("/sdk/messages", &t, &b).await;
    assert_eq!(third.status, StatusCode::CONFLICT);
    assert_eq!(outbound_count(&gw), 1);
}

#[tokio::test]
async fn idempotency_key_header_is_scoped_to_the_client() {
    // T33
    let gw = start().await;
    let t1 = gw.client_token("mk1", &[IN1]).await;
    let t2 = gw.client_token("mk2", &[IN1]).await;
    let body = serde_json::to_vec(&create_body("key")).unwrap();
    let headers = [
        ("content-type", "application/json"),
        ("idempotency-key", "order-4711"),
    ];
    let first = gw
        .request(
            "POST",
            "/sdk/messages",
            Some(&t1),
            &headers,
            Some(body.clone()),
        )
        .await;
    let again = gw
        .request(
            "POST",
            "/sdk/messages",
            Some(&t1),
            &headers,
            Some(body.clone()),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(first.header("location"), again.header("location"));
    let other = gw
        .request("POST", "/sdk/messages", Some(&t2), &headers, Some(body))
        .await;
    assert_eq!(other.status, StatusCode::CREATED);
    assert_ne!(other.header("location"), first.header("location"));
    let changed = serde_json::to_vec(&create_body("other body")).unwrap();
    let conflict = gw
        .request("POST", "/sdk/messages", Some(&t1), &headers, Some(changed))
        .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(outbound_count(&gw), 2);
}

#[tokio::test]
async fn idempotency_key_replay_after_a_restart_returns_the_original_location() {
    // kept durably (≥ 24 h), not in memory
    let gw = start().await;
    let secret = gw.add_client("mk1", &ALL_SCOPES, &[IN1]);
    let t = gw.token("mk1", &secret, None).await;
    let body = serde_json::to_vec(&create_body("key")).unwrap();
    let headers = [
        ("content-type", "application/json"),
        ("idempotency-key", "k-1"),
    ];
    let first = gw
        .request(
            "POST",
            "/sdk/messages",
            Some(&t),
            &headers,
            Some(body.clone()),
        )
        .await;
    let location = first.header("location").unwrap().to_owned();
    let Gateway {
        dir,
        store,
        api,
        running,
        ..
    } = gw;
    running.unwrap().stop().await;
    drop(api);
    drop(store);
    let store: Arc<dyn Store> = loop {
        match SledStore::open(StoreConfig::at(dir.path().join("data"))) {
            Ok(s) => break Arc::new(s),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    };
    let gw = start_on(dir, store, settings()).await;
    let t = gw.token("mk1", &secret, None).await;
    let replay = gw
        .request("POST", "/sdk/messages", Some(&t), &headers, Some(body))
        .await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.header("location").unwrap(), location);
    assert_eq!(outbound_count(&gw), 1);
}

#[tokio::test]
async fn cursor_pages_cover_every_message_once_while_new_ones_arrive() {
    // T69: 2,500 messages, pages of 1000 → 3 pages, no duplicates or gaps.
    let gw = start().await;
    let t = gw.client_token("mk1", &[IN1, IN2]).await;
    let mut expected = HashSet::new();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..10)
            .map(|i| {
                let gw = &gw;
                s.spawn(move || {
                    (0..250)
                        .map(|_| {
                            gw.file_inbound(if i % 2 == 0 { IN1 } else { IN2 }, "p", vec![])
                                .0
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            expected.extend(h.join().unwrap());
        }
    });
    let mut seen = Vec::new();
    let mut url = "/sdk/messages?page[size]=1000".to_owned();
    let mut pages = 0;
    loop {
        let r = gw.get(&url, &t).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        let body = r.json();
        pages += 1;
        seen.extend(
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_owned()),
        );
        if pages == 1 {
            // Arrivals between pages show up at the end, never in the middle.
            let (late, _) = gw.file_inbound(IN1, "late", vec![]);
            expected.insert(late);
        }
        match body["links"]["next"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates");
    assert_eq!(unique, expected, "no gaps");
    // Unpaged lists are capped and say so.
    let mut s = settings();
    s.max_list = 100;
    let small = start_with(s).await;
    let t = small.client_token("mk1", &[IN1]).await;
    for _ in 0..101 {
        small.file_inbound(IN1, "c", vec![]);
    }
    let capped = small.get("/sdk/messages", &t).await.json();
    assert_eq!(capped["data"].as_array().unwrap().len(), 100);
    assert_eq!(capped["meta"]["truncated"], true);
}

#[tokio::test]
async fn change_feed_long_poll_wakes_on_new_messages_and_never_loses_one() {
    // T79
    let gw = Arc::new(start().await);
    let t = gw.client_token("mk1", &[IN1]).await;
    let first = gw.get("/sdk/ext/changes", &t).await.json();
    assert_eq!(first["data"], json!([]));
    let mut after = first["meta"]["last"].as_u64();
    let poll = {
        let (gw, t) = (gw.clone(), t.clone());
        let q = after.map(|a| format!("&after={a}")).unwrap_or_default();
        tokio::spawn(async move {
            gw.get(&format!("/sdk/ext/changes?wait=30{q}"), &t)
                .await
                .json()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (id, _) = gw.file_inbound(IN1, "wake", vec![]);
    gw.file_inbound(IN2, "not mine", vec![]);
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), poll)
        .await
        .unwrap()
        .unwrap();
    let data = got["data"].as_array().unwrap();
    assert!(
        data.iter()
            .any(|c| c["id"] == id.as_str() && c["messageStatus"] == "NEW" && c["mailbox"] == IN1),
        "{got}"
    );
    assert!(
        data.iter().all(|c| c["mailbox"] == IN1),
        "only the caller's mailboxes"
    );
    // Outbound transitions appear too, in order, with increasing sequence numbers.
    let out = gw
        .post_json("/sdk/messages", &t, &create_body("o"))
        .await
        .json()["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    gw.advance(
        &out,
        &[
            MessageState::Sealed,
            MessageState::Scheduled,
            MessageState::Sending,
            MessageState::Delivered,
        ],
    );
    let mut statuses = Vec::new();
    let mut seqs = Vec::new();
    for _ in 0..20 {
        let q = after.map(|a| format!("?after={a}")).unwrap_or_default();
        let r = gw.get(&format!("/sdk/ext/changes{q}"), &t).await.json();
        for c in r["data"].as_array().unwrap() {
            seqs.push(c["seq"].as_u64().unwrap());
            if c["id"] == out.as_str() {
                statuses.push(c["messageStatus"].as_str().unwrap().to_owned());
            }
        }
        after = r["meta"]["last"].as_u64().or(after);
        if statuses.last().map(String::as_str) == Some("WAITING_FOR_RECEIPT") {
            break;
        }
    }
    assert_eq!(
        statuses,
        [
            "SCHEDULED",
            "SUBMITTED",
            "SUBMITTED",
            "SUBMITTED",
            "WAITING_FOR_RECEIPT"
        ]
    );
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "strictly increasing: {seqs:?}"
    );
    // An empty wait returns empty at the timeout.
    let q = after.map(|a| format!("&after={a}")).unwrap_or_default();
    let empty = gw
        .get(&format!("/sdk/ext/changes?wait=1{q}"), &t)
        .await
        .json();
    assert_eq!(empty["data"], json!([]));
    assert_eq!(
        gw.get("/sdk/ext/changes?wait=31", &t).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn content_limit_is_exact_and_oversize_is_413() {
    // T26 (with a 1 MiB limit; the default is 30 MiB)
    let mut s = settings();
    s.max_content_bytes = 1 << 20;
    let gw = start_with(s).await;
    let t = gw.client_token("mk1", &[IN1]).await;
    use base64::Engine as _;
    let with_file = |n: usize| {
        let mut b = create_body("size");
        let content = base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
        b["data"]["attributes"]["digitalDocument"] = json!([{"documentId": "1", "contentFiles": [{"fileName": "a.pdf", "contentType": "application/pdf", "content": content}]}]);
        b
    };
    let at_limit = gw.post_json("/sdk/messages", &t, &with_file(1 << 20)).await;
    assert_eq!(
        at_limit.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&at_limit.body)
    );
    let over = gw
        .post_json("/sdk/messages", &t, &with_file((1 << 20) + 1))
        .await;
    assert_eq!(over.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(over.json()["eventIssues"][0]["title"], "Message too large");
    // The body cap refuses before reading everything.
    let mut s = settings();
    s.max_body_bytes = 64 * 1024;
    let small = start_with(s).await;
    let t = small.client_token("mk1", &[IN1]).await;
    let r = small
        .post_json("/sdk/messages", &t, &with_file(100_000))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn thirty_mib_of_content_is_accepted_by_default() {
    // T26 with the default limit
    let gw = start().await;
    let t = gw.client_token("mk1", &[IN1]).await;
    use base64::Engine as _;
    let content = base64::engine::general_purpose::STANDARD.encode(vec![1u8; 30 << 20]);
    let mut b = create_body("big");
    b["data"]["attributes"]["digitalDocument"] = json!([{"documentId": "1", "contentFiles": [{"fileName": "a.pdf", "contentType": "application/pdf", "content": content}]}]);
    let r = gw.post_json("/sdk/messages", &t, &b).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body[..r.body.len().min(500)])
    );
}

#[tokio::test]
async fn hostile_bodies_get_400_never_5xx() {
    let gw = start().await;
    let t = gw.client_token("mk1", &[IN1]).await;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut bodies: Vec<Vec<u8>> = vec![
        deep.into_bytes(),
        b"\xff\xfe\x00garbage".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"{\"data\": 1e999999}".to_vec(),
        b"{\"data\": {\"attributes\": []}}".to_vec(),
        b"{\"data\": {\"attributes\": {\"label\": {\"a\": 1}}}}".to_vec(),
        format!(
            "{{\"data\": {{\"attributes\": {{\"label\": \"{}\"}}}}}}",
            "\\u0000".repeat(1000)
        )
        .into_bytes(),
        b"".to_vec(),
    ];
    let mut weird = create_body("\u{0}\u{7}control");
    weird["data"]["attributes"]["digitalDocument"][0]["contentTextBody"] = json!(["\u{fffe}\u{1}"]);
    bodies.push(serde_json::to_vec(&weird).unwrap());
    let mut dup: Value = create_body("x");
    dup["data"]["attributes"]["recipientAttention"]["attentionPerson"] = json!([{"root": 1}]);
    bodies.push(serde_json::to_vec(&dup).unwrap());
    for b in bodies {
        let r = gw
            .request(
                "POST",
                "/sdk/messages",
                Some(&t),
                &[("content-type", "application/json")],
                Some(b.clone()),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(&b[..b.len().min(80)])
        );
        assert_eq!(r.json()["type"], "urn:problem-type:sdk:badRequest");
    }
    for q in [
        "filter[messageStatus]=%ff",
        "filter[x",
        "page[after]=@@@",
        "a=1&a=2",
    ] {
        let r = gw.get(&format!("/sdk/messages?{q}"), &t).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
    }
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    // T81
    let mut s = settings();
    s.rate_limit = 1.0;
    s.rate_burst = 3.0;
    let gw = start_with(s).await;
    let t = gw.client_token("mk1", &[IN1]).await;
    let mut limited = None;
    for _ in 0..10 {
        let r = gw.get("/sdk/messages", &t).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("limited within 10 requests");
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(r.json()["status"], 429);
}

#[tokio::test]
async fn request_id_is_echoed_and_generated() {
    let gw = start().await;
    let t = gw.client_token("mk1", &[IN1]).await;
    let r = gw
        .request(
            "GET",
            "/sdk/messages",
            Some(&t),
            &[("x-request-id", "trace-123")],
            None,
        )
        .await;
    assert_eq!(r.header("x-request-id"), Some("trace-123"));
    let r = gw.get("/sdk/messages", &t).await;
    assert_eq!(r.header("x-request-id").unwrap().len(), 36);
    let doc = gw.request("GET", "/openapi.json", None, &[], None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.json()["openapi"], "3.0.3");
}
