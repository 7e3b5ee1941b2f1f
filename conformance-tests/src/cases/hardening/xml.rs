//! §4.1 XML parser attacks (H-01…H-08): in the SOAP envelope, the XHE and the decrypted
//! SDK payload.

use std::sync::Arc;

use super::*;
use crate::messages;

const ANY_FAILURE: &[&str] = &[
    "EBMS:0009",
    "EBMS:0007",
    "EBMS:0004",
    "EBMS:0101",
    "EBMS:0103",
    "EBMS:0010",
];

fn with_doctype(m: Crafted, dtd: &str) -> Result<Crafted, String> {
    m.replace("<S12:Envelope", &format!("{dtd}<S12:Envelope"))
}

async fn h01(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let before = ctx.traps.canary.count();
    let canary = ctx.traps.canary.url.replace("https://", "http://");
    refused_variant(
        &ctx,
        &mut c,
        "DOCTYPE with SYSTEM file:///etc/passwd",
        &["EBMS:0009"],
        |m| {
            with_doctype(
                m,
                "<!DOCTYPE S12:Envelope [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>",
            )
        },
    )
    .await;
    let dtd = format!("<!DOCTYPE S12:Envelope [<!ENTITY x SYSTEM \"{canary}\">]>");
    refused_variant(
        &ctx,
        &mut c,
        "DOCTYPE with SYSTEM http://canary",
        &["EBMS:0009"],
        |m| with_doctype(m, &dtd),
    )
    .await;
    let ext = format!("<!DOCTYPE S12:Envelope SYSTEM \"{canary}\">");
    refused_variant(&ctx, &mut c, "external DTD subset", &["EBMS:0009"], |m| {
        with_doctype(m, &ext)
    })
    .await;
    canary_untouched(&ctx, &mut c, before);
    c.outcome()
}

async fn h02(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let before = ctx.traps.canary.count();
    let canary = ctx.traps.canary.url.replace("https://", "http://");
    // In the XHE: a DOCTYPE in front of the envelope (it cannot be signed: our own tooling
    // refuses DTDs too, so it goes unsigned).
    let mut env = match valid_envelope(&ctx, UB) {
        Ok(e) => e,
        Err(e) => return Outcome::broken(e),
    };
    let text = String::from_utf8_lossy(&env.bytes).into_owned();
    let start = text.find("<x:XHE").unwrap_or(0);
    env.bytes = format!(
        "<!DOCTYPE x:XHE [<!ENTITY xxe SYSTEM \"{canary}\">]>{}",
        &text[start..]
    )
    .into_bytes();
    mt_silent(
        &ctx,
        &mut c,
        "XHE with an external entity (AP: conformance error)",
        Ok(env),
    )
    .await;
    // In the decrypted payload: an entity reference (a fragment cannot carry a DTD).
    let id = new_id();
    let parties = peer_to_target(&ctx);
    let payload = messages::minimal(&parties, &id, time::OffsetDateTime::now_utc())
        .to_xml()
        .map(|x| x.replacen("Minimal conformance message", "&xxe;", 1));
    let bytes = payload.map_err(|e| e.to_string()).and_then(|p| {
        let header = ub_header(&ctx, &parties, &id);
        let enc = target_encryption(&ctx)?;
        messages::seal_raw_plaintext(p.as_bytes(), &header, enc, peer_signer(&ctx))
    });
    mt_rejects(
        &ctx,
        &mut c,
        "entity reference in the decrypted payload (MT)",
        &id,
        bytes,
        "SV",
        "structure",
    )
    .await;
    canary_untouched(&ctx, &mut c, before);
    c.outcome()
}

async fn h03(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let lol = "<!DOCTYPE S12:Envelope [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\"><!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\"><!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\"><!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\"><!ENTITY h \"&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;\"><!ENTITY i \"&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;\">]>";
    let started = std::time::Instant::now();
    refused_variant(
        &ctx,
        &mut c,
        "billion laughs (10^9 expansions)",
        ANY_FAILURE,
        |m| {
            let m = with_doctype(m, lol)?;
            m.replace("<eb:MessageId>", "<eb:MessageId>&i;")
        },
    )
    .await;
    c.note(format!("answered in {} ms", started.elapsed().as_millis()));
    still_serving(&ctx, &mut c).await;
    c.outcome()
}

async fn h04(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let big = "x".repeat(10 * 1024 * 1024);
    refused_variant(&ctx, &mut c, "a 10 MB attribute value", ANY_FAILURE, |m| {
        m.replace(
            "<eb:MessageInfo>",
            &format!("<eb:MessageInfo big=\"{big}\">"),
        )
    })
    .await;
    let attrs: String = (0..100_000).map(|i| format!(" a{i}=\"1\"")).collect();
    refused_variant(
        &ctx,
        &mut c,
        "100,000 attributes on one element",
        ANY_FAILURE,
        |m| m.replace("<eb:MessageInfo>", &format!("<eb:MessageInfo{attrs}>")),
    )
    .await;
    let decls: String = (0..200_000)
        .map(|i| format!(" xmlns:n{i}=\"urn:n{i}\""))
        .collect();
    refused_variant(
        &ctx,
        &mut c,
        "200,000 namespace declarations",
        ANY_FAILURE,
        |m| m.replace("<eb:MessageInfo>", &format!("<eb:MessageInfo{decls}>")),
    )
    .await;
    still_serving(&ctx, &mut c).await;
    c.outcome()
}

async fn h05(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let depth = 100_000;
    let open = "<x:d xmlns:x=\"urn:x\">".repeat(depth);
    let close = "</x:d>".repeat(depth);
    refused_variant(
        &ctx,
        &mut c,
        "100,000 nested elements in a SOAP header block",
        ANY_FAILURE,
        |m| m.replace("<wsse:Security", &format!("{open}{close}<wsse:Security")),
    )
    .await;
    // The same depth in the XHE: no stack overflow in the receiver's parser or C14N.
    let mut env = match valid_envelope(&ctx, UB) {
        Ok(e) => e,
        Err(e) => return Outcome::broken(e),
    };
    let text = String::from_utf8_lossy(&env.bytes).into_owned();
    env.bytes = text
        .replacen("</xha:Header>", &format!("{open}{close}</xha:Header>"), 1)
        .into_bytes();
    mt_silent(&ctx, &mut c, "100,000 nested elements in the XHE", Ok(env)).await;
    still_serving(&ctx, &mut c).await;
    c.outcome()
}

async fn h06(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    let before = ctx.traps.canary.count();
    let canary = ctx.traps.canary.url.replace("https://", "http://");
    for (label, insert) in [
        (
            "xml-stylesheet processing instruction",
            format!("<?xml-stylesheet type=\"text/xsl\" href=\"{canary}\"?>"),
        ),
        (
            "XInclude",
            format!("<xi:include xmlns:xi=\"http://www.w3.org/2001/XInclude\" href=\"{canary}\"/>"),
        ),
        (
            "xsi:schemaLocation",
            format!(
                "<x:h xmlns:x=\"urn:x\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"urn:x {canary}\"/>"
            ),
        ),
    ] {
        let built = conformant(&ctx).and_then(|(_, m)| {
            if label.starts_with("xml-stylesheet") {
                m.replace("<S12:Envelope", &format!("{insert}<S12:Envelope"))
            } else {
                m.replace("<wsse:Security", &format!("{insert}<wsse:Security"))
            }
        });
        match built {
            Ok(m) => match post(&ctx, &m).await {
                Ok(r) => {
                    c.check(
                        r.status.is_some(),
                        format!(
                            "{label}: answered (accepted or refused) without fetching anything"
                        ),
                        r.summary(),
                    );
                }
                Err(e) => c.broken(e),
            },
            Err(e) => c.broken(e),
        }
    }
    // Give a background fetch time to show.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    canary_untouched(&ctx, &mut c, before);
    c.outcome()
}

async fn h07(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    refused_variant(
        &ctx,
        &mut c,
        "UTF-16 declaration on a UTF-8 body",
        ANY_FAILURE,
        |m| {
            m.replace(
                "<S12:Envelope",
                "<?xml version=\"1.0\" encoding=\"UTF-16\"?><S12:Envelope",
            )
        },
    )
    .await;
    for (label, bytes) in [
        ("invalid UTF-8 (0xFF) in a header value", vec![0xFFu8]),
        ("an overlong UTF-8 encoding (0xC0 0xAF)", vec![0xC0, 0xAF]),
        ("a NUL byte in a header value", vec![0x00]),
    ] {
        let built = conformant(&ctx).and_then(|(env, mut m)| {
            let at = m.envelope.find("</eb:MessageId>").ok_or("no MessageId")?;
            let mut raw = m.envelope.clone().into_bytes();
            raw.splice(at..at, bytes.iter().copied());
            // The crafted type holds text; carry the raw bytes as Latin-1-free replacement.
            m.envelope = String::from_utf8_lossy(&raw).into_owned();
            Ok((env, m, raw))
        });
        match built {
            Ok((env, m, raw)) => {
                let posted = post_raw(&ctx, &m, raw).await;
                match posted {
                    Ok(r) => {
                        c.check(
                            r.is_refusal(ANY_FAILURE, false) && !r.is_verified_receipt(),
                            format!("{label}: refused"),
                            r.summary(),
                        );
                        no_leak(&ctx, &mut c, &m.message_id, &env.id, None).await;
                    }
                    Err(e) => c.broken(e),
                }
            }
            Err(e) => c.broken(format!("{label}: {e}")),
        }
    }
    refused_variant(&ctx, &mut c, "a UTF-32 byte order mark", ANY_FAILURE, |m| {
        m.replace("<S12:Envelope", "\u{feff}\u{feff}<S12:Envelope")
    })
    .await;
    still_serving(&ctx, &mut c).await;
    c.outcome()
}

/// Posts `m` with its root part replaced by `root` bytes (for input that is not UTF-8).
async fn post_raw(
    ctx: &Ctx,
    m: &Crafted,
    root: Vec<u8>,
) -> Result<crate::peer::wire::WireReply, String> {
    let (ct, body) = m.multipart().await?;
    // The root part is the first part: swap its bytes (same boundary, same headers).
    let text_root = m.envelope.as_bytes();
    let at = find(&body, text_root).ok_or("root part not found in the body")?;
    let mut out = body[..at].to_vec();
    out.extend_from_slice(&root);
    out.extend_from_slice(&body[at + text_root.len()..]);
    Ok(ctx
        .peer
        .wire
        .post(&ctx.target.as4_url, &ct, out, &ctx.target.ap_certificate)
        .await)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn h08(ctx: Arc<Ctx>) -> Outcome {
    let mut c = Checks::new();
    // Exclusive C14N without comments drops comments, so the signature still verifies; it
    // keeps processing instructions (C14N 1.0 §2.3), so a PI added after signing breaks it.
    match conformant(&ctx).and_then(|(_, m)| {
        m.replace(
            "<eb:MessageInfo>",
            "<eb:MessageInfo><!-- inserted after signing -->",
        )
    }) {
        Ok(m) => match post(&ctx, &m).await {
            Ok(r) => {
                c.check(
                    r.is_verified_receipt(),
                    "a comment inside the signed eb:Messaging: accepted (C14N drops comments)",
                    r.summary(),
                );
            }
            Err(e) => c.broken(e),
        },
        Err(e) => c.broken(e),
    }
    refused_variant(
        &ctx,
        &mut c,
        "a processing instruction inside the signed eb:Messaging (C14N keeps PIs)",
        &["EBMS:0101", "EBMS:0103"],
        |m| {
            m.replace(
                "<eb:MessageInfo>",
                "<eb:MessageInfo><?inserted after-signing?>",
            )
        },
    )
    .await;
    refused_variant(
        &ctx,
        &mut c,
        "whitespace added inside the signed MessageId",
        &["EBMS:0101", "EBMS:0103"],
        |m| m.replace("<eb:MessageId>", "<eb:MessageId> "),
    )
    .await;
    refused_variant(&ctx, &mut c, "eb:Messaging's prefix rewritten (same namespace)", &["EBMS:0101", "EBMS:0103", "EBMS:0009"], |m| {
        let (s, e) = m.span("<eb:Messaging", "</eb:Messaging>")?;
        let block = m.envelope[s..e]
            .replace("<eb:", "<ebx:")
            .replace("</eb:", "</ebx:")
            .replacen("<ebx:Messaging", "<ebx:Messaging xmlns:ebx=\"http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/\"", 1);
        let mut m = m.clone();
        m.envelope = format!("{}{}{}", &m.envelope[..s], block, &m.envelope[e..]);
        Ok(m)
    })
    .await;
    c.outcome()
}

pub(super) fn cases() -> Vec<Case> {
    vec![
        case(
            "H-01",
            "DOCTYPE with external entities in the SOAP envelope",
            "[AS4] §4.2",
            "any DTD refused (EBMS:0009); the canary URL never fetched",
            h01,
        ),
        case(
            "H-02",
            "XXE in the XHE and in the decrypted SDK payload",
            "[XHE]; B1.3.3 row 2",
            "XHE: no receipt, not delivered; payload: REJECTED SV structure; nothing resolved",
            h02,
        ),
        case(
            "H-03",
            "Billion laughs",
            "DESIGN §4",
            "refused at once; the gateway keeps serving",
            h03,
        ),
        case(
            "H-04",
            "Quadratic blow-up: a 10 MB attribute, 100k attributes, 200k namespace declarations",
            "DESIGN §4",
            "limits enforced (refused); the gateway keeps serving",
            h04,
        ),
        case(
            "H-05",
            "100k nested elements",
            "DESIGN §4",
            "no stack overflow: refused, the gateway keeps serving",
            h05,
        ),
        case(
            "H-06",
            "xml-stylesheet, XInclude, xsi:schemaLocation pointing to a remote URL",
            "DESIGN §4",
            "never fetched",
            h06,
        ),
        case(
            "H-07",
            "Encoding tricks: UTF-16 declaration, invalid and overlong UTF-8, NUL, BOMs",
            "DESIGN §4",
            "refused consistently",
            h07,
        ),
        case(
            "H-08",
            "Comments/PIs inside signed content; whitespace and prefix rewrites",
            "[AS4] §2.2 (exclusive C14N)",
            "C14N correct: comments do not break the signature; PIs, whitespace and prefix changes do",
            h08,
        ),
    ]
}
