//! §4.3 Encryption (H-20…H-25): AS4 attachment encryption and the XHE payload encryption.

use std::sync::Arc;

use super::*;
use crate::messages;
use crate::peer::Opening;

async fn h20(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    refused_variant(&ctx, &mut c, "key transport rsa-1_5", &["EBMS:0103"], |m| {
        m.replace(
            "http://www.w3.org/2009/xmlenc11#rsa-oaep",
            "http://www.w3.org/2001/04/xmlenc#rsa-1_5",
        )
    })
    .await;
    refused_variant(
        &ctx,
        &mut c,
        "attachment cipher aes128-cbc",
        &["EBMS:0103"],
        |m| m.replace("xmlenc11#aes128-gcm\"", "xmlenc#aes128-cbc\""),
    )
    .await;
    c.outcome()
}

async fn h21(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let mut answers = Vec::new();
    // Encrypted for another AP's key (the peer's own certificate).
    let built = valid_envelope(&ctx, UB).and_then(|env| {
        let mut cr = craft(&ctx, &env);
        cr.recipient = ctx.peer.identity.certificate.clone();
        build(&ctx, &cr).map(|m| (env, m))
    });
    let tampered = conformant(&ctx).map(|(env, mut m)| {
        if let Some(a) = m.attachments.first_mut() {
            let mid = a.1.len() / 2;
            a.1[mid] ^= 0x01;
        }
        (env, m)
    });
    for (label, built) in [
        ("encrypted for another AP's certificate", built),
        ("one ciphertext byte changed", tampered),
    ] {
        match built {
            Ok((env, m)) => {
                let mark = mark(&ctx);
                match post(&ctx, &m).await {
                    Ok(r) => {
                        c.check(
                            r.is_refusal(&["EBMS:0102"], false),
                            format!("{label}: EBMS:0102 FailedDecryption"),
                            r.summary(),
                        );
                        answers.push(error_text(&r.body));
                        no_leak(&ctx, &mut c, &m.message_id, &env.id, mark).await;
                    }
                    Err(e) => c.broken(e),
                }
            }
            Err(e) => c.broken(e),
        }
    }
    c.check(
        answers.len() == 2 && answers[0] == answers[1],
        "the same answer for both decryption failures (no oracle)",
        format!("{answers:?}"),
    );
    c.outcome()
}

/// The code, severity and description of an error signal (what a peer learns).
fn error_text(body: &[u8]) -> String {
    let t = String::from_utf8_lossy(body);
    let pick = |open: &str, close: &str| {
        t.find(open)
            .and_then(|a| t[a..].find(close).map(|b| t[a..a + b].to_owned()))
            .unwrap_or_default()
    };
    format!(
        "{} {}",
        pick("errorCode=", " "),
        pick("<eb:Description", "</eb:Description>")
    )
}

async fn h22(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let built = valid_envelope(&ctx, UB).and_then(|env| {
        let mut cr = craft(&ctx, &env);
        cr.encrypt = false;
        build(&ctx, &cr).map(|m| (env, m))
    });
    match built {
        Ok((env, m)) => {
            check_refusal(
                &ctx,
                &mut c,
                "signed, not encrypted",
                Ok(m),
                &env.id,
                &["EBMS:0103"],
                false,
            )
            .await
        }
        Err(e) => c.broken(e),
    }
    c.outcome()
}

async fn h23(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let mut answers = std::collections::BTreeSet::new();
    let rounds = 8;
    for i in 0..rounds {
        let id = new_id();
        let parties = peer_to_target(&ctx);
        let built = messages::minimal(&parties, &id, time::OffsetDateTime::now_utc())
            .to_xml()
            .map_err(|e| e.to_string())
            .and_then(|p| {
                seal_from_peer(&ctx, &p, &id, UB, Some(ctx.target.function_address.clone()))
            });
        let bytes = match built {
            Ok(b) => b,
            Err(e) => return Outcome::broken(e),
        };
        // Flip one Base64 character of the data CipherValue (the last one in the envelope),
        // after signing: the signature step must catch it, every time the same way.
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let Some(at) = text.rfind("<xenc:CipherValue>") else {
            return Outcome::broken("no CipherValue");
        };
        let pos = at + "<xenc:CipherValue>".len() + 10 + i;
        let mut b = text.into_bytes();
        b[pos] = if b[pos] == b'A' { b'B' } else { b'A' };
        let env = Envelope {
            id: id.clone(),
            model: UB,
            bytes: b,
            parties,
        };
        let reply = match build(&ctx, &craft(&ctx, &env)) {
            Ok(m) => post(&ctx, &m).await,
            Err(e) => Err(e),
        };
        if let Err(e) = reply {
            c.broken(e);
            continue;
        }
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
        match got.first().map(|g| &g.opening) {
            Some(Opening::Receipt {
                response, lines, ..
            }) => {
                answers.insert(format!(
                    "{response} {:?}",
                    lines
                        .iter()
                        .map(|(r, d, _)| (r.clone(), d.clone()))
                        .collect::<Vec<_>>()
                ));
            }
            other => {
                answers.insert(format!("{other:?}"));
            }
        }
    }
    c.check(
        answers.len() == 1
            && answers
                .iter()
                .all(|a| a.contains("REJECTED") && a.contains("SIG") && a.contains("security")),
        format!(
            "{rounds} single-byte ciphertext mutations: always REJECTED SIG security, identical"
        ),
        format!("{answers:?}"),
    );
    c.note("that decryption is never attempted after a failed signature is proven inside the envelope layer (T-E2E-01 spy test); the suite sees only the identical answer");
    c.outcome()
}

async fn h24(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let id = new_id();
    let parties = peer_to_target(&ctx);
    let built = messages::minimal(&parties, &id, time::OffsetDateTime::now_utc())
        .to_xml()
        .map_err(|e| e.to_string())
        .and_then(|p| {
            let header = ub_header(&ctx, &parties, &id);
            messages::seal_mutated(&p, &header, None, Some(peer_signer(&ctx)), &|s| s)
        });
    mt_rejects(
        &ctx,
        &mut c,
        "tm-base-ext-sigenc, signed, plaintext payload, indicator false",
        &id,
        built,
        "SIG",
        "security",
    )
    .await;
    c.outcome()
}

async fn h25(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let id = new_id();
    let parties = peer_to_target(&ctx);
    let built = messages::minimal(&parties, &id, time::OffsetDateTime::now_utc())
        .to_xml()
        .map_err(|e| e.to_string())
        .and_then(|p| {
            let header = ub_header(&ctx, &parties, &id);
            // The peer's own O2O encryption certificate: not the recipient's.
            messages::seal(
                &p,
                &header,
                Some(&ctx.peer.o2o_encryption.0),
                Some(peer_signer(&ctx)),
            )
        })
        .map(|bytes| Envelope {
            id: id.clone(),
            model: UB,
            bytes,
            parties: parties.clone(),
        });
    mt_silent(
        &ctx,
        &mut c,
        "payload encrypted for another participant's certificate",
        built,
    )
    .await;
    c.outcome()
}

pub(super) fn cases() -> Vec<Case> {
    vec![
        case(
            "H-20",
            "AS4 key transport rsa-1_5 (and a CBC attachment cipher)",
            "[AS4] §2.2",
            "EBMS:0103",
            h20,
        ),
        case(
            "H-21",
            "Encrypted for another AP's key; tampered ciphertext",
            "[AS4] §2.2",
            "EBMS:0102, the same answer for both (no oracle)",
            h21,
        ),
        case(
            "H-22",
            "Signed-only AS4 message",
            "[AS4] §2.10",
            "EBMS:0103",
            h22,
        ),
        case(
            "H-23",
            "XHE CBC ciphertext tampered, re-sent many times",
            "[XHE] §3.4.1",
            "always rejected at the signature step: identical REJECTED SIG security",
            h23,
        ),
        case(
            "H-24",
            "Utökad Bas with a plaintext payload",
            "B1.3.3 row 14",
            "REJECTED SIG security",
            h24,
        ),
        case(
            "H-25",
            "Payload encrypted for the wrong participant certificate",
            "[KV] §2.1.2",
            "no receipt; not delivered; incident",
            h25,
        ),
    ]
}
