//! The hardening corpus (test-cases digest §4, H-01…H-66): hostile and broken input the
//! gateway must survive — refused with the right code, nothing stored or delivered, nothing
//! fetched, the gateway still serving afterwards.

mod addressing;
mod crypto;
mod operations;
mod replay;
mod signature;
mod transport;
mod trust;
mod xml;

use std::sync::Arc;
use std::time::Duration;

use super::common::*;
use super::testdata::{Want, check_answer};
use crate::catalog::{Case, Group};
use crate::harness::Ctx;
use crate::peer::craft::Crafted;
use crate::verdict::{Checks, Outcome};

/// All hardening cases, in id order.
pub(crate) fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(xml::cases());
    v.extend(signature::cases());
    v.extend(crypto::cases());
    v.extend(trust::cases());
    v.extend(addressing::cases());
    v.extend(replay::cases());
    v.extend(transport::cases());
    v.extend(operations::cases());
    v.sort_by_key(|c| {
        c.id.trim_start_matches("H-")
            .parse::<u32>()
            .unwrap_or(u32::MAX)
    });
    v
}

/// A hardening case.
fn case<F, Fut>(id: &str, title: &str, source: &str, expected: &str, run: F) -> Case
where
    F: Fn(Arc<Ctx>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Outcome> + Send + 'static,
{
    Case::new(
        id,
        Group::Hardening,
        title,
        format!("test-cases digest §4 {id}; {source}"),
        expected,
        run,
    )
}

/// A conformant message from the peer, built (the control of every hostile variant).
fn conformant(ctx: &Ctx) -> Result<(Envelope, Crafted), String> {
    let env = valid_envelope(ctx, UB)?;
    let m = build(ctx, &craft(ctx, &env))?;
    Ok((env, m))
}

/// One AS4 variant: a fresh conformant message, changed by `mutate`, must be refused with
/// one of `codes` (or, with `tls_ok`, at the TLS handshake); C-NOLEAK.
async fn refused_variant(
    ctx: &Ctx,
    c: &mut Checks,
    label: &str,
    codes: &[&str],
    mutate: impl FnOnce(Crafted) -> Result<Crafted, String>,
) {
    let built = conformant(ctx).and_then(|(env, m)| mutate(m).map(|m| (env, m)));
    match built {
        Ok((env, m)) => check_refusal(ctx, c, label, Ok(m), &env.id, codes, false).await,
        Err(e) => c.broken(format!("{label}: {e}")),
    }
}

/// After hostile input: a conformant message still gets its Receipt.
async fn still_serving(ctx: &Ctx, c: &mut Checks) {
    match conformant(ctx) {
        Ok((_, m)) => match post(ctx, &m).await {
            Ok(r) => {
                c.check(
                    r.is_verified_receipt(),
                    "the gateway still serves: a conformant message afterwards gets its Receipt",
                    r.summary(),
                );
            }
            Err(e) => c.broken(e),
        },
        Err(e) => c.broken(e),
    }
}

/// The canary URL was never contacted since `before`.
fn canary_untouched(ctx: &Ctx, c: &mut Checks, before: usize) {
    let n = ctx.traps.canary.count() - before;
    c.check(
        n == 0,
        format!(
            "nothing fetched from the canary URL {}",
            ctx.traps.canary.url
        ),
        format!("{n} connection(s)"),
    );
}

/// An envelope from the peer with `id` and `bytes` whose payload the target's message
/// service must reject with `reason`/`detail`.
async fn mt_rejects(
    ctx: &Ctx,
    c: &mut Checks,
    label: &str,
    id: &str,
    bytes: Result<Vec<u8>, String>,
    reason: &'static str,
    detail: &'static str,
) {
    match bytes {
        Ok(b) => {
            check_answer(
                ctx,
                c,
                label,
                id,
                &b,
                Want::Rejected {
                    reason,
                    detail,
                    line_id: "",
                },
            )
            .await;
        }
        Err(e) => c.broken(format!("{label}: building: {e}")),
    }
}

/// An envelope the target must neither deliver nor answer with a Meddelandekvittens
/// (envelope errors, undecryptable payloads): either AS4 reaction is allowed.
async fn mt_silent(ctx: &Ctx, c: &mut Checks, label: &str, env: Result<Envelope, String>) {
    let env = match env {
        Ok(e) => e,
        Err(e) => {
            c.broken(format!("{label}: building: {e}"));
            return;
        }
    };
    let reply = match build(ctx, &craft(ctx, &env)) {
        Ok(m) => post(ctx, &m).await,
        Err(e) => Err(e),
    };
    match reply {
        Ok(r) => c.note(format!("{label}: AS4 reaction: {}", r.summary())),
        Err(e) => {
            c.broken(format!("{label}: {e}"));
            return;
        }
    }
    let wanted = env.id.clone();
    let receipts = ctx
        .peer
        .log
        .wait_for(
            Duration::from_secs(3),
            move |e| e.is_receipt_for(&wanted),
            1,
        )
        .await;
    c.check(
        receipts.is_empty(),
        format!("{label}: no Meddelandekvittens"),
        format!("{} received", receipts.len()),
    );
    if let Some(gut) = &ctx.gut {
        let recs = gut
            .wait_records(
                sdkgw_store::IdKind::XheId,
                &env.id,
                ctx.options.answer_wait,
                |rs| {
                    rs.iter()
                        .all(|r| r.state == sdkgw_store::MessageState::Rejected)
                },
            )
            .await;
        c.check(
            recs.iter()
                .all(|r| r.state == sdkgw_store::MessageState::Rejected),
            format!("{label}: not delivered to a mailbox (quarantined)"),
            format!(
                "{:?}",
                recs.iter()
                    .map(|r| (r.state, r.last_error.clone().unwrap_or_default()))
                    .collect::<Vec<_>>()
            ),
        );
    }
}
