//! The SDK test data (test-cases digest §1.3, §3.3 "SDK test data"): DIGG's `felhantering`
//! files, each wrapped by the peer in a valid, signed and encrypted Utökad Bas envelope, and
//! the Meddelandekvittens the target's message service must answer with (B1.3.3 §5.3).
//! `max.xml` and `TF2.4.8.xml` are empty in DIGG's snapshot: `max` is our own maximal message,
//! `TF2.4.8` is sent as the empty payload it is.

use std::sync::Arc;

use super::common::*;
use crate::catalog::{Case, Group};
use crate::harness::Ctx;
use crate::messages;
use crate::peer::{Opening, PeerInbound};
use crate::verdict::{Checks, Outcome};

/// What the receipt must say: ACCEPTED, or REJECTED with lines of `(reason, detail)` where
/// some line's LineID contains `line_id`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Want {
    Accepted,
    Rejected {
        reason: &'static str,
        detail: &'static str,
        line_id: &'static str,
    },
}

/// Sends `bytes` (an envelope from the peer with XHE id `id`) and checks the
/// Meddelandekvittens against `want`.
pub(crate) async fn check_answer(
    ctx: &Ctx,
    c: &mut Checks,
    label: &str,
    id: &str,
    bytes: &[u8],
    want: Want,
) -> Option<PeerInbound> {
    let sent = match ctx.peer.send_xhe(bytes, &ctx.target).await {
        Ok(s) => s,
        Err(e) => {
            c.broken(format!("{label}: sending: {e}"));
            return None;
        }
    };
    c.check(
        sent.delivered(),
        format!("{label}: signed AS4 Receipt (the envelope itself is valid)"),
        sent.summary(),
    );
    let wanted = id.to_owned();
    let got = ctx
        .peer
        .log
        .wait_for(
            ctx.options.answer_wait,
            move |e| e.is_receipt_for(&wanted),
            1,
        )
        .await
        .into_iter()
        .next();
    let Some(got) = got else {
        c.check(
            false,
            format!("{label}: a Meddelandekvittens"),
            "none received",
        );
        return None;
    };
    match (&got.opening, want) {
        (
            Opening::Receipt {
                response, lines, ..
            },
            Want::Accepted,
        ) => {
            c.check(
                response == "ACCEPTED" && lines.is_empty(),
                format!("{label}: ACCEPTED without LineResponse (R7-APP)"),
                format!("{response} {lines:?}"),
            );
        }
        (
            Opening::Receipt {
                response, lines, ..
            },
            Want::Rejected {
                reason,
                detail,
                line_id,
            },
        ) => {
            let hit = lines.iter().any(|(r, d, l)| {
                r == reason && d.as_deref() == Some(detail) && l.contains(line_id)
            });
            let paths_ok = lines
                .iter()
                .all(|(_, _, l)| l == "NA" || l.starts_with('/'));
            c.check(
                response == "REJECTED" && hit,
                format!("{label}: REJECTED {reason} {detail}, LineID → {line_id}"),
                format!("{response} {lines:?}"),
            );
            c.check(
                paths_ok,
                format!("{label}: every LineID is an XPath or NA ([KV] §3.1[g])"),
                format!("{:?}", lines.iter().map(|l| &l.2).collect::<Vec<_>>()),
            );
        }
        (other, _) => {
            c.check(
                false,
                format!("{label}: a valid Meddelandekvittens"),
                format!("{other:?}"),
            );
        }
    }
    Some(got)
}

/// Runs one DIGG test data file.
async fn file_case(ctx: Arc<Ctx>, name: &'static str, want: Want) -> Outcome {
    let Some(shared) = ctx.options.shared_dir.clone() else {
        return Outcome::needs_environment(
            "DIGG's reference material (../shared/sdk-reference) is not present: pass --shared DIR",
        );
    };
    let id = new_id();
    let parties = peer_to_target(&ctx);
    let payload = match messages::testdata(&shared, name, &parties, &id) {
        Ok(Some(p)) => p,
        Ok(None) => {
            return Outcome::needs_environment(format!(
                "{} is not in {}",
                name,
                messages::testdata_dir(&shared).display()
            ));
        }
        Err(e) => return Outcome::broken(e),
    };
    let Some(enc) = ctx.target.o2o_encryption.clone() else {
        return Outcome::needs_environment(
            "the target's CertPub encryption certificate is not configured",
        );
    };
    let header = ub_header(&ctx, &parties, &id);
    let bytes = match messages::seal_mutated(
        &payload,
        &header,
        Some(&enc),
        Some(peer_signer(&ctx)),
        &|s| s,
    ) {
        Ok(b) => b,
        Err(e) => return Outcome::broken(e),
    };
    let mut c = Checks::new();
    c.note(format!(
        "{name} with the run's parties and a fresh messageId put in (the defect under test unchanged)"
    ));
    check_answer(&ctx, &mut c, name, &id, &bytes, want).await;
    c.outcome()
}

async fn empty_payload(ctx: Arc<Ctx>) -> Outcome {
    let Some(enc) = ctx.target.o2o_encryption.clone() else {
        return Outcome::needs_environment(
            "the target's CertPub encryption certificate is not configured",
        );
    };
    let id = new_id();
    let parties = peer_to_target(&ctx);
    let header = ub_header(&ctx, &parties, &id);
    let bytes = match messages::seal_raw_plaintext(b"", &header, &enc, peer_signer(&ctx)) {
        Ok(b) => b,
        Err(e) => return Outcome::broken(e),
    };
    let mut c = Checks::new();
    c.note("DIGG's TF2.4.8.xml is 0 bytes: sent as an empty (encrypted, signed) payload; product decision: a verified sender's corrupt payload gets REJECTED SV structure, LineID NA");
    check_answer(
        &ctx,
        &mut c,
        "TF2.4.8 (empty)",
        &id,
        &bytes,
        Want::Rejected {
            reason: "SV",
            detail: "structure",
            line_id: "NA",
        },
    )
    .await;
    c.outcome()
}

async fn max(ctx: Arc<Ctx>) -> Outcome {
    let Some(enc) = ctx.target.o2o_encryption.clone() else {
        return Outcome::needs_environment(
            "the target's CertPub encryption certificate is not configured",
        );
    };
    let id = new_id();
    let parties = peer_to_target(&ctx);
    let payload = match messages::maximal(&parties, &id, time::OffsetDateTime::now_utc()).to_xml() {
        Ok(p) => p,
        Err(e) => return Outcome::broken(e),
    };
    let header = ub_header(&ctx, &parties, &id);
    let bytes = match messages::seal_mutated(
        &payload,
        &header,
        Some(&enc),
        Some(peer_signer(&ctx)),
        &|s| s,
    ) {
        Ok(b) => b,
        Err(e) => return Outcome::broken(e),
    };
    let mut c = Checks::new();
    c.note("DIGG's max.xml is 0 bytes: our maximal message (every optional element, 256-character labels, two documents, ContentFiles and ContentText, refToMessageId unknown to the receiver, extensions)");
    check_answer(&ctx, &mut c, "max", &id, &bytes, Want::Accepted).await;
    c.outcome()
}

pub(crate) fn cases() -> Vec<Case> {
    let src =
        |f: &str| format!("SDK test data `felhantering/{f}`; B1.3.3 §5.3; test-cases digest §1.3");
    vec![
        Case::new(
            "TD-MIN",
            Group::TestData,
            "min.xml: a valid SDK message",
            src("min.xml"),
            "ACCEPTED, no LineResponse",
            |ctx| file_case(ctx, "min.xml", Want::Accepted),
        ),
        Case::new(
            "TD-MAX",
            Group::TestData,
            "max: every optional element (our own; DIGG's max.xml is empty)",
            src("max.xml"),
            "ACCEPTED, no LineResponse",
            max,
        ),
        Case::new(
            "TD-TF2.4.1",
            Group::TestData,
            "TF2.4.1.xml: creationDateTime '3 Sept. 2019' (not xs:dateTime)",
            src("TF2.4.1.xml"),
            "REJECTED, SV structure, LineID → creationDateTime",
            |ctx| {
                file_case(
                    ctx,
                    "TF2.4.1.xml",
                    Want::Rejected {
                        reason: "SV",
                        detail: "structure",
                        line_id: "creationDateTime",
                    },
                )
            },
        ),
        Case::new(
            "TD-TF2.4.2",
            Group::TestData,
            "TF2.4.2.xml: senderID root 'icke-godkänt-kodverk'",
            src("TF2.4.2.xml"),
            "REJECTED, BV invariant, LineID → senderID/root",
            |ctx| {
                file_case(
                    ctx,
                    "TF2.4.2.xml",
                    Want::Rejected {
                        reason: "BV",
                        detail: "invariant",
                        line_id: "senderID",
                    },
                )
            },
        ),
        Case::new(
            "TD-TF2.4.8",
            Group::TestData,
            "TF2.4.8.xml: an empty payload (DIGG's file is 0 bytes)",
            src("TF2.4.8.xml"),
            "REJECTED, SV structure, LineID NA (a verified sender's corrupt payload; envelope digest decision 5)",
            empty_payload,
        ),
    ]
}
