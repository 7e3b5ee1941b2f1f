//! §4.2 Signature wrapping and signature policy (H-09…H-19): the AS4 WS-Security signature,
//! the XHE enveloped signature and the receipts the target gets back.

use std::sync::Arc;

use super::*;
use crate::messages;
use crate::peer::HttpMode;
use crate::peer::craft::Covered;
use sdkgw_store::{Direction, IdKind, MessageRecord, MessageState};

async fn h09(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let target = ctx.target.participant.value().to_owned();
    refused_variant(
        &ctx,
        &mut c,
        "signed eb:Messaging moved into a wrapper, a forged one in its place",
        &["EBMS:0101", "EBMS:0103", "EBMS:0009"],
        |m| {
            let (s, e) = m.span("<eb:Messaging", "</eb:Messaging>")?;
            let signed = m.envelope[s..e].to_owned();
            let forged = signed
                .replacen(" wsu:Id=\"_messaging-1\"", "", 1)
                .replace(&target, "0203:attacker.example.se");
            let mut out = m.clone();
            out.envelope = format!(
                "{}<x:Wrapper xmlns:x=\"urn:x\">{signed}</x:Wrapper>{forged}{}",
                &m.envelope[..s],
                &m.envelope[e..]
            );
            Ok(out)
        },
    )
    .await;
    c.outcome()
}

async fn h10(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    refused_variant(
        &ctx,
        &mut c,
        "a second element with the signed Messaging's wsu:Id",
        &["EBMS:0101", "EBMS:0103"],
        |m| {
            m.replace(
                "<wsse:Security",
                "<x:W xmlns:x=\"urn:x\" wsu:Id=\"_messaging-1\"/><wsse:Security",
            )
        },
    )
    .await;
    refused_variant(
        &ctx,
        &mut c,
        "the Body's id duplicated",
        &["EBMS:0101", "EBMS:0103"],
        |m| {
            m.replace(
                "<wsse:Security",
                "<x:W xmlns:x=\"urn:x\" wsu:Id=\"body-1\"/><wsse:Security",
            )
        },
    )
    .await;
    c.outcome()
}

async fn unsigned_part(ctx: &Ctx, c: &mut Checks, label: &str, covered: Covered) {
    let built = valid_envelope(ctx, UB).and_then(|env| {
        let mut cr = craft(ctx, &env);
        cr.covered = covered;
        build(ctx, &cr).map(|m| (env, m))
    });
    match built {
        Ok((env, m)) => check_refusal(ctx, c, label, Ok(m), &env.id, &["EBMS:0103"], false).await,
        Err(e) => c.broken(e),
    }
}

async fn h11(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let all = Covered::default();
    unsigned_part(
        &ctx,
        &mut c,
        "eb:Messaging not signed",
        Covered {
            messaging: false,
            ..all
        },
    )
    .await;
    unsigned_part(
        &ctx,
        &mut c,
        "Body not signed",
        Covered { body: false, ..all },
    )
    .await;
    unsigned_part(
        &ctx,
        &mut c,
        "Timestamp not signed",
        Covered {
            timestamp: false,
            ..all
        },
    )
    .await;
    unsigned_part(
        &ctx,
        &mut c,
        "the attachment not referenced in SignedInfo",
        Covered {
            attachment: false,
            ..all
        },
    )
    .await;
    c.outcome()
}

async fn h12(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    refused_variant(
        &ctx,
        &mut c,
        "an extra, unsigned attachment",
        &["EBMS:0007", "EBMS:0103", "EBMS:0101"],
        |mut m| {
            m.attachments
                .push(("extra".into(), b"unsigned content".to_vec()));
            Ok(m)
        },
    )
    .await;
    // Swapped: the content of one message under the Content-ID of another.
    let other = conformant(&ctx);
    refused_variant(
        &ctx,
        &mut c,
        "another message's (encrypted) attachment under cid:message",
        &["EBMS:0101", "EBMS:0102", "EBMS:0103"],
        |mut m| {
            let (_, o) = other?;
            m.attachments = o.attachments;
            Ok(m)
        },
    )
    .await;
    refused_variant(
        &ctx,
        &mut c,
        "the attachment under another Content-ID",
        &["EBMS:0007", "EBMS:0103", "EBMS:0101"],
        |mut m| {
            if let Some(a) = m.attachments.first_mut() {
                a.0 = "other".into();
            }
            Ok(m)
        },
    )
    .await;
    c.outcome()
}

async fn h13(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let before = ctx.traps.canary.count();
    let canary = ctx.traps.canary.url.replace("https://", "http://");
    refused_variant(&ctx, &mut c, "an XSLT transform in a Reference", &["EBMS:0103", "EBMS:0101"], |m| {
        m.replace("<ds:Transforms>", "<ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xslt-19991116\"/>")
    })
    .await;
    refused_variant(&ctx, &mut c, "an XPath filter transform", &["EBMS:0103", "EBMS:0101"], |m| {
        m.replace("<ds:Transforms>", "<ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"><ds:XPath>1</ds:XPath></ds:Transform>")
    })
    .await;
    let rm = format!(
        "<ds:KeyInfo><ds:RetrievalMethod URI=\"{canary}\" Type=\"http://www.w3.org/2000/09/xmldsig#X509Data\"/>"
    );
    // In the EncryptedKey the key cannot be found (decryption fails first); in the
    // Signature the signer's certificate cannot.
    for (label, after, codes) in [
        (
            "the EncryptedKey's KeyInfo with a remote RetrievalMethod",
            "<xenc:EncryptedKey",
            &["EBMS:0102", "EBMS:0103", "EBMS:0101"][..],
        ),
        (
            "the Signature's KeyInfo with a remote RetrievalMethod",
            "<ds:Signature",
            &["EBMS:0103", "EBMS:0101"][..],
        ),
    ] {
        let rm = rm.clone();
        refused_variant(&ctx, &mut c, label, codes, move |m| {
            let from = m
                .envelope
                .find(after)
                .ok_or_else(|| format!("{after:?} is not in the crafted envelope"))?;
            let s = from
                + m.envelope[from..]
                    .find("<ds:KeyInfo")
                    .ok_or("no ds:KeyInfo after it")?;
            let e = s
                + m.envelope[s..]
                    .find("</ds:KeyInfo>")
                    .ok_or("no </ds:KeyInfo>")?
                + "</ds:KeyInfo>".len();
            let envelope = format!("{}{rm}</ds:KeyInfo>{}", &m.envelope[..s], &m.envelope[e..]);
            let mut out = m;
            out.envelope = envelope;
            Ok(out)
        })
        .await;
    }
    canary_untouched(&ctx, &mut c, before);
    c.outcome()
}

async fn h14(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    refused_variant(
        &ctx,
        &mut c,
        "SignatureMethod rsa-sha1",
        &["EBMS:0103"],
        |m| {
            m.replace(
                "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            )
        },
    )
    .await;
    refused_variant(&ctx, &mut c, "DigestMethod sha1", &["EBMS:0103"], |m| {
        m.replace(
            "http://www.w3.org/2001/04/xmlenc#sha256",
            "http://www.w3.org/2000/09/xmldsig#sha1",
        )
    })
    .await;
    refused_variant(&ctx, &mut c, "HMAC-SHA1 with HMACOutputLength 8", &["EBMS:0103"], |m| {
        m.replace(
            "<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>",
            "<ds:SignatureMethod Algorithm=\"http://www.w3.org/2000/09/xmldsig#hmac-sha1\"><ds:HMACOutputLength>8</ds:HMACOutputLength></ds:SignatureMethod>",
        )
    })
    .await;
    c.outcome()
}

async fn h15(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let built = valid_envelope(&ctx, UB).and_then(|env| {
        let mut cr = craft(&ctx, &env);
        cr.from_ap = ctx.target.party_id();
        build(&ctx, &cr).map(|m| (env, m))
    });
    match built {
        Ok((env, m)) => {
            check_refusal(&ctx, &mut c, "signed with TestAP-01's valid certificate, From PartyId = another AP (the target's own id)", Ok(m), &env.id, &["EBMS:0101"], false).await;
        }
        Err(e) => c.broken(e),
    }
    c.outcome()
}

/// A signed XHE from the peer whose text is changed after signing by `mutate`: the target
/// must answer REJECTED SIG security (and never decrypt).
async fn xhe_sig(
    ctx: &Ctx,
    c: &mut Checks,
    label: &str,
    envelope_error_ok: bool,
    mutate: &(dyn Fn(String) -> String + Sync),
) {
    let id = new_id();
    let parties = peer_to_target(ctx);
    let built = messages::minimal(&peer_to_target(ctx), &id, time::OffsetDateTime::now_utc())
        .to_xml()
        .map_err(|e| e.to_string())
        .and_then(|p| seal_from_peer(ctx, &p, &id, UB, Some(ctx.target.function_address.clone())))
        .map(|b| mutate(String::from_utf8_lossy(&b).into_owned()).into_bytes());
    let bytes = match built {
        Ok(b) => b,
        Err(e) => return c.broken(e),
    };
    // Sent with the AS4 originalSender the (changed) envelope names.
    let env = Envelope {
        id: id.clone(),
        model: UB,
        bytes,
        parties,
    };
    let reply = match build(ctx, &craft(ctx, &env)) {
        Ok(m) => post(ctx, &m).await,
        Err(e) => Err(e),
    };
    match reply {
        Ok(r) => {
            c.check(
                r.is_verified_receipt(),
                format!("{label}: the AP receipts it (the AS4 layer is intact)"),
                r.summary(),
            );
        }
        Err(e) => return c.broken(e),
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
    let ok = got.first().is_some_and(|g| {
        matches!(&g.opening, crate::peer::Opening::Receipt { response, lines, .. }
            if response == "REJECTED" && lines.iter().any(|(r, d, _)| r == "SIG" && d.as_deref() == Some("security")))
    });
    if !ok && envelope_error_ok && got.is_empty() {
        // A signature moved out of its place also breaks the XHE profile (the root's last
        // child; PayloadContent holds the EncryptedData only): an envelope error, answered
        // with no receipt and quarantined (envelope digest §5 stages 2-3).
        let Some(gut) = &ctx.gut else {
            c.note(format!("{label}: no receipt; whether it was quarantined is not observable on a remote target"));
            return;
        };
        let recs: Vec<MessageRecord> = gut
            .records(IdKind::XheId, &id)
            .into_iter()
            .filter(|r| r.direction == Direction::Inbound)
            .collect();
        c.check(
            !recs.is_empty() && recs.iter().all(|r| r.state == MessageState::Rejected),
            format!("{label}: REJECTED SIG security, or (envelope error) no receipt and quarantined, not filed"),
            format!(
                "no receipt; inbound records: {:?}",
                recs.iter().map(|r| r.state).collect::<Vec<_>>()
            ),
        );
        return;
    }
    c.check(
        ok,
        format!("{label}: REJECTED SIG security (decryption not attempted)"),
        got.first()
            .map_or("no receipt".to_owned(), |g| format!("{:?}", g.opening)),
    );
}

async fn h16(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    xhe_sig(
        &ctx,
        &mut c,
        "Reference URI=\"#x\" instead of the whole envelope",
        false,
        &|s| s.replacen("<ds:Reference URI=\"\"", "<ds:Reference URI=\"#x\"", 1),
    )
    .await;
    xhe_sig(
        &ctx,
        &mut c,
        "the signature moved into the PayloadContent (wrapping)",
        true,
        &|s| {
            let (Some(a), Some(b)) = (s.find("<ds:Signature"), s.find("</ds:Signature>")) else {
                return s;
            };
            let sig = s[a..b + 15].to_owned();
            let rest = format!("{}{}", &s[..a], &s[b + 15..]);
            rest.replacen(
                "<xha:PayloadContent>",
                &format!("<xha:PayloadContent>{sig}"),
                1,
            )
        },
    )
    .await;
    c.note("S-N7 (a copy of a signed XHE re-parented) is an envelope error here: two Headers fail the profile before the signature (TF-09)");
    c.outcome()
}

async fn h17(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    // One byte of FromParty changed so that it still names the peer (participant ids match
    // case-insensitively): the REJECTED receipt still goes to the peer, where it is observed.
    let from = ctx.peer.participant().value().to_owned();
    let changed = match from.split_once(':') {
        Some((scheme, id)) if id.starts_with(|ch: char| ch.is_ascii_lowercase()) => {
            format!("{scheme}:{}{}", id[..1].to_ascii_uppercase(), &id[1..])
        }
        _ => {
            return Outcome::broken(format!(
                "peer participant {from} has no lower-case letter to change"
            ));
        }
    };
    xhe_sig(
        &ctx,
        &mut c,
        "one byte of FromParty changed after signing (case of its first letter)",
        false,
        &move |s| {
            s.replacen(
                &format!(">{from}</xhb:ID>"),
                &format!(">{changed}</xhb:ID>"),
                1,
            )
        },
    )
    .await;
    xhe_sig(
        &ctx,
        &mut c,
        "one digit of CreationDateTime's seconds changed after signing",
        false,
        &|s| {
            // The last digit of the seconds: the time moves by seconds, so only the
            // signature (not the "created in the future" profile rule) can object.
            let Some(at) = s.find("<xhb:CreationDateTime>") else {
                return s;
            };
            let value = at + "<xhb:CreationDateTime>".len();
            let Some(t) = s[value..].find('T') else {
                return s;
            };
            let i = value + t + 8;
            let mut b = s.into_bytes();
            b[i] = if b[i] == b'9' { b'8' } else { b'9' };
            String::from_utf8_lossy(&b).into_owned()
        },
    )
    .await;
    c.outcome()
}

async fn h18(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    // A valid O2O signing certificate of this environment, but not FromParty's CertPub one.
    let org = ctx.pki.gut().clone();
    let (cert, key) = match ctx.pki.pair(&org.o2o_signing) {
        Ok(p) => p,
        Err(e) => return Outcome::broken(e),
    };
    let id = new_id();
    let parties = peer_to_target(&ctx);
    let built = messages::minimal(&parties, &id, time::OffsetDateTime::now_utc())
        .to_xml()
        .map_err(|e| e.to_string())
        .and_then(|p| {
            let header = ub_header(&ctx, &parties, &id);
            let enc = target_encryption(&ctx)?;
            messages::seal(
                &p,
                &header,
                Some(enc),
                Some(messages::O2oSigner {
                    key: &key,
                    cert: &cert,
                }),
            )
        });
    mt_rejects(
        &ctx,
        &mut c,
        "signed with another organisation's valid O2O certificate",
        &id,
        built,
        "SIG",
        "security",
    )
    .await;
    c.outcome()
}

async fn h19(ctx: Arc<Ctx>) -> Outcome {
    let Some(api) = ctx.mailbox.as_ref() else {
        return Outcome::needs_environment("H-19 makes the target send: configure [target.api]");
    };
    let mut c = Checks::new();
    for (label, mode) in [
        ("a Receipt without its signature", HttpMode::UnsignedReceipt),
        (
            "a Receipt whose NRR digest was altered (signature no longer verifies)",
            HttpMode::TamperedReceipt,
        ),
    ] {
        ctx.peer.knobs.set_http(mode);
        ctx.peer.knobs.set_answer(crate::peer::Answer::Silent);
        let id = match api
            .send(ctx.peer.participant(), &ctx.peer.function, "H-19", &[])
            .await
        {
            Ok(id) => id,
            Err(e) => {
                c.broken(e);
                continue;
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
            status.as_deref() != Some("WAITING_FOR_RECEIPT")
                && status.as_deref() != Some("ACCEPTED"),
            format!("{label}: not counted as delivered"),
            format!("{status:?}"),
        );
        if let Some(gut) = &ctx.gut {
            let rec = gut
                .records(sdkgw_store::IdKind::XheId, &id)
                .into_iter()
                .find(|r| r.direction == sdkgw_store::Direction::Outbound);
            c.check(
                rec.as_ref().is_some_and(|r| {
                    !r.has_been(sdkgw_store::MessageState::Delivered) && r.attempts > 1
                }),
                format!("{label}: never delivered, retried per policy"),
                rec.map_or("no record".into(), |r| {
                    format!(
                        "{:?} after {} attempt(s): {}",
                        r.state,
                        r.attempts,
                        r.last_error.unwrap_or_default()
                    )
                }),
            );
        }
        ctx.peer.knobs.reset();
    }
    c.note("variant not covered: a Receipt signed by a valid AP certificate other than the SMP one (the peer has one AP key)");
    c.outcome()
}

pub(super) fn cases() -> Vec<Case> {
    vec![
        case(
            "H-09",
            "XSW: signed eb:Messaging moved into a wrapper, a forged one added",
            "[AS4] §2.10; DESIGN §4",
            "EBMS:0101/0103; only the signed node set is used",
            h09,
        ),
        case(
            "H-10",
            "Duplicate wsu:Id values",
            "DESIGN §4",
            "refused",
            h10,
        ),
        case(
            "H-11",
            "Messaging, Body, Timestamp or the attachment not signed",
            "[AS4] §2.10",
            "EBMS:0103",
            h11,
        ),
        case(
            "H-12",
            "Attachments swapped, renamed or an extra unsigned one",
            "[AS4] §2.10",
            "EBMS:0101/0103/0007; never delivered",
            h12,
        ),
        case(
            "H-13",
            "Forbidden transforms (XSLT, XPath), remote RetrievalMethod",
            "DESIGN §4",
            "refused; nothing fetched",
            h13,
        ),
        case(
            "H-14",
            "Algorithm downgrade: rsa-sha1, SHA-1 digest, short HMAC",
            "[AS4] §2.2",
            "EBMS:0103",
            h14,
        ),
        case(
            "H-15",
            "Valid certificate of AP A, From PartyId of AP B",
            "[KOMP] 3.1.5",
            "EBMS:0101",
            h15,
        ),
        case(
            "H-16",
            "XHE signature reference or position wrapped",
            "[XHE] §3.2",
            "REJECTED SIG security; not decrypted",
            h16,
        ),
        case(
            "H-17",
            "XHE signed, then FromParty or CreationDateTime changed",
            "[TMU] §3.3.2",
            "REJECTED SIG security; not decrypted",
            h17,
        ),
        case(
            "H-18",
            "XHE signer ≠ the CertPub signing certificate of FromParty",
            "B1.3.3 row 12",
            "REJECTED SIG security",
            h18,
        ),
        case(
            "H-19",
            "The receipt we get back is unsigned or its signature does not verify",
            "[TMB] §2.14; T-AS4-09",
            "not delivered; retried per policy",
            h19,
        ),
    ]
}
