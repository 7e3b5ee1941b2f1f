//! DIGG's P-Mode (AS4 digest §3): the exact header values of both legs, from the code lists
//! in `sdkgw-schemas`, and the builder of a conformant UserMessage.
//!
//! Both legs share Service, security, MEP (one-way), binding (push), MPC and payload profile;
//! they differ only in `Action`: the SDK message (`MessageWithAttachments v3`) or the
//! Meddelandekvittens (UBL ApplicationResponse), each with its transport-model suffix.

use sdkgw_schemas::codelists::MessageType;
use sdkgw_schemas::{DocumentId, ParticipantId, TransportModel, codelists};
use time::OffsetDateTime;

use super::model::{CollaborationInfo, MessageInfo, PartInfo, Party, Property, UserMessage};

/// The two legs of DIGG's P-Mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Leg {
    /// The SDK message (`messageWithAttachment_v3` in DIGG's Domibus P-Mode).
    Message,
    /// The Meddelandekvittens (`messageReceipt`).
    Receipt,
}

impl Leg {
    fn message_type(self) -> MessageType {
        match self {
            Leg::Message => MessageType::SdkMessage,
            Leg::Receipt => MessageType::Receipt,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Leg::Message => "message",
            Leg::Receipt => "receipt",
        }
    }
}

/// The fixed values of the profile.
#[derive(Debug, Clone, Copy)]
pub struct PMode;

/// What varies per message.
#[derive(Debug, Clone)]
pub struct UserMessageParams<'a> {
    pub message_id: &'a str,
    pub timestamp: OffsetDateTime,
    /// Our AP party id (CN of our AP certificate).
    pub from_ap: &'a str,
    /// The receiving AP's party id (CN of its SMP certificate).
    pub to_ap: &'a str,
    pub leg: Leg,
    pub model: TransportModel,
    /// XHE `/Header/ID` (TP-2.7.a).
    pub conversation_id: &'a str,
    pub original_sender: &'a ParticipantId,
    pub final_recipient: &'a ParticipantId,
    /// Whether the payload is gzip-compressed (always, when we send).
    pub compressed: bool,
}

impl PMode {
    /// `urn:fdc:digg.se:edelivery:transportprofile:as4:partytype:ap`
    pub fn party_type(self) -> &'static str {
        &codelists().as4().party_type
    }
    pub fn initiator_role(self) -> &'static str {
        &codelists().as4().initiator_role
    }
    pub fn responder_role(self) -> &'static str {
        &codelists().as4().responder_role
    }
    /// The default MPC (also what an absent `mpc` attribute means).
    pub fn mpc(self) -> &'static str {
        &codelists().as4().mpc
    }
    /// `bdx:noprocess`
    pub fn service(self) -> &'static str {
        codelists().process().value()
    }
    /// `urn:fdc:digg.se:edelivery:process`
    pub fn service_type(self) -> &'static str {
        codelists().process().scheme()
    }
    pub fn original_sender_property(self) -> &'static str {
        &codelists().as4().original_sender_property
    }
    pub fn final_recipient_property(self) -> &'static str {
        &codelists().as4().final_recipient_property
    }
    /// `iso6523-actorid-upis`
    pub fn participant_property_type(self) -> &'static str {
        &codelists().as4().participant_property_type
    }
    /// `cid:message`
    pub fn payload_href(self) -> &'static str {
        &codelists().as4().payload_part
    }
    /// `text/xml`
    pub fn payload_mime_type(self) -> &'static str {
        &codelists().as4().payload_mime_type
    }
    /// `application/gzip`
    pub fn compression_type(self) -> &'static str {
        &codelists().as4().compression_type
    }

    /// The document id (= `Action` without its scheme) of `leg` under `model`.
    pub fn document(self, leg: Leg, model: TransportModel) -> &'static DocumentId {
        codelists().message_type(leg.message_type()).document(model)
    }

    /// The `Action` value: `busdox-docid-qns::<document id>`.
    pub fn action(self, leg: Leg, model: TransportModel) -> String {
        self.document(leg, model).qualified()
    }

    /// Which leg and transport model an `Action` is, if it is one of the four.
    pub fn leg_of_action(self, action: &str) -> Option<(Leg, TransportModel)> {
        let id = DocumentId::parse(action).ok()?;
        // The Action must carry the scheme (TP-2.3.1.c): a bare document id is not an Action.
        if id.qualified() != action {
            return None;
        }
        codelists()
            .classify_document(&id)
            .map(|(kind, model)| match kind {
                MessageType::SdkMessage => (Leg::Message, model),
                MessageType::Receipt => (Leg::Receipt, model),
            })
    }

    /// A UserMessage with exactly the profile's values (digest §3, §3.1).
    pub fn user_message(self, p: &UserMessageParams<'_>) -> UserMessage {
        let party = |id: &str, role: &str| Party {
            party_id: id.to_owned(),
            party_type: Some(self.party_type().to_owned()),
            role: role.to_owned(),
        };
        let mut part_properties = vec![Property::new("MimeType", self.payload_mime_type())];
        if p.compressed {
            part_properties.push(Property::new("CompressionType", self.compression_type()));
        }
        UserMessage {
            mpc: Some(self.mpc().to_owned()),
            info: MessageInfo {
                timestamp: p.timestamp,
                message_id: p.message_id.to_owned(),
                ref_to_message_id: None,
            },
            from: party(p.from_ap, self.initiator_role()),
            to: party(p.to_ap, self.responder_role()),
            collaboration: CollaborationInfo {
                agreement_ref: None,
                service: self.service().to_owned(),
                service_type: Some(self.service_type().to_owned()),
                action: self.action(p.leg, p.model),
                conversation_id: p.conversation_id.to_owned(),
            },
            properties: vec![
                Property::typed(
                    self.original_sender_property(),
                    p.original_sender.value(),
                    self.participant_property_type(),
                ),
                Property::typed(
                    self.final_recipient_property(),
                    p.final_recipient.value(),
                    self.participant_property_type(),
                ),
            ],
            parts: vec![PartInfo {
                href: Some(self.payload_href().to_owned()),
                properties: part_properties,
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_of_both_legs_are_digg_values_and_classify_back() {
        let pm = PMode;
        assert_eq!(
            pm.action(Leg::Message, TransportModel::ExtSigenc),
            "busdox-docid-qns::urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload##3.0::tm-base-ext-sigenc"
        );
        assert_eq!(
            pm.action(Leg::Receipt, TransportModel::ExtSigenc),
            "busdox-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2::ApplicationResponse##fdc:digg.se:edelivery:messagetype:response:1::2.1::tm-base-ext-sigenc"
        );
        for leg in [Leg::Message, Leg::Receipt] {
            for m in TransportModel::ALL {
                assert_eq!(pm.leg_of_action(&pm.action(leg, m)), Some((leg, m)));
            }
        }
        let bare = pm
            .document(Leg::Message, TransportModel::ExtSigenc)
            .value()
            .to_owned();
        assert_eq!(
            pm.leg_of_action(&bare),
            None,
            "an Action carries its scheme"
        );
        assert_eq!(pm.leg_of_action("busdox-docid-qns::other"), None);
    }

    #[test]
    fn fixed_values_are_the_profile_values() {
        let pm = PMode;
        assert_eq!(
            pm.party_type(),
            "urn:fdc:digg.se:edelivery:transportprofile:as4:partytype:ap"
        );
        assert_eq!(pm.service(), "bdx:noprocess");
        assert_eq!(pm.service_type(), "urn:fdc:digg.se:edelivery:process");
        assert_eq!(
            pm.mpc(),
            "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/defaultMPC"
        );
        assert_eq!(pm.payload_href(), "cid:message");
        assert_eq!(pm.payload_mime_type(), "text/xml");
        assert_eq!(pm.compression_type(), "application/gzip");
    }
}
