//! Crafting AS4 messages the way a (possibly hostile or broken) peer would: every step of the
//! sealing can be changed — signer, header values, which references are signed, timestamp,
//! compression, encryption — and the result can be mangled as bytes before it is delivered.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use sdkgw_as4::ebms::pmode::UserMessageParams;
use sdkgw_as4::ebms::{Leg, PMode, UserMessage, write};
use sdkgw_as4::mime::{MultipartWriter, OutgoingPart};
use sdkgw_as4::msh::{PeerInfo, Receiver, Reply};
use sdkgw_as4::soap;
use sdkgw_as4::wss::seal::{
    PlainAttachment, SealRequest, Signer, element_references, encrypt_attachments,
    signature_template, soap_parse_options,
};
use sdkgw_as4::wss::token::{bst_xml, timestamp_xml};
use sdkgw_certs::{Certificate, PrivateKey};
use sdkgw_schemas::{ParticipantId, TransportModel};
use sdkgw_xml_security::crypto::DigestMethod;
use sdkgw_xml_security::dsig::{self, AttachmentResolver, ReferenceTemplate, Transform};
use sdkgw_xml_security::xml::Document;
use time::{Duration, OffsetDateTime};

use super::XheSpec;

/// Which parts the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Covered {
    pub messaging: bool,
    pub body: bool,
    pub timestamp: bool,
    pub attachment: bool,
}

impl Default for Covered {
    fn default() -> Self {
        Covered {
            messaging: true,
            body: true,
            timestamp: true,
            attachment: true,
        }
    }
}

/// Changes the UserMessage before it is signed.
pub type UmTweak = Box<dyn Fn(&mut UserMessage)>;

/// How to build one message.
pub struct Craft {
    pub signer_cert: Certificate,
    pub signer_key: Arc<PrivateKey>,
    pub from_ap: String,
    pub to_ap: String,
    /// The encryption certificate (the receiving AP's).
    pub recipient: Certificate,
    pub spec: XheSpec,
    pub leg: Leg,
    pub message_id: String,
    pub compressed: bool,
    /// Plaintext attachment instead of the (compressed) XHE.
    pub payload: Option<Vec<u8>>,
    pub tweak: Option<UmTweak>,
    pub covered: Covered,
    /// `(Created, Expires)`; `None`: no wsu:Timestamp.
    pub timestamp: Option<(OffsetDateTime, Option<OffsetDateTime>)>,
    pub encrypt: bool,
}

/// A message ready to deliver: the root part and the attachments (Content-ID, bytes).
#[derive(Debug, Clone)]
pub struct Crafted {
    pub envelope: String,
    pub attachments: Vec<(String, Vec<u8>)>,
    pub message_id: String,
}

struct Files(Vec<(String, std::path::PathBuf)>);

impl AttachmentResolver for Files {
    fn open(&self, uri: &str) -> Result<Box<dyn Read + '_>, String> {
        let (_, p) = self
            .0
            .iter()
            .find(|(u, _)| u == uri)
            .ok_or("no such attachment")?;
        Ok(Box::new(std::fs::File::open(p).map_err(|e| e.to_string())?))
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    sdkgw_as4::compress::gzip(bytes, &mut out).unwrap();
    out
}

impl Craft {
    /// A conformant message from node `from` (identity) to `to` (AP certificate).
    pub fn new(
        signer: &sdkgw_as4::msh::ApIdentity,
        recipient: &Certificate,
        spec: XheSpec,
    ) -> Self {
        let leg = if spec.document.contains("ApplicationResponse") {
            Leg::Receipt
        } else {
            Leg::Message
        };
        let now = OffsetDateTime::now_utc();
        Craft {
            signer_cert: signer.certificate.clone(),
            signer_key: Arc::clone(&signer.key),
            from_ap: signer.party_id.clone(),
            to_ap: recipient.common_name().unwrap().to_owned(),
            recipient: recipient.clone(),
            spec,
            leg,
            message_id: sdkgw_as4::ebms::new_message_id(),
            compressed: true,
            payload: None,
            tweak: None,
            covered: Covered::default(),
            timestamp: Some((now, Some(now + Duration::minutes(5)))),
            encrypt: true,
        }
    }

    /// Signs with another key pair (From/PartyId stays as set unless changed).
    pub fn signed_by(mut self, cert: Certificate, key: PrivateKey) -> Self {
        self.signer_cert = cert;
        self.signer_key = Arc::new(key);
        self
    }

    pub fn user_message(&self) -> UserMessage {
        let from: ParticipantId = self.spec.from.parse().unwrap();
        let to: ParticipantId = self.spec.to.parse().unwrap();
        let mut um = PMode.user_message(&UserMessageParams {
            message_id: &self.message_id,
            timestamp: OffsetDateTime::now_utc(),
            from_ap: &self.from_ap,
            to_ap: &self.to_ap,
            leg: self.leg,
            model: TransportModel::ExtSigenc,
            conversation_id: &self.spec.id,
            original_sender: &from,
            final_recipient: &to,
            compressed: self.compressed,
        });
        if let Some(t) = &self.tweak {
            t(&mut um);
        }
        um
    }

    pub fn build(&self, spool: &Path) -> Crafted {
        let plain = self.payload.clone().unwrap_or_else(|| {
            if self.compressed {
                gzip(&self.spec.bytes())
            } else {
                self.spec.bytes()
            }
        });
        let plain_path = spool.join(format!("plain-{}", uuid::Uuid::new_v4()));
        std::fs::write(&plain_path, &plain).unwrap();
        let um = self.user_message();
        let m_id = "_messaging-1";
        let header = write::user_message_header(&um, m_id);
        let (ts_id, signer_bst, recipient_bst, body_id) =
            ("TS-1", "X509-signer", "X509-recipient", "body-1");
        let ts = self
            .timestamp
            .map(|(c, e)| timestamp_xml(ts_id, c, e))
            .unwrap_or_default();
        let security = format!(
            "<wsse:Security S12:mustUnderstand=\"true\">{ts}{}{}</wsse:Security>",
            bst_xml(signer_bst, &self.signer_cert),
            bst_xml(recipient_bst, &self.recipient)
        );
        let env = soap::envelope(&[&header, &security], body_id, "");
        let opts = soap_parse_options();
        let doc = Document::parse(env.into_bytes(), &opts).unwrap();
        let parts = soap::locate(&doc).unwrap();
        let mut ids = Vec::new();
        if self.covered.messaging {
            ids.push(m_id);
        }
        if self.covered.body {
            ids.push(body_id);
        }
        if self.covered.timestamp && self.timestamp.is_some() {
            ids.push(ts_id);
        }
        let mut refs = element_references(&ids);
        if self.covered.attachment {
            refs.push(ReferenceTemplate {
                uri: "cid:message".into(),
                transforms: vec![Transform::AttachmentContent],
                digest: DigestMethod::Sha256,
            });
        }
        let files = Files(vec![("cid:message".into(), plain_path.clone())]);
        let template = signature_template(refs, signer_bst, parts.security.unwrap());
        let signed = dsig::sign(&doc, &template, &self.signer_key, Some(&files), &opts).unwrap();
        let attachments = [PlainAttachment {
            content_id: "message".into(),
            path: plain_path.clone(),
            mime_type: if self.compressed {
                "application/gzip"
            } else {
                "text/xml"
            }
            .into(),
        }];
        let (envelope, attachments) = if self.encrypt {
            let req = SealRequest {
                messaging_xml: "",
                messaging_id: m_id,
                signer: Signer {
                    certificate: &self.signer_cert,
                    key: &self.signer_key,
                },
                recipient: &self.recipient,
                attachments: &attachments,
                created: OffsetDateTime::now_utc(),
                expires: None,
                spool_dir: spool,
            };
            let (env, sealed) =
                encrypt_attachments(signed.bytes, &req, recipient_bst, &opts).unwrap();
            let atts = sealed
                .iter()
                .map(|a| (a.content_id.clone(), std::fs::read(&a.file).unwrap()))
                .collect();
            (env, atts)
        } else {
            (signed.bytes, vec![("message".to_owned(), plain)])
        };
        Crafted {
            envelope: String::from_utf8(envelope).unwrap(),
            attachments,
            message_id: self.message_id.clone(),
        }
    }
}

impl Crafted {
    /// The HTTP body and its Content-Type.
    pub fn multipart(&self) -> (String, MultipartWriter) {
        let mut w = MultipartWriter::new(Bytes::from(self.envelope.clone().into_bytes()));
        for (cid, bytes) in &self.attachments {
            w.attach(
                OutgoingPart::from_bytes(
                    cid,
                    "application/octet-stream",
                    Bytes::from(bytes.clone()),
                )
                .unwrap(),
            )
            .unwrap();
        }
        (w.content_type(), w)
    }

    /// Delivers it to `receiver` in-process (same code path as the HTTP handler).
    pub async fn deliver(&self, receiver: &Arc<Receiver>) -> Reply {
        let (ct, w) = self.multipart();
        receiver
            .receive(&ct, w.into_reader(), PeerInfo::default())
            .await
    }

    /// Replaces `from` with `to` in the envelope (it must occur).
    pub fn replace(mut self, from: &str, to: &str) -> Self {
        assert!(self.envelope.contains(from), "{from:?} not in the envelope");
        self.envelope = self.envelope.replacen(from, to, 1);
        self
    }
}

/// The error code of a reply, and its internal reason (`("receipt", "")` when accepted).
pub fn outcome(reply: &Reply) -> (String, String) {
    match reply {
        Reply::Receipt { .. } => ("receipt".into(), String::new()),
        Reply::Error { error, reason, .. } => (error.error_code.clone(), reason.clone()),
        Reply::TooLarge { .. } => ("413".into(), String::new()),
        Reply::Unavailable { reason } => ("503".into(), reason.clone()),
        Reply::Aborted { reason } => ("aborted".into(), reason.clone()),
    }
}

/// Asserts the reply is the error `code` and its reason mentions `reason`.
#[track_caller]
pub fn assert_refused(reply: &Reply, code: &str, reason: &str) {
    let (got, why) = outcome(reply);
    assert_eq!(got, code, "reason: {why}");
    assert!(
        why.to_lowercase().contains(&reason.to_lowercase()),
        "{code}: reason {why:?} does not mention {reason:?}"
    );
}
