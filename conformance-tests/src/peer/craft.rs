//! AS4 messages built the way a (possibly hostile or broken) peer builds them: every step of
//! the sealing can be changed — signer, header values, which parts are signed, timestamp,
//! compression, encryption — with the AS4 layer's own wire builders (`ebms`, `soap`, `wss`,
//! `dsig`), and the result can then be mangled as text or bytes before it is POSTed.
//!
//! Nothing here implements protocol logic of its own: a conformant [`Craft`] produces exactly
//! what `sdkgw_as4::msh::Sender` would send (the control case of every hostile variant).

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use sdkgw_as4::ebms::pmode::UserMessageParams;
use sdkgw_as4::ebms::{Leg, PMode, UserMessage, write};
use sdkgw_as4::mime::{MultipartWriter, OutgoingPart};
use sdkgw_as4::msh::ApIdentity;
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
pub type UmTweak = Arc<dyn Fn(&mut UserMessage) + Send + Sync>;

/// The envelope facts a message carries in its AS4 header.
#[derive(Debug, Clone)]
pub struct Addressing {
    pub xhe_id: String,
    pub original_sender: ParticipantId,
    pub final_recipient: ParticipantId,
    pub leg: Leg,
    pub model: TransportModel,
}

/// How to build one message.
#[derive(Clone)]
pub struct Craft {
    pub signer_cert: Certificate,
    pub signer_key: Arc<PrivateKey>,
    pub from_ap: String,
    pub to_ap: String,
    /// The receiving AP's certificate (the attachment key is wrapped for it).
    pub recipient: Certificate,
    pub addressing: Addressing,
    /// The XHE (before compression).
    pub xhe: Vec<u8>,
    pub message_id: String,
    pub compressed: bool,
    /// The attachment's plaintext instead of the (compressed) XHE.
    pub payload: Option<Vec<u8>>,
    pub tweak: Option<UmTweak>,
    pub covered: Covered,
    /// `(Created, Expires)`; `None`: no wsu:Timestamp.
    pub timestamp: Option<(OffsetDateTime, Option<OffsetDateTime>)>,
    pub encrypt: bool,
}

impl std::fmt::Debug for Craft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Craft")
            .field("from_ap", &self.from_ap)
            .field("to_ap", &self.to_ap)
            .field("message_id", &self.message_id)
            .field("addressing", &self.addressing)
            .finish_non_exhaustive()
    }
}

/// A message ready to POST: the SOAP root part and the attachments (Content-ID, bytes).
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

/// gzip of `bytes` (the AS4 layer's compressor).
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    sdkgw_as4::compress::gzip(bytes, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

impl Craft {
    /// A conformant message from `signer` to the AP whose certificate is `recipient`.
    pub fn new(
        signer: &ApIdentity,
        recipient: &Certificate,
        addressing: Addressing,
        xhe: Vec<u8>,
    ) -> Self {
        let now = OffsetDateTime::now_utc();
        Craft {
            signer_cert: signer.certificate.clone(),
            signer_key: Arc::clone(&signer.key),
            from_ap: signer.party_id.clone(),
            to_ap: recipient.common_name().unwrap_or_default().to_owned(),
            recipient: recipient.clone(),
            addressing,
            xhe,
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

    /// Changes the UserMessage before signing.
    pub fn tweaked(mut self, f: impl Fn(&mut UserMessage) + Send + Sync + 'static) -> Self {
        self.tweak = Some(Arc::new(f));
        self
    }

    pub fn user_message(&self) -> UserMessage {
        let a = &self.addressing;
        let mut um = PMode.user_message(&UserMessageParams {
            message_id: &self.message_id,
            timestamp: OffsetDateTime::now_utc(),
            from_ap: &self.from_ap,
            to_ap: &self.to_ap,
            leg: a.leg,
            model: a.model,
            conversation_id: &a.xhe_id,
            original_sender: &a.original_sender,
            final_recipient: &a.final_recipient,
            compressed: self.compressed,
        });
        if let Some(t) = &self.tweak {
            t(&mut um);
        }
        um
    }

    /// Builds the message; `spool` holds the temporary attachment files.
    pub fn build(&self, spool: &Path) -> Result<Crafted, String> {
        let plain = match &self.payload {
            Some(p) => p.clone(),
            None if self.compressed => gzip(&self.xhe)?,
            None => self.xhe.clone(),
        };
        let plain_file = tempfile::NamedTempFile::new_in(spool).map_err(|e| e.to_string())?;
        std::fs::write(plain_file.path(), &plain).map_err(|e| e.to_string())?;
        let plain_path = plain_file.path().to_path_buf();
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
        let doc = Document::parse(env.into_bytes(), &opts).map_err(|e| e.to_string())?;
        let parts = soap::locate(&doc).map_err(|e| e.to_string())?;
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
        let security = parts.security.ok_or("no wsse:Security in the template")?;
        let template = signature_template(refs, signer_bst, security);
        let signed = dsig::sign(&doc, &template, &self.signer_key, Some(&files), &opts)
            .map_err(|e| e.to_string())?;
        let attachments = [PlainAttachment {
            content_id: "message".into(),
            path: plain_path,
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
            let (env, sealed) = encrypt_attachments(signed.bytes, &req, recipient_bst, &opts)
                .map_err(|e| e.to_string())?;
            let atts = sealed
                .iter()
                .map(|a| {
                    std::fs::read(&a.file)
                        .map(|b| (a.content_id.clone(), b))
                        .map_err(|e| e.to_string())
                })
                .collect::<Result<Vec<_>, _>>()?;
            (env, atts)
        } else {
            (signed.bytes, vec![("message".to_owned(), plain)])
        };
        Ok(Crafted {
            envelope: String::from_utf8(envelope).map_err(|e| e.to_string())?,
            attachments,
            message_id: self.message_id.clone(),
        })
    }
}

impl Crafted {
    /// The HTTP body and its Content-Type (`multipart/related`, SOAP root part first).
    pub async fn multipart(&self) -> Result<(String, Vec<u8>), String> {
        use tokio::io::AsyncReadExt;
        let mut w = MultipartWriter::new(Bytes::from(self.envelope.clone().into_bytes()));
        for (cid, bytes) in &self.attachments {
            let part = OutgoingPart::from_bytes(
                cid,
                "application/octet-stream",
                Bytes::from(bytes.clone()),
            )
            .map_err(|e| e.to_string())?;
            w.attach(part).map_err(|e| e.to_string())?;
        }
        let content_type = w.content_type();
        let mut body = Vec::new();
        w.into_reader()
            .read_to_end(&mut body)
            .await
            .map_err(|e| e.to_string())?;
        Ok((content_type, body))
    }

    /// Replaces the first `from` with `to` in the envelope; an error when `from` is absent
    /// (the mutation would silently test nothing).
    pub fn replace(mut self, from: &str, to: &str) -> Result<Self, String> {
        if !self.envelope.contains(from) {
            return Err(format!("{from:?} is not in the crafted envelope"));
        }
        self.envelope = self.envelope.replacen(from, to, 1);
        Ok(self)
    }

    /// The text between the first `start` marker and the end of the element it opens
    /// (`</end>` included).
    pub fn span(&self, start: &str, end: &str) -> Result<(usize, usize), String> {
        let s = self
            .envelope
            .find(start)
            .ok_or_else(|| format!("{start:?} is not in the crafted envelope"))?;
        let e = self.envelope[s..]
            .find(end)
            .map(|i| s + i + end.len())
            .ok_or_else(|| format!("{end:?} is not in the crafted envelope"))?;
        Ok((s, e))
    }
}
