//! The messages the suite sends: SDK messages (MessageWithAttachments v3) built with the
//! envelope layer's model — a truly minimal one, a maximal one with every optional element,
//! DIGG's test data files — and their XHE envelopes, sealed with the envelope layer
//! (encrypt, then sign) or deliberately broken between encryption and signature.

use std::path::{Path, PathBuf};

use sdkgw_certs::{Certificate, PrivateKey};
use sdkgw_envelope::message::{
    Attention, ContentFile, ContentText, DigitalDocument, Extension, Ii, MessageBody,
    MessageHeader, Person, Recipient, Reference, SdkMessage, Sender, SubOrganization,
};
use sdkgw_envelope::seal::{SealOptions, Signer, seal_message};
use sdkgw_envelope::xhe::{PayloadXml, Xhe};
use sdkgw_schemas::{FederationId, FunctionAddress, ParticipantId, TransportModel};
use sdkgw_xml_security::dsig;
use sdkgw_xml_security::xenc::{self, EncryptOptions};
use sdkgw_xml_security::xml::{Document, ParseOptions};
use time::OffsetDateTime;

/// Who sends to whom.
#[derive(Debug, Clone)]
pub struct Parties {
    pub from: ParticipantId,
    pub from_function: Option<FunctionAddress>,
    pub to: ParticipantId,
    pub to_function: FunctionAddress,
}

fn ii(root: &str, extension: &str) -> Ii {
    Ii {
        root: root.to_owned(),
        extension: extension.to_owned(),
    }
}

fn attention(f: &FunctionAddress, label: Option<String>) -> Attention {
    Attention {
        persons: Vec::new(),
        sub_organization: SubOrganization {
            id: ii(FunctionAddress::SCHEME, f.as_str()),
            label,
            extensions: Vec::new(),
        },
        references: Vec::new(),
        extensions: Vec::new(),
    }
}

fn created(at: OffsetDateTime) -> String {
    // B1.3.3's pattern wants milliseconds and `Z`.
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// An SDK message with only the mandatory elements (TF-07): no label, no sender function, no
/// persons, one document with one text.
pub fn minimal(p: &Parties, id: &str, at: OffsetDateTime) -> SdkMessage {
    SdkMessage {
        header: MessageHeader {
            creation_date_time: created(at),
            message_id: id.to_owned(),
            conversation_id: id.to_owned(),
            ref_to_message_id: None,
            label: None,
            confidentiality: true,
            generating_system: None,
            recipient: Recipient {
                id: ii(ParticipantId::SCHEME, p.to.value()),
                label: None,
                attention: attention(&p.to_function, None),
                extensions: Vec::new(),
            },
            sender: Sender {
                id: ii(ParticipantId::SCHEME, p.from.value()),
                label: None,
                attention: None,
                extensions: Vec::new(),
            },
            extensions: Vec::new(),
        },
        body: MessageBody {
            documents: vec![DigitalDocument {
                document_id: "1".into(),
                document_name: None,
                index: None,
                files: Vec::new(),
                texts: vec![ContentText {
                    character_sequence: "Minimal conformance message".into(),
                    extensions: Vec::new(),
                }],
                extensions: Vec::new(),
            }],
            extensions: Vec::new(),
        },
        extensions: Vec::new(),
    }
}

/// A small valid PDF (PDF is the one content type every message service must accept).
pub fn small_pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n".to_vec()
}

fn extension(tag: &str) -> Vec<Extension> {
    Extension::parse(&format!(
        "<x:{tag} xmlns:x=\"urn:sdkgw:conformance:extension\">extension at {tag}</x:{tag}>"
    ))
    .map(|e| vec![e])
    .unwrap_or_default()
}

/// The attachments of [`maximal`]: name, content type, bytes.
pub fn maximal_files() -> Vec<(String, String, Vec<u8>)> {
    let mut binary: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
    binary.extend_from_slice(b"end");
    vec![
        ("besked.pdf".into(), "application/pdf".into(), small_pdf()),
        ("data.bin".into(), "application/pdf".into(), binary),
    ]
}

/// An SDK message with every optional element (our `max.xml`, DIGG's is empty): refToMessageId
/// (unknown to the receiver, which must still accept it), labels of the maximal 256
/// characters, generating system, several persons and references, sender function,
/// ContentFiles before ContentText, two documents, and an extension at every extension point.
pub fn maximal(p: &Parties, id: &str, at: OffsetDateTime) -> SdkMessage {
    let label256: String = "Maximal label åäö ".chars().cycle().take(256).collect();
    let person = |n: &str| Person {
        id: Some(ii("1.2.752.129.2.1.3.1", n)),
        label: Some(format!("Person {n}")),
        extensions: extension("person"),
    };
    let reference = |n: &str| Reference {
        id: ii("urn:sdkgw:conformance:diarienummer", n),
        label: Some(format!("Diarienummer {n}")),
        extensions: extension("reference"),
    };
    let mut recipient_attention = attention(&p.to_function, Some(label256.clone()));
    recipient_attention.persons = vec![person("19121212-1212"), person("20121212-1212")];
    recipient_attention.references = vec![reference("2026-001"), reference("2026-002")];
    recipient_attention.extensions = extension("recipientAttention");
    recipient_attention.sub_organization.extensions = extension("subOrganization");
    let sender_function = p
        .from_function
        .clone()
        .unwrap_or_else(|| p.to_function.clone());
    let mut sender_attention = attention(&sender_function, Some("Avsändarfunktion".into()));
    sender_attention.persons = vec![person("19101010-1010")];
    sender_attention.references = vec![reference("2026-003")];
    let files: Vec<ContentFile> = maximal_files()
        .into_iter()
        .map(|(name, ct, bytes)| {
            let mut f = ContentFile::new(name, ct, &bytes);
            f.extensions = extension("contentFile");
            f
        })
        .collect();
    SdkMessage {
        header: MessageHeader {
            creation_date_time: created(at),
            message_id: id.to_owned(),
            conversation_id: uuid::Uuid::new_v4().hyphenated().to_string(),
            ref_to_message_id: Some(uuid::Uuid::new_v4().hyphenated().to_string()),
            label: Some(label256.clone()),
            confidentiality: true,
            generating_system: Some(ii("urn:sdkgw:conformance", "sdk-conformance")),
            recipient: Recipient {
                id: ii(ParticipantId::SCHEME, p.to.value()),
                label: Some(label256),
                attention: recipient_attention,
                extensions: extension("recipient"),
            },
            sender: Sender {
                id: ii(ParticipantId::SCHEME, p.from.value()),
                label: Some("Avsändande organisation".into()),
                attention: Some(sender_attention),
                extensions: extension("sender"),
            },
            extensions: extension("messageHeader"),
        },
        body: MessageBody {
            documents: vec![
                DigitalDocument {
                    document_id: "1".into(),
                    document_name: Some("Beslut".into()),
                    index: Some("1".into()),
                    files,
                    texts: vec![ContentText {
                        character_sequence: "**Beslut** i ärendet.\n\nSe bifogade filer.".into(),
                        extensions: extension("contentText"),
                    }],
                    extensions: extension("document"),
                },
                DigitalDocument {
                    document_id: "2".into(),
                    document_name: Some("Följebrev".into()),
                    index: Some("2".into()),
                    files: Vec::new(),
                    texts: vec![ContentText {
                        character_sequence: "Följebrev".into(),
                        extensions: Vec::new(),
                    }],
                    extensions: Vec::new(),
                },
            ],
            extensions: extension("messageBody"),
        },
        extensions: extension("message"),
    }
}

/// A message of about `attachment_bytes` bytes of attachment (TF-08).
pub fn large(p: &Parties, id: &str, at: OffsetDateTime, attachment_bytes: usize) -> SdkMessage {
    let mut m = minimal(p, id, at);
    let bytes: Vec<u8> = (0..attachment_bytes)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    m.body.documents[0].files = vec![ContentFile::new("large.pdf", "application/pdf", &bytes)];
    m
}

/// Where DIGG's SDK test data files are (`sdk-reference/sdk-message/testdata` of the shared
/// reference directory).
pub fn testdata_dir(shared: &Path) -> PathBuf {
    shared.join("sdk-reference/sdk-message/testdata")
}

/// One of DIGG's test data files with the run's parties and a fresh message id put in
/// (the files address Inera's `0203:test.recipient.inera.se` / `test.function`, which no
/// receiver serves, and a fixed id that would be a duplicate on every rerun); the defect
/// under test is left as it is. `None` when the file is absent.
pub fn testdata(
    shared: &Path,
    name: &str,
    p: &Parties,
    id: &str,
) -> Result<Option<String>, String> {
    let path = testdata_dir(shared).join(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut out = text
        .replace("0203:test.recipient.inera.se", p.to.value())
        .replace(">test.function<", &format!(">{}<", p.to_function.as_str()))
        .replace("0203:test.sender.inera.se", p.from.value());
    if let Some(f) = &p.from_function {
        out = out.replace(">test.instance.inera.se<", &format!(">{}<", f.as_str()));
    }
    // The payload goes inside PayloadContent: no XML declaration (nor BOM) in front of it.
    let trimmed = out.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with("<?xml")
        && let Some(end) = trimmed.find("?>")
    {
        out = trimmed[end + 2..].trim_start().to_owned();
    }
    // The message id (= XHE Header/ID): the first <ns2:messageId> element's text.
    if let Some(start) = out.find("<ns2:messageId>") {
        let from = start + "<ns2:messageId>".len();
        if let Some(len) = out[from..].find("</ns2:messageId>") {
            out.replace_range(from..from + len, id);
        }
    }
    Ok(Some(out))
}

/// The XHE header of a message from `p.from` to `p.to`.
pub fn header(
    p: &Parties,
    id: &str,
    model: TransportModel,
    federation: FederationId,
    handling_service: Option<FunctionAddress>,
) -> Xhe {
    Xhe::for_message(
        id,
        OffsetDateTime::now_utc(),
        p.from.clone(),
        p.to.clone(),
        handling_service,
        federation,
        model,
    )
}

/// The sending organisation's O2O signing pair.
#[derive(Debug, Clone, Copy)]
pub struct O2oSigner<'a> {
    pub key: &'a PrivateKey,
    pub cert: &'a Certificate,
}

/// Seals `payload` (a `messagePayload` element) with the envelope layer: validated leniently
/// (the suite sends invalid messages on purpose), encrypted for `recipient` and signed under
/// tm-base-ext-sigenc, plain under tm-base.
pub fn seal(
    payload: &str,
    header: &Xhe,
    recipient: Option<&Certificate>,
    signer: Option<O2oSigner<'_>>,
) -> Result<Vec<u8>, String> {
    seal_message(
        payload.as_bytes(),
        header,
        recipient,
        signer.map(|s| Signer {
            key: s.key,
            cert: s.cert,
        }),
        SealOptions {
            allow_invalid: true,
        },
    )
    .map(|s| s.bytes)
    .map_err(|e| e.to_string())
}

/// Builds an envelope as [`seal`] does, but applies `mutate` to its text after encryption
/// and before the signature, so the defect is the only thing wrong with it (the signature
/// covers the mutated envelope). A mutation that leaves the text not well-formed is sent
/// unsigned. `encrypt`/`sign` choose what is applied.
pub fn seal_mutated(
    payload: &str,
    header: &Xhe,
    recipient: Option<&Certificate>,
    signer: Option<O2oSigner<'_>>,
    mutate: &dyn Fn(String) -> String,
) -> Result<Vec<u8>, String> {
    let mut plain = header.clone();
    plain.payload.encrypted = recipient.is_some();
    let xml = plain
        .to_xml(PayloadXml::Element(payload))
        .map_err(|e| e.to_string())?;
    let xml = match recipient {
        Some(cert) => encrypt_payload(xml.into_bytes(), cert)?,
        None => xml,
    };
    let mutated = mutate(xml);
    let Some(signer) = signer else {
        return Ok(mutated.into_bytes());
    };
    let opts = own_output();
    if Document::parse_slice(mutated.as_bytes(), &opts).is_err() {
        return Ok(mutated.into_bytes());
    }
    dsig::sign_enveloped(mutated.into_bytes(), signer.key, signer.cert, &opts)
        .map_err(|e| e.to_string())
}

/// Parser limits for the suite's own envelopes, which may be larger than a receiver's
/// defaults (TF-08 sends 70 MiB and 100 MB).
fn own_output() -> ParseOptions {
    ParseOptions {
        limits: sdkgw_xml_security::xml::Limits {
            max_bytes: 1 << 30,
            max_text_len: 1 << 30,
            ..sdkgw_xml_security::xml::Limits::default()
        },
        ..ParseOptions::default()
    }
}

/// Encrypts the element inside `PayloadContent` (as the envelope layer does).
fn encrypt_payload(xhe: Vec<u8>, recipient: &Certificate) -> Result<String, String> {
    let doc = Document::parse(xhe, &own_output()).map_err(|e| e.to_string())?;
    let target = doc
        .root()
        .descendants()
        .find(|e| e.local_name() == "PayloadContent")
        .and_then(|c| c.child_elements().next())
        .ok_or("no payload element to encrypt")?;
    let bytes = xenc::encrypt_element(&doc, target, recipient, &EncryptOptions::xhe())
        .map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

/// An envelope whose encrypted payload is exactly `plaintext` — empty, not well-formed, an
/// undefined entity reference … (B1.3.3 row 2, the corrupt payload of a verified sender) —
/// encrypted like the envelope layer encrypts (aes256-cbc, rsa-oaep-mgf1p, EncryptedKey with
/// the recipient certificate) and signed.
pub fn seal_raw_plaintext(
    plaintext: &[u8],
    header: &Xhe,
    recipient: &Certificate,
    signer: O2oSigner<'_>,
) -> Result<Vec<u8>, String> {
    use sdkgw_xml_security::crypto::{ContentKey, DataEncryption, KeyTransport};
    let placeholder = "<p:placeholder xmlns:p=\"urn:sdkgw:conformance:placeholder\"/>";
    let mut h = header.clone();
    h.payload.encrypted = true;
    let xml = h
        .to_xml(PayloadXml::Element(placeholder))
        .map_err(|e| e.to_string())?;
    if !xml.contains(placeholder) {
        return Err("the envelope writer changed the placeholder payload".into());
    }
    let key = ContentKey::generate(DataEncryption::Aes256Cbc).map_err(|e| e.to_string())?;
    let ek = xenc::encrypted_key_xml(
        &key,
        KeyTransport::RSA_OAEP_MGF1P,
        recipient,
        xenc::RecipientInfo::Certificate(recipient),
        None,
        &[],
    )
    .map_err(|e| e.to_string())?;
    let ed = xenc::encrypted_data_xml(
        &key,
        plaintext,
        "http://www.w3.org/2001/04/xmlenc#Element",
        None,
        Some(&ek),
    )
    .map_err(|e| e.to_string())?;
    let xml = xml.replacen(placeholder, &ed, 1);
    dsig::sign_enveloped(xml.into_bytes(), signer.key, signer.cert, &own_output())
        .map_err(|e| e.to_string())
}
