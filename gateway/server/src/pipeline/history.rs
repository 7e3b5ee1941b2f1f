//! The envelope layer's [`MessageHistory`] on the store: what this gateway knows about an XHE
//! id from earlier inbound deliveries (re-delivery vs. reused id, envelope digest §5 and
//! decision 18) and from its own failed outbound messages (replies to them, row 11).

use std::sync::Arc;

use sdkgw_as4::msh::handoff::XHE_CONTENT;
use sdkgw_envelope::message::{MessageHistory, Previous};
use sdkgw_store::{Direction, IdKind, MessageKey, MessageRecord, MessageState, Store};

use super::{RECEIPT_EVIDENCE, evidence, is_receipt, read_blob};

/// Largest receipt envelope read back (ours are a few KiB).
const MAX_RECEIPT: u64 = 1 << 20;

/// The history as seen by the inbound record `current` (which itself does not count, nor
/// does any record that arrived after it, so two copies never wait for each other).
pub(crate) struct StoreHistory {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) current: MessageRecord,
}

fn sha256_bytes(hex: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, chunk) in hex.as_bytes().chunks(2).take(32).enumerate() {
        let pair = std::str::from_utf8(chunk).unwrap_or("00");
        out[i] = u8::from_str_radix(pair, 16).unwrap_or(0);
    }
    out
}

/// Whether an inbound record was quarantined (refused without a receipt): such a delivery is
/// not "seen" — a copy is opened afresh.
fn quarantined(r: &MessageRecord) -> bool {
    r.state == MessageState::Rejected && r.correlation.receipt_id.is_none()
}

impl StoreHistory {
    fn earlier(&self, r: &MessageRecord) -> bool {
        (r.created_at, r.key) < (self.current.created_at, self.current.key)
    }

    fn inbound(&self, r: &MessageRecord) -> Option<Previous> {
        if r.key == self.current.key || !self.earlier(r) || is_receipt(r) || quarantined(r) {
            return None;
        }
        let receipt = evidence(r, RECEIPT_EVIDENCE)
            .and_then(|b| read_blob(self.store.as_ref(), b, MAX_RECEIPT).ok());
        Some(Previous {
            envelope_sha256: r
                .content(XHE_CONTENT)
                .map_or([0; 32], |b| sha256_bytes(&b.sha256)),
            rejected: r.state == MessageState::Rejected,
            receipt,
        })
    }

    /// Our own outbound message with this id, when it failed (a reply to it is refused).
    fn outbound(r: &MessageRecord) -> Option<Previous> {
        let failed = matches!(
            r.state,
            MessageState::Failed | MessageState::RecipientRejected | MessageState::DeadLettered
        );
        (failed && !is_receipt(r)).then_some(Previous {
            envelope_sha256: [0; 32],
            rejected: true,
            receipt: None,
        })
    }
}

impl MessageHistory for StoreHistory {
    fn previous(&self, message_id: &str) -> Option<Previous> {
        let keys: Vec<MessageKey> = match self.store.find_by_id(IdKind::XheId, message_id) {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(error = %e, "message history: store lookup failed");
                return None;
            }
        };
        let records: Vec<MessageRecord> = keys
            .iter()
            .filter_map(|k| self.store.get_message(k).ok().flatten())
            .collect();
        let mut inbound: Vec<&MessageRecord> = records
            .iter()
            .filter(|r| r.direction == Direction::Inbound)
            .collect();
        inbound.sort_by_key(|r| (r.created_at, r.key));
        inbound
            .into_iter()
            .find_map(|r| self.inbound(r))
            .or_else(|| {
                records
                    .iter()
                    .filter(|r| r.direction == Direction::Outbound)
                    .find_map(Self::outbound)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_becomes_bytes() {
        let hex = "00ff10".to_owned() + &"a".repeat(58);
        let b = sha256_bytes(&hex);
        assert_eq!(&b[..3], &[0x00, 0xff, 0x10]);
        assert_eq!(b[31], 0xaa);
    }
}
