//! What many cases share: the peer's messages to the target (built and sealed like a
//! conformant sender builds them), posting crafted variants, and the C-NOLEAK observation of
//! the in-process gateway (test-cases digest §3.2).

use std::sync::Arc;
use std::time::Duration;

use sdkgw_as4::ebms::Leg;
use sdkgw_schemas::{FunctionAddress, ParticipantId, TransportModel};
use sdkgw_store::{Direction, IdKind, MessageRecord, MessageState};
use time::OffsetDateTime;

use crate::harness::Ctx;
use sdkgw_certs::Certificate;
use sdkgw_envelope::xhe::Xhe;

use crate::messages::{self, O2oSigner, Parties};
use crate::peer::craft::{Addressing, Craft, Crafted};
use crate::peer::wire::WireReply;
use crate::verdict::{Checks, Outcome};

/// The Utökad Bas model (the one SDK uses) or Bas.
pub(crate) const UB: TransportModel = TransportModel::ExtSigenc;
pub(crate) const BAS: TransportModel = TransportModel::Base;

/// A fresh XHE / SDK message id.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

/// From the peer's participant to the target's.
pub(crate) fn peer_to_target(ctx: &Ctx) -> Parties {
    Parties {
        from: ctx.peer.participant().clone(),
        from_function: Some(ctx.peer_function()),
        to: ctx.target.participant.clone(),
        to_function: ctx.target.function_address.clone(),
    }
}

/// From the target's participant to `to` (the peer by default).
pub(crate) fn target_to(ctx: &Ctx, to: &ParticipantId, to_function: FunctionAddress) -> Parties {
    Parties {
        from: ctx.target.participant.clone(),
        from_function: Some(ctx.target.function_address.clone()),
        to: to.clone(),
        to_function,
    }
}

/// A message envelope from the peer to the target.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    pub(crate) id: String,
    pub(crate) model: TransportModel,
    pub(crate) bytes: Vec<u8>,
    pub(crate) parties: Parties,
}

/// The peer's O2O signer.
pub(crate) fn peer_signer(ctx: &Ctx) -> O2oSigner<'_> {
    O2oSigner {
        key: &ctx.peer.o2o_signing.1,
        cert: &ctx.peer.o2o_signing.0,
    }
}

/// The target's CertPub encryption certificate, which every Utökad Bas message to it is
/// encrypted for.
pub(crate) fn target_encryption(ctx: &Ctx) -> Result<&Certificate, String> {
    ctx.target
        .o2o_encryption
        .as_ref()
        .ok_or_else(|| "the target's CertPub encryption certificate is not configured".to_owned())
}

/// The XHE header of Utökad Bas message `id` between `parties`, for the target's function
/// address.
pub(crate) fn ub_header(ctx: &Ctx, parties: &Parties, id: &str) -> Xhe {
    messages::header(
        parties,
        id,
        UB,
        ctx.target.federation(),
        Some(ctx.target.function_address.clone()),
    )
}

/// Seals `payload` from the peer to the target under `model` (encrypted for the target's
/// CertPub encryption certificate and signed with the peer's O2O key under Utökad Bas).
pub(crate) fn seal_from_peer(
    ctx: &Ctx,
    payload: &str,
    id: &str,
    model: TransportModel,
    handling_service: Option<FunctionAddress>,
) -> Result<Vec<u8>, String> {
    let p = peer_to_target(ctx);
    let header = messages::header(&p, id, model, ctx.target.federation(), handling_service);
    if model == UB {
        let enc = target_encryption(ctx)?;
        messages::seal(payload, &header, Some(enc), Some(peer_signer(ctx)))
    } else {
        messages::seal(payload, &header, None, None)
    }
}

/// A valid SDK message from the peer (the minimal one), sealed.
pub(crate) fn valid_envelope(ctx: &Ctx, model: TransportModel) -> Result<Envelope, String> {
    let id = new_id();
    let parties = peer_to_target(ctx);
    let msg = messages::minimal(&parties, &id, OffsetDateTime::now_utc());
    let xml = msg.to_xml().map_err(|e| e.to_string())?;
    let bytes = seal_from_peer(
        ctx,
        &xml,
        &id,
        model,
        Some(ctx.target.function_address.clone()),
    )?;
    Ok(Envelope {
        id,
        model,
        bytes,
        parties,
    })
}

/// A conformant AS4 message from the peer's AP carrying `env`.
pub(crate) fn craft(ctx: &Ctx, env: &Envelope) -> Craft {
    Craft::new(
        &ctx.peer.identity,
        &ctx.target.ap_certificate,
        Addressing {
            xhe_id: env.id.clone(),
            original_sender: env.parties.from.clone(),
            final_recipient: env.parties.to.clone(),
            leg: Leg::Message,
            model: env.model,
        },
        env.bytes.clone(),
    )
}

/// Builds `c` in the run's scratch directory.
pub(crate) fn build(ctx: &Ctx, c: &Craft) -> Result<Crafted, String> {
    c.build(ctx.work.path())
}

/// POSTs a crafted message to the target with the peer's TLS client certificate.
pub(crate) async fn post(ctx: &Ctx, m: &Crafted) -> Result<WireReply, String> {
    let (ct, body) = m.multipart().await?;
    Ok(ctx
        .peer
        .wire
        .post(&ctx.target.as4_url, &ct, body, &ctx.target.ap_certificate)
        .await)
}

/// Records of the in-process gateway that came from AS4 message `as4_id`.
pub(crate) fn inbound_records(ctx: &Ctx, as4_id: &str) -> Vec<MessageRecord> {
    ctx.gut
        .as_ref()
        .map(|g| {
            g.records(IdKind::As4MessageId, as4_id)
                .into_iter()
                .filter(|r| r.direction == Direction::Inbound)
                .collect()
        })
        .unwrap_or_default()
}

/// C-NOLEAK for a refused AS4 message (in-process): nothing of it was stored — no record
/// with its AS4 MessageId or XHE id, so nothing can reach a mailbox — and the refusal is in
/// the audit trail since `mark`. Remote: not observable; noted.
pub(crate) async fn no_leak(
    ctx: &Ctx,
    c: &mut Checks,
    as4_id: &str,
    xhe_id: &str,
    mark: Option<u64>,
) {
    let Some(gut) = &ctx.gut else {
        c.note("C-NOLEAK (stored data, mailbox, log) is not observable on a remote target");
        return;
    };
    let by_as4 = gut.records(IdKind::As4MessageId, as4_id);
    let by_xhe: Vec<MessageRecord> = gut
        .records(IdKind::XheId, xhe_id)
        .into_iter()
        .filter(|r| r.direction == Direction::Inbound)
        .collect();
    c.check(
        by_as4.is_empty() && by_xhe.is_empty(),
        "C-NOLEAK: nothing stored for the refused message (no record, no mailbox entry)",
        format!("{} record(s)", by_as4.len() + by_xhe.len()),
    );
    if let Some(mark) = mark {
        // The MSH appends the audit event in the background after answering.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let is_ours = |e: &sdkgw_store::AuditEvent| {
            e.action == "as4.inbound.rejected"
                && e.detail
                    .get("as4_message_id")
                    .and_then(|v| v.as_str())
                    .is_none_or(|m| m == as4_id)
        };
        let mut events = gut.audit_since(mark);
        while !events.iter().any(is_ours) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            events = gut.audit_since(mark);
        }
        let found = events.iter().find(|e| is_ours(e));
        c.check(
            found.is_some_and(|e| e.detail.contains_key("error_code")),
            "the refusal is in the audit trail with its cause (as4.inbound.rejected, error_code)",
            found.map_or_else(
                || "no as4.inbound.rejected event".to_owned(),
                |e| {
                    format!(
                        "{} {}",
                        e.detail
                            .get("error_code")
                            .and_then(|v| v.as_str())
                            .unwrap_or("?"),
                        e.detail
                            .get("error_cause")
                            .and_then(|v| v.as_str())
                            .unwrap_or("")
                    )
                },
            ),
        );
    }
}

/// The in-process gateway's audit position, to find the events of one case.
pub(crate) fn mark(ctx: &Ctx) -> Option<u64> {
    ctx.gut.as_ref().map(|g| g.audit_mark())
}

/// Posts `m` and checks that the target refuses it with one of `codes` (severity failure),
/// or — when `tls_ok` — refuses the connection; then C-NOLEAK. The checks are prefixed with
/// `label` (one variant of a case).
pub(crate) async fn check_refusal(
    ctx: &Ctx,
    c: &mut Checks,
    label: &str,
    m: Result<Crafted, String>,
    xhe_id: &str,
    codes: &[&str],
    tls_ok: bool,
) {
    let m = match m {
        Ok(m) => m,
        Err(e) => {
            c.broken(format!("{label}: building the message: {e}"));
            return;
        }
    };
    let mark = mark(ctx);
    let reply = match post(ctx, &m).await {
        Ok(r) => r,
        Err(e) => {
            c.broken(format!("{label}: {e}"));
            return;
        }
    };
    let want = if tls_ok {
        format!(
            "{label}: ebMS error {} (failure) or a refused TLS handshake, no Receipt",
            codes.join("/")
        )
    } else {
        format!(
            "{label}: ebMS error {} (failure), no Receipt",
            codes.join("/")
        )
    };
    c.check(
        reply.is_refusal(codes, tls_ok) && !reply.is_verified_receipt(),
        want,
        reply.summary(),
    );
    let mark = if reply.status.is_some() { mark } else { None };
    no_leak(ctx, c, &m.message_id, xhe_id, mark).await;
}

/// Waits for the in-process gateway's outbound record `key` to settle (anything but
/// scheduled/sending), or `limit`.
pub(crate) async fn settle(
    ctx: &Ctx,
    key: &sdkgw_store::MessageKey,
    limit: Duration,
) -> Option<MessageRecord> {
    let gut = ctx.gut.as_ref()?;
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let rec = gut.record(key);
        let busy = rec.as_ref().is_some_and(|r| {
            matches!(
                r.state,
                MessageState::Accepted
                    | MessageState::Sealed
                    | MessageState::Scheduled
                    | MessageState::Sending
            )
        });
        if !busy || tokio::time::Instant::now() >= deadline {
            return rec;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A case body that needs the in-process gateway (its store, or queueing an outbound
/// message at its AP): on a remote target, needs-environment with `why`.
pub(crate) fn in_process_only(ctx: &Arc<Ctx>, why: &str) -> Option<Outcome> {
    if ctx.gut.is_some() {
        None
    } else {
        Some(Outcome::needs_environment(format!(
            "{why}: the remote target's sending side cannot be triggered or observed by the suite; \
             have its operator send to {} and compare",
            crate::pki::PEER
        )))
    }
}
