//! Meddelandekvittens both ways.
//!
//! **Ours** ([`queue_receipt`]): the receipt XHE becomes an outbound record of the receipt leg
//! whose AS4 MessageId is derived from the inbound record it answers
//! (`receipt-<key>@sdkgw`), so queueing it again after a crash finds the first one instead
//! of sending a second receipt. It needs no sealing (the envelope layer signed it); it goes
//! `accepted → sealed → scheduled` at once and, once the AS4 Receipt for it arrives,
//! `delivered → recipient-accepted` (nothing further is expected on the receipt leg).
//!
//! **Theirs** ([`apply`]): a verified receipt updates the outbound message whose XHE id its
//! `DocumentReference/ID` names (and whose recipient issued it): `delivered →
//! recipient-accepted | recipient-rejected`. It is never answered.

use std::path::Path;

use sdkgw_as4::ebms::Leg;
use sdkgw_as4::msh::delivery::{OUTGOING_CONTENT, PAYLOAD_CONTENT};
use sdkgw_as4::msh::handoff::XHE_CONTENT;
use sdkgw_as4::msh::prepare;
use sdkgw_envelope::open::InboundReceipt;
use sdkgw_envelope::receipt::LineResponse;
use sdkgw_schemas::codelists::ResponseCode;
use sdkgw_schemas::{FunctionAddress, ParticipantId};
use sdkgw_store::{
    Created, Direction, IdKind, MessageKey, MessageRecord, MessageState, NewMessage, Store,
    StoreError, Update,
};
use time::OffsetDateTime;

use super::{ACTOR, Ctx, RECEIPT_EVIDENCE, blob, is_receipt};
use crate::metrics::{Flow, LatencyStage};
use crate::notify::DeliveryFailed;

/// The AS4 MessageId of the receipt answering the inbound record `answered`.
pub fn receipt_message_id(answered: &MessageKey) -> String {
    format!("receipt-{answered}@sdkgw")
}

/// Why a receipt could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("the receipt cannot be sent: {0}")]
    Prepare(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Queues `envelope` (our signed receipt XHE) as the answer to the inbound record
/// `answered`, once: returns the outbound record (the existing one when already queued).
/// Blocking.
pub fn queue_receipt(
    store: &dyn Store,
    spool: &Path,
    federation: &str,
    answered: &MessageKey,
    envelope: &[u8],
    at: OffsetDateTime,
) -> Result<MessageKey, QueueError> {
    let message_id = receipt_message_id(answered);
    if let Some(key) = store
        .find_by_id(IdKind::As4MessageId, &message_id)?
        .into_iter()
        .next()
    {
        advance_to_scheduled(store, &key, at)?;
        return Ok(key);
    }
    let mut file = tempfile::Builder::new()
        .prefix("receipt-")
        .tempfile_in(spool)?;
    std::io::Write::write_all(&mut file, envelope)?;
    let (mut out, payload) = prepare(file.path(), Some(Leg::Receipt), federation, spool, at)
        .map_err(|e| QueueError::Prepare(e.to_string()))?;
    out.message_id = message_id;
    let json = serde_json::to_vec(&out).map_err(|e| QueueError::Prepare(e.to_string()))?;
    let mut new = NewMessage::new(Direction::Outbound, at, ACTOR);
    new.sender = Some(out.original_sender.clone());
    new.recipient = Some(out.final_recipient.clone());
    new.document_type = Some(out.action.clone());
    new.correlation.xhe_id = Some(out.xhe_id.clone());
    new.correlation.as4_message_id = Some(out.message_id.clone());
    new.correlation.conversation_id = Some(out.xhe_id.clone());
    new.content
        .push((XHE_CONTENT.into(), blob(store, envelope)?));
    new.content
        .push((PAYLOAD_CONTENT.into(), file_blob(store, &payload)?));
    new.content
        .push((OUTGOING_CONTENT.into(), blob(store, &json)?));
    let key = match store.create_message(new)? {
        Created::New(r) => r.key,
        Created::Duplicate { existing } => existing,
    };
    advance_to_scheduled(store, &key, at)?;
    Ok(key)
}

fn file_blob(store: &dyn Store, path: &Path) -> Result<sdkgw_store::StagedBlob, QueueError> {
    let mut w = store.blob_writer()?;
    std::io::copy(&mut std::fs::File::open(path)?, &mut w)?;
    Ok(w.finish()?)
}

/// Moves a prepared outbound record (content `as4-outgoing` present) on to `scheduled`:
/// finishes what a crash interrupted. Records past `sealed` are left alone.
pub(crate) fn advance_to_scheduled(
    store: &dyn Store,
    key: &MessageKey,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let steps = [
        (
            MessageState::Accepted,
            Update::to(MessageState::Sealed, at, ACTOR),
        ),
        (
            MessageState::Sealed,
            Update::to(MessageState::Scheduled, at, ACTOR).next_attempt(at),
        ),
    ];
    for (from, u) in steps {
        let Some(r) = store.get_message(key)? else {
            return Ok(());
        };
        if r.state != from {
            continue;
        }
        match store.update(key, u.expect(from)) {
            // Someone else (the sealer's recovery, a concurrent queueing) moved it on.
            Ok(_) | Err(StoreError::StateMismatch { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `SV structure at /path: text; BV not-found at /path: text`
pub fn describe_lines(lines: &[LineResponse]) -> String {
    let parts: Vec<String> = lines
        .iter()
        .map(|l| {
            let detail = l
                .status_reason_code
                .as_deref()
                .map(|d| format!(" {d}"))
                .unwrap_or_default();
            format!("{}{detail} at {}: {}", l.reason, l.line_id, l.status_reason)
        })
        .collect();
    parts.join("; ")
}

/// What applying a received receipt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The outbound message is now `recipient-accepted` / `recipient-rejected`.
    Settled { message: MessageKey, accepted: bool },
    /// The outbound message has not recorded its AS4 Receipt yet: try again shortly.
    NotYetDelivered(MessageKey),
    /// Nothing to update (unknown message, already settled, failed earlier); the reason.
    Ignored(String),
}

/// The outbound message `receipt` answers: our message (not a receipt) with that XHE id, to
/// the receipt's issuer.
fn answered_message(
    store: &dyn Store,
    receipt: &InboundReceipt,
) -> Result<Option<MessageRecord>, StoreError> {
    let issuer = receipt.header.from.value();
    let id = &receipt.receipt.document_reference;
    for key in store.find_by_id(IdKind::XheId, id)? {
        if let Some(r) = store.get_message(&key)?
            && r.direction == Direction::Outbound
            && !is_receipt(&r)
            && r.recipient.as_deref() == Some(issuer)
        {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

/// Applies a verified receipt (`envelope`: its XHE bytes, kept as evidence on the message).
pub(crate) fn apply(
    ctx: &Ctx,
    receipt: &InboundReceipt,
    envelope: &[u8],
    at: OffsetDateTime,
) -> Result<Applied, StoreError> {
    let store = ctx.store().as_ref();
    let Some(message) = answered_message(store, receipt)? else {
        return Ok(Applied::Ignored(format!(
            "no outbound message {} to {} (DocumentReference/ID)",
            receipt.receipt.document_reference, receipt.header.from
        )));
    };
    match message.state {
        MessageState::Delivered => {}
        MessageState::Accepted
        | MessageState::Sealed
        | MessageState::Scheduled
        | MessageState::Sending => return Ok(Applied::NotYetDelivered(message.key)),
        other => {
            return Ok(Applied::Ignored(format!(
                "outbound message {} is already {other}",
                message.key
            )));
        }
    }
    let accepted = receipt.receipt.response == ResponseCode::Accepted;
    let mut u = if accepted {
        Update::to(MessageState::RecipientAccepted, at, ACTOR).note("Message ACCEPTED by receiver")
    } else {
        Update::to(MessageState::RecipientRejected, at, ACTOR)
            .note("Message REJECTED by receiver")
            .error(describe_lines(&receipt.receipt.lines))
    };
    u = u
        .expect(MessageState::Delivered)
        .evidence(RECEIPT_EVIDENCE, blob(store, envelope)?);
    u.correlation.receipt_id = Some(receipt.header.id.clone());
    match store.update(&message.key, u) {
        Ok(_) => {}
        Err(StoreError::StateMismatch { .. }) => {
            return Ok(Applied::Ignored(format!(
                "outbound message {} changed state meanwhile",
                message.key
            )));
        }
        Err(e) => return Err(e),
    }
    settled_hooks(ctx, &message, receipt, accepted, at);
    Ok(Applied::Settled {
        message: message.key,
        accepted,
    })
}

fn settled_hooks(
    ctx: &Ctx,
    message: &MessageRecord,
    receipt: &InboundReceipt,
    accepted: bool,
    at: OffsetDateTime,
) {
    let reason = receipt.receipt.lines.first().map(|l| l.reason.code());
    if let Some(m) = &ctx.hooks.metrics {
        let code = match (accepted, reason) {
            (true, _) => "ACCEPTED".to_owned(),
            (false, Some(r)) => format!("REJECTED/{r}"),
            (false, None) => "REJECTED".to_owned(),
        };
        m.receipt(Flow::Received, &code);
        m.message(
            crate::metrics::Direction::Outbound,
            message_outcome(accepted),
        );
        let waited = at - message.created_at;
        m.delivery_latency(
            LatencyStage::Meddelandekvittens,
            waited.try_into().unwrap_or_default(),
        );
    }
    if !accepted {
        notify_failed(ctx, message, "MESSAGE_EXCHANGE_ERROR", reason, at);
    }
    ctx.changed();
}

fn message_outcome(accepted: bool) -> &'static str {
    if accepted {
        "recipient-accepted"
    } else {
        "recipient-rejected"
    }
}

/// Tells the sending mailbox that its message failed for good (no content, codes only).
pub(crate) fn notify_failed(
    ctx: &Ctx,
    message: &MessageRecord,
    status: &str,
    reason_code: Option<&str>,
    at: OffsetDateTime,
) {
    let Some(notifier) = &ctx.hooks.notifier else {
        return;
    };
    let (Some(mailbox), Some(recipient)) = (
        message
            .mailbox
            .as_deref()
            .and_then(|m| FunctionAddress::parse(m).ok()),
        message
            .recipient
            .as_deref()
            .and_then(|r| ParticipantId::parse(r).ok()),
    ) else {
        return;
    };
    let message_id = message.correlation.xhe_id.clone().unwrap_or_default();
    let event = DeliveryFailed {
        mailbox: &mailbox,
        message_key: message.key,
        message_id: &message_id,
        recipient: &recipient,
        status,
        reason_code,
        at,
    };
    if let Err(e) = notifier.delivery_failed(&event) {
        tracing::error!(key = %message.key, error = %e, "cannot queue the delivery-failed notification");
    }
}

/// The notification reason code of a failure text: its leading `EBMS:nnnn`, if any.
pub(crate) fn ebms_code(error: Option<&str>) -> Option<&str> {
    let e = error?;
    let code = e.split_whitespace().next()?;
    code.starts_with("EBMS:").then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sdkgw_schemas::codelists::{DetailCode, ReasonCode};

    #[test]
    fn receipt_lines_are_described_with_codes_path_and_text() {
        let lines = vec![
            LineResponse::new(
                "/tns:messagePayload",
                ReasonCode::Sv,
                DetailCode::Structure,
                "bad",
            ),
            LineResponse::new("NA", ReasonCode::Sig, DetailCode::Security, "sig"),
        ];
        let d = describe_lines(&lines);
        assert!(d.starts_with("SV structure at /tns:messagePayload: bad; SIG security at NA"));
    }

    #[test]
    fn only_a_leading_ebms_code_is_a_reason_code() {
        assert_eq!(
            ebms_code(Some("EBMS:0301 MissingReceipt: no receipt")),
            Some("EBMS:0301")
        );
        assert_eq!(ebms_code(Some("no receipt EBMS:0301")), None);
        assert_eq!(ebms_code(None), None);
    }
}
