//! The peer's participant (corner 4 of TestAP-01): opens every envelope its AP stored with
//! the envelope layer (profile, O2O signature against the target's CertPub signing
//! certificate, decryption, message validation), logs what it found and answers messages
//! with a Meddelandekvittens sent back over AS4. Receipts are never answered.

use std::io::Read;
use std::sync::Arc;

use sdkgw_as4::ebms::Leg;
use sdkgw_as4::msh::InboundMessage;
use sdkgw_as4::msh::handoff::{USER_MESSAGE_EVIDENCE, XHE_CONTENT};
use sdkgw_envelope::message::MessagePolicy;
use sdkgw_envelope::open::{DecryptionKeys, OpenConfig, Opened, SignerTrust, open};
use sdkgw_envelope::seal::Signer;
use sdkgw_envelope::xhe::XheContext;
use sdkgw_schemas::{ParticipantId, TransportModel};
use sdkgw_store::{MessageKey, Store};
use sdkgw_xml_security::crypto::DigestMethod;
use time::OffsetDateTime;
use tokio::sync::mpsc;

use super::{Answer, Peer, PeerError, perr};
use crate::target::Target;

/// What the peer's participant made of one envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opening {
    /// A valid SDK message (the peer answers ACCEPTED).
    Message {
        message_id: String,
        /// `HandlingServiceID`, when present.
        handling_service: Option<String>,
        /// The envelope was signed (and the signer matched the target's CertPub certificate).
        signed: bool,
        /// Attachments: file name and SHA-256.
        files: Vec<(String, Vec<u8>)>,
    },
    /// A message its validation rejected (the peer answers REJECTED).
    RejectedMessage { reasons: String },
    /// A Meddelandekvittens that passed the receipt profile and signature checks.
    Receipt {
        response: String,
        /// `DocumentReference/ID`: the XHE id of the message it answers.
        document_reference: String,
        /// `(reason, detail, LineID)` of each LineResponse.
        lines: Vec<(String, Option<String>, String)>,
        /// Subject of the signing certificate, `None` when unsigned.
        signer: Option<String>,
        model: TransportModel,
        sender: ParticipantId,
        receiver: ParticipantId,
    },
    /// Refused without any receipt (envelope error, undecryptable, bad receipt).
    Refused(String),
}

/// One message the peer's AP accepted, and what its participant made of it.
#[derive(Debug, Clone)]
pub struct PeerInbound {
    pub key: MessageKey,
    pub as4_message_id: String,
    pub xhe_id: String,
    pub from_ap: String,
    pub leg: Leg,
    pub model: TransportModel,
    pub original_sender: ParticipantId,
    pub final_recipient: ParticipantId,
    pub received_at: OffsetDateTime,
    /// The signed SOAP envelope as received (C-OUT checks read it).
    pub user_message: Vec<u8>,
    /// The XHE, byte for byte.
    pub xhe: Vec<u8>,
    pub opening: Opening,
    /// What became of the peer's answer (its Meddelandekvittens), if it sent one.
    pub answer: Option<Answered>,
}

/// The peer's Meddelandekvittens for a received message, and how its AS4 send went.
#[derive(Debug, Clone)]
pub struct Answered {
    /// The receipt's XHE `Header/ID`.
    pub xhe_id: Option<String>,
    /// Whether the target's AP returned a valid AS4 Receipt for it.
    pub delivered: bool,
    pub summary: String,
}

impl PeerInbound {
    /// A Meddelandekvittens answering the message with XHE id `xhe_id` (also one the peer
    /// refused, when its XHE names that id: a receipt that failed the checks still counts as
    /// sent, and the case says why it failed).
    pub fn is_receipt_for(&self, xhe_id: &str) -> bool {
        match &self.opening {
            Opening::Receipt {
                document_reference, ..
            } => document_reference == xhe_id,
            Opening::Refused(_) => self.leg == Leg::Receipt && self.xhe_mentions(xhe_id),
            _ => false,
        }
    }

    fn xhe_mentions(&self, id: &str) -> bool {
        let needle = id.as_bytes();
        self.xhe.windows(needle.len()).any(|w| w == needle)
    }
}

/// The participant emulation's task: one message at a time, in arrival order.
pub(super) fn spawn(
    peer: &Peer,
    mut rx: mpsc::UnboundedReceiver<InboundMessage>,
) -> Result<(), PeerError> {
    let ctx = Arc::new(Emulation {
        store: Arc::clone(&peer.store),
        keys: DecryptionKeys::new(&[(&peer.o2o_encryption.1, &peer.o2o_encryption.0)])
            .map_err(perr)?,
        o2o: peer.pki.o2o_trust().map_err(perr)?,
        revocation: peer.pki.revocation().map_err(perr)?,
        signer: (peer.o2o_signing.0.clone(), Arc::clone(&peer.o2o_signing.1)),
        participants: peer.participants.clone(),
        function: peer.function.clone(),
        environment: peer.environment,
        target: Arc::clone(&peer.target),
    });
    let knobs = Arc::clone(&peer.knobs);
    let log = Arc::clone(&peer.log);
    let sender = Arc::clone(&peer.sender);
    let spool = peer.spool.clone();
    tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let c = Arc::clone(&ctx);
            let opened = tokio::task::spawn_blocking(move || c.open(&m).map(|o| (m, o))).await;
            let Ok(Ok((m, (mut entry, receipt)))) = opened else {
                continue;
            };
            if let Some(bytes) = receipt.filter(|_| knobs.answer() == Answer::Receipt) {
                entry.answer = Some(match ctx.target() {
                    Some(t) => send_receipt(&sender, &spool, &bytes, &t).await,
                    None => Answered {
                        xhe_id: None,
                        delivered: false,
                        summary: "no target known: receipt not sent".into(),
                    },
                });
            }
            let _ = m;
            log.push(entry);
        }
    });
    Ok(())
}

async fn send_receipt(
    sender: &sdkgw_as4::msh::Sender,
    spool: &std::path::Path,
    bytes: &[u8],
    target: &Target,
) -> Answered {
    let prepared = tempfile::NamedTempFile::new_in(spool)
        .map_err(|e| e.to_string())
        .and_then(|file| {
            std::fs::write(file.path(), bytes).map_err(|e| e.to_string())?;
            sdkgw_as4::msh::prepare(
                file.path(),
                Some(Leg::Receipt),
                target.federation().as_str(),
                spool,
                OffsetDateTime::now_utc(),
            )
            .map_err(|e| e.to_string())
        });
    let (out, _payload) = match prepared {
        Ok(p) => p,
        Err(e) => {
            return Answered {
                xhe_id: None,
                delivered: false,
                summary: format!("receipt not sent: {e}"),
            };
        }
    };
    let attempt = sender
        .attempt(
            &out,
            &sdkgw_as4::msh::Route {
                endpoint: target.as4_url.clone(),
                certificate: target.ap_certificate.clone(),
            },
        )
        .await;
    let xhe_id = Some(out.xhe_id.clone());
    let sent = super::SentXhe {
        outgoing: out,
        attempt,
    };
    Answered {
        xhe_id,
        delivered: sent.delivered(),
        summary: sent.summary(),
    }
}

struct Emulation {
    store: Arc<dyn Store>,
    keys: DecryptionKeys,
    o2o: sdkgw_xml_security::x509::TrustStore<sdkgw_xml_security::x509::O2o>,
    revocation: sdkgw_xml_security::x509::RevocationChecker,
    signer: (sdkgw_certs::Certificate, Arc<sdkgw_certs::PrivateKey>),
    participants: Vec<ParticipantId>,
    function: sdkgw_schemas::FunctionAddress,
    environment: sdkgw_schemas::Environment,
    target: Arc<std::sync::Mutex<Option<Target>>>,
}

impl Emulation {
    fn target(&self) -> Option<Target> {
        self.target
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn blob(&self, key: &MessageKey, role: &str, evidence: bool) -> Result<Vec<u8>, String> {
        let rec = self
            .store
            .get_message(key)
            .map_err(|e| e.to_string())?
            .ok_or("record gone")?;
        let blob = if evidence {
            rec.evidence
                .iter()
                .find(|e| e.kind == role)
                .map(|e| e.blob.clone())
        } else {
            rec.content(role).cloned()
        }
        .ok_or_else(|| format!("no {role}"))?;
        let mut out = Vec::new();
        self.store
            .open_blob(&blob)
            .map_err(|e| e.to_string())?
            .read_to_end(&mut out)
            .map_err(|e| e.to_string())?;
        Ok(out)
    }

    /// Opens one envelope; returns the log entry and the receipt envelope to send, if any.
    fn open(&self, m: &InboundMessage) -> Result<(PeerInbound, Option<Vec<u8>>), String> {
        let xhe = self.blob(&m.key, XHE_CONTENT, false)?;
        let user_message = self
            .blob(&m.key, USER_MESSAGE_EVIDENCE, true)
            .unwrap_or_default();
        let target = self.target();
        let certpub = target.as_ref().and_then(|t| t.o2o_signing.clone());
        let functions = [self.function.clone()];
        let cfg = OpenConfig {
            context: XheContext {
                environment: Some(self.environment),
            },
            serves: Some(&self.participants),
            trust: SignerTrust {
                certpub: certpub.as_ref(),
                store: &self.o2o,
                revocation: &self.revocation,
            },
            keys: &self.keys,
            policy: MessagePolicy {
                functions: Some(&functions),
                ..MessagePolicy::default()
            },
            receipt_signer: Some(Signer {
                key: &self.signer.1,
                cert: &self.signer.0,
            }),
            at: OffsetDateTime::now_utc(),
        };
        let (opening, receipt) = match open(xhe.clone(), &cfg) {
            Ok(Opened::Accepted(msg)) => {
                let files = msg
                    .message()
                    .body
                    .documents
                    .iter()
                    .flat_map(|d| d.files.iter())
                    .map(|f| {
                        let bytes = f.decode().unwrap_or_default();
                        (f.file_name.clone(), DigestMethod::Sha256.digest(&bytes))
                    })
                    .collect();
                let receipt = msg
                    .acceptance(
                        Some(Signer {
                            key: &self.signer.1,
                            cert: &self.signer.0,
                        }),
                        OffsetDateTime::now_utc(),
                    )
                    .ok()
                    .and_then(|r| r.envelope);
                (
                    Opening::Message {
                        message_id: msg.message().header.message_id.clone(),
                        handling_service: msg
                            .header()
                            .payload
                            .handling_service
                            .as_ref()
                            .map(|f| f.as_str().to_owned()),
                        signed: msg.signer().is_some(),
                        files,
                    },
                    receipt,
                )
            }
            Ok(Opened::Rejected(r)) => (
                Opening::RejectedMessage {
                    reasons: r.log_reason().to_owned(),
                },
                r.receipt.envelope.clone(),
            ),
            Ok(Opened::Receipt(r)) => (
                Opening::Receipt {
                    response: r.receipt.response.to_string(),
                    document_reference: r.receipt.document_reference.clone(),
                    lines: r
                        .receipt
                        .lines
                        .iter()
                        .map(|l| {
                            (
                                l.reason.to_string(),
                                l.status_reason_code.clone(),
                                l.line_id.clone(),
                            )
                        })
                        .collect(),
                    signer: r.signer.as_ref().map(|c| c.subject().to_string()),
                    model: r.header.transport_model,
                    sender: r.receipt.sender.clone(),
                    receiver: r.receipt.receiver.clone(),
                },
                None,
            ),
            Ok(Opened::Redelivered(_)) => (Opening::Refused("re-delivery".into()), None),
            Err(refusal) => (Opening::Refused(refusal.log_reason()), None),
        };
        Ok((
            PeerInbound {
                key: m.key,
                as4_message_id: m.as4_message_id.clone(),
                xhe_id: m.xhe_id.clone(),
                from_ap: m.from_ap.clone(),
                leg: m.leg,
                model: m.model,
                original_sender: m.original_sender.clone(),
                final_recipient: m.final_recipient.clone(),
                received_at: m.received_at,
                user_message,
                xhe,
                opening,
                answer: None,
            },
            receipt,
        ))
    }
}
