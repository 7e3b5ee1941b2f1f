//! The cases DIGG announced for later ([PG] §7; labels F-01…F-10 are the test-cases digest's).

use std::sync::Arc;
use std::time::Duration;

use sdkgw_schemas::ParticipantId;
use sdkgw_store::{Direction, IdKind, MessageState};
use time::OffsetDateTime;

use super::common::*;
use crate::catalog::{Case, Group};
use crate::harness::Ctx;
use crate::messages;
use crate::peer::{Opening, PeerInbound};
use crate::pki::{EXPIRED_PEER, NO_MESSAGE_TYPE_PEER, OTHER_FEDERATION_PEER};
use crate::verdict::{Checks, Outcome};

async fn f01(ctx: Arc<Ctx>) -> Outcome {
    let n = ctx.options.concurrency;
    let mut c = Checks::new();
    let mut envs = Vec::with_capacity(n);
    for _ in 0..n {
        match valid_envelope(&ctx, UB) {
            Ok(e) => envs.push(e),
            Err(e) => return Outcome::broken(e),
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    for env in envs.clone() {
        let ctx = Arc::clone(&ctx);
        tasks.spawn(async move {
            ctx.peer
                .send_xhe(&env.bytes, &ctx.target)
                .await
                .map(|s| s.delivered())
        });
    }
    let mut delivered = 0;
    while let Some(r) = tasks.join_next().await {
        if matches!(r, Ok(Ok(true))) {
            delivered += 1;
        }
    }
    c.check(
        delivered == n,
        format!("{n} messages sent at once all get a signed AS4 Receipt"),
        format!("{delivered} of {n}"),
    );
    let ids: Vec<String> = envs.iter().map(|e| e.id.clone()).collect();
    let wanted = ids.clone();
    let receipts = ctx
        .peer
        .log
        .wait_for(
            ctx.options.answer_wait * 3,
            move |e| wanted.iter().any(|id| e.is_receipt_for(id)),
            n,
        )
        .await;
    let accepted = receipts
        .iter()
        .filter(
            |r| matches!(&r.opening, Opening::Receipt { response, .. } if response == "ACCEPTED"),
        )
        .count();
    c.check(
        accepted == n && receipts.len() == n,
        format!("{n} ACCEPTED Meddelandekvittens, one per message"),
        format!("{} receipts, {accepted} ACCEPTED", receipts.len()),
    );
    if let Some(gut) = &ctx.gut {
        let mut once = 0;
        let mut right_box = 0;
        for id in &ids {
            let recs: Vec<_> = gut
                .records(IdKind::XheId, id)
                .into_iter()
                .filter(|r| r.direction == Direction::Inbound)
                .collect();
            if recs.len() == 1 {
                once += 1;
            }
            if recs.iter().all(|r| {
                r.mailbox.as_deref() == Some(ctx.target.function_address.as_str())
                    && r.recipient.as_deref() == Some(ctx.target.participant.value())
            }) {
                right_box += 1;
            }
        }
        c.check(
            once == n,
            "each stored exactly once",
            format!("{once} of {n}"),
        );
        c.check(
            right_box == n,
            "each in its recipient's mailbox only (no cross-participant leakage, [GRR] §3.3[a])",
            format!("{right_box} of {n}"),
        );
    }
    c.outcome()
}

async fn f02(ctx: Arc<Ctx>) -> Outcome {
    let Some(api) = ctx.mailbox.as_ref() else {
        return Outcome::needs_environment(
            "F-02 makes the target send: configure [target.api] (its MT–MK API)",
        );
    };
    let n = ctx.options.concurrency;
    let mut c = Checks::new();
    let (to, to_box) = (ctx.peer.participant().clone(), ctx.peer.function.clone());
    let sends = (0..n).map(|i| {
        let label = format!("F-02 #{i}");
        let (to, to_box) = (to.clone(), to_box.clone());
        async move { api.send(&to, &to_box, &label, &[]).await }
    });
    let results = futures_join_all(sends).await;
    let ids: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().cloned())
        .collect();
    c.check(
        ids.len() == n,
        format!("{n} messages accepted by the mailbox API at once"),
        format!(
            "{} accepted{}",
            ids.len(),
            results
                .iter()
                .find_map(|r| r.as_ref().err())
                .map(|e| format!(", e.g. {e}"))
                .unwrap_or_default()
        ),
    );
    let wanted = ids.clone();
    let got = ctx
        .peer
        .log
        .wait_for(
            ctx.options.answer_wait * 3,
            move |e| wanted.contains(&e.xhe_id),
            ids.len(),
        )
        .await;
    c.check(
        got.len() == ids.len(),
        "every message reached the peer exactly once",
        format!("{} of {}", got.len(), ids.len()),
    );
    let mut accepted = 0;
    for id in &ids {
        if api
            .wait_status(
                id,
                &["ACCEPTED", "MESSAGE_EXCHANGE_ERROR"],
                ctx.options.answer_wait,
            )
            .await
            .as_deref()
            == Some("ACCEPTED")
        {
            accepted += 1;
        }
    }
    c.check(
        accepted == ids.len(),
        "every one ends ACCEPTED in the sender's mailbox",
        format!("{accepted} of {}", ids.len()),
    );
    c.outcome()
}

/// Runs the futures concurrently on this task and collects their outputs in order.
async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let futs: Vec<std::pin::Pin<Box<F>>> = futs.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    let mut pending: Vec<(usize, std::pin::Pin<Box<F>>)> = futs.into_iter().enumerate().collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|(i, f)| match f.as_mut().poll(cx) {
            std::task::Poll::Ready(v) => {
                out[*i] = Some(v);
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// Sends through the mailbox API to a trap participant: refused before any connection.
pub(crate) async fn refused_send(
    ctx: &Ctx,
    c: &mut Checks,
    to: &str,
    trap: &crate::harness::smp::Trap,
    cause: &[&str],
) {
    let Some(api) = ctx.mailbox.as_ref() else {
        c.broken("no mailbox API");
        return;
    };
    let to: ParticipantId = match to.parse() {
        Ok(p) => p,
        Err(e) => {
            c.broken(e);
            return;
        }
    };
    let before = trap.count();
    let id = match api.send(&to, &ctx.peer.function, "refused", &[]).await {
        Ok(id) => id,
        Err(e) => {
            // Refusing at submission is fine too, when it says why.
            let lower = e.to_lowercase();
            c.check(
                cause.iter().any(|w| lower.contains(w)),
                format!(
                    "refused at submission naming the cause ({})",
                    cause.join(" / ")
                ),
                e,
            );
            return;
        }
    };
    let status = api
        .wait_status(
            &id,
            &["MESSAGE_EXCHANGE_ERROR", "ACCEPTED", "WAITING_FOR_RECEIPT"],
            ctx.options.answer_wait,
        )
        .await;
    c.check(
        status.as_deref() == Some("MESSAGE_EXCHANGE_ERROR"),
        "the sender's mailbox shows MESSAGE_EXCHANGE_ERROR",
        format!("{status:?}"),
    );
    let n = trap.count() - before;
    c.check(
        n == 0,
        "no connection to the receiver's endpoint",
        format!("{n} connection(s)"),
    );
    if let Some(gut) = &ctx.gut {
        let rec = gut
            .records(IdKind::XheId, &id)
            .into_iter()
            .find(|r| r.direction == Direction::Outbound);
        let err = rec
            .as_ref()
            .and_then(|r| r.last_error.clone())
            .unwrap_or_default();
        let lower = err.to_lowercase();
        c.check(
            rec.as_ref()
                .is_some_and(|r| r.state == MessageState::Failed)
                && cause.iter().any(|w| lower.contains(w)),
            format!("final failure naming the cause ({})", cause.join(" / ")),
            format!("{:?}: {err}", rec.map(|r| r.state)),
        );
    }
}

async fn f03(ctx: Arc<Ctx>) -> Outcome {
    if ctx.mailbox.is_none() {
        return Outcome::needs_environment(format!(
            "F-03 makes the target send: configure [target.api] or have its operator send to {OTHER_FEDERATION_PEER}"
        ));
    }
    let mut c = Checks::new();
    let trap = ctx.traps.other_federation.clone();
    c.note("the receiver's SMP-published AP certificate is issued by another environment's / federation's CA");
    refused_send(
        &ctx,
        &mut c,
        OTHER_FEDERATION_PEER,
        &trap,
        &[
            "environment",
            "untrusted",
            "issuer",
            "pinned",
            "not valid",
            "invalid",
        ],
    )
    .await;
    if let Some(gut) = &ctx.gut {
        // An envelope of another federation handed to the AP: refused at submission (H-41).
        let parties = target_to(&ctx, ctx.peer.participant(), ctx.peer_function());
        let id = new_id();
        let foreign = if ctx.target.federation().as_str().ends_with(":sdk") {
            sdkgw_schemas::Environment::OpenTest.federation()
        } else {
            sdkgw_schemas::Environment::Qa.federation()
        };
        let header = messages::header(&parties, &id, BAS, foreign, Some(ctx.peer_function()));
        let xml = messages::minimal(&parties, &id, OffsetDateTime::now_utc()).to_xml();
        let submitted = match xml
            .map_err(|e| e.to_string())
            .and_then(|x| messages::seal(&x, &header, None, None))
        {
            Ok(xhe) => gut.submit(&xhe).await,
            Err(e) => Err(format!("building: {e}")),
        };
        c.check(
            submitted
                .as_ref()
                .is_err_and(|e| e.contains("FEDERATIONID")),
            "an XHE with another federation's FEDERATIONID is refused at submission",
            match &submitted {
                Ok(k) => format!("queued as {k}"),
                Err(e) => e.clone(),
            },
        );
    }
    c.outcome()
}

async fn f04(ctx: Arc<Ctx>) -> Outcome {
    if ctx.mailbox.is_none() {
        return Outcome::needs_environment(format!(
            "F-04 makes the target send: configure [target.api] or have its operator send to {EXPIRED_PEER}"
        ));
    }
    let mut c = Checks::new();
    let trap = ctx.traps.expired.clone();
    refused_send(
        &ctx,
        &mut c,
        EXPIRED_PEER,
        &trap,
        &["expired", "validity", "not valid"],
    )
    .await;
    c.outcome()
}

async fn f07(ctx: Arc<Ctx>) -> Outcome {
    if ctx.mailbox.is_none() {
        return Outcome::needs_environment(format!(
            "F-07 makes the target send: configure [target.api] or have its operator send to {NO_MESSAGE_TYPE_PEER}"
        ));
    }
    let mut c = Checks::new();
    let trap = ctx.traps.no_message_type.clone();
    c.note("the recipient is registered in SMP for the Meddelandekvittens only");
    refused_send(
        &ctx,
        &mut c,
        NO_MESSAGE_TYPE_PEER,
        &trap,
        &["not registered", "document", "not supported", "doctype"],
    )
    .await;
    c.outcome()
}

/// The [APK] §3.4.1 fields of one audit event.
fn fields_present(e: &sdkgw_store::AuditEvent, fields: &[&str]) -> Vec<String> {
    fields
        .iter()
        .filter(|f| {
            e.detail
                .get(**f)
                .is_none_or(|v| v.is_null() || v.as_str() == Some(""))
        })
        .map(|f| (*f).to_owned())
        .collect()
}

async fn f05(ctx: Arc<Ctx>) -> Outcome {
    let Some(gut) = &ctx.gut else {
        return Outcome::needs_environment(
            "F-05 inspects the target's AP logs: have its operator export the events of this run and compare with [APK] §3.4.1",
        );
    };
    let mut c = Checks::new();
    let mark = gut.audit_mark();
    // One accepted inbound, one refused inbound, one delivered outbound.
    let env = match valid_envelope(&ctx, UB) {
        Ok(e) => e,
        Err(e) => return Outcome::broken(e),
    };
    let _ = ctx.peer.send_xhe(&env.bytes, &ctx.target).await;
    let mut bad = craft(&ctx, &env);
    bad.from_ap = "AP0999-DEV".into();
    if let Ok(m) = build(&ctx, &bad) {
        let _ = post(&ctx, &m).await;
    }
    let out_id = match ctx.mailbox.as_ref() {
        Some(api) => api
            .send(ctx.peer.participant(), &ctx.peer.function, "F-05", &[])
            .await
            .ok(),
        None => None,
    };
    if let (Some(api), Some(id)) = (ctx.mailbox.as_ref(), &out_id) {
        api.wait_status(
            id,
            &["ACCEPTED", "MESSAGE_EXCHANGE_ERROR"],
            ctx.options.answer_wait,
        )
        .await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let events = gut.audit_since(mark);
    let inbound = [
        "sending_ap",
        "sending_ap_certificate",
        "sending_ap_signature",
        "received_at",
        "sender_participant",
        "recipient_participant",
        "as4_message_id",
        "as4_conversation_id",
    ];
    let outbound = [
        "receiving_ap",
        "receiving_ap_certificate",
        "receipt_signature",
        "sent_at",
        "sender_participant",
        "recipient_participant",
        "as4_message_id",
        "as4_conversation_id",
    ];
    let accepted = events.iter().find(|e| {
        e.action == "as4.inbound.accepted"
            && e.detail.get("as4_conversation_id").and_then(|v| v.as_str()) == Some(env.id.as_str())
    });
    match accepted {
        Some(e) => {
            let missing = fields_present(e, &inbound);
            c.check(
                missing.is_empty(),
                "inbound: peer AP id, its certificate and signature, time, both participants, AS4 MessageId, ConversationId = XHE id",
                if missing.is_empty() { "all present".to_owned() } else { format!("missing {missing:?}") },
            );
            let utc = e
                .detail
                .get("received_at")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            c.check(utc.ends_with('Z'), "times in UTC", utc);
        }
        None => {
            c.check(
                false,
                "an as4.inbound.accepted event for the received message",
                "none",
            );
        }
    }
    let rejected = events.iter().find(|e| e.action == "as4.inbound.rejected");
    c.check(
        rejected.is_some_and(|e| {
            fields_present(e, &["error_code", "error_cause", "received_at"]).is_empty()
        }),
        "refused inbound: the failure cause (Felorsak) with code and time",
        rejected.map_or("no as4.inbound.rejected event".into(), |e| {
            format!("{:?}", e.detail.get("error_code"))
        }),
    );
    let delivered = events.iter().find(|e| e.action == "as4.outbound.delivered");
    match delivered {
        Some(e) => {
            let missing = fields_present(e, &outbound);
            c.check(
                missing.is_empty(),
                "outbound: receiving AP id, its certificate, its receipt signature, time, both participants, MessageId, ConversationId",
                if missing.is_empty() { "all present".to_owned() } else { format!("missing {missing:?}") },
            );
        }
        None => {
            c.check(
                false,
                "an as4.outbound.delivered event for the sent message",
                "none",
            );
        }
    }
    c.outcome()
}

pub(crate) async fn f06(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let env = match valid_envelope(&ctx, UB) {
        Ok(e) => e,
        Err(e) => return Outcome::broken(e),
    };
    let m = match build(&ctx, &craft(&ctx, &env)) {
        Ok(m) => m,
        Err(e) => return Outcome::broken(e),
    };
    c.note(
        "the same AS4 message (same MessageId, same bytes) is sent twice, as after a lost Receipt",
    );
    let first = post(&ctx, &m).await;
    let second = post(&ctx, &m).await;
    let (first, second) = match (first, second) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return Outcome::broken(e),
    };
    c.check(
        first.is_verified_receipt() && second.is_verified_receipt(),
        "both sends get a signed Receipt",
        format!("{} / {}", first.summary(), second.summary()),
    );
    let ref_to = |r: &crate::peer::wire::WireReply| match &r.signal {
        crate::peer::wire::SignalView::Receipt { ref_to, .. } => ref_to.clone(),
        _ => None,
    };
    c.check(
        ref_to(&first).as_deref() == Some(m.message_id.as_str())
            && ref_to(&second) == ref_to(&first),
        "the second Receipt acknowledges the same MessageId (reception awareness)",
        format!(
            "RefToMessageId {:?} / {:?}",
            ref_to(&first),
            ref_to(&second)
        ),
    );
    let wanted = env.id.clone();
    ctx.peer
        .log
        .wait_for(
            ctx.options.answer_wait,
            move |e| e.is_receipt_for(&wanted),
            1,
        )
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let receipts: Vec<PeerInbound> = ctx
        .peer
        .log
        .all()
        .into_iter()
        .filter(|e| e.is_receipt_for(&env.id))
        .collect();
    c.check(
        receipts.len() == 1,
        "delivered once: one Meddelandekvittens",
        format!("{} received", receipts.len()),
    );
    if ctx.gut.is_some() {
        let n = inbound_records(&ctx, &m.message_id).len();
        c.check(n == 1, "stored once", format!("{n} record(s)"));
    }
    c.outcome()
}

async fn f08(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let now = OffsetDateTime::now_utc();
    let env = match valid_envelope(&ctx, UB) {
        Ok(e) => e,
        Err(e) => return Outcome::broken(e),
    };
    let mut future = craft(&ctx, &env);
    future.timestamp = Some((now + time::Duration::minutes(10), None));
    check_refusal(
        &ctx,
        &mut c,
        "Created 10 minutes in the future",
        build(&ctx, &future),
        &env.id,
        &["EBMS:0101"],
        false,
    )
    .await;
    let mut stale = craft(&ctx, &env);
    stale.timestamp = Some((
        now - time::Duration::hours(1),
        Some(now - time::Duration::minutes(30)),
    ));
    check_refusal(
        &ctx,
        &mut c,
        "Expires 30 minutes ago",
        build(&ctx, &stale),
        &env.id,
        &["EBMS:0101"],
        false,
    )
    .await;
    let mut within = craft(&ctx, &env);
    within.timestamp = Some((
        now + time::Duration::minutes(2),
        Some(now + time::Duration::minutes(7)),
    ));
    match build(&ctx, &within) {
        Ok(m) => match post(&ctx, &m).await {
            Ok(r) => {
                c.check(
                    r.is_verified_receipt(),
                    "Created 2 minutes ahead (within the tolerated skew): accepted",
                    r.summary(),
                );
            }
            Err(e) => c.broken(e),
        },
        Err(e) => c.broken(e),
    }
    c.outcome()
}

async fn f10(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let captured: Vec<PeerInbound> = ctx.peer.log.all();
    if captured.is_empty() {
        // Run alone: capture one message first.
        if let Some(api) = ctx.mailbox.as_ref()
            && let Ok(id) = api
                .send(ctx.peer.participant(), &ctx.peer.function, "F-10", &[])
                .await
        {
            let wanted = id.clone();
            ctx.peer
                .log
                .wait_for(ctx.options.answer_wait, move |e| e.xhe_id == wanted, 1)
                .await;
        }
    }
    let captured: Vec<PeerInbound> = ctx.peer.log.all();
    if captured.is_empty() {
        return Outcome::needs_environment(
            "no message from the target was captured in this run (the target's sending side was not triggered)",
        );
    }
    c.note(format!(
        "C-OUT over all {} messages the target sent to the peer in this run",
        captured.len()
    ));
    let mut each = Checks::new();
    for got in &captured {
        super::assertions::c_out(&ctx, &mut each, got, got.leg, got.model);
    }
    let o = each.outcome();
    let failed: Vec<&String> = o
        .actual
        .iter()
        .filter(|l| l.starts_with("FAILED"))
        .collect();
    c.check(
        failed.is_empty(),
        "every captured UserMessage complies with the AS4 profile (C-OUT)",
        if failed.is_empty() {
            format!("{} messages", captured.len())
        } else {
            failed
                .iter()
                .take(5)
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        },
    );
    c.outcome()
}

pub(crate) fn cases() -> Vec<Case> {
    let src = |s: &str| format!("[PG] §7 ({s}); test-cases digest §1.2, §3.3");
    vec![
        Case::new(
            "F-01",
            Group::Announced,
            "Receive a large number of simultaneous messages",
            src("receive many at once"),
            "all get a Receipt and an ACCEPTED Meddelandekvittens, each stored once in its own mailbox",
            f01,
        ),
        Case::new(
            "F-02",
            Group::Announced,
            "Send a large number of simultaneous messages",
            src("send many at once"),
            "all reach the peer once and end ACCEPTED",
            f02,
        ),
        Case::new(
            "F-03",
            Group::Announced,
            "Send to another federation",
            src("send to another federation"),
            "refused: no connection, the sender notified; another federation's FEDERATIONID refused at submission",
            f03,
        ),
        Case::new(
            "F-04",
            Group::Announced,
            "Send to an AP whose receiver certificate has expired",
            src("expired receiver certificate"),
            "refused before any connection, the sender notified",
            f04,
        ),
        Case::new(
            "F-05",
            Group::Announced,
            "Inspect the AP logs",
            src("log inspection; [APK] §3.4.1"),
            "every [APK] §3.4.1 field in the events of an accepted, a refused and a sent message; UTC",
            f05,
        ),
        Case::new(
            "F-06",
            Group::Announced,
            "Receive a message again after a lost ACK (duplicate)",
            src("duplicate"),
            "a Receipt for the same MessageId again, stored and delivered once",
            f06,
        ),
        Case::new(
            "F-07",
            Group::Announced,
            "Send to a recipient that cannot receive this message type",
            src("document type not in SMP"),
            "not sent (no connection), the sender notified",
            f07,
        ),
        Case::new(
            "F-08",
            Group::Announced,
            "Timestamp check",
            src("timestamp"),
            "stale or future WS-Security timestamps refused with EBMS:0101; within the tolerance accepted",
            f08,
        ),
        Case::new(
            "F-09",
            Group::Announced,
            "Automated tests for all test cases",
            src("a plan"),
            "—",
            |_| async {
                Outcome::not_applicable("a plan, not a test case; this suite is that automation")
            },
        ),
        Case::new(
            "F-10",
            Group::Announced,
            "Verify compliance with the AS4 profile",
            src("AS4 profile compliance"),
            "every message the target sent in this run passes C-OUT",
            f10,
        ),
    ]
}
