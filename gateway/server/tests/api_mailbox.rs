//! The mailbox API against DIGG's MT–MK recommendation: sendMessage, getMessageByFilter,
//! getMessageById, deleteMessageById, and the test cases of mailbox-api-mt-mk.md §5 (T-numbers
//! in the test names' comments).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_common;

use api_common::*;
use http::StatusCode;
use sdkgw_store::MessageState;
use serde_json::json;

#[tokio::test]
async fn minimal_message_is_created_with_location_and_server_filled_ids() {
    // T14, T15
    let gw = start().await;
    let t = gw.client_token("mk1", &[IN1]).await;
    let r = gw.post_json("/sdk/messages", &t, &create_body("Hej")).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let body = r.json();
    let a = &body["data"]["attributes"];
    let id = a["messageId"].as_str().unwrap();
    assert_eq!(
        r.header("location").unwrap(),
        format!("/v1/sdk/messages/{id}")
    );
    assert_eq!(body["data"]["id"], id);
    assert_eq!(a["conversationId"], id);
    assert_eq!(a["messageStatus"], "SCHEDULED");
    let created = a["creationDateTime"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 24, "{created}");
    let got = gw
        .get(r.header("location").unwrap().trim_start_matches("/v1"), &t)
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(
        got.json()["data"]["attributes"]["messageStatus"],
        "SCHEDULED"
    );
    assert_eq!(
        got.json()["data"]["attributes"]["digitalDocument"][0]["contentTextBody"][0],
        "Hej!"
    );
    // The store holds the outbound record in its first state with the SDK message.
    let key = gw.store.find_by_id(sdkgw_store::IdKind::XheId, id).unwrap()[0];
    let rec = gw.store.get_message(&key).unwrap().unwrap();
    assert_eq!(rec.state, MessageState::Accepted);
    assert_eq!(rec.mailbox.as_deref(), Some(IN1));
    assert_eq!(rec.sender.as_deref(), Some(ORG_A));
    assert_eq!(rec.recipient.as_deref(), Some(ORG_B));
    assert!(rec.content("sdk-message").is_some());
}

#[tokio::test]
async fn client_ids_are_preserved_and_id_must_equal_message_id() {
    // T16, T17, §4.2.1
    let gw = start().await;
    let t = gw.client_token("mk1", &[IN1]).await;
    let mut b = create_body("ids");
    let mid = "11111111-2222-4333-8444-555555555555";
    let conv = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
    let reference = "99999999-2222-4333-8444-555555555555";
    b["data"]["attributes"]["messageId"] = json!(mid);
    b["data"]["attributes"]["conversationId"] = json!(conv);
    b["data"]["attributes"]["refToMessageId"] = json!(reference);
    let r = gw.post_json("/sdk/messages", &t, &b).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let a = &r.json()["data"]["attributes"];
    assert_eq!(a["messageId"], mid);
    assert_eq!(a["conversationId"], conv);
    assert_eq!(a["refToMessageId"], reference);
    let mut b = create_body("ids");
    b["data"]["id"] = json!("22222222-2222-4333-8444-555555555555");
    b["data"]["attributes"]["messageId"] = json!("33333333-2222-4333-8444-555555555555");
    let r = gw.post_json("/sdk/messages", &t, &b).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["eventIssues"][0]["in"], "/data/id");
}

#[tokio::test]
async fn invalid_bodies_are_400_problems_pointing_at_the_field() {
    // T18..T24, T27..T29
    let gw = start().await;
    let t = gw.client_token("mk1", &[IN1]).await;
    type Mutation = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "/data/attributes/confidentiality",
            Box::new(|b| {
                b["data"]["attributes"]
                    .as_object_mut()
                    .unwrap()
                    .remove("confidentiality");
            }),
        ),
        (
            "/data/attributes/label",
            Box::new(|b| {
                b["data"]["attributes"]
                    .as_object_mut()
                    .unwrap()
                    .remove("label");
            }),
        ),
        (
            "/data/attributes/sender",
            Box::new(|b| {
                b["data"]["attributes"]
                    .as_object_mut()
                    .unwrap()
                    .remove("sender");
            }),
        ),
        (
            "/data/attributes/recipient",
            Box::new(|b| {
                b["data"]["attributes"]
                    .as_object_mut()
                    .unwrap()
                    .remove("recipient");
            }),
        ),
        (
            "/data/attributes/recipientAttention",
            Box::new(|b| {
                b["data"]["attributes"]
                    .as_object_mut()
                    .unwrap()
                    .remove("recipientAttention");
            }),
        ),
        (
            "/data/attributes/messageStatus",
            Box::new(|b| b["data"]["attributes"]["messageStatus"] = json!("NEW")),
        ),
        (
            "/data/attributes/label",
            Box::new(|b| b["data"]["attributes"]["label"] = json!("x".repeat(257))),
        ),
        (
            "/data/attributes/recipientAttention/subOrganization/extension",
            Box::new(|b| {
                b["data"]["attributes"]["recipientAttention"]["subOrganization"]["extension"] =
                    json!("x".repeat(257))
            }),
        ),
        (
            "/data/attributes/messageId",
            Box::new(|b| b["data"]["attributes"]["messageId"] = json!("not-a-uuid")),
        ),
        (
            "/data/attributes/creationDateTime",
            Box::new(|b| b["data"]["attributes"]["creationDateTime"] = json!("2019-08-15 17:52")),
        ),
        (
            "/data/type",
            Box::new(|b| b["data"]["type"] = json!("letters")),
        ),
        (
            "/data/attributes/digitalDocument/0/contentFiles/0/content",
            Box::new(|b| {
                b["data"]["attributes"]["digitalDocument"][0]["contentFiles"] = json!([{"fileName": "a.pdf", "contentType": "application/pdf", "content": "***"}])
            }),
        ),
        (
            "/data/attributes/digitalDocument/0/contentFiles/0/fileName",
            Box::new(|b| {
                b["data"]["attributes"]["digitalDocument"][0]["contentFiles"] =
                    json!([{"contentType": "application/pdf", "content": "aGVq"}])
            }),
        ),
        (
            "/data/attributes/digitalDocument/0/documentId",
            Box::new(|b| {
                b["data"]["attributes"]["digitalDocument"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("documentId");
            }),
        ),
        (
            "/data/attributes/digitalDocument/1/index",
            Box::new(
                |b| b["data"]["attributes"]["digitalDocument"] = json!([{"documentId": "1", "contentTextBody": ["a"]}, {"documentId": "2", "contentTextBody": ["b"]}]),
            ),
        ),
        (
            "/data/attributes/digitalDocument",
            Box::new(|b| {
                b["data"]["attributes"]
                    .as_object_mut()
                    .unwrap()
                    .remove("digitalDocument");
            }),
        ),
    ];
    for (pointer, mutate) in cases {
        let mut b = create_body("bad");
        mutate(&mut b);
        let r = gw.post_json("/sdk/messages", &t, &b).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{pointer}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let p = r.json();
        assert_eq!(p["type"], "urn:problem-type:sdk:badRequest");
        assert_eq!(p["status"], 400);
        let issues = p["eventIssues"].as_array().unwrap();
        assert!(
            issues.iter().any(|i| i["in"] == pointer),
            "{pointer} not in {issues:?}"
        );
        assert!(
            issues
                .iter()
                .all(|i| i["typeCode"].is_string() && i["dateTime"].is_string())
        );
    }
    // Invalid JSON → 400; wrong content type → 415.
    let r = gw
        .request(
            "POST",
            "/sdk/messages",
            Some(&t),
            &[("content-type", "application/json")],
            Some(b"{\"data\":".to_vec()),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = gw
        .request(
            "POST",
            "/sdk/messages",
            Some(&t),
            &[("content-type", "text/plain")],
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.json()["status"], 415);
}

#[tokio::test]
async fn sender_and_recipient_checks_answer_400() {
    // T12, T13, T25
    let gw = start().await;
    let t = gw.client_token("mk1", &[IN1]).await;
    let mut b = create_body("x");
    b["data"]["attributes"]["senderAttention"]["subOrganization"]["extension"] = json!(IN2);
    let r = gw.post_json("/sdk/messages", &t, &b).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json()["eventIssues"][0]["in"],
        "/data/attributes/senderAttention/subOrganization/extension"
    );
    let mut b = create_body("x");
    b["data"]["attributes"]["sender"] = json!("0203:other.test");
    let r = gw.post_json("/sdk/messages", &t, &b).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["eventIssues"][0]["in"], "/data/attributes/sender");
    let mut b = create_body("x");
    b["data"]["attributes"]["recipientAttention"]["subOrganization"]["extension"] =
        json!("sdk:nobody:0203:orgb.test");
    let r = gw.post_json("/sdk/messages", &t, &b).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json()["eventIssues"][0]["in"],
        "/data/attributes/recipientAttention/subOrganization/extension"
    );
    // Without senderAttention, the caller's only mailbox of the organisation sends.
    let mut b = create_body("x");
    b["data"]["attributes"]
        .as_object_mut()
        .unwrap()
        .remove("senderAttention");
    let r = gw.post_json("/sdk/messages", &t, &b).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        r.json()["data"]["attributes"]["senderAttention"]["subOrganization"]["extension"],
        IN1
    );
}

#[tokio::test]
async fn lists_never_contain_documents_and_get_by_id_returns_the_exact_bytes() {
    // T59, T60, T66
    let gw = start().await;
    let t = gw.client_token("mk1", &[IN1]).await;
    let payload: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (id, _) = gw.file_inbound(IN1, "text", vec![pdf_file(&payload)]);
    let r = gw
        .get(
            &format!("/sdk/messages?filter[recipientAttention.subOrganization.extension]={IN1}"),
            &t,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let list = r.json();
    assert_eq!(list["meta"]["version"], "1.0.0");
    assert!(
        list["links"]["self"]
            .as_str()
            .unwrap()
            .starts_with("https://localhost:")
    );
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["type"], "messages");
    assert_eq!(data[0]["id"], data[0]["attributes"]["messageId"]);
    assert_eq!(data[0]["attributes"]["messageStatus"], "NEW");
    assert!(data[0]["attributes"].get("digitalDocument").is_none());
    let one = gw.get(&format!("/sdk/messages/{id}"), &t).await.json();
    let content = one["data"]["attributes"]["digitalDocument"][0]["contentFiles"][0]["content"]
        .as_str()
        .unwrap();
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(content)
        .unwrap();
    assert_eq!(decoded, payload);
    // Sparse fieldset: no content.
    let slim = gw
        .get(
            &format!("/sdk/messages/{id}?fields[messages]=messageStatus"),
            &t,
        )
        .await
        .json();
    assert!(slim["data"]["attributes"].get("digitalDocument").is_none());
    assert_eq!(slim["data"]["attributes"]["messageStatus"], "NEW");
}

#[tokio::test]
async fn attachment_download_streams_binary_with_digest_and_ranges() {
    let gw = start().await;
    let t = gw.client_token("mk1", &[IN1]).await;
    let payload: Vec<u8> = (0..5000u32).map(|i| (i % 256) as u8).collect();
    let (id, _) = gw.file_inbound(IN1, "text", vec![pdf_file(&payload)]);
    let r = gw
        .get(&format!("/sdk/ext/messages/{id}/documents/1/files/1"), &t)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/pdf"));
    assert_eq!(r.body.as_ref(), payload.as_slice());
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &payload);
    use base64::Engine as _;
    assert_eq!(
        r.header("digest").unwrap(),
        format!(
            "sha-256={}",
            base64::engine::general_purpose::STANDARD.encode(d.as_ref())
        )
    );
    let part = gw
        .request(
            "GET",
            &format!("/sdk/ext/messages/{id}/documents/1/files/1"),
            Some(&t),
            &[("range", "bytes=10-19")],
            None,
        )
        .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body.as_ref(), &payload[10..20]);
    assert_eq!(part.header("content-range"), Some("bytes 10-19/5000"));
    let missing = gw
        .get(&format!("/sdk/ext/messages/{id}/documents/1/files/2"), &t)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn delete_only_in_final_states_then_tombstone() {
    // T70, T71, T72, T74
    let gw = start().await;
    let t = gw.client_token("mk1", &[IN1]).await;
    let r = gw.post_json("/sdk/messages", &t, &create_body("out")).await;
    let id = r.json()["data"]["id"].as_str().unwrap().to_owned();
    let d = gw.delete(&format!("/sdk/messages/{id}"), &t).await;
    assert_eq!(d.status, StatusCode::CONFLICT, "SCHEDULED is not final");
    for (states, shown) in [
        (vec![MessageState::Sealed], "SUBMITTED"),
        (
            vec![MessageState::Scheduled, MessageState::Sending],
            "SUBMITTED",
        ),
        (vec![MessageState::Scheduled], "SCHEDULED_FOR_RESEND"),
        (
            vec![MessageState::Sending, MessageState::Delivered],
            "WAITING_FOR_RECEIPT",
        ),
    ] {
        gw.advance(&id, &states);
        let got = gw.get(&format!("/sdk/messages/{id}"), &t).await.json();
        assert_eq!(got["data"]["attributes"]["messageStatus"], shown);
        assert_eq!(
            gw.delete(&format!("/sdk/messages/{id}"), &t).await.status,
            StatusCode::CONFLICT
        );
    }
    gw.advance(&id, &[MessageState::RecipientAccepted]);
    let got = gw.get(&format!("/sdk/messages/{id}"), &t).await.json();
    let a = &got["data"]["attributes"];
    assert_eq!(a["messageStatus"], "ACCEPTED");
    let codes: Vec<&str> = a["events"]["eventIssues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["typeCode"].as_str().unwrap())
        .collect();
    assert_eq!(codes.first(), Some(&"ACCEPTED"), "newest first: {codes:?}");
    assert!(
        codes.contains(&"ACKNOWLEDGE") && codes.contains(&"SCHEDULED"),
        "{codes:?}"
    );
    assert_eq!(
        gw.delete(&format!("/sdk/messages/{id}"), &t).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        gw.get(&format!("/sdk/messages/{id}"), &t).await.status,
        StatusCode::NOT_FOUND
    );
    let again = gw.delete(&format!("/sdk/messages/{id}"), &t).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.json()["type"], "urn:problem-type:gw:alreadyDeleted");
    let list = gw.get("/sdk/messages", &t).await.json();
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["id"] != id.as_str())
    );
    let key = gw
        .store
        .find_by_id(sdkgw_store::IdKind::XheId, &id)
        .unwrap()[0];
    let rec = gw.store.get_message(&key).unwrap().unwrap();
    assert!(
        rec.content_deleted_at.is_some() && rec.content.is_empty(),
        "content removed"
    );
    // Inbound NEW is final: DELETE is the ack.
    let (inbound, key) = gw.file_inbound(IN1, "in", vec![]);
    assert_eq!(
        gw.delete(&format!("/sdk/messages/{inbound}"), &t)
            .await
            .status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        gw.store.get_message(&key).unwrap().unwrap().state,
        MessageState::Deleted
    );
}

#[tokio::test]
async fn rejected_and_failed_outbound_messages_are_final_exchange_errors() {
    // §4.2.8, T38 (receipt lines come from the pipeline's note)
    let gw = start().await;
    let t = gw.client_token("mk1", &[IN1]).await;
    let id = gw
        .post_json("/sdk/messages", &t, &create_body("r"))
        .await
        .json()["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    gw.advance(
        &id,
        &[
            MessageState::Sealed,
            MessageState::Scheduled,
            MessageState::Sending,
            MessageState::Delivered,
        ],
    );
    // The pipeline stores the receipt as evidence `meddelandekvittens` (T38, T39).
    let receipt = format!(
        r#"<ApplicationResponse xmlns="urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2" xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"><cac:DocumentResponse><cac:Response><cbc:ResponseCode>REJECTED</cbc:ResponseCode></cac:Response><cac:DocumentReference><cbc:ID>{id}</cbc:ID></cac:DocumentReference><cac:LineResponse><cac:LineReference><cbc:LineID>/Nyttolast/Typkod</cbc:LineID></cac:LineReference><cac:Response><cbc:ResponseCode>BV</cbc:ResponseCode><cac:Status><cbc:StatusReasonCode>RegelID-123</cbc:StatusReasonCode><cbc:StatusReason>wrong type code</cbc:StatusReason></cac:Status></cac:Response></cac:LineResponse><cac:LineResponse><cac:LineReference><cbc:LineID>NA</cbc:LineID></cac:LineReference><cac:Response><cbc:ResponseCode>SIG</cbc:ResponseCode><cac:Status><cbc:StatusReason>Sender signature not validated</cbc:StatusReason></cac:Status></cac:Response></cac:LineResponse></cac:DocumentResponse></ApplicationResponse>"#
    );
    let key = gw
        .store
        .find_by_id(sdkgw_store::IdKind::XheId, &id)
        .unwrap()[0];
    let mut w = gw.store.blob_writer().unwrap();
    std::io::Write::write_all(&mut w, receipt.as_bytes()).unwrap();
    let update = sdkgw_store::Update::to(
        MessageState::RecipientRejected,
        time::OffsetDateTime::now_utc(),
        "test-pipeline",
    )
    .note("Message REJECTED by receiver")
    .error("BV RegelID-123 at /Nyttolast/Typkod: wrong type code")
    .evidence("meddelandekvittens", w.finish().unwrap());
    gw.store.update(&key, update).unwrap();
    let a = gw.get(&format!("/sdk/messages/{id}"), &t).await.json()["data"]["attributes"].clone();
    assert_eq!(a["messageStatus"], "MESSAGE_EXCHANGE_ERROR");
    assert_eq!(a["events"]["type"], "urn:event-type:sdk:message");
    let codes: Vec<&str> = a["events"]["eventIssues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["typeCode"].as_str().unwrap())
        .collect();
    assert_eq!(
        &codes[..4],
        ["MESSAGE_EXCHANGE_ERROR", "BV", "SIG", "REJECTED"]
    );
    let issues = a["events"]["eventIssues"].as_array().unwrap();
    assert_eq!(issues[0]["title"], "Message REJECTED by receiver");
    assert_eq!(issues[1]["title"], "RegelID-123");
    assert_eq!(issues[1]["detail"], "wrong type code");
    assert_eq!(issues[1]["in"], "/Nyttolast/Typkod");
    assert_eq!(issues[2]["title"], "NA");
    assert_eq!(issues[2]["in"], "NA");
    assert_eq!(a["events"]["instance"], format!("urn:uuid:{id}"));
    assert_eq!(
        gw.delete(&format!("/sdk/messages/{id}"), &t).await.status,
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn filters_combine_with_and_and_bad_filters_are_400() {
    // T61, T62, T63, T64, T65
    let gw = start().await;
    let t = gw.client_token("mk1", &[IN1, IN2]).await;
    let (a1, _) = gw.file_inbound(IN1, "a", vec![]);
    let (_a2, _) = gw.file_inbound(IN2, "b", vec![]);
    let out = gw
        .post_json("/sdk/messages", &t, &create_body("o"))
        .await
        .json()["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ids = |v: serde_json::Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = ids(gw.get("/sdk/messages", &t).await.json());
    assert_eq!(all.len(), 3);
    let only_in1 = ids(gw
        .get(
            &format!("/sdk/messages?filter[recipientAttention.subOrganization.extension]={IN1}"),
            &t,
        )
        .await
        .json());
    assert_eq!(only_in1, [a1]);
    let new = ids(gw
        .get("/sdk/messages?filter[messageStatus]=NEW", &t)
        .await
        .json());
    assert_eq!(new.len(), 2);
    let sent = ids(gw.get(&format!("/sdk/messages?filter[senderAttention.subOrganization.extension]={IN1}&filter[messageStatus]=SCHEDULED"), &t).await.json());
    assert_eq!(sent, [out]);
    let both = ids(gw.get(&format!("/sdk/messages?filter[senderAttention.subOrganization.extension]={IN1}&filter[messageStatus]=NEW"), &t).await.json());
    assert!(both.is_empty());
    let future = ids(gw
        .get(
            "/sdk/messages?filter[creationDateTimeStart]=2999-01-01T00:00:00Z",
            &t,
        )
        .await
        .json());
    assert!(future.is_empty());
    let past = ids(gw.get("/sdk/messages?filter[creationDateTimeStart]=2000-01-01T01:00:00%2B01:00&filter[creationDateTimeStop]=2999-01-01T00:00:00Z", &t).await.json());
    assert_eq!(past.len(), 3);
    for bad in [
        "filter[nope]=1",
        "filter[messageStatus]=UNKNOWN",
        "filter[creationDateTimeStart]=yesterday",
        "page[size]=0",
    ] {
        let r = gw.get(&format!("/sdk/messages?{bad}"), &t).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let empty = gw
        .get(
            "/sdk/messages?filter[recipientAttention.subOrganization.extension]=sdk:none",
            &t,
        )
        .await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.json()["data"], json!([]));
}

#[tokio::test]
async fn unknown_malformed_and_unauthorised_ids_are_404() {
    // T67, T09
    let gw = start().await;
    let t = gw.client_token("mk1", &[IN1]).await;
    for id in ["11111111-2222-4333-8444-555555555555", "not-a-uuid", "%00"] {
        let r = gw.get(&format!("/sdk/messages/{id}"), &t).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{id}");
        assert_eq!(r.json()["type"], "urn:problem-type:gw:notFound");
    }
}

#[tokio::test]
async fn ack_keeps_the_message_new_and_hides_it_from_the_unacknowledged_list() {
    let gw = start().await;
    let t = gw.client_token("mk1", &[IN1]).await;
    let (id, key) = gw.file_inbound(IN1, "a", vec![]);
    let r = gw
        .request(
            "POST",
            &format!("/sdk/ext/messages/{id}/ack"),
            Some(&t),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        gw.store.get_message(&key).unwrap().unwrap().state,
        MessageState::Fetched
    );
    let again = gw
        .request(
            "POST",
            &format!("/sdk/ext/messages/{id}/ack"),
            Some(&t),
            &[],
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT, "idempotent");
    let got = gw.get(&format!("/sdk/messages/{id}"), &t).await.json();
    assert_eq!(got["data"]["attributes"]["messageStatus"], "NEW");
    assert_eq!(got["meta"]["acknowledged"], true);
    let pending = gw
        .get("/sdk/messages?ext[acknowledged]=false", &t)
        .await
        .json();
    assert_eq!(pending["data"], json!([]));
    let all = gw
        .get("/sdk/messages?filter[messageStatus]=NEW", &t)
        .await
        .json();
    assert_eq!(all["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn base_path_is_configurable() {
    let mut s = settings();
    s.base_path = "/sdk-api/v1".into();
    let gw = start_with(s).await;
    let t = gw.client_token("mk1", &[IN1]).await;
    let r = gw.post_json("/sdk/messages", &t, &create_body("p")).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("/sdk-api/v1/sdk/messages/")
    );
    let wrong = format!(
        "https://localhost:{}/v1/sdk/messages",
        gw.running.as_ref().unwrap().addr.port()
    );
    assert_eq!(gw.get(&wrong, &t).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn two_clients_deleting_the_same_message_get_one_202_and_one_404() {
    // T75
    let gw = std::sync::Arc::new(start().await);
    let a = gw.client_token("mk-a", &[IN1]).await;
    let b = gw.client_token("mk-b", &[IN1]).await;
    for _ in 0..5 {
        let (id, key) = gw.file_inbound(IN1, "race", vec![]);
        let path = format!("/sdk/messages/{id}");
        let (ra, rb) = tokio::join!(gw.delete(&path, &a), gw.delete(&path, &b));
        let mut codes = [ra.status.as_u16(), rb.status.as_u16()];
        codes.sort_unstable();
        assert_eq!(codes, [202, 404]);
        let rec = gw.store.get_message(&key).unwrap().unwrap();
        assert_eq!(rec.state, MessageState::Deleted);
        let deletions = rec
            .history
            .iter()
            .filter(|h| h.to == MessageState::Deleted)
            .count();
        assert_eq!(deletions, 1, "one transition");
    }
}

#[tokio::test]
async fn a_message_deleted_while_it_is_read_is_not_found_not_a_store_failure() {
    // The reader found the record before the DELETE removed its content (schemathesis found
    // this as a 503 with two workers).
    let gw = start().await;
    let (_, key) = gw.file_inbound(IN1, "race", vec![pdf_file(b"%PDF-1.4 race")]);
    let index = sdkgw_server::api::index::Index::open(gw.store.clone()).unwrap();
    let before = gw.store.get_message(&key).unwrap().unwrap();
    assert!(index.load_message(&before).unwrap().is_some());
    let mut update = sdkgw_store::Update::to(
        MessageState::Deleted,
        time::OffsetDateTime::now_utc(),
        "test",
    );
    update.delete_content = true;
    gw.store.update(&key, update).unwrap();
    assert!(index.load_message(&before).unwrap().is_none());
}

#[tokio::test]
async fn reads_racing_a_delete_answer_200_or_404_never_503() {
    let gw = std::sync::Arc::new(start().await);
    let token = gw.client_token("mk", &[IN1]).await;
    for _ in 0..10 {
        let (id, _) = gw.file_inbound(IN1, "race", vec![pdf_file(b"%PDF-1.4 race")]);
        let message = format!("/sdk/messages/{id}");
        let file = format!("/sdk/ext/messages/{id}/documents/1/files/1");
        let (_, by_id, download) = tokio::join!(
            gw.delete(&message, &token),
            gw.get(&message, &token),
            gw.get(&file, &token)
        );
        for r in [by_id, download] {
            assert!(
                [200, 404].contains(&r.status.as_u16()),
                "{}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
    }
}

#[tokio::test]
async fn final_messages_say_when_retention_removes_their_content() {
    // T73 (meta.expiresAt = final state + store.retention.content_after_final)
    let mut s = settings();
    s.content_retention = Some(sdkgw_store::Retention {
        content_after_final: std::time::Duration::from_secs(3600),
        content_max_age: std::time::Duration::from_secs(7200),
        ..Default::default()
    });
    let gw = start_with(s).await;
    let t = gw.client_token("mk1", &[IN1]).await;
    let (id, key) = gw.file_inbound(IN1, "r", vec![]);
    let expires_in = |got: &serde_json::Value, from: time::OffsetDateTime| {
        let at = time::OffsetDateTime::parse(
            got["meta"]["expiresAt"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        (at - from).whole_seconds()
    };
    // NEW (filed) is not final for the store: the content_max_age clock applies.
    let rec = gw.store.get_message(&key).unwrap().unwrap();
    let got = gw.get(&format!("/sdk/messages/{id}"), &t).await.json();
    assert!((7199..=7200).contains(&expires_in(&got, rec.created_at)));
    // A final outbound message: content_after_final from its final state.
    let out = gw
        .post_json("/sdk/messages", &t, &create_body("f"))
        .await
        .json()["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    gw.advance(&out, &[MessageState::Failed]);
    let key = gw
        .store
        .find_by_id(sdkgw_store::IdKind::XheId, &out)
        .unwrap()[0];
    let rec = gw.store.get_message(&key).unwrap().unwrap();
    let got = gw.get(&format!("/sdk/messages/{out}"), &t).await.json();
    assert!((3599..=3600).contains(&expires_in(&got, rec.state_since)));
}
