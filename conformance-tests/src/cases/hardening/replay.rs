//! §4.6 Replay and duplicates (H-42…H-46).

use std::sync::Arc;
use std::time::Duration;

use sdkgw_envelope::receipt::{LineResponse, Receipt};
use sdkgw_envelope::seal::{Signer, seal_receipt};
use sdkgw_envelope::xhe::Xhe;
use sdkgw_schemas::codelists::{DetailCode, ReasonCode};
use sdkgw_store::{Direction, IdKind};

use super::*;
use crate::messages;
use crate::peer::PeerInbound;

async fn h43(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let (env, first) = match conformant(&ctx) {
        Ok(x) => x,
        Err(e) => return Outcome::broken(e),
    };
    match post(&ctx, &first).await {
        Ok(r) => {
            c.check(
                r.is_verified_receipt(),
                "the original is received",
                r.summary(),
            );
        }
        Err(e) => return Outcome::broken(e),
    }
    // Another message under the same AS4 MessageId.
    let built = valid_envelope(&ctx, UB).and_then(|other| {
        let mut cr = craft(&ctx, &other);
        cr.message_id = first.message_id.clone();
        build(&ctx, &cr).map(|m| (other, m))
    });
    match built {
        Ok((other, m)) => {
            match post(&ctx, &m).await {
                Ok(r) => {
                    c.check(
                        r.is_refusal(&["EBMS:0003", "EBMS:0004", "EBMS:0101", "EBMS:0103"], false),
                        "the same MessageId with other content is refused",
                        r.summary(),
                    );
                }
                Err(e) => c.broken(e),
            }
            if let Some(gut) = &ctx.gut {
                let by_id = inbound_records(&ctx, &first.message_id);
                let other_recs = gut.records(sdkgw_store::IdKind::XheId, &other.id);
                c.check(
                    by_id.len() == 1
                        && by_id[0].correlation.xhe_id.as_deref() == Some(env.id.as_str())
                        && other_recs.is_empty(),
                    "the original is kept, the other content not stored",
                    format!(
                        "{} record(s) for the MessageId, {} for the other XHE",
                        by_id.len(),
                        other_recs.len()
                    ),
                );
            }
        }
        Err(e) => c.broken(e),
    }
    c.outcome()
}

fn receipts(ctx: &Ctx, id: &str) -> Vec<PeerInbound> {
    ctx.peer
        .log
        .all()
        .into_iter()
        .filter(|e| e.is_receipt_for(id))
        .collect()
}

async fn h44(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let env = match valid_envelope(&ctx, UB) {
        Ok(e) => e,
        Err(e) => return Outcome::broken(e),
    };
    // 1. The message, then the byte-identical XHE again under a new AS4 MessageId.
    for round in ["first delivery", "byte-identical XHE, new AS4 MessageId"] {
        match ctx.peer.send_xhe(&env.bytes, &ctx.target).await {
            Ok(s) => {
                c.check(s.delivered(), format!("{round}: AS4 Receipt"), s.summary());
            }
            Err(e) => return Outcome::broken(e),
        }
        let id = env.id.clone();
        ctx.peer
            .log
            .wait_for(ctx.options.answer_wait, move |e| e.is_receipt_for(&id), 1)
            .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = receipts(&ctx, &env.id);
    let all_accepted = got.iter().all(|g| matches!(&g.opening, crate::peer::Opening::Receipt { response, .. } if response == "ACCEPTED"));
    c.check(
        !got.is_empty() && got.len() <= 2 && all_accepted,
        "the re-delivery gets the stored ACCEPTED receipt again (no `duplicate`)",
        format!(
            "{} receipt(s): {:?}",
            got.len(),
            got.iter().map(|g| g.xhe_id.clone()).collect::<Vec<_>>()
        ),
    );
    if got.len() == 2 {
        c.check(
            got[0].xhe == got[1].xhe,
            "the receipt sent again is the stored one (same envelope)",
            if got[0].xhe == got[1].xhe {
                "identical"
            } else {
                "different envelopes"
            },
        );
    }
    if let Some(gut) = &ctx.gut {
        let filed = gut
            .records(sdkgw_store::IdKind::XheId, &env.id)
            .iter()
            .filter(|r| {
                r.direction == sdkgw_store::Direction::Inbound
                    && r.state == sdkgw_store::MessageState::Filed
            })
            .count();
        c.check(
            filed == 1,
            "delivered to the mailbox once",
            format!("{filed} filed"),
        );
    }
    // 2. The same XHE id with other content.
    let parties = peer_to_target(&ctx);
    let mut m = messages::minimal(&parties, &env.id, time::OffsetDateTime::now_utc());
    m.body.documents[0].texts[0].character_sequence = "other content under a used messageId".into();
    let bytes = m.to_xml().map_err(|e| e.to_string()).and_then(|x| {
        seal_from_peer(
            &ctx,
            &x,
            &env.id,
            UB,
            Some(ctx.target.function_address.clone()),
        )
    });
    match bytes {
        Ok(b) => match ctx.peer.send_xhe(&b, &ctx.target).await {
            Ok(s) => {
                c.check(
                    s.delivered(),
                    "same XHE id, other content: AS4 Receipt",
                    s.summary(),
                );
                let before = got.len();
                let id = env.id.clone();
                let later = ctx
                    .peer
                    .log
                    .wait_for(
                        ctx.options.answer_wait,
                        move |e| e.is_receipt_for(&id),
                        before + 1,
                    )
                    .await;
                let dup = later.iter().skip(before).any(|g| {
                    matches!(&g.opening, crate::peer::Opening::Receipt { response, lines, .. }
                        if response == "REJECTED" && lines.iter().any(|(r, d, _)| r == "BV" && d.as_deref() == Some("duplicate")))
                });
                c.check(
                    dup,
                    "REJECTED BV duplicate (B1.3.3 row 6)",
                    format!(
                        "{:?}",
                        later
                            .iter()
                            .skip(before)
                            .map(|g| &g.opening)
                            .collect::<Vec<_>>()
                    ),
                );
            }
            Err(e) => c.broken(e),
        },
        Err(e) => c.broken(e),
    }
    c.outcome()
}

async fn h45(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let env = match valid_envelope(&ctx, UB) {
        Ok(e) => e,
        Err(e) => return Outcome::broken(e),
    };
    let cr = craft(&ctx, &env);
    match build(&ctx, &cr) {
        Ok(m) => match post(&ctx, &m).await {
            Ok(r) => {
                c.check(
                    r.is_verified_receipt(),
                    "the original is received",
                    r.summary(),
                );
            }
            Err(e) => return Outcome::broken(e),
        },
        Err(e) => return Outcome::broken(e),
    }
    // Replayed "later": the same MessageId with a Timestamp that has expired.
    let now = time::OffsetDateTime::now_utc();
    let mut late = cr.clone();
    late.timestamp = Some((
        now - time::Duration::hours(2),
        Some(now - time::Duration::hours(1)),
    ));
    // The original is stored under the same ids, so "nothing stored" means nothing added.
    let stored = |ctx: &Ctx, as4_id: &str| {
        ctx.gut.as_ref().map(|g| {
            let inbound = g
                .records(IdKind::XheId, &env.id)
                .into_iter()
                .filter(|r| r.direction == Direction::Inbound)
                .count();
            g.records(IdKind::As4MessageId, as4_id).len() + inbound
        })
    };
    match build(&ctx, &late) {
        Ok(m) => {
            let before = stored(&ctx, &m.message_id);
            match post(&ctx, &m).await {
                Ok(r) => {
                    c.check(
                        r.is_refusal(&["EBMS:0101"], false) && !r.is_verified_receipt(),
                        "replayed with an expired Timestamp: ebMS error EBMS:0101 (failure), no Receipt",
                        r.summary(),
                    );
                }
                Err(e) => return Outcome::broken(e),
            }
            let after = stored(&ctx, &m.message_id);
            match (before, after) {
                (Some(b), Some(a)) => {
                    c.check(
                        a == b,
                        "C-NOLEAK: the replay added no record (the original's stay)",
                        format!("{b} record(s) before, {a} after"),
                    );
                }
                _ => c.note("C-NOLEAK (stored data) is not observable on a remote target"),
            }
        }
        Err(e) => c.broken(format!("building the replay: {e}")),
    }
    c.note("inside the window the replay is a duplicate (F-06)");
    c.outcome()
}

async fn h46(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let signer = Signer {
        key: &ctx.peer.o2o_signing.1,
        cert: &ctx.peer.o2o_signing.0,
    };
    // An original the target never sent.
    let unknown = messages::header(
        &target_to(&ctx, ctx.peer.participant(), ctx.peer_function()),
        &new_id(),
        UB,
        ctx.target.federation(),
        None,
    );
    let now = time::OffsetDateTime::now_utc();
    let accepted = Receipt::new(
        unknown.to.clone(),
        unknown.from.clone(),
        unknown.id.clone(),
        Vec::new(),
        now,
    );
    let ar_header = Xhe::for_receipt(&unknown, new_id(), now, None);
    // A REJECTED receipt referring to that receipt.
    let rejected = Receipt::new(
        unknown.to.clone(),
        unknown.from.clone(),
        ar_header.id.clone(),
        vec![LineResponse::new(
            "NA",
            ReasonCode::Bv,
            DetailCode::NotSupported,
            "refers to a receipt",
        )],
        now,
    );
    let rej_header = Xhe::for_receipt(&unknown, new_id(), now, None);
    for (label, receipt, header) in [
        (
            "a Meddelandekvittens for a message the target never sent",
            &accepted,
            &ar_header,
        ),
        (
            "a REJECTED Meddelandekvittens referring to a Meddelandekvittens",
            &rejected,
            &rej_header,
        ),
    ] {
        let bytes = match seal_receipt(receipt, header, Some(signer)) {
            Ok(b) => b,
            Err(e) => {
                c.broken(format!("{label}: {e}"));
                continue;
            }
        };
        match ctx.peer.send_xhe(&bytes, &ctx.target).await {
            Ok(s) => {
                c.check(
                    s.delivered(),
                    format!("{label}: received (AS4 Receipt)"),
                    s.summary(),
                );
            }
            Err(e) => c.broken(e),
        }
        let id = header.id.clone();
        let back = ctx
            .peer
            .log
            .wait_for(Duration::from_secs(3), move |e| e.is_receipt_for(&id), 1)
            .await;
        c.check(
            back.is_empty(),
            format!("{label}: never answered (no receipt loop)"),
            format!("{} received", back.len()),
        );
    }
    still_serving(&ctx, &mut c).await;
    c.outcome()
}

pub(super) fn cases() -> Vec<Case> {
    vec![
        case(
            "H-42",
            "Same AS4 MessageId resent after a lost Receipt",
            "[AS4] reception awareness; F-06",
            "a Receipt for it again; delivered once",
            crate::cases::announced::f06,
        ),
        case(
            "H-43",
            "Same AS4 MessageId with different content",
            "[AS4] §4.2",
            "refused; the original kept",
            h43,
        ),
        case(
            "H-44",
            "New AS4 MessageId, same XHE id: byte-identical, and with other content",
            "B1.3.3 row 6; envelope digest decision 18",
            "identical: the stored receipt again, delivered once; other content: REJECTED BV duplicate",
            h44,
        ),
        case(
            "H-45",
            "A captured message replayed later with its expired Timestamp",
            "[AS4] §2.10",
            "EBMS:0101",
            h45,
        ),
        case(
            "H-46",
            "A Meddelandekvittens for an unknown message; a REJECTED one referring to a receipt",
            "[TMB] §3.2[d]",
            "logged, no crash, never answered",
            h46,
        ),
    ]
}
