//! The inbound hand-off: what the MSH tells the pipeline once a message is durable (state
//! `received`, XHE stored as content role [`XHE_CONTENT`]) and its receipt is on its way.

use sdkgw_schemas::{ParticipantId, TransportModel};
use sdkgw_store::MessageKey;
use time::OffsetDateTime;

use crate::ebms::Leg;

/// Content role of the received XHE, byte-identical to what the sender's C1 produced.
pub const XHE_CONTENT: &str = "xhe";
/// Evidence kind of the received SOAP envelope (signed `eb:Messaging`, signature, sender BST).
pub const USER_MESSAGE_EVIDENCE: &str = "as4-user-message";
/// Evidence kind of the signed receipt (ours on inbound records, the peer's on outbound).
pub const RECEIPT_EVIDENCE: &str = "as4-receipt";
/// Evidence kind of an error signal received for an outbound message.
pub const ERROR_SIGNAL_EVIDENCE: &str = "as4-error-signal";

/// A message the MSH accepted and stored.
#[derive(Debug, Clone)]
pub struct InboundMessage {
    pub key: MessageKey,
    pub as4_message_id: String,
    /// The sending AP (From PartyId = CN of its certificate).
    pub from_ap: String,
    pub leg: Leg,
    pub model: TransportModel,
    pub original_sender: ParticipantId,
    pub final_recipient: ParticipantId,
    /// XHE `/Header/ID`.
    pub xhe_id: String,
    pub received_at: OffsetDateTime,
}

/// Receives accepted messages. Called on a blocking thread after the record is durable and
/// before the receipt is returned; it must not block (queue the key and return). A pipeline
/// that restarts finds every message it missed in state `received`.
pub trait InboundHandoff: Send + Sync + std::fmt::Debug {
    fn accepted(&self, message: &InboundMessage);
}

/// No listener: messages wait in state `received` for whoever polls the store.
#[derive(Debug, Default)]
pub struct StoreOnly;

impl InboundHandoff for StoreOnly {
    fn accepted(&self, _message: &InboundMessage) {}
}
