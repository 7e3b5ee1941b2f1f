//! §4.5 Addressing, wrong recipient, authorisation (H-35…H-41).

use std::sync::Arc;

use sdkgw_as4::ebms::PMode;
use sdkgw_store::{Direction, IdKind, MessageState};

use super::*;
use crate::cases::announced::refused_send;
use crate::messages;
use crate::pki::{FOREIGN_PEER, HTTP_ENDPOINT_PEER, WRONG_PROFILE_PEER};

async fn h35(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let mut env = match valid_envelope(&ctx, UB) {
        Ok(e) => e,
        Err(e) => return Outcome::broken(e),
    };
    env.parties.to = match "0203:not-served.example.se".parse() {
        Ok(p) => p,
        Err(e) => return Outcome::broken(e),
    };
    let id = env.id.clone();
    let bytes = messages::minimal(&env.parties, &id, time::OffsetDateTime::now_utc())
        .to_xml()
        .map_err(|e| e.to_string())
        .and_then(|p| {
            let h = messages::header(&env.parties, &id, UB, ctx.target.federation(), None);
            messages::seal(
                &p,
                &h,
                ctx.target.o2o_encryption.as_ref(),
                Some(peer_signer(&ctx)),
            )
        });
    env.bytes = match bytes {
        Ok(b) => b,
        Err(e) => return Outcome::broken(e),
    };
    let m = match build(&ctx, &craft(&ctx, &env)) {
        Ok(m) => m,
        Err(e) => return Outcome::broken(e),
    };
    let mark = mark(&ctx);
    match post(&ctx, &m).await {
        Ok(r) => {
            let ok = matches!(&r.signal, crate::peer::wire::SignalView::Errors(e)
                if e.iter().any(|e| e.code == "EBMS:0004" && e.severity == "failure" && e.detail.as_deref() == Some("NOT_SERVICED")));
            c.check(
                ok,
                "EBMS:0004, severity failure, ErrorDetail NOT_SERVICED",
                r.summary(),
            );
            no_leak(&ctx, &mut c, &m.message_id, &id, mark).await;
        }
        Err(e) => c.broken(e),
    }
    c.outcome()
}

async fn h36(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    // An unknown MPC may also be EBMS:0001 ValueNotRecognized (AS4 transport digest §5, [CEF]).
    let wrong = ["EBMS:0001", "EBMS:0003", "EBMS:0010", "EBMS:0004"];
    for (label, change) in [
        ("To PartyId ≠ the target's CN", 0),
        ("MPC other than the default", 1),
        ("Action of a document type nobody serves", 2),
    ] {
        let built = valid_envelope(&ctx, UB).and_then(|env| {
            let mut cr = craft(&ctx, &env);
            match change {
                0 => cr.to_ap = "AP0999-DEV".into(),
                1 => cr = cr.tweaked(|um| um.mpc = Some("urn:x:other-mpc".into())),
                _ => {
                    cr = cr.tweaked(|um| {
                        um.collaboration.action =
                            "busdox-docid-qns::urn:x:unknown##1.0::tm-base-ext-sigenc".into()
                    })
                }
            }
            build(&ctx, &cr).map(|m| (env, m))
        });
        match built {
            Ok((env, m)) => check_refusal(&ctx, &mut c, label, Ok(m), &env.id, &wrong, false).await,
            Err(e) => c.broken(e),
        }
    }
    c.outcome()
}

async fn h37(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let id = new_id();
    let mut parties = peer_to_target(&ctx);
    parties.to_function = match sdkgw_schemas::FunctionAddress::parse("no-such-mailbox") {
        Ok(f) => f,
        Err(e) => return Outcome::broken(e),
    };
    let built = messages::minimal(&parties, &id, time::OffsetDateTime::now_utc())
        .to_xml()
        .map_err(|e| e.to_string())
        .and_then(|p| {
            let h = messages::header(
                &parties,
                &id,
                UB,
                ctx.target.federation(),
                Some(parties.to_function.clone()),
            );
            let enc = target_encryption(&ctx)?;
            messages::seal(&p, &h, Some(enc), Some(peer_signer(&ctx)))
        });
    mt_rejects(
        &ctx,
        &mut c,
        "HandlingServiceID and subOrganization name an unknown mailbox",
        &id,
        built,
        "BV",
        "not-found",
    )
    .await;
    c.outcome()
}

async fn h38(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let canonical = ctx.target.participant.value().to_owned();
    let upper = canonical.to_uppercase();
    // Upper case in the XHE ToParty and the AS4 finalRecipient: one consistent answer.
    let id = new_id();
    let parties = peer_to_target(&ctx);
    let (u1, u2) = (upper.clone(), upper.clone());
    let can = canonical.clone();
    let built = messages::minimal(&parties, &id, time::OffsetDateTime::now_utc())
        .to_xml()
        .map_err(|e| e.to_string())
        .and_then(|p| {
            let h = ub_header(&ctx, &parties, &id);
            let enc = target_encryption(&ctx)?;
            messages::seal_mutated(&p, &h, Some(enc), Some(peer_signer(&ctx)), &move |s| {
                s.replace(&format!(">{can}</xhb:ID>"), &format!(">{u1}</xhb:ID>"))
            })
        });
    let env = match built {
        Ok(bytes) => Envelope {
            id: id.clone(),
            model: UB,
            bytes,
            parties,
        },
        Err(e) => return Outcome::broken(e),
    };
    let fr = PMode.final_recipient_property().to_owned();
    let cr = craft(&ctx, &env).tweaked(move |um| {
        for p in um.properties.iter_mut().filter(|p| p.name == fr) {
            p.value = u2.clone();
        }
    });
    match build(&ctx, &cr) {
        Ok(m) => match post(&ctx, &m).await {
            Ok(r) => {
                c.note(format!("{upper}: {}", r.summary()));
                if r.is_verified_receipt() {
                    let wanted = id.clone();
                    let got = ctx
                        .peer
                        .log
                        .wait_for(
                            ctx.options.answer_wait,
                            move |e| e.is_receipt_for(&wanted),
                            1,
                        )
                        .await;
                    c.check(
                        !got.is_empty(),
                        "accepted case-insensitively and answered",
                        format!("{} receipt(s)", got.len()),
                    );
                    if let Some(gut) = &ctx.gut {
                        let recs = gut.records(sdkgw_store::IdKind::XheId, &id);
                        c.check(
                            recs.iter()
                                .all(|r| r.recipient.as_deref() == Some(canonical.as_str())),
                            "delivered to the canonical participant only",
                            format!(
                                "{:?}",
                                recs.iter().map(|r| r.recipient.clone()).collect::<Vec<_>>()
                            ),
                        );
                    }
                } else {
                    c.check(
                        r.is_refusal(&["EBMS:0004", "EBMS:0003", "EBMS:0010"], false),
                        "refused consistently",
                        r.summary(),
                    );
                }
            }
            Err(e) => c.broken(e),
        },
        Err(e) => c.broken(e),
    }
    // A homoglyph (Cyrillic е) and an ICD with letters: never delivered to the target.
    for (label, value) in [
        (
            "homoglyph: Cyrillic е in the domain",
            canonical.replacen('e', "\u{435}", 1),
        ),
        ("ICD 0007 with letters", "0007:ABCDEF".to_owned()),
    ] {
        let built = valid_envelope(&ctx, UB).and_then(|env| {
            let fr = PMode.final_recipient_property().to_owned();
            let v = value.clone();
            let cr = craft(&ctx, &env).tweaked(move |um| {
                for p in um.properties.iter_mut().filter(|p| p.name == fr) {
                    p.value = v.clone();
                }
            });
            build(&ctx, &cr).map(|m| (env, m))
        });
        match built {
            Ok((env, m)) => {
                check_refusal(
                    &ctx,
                    &mut c,
                    label,
                    Ok(m),
                    &env.id,
                    &["EBMS:0004", "EBMS:0003", "EBMS:0010", "EBMS:0009"],
                    false,
                )
                .await
            }
            Err(e) => c.broken(e),
        }
    }
    c.outcome()
}

async fn h39(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    // originalSender / FromParty = TestAP-05's participant, whose SMP entry names another
    // AP, but the message comes from TestAP-01's AP.
    let id = new_id();
    let mut parties = peer_to_target(&ctx);
    parties.from = match FOREIGN_PEER.parse() {
        Ok(p) => p,
        Err(e) => return Outcome::broken(e),
    };
    let built = messages::minimal(&parties, &id, time::OffsetDateTime::now_utc())
        .to_xml()
        .map_err(|e| e.to_string())
        .and_then(|p| {
            let h = ub_header(&ctx, &parties, &id);
            let enc = target_encryption(&ctx)?;
            messages::seal(&p, &h, Some(enc), Some(peer_signer(&ctx)))
        });
    let bytes = match built {
        Ok(b) => b,
        Err(e) => return Outcome::broken(e),
    };
    let env = Envelope {
        id: id.clone(),
        model: UB,
        bytes,
        parties,
    };
    let reply = match build(&ctx, &craft(&ctx, &env)) {
        Ok(m) => post(&ctx, &m).await,
        Err(e) => Err(e),
    };
    let reply = match reply {
        Ok(r) => r,
        Err(e) => return Outcome::broken(e),
    };
    let refused_at_ap = !reply.is_verified_receipt();
    let wanted = id.clone();
    let got = ctx
        .peer
        .log
        .wait_for(
            ctx.options.answer_wait,
            move |e| e.is_receipt_for(&wanted),
            1,
        )
        .await;
    let flagged = got.first().is_some_and(|g| {
        matches!(&g.opening, crate::peer::Opening::Receipt { response, lines, .. }
            if response == "REJECTED" && lines.iter().any(|(r, d, _)| r == "BV" && d.as_deref() == Some("security")))
    });
    // The REJECTED receipt goes to the AP the SMP lists for FromParty (a trap here), not to
    // the peer: in-process the decision is read from the target's own record instead.
    let decided = match &ctx.gut {
        Some(gut) if !refused_at_ap && !flagged => gut
            .wait_records(IdKind::XheId, &id, ctx.options.answer_wait, |rs| {
                rs.iter().any(|r| r.state != MessageState::Received)
            })
            .await
            .into_iter()
            .find(|r| r.direction == Direction::Inbound),
        _ => None,
    };
    if ctx.gut.is_none() && !refused_at_ap && !flagged {
        return Outcome::needs_environment(
            "H-39: the target took the message at the AS4 level, and its Meddelandekvittens goes \
             to the AP the SMP lists for the sender (the suite's trap), so the suite cannot see \
             it: the target's operator must confirm the message was REJECTED BV security and \
             not filed",
        );
    }
    let rejected_bv_security = decided.as_ref().is_some_and(|r| {
        r.state == MessageState::Rejected
            && r.mailbox.is_none()
            && r.last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("REJECTED") && e.contains("BV security"))
    });
    c.check(
        refused_at_ap || flagged || rejected_bv_security,
        "flagged: refused by the AP, or REJECTED BV security by the message service (B1.3.3 row 13), not filed",
        format!(
            "{}; {}{}",
            reply.summary(),
            got.first().map_or("no receipt at the peer".into(), |g| format!("{:?}", g.opening)),
            decided.map_or(String::new(), |r| format!(
                "; the target's record: {:?}, mailbox {:?}, {}",
                r.state,
                r.mailbox,
                r.last_error.unwrap_or_default()
            ))
        ),
    );
    c.outcome()
}

async fn h40(ctx: Arc<Ctx>) -> Outcome {
    if ctx.mailbox.is_none() {
        return Outcome::needs_environment("H-40 makes the target send: configure [target.api]");
    }
    let mut c = Checks::new();
    let trap = ctx.traps.defects.clone();
    c.note(format!("{HTTP_ENDPOINT_PEER}: EndpointURI http://"));
    refused_send(&ctx, &mut c, HTTP_ENDPOINT_PEER, &trap, &["http", "https"]).await;
    c.note(format!(
        "{WRONG_PROFILE_PEER}: transportProfile bdxr-transport-ebms3-as4-v1p0"
    ));
    refused_send(
        &ctx,
        &mut c,
        WRONG_PROFILE_PEER,
        &trap,
        &["profile", "transport", "endpoint"],
    )
    .await;
    c.note("port ≠ 443: not checked — every endpoint of a local run is a loopback port; a redirect and a NAPTR result to an unexpected domain: covered by the address book's own tests, not here");
    c.outcome()
}

async fn h41(ctx: Arc<Ctx>) -> Outcome {
    let (Some(gut), Some(api)) = (ctx.gut.as_ref(), ctx.mailbox.as_ref()) else {
        return Outcome::needs_environment(
            "H-41 submits at the target's AP and API: in-process only (or its operator)",
        );
    };
    let mut c = Checks::new();
    // An XHE whose FromParty the target does not serve, handed to its AP.
    let parties = peer_to_target(&ctx);
    let reversed = messages::Parties {
        from: parties.from.clone(),
        from_function: None,
        to: ctx.peer.participant().clone(),
        to_function: ctx.peer.function.clone(),
    };
    let id = new_id();
    let h = messages::header(
        &reversed,
        &id,
        BAS,
        ctx.target.federation(),
        Some(ctx.peer.function.clone()),
    );
    let submitted = match messages::minimal(&reversed, &id, time::OffsetDateTime::now_utc())
        .to_xml()
        .map_err(|e| e.to_string())
        .and_then(|p| messages::seal(&p, &h, None, None))
    {
        Ok(xhe) => gut.submit(&xhe).await,
        Err(e) => Err(e),
    };
    let sent_out = ctx
        .peer
        .log
        .wait_for(
            std::time::Duration::from_secs(3),
            {
                let id = id.clone();
                move |e| e.xhe_id == id
            },
            1,
        )
        .await;
    c.check(
        submitted.is_err() || sent_out.is_empty(),
        "an envelope from a participant the target does not serve is not sent",
        match &submitted {
            Ok(k) => format!("queued as {k}; {} arrived at the peer", sent_out.len()),
            Err(e) => format!("refused at submission: {e}"),
        },
    );
    // The mailbox API: another organisation as the sender.
    let other = api
        .send_as(
            ctx.peer.participant(),
            &ctx.peer.function,
            ctx.peer.participant(),
            &ctx.peer.function,
            "H-41",
        )
        .await;
    c.check(
        other.is_err(),
        "the mailbox API refuses a sender organisation and mailbox the client does not serve",
        match &other {
            Ok(id) => format!("accepted as {id}"),
            Err(e) => e.clone(),
        },
    );
    c.outcome()
}

pub(super) fn cases() -> Vec<Case> {
    vec![
        case(
            "H-35",
            "finalRecipient not served",
            "[AS4] §2.5[c]",
            "EBMS:0004 NOT_SERVICED; nothing stored",
            h35,
        ),
        case(
            "H-36",
            "To PartyId ≠ our CN, MPC ≠ default, Action not served",
            "[AS4] §3",
            "EBMS:0003/0010/0004",
            h36,
        ),
        case(
            "H-37",
            "Unknown function mailbox",
            "B1.3.3 row 9",
            "REJECTED BV not-found",
            h37,
        ),
        case(
            "H-38",
            "ID normalisation: upper case, homoglyphs, ICD 0007 with letters",
            "[GRR] §3.3[d]",
            "consistent case-insensitive match or refusal; never misdelivered",
            h38,
        ),
        case(
            "H-39",
            "originalSender served by a different AP",
            "B1.3.3 row 13",
            "flagged (refused or REJECTED BV security)",
            h39,
        ),
        case(
            "H-40",
            "Outbound: SMP EndpointURI http://, foreign transport profile",
            "[AS4] §2.4.3",
            "refused and the sender notified",
            h40,
        ),
        case(
            "H-41",
            "Outbound: XHE from a participant we do not serve",
            "[APK] §3.1",
            "refused at submission",
            h41,
        ),
    ]
}
