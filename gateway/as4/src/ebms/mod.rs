//! ebMS3 messaging headers (`eb:Messaging`): the [`model`], its serialisation ([`write`]) and
//! parsing ([`read`]), the error codes ([`error`]), and the P-Mode values of DIGG's profile
//! ([`pmode`]). Wire format only: no I/O, no cryptography.

pub mod error;
pub mod model;
pub mod pmode;
pub mod read;
pub mod write;

pub use error::{EbmsError, ErrorCode, NOT_SERVICED, Severity};
pub use model::{
    CollaborationInfo, MessageInfo, NrReference, PartInfo, Party, Property, Signal, SignalMessage,
    UserMessage, cid_to_content_id, cid_url,
};
pub use pmode::{Leg, PMode};
pub use read::{HeaderError, Messaging};

/// The ebMS 3.0 core namespace.
pub const EBMS_NS: &str = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/";
/// The ebBP signals namespace of `NonRepudiationInformation`.
pub const EBBP_NS: &str = "http://docs.oasis-open.org/ebxml-bp/ebbp-signals-2.0";

/// A new ebMS `MessageId`: RFC 2822 msg-id syntax without brackets, globally unique, well
/// below the 255 characters Domibus stores.
pub fn new_message_id() -> String {
    format!("{}@sdkgw", uuid::Uuid::new_v4())
}

#[cfg(test)]
mod tests {
    use super::pmode::UserMessageParams;
    use super::*;
    use crate::soap;
    use sdkgw_schemas::{ParticipantId, TransportModel};
    use sdkgw_xml_security::xml::{Document, ParseOptions};
    use time::macros::datetime;

    fn reparse(header: &str) -> Messaging {
        let env = soap::envelope(&[header], "b", "");
        let doc = Document::parse(env.into_bytes(), &ParseOptions::default()).unwrap();
        let parts = soap::locate(&doc).unwrap();
        read::messaging(doc.element(parts.messaging).unwrap()).unwrap()
    }

    fn sample() -> UserMessage {
        let from: ParticipantId = "0203:orga.test".parse().unwrap();
        let to: ParticipantId = "0203:orgb.test".parse().unwrap();
        PMode.user_message(&UserMessageParams {
            message_id: "m1@sdkgw",
            timestamp: datetime!(2026-01-02 03:04:05.678 UTC),
            from_ap: "AP0001-DEV",
            to_ap: "AP0002-DEV",
            leg: Leg::Message,
            model: TransportModel::ExtSigenc,
            conversation_id: "c0ffee00-0000-4000-8000-000000000000",
            original_sender: &from,
            final_recipient: &to,
            compressed: true,
        })
    }

    #[test]
    fn user_message_round_trips_through_xml() {
        let um = sample();
        let back = reparse(&write::user_message_header(&um, "_m1"));
        assert_eq!(back.user_messages, vec![um]);
        assert!(back.signal_messages.is_empty());
    }

    #[test]
    fn user_message_xml_has_the_profile_values() {
        let xml = write::user_message_header(&sample(), "_m1");
        for want in [
            r#"<eb:UserMessage mpc="http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/defaultMPC">"#,
            r#"<eb:PartyId type="urn:fdc:digg.se:edelivery:transportprofile:as4:partytype:ap">AP0001-DEV</eb:PartyId><eb:Role>http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/initiator</eb:Role>"#,
            r#"<eb:Role>http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/responder</eb:Role>"#,
            r#"<eb:Service type="urn:fdc:digg.se:edelivery:process">bdx:noprocess</eb:Service>"#,
            r#"<eb:Property name="originalSender" type="iso6523-actorid-upis">0203:orga.test</eb:Property>"#,
            r#"<eb:Property name="finalRecipient" type="iso6523-actorid-upis">0203:orgb.test</eb:Property>"#,
            r#"<eb:PartInfo href="cid:message"><eb:PartProperties><eb:Property name="MimeType">text/xml</eb:Property><eb:Property name="CompressionType">application/gzip</eb:Property></eb:PartProperties></eb:PartInfo>"#,
            "<eb:Timestamp>2026-01-02T03:04:05.678Z</eb:Timestamp>",
            r#"<eb:Messaging S12:mustUnderstand="true" wsu:Id="_m1">"#,
        ] {
            assert!(xml.contains(want), "missing {want}\nin {xml}");
        }
    }

    #[test]
    fn receipts_and_errors_round_trip() {
        let info = MessageInfo {
            timestamp: datetime!(2026-01-02 03:04:05 UTC),
            message_id: "s1@x".into(),
            ref_to_message_id: Some("m1@sdkgw".into()),
        };
        let receipt = SignalMessage {
            info: info.clone(),
            signal: Signal::Receipt(vec![NrReference {
                uri: "cid:message".into(),
                transforms: vec![(
                    "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Signature-Transform".into(),
                    None,
                )],
                digest_method: "http://www.w3.org/2001/04/xmlenc#sha256".into(),
                digest_value: vec![1, 2, 3],
            }, NrReference {
                uri: "#_m1".into(),
                transforms: vec![("http://www.w3.org/2001/10/xml-exc-c14n#".into(), Some("S12 eb".into()))],
                digest_method: "http://www.w3.org/2001/04/xmlenc#sha256".into(),
                digest_value: vec![4],
            }]),
        };
        let back = reparse(&write::signal_message_header(&receipt, Some("_s1")));
        assert_eq!(back.signal_messages, vec![receipt]);

        let error = SignalMessage {
            info,
            signal: Signal::Errors(vec![
                EbmsError::new(ErrorCode::Other, Some("m1@sdkgw"))
                    .with_detail(NOT_SERVICED)
                    .with_description("finalRecipient 0203:x is not served here"),
            ]),
        };
        let xml = write::signal_message_header(&error, None);
        assert!(xml.contains(r#"<eb:Error category="Content" errorCode="EBMS:0004" origin="ebMS" refToMessageInError="m1@sdkgw" severity="failure" shortDescription="Other">"#), "{xml}");
        assert!(xml.contains("<eb:ErrorDetail>NOT_SERVICED</eb:ErrorDetail>"));
        assert_eq!(reparse(&xml).signal_messages, vec![error]);
    }

    #[test]
    fn malformed_headers_are_header_errors() {
        let bad = [
            "<eb:Messaging/>",
            "<eb:Messaging><eb:Other/></eb:Messaging>",
            "<eb:Messaging><eb:SignalMessage><eb:MessageInfo><eb:Timestamp>x</eb:Timestamp><eb:MessageId>a</eb:MessageId></eb:MessageInfo><eb:Receipt/></eb:SignalMessage></eb:Messaging>",
            "<eb:Messaging><eb:SignalMessage><eb:MessageInfo><eb:Timestamp>2026-01-01T00:00:00Z</eb:Timestamp><eb:MessageId>a</eb:MessageId></eb:MessageInfo></eb:SignalMessage></eb:Messaging>",
        ];
        for b in bad {
            let env = soap::envelope(&[b], "b", "");
            let doc = Document::parse(env.into_bytes(), &ParseOptions::default()).unwrap();
            let parts = soap::locate(&doc).unwrap();
            assert!(
                read::messaging(doc.element(parts.messaging).unwrap()).is_err(),
                "{b}"
            );
        }
        let um = sample();
        let xml = write::user_message_header(&um, "_m").replace(
            "</eb:From>",
            "</eb:From><eb:From><eb:PartyId>x</eb:PartyId><eb:Role>r</eb:Role></eb:From>",
        );
        let env = soap::envelope(&[&xml], "b", "");
        let doc = Document::parse(env.into_bytes(), &ParseOptions::default()).unwrap();
        let parts = soap::locate(&doc).unwrap();
        assert!(
            read::messaging(doc.element(parts.messaging).unwrap()).is_err(),
            "two From"
        );
    }
}
