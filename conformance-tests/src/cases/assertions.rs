//! The common assertion sets of the test-cases digest §3.2: C-OUT (the target's outgoing
//! UserMessage, as the peer received it) and C-AR (a Meddelandekvittens the target sent).

use sdkgw_as4::ebms::{Leg, PMode, read};
use sdkgw_as4::soap;
use sdkgw_as4::wss::seal::soap_parse_options;
use sdkgw_schemas::TransportModel;
use sdkgw_xml_security::xml::Document;

use crate::harness::Ctx;
use crate::peer::{Opening, PeerInbound};
use crate::verdict::Checks;

/// C-OUT: every header value of the profile, and the WS-Security algorithms, of a message
/// the target sent to the peer. `xhe_id`, `leg` and `model` are those of the message sent.
pub(crate) fn c_out(ctx: &Ctx, c: &mut Checks, got: &PeerInbound, leg: Leg, model: TransportModel) {
    let opts = soap_parse_options();
    let doc = match Document::parse_slice(&got.user_message, &opts) {
        Ok(d) => d,
        Err(e) => {
            c.broken(format!(
                "C-OUT: the received SOAP envelope does not parse: {e}"
            ));
            return;
        }
    };
    let um = soap::locate(&doc)
        .map_err(|e| e.to_string())
        .and_then(|p| {
            doc.element(p.messaging)
                .ok_or_else(|| "no eb:Messaging".to_owned())
                .and_then(|m| read::messaging(m).map_err(|e| e.to_string()))
        })
        .and_then(|m| {
            m.user_messages
                .into_iter()
                .next()
                .ok_or_else(|| "no eb:UserMessage".to_owned())
        });
    let um = match um {
        Ok(u) => u,
        Err(e) => {
            c.broken(format!("C-OUT: {e}"));
            return;
        }
    };
    let p = PMode;
    let col = &um.collaboration;
    c.check(
        col.service == p.service() && col.service_type.as_deref() == Some(p.service_type()),
        "C-OUT: Service bdx:noprocess, type urn:fdc:digg.se:edelivery:process",
        format!("{} (type {:?})", col.service, col.service_type),
    );
    c.check(
        col.action == p.action(leg, model),
        "C-OUT: Action = busdox-docid-qns::<XHE DOCUMENTID>",
        &col.action,
    );
    let party_ok = |party: &sdkgw_as4::ebms::Party, id: &str, role: &str| {
        party.party_id == id
            && party.party_type.as_deref() == Some(p.party_type())
            && party.role == role
    };
    c.check(
        party_ok(&um.from, &ctx.target.party_id(), p.initiator_role()),
        "C-OUT: From PartyId = the target's certificate CN, DIGG party type, initiator role",
        format!(
            "{} {:?} {}",
            um.from.party_id, um.from.party_type, um.from.role
        ),
    );
    c.check(
        party_ok(&um.to, &ctx.peer.identity.party_id, p.responder_role()),
        "C-OUT: To PartyId = the CN of the receiver's SMP certificate, responder role",
        format!("{} {:?} {}", um.to.party_id, um.to.party_type, um.to.role),
    );
    c.check(
        um.mpc.as_deref().is_none_or(|m| m == p.mpc()),
        "C-OUT: default MPC",
        format!("{:?}", um.mpc),
    );
    c.check(
        col.conversation_id == got.xhe_id,
        "C-OUT: ConversationId = XHE Header/ID",
        &col.conversation_id,
    );
    let prop = |name: &str| {
        um.property_entry(name)
            .map(|e| (e.value.clone(), e.property_type.clone()))
    };
    let ptype = Some(p.participant_property_type().to_owned());
    c.check(
        prop(p.original_sender_property())
            == Some((got.original_sender.value().to_owned(), ptype.clone()))
            && prop(p.final_recipient_property())
                == Some((got.final_recipient.value().to_owned(), ptype)),
        "C-OUT: originalSender / finalRecipient = XHE From/ToParty, type iso6523-actorid-upis",
        format!(
            "{:?} / {:?}",
            prop(p.original_sender_property()),
            prop(p.final_recipient_property())
        ),
    );
    let part = um.parts.first();
    c.check(
        um.parts.len() == 1
            && part.is_some_and(|pi| {
                pi.href.as_deref() == Some(p.payload_href())
                    && pi.property("MimeType") == Some(p.payload_mime_type())
                    && pi.property("CompressionType") == Some(p.compression_type())
            }),
        "C-OUT: one PartInfo cid:message with MimeType text/xml and CompressionType application/gzip",
        format!("{:?}", um.parts),
    );
    let text = String::from_utf8_lossy(&got.user_message);
    let has = |s: &str| text.contains(s);
    c.check(
        has("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
            && has("http://www.w3.org/2001/04/xmlenc#sha256")
            && has("http://www.w3.org/2001/10/xml-exc-c14n#")
            && !has("xmldsig#rsa-sha1")
            && !has("xmldsig#sha1\""),
        "C-OUT: signature rsa-sha256, digests sha256, exclusive C14N; no SHA-1",
        "algorithm URIs of the received Security header",
    );
    c.check(
        has("http://www.w3.org/2009/xmlenc11#aes128-gcm")
            && has("http://www.w3.org/2009/xmlenc11#rsa-oaep")
            && has("http://www.w3.org/2009/xmlenc11#mgf1sha256")
            && !has("xmlenc#rsa-1_5"),
        "C-OUT: attachment encrypted aes128-gcm, key transport rsa-oaep with MGF1-SHA256",
        "algorithm URIs of the received Security header",
    );
    c.check(
        has("wsse:BinarySecurityToken") || has(":BinarySecurityToken"),
        "C-OUT: the signer's certificate as BinarySecurityToken",
        "Security header",
    );
    c.note(
        "the peer's AS4 receiver accepted the message: signature over eb:Messaging, Body, \
         Timestamp and every attachment, the sender's AP certificate of this environment, \
         decryption for the receiver's SMP certificate (else it would have refused it)",
    );
}

/// C-AR for a Meddelandekvittens the target sent to the peer, answering the message with
/// `xhe_id` sent under `model`.
pub(crate) fn c_ar(
    ctx: &Ctx,
    c: &mut Checks,
    got: &PeerInbound,
    xhe_id: &str,
    model: TransportModel,
    response: &str,
) {
    match &got.opening {
        Opening::Receipt {
            response: r,
            document_reference,
            lines,
            signer,
            model: m,
            sender,
            receiver,
        } => {
            c.check(
                true,
                "C-AR: the receipt passes the receipt profile (C3.2.4 XSD, R1–R9, time zones, schemeIDs) and its XHE the XHE profile",
                "opened by the peer's participant",
            );
            c.check(
                r == response,
                format!("C-AR: ResponseCode {response}"),
                format!("{r} {lines:?}"),
            );
            c.check(
                document_reference == xhe_id,
                "C-AR: DocumentReference/ID = the original XHE Header/ID",
                document_reference,
            );
            c.check(
                sender == &ctx.target.participant && receiver == ctx.peer.participant(),
                "C-AR: SenderParty = the target's participant, ReceiverParty = the original sender",
                format!("{} → {}", sender.value(), receiver.value()),
            );
            c.check(
                *m == model && got.leg == Leg::Receipt && got.model == model,
                "C-AR: receipt document id (and AS4 Action) of the same transport model as the message",
                format!("{m} (AS4 leg {:?}, {})", got.leg, got.model),
            );
            let want_signed = model.requires_signature_and_encryption();
            c.check(
                signer.is_some() == want_signed,
                if want_signed {
                    "C-AR: signed (signature verified against the target's CertPub signing certificate), not encrypted"
                } else {
                    "C-AR: not signed, not encrypted (Bas)"
                },
                signer.clone().unwrap_or_else(|| "unsigned".into()),
            );
        }
        Opening::Refused(why) => {
            c.check(
                false,
                "C-AR: the receipt passes the peer's receipt checks",
                why,
            );
        }
        other => {
            c.check(false, "C-AR: a Meddelandekvittens", format!("{other:?}"));
        }
    }
}
